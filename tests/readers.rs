//! The readers users point at the out dir, run the way the README shows them: its "Reading the
//! files" snippets (pyarrow, DuckDB, polars, Spark in local mode) are taken out of README.md
//! and run as written by `tests/readers.py`, over three exported days in each layout (the hive
//! one by two instances), with rejected records. Each reader must see every day with its row
//! count, `timestamp` as a UTC timestamp, `checks` as a map, and in the hive layout `day` and
//! `instance` as columns, with a filter on `day` skipping the other days' files.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{python, THREE_DAYS};
use serde_json::Value;

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/readers.py");
/// Rows a day in one export: two hosts, 288 beats each.
const ROWS_A_DAY: i64 = 2 * 288;

/// The python blocks of the README's "Reading the files" section, in order.
fn readme_snippets() -> Vec<String> {
    let readme = std::fs::read_to_string(README).unwrap();
    let start = readme
        .find("\n## Reading the files")
        .expect("README section Reading the files");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    section
        .split("```python\n")
        .skip(1)
        .map(|b| b[..b.find("```").unwrap()].to_string())
        .collect()
}

/// Every file under `root`, relative to it.
fn files(root: &Path) -> Vec<String> {
    common::files_under(root)
}

#[test]
fn the_readmes_readers_read_both_layouts_from_the_root() {
    let snippets = readme_snippets();
    assert_eq!(
        snippets.len(),
        5,
        "root, then pyarrow, DuckDB, polars, Spark: {snippets:#?}"
    );
    for (code, reader) in snippets[1..]
        .iter()
        .zip(["pyarrow", "duckdb", "polars", "pyspark"])
    {
        assert!(code.contains(reader), "{reader} snippet: {code}");
    }

    let flat_home = tempfile::tempdir().unwrap();
    let hive_home = tempfile::tempdir().unwrap();
    let default_out = |h: &Path| h.join("02luka/g/analytics");
    common::export_three_days(flat_home.path(), &default_out(flat_home.path()), false);
    common::export_three_days(hive_home.path(), &default_out(hive_home.path()), true);
    // Only day files under the root: rejects and locks live beside the summaries.
    for (home, copies) in [(&flat_home, 1), (&hive_home, 2)] {
        let all = files(&default_out(home.path()));
        assert_eq!(all.len(), 3 * copies, "{all:?}");
        assert!(all.iter().all(|f| f.ends_with(".parquet")), "{all:?}");
    }

    let job = serde_json::json!({
        "snippets": snippets,
        "homes": { "flat": flat_home.path(), "hive": hive_home.path() },
        "days": THREE_DAYS,
    });
    let out = common::run_with_stdin(
        Command::new(python()).arg(HARNESS),
        job.to_string().as_bytes(),
    );
    let report: BTreeMap<String, Value> = serde_json::from_slice(&out).unwrap();

    let want_types = BTreeMap::from([
        ("pyarrow", ("timestamp[ms, tz=UTC]", ("string", "string"))),
        ("duckdb", ("TIMESTAMP WITH TIME ZONE", ("DATE", "VARCHAR"))),
        (
            "polars",
            (
                "Datetime(time_unit='ms', time_zone='UTC')",
                ("Date", "String"),
            ),
        ),
        ("spark", ("TimestampType", ("DateType", "StringType"))),
    ]);
    for (layout, copies) in [("flat", 1), ("hive", 2)] {
        let entry = &report[layout];
        let seen = &entry["seen"];
        for (reader, (ts, (day, instance))) in &want_types {
            let s = &seen[*reader];
            let case = format!("{reader}, {layout} layout");
            for d in THREE_DAYS {
                assert_eq!(
                    s["rows_per_day"][d].as_i64(),
                    Some(copies * ROWS_A_DAY),
                    "{case}: {d}: {s}"
                );
            }
            assert_eq!(
                s["rows_per_day"].as_object().unwrap().len(),
                3,
                "{case}: {s}"
            );
            assert_eq!(s["timestamp"], *ts, "{case}");
            assert_eq!(s["checks_is_map"], true, "{case}");
            let parts = s["partitions"].as_object().unwrap();
            if layout == "hive" {
                assert_eq!(parts["day"], *day, "{case}");
                assert_eq!(parts["instance"], *instance, "{case}");
            } else {
                assert!(
                    parts.is_empty(),
                    "{case}: the flat layout has no partition column: {parts:?}"
                );
            }
        }
        assert_eq!(
            seen["duckdb_any_file"].as_i64(),
            Some(copies * 3 * ROWS_A_DAY),
            "DuckDB root/**, {layout}"
        );
    }
    for (reader, n) in report["hive"]["pruned"].as_object().unwrap() {
        assert_eq!(
            n.as_i64(),
            Some(2 * ROWS_A_DAY),
            "{reader}: a filter on day must skip the other days' files: {n}"
        );
    }
}
