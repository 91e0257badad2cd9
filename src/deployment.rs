//! `verify --report`: the deployment verification report the ops team used to fill in by hand,
//! with every value measured: what is installed, how the exports went, whether the sources are
//! alive, and a verdict. Facts are gathered at the edge (`gather`); `assess` and `render` are pure.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use crate::config::ReportConfig;
use crate::escape::{md_code, md_text};
use crate::service::{self, launchd, systemd, DAILY_AT};
use crate::source::redis::redact;
use crate::verify::{self, human_size, VerifyReport};
use crate::{batch, names, source};

/// The heartbeat is live when the newest record is younger than this.
pub const HEARTBEAT_MAX_AGE_MS: i64 = 10 * 60_000;
/// The export duration the ops team set as the target.
pub const DURATION_TARGET_MS: u64 = 2_000;
/// How long after `DAILY_AT` the scheduled run has had time to write yesterday's file.
const SCHEDULE_RUN_MINUTES: i64 = 30;
/// Heartbeats received over those expected, over the report's days: the ops team's target.
pub const COVERAGE_TARGET_PCT: f64 = 95.0;
/// Empty days in a row (files with no record) that make the frequency metric fail: one may be
/// a quiet day, two in a row are a feed that stopped.
const EMPTY_RUN_FAILS: usize = 2;

/// How one line of the report came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Ok,
    Failed,
    /// Nothing to measure yet, or a part that is not installed.
    Missing,
    /// A source that is not configured: not read, not required.
    NotConfigured,
}

impl Mark {
    fn cell(self) -> &'static str {
        match self {
            Mark::Ok => "✅ Verified",
            Mark::Failed => "❌ Failed",
            Mark::Missing => "☐ Pending",
            Mark::NotConfigured => "➖ Not configured",
        }
    }
}

/// A deployment or health line: what, how it came out, and the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub name: &'static str,
    pub mark: Mark,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: &'static str,
    pub target: String,
    pub actual: String,
    pub mark: Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentVerdict {
    /// Installed, exporting every day on schedule, every measure on target, sources alive.
    FullSuccess,
    /// Installed and exporting, but a measure or a health check is off target.
    Partial,
    /// Not (fully) installed yet, or nothing exported yet: nothing to validate.
    Pending,
}

impl DeploymentVerdict {
    pub fn label(self) -> &'static str {
        match self {
            DeploymentVerdict::FullSuccess => "✅ Full success",
            DeploymentVerdict::Partial => "⚠️ Partial success",
            DeploymentVerdict::Pending => "☐ Pending validation",
        }
    }
}

/// The whole report, as rendered and as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// When, in UTC (RFC 3339), and the same instant in the report's zone.
    pub generated_at: String,
    pub generated_local: String,
    pub timezone: String,
    /// Who generated it: `user@host`, and the command line that regenerates it.
    pub generated_by: String,
    pub host: String,
    pub command: String,
    pub exporter: String,
    pub deployment: Vec<Line>,
    pub metrics: Vec<Metric>,
    pub health: Vec<Line>,
    pub verdict: DeploymentVerdict,
    /// Why the verdict is not Full success, one line per item off target.
    pub reasons: Vec<String>,
    /// Where the markdown report was written.
    pub report: String,
}

/// When the installed schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Neither a LaunchAgent nor a systemd timer is installed at these paths.
    None(Vec<PathBuf>),
    /// Installed at `path`; `when` is each firing as text, or why it could not be read.
    Installed {
        kind: ScheduleKind,
        path: PathBuf,
        when: Result<Vec<Fire>, String>,
    },
}

/// Which service manager runs the schedule: it decides whom to ask whether it is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// A launchd agent in ~/Library/LaunchAgents (macOS).
    LaunchAgent,
    /// A systemd user timer (Linux).
    SystemdTimer,
}

impl ScheduleKind {
    /// What the report calls it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::LaunchAgent => "LaunchAgent",
            ScheduleKind::SystemdTimer => "systemd timer",
        }
    }

    /// Whether the service manager has it loaded; `None` when its command is not on PATH.
    fn loaded(self) -> Option<service::Loaded> {
        match self {
            ScheduleKind::LaunchAgent => launchd::agent_loaded(),
            ScheduleKind::SystemdTimer => systemd::timer_loaded(),
        }
    }
}

