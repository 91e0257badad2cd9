//! The report of one run, and the pure functions that build it: what the summary, `--json`,
//! the footer metadata and the exit status all say. Renderers (summary, app) read it; the
//! export fills it in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::contract::footer;
use crate::contract::{CADENCE_MS, SCHEMA_VERSION};
use crate::day::Day;
use crate::record::Status;
use crate::rows::BeatRef;
use crate::source::{self, Reject};
use crate::verify::FileCheck;

/// A silence counts as a gap past one and a half beats, so jitter is not reported.
const GAP_MS: i64 = CADENCE_MS * 3 / 2;

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub host: String,
    pub from: String,
    pub to: String,
    pub minutes: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GapReport {
    pub count: usize,
    pub missed_beats: i64,
    /// The longest gaps, longest first (at most 10).
    pub longest: Vec<Gap>,
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

pub fn local_time(day: &Day, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&day.tz())
                .to_rfc3339_opts(SecondsFormat::Millis, false)
        })
        .unwrap_or_default()
}

/// One host's heartbeats over the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostHealth {
    pub host: String,
    pub beats: u64,
    /// Beats a 5-minute cadence gives from the day's start to its end or cut
    /// (`contract::expected_beats`, as `history` and the report count them): a morning lost is
    /// lost coverage, and a host that goes quiet is owed the rest.
    pub expected: u64,
    pub coverage_pct: f64,
    pub gaps: u64,
    pub longest_gap_minutes: f64,
    pub warnings: u64,
    pub critical: u64,
    pub first: String,
    pub last: String,
}

/// Gaps in each host's heartbeat cadence from its first beat on (a silent end of the day included), and each
/// host's heartbeat health, worst coverage first: heartbeat records only, in time order (as
/// merged), read in one pass.
pub fn gaps_and_health<'a>(
    rows: impl IntoIterator<Item = impl Into<BeatRef<'a>>>,
    day: &Day,
) -> (GapReport, Vec<HostHealth>) {
    let mut beats = Beats::new(day);
    for r in rows
        .into_iter()
        .map(Into::into)
        .filter(|r: &BeatRef| r.report_type == "heartbeat")
    {
        beats.beat(r.host.unwrap_or("-"), r.ts_ms, r.status);
    }
    beats.finish()
}

/// The gaps of `gaps_and_health` from (host, timestamp) pairs of heartbeats in time order, as
/// `history` reads them from a file's columns.
pub fn gaps_of<'a>(beats: impl IntoIterator<Item = (&'a str, i64)>, day: &Day) -> GapReport {
    let mut b = Beats::new(day);
    for (host, t) in beats {
        b.beat(host, t, Status::Healthy);
    }
    b.finish().0
}

/// Gaps kept as found before the longest are picked: a sort and cut past this many keeps a
/// day with gaps everywhere in bounded memory.
const GAPS_KEPT: usize = 1024;
/// Gaps the report names.
const GAPS_SHOWN: usize = 10;

/// One host's heartbeats so far.
struct HostRun<'a> {
    host: &'a str,
    first: i64,
    last: i64,
    beats: u64,
    /// Silences over 7.5 minutes from the host's first beat on: between beats, and from the
    /// last beat to the day's end. The day's count is the sum of these over the hosts: one
    /// definition for the summary, the hosts table, history and the picture.
    gaps: u64,
    longest: i64,
    warnings: u64,
    critical: u64,
}

impl HostRun<'_> {
    fn gap(&mut self, length: i64) {
        self.gaps += 1;
        self.longest = self.longest.max(length);
    }
}

/// A gap: the host, and the beats (or day edges) it lies between.
#[derive(Clone, Copy)]
struct Silence<'a> {
    host: &'a str,
    from: i64,
    to: i64,
}

/// Per-host state for heartbeats read in time order: memory grows with the hosts, not the rows,
/// so the analysis beside the day file's writer holds no copy of the day.
struct Beats<'a, 'd> {
    day: &'d Day,
    index: HashMap<&'a str, usize, foldhash::fast::FixedState>,
    hosts: Vec<HostRun<'a>>,
    count: usize,
    missed: i64,
    longest: Vec<Silence<'a>>,
}

impl<'a, 'd> Beats<'a, 'd> {
    fn new(day: &'d Day) -> Self {
        Beats {
            day,
            index: HashMap::default(),
            hosts: Vec::new(),
            count: 0,
            missed: 0,
            longest: Vec::new(),
        }
    }

