//! Command line: the clap derive types. Doc comments here are the `--help` text; everything is
//! validated into a `Config` (see config.rs) before any work starts.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::bounds;

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
        #[arg(long, default_value = "ops_atomic_heartbeats")]
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
        /// The wrapper script [default: run_parquet_exporter.sh next to this binary].
        #[arg(long, value_name = "PATH")]
        wrapper: Option<PathBuf>,
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
        /// The wrapper script [default: run_parquet_exporter.sh next to this binary].
        #[arg(long, value_name = "PATH")]
        wrapper: Option<PathBuf>,
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
    /// Files; directories, meaning every ops_atomic_*.parquet in them (flat or hive layout);
    /// or s3://bucket/prefix, meaning every such object under it [default: the out dir, as
    /// `export` resolves it: ~/02luka/g/analytics].
    #[arg(value_name = "PATH")]
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
#[derive(Debug, Args, Default)]
pub struct ReportArgs {
    /// Days the duration and coverage metrics cover, newest first (1 to 3660).
    #[arg(long, default_value_t = 7, value_name = "N", requires = "report", value_parser = |s: &str| bounds::REPORT_DAYS.parse::<u32>(s), allow_negative_numbers = true)]
    pub days: u32,

    /// IANA time zone of the days [default: the system's zone].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_TZ",
        value_name = "IANA_NAME",
        requires = "report"
    )]
    pub tz: Option<String>,

    /// Directory of the day files [default: ~/02luka/g/analytics].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_OUT_DIR",
        value_name = "DIR",
        requires = "report"
    )]
    pub out_dir: Option<PathBuf>,

    /// Directory of the summaries, and of the report [default: ~/02luka/g/reports/parquet].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_SUMMARY_DIR",
        value_name = "DIR",
        requires = "report"
    )]
    pub summary_dir: Option<PathBuf>,

    /// SQLite database whose health is checked (opened read-only). The Redis URL comes from
    /// PARQUET_EXPORTER_REDIS_URL or the config file.
    #[arg(
        long,
        env = "PARQUET_EXPORTER_SQLITE",
        value_name = "PATH",
        requires = "report"
    )]
    pub sqlite: Option<PathBuf>,

    /// SQLite table [default: ops_atomic_heartbeats].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_SQLITE_TABLE",
        value_name = "NAME",
        requires = "report"
    )]
    pub sqlite_table: Option<String>,

    /// Redis stream key [default: ops:atomic:heartbeats].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_REDIS_STREAM",
        value_name = "KEY",
        requires = "report"
    )]
    pub redis_stream: Option<String>,

    /// The wrapper script [default: run_parquet_exporter.sh next to this binary].
    #[arg(long, value_name = "PATH", requires = "report")]
    pub wrapper: Option<PathBuf>,

    /// The wrapper's log file [default: ~/02luka/g/logs/parquet_exporter.log].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_LOG",
        value_name = "PATH",
        requires = "report"
    )]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Legacy Parquet exports and heartbeat reports (.md), or directories holding them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// IANA time zone whose days the records are filed under [default: the system's zone].
    #[arg(long, env = "PARQUET_EXPORTER_TZ", value_name = "IANA_NAME")]
    pub tz: Option<String>,

    /// Directory of the day files [default: ~/02luka/g/analytics].
    #[arg(long, env = "PARQUET_EXPORTER_OUT_DIR", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Directory for the import summary and rejects, outside --out-dir (the out dir itself or
    /// a directory inside it is refused: the out dir holds day files only) [default:
    /// ~/02luka/g/reports/parquet].
    #[arg(long, env = "PARQUET_EXPORTER_SUMMARY_DIR", value_name = "DIR")]
    pub summary_dir: Option<PathBuf>,

    /// Report what would be written per day; write nothing.
    #[arg(long)]
    pub dry: bool,

    /// Print the result as one JSON document.
    #[arg(long)]
    pub json: bool,

    /// Seconds to wait for another run's lock before giving up (exit 6), 0 to 86400
    /// [default: 0].
    #[arg(long, env = "PARQUET_EXPORTER_LOCK_TIMEOUT", value_name = "SECONDS", value_parser = |s: &str| bounds::LOCK_TIMEOUT.parse::<u64>(s), allow_negative_numbers = true)]
    pub lock_timeout: Option<u64>,

    /// Refuse to publish a day file larger than this, in MB (0: no limit) [default: no limit;
    /// a file over the 5 MB target is published with a warning].
    #[arg(long, env = "PARQUET_EXPORTER_MAX_SIZE", value_name = "MB")]
    pub max_size: Option<f64>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Directory of the day files [default: --out-dir's default, ~/02luka/g/analytics].
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Days shown, ending at the newest day file (1 to 3660).
    #[arg(long, default_value_t = 30, value_name = "N", value_parser = |s: &str| bounds::REPORT_DAYS.parse::<u32>(s), allow_negative_numbers = true)]
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
    /// TOML config file [default: ~/02luka/config/parquet_exporter.toml when it exists].
    #[arg(
        long,
        global = true,
        env = "PARQUET_EXPORTER_CONFIG",
        value_name = "FILE"
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

    /// Days --catch-up looks back over, ending yesterday, 1 to 3660 [default: 14].
    #[arg(long, env = "PARQUET_EXPORTER_CATCH_UP_WINDOW", value_name = "DAYS", value_parser = |s: &str| bounds::CATCH_UP_WINDOW.parse::<u32>(s), allow_negative_numbers = true)]
    pub catch_up_window: Option<u32>,

    /// Most days one --catch-up run exports, 1 to 3660 [default: 7]; the next run continues.
    #[arg(long, env = "PARQUET_EXPORTER_MAX_DAYS", value_name = "N", value_parser = |s: &str| bounds::CATCH_UP_MAX_DAYS.parse::<u32>(s), allow_negative_numbers = true)]
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

    /// Seconds to wait for another run's lock before giving up (exit 6), 0 to 86400
    /// [default: 0].
    #[arg(long, env = "PARQUET_EXPORTER_LOCK_TIMEOUT", value_name = "SECONDS", value_parser = |s: &str| bounds::LOCK_TIMEOUT.parse::<u64>(s), allow_negative_numbers = true)]
    pub lock_timeout: Option<u64>,

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

    /// IANA time zone that defines the day, e.g. Asia/Bangkok [default: the system's zone].
    #[arg(long, env = "PARQUET_EXPORTER_TZ", value_name = "IANA_NAME")]
    pub tz: Option<String>,

    /// Redis URL (redis://, rediss:// for TLS, unix:// or redis+unix://). Also
    /// PARQUET_EXPORTER_REDIS_URL.
    /// A URL with a password is refused here: put it in the environment or the config file,
    /// or give the password alone in PARQUET_EXPORTER_REDIS_PASSWORD.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Redis stream key [default: ops:atomic:heartbeats].
    #[arg(long, env = "PARQUET_EXPORTER_REDIS_STREAM", value_name = "KEY")]
    pub redis_stream: Option<String>,

    /// PEM CA certificate to trust for rediss:// [default: the system's trust store].
    #[arg(long, env = "PARQUET_EXPORTER_REDIS_CA_FILE", value_name = "PATH")]
    pub redis_ca_file: Option<PathBuf>,

    /// Minutes the stream's entry-ID range is widened on each side of the day, 1 to 1440
    /// [default: 60]. A record stamped farther than this from its entry ID (the time Redis
    /// received it) is rejected, so 0 would reject nearly every record: it is refused.
    #[arg(
        long,
        env = "PARQUET_EXPORTER_REDIS_MARGIN_MINUTES",
        value_name = "MINUTES",
        value_parser = |s: &str| bounds::REDIS_MARGIN_MINUTES.parse::<u32>(s),
        allow_negative_numbers = true
    )]
    pub redis_margin_minutes: Option<u32>,

    /// Entries fetched per XRANGE call at most, 1 to 100000 [default: 250]. For a Redis across
    /// a network, where every call costs a round trip, raise it (e.g. 2000).
    #[arg(long, env = "PARQUET_EXPORTER_REDIS_PAGE_SIZE", value_name = "N", value_parser = |s: &str| bounds::REDIS_PAGE_SIZE.parse::<usize>(s), allow_negative_numbers = true)]
    pub redis_page_size: Option<usize>,

    /// Seconds the whole stream read may take before Redis counts as unreachable and the run
    /// as partial, 1 to 86400 [default: 300]. Each reply also has 30 s, and each read 5 s.
    #[arg(long, env = "PARQUET_EXPORTER_REDIS_TIMEOUT", value_name = "SECONDS", value_parser = |s: &str| bounds::REDIS_TIMEOUT.parse::<u64>(s), allow_negative_numbers = true)]
    pub redis_timeout: Option<u64>,

    /// SQLite database file (opened read-only).
    #[arg(long, env = "PARQUET_EXPORTER_SQLITE", value_name = "PATH")]
    pub sqlite: Option<PathBuf>,

    /// SQLite table [default: ops_atomic_heartbeats].
    #[arg(long, env = "PARQUET_EXPORTER_SQLITE_TABLE", value_name = "NAME")]
    pub sqlite_table: Option<String>,

    /// Directory for ops_atomic_YYYYMMDD.parquet (day files only), or an S3 (or
    /// S3-compatible) prefix, s3://bucket/prefix, with credentials, region and endpoint from
    /// the AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ENDPOINT_URL) [default: ~/02luka/g/analytics].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_OUT_DIR",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    pub out_dir: Option<PathBuf>,

    /// flat: ops_atomic_YYYYMMDD.parquet in the out dir; hive: under day=YYYY-MM-DD/, the
    /// partition directories DuckDB, Trino, Spark and Athena read as a `day` column
    /// [default: flat].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_LAYOUT",
        value_enum,
        value_name = "LAYOUT"
    )]
    pub layout: Option<LayoutKind>,

    /// This exporter's name, for several exporters sharing one out dir or prefix: an
    /// instance=NAME/ level (hive) or a .NAME suffix (flat), and written into the footer.
    #[arg(long, env = "PARQUET_EXPORTER_INSTANCE", value_name = "NAME")]
    pub instance: Option<String>,

    /// Directory for parquet_export_summary_YYYYMMDD.md, the rejects and the run lock, outside
    /// --out-dir (the out dir itself or a directory inside it is refused, exit 2: readers glob
    /// the out dir for day files only) [default: ~/02luka/g/reports/parquet].
    #[arg(long, env = "PARQUET_EXPORTER_SUMMARY_DIR", value_name = "DIR")]
    pub summary_dir: Option<PathBuf>,

    /// Read, normalize, merge and build the batch, print what would be written; write nothing.
    #[arg(long, env = "PARQUET_EXPORTER_DRY")]
    pub dry: bool,

    /// Print one JSON object describing the run on stdout.
    #[arg(long, env = "PARQUET_EXPORTER_JSON")]
    pub json: bool,

    /// Rows per Arrow record batch [default: 8192].
    #[arg(
        long,
        env = "PARQUET_EXPORTER_BATCH_ROWS",
        value_name = "N",
        hide_short_help = true
    )]
    pub batch_rows: Option<usize>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Where a run reports to Prometheus (see docs/operations.md, "Metrics and alerts").
