//! What the WSGI adapter needs from the server side of a request. Embedded
//! mode implements it over Apache's request_rec; daemon mode over the
//! socket to the Apache child; the context's unit tests over a fake.

// Unit-test builds leave out the handler, the only caller of some methods.
#[cfg_attr(test, allow(dead_code))]
pub trait Transport {
    fn set_status(&self, code: i32, line: &str);
    fn add_header(&self, name: &str, value: &str);
    /// Writes body bytes and flushes them towards the client; false when
    /// the client has gone away.
    fn write(&self, data: &[u8]) -> bool;
    /// Whether `write` logs why it failed (as the C module does); if not,
    /// the caller notes that the client went away.
    fn logs_write_failures(&self) -> bool {
        false
    }
    /// Writes the last body bytes of a response whose length was declared
    /// without pushing them out; [`flush`](Self::flush) does that once the
    /// request's own bookkeeping has ended, so a client that has the whole
    /// response never finds the request still listed as running.
    fn write_last(&self, data: &[u8]) -> bool {
        self.write(data)
    }

    /// Pushes out what `write_last` left buffered.
    fn flush(&self) {}
    /// Closes the connection after what was sent, without completing the
    /// response's framing, so the client can tell it was cut short.
    fn abort_response(&self);
    /// Sends part of an open regular file as the body (the
    /// `wsgi.file_wrapper` fast path); false when the client has gone away.
    fn send_file(&self, fd: i32, offset: u64, length: u64, allow_sendfile: bool) -> bool;
    /// Reads request body bytes; `Ok(0)` at the end.
    fn read(&self, buf: &mut [u8]) -> Result<usize, String>;
    /// Logs a line in the request's context at an Apache log level.
    fn log(&self, level: i32, message: &str);
    /// `log` with an OS error number, which Apache renders before the line
    /// where it logs it; elsewhere the number is dropped.
    fn log_with_errno(&self, level: i32, _errno: i32, message: &str) {
        self.log(level, message)
    }
}

#[cfg(not(test))]
impl Transport for crate::apache::request::Request<'_> {
    fn set_status(&self, code: i32, line: &str) {
        crate::apache::request::Request::set_status(*self, code, line)
    }

    fn add_header(&self, name: &str, value: &str) {
        crate::apache::request::Request::add_header(*self, name, value)
    }

    fn write(&self, data: &[u8]) -> bool {
        use crate::apache::request::WriteFailure;
        match crate::apache::request::Request::write(*self, data) {
            Ok(()) => return true,
            Err(WriteFailure::ClientGone) => log_write_failure(*self, CLIENT_CLOSED),
            Err(WriteFailure::Failed(error)) => {
                log_write_failure(*self, &format!("Unable to write response data: {error}."))
            }
        }
        false
    }

    fn logs_write_failures(&self) -> bool {
        true
    }

    fn write_last(&self, data: &[u8]) -> bool {
        let written = crate::apache::request::Request::write_unflushed(*self, data);
        if !written {
            log_write_failure(*self, CLIENT_CLOSED);
        }
        written
    }

    fn flush(&self) {
        crate::apache::request::Request::flush(*self);
    }

    fn send_file(&self, fd: i32, offset: u64, length: u64, allow_sendfile: bool) -> bool {
        let sent =
            crate::apache::request::Request::send_file(*self, fd, offset, length, allow_sendfile);
        if !sent {
            log_write_failure(*self, CLIENT_CLOSED);
        }
        sent
    }

    fn abort_response(&self) {
        crate::apache::request::Request::abort_response(*self)
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, String> {
        self.read_body(buf).map_err(|status| {
            format!(
                "mod_wsgi request data read error: {}",
                crate::apache::apr_error(status)
            )
        })
    }

    fn log(&self, level: i32, message: &str) {
        crate::apache::request::Request::log(*self, level, message)
    }

    fn log_with_errno(&self, level: i32, errno: i32, message: &str) {
        crate::apache::log::request_log_with_status(self.raw(), level, errno, message)
    }
}

/// The C module's line for a client found gone while writing.
pub(super) const CLIENT_CLOSED: &str = "Client closed connection.";

/// Logs why response data did not reach the client, at TRACE1 and naming
/// the request's file, as the C module does.
#[cfg(not(test))]
fn log_write_failure(req: crate::apache::request::Request, why: &str) {
    let line = format!("[script {}] {why}", req.filename());
    req.log(crate::apache::log::APLOG_TRACE1, &line);
}

#[cfg(not(test))]
impl super::ssl::SslVars for crate::apache::request::Request<'_> {
    fn is_https(&self) -> bool {
        crate::apache::request::Request::is_https(self)
    }

    fn var(&self, name: &str) -> String {
        self.ssl_var(name).unwrap_or_default()
    }
}
