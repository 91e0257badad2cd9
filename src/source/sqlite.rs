//! SQLite source (the durable archive): opens the database read-only and selects the day with
//! range conditions on `ts` that its index serves, tolerating a concurrent writer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::typed::{CheckKey, Typed, Val};
use super::{Collector, SourceError};
use crate::columns::{Col, SqliteColumn, COLUMNS};
use crate::day::Day;
use crate::record::{text_timestamp_ms, Filed, RawRecord, RawValue, Source, EPOCH_MS_RANGE};

/// How long a read waits for a writer's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The columns the exporter reads (`columns::COLUMNS`' SQLite columns), in file order, with
/// the schema column each becomes.
fn read_columns() -> impl Iterator<Item = (&'static SqliteColumn, Col)> {
    COLUMNS
        .iter()
        .filter_map(|c| c.sqlite.as_ref().map(|s| (s, c.col)))
}

/// Columns a table must have (`ts` and `status`).
fn required() -> impl Iterator<Item = &'static str> {
    read_columns()
        .filter(|(s, _)| s.required)
        .map(|(s, _)| s.name)
}

/// `name` as a quoted SQL identifier: keywords and any other characters work as table names,
/// and nothing in the name can end the quote.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The canonical table and its `ts` index, for writers to create the archive with.
pub fn ddl(table: &str) -> String {
    let index = quoted(&format!("{table}_ts"));
    let table = quoted(table);
    let columns: Vec<&SqliteColumn> = read_columns().map(|(s, _)| s).collect();
    let width = columns.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = format!("CREATE TABLE IF NOT EXISTS {table} (\n");
    for (i, s) in columns.iter().enumerate() {
        let not_null = if s.required { " NOT NULL" } else { "" };
        let comma = if i + 1 < columns.len() { "," } else { "" };
        let decl = format!("{}{not_null}{comma}", s.ty);
        let line = match s.note {
            "" => format!("    {:width$} {decl}", s.name),
            note => format!("    {:width$} {decl:19} -- {note}", s.name),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        ");\nCREATE INDEX IF NOT EXISTS {index} ON {table} (ts);\n"
    ));
    out
}

/// A table name the exporter accepts: any name SQLite can hold (it is always quoted), but not
/// an empty one or one with control characters, which are typing mistakes.
pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_control)
}

fn open(path: &Path) -> Result<Connection, SourceError> {
    if !path.exists() {
        return Err(SourceError::Unavailable(anyhow!(
            "SQLite database {} does not exist",
            path.display()
        )));
    }
    // SQLite would block on a FIFO and call a directory "disk I/O error".
    crate::fsio::ensure_regular_or_missing(path)
        .map_err(|e| SourceError::Invalid(anyhow!("SQLite database: {e}")))?;
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

/// The two SELECTs of one day, each row led by `locator` (`locator_of`): index range scans in
/// `ts` order, one over numeric `ts` and one over TEXT `ts`. SQLite orders every number before
/// every text (`ts < ''` keeps the first scan to numbers, even where the column's TEXT affinity
/// would compare the bounds as text). RFC 3339 text compares as text, not as time, so the text
/// range is widened by more than any UTC offset and `classify` does the exact cut. Both take
/// their range as `?1`, `?2`.
fn day_queries(table: &str, present: &[&str], locator: &str) -> [String; 2] {
    let cols: Vec<&str> = read_columns()
        .map(|(s, _)| {
            if present.contains(&s.name) {
                s.name
            } else {
                "NULL"
            }
        })
        .collect();
    let list = cols.join(", ");
    let table = quoted(table);
    [
        format!(
            "SELECT {locator}, {list} FROM {table} WHERE ts >= ?1 AND ts < ?2 AND ts < '' \
             ORDER BY ts"
        ),
        format!("SELECT {locator}, {list} FROM {table} WHERE ts >= ?1 AND ts < ?2 ORDER BY ts"),
    ]
}

/// Where a row's `ts` puts it in time, to read the two scans in step: a number is its ms; RFC
/// 3339 text its instant. Other text comes first (it bounds nothing); the scans' order holds
/// for text of one UTC offset, and where it does not, the merge notices a late row and merges
/// the day again whole.
fn time_key(ts: ValueRef<'_>) -> i64 {
    match ts {
        ValueRef::Integer(n) => n,
        ValueRef::Real(f) => f as i64,
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(i64::MIN, |t| t.timestamp_millis()),
        ValueRef::Null | ValueRef::Blob(_) => i64::MIN,
    }
}

/// What names a row in the rejects: its rowid, or in a `WITHOUT ROWID` table (which has none)
/// its primary key, as SQL literals (`primary key 'r-1'`).
fn locator_of(conn: &Connection, table: &str) -> rusqlite::Result<String> {
    let without_rowid: bool = conn
        .query_row("SELECT wr FROM pragma_table_list(?1)", [table], |r| {
            r.get(0)
        })
        .unwrap_or(false);
    if !without_rowid {
        return Ok("rowid".to_string());
    }
    let mut stmt =
        conn.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")?;
    let keys = stmt
        .query_map([table], |r| r.get::<_, String>(0))?
        .map(|k| k.map(|k| format!("quote({})", quoted(&k))))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(format!("'primary key ' || {}", keys.join(" || ', ' || ")))
}

/// The result column of `ts` in `day_query` (after the locator).
fn ts_column() -> usize {
    1 + read_columns()
        .position(|(_, c)| c == Col::Timestamp)
        .expect("the archive has a ts column")
}

fn columns_of(conn: &Connection, table: &str, path: &Path) -> Result<Vec<String>, SourceError> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", quoted(table)))
        .with_context(|| format!("reading the columns of table {table} in {}", path.display()))
        .map_err(SourceError::Unavailable)?;
    let names = stmt
        // SQLite matches identifiers without regard to ASCII case: `TS` is `ts`.
        .query_map([], |row| Ok(row.get::<_, String>(1)?.to_ascii_lowercase()))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the columns of table {table} in {}", path.display()))
        .map_err(SourceError::Unavailable)?;
    Ok(names)
}

