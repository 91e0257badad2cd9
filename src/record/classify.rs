//! Normalization: the raw fields a source read into a schema-v1 record, or a reject with its
//! reason, and the day the record belongs to, exactly as docs/contract.md ("Records") describes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::DateTime;
use serde_json::Value as Json;

use super::interner::CHECK_TEXTS;
use super::words::{bare_word, code_of, lowercase, status_of, text_timestamp_ms, EPOCH_MS_RANGE};
use super::{derived_id, Checks, Interner, RawRecord, RawValue, Record, RejectReason};
use crate::columns::{Col, Fixed, FIXED_COLS, HOST, LABEL_COLS};
use crate::contract::Status;
use crate::day::Day;

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
    let status = status(
        raw.get(Col::Status.name())
            .ok_or(RejectReason::MissingStatus)?,
    )?;
    let report_type = strings.intern(report_type(raw.get(Col::ReportType.name()))?);
    let duration_ms = duration(raw.get(Col::DurationMs.name()))?;
    let labels = LABEL_COLS.map(|c| text_or_absent(raw.get(c.name())).map(|l| strings.intern(&l)));

    let record_id = match raw.get(Col::RecordId.name()) {
        None => None,
        Some(RawValue::Text(s)) if s.trim().is_empty() => None,
        Some(RawValue::Text(s)) => Some(s.clone()),
        Some(RawValue::Int(i)) => Some(i.to_string()),
        Some(other) => return Err(RejectReason::BadRecordId(other.show())),
    };
    let record_id = record_id.unwrap_or_else(|| {
        let mut id = String::new();
        derived_id(&mut id, &report_type, labels[HOST].as_deref(), ts_ms);
        id
    });

    Ok(Record {
        record_id,
        report_type,
        ts_ms,
        status,
        duration_ms,
        labels,
        fixed: fixed(raw)?,
        checks: checks(raw, strings)?,
    })
}

/// The record's fixed checks: each a word of its vocabulary, `unknown` when absent or empty.
/// The first check that is not is the reject.
fn fixed(raw: &RawRecord) -> Result<Fixed, RejectReason> {
    let mut fixed = Fixed::default();
    for (slot, col) in FIXED_COLS.into_iter().enumerate() {
        let (name, v) = (col.name(), raw.get(col.name()));
        let vocab = col.vocab().expect("a fixed check has a vocabulary");
        if let Some(word) = check_word(name, v)? {
            fixed.0[slot] =
                code_of(vocab, word.as_bytes()).ok_or_else(|| RejectReason::BadCheck {
                    name: name.to_string(),
                    value: v.map(RawValue::show).unwrap_or_default(),
                })?;
        }
    }
    Ok(fixed)
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
fn epoch_ms(ms: i64, shown: &RawValue) -> Result<i64, RejectReason> {
    if EPOCH_MS_RANGE.contains(&ms) {
        Ok(ms)
    } else {
        Err(RejectReason::BadTimestamp(shown.show()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{AgentStatus, CheckStatus, Source};
    use std::sync::Arc;

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
        assert_eq!(r.host(), None);
        assert_eq!(r.duration_ms, None);
        assert_eq!(
            r.fixed.get::<CheckStatus>(Col::RedisStatus),
            CheckStatus::Unknown
        );
        assert_eq!(
            r.fixed.get::<AgentStatus>(Col::LaunchagentDigest),
            AgentStatus::Unknown
        );
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
        assert_eq!(
            r.fixed.get::<CheckStatus>(Col::RedisStatus),
            CheckStatus::Ok
        );
        assert_eq!(
            r.fixed.get::<CheckStatus>(Col::DatabaseStatus),
            CheckStatus::Error
        );
        assert_eq!(
            r.fixed.get::<CheckStatus>(Col::ApiStatus),
            CheckStatus::Warn
        );
        assert_eq!(
            r.fixed.get::<AgentStatus>(Col::LaunchagentOptimizer),
            AgentStatus::Loaded
        );
        assert_eq!(
            r.fixed.get::<AgentStatus>(Col::LaunchagentDigest),
            AgentStatus::NotLoaded
        );
        let r = normalize(&with(&[("launchagent_digest", t("not_loaded"))])).unwrap();
        assert_eq!(
            r.fixed.get::<AgentStatus>(Col::LaunchagentDigest),
            AgentStatus::NotLoaded
        );
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
}
