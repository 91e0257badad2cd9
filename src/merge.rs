//! Merge: one row per `record_id` across both sources. SQLite (the durable archive) wins a
//! conflict; within one source the copy read last wins. Pure; no I/O.

use crate::record::{Row, Source};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MergeStats {
    /// Copies folded into another row (each is one record read that is not a row).
    pub duplicates: u64,
    /// Folded copies whose content differed from the row they were folded into.
    pub conflicts: u64,
}

/// Collects every copy, then merges by sorting: no hash map and no second copy of each id,
/// which halves the peak memory of a large day compared with keying a map by `record_id`.
#[derive(Debug, Default)]
pub struct Merger {
    rows: Vec<Row>,
}

impl Merger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source's rows; the first batch is taken over without copying.
    pub fn extend(&mut self, rows: Vec<Row>) {
        if self.rows.is_empty() {
            self.rows = rows;
        } else {
            self.rows.extend(rows);
        }
    }

    /// Folds `later` (a copy read after `kept`) into `kept`.
    fn fold(kept: &mut Row, later: &mut Row, stats: &mut MergeStats) {
        stats.duplicates += 1;
        if kept.record != later.record {
            stats.conflicts += 1;
            let kept_sqlite = matches!(kept.source, Source::Sqlite | Source::Both);
            // The archive is the record of truth; a Redis copy never replaces a SQLite one.
            if later.source == Source::Sqlite || !kept_sqlite {
                // `later` is dropped after this; swapping avoids a copy.
                std::mem::swap(&mut kept.record, &mut later.record);
            }
        }
        if kept.source != later.source {
            kept.source = Source::Both;
        }
    }

    /// The rows in output order (by timestamp, then record_id), one per record_id.
    pub fn into_sorted(self) -> (Vec<Row>, MergeStats) {
        let mut rows = self.rows;
        let mut stats = MergeStats::default();
        // Stable: copies of one id stay in the order they were read, which `fold` relies on.
        rows.sort_by(|a, b| a.record.record_id.cmp(&b.record.record_id));
        rows.dedup_by(|later, kept| {
            if later.record.record_id != kept.record.record_id {
                return false;
            }
            Self::fold(kept, later, &mut stats);
            true
        });
        rows.sort_unstable_by(|a, b| {
            (a.record.ts_ms, &a.record.record_id).cmp(&(b.record.ts_ms, &b.record.record_id))
        });
        (rows, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AgentStatus, CheckStatus, Record, Status};

    /// One copy read from `from`, in reading order.
    fn add(m: &mut Merger, record: Record, from: Source) {
        m.extend(vec![Row {
            record,
            source: from,
        }]);
    }

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
        add(&mut m, rec("a", 1, Status::Healthy), Source::Redis);
        add(&mut m, rec("a", 1, Status::Healthy), Source::Sqlite);
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
                add(&mut m, s, Source::Sqlite);
                add(&mut m, r, Source::Redis);
            } else {
                add(&mut m, r, Source::Redis);
                add(&mut m, s, Source::Sqlite);
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
        add(&mut m, rec("a", 1, Status::Healthy), Source::Sqlite);
        add(&mut m, rec("a", 1, Status::Healthy), Source::Redis);
        add(&mut m, rec("a", 1, Status::Critical), Source::Redis);
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
        add(&mut m, rec("a", 1, Status::Healthy), Source::Redis);
        add(&mut m, rec("a", 1, Status::Warnings), Source::Redis);
        let (rows, stats) = m.into_sorted();
        assert_eq!(rows[0].record.status, Status::Warnings);
        assert_eq!(rows[0].source, Source::Redis);
        assert_eq!(stats.duplicates, 1);
    }

    #[test]
    fn sorted_by_timestamp_then_id() {
        let mut m = Merger::new();
        add(&mut m, rec("b", 2, Status::Healthy), Source::Redis);
        add(&mut m, rec("z", 1, Status::Healthy), Source::Sqlite);
        add(&mut m, rec("a", 2, Status::Healthy), Source::Sqlite);
        let ids: Vec<_> = m
            .into_sorted()
            .0
            .into_iter()
            .map(|r| r.record.record_id)
            .collect();
        assert_eq!(ids, ["z", "a", "b"]);
    }
}
