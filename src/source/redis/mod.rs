//! Redis source (the hot buffer): reads the day's stream entry-ID range, widened by a margin,
//! in windows of `XRANGE … COUNT n`, each asked for while the one before is read, and reads flat
//! and JSON entries. Never writes to the stream.

mod address;
mod entry;

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use redis::{Client, Connection, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

use self::entry::{fill_entry, id_ms, parse_entries, scalar_pairs};
use super::resp::{Oversized, Page, Plain, ServerError};
use super::typed::Typed;
use super::{Collector, Shortfall, SourceError};
use crate::day::Day;
use crate::record::{Filed, RawRecord, Source};

pub use self::address::{
    redact, refuse_on_command_line, url_has_password, RedisAddress, ENV_REDIS_PASSWORD,
    ENV_REDIS_URL,
};
#[cfg(test)]
pub use self::entry::entry_record;

/// How long to wait for a connection, and for each reply.
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub use super::resp::MAX_PAGE_SIZE;

/// The target's URL parsed as redis-rs parses it, with the password from the environment when
/// the URL has none.
fn connection_info(target: &RedisAddress) -> Result<ConnectionInfo> {
    let mut info = target
        .url
        .as_str()
        .into_connection_info()
        .with_context(|| format!("parsing Redis URL {}", redact(&target.url)))?;
    if info.redis_settings().password().is_none() {
        if let Some(pw) = &target.password {
            let settings = info.redis_settings().clone().set_password(pw);
            info = info.set_redis_settings(settings);
        }
    }
    Ok(info)
}

pub fn connect(target: &RedisAddress) -> Result<Connection> {
    client_connection(target, connection_info(target)?)
}

/// A connection through the redis crate (any URL, TLS included).
fn client_connection(target: &RedisAddress, info: ConnectionInfo) -> Result<Connection> {
    let client = match &target.ca_file {
        None => Client::open(info),
        Some(ca) => {
            // Never blocks on a FIFO: this read comes before any deadline applies.
            let pem = crate::fsio::read_bytes(ca, crate::fsio::TEXT_LIMIT)
                .with_context(|| format!("reading Redis CA certificate {}", ca.display()))?;
            Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
        }
    }
    .with_context(|| format!("Redis at {}", redact(&target.url)))?;
    let conn = client
        .get_connection_with_timeout(TIMEOUT)
        .with_context(|| format!("connecting to Redis at {}", redact(&target.url)))?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    conn.set_write_timeout(Some(TIMEOUT))?;
    Ok(conn)
}

/// Reads the entries of `key` whose IDs fall in the day widened by `margin`, `page` at a time.
/// Errors come back with the target's secrets scrubbed out.
pub fn read(
    target: &RedisAddress,
    key: &str,
    day: &Day,
    margin: Duration,
    page: usize,
    timeout: Duration,
    sink: &mut Collector,
) -> Result<(), SourceError> {
    let scrub = |e: anyhow::Error| anyhow!(target.scrub(&format!("{e:#}")));
    let deadline = std::time::Instant::now() + timeout;
    read_stream(target, key, day, margin, page, deadline, sink).map_err(|e| e.map(scrub))
}

/// What the page loop needs of a connection: send an encoded command, and read a reply as a
/// stream type or as a page of entries. Errors say whether the source is unavailable (I/O, an
/// error reply) or not what the contract describes (a malformed reply).
trait StreamConnection {
    fn send(&mut self, packed: &[u8]) -> Result<(), SourceError>;
    fn key_type(&mut self, key: &str) -> Result<String, SourceError>;
    /// Reads the next page of entries into `page`: at most `max`, the COUNT asked for.
    fn entries(&mut self, page: &mut Page, max: usize) -> Result<(), SourceError>;

    /// `XINFO STREAM key` as its scalar fields by name, or the server's reason for refusing it
    /// (an ACL without XINFO, an old Redis): the caller then asks XRANGE alone.
    fn stream_info(&mut self, key: &str) -> Result<StreamInfo, SourceError>;

    /// Moves the read's deadline to `to` (later: the read waited on the merge meanwhile).
    fn extend_deadline(&mut self, _to: std::time::Instant) {}

    /// The millisecond of the stream's first entry (`XRANGE key - + COUNT 1`), `None` when it
    /// has none.
    fn first_entry_ms(&mut self, key: &str) -> Result<Option<i64>, SourceError> {
        self.send(
            &redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .get_packed_command(),
        )?;
        let mut page = Page::default();
        self.entries(&mut page, 1).map_err(|e| match e {
            SourceError::Unavailable(e) => {
                SourceError::Unavailable(e.context(format!("XRANGE {key} - + COUNT 1")))
            }
            e => e,
        })?;
        Ok((page.len() > 0)
            .then(|| std::str::from_utf8(page.entry(0).0).ok().and_then(id_ms))
            .flatten())
    }

    /// What the stream says of its head: where it begins now, and (Redis 7) whether any entry
    /// was ever removed from it (`entries-added` above `length`: trimmed or deleted).
    fn stream_head(&mut self, key: &str) -> Result<Head, SourceError> {
        let why = match self.stream_info(key)? {
            StreamInfo::Fields(info) => {
                let field = |name: &str| info.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok());
                if let (Some(added), Some(length)) = (number("entries-added"), number("length")) {
                    return Ok(Head {
                        oldest_ms: field("recorded-first-entry-id")
                            .and_then(|id| id_ms(id))
                            .filter(|_| length > 0),
                        removed: Ok(added > length),
                    });
                }
                "XINFO STREAM does not count the entries ever added (Redis before 7.0)".into()
            }
            StreamInfo::Refused(why) => format!("Redis refused XINFO STREAM {key}: {why}"),
        };
        Ok(Head {
            oldest_ms: self.first_entry_ms(key)?,
            removed: Err(why),
        })
    }
}

