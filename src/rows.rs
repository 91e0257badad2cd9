//! A day's normalized rows held column by column, in 64K-row chunks: ids in one string per
//! chunk (ids in the contract's derived form as a flag, with no text), enumerated values as
//! bytes, labels (hosts), report types and extra-check sets as small indexes into per-store
//! tables; which enumerated and label columns there are, the column table (`columns`) says.
//! About 40 bytes a row instead of the ~170 of a `Row` and its heap parts (8 more for each
//! id's hash, from the read until the merge), and no allocation per row.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::columns::{Fixed, Labels, FIXED, HOST, LABELS};
use crate::record::{
    derived_id, derived_id_pieces, is_derived_id, Checks, Record, Row, Source, Status,
};

/// A row's `record_id` as held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordId<'a> {
    Text(&'a str),
    /// The id the contract derives from the row's own report type, host and timestamp. Most
    /// ids are that, and then no text is kept for them (half a row's bytes).
    Derived,
}

/// One row, borrowed from wherever it is held: what merge, batch and the run report read.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    /// Read with `record_id`.
    pub id: RecordId<'a>,
    pub report_type: &'a str,
    pub ts_ms: i64,
    pub status: Status,
    pub duration_ms: Option<i64>,
    /// The label columns (`host`, …).
    pub labels: Labels<&'a str>,
    /// The fixed checks (`redis_status`, …).
    pub fixed: Fixed,
    /// Sorted by name; empty means none.
    pub checks: &'a [(Arc<str>, Arc<str>)],
    pub source: Source,
}

impl<'a> RowRef<'a> {
    pub fn host(&self) -> Option<&'a str> {
        self.labels[HOST]
    }

    /// The `record_id`, written into `buf` when it is derived.
    pub fn record_id<'b>(self, buf: &'b mut String) -> &'b str
    where
        'a: 'b,
    {
        match self.id {
            RecordId::Text(id) => id,
            RecordId::Derived => {
                buf.clear();
                derived_id(buf, self.report_type, self.host(), self.ts_ms);
                buf
            }
        }
    }

    /// Orders `record_id`s as strings, without writing out derived ones.
    pub fn cmp_id(&self, o: &RowRef<'_>) -> Ordering {
        match (self.id, o.id) {
            (RecordId::Text(a), RecordId::Text(b)) => a.cmp(b),
            // The same pieces join into the same id (the merge's usual question about two
            // copies); other pieces may too, so anything else is compared as text.
            (RecordId::Derived, RecordId::Derived)
                if self.ts_ms == o.ts_ms
                    && self.host() == o.host()
                    && self.report_type == o.report_type =>
            {
                Ordering::Equal
            }
            _ => {
                let (mut da, mut db) = (itoa::Buffer::new(), itoa::Buffer::new());
                let a = self.id_pieces(&mut da);
                let b = o.id_pieces(&mut db);
                a.iter()
                    .flat_map(|p| p.bytes())
                    .cmp(b.iter().flat_map(|p| p.bytes()))
            }
        }
    }

    /// The id as pieces that join into it.
    fn id_pieces<'b>(&'b self, digits: &'b mut itoa::Buffer) -> [&'b str; 5] {
        match self.id {
            RecordId::Text(id) => [id, "", "", "", ""],
            RecordId::Derived => {
                derived_id_pieces(self.report_type, self.host(), digits.format(self.ts_ms))
            }
        }
    }

    /// Same record content (the `source` column aside): copies of an id that differ are a
    /// conflict.
    pub fn same_record(&self, o: &RowRef<'_>) -> bool {
        self.cmp_id(o) == Ordering::Equal
            && self.report_type == o.report_type
            && self.ts_ms == o.ts_ms
            && self.status == o.status
            && self.duration_ms == o.duration_ms
            && self.labels == o.labels
            && self.fixed == o.fixed
            && self.checks == o.checks
    }

    /// An owned copy.
    pub fn to_row(self) -> Row {
        Row {
            record: Record {
                record_id: self.record_id(&mut String::new()).to_string(),
                report_type: self.report_type.into(),
                ts_ms: self.ts_ms,
                status: self.status,
                duration_ms: self.duration_ms,
                labels: self.labels.map(|l| l.map(Into::into)),
                fixed: self.fixed,
                checks: self.checks.into(),
            },
            source: self.source,
        }
    }
}

