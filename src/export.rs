//! The export run: read every configured source, merge, build batches, write the Parquet file,
//! the rejects file and the summary, and report what happened.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::batch::{self, SCHEMA_VERSION};
use crate::config::Config;
use crate::day::Day;
use crate::merge::{MergeStats, Merger, Row};
use crate::record::{Source, Status};
use crate::source::{self, redis as redis_source, Collector, Ingested, Reject, SourceError};
use crate::verify::{self, FileCheck};
use crate::{atomic, summary, writer};

/// The heartbeat cadence; a longer silence is a gap.
pub const CADENCE_MS: i64 = 5 * 60 * 1000;
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

/// The new file failed the checks `verify` applies, so it was not published (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("the new {path} failed its checks and was not published; the previous file, if any, is untouched: {}", problems.join("; "))]
pub struct NotPublished {
    pub path: String,
    pub problems: Vec<String>,
}

/// No configured source could be read: nothing is written (exit status 5).
#[derive(Debug, thiserror::Error)]
#[error("no configured source could be read: {0}")]
pub struct NoSourceError(pub String);

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

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub host: String,
    pub from: String,
    pub to: String,
    pub minutes: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
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

fn local_time(day: &Day, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&day.tz())
                .to_rfc3339_opts(SecondsFormat::Millis, false)
        })
        .unwrap_or_default()
}

/// Reads every configured source. A source that is unavailable is reported, not fatal; one that
/// is invalid fails the run.
fn read_sources(cfg: &Config) -> Result<(Vec<SourceReport>, Vec<Ingested>)> {
    let day = &cfg.day;
    let mut reports = Vec::new();
    let mut ingested = Vec::new();
    let mut outcome = |name, location: String, result: Result<Ingested, SourceError>| {
        let (state, error, counts) = match result {
            Ok(i) => {
                let counts = i.counts;
                ingested.push(i);
                ("ok", None, counts)
            }
            Err(SourceError::Unavailable(e)) => {
                tracing::warn!(source = name, "unavailable: {e:#}");
                ("unavailable", Some(format!("{e:#}")), Default::default())
            }
            Err(SourceError::Invalid(e)) => {
                return Err(e.context(format!("{name} source {location}")));
            }
        };
        reports.push(SourceReport {
            name,
            location,
            state,
            error,
            counts,
        });
        Ok(())
    };
    if let Some(s) = &cfg.sqlite {
        let t = Instant::now();
        let mut c = Collector::new(day, Source::Sqlite);
        let r = source::sqlite::read(&s.path, &s.table, day, &mut c).map(|()| c.finish());
        tracing::debug!(elapsed = ?t.elapsed(), "read SQLite");
        outcome(
            "sqlite",
            format!("{} table {}", s.path.display(), s.table),
            r,
        )?;
    }
    if let Some(r) = &cfg.redis {
        let t = Instant::now();
        let mut c = Collector::new(day, Source::Redis);
        let res = redis_source::read(&r.target, &r.stream, day, r.margin, r.page_size, &mut c)
            .map(|()| c.finish());
        tracing::debug!(elapsed = ?t.elapsed(), "read Redis");
        let location = format!(
            "{} stream {}",
            redis_source::redact(&r.target.url),
            r.stream
        );
        outcome("redis", location, res)?;
    }
    Ok((reports, ingested))
}

