//! `import-legacy`: the old exporter's Parquet files and the monitor's heartbeat reports as
//! schema-v1 day files (`source = legacy`). Each day's records are merged into the day file
//! already there (its rows win), and the file is published as an export's is: staged, checked
//! with `verify`'s checks, renamed. A day with nothing new is not touched, so importing the
//! same files twice changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use crate::batch::{self, SCHEMA_VERSION};
use crate::contract::{footer, Verdict};
use crate::day::Day;
use crate::legacy::{self, Input};
use crate::merge::Merger;
use crate::record::{normalize_in, timestamp, Interner, RawRecord, RawValue, Row, Source};
use crate::report::{exporter_name, footer_of_day, ImportDay, ImportOutcome, ImportReport};
use crate::source::Reject;
use crate::{atomic, names, summary, verify, writer};

use crate::config::{ImportConfig, UsageError};

/// One day's share of the inputs.
#[derive(Default)]
struct DayWork {
    copies: Vec<Row>,
    rejects: Vec<Reject>,
}

fn local_date(ms: i64, tz: Tz) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).date_naive())
}

/// The first date written in a name, as `YYYY-MM-DD` or `YYYYMMDD`
/// (`heartbeat_2025-10-27_19-08-37.md`, `ops_atomic_20251030.parquet`).
fn date_in_name(name: &str) -> Option<NaiveDate> {
    let b = name.as_bytes();
    (0..b.len()).find_map(|i| {
        let digits =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
        let dashed = digits(i..i + 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5..i + 7)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8..i + 10);
        if dashed {
            return NaiveDate::parse_from_str(&name[i..i + 10], "%Y-%m-%d").ok();
        }
        (digits(i..i + 8) && (i == 0 || !b[i - 1].is_ascii_digit()))
            .then(|| NaiveDate::parse_from_str(&name[i..i + 8], "%Y%m%d").ok())
            .flatten()
    })
}

pub fn run(cfg: &ImportConfig) -> Result<ImportReport> {
    let (inputs, skipped) = legacy::find_inputs(&cfg.paths)?;
    if inputs.is_empty() {
        // Each file looked at, with why it is not one: a FIFO or an unreadable file says so.
        let why: Vec<String> = skipped
            .iter()
            .take(5)
            .map(|s| format!("{}: {}", s.path.display(), s.why))
            .collect();
        return Err(UsageError(format!(
            "no legacy export (.parquet) or heartbeat report (.md) among {}{}",
            cfg.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        ))
        .into());
    }
    // Day files in the flat layout without an instance: refused where the out dir holds
    // another scheme, before anything is read or written.
    let found = verify::day_file_zones(&cfg.out_dir)?;
    crate::scheme::check_export(
        &cfg.out_dir,
        &found,
        &crate::names::Layout::default(),
        cfg.tz,
    )?;
    let (days, undated, mut strings) = collect_records(cfg, &inputs)?;
    if !cfg.dry {
        std::fs::create_dir_all(&cfg.out_dir)
            .with_context(|| format!("creating directory {}", cfg.out_dir.display()))?;
    }
    // A legacy file in the out dir may be replaced only if it is being imported.
    let imported: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|i| i.path().canonicalize().ok())
        .collect();

    let mut report = ImportReport {
        timezone: cfg.tz.name().to_string(),
        dry: cfg.dry,
        exporter: exporter_name(),
        inputs: inputs
            .iter()
            .map(|i| i.path().display().to_string())
            .collect(),
        skipped,
        days: Vec::new(),
        read: 0,
        written: 0,
        merged: 0,
        rejected: 0,
        summary: None,
    };
    for (date, work) in days {
        let read = (work.copies.len() + work.rejects.len()) as u64;
        let d = Day::new(date, cfg.tz)
            .and_then(|day| import_day(cfg, &day, work, &imported, &mut strings))
            .unwrap_or_else(|e| ImportDay {
                day: date.to_string(),
                read,
                outcome: ImportOutcome::Failed,
                error: Some(format!("{e:#}")),
                ..Default::default()
            });
        anyhow::ensure!(
            d.outcome == ImportOutcome::Failed || d.read == d.written + d.merged + d.rejected,
            "accounting error on {}: read {} != written {} + merged {} + rejected {}",
            d.day,
            d.read,
            d.written,
            d.merged,
            d.rejected
        );
        report.read += d.read;
        report.written += d.written;
        report.merged += d.merged;
        report.rejected += d.rejected;
        report.days.push(d);
    }
    if !undated.is_empty() {
        report.read += undated.len() as u64;
        report.rejected += undated.len() as u64;
        let path = cfg.summary_dir.join(names::legacy_undated_rejects());
        if !cfg.dry {
            write_rejects(&path, &undated)?;
        }
        report.days.push(ImportDay {
            day: "undated".into(),
            read: undated.len() as u64,
            rejected: undated.len() as u64,
            outcome: ImportOutcome::Unchanged,
            rejects_file: Some(path.display().to_string()),
            ..Default::default()
        });
    }
    if !cfg.dry {
        write_summary(cfg, &mut report)?;
    }
    Ok(report)
}

