//! A newcomer's first hour: defaults where a user expects them, and messages that name the
//! fix, each in the words a person reads.

use crate::common;

use common::{archive, export_cmd, exporter, run};

/// `verify` with no PATH checks the out dir, as `history` does; both say when that folder is
/// not there and how to name one.
#[test]
fn verify_and_history_default_to_the_out_dir_and_say_when_it_is_missing() {
    let home = tempfile::tempdir().unwrap();
    for cmd in ["verify", "history"] {
        let out = run(exporter(home.path()).arg(cmd));
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("`parquet-exporter {cmd} DIR`")),
            "{}",
            out.stderr
        );
    }
    let missing = run(exporter(home.path()).args(["history", "nothere"]));
    assert!(
        missing
            .stderr
            .contains("nothere does not exist: pass the folder"),
        "{}",
        missing.stderr
    );

    archive(home.path(), "UTC", &["2025-10-30"]);
    let export = run(exporter(home.path()).args([
        "--tz",
        "UTC",
        "--sqlite",
        "ops.db",
        "--date",
        "2025-10-30",
    ]));
    assert_eq!(export.code, 0, "{}", export.stderr);
    let verify = run(exporter(home.path()).arg("verify"));
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(
        verify.stdout.contains("ops_atomic_20251030.parquet"),
        "{}",
        verify.stdout
    );
}

/// A file that is not there is one line, not a report of unreadable fields.
#[test]
fn verify_of_a_missing_file_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).args(["verify", "nothere.parquet"]));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr.trim_end(),
        "parquet-exporter: error: nothere.parquet: no such file or directory"
    );
}

/// A date in another shape names `YYYY-MM-DD` (and the date meant, when that is sure).
#[test]
fn a_date_in_another_shape_names_the_format() {
    let home = tempfile::tempdir().unwrap();
    let slashes = run(exporter(home.path()).args(["--date", "2026/12/01", "--dry"]));
    assert_eq!(slashes.code, 2);
    assert!(
        slashes.stderr.contains(
            "'2026/12/01' for '--date <YYYY-MM-DD>': write the date as YYYY-MM-DD: 2026-12-01"
        ),
        "{}",
        slashes.stderr
    );
    let day_first = run(exporter(home.path()).args(["--from", "01-12-2026", "--dry"]));
    assert_eq!(day_first.code, 2);
    assert!(
        day_first
            .stderr
            .contains("write the date as YYYY-MM-DD, year first (e.g. 2026-12-01)"),
        "{}",
        day_first.stderr
    );
}

/// A zone in the wrong case, or a letter off, is named as the zone meant.
#[test]
fn a_mistyped_zone_names_the_zone_meant() {
    let home = tempfile::tempdir().unwrap();
    for (typed, meant) in [
        ("america/new_york", "America/New_York"),
        ("Asia/Bangkock", "Asia/Bangkok"),
    ] {
        let out = run(exporter(home.path()).args(["--tz", typed, "--dry"]));
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "unknown time zone \"{typed}\": did you mean {meant}?"
            )),
            "{}",
            out.stderr
        );
    }
}

/// `completions` without a shell lists the shells.
#[test]
fn completions_without_a_shell_lists_the_shells() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).arg("completions"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "completions needs a shell: one of bash, elvish, fish, powershell, zsh, e.g. \
             `parquet-exporter completions bash`"
        ),
        "{}",
        out.stderr
    );
}

/// A run over several days ends with each day that was not a success and why it exits as it
/// does: an empty day in a range, and a source down in every day.
#[test]
fn a_run_over_several_days_names_each_day_that_was_not_a_success() {
    let home = tempfile::tempdir().unwrap();
    archive(home.path(), "UTC", &["2025-10-28", "2025-10-30"]);
    let range = [
        "--sqlite",
        "ops.db",
        "--from",
        "2025-10-28",
        "--to",
        "2025-10-30",
    ];
    let empty = run(export_cmd(home.path(), "UTC").args(range));
    assert_eq!(empty.code, 4, "{}", empty.stderr);
    let tail: Vec<&str> = empty.stdout.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "exit status 4: empty, the worst day's (first 2025-10-29); the order is 1, 5, 3, 4, 0",
            "day 2025-10-29: empty: no record for the day (exit 4)",
        ],
        "{}",
        empty.stdout
    );

    // Nothing listens on this port: Redis is down for every day.
    let down = format!("redis://127.0.0.1:{}", common::free_port());
    let partial =
        run(export_cmd(home.path(), "UTC")
            .args(range)
            .args(["--redis-url", &down, "--force"]));
    assert_eq!(partial.code, 3, "{}", partial.stderr);
    for day in ["2025-10-28", "2025-10-29", "2025-10-30"] {
        assert!(
            partial
                .stdout
                .contains(&format!("day {day}: partial: redis unavailable (exit 3)")),
            "{}",
            partial.stdout
        );
    }
    assert!(
        partial
            .stdout
            .ends_with("exit status 3: partial, the worst day's (first 2025-10-28); the order is 1, 5, 3, 4, 0\n"),
        "{}",
        partial.stdout
    );
}

