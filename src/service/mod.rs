//! The daily schedule's shared parts: the two jobs, the paths a schedule needs on this machine,
//! when the daily run fires, and running the service manager's commands within a deadline.
//! `launchd` renders and installs the macOS agent, `systemd` the Linux units.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub mod launchd;
pub mod systemd;

// What the commands call, under the names they have always called it by.
pub use launchd::{install, render_plist, uninstall};
pub use systemd::{linger, systemd_install, systemd_install_plan, systemd_uninstall, SystemdPlan};

/// When the daily run fires, local time (hour, minute): the launchd agent, the systemd timer,
/// the deployment report's check of the installed schedule and every text that names the time
/// read it here, so they cannot disagree.
pub const DAILY_AT: (u32, u32) = (2, 30);

/// `DAILY_AT` as a clock shows it (`02:30`).
pub fn daily_at_hhmm() -> String {
    format!("{:02}:{:02}", DAILY_AT.0, DAILY_AT.1)
}

pub const LABEL: &str = "com.02luka.analytics.parquet";
pub const INTRADAY_LABEL: &str = "com.02luka.analytics.parquet.intraday";
/// How long the daily run waits for another run's lock: the intraday run, every 10 minutes,
/// fires at `DAILY_AT` too and must not make the day's complete export give up (exit 6).
pub const DAILY_LOCK_WAIT_SECS: u64 = 900;

/// Which scheduled job: the daily export (at `DAILY_AT`, with catch-up) or the intraday export
/// of the running day (every 10 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Daily,
    Intraday,
}

impl Job {
    pub fn label(self) -> &'static str {
        match self {
            Job::Daily => LABEL,
            Job::Intraday => INTRADAY_LABEL,
        }
    }

    /// What the job passes the wrapper. The daily run waits for the lock; the intraday run
    /// never waits (busy, it exits 6 and the next one runs 10 minutes later).
    pub fn args(self) -> Vec<String> {
        match self {
            Job::Daily => vec![
                "--catch-up".into(),
                "--lock-timeout".into(),
                DAILY_LOCK_WAIT_SECS.to_string(),
            ],
            Job::Intraday => vec!["--intraday".into()],
        }
    }

    /// The systemd unit name, without `.service` / `.timer`.
    pub fn unit(self) -> &'static str {
        match self {
            Job::Daily => "parquet-exporter",
            Job::Intraday => "parquet-exporter-intraday",
        }
    }

    /// When it runs, in words.
    pub fn when(self) -> String {
        match self {
            Job::Daily => format!("daily at {}", daily_at_hhmm()),
            Job::Intraday => "every 10 minutes".into(),
        }
    }

    /// The launchd logs' name part.
    fn log_name(self) -> &'static str {
        match self {
            Job::Daily => "parquet_exporter.launchd",
            Job::Intraday => "parquet_exporter.intraday.launchd",
        }
    }
}
pub use crate::defaults::WRAPPER;
/// The ops runbook's check of the newest day file, installed next to the wrapper.
pub const TEST_SCRIPT: &str = "test_parquet_exporter.sh";
const LOG_DIR: &str = "02luka/g/logs";

/// The absolute paths a schedule needs on this machine.
#[derive(Debug, Clone)]
pub struct Paths {
    pub binary: PathBuf,
    pub wrapper: PathBuf,
    pub home: PathBuf,
    /// Passed on only when the file exists (a named config file that is missing is an error).
    pub config: Option<PathBuf>,
    /// The wrapper was found only in the source checkout this binary was built from: a
    /// schedule pointing there breaks when the clone is deleted or moved.
    pub wrapper_in_checkout: bool,
    /// The metrics file the runs write, as this shell and the config file resolve it; `None`
    /// when the metrics are off.
    pub metrics_file: Option<PathBuf>,
}

impl Paths {
    /// Finds the binary (this one), the wrapper (given, next to the binary, or in the checkout
    /// this binary was built from), HOME, and the config file.
    pub fn discover(wrapper: Option<&Path>, config: Option<&Path>) -> Result<Paths> {
        let binary = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .context("finding this binary's path")?;
        let home = crate::config::home().context("HOME is not set")?;
        let mut wrapper_in_checkout = false;
        let wrapper = match wrapper {
            Some(w) => w.to_path_buf(),
            None => {
                let beside = binary.with_file_name(WRAPPER);
                let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("launchd")
                    .join(WRAPPER);
                if beside.exists() {
                    beside
                } else if checkout.exists() {
                    wrapper_in_checkout = true;
                    checkout
                } else {
                    bail!(
                        "no {WRAPPER} next to {} (copy launchd/{WRAPPER} there, or pass --wrapper PATH)",
                        binary.display()
                    )
                }
            }
        };
        let wrapper = wrapper
            .canonicalize()
            .with_context(|| format!("wrapper {}", wrapper.display()))?;
        let config = match config {
            Some(c) => Some(c.to_path_buf()),
            None => Some(home.join(crate::defaults::DEFAULT_CONFIG)).filter(|c| c.exists()),
        };
        // The scheduled run sees the config file's instance, not this shell's variables.
        let instance = crate::config::metrics_instance(None, config.as_deref());
        let metrics_file = crate::config::metrics_file(
            std::env::var_os(crate::config::ENV_METRICS_FILE)
                .map(PathBuf::from)
                .as_deref(),
            instance.as_deref(),
            config.as_deref(),
        );
        Ok(Paths {
            binary,
            wrapper,
            home,
            config,
            wrapper_in_checkout,
            metrics_file,
        })
    }

