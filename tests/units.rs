//! The schedule's units as their service managers read them: systemd's own parser on the
//! rendered units, and install/uninstall failing when launchctl or systemctl fails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, exporter, peak_rss_mb, run, Output};

/// A home directory name with everything systemd would read as syntax: a space, a quote, a
/// backslash, specifiers (`%h`, `%t`, a trailing `%`), a variable and non-ASCII.
const HOSTILE_NAME: &str = r#"John %h "Q" back\slash 100% %t $HOME é"#;

/// Records that `test` was skipped (`.ci/run` prints `target/skipped-tests.txt`).
fn skipped(test: &str, why: &str) {
    use std::io::Write;
    eprintln!("skipped {test}: {why}");
    let list = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/skipped-tests.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
    {
        let _ = writeln!(f, "{test}");
    }
}

/// Whether systemd's parser can be run here: on Linux it must be (`.ci/run` installs
/// `systemd`); macOS has none, and the test named `test` is skipped there.
fn have_systemd_analyze(test: &str) -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && cfg!(target_os = "macos") {
        skipped(test, "no systemd-analyze on macOS");
        return false;
    }
    assert!(
        found,
        "systemd-analyze must be installed (apt-get install -y systemd; .ci/run does)"
    );
    true
}

/// A home named `HOSTILE_NAME` under `root`, holding a config file and a copy of the wrapper,
/// so that every path the service names passes through the hostile name.
fn hostile_home(root: &Path) -> (PathBuf, PathBuf) {
    let home = root.join(HOSTILE_NAME);
    let config = home.join("02luka/config/parquet_exporter.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "").unwrap();
    let wrapper = home.join("bin/run_parquet_exporter.sh");
    std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh"),
        &wrapper,
    )
    .unwrap();
    (home, wrapper)
}

/// `systemd-analyze verify` of `unit`, as root without a running systemd: its exit status and
/// stderr at the default log level (parse warnings), and its stdout at debug level (the unit as
/// parsed: `WorkingDirectory:`, `Environment:`, `Command Line:`).
fn analyze(unit: &Path) -> (Output, String) {
    let verify = |debug: bool| {
        let mut cmd = Command::new("systemd-analyze");
        // To stderr even where a journal is listening.
        cmd.args(["verify", "--man=no"])
            .arg(unit)
            .env("SYSTEMD_LOG_TARGET", "console");
        if debug {
            cmd.env("SYSTEMD_LOG_LEVEL", "debug");
        } else {
            cmd.env_remove("SYSTEMD_LOG_LEVEL");
        }
        run(&mut cmd)
    };
    let dump = verify(true).stdout;
    (verify(false), dump)
}

/// The value of the dump's `key:` lines (`\t\tWorkingDirectory: /x`), in order.
fn dumped<'a>(dump: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}: ");
    dump.lines()
        .filter_map(|l| l.trim_start_matches('\t').strip_prefix(prefix.as_str()))
        .collect()
}

/// The words of a command line as systemd dumps it (shell-style: double quotes, with `\` taking
/// the next character literally).
fn dumped_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut in_word, mut quoted) = (String::new(), false, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                word.extend(chars.next());
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// An argument as the program receives it once systemd has substituted variables when it runs
/// the command: `$$` is a `$`; any other `$` would be replaced, so it fails the test.
fn after_substitution(arg: &str) -> String {
    let mut out = String::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            assert_eq!(
                chars.next(),
                Some('$'),
                "systemd would substitute in {arg:?}"
            );
        }
        out.push(c);
    }
    out
}

