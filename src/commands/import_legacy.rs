//! `import-legacy`: the old exporter's files into day files, under the run lock, with the
//! text rendering of what each day came to.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::dirs::lock_and_clean;
use super::Exit;
use crate::cli::ImportArgs;
use crate::config::ImportConfig;
use crate::escape::plain;
use crate::import;
use crate::report::ImportReport;

pub(super) fn run(
    args: &ImportArgs,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let cfg = ImportConfig::resolve(args, config_path)?;
    let _lock = (!cfg.dry)
        .then(|| lock_and_clean(Some(&cfg.out_dir), &cfg.summary_dir, cfg.lock_timeout))
        .transpose()?;
    let report = import::run(&cfg)?;
    crate::metrics::note_import(&report);
    if cfg.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        print_import(&report, cfg.dry, out)?;
    }
    Ok(Exit::of_import(&report))
}

fn print_import(report: &ImportReport, dry: bool, out: &mut impl Write) -> Result<()> {
    if dry {
        writeln!(out, "dry run: nothing written")?;
    }
    for s in &report.skipped {
        writeln!(
            out,
            "skipped:  {} ({})",
            plain(&s.path.display().to_string()),
            plain(&s.why)
        )?;
    }
    for d in &report.days {
        write!(
            out,
            "{}: {}, read {}, written {}, merged {}, rejected {}, rows {} -> {}",
            d.day, d.outcome, d.read, d.written, d.merged, d.rejected, d.rows_before, d.rows_after
        )?;
        match &d.error {
            Some(e) => writeln!(out, " ({})", plain(e))?,
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "read {} = written {} + merged {} + rejected {}",
        report.read, report.written, report.merged, report.rejected
    )?;
    if let Some(p) = &report.summary {
        writeln!(out, "summary:  {}", plain(p))?;
    }
    Ok(())
}
