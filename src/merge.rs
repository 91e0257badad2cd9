//! Merge: one row per `record_id` across the sources. Of two copies that differ, the one from
//! the source of higher precedence wins (SQLite, the durable archive, over Redis); within one
//! source the copy read last wins. Pure; no I/O.

use crate::parallel::both;
use crate::record::Source;
use crate::rows::{id_hash, BeatRef, RecordId, RowRef, Rows};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MergeStats {
    /// Copies folded into another row (each is one record read that is not a row).
    pub duplicates: u64,
    /// Folded copies whose content differed from the row they were folded into.
    pub conflicts: u64,
    /// Rows from parts of precedence 0 (the day's previous file) that no source holds: a
    /// copy of precedence 0 is dropped, uncounted, where any source has the id.
    pub carried: u64,
}

impl MergeStats {
    pub fn add(&mut self, o: MergeStats) {
        self.duplicates += o.duplicates;
        self.conflicts += o.conflicts;
        self.carried += o.carried;
    }
}

/// Collects each source's rows as they were read, then merges by sorting small keys (a 64-bit
/// hash of each id, then the winners' timestamps) rather than the rows themselves: rows stay
/// where the sources put them and are never copied or moved, and a string comparison only
/// happens between ids that hash alike or share a timestamp.
#[derive(Debug, Default)]
pub struct Merger {
    /// One store per source, in reading order.
    parts: Vec<Rows>,
    /// Each part's precedence: of two differing copies, the higher one's wins.
    ranks: Vec<u8>,
}

/// Where a merged row is held, and the source it reports (`Both` when copies came from both).
#[derive(Debug, Clone, Copy)]
struct At {
    index: u32,
    part: u16,
    source: Source,
}

impl At {
    /// As one word, so a merge key's slot can hold a winner: the merge needs one buffer, not
    /// two (16 bytes a row less at its peak).
    fn pack(self) -> u64 {
        self.index as u64 | (self.part as u64) << 32 | (self.source as u64) << 48
    }

    fn unpack(v: u64) -> At {
        At {
            index: v as u32,
            part: (v >> 32) as u16,
            source: Source::ALL[(v >> 48) as u8 as usize],
        }
    }
}

/// The merged day: one row per `record_id`, in output order (by timestamp, then `record_id`).
#[derive(Debug, Default)]
pub struct Merged {
    parts: Vec<Rows>,
    /// Packed `At`s.
    order: Vec<u64>,
}

impl Merged {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    fn at(&self, packed: u64) -> RowRef<'_> {
        let a = At::unpack(packed);
        self.parts[a.part as usize].get_as(a.index as usize, a.source)
    }

    /// Each row's id and timestamp, in output order: what a merge window checks of its rows.
    pub fn ids(&self) -> impl Iterator<Item = (RecordId<'_>, i64)> + '_ {
        self.order.iter().map(|&a| {
            let a = At::unpack(a);
            let rows = &self.parts[a.part as usize];
            (rows.id(a.index as usize), rows.ts_ms(a.index as usize))
        })
    }

    /// The rows in output order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RowRef<'_>> + Clone + '_ {
        self.order.iter().map(|a| self.at(*a))
    }

    /// The rows in output order as the run's counts and the summary's analysis read them,
    /// without building whole rows.
    pub fn beats(&self) -> impl ExactSizeIterator<Item = BeatRef<'_>> + Clone + '_ {
        self.order.iter().map(|&a| {
            let a = At::unpack(a);
            self.parts[a.part as usize].beat(a.index as usize)
        })
    }

    pub fn first(&self) -> Option<RowRef<'_>> {
        self.order.first().map(|a| self.at(*a))
    }

    pub fn last(&self) -> Option<RowRef<'_>> {
        self.order.last().map(|a| self.at(*a))
    }
}

fn row(parts: &[Rows], (p, i): (u32, u32)) -> RowRef<'_> {
    parts[p as usize].get(i as usize)
}

