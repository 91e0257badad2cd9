//! The Grafana dashboard's queries, run for real: each panel's SQL is taken from
//! `dashboards/ops_atomic.json`, Grafana's macros are expanded the way the DuckDB data source
//! expands them (its SQL macro set: `$__timeFilter(x)` becomes `x >= 'from' AND x <= 'to'`), the
//! interval and the directory variable are filled in, and DuckDB runs it over exported days.
//! Grafana itself is not run; its queries are.

use crate::common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{exporter, python, run};
use serde_json::Value;

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/ops_atomic.json");
const DAYS: [&str; 3] = ["2025-10-28", "2025-10-29", "2025-10-30"];
const FROM: &str = "2025-10-28T00:00:00Z";
const TO: &str = "2025-10-30T23:59:59Z";

/// Replaces each `$__name(arg)` with `expand(arg)`. Like the data source, the argument runs to
/// the matching parenthesis and may hold no comma (the data source splits arguments on commas).
fn expand_macro(sql: &str, name: &str, expand: impl Fn(&str) -> String) -> String {
    let open = format!("$__{name}(");
    let mut out = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find(&open) {
        out.push_str(&rest[..at]);
        let args = &rest[at + open.len()..];
        let mut depth = 1;
        let end = args
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("unclosed {open} in {sql}"));
        let arg = args[..end].trim();
        assert!(
            !arg.contains(','),
            "{open}{arg}): the data source would split this on its comma"
        );
        out.push_str(&expand(arg));
        rest = &args[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A panel's SQL as the data source would send it to DuckDB.
fn interpolate(sql: &str, dir: &Path) -> String {
    let sql = expand_macro(sql, "timeFilter", |c| {
        format!("{c} >= '{FROM}' AND {c} <= '{TO}'")
    });
    let sql = expand_macro(&sql, "timeFrom", |c| format!("{c} >= '{FROM}'"));
    let sql = expand_macro(&sql, "timeTo", |c| format!("{c} <= '{TO}'"));
    let sql = sql
        .replace("$__interval_ms", "300000")
        .replace("${dir}", &dir.display().to_string());
    assert!(!sql.contains('$'), "a macro or variable is left: {sql}");
    sql
}

/// Three days, two hosts, a few malformed records each day, exported into `home/out`.
fn export_days(home: &Path) -> std::path::PathBuf {
    common::archive_of(home, "UTC", &DAYS, "mini,book", 3);
    for day in DAYS {
        let out = run(exporter(home)
            .args(["--date", day, "--tz", "UTC", "--sqlite", "ops.db"])
            .args(["--out-dir", "out", "--summary-dir", "out"]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    home.join("out")
}

struct Answer {
    columns: Vec<String>,
    types: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Runs every query in DuckDB (Python), each on its own connection.
fn duckdb(queries: &BTreeMap<String, String>) -> BTreeMap<String, Answer> {
    let script = r#"
import duckdb, json, sys
out = {}
for title, sql in json.load(sys.stdin).items():
    try:
        rel = duckdb.connect().sql(sql)
        rows = [[v if isinstance(v, (int, float, str)) or v is None else str(v) for v in r] for r in rel.fetchall()]
        out[title] = {"columns": rel.columns, "types": [str(t) for t in rel.types], "rows": rows}
    except Exception as e:
        out[title] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(out))
"#;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with duckdb (bash .ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(queries).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    doc.into_iter()
        .map(|(title, a)| {
            if let Some(e) = a.get("error") {
                panic!("panel {title:?} fails in DuckDB: {e}\n{}", queries[&title]);
            }
            let strings = |k: &str| -> Vec<String> {
                a[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            let answer = Answer {
                columns: strings("columns"),
                types: strings("types"),
                rows: serde_json::from_value(a["rows"].clone()).unwrap(),
            };
            (title, answer)
        })
        .collect()
}

fn panels() -> Vec<Value> {
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    assert_eq!(
        dash["refresh"], "10m",
        "the ops team asked for a 10-minute refresh"
    );
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "dir"));
    dash["panels"].as_array().unwrap().clone()
}

#[test]
fn every_panel_query_runs_in_duckdb_over_exported_days() {
    let home = tempfile::tempdir().unwrap();
    let dir = export_days(home.path());

    // The columns each panel must return; a panel missing here (or here but not in the
    // dashboard) fails the test, so a new panel cannot go untested.
    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("Status over time", &["time", "status", "beats"][..]),
        ("Non-healthy beats per hour", &["time", "non_healthy"][..]),
        (
            "Check duration percentiles",
            &["time", "p50", "p95", "p99"][..],
        ),
        (
            "Per-host gaps",
            &["host", "beats", "gaps", "longest_gap_min", "last_beat"][..],
        ),
        (
            "Rejects and verdict per day",
            &["time", "verdict", "rows", "rejected", "merged", "conflicts"][..],
        ),
        (
            "Failures per check",
            &["check", "failures", "warnings", "beats"][..],
        ),
    ]);
    let mut queries = BTreeMap::new();
    for p in panels() {
        let title = p["title"].as_str().unwrap().to_string();
        assert_eq!(
            p["datasource"]["type"], "motherduck-duckdb-datasource",
            "{title}"
        );
        let targets = p["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{title}");
        let sql = targets[0]["rawSql"].as_str().unwrap();
        queries.insert(title, interpolate(sql, &dir));
    }
    let titles: Vec<&str> = queries.keys().map(String::as_str).collect();
    assert_eq!(titles, expected.keys().copied().collect::<Vec<_>>());

    let answers = duckdb(&queries);
    for (title, want) in &expected {
        let a = &answers[*title];
        assert_eq!(a.columns, *want, "{title}");
        assert!(!a.rows.is_empty(), "{title} returned no row");
        if a.columns[0] == "time" {
            assert!(
                a.types[0].starts_with("TIMESTAMP"),
                "{title}: time is {}",
                a.types[0]
            );
        }
    }

    // The numbers agree with what the exports reported.
    let total_rows = |a: &Answer, col: &str| -> i64 {
        let i = a.columns.iter().position(|c| c == col).unwrap();
        a.rows.iter().map(|r| r[i].as_i64().unwrap()).sum()
    };
    let days = &answers["Rejects and verdict per day"];
    assert_eq!(days.rows.len(), 3);
    let rows_in_files = total_rows(days, "rows");
    assert_eq!(
        rows_in_files,
        3 * 2 * 288,
        "two hosts, 288 beats a day each"
    );
    assert_eq!(
        total_rows(days, "rejected"),
        9,
        "three malformed records a day"
    );
    assert!(days.rows.iter().all(|r| r[1] == "success"));
    assert_eq!(
        total_rows(&answers["Status over time"], "beats"),
        rows_in_files
    );
    assert_eq!(
        total_rows(&answers["Per-host gaps"], "beats"),
        rows_in_files
    );
    let hosts = &answers["Per-host gaps"];
    let names: Vec<&str> = hosts.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"mini") && names.contains(&"book"));
    let checks = &answers["Failures per check"];
    for fixed in [
        "redis",
        "database",
        "api",
        "launchagent_optimizer",
        "launchagent_digest",
    ] {
        let row = checks
            .rows
            .iter()
            .find(|r| r[0] == fixed)
            .unwrap_or_else(|| panic!("{fixed}"));
        assert_eq!(
            row[3].as_i64(),
            Some(rows_in_files),
            "{fixed}: one state per beat"
        );
    }
}

#[test]
fn the_macro_expansion_matches_the_data_source() {
    let sql = interpolate(
        "WHERE $__timeFilter(\"timestamp\") AND $__timeTo(CAST(day AS TIMESTAMP)) LIMIT $__interval_ms",
        Path::new("/d"),
    );
    assert_eq!(
        sql,
        format!(
            "WHERE \"timestamp\" >= '{FROM}' AND \"timestamp\" <= '{TO}' AND CAST(day AS TIMESTAMP) <= '{TO}' LIMIT 300000"
        )
    );
}
