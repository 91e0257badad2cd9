//! The facts the report is made from, gathered once at the edge: the installed files and
//! schedule, the day files and summaries, the log, and one probe of each source.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::calendar::{plist_schedule, timer_schedule, Schedule, ScheduleKind};
use crate::config::ReportConfig;
use crate::record::Source;
use crate::service::{self, launchd, systemd};
use crate::verify::{self, VerifyReport};
use crate::{names, source};

/// A source's health probe: where (with secrets hidden), and its newest record at or before
/// now and first after now, or why not.
#[derive(Debug, Clone)]
pub struct Probe {
    pub what: String,
    pub newest: Result<source::Newest, String>,
}

/// Everything the report is made from, gathered once.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    pub local_time: NaiveTime,
    pub timezone: String,
    pub binary: Result<PathBuf, String>,
    pub wrapper: Result<PathBuf, String>,
    /// The runbook's `test_parquet_exporter.sh`, next to the wrapper.
    pub test_script: Result<PathBuf, String>,
    pub schedule: Schedule,
    /// Whether the service manager has the schedule loaded; `None` when its command is not on
    /// PATH (or nothing is installed), so nothing could be asked.
    pub loaded: Option<service::Loaded>,
    pub out_dir: PathBuf,
    /// `history` over the out dir: each of the last `days` days, for the coverage.
    pub history: Vec<crate::history::HistoryDay>,
    /// `verify` over the out dir; `None` when it holds no day file.
    pub files: Option<VerifyReport>,
    pub summary_dir: PathBuf,
    /// Each day's summary and the duration it records, oldest first.
    pub summaries: Vec<(NaiveDate, Option<u64>)>,
    pub log: Result<(PathBuf, u64), String>,
    pub redis: Option<Probe>,
    pub sqlite: Option<Probe>,
    pub days: u32,
    pub max_bytes: Option<u64>,
    pub user: String,
    pub host: String,
    pub command: String,
}

/// The command line this process was started with, each word quoted for a POSIX shell where it
/// needs it.
fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 {
                "parquet-exporter".to_string()
            } else {
                a
            };
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// This machine's name, as `uname -n` says it.
fn host_name() -> String {
    service::run_bounded("uname", &["-n"])
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unnamed host".into())
}

/// Gathers the facts: the file system, the installed schedule, and one probe of each source.
pub fn gather(cfg: &ReportConfig) -> Facts {
    let local = cfg.now.with_timezone(&cfg.tz);
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| format!("cannot find this binary: {e}"));
    let found = service::Paths::discover(cfg.wrapper.as_deref(), cfg.config_file.as_deref())
        .map_err(|e| format!("{e:#}"));
    let wrapper = found.clone().and_then(|p| match p.checkout_warning() {
        Some(w) => Err(w),
        None => executable(p.wrapper),
    });
    let test_script = found.and_then(|p| test_script(&p));
    let plist = launchd::plist_path(&cfg.home);
    let timer = cfg.home.join(systemd::SYSTEMD_TIMER);
    let schedule = if plist.exists() {
        Schedule::Installed {
            kind: ScheduleKind::LaunchAgent,
            when: std::fs::read(&plist)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|b| plist_schedule(&b)),
            path: plist,
        }
    } else if timer.exists() {
        Schedule::Installed {
            kind: ScheduleKind::SystemdTimer,
            when: std::fs::read_to_string(&timer)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|t| timer_schedule(&t)),
            path: timer,
        }
    } else {
        Schedule::None(vec![plist, timer])
    };
    let loaded = match &schedule {
        Schedule::Installed { kind, .. } => kind.loaded(),
        Schedule::None(_) => None,
    };
    let history = crate::history::history(&cfg.out_dir, cfg.days).unwrap_or_default();

    // Flat or hive layout: day files at the top or in partition directories.
    let has_day_file = verify::relative_files(&cfg.out_dir, 3).is_ok_and(|rels| {
        rels.iter()
            .any(|r| names::looks_like_parquet(r.rsplit('/').next().unwrap_or(r)))
    });
    let files = has_day_file
        .then(|| verify::verify_paths(std::slice::from_ref(&cfg.out_dir), cfg.max_bytes));

    let mut summaries: Vec<(NaiveDate, Option<u64>)> = std::fs::read_dir(&cfg.summary_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let day = e.file_name().to_str().and_then(names::day_of_summary)?;
                    let text = crate::fsio::read_text(&e.path(), crate::fsio::TEXT_LIMIT).ok();
                    Some((
                        day,
                        text.as_deref()
                            .and_then(crate::summary::recorded_duration_ms),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    summaries.sort();

    let log = match std::fs::metadata(&cfg.log_file) {
        Ok(m) if m.is_file() => Ok((cfg.log_file.clone(), m.len())),
        Ok(_) => Err(format!("{} is not a file", cfg.log_file.display())),
        Err(e) => Err(format!("no log at {}: {e}", cfg.log_file.display())),
    };

    // The report's form has a row per source the ops team runs: Redis, and the database.
    let probe = |origin: Source| {
        let s = cfg.sources.iter().find(|s| s.origin() == origin)?;
        Some(Probe {
            what: s.location(),
            newest: s
                .newest(cfg.now.timestamp_millis())
                .map_err(|e| format!("{e:#}")),
        })
    };
    let (redis, sqlite) = (probe(Source::Redis), probe(Source::Sqlite));

    Facts {
        now: cfg.now,
        today: local.date_naive(),
        local_time: local.time(),
        timezone: cfg.tz.name().to_string(),
        binary,
        wrapper,
        test_script,
        schedule,
        loaded,
        out_dir: cfg.out_dir.clone(),
        history,
        files,
        summary_dir: cfg.summary_dir.clone(),
        summaries,
        log,
        redis,
        sqlite,
        days: cfg.days,
        max_bytes: cfg.max_bytes,
        user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .or_else(|| {
                service::run_bounded("id", &["-un"])
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            })
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "an unknown user".into()),
        host: host_name(),
        command: command_line(),
    }
}

/// `path` if it is a file with an execute bit: the runbook runs the scripts by their path, not
/// through bash as the schedule does.
fn executable(path: PathBuf) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(path),
        Ok(m) if m.is_file() => Err(format!(
            "{} is not executable (chmod +x it)",
            path.display()
        )),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The runbook's test script, looked for where the install copies it: next to the wrapper the
/// schedule runs.
fn test_script(p: &service::Paths) -> Result<PathBuf, String> {
    let name = service::TEST_SCRIPT;
    let path = p.wrapper.with_file_name(name);
    if p.wrapper_in_checkout {
        return Err(format!(
            "only the wrapper in the source checkout was found, so {name} was not looked for \
             next to the binary: copy both there ({})",
            p.binary.with_file_name(name).display()
        ));
    }
    if !path.exists() {
        return Err(format!(
            "no {name} next to the wrapper: copy launchd/{name} to {}",
            path.display()
        ));
    }
    executable(path)
}