impl std::fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One calendar entry: a time of day, and any field that makes it less than daily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    pub hour: Option<u32>,
    pub minute: Option<u32>,
    /// Weekday, Day, Month or a systemd date part that limits the days it fires on.
    pub limits: Vec<String>,
}

impl Fire {
    fn is_daily_at(&self, hour: u32, minute: u32) -> bool {
        self.hour == Some(hour) && self.minute == Some(minute) && self.limits.is_empty()
    }

    fn show(&self) -> String {
        let two = |v: Option<u32>| v.map_or("**".to_string(), |v| format!("{v:02}"));
        let days = if self.limits.is_empty() {
            "daily".to_string()
        } else {
            format!("on {}", self.limits.join(", "))
        };
        format!("{}:{} {days}", two(self.hour), two(self.minute))
    }
}

/// The `StartCalendarInterval` of a launchd plist.
pub fn plist_schedule(bytes: &[u8]) -> Result<Vec<Fire>, String> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable plist: {e}"))?;
    let dict = value
        .as_dictionary()
        .ok_or("the plist is not a dictionary")?;
    let Some(interval) = dict.get("StartCalendarInterval") else {
        return Err("it has no StartCalendarInterval".into());
    };
    let entries: Vec<&plist::Value> = match interval {
        plist::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    entries
        .into_iter()
        .map(|e| {
            let d = e
                .as_dictionary()
                .ok_or("a StartCalendarInterval entry is not a dictionary")?;
            let field = |k: &str| {
                d.get(k)
                    .and_then(plist::Value::as_signed_integer)
                    .and_then(|v| u32::try_from(v).ok())
            };
            let limits = ["Weekday", "Day", "Month"]
                .into_iter()
                .filter_map(|k| field(k).map(|v| format!("{k}={v}")))
                .collect();
            Ok(Fire {
                hour: field("Hour"),
                minute: field("Minute"),
                limits,
            })
        })
        .collect()
}

/// The `OnCalendar=` lines of a systemd timer: `daily`, or `*-*-* HH:MM[:SS]` read exactly;
/// any other form is shown as it is and never counts as daily.
pub fn timer_schedule(text: &str) -> Result<Vec<Fire>, String> {
    let fires: Vec<Fire> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("OnCalendar="))
        .map(|spec| {
            let spec = spec.trim();
            if spec == "daily" {
                return Fire {
                    hour: Some(0),
                    minute: Some(0),
                    limits: vec![],
                };
            }
            let parsed = spec.strip_prefix("*-*-* ").and_then(|t| {
                let mut parts = t.split(':');
                let h = parts.next()?.parse().ok()?;
                let m = parts.next()?.parse().ok()?;
                match parts.next() {
                    None | Some("00") | Some("0") => Some((h, m)),
                    Some(_) => None,
                }
            });
            match parsed {
                Some((h, m)) => Fire {
                    hour: Some(h),
                    minute: Some(m),
                    limits: vec![],
                },
                None => Fire {
                    hour: None,
                    minute: None,
                    limits: vec![format!("OnCalendar={spec}")],
                },
            }
        })
        .collect();
    if fires.is_empty() {
        return Err("it has no OnCalendar line".into());
    }
    Ok(fires)
}

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

    let redis = cfg.redis.as_ref().map(|r| Probe {
        what: format!("{} stream {}", redact(&r.target.url), r.stream),
        newest: source::redis::newest_entry_ms(&r.target, &r.stream, cfg.now.timestamp_millis())
            .map_err(|e| format!("{e:#}")),
    });
    let sqlite = cfg.sqlite.as_ref().map(|s| Probe {
        what: format!("{} table {}", s.path.display(), s.table),
        newest: source::sqlite::newest_ms(&s.path, &s.table, cfg.now.timestamp_millis())
            .map_err(|e| format!("{e:#}")),
    });

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

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn ago(ms: i64) -> String {
    let s = ms / 1000;
    if s < 120 {
        format!("{s} s ago")
    } else if s < 7200 {
        format!("{} min ago", s / 60)
    } else if s < 172_800 {
        format!("{} h ago", s / 3600)
    } else {
        format!("{} days ago", s / 86_400)
    }
}

