//! SQLite source (the durable archive): opens the database read-only and selects the day with
//! range conditions on `ts` that its index serves, tolerating a concurrent writer.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{Collector, SourceError};
use crate::day::Day;
use crate::record::{RawRecord, RawValue, Source};

/// How long a read waits for a writer's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Columns the exporter reads, by the field name each becomes. `ts` and `status` are required.
const COLUMNS: [(&str, &str); 12] = [
    ("record_id", "record_id"),
    ("report_type", "report_type"),
    ("ts", "timestamp"),
    ("status", "status"),
    ("duration_ms", "duration_ms"),
    ("host", "host"),
    ("redis_status", "redis_status"),
    ("database_status", "database_status"),
    ("api_status", "api_status"),
    ("launchagent_optimizer", "launchagent_optimizer"),
    ("launchagent_digest", "launchagent_digest"),
    ("checks_json", "checks"),
];
const REQUIRED: [&str; 2] = ["ts", "status"];

/// The canonical table and its `ts` index, for writers to create the archive with.
pub fn ddl(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    record_id             TEXT,               -- optional; derived from report_type:host:ts when NULL
    report_type           TEXT,               -- NULL means 'heartbeat'
    ts                    INTEGER NOT NULL,   -- Unix epoch ms (UTC), or RFC 3339 TEXT with offset
    status                TEXT NOT NULL,      -- healthy | warnings | critical
    duration_ms           INTEGER,
    host                  TEXT,
    redis_status          TEXT,               -- ok | warn | error | unknown
    database_status       TEXT,
    api_status            TEXT,
    launchagent_optimizer TEXT,               -- loaded | not_loaded | unknown
    launchagent_digest    TEXT,
    checks_json           TEXT                -- JSON object: extra check name -> status
);
CREATE INDEX IF NOT EXISTS {table}_ts ON {table} (ts);
"
    )
}

/// A table name we are willing to splice into SQL.
pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn open(path: &Path) -> Result<Connection, SourceError> {
    if !path.exists() {
        return Err(SourceError::Unavailable(anyhow!(
            "SQLite database {} does not exist",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening SQLite database {} read-only", path.display()))
    .map_err(SourceError::Unavailable)?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .context("setting the busy timeout")
        .map_err(SourceError::Unavailable)?;
    Ok(conn)
}

/// The SELECT for one day: two index range scans, one over INTEGER `ts` and one over TEXT `ts`.
/// SQLite orders every number before every text, so each range only meets its own kind. RFC 3339
/// text compares as text, not as time, so the text range is widened by more than any UTC offset
/// and `classify` does the exact cut.
fn day_query(table: &str, present: &[&str]) -> String {
    let cols: Vec<&str> = COLUMNS
        .iter()
        .map(|(c, _)| if present.contains(c) { *c } else { "NULL" })
        .collect();
    let list = cols.join(", ");
    format!(
        "SELECT rowid, {list} FROM {table} WHERE ts >= ?1 AND ts < ?2 \
         UNION ALL \
         SELECT rowid, {list} FROM {table} WHERE ts >= ?3 AND ts < ?4"
    )
}

fn columns_of(conn: &Connection, table: &str, path: &Path) -> Result<Vec<String>, SourceError> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .with_context(|| format!("reading the columns of table {table} in {}", path.display()))
        .map_err(SourceError::Unavailable)?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(1))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the columns of table {table} in {}", path.display()))
        .map_err(SourceError::Unavailable)?;
    Ok(names)
}

/// Reads `day` from `table` into `sink`.
pub fn read(path: &Path, table: &str, day: &Day, sink: &mut Collector) -> Result<(), SourceError> {
    if !valid_table_name(table) {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite table name {table:?} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
        )));
    }
    let conn = open(path)?;
    let present = columns_of(&conn, table, path)?;
    if present.is_empty() {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite database {} has no table {table} (create it with `parquet-exporter sqlite-ddl`)",
            path.display()
        )));
    }
    let present: Vec<&str> = present.iter().map(String::as_str).collect();
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|c| !present.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite table {table} in {} has no column {}",
            path.display(),
            missing.join(" or ")
        )));
    }

    let widen = 2 * 86_400_000; // more than any UTC offset, on both sides
    let text_bound = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let sql = day_query(table, &present);
    // (result column, field name) of the columns the table has; column 0 is the rowid.
    let wanted: Vec<(usize, &str)> = COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, (col, _))| present.contains(col))
        .map(|(i, (_, field))| (i + 1, *field))
        .collect();
    let mut read = || -> anyhow::Result<()> {
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params![
            day.start_ms(),
            day.end_ms(),
            text_bound(day.start_ms() - widen),
            text_bound(day.end_ms() + widen),
        ])?;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            let mut raw = RawRecord::new(Source::Sqlite, format!("rowid {rowid}"));
            for &(i, field) in &wanted {
                raw.fields
                    .insert(field.to_string(), raw_value(row.get_ref(i)?));
            }
            let hint = text_ts_hint(raw.fields.get("timestamp"));
            sink.push(&raw, hint);
        }
        drop(rows);
        let ts_nullable: bool = conn.query_row(
            "SELECT \"notnull\" = 0 FROM pragma_table_info(?1) WHERE name = 'ts'",
            [table],
            |r| r.get(0),
        )?;
        let no_day: i64 = conn.query_row(&no_day_query(table, ts_nullable), [], |r| r.get(0))?;
        sink.no_day(no_day as u64);
        Ok(())
    };
    read()
        .with_context(|| format!("reading table {table} in {}", path.display()))
        .map_err(SourceError::Unavailable)
}