impl StreamConnection for Connection {
    fn send(&mut self, packed: &[u8]) -> Result<(), SourceError> {
        self.send_packed_command(packed)
            .context("sending a command")
            .map_err(SourceError::Unavailable)
    }

    fn key_type(&mut self, key: &str) -> Result<String, SourceError> {
        redis::cmd("TYPE")
            .arg(key)
            .query(self)
            .with_context(|| format!("asking Redis for the type of {key}"))
            .map_err(SourceError::Unavailable)
    }

    fn stream_info(&mut self, key: &str) -> Result<StreamInfo, SourceError> {
        let reply = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .query::<Value>(self);
        match reply {
            Ok(v) => Ok(StreamInfo::Fields(scalar_pairs(v))),
            Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => Err(
                SourceError::Unavailable(anyhow!(e).context(format!("XINFO STREAM {key}"))),
            ),
            Err(e) => Ok(StreamInfo::Refused(e.to_string())),
        }
    }

    fn entries(&mut self, page: &mut Page, _max: usize) -> Result<(), SourceError> {
        let reply = self
            .recv_response()
            .and_then(Value::extract_error)
            .map_err(|e| SourceError::Unavailable(e.into()))?;
        parse_entries(reply, page).map_err(SourceError::Invalid)
    }
}

impl StreamConnection for Plain {
    fn extend_deadline(&mut self, to: std::time::Instant) {
        self.set_deadline(to);
    }

    fn send(&mut self, packed: &[u8]) -> Result<(), SourceError> {
        Plain::send(self, packed)
            .context("sending a command")
            .map_err(SourceError::Unavailable)
    }

    fn key_type(&mut self, key: &str) -> Result<String, SourceError> {
        self.simple(&redis::cmd("TYPE").arg(key).get_packed_command())
            .with_context(|| format!("asking Redis for the type of {key}"))
            .map_err(SourceError::Unavailable)
    }

    fn stream_info(&mut self, key: &str) -> Result<StreamInfo, SourceError> {
        let cmd = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .get_packed_command();
        match self.scalar_map(&cmd) {
            Ok(map) => Ok(StreamInfo::Fields(map)),
            Err(e) if e.downcast_ref::<ServerError>().is_some() => {
                Ok(StreamInfo::Refused(e.to_string()))
            }
            Err(e) => Err(SourceError::Unavailable(
                e.context(format!("XINFO STREAM {key}")),
            )),
        }
    }

    fn entries(&mut self, page: &mut Page, max: usize) -> Result<(), SourceError> {
        Plain::entries(self, page, max).map_err(|e| {
            // A reply too long to read leaves the connection out of step: nothing more of the
            // stream can be read, as when the connection is lost.
            let unavailable = e.downcast_ref::<std::io::Error>().is_some()
                || e.downcast_ref::<ServerError>().is_some()
                || e.downcast_ref::<Oversized>().is_some();
            if unavailable {
                SourceError::Unavailable(e)
            } else {
                SourceError::Invalid(e)
            }
        })
    }
}

/// What `XINFO STREAM` answered: its scalar fields, or the server's refusal.
enum StreamInfo {
    Fields(Vec<(String, String)>),
    Refused(String),
}

/// Where a stream begins, and whether entries were ever removed from it (`Err`: why that
/// cannot be told).
#[derive(Debug, Clone)]
struct Head {
    oldest_ms: Option<i64>,
    removed: Result<bool, String>,
}

impl Head {
    /// Whether entries the day's read range (from `first`) selects may have been trimmed away:
    /// the stream now begins after `first`, and entries were removed from it (trimming removes
    /// the oldest, so those stood before its first entry now). A stream that merely began
    /// inside the range lost nothing. Without that count (an old Redis, or an ACL without
    /// XINFO), a stream that begins inside the day cannot be shown to hold the day's start:
    /// it is cut too, and the caller says the check could not run rather than claim a trim.
    fn trimmed(&self, first: i64, day: &Day) -> Option<i64> {
        let begins_late = self.oldest_ms.is_none_or(|o| o > first);
        let cut = match &self.removed {
            Ok(removed) => begins_late && *removed,
            Err(_) => self
                .oldest_ms
                .is_some_and(|o| o > first && o < day.end_ms()),
        };
        cut.then(|| self.oldest_ms.unwrap_or(i64::MAX))
    }
}