/// `systemd install` under a HOME whose name is systemd syntax writes a service whose
/// WorkingDirectory, Environment and ExecStart systemd's own parser reads back literally,
/// without a warning.
#[test]
fn systemd_reads_the_units_values_back_literally() {
    if !have_systemd_analyze("units::systemd_reads_the_units_values_back_literally") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (home, wrapper) = hostile_home(root.path());
    let path = common::path_with(&common::service_manager(&home));
    let out = run(exporter(&home)
        .env("PATH", &path)
        .args(["systemd", "install", "--wrapper"])
        .arg(&wrapper));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let service = home.join(".config/systemd/user/parquet-exporter.service");

    let (verify, dump) = analyze(&service);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let warnings: Vec<&str> = verify
        .stderr
        .lines()
        .filter(|l| l.contains("parquet-exporter"))
        .collect();
    assert!(warnings.is_empty(), "systemd warned: {warnings:#?}");

    let home_s = home.display().to_string();
    assert_eq!(
        dumped(&dump, "WorkingDirectory"),
        [home_s.as_str()],
        "{dump}"
    );
    let env = dumped(&dump, "Environment");
    for expected in [
        format!("HOME={home_s}"),
        format!("PARQUET_EXPORTER_CONFIG={home_s}/02luka/config/parquet_exporter.toml"),
    ] {
        assert!(env.contains(&expected.as_str()), "{expected}\n{env:#?}");
    }
    let lines = dumped(&dump, "Command Line");
    assert_eq!(lines.len(), 1, "{dump}");
    let argv: Vec<String> = dumped_words(lines[0])
        .iter()
        .map(|a| after_substitution(a))
        .collect();
    assert_eq!(
        argv,
        [
            "/bin/bash",
            &wrapper.display().to_string(),
            "--catch-up",
            "--lock-timeout",
            "900"
        ]
    );
}

/// A newline in HOME would end `Environment=` and start a setting of the attacker's choosing:
/// the units are refused with a usage error in one line, and nothing is written.
#[test]
fn a_control_character_in_home_is_refused_not_written() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("x\nExecStartPre=/bin/touch \x1b[0m");
    std::fs::create_dir_all(&home).unwrap();
    let wrapper = home.join("run_parquet_exporter.sh");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh"),
        &wrapper,
    )
    .unwrap();
    let path = common::path_with(&common::service_manager(&home));
    for args in [&["print"][..], &["install", "--dry"], &["install"]] {
        let out = run(exporter(&home)
            .env("PATH", &path)
            .arg("systemd")
            .args(args)
            .arg("--wrapper")
            .arg(&wrapper));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("control character (\\u{a})"),
            "{}",
            out.stderr
        );
        assert!(!out.stdout.contains("ExecStartPre"), "{}", out.stdout);
    }
    assert!(!home.join(".config").exists());
}

/// PATH with the service-manager stand-ins, in front of them a `program` that fails with
/// `words` on stderr when called with the argument `verb` and otherwise is the stand-in.
fn failing(home: &Path, program: &str, verb: &str, words: &str) -> OsString {
    use std::os::unix::fs::PermissionsExt;
    let stand_ins = common::service_manager(home);
    let dir = home.join(".failing-service-manager");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join(program);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = {verb} ]; then echo '{words}' >&2; exit 1; fi\n\
             done\nexec '{}' \"$@\"\n",
            stand_ins.join(program).display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut dirs = vec![dir, stand_ins];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    std::env::join_paths(dirs).unwrap()
}

/// The systemd schedule's command in `home` with `path`, the wrapper given.
fn systemd(home: &Path, path: &OsString, action: &str) -> Output {
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh");
    run(exporter(home)
        .env("PATH", path)
        .args(["systemd", action, "--wrapper"])
        .arg(wrapper))
}