/// Counts rows that no day's ranges can select: NULL `ts`, and text that sorts before any digit
/// or after them (so cannot start with a date). Index range scans only, like the day query.
/// (SQLite answers `ts IS NULL` on a NOT NULL column by walking the whole index, so that part is
/// left out where the column cannot hold NULL.)
fn no_day_query(table: &str, ts_nullable: bool) -> String {
    let nulls = if ts_nullable {
        format!("(SELECT count(*) FROM {table} WHERE ts IS NULL) + ")
    } else {
        String::new()
    };
    format!(
        "SELECT {nulls}(SELECT count(*) FROM {table} WHERE ts >= '' AND ts < '0') \
              + (SELECT count(*) FROM {table} WHERE ts >= ':')"
    )
}

/// Where an unreadable TEXT `ts` belongs. The widened text range selects it on several days;
/// its leading `YYYY-MM-DD` (read as UTC) picks exactly one of them to reject it on. Without a
/// date prefix it is rejected on every day that selects it, rather than on none.
fn text_ts_hint(ts: Option<&RawValue>) -> Option<i64> {
    let Some(RawValue::Text(t)) = ts else {
        return None;
    };
    let date = chrono::NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(12, 0, 0)?.and_utc().timestamp_millis())
}

fn raw_value(v: ValueRef<'_>) -> RawValue {
    match v {
        ValueRef::Null => RawValue::Null,
        ValueRef::Integer(i) => RawValue::Int(i),
        ValueRef::Real(f) => RawValue::Float(f),
        ValueRef::Text(b) | ValueRef::Blob(b) => RawValue::from_bytes(b.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::bail;
    use chrono::NaiveDate;

    /// How SQLite would run the day query.
    fn query_plan(conn: &Connection, table: &str) -> anyhow::Result<Vec<String>> {
        let cols: Vec<String> =
            columns_of(conn, table, Path::new("?")).map_err(|e| anyhow!("{e}"))?;
        if cols.is_empty() {
            bail!("no table {table}");
        }
        let present: Vec<&str> = cols.iter().map(String::as_str).collect();
        let mut stmt = conn.prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            day_query(table, &present)
        ))?;
        let rows = stmt.query_map(rusqlite::params![0, 1, "a", "b"], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn day() -> Day {
        Day::new(
            NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
            "Asia/Bangkok".parse().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn ddl_creates_an_indexed_table_the_day_query_uses() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&ddl("ops_atomic_heartbeats")).unwrap();
        let plan = query_plan(&conn, "ops_atomic_heartbeats").unwrap();
        assert_eq!(
            plan.iter()
                .filter(|l| l.contains("USING INDEX ops_atomic_heartbeats_ts"))
                .count(),
            2,
            "{plan:?}"
        );
        assert!(!plan.iter().any(|l| l.starts_with("SCAN")), "{plan:?}");
        // The no-day count: index searches only, with ts NOT NULL (canonical) and nullable.
        conn.execute_batch("CREATE TABLE n (ts INTEGER, status TEXT); CREATE INDEX n_ts ON n(ts);")
            .unwrap();
        for (table, nullable) in [("ops_atomic_heartbeats", false), ("n", true)] {
            let mut stmt = conn
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN {}",
                    no_day_query(table, nullable)
                ))
                .unwrap();
            let plan: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let searches = plan
                .iter()
                .filter(|l| l.starts_with(&format!("SEARCH {table} USING COVERING INDEX")))
                .count();
            assert_eq!(searches, if nullable { 3 } else { 2 }, "{plan:?}");
            assert!(
                !plan.iter().any(|l| l.starts_with(&format!("SCAN {table}"))),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn table_names_are_checked() {
        assert!(valid_table_name("ops_atomic_heartbeats"));
        assert!(!valid_table_name("x; DROP TABLE y"));
        assert!(!valid_table_name("1abc"));
        assert!(!valid_table_name(""));
    }

    #[test]
    fn mixed_ts_kinds_and_missing_optional_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (ts, status TEXT, host TEXT);
             CREATE INDEX t_ts ON t(ts);
             INSERT INTO t VALUES (1761757200000, 'ok', 'int-first-ms');        -- 2025-10-29T17:00Z = day start
             INSERT INTO t VALUES ('2025-10-30T16:59:59.999Z', 'ok', 'text-last-ms');
             INSERT INTO t VALUES ('2025-10-31T00:00:00+07:00', 'ok', 'text-next-day');
             INSERT INTO t VALUES (1761757199999, 'ok', 'int-prev-day');
             INSERT INTO t VALUES ('2025-10-30T12:00:00Z', 'bogus', 'text-bad-status');
             INSERT INTO t VALUES (NULL, 'ok', 'no-ts');
             INSERT INTO t VALUES ('yesterday', 'ok', 'words');",
        )
        .unwrap();
        drop(conn);
        let day = day();
        let mut c = Collector::new(&day, Source::Sqlite);
        read(&path, "t", &day, &mut c).unwrap();
        let out = c.finish();
        let mut hosts: Vec<_> = out
            .records
            .iter()
            .map(|r| r.record.host.clone().unwrap())
            .collect();
        hosts.sort();
        assert_eq!(hosts, ["int-first-ms", "text-last-ms"]);
        assert_eq!(out.counts.read, 3);
        assert_eq!(out.counts.rejected, 1);
        assert_eq!(out.rejects[0].reason_code, "unknown_status");
        // The previous day's integer is outside the index range; the next day's text is inside
        // the widened text range and cut by its timestamp.
        assert_eq!(out.counts.other_day, 1);
        assert_eq!(
            out.counts.no_day, 2,
            "NULL and 'yesterday' belong to no day"
        );
    }

    #[test]
    fn an_unreadable_text_ts_is_rejected_on_one_day_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&ddl("t")).unwrap();
        conn.execute_batch("INSERT INTO t (ts, status) VALUES ('2025-10-30T25:99:00Z', 'ok');")
            .unwrap();
        drop(conn);
        let mut rejected_on = Vec::new();
        for d in 27..=33 {
            let date = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap() + chrono::Days::new(d - 1);
            let day = Day::new(date, "UTC".parse().unwrap()).unwrap();
            let mut c = Collector::new(&day, Source::Sqlite);
            read(&path, "t", &day, &mut c).unwrap();
            let out = c.finish();
            if out.counts.rejected > 0 {
                assert_eq!(out.rejects[0].reason_code, "bad_timestamp");
                rejected_on.push(day.to_string());
            }
        }
        assert_eq!(rejected_on, ["2025-10-30"]);
    }

    #[test]
    fn missing_table_and_column_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE only_ts (ts INTEGER);")
            .unwrap();
        let day = day();
        let mut c = Collector::new(&day, Source::Sqlite);
        let err = read(&path, "nope", &day, &mut c).unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)));
        assert!(err.to_string().contains("no table nope"), "{err}");
        let err = read(&path, "only_ts", &day, &mut c).unwrap_err();
        assert!(err.to_string().contains("no column status"), "{err}");
        let err = read(&dir.path().join("missing.db"), "t", &day, &mut c).unwrap_err();
        assert!(matches!(err, SourceError::Unavailable(_)), "{err}");
        assert!(
            !dir.path().join("missing.db").exists(),
            "read-only open creates nothing"
        );
    }
}
