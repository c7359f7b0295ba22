//! The Apache child's side of daemon mode: hand the request to a daemon
//! process over the group's socket, then serve the daemon's requests for
//! body bytes and relay its response to the client.

use super::header_scan;
use super::supervisor::Endpoint;
use super::wire::{Frame, RequestHead};
use crate::apache::log::{APLOG_ERR, APLOG_INFO, APLOG_TRACE1};
use crate::apache::request::Request;
use crate::sys::socket;
use crate::sys::ECONNRESET;
use std::io::{BufReader, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Per-request settings from the directory configuration.
pub struct RelayOptions {
    /// `WSGIErrorOverride`: error statuses from the application are answered
    /// by Apache (so `ErrorDocument` applies) instead of with its body.
    pub error_override: bool,
}

/// How often a request is handed over again when daemons are restarting
/// (they answer `Retry`, or drop a connection they had not read from).
const MAX_ATTEMPTS: usize = 10;

enum ConnectError {
    /// Backlog full or nobody listening, until connect-timeout ran out;
    /// the last attempt's error.
    Busy(std::io::Error),
    Failed(std::io::Error),
}

/// Connects to the group's socket, retrying while its backlog is full or
/// nobody listens, for up to `connect_timeout`; `on_retry` hears of each
/// attempt that will be retried (its number and error).
fn connect(
    path: &str,
    connect_timeout: Duration,
    mut on_retry: impl FnMut(u32, &std::io::Error),
) -> Result<UnixStream, ConnectError> {
    let address = socket::UnixAddress::new(path).map_err(ConnectError::Failed)?;
    let deadline = Instant::now() + connect_timeout;
    let mut pause = Duration::from_millis(5);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let stream = socket::stream_socket_nonblocking().map_err(ConnectError::Failed)?;
        // Non-blocking, so a full backlog answers EAGAIN instead of
        // blocking.
        let error = match socket::connect(&stream, &address) {
            Ok(()) => {
                stream
                    .set_nonblocking(false)
                    .map_err(ConnectError::Failed)?;
                return Ok(stream);
            }
            Err(error) => error,
        };
        match error.kind() {
            ErrorKind::Interrupted => continue,
            ErrorKind::WouldBlock | ErrorKind::ConnectionRefused => {
                if Instant::now() >= deadline {
                    return Err(ConnectError::Busy(error));
                }
                on_retry(attempt, &error);
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            _ => return Err(ConnectError::Failed(error)),
        }
    }
}

/// How one hand-over ended.
enum Exchange {
    /// The handler's return value.
    Done(i32),
    /// The daemon did not run the request: hand it over again.
    Retry,
}

/// Runs the request in daemon group `group`; returns the handler status.
pub fn relay(req: Request, group: &str, mut head: RequestHead, options: RelayOptions) -> i32 {
    let Some(endpoint) = super::supervisor::endpoint(group) else {
        req.log_script_error(
            0,
            &format!("WSGI0151: No WSGI daemon process called '{group}' has been configured."),
        );
        return 500;
    };
    if endpoint.service_only {
        req.log(
            APLOG_ERR,
            &format!(
                "mod_wsgi: Daemon process group '{group}' runs service scripts (threads=0) and does not take requests."
            ),
        );
        return 500;
    }
    if let Some(owner) = &endpoint.scope {
        if req.server_hostname() != *owner {
            req.log_script_error(
                0,
                &format!(
                    "WSGI0152: Daemon process called '{group}' cannot be accessed by this WSGI application."
                ),
            );
            return 500;
        }
    }
    if let Err(status) = super::script_owner::check(req, &endpoint.script_ownership) {
        return status;
    }
    if let Some(timeout) = endpoint.response_socket_timeout {
        req.set_client_timeout(timeout);
    }
    // Connections made, and attempts the daemon turned back because it
    // was restarting (for the request's `daemon_connects`/`_restarts`).
    let (mut connects, mut restarts) = (0u32, 0u32);
    loop {
        let on_retry = |attempt: u32, error: &std::io::Error| {
            req.log_script(
                APLOG_TRACE1,
                error.raw_os_error().unwrap_or(0),
                &format!(
                    "Connection attempt #{attempt} to WSGI daemon process '{group}' on '{}' failed, sleeping before retrying again.",
                    endpoint.path
                ),
            );
        };
        let connecting = Instant::now();
        let stream = match connect(&endpoint.path, endpoint.connect_timeout, on_retry) {
            Ok(s) => {
                if let (Some(board), Some(g)) = (crate::metrics::board(), endpoint.board_group) {
                    let took = connecting.elapsed().as_secs_f64();
                    board.time(g, crate::metrics::board::GroupPhase::Connect, took);
                }
                s
            }
            Err(ConnectError::Busy(error)) => {
                req.log_script_error(
                    error.raw_os_error().unwrap_or(0),
                    &format!(
                        "WSGI0116: Unable to connect to WSGI daemon process '{group}' on '{}' after multiple attempts as listener backlog limit was exceeded or the socket does not exist.",
                        endpoint.path
                    ),
                );
                return 503;
            }
            Err(ConnectError::Failed(e)) => {
                let uid = crate::sys::identity::uid();
                req.log_script_error(
                    e.raw_os_error().unwrap_or(0),
                    &format!(
                        "WSGI0117: Unable to connect to WSGI daemon process '{group}' on '{}' as user with uid={uid}.",
                        endpoint.path
                    ),
                );
                return 503;
            }
        };
        let timeout = endpoint
            .socket_timeout
            .unwrap_or_else(|| req.server_timeout());
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        if let Some(size) = endpoint.receive_buffer_size {
            super::set_send_buffer(&stream, size);
        }
        connects += 1;
        let now = crate::metrics::now_seconds();
        super::handoff::stamp_queue_start(&mut head, now, connects, restarts);
        // Unless the daemon dropped the connection unread (it is
        // stopping), it runs the request or turns it back.
        if super::wire::write_request(&mut &stream, &head).is_ok() {
            if let Exchange::Done(status) = exchange(req, &stream, group, &endpoint, &options) {
                return status;
            }
        }
        restarts += 1;
        if restarts as usize >= MAX_ATTEMPTS {
            req.log_script_error(
                0,
                &format!(
                    "WSGI0124: Maximum number of WSGI daemon process '{group}' restart attempts reached: {MAX_ATTEMPTS}."
                ),
            );
            return 503;
        }
        req.log_script(
            APLOG_INFO,
            0,
            &format!(
                "Reconnecting after WSGI daemon process '{group}' restart, attempt #{restarts}."
            ),
        );
    }
}

/// Whether more of the response is already waiting (so flushing now
/// would only split it), waiting up to `delay` for it.
fn more_arrives_within(reader: &BufReader<&UnixStream>, delay: Duration) -> bool {
    if !reader.buffer().is_empty() {
        return true;
    }
    if delay.is_zero() {
        return false;
    }
    crate::sys::fd::readable_within(reader.get_ref().as_raw_fd(), delay)
}

/// The local URL path a daemon response asks Apache to serve instead: a
/// 200 with a `Location` that starts with `/`.
fn local_redirect(status: i32, headers: &[(String, String)]) -> Option<&str> {
    if status != 200 {
        return None;
    }
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("location"))
        .map(|(_, value)| value.as_str())
        .filter(|value| value.starts_with('/'))
}

