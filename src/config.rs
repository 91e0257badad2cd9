//! Validated configuration: flags and environment (via clap), then the TOML config file, then
//! defaults, resolved once into a `Config` that the pipeline takes by reference.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::bounds;
use crate::cli::{
    ExportArgs, ImportArgs, LayoutKind, RedisReadArgs, ReportArgs, SqliteArgs, StreamArgs,
    DEFAULT_LAYOUT,
};
use crate::day::Day;
use crate::defaults::{
    DEFAULT_BATCH_ROWS, DEFAULT_CATCH_UP_WINDOW, DEFAULT_CONFIG, DEFAULT_LOCK_TIMEOUT_SECS,
    DEFAULT_LOG_FILE, DEFAULT_MARGIN_MINUTES, DEFAULT_MAX_DAYS, DEFAULT_METRICS_FILE,
    DEFAULT_OUT_DIR, DEFAULT_PAGE_SIZE, DEFAULT_REDIS_TIMEOUT, DEFAULT_STREAM, DEFAULT_SUMMARY_DIR,
    DEFAULT_TABLE,
};
use crate::names::{self, Layout};
use crate::source::redis::{refuse_on_command_line, RedisAddress, RedisSource};
pub use crate::source::redis::{ENV_REDIS_PASSWORD, ENV_REDIS_URL};
use crate::source::sqlite::{valid_table_name, SqliteSource};
use crate::source::DaySource;
use crate::store::BucketUrl;

/// A problem with how the tool was invoked or configured (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Refuses a summary dir in the data tree, the out dir itself included: readers glob the out
/// dir for day files (`ops_atomic_*.parquet`, `**/*.parquet`), and summaries, rejects and the
/// lock there would be read as data or break the glob.
fn summary_dir_outside(out_dir: &Path, summary_dir: &Path) -> Result<()> {
    if resolved(summary_dir).starts_with(resolved(out_dir)) {
        return Err(usage(format!(
            "--summary-dir {} is inside --out-dir {}: the out dir holds day files only; give a \
             summary dir outside it (default ~/{DEFAULT_SUMMARY_DIR})",
            crate::escape::plain(&summary_dir.display().to_string()),
            crate::escape::plain(&out_dir.display().to_string()),
        )));
    }
    Ok(())
}

/// `path` as the file system resolves it: absolute, each link resolved where it exists and
/// `..` taken after it; a part not created yet as written.
fn resolved(path: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut real = PathBuf::new();
    for part in abs.components() {
        match part {
            Component::ParentDir => {
                real.pop();
            }
            Component::CurDir => {}
            Component::Normal(name) => {
                real.push(name);
                if let Ok(r) = real.canonicalize() {
                    real = r;
                }
            }
            other => real.push(other),
        }
    }
    real
}

/// The config file: the export flags, snake_case, all optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub tz: Option<String>,
    pub redis_url: Option<String>,
    pub redis_password: Option<String>,
    pub redis_ca_file: Option<PathBuf>,
    pub redis_stream: Option<String>,
    pub redis_margin_minutes: Option<u32>,
    pub redis_page_size: Option<usize>,
    pub redis_timeout: Option<u64>,
    pub sqlite: Option<PathBuf>,
    pub sqlite_table: Option<String>,
    pub out_dir: Option<PathBuf>,
    pub summary_dir: Option<PathBuf>,
    pub batch_rows: Option<usize>,
    pub max_size: Option<f64>,
    pub catch_up_window: Option<u32>,
    pub layout: Option<LayoutKind>,
    pub instance: Option<String>,
    pub metrics_file: Option<PathBuf>,
}

impl FileConfig {
    /// Each number within its range (flags and the environment are checked as clap parses
    /// them).
    fn check_bounds(&self, path: &Path) -> Result<()> {
        let as_u64 = |v: Option<usize>| v.map(|v| v as u64);
        bounds::REDIS_TIMEOUT
            .check_file(self.redis_timeout, path)
            .and_then(|()| {
                bounds::REDIS_MARGIN_MINUTES
                    .check_file(self.redis_margin_minutes.map(u64::from), path)
            })
            .and_then(|()| bounds::REDIS_PAGE_SIZE.check_file(as_u64(self.redis_page_size), path))
            .and_then(|()| {
                bounds::CATCH_UP_WINDOW.check_file(self.catch_up_window.map(u64::from), path)
            })
            .map_err(usage)
    }
}

/// The configured sources, in the order the summary lists them.
pub type Sources = Vec<Arc<dyn DaySource>>;

/// Which days a run exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunPlan {
    /// `--date`, or yesterday.
    Single,
    /// `--from … --to …`, inclusive.
    Range(NaiveDate, NaiveDate),
    /// `--catch-up`: missing or incomplete days of the window ending yesterday.
    CatchUp { window: u32, max_days: u32 },
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The day to export (for several days: the one being exported now).
    pub day: Day,
    pub plan: RunPlan,
    /// Yesterday in the configured zone: the last complete day.
    pub yesterday: NaiveDate,
    pub lock_timeout: Duration,
    pub sources: Sources,
    /// The local out dir; with a bucket (`out`), the summary dir, where the run's lock lives
    /// and its files are staged before they are uploaded.
    pub out_dir: PathBuf,
    /// Where day files are published: the local out dir, or a bucket prefix.
    pub out: OutDir,
    pub layout: Layout,
    pub summary_dir: PathBuf,
    pub dry: bool,
    pub json: bool,
    /// Publish even when the run is worse than the file already there.
    pub force: bool,
    /// `--intraday`: today up to now, marked incomplete (`day` is cut at now).
    pub intraday: bool,
    /// The size limit a file must meet to be published (`None`: no limit).
    pub max_bytes: Option<u64>,
    pub batch_rows: usize,
    /// Files an older version kept in the data tree that this run moved out (its first day's
    /// summary says so).
    pub moved: Vec<String>,
}

