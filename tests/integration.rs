//! The integration tests, one binary as ripgrep builds them: a module per theme, each running
//! the real binary against private redis-servers, real SQLite files, moto and the real readers.
//! `cargo test --test integration legacy::` runs one theme.

mod common;

mod bounds;
mod crash;
mod dashboard;
mod export;
mod grows;
mod history;
mod hostile;
mod intraday;
mod legacy;
mod lifecycle;
mod messages;
mod metrics;
mod newcomer;
mod object_store;
mod operator;
mod properties;
mod readers;
mod reliability;
mod report;
mod runbook;
mod schedule;
mod streamed;
mod tls;
mod two_writers;
mod units;
mod verify;