/// The columns of `table` (lower case), once it is known to be a table with the required ones.
fn table_columns(conn: &Connection, table: &str, path: &Path) -> Result<Vec<String>, SourceError> {
    // A view has no rowid to name rejects by, and nothing says its day query can use an index.
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE",
            [table],
            |r| r.get(0),
        )
        .ok();
    if kind.as_deref() == Some("view") {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite {table} in {} is a view, not a table: give the table it reads \
             (--sqlite-table)",
            path.display()
        )));
    }
    let present = columns_of(conn, table, path)?;
    if present.is_empty() {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite database {} has no table {table} (create it with `parquet-exporter sqlite-ddl`)",
            path.display()
        )));
    }
    let missing: Vec<&str> = required()
        .filter(|c| !present.iter().any(|p| p == c))
        .collect();
    if !missing.is_empty() {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite table {table} in {} has no column {}",
            path.display(),
            missing.join(" or ")
        )));
    }
    Ok(present)
}

/// Reads `day` from `table` into `sink`.
pub fn read(path: &Path, table: &str, day: &Day, sink: &mut Collector) -> Result<(), SourceError> {
    if !valid_table_name(table) {
        return Err(SourceError::Invalid(anyhow!(
            "SQLite table name {table:?} is empty or holds control characters"
        )));
    }
    let conn = open(path)?;
    read_open(&conn, path, table, day, sink).map_err(|e| out_of_descriptors(&conn, e))
}

/// One row of the day's scans into the sink: its values as they are, for the typed path.
fn take_row(
    row: &rusqlite::Row,
    ts_column: usize,
    wanted: &[(usize, Col)],
    raw: &mut RawRecord,
    sink: &mut Collector,
) -> anyhow::Result<()> {
    let filed = match row.get_ref(ts_column)? {
        // Where a text `ts` belongs when it cannot be read: its leading date. The widened range
        // selects it on several days; that date picks one of them.
        ValueRef::Text(t) => match date_prefix_noon(t) {
            Some(at_ms) => Filed::At {
                at_ms,
                max_drift_ms: None,
            },
            // No leading date: on no day, and counted in `no_day`.
            None => return Ok(()),
        },
        _ => Filed::Selected,
    };
    let mut t = Typed::default();
    for &(i, col) in wanted {
        let v = match row.get_ref(i)? {
            ValueRef::Null => continue,
            ValueRef::Integer(n) => Val::Int(n),
            ValueRef::Text(b) => Val::Text(b),
            ValueRef::Real(_) | ValueRef::Blob(_) => Val::Other,
        };
        match (col, v) {
            (Col::Checks, Val::Text(b)) => t.checks = CheckKey::Json(b),
            (Col::Checks, _) => t.checks = CheckKey::Other,
            (col, v) => t.vals[col as usize] = Some(v),
        }
    }
    sink.push_typed(&t, filed, move || raw_row(raw, row, wanted))?;
    Ok(())
}

