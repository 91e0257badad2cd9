//! Record normalization: turns the raw fields a source read into a schema-v1 record or a reject
//! with its reason, exactly as CONTRACT.md §1 describes. Pure functions only; no I/O.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike};
use serde_json::{Map as JsonMap, Value as Json};

pub use crate::contract::{AgentStatus, CheckStatus, Source, Status};
use crate::day::Day;

/// One raw field value as a source delivered it, before any interpretation.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Bytes that are not valid UTF-8 (Redis values and SQLite BLOBs).
    Bytes(Vec<u8>),
    /// A nested JSON object or array (only from JSON entries).
    Json(Json),
}

impl RawValue {
    pub fn from_json(v: Json) -> RawValue {
        match v {
            Json::Null => RawValue::Null,
            Json::Bool(b) => RawValue::Bool(b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => RawValue::Int(i),
                None => RawValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => RawValue::Text(s),
            other => RawValue::Json(other),
        }
    }

    /// The value as it goes into the rejects file: JSON, with invalid UTF-8 shown lossily.
    pub fn to_json(&self) -> Json {
        match self {
            RawValue::Null => Json::Null,
            RawValue::Text(s) => Json::String(s.clone()),
            RawValue::Int(i) => Json::from(*i),
            RawValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or_else(|| Json::String(f.to_string())),
            RawValue::Bool(b) => Json::Bool(*b),
            RawValue::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
            RawValue::Json(j) => j.clone(),
        }
    }

    /// A short rendering for reject reasons.
    fn show(&self) -> String {
        let s = match self {
            RawValue::Text(s) => format!("{s:?}"),
            other => other.to_json().to_string(),
        };
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    }
}

/// A record's raw fields, name → value, in the order the source gave them. A source gives a
/// dozen or so fields, so a vector beats a tree; most names are the contract's own and are
/// borrowed, not allocated, per record. A source that reuses one `RawRecord` for every record
/// also reuses its text buffers (`clear` keeps them for `insert_bytes`).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    list: Vec<(Cow<'static, str>, RawValue)>,
    spare: Vec<String>,
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.list == other.list
    }
}

/// The record's own fields as sources name them (CONTRACT.md §1), extra checks aside.
pub const RECORD_FIELDS: [&str; 11] = [
    "record_id",
    "report_type",
    "timestamp",
    "status",
    "duration_ms",
    "host",
    "redis_status",
    "database_status",
    "api_status",
    "launchagent_optimizer",
    "launchagent_digest",
];

/// Field names a record usually has: a name read from a source as bytes is matched against
/// these and borrowed, so a million records do not allocate a dozen names each.
const KNOWN_NAMES: [&str; 14] = {
    let mut names = [""; 14];
    let mut i = 0;
    while i < RECORD_FIELDS.len() {
        names[i] = RECORD_FIELDS[i];
        i += 1;
    }
    names[11] = "checks";
    names[12] = "source";
    names[13] = "json";
    names
};

impl Fields {
    /// Adds `name` = `value`. A name given twice keeps both; the later one is the value (`get`),
    /// as it is for every consumer that folds `iter` into a map.
    pub fn insert(&mut self, name: impl Into<Cow<'static, str>>, value: RawValue) {
        self.list.push((name.into(), value));
    }

    /// Adds `name` = the text in `bytes`, in a reused buffer. Bytes that are not UTF-8 stay
    /// bytes, so that the normalizer rejects them with the field's name.
    pub fn insert_bytes(&mut self, name: impl Into<Cow<'static, str>>, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.insert_text(name, text),
            Err(_) => self.insert(name, RawValue::Bytes(bytes.to_vec())),
        }
    }

    /// Adds `name` = `text`, in a reused buffer.
    pub fn insert_text(&mut self, name: impl Into<Cow<'static, str>>, text: &str) {
        let mut s = self.spare.pop().unwrap_or_default();
        s.push_str(text);
        self.list.push((name.into(), RawValue::Text(s)));
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Drops the fields added after the first `len`; their text buffers are kept for reuse.
    pub fn truncate(&mut self, len: usize) {
        for (_, v) in self.list.drain(len.min(self.list.len())..) {
            if let RawValue::Text(mut s) = v {
                // Bounded: a record with many long values must not keep them all.
                if self.spare.len() < 32 {
                    s.clear();
                    self.spare.push(s);
                }
            }
        }
    }

    /// `name` as a field name: borrowed when it is one of the contract's.
    pub fn name(name: &str) -> Cow<'static, str> {
        match KNOWN_NAMES.iter().find(|k| **k == name) {
            Some(k) => Cow::Borrowed(k),
            None => Cow::Owned(name.to_string()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.list
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Every field in the order given, repeated names included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.list.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn clear(&mut self) {
        self.truncate(0);
    }
}

/// Shares one allocation among equal strings (report types, hosts, check names and values
/// repeat on nearly every record of a day), and among equal sets of extra checks.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>, foldhash::fast::FixedState>,
    /// `checks` JSON text → its checks: the same few texts come back on every record.
    check_texts: std::collections::HashMap<String, Checks, foldhash::fast::FixedState>,
    none: Checks,
}

/// Distinct `checks` texts remembered; a day with more parses the rest each time.
const CHECK_TEXTS: usize = 4096;

impl Interner {
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }
}

/// A record as read from a source: field name → value, plus where it was found
/// (a stream entry ID or a SQLite rowid) so a reject can be traced back.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub source: Source,
    pub locator: String,
    pub fields: Fields,
    /// Set when the entry itself could not be read into fields (e.g. a `json` field that is not
    /// a JSON object); such a record is rejected with this reason.
    pub defect: Option<RejectReason>,
}

impl RawRecord {
    pub fn new(source: Source, locator: impl Into<String>) -> Self {
        RawRecord {
            source,
            locator: locator.into(),
            // A source gives a dozen or so fields: one allocation, not four growths.
            fields: Fields {
                list: Vec::with_capacity(16),
                spare: Vec::new(),
            },
            defect: None,
        }
    }

