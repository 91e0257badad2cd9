//! The report's metrics, each against the ops team's target: export frequency, heartbeat
//! coverage, duration, file size, compression, the schedule, schema consistency and validation.

use std::path::Path;

use chrono::{NaiveDate, NaiveTime};

use super::calendar::{Fire, Schedule};
use super::facts::Facts;
use super::verification::{Mark, Metric};
use crate::batch;
use crate::escape::{md_code, md_text};
use crate::service::{self, DAILY_AT};
use crate::verify::{self, human_size, VerifyReport};

/// The export duration the ops team set as the target.
pub const DURATION_TARGET_MS: u64 = 2_000;
/// How long after `DAILY_AT` the scheduled run has had time to write yesterday's file.
const SCHEDULE_RUN_MINUTES: i64 = 30;
/// Heartbeats received over those expected, over the report's days: the ops team's target.
pub const COVERAGE_TARGET_PCT: f64 = 95.0;
/// Empty days in a row (files with no record) that make the frequency metric fail: one may be
/// a quiet day, two in a row are a feed that stopped.
const EMPTY_RUN_FAILS: usize = 2;

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(super) fn metrics(f: &Facts) -> Vec<Metric> {
    [
        frequency,
        coverage,
        duration,
        file_size,
        compression,
        schedule,
        schema_consistency,
        validation,
    ]
    .iter()
    .map(|metric| metric(f))
    .collect()
}

/// The day files' checks, none before the first export.
fn files_checked(f: &Facts) -> &[verify::FileCheck] {
    f.files.as_ref().map(|r| &r.files[..]).unwrap_or_default()
}

fn no_files() -> String {
    "no day file yet".to_string()
}

