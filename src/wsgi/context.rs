//! Per-request state shared by the adapter objects handed to Python.

use super::transport::Transport;
use crate::apache::log::{APLOG_ERR, APLOG_TRACE1, APLOG_WARNING};

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
        let ok = crate::python::interp::without_gil(|| {
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
        let n = crate::python::interp::without_gil(|| transport.read(&mut buf))?;
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
        super::streams::drain_lines(&mut self.error_line, |line| {
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
