//! The contract's vocabulary (docs/contract.md): the schema version, the heartbeat cadence, where a
//! record came from and the values of its enumerated fields. Every other module builds on
//! these; this one depends on nothing of the crate.

/// The values of an enumerated column. A value is held as its code, its place in `VALUES`
/// (which is its discriminant), so that compact stores keep a byte and a column's values are
/// listed once for the writer, the reader and `verify`.
pub trait Vocabulary: Copy {
    /// Every value as written, in code order.
    const VALUES: &'static [&'static str];

    /// The value whose code is `code` (one of `VALUES`' places).
    fn from_code(code: u8) -> Self;

    fn code(self) -> u8;
}

/// `Vocabulary` for an enum whose `ALL` lists its values in declaration order, with `as_str`
/// and `parse` by those values.
macro_rules! vocabulary {
    ($t:ident, [$($value:literal),+ $(,)?]) => {
        impl $t {
            pub const VALUES: [&'static str; $t::ALL.len()] = [$($value),+];

            pub fn as_str(self) -> &'static str {
                Self::VALUES[self as usize]
            }

            pub fn parse(s: &str) -> Option<$t> {
                Self::ALL.into_iter().find(|v| v.as_str() == s)
            }
        }

        impl Vocabulary for $t {
            const VALUES: &'static [&'static str] = &$t::VALUES;

            fn from_code(code: u8) -> Self {
                $t::ALL[code as usize]
            }

            fn code(self) -> u8 {
                self as u8
            }
        }
    };
}

/// Output schema version, written to every file's footer.
pub const SCHEMA_VERSION: &str = "1";

/// The keys of a day file's footer metadata (docs/contract.md, "Output schema v1"), named once: the writer, the
/// import, verify, catch-up and history read and write them through these.
pub mod footer {
    pub const SCHEMA_VERSION: &str = "ops_atomic.schema_version";
    pub const DAY: &str = "ops_atomic.day";
    pub const TIMEZONE: &str = "ops_atomic.timezone";
    pub const EXPORTER: &str = "ops_atomic.exporter";
    pub const ROWS: &str = "ops_atomic.rows";
    pub const MERGED: &str = "ops_atomic.merged";
    pub const CONFLICTS: &str = "ops_atomic.conflicts";
    pub const REJECTED: &str = "ops_atomic.rejected";
    pub const VERDICT: &str = "ops_atomic.verdict";
    /// Rows carried over from the day's previous file, which no source held any more.
    pub const CARRIED: &str = "ops_atomic.carried";
    /// The machine that wrote the file (its host name), so a run that carries another
    /// machine's records over can say whose they were.
    pub const WRITTEN_BY: &str = "ops_atomic.written_by";
    pub const INSTANCE: &str = "ops_atomic.instance";
    /// An intraday export's cut: the instant (RFC 3339, UTC) its records end before.
    pub const COVERS_UNTIL: &str = "ops_atomic.covers_until";
    /// The legacy rows an import put into the file.
    pub const LEGACY_ROWS: &str = "ops_atomic.source.legacy.rows";
    /// Per source: `ops_atomic.source.<name>.<what>` (state, read, rejected).
    pub const SOURCE_PREFIX: &str = "ops_atomic.source.";

    /// The key of one of a source's figures: `ops_atomic.source.redis.read`.
    pub fn source(name: &str, what: &str) -> String {
        format!("{SOURCE_PREFIX}{name}.{what}")
    }
}

/// A day file's verdict (`ops_atomic.verdict`, docs/contract.md "Output schema v1"): what an export or an import
/// says of the day it wrote. The writers put `as_str` into the footer; the readers (verify,
/// catch-up, history, the deployment report) parse it back with `FromStr`, so a verdict is
/// spelled here once and a new one is a new variant the compiler walks every match through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Success,
    Partial,
    Empty,
    /// The running day so far (an intraday export): every source read, the day not over.
    Incomplete,
    /// Not exported from the sources: what `import-legacy` brought over from the old
    /// exporter's files. Only an import writes it.
    Imported,
}

