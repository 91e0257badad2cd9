//! What the export gathers from each merged window as it passes to the writer: the day's
//! counts (rows, statuses, hosts, first and last timestamp) and the per-host analysis (gaps,
//! health, the timeline). Memory grows with the hosts, not the rows.

use std::collections::{BTreeMap, HashSet};

use crate::day::Day;
use crate::gaps::{local_time, Beats};
use crate::merge::Merged;
use crate::record::Status;
use crate::report::{Analysis, TimelineCells};
use crate::summary;

/// The day's counts so far.
#[derive(Debug, Default)]
pub struct DayCounts {
    pub rows: u64,
    statuses: [u64; Status::ALL.len()],
    hosts: HashSet<Box<str>, foldhash::fast::FixedState>,
    first: Option<i64>,
    last: Option<i64>,
}

impl DayCounts {
    /// Rows per status, by name.
    pub fn statuses(&self) -> BTreeMap<String, u64> {
        Status::ALL
            .iter()
            .zip(self.statuses)
            .map(|(s, n)| (s.as_str().to_string(), n))
            .collect()
    }

    /// The hosts seen, sorted (`-` for rows without one).
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.hosts.iter().map(|h| h.to_string()).collect();
        hosts.sort_unstable();
        hosts
    }

    /// The first and the last row's timestamp, as the summary prints them.
    pub fn first_and_last(&self, day: &Day) -> (Option<String>, Option<String>) {
        let at = |t: Option<i64>| t.map(|t| local_time(day, t));
        (at(self.first), at(self.last))
    }
}

/// The counts and the analysis of the day, a window at a time.
pub struct Gathered<'d> {
    pub counts: DayCounts,
    beats: Beats<'d>,
    cells: TimelineCells<'d>,
}

impl<'d> Gathered<'d> {
    pub fn new(day: &'d Day) -> Self {
        Gathered {
            counts: DayCounts::default(),
            beats: Beats::new(day),
            cells: TimelineCells::new(day),
        }
    }

    /// Takes the next window of the day, in output order.
    pub fn add(&mut self, window: &Merged) {
        let c = &mut self.counts;
        c.rows += window.len() as u64;
        c.first = c.first.or(window.first().map(|r| r.ts_ms));
        c.last = window.last().map(|r| r.ts_ms).or(c.last);
        for b in window.beats() {
            c.statuses[b.status as usize] += 1;
            let host = b.host.unwrap_or("-");
            if !c.hosts.contains(host) {
                c.hosts.insert(host.into());
            }
        }
        self.beats.add(window.beats());
        self.cells.add(window.beats());
    }

    /// The counts, and the gaps, each host's health and the timeline of the hosts the summary
    /// shows.
    pub fn finish(self) -> (DayCounts, Analysis) {
        let (gaps, hosts_health) = self.beats.finish();
        let shown: Vec<&str> = hosts_health
            .iter()
            .take(summary::MAX_HOSTS)
            .map(|h| h.host.as_str())
            .collect();
        let mut timeline = self.cells.finish(&shown);
        timeline.hidden = hosts_health.len() - shown.len();
        let analysis = Analysis {
            gaps,
            hosts_health,
            timeline,
        };
        (self.counts, analysis)
    }
}
