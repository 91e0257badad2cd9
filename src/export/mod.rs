//! The export run: read every configured source, merge, build batches, write the Parquet file,
//! the rejects file and the summary, and report what happened.

mod gather;

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::batch;
use crate::config::Config;
use crate::merge::{MergeStats, Merged};
use crate::report::{
    file_metadata, reject_reasons, Analysis, KeptBecause, KeptFile, Outputs, RunReport,
    SourceReport, SourceState, Tally, Verdict,
};
use crate::source::{Ingested, Reject, Shortfall, SourceError};
use crate::store::{Changed, Expect};
use crate::stream::{self, Mode};
use crate::target::{Existing, Target};
use crate::verify::{self, FileCheck};
use crate::window::Unfoldable;
use crate::{atomic, summary, writer};
use gather::{DayCounts, Gathered};

/// No configured source could be read: nothing is written (exit status 5).
#[derive(Debug, thiserror::Error)]
#[error("no configured source could be read: {0}")]
pub struct NoSourceError(pub String);

/// Each source's report, from what its read gave, and every source's rejects. A source that
/// is unavailable is reported, not fatal (an invalid one failed the read already); when none
/// could be read, nothing is written (`NoSourceError`).
fn source_reports(
    cfg: &Config,
    outcomes: Vec<Result<Ingested, SourceError>>,
) -> Result<(Vec<SourceReport>, Vec<Reject>)> {
    let mut reports = Vec::new();
    let mut rejects = Vec::new();
    for (s, result) in cfg.sources.iter().zip(outcomes) {
        let name = s.origin().as_str();
        let (state, error, counts) = match result {
            Ok(i) => {
                rejects.extend(i.rejects);
                let (state, why) = match i.shortfall {
                    Some(Shortfall::Trimmed(why)) => (SourceState::Trimmed, Some(why)),
                    Some(Shortfall::Unverified(why)) => (SourceState::Unverified, Some(why)),
                    Some(Shortfall::Missing(why)) => (SourceState::Missing, Some(why)),
                    None => (SourceState::Ok, None),
                };
                if let Some(why) = &why {
                    tracing::warn!(source = name, "{}: {why}", state.as_str());
                }
                (state, why, i.counts)
            }
            Err(e) => {
                tracing::warn!(source = name, "unavailable: {e:#}");
                (
                    SourceState::Unavailable,
                    Some(format!("{e:#}")),
                    Default::default(),
                )
            }
        };
        reports.push(SourceReport {
            name,
            location: s.location(),
            state,
            error,
            counts,
        });
    }
    if reports.iter().all(|r| r.state == SourceState::Unavailable) {
        let why: Vec<String> = reports
            .iter()
            .map(|s| format!("{}: {}", s.name, s.error.as_deref().unwrap_or("?")))
            .collect();
        // Every configured source failed: the metrics count this run in each one's streak.
        crate::metrics::note_unread(reports.iter().map(|s| s.name));
        return Err(NoSourceError(why.join("; ")).into());
    }
    Ok((reports, rejects))
}

/// Runs the export for `cfg.day`, phase by phase: read → look at the day file already there →
/// merge (with what that file holds and the sources lack) → tally → write (beside the
/// analysis) → check → stage → publish. Returns the report; the caller maps its verdict to the
/// exit status. Every output is staged, and the Parquet file checked as `verify` checks it,
/// before anything is published, so an error leaves all previous outputs untouched. A day file
/// only grows: unless `cfg.force`, the new file holds every record of the valid file it
/// replaces, and a partial or empty run that adds nothing keeps the file as it is.
pub fn run(cfg: &Config) -> Result<RunReport> {
    let mut tries = 0;
    loop {
        tries += 1;
        match run_once(cfg, tries) {
            Err(e) if e.is::<Changed>() && tries < MAX_TRIES => {
                tracing::warn!("{e:#}; reading it again (try {tries} of {MAX_TRIES})");
                std::thread::sleep(backoff(tries));
            }
            Err(e) if e.is::<Changed>() => {
                return Err(e.context(format!(
                    "another writer kept changing this day: gave up after {tries} tries; the \
                     sources still hold this run's records, so running it again adds them"
                )))
            }
            done => return done,
        }
    }
}

/// How many times a run reads, merges and writes a bucket's day object that another writer
/// keeps changing under it.
const MAX_TRIES: u32 = 8;

