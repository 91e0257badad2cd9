//! Schema v1's columns in one table (docs/contract.md, "Output schema v1"): each column's name, kind (which gives
//! its Arrow type and how a source's value is read), nullability, SQLite column, enumerated
//! values and the writer thread that encodes it. The record's fields, the rows' layout, the
//! Arrow schema, the SQLite reader and its DDL, and the typed path's slots are all derived
//! from `COLUMNS`, and code names a column by `Col`, never by its position.

use crate::contract::{AgentStatus, CheckStatus, Source, Status, Vocabulary};

/// A schema-v1 column. Its discriminant is its position in the file and in `COLUMNS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
    RecordId,
    ReportType,
    Timestamp,
    Status,
    DurationMs,
    Host,
    RedisStatus,
    DatabaseStatus,
    ApiStatus,
    LaunchagentOptimizer,
    LaunchagentDigest,
    Checks,
    Source,
}

/// Every column, in file order. A column is a variant of `Col` and an entry here, at the
/// variant's place (checked when compiling); everything else follows from its kind.
pub const COLUMNS: [Column; 13] = [
    Column {
        col: Col::RecordId,
        name: "record_id",
        kind: Kind::Id,
        nullable: false,
        sqlite: Some(SqliteColumn {
            name: "record_id",
            ty: "TEXT",
            required: false,
            note: "optional; derived from report_type:host:ts when NULL",
        }),
        thread: Thread::First,
    },
    Column {
        col: Col::ReportType,
        name: "report_type",
        kind: Kind::ReportType,
        nullable: false,
        sqlite: Some(SqliteColumn::text("report_type", "NULL means 'heartbeat'")),
        thread: Thread::Second,
    },
    Column {
        col: Col::Timestamp,
        name: "timestamp",
        kind: Kind::Timestamp,
        nullable: false,
        sqlite: Some(SqliteColumn {
            name: "ts",
            ty: "INTEGER",
            required: true,
            note: "Unix epoch ms (UTC), or RFC 3339 TEXT with offset",
        }),
        thread: Thread::First,
    },
    Column {
        col: Col::Status,
        name: "status",
        kind: Kind::Status,
        nullable: false,
        sqlite: Some(SqliteColumn {
            name: "status",
            ty: "TEXT",
            required: true,
            note: "healthy | warnings | critical",
        }),
        thread: Thread::Second,
    },
    Column {
        col: Col::DurationMs,
        name: "duration_ms",
        kind: Kind::Duration,
        nullable: true,
        sqlite: Some(SqliteColumn {
            name: "duration_ms",
            ty: "INTEGER",
            required: false,
            note: "",
        }),
        thread: Thread::First,
    },
    Column {
        col: Col::Host,
        name: "host",
        kind: Kind::Label,
        nullable: true,
        sqlite: Some(SqliteColumn::text("host", "")),
        thread: Thread::First,
    },
    Column {
        col: Col::RedisStatus,
        name: "redis_status",
        kind: Kind::Check(Vocab::Check),
        nullable: false,
        sqlite: Some(SqliteColumn::text(
            "redis_status",
            "ok | warn | error | unknown",
        )),
        thread: Thread::Second,
    },
    Column {
        col: Col::DatabaseStatus,
        name: "database_status",
        kind: Kind::Check(Vocab::Check),
        nullable: false,
        sqlite: Some(SqliteColumn::text("database_status", "")),
        thread: Thread::Second,
    },
    Column {
        col: Col::ApiStatus,
        name: "api_status",
        kind: Kind::Check(Vocab::Check),
        nullable: false,
        sqlite: Some(SqliteColumn::text("api_status", "")),
        thread: Thread::Second,
    },
    Column {
        col: Col::LaunchagentOptimizer,
        name: "launchagent_optimizer",
        kind: Kind::Check(Vocab::Agent),
        nullable: false,
        sqlite: Some(SqliteColumn::text(
            "launchagent_optimizer",
            "loaded | not_loaded | unknown",
        )),
        thread: Thread::Second,
    },
    Column {
        col: Col::LaunchagentDigest,
        name: "launchagent_digest",
        kind: Kind::Check(Vocab::Agent),
        nullable: false,
        sqlite: Some(SqliteColumn::text("launchagent_digest", "")),
        thread: Thread::First,
    },
    Column {
        col: Col::Checks,
        name: "checks",
        kind: Kind::Checks,
        nullable: true,
        sqlite: Some(SqliteColumn::text(
            "checks_json",
            "JSON object: extra check name -> status",
        )),
        thread: Thread::Second,
    },
    Column {
        col: Col::Source,
        name: "source",
        kind: Kind::Source,
        nullable: false,
        sqlite: None,
        thread: Thread::First,
    },
];