/// What the summary's analysis reads of a row (gaps, host health, the timeline).
#[derive(Debug, Clone, Copy)]
pub struct BeatRef<'a> {
    pub report_type: &'a str,
    pub host: Option<&'a str>,
    pub ts_ms: i64,
    pub status: Status,
}

impl<'a> From<RowRef<'a>> for BeatRef<'a> {
    fn from(r: RowRef<'a>) -> Self {
        BeatRef {
            report_type: r.report_type,
            host: r.host(),
            ts_ms: r.ts_ms,
            status: r.status,
        }
    }
}

impl Row {
    pub fn view(&self) -> RowRef<'_> {
        let r = &self.record;
        RowRef {
            id: RecordId::Text(&r.record_id),
            report_type: &r.report_type,
            ts_ms: r.ts_ms,
            status: r.status,
            duration_ms: r.duration_ms,
            labels: r.labels.each_ref().map(|l| l.as_deref()),
            fixed: r.fixed,
            checks: &r.checks,
            source: self.source,
        }
    }
}

/// No duration: durations are never negative, so -1 cannot be a value.
const NO_DURATION: i64 = -1;
/// No label (no host): table index 0 is never used for a string.
const NO_LABEL: u32 = 0;
/// A row's codes: the fixed checks', then these two.
const STATUS: usize = FIXED;
const SOURCE: usize = FIXED + 1;
const CODES: usize = FIXED + 2;
/// Marks a derived id in `Chunk::id_ends`.
const DERIVED: u32 = 1 << 31;

/// Rows per chunk: a chunk's columns are allocated once at full size, so a growing day never
/// copies a large column into a bigger one (on a million-row day, reallocation copies and the
/// fresh pages they touched were a tenth of the run). The first chunk grows as usual, so a
/// one-host day stays small.
const CHUNK: usize = 1 << 16;

/// One chunk's columns.
#[derive(Debug)]
struct Chunk {
    ids: String,
    /// End of each id in `ids`; the start is the previous end. `DERIVED` is set on the ids
    /// that are derived, which take no room in `ids`.
    id_ends: Vec<u32>,
    ts: Vec<i64>,
    duration: Vec<i64>,
    /// Each label's index into `Rows::strings`, `NO_LABEL` for none.
    labels: Vec<[u32; LABELS]>,
    report_type: Vec<u32>,
    /// The fixed checks' codes (`Fixed`), then the status's and the source's (`STATUS`,
    /// `SOURCE`): each as `v as u8`, read back as its enum's `ALL[n]`.
    codes: Vec<[u8; CODES]>,
    /// Index into `Rows::sets`; set 0 is the empty one.
    checks: Vec<u32>,
    /// `id_hash` of the first rows' ids (see `Rows::hash_ids`).
    hash: Vec<u64>,
}

impl Chunk {
    fn with_capacity(rows: usize) -> Self {
        Chunk {
            ids: String::with_capacity(rows * 40),
            id_ends: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
            duration: Vec::with_capacity(rows),
            labels: Vec::with_capacity(rows),
            report_type: Vec::with_capacity(rows),
            codes: Vec::with_capacity(rows),
            checks: Vec::with_capacity(rows),
            hash: Vec::new(),
        }
    }

    fn id(&self, j: usize) -> RecordId<'_> {
        let end = self.id_ends[j];
        if end & DERIVED != 0 {
            return RecordId::Derived;
        }
        let start = if j == 0 {
            0
        } else {
            self.id_ends[j - 1] & !DERIVED
        } as usize;
        RecordId::Text(&self.ids[start..end as usize])
    }
}

/// Rows in the order they were pushed.
#[derive(Debug, Default)]
pub struct Rows {
    chunks: Vec<Chunk>,
    len: usize,
    /// Report types and hosts; index 0 is the empty string (`NO_LABEL`).
    strings: Strings,
    /// The report type of the last row pushed: rows mostly repeat it.
    last_type: Option<u32>,
    sets: Vec<Checks>,
    set_index: HashMap<Checks, u32, foldhash::fast::FixedState>,
    /// Rows whose `id_hash` is held.
    hashed: usize,
}

