//! The facts judged: the deployment lines, the sources' health, the metrics, and the verdict
//! with a reason for each item off target.

use std::path::Path;

use chrono::DateTime;

use super::calendar::Schedule;
use super::facts::{Facts, Probe};
use super::metrics::metrics;
use super::verification::{DeploymentVerdict, Line, Mark, Verification};
use crate::escape::{md_code, md_text};
use crate::service;
use crate::verify::human_size;

/// The heartbeat is live when the newest record is younger than this.
pub const HEARTBEAT_MAX_AGE_MS: i64 = 10 * 60_000;

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
