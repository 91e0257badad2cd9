//! `history`: one line per day from the day files in a directory, newest first, with the days
//! that have no file. Figures come from the footer where it holds them (rows, merged, rejected,
//! verdict), and from four projected columns for the rest (statuses, hosts, gaps).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::Serialize;

use crate::batch;
use crate::contract::footer;
use crate::day::Day;
use crate::gaps::gaps_of;
use crate::record::Interner;
use crate::{names, verify};

#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryDay {
    pub day: String,
    /// The instance whose file this is (`--instance`), when the file is named for one.
    pub instance: Option<String>,
    /// `ok`, `missing` (no file) or `unreadable` (see `problem`).
    pub state: &'static str,
    pub rows: u64,
    /// Heartbeats received over those expected: each host seen, every 5 minutes all day.
    pub coverage_pct: f64,
    /// The heartbeats, and those expected (hosts seen × 5-minute slots of the day).
    pub beats: u64,
    pub expected_beats: u64,
    pub healthy_pct: f64,
    pub warnings: u64,
    pub critical: u64,
    pub rejected: u64,
    pub merged: u64,
    pub gaps: u64,
    pub hosts: u64,
    /// The export's verdict, as its footer records it.
    pub verdict: Option<String>,
    /// For an intraday file (the running day), the local time (`HH:MM`) it covers up to.
    pub so_far_until: Option<String>,
    pub problem: Option<String>,
    pub path: Option<PathBuf>,
}

/// The last `days` days up to the newest day file in `dir`, newest first, and none before the
/// oldest day file: days before the first export are not missing. A day that several instances
/// exported has a line for each instance's file.
pub fn history(dir: &Path, days: u32) -> Result<Vec<HistoryDay>> {
    let mut files: BTreeMap<NaiveDate, Vec<(Option<String>, PathBuf)>> = BTreeMap::new();
    if !dir.exists() {
        anyhow::bail!(
            "{} does not exist: pass the folder of the day files, `parquet-exporter history DIR`",
            crate::escape::plain(&dir.display().to_string())
        );
    }
    if !dir.is_dir() {
        anyhow::bail!("listing {}: not a directory", dir.display());
    }
    // Flat or hive layout, with or without instances: the one rule says what is a day file.
    for rel in verify::relative_files(dir, 3)? {
        if let Some((d, layout)) = names::day_file_of(&rel) {
            files
                .entry(d)
                .or_default()
                .push((layout.instance, dir.join(&rel)));
        }
    }
    let (Some(&first), Some(&newest)) = (files.keys().next(), files.keys().next_back()) else {
        return Ok(Vec::new());
    };
    let oldest = (newest - chrono::Days::new(u64::from(days.max(1)) - 1)).max(first);
    let mut out = Vec::new();
    let mut d = newest;
    while d >= oldest {
        match files.get(&d) {
            Some(found) => out.extend(found.iter().map(|(i, p)| day_of(p, d, i.clone()))),
            None => out.push(HistoryDay {
                day: d.to_string(),
                state: "missing",
                ..Default::default()
            }),
        }
        let Some(prev) = d.pred_opt() else { break };
        d = prev;
    }
    Ok(out)
}

fn day_of(path: &Path, date: NaiveDate, instance: Option<String>) -> HistoryDay {
    let mut h = HistoryDay {
        day: date.to_string(),
        instance,
        path: Some(path.to_path_buf()),
        ..Default::default()
    };
    match read(path, &mut h) {
        Ok(()) => h.state = "ok",
        Err(problem) => {
            h.state = "unreadable";
            h.problem = Some(problem);
        }
    }
    h
}

fn read(path: &Path, h: &mut HistoryDay) -> Result<(), String> {
    let footer = verify::read_footer(path)?;
    let num = |k: &str| {
        footer
            .kv
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    h.rows = footer.rows.max(0) as u64;
    h.merged = num(footer::MERGED);
    h.rejected = num(footer::REJECTED);
    h.verdict = footer.verdict().map(str::to_string);
    let until = footer
        .kv
        .get(footer::COVERS_UNTIL)
        .and_then(|u| chrono::DateTime::parse_from_rfc3339(u).ok());
    let day = match (footer.kv.get(footer::DAY), footer.kv.get(footer::TIMEZONE)) {
        (Some(d), Some(tz)) => match (d.parse(), tz.parse::<chrono_tz::Tz>()) {
            // An intraday file's day runs to its cut: its coverage is of the day so far.
            (Ok(d), Ok(tz)) => match until {
                Some(u) => {
                    h.so_far_until = Some(u.with_timezone(&tz).format("%H:%M").to_string());
                    Day::new(d, tz)
                        .map_err(|e| e.to_string())?
                        .until(u.timestamp_millis())
                }
                None => Day::new(d, tz).map_err(|e| e.to_string())?,
            },
            _ => {
                return Err(format!(
                    "footer day {d:?} or time zone {tz:?} does not parse"
                ))
            }
        },
        _ => return Err("not a schema-v1 export: its footer has no day and time zone".into()),
    };
    let (file, plain, views) = verify::open_for_reading(path)?;
    if plain.schema().fields() != batch::schema().fields() {
        return Err("not a schema-v1 export (verify says how it differs)".into());
    }
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views);
    // report_type, timestamp, status, host: what the footer does not hold.
    let mask = ProjectionMask::roots(
        builder.parquet_schema(),
        batch::cols(["report_type", "timestamp", "status", "host"]),
    );
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| format!("cannot read the data: {e}"))?;
    let mut strings = Interner::default();
    let mut beats: Vec<(Arc<str>, i64)> = Vec::new();
    let mut hosts = BTreeSet::new();
    let mut healthy = 0u64;
    for b in reader {
        let b = b.map_err(|e| format!("cannot read the data: {e}"))?;
        let (types, ts, statuses, host) = (
            b.column(0).as_string_view(),
            b.column(1).as_primitive::<TimestampMillisecondType>(),
            b.column(2).as_string_view(),
            b.column(3).as_string_view(),
        );
        for i in 0..b.num_rows() {
            match statuses.value(i) {
                "healthy" => healthy += 1,
                "warnings" => h.warnings += 1,
                _ => h.critical += 1,
            }
            let name = strings.intern(if host.is_null(i) { "-" } else { host.value(i) });
            hosts.insert(name.clone());
            if types.value(i) == "heartbeat" {
                beats.push((name, ts.value(i)));
            }
        }
    }
    h.hosts = hosts.len() as u64;
    if h.rows > 0 {
        h.healthy_pct = healthy as f64 * 100.0 / h.rows as f64;
    }
    h.gaps = gaps_of(beats.iter().map(|(host, t)| (&**host, *t)), &day).count as u64;
    h.beats = beats.len() as u64;
    h.expected_beats = expected_of(&beats, &day);
    if h.hosts > 0 {
        h.coverage_pct = crate::contract::coverage_pct(h.beats, h.expected_beats);
    }
    Ok(())
}

/// The beats the day's hosts owe, as the summary counts them (`contract::expected_beats`):
/// each host with a heartbeat, from the day's start up to its end or the file's cut.
fn expected_of(beats: &[(Arc<str>, i64)], day: &Day) -> u64 {
    let hosts: BTreeSet<&str> = beats.iter().map(|(host, _)| &**host).collect();
    hosts.len() as u64 * crate::contract::expected_beats(day.start_ms(), day.end_ms())
}
