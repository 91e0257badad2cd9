//! `verify`: the day files' read-back checks, local or in a bucket, and `verify --report`, the
//! deployment report, each with its text rendering.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::dirs::folder_or_out_dir;
use super::Exit;
use crate::cli::VerifyArgs;
use crate::config::{self, ReportConfig};
use crate::escape::plain;
use crate::target::Target;
use crate::{atomic, deployment};

/// A local PATH that is not there fails alone, in one line: a whole file report of
/// "unreadable" fields would only bury the reason.
fn require_local_paths(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        if let Target::Dir(local) = Target::of_arg(p)? {
            if std::fs::symlink_metadata(&local)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                anyhow::bail!(
                    "{}: no such file or directory",
                    plain(&local.display().to_string())
                );
            }
        }
    }
    Ok(())
}

/// `verify [PATH]...`: every day file under the paths (or the out dir), checked.
pub(super) fn run_files(
    args: &VerifyArgs,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let max_bytes = config::max_bytes(args.max_size)?;
    let args_paths = if args.paths.is_empty() {
        vec![folder_or_out_dir(None, config_path, "verify")?]
    } else {
        require_local_paths(&args.paths)?;
        args.paths.clone()
    };
    // Bucket prefixes are downloaded into a scratch dir and checked there, then shown by URL.
    let scratch = tempfile::tempdir().context("creating a temp dir")?;
    let mut paths = Vec::new();
    let mut shown: Vec<(PathBuf, String)> = Vec::new();
    for (i, p) in args_paths.iter().enumerate() {
        let target = Target::of_arg(p)?;
        for (local, url) in target.verify_inputs(&scratch.path().join(i.to_string()))? {
            if let Some(url) = url {
                shown.push((local.clone(), url));
            }
            paths.push(local);
        }
    }
    let mut report = crate::verify::verify_paths(&paths, max_bytes);
    let url_of = |p: &Path| shown.iter().find(|(l, _)| l == p).map(|(_, u)| u.into());
    for f in &mut report.files {
        if let Some(u) = url_of(&f.path) {
            f.path = u;
        }
    }
    for files in report.fingerprints.values_mut() {
        for f in files.iter_mut() {
            if let Some(u) = url_of(f) {
                *f = u;
            }
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", crate::verify::render_text(&report, max_bytes))?;
    }
    Ok(Exit::of_files_valid(report.ok))
}

/// `verify --report`: gathers the deployment's facts, writes the markdown report atomically, and
/// prints where it is and the verdict (or the whole report as JSON).
pub(super) fn run_report(
    args: &VerifyArgs,
    config_path: Option<&Path>,
    out: &mut impl Write,
) -> Result<Exit> {
    let report = args.report.as_ref().and_then(|r| r.as_deref());
    let cfg = ReportConfig::resolve(
        &args.deployment,
        report,
        args.json,
        args.max_size,
        config_path,
    )?;
    let facts = deployment::gather(&cfg);
    let v = deployment::assess(&facts, &cfg.report_path);
    if let Some(dir) = cfg
        .report_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    atomic::replace(&cfg.report_path, |w| {
        Ok(w.write_all(deployment::render(&v).as_bytes())?)
    })?;
    if cfg.json {
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "report:  {}",
            plain(&cfg.report_path.display().to_string())
        )?;
        writeln!(out, "verdict: {}", v.verdict.label())?;
        for r in &v.reasons {
            // The reasons are the report's markdown; a terminal shows them as typed.
            writeln!(
                out,
                "  - {}",
                crate::escape::plain_line(&crate::escape::md_to_plain(r))
            )?;
        }
    }
    Ok(Exit::of_deployment(v.verdict))
}