/// A read that failed because this machine ran out of file descriptors, as that: SQLite opens
/// the file at the first statement and calls any failure to open it "unable to open database
/// file", which would report the archive as unavailable (and the day as partial) when the fault
/// is the machine's.
fn out_of_descriptors(conn: &Connection, e: SourceError) -> SourceError {
    // SAFETY: the handle is the open connection's, and reading its errno changes nothing.
    let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
    match (e, errno) {
        // EMFILE and ENFILE, on Linux and on macOS.
        (SourceError::Unavailable(e), 23 | 24) => {
            SourceError::Local(e.context(std::io::Error::from_raw_os_error(errno)))
        }
        (e, _) => e,
    }
}

fn read_open(
    conn: &Connection,
    path: &Path,
    table: &str,
    day: &Day,
    sink: &mut Collector,
) -> Result<(), SourceError> {
    let present = table_columns(conn, table, path)?;
    let present: Vec<&str> = present.iter().map(String::as_str).collect();

    let widen = 2 * 86_400_000; // more than any UTC offset, on both sides
    let text_bound = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let locator = locator_of(conn, table)
        .with_context(|| {
            format!(
                "reading the primary key of table {table} in {}",
                path.display()
            )
        })
        .map_err(SourceError::Unavailable)?;
    let [numbers, texts] = day_queries(table, &present, &locator);
    // (result column, schema column) of the columns the table has; column 0 is the locator.
    let wanted: Vec<(usize, Col)> = read_columns()
        .enumerate()
        .filter(|(_, (s, _))| present.contains(&s.name))
        .map(|(i, (_, col))| (i + 1, col))
        .collect();
    let ts_column = ts_column();
    let mut read = || -> anyhow::Result<()> {
        let (mut numbers, mut texts) = (conn.prepare(&numbers)?, conn.prepare(&texts)?);
        // Numbers outside the valid epoch range are on no day (and counted in `no_day`).
        let valid = EPOCH_MS_RANGE;
        let mut numbers = numbers.query(rusqlite::params![
            day.start_ms().clamp(valid.start, valid.end),
            day.end_ms().clamp(valid.start, valid.end),
        ])?;
        let mut texts = texts.query(rusqlite::params![
            text_bound(day.start_ms() - widen),
            text_bound(day.end_ms() + widen),
        ])?;
        // One record reused for every row: its field vector and locator keep their buffers.
        let mut raw = RawRecord::new(Source::Sqlite, String::new());
        let key = |rows: &rusqlite::Rows| -> rusqlite::Result<Option<i64>> {
            rows.get()
                .map(|r| r.get_ref(ts_column).map(time_key))
                .transpose()
        };
        numbers.advance()?;
        texts.advance()?;
        let (mut next_number, mut next_text) = (key(&numbers)?, key(&texts)?);
        // The two scans read in step, the earlier row first: each row's time then bounds
        // every later row's, and the merge hands the day on as it goes (`Collector::flush`).
        loop {
            let from_numbers = match (next_number, next_text) {
                (None, None) => break,
                (Some(n), Some(t)) => n <= t,
                (n, _) => n.is_some(),
            };
            let (rows, at) = match from_numbers {
                true => (&mut numbers, next_number),
                false => (&mut texts, next_text),
            };
            sink.flush(at.expect("a row is next"));
            if sink.stopped() {
                return Ok(());
            }
            let row = rows.get().expect("a row is next");
            take_row(row, ts_column, &wanted, &mut raw, sink)?;
            rows.advance()?;
            match from_numbers {
                true => next_number = key(&numbers)?,
                false => next_text = key(&texts)?,
            }
        }
        drop((numbers, texts));
        let ts_nullable: bool = conn.query_row(
            "SELECT \"notnull\" = 0 FROM pragma_table_info(?1) WHERE lower(name) = 'ts'",
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

/// The general path's record for a row of `day_query`, in `raw` (reused from row to row).
fn raw_row<'r>(
    raw: &'r mut RawRecord,
    row: &rusqlite::Row,
    wanted: &[(usize, Col)],
) -> rusqlite::Result<&'r RawRecord> {
    raw.locator.clear();
    match row.get_ref(0)? {
        ValueRef::Integer(rowid) => {
            raw.locator.push_str("rowid ");
            raw.locator.push_str(itoa::Buffer::new().format(rowid));
        }
        // A `WITHOUT ROWID` table's primary key, already text (`locator_of`).
        other => raw
            .locator
            .push_str(&String::from_utf8_lossy(other.as_bytes()?)),
    }
    raw.fields.clear();
    for &(i, col) in wanted {
        let field = col.name();
        match row.get_ref(i)? {
            ValueRef::Null => raw.fields.insert(field, RawValue::Null),
            ValueRef::Integer(n) => raw.fields.insert(field, RawValue::Int(n)),
            ValueRef::Real(f) => raw.fields.insert(field, RawValue::Float(f)),
            ValueRef::Text(b) | ValueRef::Blob(b) => raw.fields.insert_bytes(field, b),
        }
    }
    Ok(raw)
}

/// For the deployment report's health check: opens the archive read-only, as the export does,
/// checks the table has `ts`, and returns its newest record time (Unix ms) at or before `now_ms`
/// and its oldest after it. Index range searches: epoch numbers on each side of now, and the
/// text entries from the largest down (RFC 3339 text sorts by time within one UTC offset), of
/// which at most `TEXT_PROBE` are parsed.
pub fn newest_ms(path: &Path, table: &str, now_ms: i64) -> anyhow::Result<super::Newest> {
    const TEXT_PROBE: usize = 1000;
    let conn = open(path).map_err(|e| anyhow!("{e}"))?;
    let present = columns_of(&conn, table, path).map_err(|e| anyhow!("{e}"))?;
    if !present.iter().any(|c| c == "ts") {
        return Err(anyhow!(
            "SQLite database {} has no table {table} with a ts column",
            path.display()
        ));
    }
    let t = quoted(table);
    let read = || -> rusqlite::Result<super::Newest> {
        let number = |sql: &str, lo: i64, hi: i64| -> rusqlite::Result<Option<i64>> {
            conn.query_row(sql, rusqlite::params![lo, hi], |r| r.get(0))
        };
        let mut newest = super::Newest {
            at_or_before_now: number(
                &format!("SELECT CAST(MAX(ts) AS INTEGER) FROM {t} WHERE ts >= ?1 AND ts <= ?2 AND ts < ''"),
                EPOCH_MS_RANGE.start,
                now_ms,
            )?,
            after_now: number(
                &format!("SELECT CAST(MIN(ts) AS INTEGER) FROM {t} WHERE ts > ?1 AND ts < ?2 AND ts < ''"),
                now_ms,
                EPOCH_MS_RANGE.end,
            )?,
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT ts FROM {t} WHERE ts >= '' AND ts < x'' ORDER BY ts DESC LIMIT {TEXT_PROBE}"
        ))?;
        let texts = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for text in texts {
            let Some(ms) = text_timestamp_ms(&text?) else {
                continue;
            };
            if ms <= now_ms {
                newest.at_or_before_now = newest.at_or_before_now.max(Some(ms));
                break;
            }
            newest.after_now = Some(newest.after_now.map_or(ms, |a| a.min(ms)));
        }
        Ok(newest)
    };
    read().with_context(|| {
        format!(
            "reading the newest ts of table {table} in {}",
            path.display()
        )
    })
}