fn deployment(f: &Facts) -> Vec<Line> {
    let ok = |name, detail| Line {
        name,
        mark: Mark::Ok,
        detail,
    };
    let missing = |name, detail| Line {
        name,
        mark: Mark::Missing,
        detail,
    };
    let mut lines = Vec::new();
    lines.push(match &f.binary {
        Ok(p) => ok(
            "Binary",
            format!(
                "{} (parquet-exporter {})",
                md_code(&p.display().to_string()),
                env!("CARGO_PKG_VERSION")
            ),
        ),
        Err(e) => missing("Binary", md_text(e)),
    });
    lines.push(match &f.wrapper {
        Ok(p) => ok("Wrapper", md_code(&p.display().to_string())),
        Err(e) => missing("Wrapper", md_text(e)),
    });
    lines.push(match &f.test_script {
        Ok(p) => ok("Test script", md_code(&p.display().to_string())),
        Err(e) => missing("Test script", md_text(e)),
    });
    lines.push(match &f.schedule {
        Schedule::Installed { kind, path, .. } => ok(
            "Schedule",
            format!("{kind} {}", md_code(&path.display().to_string())),
        ),
        Schedule::None(looked) => missing(
            "Schedule",
            format!(
                "no LaunchAgent or systemd timer installed (looked for {}); `{}`",
                looked
                    .iter()
                    .map(|p| md_code(&p.display().to_string()))
                    .collect::<Vec<_>>()
                    .join(" and "),
                service::install_command()
            ),
        ),
    });
    let out = md_code(&f.out_dir.display().to_string());
    lines.push(match &f.files {
        Some(r) => ok(
            "Day files",
            format!("{} ops_atomic_*.parquet in {out}", r.files.len()),
        ),
        None => missing("Day files", format!("no ops_atomic_*.parquet in {out}")),
    });
    let sums = md_code(&f.summary_dir.display().to_string());
    lines.push(if f.summaries.is_empty() {
        missing(
            "Summaries",
            format!("no parquet_export_summary_*.md in {sums}"),
        )
    } else {
        ok(
            "Summaries",
            format!(
                "{} parquet_export_summary_*.md in {sums}",
                f.summaries.len()
            ),
        )
    });
    lines.push(match &f.log {
        Ok((p, bytes)) => ok(
            "Log file",
            format!(
                "{}, {}",
                md_code(&p.display().to_string()),
                human_size(*bytes)
            ),
        ),
        Err(e) => missing("Log file", md_text(e)),
    });
    lines
}

fn metrics(f: &Facts) -> Vec<Metric> {
    [
        frequency,
        coverage,
        duration,
        file_size,
        compression,
        schedule,
        schema_consistency,
        validation,
    ]
    .iter()
    .map(|metric| metric(f))
    .collect()
}

/// The day files' checks, none before the first export.
fn files_checked(f: &Facts) -> &[verify::FileCheck] {
    f.files.as_ref().map(|r| &r.files[..]).unwrap_or_default()
}

fn no_files() -> String {
    "no day file yet".to_string()
}