    fn get(&self, name: &str) -> Option<&RawValue> {
        match self.fields.get(name) {
            None | Some(RawValue::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The record as a reject keeps it: each value and field name cut to `EXCERPT_BYTES`, at
    /// most `EXCERPT_FIELDS` fields, so that a rejects file and the memory holding it grow with
    /// the number of rejects and not with the size of their values.
    pub fn excerpt(&self) -> Excerpt {
        let mut out = Excerpt::default();
        let mut fields = JsonMap::new();
        for (k, v) in self.fields.iter().take(EXCERPT_FIELDS) {
            let (name, _) = cut(k, EXCERPT_BYTES);
            let (value, length) = v.excerpt_json();
            if let Some(length) = length {
                out.cut.insert(name.to_string(), length);
            }
            fields.insert(name.to_string(), value);
        }
        out.record = Json::Object(fields);
        out.fields_left_out = self.fields.len().saturating_sub(EXCERPT_FIELDS);
        out
    }
}

/// Bytes of each raw value (and field name) a reject keeps: enough to see what it was.
pub const EXCERPT_BYTES: usize = 1024;
/// Fields of a raw record a reject keeps.
pub const EXCERPT_FIELDS: usize = 100;

/// A raw record as a reject keeps it (see `RawRecord::excerpt`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Excerpt {
    pub record: Json,
    /// Fields whose value was cut, with the value's whole length in bytes.
    pub cut: BTreeMap<String, usize>,
    /// Fields past the first `EXCERPT_FIELDS`, left out.
    pub fields_left_out: usize,
}

/// `s` cut to at most `max` bytes at a character boundary, and whether it was.
pub fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

impl RawValue {
    /// The value as `to_json` gives it, a text, bytes or JSON longer than `EXCERPT_BYTES` cut
    /// to a text excerpt, with the whole length in bytes when it was cut.
    fn excerpt_json(&self) -> (Json, Option<usize>) {
        let text: Cow<str> = match self {
            RawValue::Text(s) => Cow::Borrowed(s),
            // Cut before converting: a lossy copy of all of a long value is what this avoids.
            RawValue::Bytes(b) if b.len() > EXCERPT_BYTES => {
                let head = String::from_utf8_lossy(&b[..EXCERPT_BYTES]).into_owned();
                return (Json::String(head), Some(b.len()));
            }
            RawValue::Json(j) => {
                let whole = j.to_string();
                if whole.len() <= EXCERPT_BYTES {
                    return (self.to_json(), None);
                }
                Cow::Owned(whole)
            }
            other => return (other.to_json(), None),
        };
        match cut(&text, EXCERPT_BYTES) {
            (head, true) => (Json::String(head.to_string()), Some(text.len())),
            (_, false) => (self.to_json(), None),
        }
    }
}

/// Why a record could not be normalized. The `code` groups reasons in the summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("no timestamp")]
    MissingTimestamp,
    #[error("unparsable timestamp {0}")]
    BadTimestamp(String),
    #[error("no status")]
    MissingStatus,
    #[error("unknown status {0}")]
    UnknownStatus(String),
    #[error("negative duration_ms {0}")]
    NegativeDuration(String),
    #[error("non-numeric duration_ms {0}")]
    BadDuration(String),
    #[error("invalid value {value} for check {name}")]
    BadCheck { name: String, value: String },
    #[error("invalid UTF-8 in field {0}")]
    InvalidUtf8(String),
    #[error("invalid report_type {0} (expected [a-z0-9_]+)")]
    BadReportType(String),
    #[error("invalid record_id {0}")]
    BadRecordId(String),
    #[error("invalid entry: {0}")]
    BadEntry(String),
    #[error("timestamp {timestamp} is more than {minutes} minutes from the stream entry ID's time {filed}, so no day's read range holds both; rejected on the entry ID's day")]
    TimestampFarFromEntryId {
        timestamp: String,
        filed: String,
        minutes: i64,
    },
}

impl RejectReason {
    /// Stable short name of the reason, for counting and for the rejects file.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::BadTimestamp(_) => "bad_timestamp",
            RejectReason::MissingStatus => "missing_status",
            RejectReason::UnknownStatus(_) => "unknown_status",
            RejectReason::NegativeDuration(_) => "negative_duration",
            RejectReason::BadDuration(_) => "bad_duration",
            RejectReason::BadCheck { .. } => "bad_check",
            RejectReason::InvalidUtf8(_) => "invalid_utf8",
            RejectReason::BadReportType(_) => "bad_report_type",
            RejectReason::BadRecordId(_) => "bad_record_id",
            RejectReason::BadEntry(_) => "bad_entry",
            RejectReason::TimestampFarFromEntryId { .. } => "timestamp_far_from_entry_id",
        }
    }
}

/// Extra checks of a record: (name, status), sorted by name. Shared: records with the same
/// checks hold one copy.
pub type Checks = Arc<[(Arc<str>, Arc<str>)]>;

/// A normalized record: one row of schema v1 less its `source` column.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub record_id: String,
    pub report_type: Arc<str>,
    /// UTC instant in Unix milliseconds.
    pub ts_ms: i64,
    pub status: Status,
    pub duration_ms: Option<i64>,
    pub host: Option<Arc<str>>,
    pub redis_status: CheckStatus,
    pub database_status: CheckStatus,
    pub api_status: CheckStatus,
    pub launchagent_optimizer: AgentStatus,
    pub launchagent_digest: AgentStatus,
    /// Extra checks, name → status, sorted by name, one per name; empty means none (written
    /// as a null map).
    pub checks: Checks,
}

/// A merged row: the winning copy of a record and where copies of it were found.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub record: Record,
    pub source: Source,
}

/// What became of one raw record for a given day.
#[derive(Debug, Clone, PartialEq)]
pub enum Classified {
    Record(Record),
    Rejected(RejectReason),
    /// A valid timestamp on another day: not this day's record, not counted as read.
    OtherDay,
}

/// Where a source found a record: what decides its day when its own timestamp cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filed {
    /// The source selected it for this day by its timestamp (SQLite's day query).
    Selected,
    /// The source filed it at `at_ms` (a stream entry ID's time). The source only reads entries
    /// filed within `max_drift_ms` of a day, so a record whose timestamp lies farther from
    /// `at_ms` than that would be read on no day of its own: it belongs to `at_ms`'s day, as a
    /// reject. `None`: no bound.
    At {
        at_ms: i64,
        max_drift_ms: Option<i64>,
    },
}

