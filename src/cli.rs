//! Command line: the clap derive types. Doc comments here are the `--help` text, but for a
//! text that shows a default: that one is built from `defaults`, the values config.rs resolves
//! with. Options several subcommands take are declared once, as groups in `export`'s words; a
//! subcommand that means something else by one rewords it in its own `*_wording` function.
//! Everything is validated into a `Config` (see config.rs) before any work starts.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::builder::Resettable;
use clap::{Arg, Args, Parser, Subcommand, ValueEnum};

use crate::bounds;
use crate::defaults::*;
use crate::simulate::{DEFAULT_HOST, DEFAULT_SEED};

pub const EXIT_CODES: &str = "\
Exit status:
  0  success: the day was exported (rejected records, if any, are in the rejects file)
  1  failed: an error stopped the run, the new file failed its checks (size included), or
     another machine kept changing the day's object; every previous output is untouched
  2  usage: bad flags, environment or config file (a number out of range says its range),
     a day that has not ended yet, or an out dir of another zone, layout or instance naming
  3  partial: a configured source was unreachable; exported from the others, and the day
     file keeps every record it held (--force replaces it)
  4  empty: no record for the day; a valid zero-row file was written (or the existing kept)
  5  no source: no configured source could be read; nothing was written
  6  busy: another run holds the lock of the summary dir or of the out dir (see
     --lock-timeout); nothing was touched
  7  pending: verify --report only; a deployment part is missing (see the report for which)
With several days (--from/--to, --catch-up) the status is the worst day's, in the order
1, 5, 3, 4, 0; every day is attempted. In a catch-up, a day whose file already said empty and
that is still empty counts as 0.
`verify` exits 0 when every file is valid and 1 when any is not; `verify --report` exits 0 for
Full success, 3 for Partial and 7 for Pending (see the report for why).

Environment: flags that name a variable ([env: ...] in --help) can be set there, and PARQUET_EXPORTER_REDIS_URL;
the Redis password as PARQUET_EXPORTER_REDIS_PASSWORD. Precedence: flag > environment > config file > default.
RUST_LOG sets log filtering (default: info; -v debug, -q warnings only). Logs go to stderr,
coloured only when it is a terminal and NO_COLOR is unset.";