/// One column of schema v1.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub col: Col,
    /// The Parquet column, and the field a source's record holds its value in.
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// The archive's column, in the canonical table; `None` for a column no source holds.
    pub sqlite: Option<SqliteColumn>,
    pub thread: Thread,
}

/// What a column holds: its Arrow type, and the rule a source's value is read by
/// (docs/contract.md, "Records").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `record_id`, a string: any non-empty text, derived from the record when it has none.
    Id,
    /// `report_type`, a string: `[a-z0-9_]+`, `heartbeat` when absent.
    ReportType,
    /// `timestamp[ms, tz=UTC]`: RFC 3339 with an offset, or epoch milliseconds.
    Timestamp,
    /// The verdict, a string of `Status`'s values: required.
    Status,
    /// An `int64` of milliseconds, never negative; null when absent.
    Duration,
    /// A string, null when absent or empty: any text, shared among the rows that repeat it
    /// (`host`, which the derived id and the per-host analysis read too).
    Label,
    /// A fixed check, a string of the vocabulary's values: `unknown` when absent.
    Check(Vocab),
    /// The extra checks, `map<string, string>`: null when there are none.
    Checks,
    /// Where the row came from, a string of `Source`'s values: set by the merge, not read.
    Source,
}

/// The values a fixed check takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocab {
    /// `CheckStatus`: a service check.
    Check,
    /// `AgentStatus`: a launch agent.
    Agent,
}

impl Kind {
    /// The values an enumerated column may hold; `None` for a column of free values.
    pub const fn values(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Status => Some(&Status::VALUES),
            Kind::Check(v) => Some(v.values()),
            Kind::Source => Some(&Source::VALUES),
            Kind::Id | Kind::ReportType | Kind::Timestamp | Kind::Duration => None,
            Kind::Label | Kind::Checks => None,
        }
    }
}

impl Vocab {
    pub const fn values(self) -> &'static [&'static str] {
        match self {
            Vocab::Check => &CheckStatus::VALUES,
            Vocab::Agent => &AgentStatus::VALUES,
        }
    }

    /// The code of `unknown`: an absent check's value.
    pub const fn unknown(self) -> u8 {
        match self {
            Vocab::Check => CheckStatus::Unknown as u8,
            Vocab::Agent => AgentStatus::Unknown as u8,
        }
    }
}

/// A column of the archive's canonical table (`parquet-exporter sqlite-ddl`).
#[derive(Debug, Clone, Copy)]
pub struct SqliteColumn {
    pub name: &'static str,
    /// The declared type, without `NOT NULL`.
    pub ty: &'static str,
    /// A table without it is refused, and the DDL declares it `NOT NULL`.
    pub required: bool,
    /// The DDL's comment on it; empty for none.
    pub note: &'static str,
}

impl SqliteColumn {
    const fn text(name: &'static str, note: &'static str) -> Self {
        SqliteColumn {
            name,
            ty: "TEXT",
            required: false,
            note,
        }
    }
}

/// Which of the writer's two threads builds and encodes a column: the split balances their
/// work and changes no byte of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    First,
    Second,
}

/// Number of columns in schema v1.
pub const COUNT: usize = COLUMNS.len();

const _: () = {
    let mut i = 0;
    while i < COUNT {
        assert!(
            COLUMNS[i].col as usize == i,
            "COLUMNS lists the columns in Col's order"
        );
        i += 1;
    }
};

impl Col {
    /// Every column, in file order.
    pub const ALL: [Col; COUNT] = {
        let mut all = [Col::RecordId; COUNT];
        let mut i = 0;
        while i < COUNT {
            all[i] = COLUMNS[i].col;
            i += 1;
        }
        all
    };

