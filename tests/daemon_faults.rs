//! Daemon mode under faults with steady load: a daemon process killed with
//! SIGKILL, a graceful restart of Apache (with and without socket
//! rotation) and a graceful stop, each while requests are running.
//!
//! A bounded load generator (4 client threads sending sequential GETs for
//! 5 s, two to an endpoint that answers at once and two to one that sleeps
//! 0.2 s) runs against a `WSGIDaemonProcess load processes=2 threads=4`
//! group while the test injects the fault. Every request has a client
//! timeout of a few seconds and records when it started and ended, so a
//! request that hangs is reported as such instead of stalling the test.
//!
//! Reference (mod_wsgi 6 docs): configuration-directives/WSGIDaemonProcess.rst
//! (processes=, threads=, shutdown-timeout=), WSGISocketRotation.rst, and
//! user-guides/request-pipeline.rst "Recovery flow on graceful restart"
//! (apachectl graceful sends the daemons SIGTERM; they are replaced) and
//! "Drain semantics during shutdown" (in-flight requests finish within
//! shutdown-timeout).
//!
//! Run: `cargo test --release --test daemon_faults -- --test-threads=1`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::procs::{children_named, pid_alive, proc_stat, signal, wait_until};
use common::{http_request_within, Mpm, Server, ServerBuilder};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const APP: &str = include_str!("apps/daemon_faults/app.wsgi");

/// Client bound per connect/read/write (the whole response: twice this).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// No request may take longer than this, failed or not.
const HANG_LIMIT: Duration = Duration::from_secs(3);
/// How long the load generator runs, and when the fault is injected.
const LOAD_FOR: Duration = Duration::from_secs(5);
const FAULT_AT: Duration = Duration::from_millis(1500);
const LOAD_THREADS: usize = 4;
/// Pause between two requests of one load thread (keeps the load modest).
const LOAD_PAUSE: Duration = Duration::from_millis(20);
const FAST: &str = "/app/fast";
const SLOW: &str = "/app/sleep?s=0.2";
/// Threads per daemon process: at most this many requests can be in flight
/// on the process that is killed.
const THREADS: usize = 4;
/// How soon a killed daemon process must be replaced by one that serves.
const RESTART_WITHIN: Duration = Duration::from_secs(2);
/// Requests lost with the killed process end at most this long after the
/// kill.
const FAILURE_WINDOW: Duration = Duration::from_millis(1500);
/// Bound of the polling loops (their duration is asserted separately).
const POLL_LIMIT: Duration = Duration::from_secs(15);
const STOP_WITHIN: Duration = Duration::from_secs(10);
/// Load requests that must have succeeded after the fault, so that the
/// test saw traffic across it.
const MIN_AFTER_FAULT: usize = 10;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The load tests time restarts to the second: they run one at a time,
/// whatever `--test-threads` says, so they do not starve each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn daemon_server(extra: &str, group_line: &str) -> Server {
    ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("app.wsgi", APP)
        .writable_dir("marks")
        .config(&format!(
            "{extra}\n{group_line}\n\
             WSGIScriptAlias /app {{root}}/app.wsgi process-group={}",
            group_line.split_whitespace().nth(1).expect("group name")
        ))
        .start()
}

/// What one request came to.
#[derive(Debug, Clone)]
enum Reply {
    /// A response: status, and for 200 the daemon pid and its parent.
    Response(u16, Option<(i32, i32)>),
    /// A transport error (kind and message).
    Error(io::ErrorKind, String),
}