impl Merger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source's rows, in the order the source read them, with the source's precedence
    /// (`DaySource::precedence`).
    pub fn extend(&mut self, rows: Rows, precedence: u8) {
        if !rows.is_empty() {
            assert!(
                self.parts.len() < u16::MAX as usize,
                "too many parts to merge"
            );
            self.parts.push(rows);
            self.ranks.push(precedence);
        }
    }

    /// One row per record_id, in output order. Copies of an id are folded in reading order:
    /// a copy of lower precedence never replaces one of higher (the archive's copy wins a
    /// conflict), and within one precedence the copy read last wins.
    pub fn into_sorted(self) -> (Merged, MergeStats) {
        self.sorted(PARALLEL_MIN)
    }

    /// `into_sorted`, on two threads from `parallel_min` rows on. Each step splits its keys in
    /// two that need nothing from each other: the hashing by position, the folding by the
    /// hash's top bit (copies of an id hash alike), the final sort by time (all of one half
    /// before the other). The result does not depend on the split.
    fn sorted(self, parallel_min: usize) -> (Merged, MergeStats) {
        let mut parts = self.parts;
        let ranks = &self.ranks;
        let n: usize = parts.iter().map(Rows::len).sum();
        let two = n >= parallel_min.max(2);
        // (hash, part << 32 | index): sorting the whole key keeps copies of an id in reading
        // order.
        let mut keys: Vec<(u64, u64)> = vec![(0, 0); n];
        if two {
            let (a, b) = keys.split_at_mut(n / 2);
            both(|| hash_ids(&parts, a, 0), || hash_ids(&parts, b, n / 2));
        } else {
            hash_ids(&parts, &mut keys, 0);
        }
        parts.iter_mut().for_each(Rows::forget_hashes);

        // Folding marks each winner by position; the winners are then gathered in one pass
        // through the rows in reading order, so a row with one copy (most of them) is never
        // looked up out of order for its timestamp.
        let (marks, mut stats) = if two {
            let mid = partition(&mut keys, |k| k.0 >> 63 == 0);
            let (a, b) = keys.split_at_mut(mid);
            let ((mut marks, mut stats), (marks_b, stats_b)) =
                both(|| fold_ids(&parts, ranks, a), || fold_ids(&parts, ranks, b));
            // Each position's key was in one half: at most one of the two marks is set.
            for (m, b) in marks.iter_mut().zip(marks_b) {
                *m |= b;
            }
            stats.add(stats_b);
            (marks, stats)
        } else {
            fold_ids(&parts, ranks, &mut keys)
        };
        // The keys are spent: the winners are written over them.
        let mut won = 0;
        let mut marks = marks.into_iter();
        for (p, rows) in parts.iter().enumerate() {
            for (i, mark) in marks.by_ref().take(rows.len()).enumerate() {
                let source = match mark {
                    UNMARKED => continue,
                    WON => rows.source(i),
                    _ => Source::Both,
                };
                if ranks[p] == 0 {
                    stats.carried += 1;
                }
                keys[won] = winner(rows.ts_ms(i), (p as u32, i as u32), source);
                won += 1;
            }
        }
        keys.truncate(won);

        let by_time = |&(ta, a): &(u64, u64), &(tb, b): &(u64, u64)| {
            (ta as i64).cmp(&(tb as i64)).then_with(|| {
                let (a, b) = (At::unpack(a), At::unpack(b));
                row(&parts, (a.part.into(), a.index)).cmp_id(&row(&parts, (b.part.into(), b.index)))
            })
        };
        if two && !keys.is_empty() {
            let pivot = median_time(&keys);
            let mid = partition(&mut keys, |k| (k.0 as i64) < pivot);
            let (a, b) = keys.split_at_mut(mid);
            both(
                || a.sort_unstable_by(by_time),
                || b.sort_unstable_by(by_time),
            );
        } else {
            keys.sort_unstable_by(by_time);
        }
        // Collected in place: the keys' buffer becomes the order.
        let order = keys.into_iter().map(|(_, at)| at).collect();
        (Merged { parts, order }, stats)
    }
}