    /// Refuses to install a schedule that would run the wrapper out of the source checkout.
    pub fn require_installed_wrapper(&self) -> Result<()> {
        if self.wrapper_in_checkout {
            bail!(
                "the only {WRAPPER} found is in the source checkout ({}): a schedule running it \
                 breaks when the clone is moved or deleted. Copy it next to the binary \
                 (cp {} {}) or pass --wrapper PATH",
                self.wrapper.display(),
                self.wrapper.display(),
                self.binary.with_file_name(WRAPPER).display()
            );
        }
        Ok(())
    }

    /// The warning `print` gives for a wrapper in the checkout, if it is there.
    pub fn checkout_warning(&self) -> Option<String> {
        self.wrapper_in_checkout.then(|| {
            format!(
                "the wrapper is the one in the source checkout ({}); a schedule using it breaks \
                 when the clone is moved or deleted: copy it next to the binary or pass --wrapper",
                self.wrapper.display()
            )
        })
    }

    pub fn log_dir(&self) -> PathBuf {
        self.home.join(LOG_DIR)
    }

    /// PATH for the job: the binary's dir, then on macOS Homebrew's (Apple silicon and Intel)
    /// and the system's; on Linux the system's.
    fn path_var(&self, macos: bool) -> String {
        let bin_dir = self.binary.parent().unwrap_or(Path::new("/usr/local/bin"));
        let rest = if macos {
            "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        } else {
            "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
        };
        format!("{}:{rest}", bin_dir.display())
    }

    fn environment(&self, macos: bool) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PATH", self.path_var(macos)),
            ("HOME", self.home.display().to_string()),
            ("PARQUET_EXPORTER_BIN", self.binary.display().to_string()),
        ];
        if let Some(c) = &self.config {
            env.push(("PARQUET_EXPORTER_CONFIG", c.display().to_string()));
        }
        if let Some(m) = &self.metrics_file {
            env.push((crate::config::ENV_METRICS_FILE, m.display().to_string()));
        }
        env
    }
}

/// How long a launchctl or systemctl call may take: a wedged service manager must not hang
/// an install or a report.
const COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `program args` to completion within `COMMAND_DEADLINE`, killing it past that.
pub fn run_bounded(program: &str, args: &[&str]) -> Result<std::process::Output> {
    use std::io::Read;
    let what = || format!("running {program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(what)?;
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().with_context(what)? {
            break status;
        }
        if start.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not finish within {} s",
                what(),
                COMMAND_DEADLINE.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // The outputs of these commands are a few lines: read after exit, they cannot fill a pipe
    // and block it first.
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut o) = child.stdout.take() {
        o.read_to_end(&mut stdout).with_context(what)?;
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_end(&mut stderr).with_context(what)?;
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|d| std::fs::metadata(d.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// Whether the installed schedule is loaded, as the service manager says: the command asked,
/// and loaded or not (or why it could not tell). `None` when that manager's command is not on
/// PATH, so nothing could be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub command: String,
    pub loaded: Result<bool, String>,
    /// What the command printed, in short (`disabled, inactive`), when it says not loaded.
    pub said: String,
}

/// The command that installs the daily schedule on this platform: launchd on macOS, a systemd
/// timer elsewhere.
pub fn install_command() -> &'static str {
    if cfg!(target_os = "macos") {
        "parquet-exporter launchd install"
    } else {
        "parquet-exporter systemd install"
    }
}

/// Runs `program args` and fails, in the command's own words (its stderr), unless it succeeded.
fn checked(program: &str, args: &[&str]) -> Result<()> {
    let out = run_bounded(program, args)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = match stderr.trim() {
        "" => "(it printed nothing on stderr)".to_string(),
        s => s.to_string(),
    };
    bail!(
        "{program} {} failed ({}): {said}",
        args.join(" "),
        out.status
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The standard layout: binary and wrapper in ~/02luka/bin of user `ops`.
    pub(crate) fn paths() -> Paths {
        Paths {
            binary: "/Users/ops/02luka/bin/parquet-exporter".into(),
            wrapper: "/Users/ops/02luka/bin/run_parquet_exporter.sh".into(),
            home: "/Users/ops".into(),
            config: Some("/Users/ops/02luka/config/parquet_exporter.toml".into()),
            wrapper_in_checkout: false,
            metrics_file: Some("/Users/ops/02luka/g/metrics/parquet_exporter.prom".into()),
        }
    }

    #[test]
    fn the_daily_time_reads_as_a_clock_shows_it() {
        assert_eq!(daily_at_hhmm(), "02:30");
        assert_eq!(Job::Daily.when(), "daily at 02:30");
    }
}
