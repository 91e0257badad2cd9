//! The report of one run, and the pure functions that build it: what the summary, `--json`,
//! the footer metadata and the exit status all say. Renderers (summary, app) read it; the
//! export fills it in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::contract::footer;
use crate::contract::{CADENCE_MS, SCHEMA_VERSION};
use crate::day::Day;
use crate::gaps::{local_time, GapReport, HostHealth};
use crate::record::Status;
use crate::rows::BeatRef;
use crate::source::{self, Reject};
use crate::verify::FileCheck;

/// The run's outcome, which the summary, `--json`, the footer and the exit status all report.
pub use crate::contract::Verdict;

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub name: &'static str,
    /// The database path or the Redis URL with its password hidden, and the table or key.
    pub location: String,
    pub state: SourceState,
    pub error: Option<String>,
    #[serde(flatten)]
    pub counts: source::SourceCounts,
}

/// How a configured source fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Read in full.
    Ok,
    /// Could not be reached or read: the run is partial.
    Unavailable,
    /// Read, but it no longer holds the whole day (a stream trimmed inside it).
    Trimmed,
    /// Read, but it begins inside the day and whether it was trimmed could not be checked.
    Unverified,
    /// Reached, but the configured stream key does not exist.
    Missing,
}

impl SourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Ok => "ok",
            SourceState::Unavailable => "unavailable",
            SourceState::Trimmed => "trimmed",
            SourceState::Unverified => "unverified",
            SourceState::Missing => "missing",
        }
    }
}

impl std::fmt::Display for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a run left the day's existing file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptBecause {
    /// An intraday run found the day's whole file: a part never replaces it, forced or not.
    Complete,
    /// An intraday run cut earlier than the file's cut (a clock set back).
    LaterCut,
    /// A partial or empty run found no record the file lacks.
    NothingNew,
}

/// The day file a run left in place, and why.
#[derive(Debug, Clone, Serialize)]
pub struct KeptFile {
    pub rows: u64,
    /// Its verdict, as its footer records it.
    pub verdict: Option<String>,
    pub because: KeptBecause,
    /// Why it was kept, as a clause: "it holds 288 rows (its verdict: success), and this
    /// partial run found no record it lacks (`--force` replaces it)".
    pub why: String,
}

impl KeptFile {
    /// The existing file of `rows` rows, `verdict` and intraday cut `until`, kept by a run
    /// whose verdict is `run`.
    pub fn new(
        rows: u64,
        verdict: Option<String>,
        until: Option<&str>,
        run: Verdict,
        because: KeptBecause,
    ) -> KeptFile {
        let v = verdict.as_deref().unwrap_or("not recorded");
        let why = match because {
            KeptBecause::Complete => format!(
                "it is the day's complete file ({rows} rows, its verdict: {v}), which an \
                 intraday export never replaces, with or without --force"
            ),
            KeptBecause::LaterCut => format!(
                "it holds {rows} rows up to {}, later than this run's cut (`--force` replaces it)",
                until.unwrap_or("?")
            ),
            KeptBecause::NothingNew => format!(
                "it holds {rows} rows (its verdict: {v}), and this {} run found no record it \
                 lacks (`--force` replaces it)",
                run.as_str()
            ),
        };
        KeptFile {
            rows,
            verdict,
            because,
            why,
        }
    }
}

/// What the sources and the merge say of the day: every count the footer and the summary carry,
/// and the verdict.
#[derive(Debug, Clone)]
pub struct Tally {
    pub sources: Vec<SourceReport>,
    pub read: u64,
    /// Rows of the day's previous file that no source holds any more, carried into this one.
    pub carried: u64,
    /// The machine that wrote that file, as its footer says.
    pub carried_from: Option<String>,
    pub rows: u64,
    pub merged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub reject_reasons: Vec<(String, u64)>,
    pub statuses: BTreeMap<String, u64>,
    pub hosts: Vec<String>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub verdict: Verdict,
}

/// The per-host analysis of the day, for the summary.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub gaps: GapReport,
    pub hosts_health: Vec<HostHealth>,
    pub timeline: Timeline,
}

/// The files a run wrote or kept, as the report names them; all `None` for a dry run.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub timeline_svg: Option<String>,
    pub parquet: Option<String>,
    pub bytes: Option<u64>,
    pub rejects_file: Option<String>,
    pub summary: Option<String>,
    pub readback: Option<FileCheck>,
    pub kept_existing: Option<KeptFile>,
    pub moved: Vec<String>,
    pub publication: Option<String>,
}

