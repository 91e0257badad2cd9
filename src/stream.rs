//! The day read and merged as it streams in: every source (and the day's previous file) is read
//! on a thread of its own into a bounded channel, the merge takes from whichever is furthest
//! behind, and each window of merged rows is handed to the caller as soon as every feed's
//! bound has passed it (`window`). Only the rows between the slowest feed and the newest are
//! held, however long the day.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use anyhow::Result;

use crate::day::Day;
use crate::merge::{MergeStats, Merged};
use crate::source::{Collector, DaySource, Ingested, Part, SourceError, PART_ROWS};
use crate::window::{Unfoldable, Windows};

/// Merged rows waiting before the feeds' common bound, past which they are handed on: half a
/// row group. The writer holds up to three windows in flight, so this is most of the peak;
/// half as many rows cost the 1M-record day 13 MB less in the same time.
const WINDOW_ROWS: usize = 1 << 17;

/// Windows of this many rows instead, and parts an eighth of that, so that a test's day of a
/// few thousand records is streamed in many windows. Not documented for users.
const WINDOW_ROWS_VAR: &str = "PARQUET_EXPORTER_WINDOW_ROWS";

/// The rows a window waits for, and the rows each feed hands on at a time.
fn sizes() -> (usize, usize) {
    let window = std::env::var(WINDOW_ROWS_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0);
    match window {
        Some(w) => (w, (w / 8).clamp(1, PART_ROWS)),
        None => (WINDOW_ROWS, PART_ROWS),
    }
}

/// Parts a feed may have read ahead of the merge: with `source::PART_ROWS` rows each, a feed
/// that runs ahead holds at most this many parts in the channel and one being filled.
const AHEAD: usize = 2;

/// What reading the day's feeds gave, besides the windows handed on.
pub struct Read {
    /// Each source's outcome, in the order given; an `Ingested`'s rows were all handed on.
    pub sources: Vec<Result<Ingested, SourceError>>,
    pub stats: MergeStats,
}

/// How the day is merged: window by window, or (after `Unfoldable`) as one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Windows,
    WholeDay,
}

/// Reads `sources` (and `previous`, the day's existing file, ranking below them) concurrently,
/// handing each merged window to `each`, in output order. `Ok(Err(_))` when the day cannot be
/// merged window by window and must be read again as one (`Mode::WholeDay`); an invalid source
/// fails the read.
pub fn read_day(
    sources: &[Arc<dyn DaySource>],
    previous: Option<&Path>,
    day: &Day,
    mode: Mode,
    each: &mut dyn FnMut(Merged) -> Result<()>,
) -> Result<Result<Read, Unfoldable>> {
    let feeds = sources.len() + usize::from(previous.is_some());
    let (window_rows, part_rows) = sizes();
    std::thread::scope(|scope| {
        let mut channels: Vec<Receiver<Part>> = Vec::with_capacity(feeds);
        let mut readers = Vec::with_capacity(sources.len());
        for s in sources {
            let (tx, rx) = sync_channel(AHEAD);
            channels.push(rx);
            readers.push(Some(
                scope.spawn(move || Collector::stream(s.as_ref(), day, tx, part_rows)),
            ));
        }
        let file = previous.map(|path| {
            let (tx, rx) = sync_channel(AHEAD);
            channels.push(rx);
            scope.spawn(move || crate::carry::stream_file(path, &tx, part_rows))
        });
        let ranks: Vec<u8> = sources
            .iter()
            .map(|s| s.precedence())
            .chain(previous.map(|_| 0))
            .collect();
        let mut windows = match mode {
            Mode::Windows => Windows::new(feeds, window_rows),
            Mode::WholeDay => Windows::whole_day(feeds),
        };
        let mut outcomes: Vec<Option<Result<Ingested, SourceError>>> =
            sources.iter().map(|_| None).collect();
        let mut bounds = vec![i64::MIN; feeds];
        let mut open = vec![true; feeds];
        // The feed furthest behind is the one the merge waits on; the others wait on their
        // channels, so none runs more than `AHEAD` parts ahead.
        while let Some(f) = (0..feeds).filter(|&f| open[f]).min_by_key(|&f| bounds[f]) {
            let added = match channels[f].recv() {
                Ok(part) => {
                    bounds[f] = bounds[f].max(part.bound);
                    windows.add(f, ranks[f], part.rows)
                }
                Err(_) => {
                    open[f] = false;
                    bounds[f] = i64::MAX;
                    // The previous file's reader has no outcome to take: it is joined below.
                    match readers.get_mut(f).and_then(Option::take) {
                        Some(reader) => {
                            let outcome = reader.join().expect("a source's reader panicked");
                            let slot = &mut outcomes[f];
                            let source = sources[f].as_ref();
                            finished(&mut windows, f, ranks[f], outcome, slot, source)?
                        }
                        None => Ok(()),
                    }
                }
            };
            if let Err(e) = added {
                return Ok(Err(e));
            }
            if let Some(m) = windows.advance(*bounds.iter().min().expect("a feed")) {
                tracing::debug!(rows = m.len(), "window");
                each(m)?;
            }
        }
        if let Some(file) = file {
            file.join().expect("the previous file's reader panicked")?;
        }
        let (last, stats) = match windows.finish() {
            Ok(done) => done,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(m) = last {
            each(m)?;
        }
        let sources = outcomes
            .into_iter()
            .map(|o| o.expect("every source finished"))
            .collect();
        Ok(Ok(Read { sources, stats }))
    })
}

/// A source's reader ended: its last rows join the merge, or, when it was unavailable, what it
/// left waiting leaves it. A source that is invalid, or that this machine could not read,
/// fails the run (`Err`), named.
fn finished(
    windows: &mut Windows,
    feed: usize,
    rank: u8,
    outcome: Result<Ingested, SourceError>,
    slot: &mut Option<Result<Ingested, SourceError>>,
    source: &dyn DaySource,
) -> Result<Result<(), Unfoldable>> {
    let outcome = match outcome {
        Ok(mut i) => {
            let rows = std::mem::take(&mut i.records);
            if let Err(e) = windows.add(feed, rank, rows) {
                return Ok(Err(e));
            }
            Ok(i)
        }
        Err(SourceError::Invalid(e) | SourceError::Local(e)) => {
            let at = format!("{} source {}", source.origin().as_str(), source.location());
            return Err(e.context(at));
        }
        Err(e) => {
            if let Err(e) = windows.drop_feed(feed) {
                return Ok(Err(e));
            }
            Err(e)
        }
    };
    *slot = Some(outcome);
    Ok(Ok(()))
}