/// Exports one day of OPS-Atomic heartbeat records from Redis and SQLite into a schema-v1,
/// SNAPPY-compressed Parquet file plus a markdown summary.
///
/// Without a subcommand it runs `export`, so `parquet-exporter --dry` works.
#[derive(Debug, Parser)]
#[command(name = "parquet-exporter", version, after_help = EXIT_CODES)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub export: ExportArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export a day (the default command).
    Export(ExportArgs),
    /// Print output schema v1 as a table.
    Schema {
        /// Print it as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the canonical SQLite DDL (table and `ts` index) that writers should create.
    SqliteDdl {
        /// Table name.
        #[arg(long, default_value = DEFAULT_TABLE)]
        table: String,
    },
    /// Write a realistic simulated day of heartbeats into a SQLite file and/or a Redis stream.
    Simulate(SimulateArgs),
    /// Import the legacy exporter's Parquet files and heartbeat reports into schema-v1 day
    /// files (source = legacy), merged into the day files already there. Idempotent.
    ImportLegacy(ImportArgs),
    /// Validate exported files: footer, SNAPPY codecs, schema v1, row counts, order, unique
    /// ids, day bounds, allowed values, size; across files, schema drift and missing days (as
    /// ranges, `first … last (N days)`). Exit status 0 when everything is valid, 1 when anything is not.
    Verify(VerifyArgs),
    /// The macOS launchd agent that runs the wrapper with --catch-up daily at 02:30.
    Launchd {
        #[arg(value_enum)]
        action: LaunchdAction,
        #[command(flatten)]
        wrapper: WrapperArgs,
        /// The second, optional agent instead: the intraday export of the running day every
        /// 10 minutes (StartInterval 600), for a dashboard that shows today.
        #[arg(long)]
        intraday: bool,
    },
    /// One line per day from the day files, newest first: rows, statuses, rejects, gaps,
    /// hosts and the verdict, and the days that have no file.
    History(HistoryArgs),
    /// Print a shell completion script (docs/operations.md says where to put it).
    Completions {
        /// Without it, the shells there are scripts for are listed.
        #[arg(value_enum)]
        shell: Option<clap_complete::Shell>,
    },
    /// Print the man page (roff), e.g. into ~/.local/share/man/man1/parquet-exporter.1.
    Man,
    /// A systemd user service and timer doing the same on Linux hosts.
    Systemd {
        #[arg(value_enum)]
        action: SystemdAction,
        #[command(flatten)]
        wrapper: WrapperArgs,
        /// With install: show the files it would write and the commands it would run, and do
        /// nothing.
        #[arg(long)]
        dry: bool,
        /// The second, optional timer instead: the intraday export of the running day every
        /// 10 minutes.
        #[arg(long)]
        intraday: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LaunchdAction {
    /// Print the plist for this machine.
    Print,
    /// Write it to ~/Library/LaunchAgents and load it with launchctl bootstrap.
    Install,
    /// Unload it with launchctl bootout and remove it.
    Uninstall,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SystemdAction {
    /// Print the service and timer units for this machine.
    Print,
    /// Write them to ~/.config/systemd/user and enable the timer (systemctl --user enable --now).
    Install,
    /// Disable the timer and remove both units.
    Uninstall,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(
        value_name = "PATH",
        help = format!(
            "Files; directories, meaning every ops_atomic_*.parquet in them (flat or hive \
             layout); or s3://bucket/prefix, meaning every such object under it [default: the \
             out dir, as `export` resolves it: ~/{DEFAULT_OUT_DIR}]"
        )
    )]
    pub paths: Vec<PathBuf>,

    /// Instead of checking PATHs, verify the whole deployment (binary, wrapper, schedule, day
    /// files, summaries, log, sources, heartbeat) and write the verification report, markdown,
    /// to FILE [default: <summary-dir>/parquet_exporter_verification_YYYYMMDD.md]. Exit status
    /// 0 for Full success, 3 for Partial, 7 for Pending.
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "paths")]
    pub report: Option<Option<PathBuf>>,

    #[command(flatten)]
    pub deployment: ReportArgs,

    /// Refuse files larger than this, in MB (10^6 bytes). Without it, a file over the 5 MB
    /// target gets a warning, not a failure.
    #[arg(long, value_name = "MB")]
    pub max_size: Option<f64>,

    /// Print the result as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Where `verify --report` looks; the same flags, environment and config file as `export`.
#[derive(Debug, Args)]
#[command(mut_args(report_wording))]
pub struct ReportArgs {
    /// Days the duration and coverage metrics cover, newest first (1 to 3660).
    #[arg(long, default_value_t = DEFAULT_REPORT_DAYS, value_name = "N", requires = "report", value_parser = |s: &str| bounds::REPORT_DAYS.parse::<u32>(s), allow_negative_numbers = true)]
    pub days: u32,

    #[command(flatten)]
    pub zone: TzArgs,

    #[command(flatten)]
    pub places: PlacesArgs,

    #[command(flatten)]
    pub sqlite: SqliteArgs,

    #[command(flatten)]
    pub stream: StreamArgs,

    #[command(flatten)]
    pub wrapper: WrapperArgs,

    #[arg(
        long,
        env = "PARQUET_EXPORTER_LOG",
        value_name = "PATH",
        requires = "report",
        help = format!("The wrapper's log file [default: ~/{DEFAULT_LOG_FILE}]")
    )]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(mut_args(import_wording))]
pub struct ImportArgs {
    /// Legacy Parquet exports and heartbeat reports (.md), or directories holding them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub zone: TzArgs,

    #[command(flatten)]
    pub places: PlacesArgs,

    /// Report what would be written per day; write nothing.
    #[arg(long)]
    pub dry: bool,

    /// Print the result as one JSON document.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lock: LockWaitArgs,

    /// Refuse to publish a day file larger than this, in MB (0: no limit) [default: no limit;
    /// a file over the 5 MB target is published with a warning].
    #[arg(long, env = "PARQUET_EXPORTER_MAX_SIZE", value_name = "MB")]
    pub max_size: Option<f64>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(
        value_name = "DIR",
        help = format!("Directory of the day files [default: --out-dir's default, ~/{DEFAULT_OUT_DIR}]")
    )]
    pub dir: Option<PathBuf>,

    /// Days shown, ending at the newest day file (1 to 3660).
    #[arg(long, default_value_t = DEFAULT_HISTORY_DAYS, value_name = "N", value_parser = |s: &str| bounds::REPORT_DAYS.parse::<u32>(s), allow_negative_numbers = true)]
    pub days: u32,

    /// Also write a picture of the same days (status counts and coverage per day) as SVG.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,

    /// Print the result as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    #[arg(
        long,
        global = true,
        env = "PARQUET_EXPORTER_CONFIG",
        value_name = "FILE",
        help = format!("TOML config file [default: ~/{DEFAULT_CONFIG} when it exists]")
    )]
    pub config: Option<PathBuf>,

    /// More logging (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less logging: warnings and errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log lines on stderr as text, or as one JSON object per line for log shippers.
    #[arg(
        long,
        global = true,
        env = "PARQUET_EXPORTER_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// Where day files go under the out dir or prefix (see `--layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    Flat,
    Hive,
}