impl Verdict {
    /// Every verdict this exporter writes into a footer.
    pub const ALL: [Verdict; 5] = [
        Verdict::Success,
        Verdict::Partial,
        Verdict::Empty,
        Verdict::Incomplete,
        Verdict::Imported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Partial => "partial",
            Verdict::Empty => "empty",
            Verdict::Incomplete => "incomplete",
            Verdict::Imported => "imported",
        }
    }

    /// Whether the file is known to be short of its day: a source could not be read, or the
    /// day was not over. Catch-up exports such a day again.
    pub fn is_short(self) -> bool {
        // Every verdict named: a new one is a decision whether catch-up exports its day again.
        match self {
            Verdict::Partial | Verdict::Incomplete => true,
            Verdict::Success | Verdict::Empty | Verdict::Imported => false,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A footer value that is not a verdict this exporter writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a verdict this exporter writes")]
pub struct UnknownVerdict(pub String);

impl std::str::FromStr for Verdict {
    type Err = UnknownVerdict;

    fn from_str(s: &str) -> Result<Verdict, UnknownVerdict> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVerdict(s.to_string()))
    }
}

/// The heartbeat cadence; a longer silence is a gap.
pub const CADENCE_MS: i64 = 5 * 60 * 1000;

/// Heartbeat coverage, defined once for the summary, `history` and `verify --report`: each host
/// that beat that day owes one beat per cadence from the day's start up to the cut (the day's
/// end, or an intraday file's cut). A morning lost for every host is lost coverage, and the
/// running day owes nothing after its cut.
pub fn expected_beats(day_start_ms: i64, cut_ms: i64) -> u64 {
    (cut_ms.saturating_sub(day_start_ms).max(0) as u64)
        .div_ceil(CADENCE_MS as u64)
        .max(1)
}

/// `beats` of `expected` as a percentage, at most 100 (a host beating faster than the cadence
/// is not more than covered).
pub fn coverage_pct(beats: u64, expected: u64) -> f64 {
    if expected == 0 {
        return 0.0;
    }
    (beats as f64 * 100.0 / expected as f64).min(100.0)
}

/// Where a record came from. `Both` only exists after the merge; `Legacy` marks records
/// imported from the old exporter's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Redis,
    Sqlite,
    Both,
    Legacy,
}

impl Source {
    pub const ALL: [Source; 4] = [Source::Redis, Source::Sqlite, Source::Both, Source::Legacy];
}

vocabulary!(Source, ["redis", "sqlite", "both", "legacy"]);

/// Overall verdict of a check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Healthy,
    Warnings,
    Critical,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Healthy, Status::Warnings, Status::Critical];
}

vocabulary!(Status, ["healthy", "warnings", "critical"]);

/// Result of one of the three fixed service checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    Ok,
    Warn,
    Error,
    Unknown,
}

impl CheckStatus {
    pub const ALL: [CheckStatus; 4] = [Self::Ok, Self::Warn, Self::Error, Self::Unknown];
}

vocabulary!(CheckStatus, ["ok", "warn", "error", "unknown"]);

/// State of one of the two fixed launch agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    Loaded,
    NotLoaded,
    Unknown,
}

impl AgentStatus {
    pub const ALL: [AgentStatus; 3] = [Self::Loaded, Self::NotLoaded, Self::Unknown];
}

vocabulary!(AgentStatus, ["loaded", "not_loaded", "unknown"]);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value's place in its `ALL` list is its discriminant: compact stores keep a value as
    /// `v as u8` and read it back as `ALL[n]`.
    #[test]
    fn every_list_is_in_declaration_order() {
        let in_order = |list: &[usize]| list.iter().enumerate().all(|(i, d)| i == *d);
        assert!(in_order(&Source::ALL.map(|v| v as usize)));
        assert!(in_order(&Status::ALL.map(|v| v as usize)));
        assert!(in_order(&CheckStatus::ALL.map(|v| v as usize)));
        assert!(in_order(&AgentStatus::ALL.map(|v| v as usize)));
    }

    /// Every verdict written into a footer parses back to itself, and nothing else parses.
    #[test]
    fn every_verdict_round_trips_through_from_str() {
        for v in Verdict::ALL {
            assert_eq!(v.as_str().parse::<Verdict>(), Ok(v));
            assert_eq!(v.to_string(), v.as_str());
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::from(v.as_str())
            );
        }
        for s in ["failed", "Success", "", "complete", " success"] {
            assert_eq!(s.parse::<Verdict>(), Err(UnknownVerdict(s.to_string())));
        }
    }
}
