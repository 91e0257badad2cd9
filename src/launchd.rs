//! The daily schedule: a launchd agent (macOS) rendered with the plist library from this
//! machine's paths, installed with launchctl; and a systemd user service and timer for Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use plist::{Dictionary, Value};

pub const LABEL: &str = "com.02luka.analytics.parquet";
pub const INTRADAY_LABEL: &str = "com.02luka.analytics.parquet.intraday";
/// How long the 02:30 run waits for another run's lock: the intraday run, every 10 minutes,
/// fires at 02:30 too and must not make the day's complete export give up (exit 6).
pub const DAILY_LOCK_WAIT_SECS: u64 = 900;

/// Which scheduled job: the daily export (02:30, with catch-up) or the intraday export of the
/// running day (every 10 minutes).
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
    pub fn when(self) -> &'static str {
        match self {
            Job::Daily => "daily at 02:30",
            Job::Intraday => "every 10 minutes",
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
pub const WRAPPER: &str = "run_parquet_exporter.sh";
/// The ops runbook's check of the newest day file, installed next to the wrapper.
pub const TEST_SCRIPT: &str = "test_parquet_exporter.sh";
const LOG_DIR: &str = "02luka/g/logs";
/// Where `systemd install` puts the daily timer, under HOME.
pub const SYSTEMD_TIMER: &str = ".config/systemd/user/parquet-exporter.timer";

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
            None => Some(home.join(crate::config::DEFAULT_CONFIG)).filter(|c| c.exists()),
        };
        let metrics_file = crate::config::metrics_file(
            std::env::var_os(crate::config::ENV_METRICS_FILE)
                .map(PathBuf::from)
                .as_deref(),
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

    pub fn plist_path(&self, job: Job) -> PathBuf {
        job_plist_path(&self.home, job)
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
            when.insert("Hour".into(), Value::Integer(2.into()));
            when.insert("Minute".into(), Value::Integer(30.into()));
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

fn gui_domain() -> Result<String> {
    let out = run_bounded("id", &["-u"])?;
    Ok(format!(
        "gui/{}",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
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

fn require_macos(what: &str) -> Result<()> {
    if !cfg!(target_os = "macos") {
        bail!(
            "launchd {what} works only on macOS (this is {}); on Linux use `parquet-exporter systemd {what}`",
            std::env::consts::OS
        );
    }
    Ok(())
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
        Job::Daily => ("*-*-* 02:30:00", true),
        Job::Intraday => ("*-*-* *:00/10:00", false),
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
/// 02:30 timer fires then): `loginctl show-user USER --property=Linger`. `None` when loginctl
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

    fn program_args(d: &Dictionary) -> Vec<&str> {
        d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect()
    }

    fn paths() -> Paths {
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
            include_str!("../launchd/com.02luka.analytics.parquet.plist"),
            rendered,
            "regenerate with PARQUET_EXPORTER_WRITE_PLIST=1 cargo test --lib shipped_plist"
        );
    }

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