/// A plain TCP or unix-socket connection with its own reply decoder, authenticated and on the
/// URL's database; `None` for TLS, which the redis crate handles.
fn connect_plain(target: &RedisAddress, info: &ConnectionInfo) -> Result<Option<Plain>> {
    let where_ = || format!("connecting to Redis at {}", redact(&target.url));
    let mut conn = match info.addr() {
        ConnectionAddr::Tcp(host, port) => Plain::tcp(host, *port, TIMEOUT).with_context(where_)?,
        ConnectionAddr::Unix(path) => Plain::unix(path, TIMEOUT).with_context(where_)?,
        _ => return Ok(None),
    };
    let settings = info.redis_settings();
    if let Some(pw) = settings.password() {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = settings.username() {
            auth.arg(user);
        }
        conn.ok(&auth.arg(pw).get_packed_command())
            .context("authenticating")
            .with_context(where_)?;
    }
    if settings.db() != 0 {
        conn.ok(&redis::cmd("SELECT").arg(settings.db()).get_packed_command())
            .with_context(|| format!("selecting database {}", settings.db()))?;
    }
    Ok(Some(conn))
}

fn read_stream(
    target: &RedisAddress,
    key: &str,
    day: &Day,
    margin: Duration,
    page: usize,
    deadline: std::time::Instant,
    sink: &mut Collector,
) -> Result<(), SourceError> {
    let info = connection_info(target).map_err(SourceError::Unavailable)?;
    match connect_plain(target, &info).map_err(SourceError::Unavailable)? {
        Some(mut plain) => {
            // Every read on the connection stops at the deadline, however a reply trickles.
            plain.set_deadline(deadline);
            read_pages(&mut plain, key, day, margin, page, deadline, sink)
        }
        None => {
            // TLS, through the redis crate: each read has its timeout, and the deadline is
            // checked between pages.
            let mut conn = client_connection(target, info).map_err(SourceError::Unavailable)?;
            read_pages(&mut conn, key, day, margin, page, deadline, sink)
        }
    }
}

fn read_pages(
    conn: &mut impl StreamConnection,
    key: &str,
    day: &Day,
    margin: Duration,
    page: usize,
    mut deadline: std::time::Instant,
    sink: &mut Collector,
) -> Result<(), SourceError> {
    let margin = margin.as_millis() as i64;
    let first = (day.start_ms() - margin).max(0);
    let last = day.end_ms() - 1 + margin;
    if !holds_the_day(conn, key, day, first, sink)? {
        return Ok(());
    }
    let page = page.max(1);
    let xrange = |w: &Window| {
        redis::cmd("XRANGE")
            .arg(key)
            .arg(&w.start)
            .arg(w.end_ms) // an ID without a sequence ends at that millisecond's last entry
            .arg("COUNT")
            .arg(page)
            .get_packed_command()
    };
    let context = |w: &Window, e: SourceError| {
        let what = format!("XRANGE {key} {} {}", w.start, w.end_ms);
        match e {
            SourceError::Unavailable(e) => SourceError::Unavailable(e.context(what)),
            SourceError::Invalid(e) => {
                SourceError::Invalid(e.context(format!("reading the reply to {what}")))
            }
            SourceError::Local(e) => SourceError::Local(e.context(what)),
        }
    };
    let mut plan = Paging::new(first, last, page);
    // Sent, in order; their replies come back in this order.
    let mut sent = std::collections::VecDeque::with_capacity(3);
    let probe = plan.probe();
    conn.send(&xrange(&probe)).map_err(|e| context(&probe, e))?;
    sent.push_back(probe);
    // One page buffer and one record, reused for every entry of the day.
    let mut entries = Page::default();
    let mut raw = RawRecord::new(Source::Redis, String::new());
    // The typed path's key of an entry's flat checks.
    let mut checks = Vec::new();
    // Whether the last reply read was a full page.
    let mut full = false;
    while let Some(window) = sent.pop_front() {
        // The next window is asked for before this reply is read, so that Redis serves it
        // while this one is received and classified; it starts where this window ends. The
        // guess is wrong when this reply comes back full (the window held more than a page):
        // the next window's reply is then read and dropped, so no guess is made right after a
        // full reply, when the entries are dense.
        if sent.is_empty() && !window.stale && !full {
            if let Some(next) = plan.after(&window) {
                conn.send(&xrange(&next)).map_err(|e| context(&next, e))?;
                sent.push_back(next);
            }
        }
        conn.entries(&mut entries, page)
            .map_err(|e| context(&window, e))?;
        if std::time::Instant::now() >= deadline {
            return Err(SourceError::Unavailable(anyhow!(
                "the stream read took longer than its limit (--redis-timeout)"
            )));
        }
        if window.stale {
            continue;
        }
        let ids_utf8 = |i| {
            std::str::from_utf8(entries.entry(i).0).map_err(|_| {
                context(
                    &window,
                    SourceError::Invalid(anyhow!("an entry ID that is not UTF-8")),
                )
            })
        };
        full = entries.len() == page;
        let next = if full {
            // The rest of this window comes before anything asked for after it.
            for later in &mut sent {
                later.stale = true;
            }
            let (first_id, last_id) = (ids_utf8(0)?, ids_utf8(page - 1)?);
            Some(plan.rest(&window, first_id, last_id))
        } else {
            plan.fits(&window, entries.len());
            // Not asked for ahead: asked for now, before this page is classified.
            sent.is_empty().then(|| plan.after(&window)).flatten()
        };
        if let Some(next) = next {
            conn.send(&xrange(&next)).map_err(|e| context(&next, e))?;
            sent.push_back(next);
        }
        for i in 0..entries.len() {
            push_entry(
                &entries,
                i,
                ids_utf8(i)?,
                margin,
                sink,
                &mut raw,
                &mut checks,
            );
        }
        // While the next page is on its way. A row read later has an entry ID after this
        // page's last, and a timestamp at most the margin before that ID's time.
        let bound = match entries.len() {
            0 => i64::MIN,
            n => id_ms(ids_utf8(n - 1)?).map_or(i64::MIN, |ms| ms - margin),
        };
        if !hand_on(sink, bound, conn, &mut deadline) {
            return Ok(());
        }
    }
    Ok(())
}