    fn beat(&mut self, host: &'a str, t: i64, status: Status) {
        let i = match self.index.get(host) {
            Some(&i) => i,
            None => {
                let i = self.hosts.len();
                self.index.insert(host, i);
                self.hosts.push(HostRun {
                    host,
                    first: t,
                    last: t,
                    beats: 0,
                    gaps: 0,
                    longest: 0,
                    warnings: 0,
                    critical: 0,
                });
                // A host is counted from its first beat of the day, as its expected beats are:
                // the time before it is no gap. (Counting from a beat assumed 5 minutes before
                // midnight made every host whose offset was over 2.5 minutes a gap.)
                i
            }
        };
        if self.hosts[i].beats > 0 {
            if let Some(length) = self.silence(host, self.hosts[i].last, t) {
                self.hosts[i].gap(length);
            }
        }
        let h = &mut self.hosts[i];
        h.last = t;
        h.beats += 1;
        match status {
            Status::Warnings => h.warnings += 1,
            Status::Critical => h.critical += 1,
            Status::Healthy => {}
        }
    }

    /// Counts the silence from `from` to `to` if it is a gap, and returns its length then.
    fn silence(&mut self, host: &'a str, from: i64, to: i64) -> Option<i64> {
        let length = to - from;
        if length <= GAP_MS {
            return None;
        }
        self.count += 1;
        self.missed += length / CADENCE_MS - 1;
        self.longest.push(Silence { host, from, to });
        if self.longest.len() >= GAPS_KEPT {
            self.keep_longest();
        }
        Some(length)
    }

    /// Longest first; equal ones by host name, then time, as a list in host and time order
    /// sorted stably by length would have them.
    fn keep_longest(&mut self) {
        let start = self.day.start_ms();
        self.longest.sort_unstable_by(|a, b| {
            let len = |s: &Silence| s.to - s.from.max(start);
            len(b)
                .cmp(&len(a))
                .then_with(|| a.host.cmp(b.host))
                .then_with(|| a.from.cmp(&b.from))
        });
        self.longest.truncate(GAPS_SHOWN);
    }

