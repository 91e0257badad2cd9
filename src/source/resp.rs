//! A plain Redis connection (TCP or unix socket) that speaks just enough RESP2 for the stream
//! read: AUTH, SELECT, TYPE and pipelined XRANGE, with replies decoded straight into a page.
//! The redis crate's general reply parser built a `Value` tree per page and took more than half
//! of the read's time on a large day; this decoder reads each bulk string once into a page
//! buffer reused from page to page. TLS connections stay on the redis crate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// An error reply from the server (`-ERR ...`, `-WRONGTYPE ...`, `-NOAUTH ...`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServerError(pub String);

/// A reply longer than any reply to the commands sent can be: refused before a byte of it is
/// stored. The connection is out of step after it, so nothing more can be read on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Oversized(pub String);

/// The largest `--redis-page-size`: a page of real heartbeats is then some 40 MB, and a reply
/// that claims more entries than the page asked for is refused.
pub const MAX_PAGE_SIZE: usize = 100_000;

/// The longest string a reply may hold. A heartbeat field is well under a kilobyte and a JSON
/// entry with every check a few kilobytes; 4 MiB is a thousand times that, yet a page of such
/// strings still fits in memory. (Redis's own `proto-max-bulk-len` is 512 MB, far too much
/// to take on trust from whatever answers on the socket.)
pub const MAX_BULK: usize = 4 << 20;
/// The most strings one stream entry may hold (field names and values): a heartbeat has a
/// dozen fields and a few dozen checks.
pub const MAX_FIELDS: usize = 4096;
/// The most elements any reply array may declare: the longest is a page of entries, which
/// `--redis-page-size` bounds, and `entries` holds each page to the size asked for.
const MAX_ARRAY: usize = if MAX_PAGE_SIZE > MAX_FIELDS {
    MAX_PAGE_SIZE
} else {
    MAX_FIELDS
};
/// The longest status, error or length line: error messages are a sentence.
const MAX_LINE: u64 = 64 << 10;
/// The most bytes one page may hold: a page of the largest size of real heartbeats (about
/// 400 bytes each) is some 40 MB.
const MAX_PAGE_BYTES: usize = 256 << 20;

/// The I/O error for a connection the server closed in the middle of a reply: the source is
/// unavailable, as for any connection lost.
fn closed(where_: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("the server closed the connection {where_}"),
    )
}

/// One page of stream entries (an XRANGE reply): every ID, field name and value in one buffer,
/// reused from page to page, so decoding a page allocates nothing once the buffers have grown.
#[derive(Debug, Default)]
pub struct Page {
    bytes: Vec<u8>,
    /// (start, end) of each string in `bytes`.
    spans: Vec<(usize, usize)>,
    /// Per entry: the span of its ID, then its field names and values in turn.
    entries: Vec<(usize, usize)>,
}

impl Page {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn span(&self, i: usize) -> &[u8] {
        let (a, b) = self.spans[i];
        &self.bytes[a..b]
    }

    /// Entry `i`: its ID and its (name, value) pairs.
    pub fn entry(&self, i: usize) -> (&[u8], impl Iterator<Item = (&[u8], &[u8])> + '_) {
        let (first, pairs) = self.entries[i];
        let fields =
            (0..pairs).map(move |p| (self.span(first + 1 + 2 * p), self.span(first + 2 + 2 * p)));
        (self.span(first), fields)
    }

    /// Starts an entry: the strings added next are its ID, then its names and values in turn.
    pub fn start_entry(&mut self) {
        self.entries.push((self.spans.len(), 0));
    }

    /// Adds a string to the current entry: its ID first, then names and values in turn.
    pub fn push(&mut self, s: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(s);
        self.end_string(start);
    }