/// Counts the rows that no day selects, so that every row of the table is either read on
/// exactly one day or counted here: NULL `ts`; numbers before 1970 or from the year 10000 on
/// (`EPOCH_MS_RANGE`); text without a valid leading `YYYY-MM-DD` (the same test as
/// `date_prefix_noon`); BLOBs. Index range searches only: the text part walks the text entries
/// of the index, which a table with INTEGER `ts` (the canonical layout) does not have.
/// (SQLite answers `ts IS NULL` on a NOT NULL column by walking the whole index, so that part is
/// left out where the column cannot hold NULL.)
fn no_day_query(table: &str, ts_nullable: bool) -> String {
    let table = quoted(table);
    let nulls = if ts_nullable {
        format!("(SELECT count(*) FROM {table} WHERE ts IS NULL) + ")
    } else {
        String::new()
    };
    let (lo, hi) = (EPOCH_MS_RANGE.start, EPOCH_MS_RANGE.end);
    format!(
        "SELECT {nulls}(SELECT count(*) FROM {table} WHERE ts < {lo} AND ts < '') \
              + (SELECT count(*) FROM {table} WHERE ts >= {hi} AND ts < '') \
              + (SELECT count(*) FROM {table} WHERE ts >= '' \
                 AND (typeof(ts) = 'blob' OR date(substr(ts, 1, 10)) IS NOT substr(ts, 1, 10)))"
    )
}

