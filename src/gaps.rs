//! The day's heartbeat gaps and each host's heartbeat health, from heartbeats read once in time
//! order (pure): what the summary, `history` and the picture say of the cadence.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::contract::CADENCE_MS;
use crate::day::Day;
use crate::record::Status;
use crate::rows::BeatRef;

/// A silence counts as a gap past one and a half beats, so jitter is not reported.
const GAP_MS: i64 = CADENCE_MS * 3 / 2;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub host: String,
    pub from: String,
    pub to: String,
    pub minutes: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GapReport {
    pub count: usize,
    pub missed_beats: i64,
    /// The longest gaps, longest first (at most 10).
    pub longest: Vec<Gap>,
}

/// An instant (Unix ms) as the day's local time, as the report shows beats and gaps.
pub fn local_time(day: &Day, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&day.tz())
                .to_rfc3339_opts(SecondsFormat::Millis, false)
        })
        .unwrap_or_default()
}

/// One host's heartbeats over the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostHealth {
    pub host: String,
    pub beats: u64,
    /// Beats a 5-minute cadence gives from the day's start to its end or cut
    /// (`contract::expected_beats`, as `history` and the report count them): a morning lost is
    /// lost coverage, and a host that goes quiet is owed the rest.
    pub expected: u64,
    pub coverage_pct: f64,
    pub gaps: u64,
    pub longest_gap_minutes: f64,
    pub warnings: u64,
    pub critical: u64,
    pub first: String,
    pub last: String,
}

/// Gaps in each host's heartbeat cadence from its first beat on (a silent end of the day included), and each
/// host's heartbeat health, worst coverage first: heartbeat records only, in time order (as
/// merged), read in one pass.
#[cfg(test)]
pub fn gaps_and_health<'a>(
    rows: impl IntoIterator<Item = impl Into<BeatRef<'a>>>,
    day: &Day,
) -> (GapReport, Vec<HostHealth>) {
    let mut beats = Beats::new(day);
    beats.add(rows);
    beats.finish()
}

/// The gaps of `gaps_and_health` from (host, timestamp) pairs of heartbeats in time order, as
/// `history` reads them from a file's columns.
pub fn gaps_of<'a>(beats: impl IntoIterator<Item = (&'a str, i64)>, day: &Day) -> GapReport {
    let mut b = Beats::new(day);
    for (host, t) in beats {
        b.beat(host, t, Status::Healthy);
    }
    b.finish().0
}

/// Gaps kept as found before the longest are picked: a sort and cut past this many keeps a
/// day with gaps everywhere in bounded memory.
const GAPS_KEPT: usize = 1024;
/// Gaps the report names.
const GAPS_SHOWN: usize = 10;

/// One host's heartbeats so far.
struct HostRun {
    host: Arc<str>,
    first: i64,
    last: i64,
    beats: u64,
    /// Silences over 7.5 minutes from the host's first beat on: between beats, and from the
    /// last beat to the day's end. The day's count is the sum of these over the hosts: one
    /// definition for the summary, the hosts table, history and the picture.
    gaps: u64,
    longest: i64,
    warnings: u64,
    critical: u64,
}

impl HostRun {
    fn gap(&mut self, length: i64) {
        self.gaps += 1;
        self.longest = self.longest.max(length);
    }
}

/// A gap: the host, and the beats (or day edges) it lies between.
#[derive(Clone)]
struct Silence {
    host: Arc<str>,
    from: i64,
    to: i64,
}

/// Per-host state for heartbeats read in time order: memory grows with the hosts, not the rows,
/// so the analysis beside the day file's writer holds no copy of the day, and takes the day a
/// window at a time (`add`).
pub struct Beats<'d> {
    day: &'d Day,
    index: HashMap<Arc<str>, usize, foldhash::fast::FixedState>,
    hosts: Vec<HostRun>,
    count: usize,
    missed: i64,
    longest: Vec<Silence>,
}

impl<'d> Beats<'d> {
    pub fn new(day: &'d Day) -> Self {
        Beats {
            day,
            index: HashMap::default(),
            hosts: Vec::new(),
            count: 0,
            missed: 0,
            longest: Vec::new(),
        }
    }

