//! Runs a parsed command line: one file per subcommand, each with its text rendering; the
//! exit status decided in `exit`; what a run shows on the terminal besides its report in
//! `console`.

mod console;
mod dirs;
mod exit;
mod export;
mod history;
mod import_legacy;
mod schema;
mod service;
mod simulate;
mod verify;

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

pub use console::{ClosedPipeOk, LogOut};
pub use exit::Exit;

use crate::cli::{self, Cli, Command};
use crate::config::UsageError;

pub fn run(cli: Cli, out: &mut impl Write) -> Result<Exit> {
    let config_path = cli.global.config.as_deref();
    match cli.command {
        None => export::run(&cli.export, config_path, out),
        Some(Command::Export(args)) => export::run(&args, config_path, out),
        Some(Command::Schema { json }) => {
            schema::print_schema(json, out)?;
            Ok(Exit::Success)
        }
        Some(Command::SqliteDdl { table }) => schema::print_ddl(&table, out),
        Some(Command::Simulate(args)) => simulate::run(&args, out),
        Some(Command::Verify(args)) if args.report.is_some() => {
            verify::run_report(&args, config_path, out)
        }
        Some(Command::Verify(args)) => verify::run_files(&args, config_path, out),
        Some(Command::ImportLegacy(args)) => import_legacy::run(&args, config_path, out),
        Some(Command::History(args)) => history::run(&args, config_path, out),
        Some(Command::Completions { shell: Some(shell) }) => {
            out.write_all(&cli::completion_script(shell))?;
            Ok(Exit::Success)
        }
        Some(Command::Completions { shell: None }) => Err(UsageError(format!(
            "completions needs a shell: one of {}, e.g. `parquet-exporter completions bash`",
            cli::shells().join(", ")
        ))
        .into()),
        Some(Command::Man) => {
            crate::man::render(Cli::command(), cli::EXIT_CODES, out)
                .context("writing the man page")?;
            Ok(Exit::Success)
        }
        Some(Command::Launchd {
            action,
            wrapper,
            intraday,
        }) => service::run_launchd(
            action,
            service::job_of(intraday),
            wrapper.path.as_deref(),
            config_path,
            out,
        ),
        Some(Command::Systemd {
            action,
            wrapper,
            dry,
            intraday,
        }) => service::run_systemd(
            action,
            service::job_of(intraday),
            (wrapper.path.as_deref(), dry),
            config_path,
            out,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DEFAULT_LAYOUT;
    use crate::defaults::*;
    use crate::simulate::{DEFAULT_HOST, DEFAULT_SEED};
    use clap::ValueEnum;

    /// Every `[default: X]` that `--help` shows, as (subcommand, flag, X): those written in the
    /// text and those clap adds for a default value.
    fn help_defaults() -> Vec<(String, String, String)> {
        let cli = Cli::command();
        let mut found = Vec::new();
        let mut commands = vec![("", &cli)];
        commands.extend(cli.get_subcommands().map(|s| (s.get_name(), s)));
        for (sub, cmd) in commands {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().to_string();
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let mut rest = help.as_str();
                while let Some(at) = rest.find("[default: ") {
                    let tail = &rest[at + "[default: ".len()..];
                    let end = tail.find(']').expect("a [default: …] is closed");
                    found.push((sub.to_string(), id.clone(), tail[..end].to_string()));
                    rest = &tail[end..];
                }
                let values = arg.get_default_values();
                if arg.get_action().takes_values() && !values.is_empty() {
                    let shown: Vec<_> = values.iter().map(|v| v.to_string_lossy()).collect();
                    found.push((sub.to_string(), id.clone(), shown.join(",")));
                }
            }
        }
        found.sort();
        found
    }

    /// `--help` shows the defaults config.rs resolves with (and `simulate`'s own), from the same
    /// constants: a default changed in one place changes in the other. A flag that gains a
    /// default must be added here.
    #[test]
    fn help_shows_the_defaults_the_code_uses() {
        let home = |rel: &str| format!("~/{rel}");
        let date = chrono::NaiveDate::from_ymd_opt(2025, 10, 30).unwrap();
        let report = crate::names::verification(date).replace("20251030", "YYYYMMDD");
        let wrapper = format!("{} next to this binary", WRAPPER);
        let export = [
            ("date", "yesterday in --tz".to_string()),
            ("to", "yesterday".into()),
            ("catch_up_window", DEFAULT_CATCH_UP_WINDOW.to_string()),
            ("max_days", DEFAULT_MAX_DAYS.to_string()),
            ("lock_timeout", DEFAULT_LOCK_TIMEOUT_SECS.to_string()),
            ("tz", "the system's zone".into()),
            ("redis_stream", DEFAULT_STREAM.into()),
            ("redis_ca_file", "the system's trust store".into()),
            ("redis_margin_minutes", DEFAULT_MARGIN_MINUTES.to_string()),
            ("redis_page_size", DEFAULT_PAGE_SIZE.to_string()),
            ("redis_timeout", DEFAULT_REDIS_TIMEOUT.as_secs().to_string()),
            ("sqlite_table", DEFAULT_TABLE.into()),
            ("out_dir", home(DEFAULT_OUT_DIR)),
            (
                "layout",
                DEFAULT_LAYOUT
                    .to_possible_value()
                    .unwrap()
                    .get_name()
                    .into(),
            ),
            ("summary_dir", home(DEFAULT_SUMMARY_DIR)),
            ("batch_rows", DEFAULT_BATCH_ROWS.to_string()),
            ("metrics_file", home(DEFAULT_METRICS_FILE)),
        ];
        let mut want: Vec<(&str, &str, String)> = Vec::new();
        for sub in ["", "export"] {
            want.extend(export.iter().map(|(id, x)| (sub, *id, x.clone())));
        }
        want.extend([
            (
                "",
                "config",
                format!("{} when it exists", home(DEFAULT_CONFIG)),
            ),
            ("", "log_format", "text".to_string()),
            ("sqlite-ddl", "table", DEFAULT_TABLE.into()),
            ("simulate", "date", "yesterday in --tz".into()),
            ("simulate", "tz", "the system's zone".into()),
            ("simulate", "hosts", DEFAULT_HOST.into()),
            ("simulate", "sqlite_table", DEFAULT_TABLE.into()),
            ("simulate", "redis_stream", DEFAULT_STREAM.into()),
            ("simulate", "bad", "0".into()),
            ("simulate", "seed", DEFAULT_SEED.to_string()),
            ("import-legacy", "tz", "the system's zone".into()),
            ("import-legacy", "out_dir", home(DEFAULT_OUT_DIR)),
            ("import-legacy", "summary_dir", home(DEFAULT_SUMMARY_DIR)),
            (
                "import-legacy",
                "lock_timeout",
                DEFAULT_LOCK_TIMEOUT_SECS.to_string(),
            ),
            ("import-legacy", "metrics_file", home(DEFAULT_METRICS_FILE)),
            (
                "import-legacy",
                "max_size",
                "no limit; a file over the 5 MB target is published with a warning".into(),
            ),
            (
                "verify",
                "paths",
                format!(
                    "the out dir, as `export` resolves it: {}",
                    home(DEFAULT_OUT_DIR)
                ),
            ),
            ("verify", "report", format!("<summary-dir>/{report}")),
            ("verify", "days", DEFAULT_REPORT_DAYS.to_string()),
            ("verify", "tz", "the system's zone".into()),
            ("verify", "out_dir", home(DEFAULT_OUT_DIR)),
            ("verify", "summary_dir", home(DEFAULT_SUMMARY_DIR)),
            ("verify", "sqlite_table", DEFAULT_TABLE.into()),
            ("verify", "redis_stream", DEFAULT_STREAM.into()),
            ("verify", "wrapper", wrapper.clone()),
            ("verify", "log_file", home(DEFAULT_LOG_FILE)),
            ("launchd", "wrapper", wrapper.clone()),
            (
                "history",
                "dir",
                format!("--out-dir's default, {}", home(DEFAULT_OUT_DIR)),
            ),
            ("history", "days", DEFAULT_HISTORY_DAYS.to_string()),
            ("systemd", "wrapper", wrapper),
        ]);
        let mut want: Vec<(String, String, String)> = want
            .into_iter()
            .map(|(s, id, x)| (s.to_string(), id.to_string(), x))
            .collect();
        want.sort();
        assert_eq!(help_defaults(), want);
    }
}
