//! Hostile and broken clients, and applications whose process dies in the
//! middle of a response, against the C mod_wsgi 6.1.1 and ours on the same
//! configuration, in embedded and daemon mode.
//!
//! * `malformed_requests_*`: raw requests a broken or hostile client sends
//!   (invalid chunking, Content-Length mismatches, oversized and too many
//!   headers, CR/LF, NUL and non-ASCII bytes, pipelining, Expect) are
//!   judged by the differential harness: what the client and the error
//!   log see must match the C module's.
//! * `processes_dying_mid_response`, `clients_leaving_and_huge_bodies`,
//!   `idle_keep_alive_connections`: for each case, what the client gets,
//!   what the log says and whether the server serves the next request, for
//!   both modules. Ours is asserted; the C module's is recorded beside it
//!   in `$CARGO_TARGET_DIR/tmp/hostile/*.md` (the table in
//!   docs/reliability.md comes from there).
//!
//! Run: `cargo test --release --test hostile -- --test-threads=1`

mod common;

use common::differential::{c_module, Endpoint, Exchange, Judge, Side, PROCESS_LOG_QUIET};
use common::raw::{dechunk, parse_head, RawConn};
use common::{module_path, python_exe, Server, ServerBuilder};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const APP: &str = include_str!("apps/hostile/hostile.wsgi");

const EMBEDDED: &str = "WSGIScriptAlias / {root}/app/hostile.wsgi\n";
const DAEMON: &str = "WSGIDaemonProcess hostile processes=1 threads=4\n\
                      WSGIProcessGroup hostile\n\
                      WSGIScriptAlias / {root}/app/hostile.wsgi\n";

/// Log markers of a process that crashed (Apache's for its children, ours
/// and C's for daemon processes).
const CRASH_MARKERS: &[&str] = &["AH00052", "has died", "Segmentation fault"];

/// Longest wait for a started server's processes to have started Python.
const STARTUP_WAIT: Duration = Duration::from_secs(20);

fn builder(mode: &str, extra: &str) -> ServerBuilder {
    ServerBuilder::new()
        .single_process()
        // A client that stops sending is given up on after 3 s, not 300.
        .config("WSGISocketPrefix {root}/run/wsgi\nTimeout 3\n")
        .config(extra)
        .config(mode)
        .file("app/hostile.wsgi", APP)
}

/// The same configuration served by the C module and by ours.
struct Pair {
    c: Server,
    ours: Server,
    c_ep: Endpoint,
    ours_ep: Endpoint,
}

impl Pair {
    fn start(mode: &str, extra: &str) -> Pair {
        let c_so = c_module().so.clone();
        let c = builder(mode, extra)
            .module_path(&c_so, &python_exe())
            .start();
        let ours = builder(mode, extra).start();
        let c_ep = Endpoint::of_server(Side::C, &c, &c_so);
        let ours_ep = Endpoint::of_server(Side::Ours, &ours, &module_path());
        // What processes log as they start belongs to no exchange: wait for
        // ours to have started Python everywhere (its lines say so), then
        // for both logs to go quiet (the C module's lines are not known).
        let mut started = vec!["Attaching to Python main interpreter in embedded mode."];
        if mode == DAEMON {
            started.push("Attaching to Python main interpreter in daemon process 'hostile'.");
        }
        for line in started {
            assert!(
                ours.wait_for_log(line, STARTUP_WAIT),
                "ours never logged {line:?}:\n{}",
                ours.error_log()
            );
        }
        for ep in [&c_ep, &ours_ep] {
            ep.settle_log_for(PROCESS_LOG_QUIET);
        }
        Pair {
            c,
            ours,
            c_ep,
            ours_ep,
        }
    }

    /// Stops both servers as an operator does and asserts that ours left
    /// nothing behind (process or socket); the C module's leftovers are
    /// printed, not asserted.
    fn stop_leaving_nothing(mut self, scenario: &str) {
        let c_left = self.c.stop_and_list_leftovers();
        if !c_left.is_empty() {
            eprintln!("{scenario}: the C module left {c_left:?}");
        }
        let ours_left = self.ours.stop_and_list_leftovers();
        assert!(ours_left.is_empty(), "{scenario}: ours left {ours_left:?}");
    }