/// Below this many rows the merge runs on one thread: threads would cost more than they save.
const PARALLEL_MIN: usize = 1 << 15;

/// Fills `keys` with the hash keys of the rows from position `start` on (positions count
/// through the parts in order).
fn hash_ids(parts: &[Rows], keys: &mut [(u64, u64)], start: usize) {
    let mut buf = String::new();
    let (mut p, mut i) = (0, start);
    for key in keys {
        while i >= parts[p].len() {
            i -= parts[p].len();
            p += 1;
        }
        let id = parts[p]
            .hashed_id(i)
            .unwrap_or_else(|| id_hash(parts[p].get(i).record_id(&mut buf)));
        *key = (id, (p as u64) << 32 | i as u64);
        i += 1;
    }
}

/// Moves the keys `left` accepts to the front; returns how many there are.
fn partition(keys: &mut [(u64, u64)], left: impl Fn(&(u64, u64)) -> bool) -> usize {
    let mut n = 0;
    for j in 0..keys.len() {
        if left(&keys[j]) {
            keys.swap(n, j);
            n += 1;
        }
    }
    n
}

/// The median timestamp of an even sample of the winners, to split the final sort in halves.
fn median_time(keys: &[(u64, u64)]) -> i64 {
    let step = keys.len().div_ceil(255).max(1);
    let mut sample: Vec<i64> = keys.iter().step_by(step).map(|k| k.0 as i64).collect();
    sample.sort_unstable();
    sample[sample.len() / 2]
}

/// A position that is not a winner; a winner reporting its own row's source; one reporting
/// `Both` (its copies came from both sources).
const UNMARKED: u8 = 0;
const WON: u8 = 1;
const WON_BOTH: u8 = 2;

/// Sorts hash keys and folds the copies of each id into its winner. Returns a mark per row
/// position (counted through the parts in order) saying which rows won.
fn fold_ids(parts: &[Rows], ranks: &[u8], keys: &mut [(u64, u64)]) -> (Vec<u8>, MergeStats) {
    let mut stats = MergeStats::default();
    keys.sort_unstable();
    // Where each part's positions start.
    let mut starts = Vec::with_capacity(parts.len());
    let mut n = 0;
    for rows in parts {
        starts.push(n);
        n += rows.len();
    }
    let mut marks = vec![UNMARKED; n];
    let key_at = |k: u64| ((k >> 32) as u32, k as u32);
    let at = |(p, i): (u32, u32)| starts[p as usize] + i as usize;
    let won = |(p, i): (u32, u32), source: Source| {
        let own = parts[p as usize].source(i as usize);
        if source == own {
            WON
        } else {
            WON_BOTH
        }
    };
    // Ids read twice, nearly always once from each source.
    let mut pairs: Vec<((u32, u32), (u32, u32))> = Vec::new();
    let mut run = 0;
    while run < keys.len() {
        let end = run
            + keys[run..]
                .iter()
                .take_while(|k| k.0 == keys[run].0)
                .count();
        if end == run + 1 {
            // Nearly every id has one copy (or two, the case below): no lookup, no allocation.
            marks[at(key_at(keys[run].1))] = WON;
            run = end;
            continue;
        }
        if end == run + 2 {
            // Two copies (one from each source): folded below, in reading order.
            pairs.push((key_at(keys[run].1), key_at(keys[run + 1].1)));
            run = end;
            continue;
        }
        let mut copies: Vec<(u32, u32)> = keys[run..end].iter().map(|k| key_at(k.1)).collect();
        // Ids that merely hash alike are told apart here.
        while let Some(&first) = copies.first() {
            let (same, rest): (Vec<_>, Vec<_>) = copies
                .iter()
                .partition(|k| row(parts, **k).cmp_id(&row(parts, first)).is_eq());
            let (kept, source) = fold(parts, ranks, &same, &mut stats);
            marks[at(kept)] = won(kept, source);
            copies = rest;
        }
        run = end;
    }
    // Taken in hash order, the two rows of a pair are anywhere in memory; in reading order
    // they are near the pair before (both sources read the day in time order). On a
    // million-row day with 200,000 pairs this took a sixth off the whole merge.
    pairs.sort_unstable();
    for (a, b) in pairs {
        if row(parts, a).cmp_id(&row(parts, b)).is_eq() {
            let (kept, source) = fold(parts, ranks, &[a, b], &mut stats);
            marks[at(kept)] = won(kept, source);
        } else {
            // Two ids that merely hash alike: each is its own winner.
            marks[at(a)] = WON;
            marks[at(b)] = WON;
        }
    }
    (marks, stats)
}