    fn end_string(&mut self, start: usize) {
        self.spans.push((start, self.bytes.len()));
        let e = self
            .entries
            .last_mut()
            .expect("a string belongs to an entry");
        e.1 = (self.spans.len() - e.0 - 1) / 2;
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// How long one reply may take to arrive whole, however it trickles in.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection under the reader, with deadlines: the socket's read timeout bounds each
/// read, but a server that sends a byte every few seconds never trips it. These bound the reply
/// being read and the whole stream read.
struct Deadlined {
    inner: Box<dyn Stream>,
    /// The socket's read timeout, for the message.
    per_read: Duration,
    reply: Option<Instant>,
    whole: Option<Instant>,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::{Error, ErrorKind};
        let now = Instant::now();
        if self.whole.is_some_and(|d| now >= d) {
            return Err(Error::new(
                ErrorKind::TimedOut,
                "the stream read took longer than its limit (--redis-timeout)",
            ));
        }
        if self.reply.is_some_and(|d| now >= d) {
            return Err(Error::new(
                ErrorKind::TimedOut,
                format!(
                    "Redis sent no complete reply within {} s",
                    REPLY_TIMEOUT.as_secs()
                ),
            ));
        }
        match self.inner.read(buf) {
            // A socket read timeout says "Resource temporarily unavailable (os error 11)".
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(Error::new(
                    ErrorKind::TimedOut,
                    format!("Redis sent nothing for {} s", self.per_read.as_secs()),
                ))
            }
            r => r,
        }
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One connection, buffered for reading; commands are written unbuffered, whole.
pub struct Plain {
    reader: BufReader<Deadlined>,
    line: Vec<u8>,
}

/// A reply header: the first line of a RESP2 reply.
#[derive(Debug, PartialEq)]
enum Header {
    Simple(String),
    Error(String),
    Integer(i64),
    /// `$n`, or `None` for the null bulk string `$-1`.
    Bulk(Option<usize>),
    /// `*n`, or `None` for the null array `*-1`.
    Array(Option<usize>),
}

impl Plain {
    pub fn tcp(host: &str, port: u16, timeout: Duration) -> Result<Plain> {
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {host}"))?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(timeout))?;
                    s.set_write_timeout(Some(timeout))?;
                    s.set_nodelay(true)?;
                    return Ok(Plain::over(Box::new(s), timeout));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => anyhow!(e),
            None => anyhow!("{host} resolves to no address"),
        })
    }

    #[cfg(unix)]
    pub fn unix(path: &Path, timeout: Duration) -> Result<Plain> {
        let s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(Plain::over(Box::new(s), timeout))
    }

    #[cfg(not(unix))]
    pub fn unix(path: &Path, _timeout: Duration) -> Result<Plain> {
        bail!("unix sockets ({}) are not supported here", path.display())
    }

    fn over(stream: Box<dyn Stream>, per_read: Duration) -> Plain {
        let stream = Deadlined {
            inner: stream,
            per_read,
            reply: None,
            whole: None,
        };
        Plain {
            // A page of a thousand entries is a few hundred KB.
            reader: BufReader::with_capacity(1 << 20, stream),
            line: Vec::with_capacity(64),
        }
    }

    /// The instant by which everything read on this connection must have arrived.
    pub fn set_deadline(&mut self, whole: Instant) {
        self.reader.get_mut().whole = Some(whole);
    }

    /// Starts the clock of the reply about to be read.
    fn start_reply(&mut self) {
        self.reader.get_mut().reply = Some(Instant::now() + REPLY_TIMEOUT);
    }