impl Config {
    /// The same configuration for another day of a multi-day run.
    pub fn for_day(&self, date: NaiveDate) -> Result<Config> {
        Ok(Config {
            day: Day::new(date, self.day.tz())?,
            ..self.clone()
        })
    }

    /// Where the day file is written: its place in the out dir, or (for a bucket) the local
    /// file staged for upload.
    pub fn parquet_path(&self) -> PathBuf {
        self.local_path(&self.layout.day_file(self.day.date()))
    }

    /// The day's rejects file, beside its summary.
    pub fn rejects_path(&self) -> PathBuf {
        self.summary_dir
            .join(self.layout.rejects_file(self.day.date()))
    }

    fn local_path(&self, rel: &str) -> PathBuf {
        match &self.out {
            OutDir::Local(dir) => dir.join(rel),
            // Staged beside the summaries under the plain name, uploaded under `rel`.
            OutDir::Bucket(_) => self.out_dir.join(rel.rsplit('/').next().unwrap_or(rel)),
        }
    }

    /// The day file as reports show it: a path, or `s3://bucket/prefix/...`.
    pub fn show_day_file(&self) -> String {
        self.show(&self.layout.day_file(self.day.date()))
    }

    pub fn show_rejects_file(&self) -> String {
        self.rejects_path().display().to_string()
    }

    fn show(&self, rel: &str) -> String {
        match &self.out {
            OutDir::Local(_) => self.local_path(rel).display().to_string(),
            OutDir::Bucket(b) => b.show(rel),
        }
    }

    pub fn summary_path(&self) -> PathBuf {
        self.summary_dir.join(names::summary(self.day.date()))
    }

    pub fn timeline_path(&self) -> PathBuf {
        self.summary_dir.join(names::timeline(self.day.date()))
    }
}

/// Where day files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutDir {
    Local(PathBuf),
    Bucket(BucketUrl),
}

impl OutDir {
    /// A directory, or `s3://bucket/prefix` (anything else with `://` is refused).
    pub fn parse(p: PathBuf) -> Result<OutDir> {
        match p.to_str().and_then(BucketUrl::parse) {
            None => Ok(OutDir::Local(p)),
            Some(Ok(b)) => Ok(OutDir::Bucket(b)),
            Some(Err(why)) => Err(usage(format!("--out-dir: {why}"))),
        }
    }
}

/// `--layout`, `--instance` (flag, environment, config file), validated.
pub fn resolve_layout(
    layout: Option<LayoutKind>,
    instance: Option<&str>,
    file: &FileConfig,
) -> Result<Layout> {
    let hive = match layout.or(file.layout).unwrap_or(DEFAULT_LAYOUT) {
        LayoutKind::Flat => false,
        LayoutKind::Hive => true,
    };
    let instance = instance.or(file.instance.as_deref()).map(str::to_string);
    if let Some(i) = &instance {
        if !names::valid_instance(i) {
            return Err(usage(format!(
                "--instance {i:?}: use 1 to 64 letters, digits, '-' or '_'"
            )));
        }
    }
    Ok(Layout { hive, instance })
}

pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `~/x` → `$HOME/x`; config files are not expanded by a shell.
fn expand(p: PathBuf) -> PathBuf {
    match (p.strip_prefix("~"), home()) {
        (Ok(rest), Some(h)) => h.join(rest),
        _ => p,
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads the config file: the one named (which must exist), else the default one if present.
pub fn load_file(named: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>)> {
    let path = match named {
        Some(p) => expand(p.to_path_buf()),
        None => match home().map(|h| h.join(DEFAULT_CONFIG)) {
            Some(p) if p.exists() => p,
            _ => return Ok((FileConfig::default(), None)),
        },
    };
    let text = crate::fsio::read_text(&path, crate::fsio::TEXT_LIMIT)
        .with_context(|| format!("reading config file {}", path.display()))
        .map_err(|e| usage(format!("{e:#}")))?;
    let file: FileConfig =
        toml::from_str(&text).map_err(|e| usage(format!("config file {}: {e}", path.display())))?;
    file.check_bounds(&path)?;
    warn_if_others_can_read_secrets(&path, &file);
    Ok((file, Some(path)))
}

/// The longest `--catch-up-window`: ten years of days.
const MAX_WINDOW_DAYS: u32 = 3660;
/// The longest `--from/--to` range without `--long-range`.
const MAX_RANGE_DAYS: i64 = 366;

/// Which days to export, and the day asked for (`--date` or the environment): a range, catch-up
/// or one day, validated.
fn resolve_plan(
    args: &ExportArgs,
    file: &FileConfig,
    yesterday: NaiveDate,
) -> Result<(RunPlan, Option<NaiveDate>)> {
    // The environment's day or catch-up applies only when the command line chose neither:
    // a flag typed wins over a variable left in the environment.
    let typed = args.date.is_some() || args.from.is_some() || args.catch_up || args.intraday;
    let (env_date, env_catch_up) = if typed {
        (None, false)
    } else {
        plan_from_env()?
    };
    let date = args.date.or(env_date);
    let plan = match (args.from, args.catch_up || env_catch_up) {
        (Some(from), _) => {
            let to = args.to.unwrap_or(yesterday);
            if from > to {
                return Err(usage(format!("--from {from} is after --to {to}")));
            }
            if (to - from).num_days() >= MAX_RANGE_DAYS && !args.long_range {
                return Err(usage(format!(
                    "--from {from} --to {to} is {} days; ranges over {MAX_RANGE_DAYS} days \
                     need --long-range",
                    (to - from).num_days() + 1
                )));
            }
            RunPlan::Range(from, to)
        }
        (None, true) => {
            let max_days = args.max_days.unwrap_or(DEFAULT_MAX_DAYS);
            if max_days == 0 {
                return Err(usage("--max-days must be at least 1"));
            }
            let window = args
                .catch_up_window
                .or(file.catch_up_window)
                .unwrap_or(DEFAULT_CATCH_UP_WINDOW);
            if !(1..=MAX_WINDOW_DAYS).contains(&window) {
                return Err(usage(format!(
                    "--catch-up-window must be from 1 to {MAX_WINDOW_DAYS} days, not {window}"
                )));
            }
            RunPlan::CatchUp { window, max_days }
        }
        (None, false) => RunPlan::Single,
    };
    Ok((plan, date))
}

/// `PARQUET_EXPORTER_DATE` and `PARQUET_EXPORTER_CATCH_UP`, for a command line that names
/// neither a day, a range nor catch-up. Both at once is a usage error: which was meant?
fn plan_from_env() -> Result<(Option<NaiveDate>, bool)> {
    let date = env_nonempty("PARQUET_EXPORTER_DATE")
        .map(|v| {
            crate::hints::parse_date(&v)
                .map_err(|why| usage(format!("PARQUET_EXPORTER_DATE={v:?}: {why}")))
        })
        .transpose()?;
    // As clap reads a boolean flag's variable: these mean off, anything else on.
    let catch_up = env_nonempty("PARQUET_EXPORTER_CATCH_UP").is_some_and(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off" | "n" | "f"
        )
    });
    if date.is_some() && catch_up {
        return Err(usage(
            "PARQUET_EXPORTER_DATE and PARQUET_EXPORTER_CATCH_UP are both set: unset one, or \
             give --date or --catch-up on the command line",
        ));
    }
    Ok((date, catch_up))
}

/// Warns, as ssh does of a key file, when a config file that holds a Redis password can be
/// read by other users.
fn warn_if_others_can_read_secrets(path: &Path, file: &FileConfig) {
    use std::os::unix::fs::PermissionsExt;
    let secret = file.redis_password.is_some()
        || file
            .redis_url
            .as_deref()
            .is_some_and(crate::source::redis::url_has_password);
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if secret && mode & 0o077 != 0 {
        tracing::warn!(
            "config file {} holds a Redis password and other users can read it (mode {mode:04o}); \
             run: chmod 600 {}",
            crate::escape::plain(&path.display().to_string()),
            crate::escape::plain(&path.display().to_string())
        );
    }
}

/// The time zone: the given name, else `TZ`, else the system's.
pub fn resolve_tz(name: Option<&str>) -> Result<Tz> {
    let name = match name {
        Some(n) => n.to_string(),
        None => match env_nonempty("TZ") {
            Some(tz) => match tz_from_env(&tz) {
                Some(name) => name,
                None => {
                    let system = system_tz();
                    tracing::warn!(
                        "TZ={tz:?} names no IANA zone this tool can use; using the system's zone \
                         {system} (set --tz or PARQUET_EXPORTER_TZ to choose)"
                    );
                    system
                }
            },
            None => system_tz(),
        },
    };
    name.parse::<Tz>().map_err(|_| {
        usage(match crate::hints::suggest_zone(&name) {
            Some(meant) => format!("unknown time zone {name:?}: did you mean {meant}?"),
            None => format!("unknown time zone {name:?}: use an IANA name like Asia/Bangkok"),
        })
    })
}

/// The system's zone. Without /etc/localtime the C library itself runs in UTC, so that is the
/// system's zone; say so in the log rather than fail a scheduled run.
fn system_tz() -> String {
    iana_time_zone::get_timezone().unwrap_or_else(|e| {
        tracing::warn!("cannot tell the system's time zone ({e}); using UTC (set --tz)");
        "UTC".to_string()
    })
}

/// The IANA name a POSIX `TZ` value stands for: an IANA name (with or without the leading
/// `:`), a path into a zoneinfo tree (`/usr/share/zoneinfo/Asia/Bangkok`), a link to one
/// (`:/etc/localtime`), or a rule with a fixed offset and no DST (`UTC0`, `<+07>-7`). `None`
/// for a rule with DST, which names no zone.
pub fn tz_from_env(value: &str) -> Option<String> {
    let value = value.strip_prefix(':').unwrap_or(value);
    if value.parse::<Tz>().is_ok() {
        return Some(value.to_string());
    }
    if value.starts_with('/') {
        let zone_of = |p: &str| {
            p.rsplit_once("zoneinfo/")
                .map(|(_, zone)| zone.to_string())
                .filter(|z| z.parse::<Tz>().is_ok())
        };
        // The link itself may name the zone (/etc/localtime -> /usr/share/zoneinfo/Asia/Bangkok).
        return zone_of(value).or_else(|| {
            let real = std::fs::canonicalize(value).ok()?;
            zone_of(real.to_str()?)
        });
    }
    posix_fixed_offset(value)
}

