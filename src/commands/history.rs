//! `history`: a line per day from the day files, newest first, with the one command that fills
//! the missing days; or the same as JSON, and a picture as SVG.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::dirs::folder_or_out_dir;
use super::Exit;
use crate::cli::HistoryArgs;
use crate::config::{self, UsageError};
use crate::escape::plain;
use crate::history::HistoryDay;
use crate::{atomic, names};

pub(super) fn run(
    args: &HistoryArgs,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    if args.days == 0 {
        return Err(UsageError("--days must be at least 1".into()).into());
    }
    let dir = folder_or_out_dir(args.dir.as_deref(), config_path, "history")?;
    config::local_only(&dir, "history")?;
    let days = crate::history::history(&dir, args.days)?;
    if let Some(svg) = &args.svg {
        let title = format!("Day files in {}", dir.display());
        atomic::replace(svg, |w| {
            Ok(w.write_all(crate::timeline::render_history(&days, &title).as_bytes())?)
        })?;
    }
    if args.json {
        let doc = serde_json::json!({"dir": dir.display().to_string(), "days": days});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(Exit::Success);
    }
    if days.is_empty() {
        writeln!(
            out,
            "no ops_atomic_*.parquet file in {}",
            plain(&dir.display().to_string())
        )?;
    }
    print_days(&days, out)?;
    Ok(Exit::Success)
}

/// One line per day, newest first; consecutive missing days are one line.
fn print_days(days: &[HistoryDay], out: &mut impl Write) -> Result<()> {
    let scheme = fill_flags(days);
    let mut i = 0;
    while i < days.len() {
        let d = &days[i];
        // Consecutive missing days are one line, with the one command that fills them all.
        let run = days[i..]
            .iter()
            .take_while(|m| m.state == "missing")
            .count();
        if run > 1 {
            let (newest, oldest) = (&d.day, &days[i + run - 1].day);
            writeln!(
                out,
                "{newest} … {oldest}  missing: {run} days without a day file (parquet-exporter --from {oldest} --to {newest}{scheme} fills them)"
            )?;
            i += run;
            continue;
        }
        i += 1;
        match d.state {
            "ok" => writeln!(
                out,
                "{}{}  rows {:>7}  coverage {:>5.1}%  healthy {:>5.1}%  warnings {:>5}  critical {:>5}  rejected {:>4}  merged {:>5}  gaps {:>3}  hosts {:>4}  {}",
                d.day,
                d.instance.as_deref().map(|i| format!(" {i}")).unwrap_or_default(),
                d.rows,
                d.coverage_pct,
                d.healthy_pct,
                d.warnings,
                d.critical,
                d.rejected,
                d.merged,
                d.gaps,
                d.hosts,
                match &d.so_far_until {
                    Some(until) => format!("so far, until {until}"),
                    None => d.verdict.as_deref().unwrap_or("no verdict").to_string(),
                }
            )?,
            "missing" => writeln!(
                out,
                "{}  missing: no day file (parquet-exporter --from {} --to {}{scheme} fills it)",
                d.day, d.day, d.day
            )?,
            _ => writeln!(
                out,
                "{}  unreadable: {}",
                d.day,
                plain(d.problem.as_deref().unwrap_or("?"))
            )?,
        }
    }
    Ok(())
}

/// The flags a fill-in export needs to write the folder's scheme (one out dir holds one):
/// ` --layout hive` and ` --instance NAME` when its day files have them (one instance only).
fn fill_flags(days: &[HistoryDay]) -> String {
    let layouts: BTreeSet<names::Layout> = days
        .iter()
        .filter_map(|d| names::day_file_at(d.path.as_deref()?))
        .map(|(_, l)| l)
        .collect();
    let mut flags = String::new();
    if layouts.iter().any(|l| l.hive) {
        flags.push_str(" --layout hive");
    }
    if let [names::Layout {
        instance: Some(i), ..
    }] = layouts.iter().collect::<Vec<_>>().as_slice()
    {
        flags.push_str(&format!(" --instance {i}"));
    }
    flags
}