#[derive(Debug, Clone)]
struct Outcome {
    /// Load thread number, or "poll" for the test's own requests.
    client: String,
    path: &'static str,
    /// Since the load started.
    start: Duration,
    end: Duration,
    result: Reply,
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self.result, Reply::Response(200, Some(_)))
    }
    fn pid(&self) -> Option<i32> {
        match self.result {
            Reply::Response(200, Some((pid, _))) => Some(pid),
            _ => None,
        }
    }
    fn took(&self) -> Duration {
        self.end - self.start
    }
    /// One line: who sent what, when, and what came of it.
    fn describe(&self) -> String {
        let result = match &self.result {
            Reply::Response(status, Some((pid, _))) => format!("{status} from daemon {pid}"),
            Reply::Response(status, None) => format!("{status}"),
            Reply::Error(kind, msg) => format!("error {kind:?}: {msg}"),
        };
        format!(
            "client {} GET {} from {:?} to {:?}: {result}",
            self.client, self.path, self.start, self.end
        )
    }
    /// A 5xx answer, or a connection the server closed or reset.
    fn is_5xx_or_closed(&self) -> bool {
        match &self.result {
            Reply::Response(status, _) => *status >= 500,
            Reply::Error(kind, _) => matches!(
                kind,
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::InvalidData
            ),
        }
    }
}

/// The record of a load run, shared by the load threads and the test.
struct Load {
    port: u16,
    t0: Instant,
    outcomes: Mutex<Vec<Outcome>>,
}

impl Load {
    /// An empty record starting now.
    fn new(port: u16) -> Load {
        Load {
            port,
            t0: Instant::now(),
            outcomes: Mutex::new(Vec::new()),
        }
    }

    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// One GET with the client bound, recorded.
    fn request(&self, client: &str, path: &'static str) -> Outcome {
        let start = self.now();
        let r = http_request_within(self.port, "GET", path, &[], b"", CLIENT_TIMEOUT);
        let end = self.now();
        let result = match r {
            Ok(r) if r.status == 200 => {
                let j = r.json();
                let ids = j
                    .get("pid")
                    .as_i64()
                    .zip(j.get("ppid").as_i64())
                    .map(|(p, pp)| (p as i32, pp as i32));
                Reply::Response(200, ids)
            }
            Ok(r) => Reply::Response(r.status, None),
            Err(e) => Reply::Error(e.kind(), e.to_string()),
        };
        let o = Outcome {
            client: client.to_string(),
            path,
            start,
            end,
            result,
        };
        self.outcomes.lock().unwrap().push(o.clone());
        o
    }

