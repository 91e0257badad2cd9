//! The report of one run, and the pure functions that build it: what the summary, `--json`,
//! the footer metadata and the exit status all say. Renderers (summary, app) read it; the
//! export fills it in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::contract::{CADENCE_MS, SCHEMA_VERSION};
use crate::day::Day;
use crate::record::Status;
use crate::rows::RowRef;
use crate::source::{self, Reject};
use crate::verify::FileCheck;

/// A silence counts as a gap past one and a half beats, so jitter is not reported.
const GAP_MS: i64 = CADENCE_MS * 3 / 2;

/// The run's outcome, which the summary, `--json` and the exit status all report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Success,
    Partial,
    Empty,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Partial => "partial",
            Verdict::Empty => "empty",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub name: &'static str,
    /// The database path or the Redis URL with its password hidden, and the table or key.
    pub location: String,
    pub state: &'static str,
    pub error: Option<String>,
    #[serde(flatten)]
    pub counts: source::SourceCounts,
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

/// The day file a partial or empty run left in place because it holds more rows.
#[derive(Debug, Clone, Serialize)]
pub struct KeptFile {
    pub rows: u64,
    /// Its verdict, as its footer records it.
    pub verdict: Option<String>,
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
    pub dry: bool,
    pub exporter: String,
    pub sources: Vec<SourceReport>,
    pub read: u64,
    pub rows: u64,
    pub merged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    /// Reject reason code → count, most frequent first.
    pub reject_reasons: Vec<(String, u64)>,
    pub statuses: BTreeMap<String, u64>,
    pub hosts: Vec<String>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub gaps: GapReport,
    /// Each host's heartbeat health, worst coverage first.
    pub hosts_health: Vec<HostHealth>,
    /// The picture's data: the worst status of each 5-minute slot for the hosts shown.
    #[serde(skip)]
    pub timeline: Timeline,
    /// The timeline picture written beside the summary.
    pub timeline_svg: Option<String>,
    pub parquet: Option<String>,
    pub bytes: Option<u64>,
    pub rejects_file: Option<String>,
    pub summary: Option<String>,
    pub readback: Option<FileCheck>,
    /// Set when this run did not replace the day file (see `KeptFile`).
    pub kept_existing: Option<KeptFile>,
    pub duration_ms: u64,
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
    /// Beats a 5-minute cadence gives from the host's first beat to the end of the day: a host
    /// that starts mid-day is not owed the morning, one that goes quiet is owed the rest.
    pub expected: u64,
    pub coverage_pct: f64,
    pub gaps: u64,
    pub longest_gap_minutes: f64,
    pub warnings: u64,
    pub critical: u64,
    pub first: String,
    pub last: String,
}

/// Gaps in each host's heartbeat cadence (including a silent start or end of the day), and each
/// host's heartbeat health, worst coverage first: heartbeat records only, grouped by host once.
pub fn gaps_and_health<'a>(
    rows: impl IntoIterator<Item = RowRef<'a>, IntoIter: Clone>,
    day: &Day,
) -> (GapReport, Vec<HostHealth>) {
    let groups = by_host(
        rows.into_iter()
            .filter(|r| r.report_type == "heartbeat")
            .map(|r| (r.host.unwrap_or("-"), (r.ts_ms, r.status))),
    );
    let gaps = gaps_in(
        groups
            .iter()
            .map(|(h, beats)| (*h, beats.iter().map(|b| b.0))),
        day,
    );
    (gaps, health_of(&groups, day))
}

fn health_of(by_host: &[(&str, Vec<(i64, Status)>)], day: &Day) -> Vec<HostHealth> {
    let mut out: Vec<HostHealth> = by_host
        .iter()
        .map(|(host, beats)| {
            let (first, last) = (beats[0].0, beats[beats.len() - 1].0);
            let expected = ((day.end_ms() - first) as u64)
                .div_ceil(CADENCE_MS as u64)
                .max(1);
            let mut gaps = 0;
            let mut longest = 0;
            let ends = beats
                .iter()
                .map(|b| b.0)
                .chain(std::iter::once(day.end_ms()));
            for (a, b) in beats.iter().map(|b| b.0).zip(ends.skip(1)) {
                if b - a > GAP_MS {
                    gaps += 1;
                    longest = longest.max(b - a);
                }
            }
            let count = |s: Status| beats.iter().filter(|b| b.1 == s).count() as u64;
            HostHealth {
                host: host.to_string(),
                beats: beats.len() as u64,
                expected,
                coverage_pct: (beats.len() as f64 * 100.0 / expected as f64).min(100.0),
                gaps,
                longest_gap_minutes: longest as f64 / 60_000.0,
                warnings: count(Status::Warnings),
                critical: count(Status::Critical),
                first: local_time(day, first),
                last: local_time(day, last),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.coverage_pct
            .total_cmp(&b.coverage_pct)
            .then_with(|| b.gaps.cmp(&a.gaps))
            .then_with(|| a.host.cmp(&b.host))
    });
    out
}

/// The worst status of every 5-minute slot of the day, per host shown: 0 silent, 1 healthy,
/// 2 warnings, 3 critical.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub slots: usize,
    /// The local hour (`HH`) at each hour from the day's start: 23 or 25 of them on DST days.
    pub hours: Vec<String>,
    pub hosts: Vec<(String, Vec<u8>)>,
}

