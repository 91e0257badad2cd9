//! The macOS launchd agent of each job, rendered with the plist library from this machine's
//! paths, installed and removed with launchctl, and asked whether it is loaded.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use plist::{Dictionary, Value};

use super::{checked, on_path, run_bounded, Job, Loaded, Paths, DAILY_AT, LABEL};

impl Paths {
    pub fn plist_path(&self, job: Job) -> PathBuf {
        job_plist_path(&self.home, job)
    }
}

/// Where the agent is installed for the user whose home is `home`.
pub fn plist_path(home: &Path) -> PathBuf {
    job_plist_path(home, Job::Daily)
}

/// Where `job`'s agent is installed for the user whose home is `home`.
pub fn job_plist_path(home: &Path, job: Job) -> PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{}.plist", job.label()))
}

/// The launchd agent. Secrets (the Redis URL and password) stay in the config file or the
/// environment the config names, never in the plist, which any local user can read.
pub fn agent(paths: &Paths, job: Job) -> Value {
    let mut d = Dictionary::new();
    d.insert("Label".into(), job.label().into());
    let mut args: Vec<Value> = vec![
        "/bin/bash".into(),
        paths.wrapper.display().to_string().into(),
    ];
    args.extend(job.args().into_iter().map(Value::from));
    d.insert("ProgramArguments".into(), Value::Array(args));
    match job {
        Job::Daily => {
            let mut when = Dictionary::new();
            let (hour, minute) = DAILY_AT;
            when.insert("Hour".into(), Value::Integer(hour.into()));
            when.insert("Minute".into(), Value::Integer(minute.into()));
            d.insert("StartCalendarInterval".into(), Value::Dictionary(when));
        }
        Job::Intraday => {
            d.insert("StartInterval".into(), Value::Integer(600.into()));
        }
    }
    let mut env = Dictionary::new();
    for (k, v) in paths.environment(true) {
        env.insert(k.into(), v.into());
    }
    d.insert("EnvironmentVariables".into(), Value::Dictionary(env));
    d.insert(
        "WorkingDirectory".into(),
        paths.home.display().to_string().into(),
    );
    let logs = paths.log_dir();
    d.insert(
        "StandardOutPath".into(),
        logs.join(format!("{}.out.log", job.log_name()))
            .display()
            .to_string()
            .into(),
    );
    d.insert(
        "StandardErrorPath".into(),
        logs.join(format!("{}.err.log", job.log_name()))
            .display()
            .to_string()
            .into(),
    );
    d.insert("RunAtLoad".into(), false.into());
    d.insert("ProcessType".into(), "Background".into());
    Value::Dictionary(d)
}

pub fn render_plist(paths: &Paths, job: Job) -> Result<String> {
    let mut out = Vec::new();
    agent(paths, job)
        .to_writer_xml(&mut out)
        .context("rendering the plist")?;
    out.push(b'\n');
    Ok(String::from_utf8(out)?)
}

fn launchctl(args: &[&str]) -> Result<std::process::Output> {
    run_bounded("launchctl", args)
}

/// Asks launchd (`launchctl print gui/UID/LABEL`) whether the agent is loaded.
pub fn agent_loaded() -> Option<Loaded> {
    if !on_path("launchctl") {
        return None;
    }
    let domain = match gui_domain() {
        Ok(d) => d,
        Err(e) => {
            return Some(Loaded {
                command: "launchctl print".into(),
                loaded: Err(format!("{e:#}")),
                said: String::new(),
            })
        }
    };
    let target = format!("{domain}/{LABEL}");
    let out = launchctl(&["print", &target]);
    let said = out.as_ref().map_or(String::new(), |o| {
        let text = String::from_utf8_lossy(&o.stderr);
        text.lines().next().unwrap_or("").trim().to_string()
    });
    Some(Loaded {
        command: format!("launchctl print {target}"),
        loaded: out
            .map(|o| o.status.success())
            .map_err(|e| format!("{e:#}")),
        said,
    })
}