/// Distinct strings, found by a table of their indexes into a copy of them back to back in
/// one buffer. A store looks up each row's host: with a map keyed by a string allocated apart
/// for each of 17,000 hosts (the 5M-record day), those lookups missed the caches and took four
/// times as long a row as on the 1M day; this way table and text stay compact. Rows read
/// their strings from `list`, not by slicing the buffer: the slice's char-boundary checks on
/// every read made the 1M day 5% slower.
#[derive(Debug, Default)]
struct Strings {
    list: Vec<Box<str>>,
    text: String,
    /// String `i` is `text[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u32>,
    index: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

impl Strings {
    fn get(&self, i: u32) -> &str {
        &self.list[i as usize]
    }

    /// The index of `s`, added when new.
    fn index_of(&mut self, s: &str) -> u32 {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(s);
        if let Some(&i) = self
            .index
            .find(hash, |&i| nth(&self.text, &self.ends, i) == s)
        {
            return i;
        }
        self.insert(s, hash)
    }

    fn add(&mut self, s: &str) -> u32 {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(s);
        self.insert(s, hash)
    }

    /// Adds `s`, not yet held, whose hash is `hash`.
    fn insert(&mut self, s: &str, hash: u64) -> u32 {
        use std::hash::BuildHasher;
        let i = u32::try_from(self.ends.len()).expect("under 4G distinct strings");
        self.list.push(Box::from(s));
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).expect("under 4 GiB of distinct strings");
        self.ends.push(end);
        let Strings {
            text,
            ends,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(hash, i, |&j| hasher.hash_one(nth(text, ends, j)));
        i
    }
}

/// String `i` of a `Strings`' buffer (a function of the fields, so that the table can rehash
/// while it is borrowed apart from them).
fn nth<'a>(text: &'a str, ends: &[u32], i: u32) -> &'a str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &text[start as usize..ends[i] as usize]
}

/// The merge's 64-bit hash of a `record_id`. Fixed seed: the same ids give the same order on
/// every run (the file is byte-identical).
pub fn id_hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x0995_a70c).hash_one(id)
}

impl Rows {
    pub fn new() -> Self {
        let mut rows = Rows::default();
        rows.strings.add(""); // index 0: NO_LABEL
        rows.sets.push(Checks::default());
        rows.set_index.insert(Checks::default(), 0);
        rows
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, i: usize) -> (&Chunk, usize) {
        (&self.chunks[i / CHUNK], i % CHUNK)
    }

    pub fn push(&mut self, r: &Record, source: Source) {
        let set = match self.set_index.get(&r.checks) {
            Some(&i) => i,
            None => {
                let i = self.sets.len() as u32;
                self.sets.push(r.checks.clone());
                self.set_index.insert(r.checks.clone(), i);
                i
            }
        };
        self.push_parts(
            Some(&r.record_id),
            &r.report_type,
            r.ts_ms,
            r.duration_ms,
            r.labels.each_ref().map(|l| l.as_deref()),
            r.status,
            r.fixed,
            set,
            source,
        );
    }