/// APR's status for a timed-out read (`APR_TIMEUP`), which Apache renders
/// as `(70007)The timeout specified has expired`.
const APR_TIMEUP: i32 = 70007;

/// What the application's `wsgi.input` raises when the child could not
/// read the body, as in the C module's daemons (which see the body stream
/// cut short whatever the cause).
const BODY_CUT_SHORT: &str =
    "mod_wsgi request data read error: Partial results are valid but processing is incomplete";

/// An OS error as `strerror` words it, without Rust's `(os error N)`.
fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// After a failed body read the request is answered without the
/// daemon's response: the application is told its input broke off, and
/// what it logs about that is still logged for the request.
fn finish_after_body_error(req: Request, reader: &mut BufReader<&UnixStream>) {
    let stream = *reader.get_ref();
    let mut out = stream;
    if Frame::BodyError(BODY_CUT_SHORT.into())
        .write_to(&mut out)
        .is_err()
    {
        return;
    }
    while let Ok(Some(frame)) = Frame::read_from(reader) {
        match frame {
            Frame::Log { level, message } => req.log(level, &message),
            Frame::ReadBody(_)
                if Frame::BodyError(BODY_CUT_SHORT.into())
                    .write_to(&mut out)
                    .is_err() =>
            {
                return
            }
            Frame::End | Frame::Fail(_) | Frame::Abort => return,
            _ => {}
        }
    }
}

/// Reads and drops the rest of a response the client will not see.
fn drain_response(reader: &mut BufReader<&UnixStream>) {
    while let Ok(Some(frame)) = Frame::read_from(reader) {
        // A daemon asking for body bytes now gets the socket closed.
        if matches!(
            frame,
            Frame::End | Frame::Fail(_) | Frame::Abort | Frame::ReadBody(_)
        ) {
            break;
        }
    }
}

