//! parquet-exporter: one day of OPS-Atomic heartbeat records from Redis and SQLite into a
//! schema-v1 Parquet file and a truthful markdown summary. The binary is a thin shell over
//! `commands`.

pub(crate) mod atomic;
pub(crate) mod batch;
pub(crate) mod bounds;
pub(crate) mod carry;
pub mod cli;
pub(crate) mod columns;
pub mod commands;
pub(crate) mod config;
pub(crate) mod contract;
pub mod day;
pub(crate) mod defaults;
pub(crate) mod deployment;
pub(crate) mod escape;
pub(crate) mod export;
pub mod fsio;
pub(crate) mod gaps;
pub(crate) mod hints;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod legacy;
pub(crate) mod lock;
pub(crate) mod man;
pub(crate) mod merge;
pub mod metrics;
pub(crate) mod names;
pub(crate) mod parallel;
pub(crate) mod pause;
pub mod record;
pub(crate) mod report;
pub(crate) mod rows;
pub(crate) mod schedule;
pub(crate) mod scheme;
pub(crate) mod service;
pub mod simulate;
pub mod source;
pub(crate) mod store;
pub(crate) mod stream;
pub(crate) mod summary;
pub(crate) mod target;
pub(crate) mod timeline;
pub(crate) mod verify;
pub(crate) mod window;
pub(crate) mod writer;