/// The layout when neither `--layout` nor the config file names one.
pub const DEFAULT_LAYOUT: LayoutKind = LayoutKind::Flat;

/// A value as it is typed on the command line.
fn typed(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args, Default, Clone)]
pub struct ExportArgs {
    /// Day to export, YYYY-MM-DD [default: yesterday in --tz]. Also PARQUET_EXPORTER_DATE,
    /// which --from and --catch-up on the command line override.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "catch_up"], value_parser = crate::hints::parse_date)]
    pub date: Option<NaiveDate>,

    /// Backfill: export every day from this one through --to, each as its own atomic export.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "catch_up", value_parser = crate::hints::parse_date)]
    pub from: Option<NaiveDate>,

    /// Last day of a --from backfill [default: yesterday].
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from", value_parser = crate::hints::parse_date)]
    pub to: Option<NaiveDate>,

    /// Allow a --from/--to backfill of more than 366 days (a mistyped year would otherwise
    /// start writing hundreds of thousands of days).
    #[arg(long, requires = "from")]
    pub long_range: bool,

    /// Export the days of the last --catch-up-window days (ending yesterday) that have no file
    /// in --out-dir, or whose file's footer says partial, empty, failed or incomplete; oldest
    /// first, starting at the oldest day file in the window (yesterday when there is none).
    /// The schedule uses this. Older history is for --from/--to. Also
    /// PARQUET_EXPORTER_CATCH_UP=1, which --date and --from on the command line override.
    #[arg(long)]
    pub catch_up: bool,

    #[arg(
        long,
        env = "PARQUET_EXPORTER_CATCH_UP_WINDOW",
        value_name = "DAYS",
        value_parser = |s: &str| bounds::CATCH_UP_WINDOW.parse::<u32>(s),
        allow_negative_numbers = true,
        help = format!(
            "Days --catch-up looks back over, ending yesterday, 1 to 3660 [default: \
             {DEFAULT_CATCH_UP_WINDOW}]"
        )
    )]
    pub catch_up_window: Option<u32>,

    #[arg(
        long,
        env = "PARQUET_EXPORTER_MAX_DAYS",
        value_name = "N",
        value_parser = |s: &str| bounds::CATCH_UP_MAX_DAYS.parse::<u32>(s),
        allow_negative_numbers = true,
        help = format!(
            "Most days one --catch-up run exports, 1 to 3660 [default: {DEFAULT_MAX_DAYS}]; the \
             next run continues"
        )
    )]
    pub max_days: Option<u32>,

    /// Replace the day's file with what the sources hold now, even records it held that no
    /// source holds any more (by default a day file only grows: they are carried over).
    #[arg(long, env = "PARQUET_EXPORTER_FORCE")]
    pub force: bool,

    /// Refuse to publish a day file larger than this, in MB (10^6 bytes): the run fails and
    /// replaces nothing. 0 or unset: no limit; a file over the 5 MB target is published and
    /// the summary and `verify` warn.
    #[arg(long, env = "PARQUET_EXPORTER_MAX_SIZE", value_name = "MB")]
    pub max_size: Option<f64>,

    #[command(flatten)]
    pub lock: LockWaitArgs,

    /// Take this date as today (for replays and tests): "yesterday" is the day before.
    #[arg(long, value_name = "YYYY-MM-DD", hide = true, value_parser = crate::hints::parse_date)]
    pub today: Option<NaiveDate>,

    /// Take this instant as now (RFC 3339; for replays and tests): today is its date in --tz,
    /// and an intraday export ends at it.
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,

    /// Export today in --tz from local midnight up to now, into the day's file, marked
    /// incomplete (footer verdict `incomplete` with the instant it covers up to; summary and
    /// --json say so). Replaces an earlier intraday file of the day, never a complete one;
    /// the day's complete export (the 02:30 run) replaces it. Exit status 0 when the sources
    /// were read. The intraday schedule runs this every 10 minutes.
    #[arg(long, conflicts_with_all = ["date", "from", "catch_up"])]
    pub intraday: bool,

    #[command(flatten)]
    pub zone: TzArgs,

    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub redis_read: RedisReadArgs,

    #[command(flatten)]
    pub sqlite: SqliteArgs,

    #[command(flatten)]
    pub places: PlacesArgs<SchemeArgs>,

    /// Read, normalize, merge and build the batch, print what would be written; write nothing.
    #[arg(long, env = "PARQUET_EXPORTER_DRY")]
    pub dry: bool,

    /// Print one JSON object describing the run on stdout.
    #[arg(long, env = "PARQUET_EXPORTER_JSON")]
    pub json: bool,

    #[arg(
        long,
        env = "PARQUET_EXPORTER_BATCH_ROWS",
        value_name = "N",
        hide_short_help = true,
        help = format!("Rows per Arrow record batch [default: {DEFAULT_BATCH_ROWS}]")
    )]
    pub batch_rows: Option<usize>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Where a run reports to Prometheus (see docs/operations.md, "Metrics and alerts").