    /// Adds a row from its values, as the sources' typed path reads them (text still
    /// borrowed) and as `push` gives them for a `Record`. `id`: `None` when none was given;
    /// an id that is exactly the derived one is held as derived. `checks`: the index of a
    /// check set already held (`last_checks` tells a row's).
    #[allow(clippy::too_many_arguments)]
    pub fn push_parts(
        &mut self,
        id: Option<&str>,
        report_type: &str,
        ts_ms: i64,
        duration_ms: Option<i64>,
        labels: Labels<&str>,
        status: Status,
        fixed: Fixed,
        checks: u32,
        source: Source,
    ) {
        let id = id.filter(|id| !is_derived_id(id, report_type, labels[HOST], ts_ms));
        let report_type = match self.last_type {
            Some(t) if self.strings.get(t) == report_type => t,
            _ => {
                let t = self.strings.index_of(report_type);
                self.last_type = Some(t);
                t
            }
        };
        let labels = labels.map(|l| l.map_or(NO_LABEL, |l| self.strings.index_of(l)));
        if self.len.is_multiple_of(CHUNK) {
            let rows = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Chunk::with_capacity(rows));
        }
        self.len += 1;
        let c = self.chunks.last_mut().expect("a chunk was just ensured");
        let end = match id {
            None => c.ids.len() as u32 | DERIVED,
            Some(id) => {
                c.ids.push_str(id);
                // Ids are any non-empty string (docs/contract.md, "Records"); only 64K ids of 32 KiB each
                // overflow.
                u32::try_from(c.ids.len())
                    .ok()
                    .filter(|e| *e & DERIVED == 0)
                    .expect("a 64K-row chunk holds under 2 GiB of ids")
            }
        };
        c.id_ends.push(end);
        c.ts.push(ts_ms);
        c.duration.push(duration_ms.unwrap_or(NO_DURATION));
        c.labels.push(labels);
        c.report_type.push(report_type);
        let mut codes = [0; CODES];
        codes[..FIXED].copy_from_slice(&fixed.0);
        codes[STATUS] = status as u8;
        codes[SOURCE] = source as u8;
        c.codes.push(codes);
        c.checks.push(checks);
    }

    /// Adds a copy of a row held elsewhere.
    pub fn push_ref(&mut self, r: RowRef<'_>) {
        let set = match self.set_index.get(r.checks) {
            Some(&i) => i,
            None => {
                let i = self.sets.len() as u32;
                let set: Checks = r.checks.into();
                self.sets.push(set.clone());
                self.set_index.insert(set, i);
                i
            }
        };
        let id = match r.id {
            RecordId::Text(id) => Some(id),
            RecordId::Derived => None,
        };
        let (ts, duration, labels) = (r.ts_ms, r.duration_ms, r.labels);
        self.push_parts(
            id,
            r.report_type,
            ts,
            duration,
            labels,
            r.status,
            r.fixed,
            set,
            r.source,
        );
    }

    /// Moves the rows from `at` on into a store of their own.
    fn split_off(&mut self, at: usize) -> Rows {
        let mut rest = Rows::new();
        for i in at..self.len {
            rest.push_ref(self.get(i));
        }
        let (c, j) = (at / CHUNK, at % CHUNK);
        self.chunks.truncate(c + 1);
        if let Some(chunk) = self.chunks.get_mut(c) {
            let ids_end = match j {
                0 => 0,
                _ => (chunk.id_ends[j - 1] & !DERIVED) as usize,
            };
            chunk.ids.truncate(ids_end);
            chunk.id_ends.truncate(j);
            chunk.ts.truncate(j);
            chunk.duration.truncate(j);
            chunk.labels.truncate(j);
            chunk.report_type.truncate(j);
            chunk.codes.truncate(j);
            chunk.checks.truncate(j);
            chunk.hash.truncate(j);
            if j == 0 {
                self.chunks.pop();
            }
        }
        self.len = at;
        self.hashed = self.hashed.min(at);
        rest
    }

    /// The least and the greatest timestamp held (`None` when empty).
    pub fn ts_range(&self) -> Option<(i64, i64)> {
        let all = self.chunks.iter().flat_map(|c| c.ts.iter().copied());
        all.fold(None, |r, t| match r {
            None => Some((t, t)),
            Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
        })
    }

    /// Splits the rows at timestamp `until`: those before it, and the rest, each in reading
    /// order. Where the rest are the last rows (a source read in time order), only they are
    /// copied.
    pub fn split_at_ts(mut self, until: i64) -> (Rows, Rows) {
        let first_late = (0..self.len).find(|&i| self.ts_ms(i) >= until);
        if let Some(at) = first_late.filter(|&at| (at..self.len).all(|i| self.ts_ms(i) >= until)) {
            let rest = self.split_off(at);
            return (self, rest);
        }
        let (mut before, mut rest) = (Rows::new(), Rows::new());
        for r in self.iter() {
            if r.ts_ms < until {
                before.push_ref(r);
            } else {
                rest.push_ref(r);
            }
        }
        (before, rest)
    }

    /// Hashes the ids of the rows pushed since the last call. A source calls this as it
    /// reads (a reader waiting on Redis has the time), so the merge finds the hashes ready.
    pub fn hash_ids(&mut self) {
        let mut buf = String::new();
        while self.hashed < self.len {
            let (c, j) = (self.hashed / CHUNK, self.hashed % CHUNK);
            let h = id_hash(self.get(self.hashed).record_id(&mut buf));
            let chunk = &mut self.chunks[c];
            if chunk.hash.capacity() == 0 {
                chunk.hash.reserve_exact(chunk.ts.capacity());
            }
            debug_assert_eq!(chunk.hash.len(), j);
            chunk.hash.push(h);
            self.hashed += 1;
        }
    }

    /// Row `i`'s `id_hash`, when `hash_ids` has run since it was pushed.
    pub fn hashed_id(&self, i: usize) -> Option<u64> {
        (i < self.hashed).then(|| {
            let (c, j) = self.at(i);
            c.hash[j]
        })
    }

    /// Frees the hashes once the merge has copied them.
    pub fn forget_hashes(&mut self) {
        for c in &mut self.chunks {
            c.hash = Vec::new();
        }
        self.hashed = 0;
    }

    /// The check set of the last row pushed, for a source that remembers which raw text (or
    /// flat fields) gave it: a later record with the same text reuses it by index.
    pub fn last_checks(&self) -> Option<u32> {
        let c = self.chunks.last()?;
        c.checks.last().copied()
    }

    /// Row `i`'s `record_id` as held.
    pub fn id(&self, i: usize) -> RecordId<'_> {
        let (c, j) = self.at(i);
        c.id(j)
    }

    pub fn ts_ms(&self, i: usize) -> i64 {
        let (c, j) = self.at(i);
        c.ts[j]
    }

    pub fn source(&self, i: usize) -> Source {
        let (c, j) = self.at(i);
        Source::ALL[c.codes[j][SOURCE] as usize]
    }

    /// Row `i` as the summary's analysis reads it, without the rest of the row.
    pub fn beat(&self, i: usize) -> BeatRef<'_> {
        let (c, j) = self.at(i);
        BeatRef {
            report_type: self.strings.get(c.report_type[j]),
            host: self.label(c.labels[j][HOST]),
            ts_ms: c.ts[j],
            status: Status::ALL[c.codes[j][STATUS] as usize],
        }
    }

    /// Row `i`, reporting `source` as where it was found.
    pub fn get_as(&self, i: usize, source: Source) -> RowRef<'_> {
        let (chunk, j) = self.at(i);
        let c = chunk.codes[j];
        let d = chunk.duration[j];
        RowRef {
            id: chunk.id(j),
            report_type: self.strings.get(chunk.report_type[j]),
            ts_ms: chunk.ts[j],
            status: Status::ALL[c[STATUS] as usize],
            duration_ms: (d != NO_DURATION).then_some(d),
            labels: chunk.labels[j].map(|l| self.label(l)),
            fixed: Fixed(std::array::from_fn(|k| c[k])),
            checks: &self.sets[chunk.checks[j] as usize],
            source,
        }
    }

    /// The label held as `index`.
    fn label(&self, index: u32) -> Option<&str> {
        (index != NO_LABEL).then(|| self.strings.get(index))
    }

    pub fn get(&self, i: usize) -> RowRef<'_> {
        self.get_as(i, self.source(i))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = RowRef<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

