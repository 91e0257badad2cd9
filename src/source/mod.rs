//! Sources: read one day's raw records from Redis and SQLite and classify them (record, reject,
//! or another day's) as they arrive, so only normalized records are kept. Each source is a
//! `DaySource`; the export, the merge and the deployment report know sources only through it.

pub mod redis;
mod resp;
pub mod sqlite;
pub mod typed;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;

use crate::day::Day;
use crate::record::{
    classify, cut, Classified, Filed, Interner, RawRecord, RejectReason, Source, EXCERPT_BYTES,
};
use crate::rows::Rows;

/// One configured source of heartbeat records. Adding a source is a type that implements this,
/// in its own file, and the line in `config.rs` that builds it from the options.
pub trait DaySource: Send + Sync + std::fmt::Debug {
    /// The lineage value its records carry in the day file (docs/contract.md, "source").
    fn origin(&self) -> Source;

    /// Where it is, for the summary, the logs and errors; never a secret.
    fn location(&self) -> String;

    /// Its rank in the merge: of two copies of one record that differ, the copy from the
    /// source of higher rank is the row (docs/contract.md, "Merge"). Ranks of the configured
    /// sources differ.
    fn precedence(&self) -> u8;

    /// Reads the records of `day` (and what the read range brings beyond it) into `sink`.
    fn read_day(&self, day: &Day, sink: &mut Collector) -> Result<(), SourceError>;

    /// Its newest record at or before `now_ms`, and the first after it: the deployment
    /// report's proof of life.
    fn newest(&self, now_ms: i64) -> anyhow::Result<Newest>;
}

/// For the deployment report: a source's newest record at or before now, and the first one
/// stamped after now (a clock ahead, or a bad record: no proof of life either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Newest {
    pub at_or_before_now: Option<i64>,
    pub after_now: Option<i64>,
}

/// How a configured source failed. Callers branch on it: an unavailable source makes the run
/// partial, an invalid one fails it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Could not be reached or read (connection refused, timeout, missing database file).
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
    /// Reached, but not what the contract describes (missing table or column, wrong key type).
    #[error("{0:#}")]
    Invalid(anyhow::Error),
    /// This machine could not do the read (it ran out of file descriptors): the run fails, and
    /// the source is not reported as unavailable.
    #[error("{0:#}")]
    Local(anyhow::Error),
}

impl SourceError {
    /// The same kind of failure, its error changed by `f`.
    pub fn map(self, f: impl FnOnce(anyhow::Error) -> anyhow::Error) -> SourceError {
        match self {
            SourceError::Unavailable(e) => SourceError::Unavailable(f(e)),
            SourceError::Invalid(e) => SourceError::Invalid(f(e)),
            SourceError::Local(e) => SourceError::Local(f(e)),
        }
    }
}

