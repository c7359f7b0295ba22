//! Per-request state shared by the adapter objects handed to Python.

use super::transport::Transport;
use crate::config::log_level::{APLOG_ERR, APLOG_TRACE1, APLOG_WARNING};
#[cfg(not(test))]
use crate::python::interp::without_gil;

/// Unit tests run without Python: there is no GIL to let go of.
#[cfg(test)]
fn without_gil<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// What the C module raises (`RuntimeError`) when a response has content
/// but `start_response` was never called.
pub const START_RESPONSE_FIRST: &str =
    "start_response() must be called before response content is produced";

pub struct RequestContext<'t> {
    pub transport: &'t dyn Transport,
    pub status: Option<(i32, String)>,
    pub headers: Vec<(String, String)>,
    pub headers_sent: bool,
    /// The Content-Length of the response, when known before the body.
    pub declared_length: Option<u64>,
    /// Body bytes handed to the server so far.
    pub body_sent: u64,
    /// Set once a body longer than `declared_length` has been logged.
    overflow_logged: bool,
    pub input: InputBuffer,
    pub client_gone: bool,
    error_line: Vec<u8>,
    /// `[script PATH] `, put before each line the application logs.
    pub(super) log_tag: String,
    pub io: IoCounters,
    /// The last body bytes were written unflushed (`Transport::write_last`).
    pub flush_pending: bool,
}

/// The request's body traffic, for metrics and events.
#[derive(Debug, Clone, Copy, Default)]
pub struct IoCounters {
    /// Reads the application made, bytes they returned, time spent.
    pub reads: u64,
    pub read_bytes: u64,
    pub read_time: f64,
    /// Writes handed to the server, bytes written, time spent.
    pub writes: u64,
    pub written: u64,
    pub write_time: f64,
}

impl IoCounters {
    /// One write of `bytes` to the server that began at `started`.
    pub fn count_write(&mut self, started: std::time::Instant, bytes: u64) {
        self.write_time += started.elapsed().as_secs_f64();
        self.writes += 1;
        self.written += bytes;
    }
}

/// Buffered request body, read on demand.
#[derive(Default)]
pub struct InputBuffer {
    pub pending: Vec<u8>,
    pub at_end: bool,
}

const READ_CHUNK: usize = 8192;

/// Apache's per-record limit; longer lines are cut, as Apache would.
const MAX_RECORD: usize = 8192;

/// Logs each complete line of `pending` through `emit`, keeping the rest.
pub fn drain_lines(pending: &mut Vec<u8>, mut emit: impl FnMut(&str)) {
    while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=pos).collect();
        let line = &line[..line.len() - 1];
        emit(&String::from_utf8_lossy(
            &line[..line.len().min(MAX_RECORD)],
        ));
    }
}

impl<'t> RequestContext<'t> {
    pub fn new(transport: &'t dyn Transport, script: &str) -> Self {
        RequestContext {
            transport,
            status: None,
            headers: Vec::new(),
            headers_sent: false,
            declared_length: None,
            body_sent: 0,
            overflow_logged: false,
            input: InputBuffer::default(),
            client_gone: false,
            error_line: Vec::new(),
            log_tag: format!("[script {script}] "),
            io: IoCounters::default(),
            flush_pending: false,
        }
    }

    /// Records (or, before any output, replaces) the status and headers
    /// `start_response` was given, already validated. Returns a message
    /// for a Content-Length that is not a number.
    pub fn set_response(
        &mut self,
        code: i32,
        status: String,
        headers: Vec<(String, String)>,
    ) -> Result<(), String> {
        self.declared_length =
            match headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            {
                Some((_, value)) => Some(value.trim().parse::<u64>().map_err(|_| {
                    format!("invalid Content-Length response header value '{value}'")
                })?),
                None => None,
            };
        self.status = Some((code, status));
        self.headers = headers;
        Ok(())
    }

    /// Hands status and headers to the server, once.
    pub fn send_headers(&mut self) -> Result<(), String> {
        if self.headers_sent {
            return Ok(());
        }
        let (code, line) = self.status.as_ref().ok_or(START_RESPONSE_FIRST)?;
        self.transport.set_status(*code, line);
        for (name, value) in &self.headers {
            self.transport.add_header(name, value);
        }
        self.headers_sent = true;
        Ok(())
    }