/// Every day from the first file to the last has one, and the last is as recent as the
/// schedule allows (yesterday once the daily run has had time to finish).
fn frequency(f: &Facts) -> Metric {
    let (h, m) = DAILY_AT;
    let done_by = NaiveTime::from_hms_opt(h, m, 0).expect("a valid time")
        + chrono::Duration::minutes(SCHEDULE_RUN_MINUTES);
    let back = if f.local_time >= done_by { 1 } else { 2 };
    let expected = f.today - chrono::Days::new(back);
    // Finished days only: today's intraday file (and a missing day after the newest finished
    // one, before the daily run has written it) is the running day, not a day to count.
    let days: Vec<NaiveDate> = f
        .files
        .iter()
        .flat_map(|r| r.files.iter().filter(|c| !is_intraday(c)))
        .filter_map(|c| verify::day_of_name(&c.path))
        .collect();
    match (days.iter().min(), days.iter().max(), &f.files) {
        (Some(first), Some(last), Some(r)) => {
            let span = (*last - *first).num_days() + 1;
            // Strictly between the finished days (an intraday file may bound the verify's).
            let missing: Vec<verify::DayRange> = match (first.succ_opt(), last.pred_opt()) {
                (Some(lo), Some(hi)) => r
                    .missing_days
                    .iter()
                    .filter_map(|m| m.clipped(lo, hi))
                    .collect(),
                _ => Vec::new(),
            };
            let missing_count: i64 = missing.iter().map(verify::DayRange::days).sum();
            let mut actual = format!(
                "{} of {span} days from {first} to {last} have a file",
                span - missing_count
            );
            if !missing.is_empty() {
                actual.push_str(&format!("; missing: {}", verify::render_ranges(&missing)));
            }
            let stale = *last < expected;
            if stale {
                actual.push_str(&format!("; no file since {last} (expected {expected})"));
            }
            let (empty, longest_run) = empty_days(r);
            if !empty.is_empty() {
                actual.push_str(&format!(
                    "; empty (no record in any source): {}",
                    empty
                        .iter()
                        .map(NaiveDate::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let empty_run = longest_run >= EMPTY_RUN_FAILS;
            if empty_run {
                actual.push_str(&format!("; {longest_run} empty days in a row"));
            }
            Metric {
                name: "Export frequency",
                target: format!(
                    "1×/day with records, through {expected}; fewer than {EMPTY_RUN_FAILS} empty days in a row"
                ),
                mark: if missing.is_empty() && !stale && !empty_run {
                    Mark::Ok
                } else {
                    Mark::Failed
                },
                actual,
            }
        }
        _ => Metric {
            name: "Export frequency",
            target: format!("1×/day with records, through {expected}"),
            actual: no_files(),
            mark: Mark::Missing,
        },
    }
}

/// An intraday export of the running day (its footer says incomplete).
fn is_intraday(c: &verify::FileCheck) -> bool {
    c.footer_verdict() == Some(crate::contract::Verdict::Incomplete)
}

/// The days whose file holds no row, oldest first, and the longest run of consecutive ones.
fn empty_days(r: &VerifyReport) -> (Vec<NaiveDate>, usize) {
    let mut days: Vec<NaiveDate> = r
        .files
        .iter()
        .filter(|c| c.rows == Some(0) && !is_intraday(c))
        .filter_map(|c| verify::day_of_name(&c.path))
        .collect();
    days.sort_unstable();
    days.dedup();
    let (mut longest, mut run) = (0, 0);
    for (i, d) in days.iter().enumerate() {
        run = match i.checked_sub(1).map(|p| days[p]) {
            Some(prev) if prev.succ_opt() == Some(*d) => run + 1,
            _ => 1,
        };
        longest = longest.max(run);
    }
    (days, longest)
}

/// Heartbeats received over those expected (each host seen that day, every 5 minutes), over
/// the last `--days` days that have a readable file.
fn coverage(f: &Facts) -> Metric {
    let target = format!(
        "≥ {COVERAGE_TARGET_PCT:.0}% of expected heartbeats over the last {} days",
        f.days
    );
    let read: Vec<&crate::history::HistoryDay> =
        f.history.iter().filter(|d| d.state == "ok").collect();
    let beats: u64 = read.iter().map(|d| d.beats).sum();
    let expected: u64 = read.iter().map(|d| d.expected_beats).sum();
    if expected == 0 {
        return Metric {
            name: "Heartbeat coverage",
            target,
            actual: if read.is_empty() {
                no_files()
            } else {
                "no heartbeat in the files".into()
            },
            mark: if read.is_empty() {
                Mark::Missing
            } else {
                Mark::Failed
            },
        };
    }
    let pct = (beats as f64 * 100.0 / expected as f64).min(100.0);
    let mut low: Vec<String> = read
        .iter()
        .filter(|d| d.expected_beats > 0 && d.coverage_pct < COVERAGE_TARGET_PCT)
        .map(|d| format!("{} {:.1}%", d.day, d.coverage_pct))
        .collect();
    low.reverse();
    let mut actual = format!("{pct:.1}% ({beats} of {expected} over {} days)", read.len());
    // The running day counts up to its cut, as `history` and its summary count it.
    if let Some(d) = read.iter().find(|d| d.so_far_until.is_some()) {
        let until = d.so_far_until.as_deref().unwrap_or_default();
        actual.push_str(&format!("; {} so far, until {until}", d.day));
    }
    if !low.is_empty() {
        actual.push_str(&format!("; under target: {}", low.join(", ")));
    }
    Metric {
        name: "Heartbeat coverage",
        target,
        actual,
        mark: if pct >= COVERAGE_TARGET_PCT {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

/// The slowest and the median duration of the newest summaries (the footer carries no time,
/// so re-runs stay byte-identical).
fn duration(f: &Facts) -> Metric {
    let recent: Vec<(NaiveDate, u64)> = f
        .summaries
        .iter()
        .rev()
        .filter_map(|(d, ms)| ms.map(|ms| (*d, ms)))
        .take(f.days as usize)
        .collect();
    let target = format!("< {} s", DURATION_TARGET_MS / 1000);
    match recent.iter().max_by_key(|(_, ms)| *ms) {
        Some(&(slowest_day, slowest)) => {
            let mut v: Vec<u64> = recent.iter().map(|(_, ms)| *ms).collect();
            v.sort_unstable();
            let median = v[v.len() / 2];
            Metric {
                name: "Export duration",
                target,
                actual: format!(
                    "slowest {slowest} ms ({slowest_day}), median {median} ms, over the last {} summaries",
                    v.len()
                ),
                mark: if slowest < DURATION_TARGET_MS {
                    Mark::Ok
                } else {
                    Mark::Failed
                },
            }
        }
        None => Metric {
            name: "Export duration",
            target,
            actual: "no summary records a duration yet".into(),
            mark: Mark::Missing,
        },
    }
}

/// The largest day file against the 5 MB target, or `--max-size` when given.
fn file_size(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let target = format!(
        "≤ {}",
        verify::mb(f.max_bytes.unwrap_or(verify::SIZE_TARGET_BYTES))
    );
    match checks.iter().max_by_key(|c| c.bytes) {
        Some(c) => Metric {
            name: "File size",
            target,
            actual: format!(
                "largest {} in {}",
                human_size(c.bytes),
                md_code(&file_name(&c.path))
            ),
            mark: if c.bytes <= f.max_bytes.unwrap_or(verify::SIZE_TARGET_BYTES) {
                Mark::Ok
            } else {
                Mark::Failed
            },
        },
        None => Metric {
            name: "File size",
            target,
            actual: no_files(),
            mark: Mark::Missing,
        },
    }
}

/// Every column chunk of every file SNAPPY.
fn compression(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let chunks: usize = checks.iter().map(|c| c.codecs.len()).sum();
    let off: Vec<String> = checks
        .iter()
        .flat_map(|c| {
            c.codecs
                .iter()
                .filter(|(_, codec)| codec.as_str() != "snappy")
                .map(|(col, codec)| format!("{} {col}: {codec}", file_name(&c.path)))
        })
        .collect();
    Metric {
        name: "Compression",
        target: "snappy in every column chunk".into(),
        actual: if checks.is_empty() {
            no_files()
        } else if off.is_empty() {
            format!("snappy in every column of all {} files", checks.len())
        } else {
            format!("not snappy: {}", md_text(&off.join("; ")))
        },
        mark: if checks.is_empty() {
            Mark::Missing
        } else if off.is_empty() && chunks > 0 {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

/// The installed schedule fires daily at `DAILY_AT`.
fn schedule(f: &Facts) -> Metric {
    let target = format!("{} daily, loaded", service::daily_at_hhmm());
    match &f.schedule {
        Schedule::None(_) => Metric {
            name: "Schedule",
            target,
            actual: "no schedule installed".into(),
            mark: Mark::Missing,
        },
        Schedule::Installed { kind, when, .. } => {
            let (actual, good) = match when {
                Ok(fires) => (
                    format!(
                        "{kind}: {}",
                        fires.iter().map(Fire::show).collect::<Vec<_>>().join(", ")
                    ),
                    fires.len() == 1 && fires[0].is_daily_at(DAILY_AT.0, DAILY_AT.1),
                ),
                Err(e) => (format!("{kind}: {}", md_text(e)), false),
            };
            let (said, loaded) = match &f.loaded {
                None => (
                    "loaded: not checked (neither launchctl nor systemctl is on PATH)".to_string(),
                    true,
                ),
                Some(l) => match &l.loaded {
                    Ok(true) => (format!("loaded (`{}`)", l.command), true),
                    Ok(false) => (
                        format!(
                            "**not loaded**: `{}` says {}",
                            l.command,
                            md_text(if l.said.is_empty() { "no" } else { &l.said })
                        ),
                        false,
                    ),
                    Err(e) => (
                        format!("loaded: cannot tell (`{}`: {})", l.command, md_text(e)),
                        false,
                    ),
                },
            };
            Metric {
                name: "Schedule",
                target,
                actual: format!("{actual}; {said}"),
                mark: if good && loaded {
                    Mark::Ok
                } else {
                    Mark::Failed
                },
            }
        }
    }
}

/// The share of files with the schema-v1 fingerprint.
fn schema_consistency(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let v1 = verify::fingerprint(&batch::schema());
    let same = checks
        .iter()
        .filter(|c| c.schema_fingerprint.as_deref() == Some(v1.as_str()))
        .count();
    Metric {
        name: "Schema consistency",
        target: format!("100% of files schema v1 ({v1})"),
        actual: if checks.is_empty() {
            no_files()
        } else {
            format!(
                "{:.0}% ({same} of {} files)",
                100.0 * same as f64 / checks.len() as f64,
                checks.len()
            )
        },
        mark: if checks.is_empty() {
            Mark::Missing
        } else if same == checks.len() {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

/// Every file passes verify's checks, and the set has no problem.
fn validation(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let bad: Vec<&verify::FileCheck> = checks.iter().filter(|c| !c.ok()).collect();
    let set_problems = f.files.as_ref().map(|r| r.problems.len()).unwrap_or(0);
    Metric {
        name: "Validation",
        target: "every file passes `verify`".into(),
        actual: if checks.is_empty() {
            no_files()
        } else if bad.is_empty() && set_problems == 0 {
            format!("OK: {} of {} files", checks.len(), checks.len())
        } else {
            let first = bad
                .iter()
                .map(|c| format!("{}: {}", file_name(&c.path), c.problems.join("; ")))
                .next()
                .unwrap_or_default();
            format!(
                "FAILED: {} of {} files; {}",
                bad.len(),
                checks.len(),
                md_text(&first)
            )
        },
        mark: if checks.is_empty() {
            Mark::Missing
        } else if bad.is_empty() && set_problems == 0 {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}
