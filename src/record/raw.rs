//! A record as a source read it: raw field values by name, before any interpretation, and the
//! bounded excerpt a reject keeps of it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map as JsonMap, Value as Json};

use super::RejectReason;
use crate::columns::{COLUMNS, COUNT};
use crate::contract::Source;

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
    pub(super) fn show(&self) -> String {
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

/// Field names a record usually has (the columns' and a JSON entry's `json`): a name read from
/// a source as bytes is matched against these and borrowed, so a million records do not
/// allocate a dozen names each.
const KNOWN_NAMES: [&str; COUNT + 1] = {
    let mut names = ["json"; COUNT + 1];
    let mut i = 0;
    while i < COUNT {
        names[i] = COLUMNS[i].name;
        i += 1;
    }
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

    pub(super) fn get(&self, name: &str) -> Option<&RawValue> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
