//! The exit status, in one place: every outcome and every error a command ends with maps to
//! its documented status here (see `--help`).

use crate::config::UsageError;
use crate::deployment::DeploymentVerdict;
use crate::export::NoSourceError;
use crate::lock::LockBusy;
use crate::report::{ImportOutcome, ImportReport, Verdict};

/// Documented exit statuses (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failed = 1,
    Usage = 2,
    Partial = 3,
    Empty = 4,
    NoSource = 5,
    Busy = 6,
    /// `verify --report` only: a deployment part is missing, so nothing could be validated.
    Pending = 7,
}

impl Exit {
    pub fn of_verdict(v: Verdict) -> Exit {
        match v {
            Verdict::Success => Exit::Success,
            Verdict::Partial => Exit::Partial,
            Verdict::Empty => Exit::Empty,
            // The running day so far, every source read: nothing failed.
            Verdict::Incomplete => Exit::Success,
            // An import's verdict: the old exporter's records brought over.
            Verdict::Imported => Exit::Success,
        }
    }

    /// A day of a catch-up run: a day whose file already said empty and that is still empty
    /// is what it was, not a new failure.
    pub fn of_day(v: Verdict, known_empty: bool) -> Exit {
        match Exit::of_verdict(v) {
            Exit::Empty if known_empty => Exit::Success,
            exit => exit,
        }
    }

    /// The status `verify --report` exits with for the deployment's verdict.
    pub fn of_deployment(v: DeploymentVerdict) -> Exit {
        match v {
            DeploymentVerdict::FullSuccess => Exit::Success,
            DeploymentVerdict::Partial => Exit::Partial,
            DeploymentVerdict::Pending => Exit::Pending,
        }
    }

    /// `verify` of files: every one valid, or not.
    pub fn of_files_valid(ok: bool) -> Exit {
        if ok {
            Exit::Success
        } else {
            Exit::Failed
        }
    }

    /// An import fails when any of its days did; a day it skipped or left as it was did not.
    pub fn of_import(report: &ImportReport) -> Exit {
        if report
            .days
            .iter()
            .any(|d| d.outcome == ImportOutcome::Failed)
        {
            Exit::Failed
        } else {
            Exit::Success
        }
    }

    /// The status as the exit-status table calls it.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::Partial => "partial",
            Exit::Empty => "empty",
            Exit::NoSource => "no source",
            Exit::Busy => "busy",
            Exit::Pending => "pending",
        }
    }

    /// Of two days' statuses, the one a multi-day run reports.
    pub fn worse(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Success => 0,
            Exit::Empty => 1,
            // A report's status, never a day's: ranked beside empty (nothing to go on yet).
            Exit::Pending => 2,
            Exit::Partial => 3,
            Exit::NoSource => 4,
            Exit::Busy => 5,
            Exit::Usage => 6,
            Exit::Failed => 7,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The status for an error that stopped a run.
    pub fn of_error(e: &anyhow::Error) -> Exit {
        if e.downcast_ref::<UsageError>().is_some()
            || e.downcast_ref::<crate::day::NoSuchDay>().is_some()
        {
            Exit::Usage
        } else if e.downcast_ref::<LockBusy>().is_some() {
            Exit::Busy
        } else if e.downcast_ref::<NoSourceError>().is_some() {
            Exit::NoSource
        } else {
            Exit::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's verdicts each exit with their own status: Pending is not an empty day.
    #[test]
    fn a_pending_report_exits_with_its_own_status() {
        let pending = Exit::of_deployment(DeploymentVerdict::Pending);
        assert_eq!((pending as u8, pending.name()), (7, "pending"));
        assert_ne!(pending, Exit::of_verdict(Verdict::Empty));
        assert_eq!(
            Exit::of_deployment(DeploymentVerdict::FullSuccess),
            Exit::Success
        );
        assert_eq!(
            Exit::of_deployment(DeploymentVerdict::Partial),
            Exit::Partial
        );
        // Every status --help documents is one the exit-status table lists, by number.
        for e in [pending, Exit::Busy, Exit::Empty] {
            let row = format!("  {}  {}", e as u8, e.name());
            assert!(crate::cli::EXIT_CODES.contains(&row), "no row {row:?}");
        }
    }
}
