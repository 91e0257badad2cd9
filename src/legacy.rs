//! The legacy Node exporter's files as raw records: its Parquet exports (string timestamps,
//! emoji statuses, every record seen so far in each file) and the monitor's heartbeat markdown
//! reports. Only reading and mapping here; `import` decides what becomes of the records.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::record::{RawRecord, RawValue, Source};
// Columns every legacy export has; `filename` (the heartbeat report's name) is its record id.
use crate::verify::LEGACY_COLUMNS;

/// The first line of a heartbeat report the monitor writes.
const REPORT_TITLE: &str = "# OPS-Atomic Monitor Heartbeat";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Parquet(PathBuf),
    Report(PathBuf),
}

impl Input {
    pub fn path(&self) -> &Path {
        match self {
            Input::Parquet(p) | Input::Report(p) => p,
        }
    }
}

/// A file that was looked at and is neither a legacy export nor a heartbeat report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

/// Files named, and the files directly inside directories named, sorted by path.
pub fn find_inputs(paths: &[PathBuf]) -> Result<(Vec<Input>, Vec<Skipped>)> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        if meta.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(p.clone());
        }
    }
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        match classify(&f) {
            Ok(input) => inputs.push(input),
            Err(why) => skipped.push(Skipped { path: f, why }),
        }
    }
    Ok((inputs, skipped))
}

fn classify(path: &Path) -> Result<Input, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => {
            let (_, plain, _) = crate::verify::open_for_reading(path)?;
            let schema = plain.schema();
            let missing: Vec<&str> = LEGACY_COLUMNS
                .into_iter()
                .filter(|c| schema.field_with_name(c).is_err())
                .collect();
            if missing.is_empty() {
                Ok(Input::Parquet(path.to_path_buf()))
            } else {
                Err(format!(
                    "not a legacy export (no column {})",
                    missing.join(", ")
                ))
            }
        }
        Some("md") => {
            let text = crate::fsio::read_text(path, crate::fsio::TEXT_LIMIT)
                .map_err(|e| format!("cannot read: {e}"))?;
            if text.lines().next().map(str::trim) == Some(REPORT_TITLE) {
                Ok(Input::Report(path.to_path_buf()))
            } else {
                Err(format!(
                    "not a heartbeat report (it does not start with {REPORT_TITLE:?})"
                ))
            }
        }
        _ => Err("neither a .parquet export nor a .md report".into()),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every row of a legacy export as a raw record, its `filename` as `record_id`.
pub fn read_parquet(path: &Path, mut sink: impl FnMut(RawRecord)) -> Result<()> {
    let name = file_name(path);
    let (file, _, views) = crate::verify::open_for_reading(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, views)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut raw = RawRecord::new(Source::Legacy, format!("{name} row {row}"));
            for (c, field) in schema.fields().iter().enumerate() {
                let col = batch.column(c);
                let value = if col.is_null(i) {
                    RawValue::Null
                } else {
                    match col.data_type() {
                        DataType::Utf8 => RawValue::Text(col.as_string::<i32>().value(i).into()),
                        DataType::Utf8View => RawValue::Text(col.as_string_view().value(i).into()),
                        DataType::LargeUtf8 => {
                            RawValue::Text(col.as_string::<i64>().value(i).into())
                        }
                        DataType::Int64 => RawValue::Int(col.as_primitive::<Int64Type>().value(i)),
                        other => RawValue::Text(format!("<{other} value>")),
                    }
                };
                let name = match field.name().as_str() {
                    "filename" => "record_id".to_string(),
                    other => other.to_string(),
                };
                raw.fields.insert(name, value);
            }
            sink(raw);
            row += 1;
        }
    }
    Ok(())
}

/// Whether a check line says `phrase` without negating it ("Redis responding", not "Redis not
/// responding").
fn says(line: &str, phrase: &str) -> bool {
    let l = line.to_lowercase();
    l.contains(phrase) && !l.contains(&format!("not {phrase}"))
}