impl<'a> FromIterator<&'a Row> for Rows {
    fn from_iter<I: IntoIterator<Item = &'a Row>>(rows: I) -> Self {
        let mut out = Rows::new();
        for r in rows {
            out.push(&r.record, r.source);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Col;
    use crate::record::{AgentStatus, CheckStatus};

    fn record(id: &str, host: Option<&str>, checks: &[(&str, &str)], duration: Option<i64>) -> Row {
        let mut record = Record {
            record_id: id.into(),
            report_type: "heartbeat".into(),
            ts_ms: 1_761_782_400_000,
            status: Status::Critical,
            duration_ms: duration,
            labels: Default::default(),
            fixed: Fixed::default()
                .with(Col::RedisStatus, CheckStatus::Warn)
                .with(Col::DatabaseStatus, CheckStatus::Unknown)
                .with(Col::ApiStatus, CheckStatus::Error)
                .with(Col::LaunchagentOptimizer, AgentStatus::NotLoaded)
                .with(Col::LaunchagentDigest, AgentStatus::Unknown),
            checks: checks
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        };
        *record.host_mut() = host.map(Into::into);
        Row {
            record,
            source: Source::Redis,
        }
    }

    #[test]
    fn every_field_comes_back_as_pushed() {
        let rows = [
            record("a", Some("mac-1"), &[("disk", "ok")], Some(0)),
            record("", None, &[], None),
            record(
                "ü-3",
                Some("mac-1"),
                &[("disk", "ok"), ("gpu", "warn")],
                Some(7),
            ),
            record("d", Some("mac-2"), &[("disk", "ok")], None),
        ];
        let mut store: Rows = rows.iter().collect();
        store.push(&rows[0].record, Source::Sqlite);
        assert_eq!(store.len(), 5);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(store.get(i).to_row(), *r, "row {i}");
            assert!(store.get(i).same_record(&r.view()));
        }
        assert_eq!(store.get(4).source, Source::Sqlite);
        assert_eq!(store.get(4).to_row().record, rows[0].record);
        assert!(!store.get(0).same_record(&store.get(3)));
        // Equal hosts and check sets are held once.
        let c = &store.chunks[0];
        assert_eq!(c.labels[0][HOST], c.labels[2][HOST]);
        assert_eq!(c.checks[0], c.checks[3]);
        assert_ne!(c.checks[0], c.checks[2]);
    }

