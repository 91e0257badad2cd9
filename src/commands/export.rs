//! `export` (and the bare command line): one day, a `--from/--to` range or a catch-up, with
//! the text rendering of each day's run and of a multi-day run's end.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use chrono::NaiveDate;

use super::console::{progress_bar, ShownBar};
use super::dirs::lock_and_clean;
use super::schema::print_schema;
use super::Exit;
use crate::cli::ExportArgs;
use crate::config::{Config, OutDir, RunPlan};
use crate::escape::plain;
use crate::report::{RunReport, SourceState, Verdict};
use crate::{export, schedule};

/// Runs the export command. With `--json`, a run that fails still prints one JSON object, with
/// the error and the exit status, so that scripts reading stdout always get a document.
pub(super) fn run(
    args: &ExportArgs,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    match export_days(args, config_path, out) {
        Err(e) if args.json => {
            let exit = Exit::of_error(&e);
            let doc = serde_json::json!({
                "day": args.date.map(|d| d.to_string()),
                "error": format!("{e:#}"),
                "exit": exit as u8,
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
            Err(e)
        }
        result => result,
    }
}

fn export_days(
    args: &ExportArgs,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let cfg = Config::resolve(args, config_path)?;
    // Catch-up also knows which days were already empty: finding one empty again is no news.
    let (days, known_empty) = match &cfg.plan {
        RunPlan::Single => (vec![cfg.day.date()], Default::default()),
        RunPlan::Range(from, to) => (schedule::range_days(*from, *to), Default::default()),
        RunPlan::CatchUp { window, max_days } => catch_up_days(&cfg, *window, *max_days)?,
    };
    // A dry run creates nothing, not even the lock file.
    let (_lock, moved) = if cfg.dry {
        (None, Vec::new())
    } else {
        // A bucket's day files are staged in the summary dir: there is no local data tree.
        let data_tree = matches!(cfg.out, OutDir::Local(_)).then_some(cfg.out_dir.as_path());
        let (lock, moved) = lock_and_clean(data_tree, &cfg.summary_dir, cfg.lock_timeout)?;
        (Some(lock), moved)
    };
    if cfg.plan == RunPlan::Single {
        // The summary says what this run moved out of the data tree.
        let cfg = Config { moved, ..cfg };
        return export_one(&cfg, out);
    }
    if days.is_empty() {
        tracing::info!(yesterday = %cfg.yesterday, "every day up to yesterday is exported; nothing to do");
    }
    let run = export_each(&cfg, &days, &known_empty, moved);
    if cfg.json {
        let doc =
            serde_json::json!({"days": run.reports, "errors": run.errors, "exit": run.worst as u8});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        print_days(days.len(), &run, cfg.dry, out)?;
    }
    Ok(run.worst)
}

/// What a multi-day run came to: each day's report, each failure, and the status of the run.
struct DaysRun {
    reports: Vec<RunReport>,
    errors: Vec<serde_json::Value>,
    shortfalls: Vec<DayShortfall>,
    worst: Exit,
}

/// Exports each of `days` in turn, every one attempted whatever the others came to, with a
/// progress bar at a terminal.
fn export_each(
    cfg: &Config,
    days: &[NaiveDate],
    known_empty: &BTreeSet<NaiveDate>,
    moved: Vec<String>,
) -> DaysRun {
    // The first day's summary says what this run moved out of the data tree.
    let mut moved = Some(moved);
    let bar = progress_bar(days.len());
    let _shown = ShownBar::set(bar.clone());
    let mut run = DaysRun {
        reports: Vec::new(),
        errors: Vec::new(),
        shortfalls: Vec::new(),
        worst: Exit::Success,
    };
    for date in days {
        if let Some(b) = &bar {
            b.set_message(date.to_string());
        }
        let day_cfg = cfg.for_day(*date).map(|c| Config {
            moved: moved.take().unwrap_or_default(),
            ..c
        });
        let exit = match day_cfg.and_then(|c| export::run(&c)) {
            Ok(report) => {
                crate::metrics::note_day(&report);
                tracing::info!(day = %date, verdict = report.verdict.as_str(), rows = report.rows, "day exported");
                let known = known_empty.contains(date);
                if known && report.verdict == Verdict::Empty {
                    tracing::info!(day = %date, "still empty, as before: exit status 0 for this day");
                }
                let exit = Exit::of_day(report.verdict, known);
                run.shortfalls
                    .extend(DayShortfall::of_report(*date, &report, exit, known));
                run.reports.push(report);
                exit
            }
            // A date the zone skipped (Samoa, 2011-12-30) has no records and needs no file.
            Err(e) if e.downcast_ref::<crate::day::NoSuchDay>().is_some() => {
                tracing::info!(day = %date, "{e:#}; nothing to export");
                continue;
            }
            Err(e) => {
                tracing::error!(day = %date, "export failed: {e:#}");
                let exit = Exit::of_error(&e);
                run.errors.push(serde_json::json!({"day": date.to_string(), "error": format!("{e:#}"), "exit": exit as u8}));
                run.shortfalls.push(DayShortfall {
                    day: *date,
                    what: "failed (see its line above)".into(),
                    exit,
                });
                exit
            }
        };
        run.worst = run.worst.worse(exit);
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    run
}

fn export_one(cfg: &Config, out: &mut impl Write) -> Result<Exit> {
    tracing::info!(day = %cfg.day, tz = cfg.day.tz().name(), dry = cfg.dry, "export starting");
    let report = export::run(cfg)?;
    crate::metrics::note_day(&report);
    tracing::info!(
        verdict = report.verdict.as_str(),
        rows = report.rows,
        ms = report.duration_ms,
        "export finished"
    );
    if cfg.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        print_report(&report, cfg.dry, out)?;
    }
    Ok(Exit::of_verdict(report.verdict))
}

fn print_report(r: &RunReport, dry: bool, out: &mut impl Write) -> Result<()> {
    if dry {
        writeln!(out, "dry run: nothing written\n")?;
        print_schema(false, out)?;
        writeln!(out)?;
    }
    writeln!(
        out,
        "day:      {} ({}, {} h)",
        r.day, r.timezone, r.day_hours
    )?;
    match &r.covers_until {
        Some(until) => writeln!(
            out,
            "verdict:  {} (the day so far: up to {})",
            r.verdict.as_str(),
            until
        )?,
        None => writeln!(out, "verdict:  {}", r.verdict.as_str())?,
    }
    for s in &r.sources {
        write!(
            out,
            "source:   {} {}: {}, read {}, rejected {}",
            s.name,
            plain(&s.location),
            s.state,
            s.counts.read,
            s.counts.rejected
        )?;
        match &s.error {
            Some(e) => writeln!(out, " ({})", plain(e))?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "rows:     {} (merged {}, conflicts {}, rejected {})",
        r.rows, r.merged, r.conflicts, r.rejected
    )?;
    if r.carried > 0 {
        writeln!(
            out,
            "carried:  {} records of the previous file that no source holds any more",
            r.carried
        )?;
    }
    if let Some(p) = &r.parquet {
        writeln!(
            out,
            "parquet:  {} ({} bytes)",
            plain(p),
            r.bytes.unwrap_or(0)
        )?;
    }
    if let Some(p) = &r.rejects_file {
        writeln!(out, "rejects:  {}", plain(p))?;
    }
    if let Some(p) = &r.summary {
        writeln!(out, "summary:  {}", plain(p))?;
    }
    if let Some(p) = &r.publication {
        writeln!(out, "publish:  {}", plain(p))?;
    }
    if let Some(k) = &r.kept_existing {
        writeln!(out, "kept:     the existing file: {}", plain(&k.why))?;
    }
    Ok(())
}

/// A multi-day run as text: each day's report, each failure, the count, and the days that
/// were not a success with the run's exit status.
fn print_days(attempted: usize, run: &DaysRun, dry: bool, out: &mut impl Write) -> Result<()> {
    for r in &run.reports {
        print_report(r, dry, out)?;
        writeln!(out)?;
    }
    for e in &run.errors {
        writeln!(
            out,
            "day {}: FAILED: {}",
            e["day"].as_str().unwrap_or("?"),
            e["error"].as_str().unwrap_or("?")
        )?;
    }
    writeln!(
        out,
        "days: {attempted} attempted, {} exported, {} failed",
        run.reports.len(),
        run.errors.len()
    )?;
    print_shortfalls(&run.shortfalls, run.worst, out)
}

/// A day of a multi-day run that was not a plain success: what it came to, and the status it
/// gives the run.
struct DayShortfall {
    day: NaiveDate,
    what: String,
    exit: Exit,
}

impl DayShortfall {
    fn of_report(
        day: NaiveDate,
        r: &RunReport,
        exit: Exit,
        known_empty: bool,
    ) -> Option<DayShortfall> {
        let what = match r.verdict {
            Verdict::Success | Verdict::Incomplete | Verdict::Imported => return None,
            Verdict::Empty if known_empty => {
                "empty, as its file already said (counts as success)".to_string()
            }
            Verdict::Empty => "empty: no record for the day".to_string(),
            Verdict::Partial => {
                let short: Vec<String> = r
                    .sources
                    .iter()
                    .filter(|s| s.state != SourceState::Ok)
                    .map(|s| format!("{} {}", s.name, s.state.as_str()))
                    .collect();
                format!("partial: {}", short.join(", "))
            }
        };
        Some(DayShortfall { day, what, exit })
    }
}

/// The end of a multi-day run: each day that was not a success, and why the run exits as it
/// does. Without it, "8 exported, 0 failed" and exit 4 left the reader to find the empty day.
fn print_shortfalls(shortfalls: &[DayShortfall], worst: Exit, out: &mut impl Write) -> Result<()> {
    for s in shortfalls {
        writeln!(
            out,
            "day {}: {} (exit {})",
            s.day,
            plain(&s.what),
            s.exit as u8
        )?;
    }
    match shortfalls.iter().find(|s| s.exit == worst) {
        Some(s) if worst != Exit::Success => writeln!(
            out,
            "exit status {}: {}, the worst day's (first {}); the order is 1, 5, 3, 4, 0",
            worst as u8,
            worst.name(),
            s.day
        )?,
        _ if shortfalls.is_empty() => writeln!(out, "exit status 0: every day a success")?,
        _ => writeln!(
            out,
            "exit status 0: no day was partial, newly empty or failed"
        )?,
    }
    Ok(())
}

/// The days a catch-up run exports: the window's days whose file is missing or short, oldest
/// first, at most `max_days`.
fn catch_up_days(
    cfg: &Config,
    window: u32,
    max_days: u32,
) -> Result<(Vec<NaiveDate>, BTreeSet<NaiveDate>)> {
    let days = schedule::window(cfg.yesterday, window);
    let target = crate::target::Target::open(&cfg.out)?;
    let files = schedule::day_files(&target, &cfg.layout, &days)?;
    crate::metrics::note_window(&days, &files);
    for (day, state) in &files {
        if let Some(why) = state.short_why() {
            tracing::info!(%day, "day file is short ({why}); catch-up exports the day again if it is in the window");
        }
    }
    let days = schedule::catch_up_days(&files, cfg.yesterday, window, max_days);
    if days.len() == max_days as usize
        && schedule::catch_up_days(&files, cfg.yesterday, window, max_days + 1).len() > days.len()
    {
        tracing::warn!(
            max_days,
            "more days need exporting than --max-days allows; the next run continues"
        );
    }
    let empty = files
        .iter()
        .filter(|(_, f)| **f == schedule::DayFile::Empty)
        .map(|(d, _)| *d)
        .collect();
    Ok((days, empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_day_run_ends_with_the_days_that_set_its_status() {
        let day = |d| NaiveDate::from_ymd_opt(2025, 10, d).unwrap();
        let shortfalls = [
            DayShortfall {
                day: day(28),
                what: "empty: no record for the day".into(),
                exit: Exit::Empty,
            },
            DayShortfall {
                day: day(29),
                what: "partial: redis unreachable".into(),
                exit: Exit::Partial,
            },
        ];
        let mut out = Vec::new();
        print_shortfalls(&shortfalls, Exit::Partial, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "day 2025-10-28: empty: no record for the day (exit 4)\n\
             day 2025-10-29: partial: redis unreachable (exit 3)\n\
             exit status 3: partial, the worst day's (first 2025-10-29); the order is 1, 5, 3, 4, 0\n"
        );
        let mut out = Vec::new();
        print_shortfalls(&[], Exit::Success, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "exit status 0: every day a success\n"
        );
    }
}
