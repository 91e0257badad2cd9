//! The typed path: a record whose values are all in their plain form (the shape monitors
//! write) goes from the source's buffers straight into the day's rows, with no `RawRecord`,
//! no copy of its text and no lookup of its fields by name. Anything else takes the general
//! path (`Collector::push`), which judges it exactly as before, reject reasons included.

use std::collections::HashMap;

use super::Collector;
use crate::columns::{field_col, Col, Fixed, Labels, COUNT, FIXED_COLS, LABELS, LABEL_COLS};
use crate::record::{plain, Filed, RawRecord};

/// One value as a source holds it, borrowed. NULL and absent are the same to normalization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    Text(&'a [u8]),
    Int(i64),
    /// Anything else (a REAL, a BLOB): only the general path reads it.
    Other,
}

/// The extra checks of a record, as the bytes they were read from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum CheckKey<'a> {
    #[default]
    None,
    /// SQLite's `checks_json` text.
    Json(&'a [u8]),
    /// A stream entry's `check.<name>` fields or `checks` object, as `Typed::entry` wrote them.
    Flat(&'a [u8]),
    /// Not text: only the general path reads it.
    Other,
}

/// A record's values by column (`vals[col as usize]`, for the columns of `RECORD_FIELDS`);
/// `None` is absent or NULL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed<'a> {
    pub vals: [Option<Val<'a>>; COUNT],
    pub checks: CheckKey<'a>,
}

impl<'a> Typed<'a> {
    fn get(&self, col: Col) -> Option<Val<'a>> {
        self.vals[col as usize]
    }
}

impl<'a> Typed<'a> {
    /// A stream entry's fields: flat (`check.<name>` fields for extra checks) or one `json`
    /// field holding an object. `None` when the typed path does not take the entry: a name it
    /// does not read, a repeated name, a `json` field beside others, a value that is not a
    /// plain string, integer or null (or a string with escapes), a `checks` object with
    /// anything but such strings. The extra checks are written to `key` (cleared first), each
    /// name and value with its length before it, after a byte that says which form they came
    /// in: `Collector` remembers which check set each key gave.
    pub fn entry(
        mut fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        key: &'a mut Vec<u8>,
    ) -> Option<Self> {
        let mut t = Typed::default();
        key.clear();
        let mut first = true;
        while let Some((name, value)) = fields.next() {
            if std::mem::take(&mut first) && name == b"json" {
                fields.next().is_none().then_some(())?;
                key.push(b'j');
                t.json(value, key)?;
                break;
            }
            if key.is_empty() {
                key.push(b'f');
            }
            if let Some(check) = name.strip_prefix(b"check.") {
                for part in [check, value] {
                    push_part(key, part)?;
                }
                continue;
            }
            let slot = &mut t.vals[field_col(name)? as usize];
            if slot.replace(Val::Text(value)).is_some() {
                return None;
            }
        }
        if key.len() > 1 {
            t.checks = CheckKey::Flat(key);
        }
        Some(t)
    }

    /// A JSON entry's object into `self`, its `checks` object into `key`. Only the plain
    /// shape is read (see `Json`); `None` for anything else.
    fn json(&mut self, text: &'a [u8], key: &mut Vec<u8>) -> Option<()> {
        let mut j = Json { b: text, at: 0 };
        j.byte(b'{')?;
        // One bit per column: a member named twice is the general path's to judge.
        const _: () = assert!(COUNT <= 32, "a column's bit fits in `seen`");
        let mut seen = 0u32;
        if !j.next_is(b'}') {
            loop {
                let name = j.string()?;
                j.byte(b':')?;
                let col = match name {
                    b"checks" => Col::Checks,
                    other => field_col(other)?,
                };
                if seen & 1 << col as u32 != 0 {
                    return None;
                }
                seen |= 1 << col as u32;
                if col == Col::Checks {
                    j.checks(key)?;
                } else {
                    self.vals[col as usize] = j.value()?;
                }
                if !j.next_is(b',') {
                    break;
                }
            }
            j.byte(b'}')?;
        }
        j.ws();
        (j.at == text.len()).then_some(())
    }
}