/// A systemctl that fails makes install and uninstall fail, in systemctl's words; a failed
/// disable keeps the units (the timer may still fire), a failed reload says so.
#[test]
fn systemd_install_and_uninstall_fail_when_systemctl_does() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let units = h.join(".config/systemd/user");
    let refused = "Failed to enable unit: Access denied (stand-in)";
    let out = systemd(h, &failing(h, "systemctl", "enable", refused), "install");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains(refused), "{}", out.stderr);
    assert!(
        !out.stdout.contains("enabled and started"),
        "{}",
        out.stdout
    );

    let refused = "Failed to disable unit: Access denied (stand-in)";
    let out = systemd(h, &failing(h, "systemctl", "disable", refused), "uninstall");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains(refused), "{}", out.stderr);
    assert!(out.stderr.contains("still enabled"), "{}", out.stderr);
    assert!(!out.stdout.contains("disabled"), "{}", out.stdout);
    assert!(units.join("parquet-exporter.timer").exists());
    assert!(units.join("parquet-exporter.service").exists());

    let refused = "Failed to reload daemon: Transport endpoint is not connected (stand-in)";
    let out = systemd(
        h,
        &failing(h, "systemctl", "daemon-reload", refused),
        "uninstall",
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains(refused), "{}", out.stderr);
    assert!(!units.join("parquet-exporter.timer").exists());

    // Nothing installed any more: uninstall has nothing to disable and succeeds.
    let out = systemd(
        h,
        &common::path_with(&common::service_manager(h)),
        "uninstall",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("no parquet-exporter units"),
        "{}",
        out.stdout
    );
}

/// A launchctl that fails makes `launchd install` and `uninstall` fail in its words, and a
/// plist whose agent would not unload stays. launchd exists on macOS only.
#[test]
fn launchd_install_and_uninstall_fail_when_launchctl_does() {
    if !cfg!(target_os = "macos") {
        skipped(
            "units::launchd_install_and_uninstall_fail_when_launchctl_does",
            "launchd install runs on macOS only (the unload step has a unit test)",
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let launchd = |path: &OsString, action: &str| {
        let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh");
        run(exporter(h)
            .env("PATH", path)
            .args(["launchd", action, "--wrapper"])
            .arg(wrapper))
    };
    let plist = h.join("Library/LaunchAgents/com.02luka.analytics.parquet.plist");

    let refused = "Bootstrap failed: 5: Input/output error (stand-in)";
    let out = launchd(&failing(h, "launchctl", "bootstrap", refused), "install");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains(refused), "{}", out.stderr);
    assert!(
        !out.stdout.contains("installed and loaded"),
        "{}",
        out.stdout
    );

    std::fs::write(h.join(".schedule-loaded"), "").unwrap();
    let refused = "Boot-out failed: 5: Input/output error (stand-in)";
    let out = launchd(&failing(h, "launchctl", "bootout", refused), "uninstall");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains(refused), "{}", out.stderr);
    assert!(plist.exists(), "the agent is still loaded: its plist stays");

    let out = launchd(&common::path_with(&common::service_manager(h)), "uninstall");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!plist.exists());
}

/// The wrapper with `PARQUET_EXPORTER_LOG_KEEP` and `_MAX_BYTES` set, logging to `log` (over
/// any limit already), running `sqlite-ddl`.
fn wrapper_with(home: &Path, log: &Path, keep: &str, max_bytes: &str) -> Output {
    run(Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("launchd/run_parquet_exporter.sh"))
        .arg("sqlite-ddl")
        .env("HOME", home)
        .env(
            "PARQUET_EXPORTER_BIN",
            env!("CARGO_BIN_EXE_parquet-exporter"),
        )
        .env("PARQUET_EXPORTER_LOG", log)
        .env("PARQUET_EXPORTER_LOG_KEEP", keep)
        .env("PARQUET_EXPORTER_LOG_MAX_BYTES", max_bytes))
}