#[derive(Debug, Args, Default, Clone)]
pub struct MetricsArgs {
    #[arg(
        long,
        env = "PARQUET_EXPORTER_METRICS_FILE",
        value_name = "PATH",
        value_parser = |s: &str| Ok::<PathBuf, std::convert::Infallible>(PathBuf::from(s)),
        help = format!(
            "The metrics file every run rewrites, for node_exporter's textfile collector: in a \
             folder of its own or node_exporter's textfile folder; an empty value turns the \
             metrics off; with --instance NAME the default is parquet_exporter.NAME.prom \
             [default: ~/{DEFAULT_METRICS_FILE}]"
        )
    )]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(mut_args(simulate_wording))]
pub struct SimulateArgs {
    /// Day to simulate, YYYY-MM-DD [default: yesterday in --tz].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::hints::parse_date)]
    pub date: Option<NaiveDate>,

    #[command(flatten)]
    pub zone: TzArgs,

    /// Hosts sending heartbeats, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_HOST)]
    pub hosts: Vec<String>,

    #[command(flatten)]
    pub sqlite: SqliteArgs,

    #[command(flatten)]
    pub redis: RedisArgs,

    /// Also write this many malformed records (at most 1000000), to see rejects at work.
    #[arg(long, default_value_t = 0, value_parser = |s: &str| bounds::SIMULATE_BAD.parse::<usize>(s))]
    pub bad: usize,

    /// Seed for the pseudo-random statuses and durations (same seed, same day).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,

    /// Take this instant as now (RFC 3339; for tests): today's beats stop at it.
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

// The option groups. Each is declared here once, in `export`'s words, and flattened into every
// subcommand that takes it; the wording functions below adapt what a subcommand means by it.

/// `--tz`: the zone whose days a command works with.
#[derive(Debug, Args, Default, Clone)]
pub struct TzArgs {
    /// IANA time zone that defines the day, e.g. Asia/Bangkok [default: the system's zone].
    #[arg(long, env = "PARQUET_EXPORTER_TZ", value_name = "IANA_NAME")]
    pub tz: Option<String>,
}

/// Where the day files and the summaries are: `--out-dir` and `--summary-dir`, with
/// `export`'s `--layout` and `--instance` between them (`S`); the other commands take those
/// from the day files they find.
#[derive(Debug, Args, Default, Clone)]
pub struct PlacesArgs<S: Args = NoScheme> {
    #[arg(
        long,
        env = "PARQUET_EXPORTER_OUT_DIR",
        value_name = "DIR|s3://BUCKET/PREFIX",
        help = format!(
            "Directory for ops_atomic_YYYYMMDD.parquet (day files only), or an S3 (or \
             S3-compatible) prefix, s3://bucket/prefix, with credentials, region and endpoint \
             from the AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, \
             AWS_ENDPOINT_URL) [default: ~/{DEFAULT_OUT_DIR}]"
        )
    )]
    pub out_dir: Option<PathBuf>,

    #[command(flatten)]
    pub scheme: S,

    #[arg(
        long,
        env = "PARQUET_EXPORTER_SUMMARY_DIR",
        value_name = "DIR",
        help = format!(
            "Directory for parquet_export_summary_YYYYMMDD.md, the rejects and the run lock, \
             outside --out-dir (the out dir itself or a directory inside it is refused, exit 2: \
             readers glob the out dir for day files only) [default: ~/{DEFAULT_SUMMARY_DIR}]"
        )
    )]
    pub summary_dir: Option<PathBuf>,
}

