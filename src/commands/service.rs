//! `launchd` and `systemd`: print, install or uninstall the scheduled jobs, and say what was
//! done.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::Exit;
use crate::cli::{LaunchdAction, SystemdAction};
use crate::service::{self, Job, Paths, SystemdPlan};

pub(super) fn job_of(intraday: bool) -> Job {
    if intraday {
        Job::Intraday
    } else {
        Job::Daily
    }
}

/// `launchd print|install|uninstall`.
pub(super) fn run_launchd(
    action: LaunchdAction,
    job: Job,
    wrapper: Option<&Path>,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let paths = Paths::discover(wrapper, config_path)?;
    match action {
        LaunchdAction::Print => {
            if let Some(w) = paths.checkout_warning() {
                tracing::warn!("{w}");
            }
            write!(out, "{}", service::render_plist(&paths, job)?)?
        }
        LaunchdAction::Install => {
            let p = service::install(&paths, job)?;
            writeln!(out, "installed and loaded {} ({})", p.display(), job.when())?;
        }
        LaunchdAction::Uninstall => {
            let p = service::uninstall(&paths, job)?;
            writeln!(out, "unloaded and removed {}", p.display())?;
        }
    }
    Ok(Exit::Success)
}

/// `systemd print|install|uninstall`.
pub(super) fn run_systemd(
    action: SystemdAction,
    job: Job,
    (wrapper, dry): (Option<&Path>, bool),
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let paths = Paths::discover(wrapper, config_path)?;
    let plan = service::systemd_install_plan(&paths, job)?;
    let show = |out: &mut dyn Write, plan: &SystemdPlan| -> Result<()> {
        for (path, text) in &plan.files {
            writeln!(out, "# {}\n{text}", path.display())?;
        }
        for cmd in &plan.commands {
            writeln!(out, "# then: {}", cmd.join(" "))?;
        }
        Ok(())
    };
    match action {
        SystemdAction::Print => {
            if let Some(w) = paths.checkout_warning() {
                tracing::warn!("{w}");
            }
            show(out, &plan)?;
        }
        SystemdAction::Install => {
            paths.require_installed_wrapper()?;
            if dry {
                writeln!(
                    out,
                    "# --dry: nothing written, nothing run. install would write:"
                )?;
                show(out, &plan)?;
            } else {
                service::systemd_install(&plan)?;
                for (path, _) in &plan.files {
                    writeln!(out, "wrote {}", path.display())?;
                }
                writeln!(
                    out,
                    "enabled and started {}.timer ({})",
                    job.unit(),
                    job.when()
                )?;
            }
            linger_advice(out)?;
        }
        SystemdAction::Uninstall => {
            let removed = service::systemd_uninstall(&paths, job)?;
            for p in &removed {
                writeln!(out, "removed {}", p.display())?;
            }
            if removed.is_empty() {
                writeln!(out, "no {} units were installed", job.unit())?;
            } else {
                writeln!(out, "disabled {}.timer", job.unit())?;
            }
        }
    }
    Ok(Exit::Success)
}

/// What to do so that the timer fires while the user is logged out, when systemd says it
/// would not.
fn linger_advice(out: &mut impl Write) -> Result<()> {
    let user = std::env::var("USER").unwrap_or_default();
    match service::linger(&user) {
        Some(true) => writeln!(
            out,
            "linger is on for {user}: the timer fires while you are logged out"
        )?,
        Some(false) => writeln!(
            out,
            "linger is off for {user}: the timer fires only while {user} is logged in. \
             To run at {at} regardless: loginctl enable-linger {user}",
            at = service::daily_at_hhmm()
        )?,
        None => writeln!(
            out,
            "could not ask loginctl about linger: without it the timer fires only while you are \
             logged in (loginctl enable-linger $USER lets it run regardless)"
        )?,
    }
    Ok(())
}