/// UTC noon of a text `ts`'s leading `YYYY-MM-DD`, or `None` when it has no valid one. Agrees
/// with SQLite's `date(substr(ts, 1, 10)) IS substr(ts, 1, 10)`, which `no_day_query` uses.
fn date_prefix_noon(t: &[u8]) -> Option<i64> {
    let p = t.get(..10)?;
    let shape = p.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        _ => b.is_ascii_digit(),
    });
    if !shape {
        return None;
    }
    let date = chrono::NaiveDate::parse_from_str(std::str::from_utf8(p).ok()?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(12, 0, 0)?.and_utc().timestamp_millis())
}

/// The SQLite archive as a source: its file (opened read-only) and table.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    pub path: PathBuf,
    pub table: String,
}

impl super::DaySource for SqliteSource {
    fn origin(&self) -> Source {
        Source::Sqlite
    }

    fn location(&self) -> String {
        format!("{} table {}", self.path.display(), self.table)
    }

    /// The durable archive is the record of truth: its copy wins over the hot buffer's.
    fn precedence(&self) -> u8 {
        2
    }

    fn read_day(&self, day: &Day, sink: &mut Collector) -> Result<(), SourceError> {
        read(&self.path, &self.table, day, sink)
    }

    fn newest(&self, now_ms: i64) -> anyhow::Result<super::Newest> {
        newest_ms(&self.path, &self.table, now_ms)
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
        let mut plan = Vec::new();
        for sql in day_queries(table, &present, &locator_of(conn, table)?) {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(rusqlite::params![0, 1], |r| r.get::<_, String>(3))?;
            plan.extend(rows.collect::<Result<Vec<_>, _>>()?);
        }
        Ok(plan)
    }

    fn day() -> Day {
        Day::new(
            NaiveDate::from_ymd_opt(2025, 10, 30).unwrap(),
            "Asia/Bangkok".parse().unwrap(),
        )
        .unwrap()
    }