/// `--layout` and `--instance`: how `export` names and places day files.
#[derive(Debug, Args, Default, Clone)]
pub struct SchemeArgs {
    #[arg(
        long,
        env = "PARQUET_EXPORTER_LAYOUT",
        value_enum,
        value_name = "LAYOUT",
        help = format!(
            "flat: ops_atomic_YYYYMMDD.parquet in the out dir; hive: under day=YYYY-MM-DD/, the \
             partition directories DuckDB, Trino, Spark and Athena read as a `day` column \
             [default: {}]",
            typed(DEFAULT_LAYOUT)
        )
    )]
    pub layout: Option<LayoutKind>,

    /// This exporter's name, for several exporters sharing one out dir or prefix: an
    /// instance=NAME/ level (hive) or a .NAME suffix (flat), and written into the footer.
    #[arg(long, env = "PARQUET_EXPORTER_INSTANCE", value_name = "NAME")]
    pub instance: Option<String>,
}

/// The place of `--layout` and `--instance` in the commands that do not take them.
#[derive(Debug, Args, Default, Clone)]
#[group(skip)]
pub struct NoScheme {}

/// `--sqlite` and `--sqlite-table`: the archive.
#[derive(Debug, Args, Default, Clone)]
pub struct SqliteArgs {
    /// SQLite database file (opened read-only).
    #[arg(
        id = "sqlite",
        long = "sqlite",
        env = "PARQUET_EXPORTER_SQLITE",
        value_name = "PATH"
    )]
    pub path: Option<PathBuf>,

    #[arg(
        id = "sqlite_table",
        long = "sqlite-table",
        env = "PARQUET_EXPORTER_SQLITE_TABLE",
        value_name = "NAME",
        help = format!("SQLite table [default: {DEFAULT_TABLE}]")
    )]
    pub table: Option<String>,
}

/// `--redis-stream`: the one Redis flag `verify --report` takes too.
#[derive(Debug, Args, Default, Clone)]
pub struct StreamArgs {
    #[arg(
        id = "redis_stream",
        long = "redis-stream",
        env = "PARQUET_EXPORTER_REDIS_STREAM",
        value_name = "KEY",
        help = format!("Redis stream key [default: {DEFAULT_STREAM}]")
    )]
    pub stream: Option<String>,
}

/// `--redis-url`, `--redis-stream` and `--redis-ca-file`: where the hot buffer is.
#[derive(Debug, Args, Default, Clone)]
pub struct RedisArgs {
    /// Redis URL (redis://, rediss:// for TLS, unix:// or redis+unix://). Also
    /// PARQUET_EXPORTER_REDIS_URL.
    /// A URL with a password is refused here: put it in the environment or the config file,
    /// or give the password alone in PARQUET_EXPORTER_REDIS_PASSWORD.
    #[arg(id = "redis_url", long = "redis-url", value_name = "URL")]
    pub url: Option<String>,

    #[command(flatten)]
    pub stream: StreamArgs,

    /// PEM CA certificate to trust for rediss:// [default: the system's trust store].
    #[arg(
        id = "redis_ca_file",
        long = "redis-ca-file",
        env = "PARQUET_EXPORTER_REDIS_CA_FILE",
        value_name = "PATH"
    )]
    pub ca_file: Option<PathBuf>,
}