/// `STD offset` with no DST part, as an `Etc/GMT±h` zone (POSIX and `Etc/GMT` share the sign:
/// `<+07>-7` is seven hours east of UTC, as is `Etc/GMT-7`). Offsets that are not whole hours
/// have no such zone.
fn posix_fixed_offset(rule: &str) -> Option<String> {
    let rest = if let Some(quoted) = rule.strip_prefix('<') {
        quoted.split_once('>')?.1
    } else {
        let letters = rule.find(|c: char| !c.is_ascii_alphabetic())?;
        (letters >= 3).then(|| &rule[letters..])?
    };
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => (1, rest),
    };
    let mut parts = digits.split(':');
    let hours: i32 = parts.next()?.parse().ok()?;
    let minutes: i32 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    if minutes != 0 || parts.next().is_some_and(|s| s != "00") || hours > 14 {
        return None;
    }
    Some(match sign * hours {
        0 => "UTC".to_string(),
        h => format!("Etc/GMT{h:+}"),
    })
}

/// The variable `--metrics-file` reads, which the schedules set.
pub const ENV_METRICS_FILE: &str = "PARQUET_EXPORTER_METRICS_FILE";

/// The metrics file: `given` (the flag or its variable), else the config file's
/// `metrics_file`, else the ops layout's, named for `instance` when there is one so that two
/// instances on one machine never share a default file. `None` when set empty (the metrics
/// are off) or without HOME. The config file is read quietly here: the run reports its
/// problems itself, and a run that fails on them still writes its metrics, to the default file.
pub fn metrics_file(
    given: Option<&Path>,
    instance: Option<&str>,
    config: Option<&Path>,
) -> Option<PathBuf> {
    let chosen = match given {
        Some(p) => Some(p.to_path_buf()),
        None => quiet_file_config(config).and_then(|f| f.metrics_file),
    };
    match chosen {
        Some(p) if p.as_os_str().is_empty() => None,
        Some(p) => Some(expand(p)),
        None => home().map(|h| {
            let file = h.join(DEFAULT_METRICS_FILE);
            match instance {
                Some(i) => file.with_file_name(format!("parquet_exporter.{i}.prom")),
                None => file,
            }
        }),
    }
}

/// The instance a run's metrics are labelled with: `given` (the flag or its variable), else
/// the config file's `instance`; a name the run would refuse is none (the run fails on it).
pub fn metrics_instance(given: Option<&str>, config: Option<&Path>) -> Option<String> {
    given
        .map(str::to_string)
        .or_else(|| quiet_file_config(config).and_then(|f| f.instance))
        .filter(|i| names::valid_instance(i))
}

/// The config file named, else the default one if present, or `None` when it cannot be read.
fn quiet_file_config(config: Option<&Path>) -> Option<FileConfig> {
    match config {
        Some(c) => Some(expand(c.to_path_buf())),
        None => home()
            .map(|h| h.join(DEFAULT_CONFIG))
            .filter(|p| p.exists()),
    }
    .and_then(|p| crate::fsio::read_text(&p, crate::fsio::TEXT_LIMIT).ok())
    .and_then(|t| toml::from_str::<FileConfig>(&t).ok())
}

/// A directory from the flag (or its environment variable), else the config file, else the ops
/// layout's default under HOME.
fn dir_or_default(flag: &Option<PathBuf>, file: Option<PathBuf>, default: &str) -> Result<PathBuf> {
    match flag.clone().or(file).map(expand) {
        Some(p) => Ok(p),
        None => home().map(|h| h.join(default)).ok_or_else(|| {
            usage(format!(
                "HOME is not set, so there is no default for {default}; pass the directory"
            ))
        }),
    }
}

/// The hard size limit from `--max-size` MB, if one is asked for (0: none). Without one, a
/// file over the 5 MB target is published and reported, not refused: the target is no reason
/// to drop a day.
pub fn max_bytes(mb: Option<f64>) -> Result<Option<u64>> {
    let Some(mb) = mb else {
        return Ok(None);
    };
    if !(mb.is_finite() && mb >= 0.0) {
        return Err(usage("--max-size must be a number of MB, 0 for no limit"));
    }
    Ok((mb > 0.0).then_some((mb * 1e6) as u64))
}

/// The out dir from the environment or the config file, else the ops layout's default: for
/// commands that read the day files without exporting.
pub fn default_out_dir(config: Option<&Path>) -> Result<PathBuf> {
    let (file, _) = load_file(config)?;
    dir_or_default(
        &env_nonempty("PARQUET_EXPORTER_OUT_DIR").map(PathBuf::from),
        file.out_dir,
        DEFAULT_OUT_DIR,
    )
}

