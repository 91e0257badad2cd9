//! Merge: one row per `record_id` across both sources. SQLite (the durable archive) wins a
//! conflict; within one source the copy read last wins. Pure; no I/O.

use std::collections::HashMap;

use crate::record::{Record, Source};

/// A merged row: the winning copy and where copies of it were found.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub record: Record,
    pub source: Source,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MergeStats {
    /// Copies folded into another row (each is one record read that is not a row).
    pub duplicates: u64,
    /// Folded copies whose content differed from the row they were folded into.
    pub conflicts: u64,
}

#[derive(Debug, Default)]
pub struct Merger {
    rows: HashMap<String, Row>,
    stats: MergeStats,
}

impl Merger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, record: Record, from: Source) {
        let Some(row) = self.rows.get_mut(&record.record_id) else {
            self.rows.insert(
                record.record_id.clone(),
                Row {
                    record,
                    source: from,
                },
            );
            return;
        };
        self.stats.duplicates += 1;
        if row.record != record {
            self.stats.conflicts += 1;
            let kept_sqlite = matches!(row.source, Source::Sqlite | Source::Both);
            // The archive is the record of truth; a Redis copy never replaces a SQLite one.
            if from == Source::Sqlite || !kept_sqlite {
                row.record = record;
            }
        }
        if row.source != from {
            row.source = Source::Both;
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn stats(&self) -> MergeStats {
        self.stats
    }

    /// The rows in output order: by timestamp, then record_id.
    pub fn into_sorted(self) -> (Vec<Row>, MergeStats) {
        let mut rows: Vec<Row> = self.rows.into_values().collect();
        rows.sort_unstable_by(|a, b| {
            (a.record.ts_ms, &a.record.record_id).cmp(&(b.record.ts_ms, &b.record.record_id))
        });
        (rows, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AgentStatus, CheckStatus, Status};

    fn rec(id: &str, ts: i64, status: Status) -> Record {
        Record {
            record_id: id.into(),
            report_type: "heartbeat".into(),
            ts_ms: ts,
            status,
            duration_ms: None,
            host: None,
            redis_status: CheckStatus::Ok,
            database_status: CheckStatus::Ok,
            api_status: CheckStatus::Ok,
            launchagent_optimizer: AgentStatus::Loaded,
            launchagent_digest: AgentStatus::Loaded,
            checks: Default::default(),
        }
    }

    #[test]
    fn same_copy_in_both_is_one_row_without_conflict() {
        let mut m = Merger::new();
        m.add(rec("a", 1, Status::Healthy), Source::Redis);
        m.add(rec("a", 1, Status::Healthy), Source::Sqlite);
        let (rows, stats) = m.into_sorted();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].source, Source::Both);
        assert_eq!(
            stats,
            MergeStats {
                duplicates: 1,
                conflicts: 0
            }
        );
    }

    #[test]
    fn sqlite_wins_whichever_order() {
        for sqlite_first in [true, false] {
            let mut m = Merger::new();
            let (r, s) = (rec("a", 1, Status::Critical), rec("a", 1, Status::Healthy));
            if sqlite_first {
                m.add(s, Source::Sqlite);
                m.add(r, Source::Redis);
            } else {
                m.add(r, Source::Redis);
                m.add(s, Source::Sqlite);
            }
            let (rows, stats) = m.into_sorted();
            assert_eq!(
                rows[0].record.status,
                Status::Healthy,
                "sqlite_first={sqlite_first}"
            );
            assert_eq!(rows[0].source, Source::Both);
            assert_eq!(
                stats,
                MergeStats {
                    duplicates: 1,
                    conflicts: 1
                }
            );
        }
    }

    #[test]
    fn redis_after_both_does_not_override_sqlite() {
        let mut m = Merger::new();
        m.add(rec("a", 1, Status::Healthy), Source::Sqlite);
        m.add(rec("a", 1, Status::Healthy), Source::Redis);
        m.add(rec("a", 1, Status::Critical), Source::Redis);
        let (rows, stats) = m.into_sorted();
        assert_eq!(rows[0].record.status, Status::Healthy);
        assert_eq!(
            stats,
            MergeStats {
                duplicates: 2,
                conflicts: 1
            }
        );
    }

    #[test]
    fn duplicate_within_a_source_keeps_last_and_source() {
        let mut m = Merger::new();
        m.add(rec("a", 1, Status::Healthy), Source::Redis);
        m.add(rec("a", 1, Status::Warnings), Source::Redis);
        let (rows, stats) = m.into_sorted();
        assert_eq!(rows[0].record.status, Status::Warnings);
        assert_eq!(rows[0].source, Source::Redis);
        assert_eq!(stats.duplicates, 1);
    }

    #[test]
    fn sorted_by_timestamp_then_id() {
        let mut m = Merger::new();
        m.add(rec("b", 2, Status::Healthy), Source::Redis);
        m.add(rec("z", 1, Status::Healthy), Source::Sqlite);
        m.add(rec("a", 2, Status::Healthy), Source::Sqlite);
        let ids: Vec<_> = m
            .into_sorted()
            .0
            .into_iter()
            .map(|r| r.record.record_id)
            .collect();
        assert_eq!(ids, ["z", "a", "b"]);
    }
}