/// A heartbeat report as a raw record, mapped as the old exporter did: its file name is the
/// record id; Redis responding → ok, else error; database file exists → ok, else error; API
/// endpoint responding → ok, else warn; a launch agent loaded → loaded, else not_loaded. A
/// check the report does not have is absent (unknown).
pub fn read_report(path: &Path) -> Result<RawRecord> {
    let text = crate::fsio::read_text(path, crate::fsio::TEXT_LIMIT)
        .with_context(|| format!("reading {}", path.display()))?;
    let name = file_name(path);
    let mut raw = RawRecord::new(Source::Legacy, name.clone());
    raw.fields.insert("record_id", RawValue::Text(name));
    let mut section = "";
    let value = |line: &str, key: &str| -> Option<String> {
        line.trim()
            .trim_start_matches("- ")
            .strip_prefix(&format!("**{key}:**"))
            .map(|v| v.trim().to_string())
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix("### ") {
            section = match h.trim() {
                "Redis" => "redis",
                "Database" => "database",
                "API Endpoints" => "api",
                "LaunchAgents" => "agents",
                _ => "",
            };
            continue;
        }
        if t.starts_with("## ") {
            section = "";
        }
        for (key, field) in [
            ("Timestamp", "timestamp"),
            ("Status", "status"),
            ("Duration", "duration_ms"),
        ] {
            if section.is_empty() && raw.fields.get(field).is_none() {
                if let Some(v) = value(t, key) {
                    raw.fields.insert(field, RawValue::Text(v));
                }
            }
        }
        let check = match section {
            "redis" => value(t, "Status").map(|v| {
                let ok = says(&v, "responding");
                ("redis_status", if ok { "ok" } else { "error" })
            }),
            "database" => value(t, "Status").map(|v| {
                let ok = says(&v, "exists");
                ("database_status", if ok { "ok" } else { "error" })
            }),
            "api" => value(t, "API Health").map(|v| {
                let ok = says(&v, "responding");
                ("api_status", if ok { "ok" } else { "warn" })
            }),
            "agents" => ["optimizer", "digest"].into_iter().find_map(|agent| {
                value(t, &format!("com.02luka.{agent}")).map(|v| {
                    let field = if agent == "optimizer" {
                        "launchagent_optimizer"
                    } else {
                        "launchagent_digest"
                    };
                    (
                        field,
                        if says(&v, "loaded") {
                            "loaded"
                        } else {
                            "not_loaded"
                        },
                    )
                })
            }),
            _ => None,
        };
        if let Some((field, v)) = check {
            raw.fields.insert(field, RawValue::Text(v.to_string()));
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::normalize;

    const REPORT: &str = "# OPS-Atomic Monitor Heartbeat

**Timestamp:** 2025-11-13T06:11:35.578Z
**Status:** ✅ HEALTHY
**Duration:** 60ms

---

## Health Checks

### Redis

- **Status:** ✅ Redis responding

### Database

- **Status:** ❌ Database file not found

### API Endpoints

- **API Health:** ⚠️ Endpoint not responding

### LaunchAgents

- **com.02luka.optimizer:** ✅ LaunchAgent loaded
- **com.02luka.digest:** ❌ LaunchAgent not loaded

---

## Summary

**Status:** this line is not the record's status
";

    #[test]
    fn a_report_maps_to_the_five_fixed_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("heartbeat_2025-11-13_06-11-35.md");
        std::fs::write(&p, REPORT).unwrap();
        let (inputs, skipped) = find_inputs(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(inputs, [Input::Report(p.clone())]);
        assert!(skipped.is_empty());
        let r = normalize(&read_report(&p).unwrap()).unwrap();
        assert_eq!(r.record_id, "heartbeat_2025-11-13_06-11-35.md");
        assert_eq!(r.ts_ms, 1_763_014_295_578);
        assert_eq!(r.status.as_str(), "healthy");
        assert_eq!(r.duration_ms, Some(60));
        assert_eq!(r.host(), None);
        let checks = crate::columns::FIXED_COLS.map(|c| r.fixed.word(c));
        assert_eq!(checks, ["ok", "error", "warn", "loaded", "not_loaded"]);
    }

    #[test]
    fn other_files_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.md"), "# Parquet Export Summary\n").unwrap();
        std::fs::write(dir.path().join("x.parquet"), "not parquet").unwrap();
        std::fs::write(dir.path().join("a.txt"), "").unwrap();
        let (inputs, skipped) = find_inputs(&[dir.path().to_path_buf()]).unwrap();
        assert!(inputs.is_empty());
        let why: Vec<&str> = skipped.iter().map(|s| s.why.as_str()).collect();
        assert_eq!(why.len(), 3);
        assert!(why[1].starts_with("not a heartbeat report"), "{why:?}");
        assert!(why[2].starts_with("not a readable Parquet file"), "{why:?}");
    }
}
