//! `history`: a line per day from the day files, the missing and unreadable ones included.

use crate::common;

use common::{archive, exporter, run};

#[test]
fn history_reports_every_day_missing_broken_and_legacy_ones_too() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let days = [
        "2025-10-21",
        "2025-10-22",
        "2025-10-23",
        "2025-10-25",
        "2025-10-26",
    ];
    archive(h, "UTC", &days);
    for d in days {
        let out = run(common::export_cmd(h, "UTC").args(["--date", d, "--sqlite", "ops.db"]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    // 2025-10-24 is missing; 2025-10-25 is cut short; 2025-10-28 is the old exporter's file.
    let good = std::fs::read(h.join("out/ops_atomic_20251025.parquet")).unwrap();
    std::fs::write(
        h.join("out/ops_atomic_20251025.parquet"),
        &good[..good.len() / 2],
    )
    .unwrap();
    common::write_legacy_rows(
        &h.join("out/ops_atomic_20251028.parquet"),
        &common::legacy_beats(1_761_595_200_000, 50),
    );

    let out = run(exporter(h).args(["history", "out", "--days", "8"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 8, "{}", out.stdout);
    assert!(
        lines[0].starts_with("2025-10-28  unreadable: not a schema-v1 export"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("2025-10-27  missing"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("2025-10-26  rows     288"),
        "{}",
        lines[2]
    );
    assert!(lines[2].ends_with("success"), "{}", lines[2]);
    assert!(
        lines[3].starts_with("2025-10-25  unreadable: not a readable Parquet file"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].contains(
            "missing: no day file (parquet-exporter --from 2025-10-24 --to 2025-10-24 fills it)"
        ),
        "{}",
        lines[4]
    );

    let out = run(exporter(h).args(["history", "out", "--days", "8", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let day = &doc["days"][2];
    assert_eq!(
        (day["day"].as_str(), day["state"].as_str()),
        (Some("2025-10-26"), Some("ok"))
    );
    assert_eq!(day["rows"], 288);
    assert_eq!(day["hosts"], 1);
    assert_eq!(day["gaps"], 0);
    // The same figures as the export reported for that day (a re-run gives the same rows).
    let export = run(exporter(h).args([
        "--date",
        "2025-10-26",
        "--tz",
        "UTC",
        "--sqlite",
        "ops.db",
        "--json",
        "--dry",
    ]));
    let report: serde_json::Value = serde_json::from_str(&export.stdout).unwrap();
    assert_eq!(day["warnings"], report["statuses"]["warnings"]);
    assert_eq!(day["critical"], report["statuses"]["critical"]);
    let healthy = report["statuses"]["healthy"].as_f64().unwrap() * 100.0 / 288.0;
    assert!(
        (day["healthy_pct"].as_f64().unwrap() - healthy).abs() < 1e-9,
        "{day}"
    );
    assert!(day["coverage_pct"].as_f64().unwrap() > 99.0, "{day}");

    // The picture: one group per day, the missing and unreadable ones marked; a real renderer
    // draws it.
    let out = run(exporter(h).args(["history", "out", "--days", "8", "--svg", "trend.svg"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let svg = std::fs::read_to_string(h.join("trend.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let class = |c: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .count()
    };
    assert_eq!(
        (class("day"), class("day missing"), class("day unreadable")),
        (4, 2, 2)
    );
    common::render_svg(&h.join("trend.svg"), &h.join("trend.png"));
}

/// A young deployment: days before the first day file are not missing, and consecutive
/// missing days are one line with the one command that fills them.
#[test]
fn missing_days_are_one_line_a_run_and_none_before_the_first_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    archive(h, "UTC", &["2025-10-01", "2025-10-05"]);
    for d in ["2025-10-01", "2025-10-05"] {
        let out = run(common::export_cmd(h, "UTC").args(["--date", d, "--sqlite", "ops.db"]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let out = run(exporter(h).args(["history", "out", "--days", "30"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].starts_with("2025-10-05  rows"), "{}", lines[0]);
    assert_eq!(
        lines[1],
        "2025-10-04 … 2025-10-02  missing: 3 days without a day file (parquet-exporter --from 2025-10-02 --to 2025-10-04 fills them)"
    );
    assert!(lines[2].starts_with("2025-10-01  rows"), "{}", lines[2]);
}
