//! The day merged window by window: each feed (a source, or the day's previous file) hands on
//! its rows in time order, within a bound it states; the rows before every feed's bound are
//! final, and are merged and handed on while the later ones wait. Memory holds the rows
//! between the slowest feed's bound and the newest row read, not the day. Pure; no I/O.
//!
//! Copies of one record are folded exactly as the whole day's merge folds them when they lie
//! in one window. Copies that do not (an id whose copies have timestamps in two windows, a row
//! behind what was already handed on, a feed that failed after some of its rows were) cannot be
//! folded any more: the caller then merges the day again as a whole (`Windows::whole_day`).

use crate::merge::{MergeStats, Merged, Merger};
use crate::rows::{id_hash, RecordId, Rows};

/// Why the day must be merged again as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unfoldable {
    #[error("a record's copies have timestamps in two windows of the merge")]
    Repeated,
    #[error("a row came behind the rows already written")]
    Late,
    #[error("a source failed after some of its rows were written")]
    FailedFeed,
}

/// Rows waiting for every feed's bound to pass them.
struct Waiting {
    rows: Rows,
    feed: usize,
    rank: u8,
    lo: i64,
    hi: i64,
}

/// The merge of a day's feeds, one window at a time.
pub struct Windows {
    waiting: Vec<Waiting>,
    waiting_rows: usize,
    /// Every row before this was handed on.
    done_to: i64,
    /// Feeds some of whose rows were handed on.
    handed: Vec<bool>,
    /// The `id_hash` of every row handed on whose id is given as text, for
    /// `Unfoldable::Repeated` (see `note_ids`).
    hashes: Vec<u64>,
    /// A row handed on whose text id names another timestamp (`note_ids`).
    odd: bool,
    stats: MergeStats,
    window_rows: usize,
    /// Whether windows can follow one another (a whole day's one window needs no check).
    windowed: bool,
}

impl Windows {
    /// A merge that hands rows on once `window_rows` wait before the feeds' common bound.
    pub fn new(feeds: usize, window_rows: usize) -> Self {
        Windows {
            waiting: Vec::new(),
            waiting_rows: 0,
            done_to: i64::MIN,
            handed: vec![false; feeds],
            hashes: Vec::new(),
            odd: false,
            stats: MergeStats::default(),
            window_rows,
            windowed: true,
        }
    }

    /// A merge of the whole day at once, as one window: nothing is handed on before `finish`.
    pub fn whole_day(feeds: usize) -> Self {
        Windows {
            windowed: false,
            ..Self::new(feeds, usize::MAX)
        }
    }

    /// Takes rows of `feed`, whose copies rank `rank` in the merge (`DaySource::precedence`;
    /// 0 for the day's previous file).
    pub fn add(&mut self, feed: usize, rank: u8, rows: Rows) -> Result<(), Unfoldable> {
        let Some((lo, hi)) = rows.ts_range() else {
            return Ok(());
        };
        if lo < self.done_to {
            return Err(Unfoldable::Late);
        }
        self.waiting_rows += rows.len();
        self.waiting.push(Waiting {
            rows,
            feed,
            rank,
            lo,
            hi,
        });
        Ok(())
    }

    /// Drops what a failed feed left waiting: the day goes on without it, as if never read.
    pub fn drop_feed(&mut self, feed: usize) -> Result<(), Unfoldable> {
        if self.handed[feed] {
            return Err(Unfoldable::FailedFeed);
        }
        self.waiting.retain(|w| w.feed != feed);
        self.waiting_rows = self.waiting.iter().map(|w| w.rows.len()).sum();
        Ok(())
    }