    pub const fn spec(self) -> &'static Column {
        &COLUMNS[self as usize]
    }

    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    pub const fn kind(self) -> Kind {
        self.spec().kind
    }

    /// The column named `name`.
    pub fn by_name(name: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.name() == name)
    }

    /// An enumerated column's values, in code order.
    pub const fn values(self) -> Option<&'static [&'static str]> {
        match self.kind() {
            Kind::Status => Some(&Status::VALUES),
            Kind::Check(v) => Some(v.values()),
            Kind::Source => Some(&Source::VALUES),
            _ => None,
        }
    }

    /// A fixed check's vocabulary.
    pub const fn vocab(self) -> Option<Vocab> {
        match self.kind() {
            Kind::Check(v) => Some(v),
            _ => None,
        }
    }

    /// The place of a fixed check (a `Kind::Check` column) in `Fixed`.
    pub const fn fixed_slot(self) -> usize {
        let slot = FIXED_SLOTS[self as usize];
        assert!(slot != NONE, "a fixed check is a Kind::Check column");
        slot
    }

    /// The place of a `Kind::Label` column in `Labels`.
    pub const fn label_slot(self) -> usize {
        let slot = LABEL_SLOTS[self as usize];
        assert!(slot != NONE, "a label is a Kind::Label column");
        slot
    }
}

/// Columns that the derived layouts hold side by side.
#[derive(Clone, Copy)]
enum Group {
    /// `Kind::Check`: each as a byte, in `Fixed`.
    Fixed,
    /// `Kind::Label`: each as optional text, in `Labels`.
    Label,
    /// Every column a source's record holds by name (all but the extra checks and `source`).
    Field,
}

impl Group {
    const fn holds(self, kind: Kind) -> bool {
        match self {
            Group::Fixed => matches!(kind, Kind::Check(_)),
            Group::Label => matches!(kind, Kind::Label),
            Group::Field => !matches!(kind, Kind::Checks | Kind::Source),
        }
    }

    const fn len(self) -> usize {
        let (mut n, mut i) = (0, 0);
        while i < COUNT {
            if self.holds(COLUMNS[i].kind) {
                n += 1;
            }
            i += 1;
        }
        n
    }

    /// The group's columns, in file order (`N` is `len`).
    const fn members<const N: usize>(self) -> [Col; N] {
        let mut out = [Col::RecordId; N];
        let (mut n, mut i) = (0, 0);
        while i < COUNT {
            if self.holds(COLUMNS[i].kind) {
                out[n] = COLUMNS[i].col;
                n += 1;
            }
            i += 1;
        }
        assert!(n == N, "N is the group's length");
        out
    }

    /// Each column's place among the group's, `NONE` for a column not of it.
    const fn slots(self) -> [usize; COUNT] {
        let mut out = [NONE; COUNT];
        let (mut n, mut i) = (0, 0);
        while i < COUNT {
            if self.holds(COLUMNS[i].kind) {
                out[i] = n;
                n += 1;
            }
            i += 1;
        }
        out
    }
}

/// No place: the column is not of the group.
const NONE: usize = usize::MAX;
const FIXED_SLOTS: [usize; COUNT] = Group::Fixed.slots();
const LABEL_SLOTS: [usize; COUNT] = Group::Label.slots();

/// Number of fixed checks.
pub const FIXED: usize = Group::Fixed.len();
/// The fixed checks, in file order (`Fixed`'s order).
pub const FIXED_COLS: [Col; FIXED] = Group::Fixed.members();

/// Number of label columns.
pub const LABELS: usize = Group::Label.len();
/// The label columns, in file order (`Labels`' order).
pub const LABEL_COLS: [Col; LABELS] = Group::Label.members();
/// The place of `host` in `Labels`.
pub const HOST: usize = Col::Host.label_slot();

/// The record's own fields as sources name them (docs/contract.md, "Records"), extra checks aside.
pub const RECORD_FIELDS: [&str; Group::Field.len()] = {
    let cols: [Col; Group::Field.len()] = Group::Field.members();
    let mut names = [""; Group::Field.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = cols[i].name();
        i += 1;
    }
    names
};

/// The column a source's record holds in its field `name` (one of `RECORD_FIELDS`).
pub fn field_col(name: &[u8]) -> Option<Col> {
    Col::ALL
        .into_iter()
        .find(|c| Group::Field.holds(c.kind()) && c.name().as_bytes() == name)
}

/// The values of the label columns (`LABEL_COLS`), null as `None`.
pub type Labels<T> = [Option<T>; LABELS];

/// A record's fixed checks (`FIXED_COLS`), each as its code in its column's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fixed(pub [u8; FIXED]);

