//! A stream reply decoded: pages of entries, entry IDs, `XINFO`'s fields, and each entry's flat
//! or JSON fields read into a record.

use std::borrow::Cow;

use anyhow::{bail, Result};
use redis::Value;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

#[cfg(test)]
use crate::record::Source;
use crate::record::{Fields, RawRecord, RawValue, RejectReason};
use crate::source::resp::Page;

/// A map reply (RESP2's flat array, or RESP3's map) as its scalar values by key, as text.
pub(super) fn scalar_pairs(v: Value) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    };
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(m) => m,
        Value::Array(items) => {
            let mut it = items.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }
        _ => Vec::new(),
    };
    pairs
        .iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect()
}

/// The millisecond part of a stream entry ID.
pub(super) fn id_ms(id: &str) -> Option<i64> {
    id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()
}

fn bytes(v: Value) -> Result<Vec<u8>> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => bail!("expected a string, got {other:?}"),
    }
}

pub(super) fn parse_entries(reply: Value, page: &mut Page) -> Result<()> {
    page.clear();
    let Value::Array(items) = reply else {
        bail!("expected an array of entries, got {reply:?}");
    };
    for item in items {
        let Value::Array(mut parts) = item else {
            bail!("expected an [id, fields] pair");
        };
        if parts.len() != 2 {
            bail!("expected an [id, fields] pair, got {} parts", parts.len());
        }
        let fields = parts.pop().unwrap();
        let id = bytes(parts.pop().unwrap())?;
        page.start_entry();
        page.push(&id);
        let id = || String::from_utf8_lossy(&id).into_owned();
        match fields {
            Value::Array(flat) => {
                if flat.len() % 2 != 0 {
                    bail!("entry {} has an odd number of field values", id());
                }
                for v in flat {
                    page.push(&bytes(v)?);
                }
            }
            Value::Map(m) => {
                for (k, v) in m {
                    page.push(&bytes(k)?);
                    page.push(&bytes(v)?);
                }
            }
            Value::Nil => {}
            other => bail!("entry {}: unexpected fields {other:?}", id()),
        }
    }
    Ok(())
}

/// A JSON entry's object, read into `Fields` as `RawValue::from_json` would convert each of
/// its members, in the order given: the contract's names are not allocated and text goes into
/// reused buffers (a `serde_json::Value` allocated every name and value of every entry).
struct EntryObject<'f>(&'f mut Fields);

impl<'de> DeserializeSeed<'de> for EntryObject<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntryObject<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(name) = map.next_key_seed(MemberName)? {
            map.next_value_seed(Member {
                fields: &mut *self.0,
                name,
            })?;
        }
        Ok(())
    }
}

/// A member's name, borrowed when it is one of the contract's (`Fields::name`).
struct MemberName;

impl<'de> DeserializeSeed<'de> for MemberName {
    type Value = Cow<'static, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for MemberName {
    type Value = Cow<'static, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Fields::name(v))
    }
}

/// A member's value, added to the fields under its name.
struct Member<'f> {
    fields: &'f mut Fields,
    name: Cow<'static, str>,
}