/// The report's reasons in a terminal read as typed (no markdown escapes), suggest this
/// platform's `install`, and the report says its time once and calls its verdict "Verdict".
#[test]
fn the_report_in_a_terminal_reads_as_typed() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).args(["verify", "--report", "--tz", "UTC"]));
    // Nothing installed: Pending, its own status, not an export's empty day.
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(!out.stdout.contains('\\'), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("02luka/g/logs/parquet_exporter.log: No such file"),
        "{}",
        out.stdout
    );
    let install = if cfg!(target_os = "macos") {
        "launchd"
    } else {
        "systemd"
    };
    assert!(
        out.stdout.contains(&format!(
            "parquet-exporter.timer); parquet-exporter {install} install\n"
        )),
        "{}",
        out.stdout
    );
    let path = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("report:")
        .trim();
    let report = std::fs::read_to_string(path).unwrap();
    assert!(
        report.contains("\n**Verdict:** ☐ Pending validation\n"),
        "{report}"
    );
    assert!(!report.contains("DeploymentVerdict"), "{report}");
    let generated = report
        .lines()
        .find(|l| l.starts_with("Generated "))
        .unwrap();
    assert!(
        generated.contains(" +00:00 (UTC), by parquet-exporter "),
        "{generated}"
    );
    assert!(!generated.contains(" UTC, by"), "{generated}");
}

/// `launchd install` on Linux points to `systemd install`, not to `systemd print`.
#[cfg(target_os = "linux")]
#[test]
fn launchd_on_linux_points_to_the_same_systemd_action() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).args(["launchd", "install"]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("on Linux use `parquet-exporter systemd install`"),
        "{}",
        out.stderr
    );
}

/// The README's sample report was made under a plain home: no checkout, build or temp paths.
#[test]
fn the_readme_sample_report_shows_a_plain_home() {
    let readme = include_str!("../README.md");
    let start = readme.find("<details><summary>A real report").unwrap();
    let sample = &readme[start..start + readme[start..].find("</details>").unwrap()];
    for leak in ["/tmp/", "/work/", "target/debug", "target/release"] {
        assert!(!sample.contains(leak), "{leak} in the README's sample");
    }
    assert!(sample.contains("\n**Verdict:** "), "{sample}");
    assert!(sample.contains("`/home/ops/"), "{sample}");
}