/// A reader of the JSON entries monitors write: an object whose members are strings without
/// escapes or control characters, unsigned integers of up to 18 digits, null, and a `checks`
/// object of such strings. It reads no further than it can be sure of; anything else is left
/// to the general path, which reads it with serde_json and words any reject.
struct Json<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Json<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// After any whitespace, `c`.
    fn byte(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.at) == Some(&c)).then(|| self.at += 1)
    }

    /// Whether `c` comes next (after any whitespace), taking it when it does.
    fn next_is(&mut self, c: u8) -> bool {
        self.byte(c).is_some()
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let start = self.at;
        let mut end = start;
        loop {
            match *self.b.get(end)? {
                b'"' => break,
                // An escape or a control character: serde_json's to read or refuse.
                b'\\' | 0..0x20 => return None,
                _ => end += 1,
            }
        }
        self.at = end + 1;
        // Not checked as UTF-8 here: `Collector::typed` checks every text it keeps, as it
        // does a flat entry's, and matches the rest against ASCII words.
        Some(&self.b[start..end])
    }

    /// A member's value: a string, an unsigned integer or null (`None`).
    fn value(&mut self) -> Option<Option<Val<'a>>> {
        self.ws();
        match *self.b.get(self.at)? {
            b'"' => self.string().map(|s| Some(Val::Text(s))),
            b'n' if self.b[self.at..].starts_with(b"null") => {
                self.at += 4;
                Some(None)
            }
            b'0'..=b'9' => {
                let digits = self.b[self.at..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let d = &self.b[self.at..self.at + digits];
                // No leading zero (not JSON), and no more digits than an i64 surely holds. A
                // fraction or an exponent (a float) is not followed by the `,` or `}` that must
                // come next, so the object is refused there.
                let plain = digits <= 18 && (d[0] != b'0' || digits == 1);
                self.at += digits;
                plain.then(|| {
                    Some(Val::Int(
                        d.iter().fold(0, |n, c| n * 10 + i64::from(c - b'0')),
                    ))
                })
            }
            _ => None,
        }
    }

    /// A `checks` member: null, or an object of strings, written to `key`.
    fn checks(&mut self, key: &mut Vec<u8>) -> Option<()> {
        self.ws();
        if self.b[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(());
        }
        self.byte(b'{')?;
        if self.next_is(b'}') {
            return Some(());
        }
        loop {
            let name = self.string()?;
            self.byte(b':')?;
            let value = self.string()?;
            push_part(key, name)?;
            push_part(key, value)?;
            if !self.next_is(b',') {
                return self.byte(b'}');
            }
        }
    }
}

/// `part` with its length before it.
fn push_part(key: &mut Vec<u8>, part: &[u8]) -> Option<()> {
    key.extend_from_slice(&u32::try_from(part.len()).ok()?.to_le_bytes());
    key.extend_from_slice(part);
    Some(())
}

/// Which check set a `CheckKey`'s bytes gave, once the general path has read them.
#[derive(Debug, Default)]
pub(super) struct CheckSets {
    json: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
    flat: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
}

/// Distinct check texts remembered per source; a day with more reads the rest generally.
const CHECK_SETS: usize = 4096;

impl CheckSets {
    fn get(&self, key: CheckKey) -> Option<u32> {
        match key {
            CheckKey::None => Some(0),
            CheckKey::Json(b) => self.json.get(b).copied(),
            CheckKey::Flat(b) => self.flat.get(b).copied(),
            CheckKey::Other => None,
        }
    }

    fn remember(&mut self, key: CheckKey, set: u32) {
        let (map, b) = match key {
            CheckKey::None | CheckKey::Other => return,
            CheckKey::Json(b) => (&mut self.json, b),
            CheckKey::Flat(b) => (&mut self.flat, b),
        };
        if map.len() < CHECK_SETS {
            map.insert(b.into(), set);
        }
    }
}

fn text(v: Val<'_>) -> Option<&[u8]> {
    match v {
        Val::Text(b) => Some(b),
        _ => None,
    }
}

fn timestamp(v: Val) -> Option<i64> {
    match v {
        Val::Text(b) => plain::timestamp(b),
        Val::Int(ms) => plain::epoch(ms),
        Val::Other => None,
    }
}