/// Absurd rotation settings are clamped with a warning, and the run goes on: a KEEP of
/// 50,000,000 keeps 100 (it renamed for minutes before the exporter started), a MAX_BYTES past
/// bash's arithmetic or under a run's output is held to 1 GB or 1 kB, and leading zeros are
/// decimal, not octal.
#[test]
fn the_wrapper_clamps_absurd_log_rotation_settings() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let log = h.join("logs/pe.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let cases = [
        ("50000000", "2000", Some("PARQUET_EXPORTER_LOG_KEEP=50000000 is outside 0..100; using 100")),
        ("3", "99999999999999999999999", Some("PARQUET_EXPORTER_LOG_MAX_BYTES=99999999999999999999999 is outside 1000..1000000000; using 1000000000")),
        ("2", "10", Some("PARQUET_EXPORTER_LOG_MAX_BYTES=10 is outside 1000..1000000000; using 1000")),
        ("08", "0002000", None),
        ("3", "0", None),
    ];
    for (keep, max_bytes, said) in cases {
        std::fs::write(&log, vec![b'x'; 3000]).unwrap();
        let out = wrapper_with(h, &log, keep, max_bytes);
        assert_eq!(out.code, 0, "{keep} {max_bytes}: {}", out.stderr);
        assert!(out.stdout.contains("CREATE TABLE"), "the exporter ran");
        let text = std::fs::read_to_string(&log).unwrap();
        match said {
            Some(said) => {
                assert!(out.stderr.contains(said), "{}", out.stderr);
                assert!(text.contains(said), "the log says it too:\n{text}");
            }
            None => assert!(out.stderr.is_empty(), "{keep} {max_bytes}: {}", out.stderr),
        }
        // 3000 bytes is over every limit but 0 (never) and 1 GB: those append.
        let rotated = !text.starts_with('x');
        assert_eq!(
            rotated,
            !matches!(max_bytes, "0" | "99999999999999999999999")
        );
    }
    assert!(!h.join("logs/pe.log.rotating").exists());
    assert!(
        !h.join("logs/pe.log.4").exists(),
        "at most 3 were kept after KEEP 3"
    );
}

/// A small legacy file whose 3,000 rows share one 100 KB status (one dictionary entry) made a
/// 300 MB rejects file at 344 MB of memory. Each reject keeps a 1 KB excerpt and the value's
/// length: the rejects follow the number of rows, not the size of what they repeat.
#[test]
fn legacy_rejects_keep_a_bounded_excerpt_of_each_long_value() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let rows = 3_000;
    let long = "x".repeat(100_000);
    let mut beats = common::legacy_beats(1_761_782_400_000, rows);
    for b in &mut beats {
        b[3] = long.clone();
    }
    let input = h.join("ops_atomic_legacy.parquet");
    common::write_legacy_rows(&input, &beats);
    let input_size = std::fs::metadata(&input).unwrap().len();
    assert!(input_size < 1_000_000, "a small file: {input_size} bytes");

    let (code, said, rss_mb) = peak_rss_mb(
        h,
        &[
            "import-legacy",
            "--tz",
            "UTC",
            "--out-dir",
            "out",
            "--summary-dir",
            "rep",
            "ops_atomic_legacy.parquet",
        ],
    );
    assert_ne!(code, 1, "{said}");
    assert!(h.join("rep").is_dir(), "exit {code}: {said}");
    let mut rejects = Vec::new();
    let mut bytes = 0;
    for name in common::files_under(&h.join("rep")) {
        if name.ends_with("rejects.ndjson") {
            let text = std::fs::read_to_string(h.join("rep").join(&name)).unwrap();
            bytes += text.len();
            rejects.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
            );
        }
    }
    eprintln!("{input_size} bytes in, {rows} rejects: {bytes} bytes, peak RSS {rss_mb} MB");
    assert_eq!(rejects.len(), rows, "{said}");
    assert!(bytes < 5_000_000, "rejects: {bytes} bytes for {rows} rows");
    for r in &rejects {
        assert_eq!(r["reason_code"], "unknown_status", "{r}");
        let status = r["record"]["status"].as_str().unwrap();
        assert!(
            long.starts_with(status) && status.len() <= 1024,
            "{}",
            status.len()
        );
        assert_eq!(r["cut"]["status"], 100_000, "{r}");
    }
    assert!(rss_mb < 150, "peak RSS {rss_mb} MB");
}
