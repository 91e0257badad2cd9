//! The Linux schedule: a systemd user service and timer for each job, written and enabled with
//! systemctl, asked whether the timer is loaded, and whether linger lets it fire while the user
//! is logged out.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{checked, daily_at_hhmm, on_path, run_bounded, Job, Loaded, Paths};

/// Where `systemd install` puts the daily timer, under HOME.
pub const SYSTEMD_TIMER: &str = ".config/systemd/user/parquet-exporter.timer";

/// Asks systemd (`systemctl --user is-enabled` and `is-active`) whether the timer is enabled and
/// running.
pub fn timer_loaded() -> Option<Loaded> {
    if !on_path("systemctl") {
        return None;
    }
    let unit = "parquet-exporter.timer";
    let ask = |verb: &str| -> Result<(bool, String), String> {
        run_bounded("systemctl", &["--user", verb, unit])
            .map(|o| {
                let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
                // Without a user manager systemctl prints nothing and explains on stderr.
                let said = if out.is_empty() {
                    let err = String::from_utf8_lossy(&o.stderr);
                    err.lines().next().unwrap_or("").trim().to_string()
                } else {
                    out
                };
                (o.status.success(), said)
            })
            .map_err(|e| format!("{e:#}"))
    };
    let answer = ask("is-enabled").and_then(|(enabled, e)| {
        ask("is-active").map(|(active, a)| (enabled && active, format!("{e}, {a}")))
    });
    let said = answer
        .as_ref()
        .map_or(String::new(), |(_, said)| said.clone());
    Some(Loaded {
        command: format!("systemctl --user is-enabled/is-active {unit}"),
        loaded: answer.map(|(loaded, _)| loaded),
        said,
    })
}

/// A value of `what` that systemd cannot hold, as a usage error (exit 2) in one line.
fn unit_value(what: &str, value: &str, escaped: Result<String, String>) -> Result<String> {
    escaped.map_err(|why| {
        crate::config::UsageError(format!(
            "{what} ({}) {why}; a systemd unit cannot be written for it",
            crate::escape::plain(value)
        ))
        .into()
    })
}

/// The service's `Environment=`, `WorkingDirectory=` and `ExecStart=` lines, each value
/// escaped so that systemd hands it over exactly as it is here.
fn service_lines(paths: &Paths, job: Job) -> Result<String> {
    let mut lines = String::new();
    let home = paths.home.display().to_string();
    let dir = unit_value("HOME", &home, crate::escape::systemd_path(&home))?;
    lines.push_str(&format!("WorkingDirectory={dir}\n"));
    for (k, v) in paths.environment(false) {
        let assignment = unit_value(k, &v, crate::escape::systemd_env(k, &v))?;
        lines.push_str(&format!("Environment={assignment}\n"));
    }
    let wrapper = paths.wrapper.display().to_string();
    let mut exec = vec!["/bin/bash".to_string()];
    exec.push(unit_value(
        "the wrapper's path",
        &wrapper,
        crate::escape::systemd_arg(&wrapper),
    )?);
    for a in job.args() {
        exec.push(unit_value(
            "an argument",
            &a,
            crate::escape::systemd_arg(&a),
        )?);
    }
    lines.push_str(&format!("ExecStart={}\n", exec.join(" ")));
    Ok(lines)
}

/// A systemd user service and timer doing what the launchd agent does, for Linux hosts.
pub fn systemd_units(paths: &Paths, job: Job) -> Result<(String, String)> {
    let what = match job {
        Job::Daily => {
            "Export yesterday's OPS-Atomic heartbeats to Parquet (catching up missed days)"
        }
        Job::Intraday => "Export today's OPS-Atomic heartbeats so far to Parquet (intraday)",
    };
    let service = format!(
        "[Unit]
Description={what}
After=network-online.target

[Service]
Type=oneshot
{lines}",
        lines = service_lines(paths, job)?,
    );
    // The daily run catches up at boot what a powered-off night missed; a missed intraday run
    // is simply superseded by the next.
    let (calendar, persistent) = match job {
        Job::Daily => (format!("*-*-* {}:00", daily_at_hhmm()), true),
        Job::Intraday => ("*-*-* *:00/10:00".to_string(), false),
    };
    let timer = format!(
        "[Unit]
Description=Run parquet-exporter {when}

[Timer]
OnCalendar={calendar}
Persistent={persistent}

[Install]
WantedBy=timers.target
",
        when = job.when()
    );
    Ok((service, timer))
}