/// Serves one connection's frames until the daemon is done with it.
fn exchange(
    req: Request,
    stream: &UnixStream,
    group: &str,
    endpoint: &Endpoint,
    options: &RelayOptions,
) -> Exchange {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut headers_sent = false;
    let mut received_any = false;
    // The daemon has had the whole request body, its end included.
    let mut body_delivered = false;
    // WSGIErrorOverride: the application's error status, its body dropped.
    let mut overridden: Option<i32> = None;
    let mut buf = Vec::new();
    loop {
        let frame = match Frame::read_from(&mut reader) {
            Ok(Some(frame)) => frame,
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !received_any => {
                // Dropped before the daemon read the request: nothing ran.
                return Exchange::Retry;
            }
            outcome => {
                let timed_out = matches!(&outcome, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
                if headers_sent {
                    // A daemon that ends early closes a socket with the
                    // end of the request body unread in the C module's
                    // protocol, so it saw the connection reset.
                    let errno = match &outcome {
                        _ if timed_out => APR_TIMEUP,
                        Err(e) => e.raw_os_error().unwrap_or(ECONNRESET),
                        Ok(_) => ECONNRESET,
                    };
                    req.log_script_error(
                        errno,
                        "WSGI0119: Unable to proxy response from daemon to client.",
                    );
                    // What the client already has stays delivered; the
                    // response is then visibly cut short.
                    req.flush();
                    req.abort_response();
                    return Exchange::Done(0);
                }
                if timed_out {
                    req.log_script_error(
                        0,
                        &format!(
                            "WSGI0145: Timeout when reading response headers from daemon process '{group}'."
                        ),
                    );
                    return Exchange::Done(504);
                }
                // In the C module's protocol a daemon that ends before
                // reading the request body to its end resets the
                // connection; one that had it all closes it cleanly.
                let reset = std::io::Error::from_raw_os_error(ECONNRESET);
                let message = match outcome {
                    Err(e) => format!(
                        "WSGI0147: Error reading response headers from daemon process '{group}' ({}).",
                        os_error_text(&e)
                    ),
                    Ok(_) if !body_delivered => format!(
                        "WSGI0147: Error reading response headers from daemon process '{group}' ({}).",
                        os_error_text(&reset)
                    ),
                    Ok(_) => format!(
                        "WSGI0146: Daemon process '{group}' closed connection before sending complete response headers."
                    ),
                };
                req.log_script_error(0, &message);
                return Exchange::Done(502);
            }
        };
        received_any = true;
        match frame {
            Frame::ReadBody(n) => {
                buf.resize(n as usize, 0);
                let mut out = stream;
                let sent = match req.read_body(&mut buf) {
                    Ok(len) => {
                        body_delivered |= len == 0;
                        super::wire::write_body_data(&mut out, &buf[..len])
                    }
                    Err(status) => {
                        let timed_out = status == APR_TIMEUP;
                        req.log_script_error(
                            0,
                            &format!(
                                "WSGI0126: Request data read error when proxying data to daemon process: {}.",
                                crate::apache::apr_error(status)
                            ),
                        );
                        let status = if timed_out { 408 } else { 500 };
                        if !headers_sent {
                            finish_after_body_error(req, &mut reader);
                            return Exchange::Done(status);
                        }
                        Frame::BodyError(BODY_CUT_SHORT.into()).write_to(&mut out)
                    }
                };
                if sent.is_err() {
                    return Exchange::Done(if headers_sent { 0 } else { 502 });
                }
            }
            Frame::Headers {
                status,
                reason,
                headers,
            } => {
                let limit = endpoint.header_buffer_size as usize;
                if headers
                    .iter()
                    .any(|(name, value)| name.len() + value.len() + 2 > limit)
                {
                    req.log_script_error(
                        0,
                        &format!(
                            "WSGI0144: Response header line too long from daemon process '{group}'."
                        ),
                    );
                    return Exchange::Done(500);
                }
                let (status, reason) =
                    header_scan::status_header(&headers).unwrap_or((status, reason));
                if options.error_override && status >= 400 {
                    overridden = Some(status);
                    continue;
                }
                if let Some(location) = local_redirect(status, &headers) {
                    // As the C module does in daemon mode: a 200 naming a
                    // local Location is served by Apache from that URL;
                    // challenges, kept with the error headers, go along.
                    for (name, value) in header_scan::relayed_headers(&headers)
                        .iter()
                        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
                    {
                        req.add_header(name, value);
                    }
                    drain_response(&mut reader);
                    req.internal_redirect(location);
                    return Exchange::Done(0);
                }
                req.set_status(status, &reason);
                for (name, value) in &header_scan::relayed_headers(&headers) {
                    req.add_header(name, value);
                }
                headers_sent = true;
            }
            Frame::Body(data) => {
                if overridden.is_some() {
                    continue;
                }
                headers_sent = true;
                let written = req.write_unflushed(&data)
                    && (more_arrives_within(&reader, endpoint.response_flush_delay) || req.flush());
                if !written {
                    // The client has gone: closing the socket tells the
                    // daemon, whose next write fails.
                    return Exchange::Done(0);
                }
            }
            Frame::Log { level, message } => req.log(level, &message),
            Frame::End => {
                if overridden.is_none() {
                    // Handing the body on before the end, as the C module
                    // does, leaves Apache no Content-Length to derive: a
                    // body the application gave no length goes chunked.
                    req.flush();
                }
                return Exchange::Done(overridden.unwrap_or(0));
            }
            Frame::Fail(status) => return Exchange::Done(status),
            Frame::Abort => {
                req.flush();
                req.abort_response();
                return Exchange::Done(0);
            }
            Frame::Retry if !headers_sent => return Exchange::Retry,
            Frame::Retry | Frame::Request(_) | Frame::BodyData(_) | Frame::BodyError(_) => {
                req.log(APLOG_ERR, "mod_wsgi: unexpected frame from daemon process");
                return Exchange::Done(if headers_sent { 0 } else { 500 });
            }
        }
    }
}