/// `import-legacy`, validated: where the files go and which zone's days they are filed under.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub paths: Vec<PathBuf>,
    pub tz: Tz,
    pub out_dir: PathBuf,
    pub summary_dir: PathBuf,
    pub dry: bool,
    pub json: bool,
    pub lock_timeout: Duration,
    /// The size limit a day file must meet to be published (`None`: no limit).
    pub max_bytes: Option<u64>,
}

impl ImportConfig {
    pub fn resolve(args: &ImportArgs, config: Option<&Path>) -> Result<ImportConfig> {
        let (file, _) = load_file(config)?;
        let out_dir = dir_or_default(&args.places.out_dir, file.out_dir, DEFAULT_OUT_DIR)?;
        let summary_dir = dir_or_default(
            &args.places.summary_dir,
            file.summary_dir,
            DEFAULT_SUMMARY_DIR,
        )?;
        summary_dir_outside(&out_dir, &summary_dir)?;
        Ok(ImportConfig {
            paths: args.paths.iter().cloned().map(expand).collect(),
            tz: resolve_tz(args.zone.tz.as_deref().or(file.tz.as_deref()))?,
            out_dir,
            summary_dir,
            dry: args.dry,
            json: args.json,
            lock_timeout: lock_wait(args.lock.lock_timeout),
            max_bytes: max_bytes(args.max_size.or(file.max_size))?,
        })
    }
}

impl Config {
    pub fn resolve(args: &ExportArgs, config: Option<&Path>) -> Result<Config> {
        let (file, _) = load_file(config)?;
        let tz = resolve_tz(args.zone.tz.as_deref().or(file.tz.as_deref()))?;
        let now = args.now.unwrap_or_else(Utc::now);
        let today = match args.today {
            Some(t) => t,
            None => now.with_timezone(&tz).date_naive(),
        };
        let yesterday = today
            .pred_opt()
            .ok_or_else(|| usage("--today has no day before it"))?;
        let (plan, date) = resolve_plan(args, &file, yesterday)?;
        let day = if args.intraday {
            // The running day, up to now: the one export of a day that has not ended.
            Day::new(today, tz)?.until(now.timestamp_millis())
        } else {
            Day::new(date.unwrap_or(yesterday), tz)?
        };
        // A day that has not ended would be exported as if complete, and catch-up would
        // never look at it again.
        let last_wanted = match plan {
            RunPlan::Single if args.intraday => None,
            RunPlan::Single => Some(day.date()),
            RunPlan::Range(_, to) => Some(to),
            RunPlan::CatchUp { .. } => None,
        };
        if let Some(last) = last_wanted.filter(|d| *d >= today) {
            if args.dry {
                tracing::warn!(day = %last, "the day has not ended in {}; a dry run shows what is there so far", tz.name());
            } else {
                return Err(usage(format!(
                    "{last} has not ended yet in {} (today is {today}); export a day once it is \
                     over (--dry shows what is there so far)",
                    tz.name()
                )));
            }
        }

        let redis = resolve_redis(
            redis_target(
                args.redis.url.as_deref(),
                args.redis.ca_file.as_deref(),
                &file,
            )?,
            &args.redis.stream,
            Some(&args.redis_read),
            &file,
        )?;
        let sources = sources_of(resolve_sqlite(&args.sqlite, &file)?, redis);
        if sources.is_empty() {
            return Err(usage(
                "no source configured: give --sqlite PATH and/or --redis-url URL (or \
                 PARQUET_EXPORTER_SQLITE / PARQUET_EXPORTER_REDIS_URL, or sqlite / redis_url in \
                 the config file ~/02luka/config/parquet_exporter.toml)",
            ));
        }

        let batch_rows = args
            .batch_rows
            .or(file.batch_rows)
            .unwrap_or(DEFAULT_BATCH_ROWS);
        if batch_rows == 0 {
            return Err(usage("--batch-rows must be at least 1"));
        }
        let max_bytes = max_bytes(args.max_size.or(file.max_size))?;
        let summary_dir = dir_or_default(
            &args.places.summary_dir,
            file.summary_dir.clone(),
            DEFAULT_SUMMARY_DIR,
        )?;
        let out = OutDir::parse(dir_or_default(
            &args.places.out_dir,
            file.out_dir.clone(),
            DEFAULT_OUT_DIR,
        )?)?;
        if let OutDir::Local(dir) = &out {
            summary_dir_outside(dir, &summary_dir)?;
        }
        let scheme = &args.places.scheme;
        let layout = resolve_layout(scheme.layout, scheme.instance.as_deref(), &file)?;
        Ok(Config {
            day,
            plan,
            yesterday,
            lock_timeout: lock_wait(args.lock.lock_timeout),
            sources,
            out_dir: match &out {
                OutDir::Local(dir) => dir.clone(),
                OutDir::Bucket(_) => summary_dir.clone(),
            },
            out,
            layout,
            summary_dir,
            dry: args.dry,
            json: args.json,
            force: args.force,
            intraday: args.intraday,
            max_bytes,
            batch_rows,
            moved: Vec::new(),
        })
    }
}

/// `verify --report`, validated: where the deployment's parts are and what to measure.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub tz: Tz,
    pub now: chrono::DateTime<Utc>,
    pub out_dir: PathBuf,
    pub summary_dir: PathBuf,
    pub home: PathBuf,
    /// The wrapper given with --wrapper (else it is looked for next to the binary).
    pub wrapper: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub log_file: PathBuf,
    pub sources: Sources,
    pub days: u32,
    pub max_bytes: Option<u64>,
    pub report_path: PathBuf,
    pub json: bool,
}