/// Normalizes `raw` and decides whether it belongs to `day`: by its timestamp, or, when that
/// cannot be read or lies too far from where the source filed it, by `filed`. Every record a
/// source reads belongs to exactly one day.
pub fn classify(raw: &RawRecord, day: &Day, filed: Filed, strings: &mut Interner) -> Classified {
    let ts = timestamp(raw);
    let far = match (&ts, filed) {
        (
            Ok(t),
            Filed::At {
                at_ms,
                max_drift_ms: Some(d),
            },
        ) => (t.abs_diff(at_ms) > d.unsigned_abs()).then_some((*t, at_ms, d)),
        _ => None,
    };
    let home = match (&ts, filed, far) {
        (_, _, Some((_, at, _))) => Some(at),
        (Ok(t), _, None) => Some(*t),
        (Err(_), Filed::At { at_ms, .. }, None) => Some(at_ms),
        (Err(_), Filed::Selected, None) => None,
    };
    if home.is_some_and(|h| !day.contains(h)) {
        return Classified::OtherDay;
    }
    match (normalize_parsed(raw, ts, strings), far) {
        (Err(reason), _) => Classified::Rejected(reason),
        (Ok(_), Some((ts_ms, at_ms, drift))) => {
            Classified::Rejected(RejectReason::TimestampFarFromEntryId {
                timestamp: show_ms(ts_ms),
                filed: show_ms(at_ms),
                minutes: drift / 60_000,
            })
        }
        (Ok(rec), None) => Classified::Record(rec),
    }
}

fn show_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Field names that are part of the record itself, not extra checks.
const FIXED_CHECKS: [&str; 3] = ["redis_status", "database_status", "api_status"];
const AGENT_CHECKS: [&str; 2] = ["launchagent_optimizer", "launchagent_digest"];

/// Normalizes `raw` on its own (tests, one-off imports); a source normalizing a day's records
/// shares one `Interner` among them with `normalize_in`.
pub fn normalize(raw: &RawRecord) -> Result<Record, RejectReason> {
    normalize_in(raw, &mut Interner::default())
}

pub fn normalize_in(raw: &RawRecord, strings: &mut Interner) -> Result<Record, RejectReason> {
    normalize_parsed(raw, timestamp(raw), strings)
}

/// `normalize_in` with the record's timestamp already read (`timestamp(raw)`), as `classify`
/// has it: an RFC 3339 parse per record is the costliest step of normalizing.
fn normalize_parsed(
    raw: &RawRecord,
    ts: Result<i64, RejectReason>,
    strings: &mut Interner,
) -> Result<Record, RejectReason> {
    if let Some(defect) = &raw.defect {
        return Err(defect.clone());
    }
    if let Some((name, _)) = raw
        .fields
        .iter()
        .find(|(_, v)| matches!(v, RawValue::Bytes(_)))
    {
        return Err(RejectReason::InvalidUtf8(name.to_string()));
    }
    let ts_ms = ts?;
    let status = status(raw.get("status").ok_or(RejectReason::MissingStatus)?)?;
    let report_type = strings.intern(report_type(raw.get("report_type"))?);
    let duration_ms = duration(raw.get("duration_ms"))?;
    let host = text_or_absent(raw.get("host")).map(|h| strings.intern(&h));

    let [redis_status, database_status, api_status] =
        FIXED_CHECKS.map(|name| check_status(name, raw.get(name)));
    let [launchagent_optimizer, launchagent_digest] =
        AGENT_CHECKS.map(|name| agent_status(name, raw.get(name)));

    let record_id = match raw.get("record_id") {
        None => None,
        Some(RawValue::Text(s)) if s.trim().is_empty() => None,
        Some(RawValue::Text(s)) => Some(s.clone()),
        Some(RawValue::Int(i)) => Some(i.to_string()),
        Some(other) => return Err(RejectReason::BadRecordId(other.show())),
    };
    let record_id = record_id.unwrap_or_else(|| {
        let mut id = String::new();
        derived_id(&mut id, &report_type, host.as_deref(), ts_ms);
        id
    });

    Ok(Record {
        record_id,
        report_type,
        ts_ms,
        status,
        duration_ms,
        host,
        redis_status: redis_status?,
        database_status: database_status?,
        api_status: api_status?,
        launchagent_optimizer: launchagent_optimizer?,
        launchagent_digest: launchagent_digest?,
        checks: checks(raw, strings)?,
    })
}

/// The record's extra checks, shared through `strings`. A `checks` text seen before (with no
/// flat `check.<name>` fields beside it) is not parsed again.
fn checks(raw: &RawRecord, strings: &mut Interner) -> Result<Checks, RejectReason> {
    let flat = raw.fields.iter().any(|(k, _)| k.starts_with("check."));
    let text = match raw.get("checks") {
        Some(RawValue::Text(t)) if !flat => Some(t),
        None if !flat => return Ok(strings.none.clone()),
        _ => None,
    };
    if let Some(c) = text.and_then(|t| strings.check_texts.get(t.as_str())) {
        return Ok(c.clone());
    }
    let parsed = extra_checks(raw)?;
    let checks: Checks = if parsed.is_empty() {
        strings.none.clone()
    } else {
        parsed
            .into_iter()
            .map(|(k, v)| (strings.intern(&k), strings.intern(&v)))
            .collect()
    };
    if let Some(t) = text {
        if strings.check_texts.len() < CHECK_TEXTS {
            strings.check_texts.insert(t.clone(), checks.clone());
        }
    }
    Ok(checks)
}

/// The record's timestamp as UTC Unix milliseconds: RFC 3339 with an offset, or integer epoch
/// milliseconds (also as a string of digits, which is how Redis delivers every value).
pub fn timestamp(raw: &RawRecord) -> Result<i64, RejectReason> {
    let value = raw.get("timestamp");
    match value {
        None => Err(RejectReason::MissingTimestamp),
        Some(RawValue::Int(ms)) => epoch_ms(*ms, value.unwrap()),
        // A REAL column (or a JSON number written as 1.7e12) holds whole milliseconds as floats.
        Some(RawValue::Float(f)) if f.fract() == 0.0 => epoch_ms(*f as i64, value.unwrap()),
        Some(RawValue::Text(s)) if s.trim().is_empty() => Err(RejectReason::MissingTimestamp),
        Some(RawValue::Text(s)) => {
            text_timestamp_ms(s).ok_or_else(|| RejectReason::BadTimestamp(value.unwrap().show()))
        }
        Some(other) => Err(RejectReason::BadTimestamp(other.show())),
    }
}

/// A timestamp written as text, as UTC Unix milliseconds: digits are epoch milliseconds (within
/// `EPOCH_MS_RANGE`), anything else RFC 3339 with an offset. `None` when it is neither.
pub fn text_timestamp_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok().filter(|ms| EPOCH_MS_RANGE.contains(ms));
    }
    rfc3339_ms(t)
}