    /// Sends a command already encoded (`redis::Cmd::get_packed_command`). A server that
    /// turns the connection away (`maxclients`) says why and closes it, so the write fails with
    /// a broken pipe: its own words, already sent, are the error then.
    pub fn send(&mut self, packed: &[u8]) -> Result<()> {
        let s = self.reader.get_mut();
        let sent = s.write_all(packed).and_then(|()| s.flush());
        if let Err(e) = sent {
            if let Ok(Header::Error(why)) = self.header() {
                return Err(ServerError(why).into());
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Sends `packed` and expects `+OK`.
    pub fn ok(&mut self, packed: &[u8]) -> Result<()> {
        self.send(packed)?;
        self.start_reply();
        match self.header()? {
            Header::Simple(s) if s == "OK" => Ok(()),
            Header::Error(e) => Err(ServerError(e).into()),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    /// Sends `packed` and expects a simple string (TYPE's reply).
    pub fn simple(&mut self, packed: &[u8]) -> Result<String> {
        self.send(packed)?;
        self.start_reply();
        match self.header()? {
            Header::Simple(s) => Ok(s),
            Header::Error(e) => Err(ServerError(e).into()),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    /// Sends `packed` and reads a flat map reply (XINFO STREAM's): its scalar values as text,
    /// by key; nested values are skipped. An error reply is a `ServerError`.
    pub fn scalar_map(&mut self, packed: &[u8]) -> Result<Vec<(String, String)>> {
        self.send(packed)?;
        self.start_reply();
        let n = match self.header()? {
            Header::Array(Some(n)) => n,
            Header::Error(e) => return Err(ServerError(e).into()),
            other => bail!("expected a map, got {other:?}"),
        };
        let mut out = Vec::new();
        let mut key = None;
        for i in 0..n {
            let value = self.scalar_or_skip(0)?;
            if i % 2 == 0 {
                key = value;
            } else if let (Some(k), Some(v)) = (key.take(), value) {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// The next reply element as text, or `None` for a null or an array (read and dropped, at
    /// most a few levels deep: a server that nests deeper is not one to trust).
    fn scalar_or_skip(&mut self, depth: usize) -> Result<Option<String>> {
        Ok(match self.header()? {
            Header::Simple(s) => Some(s),
            Header::Integer(i) => Some(i.to_string()),
            Header::Bulk(None) | Header::Array(None) => None,
            Header::Bulk(Some(n)) => {
                let mut text = Vec::new();
                self.read_bulk(n, &mut text)?;
                Some(String::from_utf8_lossy(&text).into_owned())
            }
            Header::Array(Some(m)) => {
                if depth >= 4 {
                    bail!("a reply nested more than 4 levels deep");
                }
                for _ in 0..m {
                    self.scalar_or_skip(depth + 1)?;
                }
                None
            }
            Header::Error(e) => return Err(ServerError(e).into()),
        })
    }

    /// The next reply header, refused when it declares more than any reply may hold.
    fn header(&mut self) -> Result<Header> {
        let h = match self.buffered_length() {
            Some(h) => h,
            None => self.read_header()?,
        };
        match h {
            Header::Bulk(Some(n)) if n > MAX_BULK => Err(Oversized(format!(
                "a string of {n} bytes in a reply, over the limit of {MAX_BULK}"
            ))
            .into()),
            Header::Array(Some(n)) if n > MAX_ARRAY => Err(Oversized(format!(
                "an array of {n} elements in a reply, over the limit of {MAX_ARRAY}"
            ))
            .into()),
            h => Ok(h),
        }
    }

    /// Reads a header line, at most `MAX_LINE` bytes of it.
    fn read_header(&mut self) -> Result<Header> {
        self.line.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Err(closed("before its reply").into());
        }
        if !self.line.ends_with(b"\n") {
            if n as u64 == MAX_LINE {
                return Err(Oversized(format!("a reply line longer than {MAX_LINE} bytes")).into());
            }
            return Err(closed("inside a reply line").into());
        }
        let line = self
            .line
            .strip_suffix(b"\r\n")
            .ok_or_else(|| anyhow!("a reply line without CRLF"))?;
        let (kind, rest) = line
            .split_first()
            .ok_or_else(|| anyhow!("an empty reply line"))?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let number = || -> Result<i64> {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("a bad length in a reply: {:?}", text()))
        };
        let length = || -> Result<Option<usize>> {
            // All digits, yet too long for a number: a length no reply can have.
            if rest.len() > 18 && rest.iter().all(u8::is_ascii_digit) {
                return Err(Oversized(format!(
                    "a length of {} in a reply, over the limit",
                    text()
                ))
                .into());
            }
            match number()? {
                -1 => Ok(None),
                n if n >= 0 => Ok(Some(n as usize)),
                n => bail!("a negative length {n} in a reply"),
            }
        };
        Ok(match kind {
            b'+' => Header::Simple(text()),
            b'-' => Header::Error(text()),
            b':' => Header::Integer(number()?),
            b'$' => Header::Bulk(length()?),
            b'*' => Header::Array(length()?),
            other => bail!("unexpected reply type {:?}", *other as char),
        })
    }

    /// A `$n` or `*n` header whose line is already in the buffer, read in place: a page has
    /// several per entry, and `header` copies each line out and parses it as text. `None`
    /// leaves anything else, or a line the buffer cuts, to `header`.
    fn buffered_length(&mut self) -> Option<Header> {
        let (&kind, rest) = self.reader.buffer().split_first()?;
        if kind != b'$' && kind != b'*' {
            return None;
        }
        // At most 18 digits: no overflow, and longer lengths are `header`'s to refuse.
        let digits = rest
            .iter()
            .take(18)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || rest.get(digits..digits + 2) != Some(b"\r\n") {
            return None;
        }
        let n = rest[..digits]
            .iter()
            .fold(0usize, |n, d| n * 10 + (d - b'0') as usize);
        self.reader.consume(1 + digits + 2);
        Some(match kind {
            b'$' => Header::Bulk(Some(n)),
            _ => Header::Array(Some(n)),
        })
    }

    /// An entry (`*2`, its ID, `*m` and m strings) whose every byte is already in the buffer,
    /// read into `page` in one pass without a `Header` per string: most entries of a page are.
    /// `false`, with nothing read, for anything else (an entry the buffer cuts, a null or odd
    /// field list, any other reply), which `entries` then reads a string at a time.
    fn buffered_entry(&mut self, page: &mut Page) -> bool {
        let buf = self.reader.buffer();
        let Some((id, pairs, mut at)) = entry_head(buf) else {
            return false;
        };
        let (spans, bytes) = (page.spans.len(), page.bytes.len());
        page.start_entry();
        page.push(id);
        for _ in 0..2 * pairs {
            match bulk_at(buf, at) {
                Some((s, next)) => {
                    page.push(s);
                    at = next;
                }
                None => {
                    page.entries.pop();
                    page.spans.truncate(spans);
                    page.bytes.truncate(bytes);
                    return false;
                }
            }
        }
        self.reader.consume(at);
        true
    }

    /// Reads a string of `n` bytes and its CRLF onto `out`, which grows as the bytes arrive,
    /// never by the length the server declared.
    fn read_bulk(&mut self, n: usize, out: &mut Vec<u8>) -> Result<()> {
        let eof = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => closed("inside a string"),
            _ => e,
        };
        let got = (&mut self.reader).take(n as u64).read_to_end(out)?;
        if got < n {
            return Err(closed("inside a string").into());
        }
        let mut crlf = [0; 2];
        self.reader.read_exact(&mut crlf).map_err(eof)?;
        if &crlf != b"\r\n" {
            bail!("a bulk string not followed by CRLF");
        }
        Ok(())
    }

    /// Reads a string reply straight into `page`, as the current entry's next string.
    fn bulk_into(&mut self, page: &mut Page) -> Result<()> {
        match self.header()? {
            Header::Bulk(Some(n)) if self.reader.buffer().get(n..n + 2) == Some(b"\r\n") => {
                // The string and its CRLF are already buffered: one copy, straight from there.
                page.push(&self.reader.buffer()[..n]);
                self.reader.consume(n + 2);
            }
            Header::Bulk(Some(n)) => {
                let start = page.bytes.len();
                if start + n > MAX_PAGE_BYTES {
                    bail!(page_too_big(start + n));
                }
                self.read_bulk(n, &mut page.bytes)?;
                page.end_string(start);
            }
            Header::Integer(i) => page.push(i.to_string().as_bytes()),
            Header::Simple(s) => page.push(s.as_bytes()),
            other => bail!("expected a string, got {other:?}"),
        }
        Ok(())
    }

    /// Reads a page of stream entries into `page` (cleared first): at most `max`, the COUNT
    /// asked for.
    pub fn entries(&mut self, page: &mut Page, max: usize) -> Result<()> {
        page.clear();
        self.start_reply();
        let n = match self.header()? {
            Header::Array(Some(n)) if n > max => {
                bail!(Oversized(format!("{n} entries in a reply to COUNT {max}")))
            }
            Header::Array(Some(n)) => n,
            Header::Array(None) => return Ok(()),
            Header::Error(e) => return Err(ServerError(e).into()),
            other => bail!("expected an array of entries, got {other:?}"),
        };
        for _ in 0..n {
            if page.bytes.len() > MAX_PAGE_BYTES {
                bail!(page_too_big(page.bytes.len()));
            }
            if self.buffered_entry(page) {
                continue;
            }
            match self.header()? {
                Header::Array(Some(2)) => {}
                other => bail!("expected an [id, fields] pair, got {other:?}"),
            }
            page.start_entry();
            self.bulk_into(page)?;
            let id = || String::from_utf8_lossy(page_id(page)).into_owned();
            match self.header()? {
                Header::Array(Some(m)) if m > MAX_FIELDS => {
                    bail!(Oversized(format!(
                        "entry {} has {m} field names and values, over the limit of {MAX_FIELDS}",
                        id()
                    )))
                }
                Header::Array(Some(m)) if m % 2 == 0 => {
                    for _ in 0..m {
                        self.bulk_into(page)?;
                    }
                }
                Header::Array(Some(_)) => {
                    bail!("entry {} has an odd number of field values", id())
                }
                Header::Array(None) => {}
                other => bail!("entry {}: unexpected fields {other:?}", id()),
            }
        }
        Ok(())
    }
}

fn page_too_big(bytes: usize) -> Oversized {
    Oversized(format!(
        "a page of {bytes} bytes or more, over the limit of {MAX_PAGE_BYTES}"
    ))
}

/// `n` and the end of a `<kind>n\r\n` line at the start of `buf`, for a length of at most 18
/// digits (no overflow; longer ones are `header`'s to refuse).
fn length_at(buf: &[u8], at: usize, kind: u8) -> Option<(usize, usize)> {
    if buf.get(at) != Some(&kind) {
        return None;
    }
    // Read in one pass: this runs for every string of a page.
    let (mut i, mut n) = (at + 1, 0usize);
    while let Some(&d) = buf.get(i).filter(|d| d.is_ascii_digit()) {
        if i - at > 18 {
            return None;
        }
        n = n * 10 + (d - b'0') as usize;
        i += 1;
    }
    if i == at + 1 || buf.get(i..i + 2) != Some(b"\r\n") {
        return None;
    }
    Some((n, i + 2))
}

/// A whole `$n` bulk string at `at` in `buf`: its bytes and where the next item starts.
fn bulk_at(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let (n, start) = length_at(buf, at, b'$')?;
    let end = start.checked_add(n)?;
    (buf.get(end..end + 2)? == b"\r\n").then(|| (&buf[start..end], end + 2))
}

/// The head of an entry at the start of `buf`: `*2`, its ID, then `*m` with an even m. The
/// ID, m / 2 (the pairs of field names and values) and where the first name starts.
fn entry_head(buf: &[u8]) -> Option<(&[u8], usize, usize)> {
    let (2, at) = length_at(buf, 0, b'*')? else {
        return None;
    };
    let (id, at) = bulk_at(buf, at)?;
    let (m, first) = length_at(buf, at, b'*')?;
    (m % 2 == 0).then_some((id, m / 2, first))
}

/// The ID of the page's last entry.
fn page_id(page: &Page) -> &[u8] {
    page.entry(page.len() - 1).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose "server" has already sent `replies`; what it is sent is discarded.
    fn replying(replies: &[u8]) -> Plain {
        struct Canned(std::io::Cursor<Vec<u8>>);
        impl Read for Canned {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl Write for Canned {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        Plain::over(
            Box::new(Canned(std::io::Cursor::new(replies.to_vec()))),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn a_reply_that_trickles_in_stops_at_its_deadline() {
        /// Sends one byte of a never-ending reply every 20 ms.
        struct Drip;
        impl Read for Drip {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                buf[0] = b'+';
                Ok(1)
            }
        }
        impl Write for Drip {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut conn = Plain::over(Box::new(Drip), Duration::from_secs(5));
        let started = Instant::now();
        conn.set_deadline(started + Duration::from_millis(300));
        let err = conn.simple(b"TYPE k\r\n").unwrap_err();
        assert!(format!("{err:#}").contains("--redis-timeout"), "{err:#}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// `replying` with a read buffer of `capacity` bytes, so that lines and strings are cut
    /// where the buffer ends.
    fn replying_in(replies: &[u8], capacity: usize) -> Plain {
        let mut conn = replying(replies);
        conn.reader = BufReader::with_capacity(capacity, conn.reader.into_inner());
        conn
    }

    type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

    /// One page read from `conn`, as owned values to compare.
    fn decoded(conn: &mut Plain) -> Vec<Entry> {
        let mut page = Page::default();
        conn.entries(&mut page, 1000).unwrap();
        (0..page.len())
            .map(|i| {
                let (id, fields) = page.entry(i);
                (
                    String::from_utf8(id.to_vec()).unwrap(),
                    fields.map(|(k, v)| (k.to_vec(), v.to_vec())).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_are_decoded_with_binary_values_and_nulls() {
        let reply = b"*3\r\n\
            *2\r\n$3\r\n1-0\r\n*4\r\n$6\r\nstatus\r\n$2\r\nok\r\n$1\r\nb\r\n$3\r\n\xff\r\n\r\n\
            *2\r\n$3\r\n2-0\r\n*-1\r\n\
            *2\r\n$3\r\n3-1\r\n*0\r\n";
        let got = decoded(&mut replying(reply));
        assert_eq!(
            got,
            vec![
                (
                    "1-0".to_string(),
                    vec![
                        (b"status".to_vec(), b"ok".to_vec()),
                        (b"b".to_vec(), b"\xff\r\n".to_vec())
                    ]
                ),
                ("2-0".to_string(), vec![]),
                ("3-1".to_string(), vec![]),
            ]
        );
        assert!(decoded(&mut replying(b"*0\r\n")).is_empty());
    }

    #[test]
    fn a_page_cut_anywhere_by_the_read_buffer_decodes_the_same() {
        let reply = b"*3\r\n\
            *2\r\n$15\r\n1761782400000-0\r\n*4\r\n$4\r\njson\r\n$12\r\n{\"a\":\"b\r\nc\"}\r\n\
            $0\r\n\r\n$10\r\n0123456789\r\n\
            *2\r\n$3\r\n2-0\r\n*-1\r\n\
            *2\r\n$3\r\n3-1\r\n*2\r\n:42\r\n+OK\r\n";
        let whole = decoded(&mut replying(reply));
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].1[0].1, b"{\"a\":\"b\r\nc\"}");
        assert_eq!(whole[0].1[1], (b"".to_vec(), b"0123456789".to_vec()));
        assert_eq!(whole[2].1, [(b"42".to_vec(), b"OK".to_vec())]);
        for capacity in 1..reply.len() + 2 {
            assert_eq!(
                decoded(&mut replying_in(reply, capacity)),
                whole,
                "buffer of {capacity}"
            );
        }
    }

    #[test]
    fn a_flat_map_keeps_its_scalars_and_skips_nested_values() {
        let reply = b"*8\r\n$6\r\nlength\r\n:3\r\n$11\r\nfirst-entry\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n5-1\r\n$4\r\nnone\r\n$-1\r\n";
        let mut conn = replying(reply);
        let map = conn.scalar_map(b"").unwrap();
        assert_eq!(
            map,
            [
                ("length".to_string(), "3".to_string()),
                ("max-deleted-entry-id".to_string(), "5-1".to_string())
            ]
        );
        let mut conn = replying(b"-NOPERM this user has no permissions\r\n");
        let err = conn.scalar_map(b"").unwrap_err();
        assert!(err.downcast_ref::<ServerError>().is_some());
        let mut deep = String::from("*2\r\n$1\r\nk\r\n");
        deep.push_str(&"*1\r\n".repeat(10));
        deep.push_str(":1\r\n");
        assert!(replying(deep.as_bytes()).scalar_map(b"").is_err());
    }

    #[test]
    fn errors_and_malformed_replies_are_errors() {
        let e = replying(b"-WRONGTYPE Operation against a key\r\n")
            .entries(&mut Page::default(), 1000)
            .unwrap_err();
        assert!(e.to_string().contains("WRONGTYPE"), "{e}");
        for bad in [
            &b"*1\r\n*3\r\n"[..],
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$5\r\nab\r\n",
            b"*2\r\n",
            b"?\r\n",
            b"*x\r\n",
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\naX\r\n$1\r\nb\r\n",
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$-5\r\nb\r\n",
            b"",
        ] {
            for capacity in [1, 3, 8, 1 << 20] {
                assert!(
                    replying_in(bad, capacity)
                        .entries(&mut Page::default(), 1000)
                        .is_err(),
                    "{:?} in a buffer of {capacity}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
        assert!(replying(b"-NOAUTH\r\n").ok(b"").is_err());
        assert!(replying(b"+OK\r\n").ok(b"").is_ok());
        assert_eq!(replying(b"+stream\r\n").simple(b"").unwrap(), "stream");
    }

    /// The error of reading one page from `reply`, with a page of at most 250 entries.
    fn page_error(reply: &[u8]) -> anyhow::Error {
        replying(reply)
            .entries(&mut Page::default(), 250)
            .unwrap_err()
    }

    #[test]
    fn lengths_over_the_caps_are_refused_before_anything_is_allocated() {
        let huge = [
            &b"*1\r\n*2\r\n$999999999999999999\r\n"[..],
            b"*1\r\n*2\r\n$9999999999\r\n",
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$4194305\r\n",
            b"*1\r\n*2\r\n$99999999999999999999999\r\n",
            b"*999999999999999999\r\n",
            b"*251\r\n",
            b"*1\r\n*2\r\n$3\r\n1-0\r\n*4098\r\n",
            b"*1\r\n*99999999\r\n",
        ];
        for reply in huge {
            let e = page_error(reply);
            assert!(
                e.downcast_ref::<Oversized>().is_some(),
                "{:?}: {e:#}",
                String::from_utf8_lossy(reply)
            );
        }
        // A string at the cap is read, as it arrives.
        let mut reply =
            format!("*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nk\r\n${MAX_BULK}\r\n").into_bytes();
        reply.extend(std::iter::repeat_n(b'v', MAX_BULK));
        reply.extend(b"\r\n");
        assert_eq!(decoded(&mut replying(&reply))[0].1[0].1.len(), MAX_BULK);
        // XINFO's map and a bulk inside it are held to the same caps.
        let e = replying(b"*2\r\n$1\r\nk\r\n$999999999999\r\n")
            .scalar_map(b"")
            .unwrap_err();
        assert!(e.downcast_ref::<Oversized>().is_some(), "{e:#}");
        // An endless line is cut at its cap.
        let mut line = b"+".to_vec();
        line.extend(std::iter::repeat_n(b'x', MAX_LINE as usize + 10));
        let e = replying(&line).simple(b"").unwrap_err();
        assert!(e.downcast_ref::<Oversized>().is_some(), "{e:#}");
    }

    #[test]
    fn a_connection_closed_inside_a_reply_is_an_io_error() {
        for reply in [
            &b""[..],
            b"*1\r\n",
            b"*1\r\n*2\r\n",
            b"*1\r\n*2\r\n$15\r\n",
            b"*1\r\n*2\r\n$15\r\n17617",
            b"*1\r\n*2\r\n$3\r\n1-0",
            b"*1\r\n*2\r\n$3\r\n1-0\r",
            b"*1\r\n*2\r\n$1",
        ] {
            for capacity in [1, 4, 1 << 20] {
                let e = replying_in(reply, capacity)
                    .entries(&mut Page::default(), 250)
                    .unwrap_err();
                let io = e.downcast_ref::<std::io::Error>();
                assert!(
                    io.is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof),
                    "{:?} in a buffer of {capacity}: {e:#}",
                    String::from_utf8_lossy(reply)
                );
                assert!(e.to_string().contains("closed the connection"), "{e:#}");
            }
        }
    }
}