/// A random wait before try `tries + 1`, growing with each try: two writers that collided
/// once should not collide again in step.
fn backoff(tries: u32) -> std::time::Duration {
    use std::hash::BuildHasher;
    let noise = std::collections::hash_map::RandomState::new().hash_one(tries);
    let ceiling_ms = 100u64 << tries.min(6);
    std::time::Duration::from_millis(50 + noise % ceiling_ms)
}

/// One try of the export: see `run`.
fn run_once(cfg: &Config, tries: u32) -> Result<RunReport> {
    let started = Instant::now();
    let target = prepare_target(cfg)?;
    let day = match stream_day(cfg, &target, Mode::Windows) {
        Err(e) if e.downcast_ref::<Unfoldable>().is_some() => {
            tracing::warn!("{e:#}: merging the day again as a whole");
            stream_day(cfg, &target, Mode::WholeDay)?
        }
        done => done?,
    };
    tracing::debug!(elapsed = ?started.elapsed(), rows = day.tally.rows, "read, merged and written");
    crate::pause::at("read");
    crate::pause::at("written");
    let StreamedDay {
        tally,
        analysis,
        rejects,
        written,
    } = day;
    let kept = kept_file(cfg, &target, &tally)
        .map(|k| (k, &target.valid().expect("a kept file is valid").check));
    if cfg.dry {
        let parts = (tally, analysis, Outputs::default());
        return Ok(assemble(cfg, parts, started));
    }
    let written = written.filter(|_| kept.is_none());
    let (mut outputs, staged) = check_day_file(cfg, kept, &tally, written, &rejects)?;
    outputs.moved = cfg.moved.clone();
    tracing::debug!(elapsed = ?started.elapsed(), "read back");
    let target_ = target.target.expect("a real run has a target");
    let untouched = outputs
        .kept_existing
        .as_ref()
        .is_some_and(|k| k.because != KeptBecause::NothingNew);
    if untouched {
        // The day's complete file, or an intraday file cut later, stands, and so do its
        // summary, rejects and picture: an earlier look at the day publishes nothing.
        return Ok(assemble(cfg, (tally, analysis, outputs), started));
    }
    let picture = stage_picture(cfg, &analysis, &mut outputs)?;
    outputs.summary = Some(cfg.summary_path().display().to_string());
    let expect = expectation(cfg, target.existing.as_ref());
    outputs.publication = publication_note(cfg, &expect, tries);
    let mut report = assemble(cfg, (tally, analysis, outputs), started);
    report.tries = tries;
    let summary = atomic::stage(&cfg.summary_path(), |w| {
        Ok(w.write_all(summary::render(&report).as_bytes())?)
    })?;
    crate::pause::at("staged");
    publish(cfg, &target_, staged, picture, summary, &expect)?;
    crate::pause::at("published");
    Ok(report)
}

/// What the bucket's day object must still be for this run to replace it: what the run read
/// (none, or that version), or anything when forced.
fn expectation(cfg: &Config, existing: Option<&Existing>) -> Expect {
    match existing.and_then(|e| e.version.clone()) {
        _ if cfg.force => Expect::Anything,
        Some(v) => Expect::Version(v),
        None => Expect::Nothing,
    }
}

/// How a bucket's day object is published, for the summary: by a conditional PUT (and after
/// how many tries), or by a plain one that another machine could overwrite.
fn publication_note(cfg: &Config, expect: &Expect, tries: u32) -> Option<String> {
    if !matches!(cfg.out, crate::config::OutDir::Bucket(_)) {
        return None;
    }
    let disabled = std::env::var("AWS_CONDITIONAL_PUT").is_ok_and(|v| v.trim() == "disabled");
    if disabled && !cfg.force {
        tracing::warn!(
            "AWS_CONDITIONAL_PUT=disabled: the day object is written with a plain PUT, which a \
             second machine writing this prefix can overwrite"
        );
    }
    Some(match expect {
        Expect::Anything => "by a plain PUT (--force): whatever the object held is replaced".into(),
        _ if disabled => "⚠️ by a plain PUT (AWS_CONDITIONAL_PUT=disabled): a second machine \
                          writing this prefix can overwrite this day's records unseen"
            .into(),
        Expect::Nothing => format!("by a conditional PUT (If-None-Match: *), try {tries}"),
        Expect::Version(_) => {
            format!("by a conditional PUT (If-Match the version read), try {tries}")
        }
    })
}

