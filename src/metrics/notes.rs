//! What a run tells the metrics as it goes: each day it exports, an import's days, and the
//! catch-up window it found. The commands note these where they already hold them, so that no
//! command's signature or output changes for the metrics; `MetricsRun::finish` takes them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDate;

use crate::report::{ImportReport, RunReport};
use crate::schedule::DayFile;

use super::outcome::{self, DayNote, WindowNote};
use super::text::DayMetrics;

/// What the run noted so far.
#[derive(Debug, Default)]
pub struct RunNotes {
    pub days: Vec<DayNote>,
    pub last_day: Option<(f64, DayMetrics)>,
    pub import_day_s: Option<f64>,
    pub window: Option<WindowNote>,
    /// The configured sources of each day that read none of them (exit 5).
    pub unread: Vec<&'static str>,
}

static NOTES: Mutex<RunNotes> = Mutex::new(RunNotes {
    days: Vec::new(),
    last_day: None,
    import_day_s: None,
    window: None,
    unread: Vec::new(),
});

fn with(f: impl FnOnce(&mut RunNotes)) {
    f(&mut NOTES.lock().unwrap_or_else(|e| e.into_inner()));
}

/// A day the run exported (a dry run's day wrote nothing, and is not noted).
pub fn note_day(report: &RunReport) {
    if report.dry {
        return;
    }
    let note = DayNote::of(report);
    let start = outcome::day_start_s(report);
    let figures = outcome::day_metrics(report);
    with(|n| {
        n.days.extend(note);
        if let Some(start) = start {
            n.last_day = Some((start, figures));
        }
    });
}

/// A day for which no configured source could be read (`sources`, each failed): it exported
/// nothing, but each source's failing streak counts it.
pub fn note_unread(sources: impl Iterator<Item = &'static str>) {
    with(|n| n.unread.extend(sources));
}

/// The catch-up window's day files, as the run found them before exporting.
pub fn note_window(
    window: &std::ops::RangeInclusive<NaiveDate>,
    files: &BTreeMap<NaiveDate, DayFile>,
) {
    let w = WindowNote::new(window, files);
    with(|n| n.window = Some(w));
}

/// What an import wrote (a dry import wrote nothing).
pub fn note_import(report: &ImportReport) {
    if report.dry {
        return;
    }
    let start = outcome::import_day_start_s(report);
    with(|n| n.import_day_s = start);
}

/// Everything noted, leaving nothing behind.
pub fn take() -> RunNotes {
    std::mem::take(&mut NOTES.lock().unwrap_or_else(|e| e.into_inner()))
}
