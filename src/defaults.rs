//! The values a setting takes when neither a flag, the environment nor the config file gives
//! one: config.rs resolves with these, and `--help` shows them from here, so the two cannot
//! drift apart.

use std::time::Duration;

pub const DEFAULT_STREAM: &str = "ops:atomic:heartbeats";
pub const DEFAULT_TABLE: &str = "ops_atomic_heartbeats";
/// The config file under HOME, read when it exists.
pub const DEFAULT_CONFIG: &str = "02luka/config/parquet_exporter.toml";
/// The out dir under HOME.
pub const DEFAULT_OUT_DIR: &str = "02luka/g/analytics";
/// The summary dir under HOME.
pub const DEFAULT_SUMMARY_DIR: &str = "02luka/g/reports/parquet";
/// The wrapper script, looked for next to the binary.
pub const WRAPPER: &str = "run_parquet_exporter.sh";
/// The wrapper's log file under HOME (the wrapper's own default; PARQUET_EXPORTER_LOG).
pub const DEFAULT_LOG_FILE: &str = "02luka/g/logs/parquet_exporter.log";
/// Where runs write their metrics for Prometheus, under HOME: a folder of its own, for
/// node_exporter's textfile collector to read.
pub const DEFAULT_METRICS_FILE: &str = "02luka/g/metrics/parquet_exporter.prom";
pub const DEFAULT_MARGIN_MINUTES: u32 = 60;
/// Small enough that a reply (about 80 KB) fits in a local socket's buffer, so Redis can serve
/// the next window, asked for ahead, while this one is still being read; a page of 1,000 did
/// not fit, and asking ahead then only made the reader wait.
pub const DEFAULT_PAGE_SIZE: usize = 250;
/// How long the whole stream read may take by default: a day of a thousand hosts reads in
/// seconds, so minutes mean a server that has stopped answering.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_BATCH_ROWS: usize = 8192;
pub const DEFAULT_MAX_DAYS: u32 = 7;
pub const DEFAULT_CATCH_UP_WINDOW: u32 = 14;
/// Seconds a run waits for another run's lock before it gives up (exit 6).
pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 0;
/// Days `verify --report` measures, and days `history` shows.
pub const DEFAULT_REPORT_DAYS: u32 = 7;
pub const DEFAULT_HISTORY_DAYS: u32 = 30;
