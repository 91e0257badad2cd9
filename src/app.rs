//! Runs a parsed command line and decides the exit status, in one place.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::CommandFactory;

use crate::cli::{Cli, Command, ExportArgs, HistoryArgs, ImportArgs, SimulateArgs, VerifyArgs};
use crate::cli::{LaunchdAction, SystemdAction};
use crate::config::{
    self, Config, ImportConfig, OutDir, Plan, UsageError, ENV_REDIS_PASSWORD, ENV_REDIS_URL,
};
use crate::day::Day;
use crate::escape::plain;
use crate::export::{self, NoSourceError};
use crate::report::{RunReport, Verdict};
use crate::source::redis::{refuse_on_command_line, Target};
use crate::{atomic, batch, import, names, schedule, service as launchd, simulate, source};

/// The progress bar on stderr while one is drawn, so that log lines are written above it and
/// never onto its line (`LogOut`).
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Shows `bar` to the log writer until dropped.
struct ShownBar;

impl ShownBar {
    fn set(bar: Option<indicatif::ProgressBar>) -> ShownBar {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
        ShownBar
    }
}

impl Drop for ShownBar {
    fn drop(&mut self) {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Where log lines go: stderr, with a progress bar being drawn there cleared first and drawn
/// again after the line. The subscriber writes each event in one call.
pub struct LogOut;

impl Write for LogOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Documented exit statuses (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failed = 1,
    Usage = 2,
    Partial = 3,
    Empty = 4,
    NoSource = 5,
    Busy = 6,
    /// `verify --report` only: a deployment part is missing, so nothing could be validated.
    Pending = 7,
}

impl Exit {
    pub fn of_verdict(v: Verdict) -> Exit {
        match v {
            Verdict::Success => Exit::Success,
            Verdict::Partial => Exit::Partial,
            Verdict::Empty => Exit::Empty,
            // The running day so far, every source read: nothing failed.
            Verdict::Incomplete => Exit::Success,
            // An import's verdict: the old exporter's records brought over.
            Verdict::Imported => Exit::Success,
        }
    }

    /// The status `verify --report` exits with for the deployment's verdict.
    pub fn of_deployment(v: crate::deployment::DeploymentVerdict) -> Exit {
        use crate::deployment::DeploymentVerdict;
        match v {
            DeploymentVerdict::FullSuccess => Exit::Success,
            DeploymentVerdict::Partial => Exit::Partial,
            DeploymentVerdict::Pending => Exit::Pending,
        }
    }

    /// The status as the exit-status table calls it.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::Partial => "partial",
            Exit::Empty => "empty",
            Exit::NoSource => "no source",
            Exit::Busy => "busy",
            Exit::Pending => "pending",
        }
    }

    /// Of two days' statuses, the one a multi-day run reports.
    pub fn worse(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Success => 0,
            Exit::Empty => 1,
            // A report's status, never a day's: ranked beside empty (nothing to go on yet).
            Exit::Pending => 2,
            Exit::Partial => 3,
            Exit::NoSource => 4,
            Exit::Busy => 5,
            Exit::Usage => 6,
            Exit::Failed => 7,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The status for an error that stopped a run.
    pub fn of_error(e: &anyhow::Error) -> Exit {
        if e.downcast_ref::<UsageError>().is_some()
            || e.downcast_ref::<crate::day::NoSuchDay>().is_some()
        {
            Exit::Usage
        } else if e.downcast_ref::<schedule::LockBusy>().is_some() {
            Exit::Busy
        } else if e.downcast_ref::<NoSourceError>().is_some() {
            Exit::NoSource
        } else {
            Exit::Failed
        }
    }
}

/// Standard output that a reader may close early (`| head`): once the pipe is closed, the rest
/// is dropped rather than turning a run whose outputs are already published into "failed".
/// Every other write error still fails, and says it was standard output that failed: a full
/// disk under a redirected `> report.txt` must not read as a bare "No space left on device".
pub struct ClosedPipeOk<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> ClosedPipeOk<W> {
    pub fn new(inner: W) -> Self {
        ClosedPipeOk {
            inner,
            closed: false,
        }
    }

    fn guard(&mut self, r: std::io::Result<usize>, len: usize) -> std::io::Result<usize> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                if !self.closed {
                    tracing::warn!("standard output was closed by its reader; the rest of the report is not printed");
                }
                self.closed = true;
                Ok(len)
            }
            Err(e) => Err(std::io::Error::new(
                e.kind(),
                format!("writing standard output: {e}"),
            )),
            r => r,
        }
    }
}

