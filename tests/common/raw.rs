//! Raw-socket HTTP/1.1 client pieces for tests that need control over the
//! wire: partial request bodies, half-closes, early disconnects, reading a
//! streamed response with arrival times, keep-alive connections.
//!
//! Only std is used.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Granularity of the read loop (socket read timeout).
const POLL: Duration = Duration::from_millis(50);

/// A connection to the server under test.
pub struct RawConn {
    pub stream: TcpStream,
    /// When the connection was opened; arrival times are relative to it
    /// unless `mark()` moved it.
    pub start: Instant,
}

impl RawConn {
    pub fn connect(port: u16) -> RawConn {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect to server");
        stream.set_read_timeout(Some(POLL)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            start: Instant::now(),
        }
    }

    /// Resets the time origin for arrival times to now.
    pub fn mark(&mut self) {
        self.start = Instant::now();
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)?;
        self.stream.flush()
    }

    /// Half-close: no more request bytes, the response can still be read.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads whatever arrives until EOF, a socket error (e.g. a reset), or
    /// `limit` has passed. Records when each piece arrived.
    pub fn read_timed(&mut self, limit: Duration) -> Timed {
        self.read_timed_until(limit, |_| false)
    }

    /// Like `read_timed` but also stops as soon as `done(data so far)`.
    pub fn read_timed_until(&mut self, limit: Duration, done: impl Fn(&[u8]) -> bool) -> Timed {
        let deadline = Instant::now() + limit;
        let mut t = Timed::default();
        let mut buf = [0u8; 65536];
        loop {
            if done(&t.data) {
                return t;
            }
            if Instant::now() >= deadline {
                return t;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    t.eof = Some(self.start.elapsed());
                    return t;
                }
                Ok(n) => {
                    t.data.extend_from_slice(&buf[..n]);
                    t.arrivals.push((self.start.elapsed(), t.data.len()));
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A reset also means the server closed the connection.
                    t.eof = Some(self.start.elapsed());
                    t.error = Some(e.kind());
                    return t;
                }
            }
        }
    }

    /// Reads until at least `n` bytes have arrived (or EOF / `limit`).
    pub fn read_at_least(&mut self, n: usize, limit: Duration) -> Timed {
        self.read_timed_until(limit, |d| d.len() >= n)
    }
}

/// Bytes read from a connection and when they arrived.
#[derive(Default, Debug)]
pub struct Timed {
    pub data: Vec<u8>,
    /// (time since origin, total bytes received by then), one per read.
    pub arrivals: Vec<(Duration, usize)>,
    /// Time the connection was seen closed by the server (EOF or reset);
    /// `None` if it was still open when reading stopped.
    pub eof: Option<Duration>,
    pub error: Option<io::ErrorKind>,
}

impl Timed {
    /// Arrival time of the read that completed the first occurrence of
    /// `needle` in the stream.
    pub fn time_of(&self, needle: &[u8]) -> Option<Duration> {
        let pos = find(&self.data, needle)? + needle.len();
        self.arrivals
            .iter()
            .find(|(_, len)| *len >= pos)
            .map(|(t, _)| *t)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).to_string()
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A response head split off the bytes that follow it.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Length of the head including the blank line.
    pub len: usize,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

/// Parses the response head at the start of `data`, if complete.
pub fn parse_head(data: &[u8]) -> Option<Head> {
    let end = find(data, b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&data[..end]).to_string();
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Head {
        status,
        headers,
        len: end + 4,
    })
}

/// Decodes a chunked body. Returns the payload and whether the terminating
/// zero-size chunk (and the blank line after any trailers) was seen, and
/// the number of input bytes consumed.
pub fn dechunk(mut data: &[u8]) -> (Vec<u8>, bool, usize) {
    let total = data.len();
    let mut out = Vec::new();
    loop {
        let Some(le) = find(data, b"\r\n") else {
            return (out, false, total - data.len());
        };
        let line = String::from_utf8_lossy(&data[..le]).to_string();
        let Ok(size) = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false, total - data.len());
        };
        let rest = &data[le + 2..];
        if size == 0 {
            // Optional trailers, then an empty line.
            if rest.starts_with(b"\r\n") {
                return (out, true, total - rest.len() + 2);
            }
            return match find(rest, b"\r\n\r\n") {
                Some(p) => (out, true, total - rest.len() + p + 4),
                None => (out, false, total - data.len()),
            };
        }
        if rest.len() < size + 2 {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            return (out, false, total);
        }
        out.extend_from_slice(&rest[..size]);
        data = &rest[size + 2..];
    }
}

/// A request head (HTTP/1.1, Host added) followed by `body`.
pub fn request_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut data = req.into_bytes();
    data.extend_from_slice(body);
    data
}

/// Encodes `body` with chunked transfer-coding in pieces of `sizes`
/// (cycled), ending with the zero-size chunk.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
