//! Record normalization: turns the raw fields a source read into a schema-v1 record or a reject
//! with its reason, exactly as docs/contract.md ("Records") describes. Pure functions only; no I/O.
//!
//! `raw` holds a record as read, `classify` judges it (with `words`, the values both paths read
//! alike), `plain` reads values in their plain form for the typed path, `interner` shares the
//! strings that repeat, `reject` names what was wrong.

use std::sync::Arc;

mod classify;
mod interner;
pub mod plain;
mod raw;
mod reject;
mod words;

pub use self::classify::{classify, normalize, normalize_in, timestamp, Classified, Filed};
pub use self::interner::Interner;
pub use self::raw::{cut, Excerpt, Fields, RawRecord, RawValue, EXCERPT_BYTES, EXCERPT_FIELDS};
pub use self::reject::RejectReason;
pub use self::words::{text_timestamp_ms, EPOCH_MS_RANGE};
use crate::columns::HOST;
pub use crate::columns::{Fixed, Labels, RECORD_FIELDS};
pub use crate::contract::{AgentStatus, CheckStatus, Source, Status};

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
    /// The label columns (`host`, …), shared through the `Interner`.
    pub labels: Labels<Arc<str>>,
    /// The fixed checks (`redis_status`, …).
    pub fixed: Fixed,
    /// Extra checks, name → status, sorted by name, one per name; empty means none (written
    /// as a null map).
    pub checks: Checks,
}

impl Record {
    pub fn host(&self) -> Option<&str> {
        self.labels[HOST].as_deref()
    }

    pub fn host_mut(&mut self) -> &mut Option<Arc<str>> {
        &mut self.labels[HOST]
    }
}

/// A merged row: the winning copy of a record and where copies of it were found.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub record: Record,
    pub source: Source,
}

/// The id of a record that has none (docs/contract.md, "Records"), in pieces that join into it:
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
}
