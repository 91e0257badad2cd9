//! What a run came to, as the metrics say it: the figures of a day from its run report, the
//! catch-up window's days after the run, and the previous state moved on by one run (pure).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::contract::Verdict;
use crate::day::Day;
use crate::report::{ImportOutcome, ImportReport, RunReport, SourceState};
use crate::schedule::DayFile;

use super::text::{DayMetrics, JobMetrics, MetricsJob, MetricsState, WindowDay};

/// A host whose last beat is longer than this before the end of the data counts as silent.
pub const SILENT_AT_END_S: f64 = 30.0 * 60.0;

/// One day a run exported, as far as the streaks and the catch-up window need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayNote {
    pub date: NaiveDate,
    /// What catch-up finds of the day now: the new file's verdict, or the kept file's. `None`
    /// when a kept file's verdict is not recorded.
    pub now: Option<WindowDay>,
    pub partial: bool,
    /// Each configured source, and whether it could not be read (unavailable, or its stream
    /// missing). A trimmed or unverified stream beside a complete archive is normal operation.
    pub sources: Vec<(&'static str, bool)>,
}

impl DayNote {
    pub fn of(r: &RunReport) -> Option<DayNote> {
        let date = r.day.parse().ok()?;
        let now = match &r.kept_existing {
            Some(k) => k
                .verdict
                .as_deref()
                .and_then(|v| v.parse::<Verdict>().ok())
                .map(WindowDay::of_verdict),
            None => Some(WindowDay::of_verdict(r.verdict)),
        };
        let failed = |s: SourceState| matches!(s, SourceState::Unavailable | SourceState::Missing);
        Some(DayNote {
            date,
            now,
            partial: r.verdict == Verdict::Partial,
            sources: r
                .sources
                .iter()
                .map(|s| (s.name, failed(s.state)))
                .collect(),
        })
    }
}

/// The day `r` reports, in its zone, cut where an intraday export's data ends.
fn day_of(r: &RunReport) -> Option<Day> {
    let day = Day::new(r.day.parse().ok()?, r.timezone.parse().ok()?).ok()?;
    Some(match r.covers_until.as_deref() {
        Some(until) => day.until(
            chrono::DateTime::parse_from_rfc3339(until)
                .ok()?
                .timestamp_millis(),
        ),
        None => day,
    })
}

/// The start of the day `r` reports (Unix seconds).
pub fn day_start_s(r: &RunReport) -> Option<f64> {
    day_of(r).map(|d| d.start_ms() as f64 / 1000.0)
}

/// The figures of the day `r` reports. A run that kept the existing file published nothing:
/// the file's own figures (rows, size, verdict, where its data ends) are then those of the
/// file that stands, and the rest say what the run read.
pub fn day_metrics(r: &RunReport) -> DayMetrics {
    let mut d = read_figures(r);
    if let Some(k) = &r.kept_existing {
        d.rows = k.rows;
        // A file that records no verdict (written before verdicts were) keeps the run's.
        if let Some(v) = k.verdict.as_deref().and_then(|v| v.parse().ok()) {
            d.verdict = v;
        }
        let whole_day = || {
            let day = Day::new(r.day.parse().ok()?, r.timezone.parse().ok()?).ok()?;
            Some(day.end_ms())
        };
        let cut = r.readback.as_ref().and_then(|c| c.covers_until.as_deref());
        let end_ms = match cut {
            Some(until) => chrono::DateTime::parse_from_rfc3339(until)
                .ok()
                .map(|t| t.timestamp_millis()),
            None => whole_day(),
        };
        if let Some(end) = end_ms {
            d.end_s = end as f64 / 1000.0;
        }
    }
    d
}