    /// Answers with `code` and no headers of the application's, before any
    /// output (the response to an interrupted request).
    pub fn set_status_only(&mut self, code: i32, line: &str) -> Result<(), String> {
        self.status = Some((code, line.to_string()));
        self.headers.clear();
        self.send_headers()
    }

    /// Announces a Content-Length the application did not set (for a
    /// one-item body or a wrapped file) so keep-alive works unchunked.
    pub fn declare_length(&mut self, length: u64) {
        if self.status.is_some() && self.declared_length.is_none() && !self.headers_sent {
            self.headers
                .push(("Content-Length".into(), length.to_string()));
            self.declared_length = Some(length);
        }
    }

    /// How many of `wanted` bytes may still be sent under a declared
    /// Content-Length; logs (once) when the application offers more.
    pub fn allowance(&mut self, wanted: u64) -> u64 {
        let Some(declared) = self.declared_length else {
            return wanted;
        };
        let left = declared.saturating_sub(self.body_sent);
        if wanted > left && !self.overflow_logged {
            self.overflow_logged = true;
            self.transport.log(
                APLOG_WARNING,
                &format!(
                    "mod_wsgi: response body is longer than its Content-Length of {declared}; \
                     the extra bytes were not sent"
                ),
            );
        }
        wanted.min(left)
    }

    /// Notes that the client has gone; later output is dropped.
    pub fn client_disconnected(&mut self) {
        if !self.client_gone {
            self.client_gone = true;
            if !self.transport.logs_write_failures() {
                let line = format!("{}{}", self.log_tag, super::transport::CLIENT_CLOSED);
                self.transport.log(APLOG_TRACE1, &line);
            }
        }
    }

    /// Writes body bytes (sending headers first) and flushes them to the
    /// client, never beyond a declared Content-Length.
    pub fn write_body(&mut self, data: &[u8]) -> Result<(), String> {
        self.send_headers()?;
        if self.client_gone || data.is_empty() {
            return Ok(());
        }
        let data = &data[..self.allowance(data.len() as u64) as usize];
        if data.is_empty() {
            return Ok(());
        }
        let transport = self.transport;
        let last = self.declared_length == Some(self.body_sent + data.len() as u64);
        self.flush_pending |= last;
        let started = std::time::Instant::now();
        let ok = without_gil(|| {
            if last {
                transport.write_last(data)
            } else {
                transport.write(data)
            }
        });
        self.io.count_write(started, data.len() as u64);
        self.body_sent += data.len() as u64;
        if !ok {
            self.client_disconnected();
        }
        Ok(())
    }

    /// Ends the response. After a failure with the headers already out,
    /// or a body shorter than its Content-Length, the client must see the
    /// response as cut short: the connection is closed without completing
    /// the framing, rather than left looking like a whole response.
    pub fn finish(&mut self, failed: bool) {
        if !self.headers_sent || self.client_gone {
            return;
        }
        if failed {
            self.transport.abort_response();
            return;
        }
        if let Some(declared) = self.declared_length {
            if self.body_sent < declared {
                self.transport.log(
                    APLOG_ERR,
                    &format!(
                        "mod_wsgi: response body ended after {} of the {declared} bytes its \
                         Content-Length announced; closing the connection",
                        self.body_sent
                    ),
                );
                self.transport.abort_response();
            }
        }
    }

    /// Makes at least one more chunk available; false at end of body.
    fn fill(&mut self) -> Result<bool, String> {
        if self.input.at_end {
            return Ok(false);
        }
        let mut buf = vec![0u8; READ_CHUNK];
        let transport = self.transport;
        let n = without_gil(|| transport.read(&mut buf))?;
        if n == 0 {
            self.input.at_end = true;
            return Ok(false);
        }
        self.input.pending.extend_from_slice(&buf[..n]);
        Ok(true)
    }

    /// Counts one application read of the body and the time it took.
    fn counted(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        let started = std::time::Instant::now();
        let result = read(self);
        self.io.read_time += started.elapsed().as_secs_f64();
        self.io.reads += 1;
        if let Ok(data) = &result {
            self.io.read_bytes += data.len() as u64;
        }
        result
    }

