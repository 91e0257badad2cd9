//! The markdown summary of a run, rendered from its report: every line is computed, none is
//! fixed text, so a partial, empty or failed run never reads as a success.

use std::fmt::Write as _;

use crate::contract::CADENCE_MS;
use crate::escape::{md_code, md_code_list, md_text};
use crate::report::{ImportReport, RunReport, Verdict};

/// Hosts named in the timeline and the host table; the rest are counted.
pub const MAX_HOSTS: usize = 20;

/// Reject reasons shown by name; the rest are summed in one row.
const TOP_REASONS: usize = 10;

fn headline(r: &RunReport) -> String {
    let short: Vec<String> = r
        .sources
        .iter()
        .filter(|s| s.state != "ok")
        .map(|s| match s.state {
            "trimmed" => format!("{} holds only part of the day (trimmed)", s.name),
            _ => format!("{} could not be read", s.name),
        })
        .collect();
    let line = match r.verdict {
        Verdict::Success => format!("✅ success: {} rows exported", r.rows),
        Verdict::Partial => format!(
            "⚠️ partial: {} rows read, but {}; this is not the full day",
            r.rows,
            short.join(" and ")
        ),
        Verdict::Empty => "⚠️ empty: no record for this day".into(),
    };
    match &r.kept_existing {
        Some(k) => format!(
            "{line}. The existing file was kept: it holds {} rows (its verdict: {}), more than \
             this run's {}, so this run wrote no day file (`--force` replaces it)",
            k.rows,
            k.verdict.as_deref().unwrap_or("not recorded"),
            r.rows
        ),
        None if r.verdict == Verdict::Empty => format!("{line}; a zero-row file was written"),
        None => line,
    }
}