/// An RFC 3339 timestamp as Unix milliseconds (sub-millisecond digits dropped), exactly as
/// chrono's `parse_from_rfc3339(..).timestamp_millis()`. The shape monitors write,
/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` or with a `±HH:MM` offset, is read here directly: chrono's
/// general parser was the costliest step of normalizing a record. Anything else goes to chrono.
fn rfc3339_ms(t: &str) -> Option<i64> {
    fast_rfc3339_ms(t.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|dt| dt.timestamp_millis())
    })
}

fn fast_rfc3339_ms(b: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // A leap second (60) and every other oddity are chrono's to judge.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for k in 0..3 {
            millis = millis * 10
                + if k < digits {
                    u32::from(b[i + 1 + k] - b'0')
                } else {
                    0
                };
        }
        i += 1 + digits;
    }
    let offset_s: i64 = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let s = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let days = i64::from(date.num_days_from_ce()) - 719_163; // 1970-01-01
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    Some(secs * 1000 + i64::from(millis))
}

/// Epoch milliseconds a record may carry: from 1970 up to (not including) the year 10000, the
/// range SQLite's date functions and every reader of the file handle.
pub const EPOCH_MS_RANGE: std::ops::Range<i64> = 0..253_402_300_800_000;

fn epoch_ms(ms: i64, shown: &RawValue) -> Result<i64, RejectReason> {
    if EPOCH_MS_RANGE.contains(&ms) {
        Ok(ms)
    } else {
        Err(RejectReason::BadTimestamp(shown.show()))
    }
}

/// Lowercases and strips the emoji, punctuation and spaces that the legacy monitor wrapped
/// around its verdicts (`"⚠️  WARNINGS"`).
fn bare_word(s: &str) -> Cow<'_, str> {
    lowercase(s.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')))
}

/// `s` in lower case, borrowed when it already is: nearly every value a monitor writes is, and
/// a fresh String for each of a record's half-dozen words was a visible share of a large day.
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

fn status(v: &RawValue) -> Result<Status, RejectReason> {
    let RawValue::Text(s) = v else {
        return Err(RejectReason::UnknownStatus(v.show()));
    };
    match &*bare_word(s) {
        "" => Err(RejectReason::MissingStatus),
        w => status_of(w.as_bytes()).ok_or_else(|| RejectReason::UnknownStatus(v.show())),
    }
}

/// The verdict a bare lowercase word names (as bytes: the typed path has no `str` of it).
fn status_of(word: &[u8]) -> Option<Status> {
    match word {
        b"healthy" | b"ok" | b"pass" => Some(Status::Healthy),
        b"warnings" | b"warn" | b"warning" => Some(Status::Warnings),
        b"critical" | b"fail" | b"error" => Some(Status::Critical),
        _ => None,
    }
}

/// A fixed check's status a lowercase word names.
fn check_of(word: &[u8]) -> Option<CheckStatus> {
    match word {
        b"unknown" => Some(CheckStatus::Unknown),
        b"ok" | b"pass" => Some(CheckStatus::Ok),
        b"warn" => Some(CheckStatus::Warn),
        b"error" | b"fail" => Some(CheckStatus::Error),
        _ => None,
    }
}

/// A launch agent's status a lowercase word names.
fn agent_of(word: &[u8]) -> Option<AgentStatus> {
    match word {
        b"unknown" => Some(AgentStatus::Unknown),
        b"loaded" | b"ok" => Some(AgentStatus::Loaded),
        b"not_loaded" | b"error" => Some(AgentStatus::NotLoaded),
        _ => None,
    }
}

fn report_type(v: Option<&RawValue>) -> Result<&str, RejectReason> {
    match v {
        None => Ok("heartbeat"),
        Some(RawValue::Text(s)) if s.is_empty() => Ok("heartbeat"),
        Some(RawValue::Text(s))
            if s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            Ok(s)
        }
        Some(other) => Err(RejectReason::BadReportType(other.show())),
    }
}

fn duration(v: Option<&RawValue>) -> Result<Option<i64>, RejectReason> {
    let text = match v {
        None => return Ok(None),
        Some(RawValue::Int(i)) if *i < 0 => {
            return Err(RejectReason::NegativeDuration(i.to_string()))
        }
        Some(RawValue::Int(i)) => return Ok(Some(*i)),
        // JSON `-0` reaches us as the float -0.0: negative, as the text "-0" is.
        Some(RawValue::Float(f)) if f.is_sign_negative() => {
            return Err(RejectReason::NegativeDuration(v.unwrap().show()))
        }
        Some(RawValue::Text(s)) => s,
        Some(other) => return Err(RejectReason::BadDuration(other.show())),
    };
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let digits = t.strip_suffix("ms").map(str::trim_end).unwrap_or(t);
    if let Some(rest) = digits.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RejectReason::NegativeDuration(v.unwrap().show()));
        }
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RejectReason::BadDuration(v.unwrap().show()));
    }
    digits
        .parse::<i64>()
        .map(Some)
        .map_err(|_| RejectReason::BadDuration(v.unwrap().show()))
}

fn text_or_absent(v: Option<&RawValue>) -> Option<Cow<'_, str>> {
    match v {
        None => None,
        Some(RawValue::Text(s)) if s.is_empty() => None,
        Some(RawValue::Text(s)) => Some(Cow::Borrowed(s)),
        Some(other) => Some(Cow::Owned(other.to_json().to_string())),
    }
}

/// A fixed check's value as a lowercase word, `None` when absent or empty.
fn check_word<'v>(
    name: &str,
    v: Option<&'v RawValue>,
) -> Result<Option<Cow<'v, str>>, RejectReason> {
    match v {
        None => Ok(None),
        Some(RawValue::Text(s)) => {
            let w = lowercase(s.trim());
            Ok((!w.is_empty()).then_some(w))
        }
        Some(other) => Err(RejectReason::BadCheck {
            name: name.to_string(),
            value: other.show(),
        }),
    }
}

fn check_status(name: &str, v: Option<&RawValue>) -> Result<CheckStatus, RejectReason> {
    match check_word(name, v)?.as_deref() {
        None => Ok(CheckStatus::Unknown),
        Some(w) => check_of(w.as_bytes()).ok_or_else(|| RejectReason::BadCheck {
            name: name.to_string(),
            value: v.unwrap().show(),
        }),
    }
}

fn agent_status(name: &str, v: Option<&RawValue>) -> Result<AgentStatus, RejectReason> {
    match check_word(name, v)?.as_deref() {
        None => Ok(AgentStatus::Unknown),
        Some(w) => agent_of(w.as_bytes()).ok_or_else(|| RejectReason::BadCheck {
            name: name.to_string(),
            value: v.unwrap().show(),
        }),
    }
}

/// Values in their plain form, read from a source's bytes without building a `RawRecord`:
/// each gives exactly what the general path above gives for the same value as text, or `None`
/// when the value is not in that plain form (then the general path judges the whole record,
/// and gives the reject reason where there is one).
pub mod plain {
    use super::*;

    /// `b` in ASCII lower case on the stack, when it is at most 16 bytes that all pass `ok`.
    fn lower<'w>(b: &[u8], buf: &'w mut [u8; 16], ok: impl Fn(u8) -> bool) -> Option<&'w [u8]> {
        let w = buf.get_mut(..b.len())?;
        if !b.iter().all(|&c| ok(c)) {
            return None;
        }
        w.copy_from_slice(b);
        w.make_ascii_lowercase();
        Some(w)
    }

    /// `status`: one ASCII word of letters, digits and `_`, which `bare_word` leaves whole.
    pub fn status(b: &[u8]) -> Option<Status> {
        // A word already in lower case is its own bare word.
        if let Some(s) = status_of(b) {
            return Some(s);
        }
        let mut buf = [0; 16];
        status_of(lower(b, &mut buf, |c| {
            c.is_ascii_alphanumeric() || c == b'_'
        })?)
    }

    /// `check_status`: empty (unknown), or printable ASCII with no space, which `trim` leaves
    /// whole.
    pub fn check(b: &[u8]) -> Option<CheckStatus> {
        word(b, check_of, CheckStatus::Unknown)
    }

    /// `agent_status`, as `check`.
    pub fn agent(b: &[u8]) -> Option<AgentStatus> {
        word(b, agent_of, AgentStatus::Unknown)
    }

    /// A check's word as `check_word` reads it, by `of`; `unknown` when empty.
    fn word<T>(b: &[u8], of: fn(&[u8]) -> Option<T>, unknown: T) -> Option<T> {
        if let Some(s) = of(b) {
            return Some(s);
        }
        let mut buf = [0; 16];
        match lower(b, &mut buf, |c| c.is_ascii_graphic())? {
            b"" => Some(unknown),
            w => of(w),
        }
    }

    /// `timestamp` of a text value: epoch milliseconds in digits, or RFC 3339 in the shape
    /// the fast reader takes (which has no space to trim).
    pub fn timestamp(b: &[u8]) -> Option<i64> {
        if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
            return digits(b).filter(|ms| EPOCH_MS_RANGE.contains(ms));
        }
        fast_rfc3339_ms(b)
    }

    /// `timestamp` of an integer value.
    pub fn epoch(ms: i64) -> Option<i64> {
        EPOCH_MS_RANGE.contains(&ms).then_some(ms)
    }

    /// `duration` of a text value: empty (none), or digits with an optional `ms` right after.
    pub fn duration(b: &[u8]) -> Option<Option<i64>> {
        if b.is_empty() {
            return Some(None);
        }
        let d = b.strip_suffix(b"ms").unwrap_or(b);
        if d.is_empty() || d.len() > 18 || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits(d).map(Some)
    }

    /// `report_type`: empty (`heartbeat`), or `[a-z0-9_]+`.
    pub fn report_type(b: &[u8]) -> Option<&str> {
        if b.is_empty() {
            return Some("heartbeat");
        }
        let ok = b
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
        ok.then(|| std::str::from_utf8(b).ok()).flatten()
    }

    /// Up to 18 ASCII digits as a number (no overflow is possible).
    fn digits(b: &[u8]) -> Option<i64> {
        (b.len() <= 18).then(|| b.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0')))
    }
}

/// Extra checks from whichever form the source used: flat `check.<name>` fields (Redis), a
/// `checks` object (JSON entries), or `checks` as JSON text (SQLite's `checks_json` column).
fn extra_checks(raw: &RawRecord) -> Result<BTreeMap<String, String>, RejectReason> {
    let mut out = BTreeMap::new();
    for (key, value) in raw.fields.iter() {
        if let Some(name) = key.strip_prefix("check.") {
            insert_check(&mut out, name, value)?;
        }
    }
    let nested = match raw.get("checks") {
        None => None,
        Some(RawValue::Json(j)) => Some(j.clone()),
        Some(RawValue::Text(s)) if s.trim().is_empty() => None,
        Some(RawValue::Text(s)) => {
            Some(
                serde_json::from_str::<Json>(s).map_err(|e| RejectReason::BadCheck {
                    name: "checks".into(),
                    value: format!("not JSON ({e})"),
                })?,
            )
        }
        Some(other) => {
            return Err(RejectReason::BadCheck {
                name: "checks".into(),
                value: other.show(),
            })
        }
    };
    match nested {
        None | Some(Json::Null) => {}
        Some(Json::Object(map)) => {
            for (name, value) in map {
                insert_check(&mut out, &name, &RawValue::from_json(value))?;
            }
        }
        Some(other) => {
            return Err(RejectReason::BadCheck {
                name: "checks".into(),
                value: format!("expected an object, got {other}"),
            })
        }
    }
    Ok(out)
}

fn insert_check(
    out: &mut BTreeMap<String, String>,
    name: &str,
    value: &RawValue,
) -> Result<(), RejectReason> {
    let bad = || RejectReason::BadCheck {
        name: name.to_string(),
        value: value.show(),
    };
    if name.trim().is_empty() {
        return Err(bad());
    }
    let text = match value {
        RawValue::Text(s) => s.trim().to_string(),
        RawValue::Int(i) => i.to_string(),
        RawValue::Bool(b) => b.to_string(),
        _ => return Err(bad()),
    };
    if text.is_empty() {
        return Err(bad());
    }
    out.insert(name.to_string(), text);
    Ok(())
}

/// The id of a record that has none (CONTRACT.md §1), in pieces that join into it:
/// `<report_type>:<host or ->:<timestamp in Unix ms>`, with the timestamp already written out.
pub fn derived_id_pieces<'s>(
    report_type: &'s str,
    host: Option<&'s str>,
    ts_ms: &'s str,
) -> [&'s str; 5] {
    [report_type, ":", host.unwrap_or("-"), ":", ts_ms]
}

/// The derived id (`derived_id_pieces`), appended to `out`.
pub fn derived_id(out: &mut String, report_type: &str, host: Option<&str>, ts_ms: i64) {
    let mut digits = itoa::Buffer::new();
    for piece in derived_id_pieces(report_type, host, digits.format(ts_ms)) {
        out.push_str(piece);
    }
}

/// Whether `id` is exactly the derived id of these fields.
pub fn is_derived_id(id: &str, report_type: &str, host: Option<&str>, ts_ms: i64) -> bool {
    let mut digits = itoa::Buffer::new();
    let mut rest = id;
    for piece in derived_id_pieces(report_type, host, digits.format(ts_ms)) {
        match rest.strip_prefix(piece) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_derived_only_when_it_is_the_whole_derived_text() {
        let mut id = String::new();
        derived_id(&mut id, "heartbeat", Some("mac:1"), 99);
        assert_eq!(id, "heartbeat:mac:1:99");
        assert!(is_derived_id(&id, "heartbeat", Some("mac:1"), 99));
        for (other, host, ts) in [
            ("heartbeat:mac:1:999", Some("mac:1"), 99), // more after it
            ("heartbeat:mac:1:9", Some("mac:1"), 99),   // a prefix of it
            ("heartbeat:mac:1:99", Some("mac:2"), 99),
            ("heartbeat:mac:1:99", None, 99),
            ("heartbeat:-:99", Some("-x"), 99),
            ("deploy:mac:1:99", Some("mac:1"), 99),
        ] {
            assert!(!is_derived_id(other, "heartbeat", host, ts), "{other}");
        }
        assert!(is_derived_id("heartbeat:-:-5", "heartbeat", None, -5));
    }

    #[test]
    fn the_fast_timestamp_reader_agrees_with_chrono() {
        let chrono_ms = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.timestamp_millis())
        };
        let mut cases: Vec<String> = [
            "2025-10-30T19:25:43.068Z",
            "2025-10-30T19:25:43Z",
            "2025-10-30T19:25:43.1Z",
            "2025-10-30T19:25:43.123456789Z",
            "2025-10-31T00:00:00+07:00",
            "2025-10-31T00:00:00-09:30",
            "1969-12-31T23:59:59.999Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999+00:00",
            "2024-02-29T12:00:00Z",
            "2025-02-29T12:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-10-30T24:00:00Z",
            "2025-10-30T23:59:60Z",
            "2025-10-30T23:59:60.5+01:00",
            "2025-10-30t19:25:43z",
            "2025-10-30 19:25:43Z",
            "2025-10-30T19:25:43.Z",
            "2025-10-30T19:25:43+0700",
            "2025-10-30T19:25:43+24:00",
            "2025-10-30T19:25:43",
            "2025-10-30T19:25:4Z",
            "+2025-10-30T19:25:43Z",
            "2025-1０-30T19:25:43Z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // And every single-byte change of one valid timestamp.
        let base = "2025-10-30T19:25:43.068+05:45";
        for i in 0..base.len() {
            for c in ["0", "9", "-", ":", "Z", ".", "x", ""] {
                let mut t = base.as_bytes().to_vec();
                if c.is_empty() {
                    t.remove(i);
                } else {
                    t[i] = c.as_bytes()[0];
                }
                cases.push(String::from_utf8(t).unwrap());
            }
        }
        for t in &cases {
            assert_eq!(rfc3339_ms(t), chrono_ms(t), "{t}");
        }
        assert!(
            cases
                .iter()
                .filter(|t| fast_rfc3339_ms(t.as_bytes()).is_some())
                .count()
                > 40
        );
    }

    #[test]
    fn a_checks_text_seen_before_gives_what_parsing_it_gives() {
        let mut strings = Interner::default();
        let mut checks_of = |extra: &[(&'static str, RawValue)]| {
            normalize_in(&with(extra), &mut strings).map(|r| {
                r.checks
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            })
        };
        let ok = || ("checks", t(r#"{"disk":"ok"}"#));
        assert_eq!(checks_of(&[ok()]).unwrap(), ["disk=ok"]);
        assert_eq!(
            checks_of(&[("checks", t(r#"{"disk":"warn"}"#))]).unwrap(),
            ["disk=warn"]
        );
        assert_eq!(checks_of(&[ok()]).unwrap(), ["disk=ok"]);
        // Flat checks beside a known text are still read.
        assert_eq!(
            checks_of(&[ok(), ("check.gpu", t("fail"))]).unwrap(),
            ["disk=ok", "gpu=fail"]
        );
        for _ in 0..2 {
            assert!(checks_of(&[("checks", t("{bad"))]).is_err());
        }
        let a = normalize_in(&with(&[ok()]), &mut strings).unwrap();
        let b = normalize_in(&with(&[ok()]), &mut strings).unwrap();
        assert!(
            Arc::ptr_eq(&a.checks, &b.checks),
            "one copy for equal checks"
        );
    }

    fn cl(raw: &RawRecord, day: &Day, filed: Filed) -> Classified {
        classify(raw, day, filed, &mut Interner::default())
    }

    fn rec(fields: &[(&str, RawValue)]) -> RawRecord {
        let mut r = RawRecord::new(Source::Redis, "1-0");
        for (k, v) in fields {
            r.fields.insert(k.to_string(), v.clone());
        }
        r
    }

    fn t(s: &str) -> RawValue {
        RawValue::Text(s.to_string())
    }

    fn base() -> Vec<(&'static str, RawValue)> {
        vec![
            ("timestamp", t("2025-10-30T19:25:43.068Z")),
            ("status", t("healthy")),
        ]
    }

    fn with(extra: &[(&'static str, RawValue)]) -> RawRecord {
        let mut f = base();
        f.extend(extra.iter().cloned());
        rec(&f)
    }

    fn reject(r: &RawRecord) -> RejectReason {
        normalize(r).expect_err("should reject")
    }

    #[test]
    fn minimal_record_gets_defaults_and_derived_id() {
        let r = normalize(&with(&[])).unwrap();
        assert_eq!(r.ts_ms, 1_761_852_343_068);
        assert_eq!(&*r.report_type, "heartbeat");
        assert_eq!(r.record_id, "heartbeat:-:1761852343068");
        assert_eq!(r.host, None);
        assert_eq!(r.duration_ms, None);
        assert_eq!(r.redis_status, CheckStatus::Unknown);
        assert_eq!(r.launchagent_digest, AgentStatus::Unknown);
        assert!(r.checks.is_empty());
    }

    #[test]
    fn derived_id_uses_host_and_report_type() {
        let r = normalize(&with(&[
            ("host", t("mac-1")),
            ("report_type", t("deploy_2")),
        ]))
        .unwrap();
        assert_eq!(r.record_id, "deploy_2:mac-1:1761852343068");
    }

    #[test]
    fn timestamp_forms_agree() {
        for v in [
            t("2025-10-30T19:25:43.068Z"),
            t("2025-10-31T02:25:43.068+07:00"),
            t("2025-10-30T14:25:43.068-05:00"),
            t("1761852343068"),
            RawValue::Int(1_761_852_343_068),
            t("2025-10-30T19:25:43.068999Z"), // sub-millisecond is truncated
        ] {
            let r = rec(&[("timestamp", v.clone()), ("status", t("ok"))]);
            assert_eq!(timestamp(&r), Ok(1_761_852_343_068), "{v:?}");
        }
    }

    #[test]
    fn timestamp_rejects() {
        assert_eq!(
            reject(&rec(&[("status", t("ok"))])),
            RejectReason::MissingTimestamp
        );
        for bad in [
            t("yesterday"),
            t("2025-10-30T19:25:43"), // no offset: ambiguous
            t("2025-13-30T19:25:43Z"),
            RawValue::Float(1.5),
            RawValue::Int(-5),
            RawValue::Bool(true),
        ] {
            let r = rec(&[("timestamp", bad.clone()), ("status", t("ok"))]);
            assert_eq!(reject(&r).code(), "bad_timestamp", "{bad:?}");
        }
    }

    #[test]
    fn status_forms() {
        for (input, want) in [
            ("healthy", Status::Healthy),
            ("✅ HEALTHY", Status::Healthy),
            ("OK", Status::Healthy),
            ("pass", Status::Healthy),
            ("⚠️  WARNINGS", Status::Warnings),
            ("warn", Status::Warnings),
            ("Warning", Status::Warnings),
            ("❌ CRITICAL", Status::Critical),
            ("fail", Status::Critical),
            (" error ", Status::Critical),
        ] {
            let r = rec(&[("timestamp", RawValue::Int(1)), ("status", t(input))]);
            assert_eq!(normalize(&r).unwrap().status, want, "{input}");
        }
    }

    #[test]
    fn status_rejects() {
        let r = rec(&[("timestamp", RawValue::Int(1))]);
        assert_eq!(reject(&r), RejectReason::MissingStatus);
        for bad in [t("degraded"), t("🔥"), RawValue::Int(1)] {
            let r = rec(&[("timestamp", RawValue::Int(1)), ("status", bad.clone())]);
            let code = reject(&r).code();
            assert!(
                code == "unknown_status" || code == "missing_status",
                "{bad:?}"
            );
        }
        let r = rec(&[("timestamp", RawValue::Int(1)), ("status", t("degraded"))]);
        assert_eq!(reject(&r).code(), "unknown_status");
    }

    #[test]
    fn duration_forms() {
        for (v, want) in [
            (t("954"), Some(954)),
            (t("954ms"), Some(954)),
            (t("954 ms"), Some(954)),
            (t(""), None),
            (RawValue::Int(0), Some(0)),
            (RawValue::Null, None),
        ] {
            let r = with(&[("duration_ms", v.clone())]);
            assert_eq!(normalize(&r).unwrap().duration_ms, want, "{v:?}");
        }
    }

    #[test]
    fn duration_rejects() {
        for (v, code) in [
            (t("-3"), "negative_duration"),
            (t("-3ms"), "negative_duration"),
            (RawValue::Int(-1), "negative_duration"),
            (t("fast"), "bad_duration"),
            (t("1.5"), "bad_duration"),
            (t("ms"), "bad_duration"),
            (RawValue::Float(2.0), "bad_duration"),
        ] {
            assert_eq!(
                reject(&with(&[("duration_ms", v.clone())])).code(),
                code,
                "{v:?}"
            );
        }
    }

    #[test]
    fn fixed_check_forms() {
        let r = normalize(&with(&[
            ("redis_status", t("pass")),
            ("database_status", t("FAIL")),
            ("api_status", t("warn")),
            ("launchagent_optimizer", t("ok")),
            ("launchagent_digest", t("error")),
        ]))
        .unwrap();
        assert_eq!(r.redis_status, CheckStatus::Ok);
        assert_eq!(r.database_status, CheckStatus::Error);
        assert_eq!(r.api_status, CheckStatus::Warn);
        assert_eq!(r.launchagent_optimizer, AgentStatus::Loaded);
        assert_eq!(r.launchagent_digest, AgentStatus::NotLoaded);
        let r = normalize(&with(&[("launchagent_digest", t("not_loaded"))])).unwrap();
        assert_eq!(r.launchagent_digest, AgentStatus::NotLoaded);
    }

    #[test]
    fn fixed_check_rejects() {
        for (name, v) in [
            ("redis_status", t("loaded")),
            ("api_status", t("down")),
            ("launchagent_digest", t("warn")),
            ("database_status", RawValue::Int(1)),
        ] {
            let err = reject(&with(&[(name, v)]));
            assert!(
                matches!(&err, RejectReason::BadCheck { name: n, .. } if n == name),
                "{err}"
            );
        }
    }

    #[test]
    fn extra_checks_from_every_form() {
        let flat = with(&[("check.disk", t("ok")), ("check.backup", t(" warn "))]);
        let json = with(&[(
            "checks",
            RawValue::Json(serde_json::json!({"disk": "ok", "backup": "warn"})),
        )]);
        let sqlite = with(&[("checks", t(r#"{"disk":"ok","backup":"warn"}"#))]);
        let want: BTreeMap<_, _> = [("backup", "warn"), ("disk", "ok")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        for r in [flat, json, sqlite] {
            let got: BTreeMap<String, String> = normalize(&r)
                .unwrap()
                .checks
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn extra_check_rejects() {
        for r in [
            with(&[("check.disk", t(""))]),
            with(&[("checks", t("{not json"))]),
            with(&[("checks", t("[1,2]"))]),
            with(&[(
                "checks",
                RawValue::Json(serde_json::json!({"disk": {"a": 1}})),
            )]),
            with(&[("checks", RawValue::Json(serde_json::json!({"disk": null})))]),
        ] {
            assert_eq!(reject(&r).code(), "bad_check", "{r:?}");
        }
    }

    #[test]
    fn invalid_utf8_names_the_field() {
        let r = with(&[("host", RawValue::Bytes(vec![0x66, 0xff, 0xfe]))]);
        assert_eq!(reject(&r), RejectReason::InvalidUtf8("host".into()));
    }

    #[test]
    fn report_type_rules() {
        assert_eq!(
            reject(&with(&[("report_type", t("Heart-Beat"))])).code(),
            "bad_report_type"
        );
        assert_eq!(
            normalize(&with(&[("report_type", t("deploy_2"))]))
                .unwrap()
                .report_type
                .as_ref(),
            "deploy_2"
        );
    }

    #[test]
    fn explicit_record_id_is_kept() {
        let r = normalize(&with(&[("record_id", t("abc"))])).unwrap();
        assert_eq!(r.record_id, "abc");
        let r = normalize(&with(&[("record_id", t("  "))])).unwrap();
        assert_eq!(
            r.record_id, "heartbeat:-:1761852343068",
            "blank id is derived"
        );
    }

    #[test]
    fn classify_by_timestamp_then_where_it_was_filed() {
        let tz: chrono_tz::Tz = "UTC".parse().unwrap();
        let day = Day::new(chrono::NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(), tz).unwrap();
        assert!(matches!(
            cl(&with(&[]), &day, Filed::Selected),
            Classified::Record(_)
        ));
        let next = rec(&[
            ("timestamp", t("2025-10-31T00:00:00Z")),
            ("status", t("ok")),
        ]);
        assert_eq!(cl(&next, &day, Filed::Selected), Classified::OtherDay);
        // A bad status with a timestamp on another day is the other day's reject.
        let other_bad = rec(&[("timestamp", t("2025-10-31T00:00:00Z")), ("status", t("?"))]);
        assert_eq!(cl(&other_bad, &day, Filed::Selected), Classified::OtherDay);
        // No timestamp: where it was filed decides.
        let no_ts = rec(&[("status", t("ok"))]);
        let in_day = day.start_ms() + 10;
        let at = |at_ms| Filed::At {
            at_ms,
            max_drift_ms: Some(3_600_000),
        };
        assert!(matches!(
            cl(&no_ts, &day, at(in_day)),
            Classified::Rejected(RejectReason::MissingTimestamp)
        ));
        assert_eq!(cl(&no_ts, &day, at(day.end_ms())), Classified::OtherDay);
    }

    #[test]
    fn a_timestamp_far_from_its_entry_id_is_rejected_on_the_ids_day_only() {
        let tz: chrono_tz::Tz = "UTC".parse().unwrap();
        let d = |n| Day::new(chrono::NaiveDate::from_ymd_opt(2025, 10, n).unwrap(), tz).unwrap();
        // Filed on the 30th at noon, stamped on the 31st at noon: a day apart, margin 1 hour.
        let r = rec(&[
            ("timestamp", t("2025-10-31T12:00:00Z")),
            ("status", t("ok")),
        ]);
        let filed = Filed::At {
            at_ms: d(30).start_ms() + 12 * 3_600_000,
            max_drift_ms: Some(3_600_000),
        };
        match cl(&r, &d(30), filed) {
            Classified::Rejected(reason) => {
                assert_eq!(reason.code(), "timestamp_far_from_entry_id");
                assert!(
                    reason.to_string().contains("2025-10-31T12:00:00.000Z"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cl(&r, &d(31), filed), Classified::OtherDay);
        // Within the margin the timestamp decides, even across midnight.
        let near = rec(&[
            ("timestamp", t("2025-10-31T00:10:00Z")),
            ("status", t("ok")),
        ]);
        let filed = Filed::At {
            at_ms: d(31).start_ms() - 10 * 60_000,
            max_drift_ms: Some(3_600_000),
        };
        assert!(matches!(cl(&near, &d(31), filed), Classified::Record(_)));
        assert_eq!(cl(&near, &d(30), filed), Classified::OtherDay);
    }

    #[test]
    fn epoch_ms_is_bounded_to_years_1970_to_9999() {
        for (v, ok) in [
            (RawValue::Int(0), true),
            (RawValue::Int(-1), false),
            (RawValue::Int(253_402_300_799_999), true),
            (RawValue::Int(253_402_300_800_000), false),
            (t("253402300800000"), false),
        ] {
            let r = rec(&[("timestamp", v.clone()), ("status", t("ok"))]);
            assert_eq!(timestamp(&r).is_ok(), ok, "{v:?}");
        }
    }

    #[test]
    fn minus_zero_durations_agree_across_forms() {
        let json = crate::source::redis::entry_record(
            "1-0".into(),
            vec![(
                b"json".to_vec(),
                br#"{"timestamp":1761852343068,"status":"ok","duration_ms":-0}"#.to_vec(),
            )],
        );
        let flat = rec(&[
            ("timestamp", t("1761852343068")),
            ("status", t("ok")),
            ("duration_ms", t("-0")),
        ]);
        assert_eq!(normalize(&json).unwrap_err().code(), "negative_duration");
        assert_eq!(normalize(&flat).unwrap_err().code(), "negative_duration");
        let minus_half = rec(&[
            ("timestamp", t("1761852343068")),
            ("status", t("ok")),
            ("duration_ms", RawValue::Float(-0.5)),
        ]);
        assert_eq!(
            normalize(&minus_half).unwrap_err().code(),
            "negative_duration"
        );
    }

    #[test]
    fn a_reject_keeps_a_bounded_excerpt_with_each_cut_values_length() {
        let mut raw = RawRecord::new(Source::Redis, "1-0");
        raw.fields
            .insert("status", RawValue::Text("é".repeat(50_000)));
        raw.fields
            .insert("blob", RawValue::Bytes(vec![0xff; 100_000]));
        let big = serde_json::json!({ "k": "v".repeat(5_000) });
        raw.fields.insert("checks", RawValue::Json(big));
        raw.fields.insert("host", RawValue::Text("mini".into()));
        raw.fields.insert("n", RawValue::Int(7));
        let e = raw.excerpt();
        let status = e.record["status"].as_str().unwrap();
        assert!(status.len() <= EXCERPT_BYTES && status.len() > EXCERPT_BYTES - 4);
        assert!(
            status.chars().all(|c| c == 'é'),
            "cut at a character boundary"
        );
        assert_eq!(
            e.record["blob"].as_str().unwrap().chars().count(),
            EXCERPT_BYTES
        );
        assert!(e.record["checks"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"k":"vvv"#));
        assert_eq!(
            (e.record["host"].as_str(), e.record["n"].as_i64()),
            (Some("mini"), Some(7))
        );
        let cut: Vec<(&str, usize)> = e.cut.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            cut,
            [("blob", 100_000), ("checks", 5_008), ("status", 100_000)]
        );
        assert_eq!(e.fields_left_out, 0);

        let mut wide = RawRecord::new(Source::Redis, "1-0");
        for i in 0..EXCERPT_FIELDS + 5 {
            wide.fields
                .insert(format!("f{i}{}", "x".repeat(2_000)), RawValue::Null);
        }
        let e = wide.excerpt();
        assert_eq!(e.record.as_object().unwrap().len(), EXCERPT_FIELDS);
        assert!(e
            .record
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.len() <= EXCERPT_BYTES));
        assert_eq!(e.fields_left_out, 5);
    }
}
