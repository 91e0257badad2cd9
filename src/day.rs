//! The export day: `[00:00, 24:00)` local time in an IANA zone, as UTC milliseconds, DST-aware,
//! or the running day up to a cut for an intraday export.

use std::fmt;

use anyhow::{bail, Result};
use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The export day: `[00:00, 24:00)` local time in an IANA zone, as UTC milliseconds, DST-aware;
/// or, for an intraday export, the running day up to a cut (`until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    date: NaiveDate,
    tz: Tz,
    start_ms: i64,
    /// Where the records this export takes end: the day's end, or an intraday export's cut.
    end_ms: i64,
    /// Where the day itself ends.
    day_end_ms: i64,
}

/// A date on which no local time exists in the zone: the clocks skipped the whole day (Samoa
/// skipped 2011-12-30). Asking for it is a usage error, not a failure.
#[derive(Debug, thiserror::Error)]
#[error("{date} never happened in {tz}: its clocks skipped the whole day")]
pub struct NoSuchDay {
    pub date: NaiveDate,
    pub tz: Tz,
}

impl Day {
    pub fn new(date: NaiveDate, tz: Tz) -> Result<Day> {
        let start_ms = local_day_start(date, tz)?
            .ok_or(NoSuchDay { date, tz })?
            .timestamp_millis();
        // The day ends where the next day that exists begins: after a skipped day, that is
        // the day after it.
        let mut next = date;
        let end = loop {
            next = match next.succ_opt() {
                Some(n) if n - date <= chrono::TimeDelta::days(3) => n,
                _ => bail!("date {date} is out of range"),
            };
            if let Some(start) = local_day_start(next, tz)? {
                break start;
            }
        };
        let end_ms = end.timestamp_millis();
        Ok(Day {
            date,
            tz,
            start_ms,
            end_ms,
            day_end_ms: end_ms,
        })
    }

    /// The running day from its start up to `cut_ms` (exclusive): what an intraday export
    /// reads. A cut outside the day is brought into it.
    pub fn until(self, cut_ms: i64) -> Day {
        Day {
            end_ms: cut_ms.clamp(self.start_ms, self.day_end_ms),
            ..self
        }
    }

    /// Whether this is a running day cut short of its end (an intraday export).
    pub fn is_cut(&self) -> bool {
        self.end_ms < self.day_end_ms
    }

    /// The last complete day before `now` in `tz`.
    pub fn yesterday(now: DateTime<Utc>, tz: Tz) -> Result<Day> {
        let today = now.with_timezone(&tz).date_naive();
        match today.pred_opt() {
            Some(d) => Day::new(d, tz),
            None => bail!("no day before {today}"),
        }
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// First millisecond of the day (inclusive), UTC.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// First millisecond after the records of this export (exclusive), UTC: the next day's
    /// start, or an intraday export's cut.
    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    pub fn contains(&self, ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&ms)
    }

    /// Length of the whole day in hours: 24, or 23/25 on DST change days.
    pub fn hours(&self) -> f64 {
        (self.day_end_ms - self.start_ms) as f64 / 3_600_000.0
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.date.format("%Y-%m-%d"))
    }
}

/// Local midnight of `date` in `tz`. Where a DST change skips midnight (e.g. São Paulo before
/// 2019), the day starts at the first local time that exists; where midnight occurs twice, at the
/// first of the two. `None` when no local time of the date exists at all.
fn local_day_start(date: NaiveDate, tz: Tz) -> Result<Option<DateTime<Tz>>> {
    let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0).expect("midnight is valid");
    // Step a minute at a time through the day: DST gaps are an hour or so, but a zone that
    // changed sides of the date line skipped a whole day.
    for minutes in 0..(24 * 60) {
        match tz.from_local_datetime(&(midnight + Duration::minutes(minutes))) {
            LocalResult::Single(t) => return Ok(Some(t)),
            LocalResult::Ambiguous(first, _) => return Ok(Some(first)),
            LocalResult::None => continue,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32, tz: &str) -> Day {
        Day::new(
            NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            tz.parse().unwrap(),
        )
        .unwrap()
    }

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn utc_day() {
        let d = day(2025, 10, 30, "UTC");
        assert_eq!(d.start_ms(), ms("2025-10-30T00:00:00Z"));
        assert_eq!(d.end_ms(), ms("2025-10-31T00:00:00Z"));
        assert!(d.contains(ms("2025-10-30T23:59:59.999Z")));
        assert!(!d.contains(ms("2025-10-31T00:00:00Z")));
    }

    #[test]
    fn bangkok_day_is_offset() {
        let d = day(2025, 10, 30, "Asia/Bangkok");
        assert_eq!(d.start_ms(), ms("2025-10-29T17:00:00Z"));
        assert_eq!(d.hours(), 24.0);
    }

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let spring = day(2025, 3, 9, "America/New_York");
        assert_eq!(spring.hours(), 23.0);
        assert_eq!(spring.start_ms(), ms("2025-03-09T05:00:00Z"));
        let fall = day(2025, 11, 2, "America/New_York");
        assert_eq!(fall.hours(), 25.0);
        let berlin = day(2025, 10, 26, "Europe/Berlin");
        assert_eq!(berlin.hours(), 25.0);
        assert_eq!(berlin.start_ms(), ms("2025-10-25T22:00:00Z"));
    }

    #[test]
    fn skipped_midnight_starts_at_first_existing_time() {
        // Brazil moved clocks from 00:00 to 01:00 on 2018-11-04.
        let d = day(2018, 11, 4, "America/Sao_Paulo");
        assert_eq!(d.start_ms(), ms("2018-11-04T01:00:00-02:00"));
        assert_eq!(d.hours(), 23.0);
    }

    #[test]
    fn a_day_before_a_skipped_day_ends_where_the_next_existing_day_starts() {
        // Samoa moved across the date line: 2011-12-29 24:00 (-10) was 2011-12-31 00:00 (+14).
        let d = day(2011, 12, 29, "Pacific/Apia");
        assert_eq!(d.hours(), 24.0);
        assert_eq!(d.end_ms(), day(2011, 12, 31, "Pacific/Apia").start_ms());
        let skipped = Day::new(
            NaiveDate::from_ymd_opt(2011, 12, 30).unwrap(),
            "Pacific/Apia".parse().unwrap(),
        )
        .unwrap_err();
        assert!(skipped.downcast_ref::<NoSuchDay>().is_some(), "{skipped:#}");
    }

    #[test]
    fn consecutive_days_tile_without_gaps() {
        let a = day(2025, 3, 29, "Europe/London");
        let b = day(2025, 3, 30, "Europe/London");
        assert_eq!(a.end_ms(), b.start_ms());
    }

    #[test]
    fn yesterday_depends_on_zone() {
        let now = DateTime::parse_from_rfc3339("2025-10-31T02:30:00+07:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Day::yesterday(now, "Asia/Bangkok".parse().unwrap())
                .unwrap()
                .to_string(),
            "2025-10-30"
        );
        assert_eq!(
            Day::yesterday(now, "UTC".parse().unwrap())
                .unwrap()
                .to_string(),
            "2025-10-29"
        );
    }
}