    /// `read(size)`: `None` reads to the end.
    pub fn read(&mut self, size: Option<usize>) -> Result<Vec<u8>, String> {
        self.counted(|ctx| {
            while size.is_none_or(|s| ctx.input.pending.len() < s) && ctx.fill()? {}
            let take = size.map_or(ctx.input.pending.len(), |s| s.min(ctx.input.pending.len()));
            Ok(ctx.input.pending.drain(..take).collect())
        })
    }

    /// `readline(size)`: up to and including a newline.
    pub fn readline(&mut self, size: Option<usize>) -> Result<Vec<u8>, String> {
        self.counted(|ctx| ctx.readline_uncounted(size))
    }

    fn readline_uncounted(&mut self, size: Option<usize>) -> Result<Vec<u8>, String> {
        loop {
            let limit = size.unwrap_or(usize::MAX);
            if let Some(pos) = self.input.pending.iter().position(|&b| b == b'\n') {
                let take = (pos + 1).min(limit);
                return Ok(self.input.pending.drain(..take).collect());
            }
            if self.input.pending.len() >= limit || !self.fill()? {
                let take = self.input.pending.len().min(limit);
                return Ok(self.input.pending.drain(..take).collect());
            }
        }
    }

    /// `wsgi.errors.write`: complete lines go to the error log.
    pub fn log_text(&mut self, text: &[u8]) {
        self.error_line.extend_from_slice(text);
        let (transport, tag) = (self.transport, &self.log_tag);
        drain_lines(&mut self.error_line, |line| {
            transport.log(APLOG_ERR, &format!("{tag}{line}"))
        });
    }