/// Hands the rows read so far on at `bound`, and moves the read's deadline on by the time it
/// waited for the merge to take them. `false` when the run stopped taking rows.
fn hand_on(
    sink: &mut Collector,
    bound: i64,
    conn: &mut impl StreamConnection,
    deadline: &mut std::time::Instant,
) -> bool {
    sink.flush(bound);
    let waited = sink.take_waited();
    if !waited.is_zero() {
        *deadline += waited;
        conn.extend_deadline(*deadline);
    }
    !sink.stopped()
}

/// Whether there is a stream to read, and how much of the day it still holds: a missing key
/// is a shortfall (`false`), and a stream whose oldest entry lies after the read range's start
/// `first`, but within the day, was trimmed (or begun) part-way through it.
fn holds_the_day(
    conn: &mut impl StreamConnection,
    key: &str,
    day: &Day,
    first: i64,
    sink: &mut Collector,
) -> Result<bool, SourceError> {
    if !is_stream(conn, key)? {
        sink.shortfall(Shortfall::Missing(format!(
            "the stream {key} does not exist (a mistyped --redis-stream, or nothing written yet)"
        )));
        return Ok(false);
    }
    let head = conn.stream_head(key)?;
    if let Some(oldest) = head.trimmed(first, day) {
        sink.shortfall(match &head.removed {
            Ok(_) => Shortfall::Trimmed(trimmed(day, oldest, first)),
            Err(why) => Shortfall::Unverified(unverified(why, day, oldest)),
        });
    }
    Ok(true)
}

/// Whether `key` is a stream to read: `false` for a missing key (read as empty, with a
/// warning), an error for a key of another type.
fn is_stream(conn: &mut impl StreamConnection, key: &str) -> Result<bool, SourceError> {
    match conn.key_type(key)?.as_str() {
        "stream" => Ok(true),
        "none" => {
            tracing::warn!(key, "Redis stream does not exist; reading it as empty");
            Ok(false)
        }
        other => Err(SourceError::Invalid(anyhow!(
            "Redis key {key} is a {other}, not a stream"
        ))),
    }
}

/// Classifies entry `i` of `entries` (its ID `id`) into `sink`: through the typed path when
/// every value is in its plain form, else as a raw record (`raw` and `checks` are buffers
/// reused from entry to entry).
fn push_entry(
    entries: &Page,
    i: usize,
    id: &str,
    margin: i64,
    sink: &mut Collector,
    raw: &mut RawRecord,
    checks: &mut Vec<u8>,
) {
    let filed = match id_ms(id) {
        Some(at_ms) => Filed::At {
            at_ms,
            max_drift_ms: Some(margin),
        },
        // Redis never hands out such an ID; the read range selected it.
        None => Filed::Selected,
    };
    match Typed::entry(entries.entry(i).1, checks) {
        Some(t) => {
            let Ok(()) = sink.push_typed(&t, filed, move || {
                fill_entry(raw, id, entries.entry(i).1);
                Ok::<_, std::convert::Infallible>(&*raw)
            });
        }
        None => {
            fill_entry(raw, id, entries.entry(i).1);
            sink.push(raw, filed);
        }
    }
}

/// The reason a stream that begins at `oldest` (ms) cannot hold the day read from `first`.
fn trimmed(day: &Day, oldest: i64, first: i64) -> String {
    if oldest == i64::MAX {
        return format!("the stream is empty, trimmed past {day}");
    }
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&day.tz())
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_else(|| ms.to_string())
    };
    format!(
        "first entry at {}, after the start of the day's read range at {}; the stream no \
         longer holds the start of {day}",
        at(oldest),
        at(first)
    )
}

