//! The protocol between an Apache child and a daemon process, over one
//! UNIX-socket connection per request.
//!
//! The child opens with a [`Frame::Request`]. From then on the daemon
//! drives: it asks for request-body bytes when the application reads
//! (`ReadBody` → `BodyData`), and sends the response as it is produced
//! (`Headers`, `Body`), log lines for the request's error log (`Log`) and
//! finally `End`, `Fail` or `Abort` (or `Retry` when it is restarting and
//! did not take the request). Each frame is a one-byte kind, a
//! four-byte big-endian payload length and the payload.

use std::borrow::Cow;
use std::io::{self, Read, Write};

/// Refuse frames beyond this size: a corrupt stream must not make us
/// allocate without bound.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// What the child knows about the request when it hands it over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestHead<'r> {
    /// CGI variables after the request-level directives were applied:
    /// borrowed from the request in the child, owned once read from the
    /// wire.
    pub vars: Vec<(Cow<'r, str>, Cow<'r, str>)>,
    /// Everything else the daemon needs, as named string values.
    pub meta: Vec<(String, String)>,
}

impl RequestHead<'_> {
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Child → daemon: the request.
    Request(RequestHead<'static>),
    /// Daemon → child: read up to this many body bytes.
    ReadBody(u32),
    /// Child → daemon: body bytes; empty at the end of the body.
    BodyData(Vec<u8>),
    /// Child → daemon: reading the body failed (client gone, timeout).
    BodyError(String),
    /// Daemon → child: status line and headers.
    Headers {
        status: i32,
        reason: String,
        headers: Vec<(String, String)>,
    },
    /// Daemon → child: response bytes, to be flushed to the client.
    Body(Vec<u8>),
    /// Daemon → child: a line for the request's error log.
    Log { level: i32, message: String },
    /// Daemon → child: the response is complete.
    End,
    /// Daemon → child: nothing was sent; answer with this status.
    Fail(i32),
    /// Daemon → child: cut the response short (close the connection).
    Abort,
    /// Daemon → child: this process is restarting and did not run the
    /// request; send it again on a new connection.
    Retry,
}

const REQUEST: u8 = 1;
const READ_BODY: u8 = 2;
const BODY_DATA: u8 = 3;
const BODY_ERROR: u8 = 4;
const HEADERS: u8 = 5;
const BODY: u8 = 6;
const LOG: u8 = 7;
const END: u8 = 8;
const FAIL: u8 = 9;
const ABORT: u8 = 10;
const RETRY: u8 = 11;

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_pairs<K: AsRef<str>, V: AsRef<str>>(out: &mut Vec<u8>, pairs: &[(K, V)]) {
    put_u32(out, pairs.len() as u32);
    for (k, v) in pairs {
        put_str(out, k.as_ref());
        put_str(out, v.as_ref());
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("daemon protocol: {what}"),
    )
}