/// Every record of the inputs, normalized and filed under its day in `cfg.tz`; the rejects
/// under the day their timestamp, name or file name gives, else as undated.
fn collect_records(
    cfg: &ImportConfig,
    inputs: &[Input],
) -> Result<(BTreeMap<NaiveDate, DayWork>, Vec<Reject>, Interner)> {
    let mut strings = Interner::default();
    let mut days: BTreeMap<NaiveDate, DayWork> = BTreeMap::new();
    let mut undated: Vec<Reject> = Vec::new();
    {
        let mut take =
            |raw: RawRecord, input_day: Option<NaiveDate>| match normalize_in(&raw, &mut strings) {
                Ok(record) => {
                    // A valid timestamp always has a local date.
                    let day =
                        local_date(record.ts_ms, cfg.tz).expect("a valid timestamp has a date");
                    days.entry(day).or_default().copies.push(Row {
                        record,
                        source: Source::Legacy,
                    });
                }
                Err(reason) => {
                    // Rejected where its timestamp says, else where its name or its file's name does.
                    let named = match raw.fields.get("record_id") {
                        Some(RawValue::Text(id)) => date_in_name(id),
                        _ => None,
                    };
                    let day = timestamp(&raw)
                        .ok()
                        .and_then(|ms| local_date(ms, cfg.tz))
                        .or(named)
                        .or(input_day);
                    let reject = Reject::new(&raw, &reason);
                    match day {
                        Some(d) => days.entry(d).or_default().rejects.push(reject),
                        None => undated.push(reject),
                    }
                }
            };
        for input in inputs {
            let input_day = input
                .path()
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(date_in_name);
            match input {
                Input::Parquet(p) => legacy::read_parquet(p, |raw| take(raw, input_day))?,
                Input::Report(p) => take(legacy::read_report(p)?, input_day),
            }
        }
    }
    Ok((days, undated, strings))
}

/// The import's summary, `legacy_import_summary_FIRST_LAST.md`, named in `report`.
fn write_summary(cfg: &ImportConfig, report: &mut ImportReport) -> Result<()> {
    if let (Some(first), Some(last)) = (
        report.days.first(),
        report.days.iter().rev().find(|d| d.day != "undated"),
    ) {
        let path = cfg
            .summary_dir
            .join(names::import_summary(&first.day, &last.day));
        std::fs::create_dir_all(&cfg.summary_dir)
            .with_context(|| format!("creating directory {}", cfg.summary_dir.display()))?;
        report.summary = Some(path.display().to_string());
        atomic::replace(&path, |w| {
            Ok(w.write_all(summary::render_import(report).as_bytes())?)
        })?;
    }
    Ok(())
}

/// Rejects go beside the summaries: the data tree holds day files only.
fn write_rejects(path: &Path, rejects: &[Reject]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    atomic::replace(path, |w| Reject::write_ndjson(rejects, w))
}

/// A day file's rows and its footer's key-value metadata.
type DayFileContent = (Vec<Row>, BTreeMap<String, String>);

/// The day file's rows and footer metadata when it is a schema-v1 export; `None` when there is
/// no file, or a legacy file that is itself being imported (it is replaced).
fn existing(
    path: &Path,
    imported: &[PathBuf],
    strings: &mut Interner,
) -> Result<Option<DayFileContent>> {
    if !path.exists() {
        return Ok(None);
    }
    let check = verify::check_file(path, None);
    let v1 = check.schema_version.as_deref() == Some(SCHEMA_VERSION)
        && check.schema_fingerprint.as_deref()
            == Some(verify::fingerprint(&batch::schema()).as_str());
    if !v1 {
        if path.canonicalize().is_ok_and(|p| imported.contains(&p)) {
            return Ok(None);
        }
        bail!(
            "{} is not a schema-v1 file and not among the inputs; import it too, or move it away",
            path.display()
        );
    }
    if !check.ok() {
        bail!(
            "{} fails its checks ({}); it is left as it is",
            path.display(),
            check.problems.join("; ")
        );
    }
    let footer = verify::read_footer(path).map_err(anyhow::Error::msg)?;
    let rows = crate::carry::read_rows(path, strings)?;
    Ok(Some((rows, footer.kv)))
}