/// How `export` reads the stream: the margin around the day, the page size and the time limit.
#[derive(Debug, Args, Default, Clone)]
pub struct RedisReadArgs {
    #[arg(
        id = "redis_margin_minutes",
        long = "redis-margin-minutes",
        env = "PARQUET_EXPORTER_REDIS_MARGIN_MINUTES",
        value_name = "MINUTES",
        value_parser = |s: &str| bounds::REDIS_MARGIN_MINUTES.parse::<u32>(s),
        allow_negative_numbers = true,
        help = format!(
            "Minutes the stream's entry-ID range is widened on each side of the day, 1 to 1440 \
             [default: {DEFAULT_MARGIN_MINUTES}]. A record stamped farther than this from its \
             entry ID (the time Redis received it) is rejected, so 0 would reject nearly every \
             record: it is refused"
        )
    )]
    pub margin_minutes: Option<u32>,

    #[arg(
        id = "redis_page_size",
        long = "redis-page-size",
        env = "PARQUET_EXPORTER_REDIS_PAGE_SIZE",
        value_name = "N",
        value_parser = |s: &str| bounds::REDIS_PAGE_SIZE.parse::<usize>(s),
        allow_negative_numbers = true,
        help = format!(
            "Entries fetched per XRANGE call at most, 1 to 100000 [default: \
             {DEFAULT_PAGE_SIZE}]. For a Redis across a network, where every call costs a round \
             trip, raise it (e.g. 2000)"
        )
    )]
    pub page_size: Option<usize>,

    #[arg(
        id = "redis_timeout",
        long = "redis-timeout",
        env = "PARQUET_EXPORTER_REDIS_TIMEOUT",
        value_name = "SECONDS",
        value_parser = |s: &str| bounds::REDIS_TIMEOUT.parse::<u64>(s),
        allow_negative_numbers = true,
        help = format!(
            "Seconds the whole stream read may take before Redis counts as unreachable and the \
             run as partial, 1 to 86400 [default: {}], not counting its waits for the merge. \
             Each reply also has 30 s, and each read 5 s",
            DEFAULT_REDIS_TIMEOUT.as_secs()
        )
    )]
    pub timeout: Option<u64>,
}

/// `--wrapper`: the script the schedule runs, for the commands that install or check it.
#[derive(Debug, Args, Default, Clone)]
pub struct WrapperArgs {
    #[arg(
        id = "wrapper",
        long = "wrapper",
        value_name = "PATH",
        help = format!("The wrapper script [default: {WRAPPER} next to this binary]")
    )]
    pub path: Option<PathBuf>,
}

/// `--lock-timeout`: how long a run that writes waits for another one.
#[derive(Debug, Args, Default, Clone)]
pub struct LockWaitArgs {
    #[arg(
        long,
        env = "PARQUET_EXPORTER_LOCK_TIMEOUT",
        value_name = "SECONDS",
        value_parser = |s: &str| bounds::LOCK_TIMEOUT.parse::<u64>(s),
        allow_negative_numbers = true,
        help = format!(
            "Seconds to wait for another run's lock before giving up (exit 6), 0 to 86400 \
             [default: {DEFAULT_LOCK_TIMEOUT_SECS}]"
        )
    )]
    pub lock_timeout: Option<u64>,
}

/// The out dir as the commands that read or add to day files describe it.
fn day_files_dir_help() -> String {
    format!("Directory of the day files [default: ~/{DEFAULT_OUT_DIR}]")
}

/// `verify --report` looks at what `export` writes: the shared flags need --report, and say
/// what the report does with them.
fn report_wording(arg: Arg) -> Arg {
    match arg.get_id().as_str() {
        "tz" => arg.help("IANA time zone of the days [default: the system's zone]"),
        "out_dir" => arg.value_name("DIR").help(day_files_dir_help()),
        "summary_dir" => arg.help(format!(
            "Directory of the summaries, and of the report [default: ~/{DEFAULT_SUMMARY_DIR}]"
        )),
        "sqlite" => arg.help(
            "SQLite database whose health is checked (opened read-only). The Redis URL comes \
             from PARQUET_EXPORTER_REDIS_URL or the config file",
        ),
        "sqlite_table" | "redis_stream" | "wrapper" => arg,
        _ => return arg,
    }
    .requires("report")
}

/// `import-legacy` files old records under the day files' days.
fn import_wording(arg: Arg) -> Arg {
    match arg.get_id().as_str() {
        "tz" => arg.help(
            "IANA time zone whose days the records are filed under [default: the system's zone]",
        ),
        "out_dir" => arg.value_name("DIR").help(day_files_dir_help()),
        "summary_dir" => arg.help(format!(
            "Directory for the import summary and rejects, outside --out-dir (the out dir itself \
             or a directory inside it is refused: the out dir holds day files only) [default: \
             ~/{DEFAULT_SUMMARY_DIR}]"
        )),
        _ => arg,
    }
}