/// A merge winner in a key's slot: its timestamp and where it is held.
fn winner(ts_ms: i64, (part, index): (u32, u32), source: Source) -> (u64, u64) {
    let at = At {
        index,
        part: part as u16,
        source,
    };
    (ts_ms as u64, at.pack())
}

/// The copy that stands for an id, and the source its row reports, from its copies in reading
/// order. A differing copy replaces the kept one unless a copy equal to the kept one came from a
/// source of higher precedence.
fn fold(
    parts: &[Rows],
    ranks: &[u8],
    copies: &[(u32, u32)],
    stats: &mut MergeStats,
) -> ((u32, u32), Source) {
    let row = |k| row(parts, k);
    let rank = |(p, _): (u32, u32)| ranks[p as usize];
    // A copy of precedence 0 (the previous file's) stands only where no source has the id.
    let sourced = copies.iter().any(|&c| rank(c) > 0);
    let mut copies = copies.iter().copied().filter(|&c| !sourced || rank(c) > 0);
    let mut kept = copies.next().expect("an id has a copy");
    let mut kept_rank = rank(kept);
    let mut source = row(kept).source;
    for later in copies {
        stats.duplicates += 1;
        let (k, l) = (row(kept), row(later));
        if !k.same_record(&l) {
            stats.conflicts += 1;
            if rank(later) >= kept_rank {
                kept = later;
                kept_rank = rank(later);
            }
        } else {
            kept_rank = kept_rank.max(rank(later));
        }
        if source != l.source {
            source = Source::Both;
        }
    }
    (kept, source)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::columns::Fixed;
    use crate::record::{Record, Row, Status};

    /// One copy read from `from`, in reading order.
    fn add(m: &mut Merger, record: Record, from: Source) {
        let mut rows = Rows::new();
        rows.push(&record, from);
        m.extend(rows, rank(from));
    }

    /// The precedence the two sources give themselves (`DaySource::precedence`).
    fn rank(from: Source) -> u8 {
        match from {
            Source::Sqlite => 2,
            _ => 1,
        }
    }

    /// A heartbeat record with every fixed check ok.
    pub(crate) fn rec(id: &str, ts: i64, status: Status) -> Record {
        Record {
            record_id: id.into(),
            report_type: "heartbeat".into(),
            ts_ms: ts,
            status,
            duration_ms: None,
            labels: Default::default(),
            fixed: Fixed::all_ok(),
            checks: Default::default(),
        }
    }

    /// A beat's fields as owned values, to compare beats read two ways.
    fn view(b: BeatRef) -> (String, Option<String>, i64, Status) {
        (
            b.report_type.to_string(),
            b.host.map(str::to_string),
            b.ts_ms,
            b.status,
        )
    }

    #[test]
    fn same_copy_in_both_is_one_row_without_conflict() {
        let mut m = Merger::new();
        add(&mut m, rec("a", 1, Status::Healthy), Source::Redis);
        add(&mut m, rec("a", 1, Status::Healthy), Source::Sqlite);
        let (merged, stats) = m.into_sorted();
        let rows: Vec<Row> = merged.iter().map(|r| r.to_row()).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].source, Source::Both);
        assert_eq!(
            stats,
            MergeStats {
                duplicates: 1,
                conflicts: 0,
                carried: 0,
            }
        );
    }

    #[test]
    fn sqlite_wins_whichever_order() {
        for sqlite_first in [true, false] {
            let mut m = Merger::new();
            let (r, s) = (rec("a", 1, Status::Critical), rec("a", 1, Status::Healthy));
            if sqlite_first {
                add(&mut m, s, Source::Sqlite);
                add(&mut m, r, Source::Redis);
            } else {
                add(&mut m, r, Source::Redis);
                add(&mut m, s, Source::Sqlite);
            }
            let (merged, stats) = m.into_sorted();
            let rows: Vec<Row> = merged.iter().map(|r| r.to_row()).collect();
            assert_eq!(
                rows[0].record.status,
                Status::Healthy,
                "sqlite_first={sqlite_first}"
            );
            assert_eq!(rows[0].source, Source::Both);
            assert_eq!(
                stats,
                MergeStats {
                    duplicates: 1,
                    conflicts: 1,
                    carried: 0,
                }
            );
        }
    }

    #[test]
    fn redis_after_both_does_not_override_sqlite() {
        let mut m = Merger::new();
        add(&mut m, rec("a", 1, Status::Healthy), Source::Sqlite);
        add(&mut m, rec("a", 1, Status::Healthy), Source::Redis);
        add(&mut m, rec("a", 1, Status::Critical), Source::Redis);
        let (merged, stats) = m.into_sorted();
        let rows: Vec<Row> = merged.iter().map(|r| r.to_row()).collect();
        assert_eq!(rows[0].record.status, Status::Healthy);
        assert_eq!(
            stats,
            MergeStats {
                duplicates: 2,
                conflicts: 1,
                carried: 0,
            }
        );
    }

    #[test]
    fn duplicate_within_a_source_keeps_last_and_source() {
        let mut m = Merger::new();
        add(&mut m, rec("a", 1, Status::Healthy), Source::Redis);
        add(&mut m, rec("a", 1, Status::Warnings), Source::Redis);
        let (merged, stats) = m.into_sorted();
        let rows: Vec<Row> = merged.iter().map(|r| r.to_row()).collect();
        assert_eq!(rows[0].record.status, Status::Warnings);
        assert_eq!(rows[0].source, Source::Redis);
        assert_eq!(stats.duplicates, 1);
    }

    #[test]
    fn two_threads_merge_as_one_does() {
        // Three parts, as an archive and two reads of a stream: every id has copies in some of
        // them, some conflicting; timestamps repeat, so ids break ties.
        // `hashed`: the parts' ids hashed as a source hashes them, part way through a read.
        let build = |hashed: bool| {
            let mut m = Merger::new();
            for (p, from) in [Source::Sqlite, Source::Redis, Source::Redis]
                .into_iter()
                .enumerate()
            {
                let mut rows = Rows::new();
                for i in 0..3000i64 {
                    if (i + p as i64) % 3 == 0 {
                        continue;
                    }
                    let status = if (i * 7 + p as i64) % 11 == 0 {
                        Status::Critical
                    } else {
                        Status::Healthy
                    };
                    rows.push(&rec(&format!("id-{}", i % 2500), i % 40, status), from);
                    if hashed && i == 1000 {
                        rows.hash_ids();
                    }
                }
                // An id only the last row has: a row left out anywhere changes the result.
                if p == 2 {
                    rows.push(&rec("last", 0, Status::Warnings), from);
                }
                m.extend(rows, rank(from));
            }
            m
        };
        let halves: Vec<bool> = (0..2500)
            .map(|i| id_hash(&format!("id-{i}")) >> 63 == 0)
            .collect();
        assert!(halves.contains(&true) && halves.contains(&false));
        let (one, one_stats) = build(false).sorted(usize::MAX);
        let (two, two_stats) = build(false).sorted(0);
        let (pre, pre_stats) = build(true).sorted(0);
        assert_eq!(pre_stats, one_stats);
        assert_eq!(
            pre.iter().map(|r| r.to_row()).collect::<Vec<Row>>(),
            one.iter().map(|r| r.to_row()).collect::<Vec<Row>>()
        );
        assert!(one_stats.duplicates > 0 && one_stats.conflicts > 0);
        assert_eq!(two_stats, one_stats);
        let rows = |m: &Merged| m.iter().map(|r| r.to_row()).collect::<Vec<Row>>();
        assert_eq!(rows(&two), rows(&one));
        assert_eq!(one.len(), 2501);
        let light: Vec<_> = one.beats().map(view).collect();
        let whole: Vec<_> = one.iter().map(|r| view(r.into())).collect();
        assert_eq!(light, whole);
        assert!(light.iter().any(|b| b.3 == Status::Critical));
    }

    #[test]
    fn ids_that_hash_alike_are_told_apart() {
        // Keys made by hand, as if "a" and "b" had one hash and "c", "d" another.
        let sqlite: Rows = {
            let mut r = Rows::new();
            for id in ["a", "c"] {
                r.push(&rec(id, 1, Status::Healthy), Source::Sqlite);
            }
            r
        };
        let redis: Rows = {
            let mut r = Rows::new();
            for (id, status) in [
                ("b", Status::Healthy),
                ("c", Status::Critical),
                ("d", Status::Healthy),
            ] {
                r.push(&rec(id, 1, status), Source::Redis);
            }
            r
        };
        let parts = [sqlite, redis];
        let at = |p: u64, i: u64| p << 32 | i;
        // A pair of two ids (a, b), and three copies of two ids (c twice, d).
        let mut keys = vec![
            (7, at(0, 0)),
            (7, at(1, 0)),
            (9, at(0, 1)),
            (9, at(1, 1)),
            (9, at(1, 2)),
        ];
        let (marks, stats) = fold_ids(&parts, &[2, 1], &mut keys);
        // Positions: a, c (SQLite), then b, c, d (Redis). c's SQLite copy wins its conflict
        // and reports both sources.
        assert_eq!(marks, [WON, WON_BOTH, WON, UNMARKED, WON]);
        assert_eq!(
            stats,
            MergeStats {
                duplicates: 1,
                conflicts: 1,
                carried: 0,
            }
        );
    }

    #[test]
    fn beats_are_the_rows_four_fields() {
        let mut m = Merger::new();
        for (id, host, report_type, from) in [
            ("a", Some("h1"), "heartbeat", Source::Sqlite),
            ("b", None, "heartbeat", Source::Sqlite),
            ("c", Some("h2"), "deploy", Source::Redis),
            ("a", Some("h1"), "heartbeat", Source::Redis),
        ] {
            let mut r = rec(id, id.len() as i64 * 10, Status::Warnings);
            *r.host_mut() = host.map(Into::into);
            r.report_type = report_type.into();
            add(&mut m, r, from);
        }
        let merged = m.into_sorted().0;
        let beats: Vec<_> = merged.beats().map(view).collect();
        assert_eq!(
            beats,
            merged.iter().map(|r| view(r.into())).collect::<Vec<_>>()
        );
        let hosts: Vec<Option<String>> = beats.iter().map(|b| b.1.clone()).collect();
        assert_eq!(hosts, [Some("h1".into()), None, Some("h2".into())]);
        assert!(beats.iter().any(|b| b.0 == "deploy"));
    }

    #[test]
    fn sorted_by_timestamp_then_id() {
        let mut m = Merger::new();
        add(&mut m, rec("b", 2, Status::Healthy), Source::Redis);
        add(&mut m, rec("z", 1, Status::Healthy), Source::Sqlite);
        add(&mut m, rec("a", 2, Status::Healthy), Source::Sqlite);
        let ids: Vec<_> = m
            .into_sorted()
            .0
            .iter()
            .map(|r| r.record_id(&mut String::new()).to_string())
            .collect();
        assert_eq!(ids, ["z", "a", "b"]);
    }
}
