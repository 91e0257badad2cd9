//! What the operator uses, run the way the operator runs it: completions in real bash, the
//! progress bar at a real terminal.

use std::process::Command;

use crate::common::{self, exporter, run};

/// The words bash offers for the command line `words` (the last one being completed), with
/// the completion script the binary prints, sourced into a real bash.
fn bash_offers(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source '{}'
COMP_WORDS=({})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
_parquet__exporter parquet-exporter "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display(),
        quoted.join(" ")
    );
    // printf prints one empty line for an empty COMPREPLY.
    crate::common::run_ok(Command::new("bash").arg("-c").arg(program))
        .lines()
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_after_a_subcommand_and_hides_hidden_flags() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = run(exporter(h).args(["completions", "bash"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let script = h.join("parquet-exporter.bash");
    std::fs::write(&script, &out.stdout).unwrap();

    assert_eq!(
        bash_offers(&script, &["parquet-exporter", "verify", "--rep"]),
        ["--report"]
    );
    let launchd = bash_offers(&script, &["parquet-exporter", "launchd", ""]);
    for action in ["print", "install", "uninstall"] {
        assert!(launchd.iter().any(|w| w == action), "{launchd:?}");
    }
    let shells = bash_offers(&script, &["parquet-exporter", "completions", ""]);
    assert!(shells.iter().any(|w| w == "zsh"), "{shells:?}");
    // --today is for replays and tests: hidden from --help, and from completion.
    assert!(bash_offers(&script, &["parquet-exporter", "--tod"]).is_empty());
    assert!(
        bash_offers(&script, &["parquet-exporter", "--catch"]).contains(&"--catch-up".to_string())
    );
}

/// Messages an operator reads: the schema as a reader writes it, a zero-row file's
/// compression, and the way from an old exporter's file to a day file.
#[test]
fn messages_say_what_a_reader_would_write() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = run(exporter(h).arg("schema"));
    assert!(
        out.stdout.contains("timestamp[ms, tz=UTC]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("map<string, string>"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("Utf8") && !out.stdout.contains("Map("),
        "{}",
        out.stdout
    );

    crate::common::sqlite_db(&h.join("ops.db"), "");
    let out = run(crate::common::export_cmd(h, "UTC").args([
        "--sqlite",
        "ops.db",
        "--date",
        "2025-10-30",
    ]));
    assert_eq!(out.code, 4, "{}", out.stderr);
    let out = run(exporter(h).args(["verify", "out"]));
    assert!(
        out.stdout
            .contains("Compression: none: a zero-row file has no column chunk"),
        "{}",
        out.stdout
    );

    let legacy = h.join("ops_atomic_20251029.parquet");
    crate::common::write_legacy_rows(&legacy, &crate::common::legacy_beats(1_761_696_000_000, 3));
    let out = run(exporter(h).arg("verify").arg(&legacy));
    assert!(
        out.stdout.contains("parquet-exporter import-legacy PATH"),
        "{}",
        out.stdout
    );
}

/// Log lines during a multi-day run at a terminal go above the progress bar, never onto its
/// line. `script` gives the run a terminal, as an operator's shell would.
#[test]
fn warnings_never_land_on_the_progress_bars_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let days = ["2025-10-28", "2025-10-29", "2025-10-30"];
    common::archive(h, "UTC", &days);
    let bin = assert_cmd::cargo::cargo_bin("parquet-exporter");
    // Redis on a port nothing listens on: one WARN a day, while the bar is drawn.
    let line = format!(
        "{} --from {} --to {} --tz UTC --sqlite ops.db --redis-url redis://127.0.0.1:1 --out-dir out --summary-dir rep",
        bin.display(),
        days[0],
        days[2]
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", h)
        .env("TERM", "xterm")
        .env_remove("PARQUET_EXPORTER_REDIS_URL")
        .current_dir(h)
        .output()
        .expect("script (util-linux) runs the command at a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("days"), "the bar was drawn: {text:?}");
    let warns = text.matches("WARN").count();
    assert!(warns >= 3, "{text:?}");
    for (at, _) in text.match_indices("WARN") {
        let line_start = text[..at].rfind(['\n', '\r']).map_or(0, |i| i + 1);
        let before = &text[line_start..at];
        assert!(
            !before.contains("days"),
            "a WARN on the bar's line: {before:?}"
        );
    }
}