/// Gaps in each host's heartbeat cadence, including a silent start or end of the day.
pub fn gaps(rows: &[Row], day: &Day) -> GapReport {
    let mut by_host: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.record.report_type == "heartbeat") {
        by_host
            .entry(r.record.host.as_deref().unwrap_or("-"))
            .or_default()
            .push(r.record.ts_ms);
    }
    let mut all = Vec::new();
    let mut missed = 0;
    for (host, times) in by_host {
        // A beat at day start is on time; so is one a cadence before day end.
        let edges = std::iter::once(day.start_ms() - CADENCE_MS)
            .chain(times.iter().copied())
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

fn reject_reasons(rejects: &[Reject]) -> Vec<(String, u64)> {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rejects {
        *by.entry(r.reason_code).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = by.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn file_metadata(report: &RunReport) -> Vec<(String, String)> {
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

/// Runs the export for `cfg.day`. Returns the report; the caller maps its verdict to the exit
/// status. Every output is written to a temp file and the Parquet file is checked as `verify`
/// checks it before anything is renamed into place, so an error leaves all previous outputs
/// untouched. A partial or empty run keeps an existing day file that holds more rows unless
/// `cfg.force`.
pub fn run(cfg: &Config) -> Result<RunReport> {
    let started = Instant::now();
    let day = &cfg.day;
    let (sources, ingested) = read_sources(cfg)?;
    if ingested.is_empty() {
        let why: Vec<String> = sources
            .iter()
            .map(|s| format!("{}: {}", s.name, s.error.as_deref().unwrap_or("?")))
            .collect();
        return Err(NoSourceError(why.join("; ")).into());
    }

    // SQLite first so that Redis copies meet the archive's copy already in place.
    let mut ingested = ingested;
    ingested.sort_by_key(|i| i.source != Source::Sqlite);
    let mut merger = Merger::new();
    let mut rejects: Vec<Reject> = Vec::new();
    for i in ingested {
        merger.extend(i.records);
        rejects.extend(i.rejects);
    }
    let (
        rows,
        MergeStats {
            duplicates,
            conflicts,
        },
    ) = merger.into_sorted();

    let mut statuses: BTreeMap<String, u64> = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    let mut hosts = std::collections::BTreeSet::new();
    for r in &rows {
        *statuses.entry(r.record.status.as_str().into()).or_default() += 1;
        hosts.insert(r.record.host.clone().unwrap_or_else(|| "-".into()));
    }
    let read: u64 = sources.iter().map(|s| s.counts.read).sum();
    let rejected = rejects.len() as u64;
    let partial = sources.iter().any(|s| s.state != "ok");
    let verdict = if partial {
        Verdict::Partial
    } else if rows.is_empty() {
        Verdict::Empty
    } else {
        Verdict::Success
    };
    let mut report = RunReport {
        day: day.to_string(),
        timezone: day.tz().name().to_string(),
        day_hours: day.hours(),
        verdict,
        dry: cfg.dry,
        exporter: exporter_name(),
        sources,
        read,
        rows: rows.len() as u64,
        merged: duplicates,
        conflicts,
        rejected,
        reject_reasons: reject_reasons(&rejects),
        statuses,
        hosts: hosts.into_iter().collect(),
        first_timestamp: rows.first().map(|r| local_time(day, r.record.ts_ms)),
        last_timestamp: rows.last().map(|r| local_time(day, r.record.ts_ms)),
        gaps: gaps(&rows, day),
        parquet: None,
        bytes: None,
        rejects_file: None,
        summary: None,
        readback: None,
        kept_existing: None,
        duration_ms: 0,
    };
    // Every record read is a row, a merged duplicate or a reject; anything else is a bug.
    anyhow::ensure!(
        report.read == report.rows + report.merged + report.rejected,
        "accounting error: read {} != rows {} + merged {} + rejected {}",
        report.read,
        report.rows,
        report.merged,
        report.rejected
    );
    let metadata = file_metadata(&report);

    if cfg.dry {
        // Build the batches exactly as a real run would, and check they match schema v1.
        let mut built = 0;
        for b in batch::batches(&rows, cfg.batch_rows) {
            anyhow::ensure!(
                b.schema().fields() == batch::schema().fields(),
                "batch schema drifted from v1"
            );
            built += b.num_rows();
        }
        anyhow::ensure!(built == rows.len(), "built {built} rows of {}", rows.len());
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }

    // Prepare every output before publishing any, so that a failure on the way (an unwritable
    // directory, a file that fails its checks) leaves every previous output as it was.
    for dir in [&cfg.out_dir, &cfg.summary_dir] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    let parquet_path = cfg.parquet_path();
    let kept = match report.verdict {
        Verdict::Partial | Verdict::Empty if !cfg.force => {
            better_existing(&parquet_path, report.rows, cfg.max_bytes)
        }
        _ => None,
    };
    let mut staged = Vec::new();
    match kept {
        Some(existing) => {
            tracing::warn!(
                path = %parquet_path.display(),
                existing_rows = existing.rows.unwrap_or(0),
                rows = report.rows,
                "this run is {}; keeping the existing file, which holds more rows (--force replaces it)",
                report.verdict.as_str()
            );
            report.kept_existing = Some(KeptFile {
                rows: existing.rows.unwrap_or(0) as u64,
                verdict: existing.verdict.clone(),
            });
            report.parquet = Some(parquet_path.display().to_string());
            report.bytes = Some(existing.bytes);
            report.readback = Some(existing);
        }
        None => {
            let file = atomic::stage(&parquet_path, |w| {
                writer::write_parquet(w, &rows, metadata, cfg.batch_rows).map(|_| ())
            })?;
            // The rows are in the file now; free them before the read-back holds its own state.
            drop(rows);
            let mut check = verify::check_file(file.path(), cfg.max_bytes);
            check.path = parquet_path.clone();
            if !check.ok() {
                return Err(NotPublished {
                    path: parquet_path.display().to_string(),
                    problems: check.problems,
                }
                .into());
            }
            report.parquet = Some(parquet_path.display().to_string());
            report.bytes = Some(check.bytes);
            report.readback = Some(check);
            staged.push(file);
            // A re-run with no rejects must not leave an earlier run's rejects looking current;
            // the stale file is removed when this run publishes.
            if !rejects.is_empty() {
                let path = cfg.rejects_path();
                staged.push(atomic::stage(&path, |w| {
                    for r in &rejects {
                        serde_json::to_writer(&mut *w, r)?;
                        w.write_all(b"\n")?;
                    }
                    Ok(())
                })?);
                report.rejects_file = Some(path.display().to_string());
            }
        }
    }
    let summary_path = cfg.summary_path();
    report.summary = Some(summary_path.display().to_string());
    report.duration_ms = started.elapsed().as_millis() as u64;
    let summary = atomic::stage(&summary_path, |w| {
        Ok(w.write_all(summary::render(&report).as_bytes())?)
    })?;

    // Publish: the day file first, so that its summary never describes a file not yet there.
    let publishes_day = !staged.is_empty();
    for file in staged {
        file.publish()?;
    }
    if publishes_day && report.rejects_file.is_none() {
        let stale = cfg.rejects_path();
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing stale {}", stale.display())),
        }
    }
    summary.publish()?;
    Ok(report)
}

/// The existing day file at `path`, when it is a valid export holding more than `rows` rows:
/// a partial or empty run must not replace it.
fn better_existing(path: &std::path::Path, rows: u64, max_bytes: Option<u64>) -> Option<FileCheck> {
    if !path.exists() {
        return None;
    }
    let check = verify::check_file(path, max_bytes);
    let more = check.rows.is_some_and(|n| n > 0 && n as u64 > rows);
    (check.ok() && more).then_some(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;

    #[test]
    fn gaps_count_missed_beats_and_silent_edges() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            "UTC".parse().unwrap(),
        )
        .unwrap();
        // Every 5 minutes all day except a 30-minute hole starting at 01:00.
        let mut rows: Vec<Row> = (0..288)
            .map(|i| i * CADENCE_MS)
            .filter(|t| !(3_600_000 < *t && *t < 3_600_000 + 30 * 60_000))
            .map(|t| row(&t.to_string(), t, &[]))
            .collect();
        let g = gaps(&rows, &day);
        assert_eq!(g.count, 1, "{g:?}");
        assert_eq!(g.missed_beats, 5);
        assert_eq!(g.longest[0].minutes, 30.0);
        // Stopping at 23:00 is a gap at the end of the day.
        rows.retain(|r| r.record.ts_ms < 23 * 3_600_000);
        let g = gaps(&rows, &day);
        assert_eq!(g.count, 2);
        assert_eq!(g.longest[0].to, "1970-01-02T00:00:00.000+00:00");
        assert_eq!(g.longest[0].minutes, 65.0);
    }

    #[test]
    fn a_full_day_has_no_gaps() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            "UTC".parse().unwrap(),
        )
        .unwrap();
        let rows: Vec<Row> = (0..288)
            .map(|i| row(&i.to_string(), i * CADENCE_MS + 1_000, &[]))
            .collect();
        assert_eq!(gaps(&rows, &day).count, 0);
    }
}
