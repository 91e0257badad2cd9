//! `simulate`: a realistic day of heartbeats written into a SQLite file and/or a Redis stream,
//! laid out as the real sources hold a day.

use std::io::Write;

use anyhow::{Context, Result};
use chrono::Utc;

use super::Exit;
use crate::cli::SimulateArgs;
use crate::config::{self, FileConfig, UsageError};
use crate::day::Day;
use crate::defaults::{DEFAULT_STREAM, DEFAULT_TABLE};
use crate::simulate;

pub(super) fn run(args: &SimulateArgs, out: &mut impl Write) -> Result<Exit> {
    let tz = config::resolve_tz(args.zone.tz.as_deref())?;
    let now = args.now.unwrap_or_else(Utc::now);
    let day = match args.date {
        Some(d) => Day::new(d, tz)?,
        None => Day::yesterday(now, tz)?,
    };
    // Validated as `export` validates it. The config file is not read: it names the Redis the
    // exporter reads, which is no place for simulated days.
    let redis = config::redis_target(
        args.redis.url.as_deref(),
        args.redis.ca_file.as_deref(),
        &FileConfig::default(),
    )?;
    if args.sqlite.path.is_none() && redis.is_none() {
        return Err(
            UsageError("simulate needs --sqlite PATH and/or --redis-url URL".into()).into(),
        );
    }
    if args.hosts.iter().any(|h| h.trim().is_empty()) {
        return Err(UsageError("--hosts has an empty name".into()).into());
    }
    let mut beats = simulate::beats(&day, &args.hosts, args.bad, args.seed);
    // Beats stamped after now would be records from the future: the running day stops at now.
    if day.contains(now.timestamp_millis()) {
        beats.retain(|b| b.ts_ms <= now.timestamp_millis());
        writeln!(
            out,
            "{day} is today: beats up to now ({}), none after",
            now.with_timezone(&tz).format("%H:%M")
        )?;
    }
    // With both targets, mimic the real layout: the archive lags the last hour, the hot buffer
    // holds only the afternoon, so the day has SQLite-only, shared and Redis-only records.
    let both = args.sqlite.path.is_some() && redis.is_some();
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
    if let Some(path) = &args.sqlite.path {
        let table = args.sqlite.table.as_deref().unwrap_or(DEFAULT_TABLE);
        simulate::write_sqlite(path, table, &sqlite_beats)
            .with_context(|| format!("simulating into {}", path.display()))?;
        writeln!(
            out,
            "wrote {} records for {} ({}) to {} table {}",
            sqlite_beats.len(),
            day,
            day.tz().name(),
            path.display(),
            table
        )?;
    }
    if let Some(target) = redis {
        let stream = args
            .redis
            .stream
            .stream
            .as_deref()
            .unwrap_or(DEFAULT_STREAM);
        simulate::write_redis(&target, stream, &redis_beats)?;
        writeln!(
            out,
            "wrote {} records for {} ({}) to Redis stream {}",
            redis_beats.len(),
            day,
            day.tz().name(),
            stream
        )?;
    }
    Ok(Exit::Success)
}