/// `simulate` writes the sources `export` reads: the shared flags say so, and of their
/// environment variables only the CA file's is read.
fn simulate_wording(arg: Arg) -> Arg {
    match arg.get_id().as_str() {
        "tz" => arg
            .env(Resettable::Reset)
            .help("IANA time zone of the day [default: the system's zone]"),
        "sqlite" => arg
            .env(Resettable::Reset)
            .help("SQLite file to write (created with the canonical table if needed)"),
        "sqlite_table" => arg
            .env(Resettable::Reset)
            .value_name("SQLITE_TABLE")
            .default_value(DEFAULT_TABLE)
            .help("SQLite table"),
        "redis_url" => arg.help("Redis URL to XADD into (also PARQUET_EXPORTER_REDIS_URL)"),
        "redis_stream" => arg
            .env(Resettable::Reset)
            .value_name("REDIS_STREAM")
            .default_value(DEFAULT_STREAM)
            .help("Redis stream key"),
        "redis_ca_file" => arg.help("PEM CA certificate to trust for rediss://"),
        _ => arg,
    }
}

/// The completion script for `shell`, as clap_complete writes it, mended for bash: its case
/// labels spell a hyphenated binary's subcommands `parquet__subcmd__exporter__subcmd__verify`
/// where the words it matches set `parquet__exporter__subcmd__verify` (clap_complete 4.6.11
/// and 4.6.12), so nothing completed after a subcommand; and it offers hidden flags
/// (`--today`), which are not for users.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "parquet-exporter", &mut script);
    if shell != clap_complete::Shell::Bash {
        return script;
    }
    let mut text = String::from_utf8_lossy(&script)
        .replace("parquet__subcmd__exporter__", "parquet__exporter__");
    for flag in hidden_flags(&cmd) {
        text = text
            .replace(&format!(" {flag} "), " ")
            .replace(&format!(" {flag}\""), "\"");
    }
    text.into_bytes()
}

/// The shells `completions` writes scripts for, as they are typed.
pub fn shells() -> Vec<String> {
    use clap::ValueEnum;
    clap_complete::Shell::value_variants()
        .iter()
        .filter_map(|s| s.to_possible_value().map(|v| v.get_name().to_string()))
        .collect()
}

/// `--name` of every hidden flag, in every subcommand.
fn hidden_flags(cmd: &clap::Command) -> Vec<String> {
    let mut flags: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    for sub in cmd.get_subcommands() {
        flags.extend(hidden_flags(sub));
    }
    flags.sort();
    flags.dedup();
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The wording functions find flags by id: each id they reword is one the subcommand has,
    /// so that a renamed flag cannot silently lose its subcommand's words.
    #[test]
    fn the_wording_functions_name_flags_the_subcommands_have() {
        let cli = Cli::command();
        let reworded: [(&str, &[&str]); 3] = [
            (
                "verify",
                &[
                    "tz",
                    "out_dir",
                    "summary_dir",
                    "sqlite",
                    "sqlite_table",
                    "redis_stream",
                    "wrapper",
                ],
            ),
            ("import-legacy", &["tz", "out_dir", "summary_dir"]),
            (
                "simulate",
                &[
                    "tz",
                    "sqlite",
                    "sqlite_table",
                    "redis_url",
                    "redis_stream",
                    "redis_ca_file",
                ],
            ),
        ];
        let export = cli.find_subcommand("export").unwrap();
        let help = |cmd: &clap::Command, id: &str| {
            cmd.get_arguments()
                .find(|a| a.get_id() == id)
                .map(|a| (a.get_help().map(ToString::to_string), a.get_env().is_some()))
        };
        for (sub, ids) in reworded {
            let cmd = cli.find_subcommand(sub).unwrap();
            for id in ids {
                let theirs = help(cmd, id).unwrap_or_else(|| panic!("{sub} has no {id}"));
                let shared = help(export, id);
                // Reworded, or (in the report) only made to need --report.
                assert!(
                    Some(&theirs) != shared.as_ref() || sub == "verify",
                    "{sub} {id} reads as export's"
                );
            }
        }
    }

    #[test]
    fn bare_flags_mean_export() {
        let cli = Cli::try_parse_from(["parquet-exporter", "--dry", "--sqlite", "x.db"]).unwrap();
        assert!(cli.command.is_none());
        assert!(cli.export.dry);
        let cli = Cli::try_parse_from(["parquet-exporter", "export", "--dry"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Export(ExportArgs { dry: true, .. }))
        ));
    }
}