impl<W: Write> Write for ClosedPipeOk<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.guard(r, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.flush().map(|()| 0);
        self.guard(r, 0).map(|_| ())
    }
}

pub fn run(cli: Cli, out: &mut impl Write) -> Result<Exit> {
    let config_path = cli.global.config.as_deref();
    match cli.command {
        None => run_export(&cli.export, config_path, out),
        Some(Command::Export(args)) => run_export(&args, config_path, out),
        Some(Command::Schema { json }) => {
            print_schema(json, out)?;
            Ok(Exit::Success)
        }
        Some(Command::SqliteDdl { table }) => {
            if !source::sqlite::valid_table_name(&table) {
                return Err(UsageError(format!(
                    "table name {table:?} is empty or holds control characters"
                ))
                .into());
            }
            write!(out, "{}", source::sqlite::ddl(&table))?;
            Ok(Exit::Success)
        }
        Some(Command::Simulate(args)) => {
            run_simulate(&args, out)?;
            Ok(Exit::Success)
        }
        Some(Command::Verify(args)) if args.report.is_some() => {
            run_verification(&args, config_path, out)
        }
        Some(Command::Verify(args)) => run_verify(&args, config_path, out),
        Some(Command::ImportLegacy(args)) => run_import(&args, config_path, out),
        Some(Command::History(args)) => run_history(&args, config_path, out),
        Some(Command::Completions { shell: Some(shell) }) => {
            out.write_all(&crate::cli::completion_script(shell))?;
            Ok(Exit::Success)
        }
        Some(Command::Completions { shell: None }) => Err(UsageError(format!(
            "completions needs a shell: one of {}, e.g. `parquet-exporter completions bash`",
            crate::cli::shells().join(", ")
        ))
        .into()),
        Some(Command::Man) => {
            crate::man::render(Cli::command(), crate::cli::EXIT_CODES, out)
                .context("writing the man page")?;
            Ok(Exit::Success)
        }
        Some(Command::Launchd {
            action,
            wrapper,
            intraday,
        }) => {
            let paths = launchd::Paths::discover(wrapper.as_deref(), config_path)?;
            let job = job_of(intraday);
            match action {
                LaunchdAction::Print => {
                    if let Some(w) = paths.checkout_warning() {
                        tracing::warn!("{w}");
                    }
                    write!(out, "{}", launchd::render_plist(&paths, job)?)?
                }
                LaunchdAction::Install => {
                    let p = launchd::install(&paths, job)?;
                    writeln!(out, "installed and loaded {} ({})", p.display(), job.when())?;
                }
                LaunchdAction::Uninstall => {
                    let p = launchd::uninstall(&paths, job)?;
                    writeln!(out, "unloaded and removed {}", p.display())?;
                }
            }
            Ok(Exit::Success)
        }
        Some(Command::Systemd {
            action,
            wrapper,
            dry,
            intraday,
        }) => run_systemd(
            action,
            job_of(intraday),
            (wrapper.as_deref(), dry),
            config_path,
            out,
        ),
    }
}

