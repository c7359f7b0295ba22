//! Helpers for tests whose daemon-mode apps answer with JSON facts about
//! the process that served them (pid, ppid, ...): fetching and checking
//! those answers, failure diagnostics, waiting for log lines and for a
//! replacement daemon process.

#![allow(dead_code)]

use super::json::Json;
use super::procs::wait_until;
use super::raw::{self, RawConn, Timed};
use super::{Response, Server};
use std::time::{Duration, Instant};

/// Bound for the polling loops that wait for a replacement process (the
/// assertions on how long it took are separate, so a slow restart is
/// reported with its actual duration).
pub const POLL_LIMIT: Duration = Duration::from_secs(15);

/// The logs, for a failure message.
pub fn diagnostics(server: &Server) -> String {
    format!("--- error_log ---\n{}", server.all_logs())
}

pub fn expect_status(server: &Server, r: &Response, what: &str, expected: u16) {
    // Long header values (the header-buffer-size checks) shown by length.
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| {
            let v = if v.len() > 200 {
                format!("<{} bytes>", v.len())
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    assert_eq!(
        r.status,
        expected,
        "{what}: body {:?} headers {headers:?}\n{}",
        r.text(),
        diagnostics(server)
    );
}

pub fn get_ok(server: &Server, path: &str) -> Response {
    let r = server.get(path);
    expect_status(server, &r, &format!("GET {path}"), 200);
    r
}

/// GET an endpoint answering with the app's facts (JSON).
pub fn facts(server: &Server, path: &str) -> Json {
    get_ok(server, path).json()
}

pub fn int(j: &Json, key: &str) -> i64 {
    j.get(key)
        .as_i64()
        .unwrap_or_else(|| panic!("{key:?} is not an integer in {j:?}"))
}

pub fn pid(j: &Json) -> i32 {
    int(j, "pid") as i32
}

pub fn ppid(j: &Json) -> i32 {
    int(j, "ppid") as i32
}

/// Waits (bounded) for an error-log line written after `offset` that
/// satisfies `pred`.
pub fn wait_for_log_line(
    server: &Server,
    offset: usize,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut found = None;
    wait_until(timeout, || {
        found = server
            .error_log_since(offset)
            .lines()
            .find(|l| pred(l))
            .map(str::to_string);
        found.is_some()
    });
    found
}

/// Polls `path` until a process whose pid is not in `old` answers it with
/// 200. Requests failing while the group restarts are retried. Returns the
/// facts and the time since `since`; None after `POLL_LIMIT`.
pub fn wait_for_new_pid(
    server: &Server,
    path: &str,
    old: &[i32],
    since: Instant,
) -> Option<(Json, Duration)> {
    let start = Instant::now();
    while start.elapsed() < POLL_LIMIT {
        if let Ok(r) = server.try_request("GET", path, &[], b"") {
            if r.status == 200 {
                let j = r.json();
                if !old.contains(&pid(&j)) {
                    return Some((j, since.elapsed()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// GET on a raw connection (Connection: close), reading until the server
/// closes it or `limit` passes; records when each piece arrived.
pub fn raw_get(port: u16, path: &str, limit: Duration) -> Timed {
    let mut conn = RawConn::connect(port);
    let req = raw::request_bytes(port, "GET", path, &[("Connection", "close")], b"");
    conn.mark();
    conn.send(&req).expect("send request");
    conn.read_timed(limit)
}