    /// The canonical table as writers have it, byte for byte: `sqlite-ddl` prints it and
    /// `simulate` creates it.
    #[test]
    fn the_ddl_is_the_canonical_text() {
        assert_eq!(
            ddl("ops_atomic_heartbeats"),
            r#"CREATE TABLE IF NOT EXISTS "ops_atomic_heartbeats" (
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
CREATE INDEX IF NOT EXISTS "ops_atomic_heartbeats_ts" ON "ops_atomic_heartbeats" (ts);
"#
        );
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
            assert_eq!(searches, if nullable { 4 } else { 3 }, "{plan:?}");
            assert!(
                !plan.iter().any(|l| l.starts_with(&format!("SCAN {table}"))),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn any_table_name_works_quoted() {
        assert!(valid_table_name("ops_atomic_heartbeats"));
        assert!(valid_table_name("order"));
        assert!(!valid_table_name("a\nb"));
        assert!(!valid_table_name(""));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = Connection::open(&path).unwrap();
        for name in ["order", "select", "x\"; DROP TABLE y; --", "with space"] {
            conn.execute_batch(&ddl(name)).unwrap();
            conn.execute(
                &format!(
                    "INSERT INTO {} (ts, status) VALUES (1761800000000, 'ok')",
                    quoted(name)
                ),
                [],
            )
            .unwrap();
            let day = day();
            let mut c = Collector::new(&day, Source::Sqlite);
            read(&path, name, &day, &mut c).unwrap();
            assert_eq!(c.finish().records.len(), 1, "{name}");
        }
    }

    /// Every row of a table with every odd kind of `ts`, under each column affinity, is read on
    /// exactly one day or counted in `no_day`, never both and never neither.
    #[test]
    fn every_row_is_on_exactly_one_day_or_counted_as_on_none() {
        // (ts literal, on a day?) The days are around 2025-10-30 in Bangkok.
        let cases: &[(&str, bool)] = &[
            ("1761800000000", true),   // INTEGER ms
            ("1761757200000", true),   // first ms of the Bangkok day
            ("1761800000000.5", true), // REAL, not whole: rejected on its day
            ("1761800000000.0", true), // REAL, whole ms: a record
            ("-1", false),             // before 1970
            ("-1761800000000.5", false),
            ("253402300800000", false),            // year 10000
            ("9e999", false),                      // +Inf
            ("'2025-10-30T12:00:00Z'", true),      // RFC 3339
            ("'2025-10-31T00:30:00+07:00'", true), // on the next Bangkok day
            ("'2025-10-30T25:99:00Z'", true),      // unreadable, dated: rejected once
            ("'2025-10-30'", true),                // a date alone: rejected once
            ("'2025-13-45T00:00:00Z'", false),     // no valid leading date
            ("'2025-02-30T00:00:00Z'", false),
            ("'2025-10-32T00:00:00Z'", false), // in the window's text range
            ("'2025-10-3x'", false),
            ("'1761800000000'", false), // digits as text (INTEGER affinity makes it a number)
            ("'-1761800000000'", false),
            ("' 2025-10-30T12:00:00Z'", false), // leading space
            ("'yesterday'", false),
            ("''", false),
            ("x'323032352d31302d3330'", false), // BLOB '2025-10-30'
            ("NULL", false),
        ];
        for decl in ["ts", "ts INTEGER", "ts TEXT", "ts NUMERIC"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.db");
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE t ({decl}, status TEXT, host TEXT); CREATE INDEX t_ts ON t(ts);"
            ))
            .unwrap();
            let mut expect_on_day = std::collections::BTreeSet::new();
            let mut expect_no_day = 0;
            for (ts, on_day) in cases {
                conn.execute(
                    &format!(
                        "INSERT INTO t VALUES ({ts}, 'ok', 'row ' || (SELECT count(*) + 1 FROM t))"
                    ),
                    [],
                )
                .unwrap();
                let rowid = conn.last_insert_rowid();
                // TEXT affinity turns numbers into text, which then has no leading date.
                let stored: String = conn
                    .query_row("SELECT typeof(ts) FROM t WHERE rowid = ?1", [rowid], |r| {
                        r.get(0)
                    })
                    .unwrap();
                let numeric_as_text = decl == "ts TEXT"
                    && !ts.starts_with('\'')
                    && *ts != "NULL"
                    && !ts.starts_with("x'");
                assert!(
                    !numeric_as_text || stored == "text" || stored == "real",
                    "{ts}: {stored}"
                );
                let digits_made_number = ts.starts_with("'1") && stored == "integer";
                let on_day =
                    (*on_day && !(numeric_as_text && stored == "text")) || digits_made_number;
                if on_day {
                    expect_on_day.insert(format!("row {rowid}"));
                } else {
                    expect_no_day += 1;
                }
            }
            drop(conn);
            let mut seen = Vec::new();
            for d in 20..=40 {
                let date = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap() + chrono::Days::new(d);
                let day = Day::new(date, "Asia/Bangkok".parse().unwrap()).unwrap();
                let mut c = Collector::new(&day, Source::Sqlite);
                read(&path, "t", &day, &mut c).unwrap();
                let out = c.finish();
                assert_eq!(out.counts.no_day, expect_no_day, "{decl}: no_day on {day}");
                seen.extend(out.records.iter().map(|r| r.host().unwrap().to_string()));
                seen.extend(
                    out.rejects
                        .iter()
                        .map(|r| r.record["host"].as_str().unwrap().to_string()),
                );
            }
            let unique: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "{decl}: a row on two days: {seen:?}"
            );
            assert_eq!(unique, expect_on_day, "{decl}");
        }
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
            .map(|r| r.host().unwrap().to_string())
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
    fn a_view_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&ddl("ops_atomic_heartbeats")).unwrap();
        conn.execute_batch("CREATE VIEW beats AS SELECT * FROM ops_atomic_heartbeats")
            .unwrap();
        drop(conn);
        let day = Day::new("2025-10-30".parse().unwrap(), "UTC".parse().unwrap()).unwrap();
        let mut sink = Collector::new(&day, Source::Sqlite);
        let err = read(&path, "beats", &day, &mut sink).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("is a view, not a table"), "{text}");
        assert_eq!(text.lines().count(), 1);
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