/// `systemd print|install|uninstall`.
fn run_systemd(
    action: SystemdAction,
    job: launchd::Job,
    (wrapper, dry): (Option<&std::path::Path>, bool),
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let paths = launchd::Paths::discover(wrapper, config_path)?;
    let plan = launchd::systemd_install_plan(&paths, job)?;
    let show = |out: &mut dyn Write, plan: &launchd::SystemdPlan| -> Result<()> {
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
                launchd::systemd_install(&plan)?;
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
            let removed = launchd::systemd_uninstall(&paths, job)?;
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

fn job_of(intraday: bool) -> launchd::Job {
    if intraday {
        launchd::Job::Intraday
    } else {
        launchd::Job::Daily
    }
}

/// What to do so that the timer fires while the user is logged out, when systemd says it
/// would not.
fn linger_advice(out: &mut impl Write) -> Result<()> {
    let user = std::env::var("USER").unwrap_or_default();
    match launchd::linger(&user) {
        Some(true) => writeln!(
            out,
            "linger is on for {user}: the timer fires while you are logged out"
        )?,
        Some(false) => writeln!(
            out,
            "linger is off for {user}: the timer fires only while {user} is logged in. \
             To run at {at} regardless: loginctl enable-linger {user}",
            at = crate::service::daily_at_hhmm()
        )?,
        None => writeln!(
            out,
            "could not ask loginctl about linger: without it the timer fires only while you are \
             logged in (loginctl enable-linger $USER lets it run regardless)"
        )?,
    }
    Ok(())
}

/// The folder `history` or `verify` reads: the one given, else the out dir as `export`
/// resolves it. A folder that is not there is one line saying so and how to name another,
/// rather than a listing error.
fn folder_or_out_dir(
    given: Option<&std::path::Path>,
    config_path: Option<&std::path::Path>,
    command: &str,
) -> Result<std::path::PathBuf> {
    let dir = match given {
        Some(d) => return Ok(d.to_path_buf()),
        None => config::default_out_dir(config_path)?,
    };
    let bucket = dir
        .to_str()
        .and_then(crate::store::BucketUrl::parse)
        .is_some();
    if !bucket && !dir.exists() {
        anyhow::bail!(
            "the out dir {} does not exist (no day file exported yet?): pass the folder of the \
             day files, `parquet-exporter {command} DIR`, or set PARQUET_EXPORTER_OUT_DIR or \
             out_dir in the config file",
            plain(&dir.display().to_string())
        );
    }
    Ok(dir)
}

/// A local PATH that is not there fails alone, in one line: a whole file report of
/// "unreadable" fields would only bury the reason.
fn require_local_paths(paths: &[std::path::PathBuf]) -> Result<()> {
    for p in paths {
        if let crate::target::Target::Dir(local) = crate::target::Target::of_arg(p)? {
            if std::fs::symlink_metadata(&local)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                anyhow::bail!(
                    "{}: no such file or directory",
                    plain(&local.display().to_string())
                );
            }
        }
    }
    Ok(())
}

fn run_verify(
    args: &VerifyArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let max_bytes = config::max_bytes(args.max_size)?;
    let args_paths = if args.paths.is_empty() {
        vec![folder_or_out_dir(None, config_path, "verify")?]
    } else {
        require_local_paths(&args.paths)?;
        args.paths.clone()
    };
    // Bucket prefixes are downloaded into a scratch dir and checked there, then shown by URL.
    let scratch = tempfile::tempdir().context("creating a temp dir")?;
    let mut paths = Vec::new();
    let mut shown: Vec<(std::path::PathBuf, String)> = Vec::new();
    for (i, p) in args_paths.iter().enumerate() {
        let target = crate::target::Target::of_arg(p)?;
        for (local, url) in target.verify_inputs(&scratch.path().join(i.to_string()))? {
            if let Some(url) = url {
                shown.push((local.clone(), url));
            }
            paths.push(local);
        }
    }
    let mut report = crate::verify::verify_paths(&paths, max_bytes);
    let url_of = |p: &std::path::Path| shown.iter().find(|(l, _)| l == p).map(|(_, u)| u.into());
    for f in &mut report.files {
        if let Some(u) = url_of(&f.path) {
            f.path = u;
        }
    }
    for files in report.fingerprints.values_mut() {
        for f in files.iter_mut() {
            if let Some(u) = url_of(f) {
                *f = u;
            }
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", crate::verify::render_text(&report, max_bytes))?;
    }
    Ok(if report.ok {
        Exit::Success
    } else {
        Exit::Failed
    })
}

/// `verify --report`: gathers the deployment's facts, writes the markdown report atomically, and
/// prints where it is and the verdict (or the whole report as JSON).
fn run_verification(
    args: &VerifyArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    use crate::deployment;
    let report = args.report.as_ref().and_then(|r| r.as_deref());
    let cfg = config::ReportConfig::resolve(
        &args.deployment,
        report,
        args.json,
        args.max_size,
        config_path,
    )?;
    let facts = deployment::gather(&cfg);
    let v = deployment::assess(&facts, &cfg.report_path);
    if let Some(dir) = cfg
        .report_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    atomic::replace(&cfg.report_path, |w| {
        Ok(w.write_all(deployment::render(&v).as_bytes())?)
    })?;
    if cfg.json {
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "report:  {}",
            plain(&cfg.report_path.display().to_string())
        )?;
        writeln!(out, "verdict: {}", v.verdict.label())?;
        for r in &v.reasons {
            // The reasons are the report's markdown; a terminal shows them as typed.
            writeln!(
                out,
                "  - {}",
                crate::escape::plain_line(&crate::escape::md_to_plain(r))
            )?;
        }
    }
    Ok(Exit::of_deployment(v.verdict))
}

/// Runs the export command. With `--json`, a run that fails still prints one JSON object, with
/// the error and the exit status, so that scripts reading stdout always get a document.
fn run_export(
    args: &ExportArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    match export_days(args, config_path, out) {
        Err(e) if args.json => {
            let exit = Exit::of_error(&e);
            let doc = serde_json::json!({
                "day": args.date.map(|d| d.to_string()),
                "error": format!("{e:#}"),
                "exit": exit as u8,
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
            Err(e)
        }
        result => result,
    }
}

fn export_days(
    args: &ExportArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let cfg = Config::resolve(args, config_path)?;
    // Catch-up also knows which days were already empty: finding one empty again is no news.
    let (days, known_empty) = match &cfg.plan {
        Plan::Single => (vec![cfg.day.date()], Default::default()),
        Plan::Range(from, to) => (schedule::range_days(*from, *to), Default::default()),
        Plan::CatchUp { window, max_days } => catch_up_days(&cfg, *window, *max_days)?,
    };
    // A dry run creates nothing, not even the lock file.
    let (_lock, moved) = if cfg.dry {
        (None, Vec::new())
    } else {
        // A bucket's day files are staged in the summary dir: there is no local data tree.
        let data_tree = matches!(cfg.out, OutDir::Local(_)).then_some(cfg.out_dir.as_path());
        let (lock, moved) = lock_and_clean(data_tree, &cfg.summary_dir, cfg.lock_timeout)?;
        (Some(lock), moved)
    };
    // The first day's summary says what this run moved out of the data tree.
    let mut moved = Some(moved);
    if cfg.plan == Plan::Single {
        let cfg = Config {
            moved: moved.take().unwrap_or_default(),
            ..cfg
        };
        return export_one(&cfg, out);
    }
    if days.is_empty() {
        tracing::info!(yesterday = %cfg.yesterday, "every day up to yesterday is exported; nothing to do");
    }

    let bar = progress_bar(days.len());
    let _shown = ShownBar::set(bar.clone());
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    let mut shortfalls = Vec::new();
    let mut worst = Exit::Success;
    for date in &days {
        if let Some(b) = &bar {
            b.set_message(date.to_string());
        }
        let day_cfg = cfg.for_day(*date).map(|c| Config {
            moved: moved.take().unwrap_or_default(),
            ..c
        });
        let exit = match day_cfg.and_then(|c| export::run(&c)) {
            Ok(report) => {
                crate::metrics::note_day(&report);
                tracing::info!(day = %date, verdict = report.verdict.as_str(), rows = report.rows, "day exported");
                let known = known_empty.contains(date);
                let exit = match Exit::of_verdict(report.verdict) {
                    // Re-checked and still empty: what it was, not a new failure.
                    Exit::Empty if known => {
                        tracing::info!(day = %date, "still empty, as before: exit status 0 for this day");
                        Exit::Success
                    }
                    exit => exit,
                };
                shortfalls.extend(Shortfall::of_report(*date, &report, exit, known));
                reports.push(report);
                exit
            }
            // A date the zone skipped (Samoa, 2011-12-30) has no records and needs no file.
            Err(e) if e.downcast_ref::<crate::day::NoSuchDay>().is_some() => {
                tracing::info!(day = %date, "{e:#}; nothing to export");
                continue;
            }
            Err(e) => {
                tracing::error!(day = %date, "export failed: {e:#}");
                let exit = Exit::of_error(&e);
                errors.push(serde_json::json!({"day": date.to_string(), "error": format!("{e:#}"), "exit": exit as u8}));
                shortfalls.push(Shortfall {
                    day: *date,
                    what: "failed (see its line above)".into(),
                    exit,
                });
                exit
            }
        };
        worst = worst.worse(exit);
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if cfg.json {
        let doc = serde_json::json!({"days": reports, "errors": errors, "exit": worst as u8});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        let done = (days.len(), &reports[..], &errors[..]);
        print_days(done, cfg.dry, &shortfalls, worst, out)?;
    }
    Ok(worst)
}

/// A progress bar for a run over `days` days, at a terminal only.
fn progress_bar(days: usize) -> Option<indicatif::ProgressBar> {
    (std::io::stderr().is_terminal() && days > 1).then(|| {
        let bar = indicatif::ProgressBar::new(days as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} days {msg}")
                .expect("valid template"),
        );
        bar
    })
}

/// A multi-day run as text: each day's report, each failure, the count, and the days that
/// were not a success with the run's exit status.
fn print_days(
    (attempted, reports, errors): (usize, &[RunReport], &[serde_json::Value]),
    dry: bool,
    shortfalls: &[Shortfall],
    worst: Exit,
    out: &mut impl Write,
) -> Result<()> {
    for r in reports {
        print_report(r, dry, out)?;
        writeln!(out)?;
    }
    for e in errors {
        writeln!(
            out,
            "day {}: FAILED: {}",
            e["day"].as_str().unwrap_or("?"),
            e["error"].as_str().unwrap_or("?")
        )?;
    }
    writeln!(
        out,
        "days: {attempted} attempted, {} exported, {} failed",
        reports.len(),
        errors.len()
    )?;
    print_shortfalls(shortfalls, worst, out)
}

/// A day of a multi-day run that was not a plain success: what it came to, and the status it
/// gives the run.
struct Shortfall {
    day: chrono::NaiveDate,
    what: String,
    exit: Exit,
}

impl Shortfall {
    fn of_report(
        day: chrono::NaiveDate,
        r: &RunReport,
        exit: Exit,
        known_empty: bool,
    ) -> Option<Shortfall> {
        let what = match r.verdict {
            Verdict::Success | Verdict::Incomplete | Verdict::Imported => return None,
            Verdict::Empty if known_empty => {
                "empty, as its file already said (counts as success)".to_string()
            }
            Verdict::Empty => "empty: no record for the day".to_string(),
            Verdict::Partial => {
                let short: Vec<String> = r
                    .sources
                    .iter()
                    .filter(|s| s.state != crate::report::SourceState::Ok)
                    .map(|s| format!("{} {}", s.name, s.state.as_str()))
                    .collect();
                format!("partial: {}", short.join(", "))
            }
        };
        Some(Shortfall { day, what, exit })
    }
}

/// The end of a multi-day run: each day that was not a success, and why the run exits as it
/// does. Without it, "8 exported, 0 failed" and exit 4 left the reader to find the empty day.
fn print_shortfalls(shortfalls: &[Shortfall], worst: Exit, out: &mut impl Write) -> Result<()> {
    for s in shortfalls {
        writeln!(
            out,
            "day {}: {} (exit {})",
            s.day,
            plain(&s.what),
            s.exit as u8
        )?;
    }
    match shortfalls.iter().find(|s| s.exit == worst) {
        Some(s) if worst != Exit::Success => writeln!(
            out,
            "exit status {}: {}, the worst day's (first {}); the order is 1, 5, 3, 4, 0",
            worst as u8,
            worst.name(),
            s.day
        )?,
        _ if shortfalls.is_empty() => writeln!(out, "exit status 0: every day a success")?,
        _ => writeln!(
            out,
            "exit status 0: no day was partial, newly empty or failed"
        )?,
    }
    Ok(())
}

/// The days a catch-up run exports: the window's days whose file is missing or short, oldest
/// first, at most `max_days`.
fn catch_up_days(
    cfg: &Config,
    window: u32,
    max_days: u32,
) -> Result<(Vec<chrono::NaiveDate>, BTreeSet<chrono::NaiveDate>)> {
    let days = schedule::window(cfg.yesterday, window);
    let target = crate::target::Target::open(&cfg.out)?;
    let files = schedule::day_files(&target, &cfg.layout, &days)?;
    crate::metrics::note_window(&days, &files);
    for (day, state) in &files {
        if let Some(why) = state.short_why() {
            tracing::info!(%day, "day file is short ({why}); catch-up exports the day again if it is in the window");
        }
    }
    let days = schedule::catch_up_days(&files, cfg.yesterday, window, max_days);
    if days.len() == max_days as usize
        && schedule::catch_up_days(&files, cfg.yesterday, window, max_days + 1).len() > days.len()
    {
        tracing::warn!(
            max_days,
            "more days need exporting than --max-days allows; the next run continues"
        );
    }
    let empty = files
        .iter()
        .filter(|(_, f)| **f == schedule::DayFile::Empty)
        .map(|(d, _)| *d)
        .collect();
    Ok((days, empty))
}

/// Takes the run lock (in the summary dir, and on the out dir itself) and, holding it, removes temp files a killed run
/// left and moves what older versions kept in the data tree out of it: what was moved.
fn lock_and_clean(
    data_tree: Option<&std::path::Path>,
    summary_dir: &std::path::Path,
    timeout: std::time::Duration,
) -> Result<(schedule::RunLock, Vec<String>)> {
    let lock = schedule::acquire(summary_dir, timeout)?;
    let lock = match data_tree {
        Some(out_dir) => lock.and_data_tree(out_dir, timeout)?,
        None => lock,
    };
    // Holding the lock, no other run is writing here: any temp file of ours is a leftover of a
    // run that was killed. A summary dir belongs to one out dir (two out dirs sharing it would
    // overwrite each other's summaries), so its temp files are this lock's to clean too.
    let ours = |n: &str| names::is_out_dir_output(n) || names::is_summary(n);
    let mut dirs = vec![summary_dir.to_path_buf()];
    if let Some(out_dir) = data_tree {
        dirs.push(out_dir.to_path_buf());
        // The hive layout's partition directories hold day files (and their temps) too.
        dirs.extend(partition_dirs(out_dir));
    }
    for dir in &dirs {
        for name in atomic::remove_stale_temps(dir, ours)? {
            tracing::info!(file = %name, "removed a temp file left by an interrupted run");
        }
    }
    let moved = match data_tree {
        Some(out_dir) => schedule::move_out_of_data_tree(out_dir, summary_dir)?,
        None => Vec::new(),
    };
    Ok((lock, moved))
}

/// `day=*` and `instance=*/day=*` directories under `out_dir` (the hive layout).
fn partition_dirs(out_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let subdirs = |dir: &std::path::Path, prefix: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| n.starts_with(prefix))
                    })
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut dirs = subdirs(out_dir, "day=");
    for instance in subdirs(out_dir, "instance=") {
        dirs.extend(subdirs(&instance, "day="));
    }
    dirs
}