fn assemble(cfg: &Config, parts: (Tally, Analysis, Outputs), started: Instant) -> RunReport {
    let instance = cfg.layout.instance.clone();
    RunReport::assemble(&cfg.day, instance, cfg.dry, parts, started.elapsed())
}

/// The day as read, merged and written: its tally and analysis, every source's rejects, and
/// the day file staged (none for a dry run).
struct StreamedDay {
    tally: Tally,
    analysis: Analysis,
    rejects: Vec<Reject>,
    written: Option<atomic::Staged>,
}

/// Reads, merges and writes the day in one pass (`stream`): each merged window goes to the
/// day file's writer and to the counts and analysis as it is ready. The file is staged beside
/// its target; an error leaves nothing behind.
fn stream_day(cfg: &Config, target: &Prepared, mode: Mode) -> Result<StreamedDay> {
    let previous = previous(cfg, target);
    // A file that stands whatever this run reads is not written again (an intraday run that
    // finds the day's complete file, or a later cut).
    if cfg.dry || stands_anyway(cfg, target) {
        let (tally, analysis, rejects) =
            read_and_write::<std::io::Sink>(cfg, previous, mode, None)?;
        return Ok(StreamedDay {
            tally,
            analysis,
            rejects,
            written: None,
        });
    }
    let (mut done, mut failure) = (None, None);
    let staged = atomic::stage(&cfg.parquet_path(), |w| {
        match read_and_write(cfg, previous, mode, Some(w)) {
            Ok(d) => done = Some(d),
            // Kept as it is: the run's error is about a source or the merge, not the file.
            Err(e) => failure = Some(e),
        }
        anyhow::ensure!(failure.is_none(), "stopped");
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let staged = staged?;
    let (tally, analysis, rejects) = done.expect("read when staged");
    Ok(StreamedDay {
        tally,
        analysis,
        rejects,
        written: Some(staged),
    })
}

/// Whether the day's existing file stands whatever the sources hold (see `kept_file`).
fn stands_anyway(cfg: &Config, target: &Prepared) -> bool {
    let later_cut = |e: &Existing| {
        !cfg.force && cfg.intraday && cut_ms(&e.check).is_some_and(|t| t > cfg.day.end_ms())
    };
    target.complete_kept || target.valid().is_some_and(later_cut)
}

/// `stream_day`'s pass, writing to `out` when given (a dry run builds the batches and checks
/// them against schema v1 instead).
fn read_and_write<W: Write + Send>(
    cfg: &Config,
    previous: Option<&Existing>,
    mode: Mode,
    out: Option<W>,
) -> Result<(Tally, Analysis, Vec<Reject>)> {
    let mut writer = out
        .map(|w| writer::DayWriter::new(w, cfg.batch_rows))
        .transpose()?;
    let mut gathered = Gathered::new(&cfg.day);
    let mut each = |m: Merged| -> Result<()> {
        gathered.add(&m);
        match writer.as_mut() {
            Some(w) => w.write(std::sync::Arc::new(m)),
            None if cfg.dry => check_batches(&m, cfg.batch_rows),
            None => Ok(()),
        }
    };
    let path = previous.map(|e| e.path());
    let read = stream::read_day(&cfg.sources, path, &cfg.day, mode, &mut each)??;
    let (reports, rejects) = source_reports(cfg, read.sources)?;
    let (counts, analysis) = gathered.finish();
    let tally = tally(
        cfg,
        reports,
        &counts,
        read.stats,
        &rejects,
        previous.map(|e| &e.check),
    )?;
    if let Some(w) = writer {
        let metadata = file_metadata(&cfg.day, cfg.layout.instance.as_deref(), &tally);
        w.finish(metadata)?;
    }
    Ok((tally, analysis, rejects))
}

/// What the sources and the merge say of the day: the counts, the statuses, the hosts and the
/// verdict. Every record read must be a row, a merged duplicate or a reject.
fn tally(
    cfg: &Config,
    sources: Vec<SourceReport>,
    counts: &DayCounts,
    stats: MergeStats,
    rejects: &[Reject],
    previous: Option<&FileCheck>,
) -> Result<Tally> {
    let read: u64 = sources.iter().map(|s| s.counts.read).sum();
    let verdict = if is_partial(&sources) {
        Verdict::Partial
    } else if cfg.intraday {
        // Every source read, but the day is not over: so far, however many rows.
        Verdict::Incomplete
    } else if counts.rows == stats.carried {
        // The sources had nothing for the day, whatever the previous file holds.
        Verdict::Empty
    } else {
        Verdict::Success
    };
    let (first_timestamp, last_timestamp) = counts.first_and_last(&cfg.day);
    let tally = Tally {
        sources,
        read,
        carried: stats.carried,
        carried_from: previous
            .filter(|_| stats.carried > 0)
            .and_then(|p| p.written_by.clone()),
        rows: counts.rows,
        merged: stats.duplicates,
        conflicts: stats.conflicts,
        rejected: rejects.len() as u64,
        reject_reasons: reject_reasons(rejects),
        statuses: counts.statuses(),
        hosts: counts.hosts(),
        first_timestamp,
        last_timestamp,
        verdict,
    };
    anyhow::ensure!(
        tally.read + tally.carried == tally.rows + tally.merged + tally.rejected,
        "accounting error: read {} + carried {} != rows {} + merged {} + rejected {}",
        tally.read,
        tally.carried,
        tally.rows,
        tally.merged,
        tally.rejected
    );
    Ok(tally)
}

/// Where the day's outputs go, and the day file already there.
struct Prepared {
    target: Option<Target>,
    existing: Option<Existing>,
    /// An intraday run found the day's complete file: it stands, with everything beside it.
    complete_kept: bool,
}

impl Prepared {
    /// The existing file, when it passes `verify`'s checks.
    fn valid(&self) -> Option<&Existing> {
        self.existing.as_ref().filter(|e| e.check.ok())
    }
}

/// Opens the target and creates the directories (nothing for a dry run), and looks at the day
/// file already there. Prepared before anything is written, so that a failure here (an
/// unwritable directory, a bucket that cannot be read, a file of another zone) leaves every
/// previous output as it was.
fn prepare_target(cfg: &Config) -> Result<Prepared> {
    if cfg.dry {
        return dry_target(cfg);
    }
    // Refused before anything, a partition directory included, is created.
    if let crate::config::OutDir::Local(root) = &cfg.out {
        let found = verify::day_file_zones(root)?;
        crate::scheme::check_export(root, &found, &cfg.layout, cfg.day.tz())?;
    }
    let target = Target::open(&cfg.out)?;
    let parquet_path = cfg.parquet_path();
    let day_dir = parquet_path.parent().unwrap_or(&cfg.out_dir).to_path_buf();
    for dir in [&cfg.out_dir, &cfg.summary_dir, &day_dir] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    // The partition directories are the exporter's own: one replaced by a link would have the
    // day file written wherever it points.
    crate::fsio::ensure_real_dirs(&cfg.out_dir, &day_dir)?;
    let rel = cfg.layout.day_file(cfg.day.date());
    // Checked without --max-size: a file over a limit set since still holds records to carry
    // (the new file then fails the limit, and nothing is replaced).
    let existing = target.existing(&rel, &parquet_path, None)?;
    let prepared = Prepared {
        target: Some(target),
        existing,
        complete_kept: false,
    };
    if let Some(e) = prepared.valid() {
        same_zone(cfg, &e.check)?;
    }
    if let Some(e) = prepared.existing.as_ref().filter(|e| !e.check.ok()) {
        unreadable_existing(cfg, &e.check)?;
    }
    // A complete file of the day is never replaced by a part of it (a clock or --tz that
    // changed makes "today" a finished day), forced or not.
    let complete_kept = cfg.intraday && prepared.valid().is_some_and(|e| e.check.whole_day());
    Ok(Prepared {
        complete_kept,
        ..prepared
    })
}

/// An existing day file that fails its checks: the old exporter's file holds records that
/// `import-legacy` brings over, so it is replaced only by `--force`; any other (cut short, of
/// another schema, edited) is replaced, and the run says so.
fn unreadable_existing(cfg: &Config, check: &FileCheck) -> Result<()> {
    if check.legacy && !cfg.force {
        return Err(crate::config::UsageError(format!(
            "{} is the old exporter's file for this day: `parquet-exporter import-legacy {}` \
             merges its records into a schema-v1 day file first (or --force replaces it)",
            check.path.display(),
            check.path.display()
        ))
        .into());
    }
    tracing::warn!(
        path = %check.path.display(),
        "replacing a day file that fails its checks: {}",
        check.problems.join("; ")
    );
    Ok(())
}

/// For a dry run: no target to publish to, and the local day file, read but never created,
/// so that the rows it reports are the ones a real run would write (a bucket is not asked).
fn dry_target(cfg: &Config) -> Result<Prepared> {
    let existing = match &cfg.out {
        crate::config::OutDir::Local(_) => {
            let rel = cfg.layout.day_file(cfg.day.date());
            Target::open(&cfg.out)?.existing(&rel, &cfg.parquet_path(), None)?
        }
        crate::config::OutDir::Bucket(_) => None,
    };
    let complete_kept = cfg.intraday
        && existing
            .as_ref()
            .is_some_and(|e| e.check.ok() && e.check.whole_day());
    Ok(Prepared {
        target: None,
        existing,
        complete_kept,
    })
}

/// One out dir holds one scheme: a day file exported in another zone covers other hours under
/// the same name, and merging the two would make a day that is neither.
fn same_zone(cfg: &Config, check: &FileCheck) -> Result<()> {
    let zone = cfg.day.tz().name();
    match check.timezone.as_deref() {
        Some(tz) if tz != zone => Err(crate::config::UsageError(format!(
            "{} was exported in time zone {tz}, and this run's zone is {zone}: one out dir holds \
             one zone; run with --tz {tz}, or give this zone its own --out-dir",
            check.path.display()
        ))
        .into()),
        _ => Ok(()),
    }
}

/// The day's valid existing file, whose records carry into the new one: none when forced, or
/// when the complete file is kept as it is.
fn previous<'a>(cfg: &Config, target: &'a Prepared) -> Option<&'a Existing> {
    target
        .valid()
        .filter(|_| !cfg.force && !target.complete_kept)
}