impl Collector<'_> {
    /// Takes `t` by the typed path when every value is in its plain form; otherwise `raw`
    /// gives the same record as a `RawRecord` for the general path.
    pub fn push_typed<'r, E>(
        &mut self,
        t: &Typed,
        filed: Filed,
        raw: impl FnOnce() -> Result<&'r RawRecord, E>,
    ) -> Result<(), E> {
        if self.typed(t, filed).is_some() {
            return Ok(());
        }
        let rows = self.out.records.len();
        self.push(raw()?, filed);
        // The general path read the checks' bytes into a row: the next record with the same
        // bytes takes the typed path.
        if self.out.records.len() > rows {
            if let Some(set) = self.out.records.last_checks() {
                self.sets.remember(t.checks, set);
            }
        }
        Ok(())
    }

    /// `Some` when `t` was taken: as a row, or counted as another day's.
    fn typed(&mut self, t: &Typed, filed: Filed) -> Option<()> {
        let ts = timestamp(t.get(Col::Timestamp)?)?;
        // As `classify`: one filed farther from its timestamp than the read's margin is a
        // reject, which the general path words.
        if let Filed::At {
            at_ms,
            max_drift_ms: Some(d),
        } = filed
        {
            if ts.abs_diff(at_ms) > d.unsigned_abs() {
                return None;
            }
        }
        if !self.day.contains(ts) {
            self.out.counts.other_day += 1;
            return Some(());
        }
        let status = plain::status(text(t.get(Col::Status)?)?)?;
        let report_type = match t.get(Col::ReportType) {
            None => "heartbeat",
            Some(v) => plain::report_type(text(v)?)?,
        };
        let duration_ms = match t.get(Col::DurationMs) {
            None => None,
            Some(Val::Int(d)) if d >= 0 => Some(d),
            Some(Val::Int(_)) => return None,
            Some(v) => plain::duration(text(v)?)?,
        };
        let mut labels: Labels<&str> = [None; LABELS];
        for (slot, c) in LABEL_COLS.into_iter().enumerate() {
            labels[slot] = match t.get(c) {
                None => None,
                Some(v) => match text(v)? {
                    b"" => None,
                    l => Some(std::str::from_utf8(l).ok()?),
                },
            };
        }
        let id = match t.get(Col::RecordId) {
            None => None,
            Some(v) => Some(std::str::from_utf8(text(v)?).ok()?).filter(|s| !s.trim().is_empty()),
        };
        let mut fixed = Fixed::default();
        for (slot, c) in FIXED_COLS.into_iter().enumerate() {
            if let Some(v) = t.get(c) {
                let vocab = c.vocab().expect("a fixed check has a vocabulary");
                fixed.0[slot] = plain::fixed(vocab, text(v)?)?;
            }
        }
        let checks = self.sets.get(t.checks)?;
        self.out.counts.read += 1;
        self.out.records.push_parts(
            id,
            report_type,
            ts,
            duration_ms,
            labels,
            status,
            fixed,
            checks,
            self.out.source,
        );
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Vocab;
    use crate::day::Day;
    use crate::record::{RawValue, Source};
    use crate::source::redis::entry_record;
    use crate::source::{Collector, Ingested};

    fn day() -> Day {
        Day::new(
            chrono::NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
            "Asia/Bangkok".parse().unwrap(),
        )
        .unwrap()
    }

    /// A small deterministic generator: which variant of each value a record gets.
    struct Pick(u64);
    impl Pick {
        fn of<'v, T: ?Sized>(&mut self, options: &[&'v T]) -> &'v T {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            options[(self.0 >> 33) as usize % options.len()]
        }
    }

    const IN_DAY: &str = "2025-10-30T05:00:00.123Z";
    /// Each value in plain forms and in forms only the general path reads (or rejects).
    const TIMESTAMPS: &[&[u8]] = &[
        IN_DAY.as_bytes(),
        b"2025-10-30T12:00:00+07:00",
        b"2025-10-30T01:02:03.4567-02:30",
        b"1761775200000",
        b"1761775200000 ",
        b" 2025-10-30T05:00:00Z",
        b"2025-10-29T05:00:00Z",
        b"2025-10-30 05:00:00Z",
        b"2025-10-30T05:00:60Z",
        b"not-a-time",
        b"",
        b"99999999999999999999",
    ];
    const STATUSES: &[&[u8]] = &[
        b"healthy",
        b"HEALTHY",
        b"Warnings",
        b"critical",
        b"ok",
        b"fail",
        b" healthy",
        "✅ HEALTHY".as_bytes(),
        b"",
        b"degraded",
        b"warning!",
        b"\xff\xfe",
    ];
    const DURATIONS: &[&[u8]] = &[
        b"954",
        b"954ms",
        b"0",
        b"",
        b"954 ms",
        b" 12",
        b"-5",
        b"-5ms",
        b"ms",
        b"1e3",
        b"99999999999999999999",
    ];
    const HOSTS: &[&[u8]] = &[b"mac-1", b"mac:2", b"", "ü".as_bytes(), b"\xc3"];
    const IDS: &[&[u8]] = &[
        b"id-1",
        b"",
        b"  ",
        b" x",
        b"heartbeat:mac-1:1761800400123",
        b"\xe2\x82",
    ];
    const TYPES: &[&[u8]] = &[b"heartbeat", b"", b"deploy_2", b"Heartbeat", b"bad type"];
    const CHECKS: &[&[u8]] = &[
        b"ok",
        b"OK",
        b"warn",
        b"error",
        b"fail",
        b"pass",
        b"unknown",
        b"",
        b" ok",
        b"bad",
        b"loaded",
        b"not_loaded",
        b"NOT_LOADED",
        b"\xff",
    ];
    const CHECK_TEXTS: &[&[u8]] = &[
        br#"{"disk":"ok"}"#,
        br#"{"disk":"warn","gpu":"ok"}"#,
        br#"{"disk":"bad value"}"#,
        br#"{"disk":""}"#,
        b"{}",
        b"",
        b"[1]",
        b"{",
        b"\xff",
    ];

    /// One collector fed by the typed path where it takes a record, one by the general path.
    struct Both<'d> {
        typed: Collector<'d>,
        general: Collector<'d>,
    }

    impl<'d> Both<'d> {
        fn new(day: &'d Day, source: Source) -> Self {
            Both {
                typed: Collector::new(day, source),
                general: Collector::new(day, source),
            }
        }

        /// Whether the typed path took the record (`t` is `None` when its entry cannot be
        /// typed at all).
        fn push(&mut self, t: Option<&Typed>, raw: &RawRecord, filed: Filed) -> bool {
            let mut called = false;
            match t {
                Some(t) => self
                    .typed
                    .push_typed(t, filed, || {
                        called = true;
                        Ok::<_, ()>(raw)
                    })
                    .unwrap(),
                None => {
                    called = true;
                    self.typed.push(raw, filed);
                }
            }
            self.general.push(raw, filed);
            !called
        }
    }

    fn compare(typed: Ingested, general: Ingested) {
        let rows = |i: &Ingested| i.records.iter().map(|r| r.to_row()).collect::<Vec<_>>();
        assert_eq!(rows(&typed), rows(&general));
        let rejects = |i: &Ingested| {
            i.rejects
                .iter()
                .map(|r| (r.locator.clone(), r.reason.clone(), r.record.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(rejects(&typed), rejects(&general));
        assert_eq!(typed.counts, general.counts);
    }

    /// A value of the list, or absent (`None`) one time in `absent`.
    fn maybe<'v>(p: &mut Pick, list: &[&'v [u8]], absent: bool) -> Option<&'v [u8]> {
        let v = p.of(list);
        (!absent || p.of(&[&true, &true, &true, &false]) == &true).then_some(v)
    }

    #[test]
    fn rows_as_sqlite_gives_them_come_out_as_the_general_path_makes_them() {
        let day = day();
        let mut both = Both::new(&day, Source::Sqlite);
        let mut p = Pick(7);
        let mut taken = 0;
        let n = 20_000;
        for i in 0..n {
            let mut t = Typed::default();
            let mut raw = RawRecord::new(Source::Sqlite, format!("rowid {i}"));
            // Mostly plain records, so that both paths and the check sets' memory are used.
            let plain = i % 3 != 0;
            let pick = |p: &mut Pick, list: &[&'static [u8]]| -> &'static [u8] {
                if plain {
                    list[0]
                } else {
                    p.of(list)
                }
            };
            let put = |t: &mut Typed<'static>, raw: &mut RawRecord, name: &'static str, v| {
                match v {
                    None => raw.fields.insert(name, RawValue::Null),
                    Some(Val::Int(n)) => raw.fields.insert(name, RawValue::Int(n)),
                    Some(Val::Text(b)) => raw.fields.insert_bytes(name, b),
                    Some(Val::Other) => raw.fields.insert(name, RawValue::Float(1.5)),
                }
                match field_col(name.as_bytes()) {
                    Some(c) => t.vals[c as usize] = v,
                    None => {
                        t.checks = match v {
                            None => CheckKey::None,
                            Some(Val::Text(b)) => CheckKey::Json(b),
                            Some(_) => CheckKey::Other,
                        }
                    }
                }
            };
            let ts = match p.of(&[&0, &1, &2, &3]) {
                0 => Some(Val::Int(1_761_800_400_123 + i)),
                1 if !plain => Some(Val::Int(*p.of(&[&-1, &1_761_700_000_000, &i64::MAX]))),
                1 if !plain => Some(Val::Other),
                _ => Some(Val::Text(pick(&mut p, TIMESTAMPS))),
            };
            put(&mut t, &mut raw, "timestamp", ts);
            let text = |p: &mut Pick, list: &[&'static [u8]], absent| {
                (if plain {
                    Some(list[0])
                } else {
                    maybe(p, list, absent)
                })
                .map(Val::Text)
            };
            let v = text(&mut p, IDS, true);
            put(&mut t, &mut raw, "record_id", v);
            let v = text(&mut p, TYPES, true);
            put(&mut t, &mut raw, "report_type", v);
            let v = text(&mut p, STATUSES, true);
            put(&mut t, &mut raw, "status", v);
            let d = match p.of(&[&0, &1, &2]) {
                0 => Some(Val::Int(*p.of(&[&0, &954, &-1]))),
                _ => text(&mut p, DURATIONS, true),
            };
            put(&mut t, &mut raw, "duration_ms", d);
            let v = text(&mut p, HOSTS, true);
            put(&mut t, &mut raw, "host", v);
            for c in FIXED_COLS {
                let known = CHECKS[if c.vocab() == Some(Vocab::Check) {
                    0
                } else {
                    10
                }];
                let list: &[&[u8]] = &[p.of(CHECKS), known];
                let v = text(&mut p, if plain { &list[1..] } else { list }, true);
                put(&mut t, &mut raw, c.name(), v);
            }
            let v = match p.of(&[&0, &1, &2, &3, &4, &5, &6, &7]) {
                0 if !plain => Some(Val::Int(3)),
                1..=3 => None,
                _ => Some(Val::Text(p.of(CHECK_TEXTS))),
            };
            put(&mut t, &mut raw, "checks", v);
            taken += usize::from(both.push(Some(&t), &raw, Filed::Selected));
        }
        assert!(taken > n as usize / 3, "the typed path took {taken} of {n}");
        let (typed, general) = (both.typed.finish(), both.general.finish());
        assert!(general.counts.rejected > 1000 && general.counts.other_day > 100);
        compare(typed, general);
    }

    /// `fields` as one JSON entry: `check.<name>` fields in a `checks` object, digits now and
    /// then as numbers, and with `odd`, one thing only the general path reads (or rejects).
    fn json_entry(
        p: &mut Pick,
        fields: &[(Vec<u8>, Vec<u8>)],
        odd: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let string = |b: &[u8]| serde_json::to_string(&String::from_utf8_lossy(b)).unwrap();
        let oddity = if odd {
            *p.of(&[
                &0, &0, &0, &1, &2, &3, &4, &5, &6, &7, &8, &9, &10, &11, &12, &13, &14, &15,
            ])
        } else {
            -1
        };
        let mut members = Vec::new();
        let mut checks = Vec::new();
        for (name, value) in fields {
            let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let v = if digits && p.of(&[&true, &false]) == &true {
                String::from_utf8(value.clone()).unwrap()
            } else {
                string(value)
            };
            match name.strip_prefix(b"check.") {
                Some(check) => checks.push(format!("{}:{v}", string(check))),
                None => members.push(format!("{}:{v}", string(name))),
            }
        }
        if oddity == 0 {
            // One member's value in a form only the general path reads.
            let i = *p.of(&[&0, &1, &2, &3, &4, &5, &6, &7, &8, &9, &10]) % members.len().max(1);
            let odd = p.of(&[
                "null",
                "-3",
                "1.5",
                "true",
                "[1]",
                r#""\u0068ealthy""#,
                "18446744073709551615",
                "007",
                "1e3",
                "12.0",
                "-0",
                "0",
                "nul",
                "nullx",
                "\"heal\thy\"",
                "\"ok\\\"",
                // Unterminated: a string cut at a control character.
                "\"ok\t",
            ]);
            if let Some(m) = members.get_mut(i) {
                let name = m.split(':').next().unwrap().to_string();
                *m = format!("{name}:{odd}");
            }
        }
        match oddity {
            1 => members.push(r#""checks":null"#.into()),
            2 => members.push(r#""checks":{"disk":5}"#.into()),
            _ if !checks.is_empty() => {
                members.push(format!(r#""checks":{{{}}}"#, checks.join(",")))
            }
            _ => {}
        }
        match oddity {
            3 => members.push(r#""extra":"x""#.into()),
            4 => members.push(r#""status":"critical""#.into()),
            5 => members.push(r#""check.disk":"ok""#.into()),
            10 => members.push(r#""status":"\u0068ealthy""#.into()),
            11 => members.push(r#""checks":{"gpu":"warn"}"#.into()),
            12 => members.push("\"checks\":{\"gpu\":\"warn\n\"}".into()),
            13 => members.push(r#""checks":{"gpu":"warn","disk"}"#.into()),
            _ => {}
        }
        // Whitespace between tokens, as a pretty-printing writer leaves it, now and then.
        let text = if p.of(&[&true, &false, &false]) == &true {
            format!(
                "{{\n  {}\n}}",
                members.join(" ,\n  ").replace("\":", "\" : ")
            )
        } else {
            format!("{{{}}}", members.join(","))
        };
        let text = match oddity {
            6 => format!("{text} x"),
            7 => "[1]".into(),
            8 => format!(" {text} "),
            14 => format!("\u{c}{text}"),
            _ => text,
        };
        let mut text = text.into_bytes();
        if oddity == 15 {
            // Not UTF-8 inside a string.
            if let Some(at) = text.windows(5).position(|w| w == b"mac-1") {
                text[at + 4] = 0xff;
            }
        }
        let mut out = vec![(b"json".to_vec(), text)];
        if oddity == 9 {
            out.push((b"check.gpu".to_vec(), b"warn".to_vec()));
        }
        out
    }

    #[test]
    fn stream_entries_come_out_as_the_general_path_makes_them() {
        let day = day();
        let mut both = Both::new(&day, Source::Redis);
        let mut p = Pick(11);
        let mut key = Vec::new();
        let (mut taken, mut flat, mut json) = (0, 0, 0);
        let n = 20_000;
        for i in 0..n {
            let plain = i % 3 != 0;
            let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut add = |name: &[u8], v: Option<&[u8]>| {
                if let Some(v) = v {
                    fields.push((name.to_vec(), v.to_vec()));
                }
            };
            let pick = |p: &mut Pick, list: &[&'static [u8]], absent| {
                if plain {
                    Some(list[0])
                } else {
                    maybe(p, list, absent)
                }
            };
            add(b"timestamp", pick(&mut p, TIMESTAMPS, true));
            add(b"status", pick(&mut p, STATUSES, true));
            add(b"duration_ms", pick(&mut p, DURATIONS, true));
            add(b"host", pick(&mut p, HOSTS, true));
            add(b"record_id", pick(&mut p, IDS, true));
            add(b"report_type", pick(&mut p, TYPES, true));
            for c in FIXED_COLS {
                add(c.name().as_bytes(), pick(&mut p, CHECKS, true));
            }
            for name in [&b"check.disk"[..], b"check.gpu", b"check.disk"] {
                if p.of(&[&true, &false]) == &true {
                    add(name, pick(&mut p, CHECKS, false));
                }
            }
            if !plain {
                match p.of(&[&0, &1, &2, &3, &4, &5]) {
                    0 => add(b"status", Some(b"critical")),
                    1 => add(b"extra", Some(b"x")),
                    2 => add(b"\xffname", Some(b"x")),
                    3 => add(b"checks", Some(br#"{"disk":"ok"}"#)),
                    _ => {}
                }
            }
            // A third of the entries are JSON entries of the same members.
            if i % 3 == 1 {
                fields = json_entry(&mut p, &fields, i % 6 == 4);
            }
            // The entry ID's time: now and then too far from the record's own (05:00Z, or
            // 12:00+07:00), by more than the margin or by a day.
            let at = *p.of(&[
                &1_761_800_400_000,
                &1_761_800_400_000,
                &(1_761_800_400_000 - 5_400_000),
                &1_761_700_000_000,
            ]);
            let filed = Filed::At {
                at_ms: at,
                max_drift_ms: Some(3_600_000),
            };
            let raw = entry_record(format!("{at}-{i}"), fields.clone());
            let pairs = || fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
            let t = Typed::entry(pairs(), &mut key);
            flat += usize::from(t.is_some());
            let took = both.push(t.as_ref(), &raw, filed);
            taken += usize::from(took);
            json += usize::from(took && i % 3 == 1);
        }
        assert!(taken > n / 4, "the typed path took {taken} of {n}");
        assert!(flat > taken + 1000, "{flat} typed entries");
        assert!(json > n / 20, "the typed path took {json} JSON entries");
        let (typed, general) = (both.typed.finish(), both.general.finish());
        assert!(general.counts.rejected > 1000 && general.counts.other_day > 100);
        compare(typed, general);
    }
}