/// Pairs as one JSON object, in their order (most frequent reason first).
fn as_object<S: serde::Serializer>(pairs: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub day: String,
    /// `--instance`, when several exporters share one out dir or prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub timezone: String,
    pub day_hours: f64,
    pub verdict: Verdict,
    /// An intraday export's span, in the day's zone: the file holds the day from its start
    /// (local midnight, or the first local time that exists) up to the cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covers_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covers_until: Option<String>,
    pub dry: bool,
    pub exporter: String,
    pub sources: Vec<SourceReport>,
    pub read: u64,
    /// Rows of the day's previous file that no source holds any more, carried into this one:
    /// read + carried = rows + merged + rejected.
    pub carried: u64,
    /// The machine that wrote the previous file, when records were carried from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<String>,
    pub rows: u64,
    pub merged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    /// Reject reason code → count, most frequent first; in JSON an object like `statuses`.
    #[serde(serialize_with = "as_object")]
    pub reject_reasons: Vec<(String, u64)>,
    pub statuses: BTreeMap<String, u64>,
    pub hosts: Vec<String>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub gaps: GapReport,
    /// Each host's heartbeat health, worst coverage first.
    pub hosts_health: Vec<HostHealth>,
    /// The timeline picture written beside the summary.
    pub timeline_svg: Option<String>,
    pub parquet: Option<String>,
    pub bytes: Option<u64>,
    pub rejects_file: Option<String>,
    pub summary: Option<String>,
    pub readback: Option<FileCheck>,
    /// Set when this run did not replace the day file (see `KeptFile`).
    pub kept_existing: Option<KeptFile>,
    /// Files an older version kept in the data tree, moved to the summary dir by this run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<String>,
    /// How a bucket's day object was published (conditional or not, which try).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publication: Option<String>,
    /// Reads, merges and writes it took: more than one when another writer changed a
    /// bucket's day object in between.
    pub tries: u32,
    pub duration_ms: u64,
}

impl RunReport {
    /// The report of a run over `day` (of `instance`, `dry` or not), from what its phases
    /// returned.
    pub fn assemble(
        day: &Day,
        instance: Option<String>,
        dry: bool,
        (tally, analysis, outputs): (Tally, Analysis, Outputs),
        elapsed: std::time::Duration,
    ) -> RunReport {
        RunReport {
            day: day.to_string(),
            instance,
            timezone: day.tz().name().to_string(),
            day_hours: day.hours(),
            verdict: tally.verdict,
            covers_from: day.is_cut().then(|| local_time(day, day.start_ms())),
            covers_until: day.is_cut().then(|| local_time(day, day.end_ms())),
            dry,
            exporter: exporter_name(),
            sources: tally.sources,
            read: tally.read,
            carried: tally.carried,
            carried_from: tally.carried_from,
            rows: tally.rows,
            merged: tally.merged,
            conflicts: tally.conflicts,
            rejected: tally.rejected,
            reject_reasons: tally.reject_reasons,
            statuses: tally.statuses,
            hosts: tally.hosts,
            first_timestamp: tally.first_timestamp,
            last_timestamp: tally.last_timestamp,
            gaps: analysis.gaps,
            hosts_health: analysis.hosts_health,
            timeline_svg: outputs.timeline_svg,
            parquet: outputs.parquet,
            bytes: outputs.bytes,
            rejects_file: outputs.rejects_file,
            summary: outputs.summary,
            readback: outputs.readback,
            kept_existing: outputs.kept_existing,
            moved: outputs.moved,
            publication: outputs.publication,
            tries: 1,
            duration_ms: elapsed.as_millis() as u64,
        }
    }
}

/// This machine's host name, as the footer records who wrote a file ("unknown" if the system
/// will not say).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is passed with it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match (rc, std::str::from_utf8(&buf[..end])) {
        (0, Ok(name)) if !name.is_empty() => name.to_string(),
        _ => "unknown".into(),
    }
}

pub fn exporter_name() -> String {
    format!("parquet-exporter {}", env!("CARGO_PKG_VERSION"))
}

/// The worst status of every 5-minute slot of the day, per host shown: 0 silent, 1 healthy,
/// 2 warnings, 3 critical.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub slots: usize,
    /// The local hour (`HH`) at each hour from the day's start: 23 or 25 of them on DST days.
    pub hours: Vec<String>,
    pub hosts: Vec<(String, Vec<u8>)>,
    /// Hosts that beat that day but are not drawn (only the worst are).
    pub hidden: usize,
}

/// The timeline of `hosts` (in that order) over `day`.
#[cfg(test)]
pub fn timeline<'a>(
    rows: impl IntoIterator<Item = impl Into<BeatRef<'a>>>,
    day: &Day,
    hosts: &[&str],
) -> Timeline {
    let mut cells = TimelineCells::new(day);
    cells.add(rows);
    cells.finish(hosts)
}

/// Every host's slots, taken a window of the day at a time; which hosts are drawn is known
/// only at the day's end. A host's slots take a byte each (288 a day).
pub struct TimelineCells<'d> {
    day: &'d Day,
    slots: usize,
    hosts: HashMap<Box<str>, Vec<u8>, foldhash::fast::FixedState>,
}

impl<'d> TimelineCells<'d> {
    pub fn new(day: &'d Day) -> Self {
        let len = day.end_ms() - day.start_ms();
        TimelineCells {
            day,
            slots: (len as u64).div_ceil(CADENCE_MS as u64) as usize,
            hosts: HashMap::default(),
        }
    }