    /// Takes the next rows of the day, in time order; only heartbeats count.
    pub fn add<'a>(&mut self, rows: impl IntoIterator<Item = impl Into<BeatRef<'a>>>) {
        for r in rows
            .into_iter()
            .map(Into::into)
            .filter(|r: &BeatRef| r.report_type == "heartbeat")
        {
            self.beat(r.host.unwrap_or("-"), r.ts_ms, r.status);
        }
    }

    fn beat(&mut self, host: &str, t: i64, status: Status) {
        let i = match self.index.get(host) {
            Some(&i) => i,
            None => {
                let i = self.hosts.len();
                let host: Arc<str> = host.into();
                self.index.insert(host.clone(), i);
                self.hosts.push(HostRun {
                    host,
                    first: t,
                    last: t,
                    beats: 0,
                    gaps: 0,
                    longest: 0,
                    warnings: 0,
                    critical: 0,
                });
                // A host is counted from its first beat of the day, as its expected beats are:
                // the time before it is no gap. (Counting from a beat assumed 5 minutes before
                // midnight made every host whose offset was over 2.5 minutes a gap.)
                i
            }
        };
        if self.hosts[i].beats > 0 {
            if let Some(length) = self.silence(i, self.hosts[i].last, t) {
                self.hosts[i].gap(length);
            }
        }
        let h = &mut self.hosts[i];
        h.last = t;
        h.beats += 1;
        match status {
            Status::Warnings => h.warnings += 1,
            Status::Critical => h.critical += 1,
            Status::Healthy => {}
        }
    }

    /// Counts the silence from `from` to `to` if it is a gap, and returns its length then.
    fn silence(&mut self, i: usize, from: i64, to: i64) -> Option<i64> {
        let length = to - from;
        if length <= GAP_MS {
            return None;
        }
        let host = self.hosts[i].host.clone();
        self.count += 1;
        self.missed += length / CADENCE_MS - 1;
        self.longest.push(Silence { host, from, to });
        if self.longest.len() >= GAPS_KEPT {
            self.keep_longest();
        }
        Some(length)
    }

    /// Longest first; equal ones by host name, then time, as a list in host and time order
    /// sorted stably by length would have them.
    fn keep_longest(&mut self) {
        let start = self.day.start_ms();
        self.longest.sort_unstable_by(|a, b| {
            let len = |s: &Silence| s.to - s.from.max(start);
            len(b)
                .cmp(&len(a))
                .then_with(|| a.host.cmp(&b.host))
                .then_with(|| a.from.cmp(&b.from))
        });
        self.longest.truncate(GAPS_SHOWN);
    }

    pub fn finish(mut self) -> (GapReport, Vec<HostHealth>) {
        let (day, start, end) = (self.day, self.day.start_ms(), self.day.end_ms());
        // A host that goes quiet before the day ends is silent to the end.
        for i in 0..self.hosts.len() {
            if let Some(length) = self.silence(i, self.hosts[i].last, end) {
                self.hosts[i].gap(length);
            }
        }
        self.keep_longest();
        let gaps = GapReport {
            count: self.count,
            missed_beats: self.missed,
            longest: self
                .longest
                .iter()
                .map(|s| Gap {
                    host: s.host.to_string(),
                    from: local_time(day, s.from.max(start)),
                    to: local_time(day, s.to),
                    minutes: (s.to - s.from.max(start)) as f64 / 60_000.0,
                })
                .collect(),
        };
        let mut health: Vec<HostHealth> = self
            .hosts
            .iter()
            .map(|h| {
                let expected = crate::contract::expected_beats(start, end);
                HostHealth {
                    host: h.host.to_string(),
                    beats: h.beats,
                    expected,
                    coverage_pct: crate::contract::coverage_pct(h.beats, expected),
                    gaps: h.gaps,
                    longest_gap_minutes: h.longest as f64 / 60_000.0,
                    warnings: h.warnings,
                    critical: h.critical,
                    first: local_time(day, h.first),
                    last: local_time(day, h.last),
                }
            })
            .collect();
        health.sort_by(|a, b| {
            a.coverage_pct
                .total_cmp(&b.coverage_pct)
                .then_with(|| b.gaps.cmp(&a.gaps))
                .then_with(|| a.host.cmp(&b.host))
        });
        (gaps, health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;
    use crate::record::Row;

    #[test]
    fn gaps_count_missed_beats_and_silent_edges() {
        let day = utc_day(1970, 1, 1);
        // Every 5 minutes all day except a 30-minute hole starting at 01:00.
        let mut rows: Vec<Row> = (0..288)
            .map(|i| i * CADENCE_MS)
            .filter(|t| !(3_600_000 < *t && *t < 3_600_000 + 30 * 60_000))
            .map(|t| row(&t.to_string(), t, &[]))
            .collect();
        let g = gaps_and_health(rows.iter().map(Row::view), &day).0;
        assert_eq!(g.count, 1, "{g:?}");
        assert_eq!(g.missed_beats, 5);
        assert_eq!(g.longest[0].minutes, 30.0);
        // Stopping at 23:00 is a gap at the end of the day.
        rows.retain(|r| r.record.ts_ms < 23 * 3_600_000);
        let g = gaps_and_health(rows.iter().map(Row::view), &day).0;
        assert_eq!(g.count, 2);
        assert_eq!(g.longest[0].to, "1970-01-02T00:00:00.000+00:00");
        assert_eq!(g.longest[0].minutes, 65.0);
    }

    #[test]
    fn a_full_day_has_no_gaps() {
        let day = utc_day(1970, 1, 1);
        let rows: Vec<Row> = (0..288)
            .map(|i| row(&i.to_string(), i * CADENCE_MS + 1_000, &[]))
            .collect();
        assert_eq!(gaps_and_health(rows.iter().map(Row::view), &day).0.count, 0);
    }

    fn utc_day(y: i32, m: u32, d: u32) -> Day {
        Day::new(
            chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            "UTC".parse().unwrap(),
        )
        .unwrap()
    }

    fn on(host: &str, ms: i64, status: Status) -> Row {
        let mut r = row(&format!("{host}:{ms}"), ms, &[]);
        *r.record.host_mut() = Some(host.into());
        r.record.status = status;
        r
    }

    #[test]
    fn host_health_counts_beats_gaps_and_a_mid_day_start() {
        let day = utc_day(2025, 10, 30);
        let s = day.start_ms();
        let mut rows = Vec::new();
        // "a": every 5 minutes from 00:00:30, but silent from 01:00:30 to 01:30:30; warnings.
        for i in 0..288 {
            let t = s + 30_000 + i * CADENCE_MS;
            if !(t > s + 3_630_000 && t < s + 5_430_000) {
                let st = if i % 100 == 7 {
                    Status::Warnings
                } else {
                    Status::Healthy
                };
                rows.push(on("a", t, st));
            }
        }
        // "b": starts at noon, never misses a beat, one critical.
        for i in 0..144 {
            let st = if i == 3 {
                Status::Critical
            } else {
                Status::Healthy
            };
            rows.push(on("b", s + 43_200_000 + i * CADENCE_MS, st));
        }
        // "c": every 5 minutes from midnight, last beat at 17:55.
        for i in 0..216 {
            rows.push(on("c", s + i * CADENCE_MS, Status::Healthy));
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let h = gaps_and_health(rows.iter().map(Row::view), &day).1;
        let by = |n: &str| h.iter().find(|x| x.host == n).unwrap().clone();
        let a = by("a");
        assert_eq!((a.beats, a.expected, a.gaps), (283, 288, 1));
        assert_eq!(a.longest_gap_minutes, 30.0);
        assert_eq!((a.warnings, a.critical), (3, 0), "beats 7, 107 and 207");
        assert_eq!(a.first, "2025-10-30T00:00:30.000+00:00");
        let b = by("b");
        // Coverage owes beats from the day's start (as history and the report count it); gaps
        // start at the host's first beat.
        assert_eq!((b.beats, b.expected, b.gaps, b.critical), (144, 288, 0, 1));
        assert_eq!(b.coverage_pct, 50.0);
        let c = by("c");
        assert_eq!((c.beats, c.expected, c.gaps), (216, 288, 1));
        assert_eq!(
            c.longest_gap_minutes, 365.0,
            "from the last beat, 17:55, to midnight"
        );
        assert_eq!(
            h.iter().map(|x| x.host.as_str()).collect::<Vec<_>>(),
            ["b", "c", "a"],
            "worst coverage first"
        );
    }

    #[test]
    fn host_health_on_a_dst_day_expects_23_hours() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(2025, 3, 9).unwrap(),
            "America/New_York".parse().unwrap(),
        )
        .unwrap();
        let rows: Vec<Row> = (0..276)
            .map(|i| {
                on(
                    "ny",
                    day.start_ms() + 1_000 + i * CADENCE_MS,
                    Status::Healthy,
                )
            })
            .collect();
        let h = gaps_and_health(rows.iter().map(Row::view), &day).1;
        assert_eq!((h[0].beats, h[0].expected, h[0].gaps), (276, 276, 0));
        assert_eq!(h[0].coverage_pct, 100.0);
    }

    #[test]
    fn the_export_and_history_find_the_same_gaps() {
        let day = utc_day(2025, 10, 30);
        let s = day.start_ms();
        let mut rows = Vec::new();
        for i in (0..288).filter(|i| !(100..110).contains(i)) {
            rows.push(on("a", s + i * CADENCE_MS, Status::Healthy));
        }
        for i in 0..150 {
            rows.push(on("b", s + 7_000 + i * CADENCE_MS, Status::Critical));
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let (g, h) = gaps_and_health(rows.iter().map(Row::view), &day);
        // history reads the same gaps from a file's columns.
        let beats = rows
            .iter()
            .map(|r| (r.record.host().unwrap(), r.record.ts_ms));
        assert_eq!(g, gaps_of(beats, &day));
        assert_eq!((g.count, h.len()), (2, 2), "{g:?}");
    }

    #[test]
    fn hosts_at_random_offsets_beating_every_5_minutes_have_no_gap() {
        let day = Day::new(
            chrono::NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
            "UTC".parse().unwrap(),
        )
        .unwrap();
        let s = day.start_ms();
        // 1,500 hosts, each at its own offset within the 5 minutes, a few ms of jitter per beat.
        let mut rows = Vec::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for h in 0..1500 {
            let offset = (next() % CADENCE_MS as u64) as i64;
            let host = format!("host-{h:04}");
            for i in 0..288 {
                let t = s + offset + i * CADENCE_MS + (next() % 2000) as i64;
                if day.contains(t) {
                    rows.push(on(&host, t, Status::Healthy));
                }
            }
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let (gaps, health) = gaps_and_health(rows.iter().map(Row::view), &day);
        assert_eq!(gaps.count, 0, "{:?}", gaps.longest.first());
        assert!(health.iter().all(|h| h.gaps == 0));
        // One host silent for 20 minutes: one gap, in the day's count and in its row alike.
        let quiet = "host-0007";
        let (first, last) = (s + 3_600_000, s + 3_600_000 + 20 * 60_000);
        rows.retain(|r| r.record.host() != Some(quiet) || !(first..last).contains(&r.record.ts_ms));
        let (gaps, health) = gaps_and_health(rows.iter().map(Row::view), &day);
        assert_eq!(gaps.count, 1);
        let h = health.iter().find(|h| h.host == quiet).unwrap();
        assert_eq!(h.gaps, 1);
        assert_eq!(
            gaps.count as u64,
            health.iter().map(|h| h.gaps).sum::<u64>()
        );
    }

    #[test]
    fn the_longest_gaps_of_a_day_with_thousands_are_those_a_full_sort_gives() {
        // 300 hosts, each beating every other slot with a few longer holes, so the day has
        // far more gaps than are kept between cuts, and many of equal length.
        let day = utc_day(2025, 10, 30);
        let s = day.start_ms();
        let mut rows = Vec::new();
        for h in 0..300 {
            let host = format!("h{:03}", (h * 7) % 300);
            for i in (0..288).filter(|i| i % 2 == 0 && (i + h) % 37 > 2 + h % 4) {
                rows.push(on(&host, s + i * CADENCE_MS, Status::Healthy));
            }
        }
        rows.sort_by_key(|r| r.record.ts_ms);
        let g = gaps_and_health(rows.iter().map(Row::view), &day).0;

        // Every gap, hosts in name order and each host's in time order, then a stable sort.
        let mut hosts: Vec<&str> = rows.iter().map(|r| r.record.host().unwrap()).collect();
        hosts.sort();
        hosts.dedup();
        let mut all = Vec::new();
        for host in hosts {
            // From the host's first beat on, and to the day's end.
            let mut prev: Option<i64> = None;
            let times = rows
                .iter()
                .filter(|r| r.record.host() == Some(host))
                .map(|r| r.record.ts_ms)
                .chain([day.end_ms()]);
            for t in times {
                if let Some(p) = prev.filter(|p| t - p > GAP_MS) {
                    all.push(Gap {
                        host: host.to_string(),
                        from: local_time(&day, p),
                        to: local_time(&day, t),
                        minutes: (t - p) as f64 / 60_000.0,
                    });
                }
                prev = Some(t);
            }
        }
        assert!(all.len() > 3 * GAPS_KEPT, "{} gaps", all.len());
        let count = all.len();
        all.sort_by(|a, b| b.minutes.total_cmp(&a.minutes));
        all.truncate(GAPS_SHOWN);
        assert_eq!(g.count, count);
        assert_eq!(g.longest, all);
    }
}