fn import_day(
    cfg: &ImportConfig,
    day: &Day,
    work: DayWork,
    imported: &[PathBuf],
    strings: &mut Interner,
) -> Result<ImportDay> {
    let path = cfg.out_dir.join(names::parquet(day.date()));
    let mut out = ImportDay {
        day: day.to_string(),
        read: (work.copies.len() + work.rejects.len()) as u64,
        rejected: work.rejects.len() as u64,
        ..Default::default()
    };
    // Legacy copies of a record (each legacy export repeats all earlier ones): the copy read
    // last wins.
    let mut merger = Merger::new();
    merger.extend(work.copies.iter().collect(), 0);
    drop(work.copies);
    let (legacy_rows, stats) = merger.into_sorted();
    out.merged = stats.duplicates;
    out.conflicts = stats.conflicts;

    let before = existing(&path, imported, strings)?;
    let (mut rows, kv_before) = match before {
        Some((rows, kv)) => (rows, Some(kv)),
        None => (Vec::new(), None),
    };
    out.rows_before = rows.len() as u64;
    let by_id: HashMap<&str, &Row> = rows
        .iter()
        .map(|r| (r.record.record_id.as_str(), r))
        .collect();
    let mut added = Vec::new();
    let mut buf = String::new();
    for r in legacy_rows.iter() {
        match by_id.get(r.record_id(&mut buf)) {
            // The day file's row wins: nothing already exported is replaced.
            Some(kept) => {
                out.merged += 1;
                out.conflicts += u64::from(!kept.view().same_record(&r));
            }
            None => added.push(r.to_row()),
        }
    }
    drop(by_id);
    out.written = added.len() as u64;
    out.rows_after = out.rows_before + out.written;
    out.outcome = match (&kv_before, added.is_empty()) {
        (Some(_), true) => ImportOutcome::Unchanged,
        (Some(_), false) => ImportOutcome::Merged,
        (None, _) => ImportOutcome::Created,
    };
    let rejects_path = cfg.summary_dir.join(names::legacy_rejects(day.date()));
    if !work.rejects.is_empty() {
        out.rejects_file = Some(rejects_path.display().to_string());
    }
    if out.outcome != ImportOutcome::Unchanged {
        out.parquet = Some(path.display().to_string());
    }
    if cfg.dry {
        return Ok(out);
    }
    if out.outcome != ImportOutcome::Unchanged {
        rows.extend(added);
        rows.sort_unstable_by(|a, b| {
            (a.record.ts_ms, &a.record.record_id).cmp(&(b.record.ts_ms, &b.record.record_id))
        });
        let mut kv = kv_before.unwrap_or_else(|| {
            let mut kv: BTreeMap<String, String> = footer_of_day(day).into_iter().collect();
            kv.extend([
                (footer::MERGED.into(), "0".into()),
                (footer::CONFLICTS.into(), "0".into()),
                (footer::REJECTED.into(), "0".into()),
                // Not exported from the sources: what the old exporter had of the day.
                (footer::VERDICT.into(), Verdict::Imported.as_str().into()),
            ]);
            kv
        });
        kv.remove("ARROW:schema");
        let legacy_in_file = rows.iter().filter(|r| r.source == Source::Legacy).count();
        kv.insert(footer::ROWS.into(), rows.len().to_string());
        kv.insert(footer::LEGACY_ROWS.into(), legacy_in_file.to_string());
        let (staged, _) = verify::stage_checked(&path, cfg.max_bytes, |w| {
            writer::write_parquet(
                w,
                rows.iter().map(Row::view),
                kv.into_iter().collect(),
                8192,
            )
            .map(|_| ())
        })?;
        staged.publish()?;
    }
    if !work.rejects.is_empty() {
        write_rejects(&rejects_path, &work.rejects)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_names() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(
            date_in_name("heartbeat_2025-10-27_19-08-37.md"),
            d("2025-10-27")
        );
        assert_eq!(date_in_name("ops_atomic_20251030.parquet"), d("2025-10-30"));
        assert_eq!(date_in_name("x_2025-13-01"), None);
        assert_eq!(date_in_name("notes.md"), None);
    }
}