/// The flags a fill-in export needs to write the folder's scheme (one out dir holds one):
/// ` --layout hive` and ` --instance NAME` when its day files have them (one instance only).
fn fill_flags(days: &[crate::history::HistoryDay]) -> String {
    let layouts: std::collections::BTreeSet<names::Layout> = days
        .iter()
        .filter_map(|d| names::day_file_at(d.path.as_deref()?))
        .map(|(_, l)| l)
        .collect();
    let mut flags = String::new();
    if layouts.iter().any(|l| l.hive) {
        flags.push_str(" --layout hive");
    }
    if let [names::Layout {
        instance: Some(i), ..
    }] = layouts.iter().collect::<Vec<_>>().as_slice()
    {
        flags.push_str(&format!(" --instance {i}"));
    }
    flags
}

fn run_history(
    args: &HistoryArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    if args.days == 0 {
        return Err(UsageError("--days must be at least 1".into()).into());
    }
    let dir = folder_or_out_dir(args.dir.as_deref(), config_path, "history")?;
    config::local_only(&dir, "history")?;
    let days = crate::history::history(&dir, args.days)?;
    if let Some(svg) = &args.svg {
        let title = format!("Day files in {}", dir.display());
        atomic::replace(svg, |w| {
            Ok(w.write_all(crate::timeline::render_history(&days, &title).as_bytes())?)
        })?;
    }
    if args.json {
        let doc = serde_json::json!({"dir": dir.display().to_string(), "days": days});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(Exit::Success);
    }
    if days.is_empty() {
        writeln!(
            out,
            "no ops_atomic_*.parquet file in {}",
            plain(&dir.display().to_string())
        )?;
    }
    let scheme = fill_flags(&days);
    let mut i = 0;
    while i < days.len() {
        let d = &days[i];
        // Consecutive missing days are one line, with the one command that fills them all.
        let run = days[i..]
            .iter()
            .take_while(|m| m.state == "missing")
            .count();
        if run > 1 {
            let (newest, oldest) = (&d.day, &days[i + run - 1].day);
            writeln!(
                out,
                "{newest} … {oldest}  missing: {run} days without a day file (parquet-exporter --from {oldest} --to {newest}{scheme} fills them)"
            )?;
            i += run;
            continue;
        }
        i += 1;
        match d.state {
            "ok" => writeln!(
                out,
                "{}{}  rows {:>7}  coverage {:>5.1}%  healthy {:>5.1}%  warnings {:>5}  critical {:>5}  rejected {:>4}  merged {:>5}  gaps {:>3}  hosts {:>4}  {}",
                d.day,
                d.instance.as_deref().map(|i| format!(" {i}")).unwrap_or_default(),
                d.rows,
                d.coverage_pct,
                d.healthy_pct,
                d.warnings,
                d.critical,
                d.rejected,
                d.merged,
                d.gaps,
                d.hosts,
                match &d.so_far_until {
                    Some(until) => format!("so far, until {until}"),
                    None => d.verdict.as_deref().unwrap_or("no verdict").to_string(),
                }
            )?,
            "missing" => writeln!(
                out,
                "{}  missing: no day file (parquet-exporter --from {} --to {}{scheme} fills it)",
                d.day, d.day, d.day
            )?,
            _ => writeln!(
                out,
                "{}  unreadable: {}",
                d.day,
                plain(d.problem.as_deref().unwrap_or("?"))
            )?,
        }
    }
    Ok(Exit::Success)
}

