//! Values in their plain form, read from a source's bytes without building a `RawRecord`:
//! each gives exactly what the general path (`classify`) gives for the same value as text, or `None`
//! when the value is not in that plain form (then the general path judges the whole record,
//! and gives the reject reason where there is one).

use super::words::{code_of, fast_rfc3339_ms, status_of, EPOCH_MS_RANGE};
use crate::columns::Vocab;
use crate::contract::Status;

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

/// A fixed check's code in `vocab`, as the general path reads it (`check_word`): empty
/// (unknown), or printable ASCII with no space, which `trim` leaves whole.
pub fn fixed(vocab: Vocab, b: &[u8]) -> Option<u8> {
    if let Some(code) = code_of(vocab, b) {
        return Some(code);
    }
    let mut buf = [0; 16];
    match lower(b, &mut buf, |c| c.is_ascii_graphic())? {
        b"" => Some(vocab.unknown()),
        w => code_of(vocab, w),
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