    /// Takes the next rows; only heartbeats count.
    pub fn add<'a>(&mut self, rows: impl IntoIterator<Item = impl Into<BeatRef<'a>>>) {
        let start = self.day.start_ms();
        for r in rows
            .into_iter()
            .map(Into::into)
            .filter(|r: &BeatRef| r.report_type == "heartbeat")
        {
            let host = r.host.unwrap_or("-");
            let cells = match self.hosts.get_mut(host) {
                Some(c) => c,
                None => self.hosts.entry(host.into()).or_insert(vec![0; self.slots]),
            };
            let slot = ((r.ts_ms - start) / CADENCE_MS) as usize;
            let level = match r.status {
                Status::Healthy => 1,
                Status::Warnings => 2,
                Status::Critical => 3,
            };
            if let Some(c) = cells.get_mut(slot) {
                *c = (*c).max(level);
            }
        }
    }

    /// The timeline of `hosts`, in that order.
    pub fn finish(mut self, hosts: &[&str]) -> Timeline {
        let day = self.day;
        let len = day.end_ms() - day.start_ms();
        let hours = (0..(len as u64).div_ceil(3_600_000))
            .map(|h| {
                local_time(day, day.start_ms() + h as i64 * 3_600_000)
                    .get(11..13)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let slots = self.slots;
        Timeline {
            slots,
            hours,
            hosts: hosts
                .iter()
                .map(|h| {
                    let cells = self.hosts.remove(*h).unwrap_or_else(|| vec![0; slots]);
                    (h.to_string(), cells)
                })
                .collect(),
            hidden: 0,
        }
    }
}

pub fn reject_reasons(rejects: &[Reject]) -> Vec<(String, u64)> {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rejects {
        *by.entry(r.reason_code).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = by.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// What every day file's footer says of itself, whoever writes it (an export or an import):
/// the schema version, the day, its time zone and the exporter.
pub fn footer_of_day(day: &Day) -> Vec<(String, String)> {
    vec![
        (footer::SCHEMA_VERSION.into(), SCHEMA_VERSION.to_string()),
        (footer::DAY.into(), day.to_string()),
        (footer::TIMEZONE.into(), day.tz().name().to_string()),
        (footer::EXPORTER.into(), exporter_name()),
    ]
}

/// The footer key-value metadata of the day file a run of `day` writes.
pub fn file_metadata(day: &Day, instance: Option<&str>, tally: &Tally) -> Vec<(String, String)> {
    let mut kv = footer_of_day(day);
    kv.extend([
        (footer::ROWS.into(), tally.rows.to_string()),
        (footer::MERGED.into(), tally.merged.to_string()),
        (footer::CONFLICTS.into(), tally.conflicts.to_string()),
        (footer::REJECTED.into(), tally.rejected.to_string()),
        (footer::VERDICT.into(), tally.verdict.as_str().to_string()),
    ]);
    if tally.carried > 0 {
        kv.push((footer::CARRIED.into(), tally.carried.to_string()));
    }
    kv.push((footer::WRITTEN_BY.into(), host_name()));
    if let Some(i) = instance {
        kv.push((footer::INSTANCE.into(), i.to_string()));
    }
    if day.is_cut() {
        let until = DateTime::from_timestamp_millis(day.end_ms())
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default();
        kv.push((footer::COVERS_UNTIL.into(), until));
    }
    for s in &tally.sources {
        kv.push((footer::source(s.name, "state"), s.state.as_str().into()));
        kv.push((footer::source(s.name, "read"), s.counts.read.to_string()));
        kv.push((
            footer::source(s.name, "rejected"),
            s.counts.rejected.to_string(),
        ));
    }
    kv
}

/// What an import did for one day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportDay {
    pub day: String,
    /// Legacy records whose timestamp (or, for a reject, whose name) falls on this day.
    pub read: u64,
    /// Legacy records added to the day file.
    pub written: u64,
    /// Legacy copies of a record already in the day file or read before.
    pub merged: u64,
    /// Merged copies whose content differed from the row kept.
    pub conflicts: u64,
    pub rejected: u64,
    /// Rows the day file held before, and holds now (or would hold, on a dry run).
    pub rows_before: u64,
    pub rows_after: u64,
    pub outcome: ImportOutcome,
    pub parquet: Option<String>,
    pub rejects_file: Option<String>,
    pub error: Option<String>,
}

/// What an import did with one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportOutcome {
    /// A new day file, of legacy records only.
    Created,
    /// Legacy records added to an existing day file.
    Merged,
    /// Nothing to add: the day file is left as it was (the import's start, until it knows).
    #[default]
    Unchanged,
    /// An error stopped the day; the others are still imported.
    Failed,
}

impl ImportOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportOutcome::Created => "created",
            ImportOutcome::Merged => "merged",
            ImportOutcome::Unchanged => "unchanged",
            ImportOutcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for ImportOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `import-legacy` did, across the days its records fall on.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub timezone: String,
    pub dry: bool,
    pub exporter: String,
    /// Inputs read: legacy Parquet exports and heartbeat reports.
    pub inputs: Vec<String>,
    pub skipped: Vec<crate::legacy::Skipped>,
    pub days: Vec<ImportDay>,
    pub read: u64,
    pub written: u64,
    pub merged: u64,
    pub rejected: u64,
    pub summary: Option<String>,
}
