//! Runs a parsed command line and decides the exit status, in one place.

use std::io::Write;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::cli::{Cli, Command, ExportArgs, SimulateArgs, VerifyArgs};
use crate::config::{self, Config, UsageError, ENV_REDIS_PASSWORD, ENV_REDIS_URL};
use crate::day::Day;
use crate::export::{self, NoSourceError, RunReport, Verdict};
use crate::source::redis::{url_has_password, Target};
use crate::{batch, simulate, source};

/// Documented exit statuses (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failed = 1,
    Usage = 2,
    Partial = 3,
    Empty = 4,
    NoSource = 5,
}

impl Exit {
    pub fn of_verdict(v: Verdict) -> Exit {
        match v {
            Verdict::Success => Exit::Success,
            Verdict::Partial => Exit::Partial,
            Verdict::Empty => Exit::Empty,
            Verdict::Failed => Exit::Failed,
        }
    }

    /// The status for an error that stopped a run.
    pub fn of_error(e: &anyhow::Error) -> Exit {
        if e.downcast_ref::<UsageError>().is_some() {
            Exit::Usage
        } else if e.downcast_ref::<NoSourceError>().is_some() {
            Exit::NoSource
        } else {
            Exit::Failed
        }
    }
}

pub fn run(cli: Cli, out: &mut impl Write) -> Result<Exit> {
    let config_path = cli.global.config.as_deref();
    match cli.command {
        None => run_export(&cli.export, config_path, out),
        Some(Command::Export(args)) => run_export(&args, config_path, out),
        Some(Command::Schema { json }) => {
            print_schema(json, out)?;
            Ok(Exit::Success)
        }
        Some(Command::SqliteDdl { table }) => {
            if !source::sqlite::valid_table_name(&table) {
                return Err(
                    UsageError(format!("table name {table:?} is not a plain identifier")).into(),
                );
            }
            write!(out, "{}", source::sqlite::ddl(&table))?;
            Ok(Exit::Success)
        }
        Some(Command::Simulate(args)) => {
            run_simulate(&args, out)?;
            Ok(Exit::Success)
        }
        Some(Command::Verify(args)) => run_verify(&args, out),
    }
}

fn run_verify(args: &VerifyArgs, out: &mut impl Write) -> Result<Exit> {
    if !(args.max_size.is_finite() && args.max_size > 0.0) {
        return Err(UsageError("--max-size must be a positive number of MB".into()).into());
    }
    let max_bytes = (args.max_size * 1e6) as u64;
    let report = crate::verify::verify_paths(&args.paths, max_bytes);
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", crate::verify::render_text(&report, max_bytes))?;
    }
    Ok(if report.ok {
        Exit::Success
    } else {
        Exit::Failed
    })
}

fn run_export(
    args: &ExportArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let cfg = Config::resolve(args, config_path)?;
    tracing::info!(day = %cfg.day, tz = cfg.day.tz().name(), dry = cfg.dry, "export starting");
    let report = export::run(&cfg)?;
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
    writeln!(out, "verdict:  {}", r.verdict.as_str())?;
    for s in &r.sources {
        write!(
            out,
            "source:   {} {}: {}, read {}, rejected {}",
            s.name, s.location, s.state, s.counts.read, s.counts.rejected
        )?;
        match &s.error {
            Some(e) => writeln!(out, " ({e})")?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "rows:     {} (merged {}, conflicts {}, rejected {})",
        r.rows, r.merged, r.conflicts, r.rejected
    )?;
    if let Some(p) = &r.parquet {
        writeln!(out, "parquet:  {p} ({} bytes)", r.bytes.unwrap_or(0))?;
    }
    if let Some(p) = &r.rejects_file {
        writeln!(out, "rejects:  {p}")?;
    }
    if let Some(p) = &r.summary {
        writeln!(out, "summary:  {p}")?;
    }
    if let Some(c) = &r.readback {
        if !c.ok() {
            writeln!(out, "read-back FAILED: {}", c.problems.join("; "))?;
        }
    }
    Ok(())
}

fn print_schema(json: bool, out: &mut impl Write) -> Result<()> {
    let schema = batch::schema();
    if json {
        let cols: Vec<_> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| serde_json::json!({"position": i + 1, "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
            .collect();
        let doc = serde_json::json!({"schema_version": batch::SCHEMA_VERSION, "fingerprint": crate::verify::fingerprint(&schema), "columns": cols});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "schema v{} (fingerprint {})",
        batch::SCHEMA_VERSION,
        crate::verify::fingerprint(&schema)
    )?;
    writeln!(out, "{:>3}  {:<22} {:<40} nullable", "#", "column", "type")?;
    for (i, f) in schema.fields().iter().enumerate() {
        writeln!(
            out,
            "{:>3}  {:<22} {:<40} {}",
            i + 1,
            f.name(),
            f.data_type().to_string(),
            if f.is_nullable() { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

fn run_simulate(args: &SimulateArgs, out: &mut impl Write) -> Result<()> {
    let tz = config::resolve_tz(args.tz.as_deref())?;
    let day = match args.date {
        Some(d) => Day::new(d, tz)?,
        None => Day::yesterday(Utc::now(), tz)?,
    };
    if args.redis_url.as_deref().is_some_and(url_has_password) {
        return Err(UsageError(format!(
            "--redis-url must not carry a password; use {ENV_REDIS_PASSWORD}"
        ))
        .into());
    }
    let redis_url = args
        .redis_url
        .clone()
        .or_else(|| std::env::var(ENV_REDIS_URL).ok().filter(|u| !u.is_empty()));
    if args.sqlite.is_none() && redis_url.is_none() {
        return Err(
            UsageError("simulate needs --sqlite PATH and/or --redis-url URL".into()).into(),
        );
    }
    if args.hosts.iter().any(|h| h.trim().is_empty()) {
        return Err(UsageError("--hosts has an empty name".into()).into());
    }
    let beats = simulate::beats(&day, &args.hosts, args.bad, args.seed);
    // With both targets, mimic the real layout: the archive lags the last hour, the hot buffer
    // holds only the afternoon, so the day has SQLite-only, shared and Redis-only records.
    let both = args.sqlite.is_some() && redis_url.is_some();
    let (sqlite_beats, redis_beats): (Vec<_>, Vec<_>) = if both {
        let noon = day.start_ms() + 12 * 3_600_000;
        let last_hour = day.end_ms() - 3_600_000;
        (
            beats
                .iter()
                .filter(|b| b.ts_ms < last_hour)
                .cloned()
                .collect(),
            beats.iter().filter(|b| b.ts_ms >= noon).cloned().collect(),
        )
    } else {
        (beats.clone(), beats.clone())
    };
    if let Some(path) = &args.sqlite {
        simulate::write_sqlite(path, &args.sqlite_table, &sqlite_beats)
            .with_context(|| format!("simulating into {}", path.display()))?;
        writeln!(
            out,
            "wrote {} records for {} ({}) to {} table {}",
            sqlite_beats.len(),
            day,
            day.tz().name(),
            path.display(),
            args.sqlite_table
        )?;
    }
    if let Some(url) = redis_url {
        let target = Target {
            url,
            password: std::env::var(ENV_REDIS_PASSWORD).ok(),
        };
        simulate::write_redis(&target, &args.redis_stream, &redis_beats)?;
        writeln!(
            out,
            "wrote {} records for {} ({}) to Redis stream {}",
            redis_beats.len(),
            day,
            day.tz().name(),
            args.redis_stream
        )?;
    }
    Ok(())
}