fn run_import(
    args: &ImportArgs,
    config_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let cfg = ImportConfig::resolve(args, config_path)?;
    let _lock = (!cfg.dry)
        .then(|| lock_and_clean(Some(&cfg.out_dir), &cfg.summary_dir, cfg.lock_timeout))
        .transpose()?;
    let report = import::run(&cfg)?;
    crate::metrics::note_import(&report);
    if cfg.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        if cfg.dry {
            writeln!(out, "dry run: nothing written")?;
        }
        for s in &report.skipped {
            writeln!(
                out,
                "skipped:  {} ({})",
                plain(&s.path.display().to_string()),
                plain(&s.why)
            )?;
        }
        for d in &report.days {
            write!(
                out,
                "{}: {}, read {}, written {}, merged {}, rejected {}, rows {} -> {}",
                d.day,
                d.outcome,
                d.read,
                d.written,
                d.merged,
                d.rejected,
                d.rows_before,
                d.rows_after
            )?;
            match &d.error {
                Some(e) => writeln!(out, " ({})", plain(e))?,
                None => writeln!(out)?,
            }
        }
        writeln!(
            out,
            "read {} = written {} + merged {} + rejected {}",
            report.read, report.written, report.merged, report.rejected
        )?;
        if let Some(p) = &report.summary {
            writeln!(out, "summary:  {}", plain(p))?;
        }
    }
    Ok(
        if report
            .days
            .iter()
            .any(|d| d.outcome == crate::report::ImportOutcome::Failed)
        {
            Exit::Failed
        } else {
            Exit::Success
        },
    )
}