impl ReportConfig {
    pub fn resolve(
        args: &ReportArgs,
        report: Option<&Path>,
        json: bool,
        max_size_mb: Option<f64>,
        config: Option<&Path>,
    ) -> Result<ReportConfig> {
        let (file, config_file) = load_file(config)?;
        if args.days == 0 {
            return Err(usage("--days must be at least 1"));
        }
        let tz = resolve_tz(args.zone.tz.as_deref().or(file.tz.as_deref()))?;
        // The report has no Redis URL flag: the URL is the one `export` would read.
        let redis = resolve_redis(redis_target(None, None, &file)?, &args.stream, None, &file)?;
        let sources = sources_of(resolve_sqlite(&args.sqlite, &file)?, redis);
        let home = home().ok_or_else(|| usage("HOME is not set; the report looks under it"))?;
        let summary_dir = dir_or_default(
            &args.places.summary_dir,
            file.summary_dir.clone(),
            DEFAULT_SUMMARY_DIR,
        )?;
        let now = Utc::now();
        let report_path = match report {
            Some(p) => expand(p.to_path_buf()),
            None => summary_dir.join(names::verification(now.with_timezone(&tz).date_naive())),
        };
        let out_dir = dir_or_default(&args.places.out_dir, file.out_dir.clone(), DEFAULT_OUT_DIR)?;
        local_only(&out_dir, "verify --report")?;
        Ok(ReportConfig {
            tz,
            now,
            out_dir,
            summary_dir,
            wrapper: args.wrapper.path.clone().map(expand),
            config_file,
            log_file: args
                .log_file
                .clone()
                .map(expand)
                .unwrap_or_else(|| home.join(DEFAULT_LOG_FILE)),
            home,
            sources,
            days: args.days,
            max_bytes: max_bytes(max_size_mb)?,
            report_path,
            json,
        })
    }
}

/// Refuses, in one line, a bucket where `command` reads a local out dir: it would otherwise
/// look for a folder named `s3:`.
pub fn local_only(out_dir: &Path, command: &str) -> Result<()> {
    match out_dir.to_str().and_then(BucketUrl::parse) {
        Some(_) => Err(usage(format!(
            "{command} reads a local out dir, and {} is a bucket: `parquet-exporter verify {}` \
             checks every day file in it",
            out_dir.display(),
            out_dir.display()
        ))),
        None => Ok(()),
    }
}

/// Where Redis is, from the flags a command has (`url`, `ca_file`), the environment and the
/// config file: a URL on the command line must not carry a password, and a variable set empty
/// counts as unset. `None` when no URL is given anywhere.
pub fn redis_target(
    url: Option<&str>,
    ca_file: Option<&Path>,
    file: &FileConfig,
) -> Result<Option<RedisAddress>> {
    if let Some(why) = url.and_then(refuse_on_command_line) {
        return Err(usage(why));
    }
    let url = url
        .map(str::to_string)
        .or_else(|| env_nonempty(ENV_REDIS_URL))
        .or_else(|| file.redis_url.clone());
    Ok(url.map(|url| RedisAddress {
        url,
        password: env_nonempty(ENV_REDIS_PASSWORD).or_else(|| file.redis_password.clone()),
        ca_file: ca_file
            .map(Path::to_path_buf)
            .or_else(|| file.redis_ca_file.clone())
            .map(expand),
    }))
}

/// The Redis source at `target`: the stream, and how the day is read from it (`read`: the
/// flags of a command that has them; the config file's values or the defaults otherwise).
fn resolve_redis(
    target: Option<RedisAddress>,
    stream: &StreamArgs,
    read: Option<&RedisReadArgs>,
    file: &FileConfig,
) -> Result<Option<RedisSource>> {
    let Some(target) = target else {
        return Ok(None);
    };
    let page_size = read
        .and_then(|r| r.page_size)
        .or(file.redis_page_size)
        .unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 {
        return Err(usage("--redis-page-size must be at least 1"));
    }
    let margin_minutes = read
        .and_then(|r| r.margin_minutes)
        .or(file.redis_margin_minutes)
        .unwrap_or(DEFAULT_MARGIN_MINUTES);
    let timeout = match read.and_then(|r| r.timeout).or(file.redis_timeout) {
        Some(0) => return Err(usage("--redis-timeout must be at least 1 second")),
        Some(s) => Duration::from_secs(s),
        None => DEFAULT_REDIS_TIMEOUT,
    };
    Ok(Some(RedisSource {
        target,
        stream: stream
            .stream
            .clone()
            .or_else(|| file.redis_stream.clone())
            .unwrap_or_else(|| DEFAULT_STREAM.into()),
        margin: Duration::from_secs(60 * u64::from(margin_minutes)),
        page_size,
        timeout,
    }))
}

/// The SQLite source from the flags, environment and config file, if one is given.
fn resolve_sqlite(args: &SqliteArgs, file: &FileConfig) -> Result<Option<SqliteSource>> {
    let Some(path) = args
        .path
        .clone()
        .or_else(|| file.sqlite.clone())
        .map(expand)
    else {
        return Ok(None);
    };
    let table = args
        .table
        .clone()
        .or_else(|| file.sqlite_table.clone())
        .unwrap_or_else(|| DEFAULT_TABLE.into());
    if !valid_table_name(&table) {
        return Err(usage(format!(
            "--sqlite-table {table:?} is empty or holds control characters"
        )));
    }
    Ok(Some(SqliteSource { path, table }))
}