/// Every day from the first file to the last has one, and the last is as recent as the
/// schedule allows (yesterday once the daily run has had time to finish).
fn frequency(f: &Facts) -> Metric {
    let (h, m) = DAILY_AT;
    let done_by = NaiveTime::from_hms_opt(h, m, 0).expect("a valid time")
        + chrono::Duration::minutes(SCHEDULE_RUN_MINUTES);
    let back = if f.local_time >= done_by { 1 } else { 2 };
    let expected = f.today - chrono::Days::new(back);
    // Finished days only: today's intraday file (and a missing day after the newest finished
    // one, before the daily run has written it) is the running day, not a day to count.
    let days: Vec<NaiveDate> = f
        .files
        .iter()
        .flat_map(|r| r.files.iter().filter(|c| !is_intraday(c)))
        .filter_map(|c| verify::day_of_name(&c.path))
        .collect();
    match (days.iter().min(), days.iter().max(), &f.files) {
        (Some(first), Some(last), Some(r)) => {
            let span = (*last - *first).num_days() + 1;
            // Strictly between the finished days (an intraday file may bound the verify's).
            let missing: Vec<verify::DayRange> = match (first.succ_opt(), last.pred_opt()) {
                (Some(lo), Some(hi)) => r
                    .missing_days
                    .iter()
                    .filter_map(|m| m.clipped(lo, hi))
                    .collect(),
                _ => Vec::new(),
            };
            let missing_count: i64 = missing.iter().map(verify::DayRange::days).sum();
            let mut actual = format!(
                "{} of {span} days from {first} to {last} have a file",
                span - missing_count
            );
            if !missing.is_empty() {
                actual.push_str(&format!("; missing: {}", verify::render_ranges(&missing)));
            }
            let stale = *last < expected;
            if stale {
                actual.push_str(&format!("; no file since {last} (expected {expected})"));
            }
            let (empty, longest_run) = empty_days(r);
            if !empty.is_empty() {
                actual.push_str(&format!(
                    "; empty (no record in any source): {}",
                    empty
                        .iter()
                        .map(NaiveDate::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let empty_run = longest_run >= EMPTY_RUN_FAILS;
            if empty_run {
                actual.push_str(&format!("; {longest_run} empty days in a row"));
            }
            Metric {
                name: "Export frequency",
                target: format!(
                    "1×/day with records, through {expected}; fewer than {EMPTY_RUN_FAILS} empty days in a row"
                ),
                mark: if missing.is_empty() && !stale && !empty_run {
                    Mark::Ok
                } else {
                    Mark::Failed
                },
                actual,
            }
        }
        _ => Metric {
            name: "Export frequency",
            target: format!("1×/day with records, through {expected}"),
            actual: no_files(),
            mark: Mark::Missing,
        },
    }
}

/// An intraday export of the running day (its footer says incomplete).
fn is_intraday(c: &verify::FileCheck) -> bool {
    c.footer_verdict() == Some(crate::contract::Verdict::Incomplete)
}

/// The days whose file holds no row, oldest first, and the longest run of consecutive ones.
fn empty_days(r: &VerifyReport) -> (Vec<NaiveDate>, usize) {
    let mut days: Vec<NaiveDate> = r
        .files
        .iter()
        .filter(|c| c.rows == Some(0) && !is_intraday(c))
        .filter_map(|c| verify::day_of_name(&c.path))
        .collect();
    days.sort_unstable();
    days.dedup();
    let (mut longest, mut run) = (0, 0);
    for (i, d) in days.iter().enumerate() {
        run = match i.checked_sub(1).map(|p| days[p]) {
            Some(prev) if prev.succ_opt() == Some(*d) => run + 1,
            _ => 1,
        };
        longest = longest.max(run);
    }
    (days, longest)
}

/// Heartbeats received over those expected (each host seen that day, every 5 minutes), over
/// the last `--days` days that have a readable file.
fn coverage(f: &Facts) -> Metric {
    let target = format!(
        "≥ {COVERAGE_TARGET_PCT:.0}% of expected heartbeats over the last {} days",
        f.days
    );
    let read: Vec<&crate::history::HistoryDay> =
        f.history.iter().filter(|d| d.state == "ok").collect();
    let beats: u64 = read.iter().map(|d| d.beats).sum();
    let expected: u64 = read.iter().map(|d| d.expected_beats).sum();
    if expected == 0 {
        return Metric {
            name: "Heartbeat coverage",
            target,
            actual: if read.is_empty() {
                no_files()
            } else {
                "no heartbeat in the files".into()
            },
            mark: if read.is_empty() {
                Mark::Missing
            } else {
                Mark::Failed
            },
        };
    }
    let pct = (beats as f64 * 100.0 / expected as f64).min(100.0);
    let mut low: Vec<String> = read
        .iter()
        .filter(|d| d.expected_beats > 0 && d.coverage_pct < COVERAGE_TARGET_PCT)
        .map(|d| format!("{} {:.1}%", d.day, d.coverage_pct))
        .collect();
    low.reverse();
    let mut actual = format!("{pct:.1}% ({beats} of {expected} over {} days)", read.len());
    // The running day counts up to its cut, as `history` and its summary count it.
    if let Some(d) = read.iter().find(|d| d.so_far_until.is_some()) {
        let until = d.so_far_until.as_deref().unwrap_or_default();
        actual.push_str(&format!("; {} so far, until {until}", d.day));
    }
    if !low.is_empty() {
        actual.push_str(&format!("; under target: {}", low.join(", ")));
    }
    Metric {
        name: "Heartbeat coverage",
        target,
        actual,
        mark: if pct >= COVERAGE_TARGET_PCT {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

/// The slowest and the median duration of the newest summaries (the footer carries no time,
/// so re-runs stay byte-identical).
fn duration(f: &Facts) -> Metric {
    let recent: Vec<(NaiveDate, u64)> = f
        .summaries
        .iter()
        .rev()
        .filter_map(|(d, ms)| ms.map(|ms| (*d, ms)))
        .take(f.days as usize)
        .collect();
    let target = format!("< {} s", DURATION_TARGET_MS / 1000);
    match recent.iter().max_by_key(|(_, ms)| *ms) {
        Some(&(slowest_day, slowest)) => {
            let mut v: Vec<u64> = recent.iter().map(|(_, ms)| *ms).collect();
            v.sort_unstable();
            let median = v[v.len() / 2];
            Metric {
                name: "Export duration",
                target,
                actual: format!(
                    "slowest {slowest} ms ({slowest_day}), median {median} ms, over the last {} summaries",
                    v.len()
                ),
                mark: if slowest < DURATION_TARGET_MS {
                    Mark::Ok
                } else {
                    Mark::Failed
                },
            }
        }
        None => Metric {
            name: "Export duration",
            target,
            actual: "no summary records a duration yet".into(),
            mark: Mark::Missing,
        },
    }
}

/// The largest day file against the 5 MB target, or `--max-size` when given.
fn file_size(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let target = format!(
        "≤ {}",
        verify::mb(f.max_bytes.unwrap_or(verify::SIZE_TARGET_BYTES))
    );
    match checks.iter().max_by_key(|c| c.bytes) {
        Some(c) => Metric {
            name: "File size",
            target,
            actual: format!(
                "largest {} in {}",
                human_size(c.bytes),
                md_code(&file_name(&c.path))
            ),
            mark: if c.bytes <= f.max_bytes.unwrap_or(verify::SIZE_TARGET_BYTES) {
                Mark::Ok
            } else {
                Mark::Failed
            },
        },
        None => Metric {
            name: "File size",
            target,
            actual: no_files(),
            mark: Mark::Missing,
        },
    }
}

/// Every column chunk of every file SNAPPY.
fn compression(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let chunks: usize = checks.iter().map(|c| c.codecs.len()).sum();
    let off: Vec<String> = checks
        .iter()
        .flat_map(|c| {
            c.codecs
                .iter()
                .filter(|(_, codec)| codec.as_str() != "snappy")
                .map(|(col, codec)| format!("{} {col}: {codec}", file_name(&c.path)))
        })
        .collect();
    Metric {
        name: "Compression",
        target: "snappy in every column chunk".into(),
        actual: if checks.is_empty() {
            no_files()
        } else if off.is_empty() {
            format!("snappy in every column of all {} files", checks.len())
        } else {
            format!("not snappy: {}", md_text(&off.join("; ")))
        },
        mark: if checks.is_empty() {
            Mark::Missing
        } else if off.is_empty() && chunks > 0 {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

/// The installed schedule fires daily at `DAILY_AT`.
fn schedule(f: &Facts) -> Metric {
    let target = format!("{} daily, loaded", service::daily_at_hhmm());
    match &f.schedule {
        Schedule::None(_) => Metric {
            name: "Schedule",
            target,
            actual: "no schedule installed".into(),
            mark: Mark::Missing,
        },
        Schedule::Installed { kind, when, .. } => {
            let (actual, good) = match when {
                Ok(fires) => (
                    format!(
                        "{kind}: {}",
                        fires.iter().map(Fire::show).collect::<Vec<_>>().join(", ")
                    ),
                    fires.len() == 1 && fires[0].is_daily_at(DAILY_AT.0, DAILY_AT.1),
                ),
                Err(e) => (format!("{kind}: {}", md_text(e)), false),
            };
            let (said, loaded) = match &f.loaded {
                None => (
                    "loaded: not checked (neither launchctl nor systemctl is on PATH)".to_string(),
                    true,
                ),
                Some(l) => match &l.loaded {
                    Ok(true) => (format!("loaded (`{}`)", l.command), true),
                    Ok(false) => (
                        format!(
                            "**not loaded**: `{}` says {}",
                            l.command,
                            md_text(if l.said.is_empty() { "no" } else { &l.said })
                        ),
                        false,
                    ),
                    Err(e) => (
                        format!("loaded: cannot tell (`{}`: {})", l.command, md_text(e)),
                        false,
                    ),
                },
            };
            Metric {
                name: "Schedule",
                target,
                actual: format!("{actual}; {said}"),
                mark: if good && loaded {
                    Mark::Ok
                } else {
                    Mark::Failed
                },
            }
        }
    }
}

/// The share of files with the schema-v1 fingerprint.
fn schema_consistency(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let v1 = verify::fingerprint(&batch::schema());
    let same = checks
        .iter()
        .filter(|c| c.schema_fingerprint.as_deref() == Some(v1.as_str()))
        .count();
    Metric {
        name: "Schema consistency",
        target: format!("100% of files schema v1 ({v1})"),
        actual: if checks.is_empty() {
            no_files()
        } else {
            format!(
                "{:.0}% ({same} of {} files)",
                100.0 * same as f64 / checks.len() as f64,
                checks.len()
            )
        },
        mark: if checks.is_empty() {
            Mark::Missing
        } else if same == checks.len() {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

/// Every file passes verify's checks, and the set has no problem.
fn validation(f: &Facts) -> Metric {
    let checks = files_checked(f);
    let bad: Vec<&verify::FileCheck> = checks.iter().filter(|c| !c.ok()).collect();
    let set_problems = f.files.as_ref().map(|r| r.problems.len()).unwrap_or(0);
    Metric {
        name: "Validation",
        target: "every file passes `verify`".into(),
        actual: if checks.is_empty() {
            no_files()
        } else if bad.is_empty() && set_problems == 0 {
            format!("OK: {} of {} files", checks.len(), checks.len())
        } else {
            let first = bad
                .iter()
                .map(|c| format!("{}: {}", file_name(&c.path), c.problems.join("; ")))
                .next()
                .unwrap_or_default();
            format!(
                "FAILED: {} of {} files; {}",
                bad.len(),
                checks.len(),
                md_text(&first)
            )
        },
        mark: if checks.is_empty() {
            Mark::Missing
        } else if bad.is_empty() && set_problems == 0 {
            Mark::Ok
        } else {
            Mark::Failed
        },
    }
}

fn health(f: &Facts) -> Vec<Line> {
    let now_ms = f.now.timestamp_millis();
    let probe = |name: &'static str, p: &Option<Probe>, alive: &str| match p {
        None => Line {
            name,
            mark: Mark::NotConfigured,
            detail: "not configured".into(),
        },
        Some(p) => match &p.newest {
            Ok(_) => Line {
                name,
                mark: Mark::Ok,
                detail: format!("{alive} ({})", md_code(&p.what)),
            },
            Err(e) => Line {
                name,
                mark: Mark::Failed,
                detail: format!("{} ({})", md_text(e), md_code(&p.what)),
            },
        },
    };
    let mut lines = vec![
        probe("Redis", &f.redis, "answers XRANGE on the stream"),
        probe("Database", &f.sqlite, "SQLite opens read-only"),
    ];
    let answers = || {
        [&f.redis, &f.sqlite]
            .into_iter()
            .flatten()
            .filter_map(|p| p.newest.as_ref().ok())
    };
    let newest = answers().filter_map(|n| n.at_or_before_now).max();
    let future = answers().filter_map(|n| n.after_now).min();
    let future_note = future.map_or(String::new(), |ms| {
        format!(
            "; a record is stamped after now (the first at {}), which is no proof of life: a clock is ahead or a record is wrong",
            DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        )
    });
    let target = HEARTBEAT_MAX_AGE_MS / 60_000;
    lines.push(if f.redis.is_none() && f.sqlite.is_none() {
        Line {
            name: "Heartbeat",
            mark: Mark::Missing,
            detail:
                "no source configured (--sqlite, PARQUET_EXPORTER_REDIS_URL or the config file)"
                    .into(),
        }
    } else {
        match newest {
            Some(ms) => {
                let at = DateTime::from_timestamp_millis(ms)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default();
                let age = now_ms - ms;
                Line {
                    name: "Heartbeat",
                    mark: if age < HEARTBEAT_MAX_AGE_MS {
                        Mark::Ok
                    } else {
                        Mark::Failed
                    },
                    detail: format!(
                        "newest record at or before now {} (at {at}); live means under {target} min{future_note}",
                        ago(age.max(0))
                    ),
                }
            }
            None => Line {
                name: "Heartbeat",
                mark: Mark::Failed,
                detail: format!("no record at or before now in any source{future_note}"),
            },
        }
    });
    lines
}

/// Judges the facts. Pending while a part is not installed or nothing is exported yet; Partial
/// when installed but anything is off target; Full success only when every line is verified.
pub fn assess(f: &Facts, report: &Path) -> Verification {
    let deployment = deployment(f);
    let metrics = metrics(f);
    let health = health(f);
    let mut reasons = Vec::new();
    let mut pending = false;
    for l in deployment.iter().chain(&health) {
        match l.mark {
            Mark::Ok | Mark::NotConfigured => {}
            Mark::Missing => {
                pending = true;
                reasons.push(format!("{}: {}", l.name, l.detail));
            }
            Mark::Failed => reasons.push(format!("{}: {}", l.name, l.detail)),
        }
    }
    for m in &metrics {
        // A part that is not installed is one reason, not one per table it shows in.
        let said = reasons
            .iter()
            .any(|r| r.starts_with(&format!("{}: ", m.name)));
        match m.mark {
            Mark::Ok | Mark::NotConfigured => {}
            Mark::Missing if said => pending = true,
            Mark::Missing => {
                pending = true;
                reasons.push(format!("{}: {}", m.name, m.actual));
            }
            Mark::Failed => reasons.push(format!("{}: {} (target {})", m.name, m.actual, m.target)),
        }
    }
    let verdict = if pending {
        DeploymentVerdict::Pending
    } else if reasons.is_empty() {
        DeploymentVerdict::FullSuccess
    } else {
        DeploymentVerdict::Partial
    };
    let local = f
        .timezone
        .parse::<chrono_tz::Tz>()
        .map(|tz| {
            f.now
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S %:z")
                .to_string()
        })
        .unwrap_or_else(|_| f.now.format("%Y-%m-%d %H:%M:%S +00:00").to_string());
    Verification {
        generated_at: f.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        generated_local: local,
        timezone: f.timezone.clone(),
        generated_by: format!("{}@{}", f.user, f.host),
        host: f.host.clone(),
        command: f.command.clone(),
        exporter: format!("parquet-exporter {}", env!("CARGO_PKG_VERSION")),
        deployment,
        metrics,
        health,
        verdict,
        reasons,
        report: report.display().to_string(),
    }
}

/// The report as markdown, in the sections of the ops team's hand-written one.
pub fn render(v: &Verification) -> String {
    use std::fmt::Write;
    let mut w = String::new();
    let _ = writeln!(w, "# parquet-exporter verification report\n");
    // In a zone at UTC the local time is the UTC time: said once.
    let utc = if v.generated_local.ends_with("+00:00") {
        String::new()
    } else {
        format!(
            ", {} UTC",
            v.generated_at.trim_end_matches('Z').replace('T', " ")
        )
    };
    let _ = writeln!(
        w,
        "Generated {} ({}){utc}, by {}. Every value below is measured; none is typed in.\n",
        v.generated_local, v.timezone, v.exporter
    );
    let _ = writeln!(w, "**Verdict:** {}\n", v.verdict.label());
    let _ = writeln!(w, "## Deployment\n");
    let _ = writeln!(w, "| component | status | detail |\n|---|---|---|");
    for l in &v.deployment {
        let _ = writeln!(w, "| {} | {} | {} |", l.name, l.mark.cell(), l.detail);
    }
    let _ = writeln!(w, "\n## Verification metrics\n");
    let _ = writeln!(
        w,
        "| metric | target | actual | status |\n|---|---|---|---|"
    );
    for m in &v.metrics {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            m.name,
            m.target,
            m.actual,
            m.mark.cell()
        );
    }
    let _ = writeln!(w, "\n## System health\n");
    let _ = writeln!(w, "| check | status | detail |\n|---|---|---|");
    for l in &v.health {
        let _ = writeln!(w, "| {} | {} | {} |", l.name, l.mark.cell(), l.detail);
    }
    let _ = writeln!(w, "\n## Final verdict\n");
    let _ = writeln!(w, "**{}**\n", v.verdict.label());
    match v.verdict {
        DeploymentVerdict::FullSuccess => {
            let _ = writeln!(
                w,
                "Installed, exporting every day on schedule, every metric on target, and the sources alive."
            );
        }
        _ => {
            let _ = writeln!(w, "Why:\n");
            for r in &v.reasons {
                let _ = writeln!(w, "- {r}");
            }
        }
    }
    let _ = writeln!(w, "\n## Sign-off\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(
        w,
        "| Generated by | {} (`verify --report`), run by {} |",
        v.exporter,
        md_code(&v.generated_by)
    );
    let _ = writeln!(
        w,
        "| Generated at | {} ({}) |",
        v.generated_local, v.timezone
    );
    let _ = writeln!(w, "| Host | {} |", md_code(&v.host));
    let _ = writeln!(w, "| Regenerate with | {} |", md_code(&v.command));
    let _ = writeln!(w, "| Reviewed by | |");
    let _ = writeln!(w, "| Review date | |");
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(h: u32, m: u32) -> Fire {
        Fire {
            hour: Some(h),
            minute: Some(m),
            limits: vec![],
        }
    }

    #[test]
    fn plist_calendar_intervals_are_read_exactly() {
        let one = br#"<?xml version="1.0"?><plist version="1.0"><dict>
            <key>StartCalendarInterval</key><dict><key>Hour</key><integer>2</integer>
            <key>Minute</key><integer>30</integer></dict></dict></plist>"#;
        assert_eq!(plist_schedule(one), Ok(vec![fire(2, 30)]));
        let weekly = br#"<?xml version="1.0"?><plist version="1.0"><dict>
            <key>StartCalendarInterval</key><array><dict><key>Hour</key><integer>2</integer>
            <key>Minute</key><integer>30</integer><key>Weekday</key><integer>1</integer></dict>
            </array></dict></plist>"#;
        let got = plist_schedule(weekly).unwrap();
        assert!(!got[0].is_daily_at(2, 30));
        assert_eq!(got[0].show(), "02:30 on Weekday=1");
        assert!(plist_schedule(b"<plist><dict></dict></plist>").is_err());
        assert!(plist_schedule(b"not a plist").is_err());
    }

    #[test]
    fn timer_on_calendar_forms() {
        assert_eq!(
            timer_schedule("[Timer]\nOnCalendar=*-*-* 02:30:00\n"),
            Ok(vec![fire(2, 30)])
        );
        assert_eq!(
            timer_schedule("OnCalendar=*-*-* 02:30"),
            Ok(vec![fire(2, 30)])
        );
        assert_eq!(timer_schedule("OnCalendar=daily"), Ok(vec![fire(0, 0)]));
        let odd = timer_schedule("OnCalendar=Mon *-*-* 02:30:00").unwrap();
        assert!(!odd[0].is_daily_at(2, 30));
        assert!(
            timer_schedule("OnCalendar=*-*-* 02:30:15").unwrap()[0]
                .limits
                .len()
                == 1
        );
        assert!(timer_schedule("[Timer]\nPersistent=true").is_err());
    }

    #[test]
    fn untrusted_paths_and_errors_cannot_forge_the_verdict() {
        let now = Utc::now();
        let evil = "x |\n\n**Verdict:** ✅ Full success\n| a";
        let f = Facts {
            now,
            today: now.date_naive(),
            local_time: now.time(),
            timezone: "UTC".into(),
            binary: Ok(PathBuf::from(evil)),
            wrapper: Err(evil.into()),
            test_script: Err(evil.into()),
            schedule: Schedule::None(vec![PathBuf::from(evil)]),
            loaded: None,
            out_dir: PathBuf::from(evil),
            history: vec![],
            files: None,
            summary_dir: PathBuf::from(evil),
            summaries: vec![],
            log: Err(evil.into()),
            redis: Some(Probe {
                what: evil.into(),
                newest: Err(evil.into()),
            }),
            sqlite: None,
            days: 7,
            max_bytes: None,
            user: evil.into(),
            host: evil.into(),
            command: evil.into(),
        };
        let v = assess(&f, Path::new("r.md"));
        assert_eq!(v.verdict, DeploymentVerdict::Pending);
        let md = render(&v);
        // Only the report's own verdict line starts a line; the evil text stays inside cells.
        let verdicts = md.lines().filter(|l| l.starts_with("**Verdict:**")).count();
        assert_eq!(verdicts, 1, "{md}");
        // Every table row keeps its header's cells: no unescaped pipe from the evil text.
        let mut header = None;
        for line in md.lines() {
            if !line.starts_with('|') {
                header = None;
                continue;
            }
            let cells = line.replace("\\|", "").matches('|').count();
            assert_eq!(cells, *header.get_or_insert(cells), "{line}");
        }
        assert!(md.contains("## Sign-off"), "{md}");
    }
}