    #[test]
    fn strings_are_held_once_and_found_again_past_many_rehashes() {
        let mut strings = Strings::default();
        assert_eq!(strings.add(""), 0);
        // Enough to grow the table many times; texts that share prefixes and lengths, an
        // empty-looking one, and non-ASCII.
        let texts: Vec<String> = (0..20_000)
            .map(|i| match i % 4 {
                0 => format!("host-{i:05}"),
                1 => format!("ü{i}"),
                2 => " ".repeat(i % 7 + 1) + &i.to_string(),
                _ => format!("h{}", i * 7919),
            })
            .collect();
        let first: Vec<u32> = texts.iter().map(|t| strings.index_of(t)).collect();
        assert_eq!(
            first,
            (1..=20_000).collect::<Vec<u32>>(),
            "new texts get the next index"
        );
        for (t, &i) in texts.iter().zip(&first).rev() {
            assert_eq!(strings.index_of(t), i, "{t:?} again");
            assert_eq!(strings.get(i), t);
        }
        assert_eq!(strings.index_of(""), 0);
        assert_eq!(strings.get(0), "");
        assert_eq!(strings.ends.len(), 20_001, "nothing was added twice");
    }

    #[test]
    fn rows_past_the_first_chunk_keep_their_place() {
        let mut store = Rows::new();
        let mut r = record("x", Some("h"), &[], None).record;
        for i in 0..CHUNK + 3 {
            r.record_id = format!("id-{i}");
            r.ts_ms = i as i64;
            store.push(&r, Source::Sqlite);
        }
        assert_eq!(store.len(), CHUNK + 3);
        assert_eq!(store.chunks.len(), 2);
        for i in [0, CHUNK - 1, CHUNK, CHUNK + 2] {
            assert_eq!(
                store.get(i).record_id(&mut String::new()),
                format!("id-{i}")
            );
            assert_eq!(store.ts_ms(i), i as i64);
            assert_eq!(store.get(i).host(), Some("h"));
        }
    }

    #[test]
    fn derived_ids_keep_no_text_and_read_back_whole() {
        let mut store = Rows::new();
        let mut r = record("x", Some("mac:1"), &[], None).record;
        let mut pushed = Vec::new();
        for (i, id) in [
            "heartbeat:mac:1:0",   // derived from its own fields
            "explicit",            // text
            "heartbeat:mac:1:7",   // derived
            "heartbeat:mac:1:999", // the derived form of other fields: text
            "heartbeat:mac:1:",    // a prefix of it: text
        ]
        .iter()
        .enumerate()
        {
            r.record_id = id.to_string();
            r.ts_ms = [0, 5, 7, 8, 9][i];
            store.push(&r, Source::Redis);
            pushed.push(r.clone());
        }
        let c = &store.chunks[0];
        assert_eq!(c.ids, "explicitheartbeat:mac:1:999heartbeat:mac:1:");
        let kinds: Vec<bool> = (0..5)
            .map(|i| store.get(i).id == RecordId::Derived)
            .collect();
        assert_eq!(kinds, [true, false, true, false, false]);
        let mut buf = String::new();
        for (i, p) in pushed.iter().enumerate() {
            assert_eq!(store.get(i).record_id(&mut buf), p.record_id, "row {i}");
            assert_eq!(store.get(i).to_row().record, *p, "row {i}");
        }
        // No host derives with "-".
        *r.host_mut() = None;
        r.record_id = "heartbeat:-:9".into();
        r.ts_ms = 9;
        store.push(&r, Source::Redis);
        assert_eq!(store.get(5).id, RecordId::Derived);
        assert_eq!(store.get(5).record_id(&mut buf), "heartbeat:-:9");
    }

