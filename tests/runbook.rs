//! The ops team's runbook, run as written: the verification template's three operational
//! commands, verbatim, in a HOME laid out as the README's install section says.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Days, NaiveDate, Utc};
use common::{files_under, run, Output};
use serde_json::Value;

/// The "Operational Tests" section of the ops team's verification template, character for
/// character, comments included: each line is run as a shell runs it.
const TEMPLATE: &str = "\
./scripts/analytics/run_parquet_exporter.sh --dry     # schema creation, no file write
./scripts/analytics/run_parquet_exporter.sh           # file created -> g/analytics/ops_atomic_YYYYMMDD.parquet
./scripts/analytics/test_parquet_exporter.sh          # Rows: NNN / Size: ≤5MB / Compression: snappy / Validation: OK
";

fn launchd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("launchd")
}

fn yesterday() -> NaiveDate {
    Utc::now().date_naive() - Days::new(1)
}

/// The README's install, in `home`: the binary and both scripts in `~/02luka/bin` (a link to
/// the built binary stands in for `cargo install`), the links that give the runbook its
/// `scripts/analytics/` paths, and a config file naming a SQLite archive, in UTC, and no Redis.
/// Returns `~/02luka`, where the runbook's commands are run from.
fn install(home: &Path) -> PathBuf {
    let root = home.join("02luka");
    let bin = root.join("bin");
    let runbook = root.join("scripts/analytics");
    for dir in [&bin, &runbook, &root.join("config"), &root.join("data")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin("parquet-exporter"),
        bin.join("parquet-exporter"),
    )
    .unwrap();
    for script in ["run_parquet_exporter.sh", "test_parquet_exporter.sh"] {
        // std::fs::copy keeps the mode, as cp does: the scripts stay executable.
        std::fs::copy(launchd_dir().join(script), bin.join(script))
            .unwrap_or_else(|e| panic!("launchd/{script}: {e}"));
    }
    for name in [
        "parquet-exporter",
        "run_parquet_exporter.sh",
        "test_parquet_exporter.sh",
    ] {
        std::os::unix::fs::symlink(bin.join(name), runbook.join(name)).unwrap();
    }
    std::fs::write(
        root.join("config/parquet_exporter.toml"),
        "tz = \"UTC\"\nsqlite = \"~/02luka/data/ops_atomic.db\"\n",
    )
    .unwrap();
    root
}

