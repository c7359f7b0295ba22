//! The Apache child's side of daemon mode: hand the request to a daemon
//! process over the group's socket, then serve the daemon's requests for
//! body bytes and relay its response to the client.

use super::wire::{Frame, RequestHead};
use crate::apache::log::APLOG_ERR;
use crate::apache::request::Request;
use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Connects to the group's socket, retrying while its backlog is full or a
/// daemon is (re)starting, for up to `connect_timeout`.
fn connect(path: &str, connect_timeout: Duration) -> Result<UnixStream, (i32, String)> {
    let deadline = Instant::now() + connect_timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => return Ok(stream),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
                return Err((
                    503,
                    format!("cannot connect to daemon socket '{path}': {e}"),
                ));
            }
            Err(e) => {
                if Instant::now() >= deadline {
                    return Err((
                        503,
                        format!("timed out connecting to daemon socket '{path}': {e}"),
                    ));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Runs the request in daemon group `group`; returns the handler status.
pub fn relay(req: Request, group: &str, head: RequestHead) -> i32 {
    let Some((path, connect_timeout)) = super::supervisor::socket_for(group) else {
        req.log(
            APLOG_ERR,
            &format!("mod_wsgi: no WSGI daemon process called '{group}' has been configured"),
        );
        return 500;
    };
    let mut stream = match connect(&path, connect_timeout) {
        Ok(s) => s,
        Err((status, message)) => {
            req.log(APLOG_ERR, &format!("mod_wsgi: {message}"));
            return status;
        }
    };
    let timeout = req.server_timeout();
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    if let Err(e) = Frame::Request(head).write_to(&mut stream) {
        req.log(
            APLOG_ERR,
            &format!("mod_wsgi: cannot send the request to daemon process group '{group}': {e}"),
        );
        return 503;
    }
    let mut headers_sent = false;
    let mut buf = Vec::new();
    loop {
        let frame = match Frame::read_from(&mut stream) {
            Ok(Some(frame)) => frame,
            outcome => {
                let why = match outcome {
                    Err(e) => e.to_string(),
                    _ => "connection closed".to_string(),
                };
                if headers_sent {
                    req.log(
                        APLOG_ERR,
                        &format!("mod_wsgi: daemon process of group '{group}' stopped mid-response ({why})"),
                    );
                    req.abort_response();
                    return 0;
                }
                req.log(
                    APLOG_ERR,
                    &format!(
                        "mod_wsgi: truncated or missing response from daemon process group '{group}' ({why})"
                    ),
                );
                return 500;
            }
        };
        match frame {
            Frame::ReadBody(n) => {
                buf.resize(n as usize, 0);
                let sent = match req.read_body(&mut buf) {
                    Some(len) => super::wire::write_body_data(&mut stream, &buf[..len]),
                    None => Frame::BodyError(
                        "error reading the request body (client disconnected or timed out)".into(),
                    )
                    .write_to(&mut stream),
                };
                if sent.is_err() {
                    return if headers_sent { 0 } else { 500 };
                }
            }
            Frame::Headers {
                status,
                reason,
                headers,
            } => {
                req.set_status(status, &reason);
                for (name, value) in &headers {
                    req.add_header(name, value);
                }
                headers_sent = true;
            }
            Frame::Body(data) => {
                headers_sent = true;
                if !req.write(&data) {
                    // The client has gone: closing the socket tells the
                    // daemon, whose next write fails.
                    return 0;
                }
            }
            Frame::Log { level, message } => req.log(level, &message),
            Frame::End => return 0,
            Frame::Fail(status) => return status,
            Frame::Abort => {
                req.abort_response();
                return 0;
            }
            Frame::Request(_) | Frame::BodyData(_) | Frame::BodyError(_) => {
                req.log(APLOG_ERR, "mod_wsgi: unexpected frame from daemon process");
                return if headers_sent { 0 } else { 500 };
            }
        }
    }
}
