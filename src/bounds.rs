//! The allowed range of each numeric setting, checked alike wherever the value comes from
//! (flag, environment variable, config file): a value out of range is a usage error that says
//! the range, never an overflow or a wait of centuries further on.

use std::path::Path;

use crate::source::redis::MAX_PAGE_SIZE;

/// One setting's range.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The key in the config file (`-` where there is none), for its messages.
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

/// A day is longer than any Redis read or lock wait has reason to take.
const DAY_SECONDS: u64 = 86_400;
/// Ten years of days.
const MAX_DAYS: u64 = 3660;

pub const REDIS_TIMEOUT: Bound = Bound::new("redis_timeout", 1, DAY_SECONDS, "seconds");
pub const LOCK_TIMEOUT: Bound = Bound::new("-", 0, DAY_SECONDS, "seconds");
/// Records stamped farther than the margin from their entry ID are rejected, and an entry's
/// ID is the time Redis received it, after the check ran: a margin of 0 would reject nearly
/// every record, so it is refused.
pub const REDIS_MARGIN_MINUTES: Bound = Bound::new("redis_margin_minutes", 1, 1440, "minutes");
pub const REDIS_PAGE_SIZE: Bound =
    Bound::new("redis_page_size", 1, MAX_PAGE_SIZE as u64, "entries");
pub const CATCH_UP_WINDOW: Bound = Bound::new("catch_up_window", 1, MAX_DAYS, "days");
pub const CATCH_UP_MAX_DAYS: Bound = Bound::new("-", 1, MAX_DAYS, "days");
pub const REPORT_DAYS: Bound = Bound::new("-", 1, MAX_DAYS, "days");
pub const SIMULATE_BAD: Bound = Bound::new("-", 0, 1_000_000, "records");

impl Bound {
    const fn new(key: &'static str, min: u64, max: u64, unit: &'static str) -> Bound {
        Bound {
            key,
            min,
            max,
            unit,
        }
    }

    fn out_of_range(&self) -> String {
        format!(
            "out of range: use {} to {} {}",
            self.min, self.max, self.unit
        )
    }

    /// A flag's or environment variable's text as a whole number in range (for clap, which
    /// names the flag and quotes the value). `-0` is 0.
    pub fn parse<T: TryFrom<u64>>(&self, text: &str) -> Result<T, String> {
        let t = text.trim();
        let t = t.strip_prefix('+').unwrap_or(t);
        let (negative, digits) = match t.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, t),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "not a whole number: use {} to {} {}",
                self.min, self.max, self.unit
            ));
        }
        let value = if digits.bytes().all(|b| b == b'0') {
            0
        } else if negative {
            return Err(self.out_of_range());
        } else {
            digits.parse::<u64>().map_err(|_| self.out_of_range())?
        };
        if !(self.min..=self.max).contains(&value) {
            return Err(self.out_of_range());
        }
        T::try_from(value).map_err(|_| self.out_of_range())
    }

    /// A config file's value, checked (toml and serde have already refused what is not a
    /// whole number of the field's type); the error is the usage message to show.
    pub fn check_file(&self, value: Option<u64>, file: &Path) -> Result<(), String> {
        match value {
            Some(v) if !(self.min..=self.max).contains(&v) => Err(format!(
                "config file {}: {} = {v} is {}",
                file.display(),
                self.key,
                self.out_of_range()
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_parsed_within_their_range_and_minus_zero_is_zero() {
        assert_eq!(LOCK_TIMEOUT.parse::<u64>("-0"), Ok(0));
        assert_eq!(LOCK_TIMEOUT.parse::<u64>("+15"), Ok(15));
        assert_eq!(REDIS_TIMEOUT.parse::<u64>("86400"), Ok(86_400));
        let range = "out of range: use 1 to 86400 seconds";
        for bad in [
            "0",
            "-0",
            "-1",
            "86401",
            "18446744073709551615",
            "99999999999999999999999",
        ] {
            assert_eq!(REDIS_TIMEOUT.parse::<u64>(bad).unwrap_err(), range, "{bad}");
        }
        for bad in ["", "-", "1.5", "1e3", "ten", "0x10"] {
            let e = REDIS_TIMEOUT.parse::<u64>(bad).unwrap_err();
            assert!(
                e.starts_with("not a whole number: use 1 to 86400"),
                "{bad}: {e}"
            );
        }
        assert_eq!(REDIS_MARGIN_MINUTES.parse::<u32>("1440"), Ok(1440));
        assert!(REDIS_MARGIN_MINUTES.parse::<u32>("0").is_err());
        assert_eq!(REDIS_PAGE_SIZE.parse::<usize>("100000"), Ok(100_000));
        assert!(REDIS_PAGE_SIZE.parse::<usize>("100001").is_err());
    }

    #[test]
    fn a_config_file_value_out_of_range_is_a_usage_error_naming_its_key() {
        let f = Path::new("/c.toml");
        assert!(REDIS_TIMEOUT.check_file(None, f).is_ok());
        assert!(REDIS_TIMEOUT.check_file(Some(300), f).is_ok());
        let e = REDIS_TIMEOUT
            .check_file(Some(i64::MAX as u64), f)
            .unwrap_err();
        assert_eq!(
            e,
            "config file /c.toml: redis_timeout = 9223372036854775807 is out of range: use 1 to \
             86400 seconds"
        );
    }
}