fn gui_domain() -> Result<String> {
    let out = run_bounded("id", &["-u"])?;
    Ok(format!(
        "gui/{}",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

fn require_macos(what: &str) -> Result<()> {
    if !cfg!(target_os = "macos") {
        bail!(
            "launchd {what} works only on macOS (this is {}); on Linux use `parquet-exporter systemd {what}`",
            std::env::consts::OS
        );
    }
    Ok(())
}

/// Unloads `label` from launchd's `domain` if it is loaded. Not loaded is fine; a loaded agent
/// that launchctl fails to unload is an error, since it keeps running.
fn bootout_if_loaded(launchctl: &str, domain: &str, label: &str) -> Result<()> {
    let target = format!("{domain}/{label}");
    if !run_bounded(launchctl, &["print", &target])?
        .status
        .success()
    {
        return Ok(());
    }
    checked(launchctl, &["bootout", &target])
}

/// Writes the agent to ~/Library/LaunchAgents and loads it (replacing a loaded one).
pub fn install(paths: &Paths, job: Job) -> Result<PathBuf> {
    require_macos("install")?;
    paths.require_installed_wrapper()?;
    let plist = paths.plist_path(job);
    std::fs::create_dir_all(paths.log_dir())
        .with_context(|| format!("creating {}", paths.log_dir().display()))?;
    std::fs::create_dir_all(plist.parent().unwrap())?;
    let text = render_plist(paths, job)?;
    crate::atomic::replace(&plist, |w| {
        Ok(std::io::Write::write_all(w, text.as_bytes())?)
    })?;
    let domain = gui_domain()?;
    bootout_if_loaded("launchctl", &domain, job.label())
        .context("unloading the agent loaded before, to load the new one")?;
    checked(
        "launchctl",
        &["bootstrap", &domain, &plist.display().to_string()],
    )
    .with_context(|| format!("{} is written; launchd did not load it", plist.display()))?;
    Ok(plist)
}

/// Unloads the agent and removes its plist; a plist whose agent would not unload stays.
pub fn uninstall(paths: &Paths, job: Job) -> Result<PathBuf> {
    require_macos("uninstall")?;
    let plist = paths.plist_path(job);
    let domain = gui_domain()?;
    bootout_if_loaded("launchctl", &domain, job.label())
        .with_context(|| format!("the agent is still loaded; {} is kept", plist.display()))?;
    match std::fs::remove_file(&plist) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", plist.display())),
    }
    Ok(plist)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{tests::paths, INTRADAY_LABEL};

    fn program_args(d: &Dictionary) -> Vec<&str> {
        d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect()
    }

    #[test]
    fn plist_round_trips_through_the_parser() {
        let text = render_plist(&paths(), Job::Daily).unwrap();
        let v = Value::from_reader_xml(text.as_bytes()).unwrap();
        let d = v.as_dictionary().unwrap();
        assert_eq!(d["Label"].as_string(), Some(LABEL));
        let when = d["StartCalendarInterval"].as_dictionary().unwrap();
        assert_eq!(when["Hour"].as_signed_integer(), Some(2));
        assert_eq!(when["Minute"].as_signed_integer(), Some(30));
        assert_eq!(
            program_args(d),
            [
                "/bin/bash",
                "/Users/ops/02luka/bin/run_parquet_exporter.sh",
                "--catch-up",
                "--lock-timeout",
                "900"
            ]
        );
        assert_eq!(
            d["StandardOutPath"].as_string(),
            Some("/Users/ops/02luka/g/logs/parquet_exporter.launchd.out.log")
        );
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert!(env["PATH"]
            .as_string()
            .unwrap()
            .contains("/opt/homebrew/bin"));
        assert_eq!(
            env["PARQUET_EXPORTER_BIN"].as_string(),
            Some("/Users/ops/02luka/bin/parquet-exporter")
        );
    }

    /// The plist shipped in launchd/ is exactly what `launchd print` renders for the standard
    /// layout (binary and wrapper in ~/02luka/bin of user `ops`), so the two cannot drift.
    #[test]
    fn shipped_plist_is_the_rendered_one() {
        let rendered = render_plist(&paths(), Job::Daily).unwrap();
        if std::env::var_os("PARQUET_EXPORTER_WRITE_PLIST").is_some() {
            std::fs::write(
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/launchd/",
                    "com.02luka.analytics.parquet.plist"
                ),
                &rendered,
            )
            .unwrap();
        }
        assert_eq!(
            include_str!("../../launchd/com.02luka.analytics.parquet.plist"),
            rendered,
            "regenerate with PARQUET_EXPORTER_WRITE_PLIST=1 cargo test --lib shipped_plist"
        );
    }

    /// The shipped plist keeps its time as written, for people to read and copy: it must be
    /// `DAILY_AT`, whatever renders the rest.
    #[test]
    fn the_shipped_plist_fires_at_daily_at() {
        let shipped = include_str!("../../launchd/com.02luka.analytics.parquet.plist");
        let v = Value::from_reader_xml(shipped.as_bytes()).unwrap();
        let d = v.as_dictionary().unwrap();
        let when = d["StartCalendarInterval"].as_dictionary().unwrap();
        let (hour, minute) = DAILY_AT;
        assert_eq!(when["Hour"].as_signed_integer(), Some(i64::from(hour)));
        assert_eq!(when["Minute"].as_signed_integer(), Some(i64::from(minute)));
    }

    #[test]
    fn the_intraday_agent_runs_every_ten_minutes_through_the_wrapper() {
        let v = agent(&paths(), Job::Intraday);
        let d = v.as_dictionary().unwrap();
        assert_eq!(d["Label"].as_string(), Some(INTRADAY_LABEL));
        assert_eq!(d["StartInterval"].as_signed_integer(), Some(600));
        assert!(d.get("StartCalendarInterval").is_none());
        assert_eq!(
            program_args(d),
            [
                "/bin/bash",
                "/Users/ops/02luka/bin/run_parquet_exporter.sh",
                "--intraday"
            ]
        );
        let daily = agent(&paths(), Job::Daily);
        let daily_args = program_args(daily.as_dictionary().unwrap());
        assert_eq!(&daily_args[2..], ["--catch-up", "--lock-timeout", "900"]);
    }

    /// A launchctl stand-in at `dir` whose `print` says loaded or not and whose `bootout`
    /// fails as launchd does when it cannot unload.
    fn failing_launchctl(dir: &Path, loaded: bool) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("launchctl");
        let print = if loaded { "exit 0" } else { "exit 113" };
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"$*\" >> \"{}/calls\"\ncase \"$1\" in print) {print} ;; \
                 bootout) echo 'Boot-out failed: 5: Input/output error' >&2; exit 5 ;; esac\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }

    #[test]
    fn a_loaded_agent_that_will_not_unload_is_an_error_in_launchctls_words() {
        let dir = tempfile::tempdir().unwrap();
        let launchctl = failing_launchctl(dir.path(), true);
        let e = bootout_if_loaded(&launchctl, "gui/501", LABEL).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("Boot-out failed: 5: Input/output error"),
            "{msg}"
        );
        assert!(
            msg.contains("bootout gui/501/com.02luka.analytics.parquet"),
            "{msg}"
        );

        let dir = tempfile::tempdir().unwrap();
        let launchctl = failing_launchctl(dir.path(), false);
        bootout_if_loaded(&launchctl, "gui/501", LABEL).unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(
            !calls.contains("bootout"),
            "not loaded: nothing to unload\n{calls}"
        );
    }
}