    fn sides(&self) -> [(&'static str, &Server, &Endpoint); 2] {
        [
            ("C", &self.c, &self.c_ep),
            ("ours", &self.ours, &self.ours_ep),
        ]
    }
}

// ---------------------------------------------------------------------------
// Malformed requests, judged against the C module
// ---------------------------------------------------------------------------

fn post_read(extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST /read HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n{extra_headers}\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn get_with(request_line_path: &[u8], headers: &[u8]) -> Vec<u8> {
    let mut bytes = b"GET ".to_vec();
    bytes.extend_from_slice(request_line_path);
    bytes.extend_from_slice(b" HTTP/1.1\r\n");
    bytes.extend_from_slice(headers);
    bytes.extend_from_slice(b"Connection: close\r\n\r\n");
    bytes
}

fn malformed() -> Vec<Exchange> {
    let host = b"Host: {host}\r\n".as_slice();
    let many_headers: String = (0..120).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    vec![
        Exchange::raw(
            "chunked-bad-size",
            post_read("Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
        ),
        Exchange::raw(
            "chunked-no-last-chunk",
            post_read("Transfer-Encoding: chunked\r\n", b"5\r\nabcde\r\n"),
        ),
        Exchange::raw(
            "chunked-and-content-length",
            post_read(
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                b"5\r\nabcde\r\n0\r\n\r\n",
            ),
        ),
        Exchange::raw(
            "content-length-longer-than-body",
            post_read("Content-Length: 100\r\n", b"only ten!!"),
        ),
        Exchange::raw(
            "content-length-shorter-than-body",
            post_read("Content-Length: 4\r\n", b"only ten!!"),
        ),
        Exchange::raw(
            "content-length-invalid",
            post_read("Content-Length: 12abc\r\n", b"x"),
        ),
        Exchange::raw(
            "content-length-negative",
            post_read("Content-Length: -5\r\n", b"x"),
        ),
        Exchange::raw(
            "header-line-oversized",
            get_with(
                b"/hello",
                format!("Host: {{host}}\r\nX-Big: {}\r\n", "a".repeat(10_000)).as_bytes(),
            ),
        ),
        Exchange::raw(
            "too-many-headers",
            get_with(
                b"/hello",
                format!("Host: {{host}}\r\n{many_headers}").as_bytes(),
            ),
        ),
        Exchange::raw("request-line-nul", get_with(b"/hel\0lo", host)),
        Exchange::raw("request-line-non-ascii", get_with(b"/h\xffllo", host)),
        Exchange::raw("request-line-bare-cr", get_with(b"/hello\rX", host)),
        Exchange::raw(
            "header-value-bare-cr",
            get_with(b"/hello", b"Host: {host}\r\nX-A: one\rtwo\r\n"),
        ),
        Exchange::raw(
            "host-non-ascii",
            get_with(b"/hello", b"Host: \xc3\xa9xample\r\n"),
        ),
        Exchange::raw(
            "pipelined",
            b"GET /hello HTTP/1.1\r\nHost: {host}\r\n\r\n\
              POST /read HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        ),
        Exchange::raw(
            "expect-100-continue",
            post_read("Expect: 100-continue\r\nContent-Length: 5\r\n", b"abcde"),
        ),
    ]
}

fn judge_malformed(suite: &str, mode: &str) {
    let pair = Pair::start(mode, "");
    let mut judge = Judge::new(suite);
    for ex in malformed() {
        judge.exchange(suite, &pair.c_ep, &pair.ours_ep, &ex);
    }
    pair.stop_leaving_nothing(suite);
    judge.finish();
}

#[test]
fn malformed_requests_embedded() {
    judge_malformed("hostile-embedded", EMBEDDED);
}

#[test]
fn malformed_requests_daemon() {
    judge_malformed("hostile-daemon", DAEMON);
}

// ---------------------------------------------------------------------------
// Cases observed on both modules, asserted on ours
// ---------------------------------------------------------------------------

/// What one module did in one case, for the table.
struct Row {
    case: String,
    module: &'static str,
    client: String,
    log: String,
    next_request: String,
}

fn write_table(name: &str, rows: &[Row]) {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = std::path::Path::new(&dir).join("tmp/hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from(
        "| case | module | what the client got | what the log said | next request |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            r.case,
            r.module,
            r.client,
            r.log.replace('|', "/"),
            r.next_request
        );
    }
    std::fs::write(dir.join(format!("{name}.md")), &text).unwrap();
    eprintln!("{text}");
}

/// Whether a fresh request is answered 200 within 15 s (the process that
/// died may need a moment to be replaced).
fn next_request_served(server: &Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if server
            .try_request("GET", "/hello", &[], b"")
            .is_ok_and(|r| r.status == 200)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Describes a response: its status and whether its end is visible (the
/// final chunk, or the declared length) or it was cut off.
fn describe(data: &[u8]) -> (String, bool) {
    let Some(head) = parse_head(data) else {
        return (format!("no response ({} bytes)", data.len()), true);
    };
    let status = String::from_utf8_lossy(&data[..head.len])
        .lines()
        .next()
        .unwrap_or("")
        .replace("HTTP/1.1 ", "");
    let rest = &data[head.len..];
    let (body_len, complete) = if head.is_chunked() {
        let (body, complete, _) = dechunk(rest);
        (body.len(), complete)
    } else if let Some(n) = head.content_length() {
        (rest.len().min(n), rest.len() >= n)
    } else {
        (rest.len(), true)
    };
    let end = if complete {
        "looks complete"
    } else {
        "visibly cut off"
    };
    (format!("{status}, {body_len} body bytes, {end}"), !complete)
}

/// The log lines a case produced, condensed to their messages.
fn log_summary(ep: &Endpoint, offset: u64) -> String {
    ep.settle_log();
    let lines = ep.log_lines_since(offset);
    let wanted: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("[wsgi:info]") || l.contains("has died"))
        .map(|l| l.chars().take(160).collect())
        .collect();
    if wanted.is_empty() {
        "(nothing above info)".into()
    } else {
        wanted.join("<br>")
    }
}

#[test]
fn processes_dying_mid_response() {
    let mut rows = Vec::new();
    for (mode_name, mode) in [("daemon", DAEMON), ("embedded", EMBEDDED)] {
        let pair = Pair::start(mode, "");
        for how in ["exit", "abort", "segv"] {
            for (module, server, ep) in pair.sides() {
                ep.settle_log();
                let offset = ep.log_len();
                let mut conn = RawConn::connect(server.port());
                conn.send(
                    format!(
                        "GET /die/{how} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .unwrap();
                let got = conn.read_timed(Duration::from_secs(10));
                let (client, cut_off) = describe(&got.data);
                let served = next_request_served(server);
                let log = log_summary(ep, offset);
                if module == "ours" {
                    assert!(
                        cut_off,
                        "{mode_name} /die/{how}: a response whose process died must not look complete: {client}"
                    );
                    assert!(
                        served,
                        "{mode_name} /die/{how}: not serving afterwards\n{}",
                        server.error_log()
                    );
                    if mode_name == "daemon" {
                        assert!(
                            log.contains("has died"),
                            "{mode_name} /die/{how}: no line naming the death: {log}"
                        );
                    }
                }
                rows.push(Row {
                    case: format!(
                        "{mode_name}: {} after the first chunk",
                        match how {
                            "exit" => "`os._exit(3)`",
                            "abort" => "`os.abort()`",
                            _ => "a segfault (ctypes)",
                        }
                    ),
                    module,
                    client,
                    log,
                    next_request: if served { "served" } else { "NOT served" }.into(),
                });
            }
        }
        pair.stop_leaving_nothing(&format!("processes dying, {mode_name}"));
    }
    write_table("dying", &rows);
}

#[test]
fn clients_leaving_and_huge_bodies() {
    let mut rows = Vec::new();
    for (mode_name, mode) in [("daemon", DAEMON), ("embedded", EMBEDDED)] {
        let pair = Pair::start(mode, "");
        for (module, server, ep) in pair.sides() {
            // A client that reads 2 MiB of a 100 MiB response and leaves.
            ep.settle_log();
            let offset = ep.log_len();
            let mut conn = RawConn::connect(server.port());
            conn.send(b"GET /huge HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let got = conn.read_at_least(2 << 20, Duration::from_secs(10));
            assert!(got.data.len() >= 2 << 20, "{module}: the download started");
            drop(conn);
            let served = next_request_served(server);
            let log = log_summary(ep, offset);
            rows.push(Row {
                case: format!("{mode_name}: client leaves after 2 of 100 MiB"),
                module,
                client: "(left)".into(),
                log: log.clone(),
                next_request: if served { "served" } else { "NOT served" }.into(),
            });
            if module == "ours" {
                assert!(served, "{mode_name}: not serving after a client left");
                assert!(
                    !CRASH_MARKERS.iter().any(|m| log.contains(m)),
                    "{mode_name}: a process crashed when a client left: {log}"
                );
            }

            // A client that announces 10 MiB, sends 1 MiB and leaves.
            ep.settle_log();
            let offset = ep.log_len();
            let mut conn = RawConn::connect(server.port());
            let mut upload = format!(
                "POST /read HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                10 << 20
            )
            .into_bytes();
            upload.extend(std::iter::repeat_n(b'u', 1 << 20));
            conn.send(&upload).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            drop(conn);
            let served = next_request_served(server);
            let log = log_summary(ep, offset);
            rows.push(Row {
                case: format!("{mode_name}: client leaves after 1 of 10 MiB uploaded"),
                module,
                client: "(left)".into(),
                log: log.clone(),
                next_request: if served { "served" } else { "NOT served" }.into(),
            });
            if module == "ours" {
                assert!(
                    served,
                    "{mode_name}: not serving after an upload was dropped"
                );
                assert!(
                    !CRASH_MARKERS.iter().any(|m| log.contains(m)),
                    "{mode_name}: a process crashed when an upload was dropped: {log}"
                );
            }

            // The whole 100 MiB, read to the end.
            let started = Instant::now();
            let mut conn = RawConn::connect(server.port());
            conn.send(b"GET /huge HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let got = conn.read_timed(Duration::from_secs(60));
            let (client, cut_off) = describe(&got.data);
            rows.push(Row {
                case: format!("{mode_name}: 100 MiB response read to the end"),
                module,
                client: format!("{client} in {:.1} s", started.elapsed().as_secs_f64()),
                log: String::new(),
                next_request: String::new(),
            });
            if module == "ours" {
                assert!(
                    !cut_off && client.contains(&format!("{} body bytes", 100 << 20)),
                    "{mode_name}: {client}"
                );
            }
        }
        pair.stop_leaving_nothing(&format!("clients leaving, {mode_name}"));
    }
    write_table("leaving", &rows);
}

#[test]
fn idle_keep_alive_connections() {
    const IDLE: usize = 500;
    let mut rows = Vec::new();
    // Enough room in the event MPM for the idle connections (its default
    // async limit is a few per worker thread).
    let pair = Pair::start(
        EMBEDDED,
        "AsyncRequestWorkerFactor 200\nKeepAliveTimeout 30\n",
    );
    for (module, server, _) in pair.sides() {
        let mut idle = Vec::with_capacity(IDLE);
        for _ in 0..IDLE {
            let mut conn = RawConn::connect(server.port());
            conn.send(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            let got = conn.read_timed_until(Duration::from_secs(10), |d| d.ends_with(b"hello\n"));
            assert!(
                got.text().starts_with("HTTP/1.1 200"),
                "{module}: {}",
                got.text()
            );
            idle.push(conn);
        }
        let started = Instant::now();
        let answered = server
            .try_request("GET", "/hello", &[], b"")
            .is_ok_and(|r| r.status == 200);
        let took = started.elapsed();
        rows.push(Row {
            case: format!("{IDLE} idle keep-alive connections, then a new request (event MPM)"),
            module,
            client: format!(
                "{} in {:.3} s",
                if answered { "200" } else { "no answer" },
                took.as_secs_f64()
            ),
            log: String::new(),
            next_request: String::new(),
        });
        if module == "ours" {
            assert!(
                answered && took < Duration::from_secs(5),
                "{module}: {took:?}"
            );
        }
        drop(idle);
    }
    pair.stop_leaving_nothing("idle keep-alive connections");
    write_table("keep-alive", &rows);
}