impl Default for Fixed {
    /// Every check `unknown`, as a record without them has.
    fn default() -> Self {
        Fixed(FIXED_COLS.map(|c| c.vocab().expect("a fixed check has a vocabulary").unknown()))
    }
}

#[cfg(test)]
impl Fixed {
    /// Every service check `ok` and both agents `loaded`: a healthy beat's checks, for tests.
    pub fn all_ok() -> Fixed {
        Fixed::default()
            .with(Col::RedisStatus, CheckStatus::Ok)
            .with(Col::DatabaseStatus, CheckStatus::Ok)
            .with(Col::ApiStatus, CheckStatus::Ok)
            .with(Col::LaunchagentOptimizer, AgentStatus::Loaded)
            .with(Col::LaunchagentDigest, AgentStatus::Loaded)
    }
}

impl Fixed {
    /// Check `col`'s code.
    pub fn code(&self, col: Col) -> u8 {
        self.0[col.fixed_slot()]
    }

    /// Check `col`'s value as `V`, its column's vocabulary.
    pub fn get<V: Vocabulary>(&self, col: Col) -> V {
        debug_assert_eq!(
            col.values(),
            Some(V::VALUES),
            "{col:?} holds another vocabulary"
        );
        V::from_code(self.code(col))
    }

    /// Check `col`'s value as written.
    pub fn word(&self, col: Col) -> &'static str {
        col.values().expect("a fixed check is enumerated")[self.code(col) as usize]
    }

    pub fn set<V: Vocabulary>(&mut self, col: Col, value: V) {
        assert_eq!(
            col.values(),
            Some(V::VALUES),
            "{col:?} holds another vocabulary"
        );
        self.0[col.fixed_slot()] = value.code();
    }

    /// `self` with check `col` set to `value`.
    pub fn with<V: Vocabulary>(mut self, col: Col, value: V) -> Self {
        self.set(col, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_schema_v1_in_file_order() {
        let names: Vec<&str> = Col::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "record_id",
                "report_type",
                "timestamp",
                "status",
                "duration_ms",
                "host",
                "redis_status",
                "database_status",
                "api_status",
                "launchagent_optimizer",
                "launchagent_digest",
                "checks",
                "source"
            ]
        );
        for c in Col::ALL {
            assert_eq!(Col::by_name(c.name()), Some(c));
        }
        assert_eq!(Col::by_name("ts"), None);
    }

    #[test]
    fn derived_layouts_follow_the_table() {
        assert_eq!(
            FIXED_COLS,
            [
                Col::RedisStatus,
                Col::DatabaseStatus,
                Col::ApiStatus,
                Col::LaunchagentOptimizer,
                Col::LaunchagentDigest
            ]
        );
        for (i, c) in FIXED_COLS.iter().enumerate() {
            assert_eq!(c.fixed_slot(), i);
        }
        assert_eq!(LABEL_COLS.len(), LABELS);
        for (i, c) in LABEL_COLS.iter().enumerate() {
            assert_eq!(c.label_slot(), i);
        }
        assert_eq!(RECORD_FIELDS[..], Col::ALL.map(Col::name)[..11]);
        assert_eq!(field_col(b"timestamp"), Some(Col::Timestamp));
        assert_eq!(field_col(b"checks"), None, "extra checks are not a field");
        assert_eq!(field_col(b"source"), None, "no source says where it is");
    }

    #[test]
    fn fixed_checks_default_to_unknown_and_keep_their_vocabulary() {
        let f = Fixed::default();
        for c in FIXED_COLS {
            assert_eq!(f.word(c), "unknown", "{c:?}");
        }
        let f = f
            .with(Col::ApiStatus, CheckStatus::Error)
            .with(Col::LaunchagentDigest, AgentStatus::NotLoaded);
        assert_eq!(f.get::<CheckStatus>(Col::ApiStatus), CheckStatus::Error);
        assert_eq!(f.word(Col::LaunchagentDigest), "not_loaded");
        assert_eq!(f.get::<CheckStatus>(Col::RedisStatus), CheckStatus::Unknown);
    }

    #[test]
    #[should_panic(expected = "another vocabulary")]
    fn a_check_takes_only_its_own_vocabulary() {
        Fixed::default().set(Col::LaunchagentOptimizer, CheckStatus::Ok);
    }
}