/// The summary as an operator reads it: statuses by severity, one codec line when every column
/// agrees.
#[test]
fn the_summary_lists_statuses_by_severity_and_one_codec_line() {
    let home = tempfile::tempdir().unwrap();
    archive(home.path(), "UTC", &["2025-10-30"]);
    let out =
        run(export_cmd(home.path(), "UTC").args(["--sqlite", "ops.db", "--date", "2025-10-30"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let md = std::fs::read_to_string(home.path().join("rep/parquet_export_summary_20251030.md"))
        .unwrap();
    let table = &md[md.find("## Status breakdown").unwrap()..];
    let order: Vec<&str> = table
        .lines()
        .skip(4)
        .take_while(|l| l.starts_with("| "))
        .map(|l| l.split(" | ").next().unwrap().trim_start_matches("| "))
        .collect();
    assert_eq!(order, ["critical", "warnings", "healthy"], "{table}");
    assert!(
        md.contains("\n- Codec: snappy in every column (14)\n"),
        "{md}"
    );
    assert!(!md.contains("Codec per column"), "{md}");
}

/// The running day's picture says it ends at the cut.
#[test]
fn the_intraday_picture_says_so_far_until_the_cut() {
    let home = tempfile::tempdir().unwrap();
    let sim = run(exporter(home.path()).args([
        "simulate",
        "--tz",
        "UTC",
        "--date",
        "2025-10-30",
        "--sqlite",
        "ops.db",
        "--now",
        "2025-10-30T19:40:00Z",
    ]));
    assert_eq!(sim.code, 0, "{}", sim.stderr);
    let out = run(export_cmd(home.path(), "UTC").args([
        "--sqlite",
        "ops.db",
        "--intraday",
        "--now",
        "2025-10-30T19:40:00Z",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let svg = std::fs::read_to_string(home.path().join("rep/parquet_export_summary_20251030.svg"))
        .unwrap();
    assert!(
        svg.contains("Heartbeats 2025-10-30 (UTC), so far, until 19:40"),
        "{svg}"
    );
}

/// `simulate` for today stops at now, and says so.
#[test]
fn simulating_today_stops_at_now() {
    let home = tempfile::tempdir().unwrap();
    let out = run(exporter(home.path()).args([
        "simulate",
        "--tz",
        "UTC",
        "--date",
        "2025-10-30",
        "--sqlite",
        "ops.db",
        "--now",
        "2025-10-30T08:00:00Z",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "2025-10-30 is today: beats up to now (08:00), none after\nwrote 96 records"
        ),
        "{}",
        out.stdout
    );
}

/// With one day, `history --svg`'s coverage axis stands clear of the day's bar.
#[test]
fn one_days_history_picture_keeps_the_coverage_axis_off_the_bar() {
    let home = tempfile::tempdir().unwrap();
    archive(home.path(), "UTC", &["2025-10-30"]);
    let out =
        run(export_cmd(home.path(), "UTC").args(["--sqlite", "ops.db", "--date", "2025-10-30"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let h = run(exporter(home.path()).args(["history", "out", "--svg", "h.svg"]));
    assert_eq!(h.code, 0, "{}", h.stderr);
    let svg = std::fs::read_to_string(home.path().join("h.svg")).unwrap();
    let attr = |from: &str, name: &str| -> usize {
        let at = svg.find(from).unwrap();
        let rest = &svg[at..];
        let v = &rest[rest.find(&format!(" {name}=\"")).unwrap() + name.len() + 3..];
        v[..v.find('"').unwrap()].parse().unwrap()
    };
    let bar_right = attr("<g class=\"day\"><rect", "x") + attr("<g class=\"day\"><rect", "width");
    let tick = attr("class=\"coverage-tick\"", "x");
    assert!(
        tick >= bar_right + 60,
        "tick at {tick}, bar ends at {bar_right}"
    );
}

/// The README says what the first `bash .ci/run` costs, and the script prints a line before
/// each step that can run for minutes.
#[test]
fn the_test_command_says_what_it_costs_and_announces_its_long_steps() {
    let readme = include_str!("../README.md").replace('\n', " ");
    for cost in [
        "about 16 minutes on 2 cores",
        "3.2 GB in `target/debug`",
        "1.3 GB for the venv",
    ] {
        assert!(readme.contains(cost), "README does not say {cost}");
    }
    let script = include_str!("../.ci/run");
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    for long in [
        "python3 -m venv",
        "cargo clippy",
        "PARQUET_EXPORTER_NO_SHARED=1 cargo test",
        "cargo test --locked --test integration legacy::",
    ] {
        let at = lines.iter().position(|l| l.starts_with(long)).unwrap();
        assert!(
            lines[at - 1].starts_with("step \""),
            "no step line before {long}: {}",
            lines[at - 1]
        );
    }
}

/// One coverage for one file: a host that beats from noon only, exported intraday at 19:40, is
/// 39.0% covered (92 of the 236 beats owed from midnight to the cut) in the summary, in
/// `history` and in `verify --report` alike.
#[test]
fn the_summary_history_and_report_agree_on_an_intraday_files_coverage() {
    let home = tempfile::tempdir().unwrap();
    // 2025-10-30T12:00:00Z, then every 5 minutes up to 19:35.
    let noon: i64 = 1_761_825_600_000;
    let inserts: String = (0..92)
        .map(|i| {
            format!(
                "INSERT INTO ops_atomic_heartbeats (ts, status, host) VALUES ({}, 'healthy', 'late');",
                noon + i * 300_000
            )
        })
        .collect();
    common::sqlite_db(&home.path().join("ops.db"), &inserts);
    let out = run(export_cmd(home.path(), "UTC").args([
        "--sqlite",
        "ops.db",
        "--intraday",
        "--now",
        "2025-10-30T19:40:00Z",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let md = std::fs::read_to_string(home.path().join("rep/parquet_export_summary_20251030.md"))
        .unwrap();
    let row = md.lines().find(|l| l.starts_with("| `late` |")).unwrap();
    assert!(row.contains("| 92 | 236 | 39.0% |"), "{row}");

    let history = run(exporter(home.path()).args(["history", "out"]));
    assert!(
        history.stdout.contains("coverage  39.0%")
            && history.stdout.contains("so far, until 19:40"),
        "{}",
        history.stdout
    );

    let report = run(exporter(home.path()).args([
        "verify",
        "--report",
        "r.md",
        "--tz",
        "UTC",
        "--out-dir",
        "out",
        "--summary-dir",
        "rep",
        "--sqlite",
        "ops.db",
    ]));
    let md = std::fs::read_to_string(home.path().join("r.md")).unwrap();
    let coverage = md
        .lines()
        .find(|l| l.starts_with("| Heartbeat coverage |"))
        .unwrap();
    assert!(
        coverage.contains("39.0% (92 of 236 over 1 days); 2025-10-30 so far, until 19:40"),
        "{coverage}\n{}",
        report.stderr
    );
}

/// `history` and `verify --report` read a local out dir: a bucket given or configured is
/// refused in one line that names what reads a bucket.
#[test]
fn history_and_the_report_refuse_a_bucket_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = "s3://ops-data/ops_atomic";
    for args in [
        &["history", url][..],
        &["verify", "--report", "--out-dir", url][..],
    ] {
        let out = common::run(common::exporter(h).args(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let said = out.stderr.trim();
        assert!(
            said.contains("reads a local out dir, and s3://ops-data/ops_atomic is a bucket: `parquet-exporter verify s3://ops-data/ops_atomic`"),
            "{said}"
        );
        assert_eq!(said.lines().count(), 1, "{said}");
    }
    // Configured, not given: the same line for history, not a missing folder.
    let out = common::run(
        common::exporter(h)
            .arg("history")
            .env("PARQUET_EXPORTER_OUT_DIR", url),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is a bucket"), "{}", out.stderr);
}