    /// Sends `n` GETs at once; their outcomes.
    fn burst(&self, path: &'static str, n: usize) -> Vec<Outcome> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|_| s.spawn(move || self.request("poll", path)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("poll thread panicked"))
                .collect()
        })
    }

    /// The daemon that answered the load request that ended last.
    fn latest_pid(&self) -> Option<i32> {
        self.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.client != "poll")
            .filter_map(|o| o.pid().map(|p| (o.end, p)))
            .max()
            .map(|(_, p)| p)
    }

    fn sleep_until(&self, at: Duration) {
        let now = self.now();
        if at > now {
            std::thread::sleep(at - now);
        }
    }

    /// Polls with bursts of concurrent requests (so that a new process
    /// gets some even while the others are idle and quick to accept) until
    /// a daemon whose pid is not in `old` answers. Returns its pid and
    /// parent pid and when it answered (since the load started).
    fn wait_for_new_daemon(&self, old: &BTreeSet<i32>) -> Option<(i32, i32, Duration)> {
        let start = Instant::now();
        while start.elapsed() < POLL_LIMIT {
            for o in self.burst("/app/sleep?s=0.05", 4) {
                if let Reply::Response(200, Some((pid, ppid))) = o.result {
                    if !old.contains(&pid) {
                        return Some((pid, ppid, o.end));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// Runs the load for `LOAD_FOR` while `fault` runs on this thread; returns
/// every request's outcome (load threads and the fault's own requests),
/// ordered by start time, and what `fault` returned.
fn with_load<R>(server: &Server, fault: impl FnOnce(&Load) -> R) -> (Vec<Outcome>, R) {
    let load = Load::new(server.port());
    let r = std::thread::scope(|s| {
        for i in 0..LOAD_THREADS {
            let load = &load;
            s.spawn(move || {
                let path = if i % 2 == 0 { FAST } else { SLOW };
                let name = i.to_string();
                while load.now() < LOAD_FOR {
                    load.request(&name, path);
                    std::thread::sleep(LOAD_PAUSE);
                }
            });
        }
        fault(&load)
    });
    let mut outcomes = load.outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| o.start);
    (outcomes, r)
}

/// Daemon pids of `group` (answers to concurrent requests, plus processes
/// named `(wsgi:GROUP)`), after every process has answered at least once
/// and so loaded the application. Bounded.
fn warm_up(server: &Server, group: &str, processes: usize) -> BTreeSet<i32> {
    let apache = server.pid();
    let load = Load::new(server.port());
    let mut seen = BTreeSet::new();
    let ok = wait_until(POLL_LIMIT, || {
        for o in load.burst("/app/sleep?s=0.2", 8) {
            match o.result {
                Reply::Response(200, Some((pid, ppid))) => {
                    assert_eq!(ppid, apache as i32, "daemon {pid} is not a child of Apache");
                    seen.insert(pid);
                }
                _ => panic!(
                    "warm-up request failed: {}\n{}",
                    o.describe(),
                    notes(server)
                ),
            }
        }
        seen.len() >= processes
    });
    assert!(
        ok,
        "only daemon pids {seen:?} answered, expected {processes} processes\n{}",
        notes(server)
    );
    seen.extend(children_named(apache, &format!("(wsgi:{group})")));
    seen
}

/// Hints for a failure message from what the error log says (the harness
/// prints the whole log when a test fails).
fn notes(server: &Server) -> String {
    let log = server.all_logs();
    let mut out = String::from("\n(the error_log follows below)");
    if log.contains("scoreboard is full") {
        out.push_str(
            "\nNOTE: Apache logged 'scoreboard is full': the new generation could not start \
             its children while old-generation children were still busy (with ServerLimit 2 \
             there are no spare slots), e.g. with requests stuck on the old daemon socket.",
        );
    }
    out
}

/// A summary for messages: counts per status or error, per pid.
fn summary(outcomes: &[Outcome]) -> String {
    let mut by_result: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_pid: BTreeMap<i32, usize> = BTreeMap::new();
    for o in outcomes {
        let key = match &o.result {
            Reply::Response(s, _) => s.to_string(),
            Reply::Error(k, _) => format!("{k:?}"),
        };
        *by_result.entry(key).or_default() += 1;
        if let Some(p) = o.pid() {
            *by_pid.entry(p).or_default() += 1;
        }
    }
    let slowest = outcomes.iter().map(Outcome::took).max().unwrap_or_default();
    format!(
        "{} requests: by result {by_result:?}, 200s by daemon pid {by_pid:?}, slowest {slowest:?}",
        outcomes.len()
    )
}

/// `describe()` of each, one per line.
fn lines<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> String {
    outcomes
        .into_iter()
        .map(|o| format!("\n  {}", o.describe()))
        .collect()
}

fn failures(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes.iter().filter(|o| !o.ok()).collect()
}

/// Every request ended within `HANG_LIMIT`.
fn assert_no_hangs(server: &Server, outcomes: &[Outcome]) {
    let slow: Vec<&Outcome> = outcomes.iter().filter(|o| o.took() > HANG_LIMIT).collect();
    assert!(
        slow.is_empty(),
        "requests took longer than {HANG_LIMIT:?}:{}\n{}{}",
        lines(slow),
        summary(outcomes),
        notes(server)
    );
}

/// Enough load requests succeeded after `at` that the fault was crossed
/// by traffic.
fn assert_traffic_after(server: &Server, outcomes: &[Outcome], at: Duration) {
    let after = outcomes
        .iter()
        .filter(|o| o.client != "poll" && o.start > at && o.ok())
        .count();
    assert!(
        after >= MIN_AFTER_FAULT,
        "only {after} load requests succeeded after the fault at {at:?}\n{}{}",
        summary(outcomes),
        notes(server)
    );
}

/// SIGKILLs whatever of `pids` is still alive (so a failed test leaves no
/// process behind) and returns those pids.
fn kill_leftovers(pids: &BTreeSet<i32>) -> Vec<i32> {
    let left: Vec<i32> = pids.iter().copied().filter(|p| pid_alive(*p)).collect();
    for p in &left {
        // SAFETY: kill(2) on a daemon process of this test's server.
        unsafe {
            libc::kill(*p, libc::SIGKILL);
        }
    }
    left
}

// ---------------------------------------------------------------------------
// 1. kill -9 of one daemon process under load
// ---------------------------------------------------------------------------

// Reference: WSGIDaemonProcess.rst (processes=, threads=: a process runs at
// most `threads` requests at once), embedded-and-daemon-mode.rst (the
// Apache parent supervises the daemon processes and restarts one that
// dies). Only the requests that the killed process was running are lost;
// its sibling and its replacement serve the rest, and the lost ones end at
// once with an error instead of hanging.
#[test]
fn killed_daemon_under_load_loses_only_its_in_flight_requests() {
    let _serial = one_at_a_time();
    let server = daemon_server(
        "",
        "WSGIDaemonProcess load processes=2 threads=4 display-name=%{GROUP}",
    );
    let apache = server.pid() as i32;
    let before = warm_up(&server, "load", 2);

    let (outcomes, (victim, (sending, killed), replacement)) = with_load(&server, |load| {
        load.sleep_until(FAULT_AT);
        let victim = load
            .latest_pid()
            .or_else(|| before.iter().next().copied())
            .expect("a daemon pid");
        let sending = load.now();
        signal(victim, libc::SIGKILL);
        let killed = load.now();
        let replacement = load.wait_for_new_daemon(&before);
        (victim, (sending, killed), replacement)
    });

    let failed = failures(&outcomes);
    println!(
        "kill -9 of daemon {victim} at {killed:?}: {}; {} failed",
        summary(&outcomes),
        failed.len()
    );
    for f in &failed {
        println!("  failed: {}", f.describe());
    }
    assert!(
        before.contains(&victim),
        "killed pid {victim} is not one of the daemons {before:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.pid() == Some(victim) && o.end < killed),
        "the killed daemon {victim} served none of the load before the kill: {}",
        summary(&outcomes)
    );

    let (new_pid, new_ppid, answered) = replacement.unwrap_or_else(|| {
        panic!(
            "no replacement daemon answered within {POLL_LIMIT:?} of the kill\n{}{}",
            summary(&outcomes),
            notes(&server)
        )
    });
    let took = answered.saturating_sub(killed);
    println!("replacement daemon {new_pid} answered {took:?} after the kill");
    assert_eq!(
        new_ppid, apache,
        "replacement daemon {new_pid} is not a child of the Apache parent"
    );
    assert!(
        took <= RESTART_WITHIN,
        "replacement daemon {new_pid} answered only {took:?} after the kill \
         (must be within {RESTART_WITHIN:?}){}",
        notes(&server)
    );
    assert!(!pid_alive(victim), "killed daemon {victim} still alive");

    assert_no_hangs(&server, &outcomes);
    let bad: Vec<&&Outcome> = failed
        .iter()
        .filter(|o| {
            !(o.start <= killed
                && o.end >= sending
                && o.end <= killed + FAILURE_WINDOW
                && o.is_5xx_or_closed())
        })
        .collect();
    assert!(
        bad.is_empty() && failed.len() <= THREADS,
        "only the (at most {THREADS}) requests in flight on the killed daemon may fail, each \
         started before the kill at {killed:?}, ended within {FAILURE_WINDOW:?} after it, with a \
         5xx or a closed connection; these do not fit:{}\nall failures:{}\n{}{}",
        lines(bad.iter().copied().copied()),
        lines(failed.iter().copied()),
        summary(&outcomes),
        notes(&server)
    );
    assert_traffic_after(&server, &outcomes, killed);
}

// ---------------------------------------------------------------------------
// 2. apachectl graceful under load
// ---------------------------------------------------------------------------

// Reference: request-pipeline.rst "Recovery flow on graceful restart
// (SIGUSR1)" (apachectl graceful: the parent sends the daemons SIGTERM and
// they are replaced), "Drain semantics during shutdown" (in-flight requests
// finish within shutdown-timeout), WSGISocketRotation.rst (with rotation
// Off the socket path stays the same across the restart).
//
// The hazard: when the old daemons get SIGTERM, connections that Apache
// children have already queued on the old daemon socket (or make before it
// goes away) must still be answered, by the new daemons; if nothing ever
// accepts them, those requests hang until socket-timeout and keep the
// old-generation Apache children (and their scoreboard slots) busy.
fn graceful_restart_under_load(rotation: &str) {
    let _serial = one_at_a_time();
    let mut server = daemon_server(
        rotation,
        "WSGIDaemonProcess load processes=2 threads=4 display-name=%{GROUP}",
    );
    let apache = server.pid() as i32;
    let old = warm_up(&server, "load", 2);

    let (outcomes, (signalled, new)) = with_load(&server, |load| {
        load.sleep_until(FAULT_AT);
        signal(apache, libc::SIGUSR1);
        let signalled = load.now();
        (signalled, load.wait_for_new_daemon(&old))
    });

    let failed = failures(&outcomes);
    println!(
        "graceful restart ({}) at {signalled:?}: {}; {} failed",
        if rotation.is_empty() {
            "WSGISocketRotation default"
        } else {
            rotation
        },
        summary(&outcomes),
        failed.len()
    );
    for f in &failed {
        println!("  failed: {}", f.describe());
    }
    assert!(server.is_alive(), "Apache parent gone after SIGUSR1");
    assert!(
        failed.is_empty(),
        "requests failed across the graceful restart at {signalled:?}:{}\n{}{}",
        lines(failed.iter().copied()),
        summary(&outcomes),
        notes(&server)
    );
    assert_no_hangs(&server, &outcomes);
    assert_traffic_after(&server, &outcomes, signalled);

    let gone = wait_until(POLL_LIMIT, || old.iter().all(|p| !pid_alive(*p)));
    let left = kill_leftovers(&old);
    assert!(
        gone,
        "old daemon processes {left:?} survived the graceful restart{}",
        notes(&server)
    );
    let (new_pid, new_ppid, answered) = new.unwrap_or_else(|| {
        panic!(
            "no new daemon answered within {POLL_LIMIT:?} of the restart{}",
            notes(&server)
        )
    });
    println!(
        "new daemon {new_pid} answered {:?} after SIGUSR1",
        answered.saturating_sub(signalled)
    );
    assert_eq!(
        new_ppid, apache,
        "new daemon {new_pid} is not a child of Apache"
    );
    // After the restart only new daemons serve.
    let after = Load::new(server.port());
    for o in after.burst("/app/sleep?s=0.1", 8) {
        let pid = o
            .pid()
            .unwrap_or_else(|| panic!("request after the restart failed: {}", o.describe()));
        assert!(
            !old.contains(&pid),
            "old daemon {pid} served after the restart"
        );
        assert_eq!(proc_stat(pid).map(|s| s.1), Some(apache), "{pid}");
    }
}

#[test]
fn graceful_restart_under_load_without_socket_rotation() {
    graceful_restart_under_load("WSGISocketRotation Off");
}

// With the default rotation each generation has its own socket path; the
// implementation keeps the listening socket across the restart, so requests
// that queue while the daemons are replaced are served by the new ones.
#[test]
fn graceful_restart_under_load_with_socket_rotation() {
    graceful_restart_under_load("");
}

// ---------------------------------------------------------------------------
// 3. Graceful stop with a request in flight
// ---------------------------------------------------------------------------

// Reference: request-pipeline.rst "Drain semantics during shutdown" (in
// flight requests finish within shutdown-timeout, default 5 s),
// WSGIDaemonProcess.rst shutdown-timeout= (daemons stop with Apache).
// SIGWINCH is `apachectl graceful-stop`.
#[test]
fn graceful_stop_finishes_in_flight_request() {
    let _serial = one_at_a_time();
    let mut server = daemon_server(
        "",
        "WSGIDaemonProcess stop processes=1 threads=2 display-name=%{GROUP}",
    );
    let apache = server.pid() as i32;
    let mut daemons = warm_up(&server, "stop", 1);
    let port = server.port();
    let mark = server.root().join("marks/inflight");

    let (response, took, signalled_after) = std::thread::scope(|s| {
        let h = s.spawn(move || {
            let start = Instant::now();
            let r = http_request_within(
                port,
                "GET",
                "/app/sleep?s=1&mark=inflight",
                &[],
                b"",
                Duration::from_secs(5),
            );
            (r, start.elapsed())
        });
        let start = Instant::now();
        let reached = wait_until(Duration::from_secs(10), || mark.exists());
        let signalled_after = start.elapsed();
        if reached {
            signal(apache, libc::SIGWINCH);
        }
        let (r, took) = h.join().expect("request thread panicked");
        assert!(
            reached,
            "the request never reached the application: {r:?}\n{}",
            notes(&server)
        );
        (r, took, signalled_after)
    });
    if let Some(p) = std::fs::read_to_string(&mark)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        daemons.insert(p);
    }
    daemons.extend(children_named(apache as u32, "(wsgi:stop)"));
    println!(
        "graceful stop {signalled_after:?} after sending; the in-flight request took {took:?}: {:?}",
        response.as_ref().map(|r| (r.status, r.text()))
    );
    let response = response.unwrap_or_else(|e| {
        panic!(
            "in-flight request failed across graceful stop: {e}{}",
            notes(&server)
        )
    });
    assert_eq!(
        response.status,
        200,
        "in-flight request across graceful stop: {:?}{}",
        response.text(),
        notes(&server)
    );
    let j = response.json();
    assert_eq!(j.str_of("group"), "stop", "{j:?}");
    assert!(
        took >= Duration::from_millis(900),
        "the request slept 1 s but took {took:?}"
    );

    let exited = wait_until(STOP_WITHIN, || !server.is_alive());
    let daemons_gone = wait_until(Duration::from_secs(5), || {
        daemons.iter().all(|p| !pid_alive(*p))
    });
    let left = kill_leftovers(&daemons);
    assert!(
        exited,
        "Apache parent still running {STOP_WITHIN:?} after the request finished{}",
        notes(&server)
    );
    assert!(
        daemons_gone,
        "daemon processes {left:?} left behind after graceful stop{}",
        notes(&server)
    );
    server.stop();
}

/// An iterable that raises (or yields a str) after its first chunk, in
/// daemon mode: the client gets the status and every byte the application
/// produced, then a visibly incomplete response (no final chunk), and the
/// daemon serves the next request. (An Apache child that aborted before
/// flushing used to drop the whole response: an empty reply.)
#[test]
fn failure_after_first_chunk_keeps_what_was_produced() {
    let server = ServerBuilder::new()
        .file(
            "app.wsgi",
            "def application(environ, start_response):\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             yield b'first chunk\\n'\n    \
             if environ['PATH_INFO'] == '/bad-item':\n        \
             yield 'not bytes'\n    \
             raise RuntimeError('after the first chunk')\n",
        )
        .config(
            "WSGISocketPrefix {root}/run/wsgi\n\
             WSGIDaemonProcess failing processes=1 threads=2\n\
             WSGIProcessGroup failing\n\
             WSGIScriptAlias / {root}/app.wsgi",
        )
        .start();
    for path in ["/raise", "/bad-item", "/raise"] {
        let mut conn = common::raw::RawConn::connect(server.port());
        conn.send(&common::raw::request_bytes(
            server.port(),
            "GET",
            path,
            &[],
            b"",
        ))
        .unwrap();
        let reply = conn.read_timed(Duration::from_secs(10));
        let head = common::raw::parse_head(&reply.data)
            .unwrap_or_else(|| panic!("{path}: no response head: {:?}", reply.text()));
        assert_eq!(head.status, 200, "{path}");
        assert!(head.is_chunked(), "{path}");
        let (payload, complete, _) = common::raw::dechunk(&reply.data[head.len..]);
        assert_eq!(payload, b"first chunk\n", "{path}");
        assert!(!complete, "{path}: the cut-short response looked complete");
        assert!(reply.eof.is_some(), "{path}: connection left open");
    }
    assert!(
        server.wait_for_log(
            "RuntimeError exception raised processing WSGI script",
            Duration::from_secs(5)
        ),
        "{}",
        server.error_log()
    );
}
