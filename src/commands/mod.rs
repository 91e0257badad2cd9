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
            wrapper.as_deref(),
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
            (wrapper.as_deref(), dry),
            config_path,
            out,
        ),
    }
}
