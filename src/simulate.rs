//! `simulate`: writes a realistic day of heartbeats (5-minute cadence per host, mostly healthy)
//! into a SQLite file and/or a Redis stream, for the quickstart, demos and benchmarks.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat};
use rusqlite::{params, Connection};
use serde_json::json;

use crate::contract::CADENCE_MS;
use crate::day::Day;
use crate::source::redis::{connect, RedisAddress};
use crate::source::sqlite::{ddl, quoted, valid_table_name};

/// The host whose heartbeats are simulated when no hosts are named.
pub const DEFAULT_HOST: &str = "ops-mini";
/// The seed when none is given: without one, every run simulates the same day.
pub const DEFAULT_SEED: u64 = 2;

/// One simulated heartbeat, in writer terms.
#[derive(Debug, Clone)]
pub struct Beat {
    pub host: String,
    pub ts_ms: i64,
    pub status: &'static str,
    pub duration_ms: u32,
    pub redis: &'static str,
    pub database: &'static str,
    pub api: &'static str,
    pub optimizer: &'static str,
    pub digest: &'static str,
    pub disk: Option<&'static str>,
    /// A malformed record, to exercise rejects.
    pub bad: bool,
}

/// A small deterministic generator (SplitMix64): same seed, same day.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The day's heartbeats for `hosts`, in timestamp order, plus `bad` malformed ones.
pub fn beats(day: &Day, hosts: &[String], bad: usize, seed: u64) -> Vec<Beat> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for (h, host) in hosts.iter().enumerate() {
        // Each host's monitor fires at its own second within the cadence.
        let mut t = day.start_ms() + (h as i64 * 7_919 + rng.below(60_000) as i64) % CADENCE_MS;
        loop {
            // Monitors fire a little late, never early; the jitter must not carry a beat
            // over into the next day.
            let ts_ms = t + rng.below(900) as i64;
            if ts_ms >= day.end_ms() {
                break;
            }
            let roll = rng.below(1000);
            let (status, redis, database, api) = match roll {
                0..=9 => ("critical", "error", "ok", "error"),
                10..=59 => ("warnings", "ok", "warn", "ok"),
                _ => ("healthy", "ok", "ok", "ok"),
            };
            out.push(Beat {
                host: host.clone(),
                ts_ms,
                status,
                duration_ms: 40 + rng.below(200) as u32 + if roll < 60 { 800 } else { 0 },
                redis,
                database,
                api,
                optimizer: if roll < 10 { "not_loaded" } else { "loaded" },
                digest: "loaded",
                disk: match rng.below(10) {
                    0 => Some("warn"),
                    1..=5 => Some("ok"),
                    _ => None,
                },
                bad: false,
            });
            t += CADENCE_MS;
        }
    }
    let span = (day.end_ms() - day.start_ms()) as u64;
    for i in 0..bad {
        out.push(Beat {
            host: hosts
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_HOST.into()),
            ts_ms: day.start_ms() + rng.below(span) as i64,
            status: if i % 2 == 0 { "degraded" } else { "healthy" },
            duration_ms: 0,
            redis: "ok",
            database: "ok",
            api: "ok",
            optimizer: "loaded",
            digest: "loaded",
            disk: None,
            bad: true,
        });
    }
    out.sort_by_key(|b| b.ts_ms);
    out
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .expect("simulated times are in range")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Appends `beats` to the table (created with the canonical DDL if missing) in one transaction.
/// Most rows have INTEGER `ts`; every tenth has RFC 3339 TEXT, as older writers produced.
pub fn write_sqlite(path: &Path, table: &str, beats: &[Beat]) -> Result<()> {
    if !valid_table_name(table) {
        bail!("table name {table:?} is empty or holds control characters");
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(&ddl(table))
        .with_context(|| format!("creating table {table} in {}", path.display()))?;
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(&format!(
            "INSERT INTO {} (record_id, report_type, ts, status, duration_ms, host, \
             redis_status, database_status, api_status, launchagent_optimizer, \
             launchagent_digest, checks_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            quoted(table)
        ))?;
        for (i, b) in beats.iter().enumerate() {
            let ts: rusqlite::types::Value = if i % 10 == 9 {
                rfc3339(b.ts_ms).into()
            } else {
                b.ts_ms.into()
            };
            let duration: rusqlite::types::Value = if b.bad && b.status == "healthy" {
                (-5i64).into()
            } else {
                i64::from(b.duration_ms).into()
            };
            stmt.execute(params![
                // Half the writers leave record_id out; the exporter derives it.
                (i % 2 == 0).then(|| format!("heartbeat:{}:{}", b.host, b.ts_ms)),
                "heartbeat",
                ts,
                b.status,
                duration,
                b.host,
                b.redis,
                b.database,
                b.api,
                b.optimizer,
                b.digest,
                b.disk.map(|d| json!({ "disk": d }).to_string()),
            ])?;
        }
    }
    tx.commit()
        .with_context(|| format!("writing {} rows to {}", beats.len(), path.display()))
}