    fn finish(mut self) -> (GapReport, Vec<HostHealth>) {
        let (day, start, end) = (self.day, self.day.start_ms(), self.day.end_ms());
        // A host that goes quiet before the day ends is silent to the end.
        for i in 0..self.hosts.len() {
            if let Some(length) = self.silence(self.hosts[i].host, self.hosts[i].last, end) {
                self.hosts[i].gap(length);
            }
        }
        self.keep_longest();
        let gaps = GapReport {
            count: self.count,
            missed_beats: self.missed,
            longest: self
                .longest
                .iter()
                .map(|s| Gap {
                    host: s.host.to_string(),
                    from: local_time(day, s.from.max(start)),
                    to: local_time(day, s.to),
                    minutes: (s.to - s.from.max(start)) as f64 / 60_000.0,
                })
                .collect(),
        };
        let mut health: Vec<HostHealth> = self
            .hosts
            .iter()
            .map(|h| {
                let expected = crate::contract::expected_beats(start, end);
                HostHealth {
                    host: h.host.to_string(),
                    beats: h.beats,
                    expected,
                    coverage_pct: crate::contract::coverage_pct(h.beats, expected),
                    gaps: h.gaps,
                    longest_gap_minutes: h.longest as f64 / 60_000.0,
                    warnings: h.warnings,
                    critical: h.critical,
                    first: local_time(day, h.first),
                    last: local_time(day, h.last),
                }
            })
            .collect();
        health.sort_by(|a, b| {
            a.coverage_pct
                .total_cmp(&b.coverage_pct)
                .then_with(|| b.gaps.cmp(&a.gaps))
                .then_with(|| a.host.cmp(&b.host))
        });
        (gaps, health)
    }
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
pub fn timeline<'a>(
    rows: impl IntoIterator<Item = impl Into<BeatRef<'a>>>,
    day: &Day,
    hosts: &[&str],
) -> Timeline {
    let len = day.end_ms() - day.start_ms();
    let slots = (len as u64).div_ceil(CADENCE_MS as u64) as usize;
    let hours = (0..(len as u64).div_ceil(3_600_000))
        .map(|h| {
            local_time(day, day.start_ms() + h as i64 * 3_600_000)
                .get(11..13)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let index: HashMap<&str, usize, foldhash::fast::FixedState> =
        hosts.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let mut cells = vec![vec![0u8; slots]; hosts.len()];
    for r in rows
        .into_iter()
        .map(Into::into)
        .filter(|r: &BeatRef| r.report_type == "heartbeat")
    {
        let Some(&h) = index.get(r.host.unwrap_or("-")) else {
            continue;
        };
        let slot = ((r.ts_ms - day.start_ms()) / CADENCE_MS) as usize;
        let level = match r.status {
            Status::Healthy => 1,
            Status::Warnings => 2,
            Status::Critical => 3,
        };
        if let Some(c) = cells[h].get_mut(slot) {
            *c = (*c).max(level);
        }
    }
    Timeline {
        slots,
        hours,
        hosts: hosts.iter().map(|h| h.to_string()).zip(cells).collect(),
        hidden: 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;
    use crate::record::Row;

    #[test]
    fn gaps_count_missed_beats_and_silent_edges() {
        let day = utc_day(1970, 1, 1);
        // Every 5 minutes all day except a 30-minute hole starting at 01:00.
        let mut rows: Vec<Row> = (0..288)
            .map(|i| i * CADENCE_MS)
            .filter(|t| !(3_600_000 < *t && *t < 3_600_000 + 30 * 60_000))
            .map(|t| row(&t.to_string(), t, &[]))
            .collect();
        let g = gaps_and_health(rows.iter().map(Row::view), &day).0;
        assert_eq!(g.count, 1, "{g:?}");
        assert_eq!(g.missed_beats, 5);
        assert_eq!(g.longest[0].minutes, 30.0);
        // Stopping at 23:00 is a gap at the end of the day.
        rows.retain(|r| r.record.ts_ms < 23 * 3_600_000);
        let g = gaps_and_health(rows.iter().map(Row::view), &day).0;
        assert_eq!(g.count, 2);
        assert_eq!(g.longest[0].to, "1970-01-02T00:00:00.000+00:00");
        assert_eq!(g.longest[0].minutes, 65.0);
    }

    #[test]
    fn a_full_day_has_no_gaps() {
        let day = utc_day(1970, 1, 1);
        let rows: Vec<Row> = (0..288)
            .map(|i| row(&i.to_string(), i * CADENCE_MS + 1_000, &[]))
            .collect();
        assert_eq!(gaps_and_health(rows.iter().map(Row::view), &day).0.count, 0);
    }

    fn utc_day(y: i32, m: u32, d: u32) -> Day {
        Day::new(
            chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            "UTC".parse().unwrap(),
        )
        .unwrap()
    }

    fn on(host: &str, ms: i64, status: Status) -> Row {
        let mut r = row(&format!("{host}:{ms}"), ms, &[]);
        *r.record.host_mut() = Some(host.into());
        r.record.status = status;
        r
    }

    #[test]
    fn host_health_counts_beats_gaps_and_a_mid_day_start() {
        let day = utc_day(2025, 10, 30);
        let s = day.start_ms();
        let mut rows = Vec::new();
        // "a": every 5 minutes from 00:00:30, but silent from 01:00:30 to 01:30:30; warnings.
        for i in 0..288 {
            let t = s + 30_000 + i * CADENCE_MS;
            if !(t > s + 3_630_000 && t < s + 5_430_000) {
                let st = if i % 100 == 7 {
                    Status::Warnings
                } else {
                    Status::Healthy
                };
                rows.push(on("a", t, st));
            }
        }
        // "b": starts at noon, never misses a beat, one critical.
        for i in 0..144 {
            let st = if i == 3 {
                Status::Critical
            } else {
                Status::Healthy
            };
            rows.push(on("b", s + 43_200_000 + i * CADENCE_MS, st));
        }
        // "c": every 5 minutes from midnight, last beat at 17:55.
        for i in 0..216 {
            rows.push(on("c", s + i * CADENCE_MS, Status::Healthy));
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let h = gaps_and_health(rows.iter().map(Row::view), &day).1;
        let by = |n: &str| h.iter().find(|x| x.host == n).unwrap().clone();
        let a = by("a");
        assert_eq!((a.beats, a.expected, a.gaps), (283, 288, 1));
        assert_eq!(a.longest_gap_minutes, 30.0);
        assert_eq!((a.warnings, a.critical), (3, 0), "beats 7, 107 and 207");
        assert_eq!(a.first, "2025-10-30T00:00:30.000+00:00");
        let b = by("b");
        // Coverage owes beats from the day's start (as history and the report count it); gaps
        // start at the host's first beat.
        assert_eq!((b.beats, b.expected, b.gaps, b.critical), (144, 288, 0, 1));
        assert_eq!(b.coverage_pct, 50.0);
        let c = by("c");
        assert_eq!((c.beats, c.expected, c.gaps), (216, 288, 1));
        assert_eq!(
            c.longest_gap_minutes, 365.0,
            "from the last beat, 17:55, to midnight"
        );
        assert_eq!(
            h.iter().map(|x| x.host.as_str()).collect::<Vec<_>>(),
            ["b", "c", "a"],
            "worst coverage first"
        );
    }

    #[test]
    fn host_health_on_a_dst_day_expects_23_hours() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(2025, 3, 9).unwrap(),
            "America/New_York".parse().unwrap(),
        )
        .unwrap();
        let rows: Vec<Row> = (0..276)
            .map(|i| {
                on(
                    "ny",
                    day.start_ms() + 1_000 + i * CADENCE_MS,
                    Status::Healthy,
                )
            })
            .collect();
        let h = gaps_and_health(rows.iter().map(Row::view), &day).1;
        assert_eq!((h[0].beats, h[0].expected, h[0].gaps), (276, 276, 0));
        assert_eq!(h[0].coverage_pct, 100.0);
    }

    #[test]
    fn the_export_and_history_find_the_same_gaps() {
        let day = utc_day(2025, 10, 30);
        let s = day.start_ms();
        let mut rows = Vec::new();
        for i in (0..288).filter(|i| !(100..110).contains(i)) {
            rows.push(on("a", s + i * CADENCE_MS, Status::Healthy));
        }
        for i in 0..150 {
            rows.push(on("b", s + 7_000 + i * CADENCE_MS, Status::Critical));
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let (g, h) = gaps_and_health(rows.iter().map(Row::view), &day);
        // history reads the same gaps from a file's columns.
        let beats = rows
            .iter()
            .map(|r| (r.record.host().unwrap(), r.record.ts_ms));
        assert_eq!(g, gaps_of(beats, &day));
        assert_eq!((g.count, h.len()), (2, 2), "{g:?}");
    }

    #[test]
    fn hosts_at_random_offsets_beating_every_5_minutes_have_no_gap() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
            "UTC".parse().unwrap(),
        )
        .unwrap();
        let s = day.start_ms();
        // 1,500 hosts, each at its own offset within the 5 minutes, a few ms of jitter per beat.
        let mut rows = Vec::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for h in 0..1500 {
            let offset = (next() % CADENCE_MS as u64) as i64;
            let host = format!("host-{h:04}");
            for i in 0..288 {
                let t = s + offset + i * CADENCE_MS + (next() % 2000) as i64;
                if day.contains(t) {
                    rows.push(on(&host, t, Status::Healthy));
                }
            }
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let (gaps, health) = gaps_and_health(rows.iter().map(Row::view), &day);
        assert_eq!(gaps.count, 0, "{:?}", gaps.longest.first());
        assert!(health.iter().all(|h| h.gaps == 0));
        // One host silent for 20 minutes: one gap, in the day's count and in its row alike.
        let quiet = "host-0007";
        let (first, last) = (s + 3_600_000, s + 3_600_000 + 20 * 60_000);
        rows.retain(|r| r.record.host() != Some(quiet) || !(first..last).contains(&r.record.ts_ms));
        let (gaps, health) = gaps_and_health(rows.iter().map(Row::view), &day);
        assert_eq!(gaps.count, 1);
        let h = health.iter().find(|h| h.host == quiet).unwrap();
        assert_eq!(h.gaps, 1);
        assert_eq!(
            gaps.count as u64,
            health.iter().map(|h| h.gaps).sum::<u64>()
        );
    }

    #[test]
    fn the_longest_gaps_of_a_day_with_thousands_are_those_a_full_sort_gives() {
        // 300 hosts, each beating every other slot with a few longer holes, so the day has
        // far more gaps than are kept between cuts, and many of equal length.
        let day = utc_day(2025, 10, 30);
        let s = day.start_ms();
        let mut rows = Vec::new();
        for h in 0..300 {
            let host = format!("h{:03}", (h * 7) % 300);
            for i in (0..288).filter(|i| i % 2 == 0 && (i + h) % 37 > 2 + h % 4) {
                rows.push(on(&host, s + i * CADENCE_MS, Status::Healthy));
            }
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let g = gaps_and_health(rows.iter().map(Row::view), &day).0;

        // Every gap, hosts in name order and each host's in time order, then a stable sort.
        let mut hosts: Vec<&str> = rows.iter().map(|r| r.record.host().unwrap()).collect();
        hosts.sort();
        hosts.dedup();
        let mut all = Vec::new();
        for host in hosts {
            // From the host's first beat on, and to the day's end.
            let mut prev: Option<i64> = None;
            let times = rows
                .iter()
                .filter(|r| r.record.host() == Some(host))
                .map(|r| r.record.ts_ms)
                .chain([day.end_ms()]);
            for t in times {
                if let Some(p) = prev.filter(|p| t - p > GAP_MS) {
                    all.push(Gap {
                        host: host.to_string(),
                        from: local_time(&day, p),
                        to: local_time(&day, t),
                        minutes: (t - p) as f64 / 60_000.0,
                    });
                }
                prev = Some(t);
            }
        }
        assert!(all.len() > 3 * GAPS_KEPT, "{} gaps", all.len());
        let count = all.len();
        all.sort_by(|a, b| b.minutes.total_cmp(&a.minutes));
        all.truncate(GAPS_SHOWN);
        assert_eq!(g.count, count);
        assert_eq!(g.longest, all);
    }
}