    /// The merged rows before `bound`, when enough wait before it: no feed hands on a row
    /// before its own bound, so these are final.
    pub fn advance(&mut self, bound: i64) -> Option<Merged> {
        if self.waiting_rows < self.window_rows || bound <= self.done_to {
            return None;
        }
        // Rows waiting after the bound (a text-stamped part read ahead, a source ahead of
        // the others) do not count: a window holds about `window_rows` rows handed on.
        let before: usize = (self.waiting.iter())
            .map(|w| match (w.hi < bound, w.lo < bound) {
                (true, _) => w.rows.len(),
                (false, true) => w.rows.len() / 2,
                (false, false) => 0,
            })
            .sum();
        if before < self.window_rows {
            return None;
        }
        self.window(bound)
    }

    /// Every row still waiting, merged, and the check that no id was handed on twice.
    pub fn finish(mut self) -> Result<(Option<Merged>, MergeStats), Unfoldable> {
        let last = self.window(i64::MAX);
        self.hashes.sort_unstable();
        if self.odd || self.hashes.windows(2).any(|w| w[0] == w[1]) {
            return Err(Unfoldable::Repeated);
        }
        Ok((last, self.stats))
    }

    /// Keeps what tells whether a later window holds an id of this one. Copies of an id with
    /// one timestamp always meet in one window, so only ids that can have copies at other
    /// timestamps need keeping: an id given as text (its hash). An id the contract derives
    /// names its row's own timestamp (`report_type:host:ts`), so another copy of it either
    /// has that timestamp too, or is a text id naming a timestamp not its own: such an id
    /// makes the whole day merge again. On a day of derived ids (the usual) nothing is kept.
    fn note_ids(&mut self, merged: &Merged) {
        for (id, ts) in merged.ids() {
            if let RecordId::Text(id) = id {
                self.hashes.push(id_hash(id));
                let named = id.rsplit_once(':').and_then(|(_, t)| t.parse::<i64>().ok());
                self.odd |= named.is_some_and(|t| t != ts);
            }
        }
    }