/// XADDs `beats` to the stream with entry IDs at their timestamps, as a live writer would have.
/// Every fourth entry is a JSON entry; the rest are flat.
pub fn write_redis(target: &RedisAddress, stream: &str, beats: &[Beat]) -> Result<()> {
    let mut conn = connect(target)?;
    // XADD with explicit IDs fails for every entry at or before the stream's last one: say so
    // once, before writing, instead of one error per entry.
    if let Some(first) = beats.first() {
        let last: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query(&mut conn)
            .with_context(|| format!("reading the last entry of {stream}"))?;
        if let Some((id, _)) = last.first() {
            let last_ms: i64 = id
                .split('-')
                .next()
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(i64::MAX);
            anyhow::ensure!(
                last_ms < first.ts_ms,
                "the stream {stream} already holds entries up to {id}, not before the simulated \
                 day's first beat ({}-0): simulate days in order, into a new stream \
                 (--redis-stream), or delete this one",
                first.ts_ms
            );
        }
    }
    let mut pipe = redis::pipe();
    let mut last_ms = -1;
    let mut seq = 0;
    for (i, b) in beats.iter().enumerate() {
        seq = if b.ts_ms == last_ms { seq + 1 } else { 0 };
        last_ms = b.ts_ms;
        let id = format!("{}-{}", b.ts_ms, seq);
        let cmd = pipe.cmd("XADD").arg(stream).arg(&id);
        if i % 4 == 3 {
            let mut v = json!({
                "record_id": format!("heartbeat:{}:{}", b.host, b.ts_ms),
                "timestamp": b.ts_ms,
                "status": b.status,
                "duration_ms": b.duration_ms,
                "host": b.host,
                "redis_status": b.redis,
                "database_status": b.database,
                "api_status": b.api,
                "launchagent_optimizer": b.optimizer,
                "launchagent_digest": b.digest,
            });
            if let Some(d) = b.disk {
                v["checks"] = json!({ "disk": d });
            }
            if b.bad && b.status == "healthy" {
                v["timestamp"] = json!("not-a-time");
            }
            cmd.arg("json").arg(v.to_string());
        } else {
            let ts = if b.bad && b.status == "healthy" {
                "not-a-time".to_string()
            } else {
                rfc3339(b.ts_ms)
            };
            cmd.arg("timestamp")
                .arg(ts)
                .arg("status")
                .arg(b.status.to_uppercase())
                .arg("duration_ms")
                .arg(format!("{}ms", b.duration_ms))
                .arg("host")
                .arg(&b.host)
                .arg("redis_status")
                .arg(b.redis)
                .arg("database_status")
                .arg(b.database)
                .arg("api_status")
                .arg(b.api)
                .arg("launchagent_optimizer")
                .arg(b.optimizer)
                .arg("launchagent_digest")
                .arg(b.digest);
            if let Some(d) = b.disk {
                cmd.arg("check.disk").arg(d);
            }
        }
        cmd.ignore();
        // Flush every 500 entries and after the last one (an empty pipeline is an error).
        if i % 500 == 499 || i + 1 == beats.len() {
            pipe.query::<()>(&mut conn).with_context(|| {
                format!("XADD to {stream} (the stream must not already hold later entries)")
            })?;
            pipe.clear();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_per_host_at_the_cadence() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
            "Asia/Bangkok".parse().unwrap(),
        )
        .unwrap();
        let hosts = vec!["a".to_string(), "b".to_string()];
        let beats = beats(&day, &hosts, 3, 7);
        assert_eq!(beats.len(), 2 * 288 + 3);
        assert!(beats.iter().all(|b| day.contains(b.ts_ms)));
        assert!(beats.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
        let healthy = beats.iter().filter(|b| b.status == "healthy").count();
        assert!(healthy > beats.len() * 8 / 10, "mostly healthy: {healthy}");
        assert!(beats.iter().any(|b| b.status == "critical"));
        assert_eq!(beats.iter().filter(|b| b.bad).count(), 3);
        // Deterministic.
        let again = super::beats(&day, &hosts, 3, 7);
        assert_eq!(
            again.iter().map(|b| b.ts_ms).collect::<Vec<_>>(),
            beats.iter().map(|b| b.ts_ms).collect::<Vec<_>>()
        );
    }
}