/// A record that could not be normalized, as written to the rejects file.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    pub source: &'static str,
    /// Where it was found: a stream entry ID or a SQLite rowid.
    pub locator: String,
    pub reason_code: &'static str,
    pub reason: String,
    /// The raw record, each long value cut to an excerpt (see `RawRecord::excerpt`).
    pub record: Json,
    /// The fields of `record` that were cut, with each value's whole length in bytes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cut: BTreeMap<String, usize>,
    /// How many fields of the raw record were left out.
    #[serde(skip_serializing_if = "is_zero")]
    pub fields_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Reject {
    /// One JSON line per reject: the rejects file's format.
    pub fn write_ndjson(rejects: &[Reject], w: &mut impl std::io::Write) -> anyhow::Result<()> {
        for r in rejects {
            serde_json::to_writer(&mut *w, r)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The one place a reject is made, so every source's rejects keep a bounded excerpt of the
    /// raw record (docs/contract.md, "Rejects"), whatever the size of its values.
    pub fn new(raw: &RawRecord, reason: &RejectReason) -> Self {
        let excerpt = raw.excerpt();
        let text = reason.to_string();
        Reject {
            source: raw.source.as_str(),
            locator: cut(&raw.locator, EXCERPT_BYTES).0.to_string(),
            reason_code: reason.code(),
            reason: match cut(&text, EXCERPT_BYTES) {
                (head, true) => format!("{head}…"),
                (whole, false) => whole.to_string(),
            },
            record: excerpt.record,
            cut: excerpt.cut,
            fields_left_out: excerpt.fields_left_out,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    /// Records taken for this day: normalized plus rejected.
    pub read: u64,
    pub rejected: u64,
    /// Records read only because the read range is wider than the day; not counted as read.
    pub other_day: u64,
    /// Records the source holds that no day can select (a SQLite `ts` that is NULL or text that
    /// cannot start with a date). They are in no export; the summary says how many there are.
    pub no_day: u64,
}

/// How a source that was reached falls short of the day, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// The stream was trimmed past the day's start.
    Trimmed(String),
    /// The stream begins inside the day, and whether it was trimmed there could not be told
    /// (no XINFO): it cannot be shown to hold the day's start.
    Unverified(String),
    /// The stream key does not exist: mistyped, or nothing was ever written to it.
    Missing(String),
}

/// What one source yielded for the day.
#[derive(Debug)]
pub struct Ingested {
    pub source: Source,
    /// The source's rank in the merge (`DaySource::precedence`).
    pub precedence: u8,
    /// Normalized records, each tagged with this source, in reading order.
    pub records: Rows,
    pub rejects: Vec<Reject>,
    pub counts: SourceCounts,
    /// Why the source does not hold the whole day although it was reached: the run cannot
    /// count it as a full copy of the day.
    pub shortfall: Option<Shortfall>,
}

/// Rows a source hands on as it reads them, and its bound: no row it hands on later has a
/// timestamp before it (see `window`).
pub struct Part {
    pub rows: Rows,
    pub bound: i64,
}

/// Rows a streaming read gathers before it hands them on, at most: half a store's chunk (`rows`), so
/// that what a source adds before its next chance to hand on (a page, a few thousand rows)
/// still fits the part's one chunk instead of opening a second one at full size.
pub const PART_ROWS: usize = 1 << 15;

/// Receives raw records from a source and keeps only what the day needs.
pub struct Collector<'d> {
    day: &'d Day,
    strings: Interner,
    /// The typed path's check sets by the bytes they were read from.
    sets: typed::CheckSets,
    out: Ingested,
    /// Where a streaming read hands its rows on; `None` keeps them all.
    feed: Option<std::sync::mpsc::SyncSender<Part>>,
    /// The receiver went away: the run stopped, and the read can too.
    stopped: bool,
    /// Rows a streaming read gathers before it hands them on.
    part_rows: usize,
    /// Time spent waiting for the merge to take a part, since `take_waited`.
    waited: std::time::Duration,
}

impl<'d> Collector<'d> {
    pub fn new(day: &'d Day, source: Source) -> Self {
        Collector {
            day,
            strings: Interner::default(),
            sets: Default::default(),
            out: Ingested {
                source,
                precedence: 0,
                records: Rows::new(),
                rejects: Vec::new(),
                counts: SourceCounts::default(),
                shortfall: None,
            },
            feed: None,
            stopped: false,
            part_rows: PART_ROWS,
            waited: std::time::Duration::ZERO,
        }
    }

    /// `filed`: how the source found the record, which places it when its own timestamp
    /// cannot (see `record::Filed`).
    pub fn push(&mut self, raw: &RawRecord, filed: Filed) {
        match classify(raw, self.day, filed, &mut self.strings) {
            Classified::Record(r) => {
                self.out.counts.read += 1;
                self.out.records.push(&r, self.out.source);
            }
            Classified::Rejected(reason) => {
                self.out.counts.read += 1;
                self.out.counts.rejected += 1;
                self.out.rejects.push(Reject::new(raw, &reason));
            }
            Classified::OtherDay => self.out.counts.other_day += 1,
        }
    }

    /// Records that the source no longer holds the whole day, and why.
    pub fn shortfall(&mut self, why: Shortfall) {
        self.out.shortfall = Some(why);
    }

    /// Counts records that belong to no day at all (see `SourceCounts::no_day`).
    pub fn no_day(&mut self, n: u64) {
        self.out.counts.no_day += n;
    }

    /// Hashes the ids of the records kept since the last call, for the merge (see
    /// `Rows::hash_ids`).
    pub fn hash_ids(&mut self) {
        self.out.records.hash_ids();
    }

    /// A point where the source can say its bound: no record it reads from here on has a
    /// timestamp before `bound`. A streaming read hands its rows on here once enough wait.
    pub fn flush(&mut self, bound: i64) {
        self.hash_ids();
        let Some(feed) = &self.feed else {
            return;
        };
        if self.out.records.len() < self.part_rows {
            return;
        }
        let rows = std::mem::replace(&mut self.out.records, Rows::new());
        // The remembered check sets are indexes into the store just handed on.
        self.sets = Default::default();
        let started = std::time::Instant::now();
        if feed.send(Part { rows, bound }).is_err() {
            self.stopped = true;
        }
        self.waited += started.elapsed();
    }

    /// How long the read waited on the merge since the last call: a source's time limit is
    /// for the source, and does not count the time the merge kept it waiting.
    pub fn take_waited(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.waited)
    }

    /// Whether the run stopped taking this read's rows: the source can stop reading.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    pub fn finish(mut self) -> Ingested {
        self.hash_ids();
        self.out
    }

    /// Reads `day` from `source` into a collector of its own: what that source yielded.
    pub fn read(source: &dyn DaySource, day: &Day) -> Result<Ingested, SourceError> {
        let mut c = Collector::new(day, source.origin());
        c.out.precedence = source.precedence();
        source.read_day(day, &mut c).map(|()| c.finish())
    }

    /// Reads `day` from `source`, handing its rows on to `feed` about `part_rows` at a time as
    /// they are read (see `flush`): what the source yielded, with the rows not yet handed on.
    pub fn stream(
        source: &dyn DaySource,
        day: &Day,
        feed: std::sync::mpsc::SyncSender<Part>,
        part_rows: usize,
    ) -> Result<Ingested, SourceError> {
        let mut c = Collector::new(day, source.origin());
        c.out.precedence = source.precedence();
        c.feed = Some(feed);
        c.part_rows = part_rows;
        source.read_day(day, &mut c).map(|()| c.finish())
    }
}