#[derive(Debug, Args, Default, Clone)]
pub struct MetricsArgs {
    /// The metrics file every run rewrites, for node_exporter's textfile collector (keep it in
    /// a folder of its own; an empty value turns the metrics off) [default:
    /// ~/02luka/g/metrics/parquet_exporter.prom].
    #[arg(long, env = "PARQUET_EXPORTER_METRICS_FILE", value_name = "PATH", value_parser = |s: &str| Ok::<PathBuf, std::convert::Infallible>(PathBuf::from(s)))]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Day to simulate, YYYY-MM-DD [default: yesterday in --tz].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::hints::parse_date)]
    pub date: Option<NaiveDate>,

    /// IANA time zone of the day [default: the system's zone].
    #[arg(long, value_name = "IANA_NAME")]
    pub tz: Option<String>,

    /// Hosts sending heartbeats, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ops-mini")]
    pub hosts: Vec<String>,

    /// SQLite file to write (created with the canonical table if needed).
    #[arg(long, value_name = "PATH")]
    pub sqlite: Option<PathBuf>,

    /// SQLite table.
    #[arg(long, default_value = "ops_atomic_heartbeats")]
    pub sqlite_table: String,

    /// Redis URL to XADD into (also PARQUET_EXPORTER_REDIS_URL).
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Redis stream key.
    #[arg(long, default_value = "ops:atomic:heartbeats")]
    pub redis_stream: String,

    /// PEM CA certificate to trust for rediss://.
    #[arg(long, env = "PARQUET_EXPORTER_REDIS_CA_FILE", value_name = "PATH")]
    pub redis_ca_file: Option<PathBuf>,

    /// Also write this many malformed records (at most 1000000), to see rejects at work.
    #[arg(long, default_value_t = 0, value_parser = |s: &str| bounds::SIMULATE_BAD.parse::<usize>(s))]
    pub bad: usize,

    /// Seed for the pseudo-random statuses and durations (same seed, same day).
    #[arg(long, default_value_t = 2)]
    pub seed: u64,

    /// Take this instant as now (RFC 3339; for tests): today's beats stop at it.
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
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