/// Why a stream that begins at `oldest` (ms), inside the day, may not hold its start, when
/// whether it was trimmed cannot be told (`why`).
fn unverified(why: &str, day: &Day, oldest: i64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(oldest)
        .map(|t| {
            t.with_timezone(&day.tz())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|| oldest.to_string());
    format!(
        "the trim check could not run ({why}); the stream begins at {at}, inside {day}, so it \
         cannot be shown to hold the day's start (grant +xinfo to check)"
    )
}

/// One XRANGE request: from `start` (an ID, or `(ID` for after it) to the end of millisecond
/// `end_ms`, at most a page of entries.
#[derive(Debug)]
struct Window {
    start: String,
    /// The millisecond `start` is in.
    start_ms: i64,
    end_ms: i64,
    /// Asked for ahead of a window whose reply came back full: its reply is dropped.
    stale: bool,
}

/// Cuts the read range into windows of about three quarters of a page each, so that the next
/// window can be asked for before a reply is read (its start does not depend on the reply),
/// and a reply is rarely full. The length follows the entries' density as it is read.
#[derive(Debug)]
struct Paging {
    first: i64,
    last: i64,
    page: usize,
    /// Milliseconds per window.
    len: i64,
}

impl Paging {
    fn new(first: i64, last: i64, page: usize) -> Paging {
        Paging {
            first,
            last,
            page,
            len: (last - first + 1).max(1),
        }
    }

    /// The first window: the whole range. A day that fits in one page is one request.
    fn probe(&self) -> Window {
        Window {
            start: format!("{}-0", self.first),
            start_ms: self.first,
            end_ms: self.last,
            stale: false,
        }
    }

    /// Entries a window should hold: three quarters of a page, at least one.
    fn target(&self) -> i64 {
        (self.page as i64 * 3 / 4).max(1)
    }

    /// The window after `w`, if the range goes on.
    fn after(&self, w: &Window) -> Option<Window> {
        (w.end_ms < self.last).then(|| {
            let start_ms = w.end_ms + 1;
            Window {
                start: start_ms.to_string(),
                start_ms,
                end_ms: start_ms.saturating_add(self.len - 1).min(self.last),
                stale: false,
            }
        })
    }

    /// `w`'s reply came back full, from entry `first_id` to `last_id`: the window that reads
    /// on after `last_id`, sized from how long a page of entries turned out to be.
    fn rest(&mut self, w: &Window, first_id: &str, last_id: &str) -> Window {
        let last_ms = id_ms(last_id)
            .unwrap_or(w.start_ms)
            .clamp(w.start_ms, w.end_ms);
        let first_ms = id_ms(first_id)
            .unwrap_or(w.start_ms)
            .clamp(w.start_ms, last_ms);
        let span = last_ms - first_ms + 1;
        self.len = (span * self.target() / self.page as i64).max(1);
        Window {
            start: format!("({last_id}"),
            start_ms: last_ms,
            end_ms: last_ms.saturating_add(self.len - 1).min(w.end_ms),
            stale: false,
        }
    }

    /// `w`'s reply held `n` entries, fewer than a page: the length for the next windows.
    fn fits(&mut self, w: &Window, n: usize) {
        let span = w.end_ms - w.start_ms + 1;
        // At most four times longer at once, so that one quiet stretch cannot make the next
        // window swallow a busy one.
        let grown = span.saturating_mul(4);
        self.len = match n {
            0 => grown,
            n => (span.saturating_mul(self.target()) / n as i64).min(grown),
        }
        .max(1);
    }
}

/// For the deployment report's health check: the time (Unix ms) of the newest entry in `key`
/// whose ID is at or before `now_ms`, and of the first one after it. It needs only what the
/// export needs (XRANGE): windows reaching back from now, 5 minutes, an hour, a day, 30 days,
/// each read in pages, and one entry after now. Errors come back with the target's secrets
/// scrubbed out.
pub fn newest_entry_ms(target: &RedisAddress, key: &str, now_ms: i64) -> Result<super::Newest> {
    let probe = || -> Result<super::Newest> {
        let mut conn = connect(target)?;
        let reply: Value = redis::cmd("XRANGE")
            .arg(key)
            .arg(format!("({now_ms}-18446744073709551615"))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query(&mut conn)
            .with_context(|| format!("XRANGE {key} after {now_ms}"))?;
        let mut page = Page::default();
        parse_entries(reply, &mut page)?;
        let after_now = match page.len() {
            0 => None,
            _ => id_ms(
                std::str::from_utf8(page.entry(0).0).context("an entry ID that is not UTF-8")?,
            ),
        };
        Ok(super::Newest {
            at_or_before_now: newest_at_or_before(&mut conn, key, now_ms)?,
            after_now,
        })
    };
    probe().map_err(|e| anyhow!(target.scrub(&format!("{e:#}"))))
}

/// The time of the newest entry of `key` at or before `now_ms`, read back from now in windows.
fn newest_at_or_before(conn: &mut Connection, key: &str, now_ms: i64) -> Result<Option<i64>> {
    const PAGE: usize = 1000;
    let mut end = now_ms;
    for back in [300_000i64, 3_600_000, 86_400_000, 30 * 86_400_000] {
        let mut start = (now_ms - back).max(0).to_string();
        let mut newest = None;
        loop {
            let reply: Value = redis::cmd("XRANGE")
                .arg(key)
                .arg(&start)
                .arg(end)
                .arg("COUNT")
                .arg(PAGE)
                .query(conn)
                .with_context(|| format!("XRANGE {key} {start} {end}"))?;
            let mut page = Page::default();
            parse_entries(reply, &mut page)?;
            if page.len() == 0 {
                break;
            }
            let last = std::str::from_utf8(page.entry(page.len() - 1).0)
                .context("an entry ID that is not UTF-8")?
                .to_string();
            newest = id_ms(&last);
            if page.len() < PAGE {
                break;
            }
            start = format!("({last}");
        }
        if newest.is_some() {
            return Ok(newest);
        }
        // The next window ends where this one began.
        end = now_ms - back - 1;
        if end < 0 {
            break;
        }
    }
    Ok(None)
}

/// The Redis Stream as a source: the server, the stream key and how it is paged.
#[derive(Debug, Clone)]
pub struct RedisSource {
    pub target: RedisAddress,
    pub stream: String,
    /// How far the entry-ID range is widened on each side of the day.
    pub margin: Duration,
    pub page_size: usize,
    /// The longest the whole stream read may take; past it the source is unreachable.
    pub timeout: Duration,
}

impl super::DaySource for RedisSource {
    fn origin(&self) -> Source {
        Source::Redis
    }

    fn location(&self) -> String {
        format!("{} stream {}", redact(&self.target.url), self.stream)
    }

    /// The hot buffer: its copy of a record gives way to the archive's.
    fn precedence(&self) -> u8 {
        1
    }

    fn read_day(&self, day: &Day, sink: &mut Collector) -> Result<(), SourceError> {
        let s = self;
        read(
            &s.target,
            &s.stream,
            day,
            s.margin,
            s.page_size,
            s.timeout,
            sink,
        )
    }

    fn newest(&self, now_ms: i64) -> anyhow::Result<super::Newest> {
        newest_entry_ms(&self.target, &self.stream, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Midnight UTC of the fake stream's day, 2025-10-30.
    const DAY_MS: i64 = 1_761_782_400_000;

    /// An in-memory stream that answers XRANGE as Redis does: the entries from the start (an
    /// ID, `(ID` for after one, or a millisecond) to the end of the end millisecond, at most
    /// COUNT of them. Replies are owed in the order the requests came. `fail_at` makes that
    /// reply (counted from 0) an I/O error; `bad_id_at` gives that entry (counted in ID order)
    /// an ID that is not UTF-8, and `bad_in` says which reply last held it (a dropped reply
    /// may have held it before).
    struct FakeStream {
        /// (millisecond, sequence), in ID order.
        ids: Vec<(i64, u64)>,
        owed: std::collections::VecDeque<Vec<(i64, u64)>>,
        /// (start, end) of each XRANGE sent.
        requests: Vec<(String, String)>,
        /// The most replies that were ever owed at once.
        most_owed: usize,
        /// Entries in the replies read, whether used or dropped.
        entries_served: usize,
        served: usize,
        fail_at: Option<usize>,
        bad_id_at: Option<usize>,
        bad_in: Option<usize>,
    }

    impl FakeStream {
        fn new(ids: Vec<(i64, u64)>) -> Self {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "IDs in order");
            FakeStream {
                ids,
                owed: Default::default(),
                requests: Vec::new(),
                most_owed: 0,
                entries_served: 0,
                served: 0,
                fail_at: None,
                bad_id_at: None,
                bad_in: None,
            }
        }

        /// `n` entries, one every `every_ms` from midnight.
        fn steady(n: usize, every_ms: i64) -> Self {
            FakeStream::new((0..n as i64).map(|i| (DAY_MS + i * every_ms, 0)).collect())
        }
    }

    fn id_of(text: &str) -> (i64, u64) {
        let (ms, seq) = text.split_once('-').unwrap_or((text, "0"));
        (ms.parse().unwrap(), seq.parse().unwrap())
    }

    impl StreamConnection for FakeStream {
        fn send(&mut self, packed: &[u8]) -> Result<(), SourceError> {
            // *6 $6 XRANGE $n key $n start $n end $5 COUNT $n count, one item a line.
            let text = String::from_utf8_lossy(packed);
            let line: Vec<&str> = text.split("\r\n").collect();
            assert_eq!(line[2], "XRANGE");
            let (start, end, count) = (line[6], line[8], line[12].parse::<usize>().unwrap());
            let from = match start.strip_prefix('(') {
                Some(after) => {
                    let (ms, seq) = id_of(after);
                    (ms, seq + 1)
                }
                None => id_of(start),
            };
            let to: i64 = end.parse().expect("the end is a millisecond");
            let reply = self
                .ids
                .iter()
                .copied()
                .filter(|&(ms, seq)| (ms, seq) >= from && ms <= to)
                .take(count)
                .collect();
            self.owed.push_back(reply);
            self.most_owed = self.most_owed.max(self.owed.len());
            self.requests.push((start.to_string(), end.to_string()));
            Ok(())
        }

        fn key_type(&mut self, _key: &str) -> Result<String, SourceError> {
            Ok("stream".into())
        }

        // Answered aside, so that the day's requests are counted from 0.
        fn stream_info(&mut self, _key: &str) -> Result<StreamInfo, SourceError> {
            let first = self
                .ids
                .first()
                .map_or("0-0".into(), |(ms, s)| format!("{ms}-{s}"));
            Ok(StreamInfo::Fields(vec![
                ("length".into(), self.ids.len().to_string()),
                ("entries-added".into(), self.ids.len().to_string()),
                ("recorded-first-entry-id".into(), first),
            ]))
        }

        fn entries(&mut self, page: &mut Page, _max: usize) -> Result<(), SourceError> {
            let n = self.served;
            self.served += 1;
            let reply = self
                .owed
                .pop_front()
                .expect("a reply is read only when one is owed");
            if self.fail_at == Some(n) {
                return Err(SourceError::Unavailable(anyhow!("connection reset")));
            }
            self.entries_served += reply.len();
            let bad = self.bad_id_at.map(|i| self.ids[i]);
            if bad.is_some_and(|b| reply.contains(&b)) {
                self.bad_in = Some(n);
            }
            let entries = reply
                .into_iter()
                .map(|(ms, seq)| {
                    let mut id = format!("{ms}-{seq}").into_bytes();
                    if bad == Some((ms, seq)) {
                        id.push(0xff);
                    }
                    let fields = [
                        ("timestamp", ms.to_string()),
                        ("status", "ok".into()),
                        ("duration_ms", seq.to_string()),
                    ]
                    .into_iter()
                    .flat_map(|(k, v)| [Value::BulkString(k.into()), Value::BulkString(v.into())])
                    .collect();
                    Value::Array(vec![Value::BulkString(id), Value::Array(fields)])
                })
                .collect();
            parse_entries(Value::Array(entries), page).map_err(SourceError::Invalid)
        }
    }

    /// Reads the fake's day `page` entries at most per request: the outcome, and the
    /// (millisecond, sequence) of each record in reading order.
    fn read_fake(conn: &mut FakeStream, page: usize) -> (Result<(), SourceError>, Vec<(i64, u64)>) {
        let day = Day::new("2025-10-30".parse().unwrap(), "UTC".parse().unwrap()).unwrap();
        let mut sink = Collector::new(&day, Source::Redis);
        let far = std::time::Instant::now() + Duration::from_secs(3600);
        let r = read_pages(
            conn,
            "k",
            &day,
            Duration::from_secs(0),
            page,
            far,
            &mut sink,
        );
        let rows = sink.finish().records;
        let read = (0..rows.len())
            .map(|i| {
                let row = rows.get(i);
                (row.ts_ms, row.duration_ms.unwrap() as u64)
            })
            .collect();
        (r, read)
    }

    #[test]
    fn a_stream_is_trimmed_for_a_day_only_when_it_lost_entries_before_its_head() {
        let day = Day::new("2025-10-30".parse().unwrap(), "UTC".parse().unwrap()).unwrap();
        let first = DAY_MS - 3_600_000;
        let head = |oldest_ms, removed: Option<bool>| Head {
            oldest_ms,
            removed: removed.ok_or_else(|| "no XINFO".to_string()),
        };
        let inside = Some(DAY_MS + 7_200_000);
        assert_eq!(head(inside, Some(true)).trimmed(first, &day), inside);
        assert_eq!(
            head(inside, Some(false)).trimmed(first, &day),
            None,
            "begun, not trimmed"
        );
        assert_eq!(head(Some(first - 1), Some(true)).trimmed(first, &day), None);
        assert_eq!(
            head(None, Some(true)).trimmed(first, &day),
            Some(i64::MAX),
            "emptied"
        );
        assert_eq!(head(None, Some(false)).trimmed(first, &day), None);
        // Unknown: a head inside the day cannot be shown to hold its start.
        assert_eq!(head(inside, None).trimmed(first, &day), inside);
        assert_eq!(
            head(Some(day.end_ms() + 1), None).trimmed(first, &day),
            None
        );
    }

    #[test]
    fn every_entry_is_read_once_in_order_whatever_the_page_size_and_density() {
        let steady: Vec<(i64, u64)> = (0..288).map(|i| (DAY_MS + i * 300_000, 0)).collect();
        // Quiet hours, then a burst: 120 entries in one millisecond, 40 in the next, then a
        // few at the end of the day.
        let mut bursty: Vec<(i64, u64)> = vec![(DAY_MS + 5, 0), (DAY_MS + 3_600_000, 0)];
        bursty.extend((0..120).map(|s| (DAY_MS + 7_200_000, s)));
        bursty.extend((0..40).map(|s| (DAY_MS + 7_200_001, s)));
        bursty.extend((0..30).map(|i| (DAY_MS + 86_000_000 + i * 7, 0)));
        let layouts = [
            ("steady", steady),
            ("bursty", bursty),
            ("one", vec![(DAY_MS + 86_399_999, 3)]),
            ("empty", vec![]),
        ];
        for (name, ids) in layouts {
            for page in [1, 2, 7, 50, 250, 1000] {
                let mut conn = FakeStream::new(ids.clone());
                let (r, read) = read_fake(&mut conn, page);
                assert!(r.is_ok(), "{name}, page {page}: {r:?}");
                assert_eq!(read, ids, "{name}, page {page}");
                assert!(
                    conn.most_owed <= 2,
                    "{name}, page {page}: {}",
                    conn.most_owed
                );
                assert!(
                    conn.owed.is_empty(),
                    "{name}, page {page}: a reply left unread"
                );
            }
        }
    }

    #[test]
    fn a_steady_stream_is_read_in_windows_each_asked_for_before_the_last_reply_is_read() {
        // 20,000 entries, one every 4.32 s: a day of 250-entry pages is 80 of them.
        let mut conn = FakeStream::steady(20_000, 4_320);
        let (r, read) = read_fake(&mut conn, 250);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(read.len(), 20_000);
        // The first request is the whole day, then windows sized from the first page.
        assert_eq!(
            conn.requests[0],
            (format!("{}-0", DAY_MS), (DAY_MS + 86_399_999).to_string())
        );
        assert!(
            conn.requests[1].0.starts_with('('),
            "{:?}",
            conn.requests[1]
        );
        assert!(
            conn.requests[2..]
                .iter()
                .all(|(start, _)| !start.starts_with('(')),
            "windows after the first start at a millisecond: {:?}",
            conn.requests
        );
        assert_eq!(conn.most_owed, 2, "the next window is asked for ahead");
        // No window came back full, so no reply was dropped.
        assert_eq!(conn.entries_served, 20_000);
        // Windows of about three quarters of a page: not many more requests than pages.
        let n = conn.requests.len();
        assert!((100..=120).contains(&n), "{n} requests");
    }

    #[test]
    fn a_failed_page_or_a_bad_entry_fails_the_read_there() {
        let mut conn = FakeStream::steady(20, 300_000);
        conn.fail_at = Some(2);
        let (r, _) = read_fake(&mut conn, 2);
        let Err(SourceError::Unavailable(e)) = r else {
            panic!("{r:?}")
        };
        let e = format!("{e:#}");
        assert!(
            e.contains("XRANGE k ") && e.contains("connection reset"),
            "{e}"
        );
        assert_eq!(conn.served, 3, "nothing is read after the failed page");

        let mut conn = FakeStream::steady(20, 300_000);
        conn.bad_id_at = Some(5);
        let (r, read) = read_fake(&mut conn, 2);
        let Err(SourceError::Invalid(e)) = r else {
            panic!("{r:?}")
        };
        assert!(format!("{e:#}").contains("not UTF-8"), "{e:#}");
        // What was read is the stream up to the bad entry at most, in order.
        let ids = &conn.ids;
        assert!(read.len() <= 5 && read[..] == ids[..read.len()], "{read:?}");
        let bad_in = conn.bad_in.expect("the bad entry was served");
        assert_eq!(
            conn.served,
            bad_in + 1,
            "nothing is read after the bad page"
        );
    }

    #[test]
    fn time_spent_waiting_on_the_merge_does_not_count_against_the_read_limit() {
        let day = Day::new("2025-10-30".parse().unwrap(), "UTC".parse().unwrap()).unwrap();
        let mut conn = FakeStream::steady(20, 300_000);
        // A merge that takes each part 400 ms after it is offered: ten pages wait four seconds,
        // twice the limit, while reading twenty entries takes microseconds, so the outcome
        // does not hang on how busy the machine is.
        let (tx, rx) = std::sync::mpsc::sync_channel(0);
        let merge = std::thread::spawn(move || {
            let mut parts = 0;
            while rx.recv().is_ok() {
                parts += 1;
                std::thread::sleep(Duration::from_millis(400));
            }
            parts
        });
        let mut sink = Collector::new(&day, Source::Redis);
        sink.feed = Some(tx);
        sink.part_rows = 1;
        let limit = std::time::Instant::now() + Duration::from_secs(2);
        let r = read_pages(
            &mut conn,
            "k",
            &day,
            Duration::from_secs(0),
            2,
            limit,
            &mut sink,
        );
        drop(sink);
        let parts = merge.join().unwrap();
        assert!(r.is_ok(), "{r:?}");
        assert!(parts >= 6, "{parts} parts");
    }
}
