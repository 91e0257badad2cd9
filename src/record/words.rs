//! The values both paths read alike: timestamps, in RFC 3339 or epoch milliseconds, and the
//! words of statuses and checks, with the aliases and decorations the contract accepts.

use std::borrow::Cow;

use chrono::{DateTime, Datelike};

use crate::columns::Vocab;
use crate::contract::{AgentStatus, CheckStatus, Status};

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
pub(super) fn rfc3339_ms(t: &str) -> Option<i64> {
    fast_rfc3339_ms(t.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|dt| dt.timestamp_millis())
    })
}

pub(super) fn fast_rfc3339_ms(b: &[u8]) -> Option<i64> {
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
/// Lowercases and strips the emoji, punctuation and spaces that the legacy monitor wrapped
/// around its verdicts (`"⚠️  WARNINGS"`).
pub(super) fn bare_word(s: &str) -> Cow<'_, str> {
    lowercase(s.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')))
}

/// `s` in lower case, borrowed when it already is: nearly every value a monitor writes is, and
/// a fresh String for each of a record's half-dozen words was a visible share of a large day.
pub(super) fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}
/// The verdict a bare lowercase word names (as bytes: the typed path has no `str` of it).
pub(super) fn status_of(word: &[u8]) -> Option<Status> {
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

/// The code of a fixed check's lowercase word in `vocab`.
pub(super) fn code_of(vocab: Vocab, word: &[u8]) -> Option<u8> {
    match vocab {
        Vocab::Check => check_of(word).map(|s| s as u8),
        Vocab::Agent => agent_of(word).map(|s| s as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