    fn window(&mut self, bound: i64) -> Option<Merged> {
        let mut merger = Merger::new();
        let mut kept = Vec::with_capacity(self.waiting.len());
        for w in std::mem::take(&mut self.waiting) {
            if w.hi < bound {
                self.handed[w.feed] = true;
                merger.extend(w.rows, w.rank);
            } else if w.lo >= bound {
                kept.push(w);
            } else {
                self.handed[w.feed] = true;
                let (before, rest) = w.rows.split_at_ts(bound);
                merger.extend(before, w.rank);
                let (lo, hi) = rest.ts_range().expect("a row at or after the bound");
                kept.push(Waiting {
                    rows: rest,
                    lo,
                    hi,
                    ..w
                });
            }
        }
        self.waiting = kept;
        self.waiting_rows = self.waiting.iter().map(|w| w.rows.len()).sum();
        self.done_to = bound;
        let (merged, stats) = merger.into_sorted();
        if self.windowed {
            self.note_ids(&merged);
        }
        self.stats.add(stats);
        (merged.len() > 0).then_some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::tests::rec;
    use crate::record::{Record, Row, Source, Status};

    fn rows(records: &[Record], from: Source) -> Rows {
        let mut r = Rows::new();
        records.iter().for_each(|x| r.push(x, from));
        r
    }

    /// Every window handed on, as owned rows, and the stats.
    fn run(
        mut w: Windows,
        feeds: &[(u8, Source, Vec<Vec<Record>>)],
        bound_each: impl Fn(usize) -> i64,
    ) -> Result<(Vec<Row>, MergeStats), Unfoldable> {
        let mut out = Vec::new();
        let parts = feeds.iter().map(|f| f.2.len()).max().unwrap_or(0);
        for p in 0..parts {
            for (f, (rank, from, chunks)) in feeds.iter().enumerate() {
                if let Some(c) = chunks.get(p) {
                    w.add(f, *rank, rows(c, *from))?;
                }
            }
            if let Some(m) = w.advance(bound_each(p)) {
                out.extend(m.iter().map(|r| r.to_row()));
            }
        }
        let (last, stats) = w.finish()?;
        out.extend(last.iter().flat_map(|m| m.iter().map(|r| r.to_row())));
        Ok((out, stats))
    }

    /// Two sources over 300 timestamps, with a third of the ids in both, some differing,
    /// cut into parts of 50 timestamps.
    fn day() -> Vec<(u8, Source, Vec<Vec<Record>>)> {
        let at = |t: i64| t * 1000;
        let sqlite: Vec<Record> = (0..200)
            .map(|t| rec(&format!("r{t}"), at(t), Status::Healthy))
            .collect();
        let redis: Vec<Record> = (100..300)
            .map(|t| {
                let status = if t % 7 == 0 {
                    Status::Critical
                } else {
                    Status::Healthy
                };
                rec(&format!("r{t}"), at(t), status)
            })
            .collect();
        let chunks = |v: Vec<Record>| v.chunks(50).map(<[Record]>::to_vec).collect();
        vec![
            (2, Source::Sqlite, chunks(sqlite)),
            (1, Source::Redis, chunks(redis)),
        ]
    }

    #[test]
    fn windows_give_the_whole_days_rows_and_counts() {
        let feeds = day();
        let whole = run(Windows::whole_day(2), &feeds, |_| i64::MIN).unwrap();
        // Each part's bound: the sources have read up to the part's last timestamp.
        let windowed = run(Windows::new(2, 10), &feeds, |p| (p as i64 * 50 + 50) * 1000).unwrap();
        assert_eq!(whole.0.len(), 300);
        assert_eq!(whole.1.duplicates, 100);
        assert!(whole.1.conflicts > 0);
        assert_eq!(whole, windowed);
        let mut sorted = windowed.0.clone();
        sorted.sort_by_key(|r| r.record.ts_ms);
        assert_eq!(sorted, windowed.0, "in output order across windows");
    }

    #[test]
    fn an_id_in_two_windows_a_late_row_and_a_failed_feed_are_told() {
        let r = |id: &str, t: i64| vec![rec(id, t, Status::Healthy)];
        let feeds = vec![
            (2, Source::Sqlite, vec![r("a", 1), r("b", 100)]),
            (1, Source::Redis, vec![r("c", 2), r("a", 101)]),
        ];
        let got = run(Windows::new(2, 1), &feeds, |p| [50, i64::MAX][p]);
        assert_eq!(got.unwrap_err(), Unfoldable::Repeated);
        assert!(run(Windows::whole_day(2), &feeds, |_| 0).is_ok());

        let mut w = Windows::new(2, 1);
        w.add(0, 2, rows(&r("a", 10), Source::Sqlite)).unwrap();
        assert!(w.advance(20).is_some());
        let late = w.add(1, 1, rows(&r("b", 5), Source::Redis));
        assert_eq!(late.unwrap_err(), Unfoldable::Late);
        assert_eq!(w.drop_feed(0).unwrap_err(), Unfoldable::FailedFeed);
        w.add(1, 1, rows(&r("c", 30), Source::Redis)).unwrap();
        w.drop_feed(1).unwrap();
        let (last, _) = w.finish().unwrap();
        assert!(last.is_none(), "a dropped feed's waiting rows are gone");
    }

    #[test]
    fn a_previous_files_row_stands_only_where_no_source_has_its_id() {
        let feeds = vec![
            (2, Source::Sqlite, vec![vec![rec("a", 1, Status::Healthy)]]),
            // The file's copy of `a` differs: still no conflict, and not a duplicate.
            (
                0,
                Source::Both,
                vec![vec![
                    rec("a", 1, Status::Critical),
                    rec("z", 2, Status::Healthy),
                ]],
            ),
        ];
        let (rows, stats) = run(Windows::whole_day(2), &feeds, |_| 0).unwrap();
        assert_eq!(
            stats,
            MergeStats {
                duplicates: 0,
                conflicts: 0,
                carried: 1
            }
        );
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.record.record_id.as_str(), r.source, r.record.status))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Source::Sqlite, Status::Healthy),
                ("z", Source::Both, Status::Healthy)
            ]
        );
    }
}