/// The figures of what the run read of the day.
fn read_figures(r: &RunReport) -> DayMetrics {
    let end_ms = day_of(r).map_or(0, |d| d.end_ms());
    let silences: Vec<f64> = r
        .hosts_health
        .iter()
        .filter_map(|h| chrono::DateTime::parse_from_rfc3339(&h.last).ok())
        .map(|last| (end_ms - last.timestamp_millis()).max(0) as f64 / 1000.0)
        .collect();
    let (beats, owed) = r
        .hosts_health
        .iter()
        .fold((0, 0), |(b, e), h| (b + h.beats, e + h.expected));
    DayMetrics {
        end_s: end_ms as f64 / 1000.0,
        rows: r.rows,
        rejects: r.reject_reasons.iter().cloned().collect(),
        merged: r.merged,
        conflicts: r.conflicts,
        file_bytes: r.bytes.unwrap_or(0),
        duration_s: r.duration_ms as f64 / 1000.0,
        sources: r
            .sources
            .iter()
            .map(|s| (s.name.to_string(), s.state.as_str().to_string()))
            .collect(),
        gaps: r.gaps.count as u64,
        hosts: r.hosts.len() as u64,
        hosts_silent: silences.iter().filter(|s| **s > SILENT_AT_END_S).count() as u64,
        end_silence_s: silences.iter().copied().fold(0.0, f64::max),
        coverage_ratio: crate::contract::coverage_pct(beats, owed) / 100.0,
        verdict: r.verdict,
    }
}

/// The start of the newest day an import wrote or found complete (Unix seconds).
pub fn import_day_start_s(r: &ImportReport) -> Option<f64> {
    let tz: chrono_tz::Tz = r.timezone.parse().ok()?;
    r.days
        .iter()
        .filter(|d| d.outcome != ImportOutcome::Failed)
        .filter_map(|d| d.day.parse::<NaiveDate>().ok())
        .max()
        .and_then(|d| Day::new(d, tz).ok())
        .map(|d| d.start_ms() as f64 / 1000.0)
}

/// The catch-up window as the run found it before exporting.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowNote {
    pub first: NaiveDate,
    pub yesterday: NaiveDate,
    pub files: BTreeMap<NaiveDate, WindowDay>,
}

impl WindowNote {
    pub fn new(
        window: &std::ops::RangeInclusive<NaiveDate>,
        files: &BTreeMap<NaiveDate, DayFile>,
    ) -> WindowNote {
        let state = |f: &DayFile| match f {
            DayFile::Complete => WindowDay::Complete,
            DayFile::Empty => WindowDay::Empty,
            DayFile::Invalid(_) => WindowDay::Invalid,
            DayFile::Short(v) => WindowDay::of_verdict(*v),
        };
        WindowNote {
            first: *window.start(),
            yesterday: *window.end(),
            files: files
                .range(window.clone())
                .map(|(d, f)| (*d, state(f)))
                .collect(),
        }
    }

    /// The window's days by what catch-up finds of them once `exported` are done: as catch-up
    /// counts, from the oldest day file in the window (yesterday when there is none).
    pub fn after(&self, exported: &[DayNote]) -> BTreeMap<WindowDay, u64> {
        let mut files = self.files.clone();
        for d in exported {
            if let (Some(now), true) = (d.now, (self.first..=self.yesterday).contains(&d.date)) {
                files.insert(d.date, now);
            }
        }
        let start = files.keys().next().copied().unwrap_or(self.yesterday);
        let mut counts: BTreeMap<WindowDay, u64> = WindowDay::ALL.iter().map(|d| (*d, 0)).collect();
        for day in crate::schedule::range_days(start, self.yesterday) {
            *counts
                .entry(files.get(&day).copied().unwrap_or(WindowDay::Missing))
                .or_default() += 1;
        }
        counts
    }
}

/// What a run came to.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub exit: u8,
    /// When the run ended (its `--now` when given), Unix seconds.
    pub at_s: f64,
    pub duration_s: f64,
    /// Every day it exported, in order.
    pub days: Vec<DayNote>,
    /// The last of them, in full, and where it starts.
    pub last_day: Option<(f64, DayMetrics)>,
    /// An import's newest day.
    pub import_day_s: Option<f64>,
    /// The catch-up window before the run, when it was a catch-up run that got as far as
    /// exporting (a busy run's look is another run's work in progress).
    pub window: Option<WindowNote>,
    /// Sources of a day that read none of them (exit 5), each a failure in its streak.
    pub unread: Vec<&'static str>,
    /// Whether each schedule is installed now.
    pub installed: BTreeMap<MetricsJob, bool>,
}