impl Member<'_> {
    fn add<E>(self, value: RawValue) -> Result<(), E> {
        self.fields.insert(self.name, value);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.fields.insert_text(self.name, v);
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.add(RawValue::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        // As `RawValue::from_json`: an integer past i64 is a float.
        self.add(i64::try_from(v).map_or(RawValue::Float(v as f64), RawValue::Int))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.add(RawValue::Float(v))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.add(RawValue::Bool(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.add(RawValue::Null)
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
        let value = serde_json::Value::deserialize(MapAccessDeserializer::new(map))?;
        self.add(RawValue::Json(value))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<(), S::Error> {
        let value = serde_json::Value::deserialize(SeqAccessDeserializer::new(seq))?;
        self.add(RawValue::Json(value))
    }
}

/// `fill_entry` into a fresh record, for tests.
#[cfg(test)]
pub fn entry_record(id: String, fields: Vec<(Vec<u8>, Vec<u8>)>) -> RawRecord {
    let mut raw = RawRecord::new(Source::Redis, String::new());
    fill_entry(
        &mut raw,
        &id,
        fields.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
    );
    raw
}

/// One stream entry into `raw`, a record reused from entry to entry (its buffers are kept):
/// flat fields (`check.<name>` for extra checks) or a single `json` field holding the record as
/// a JSON object.
pub(super) fn fill_entry<'a>(
    raw: &mut RawRecord,
    id: &str,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) {
    raw.locator.clear();
    raw.locator.push_str(id);
    raw.fields.clear();
    raw.defect = None;
    let mut json = None;
    for (k, v) in fields {
        let name = match std::str::from_utf8(k) {
            Ok(name) => Fields::name(name),
            // Kept (shown lossily) in the rejects file; a lossy name must not become a column.
            Err(_) => {
                let shown = String::from_utf8_lossy(k).into_owned();
                raw.defect
                    .get_or_insert(RejectReason::InvalidUtf8(format!("name {shown:?}")));
                shown.into()
            }
        };
        if name == "json" {
            json = Some(v);
        } else {
            raw.fields.insert_bytes(name, v);
        }
    }
    let Some(json) = json else {
        return;
    };
    if raw.defect.is_some() {
        raw.fields.insert_bytes("json", json);
        return;
    }
    // An object is read straight into the fields; anything else, or a broken object, goes
    // through `Value`, whose error and shape the reject reports.
    let before = raw.fields.len();
    if json.trim_ascii_start().first() == Some(&b'{') {
        let mut de = serde_json::Deserializer::from_slice(json);
        let read = EntryObject(&mut raw.fields)
            .deserialize(&mut de)
            .and_then(|()| de.end());
        if read.is_ok() {
            return;
        }
        raw.fields.truncate(before);
    }
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => {
            for (k, v) in map {
                raw.fields.insert(k, RawValue::from_json(v));
            }
        }
        Ok(other) => {
            raw.fields.insert("json", RawValue::Json(other));
            raw.defect = Some(RejectReason::BadEntry("json field is not an object".into()));
        }
        Err(e) => {
            raw.defect = Some(match std::str::from_utf8(json) {
                Err(_) => RejectReason::InvalidUtf8("json".into()),
                Ok(_) => RejectReason::BadEntry(format!("json field is not JSON: {e}")),
            });
            raw.fields.insert_bytes("json", json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::normalize;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn flat_and_json_entries_normalize_alike() {
        let flat = entry_record(
            "1-0".into(),
            kv(&[
                ("timestamp", "2025-10-30T19:25:43.068Z"),
                ("status", "✅ HEALTHY"),
                ("duration_ms", "954ms"),
                ("check.disk", "ok"),
            ]),
        );
        let json = entry_record(
            "1-1".into(),
            kv(&[(
                "json",
                r#"{"timestamp":1761852343068,"status":"healthy","duration_ms":954,"checks":{"disk":"ok"}}"#,
            )]),
        );
        assert_eq!(normalize(&flat).unwrap(), normalize(&json).unwrap());
    }

    #[test]
    fn json_entries_read_into_fields_as_their_values_convert() {
        let texts = [
            r#"{"timestamp":1761852343068,"status":"ok","host":"mac-\u00e9\n","x":-1}"#,
            r#"{"duration_ms":-0,"a":0,"b":1.5,"c":1e3,"d":18446744073709551615}"#,
            r#"{"e":9223372036854775807,"f":9223372036854775808,"g":-9223372036854775808}"#,
            r#"{"t":true,"n":null,"checks":{"disk":"ok","n":[1,{"k":null}]},"arr":[]}"#,
            r#"{"status":"ok","status":"critical","we\"ird":"\ud83d\ude00", "": ""}"#,
            r#"  {  }  "#,
        ];
        for text in texts {
            let read = entry_record("1-0".into(), kv(&[("json", text)]));
            assert_eq!(read.defect, None, "{text}");
            let serde_json::Value::Object(map) = serde_json::from_str(text).unwrap() else {
                panic!("{text}")
            };
            let want: Vec<(String, RawValue)> = map
                .into_iter()
                .map(|(k, v)| (k, RawValue::from_json(v)))
                .collect();
            // Both keep every name; a name given twice is its last value, as in `Value`.
            let mut names: Vec<&str> = read.fields.iter().map(|(k, _)| k).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), want.len(), "{text}");
            for (k, v) in &want {
                let got = read
                    .fields
                    .get(k)
                    .unwrap_or_else(|| panic!("{k} in {text}"));
                // -0.0 == 0.0, so floats are compared by their bits.
                match (got, v) {
                    (RawValue::Float(a), RawValue::Float(b)) => {
                        assert_eq!(a.to_bits(), b.to_bits(), "{k} in {text}")
                    }
                    _ => assert_eq!(got, v, "{k} in {text}"),
                }
            }
        }
    }

    #[test]
    fn a_broken_json_entry_is_reported_as_parsing_it_whole_reports_it() {
        for text in [
            r#"{"a":1} x"#,
            r#"{"a":1"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            "[1]",
            "{oops",
        ] {
            let r = entry_record("1-0".into(), kv(&[("json", text)]));
            let e = serde_json::from_str::<serde_json::Value>(text);
            let want = match e {
                Ok(_) => "invalid entry: json field is not an object".to_string(),
                Err(e) => format!("invalid entry: json field is not JSON: {e}"),
            };
            assert_eq!(r.defect.map(|d| d.to_string()), Some(want), "{text}");
            // Nothing read before the error is left behind: the entry is the json field.
            assert_eq!(r.fields.len(), 1, "{text}");
        }
    }

    #[test]
    fn broken_json_entries_are_rejected_with_a_reason() {
        let r = entry_record("1-0".into(), kv(&[("json", "{oops")]));
        assert_eq!(normalize(&r).unwrap_err().code(), "bad_entry");
        let r = entry_record("1-0".into(), kv(&[("json", "[1]")]));
        assert_eq!(normalize(&r).unwrap_err().code(), "bad_entry");
        let r = entry_record("1-0".into(), vec![(b"json".to_vec(), vec![0xff])]);
        assert_eq!(normalize(&r).unwrap_err().code(), "invalid_utf8");
    }

    #[test]
    fn an_invalid_utf8_field_name_is_rejected_not_mangled() {
        let r = entry_record(
            "1-0".into(),
            vec![
                (b"timestamp".to_vec(), b"1761852343068".to_vec()),
                (b"status".to_vec(), b"ok".to_vec()),
                (b"check.d\xffisk".to_vec(), b"ok".to_vec()),
            ],
        );
        let reason = normalize(&r).unwrap_err();
        assert_eq!(reason.code(), "invalid_utf8");
        assert!(
            reason.to_string().contains("check.d\u{fffd}isk"),
            "{reason}"
        );
    }

    #[test]
    fn entry_id_ms() {
        assert_eq!(id_ms("1761852343068-3"), Some(1_761_852_343_068));
        assert_eq!(id_ms("junk"), None);
    }
}