fn export_one(cfg: &Config, out: &mut impl Write) -> Result<Exit> {
    tracing::info!(day = %cfg.day, tz = cfg.day.tz().name(), dry = cfg.dry, "export starting");
    let report = export::run(cfg)?;
    crate::metrics::note_day(&report);
    tracing::info!(
        verdict = report.verdict.as_str(),
        rows = report.rows,
        ms = report.duration_ms,
        "export finished"
    );
    if cfg.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        print_report(&report, cfg.dry, out)?;
    }
    Ok(Exit::of_verdict(report.verdict))
}

fn print_report(r: &RunReport, dry: bool, out: &mut impl Write) -> Result<()> {
    if dry {
        writeln!(out, "dry run: nothing written\n")?;
        print_schema(false, out)?;
        writeln!(out)?;
    }
    writeln!(
        out,
        "day:      {} ({}, {} h)",
        r.day, r.timezone, r.day_hours
    )?;
    match &r.covers_until {
        Some(until) => writeln!(
            out,
            "verdict:  {} (the day so far: up to {})",
            r.verdict.as_str(),
            until
        )?,
        None => writeln!(out, "verdict:  {}", r.verdict.as_str())?,
    }
    for s in &r.sources {
        write!(
            out,
            "source:   {} {}: {}, read {}, rejected {}",
            s.name,
            plain(&s.location),
            s.state,
            s.counts.read,
            s.counts.rejected
        )?;
        match &s.error {
            Some(e) => writeln!(out, " ({})", plain(e))?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "rows:     {} (merged {}, conflicts {}, rejected {})",
        r.rows, r.merged, r.conflicts, r.rejected
    )?;
    if r.carried > 0 {
        writeln!(
            out,
            "carried:  {} records of the previous file that no source holds any more",
            r.carried
        )?;
    }
    if let Some(p) = &r.parquet {
        writeln!(
            out,
            "parquet:  {} ({} bytes)",
            plain(p),
            r.bytes.unwrap_or(0)
        )?;
    }
    if let Some(p) = &r.rejects_file {
        writeln!(out, "rejects:  {}", plain(p))?;
    }
    if let Some(p) = &r.summary {
        writeln!(out, "summary:  {}", plain(p))?;
    }
    if let Some(p) = &r.publication {
        writeln!(out, "publish:  {}", plain(p))?;
    }
    if let Some(k) = &r.kept_existing {
        writeln!(out, "kept:     the existing file: {}", plain(&k.why))?;
    }
    Ok(())
}

fn print_schema(json: bool, out: &mut impl Write) -> Result<()> {
    let schema = batch::schema();
    if json {
        let cols: Vec<_> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| serde_json::json!({"position": i + 1, "name": f.name(), "type": batch::type_name(f.data_type()), "nullable": f.is_nullable()}))
            .collect();
        let doc = serde_json::json!({"schema_version": batch::SCHEMA_VERSION, "fingerprint": crate::verify::fingerprint(&schema), "columns": cols});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "schema v{} (fingerprint {})",
        batch::SCHEMA_VERSION,
        crate::verify::fingerprint(&schema)
    )?;
    writeln!(out, "{:>3}  {:<22} {:<22} nullable", "#", "column", "type")?;
    for (i, f) in schema.fields().iter().enumerate() {
        writeln!(
            out,
            "{:>3}  {:<22} {:<22} {}",
            i + 1,
            f.name(),
            batch::type_name(f.data_type()),
            if f.is_nullable() { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

fn run_simulate(args: &SimulateArgs, out: &mut impl Write) -> Result<()> {
    let tz = config::resolve_tz(args.tz.as_deref())?;
    let now = args.now.unwrap_or_else(Utc::now);
    let day = match args.date {
        Some(d) => Day::new(d, tz)?,
        None => Day::yesterday(now, tz)?,
    };
    if let Some(why) = args.redis_url.as_deref().and_then(refuse_on_command_line) {
        return Err(UsageError(why).into());
    }
    let redis_url = args
        .redis_url
        .clone()
        .or_else(|| std::env::var(ENV_REDIS_URL).ok().filter(|u| !u.is_empty()));
    if args.sqlite.is_none() && redis_url.is_none() {
        return Err(
            UsageError("simulate needs --sqlite PATH and/or --redis-url URL".into()).into(),
        );
    }
    if args.hosts.iter().any(|h| h.trim().is_empty()) {
        return Err(UsageError("--hosts has an empty name".into()).into());
    }
    let mut beats = simulate::beats(&day, &args.hosts, args.bad, args.seed);
    // Beats stamped after now would be records from the future: the running day stops at now.
    if day.contains(now.timestamp_millis()) {
        beats.retain(|b| b.ts_ms <= now.timestamp_millis());
        writeln!(
            out,
            "{day} is today: beats up to now ({}), none after",
            now.with_timezone(&tz).format("%H:%M")
        )?;
    }
    // With both targets, mimic the real layout: the archive lags the last hour, the hot buffer
    // holds only the afternoon, so the day has SQLite-only, shared and Redis-only records.
    let both = args.sqlite.is_some() && redis_url.is_some();
    let (sqlite_beats, redis_beats): (Vec<_>, Vec<_>) = if both {
        let noon = day.start_ms() + 12 * 3_600_000;
        let last_hour = day.end_ms() - 3_600_000;
        (
            beats
                .iter()
                .filter(|b| b.ts_ms < last_hour)
                .cloned()
                .collect(),
            beats.iter().filter(|b| b.ts_ms >= noon).cloned().collect(),
        )
    } else {
        (beats.clone(), beats.clone())
    };
    if let Some(path) = &args.sqlite {
        simulate::write_sqlite(path, &args.sqlite_table, &sqlite_beats)
            .with_context(|| format!("simulating into {}", path.display()))?;
        writeln!(
            out,
            "wrote {} records for {} ({}) to {} table {}",
            sqlite_beats.len(),
            day,
            day.tz().name(),
            path.display(),
            args.sqlite_table
        )?;
    }
    if let Some(url) = redis_url {
        let target = Target {
            url,
            password: std::env::var(ENV_REDIS_PASSWORD).ok(),
            ca_file: args.redis_ca_file.clone(),
        };
        simulate::write_redis(&target, &args.redis_stream, &redis_beats)?;
        writeln!(
            out,
            "wrote {} records for {} ({}) to Redis stream {}",
            redis_beats.len(),
            day,
            day.tz().name(),
            args.redis_stream
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's verdicts each exit with their own status: Pending is not an empty day.
    #[test]
    fn a_pending_report_exits_with_its_own_status() {
        use crate::deployment::DeploymentVerdict;
        let pending = Exit::of_deployment(DeploymentVerdict::Pending);
        assert_eq!((pending as u8, pending.name()), (7, "pending"));
        assert_ne!(pending, Exit::of_verdict(Verdict::Empty));
        assert_eq!(
            Exit::of_deployment(DeploymentVerdict::FullSuccess),
            Exit::Success
        );
        assert_eq!(
            Exit::of_deployment(DeploymentVerdict::Partial),
            Exit::Partial
        );
        // Every status --help documents is one the exit-status table lists, by number.
        for e in [pending, Exit::Busy, Exit::Empty] {
            let row = format!("  {}  {}", e as u8, e.name());
            assert!(crate::cli::EXIT_CODES.contains(&row), "no row {row:?}");
        }
    }

    /// Standard output redirected to a full disk.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
    }

    #[test]
    fn a_full_disk_under_standard_output_says_it_was_standard_output() {
        let mut out = ClosedPipeOk::new(Full);
        for err in [
            out.write_all(b"report").unwrap_err(),
            out.flush().unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(text.starts_with("writing standard output: "), "{text}");
            assert!(text.contains("No space left on device"), "{text}");
            assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        }
    }
}
