//! Prometheus metrics after every run: each export (daily or intraday) and import, failed or
//! busy ones too, rewrites one file in node_exporter's textfile format, so that alerts fire
//! on "no success in 26 hours" rather than on someone opening a summary. Dry runs write
//! nothing, as ever. Writing the metrics never changes a run's exit status: a failure is a
//! warning.
//!
//! `text` is the file's format and state, `outcome` what a run came to, `notes` what the
//! commands tell it on the way, `file` the write.

mod file;
mod notes;
mod outcome;
mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command, ExportArgs};

pub use notes::{note_day, note_import, note_unread, note_window};
use outcome::RunFacts;
use text::MetricsJob;

/// The exit status of a run that found the lock held (`cli::EXIT_CODES`): it exported
/// nothing, and the catch-up window it looked at is another run's work in progress.
const BUSY: u8 = 6;

/// The variable of `--instance` (`cli::ExportArgs::instance`), which an import reads too.
const ENV_INSTANCE: &str = "PARQUET_EXPORTER_INSTANCE";

/// A run that writes metrics when it ends.
#[derive(Debug)]
pub struct MetricsRun {
    job: MetricsJob,
    path: PathBuf,
    /// The run's `--instance` (its variable, the config file's): a label on every series.
    instance: Option<String>,
    /// `--now`, for replays: the run's time as the metrics say it.
    now: Option<DateTime<Utc>>,
    started: Instant,
}

impl MetricsRun {
    /// The metrics `cli`'s run writes: for an export or an import that is not dry, unless the
    /// metrics file is set empty.
    pub fn of(cli: &Cli) -> Option<MetricsRun> {
        let export = |a: &ExportArgs| {
            let job = if a.intraday {
                MetricsJob::Intraday
            } else {
                MetricsJob::Daily
            };
            let instance = a.places.scheme.instance.clone();
            (job, a.metrics.metrics_file.clone(), a.dry, a.now, instance)
        };
        let (job, given, dry, now, instance) = match &cli.command {
            None => export(&cli.export),
            Some(Command::Export(a)) => export(a),
            Some(Command::ImportLegacy(a)) => (
                MetricsJob::Import,
                a.metrics.metrics_file.clone(),
                a.dry,
                None,
                // An import takes no --instance; its variable still names the exporter whose
                // metrics file it shares.
                std::env::var(ENV_INSTANCE).ok(),
            ),
            Some(_) => return None,
        };
        if dry {
            return None;
        }
        let config = cli.global.config.as_deref();
        let instance = crate::config::metrics_instance(instance.as_deref(), config);
        let path = crate::config::metrics_file(given.as_deref(), instance.as_deref(), config)?;
        Some(MetricsRun {
            job,
            path,
            instance,
            now,
            started: Instant::now(),
        })
    }

    /// Writes what the run that ended with `exit` came to. A metrics file that cannot be
    /// written is a warning: the run's outputs and exit status are its own.
    pub fn finish(self, exit: u8) {
        let notes = notes::take();
        let at = self.now.unwrap_or_else(Utc::now);
        let facts = RunFacts {
            exit,
            at_s: at.timestamp_millis() as f64 / 1000.0,
            duration_s: self.started.elapsed().as_secs_f64(),
            days: notes.days,
            last_day: notes.last_day,
            import_day_s: notes.import_day_s,
            window: notes.window.filter(|_| exit != BUSY),
            unread: notes.unread,
            installed: installed(),
        };
        let instance = self.instance.as_deref();
        if let Err(e) = file::update(&self.path, instance, |s| {
            outcome::apply(s, self.job, &facts)
        }) {
            tracing::warn!(
                "the metrics file {} was not updated: {}; the run's exit status ({exit}) is unchanged",
                crate::escape::plain(&self.path.display().to_string()),
                crate::escape::plain(&format!("{e:#}"))
            );
        }
    }
}

/// Whether the daily and the intraday schedule are installed for this user: the launchd
/// agent's plist or the systemd timer is in place.
fn installed() -> BTreeMap<MetricsJob, bool> {
    use crate::service::launchd::job_plist_path;
    use crate::service::systemd::systemd_paths;
    use crate::service::Job;
    let Some(home) = crate::config::home() else {
        return BTreeMap::new();
    };
    [
        (MetricsJob::Daily, Job::Daily),
        (MetricsJob::Intraday, Job::Intraday),
    ]
    .into_iter()
    .map(|(m, j)| {
        let on = job_plist_path(&home, j).exists() || systemd_paths(&home, j).1.exists();
        (m, on)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run_of(args: &[&str]) -> Option<MetricsRun> {
        let mut argv = vec!["parquet-exporter"];
        argv.extend(args);
        MetricsRun::of(&Cli::try_parse_from(argv).unwrap())
    }

    #[test]
    fn exports_and_imports_write_metrics_and_dry_runs_and_other_commands_do_not() {
        let job = |args: &[&str]| run_of(args).map(|m| m.job);
        assert_eq!(
            job(&["--metrics-file", "/m/x.prom"]),
            Some(MetricsJob::Daily)
        );
        assert_eq!(
            job(&["export", "--catch-up", "--metrics-file", "/m/x.prom"]),
            Some(MetricsJob::Daily)
        );
        assert_eq!(
            job(&["--intraday", "--metrics-file", "/m/x.prom"]),
            Some(MetricsJob::Intraday)
        );
        assert_eq!(
            job(&["import-legacy", "old/", "--metrics-file", "/m/x.prom"]),
            Some(MetricsJob::Import)
        );
        assert_eq!(job(&["--dry", "--metrics-file", "/m/x.prom"]), None);
        assert_eq!(
            job(&[
                "import-legacy",
                "old/",
                "--dry",
                "--metrics-file",
                "/m/x.prom"
            ]),
            None
        );
        assert_eq!(job(&["verify", "x"]), None);
        assert_eq!(job(&["history"]), None);
        // Set empty, the metrics are off.
        assert_eq!(job(&["--metrics-file", ""]), None);
        let m = run_of(&[
            "--metrics-file",
            "/m/x.prom",
            "--now",
            "2025-10-31T00:00:00Z",
        ])
        .unwrap();
        assert_eq!(m.path, PathBuf::from("/m/x.prom"));
        assert_eq!(m.now.map(|t| t.timestamp()), Some(1_761_868_800));
    }

    /// An instance's default file is named for it, so that two instances never share one.
    #[test]
    fn an_instance_has_its_own_default_file() {
        let Some(home) = crate::config::home() else {
            return;
        };
        let m = run_of(&["--instance", "site-b", "--config", "/nonexistent.toml"]).unwrap();
        assert_eq!(m.instance.as_deref(), Some("site-b"));
        assert_eq!(
            m.path,
            home.join("02luka/g/metrics/parquet_exporter.site-b.prom")
        );
        let m = run_of(&["--instance", "site-b", "--metrics-file", "/m/x.prom"]).unwrap();
        assert_eq!(m.path, PathBuf::from("/m/x.prom"));
        // A name the run refuses (it exits 2) labels nothing and names no file.
        let m = run_of(&["--instance", "../x", "--config", "/nonexistent.toml"]).unwrap();
        assert_eq!(m.instance, None);
    }

    /// `BUSY` is the busy status the exit-status table documents.
    #[test]
    fn busy_is_the_documented_status() {
        assert!(crate::cli::EXIT_CODES.contains(&format!("\n  {BUSY}  busy:")));
    }
}