pub fn render(r: &RunReport) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Parquet export summary: {} ({})\n", r.day, r.timezone);
    let _ = writeln!(w, "**Verdict:** {}\n", headline(r));

    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(
        w,
        "| Day | {} in {} ({} hours) |",
        r.day, r.timezone, r.day_hours
    );
    if let Some(p) = &r.parquet {
        let _ = writeln!(w, "| Output file | {} |", md_code(p));
    }
    let _ = writeln!(w, "| Rows | {} |", r.rows);
    if let Some(b) = r.bytes {
        let _ = writeln!(w, "| File size | {} |", crate::verify::size_line(b, None));
    }
    if let Some(c) = &r.readback {
        let _ = writeln!(w, "| Compression | {} |", c.compression());
        let _ = writeln!(
            w,
            "| Schema version | {} (fingerprint {}) |",
            c.schema_version.as_deref().unwrap_or("?"),
            c.schema_fingerprint.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(w, "| Duration | {} ms |", r.duration_ms);
    let _ = writeln!(w, "| Exporter | {} |", r.exporter);

    let _ = writeln!(w, "\n## Sources\n");
    let _ = writeln!(
        w,
        "| source | where | state | read | rejected | other days (ignored) |"
    );
    let _ = writeln!(w, "|---|---|---|---:|---:|---:|");
    for s in &r.sources {
        let state = match &s.error {
            Some(e) => format!("{}: {}", s.state, md_text(e)),
            None => s.state.to_string(),
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            s.name,
            md_code(&s.location),
            state,
            s.counts.read,
            s.counts.rejected,
            s.counts.other_day
        );
    }
    let _ = writeln!(
        w,
        "\nRecords read {} = rows written {} + duplicates merged {} + rejected {}.",
        r.read, r.rows, r.merged, r.rejected
    );
    for s in r.sources.iter().filter(|s| s.counts.no_day > 0) {
        let _ = writeln!(
            w,
            "⚠️ {} holds {} records whose timestamp places them on no day; they are in no export.",
            s.name, s.counts.no_day
        );
    }
    let _ = writeln!(
        w,
        "Conflicts (copies of one record_id that differed; the SQLite copy was kept): {}.",
        r.conflicts
    );

    let _ = writeln!(w, "\n## Rejected: {}\n", r.rejected);
    if r.reject_reasons.is_empty() {
        let _ = writeln!(w, "No record was rejected.");
    } else {
        if let Some(f) = &r.rejects_file {
            let _ = writeln!(
                w,
                "Each rejected record, with its reason, is in {}.\n",
                md_code(f)
            );
        }
        let _ = writeln!(w, "| reason | count |\n|---|---:|");
        for (reason, n) in r.reject_reasons.iter().take(TOP_REASONS) {
            let _ = writeln!(w, "| {reason} | {n} |");
        }
        let rest = &r.reject_reasons[r.reject_reasons.len().min(TOP_REASONS)..];
        if !rest.is_empty() {
            let n: u64 = rest.iter().map(|(_, n)| n).sum();
            let _ = writeln!(w, "| {} other reasons | {n} |", rest.len());
        }
    }

    let _ = writeln!(w, "\n## Status breakdown\n");
    let _ = writeln!(w, "| status | rows | share |\n|---|---:|---:|");
    for (status, n) in &r.statuses {
        let share = if r.rows == 0 {
            0.0
        } else {
            *n as f64 * 100.0 / r.rows as f64
        };
        let _ = writeln!(w, "| {status} | {n} | {share:.1}% |");
    }

    if !r.hosts_health.is_empty() {
        let _ = writeln!(w, "\n## Hosts, worst coverage first\n");
        let _ = writeln!(
            w,
            "| host | beats | expected | coverage | gaps | longest gap (min) | warnings | critical | first | last |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        let clock = |t: &str| t.get(11..16).unwrap_or(t).to_string();
        for h in r.hosts_health.iter().take(MAX_HOSTS) {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:.1}% | {} | {:.1} | {} | {} | {} | {} |",
                md_code(&h.host),
                h.beats,
                h.expected,
                h.coverage_pct,
                h.gaps,
                h.longest_gap_minutes,
                h.warnings,
                h.critical,
                clock(&h.first),
                clock(&h.last)
            );
        }
        let rest = &r.hosts_health[r.hosts_health.len().min(MAX_HOSTS)..];
        if !rest.is_empty() {
            let full = rest
                .iter()
                .filter(|h| h.coverage_pct >= 100.0 && h.gaps == 0)
                .count();
            let _ = writeln!(
                w,
                "\n{} more hosts, {full} of them with full coverage and no gap.",
                rest.len()
            );
        }
        let _ = writeln!(
            w,
            "\nExpected beats run from a host's first beat to the end of the day, every {} minutes; times are local.",
            CADENCE_MS / 60_000
        );
        if let Some(svg) = &r.timeline_svg {
            // Relative, so the picture shows wherever the summaries are read.
            let name = std::path::Path::new(svg)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(
                w,
                "\n![Heartbeat timeline: one row per host, one cell per 5-minute slot, coloured by its worst status; gaps are silent slots]({name})"
            );
        }
    }
    let _ = writeln!(w, "\n## Timeline\n");
    let _ = writeln!(
        w,
        "- First record: {}\n- Last record: {}\n- Hosts: {}",
        r.first_timestamp.as_deref().unwrap_or("none"),
        r.last_timestamp.as_deref().unwrap_or("none"),
        if r.hosts.is_empty() {
            "none".to_string()
        } else {
            md_code_list(r.hosts.iter().map(String::as_str), MAX_HOSTS)
        }
    );
    let _ = writeln!(
        w,
        "- Gaps in the {}-minute heartbeat cadence: {} (about {} missed heartbeats)",
        CADENCE_MS / 60_000,
        r.gaps.count,
        r.gaps.missed_beats
    );
    if !r.gaps.longest.is_empty() {
        let _ = writeln!(
            w,
            "\n| host | silent from | until | minutes |\n|---|---|---|---:|"
        );
        for g in &r.gaps.longest {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:.1} |",
                md_code(&g.host),
                g.from,
                g.to,
                g.minutes
            );
        }
    }

    let _ = writeln!(w, "\n## Read-back of the written file\n");
    match &r.readback {
        None => {
            let _ = writeln!(w, "Not read back: nothing was written.");
        }
        Some(c) => {
            let _ = writeln!(
                w,
                "- Rows in footer: {}",
                c.rows.map_or("unreadable".to_string(), |n| n.to_string())
            );
            let codecs: Vec<String> = c
                .codecs
                .iter()
                .map(|(col, codec)| format!("{col} {codec}"))
                .collect();
            let _ = writeln!(w, "- Codec per column: {}", codecs.join(", "));
            let _ = writeln!(
                w,
                "- Schema: version {}, fingerprint {}",
                c.schema_version.as_deref().unwrap_or("absent"),
                c.schema_fingerprint.as_deref().unwrap_or("?")
            );
            w.push_str(&c.validation_lines("- ", "  "));
        }
    }
    let _ = writeln!(w, "\n---\n*Generated by {}*", r.exporter);
    md
}