    pub fn flush_log(&mut self) {
        if !self.error_line.is_empty() {
            self.error_line.push(b'\n');
            self.log_text(b"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    /// What the adapter asked of the server, in order.
    #[derive(Debug, PartialEq)]
    enum Call {
        Status(i32, String),
        Header(String, String),
        Write(Vec<u8>),
        WriteLast(Vec<u8>),
        Abort,
        Log(i32, String),
    }

    /// A server side that records every call, serves the request body
    /// from `body` in the chunks given, and can play a client that left.
    #[derive(Default)]
    struct FakeTransport {
        calls: RefCell<Vec<Call>>,
        body: RefCell<VecDeque<Result<Vec<u8>, String>>>,
        client_gone: Cell<bool>,
        logs_write_failures: bool,
    }

    impl FakeTransport {
        fn with_body(chunks: &[&[u8]]) -> Self {
            let fake = FakeTransport::default();
            fake.body
                .borrow_mut()
                .extend(chunks.iter().map(|c| Ok(c.to_vec())));
            fake
        }

        fn record(&self, call: Call) {
            self.calls.borrow_mut().push(call);
        }

        fn take_calls(&self) -> Vec<Call> {
            std::mem::take(&mut self.calls.borrow_mut())
        }
    }

    impl Transport for FakeTransport {
        fn set_status(&self, code: i32, line: &str) {
            self.record(Call::Status(code, line.into()));
        }
        fn add_header(&self, name: &str, value: &str) {
            self.record(Call::Header(name.into(), value.into()));
        }
        fn write(&self, data: &[u8]) -> bool {
            if self.client_gone.get() {
                return false;
            }
            self.record(Call::Write(data.to_vec()));
            true
        }
        fn logs_write_failures(&self) -> bool {
            self.logs_write_failures
        }
        fn write_last(&self, data: &[u8]) -> bool {
            if self.client_gone.get() {
                return false;
            }
            self.record(Call::WriteLast(data.to_vec()));
            true
        }
        fn abort_response(&self) {
            self.record(Call::Abort);
        }
        fn send_file(&self, _fd: i32, _offset: u64, _length: u64, _sendfile: bool) -> bool {
            unreachable!("the context never sends files itself")
        }
        fn read(&self, buf: &mut [u8]) -> Result<usize, String> {
            let Some(chunk) = self.body.borrow_mut().pop_front() else {
                return Ok(0);
            };
            let chunk = chunk?;
            assert!(chunk.len() <= buf.len(), "a chunk larger than a read");
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
        fn log(&self, level: i32, message: &str) {
            self.record(Call::Log(level, message.into()));
        }
    }

    const SCRIPT: &str = "/srv/app.wsgi";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn started<'t>(fake: &'t FakeTransport, pairs: &[(&str, &str)]) -> RequestContext<'t> {
        let mut ctx = RequestContext::new(fake, SCRIPT);
        ctx.set_response(200, "200 OK".into(), headers(pairs))
            .unwrap();
        ctx
    }

    #[test]
    fn body_before_start_response_is_refused() {
        let fake = FakeTransport::default();
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        assert_eq!(ctx.write_body(b"x"), Err(START_RESPONSE_FIRST.into()));
        assert_eq!(fake.take_calls(), vec![]);
    }

    #[test]
    fn status_and_headers_go_out_once_before_the_first_body_bytes() {
        let fake = FakeTransport::default();
        let mut ctx = started(&fake, &[("Content-Type", "text/plain")]);
        ctx.write_body(b"a").unwrap();
        ctx.write_body(b"").unwrap();
        ctx.write_body(b"b").unwrap();
        ctx.finish(false);
        assert_eq!(
            fake.take_calls(),
            vec![
                Call::Status(200, "200 OK".into()),
                Call::Header("Content-Type".into(), "text/plain".into()),
                Call::Write(b"a".to_vec()),
                Call::Write(b"b".to_vec()),
            ]
        );
        assert_eq!((ctx.io.writes, ctx.io.written, ctx.body_sent), (2, 2, 2));
        assert!(!ctx.flush_pending, "no declared length, nothing held back");
    }

    #[test]
    fn a_declared_length_caps_the_body_and_the_excess_is_logged_once() {
        let fake = FakeTransport::default();
        let mut ctx = started(&fake, &[("content-length", " 3 ")]);
        assert_eq!(ctx.declared_length, Some(3));
        ctx.write_body(b"ab").unwrap();
        ctx.write_body(b"cdef").unwrap();
        ctx.write_body(b"gh").unwrap();
        ctx.finish(false);
        let calls = fake.take_calls();
        assert_eq!(
            calls[2..],
            [
                Call::Write(b"ab".to_vec()),
                Call::Log(
                    APLOG_WARNING,
                    "mod_wsgi: response body is longer than its Content-Length of 3; \
                     the extra bytes were not sent"
                        .into()
                ),
                // The bytes that complete the declared length are written
                // unflushed, for the handler to flush after its bookkeeping.
                Call::WriteLast(b"c".to_vec()),
            ]
        );
        assert_eq!(ctx.body_sent, 3);
        assert!(ctx.flush_pending);
    }

    #[test]
    fn a_content_length_that_is_not_a_number_is_refused_with_its_value() {
        let fake = FakeTransport::default();
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        assert_eq!(
            ctx.set_response(200, "200 OK".into(), headers(&[("Content-Length", "12a")])),
            Err("invalid Content-Length response header value '12a'".into())
        );
        assert!(ctx.status.is_none(), "nothing recorded");
    }

    #[test]
    fn a_body_shorter_than_its_length_closes_the_connection() {
        let fake = FakeTransport::default();
        let mut ctx = started(&fake, &[("Content-Length", "5")]);
        ctx.write_body(b"ab").unwrap();
        fake.take_calls();
        ctx.finish(false);
        assert_eq!(
            fake.take_calls(),
            vec![
                Call::Log(
                    APLOG_ERR,
                    "mod_wsgi: response body ended after 2 of the 5 bytes its \
                     Content-Length announced; closing the connection"
                        .into()
                ),
                Call::Abort,
            ]
        );
    }

    #[test]
    fn a_failure_aborts_only_a_response_already_begun() {
        let fake = FakeTransport::default();
        let mut ctx = started(&fake, &[]);
        ctx.finish(true);
        assert_eq!(fake.take_calls(), vec![], "nothing was sent yet");
        ctx.write_body(b"partial").unwrap();
        fake.take_calls();
        ctx.finish(true);
        assert_eq!(fake.take_calls(), vec![Call::Abort]);
    }

    #[test]
    fn a_client_that_left_is_noted_once_and_later_output_dropped() {
        let fake = FakeTransport::default();
        let mut ctx = started(&fake, &[("Content-Length", "10")]);
        fake.client_gone.set(true);
        ctx.write_body(b"abc").unwrap();
        ctx.write_body(b"def").unwrap();
        ctx.finish(false);
        let calls = fake.take_calls();
        assert_eq!(
            calls[2..],
            [Call::Log(
                APLOG_TRACE1,
                format!("[script {SCRIPT}] Client closed connection.")
            )],
            "one line, no abort of a response nobody reads"
        );
        assert!(ctx.client_gone);
        assert_eq!(
            ctx.body_sent, 3,
            "the failed write counted, the next not made"
        );
    }

    #[test]
    fn a_transport_that_logs_its_own_write_failures_is_not_echoed() {
        let fake = FakeTransport {
            logs_write_failures: true,
            ..FakeTransport::default()
        };
        let mut ctx = started(&fake, &[]);
        fake.client_gone.set(true);
        ctx.write_body(b"abc").unwrap();
        assert!(ctx.client_gone);
        assert!(!fake.take_calls().iter().any(|c| matches!(c, Call::Log(..))));
    }

    #[test]
    fn declare_length_only_fills_in_a_length_nobody_set() {
        let fake = FakeTransport::default();
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        ctx.declare_length(4);
        assert_eq!(ctx.declared_length, None, "no start_response yet");
        ctx.set_response(200, "200 OK".into(), vec![]).unwrap();
        ctx.declare_length(4);
        ctx.declare_length(9);
        assert_eq!(ctx.declared_length, Some(4));
        assert_eq!(ctx.headers, headers(&[("Content-Length", "4")]));

        let mut sent = started(&fake, &[]);
        sent.send_headers().unwrap();
        sent.declare_length(4);
        assert_eq!(sent.declared_length, None, "the headers are already out");
    }

    #[test]
    fn set_status_only_drops_the_applications_headers() {
        let fake = FakeTransport::default();
        let mut ctx = started(&fake, &[("X-App", "1")]);
        ctx.set_status_only(504, "504 Gateway Timeout").unwrap();
        assert_eq!(
            fake.take_calls(),
            vec![Call::Status(504, "504 Gateway Timeout".into())]
        );
    }

    #[test]
    fn reads_gather_chunks_until_the_end_of_the_body() {
        let fake = FakeTransport::with_body(&[b"ab", b"cd\nef", b"g"]);
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        assert_eq!(ctx.read(Some(3)).unwrap(), b"abc");
        assert_eq!(ctx.readline(None).unwrap(), b"d\n");
        assert_eq!(ctx.read(None).unwrap(), b"efg");
        assert_eq!(ctx.read(None).unwrap(), b"");
        assert_eq!(ctx.readline(None).unwrap(), b"");
        assert_eq!((ctx.io.reads, ctx.io.read_bytes), (5, 8));
    }

    #[test]
    fn readline_stops_at_its_size_limit() {
        let fake = FakeTransport::with_body(&[b"abc", b"def\nrest"]);
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        assert_eq!(ctx.readline(Some(2)).unwrap(), b"ab");
        assert_eq!(ctx.readline(Some(100)).unwrap(), b"cdef\n");
        assert_eq!(ctx.readline(None).unwrap(), b"rest");
    }

    #[test]
    fn a_read_error_reaches_the_application() {
        let fake = FakeTransport::with_body(&[b"ab"]);
        fake.body
            .borrow_mut()
            .push_back(Err("mod_wsgi request data read error: timed out".into()));
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        assert_eq!(
            ctx.read(None),
            Err("mod_wsgi request data read error: timed out".into())
        );
        assert_eq!(ctx.read(Some(2)).unwrap(), b"ab", "what came before stays");
    }

    #[test]
    fn the_error_stream_logs_whole_lines_tagged_with_the_script() {
        let fake = FakeTransport::default();
        let mut ctx = RequestContext::new(&fake, SCRIPT);
        ctx.log_text(b"one\ntw");
        ctx.log_text(b"o\n");
        ctx.log_text(b"three");
        ctx.flush_log();
        ctx.flush_log();
        let tagged = |line: &str| Call::Log(APLOG_ERR, format!("[script {SCRIPT}] {line}"));
        assert_eq!(
            fake.take_calls(),
            vec![tagged("one"), tagged("two"), tagged("three")]
        );
    }

    #[test]
    fn drained_lines_are_cut_at_apaches_record_limit() {
        let mut pending = vec![b'x'; MAX_RECORD + 100];
        pending.extend_from_slice(b"\nkept");
        let mut lines = Vec::new();
        drain_lines(&mut pending, |l| lines.push(l.len()));
        assert_eq!(lines, vec![MAX_RECORD]);
        assert_eq!(pending, b"kept");
    }
}