/// What `systemd install` writes and runs, so that `--dry` can show exactly that.
pub struct SystemdPlan {
    pub files: Vec<(PathBuf, String)>,
    pub commands: Vec<Vec<String>>,
}

/// The units under `~/.config/systemd/user` and the systemctl calls that load them.
pub fn systemd_install_plan(paths: &Paths, job: Job) -> Result<SystemdPlan> {
    let (service, timer) = systemd_units(paths, job)?;
    let (service_path, timer_path) = systemd_paths(&paths.home, job);
    Ok(SystemdPlan {
        files: vec![(service_path, service), (timer_path, timer)],
        commands: vec![
            vec!["systemctl".into(), "--user".into(), "daemon-reload".into()],
            vec![
                "systemctl".into(),
                "--user".into(),
                "enable".into(),
                "--now".into(),
                format!("{}.timer", job.unit()),
            ],
        ],
    })
}

/// Where `job`'s service and timer units go under `home`.
pub fn systemd_paths(home: &Path, job: Job) -> (PathBuf, PathBuf) {
    let dir = home.join(".config/systemd/user");
    (
        dir.join(format!("{}.service", job.unit())),
        dir.join(format!("{}.timer", job.unit())),
    )
}

/// Runs one planned command, failing with what it printed.
fn run_planned(cmd: &[String]) -> Result<()> {
    let args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
    checked(&cmd[0], &args)
}

/// Writes the units (each by renaming a finished temp file over it) and enables the timer.
pub fn systemd_install(plan: &SystemdPlan) -> Result<()> {
    for (path, text) in &plan.files {
        let dir = path.parent().expect("units live in a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        crate::atomic::replace(path, |w| Ok(std::io::Write::write_all(w, text.as_bytes())?))?;
    }
    for cmd in &plan.commands {
        run_planned(cmd).context(
            "the units are written; systemd did not take them (is this a login session with a \
             user manager? `systemctl --user status` tells)",
        )?;
    }
    Ok(())
}

/// Disables the timer, removes both units, reloads systemd. A failed `disable` stops it with
/// the units in place (the timer may still fire), unless there was no timer of ours to disable.
pub fn systemd_uninstall(paths: &Paths, job: Job) -> Result<Vec<PathBuf>> {
    let timer_unit = format!("{}.timer", job.unit());
    let (service, timer) = systemd_paths(&paths.home, job);
    let disabled = checked("systemctl", &["--user", "disable", "--now", &timer_unit]);
    if timer.exists() {
        disabled.with_context(|| format!("{timer_unit} is still enabled; its units are kept"))?;
    }
    let mut removed = Vec::new();
    for p in [timer, service] {
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    if !removed.is_empty() {
        checked("systemctl", &["--user", "daemon-reload"])
            .context("the units are removed; systemd has not reloaded and still knows them")?;
    }
    Ok(removed)
}

/// Whether systemd keeps this user's manager running while they are logged out (so that the
/// daily timer fires then): `loginctl show-user USER --property=Linger`. `None` when loginctl
/// is missing or cannot tell.
pub fn linger(user: &str) -> Option<bool> {
    if !on_path("loginctl") {
        return None;
    }
    let out = run_bounded("loginctl", &["show-user", user, "--property=Linger"]).ok()?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        "Linger=yes" => Some(true),
        "Linger=no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::tests::paths;

    #[test]
    fn systemd_timer_is_daily_and_persistent() {
        let (service, timer) = systemd_units(&paths(), Job::Daily).unwrap();
        assert!(timer.contains("OnCalendar=*-*-* 02:30:00"));
        assert!(timer.contains("Persistent=true"));
        assert!(service.contains(
            r#"ExecStart=/bin/bash "/Users/ops/02luka/bin/run_parquet_exporter.sh" "--catch-up" "--lock-timeout" "900""#
        ), "{service}");
        let (service, timer) = systemd_units(&paths(), Job::Intraday).unwrap();
        assert!(timer.contains("OnCalendar=*-*-* *:00/10:00"), "{timer}");
        assert!(
            service.contains("run_parquet_exporter.sh\" \"--intraday\"\n"),
            "{service}"
        );
    }
}