/// Reads fields out of one payload.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u32(&mut self) -> io::Result<u32> {
        if self.0.len() < 4 {
            return Err(bad("truncated number"));
        }
        let (head, rest) = self.0.split_at(4);
        self.0 = rest;
        Ok(u32::from_be_bytes(head.try_into().expect("four bytes")))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return Err(bad("truncated string"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(head.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }

    fn pairs(&mut self) -> io::Result<Vec<(String, String)>> {
        let count = self.u32()? as usize;
        // Each pair takes at least eight bytes, which bounds the count.
        if count > self.0.len() / 8 {
            return Err(bad("too many pairs"));
        }
        (0..count)
            .map(|_| Ok((self.string()?, self.string()?)))
            .collect()
    }
}

/// Payloads up to this size go out with their header in one write; larger
/// ones are written after it without being copied.
const COALESCE_LIMIT: usize = 16 * 1024;

fn write_raw(out: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut head = [kind, 0, 0, 0, 0];
    head[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    if payload.len() <= COALESCE_LIMIT {
        let mut buf = Vec::with_capacity(head.len() + payload.len());
        buf.extend_from_slice(&head);
        buf.extend_from_slice(payload);
        return out.write_all(&buf);
    }
    out.write_all(&head)?;
    out.write_all(payload)
}

/// Writes `Frame::Body(data)` without copying `data` into a frame first.
pub fn write_body(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    write_raw(out, BODY, data)
}

/// Writes `Frame::BodyData(data)` without copying `data` into a frame first.
pub fn write_body_data(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    write_raw(out, BODY_DATA, data)
}

fn encode_head(p: &mut Vec<u8>, head: &RequestHead<'_>) {
    put_pairs(p, &head.vars);
    put_pairs(p, &head.meta);
}

/// Writes `Frame::Request` from a borrowed head (the child may have to
/// send it again to a restarted daemon).
pub fn write_request(out: &mut impl Write, head: &RequestHead<'_>) -> io::Result<()> {
    let mut p = Vec::new();
    encode_head(&mut p, head);
    write_raw(out, REQUEST, &p)
}

impl Frame {
    /// Kind and payload of the frames that are not plain byte runs
    /// (those go through [`write_body`] and [`write_body_data`]).
    fn kind_and_payload(&self) -> (u8, Vec<u8>) {
        let mut p = Vec::new();
        let kind = match self {
            Frame::Request(head) => {
                encode_head(&mut p, head);
                REQUEST
            }
            Frame::ReadBody(n) => {
                put_u32(&mut p, *n);
                READ_BODY
            }
            Frame::BodyError(message) => {
                p.extend_from_slice(message.as_bytes());
                BODY_ERROR
            }
            Frame::Headers {
                status,
                reason,
                headers,
            } => {
                put_u32(&mut p, *status as u32);
                put_str(&mut p, reason);
                put_pairs(&mut p, headers);
                HEADERS
            }
            Frame::Log { level, message } => {
                put_u32(&mut p, *level as u32);
                p.extend_from_slice(message.as_bytes());
                LOG
            }
            Frame::Body(_) | Frame::BodyData(_) => {
                unreachable!("byte frames are written by write_to without a payload copy")
            }
            Frame::End => END,
            Frame::Fail(status) => {
                put_u32(&mut p, *status as u32);
                FAIL
            }
            Frame::Abort => ABORT,
            Frame::Retry => RETRY,
        };
        (kind, p)
    }

    /// Writes the frame as one buffer (one write for small frames).
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Frame::Body(data) => write_body(out, data),
            Frame::BodyData(data) => write_body_data(out, data),
            other => {
                let (kind, payload) = other.kind_and_payload();
                write_raw(out, kind, &payload)
            }
        }
    }

    /// Reads one frame; `Ok(None)` when the peer closed cleanly between
    /// frames.
    pub fn read_from(input: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 5];
        let mut got = 0;
        while got < head.len() {
            match input.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(bad("connection closed inside a frame")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let len = u32::from_be_bytes(head[1..].try_into().expect("four bytes")) as usize;
        if len > MAX_FRAME {
            return Err(bad("frame too large"));
        }
        // Grown as bytes arrive rather than sized up front, so a peer that
        // announces a large frame and sends nothing costs nothing.
        let mut payload = Vec::with_capacity(len.min(64 * 1024));
        input.take(len as u64).read_to_end(&mut payload)?;
        if payload.len() < len {
            return Err(bad("connection closed inside a frame"));
        }
        let mut c = Cursor(&payload);
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let frame = match head[0] {
            REQUEST => Frame::Request(RequestHead {
                vars: c
                    .pairs()?
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                    .collect(),
                meta: c.pairs()?,
            }),
            READ_BODY => Frame::ReadBody(c.u32()?),
            BODY_DATA => Frame::BodyData(payload),
            BODY_ERROR => Frame::BodyError(text(&payload)),
            HEADERS => Frame::Headers {
                status: c.u32()? as i32,
                reason: c.string()?,
                headers: c.pairs()?,
            },
            BODY => Frame::Body(payload),
            LOG => {
                let level = c.u32()? as i32;
                Frame::Log {
                    level,
                    message: text(c.0),
                }
            }
            END => Frame::End,
            FAIL => Frame::Fail(c.u32()? as i32),
            ABORT => Frame::Abort,
            RETRY => Frame::Retry,
            other => return Err(bad(&format!("unknown frame kind {other}"))),
        };
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cgi(items: &[(&'static str, &'static str)]) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
        items
            .iter()
            .map(|&(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
            .collect()
    }

    fn round_trip(frame: Frame) {
        let mut buf = Vec::new();
        frame.write_to(&mut buf).unwrap();
        let mut input = &buf[..];
        assert_eq!(Frame::read_from(&mut input).unwrap(), Some(frame));
        assert!(input.is_empty());
    }

    #[test]
    fn a_borrowed_head_encodes_like_the_frame() {
        let head = RequestHead {
            vars: cgi(&[("REQUEST_METHOD", "POST")]),
            meta: pairs(&[("queue_start", "1.5")]),
        };
        let mut borrowed = Vec::new();
        write_request(&mut borrowed, &head).unwrap();
        let mut owned = Vec::new();
        Frame::Request(head).write_to(&mut owned).unwrap();
        assert_eq!(borrowed, owned);
    }

    #[test]
    fn every_frame_round_trips() {
        round_trip(Frame::Request(RequestHead {
            vars: cgi(&[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/é")]),
            meta: pairs(&[("script", "/srv/app.wsgi"), ("empty", "")]),
        }));
        round_trip(Frame::ReadBody(8192));
        round_trip(Frame::BodyData(vec![0, 1, 2, 255]));
        round_trip(Frame::BodyData(Vec::new()));
        round_trip(Frame::BodyError("client went away".into()));
        round_trip(Frame::Headers {
            status: 404,
            reason: "404 Not Found".into(),
            headers: pairs(&[("Content-Type", "text/plain"), ("X-A", "b")]),
        });
        round_trip(Frame::Body(b"hello".to_vec()));
        round_trip(Frame::Body(vec![7; COALESCE_LIMIT * 3]));
        round_trip(Frame::Log {
            level: 3,
            message: "a line".into(),
        });
        round_trip(Frame::End);
        round_trip(Frame::Fail(503));
        round_trip(Frame::Abort);
        round_trip(Frame::Retry);
    }

    #[test]
    fn request_meta_lookup() {
        let head = RequestHead {
            vars: Vec::new(),
            meta: pairs(&[("script", "/srv/app.wsgi"), ("reload", "1")]),
        };
        assert_eq!(head.meta("reload"), Some("1"));
        assert_eq!(head.meta("missing"), None);
    }

    #[test]
    fn frames_follow_each_other() {
        let mut buf = Vec::new();
        Frame::Body(b"one".to_vec()).write_to(&mut buf).unwrap();
        Frame::End.write_to(&mut buf).unwrap();
        let mut input = &buf[..];
        assert_eq!(
            Frame::read_from(&mut input).unwrap(),
            Some(Frame::Body(b"one".to_vec()))
        );
        assert_eq!(Frame::read_from(&mut input).unwrap(), Some(Frame::End));
        assert_eq!(Frame::read_from(&mut input).unwrap(), None);
    }

    #[test]
    fn damaged_streams_are_errors() {
        let mut buf = Vec::new();
        Frame::Body(b"abcdef".to_vec()).write_to(&mut buf).unwrap();
        let mut cut = &buf[..buf.len() - 2];
        assert!(Frame::read_from(&mut cut).is_err());
        let mut cut_head = &buf[..3];
        assert!(Frame::read_from(&mut cut_head).is_err());
        let mut unknown: &[u8] = &[99, 0, 0, 0, 0];
        assert!(Frame::read_from(&mut unknown).is_err());
        let mut huge: &[u8] = &[BODY, 0xff, 0xff, 0xff, 0xff];
        assert!(Frame::read_from(&mut huge).is_err());
        // A large frame announced, then the peer goes away: an error.
        let mut announced: Vec<u8> = vec![BODY];
        announced.extend_from_slice(&((MAX_FRAME as u32) - 1).to_be_bytes());
        announced.extend_from_slice(b"abc");
        assert!(Frame::read_from(&mut &announced[..]).is_err());
        // A pair count larger than the payload could hold.
        let mut lying: Vec<u8> = vec![REQUEST, 0, 0, 0, 4];
        lying.extend_from_slice(&1000u32.to_be_bytes());
        assert!(Frame::read_from(&mut &lying[..]).is_err());
    }
}