/// The configured sources, SQLite then Redis, as the summary lists them.
fn sources_of(sqlite: Option<SqliteSource>, redis: Option<RedisSource>) -> Sources {
    let sqlite = sqlite.map(|s| Arc::new(s) as Arc<dyn DaySource>);
    let redis = redis.map(|r| Arc::new(r) as Arc<dyn DaySource>);
    sqlite.into_iter().chain(redis).collect()
}

/// `--lock-timeout` as a wait.
fn lock_wait(seconds: Option<u64>) -> Duration {
    Duration::from_secs(seconds.unwrap_or(DEFAULT_LOCK_TIMEOUT_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Source;

    #[test]
    fn a_summary_dir_in_the_data_tree_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("out/day=2025-10-30")).unwrap();
        std::os::unix::fs::symlink(d.join("out"), d.join("link")).unwrap();
        let inside = [
            ("out", "out"),
            ("out", "out/reports"),
            ("out", "out/day=2025-10-30/../new/reports"),
            ("out", "elsewhere/../out/reports"),
            ("out", "link/reports"),
            ("link", "out"),
        ];
        for (out, summary) in inside {
            let err = summary_dir_outside(&d.join(out), &d.join(summary)).unwrap_err();
            assert!(
                err.downcast_ref::<UsageError>().is_some(),
                "{out} {summary}"
            );
            let text = err.to_string();
            assert!(text.contains(summary) && text.contains(out), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        for (out, summary) in [("out", "reports"), ("out", "outside"), ("data/out", "data")] {
            summary_dir_outside(&d.join(out), &d.join(summary)).unwrap();
        }
    }

    fn args() -> ExportArgs {
        let mut a = ExportArgs {
            date: chrono::NaiveDate::from_ymd_opt(2025, 10, 30),
            ..Default::default()
        };
        a.zone.tz = Some("UTC".into());
        a.places.out_dir = Some("/o".into());
        a.places.summary_dir = Some("/s".into());
        a
    }

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    fn is_usage(e: &anyhow::Error) -> bool {
        e.downcast_ref::<UsageError>().is_some()
    }

    #[test]
    fn no_source_is_a_usage_error_that_says_how() {
        let (_d, cfg) = file_with("");
        let e = Config::resolve(&args(), Some(&cfg)).unwrap_err();
        assert!(is_usage(&e));
        assert!(e.to_string().contains("--sqlite PATH"), "{e}");
    }

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let (_d, cfg) = file_with("sqlite = \"/from/file.db\"\nsqlite_table = \"t_file\"\n");
        let c = Config::resolve(&args(), Some(&cfg)).unwrap();
        assert_eq!(c.sources[0].location(), "/from/file.db table t_file");
        let mut a = args();
        a.sqlite.path = Some("/from/flag.db".into());
        let c = Config::resolve(&a, Some(&cfg)).unwrap();
        assert_eq!(c.sources[0].location(), "/from/flag.db table t_file");
        let origins: Vec<Source> = c.sources.iter().map(|s| s.origin()).collect();
        assert_eq!(origins, [Source::Sqlite], "no Redis was configured");
        assert_eq!(
            c.parquet_path(),
            PathBuf::from("/o/ops_atomic_20251030.parquet")
        );
    }

    #[test]
    fn a_bucket_out_dir_and_the_layout_come_from_the_config_file() {
        let (_d, cfg) = file_with(
            "sqlite = \"/a.db\"\nout_dir = \"s3://ops-data/fleet\"\nlayout = \"hive\"\ninstance = \"site-b\"\n",
        );
        let mut a = args();
        a.places.out_dir = None;
        let c = Config::resolve(&a, Some(&cfg)).unwrap();
        assert_eq!(
            c.out,
            OutDir::Bucket(BucketUrl {
                bucket: "ops-data".into(),
                prefix: "fleet".into()
            })
        );
        assert_eq!(
            c.show_day_file(),
            "s3://ops-data/fleet/instance=site-b/day=2025-10-30/ops_atomic_20251030.parquet"
        );
        // Staged beside the summaries (where the lock is), never in a directory named "s3:".
        assert_eq!(c.out_dir, PathBuf::from("/s"));
        assert_eq!(
            c.parquet_path(),
            PathBuf::from("/s/ops_atomic_20251030.parquet")
        );
        // The flag beats the file.
        a.places.scheme.layout = Some(LayoutKind::Flat);
        a.places.scheme.instance = Some("x".into());
        let c = Config::resolve(&a, Some(&cfg)).unwrap();
        assert_eq!(
            c.show_day_file(),
            "s3://ops-data/fleet/ops_atomic_20251030.x.parquet"
        );
        for bad in ["a b", "../x", ""] {
            a.places.scheme.instance = Some(bad.into());
            assert!(
                is_usage(&Config::resolve(&a, Some(&cfg)).unwrap_err()),
                "{bad:?}"
            );
        }
        a.places.scheme.instance = None;
        a.places.out_dir = Some("gs://bucket/x".into());
        let e = Config::resolve(&a, Some(&cfg)).unwrap_err();
        assert!(
            is_usage(&e) && e.to_string().contains("gs:// is not supported"),
            "{e}"
        );
    }

    /// What a run resolves to with nothing set: the defaults `--help` shows.
    #[test]
    fn with_nothing_set_a_run_takes_the_defaults() {
        let (_d, cfg) = file_with("");
        let mut a = args();
        a.sqlite.path = Some("/a.db".into());
        a.redis.url = Some("redis://localhost".into());
        let c = Config::resolve(&a, Some(&cfg)).unwrap();
        let locations: Vec<String> = c.sources.iter().map(|s| s.location()).collect();
        assert_eq!(
            locations,
            [
                format!("/a.db table {DEFAULT_TABLE}"),
                format!("redis://localhost stream {DEFAULT_STREAM}")
            ]
        );
        let (file, _) = load_file(Some(&cfg)).unwrap();
        let target = redis_target(a.redis.url.as_deref(), None, &file).unwrap();
        let redis = resolve_redis(target, &a.redis.stream, Some(&a.redis_read), &file)
            .unwrap()
            .unwrap();
        assert_eq!(redis.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(
            redis.margin,
            Duration::from_secs(60 * u64::from(DEFAULT_MARGIN_MINUTES))
        );
        assert_eq!(redis.timeout, DEFAULT_REDIS_TIMEOUT);
        assert_eq!(c.batch_rows, DEFAULT_BATCH_ROWS);
        assert_eq!(
            c.lock_timeout,
            Duration::from_secs(DEFAULT_LOCK_TIMEOUT_SECS)
        );
        assert!(!c.layout.hive && DEFAULT_LAYOUT == LayoutKind::Flat);
        a.date = None;
        a.catch_up = true;
        let c = Config::resolve(&a, Some(&cfg)).unwrap();
        assert_eq!(
            c.plan,
            RunPlan::CatchUp {
                window: DEFAULT_CATCH_UP_WINDOW,
                max_days: DEFAULT_MAX_DAYS
            }
        );
    }

    #[test]
    fn password_on_the_command_line_is_refused() {
        let mut a = args();
        a.redis.url = Some("redis://:hunter2@localhost".into());
        let (_d, cfg) = file_with("");
        let e = Config::resolve(&a, Some(&cfg)).unwrap_err();
        assert!(is_usage(&e));
        assert!(!e.to_string().contains("hunter2"));
        // ... but from the config file it is fine.
        let (_d, cfg) = file_with("redis_url = \"redis://:hunter2@localhost\"\n");
        let c = Config::resolve(&args(), Some(&cfg)).unwrap();
        let redis = &c.sources[0];
        assert_eq!(redis.origin(), Source::Redis);
        assert!(redis
            .location()
            .ends_with(&format!("stream {DEFAULT_STREAM}")));
    }

    #[test]
    fn posix_tz_values_name_their_zone() {
        for (tz, want) in [
            ("Asia/Bangkok", Some("Asia/Bangkok")),
            (":Asia/Bangkok", Some("Asia/Bangkok")),
            ("/usr/share/zoneinfo/Asia/Bangkok", Some("Asia/Bangkok")),
            (":/usr/share/zoneinfo/Europe/Berlin", Some("Europe/Berlin")),
            ("UTC0", Some("UTC")),
            ("GMT+0", Some("GMT+0")),
            ("UTC+0", Some("UTC")),
            ("<+07>-7", Some("Etc/GMT-7")),
            ("EST5", Some("Etc/GMT+5")),
            ("CET-1CEST,M3.5.0,M10.5.0/3", None),
            ("<+0530>-5:30", None),
            ("/nowhere/at/all", None),
        ] {
            assert_eq!(tz_from_env(tz).as_deref(), want, "{tz}");
        }
        // A link into a zoneinfo tree names the zone it points at.
        let dir = tempfile::tempdir().unwrap();
        let zoneinfo = dir.path().join("zoneinfo/Asia");
        std::fs::create_dir_all(&zoneinfo).unwrap();
        std::fs::write(zoneinfo.join("Tokyo"), "TZif").unwrap();
        let link = dir.path().join("localtime");
        std::os::unix::fs::symlink(zoneinfo.join("Tokyo"), &link).unwrap();
        assert_eq!(
            tz_from_env(&format!(":{}", link.display())).as_deref(),
            Some("Asia/Tokyo")
        );
    }

    #[test]
    fn bad_inputs_are_usage_errors() {
        let (_d, cfg) = file_with("sqlite = \"/x.db\"\n");
        let mut a = args();
        a.zone.tz = Some("Mars/Olympus".into());
        assert!(is_usage(&Config::resolve(&a, Some(&cfg)).unwrap_err()));
        let mut a = args();
        a.sqlite.table = Some("t\nDROP".into());
        assert!(is_usage(&Config::resolve(&a, Some(&cfg)).unwrap_err()));
        let (_d, bad) = file_with("no_such_key = 1\n");
        let e = Config::resolve(&args(), Some(&bad)).unwrap_err();
        assert!(is_usage(&e) && e.to_string().contains("no_such_key"), "{e}");
        let e = Config::resolve(&args(), Some(Path::new("/nonexistent/c.toml"))).unwrap_err();
        assert!(is_usage(&e));
    }
}