/// The existing file this run leaves in place, and why: the day's complete file under an
/// intraday run; an intraday file cut later than this run (a clock set back); or, for a
/// partial or empty run not forced, a file that this run would only rewrite with nothing added.
fn kept_file(cfg: &Config, target: &Prepared, tally: &Tally) -> Option<KeptFile> {
    let e = target.valid()?;
    let c = &e.check;
    let because = if target.complete_kept {
        KeptBecause::Complete
    } else if cfg.force {
        return None;
    } else if cfg.intraday && cut_ms(c).is_some_and(|until| until > cfg.day.end_ms()) {
        KeptBecause::LaterCut
    } else if matches!(tally.verdict, Verdict::Partial | Verdict::Empty)
        && c.rows.is_some_and(|n| n as u64 >= tally.rows)
    {
        KeptBecause::NothingNew
    } else {
        return None;
    };
    let rows = c.rows.unwrap_or(0) as u64;
    let until = c.covers_until.as_deref();
    Some(KeptFile::new(
        rows,
        c.verdict.clone(),
        until,
        tally.verdict,
        because,
    ))
}

/// An intraday file's cut, in Unix ms.
fn cut_ms(c: &FileCheck) -> Option<i64> {
    let until = c.covers_until.as_deref()?;
    chrono::DateTime::parse_from_rfc3339(until)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Builds a window's batches exactly as a real run would, and checks they match schema v1.
fn check_batches(rows: &Merged, batch_rows: usize) -> Result<()> {
    let mut built = 0;
    for b in batch::batches(rows.iter(), batch_rows) {
        anyhow::ensure!(
            b.schema().fields() == batch::schema().fields(),
            "batch schema drifted from v1"
        );
        built += b.num_rows();
    }
    anyhow::ensure!(built == rows.len(), "built {built} rows of {}", rows.len());
    Ok(())
}

/// The staged day file checked as `verify` checks it, and the rejects staged beside the
/// summary: the outputs for the report, and the staged files.
/// With an existing file kept, nothing is staged and the report describes that file.
fn check_day_file(
    cfg: &Config,
    kept: Option<(KeptFile, &FileCheck)>,
    tally: &Tally,
    written: Option<atomic::Staged>,
    rejects: &[Reject],
) -> Result<(Outputs, StagedDay)> {
    let mut outputs = Outputs {
        parquet: Some(cfg.show_day_file()),
        ..Default::default()
    };
    if let Some((k, existing)) = kept {
        tracing::warn!(
            path = %cfg.show_day_file(),
            "this run is {}; keeping the existing file: {}",
            tally.verdict.as_str(),
            k.why
        );
        outputs.kept_existing = Some(k);
        outputs.bytes = Some(existing.bytes);
        outputs.readback = Some(existing.clone());
        return Ok((outputs, StagedDay::default()));
    }
    let file = written.expect("the day file is written unless an existing one is kept");
    let (file, mut check) = verify::check_staged(file, &cfg.parquet_path(), cfg.max_bytes)?;
    // Where readers find it: the path in the out dir, or the object's URL.
    check.path = cfg.show_day_file().into();
    outputs.bytes = Some(check.bytes);
    outputs.readback = Some(check);
    // A re-run with no rejects must not leave an earlier run's rejects looking current; the
    // stale file is removed when this run publishes.
    let rejects = if rejects.is_empty() {
        None
    } else {
        outputs.rejects_file = Some(cfg.show_rejects_file());
        Some(atomic::stage(&cfg.rejects_path(), |w| {
            Reject::write_ndjson(rejects, w)
        })?)
    };
    Ok((
        outputs,
        StagedDay {
            day: Some(file),
            rejects,
        },
    ))
}

/// What a run staged to publish: the day file (in the out dir, or for upload), and the
/// rejects (beside the summary).
#[derive(Default)]
struct StagedDay {
    day: Option<atomic::Staged>,
    rejects: Option<atomic::Staged>,
}

/// The timeline picture staged beside the summary, when any host was seen.
fn stage_picture(
    cfg: &Config,
    analysis: &Analysis,
    outputs: &mut Outputs,
) -> Result<Option<atomic::Staged>> {
    if analysis.timeline.hosts.is_empty() {
        return Ok(None);
    }
    let svg_path = cfg.timeline_path();
    let mut title = format!("Heartbeats {} ({})", cfg.day, cfg.day.tz().name());
    // The running day's picture ends at the cut, not at midnight: its title says so.
    if cfg.day.is_cut() {
        let until = chrono::DateTime::from_timestamp_millis(cfg.day.end_ms())
            .map(|t| t.with_timezone(&cfg.day.tz()).format("%H:%M").to_string())
            .unwrap_or_default();
        title.push_str(&format!(", so far, until {until}"));
    }
    let staged = atomic::stage(&svg_path, |w| {
        Ok(w.write_all(crate::timeline::render(&analysis.timeline, &title).as_bytes())?)
    })?;
    outputs.timeline_svg = Some(svg_path.display().to_string());
    Ok(Some(staged))
}

/// Publishes the staged outputs: the day file first, so that its summary never describes a
/// file not yet there. Every local target is checked before anything is renamed or uploaded,
/// and a failed rename rolls back those before it: all of the run's outputs, or none.
fn publish(
    cfg: &Config,
    target: &Target,
    staged: StagedDay,
    picture: Option<atomic::Staged>,
    summary: atomic::Staged,
    expect: &Expect,
) -> Result<()> {
    let publishes_day = staged.day.is_some();
    let mut publication = atomic::Publication::new();
    let upload = staged.day.and_then(|d| target.add_day(d, &mut publication));
    match staged.rejects {
        Some(r) => publication.add(r),
        // A re-run with no rejects must not leave an earlier run's rejects looking current.
        None if publishes_day => publication.remove(cfg.rejects_path()),
        None => {}
    }
    if let Some(p) = picture {
        publication.add(p);
    }
    publication.add(summary);
    publication.check()?;
    // The object store's copy goes up once every local output is ready; where older versions
    // put the rejects, beside it, the prefix holds day files only now.
    let date = cfg.day.date();
    target.upload(
        upload,
        &cfg.layout.day_file(date),
        &cfg.layout.old_rejects_file(date),
        expect,
    )?;
    publication.publish()?;
    Ok(())
}

/// Whether the sources read make a partial day: one could not be read, or one holds only part
/// of the day (a trimmed stream) and no other source was read in full to make up for it. A
/// trimmed hot buffer beside a complete archive is normal operation, not a partial day.
fn is_partial(sources: &[SourceReport]) -> bool {
    let any = |state| sources.iter().any(|s| s.state == state);
    let (unavailable, missing, short, full) = (
        any(SourceState::Unavailable),
        any(SourceState::Missing),
        any(SourceState::Trimmed) || any(SourceState::Unverified),
        any(SourceState::Ok),
    );
    // A configured key that does not exist is a configuration to fix, whatever else was read.
    unavailable || missing || (short && !full)
}