    #[test]
    fn ids_order_as_their_text_whether_derived_or_not() {
        let mut store = Rows::new();
        let cases: [(&str, Option<&str>, i64); 7] = [
            ("heartbeat", Some("a"), 10),
            ("heartbeat", Some("a"), 9),
            ("heartbeat", Some("a:b"), 1),
            ("heartbeat:a", Some("b"), 1),
            ("heartbeat", None, 1),
            ("heart", Some("beat"), 2),
            ("heartbeat", Some("a"), -3),
        ];
        for (rt, host, ts) in cases {
            let mut r = record("", host, &[], None).record;
            r.report_type = rt.into();
            *r.host_mut() = host.map(Into::into);
            r.ts_ms = ts;
            // Each once as derived and once as the same text held as text.
            derived_id_into(&mut r);
            store.push(&r, Source::Sqlite);
            r.ts_ms += 1000; // the same text is no longer its derived form
            store.push(&r, Source::Sqlite);
        }
        let mut held = 0;
        for i in 0..store.len() {
            held += usize::from(store.get(i).id == RecordId::Derived);
        }
        assert_eq!(held, cases.len(), "every other row is derived");
        let (mut a, mut b) = (String::new(), String::new());
        for i in 0..store.len() {
            for j in 0..store.len() {
                let want = store
                    .get(i)
                    .record_id(&mut a)
                    .cmp(store.get(j).record_id(&mut b));
                assert_eq!(store.get(i).cmp_id(&store.get(j)), want, "rows {i} and {j}");
            }
        }
        // "heartbeat:a:b:1" and "heartbeat:a:b:1" from different fields are one id.
        assert!(store.get(4).cmp_id(&store.get(6)).is_eq());
    }

    fn derived_id_into(r: &mut Record) {
        r.record_id.clear();
        let host = r.host().map(str::to_string);
        derived_id(&mut r.record_id, &r.report_type, host.as_deref(), r.ts_ms);
    }

    #[test]
    fn rows_split_at_a_time_keep_every_value_in_reading_order() {
        // Sorted rows (the rest copied off the end) and unsorted ones (both halves copied),
        // across a chunk boundary, with text and derived ids, hosts and check sets.
        for sorted in [true, false] {
            let n = CHUNK + 40;
            let rows: Vec<Row> = (0..n)
                .map(|i| {
                    let id = if i % 3 == 0 {
                        format!("id-{i}")
                    } else {
                        String::new()
                    };
                    let host = format!("h{}", i % 5);
                    let mut r = record(&id, Some(&host), &[("disk", ["ok", "warn"][i % 2])], None);
                    let t = if sorted {
                        i as i64
                    } else {
                        ((i * 7919) % n) as i64
                    };
                    r.record.ts_ms = 1_761_782_400_000 + t;
                    if id.is_empty() {
                        let mut derived = String::new();
                        derived_id(&mut derived, "heartbeat", Some(&host), r.record.ts_ms);
                        r.record.record_id = derived;
                    }
                    r
                })
                .collect();
            // Inside a chunk, at a chunk's first row, and before every row.
            for cut in [n - 30, CHUNK, 0] {
                let store: Rows = rows.iter().collect();
                let until = 1_761_782_400_000 + cut as i64;
                let (before, rest) = store.split_at_ts(until);
                let owned = |r: &Rows| r.iter().map(RowRef::to_row).collect::<Vec<_>>();
                let (want_before, want_rest): (Vec<Row>, Vec<Row>) =
                    rows.iter().cloned().partition(|r| r.record.ts_ms < until);
                assert_eq!(owned(&before), want_before, "sorted {sorted}, cut {cut}");
                assert_eq!(owned(&rest), want_rest, "sorted {sorted}, cut {cut}");
                assert_eq!(rest.len(), n - cut);
            }
        }
    }
}
