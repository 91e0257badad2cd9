//! The export run: read every configured source, merge, build batches, write the Parquet file,
//! the rejects file and the summary, and report what happened.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::batch;
use crate::config::{Config, OutDir};
use crate::day::Day;
use crate::merge::{MergeStats, Merged, Merger};
use crate::record::{Source, Status};
use crate::report::{
    exporter_name, file_metadata, gaps_and_health, local_time, reject_reasons, timeline, GapReport,
    HostHealth, KeptFile, RunReport, SourceReport, Timeline, Verdict,
};
use crate::source::{self, redis as redis_source, Collector, Ingested, Reject, SourceError};
use crate::store::Bucket;
use crate::verify::{self, FileCheck};
use crate::{atomic, parallel, summary, writer};

/// No configured source could be read: nothing is written (exit status 5).
#[derive(Debug, thiserror::Error)]
#[error("no configured source could be read: {0}")]
pub struct NoSourceError(pub String);

/// Reads every configured source, concurrently. A source that is unavailable is reported, not
/// fatal; one that is invalid fails the run.
fn read_sources(cfg: &Config) -> Result<(Vec<SourceReport>, Vec<Ingested>)> {
    let day = &cfg.day;
    let mut reports = Vec::new();
    let mut ingested = Vec::new();
    let mut outcome = |name, location: String, result: Result<Ingested, SourceError>| {
        let (state, error, counts) = match result {
            Ok(i) => {
                let counts = i.counts;
                let short = i.shortfall.clone();
                ingested.push(i);
                match short {
                    Some(why) => {
                        tracing::warn!(source = name, "trimmed: {why}");
                        ("trimmed", Some(why), counts)
                    }
                    None => ("ok", None, counts),
                }
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
    // Both sources at once, each into its own collector on its own thread: the read takes as
    // long as the slower source, not the sum of both.
    let (sqlite, redis) = parallel::both(
        || {
            cfg.sqlite.as_ref().map(|s| {
                let t = Instant::now();
                let mut c = Collector::new(day, Source::Sqlite);
                let r = source::sqlite::read(&s.path, &s.table, day, &mut c).map(|()| c.finish());
                tracing::debug!(elapsed = ?t.elapsed(), "read SQLite");
                r
            })
        },
        || {
            cfg.redis.as_ref().map(|r| {
                let t = Instant::now();
                let mut c = Collector::new(day, Source::Redis);
                let res = redis_source::read(
                    &r.target,
                    &r.stream,
                    day,
                    r.margin,
                    r.page_size,
                    r.timeout,
                    &mut c,
                )
                .map(|()| c.finish());
                tracing::debug!(elapsed = ?t.elapsed(), "read Redis");
                res
            })
        },
    );
    if let (Some(s), Some(r)) = (&cfg.sqlite, sqlite) {
        outcome(
            "sqlite",
            format!("{} table {}", s.path.display(), s.table),
            r,
        )?;
    }
    if let (Some(r), Some(res)) = (&cfg.redis, redis) {
        let location = format!(
            "{} stream {}",
            redis_source::redact(&r.target.url),
            r.stream
        );
        outcome("redis", location, res)?;
    }
    Ok((reports, ingested))
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
    tracing::debug!(elapsed = ?started.elapsed(), rows = rows.len(), "merged");

    // Counted by position and hashed by the interned pointer: per row, no string is built or
    // compared (a million-row day made a String and a dozen comparisons per row here).
    let mut counts = [0u64; Status::ALL.len()];
    let mut seen: std::collections::HashSet<*const u8, foldhash::fast::FixedState> =
        Default::default();
    let mut hosts = std::collections::BTreeSet::new();
    for b in rows.beats() {
        counts[b.status as usize] += 1;
        let host: &str = b.host.unwrap_or("-");
        if seen.insert(host.as_ptr()) {
            hosts.insert(host.to_string());
        }
    }
    let statuses: BTreeMap<String, u64> = Status::ALL
        .iter()
        .zip(counts)
        .map(|(s, n)| (s.as_str().to_string(), n))
        .collect();
    let read: u64 = sources.iter().map(|s| s.counts.read).sum();
    let rejected = rejects.len() as u64;
    let partial = is_partial(&sources);
    let verdict = if partial {
        Verdict::Partial
    } else if rows.is_empty() {
        Verdict::Empty
    } else {
        Verdict::Success
    };
    let mut report = RunReport {
        day: day.to_string(),
        instance: cfg.layout.instance.clone(),
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
        hosts: hosts.into_iter().map(|h| h.to_string()).collect(),
        first_timestamp: rows.first().map(|r| local_time(day, r.ts_ms)),
        last_timestamp: rows.last().map(|r| local_time(day, r.ts_ms)),
        // Filled in by the analysis below, which runs beside the writer.
        gaps: Default::default(),
        hosts_health: Vec::new(),
        timeline: Default::default(),
        timeline_svg: None,
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
    tracing::debug!(elapsed = ?started.elapsed(), "summarized");

    // Prepare every output before publishing any, so that a failure on the way (an unwritable
    // directory, a file that fails its checks, a bucket that cannot be read) leaves every
    // previous output as it was.
    let parquet_path = cfg.parquet_path();
    let bucket = match (&cfg.out, cfg.dry) {
        (OutDir::Bucket(url), false) => Some(Bucket::open(url)?),
        _ => None,
    };
    let day_rel = cfg.layout.day_file(day.date());
    let rejects_rel = cfg.layout.rejects_file(day.date());
    let kept = if cfg.dry {
        None
    } else {
        let day_dir = parquet_path.parent().unwrap_or(&cfg.out_dir).to_path_buf();
        for dir in [&cfg.out_dir, &cfg.summary_dir, &day_dir] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        // The partition directories are the exporter's own: one replaced by a link would have
        // the day file written wherever it points.
        crate::fsio::ensure_real_dirs(&cfg.out_dir, &day_dir)?;
        match report.verdict {
            Verdict::Partial | Verdict::Empty if !cfg.force => match &bucket {
                None => better_existing(&parquet_path, report.rows, cfg.max_bytes),
                Some(b) => {
                    better_existing_object(b, &day_rel, &parquet_path, report.rows, cfg.max_bytes)?
                }
            },
            _ => None,
        }
    };

    // The per-host analysis (gaps, host health, timeline) only feeds the summary: it runs on a
    // second thread while this one writes the day file.
    let (analysis, written) = parallel::both(
        || analyse(&rows, day),
        || -> Result<_> {
            Ok(if cfg.dry {
                // Build the batches exactly as a real run would, and check they match schema v1.
                let mut built = 0;
                for b in batch::batches(rows.iter(), cfg.batch_rows) {
                    anyhow::ensure!(
                        b.schema().fields() == batch::schema().fields(),
                        "batch schema drifted from v1"
                    );
                    built += b.num_rows();
                }
                anyhow::ensure!(built == rows.len(), "built {built} rows of {}", rows.len());
                None
            } else if kept.is_none() {
                Some(atomic::stage(&parquet_path, |w| {
                    writer::write_parquet(w, rows.iter(), metadata, cfg.batch_rows).map(|_| ())
                })?)
            } else {
                None
            })
        },
    );
    let written = written?;
    tracing::debug!(elapsed = ?started.elapsed(), "written");
    // Freed before the read-back holds its own state.
    drop(rows);
    (report.gaps, report.hosts_health, report.timeline) = analysis;
    if cfg.dry {
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }

    let mut staged = Vec::new();
    match kept {
        Some(existing) => {
            tracing::warn!(
                path = %cfg.show_day_file(),
                existing_rows = existing.rows.unwrap_or(0),
                rows = report.rows,
                "this run is {}; keeping the existing file, which holds more rows (--force replaces it)",
                report.verdict.as_str()
            );
            report.kept_existing = Some(KeptFile {
                rows: existing.rows.unwrap_or(0) as u64,
                verdict: existing.verdict.clone(),
            });
            report.parquet = Some(cfg.show_day_file());
            report.bytes = Some(existing.bytes);
            report.readback = Some(existing);
        }
        None => {
            let file = written.expect("the day file is written unless an existing one is kept");
            let (file, mut check) = verify::check_staged(file, &parquet_path, cfg.max_bytes)?;
            tracing::debug!(elapsed = ?started.elapsed(), "read back");
            if bucket.is_some() {
                check.path = cfg.show_day_file().into();
            }
            report.parquet = Some(cfg.show_day_file());
            report.bytes = Some(check.bytes);
            report.readback = Some(check);
            staged.push((file, day_rel.clone()));
            // A re-run with no rejects must not leave an earlier run's rejects looking current;
            // the stale file is removed when this run publishes.
            if !rejects.is_empty() {
                let path = cfg.rejects_path();
                staged.push((
                    atomic::stage(&path, |w| Reject::write_ndjson(&rejects, w))?,
                    rejects_rel.clone(),
                ));
                report.rejects_file = Some(cfg.show_rejects_file());
            }
        }
    }
    let summary_path = cfg.summary_path();
    let mut local = Vec::new();
    if !report.timeline.hosts.is_empty() {
        let svg_path = cfg.timeline_path();
        let title = format!("Heartbeats {} ({})", report.day, report.timezone);
        local.push(atomic::stage(&svg_path, |w| {
            Ok(w.write_all(crate::timeline::render(&report.timeline, &title).as_bytes())?)
        })?);
        report.timeline_svg = Some(svg_path.display().to_string());
    }
    report.summary = Some(summary_path.display().to_string());
    report.duration_ms = started.elapsed().as_millis() as u64;
    let summary = atomic::stage(&summary_path, |w| {
        Ok(w.write_all(summary::render(&report).as_bytes())?)
    })?;

    // Publish: the day file first, so that its summary never describes a file not yet there.
    // Every local target is checked before anything is renamed or uploaded, and a failed
    // rename rolls back those before it: all of the run's outputs, or none.
    let publishes_day = !staged.is_empty();
    let mut publication = atomic::Publication::new();
    if bucket.is_none() {
        for (file, _) in staged.drain(..) {
            publication.add(file);
        }
        // A re-run with no rejects must not leave an earlier run's rejects looking current.
        if publishes_day && report.rejects_file.is_none() {
            publication.remove(cfg.rejects_path());
        }
    }
    for file in local {
        publication.add(file);
    }
    publication.add(summary);
    publication.check()?;
    if let Some(b) = &bucket {
        for (i, (file, rel)) in staged.iter().enumerate() {
            b.upload(rel, file.path())?;
            if i == 0 {
                read_back_object(b, rel, file.path())?;
            }
        }
        if publishes_day && report.rejects_file.is_none() {
            b.delete(&rejects_rel)?;
        }
        // The staged copies were uploaded; dropping them removes the local temp files.
        drop(staged);
    }
    publication.publish()?;
    Ok(report)
}

/// Whether the sources read make a partial day: one could not be read, or one holds only part
/// of the day (a trimmed stream) and no other source was read in full to make up for it. A
/// trimmed hot buffer beside a complete archive is normal operation, not a partial day.
fn is_partial(sources: &[SourceReport]) -> bool {
    let unavailable = sources.iter().any(|s| s.state == "unavailable");
    let short = sources.iter().any(|s| s.state == "trimmed");
    let full = sources.iter().any(|s| s.state == "ok");
    unavailable || (short && !full)
}

/// Gaps, each host's health and the timeline of the hosts the summary shows.
fn analyse(rows: &Merged, day: &Day) -> (GapReport, Vec<HostHealth>, Timeline) {
    let (gaps, health) = gaps_and_health(rows.beats(), day);
    let shown: Vec<&str> = health
        .iter()
        .take(summary::MAX_HOSTS)
        .map(|h| h.host.as_str())
        .collect();
    let timeline = timeline(rows.beats(), day, &shown);
    (gaps, health, timeline)
}

/// Like `better_existing`, for the day's object in a bucket: downloaded beside the staged file
/// and checked the same way.
fn better_existing_object(
    bucket: &Bucket,
    rel: &str,
    staging: &std::path::Path,
    rows: u64,
    max_bytes: Option<u64>,
) -> Result<Option<FileCheck>> {
    let mut found = false;
    let copy = atomic::stage(staging, |w| {
        found = bucket.download(rel, w)?;
        Ok(())
    })?;
    if !found {
        return Ok(None);
    }
    let mut check = verify::check_file(copy.path(), max_bytes);
    check.path = bucket.url().show(rel).into();
    let more = check.rows.is_some_and(|n| n > 0 && n as u64 > rows);
    Ok((check.ok() && more).then_some(check))
}

/// Downloads the object just uploaded and compares it with the local file, which passed the
/// `verify` checks before the upload: the run only reports success once the bucket serves the
/// same bytes.
fn read_back_object(bucket: &Bucket, rel: &str, uploaded: &std::path::Path) -> Result<()> {
    let mut served = Vec::new();
    anyhow::ensure!(
        bucket.download(rel, &mut served)?,
        "{} is not there after its upload",
        bucket.url().show(rel)
    );
    let local =
        std::fs::read(uploaded).with_context(|| format!("reading {}", uploaded.display()))?;
    anyhow::ensure!(
        served == local,
        "{} differs from the file uploaded",
        bucket.url().show(rel)
    );
    Ok(())
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