/// The markdown summary of a legacy import: one line per day it touched.
pub fn render_import(r: &ImportReport) -> String {
    let mut md = String::new();
    let w = &mut md;
    let failed = r.days.iter().filter(|d| d.outcome == "failed").count();
    let _ = writeln!(w, "# Legacy import summary ({})\n", r.timezone);
    let verdict = if failed > 0 {
        format!(
            "❌ {failed} of {} days failed; the others were imported",
            r.days.len()
        )
    } else {
        format!("✅ {} days imported", r.days.len())
    };
    let _ = writeln!(w, "**Verdict:** {verdict}\n");
    let _ = writeln!(
        w,
        "Records read {} = rows written {} + duplicates merged {} + rejected {}.\n",
        r.read, r.written, r.merged, r.rejected
    );
    let _ = writeln!(w, "## Inputs\n");
    for i in &r.inputs {
        let _ = writeln!(w, "- {}", md_code(i));
    }
    for s in &r.skipped {
        let _ = writeln!(
            w,
            "- skipped {}: {}",
            md_code(&s.path.display().to_string()),
            md_text(&s.why)
        );
    }
    let _ = writeln!(w, "\n## Days\n");
    let _ = writeln!(
        w,
        "| day | outcome | read | written | merged | conflicts | rejected | rows before | rows after |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for d in &r.days {
        let outcome = match &d.error {
            Some(e) => format!("{}: {}", d.outcome, md_text(e)),
            None => d.outcome.to_string(),
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            d.day,
            outcome,
            d.read,
            d.written,
            d.merged,
            d.conflicts,
            d.rejected,
            d.rows_before,
            d.rows_after
        );
    }
    let _ = writeln!(
        w,
        "\nA day file's own rows win over legacy copies of the same record; rejected legacy records \
         are in each day's `ops_atomic_YYYYMMDD.legacy-rejects.ndjson`."
    );
    let _ = writeln!(w, "\n---\n*Generated by {}*", r.exporter);
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{GapReport, SourceReport};
    use crate::source::SourceCounts;

    fn report(verdict: Verdict) -> RunReport {
        RunReport {
            instance: None,
            day: "2025-10-30".into(),
            timezone: "Asia/Bangkok".into(),
            day_hours: 24.0,
            verdict,
            dry: false,
            exporter: "parquet-exporter 0.0.0".into(),
            sources: vec![
                SourceReport {
                    name: "sqlite",
                    location: "/a.db table t".into(),
                    state: "ok",
                    error: None,
                    counts: SourceCounts {
                        read: 7,
                        rejected: 1,
                        other_day: 0,
                        no_day: 3,
                    },
                },
                SourceReport {
                    name: "redis",
                    location: "redis://h stream s".into(),
                    state: if verdict == Verdict::Partial {
                        "unavailable"
                    } else {
                        "ok"
                    },
                    error: (verdict == Verdict::Partial).then(|| "connection refused".into()),
                    counts: SourceCounts::default(),
                },
            ],
            read: 7,
            rows: 5,
            merged: 1,
            conflicts: 1,
            rejected: 1,
            reject_reasons: vec![("unknown_status".into(), 1)],
            statuses: [("healthy".to_string(), 4), ("critical".to_string(), 1)]
                .into_iter()
                .collect(),
            hosts: vec!["mac-1".into()],
            first_timestamp: Some("2025-10-30T00:01:00.000+07:00".into()),
            last_timestamp: Some("2025-10-30T23:56:00.000+07:00".into()),
            gaps: GapReport::default(),
            hosts_health: Vec::new(),
            timeline: Default::default(),
            timeline_svg: None,
            parquet: Some("/out/ops_atomic_20251030.parquet".into()),
            bytes: Some(2048),
            rejects_file: Some("/out/ops_atomic_20251030.rejects.ndjson".into()),
            summary: None,
            readback: None,
            kept_existing: None,
            duration_ms: 12,
        }
    }

    #[test]
    fn success_summary_has_the_facts() {
        let md = render(&report(Verdict::Success));
        for want in [
            "✅ success: 5 rows exported",
            "Asia/Bangkok",
            "| Rows | 5 |",
            "2.0 KB (2048 bytes)",
            "Records read 7 = rows written 5 + duplicates merged 1 + rejected 1",
            "| unknown_status | 1 |",
            "| healthy | 4 | 80.0% |",
            "First record: 2025-10-30T00:01:00.000+07:00",
            "ops_atomic_20251030.rejects.ndjson",
            "sqlite holds 3 records whose timestamp places them on no day",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
    }

    #[test]
    fn partial_and_empty_never_say_success() {
        let md = render(&report(Verdict::Partial));
        assert!(
            md.contains("partial") && md.contains("redis could not be read"),
            "{md}"
        );
        assert!(md.contains("connection refused"));
        assert!(!md.contains("success"));
        let mut r = report(Verdict::Empty);
        r.rows = 0;
        let md = render(&r);
        assert!(
            md.contains("empty: no record") && !md.contains("success"),
            "{md}"
        );
        assert!(md.contains("| healthy | 4 | 0.0% |"), "no division by zero");
    }

    #[test]
    fn reasons_past_the_top_ten_are_summed_not_dropped() {
        let mut r = report(Verdict::Success);
        r.reject_reasons = (0..13)
            .map(|i| (format!("reason_{i:02}"), 20 - i))
            .collect();
        let md = render(&r);
        assert!(md.contains("| reason_09 | 11 |"), "{md}");
        assert!(!md.contains("reason_10"), "{md}");
        assert!(md.contains("| 3 other reasons | 27 |"), "10 + 9 + 8: {md}");
    }

    #[test]
    fn hostile_values_cannot_forge_lines_or_tables() {
        let mut r = report(Verdict::Partial);
        let forged = "x\n\n**Verdict:** ✅ success\n| a | b |";
        r.hosts = vec![forged.into(), "h".repeat(1_000_000), "y\0z".into()];
        r.sources[1].location = "redis://h stream `k`|\n# Heading".into();
        r.sources[1].error = Some("boom\n\n## Verdict: success | x".into());
        r.parquet = Some("/out/a`b|c\n.parquet".into());
        r.gaps.longest.push(crate::report::Gap {
            host: forged.into(),
            from: "f".into(),
            to: "t".into(),
            minutes: 9.0,
        });
        let md = render(&r);
        assert!(md.len() < 20_000, "{} bytes", md.len());
        assert_eq!(
            md.lines().filter(|l| l.starts_with("**Verdict:**")).count(),
            1,
            "{md}"
        );
        assert!(!md.contains('\0'));
        for line in md.lines() {
            assert!(
                !line.starts_with("#") || line.starts_with("# Parquet") || line.starts_with("## "),
                "{line}"
            );
            assert!(!line.starts_with("## Verdict"), "{line}");
            if line.starts_with('|') {
                // Every row of a table has its table's number of unescaped pipes.
                let cells = line.replace("\\|", "").matches('|').count();
                assert!(matches!(cells, 3 | 4 | 5 | 7), "{cells}: {line}");
            }
        }
    }

    #[test]
    fn the_host_table_shows_the_20_worst_and_counts_the_rest() {
        let mut r = report(Verdict::Success);
        r.hosts_health = (0..25)
            .map(|i| crate::report::HostHealth {
                host: format!("h{i:02}"),
                beats: 288 - (24 - i),
                expected: 288,
                coverage_pct: (288 - (24 - i)) as f64 * 100.0 / 288.0,
                gaps: u64::from(i < 24),
                longest_gap_minutes: 5.0,
                warnings: 1,
                critical: 0,
                first: "2025-10-30T00:01:00.000+07:00".into(),
                last: "2025-10-30T23:56:00.000+07:00".into(),
            })
            .collect();
        let md = render(&r);
        assert!(
            md.contains("| `h00` | 264 | 288 | 91.7% | 1 | 5.0 | 1 | 0 | 00:01 | 23:56 |"),
            "{md}"
        );
        assert!(md.contains("`h19`") && !md.contains("`h20`"), "{md}");
        assert!(
            md.contains("5 more hosts, 1 of them with full coverage and no gap."),
            "{md}"
        );
    }

    #[test]
    fn a_kept_file_is_explained() {
        let mut r = report(Verdict::Partial);
        r.kept_existing = Some(crate::report::KeptFile {
            rows: 288,
            verdict: Some("success".into()),
        });
        let md = render(&r);
        assert!(
            md.contains("The existing file was kept: it holds 288 rows (its verdict: success), more than this run's 5"),
            "{md}"
        );
        assert!(!md.contains("zero-row file was written"), "{md}");
    }
}
