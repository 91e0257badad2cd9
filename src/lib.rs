//! parquet-exporter: one day of OPS-Atomic heartbeat records from Redis and SQLite into a
//! schema-v1 Parquet file and a truthful markdown summary. The binary is a thin shell over `app`.

pub mod app;
pub mod atomic;
pub mod batch;
pub mod cli;
pub mod config;
pub mod contract;
pub mod day;
pub mod deployment;
pub mod escape;
pub mod export;
pub mod fsio;
pub mod history;
pub mod import;
pub mod launchd;
pub mod legacy;
pub mod merge;
pub mod names;
pub mod parallel;
pub mod record;
pub mod report;
pub mod rows;
pub mod schedule;
pub mod simulate;
pub mod source;
pub mod store;
pub mod summary;
pub mod target;
pub mod timeline;
pub mod verify;
pub mod writer;