/// The timeline of `hosts` (in that order) over `day`.
pub fn timeline<'a>(
    rows: impl IntoIterator<Item = RowRef<'a>>,
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
    for r in rows.into_iter().filter(|r| r.report_type == "heartbeat") {
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
    }
}

/// Each host's items in the order given, hosts in name order. Hashed, not a tree: a fleet's
/// day has thousands of hosts, and a tree compared a dozen host names per row. Hosts are
/// counted first, so each host's vector is allocated once at its size: grown by doubling, a
/// day of 288 beats a host left 40% of the room empty.
fn by_host<'a, T, I>(items: I) -> Vec<(&'a str, Vec<T>)>
where
    I: IntoIterator<Item = (&'a str, T)>,
    I::IntoIter: Clone,
{
    let items = items.into_iter();
    let mut index: HashMap<&str, usize, foldhash::fast::FixedState> = HashMap::default();
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (host, _) in items.clone() {
        let i = *index.entry(host).or_insert_with(|| {
            counts.push((host, 0));
            counts.len() - 1
        });
        counts[i].1 += 1;
    }
    let mut groups: Vec<(&str, Vec<T>)> = counts
        .into_iter()
        .map(|(host, n)| (host, Vec::with_capacity(n)))
        .collect();
    for (host, item) in items {
        groups[index[host]].1.push(item);
    }
    groups.sort_unstable_by(|a, b| a.0.cmp(b.0));
    groups
}

/// The gaps of `gaps_and_health` from (host, timestamp) pairs of heartbeats in time order, as `history` reads them
/// from a file's columns.
pub fn gaps_of<'a, I>(beats: I, day: &Day) -> GapReport
where
    I: IntoIterator<Item = (&'a str, i64)>,
    I::IntoIter: Clone,
{
    gaps_in(
        by_host(beats)
            .iter()
            .map(|(h, times)| (*h, times.iter().copied())),
        day,
    )
}

/// Gaps from each host's heartbeat times, in order.
fn gaps_in<'a, T: Iterator<Item = i64>>(
    hosts: impl Iterator<Item = (&'a str, T)>,
    day: &Day,
) -> GapReport {
    let mut all = Vec::new();
    let mut missed = 0;
    for (host, times) in hosts {
        // A beat at day start is on time; so is one a cadence before day end.
        let edges = std::iter::once(day.start_ms() - CADENCE_MS)
            .chain(times)
            .chain(std::iter::once(day.end_ms()));
        let mut prev: Option<i64> = None;
        for t in edges {
            if let Some(p) = prev {
                if t - p > GAP_MS {
                    missed += (t - p) / CADENCE_MS - 1;
                    all.push(Gap {
                        host: host.to_string(),
                        from: local_time(day, p.max(day.start_ms())),
                        to: local_time(day, t),
                        minutes: (t - p.max(day.start_ms())) as f64 / 60_000.0,
                    });
                }
            }
            prev = Some(t);
        }
    }
    let count = all.len();
    all.sort_by(|a, b| b.minutes.total_cmp(&a.minutes));
    all.truncate(10);
    GapReport {
        count,
        missed_beats: missed,
        longest: all,
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

/// The footer key-value metadata of the day file this run writes.
pub fn file_metadata(report: &RunReport) -> Vec<(String, String)> {
    let mut kv = vec![
        (
            "ops_atomic.schema_version".to_string(),
            SCHEMA_VERSION.to_string(),
        ),
        ("ops_atomic.day".into(), report.day.clone()),
        ("ops_atomic.timezone".into(), report.timezone.clone()),
        ("ops_atomic.exporter".into(), report.exporter.clone()),
        ("ops_atomic.rows".into(), report.rows.to_string()),
        ("ops_atomic.merged".into(), report.merged.to_string()),
        ("ops_atomic.conflicts".into(), report.conflicts.to_string()),
        ("ops_atomic.rejected".into(), report.rejected.to_string()),
        (
            "ops_atomic.verdict".into(),
            report.verdict.as_str().to_string(),
        ),
    ];
    if let Some(i) = &report.instance {
        kv.push(("ops_atomic.instance".into(), i.clone()));
    }
    for s in &report.sources {
        kv.push((
            format!("ops_atomic.source.{}.state", s.name),
            s.state.into(),
        ));
        kv.push((
            format!("ops_atomic.source.{}.read", s.name),
            s.counts.read.to_string(),
        ));
        kv.push((
            format!("ops_atomic.source.{}.rejected", s.name),
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
    /// `created`, `merged` (into an existing file), `unchanged`, or `failed`.
    pub outcome: &'static str,
    pub parquet: Option<String>,
    pub rejects_file: Option<String>,
    pub error: Option<String>,
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
        r.record.host = Some(host.into());
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
        assert_eq!((b.beats, b.expected, b.gaps, b.critical), (144, 144, 0, 1));
        assert_eq!(b.coverage_pct, 100.0);
        let c = by("c");
        assert_eq!((c.beats, c.expected, c.gaps), (216, 288, 1));
        assert_eq!(
            c.longest_gap_minutes, 365.0,
            "from the last beat, 17:55, to midnight"
        );
        assert_eq!(
            h.iter().map(|x| x.host.as_str()).collect::<Vec<_>>(),
            ["c", "a", "b"],
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
            .map(|r| (r.record.host.as_deref().unwrap(), r.record.ts_ms));
        assert_eq!(g, gaps_of(beats, &day));
        assert_eq!((g.count, h.len()), (2, 2), "{g:?}");
    }
}