/// Simulates `day` (UTC) into the config's SQLite archive.
fn simulate(home: &Path, day: NaiveDate) {
    let db = home.join("02luka/data/ops_atomic.db");
    let out = run(common::exporter(home)
        .args([
            "simulate",
            "--tz",
            "UTC",
            "--date",
            &day.to_string(),
            "--sqlite",
        ])
        .arg(&db));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// One line of the runbook (or any command line), run by `sh` in `cwd` with HOME `home`, in
/// UTC, with none of the exporter's variables from the machine running the tests.
fn shell(home: &Path, cwd: &Path, line: &str) -> Output {
    let mut cmd = Command::new("sh");
    for (k, _) in std::env::vars() {
        if k.starts_with("PARQUET_EXPORTER_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    run(cmd
        .arg("-c")
        .arg(line)
        .env("HOME", home)
        .env("TZ", "UTC")
        .current_dir(cwd))
}

/// The value of the line `Name: value` in `text`.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[test]
fn the_templates_three_operational_tests_pass_verbatim() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let root = install(h);
    let commands: Vec<&str> = TEMPLATE.lines().collect();
    let day_files = |root: &Path| -> Vec<String> {
        files_under(root)
            .into_iter()
            .filter(|f| f.ends_with(".parquet") || f.ends_with(".md"))
            .collect()
    };

    // Before any export the test script says there is nothing to test, and fails.
    let none = shell(h, &root, commands[2]);
    assert_eq!(none.code, 4, "{}{}", none.stdout, none.stderr);
    assert!(
        none.stderr.contains("no day file at all"),
        "{}",
        none.stderr
    );

    // "Yesterday" is the machine's: should midnight (UTC) pass during the runs, they are done
    // again for the new yesterday, so the test never depends on when it runs.
    let (day, dry, live) = loop {
        let day = yesterday();
        simulate(h, day);
        let before = files_under(h);
        let dry = shell(h, &root, commands[0]);
        let after = files_under(h);
        let live = shell(h, &root, commands[1]);
        if yesterday() != day {
            continue;
        }
        // --dry: nothing written but the wrapper's log (new on the first pass), and the
        // -wal/-shm files SQLite itself keeps beside a WAL database any reader opens.
        let new: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
        let allowed = [
            "02luka/g/logs/parquet_exporter.log",
            "02luka/data/ops_atomic.db-wal",
            "02luka/data/ops_atomic.db-shm",
        ];
        assert!(
            new.iter().all(|f| allowed.contains(&f.as_str())),
            "--dry wrote {new:?}: {}",
            dry.stdout
        );
        break (day, dry, live);
    };
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout.contains("dry run: nothing written"),
        "{}",
        dry.stdout
    );

    let name = format!("ops_atomic_{}.parquet", day.format("%Y%m%d"));
    assert_eq!(live.code, 0, "{}{}", live.stdout, live.stderr);
    assert!(live.stdout.contains(&name), "{}", live.stdout);
    let file = root.join("g/analytics").join(&name);
    assert!(file.is_file(), "{:?}", day_files(&root));
    let (_, meta) = common::read_parquet(&file);
    let rows = meta.file_metadata().num_rows();
    assert!(rows > 0);

    let test = shell(h, &root, commands[2]);
    assert_eq!(test.code, 0, "{}{}", test.stdout, test.stderr);
    let out = &test.stdout;
    assert_eq!(
        field(out, "File"),
        Some(file.to_str().unwrap()),
        "the newest day file: {out}"
    );
    assert_eq!(field(out, "Rows"), Some(rows.to_string().as_str()), "{out}");
    let size = field(out, "Size").unwrap_or_else(|| panic!("no Size line: {out}"));
    assert!(size.ends_with("(target 5 MB)"), "not over 5 MB: {out}");
    assert_eq!(field(out, "Compression"), Some("snappy"), "{out}");
    assert_eq!(out.lines().last(), Some("Validation: OK"), "{out}");

    // A day with no file, by date: its own status and line.
    let missing = shell(
        h,
        &root,
        "./scripts/analytics/test_parquet_exporter.sh 2000-01-01",
    );
    assert_eq!(missing.code, 3, "{}{}", missing.stdout, missing.stderr);
    assert!(
        missing.stderr.contains("no day file for 2000-01-01"),
        "{}",
        missing.stderr
    );

    // A day file cut short (a full disk, a copy that stopped) fails, and says so.
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let cut = shell(h, &root, commands[2]);
    assert_eq!(cut.code, 1, "{}{}", cut.stdout, cut.stderr);
    assert_eq!(
        cut.stdout.lines().last(),
        Some("Validation: FAILED"),
        "{}",
        cut.stdout
    );
    assert!(cut.stdout.contains("  - "), "the reason: {}", cut.stdout);
}

/// The report's Deployment table checks the test script as it checks the wrapper: next to it
/// (where the schedule runs it), and executable.
#[test]
fn the_report_finds_the_test_script_next_to_the_wrapper() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let root = install(h);
    let wrapper = root.join("bin/run_parquet_exporter.sh");
    let script = root.join("bin/test_parquet_exporter.sh");
    let line = || -> (String, String) {
        let out = run(common::exporter(h)
            .args(["verify", "--json", "--tz", "UTC", "--wrapper"])
            .arg(&wrapper)
            .arg("--report")
            .arg(h.join("report.md")));
        let doc: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", out.stdout, out.stderr));
        let l = doc["deployment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "Test script")
            .unwrap_or_else(|| panic!("no Test script line: {doc}"));
        (
            l["mark"].as_str().unwrap().to_string(),
            l["detail"].as_str().unwrap().to_string(),
        )
    };
    let canonical = script.canonicalize().unwrap();
    let (mark, detail) = line();
    assert_eq!(mark, "ok", "{detail}");
    assert!(detail.contains(canonical.to_str().unwrap()), "{detail}");

    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (mark, detail) = line();
    assert_eq!(mark, "missing", "{detail}");
    assert!(detail.contains("not executable"), "{detail}");

    std::fs::remove_file(&script).unwrap();
    let (mark, detail) = line();
    assert_eq!(mark, "missing", "{detail}");
    // The detail is markdown: the name's underscores are escaped.
    assert!(
        detail.contains("next to the wrapper") && detail.contains("copy launchd/"),
        "{detail}"
    );
}

#[test]
fn the_test_script_passes_shellcheck() {
    let script = launchd_dir().join("test_parquet_exporter.sh");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success());
    let out = Command::new("shellcheck")
        .arg(&script)
        .output()
        .expect("shellcheck must be installed (apt-get install -y shellcheck; .ci/run does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