/// `state` moved on by one run of `job`: its run lines replaced, its last success moved only by
/// a success, its day and partial streak only by a run that exported a day, its source streaks
/// by a run that exported a day or read no source.
pub fn apply(mut state: MetricsState, job: MetricsJob, run: &RunFacts) -> MetricsState {
    let m: &mut JobMetrics = state.jobs.entry(job).or_default();
    m.last_run_s = run.at_s;
    m.exit_code = run.exit;
    m.run_duration_s = run.duration_s;
    if run.exit == 0 {
        m.last_success_s = run.at_s;
    }
    if let Some((start, day)) = &run.last_day {
        m.day_start_s = Some(*start);
        m.day = Some(day.clone());
    }
    if let Some(start) = run.import_day_s {
        m.day_start_s = Some(start);
    }
    if !run.days.is_empty() {
        m.partial_streak = if run.days.iter().any(|d| d.partial) {
            m.partial_streak + 1
        } else {
            0
        };
    }
    // A run that read no source at all (exit 5) is the worst failure of each: it counts, or
    // a lone source that is down would never raise its alert.
    if !run.days.is_empty() || !run.unread.is_empty() {
        let unread = run.unread.iter().map(|s| (*s, true));
        let mut failed: BTreeMap<String, bool> = BTreeMap::new();
        for (source, down) in run
            .days
            .iter()
            .flat_map(|d| d.sources.iter().copied())
            .chain(unread)
        {
            *failed.entry(source.to_string()).or_default() |= down;
        }
        let before = std::mem::take(&mut m.source_streaks);
        m.source_streaks = failed
            .into_iter()
            .map(|(s, down)| {
                let n = if down {
                    before.get(&s).copied().unwrap_or(0) + 1
                } else {
                    0
                };
                (s, n)
            })
            .collect();
    }
    if let Some(w) = &run.window {
        state.window = Some(w.after(&run.days));
    }
    state.installed = run.installed.clone();
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn note(date: &str, now: WindowDay, partial: bool, redis_down: bool) -> DayNote {
        DayNote {
            date: d(date),
            now: Some(now),
            partial,
            sources: vec![("redis", redis_down), ("sqlite", false)],
        }
    }

    fn run(exit: u8, at_s: f64, days: Vec<DayNote>) -> RunFacts {
        let last_day = days
            .last()
            .map(|_| (at_s - 86_400.0, DayMetrics::default()));
        RunFacts {
            exit,
            at_s,
            duration_s: 1.0,
            days,
            last_day,
            ..Default::default()
        }
    }

    #[test]
    fn a_failed_run_moves_its_last_run_and_keeps_the_last_success() {
        let s = apply(
            MetricsState::default(),
            MetricsJob::Daily,
            &run(0, 1000.0, vec![]),
        );
        let s = apply(s, MetricsJob::Daily, &run(1, 2000.0, vec![]));
        let daily = &s.jobs[&MetricsJob::Daily];
        assert_eq!(
            (daily.last_run_s, daily.exit_code, daily.last_success_s),
            (2000.0, 1, 1000.0)
        );
        // A job that never succeeded says so with 0, which every age alert reads as old.
        let s = apply(s, MetricsJob::Intraday, &run(6, 3000.0, vec![]));
        assert_eq!(s.jobs[&MetricsJob::Intraday].last_success_s, 0.0);
        assert_eq!(
            s.jobs[&MetricsJob::Daily].last_run_s,
            2000.0,
            "another job's lines stay"
        );
    }

    #[test]
    fn streaks_count_runs_in_a_row_and_runs_without_a_day_leave_them() {
        let p = |at| {
            run(
                3,
                at,
                vec![note("2025-10-30", WindowDay::Partial, true, true)],
            )
        };
        let s = apply(MetricsState::default(), MetricsJob::Daily, &p(1.0));
        let s = apply(s, MetricsJob::Daily, &run(6, 2.0, vec![]));
        let s = apply(s, MetricsJob::Daily, &p(3.0));
        let daily = &s.jobs[&MetricsJob::Daily];
        assert_eq!(daily.partial_streak, 2);
        assert_eq!(daily.source_streaks["redis"], 2);
        assert_eq!(daily.source_streaks["sqlite"], 0);
        // A catch-up whose older day is still partial keeps the streak, even if yesterday
        // went well.
        let mixed = run(
            3,
            4.0,
            vec![
                note("2025-10-30", WindowDay::Partial, true, true),
                note("2025-10-31", WindowDay::Complete, false, false),
            ],
        );
        let s = apply(s, MetricsJob::Daily, &mixed);
        assert_eq!(s.jobs[&MetricsJob::Daily].partial_streak, 3);
        let s = apply(
            s,
            MetricsJob::Daily,
            &run(
                0,
                5.0,
                vec![note("2025-11-01", WindowDay::Complete, false, false)],
            ),
        );
        let daily = &s.jobs[&MetricsJob::Daily];
        assert_eq!(
            (daily.partial_streak, daily.source_streaks["redis"]),
            (0, 0)
        );
    }

    /// A lone source that is down fails every run with exit 5, exporting no day: its streak
    /// still counts, and the first run that reads it resets it.
    #[test]
    fn a_run_that_read_no_source_counts_in_each_sources_streak() {
        let unread = |at| RunFacts {
            unread: vec!["redis"],
            ..run(5, at, vec![])
        };
        let s = apply(MetricsState::default(), MetricsJob::Daily, &unread(1.0));
        let s = apply(s, MetricsJob::Daily, &unread(2.0));
        let daily = &s.jobs[&MetricsJob::Daily];
        assert_eq!(daily.source_streaks["redis"], 2);
        assert_eq!(daily.partial_streak, 0, "no day, no partial day");
        let read = DayNote {
            sources: vec![("redis", false)],
            ..note("2025-10-30", WindowDay::Complete, false, false)
        };
        let s = apply(s, MetricsJob::Daily, &run(0, 3.0, vec![read]));
        assert_eq!(s.jobs[&MetricsJob::Daily].source_streaks["redis"], 0);
    }

    #[test]
    fn the_window_counts_as_catch_up_does_after_the_run() {
        let files: BTreeMap<NaiveDate, DayFile> = [
            (d("2025-10-20"), DayFile::Complete),
            (d("2025-10-22"), DayFile::Short(Verdict::Partial)),
            (d("2025-10-23"), DayFile::Empty),
            (d("2025-10-24"), DayFile::Invalid("bad".into())),
            (d("2025-10-25"), DayFile::Short(Verdict::Incomplete)),
        ]
        .into();
        let w = WindowNote::new(&(d("2025-10-16")..=d("2025-10-29")), &files);
        let before = w.after(&[]);
        let count = |c: &BTreeMap<WindowDay, u64>, k| c[&k];
        // 20 … 29: 21, 26, 27, 28, 29 have no file.
        assert_eq!(count(&before, WindowDay::Missing), 5);
        assert_eq!(count(&before, WindowDay::Partial), 1);
        assert_eq!(count(&before, WindowDay::Empty), 1);
        assert_eq!(count(&before, WindowDay::Invalid), 1);
        assert_eq!(count(&before, WindowDay::Incomplete), 1);
        assert_eq!(count(&before, WindowDay::Complete), 1);
        let done = [
            note("2025-10-21", WindowDay::Complete, false, false),
            note("2025-10-22", WindowDay::Partial, true, true),
            DayNote {
                now: None,
                ..note("2025-10-24", WindowDay::Complete, false, false)
            },
        ];
        let after = w.after(&done);
        assert_eq!(count(&after, WindowDay::Missing), 4);
        assert_eq!(count(&after, WindowDay::Complete), 2);
        assert_eq!(
            count(&after, WindowDay::Invalid),
            1,
            "a kept file of no recorded verdict stays as it was"
        );
        // No file at all: catch-up starts at yesterday.
        let empty = WindowNote::new(&(d("2025-10-16")..=d("2025-10-29")), &BTreeMap::new());
        assert_eq!(count(&empty.after(&[]), WindowDay::Missing), 1);
    }
}
