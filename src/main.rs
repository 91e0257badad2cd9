//! Entry point: parse the command line, run it, map the outcome to the exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use parquet_exporter::cli::{Cli, LogFormat};
use parquet_exporter::commands::{self, Exit};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Read while this is the only thread: reading the umask sets it for a moment.
    parquet_exporter::fsio::umask();
    let cli = Cli::parse();
    let default_level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let json = cli.global.log_format == LogFormat::Json;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(|| commands::LogOut)
        .with_target(false);
    if json {
        logs.json().with_ansi(false).init();
    } else {
        // Colour only for a person at a terminal: the launchd and wrapper logs are files.
        logs.with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init();
    }

    // Taken before the run, which consumes the command line; written once its status is known.
    let metrics = parquet_exporter::metrics::MetricsRun::of(&cli);
    let mut stdout = commands::ClosedPipeOk::new(std::io::stdout().lock());
    let exit = match commands::run(cli, &mut stdout) {
        Ok(exit) => exit,
        Err(e) => {
            let exit = Exit::of_error(&e);
            report(json, exit, &format!("{e:#}"));
            exit
        }
    };
    // Whatever is still buffered, written now: a closed pipe here is no failure either, but a
    // full disk is, or the report's last line would be lost without a word.
    let exit = match stdout.flush() {
        Err(e) => {
            report(json, Exit::Failed, &e.to_string());
            Exit::Failed
        }
        Ok(()) => exit,
    };
    if let Some(m) = metrics {
        m.finish(exit as u8);
    }
    ExitCode::from(exit as u8)
}

/// The error that ends the run, on stderr.
fn report(json: bool, exit: Exit, text: &str) {
    if json {
        // A log shipper reads stderr line by line: the error is one more JSON line.
        tracing::error!(exit = exit as u8, "{text}");
    } else {
        eprintln!("parquet-exporter: error: {text}");
    }
}
