//! The telemetry reporter: `WSGITelemetryService`, `WSGISlowRequests` and
//! `WSGITelemetryOptions`, checked end to end against a real Apache (started
//! as root, `User www-data`).
//!
//! The test itself is the ingester: it binds the UNIX `SOCK_DGRAM` socket
//! the reporter sends to (tests/common/telemetry.rs), and the datagrams it
//! receives are decoded by the wire decoder of the `mod-wsgi-telemetry`
//! package from PyPI (`mod_wsgi.telemetry.wire.decode`, unchanged), which
//! is what defines the wire format: a datagram that decoder rejects fails
//! the test. The package is installed at test time into a virtualenv under
//! /var/tmp (network access to PyPI the first time; `MOD_WSGI_SKIP_PIP=1`
//! skips these tests).
//!
//! References: configuration-directives/WSGITelemetryService.rst,
//! WSGISlowRequests.rst, WSGITelemetryOptions.rst and
//! user-guides/external-telemetry-service.rst; field names and kinds from
//! `mod_wsgi/telemetry/wire.py` of mod-wsgi-telemetry 1.1.0.
//!
//! The daemon-mode servers set `WSGISocketPrefix {root}/run/wsgi`: the C
//! mod_wsgi 6.1.1 built by pip (used to check these tests) otherwise puts
//! its daemon sockets in /var/run/apache2, which does not exist here.
//!
//! As a check of the tests themselves, they were run against C mod_wsgi
//! 6.1.1 (pip, Python 3.11 and 3.12): all pass.
//!
//! Set `MOD_WSGI_TELEMETRY_DUMP=1` to print every decoded datagram and the
//! field names seen per kind.
//!
//! Run: `cargo test --release --test telemetry`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::daemon_app::{diagnostics, expect_status, pid};
use common::telemetry::{decoder_venv, Collector, Decoded, Sample};
use common::{Mpm, Server, ServerBuilder};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Answers `{"pid": ..., "group": ...}`; `/slow` first sleeps 1.5 s.
const APP: &str = r#"
import json, os, time

def application(environ, start_response):
    if environ.get('PATH_INFO') == '/slow':
        time.sleep(1.5)
    body = json.dumps({'pid': os.getpid(),
                       'group': environ.get('mod_wsgi.process_group')}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

/// Requests each periodic-sample test sends.
const N: usize = 25;
/// The reporter's interval (`interval=`), the smallest the directive allows.
const INTERVAL: &str = "0.5";
/// How long to keep receiving after the requests, at most.
const COLLECT_LIMIT: Duration = Duration::from_secs(5);
/// Entries of every `*_buckets` histogram: 16 octaves x 4 + overflow.
const BUCKETS: usize = 65;
/// ThreadsPerChild of `ServerBuilder::single_process()` on a threaded MPM.
const EMBEDDED_THREADS: i64 = 4;
/// The User-Agent the slow-request tests send.
const USER_AGENT: &str = "mod_wsgi-telemetry-test/1.0 (slow; +ua)";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A collector, or None (test skipped) when the decoder cannot be had.
fn collector() -> Option<Collector> {
    decoder_venv().map(Collector::bind)
}

/// The app at /app, and `WSGITelemetryService` pointing at `c`.
fn builder(c: &Collector, extra: &str) -> ServerBuilder {
    ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("info")
        .file("app.wsgi", APP)
        .config(&format!(
            "WSGITelemetryService {} interval={INTERVAL}\n{extra}",
            c.target()
        ))
}

/// GETs `path` `n` times (all must be 200); the answering pids and how many
/// requests each served.
fn send(server: &Server, path: &str, n: usize) -> BTreeMap<i64, usize> {
    let mut by_pid = BTreeMap::new();
    for i in 0..n {
        let r = server.get(path);
        expect_status(server, &r, &format!("GET {path} #{i}"), 200);
        *by_pid.entry(i64::from(pid(&r.json()))).or_insert(0) += 1;
    }
    by_pid
}

fn dump_requested() -> bool {
    std::env::var_os("MOD_WSGI_TELEMETRY_DUMP").is_some()
}

/// Prints the decoded datagrams and field lists when asked to.
fn maybe_dump(what: &str, d: &Decoded) {
    if !dump_requested() {
        return;
    }
    eprintln!(
        "=== {what}: {} datagrams ===\n{}",
        d.samples.len(),
        d.dump()
    );
    for (kind, names) in d.field_lists() {
        eprintln!("--- {what}: fields of {kind} ---\n{}", names.join(" "));
    }
}

/// The decoded datagrams and the server's logs, for failure messages.
fn context(server: &Server, d: &Decoded) -> String {
    format!(
        "--- decoded datagrams ---\n{}{}",
        d.dump(),
        diagnostics(server)
    )
}

fn sum_of(d: &Decoded, kind: &str, pids: &BTreeSet<i64>, field: &str) -> i64 {
    d.of_kind(kind)
        .filter(|s| pids.contains(&s.pid))
        .map(|s| s.int(field).unwrap_or(0))
        .sum()
}

fn started_for(d: &Decoded, pid: i64) -> Option<&Sample> {
    d.of_kind("process_started").find(|s| s.pid == pid)
}

/// Datagrams arrived, and the package's decoder accepted every one.
fn assert_decoded(server: &Server, c: &Collector, d: &Decoded) {
    assert!(
        !d.samples.is_empty() || !d.errors.is_empty(),
        "no datagram reached {} within {COLLECT_LIMIT:?}\n{}",
        c.socket_path().display(),
        diagnostics(server)
    );
    assert!(
        d.errors.is_empty(),
        "the package's decoder rejected {} datagram(s): {:?}\n{}",
        d.errors.len(),
        d.errors,
        context(server, d)
    );
}

/// The `process_started` datagram of `pid`: present, identity strings
/// non-empty, `process_group` as expected (embedded mode: empty or absent).
fn check_process_started(server: &Server, d: &Decoded, pid: i64, group: &str) {
    let s = started_for(d, pid)
        .unwrap_or_else(|| panic!("no process_started from pid {pid}\n{}", context(server, d)));
    for name in [
        "mod_wsgi_version",
        "python_version",
        "apache_version",
        "mpm_name",
    ] {
        assert!(
            s.text(name).is_some_and(|v| !v.is_empty()),
            "process_started of pid {pid}: {name} missing or empty (types {:?}): {}",
            s.types,
            s.brief()
        );
    }
    let python = common::python_info().version();
    assert!(
        s.text("python_version")
            .is_some_and(|v| v.starts_with(&python)),
        "python_version is not {python}.x: {}",
        s.brief()
    );
    assert!(
        s.text("mpm_name")
            .is_some_and(|v| v.to_ascii_lowercase().contains("event")),
        "mpm_name does not name the event MPM: {}",
        s.brief()
    );
    if group.is_empty() {
        assert!(
            s.text("process_group").unwrap_or("").is_empty(),
            "embedded process_group should be empty: {}",
            s.brief()
        );
    } else {
        assert_eq!(
            s.text("process_group"),
            Some(group),
            "process_group of pid {pid}: {}",
            s.brief()
        );
    }
}

/// The datagrams of `pid`, of every kind, carry rising `seq` numbers in the
/// order they arrived (one counter per process, for drop detection).
fn check_seq_rises(server: &Server, d: &Decoded, pid: i64) {
    let seqs: Vec<(i64, &str)> = d
        .samples
        .iter()
        .filter(|s| s.pid == pid)
        .map(|s| (s.seq, s.kind_name.as_str()))
        .collect();
    for w in seqs.windows(2) {
        assert!(
            w[1].0 > w[0].0,
            "seq does not rise for pid {pid}: {:?} then {:?} (all: {seqs:?})\n{}",
            w[0],
            w[1],
            context(server, d)
        );
    }
}

/// Every `request_metrics` sample reports the configured interval and
/// slow-request threshold (0 when `WSGISlowRequests` is not set).
fn check_configured(d: &Decoded, interval: f64, threshold: f64) {
    for s in d.of_kind("request_metrics") {
        assert_eq!(
            s.num("telemetry_interval"),
            Some(interval),
            "telemetry_interval: {}",
            s.brief()
        );
        assert_eq!(
            s.num("slow_requests_threshold"),
            Some(threshold),
            "slow_requests_threshold: {}",
            s.brief()
        );
    }
}

/// Checks every periodic (`request_metrics`) sample of `pids`: seq rising
/// per pid, `request_threads_maximum`, histograms of 65 entries with the
/// application-time one summing to `request_count`; and over all of them,
/// `request_count` and `status_2xx_total` summing to `total`.
fn check_periodic(server: &Server, d: &Decoded, pids: &BTreeSet<i64>, threads: i64, total: i64) {
    let ctx = || context(server, d);
    for p in pids {
        check_seq_rises(server, d, *p);
        let samples: Vec<&Sample> = d
            .of_kind("request_metrics")
            .filter(|s| s.pid == *p)
            .collect();
        assert!(
            !samples.is_empty(),
            "no request_metrics from pid {p}\n{}",
            ctx()
        );
        for s in &samples {
            assert_eq!(
                s.int("request_threads_maximum"),
                Some(threads),
                "request_threads_maximum of pid {p}: {}",
                s.brief()
            );
            let count = s
                .int("request_count")
                .unwrap_or_else(|| panic!("request_metrics without request_count: {}", s.brief()));
            for name in s.names.iter().filter(|n| n.ends_with("_buckets")) {
                let b = s.nums(name).unwrap_or_default();
                assert_eq!(b.len(), BUCKETS, "{name} of {}", s.brief());
            }
            check_gil_fields(s, 0);
            if count > 0 {
                let b = s.nums("application_time_buckets").unwrap_or_else(|| {
                    panic!(
                        "request_count {count} but no application_time_buckets: {}",
                        s.brief()
                    )
                });
                assert_eq!(
                    b.iter().sum::<f64>(),
                    count as f64,
                    "application_time_buckets should sum to request_count: {:?} in {}",
                    b,
                    s.brief()
                );
            }
        }
    }
    assert_eq!(
        sum_of(d, "request_metrics", pids, "request_count"),
        total,
        "request_count over the samples of {pids:?}\n{}",
        ctx()
    );
    assert_eq!(
        sum_of(d, "request_metrics", pids, "status_2xx_total"),
        total,
        "status_2xx_total over the samples of {pids:?}\n{}",
        ctx()
    );
}

/// Our GIL fields of an interval sample, which the package's decoder names
/// by number (docs/telemetry.md): `gil_enabled` (1000) is 1, as the Python
/// under test runs with the GIL here; `gil_enabled_by` (1001) is left out,
/// no module having turned it back on; `own_gil_fallbacks` (1002) is
/// `fallbacks`.
fn check_gil_fields(s: &Sample, fallbacks: i64) {
    assert_eq!(s.int("id1000"), Some(1), "gil_enabled: {}", s.brief());
    assert!(!s.has("id1001"), "gil_enabled_by: {}", s.brief());
    assert_eq!(
        s.int("id1002"),
        Some(fallbacks),
        "own_gil_fallbacks: {}",
        s.brief()
    );
}

// ---------------------------------------------------------------------------
// 1. Periodic samples, embedded mode
// ---------------------------------------------------------------------------

// Reference: WSGITelemetryService.rst (every embedded-mode Apache child
// starts a reporter; one aggregate sample per interval; lifecycle events),
// external-telemetry-service.rst "What you observe"; wire.py (kinds 2 and
// 5, fields 1-6, 20, 50, 90-97, 121).
#[test]
fn embedded_mode_periodic_samples() {
    let Some(c) = collector() else { return };
    let server = builder(&c, "WSGIScriptAlias /app {root}/app.wsgi").start();
    let served = send(&server, "/app/", N);
    let pids: BTreeSet<i64> = served.keys().copied().collect();
    assert_eq!(pids.len(), 1, "one Apache child serves: {served:?}");
    let total = N as i64;
    let d = c.wait_decoded(COLLECT_LIMIT, |d| {
        sum_of(d, "request_metrics", &pids, "request_count") >= total
            && pids.iter().all(|p| started_for(d, *p).is_some())
    });
    maybe_dump("embedded", &d);
    assert_decoded(&server, &c, &d);
    for p in &pids {
        check_process_started(&server, &d, *p, "");
    }
    check_periodic(&server, &d, &pids, EMBEDDED_THREADS, total);
    check_configured(&d, 0.5, 0.0);
}

// ---------------------------------------------------------------------------
// 2. Periodic samples, daemon mode
// ---------------------------------------------------------------------------

// Reference: WSGITelemetryService.rst (each daemon-mode worker reports;
// grouped by WSGIDaemonProcess name), WSGIDaemonProcess.rst (processes=,
// threads=).
#[test]
fn daemon_mode_periodic_samples() {
    let Some(c) = collector() else { return };
    let server = builder(
        &c,
        "WSGISocketPrefix {root}/run/wsgi\n\
         WSGIDaemonProcess tele processes=2 threads=3\n\
         WSGIScriptAlias /app {root}/app.wsgi process-group=tele application-group=%{GLOBAL}",
    )
    .start();
    let served = send(&server, "/app/", N);
    let total = N as i64;
    let daemon_pids = |d: &Decoded| -> BTreeSet<i64> {
        d.of_kind("process_started")
            .filter(|s| s.text("process_group") == Some("tele"))
            .map(|s| s.pid)
            .collect()
    };
    let d = c.wait_decoded(COLLECT_LIMIT, |d| {
        let pids = daemon_pids(d);
        pids.len() >= 2
            && sum_of(d, "request_metrics", &pids, "request_count") >= total
            && pids
                .iter()
                .all(|p| d.of_kind("request_metrics").any(|s| s.pid == *p))
    });
    maybe_dump("daemon", &d);
    assert_decoded(&server, &c, &d);
    let pids = daemon_pids(&d);
    assert_eq!(
        pids.len(),
        2,
        "processes=2: process_started with process_group 'tele' from {pids:?}\n{}",
        context(&server, &d)
    );
    for p in served.keys() {
        assert!(
            pids.contains(p),
            "pid {p} served requests but sent no process_started for 'tele' ({pids:?})\n{}",
            context(&server, &d)
        );
    }
    for p in &pids {
        check_process_started(&server, &d, *p, "tele");
    }
    check_periodic(&server, &d, &pids, 3, total);
    // The Apache child that passed the requests on reports too, but the
    // requests are the daemon processes' own: counted once, there.
    let everyone: BTreeSet<i64> = d.samples.iter().map(|s| s.pid).collect();
    assert_eq!(
        sum_of(&d, "request_metrics", &everyone, "request_count"),
        total,
        "request_count over every process (Apache children included)\n{}",
        context(&server, &d)
    );
    check_configured(&d, 0.5, 0.0);
}

/// A daemon whose own-GIL interpreter fell back to the shared GIL
/// (`WSGIOwnGILFallback On`, ours) reports it in `own_gil_fallbacks`. Before
/// Python 3.12 there is no own GIL to give up, and on 3.12 the fallback is
/// refused at load (the refused script then fails with a 500): the count
/// stays 0.
#[test]
fn own_gil_fallbacks_are_reported() {
    let Some(c) = collector() else { return };
    let info = common::python_info();
    let own_gil = (info.major, info.minor) >= (3, 12);
    let falls_back = (info.major, info.minor) >= (3, 13);
    // Refuses own-GIL interpreters; 3.11's _testcapi is single-phase too.
    let module = if own_gil {
        "_testsinglephase"
    } else {
        "_testcapi"
    };
    let server = builder(
        &c,
        "WSGISocketPrefix {root}/run/wsgi\n\
         WSGIDaemonProcess tele processes=1 threads=2\n\
         <WSGIInterpreterOptions process-group=tele>\n  WSGIPerInterpreterGIL On\n  WSGIOwnGILFallback On\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias /refused {root}/refused.wsgi process-group=tele application-group=isolated",
    )
    .file(
        "refused.wsgi",
        format!(
            "import {module}\n\
             def application(environ, start_response):\n\
             \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
             \x20   return [b'ok']\n"
        ),
    )
    .start();
    let r = server.get("/refused");
    let status = if own_gil && !falls_back { 500 } else { 200 };
    expect_status(&server, &r, "GET /refused", status);
    let served = |s: &Sample| {
        s.text("process_group") == Some("tele") && s.int("request_count").unwrap_or(0) > 0
    };
    let d = c.wait_decoded(COLLECT_LIMIT, |d| d.of_kind("request_metrics").any(served));
    maybe_dump("own_gil_fallbacks", &d);
    assert_decoded(&server, &c, &d);
    let sample = d
        .of_kind("request_metrics")
        .find(|s| served(s))
        .unwrap_or_else(|| panic!("no sample of the request\n{}", context(&server, &d)));
    check_gil_fields(sample, i64::from(falls_back));
}

// ---------------------------------------------------------------------------
// 3. Slow requests, with and without +CaptureUserAgent
// ---------------------------------------------------------------------------

// Reference: WSGISlowRequests.rst (a record when a request crosses the
// threshold, a follow-up with the final elapsed time and status; method,
// URL path without the query string, status zero while active; User-Agent
// only with +CaptureUserAgent), WSGITelemetryOptions.rst (CaptureUserAgent),
// wire.py (kind 4, fields 200-261).
fn slow_requests(capture_user_agent: bool) {
    let Some(c) = collector() else { return };
    let options = if capture_user_agent {
        "WSGITelemetryOptions +CaptureUserAgent\n"
    } else {
        ""
    };
    let server = builder(
        &c,
        &format!("WSGISlowRequests 0.5\n{options}WSGIScriptAlias /app {{root}}/app.wsgi"),
    )
    .start();
    // A fast request first: never a slow record.
    send(&server, "/app/fast?x=1", 1);
    let started = Instant::now();
    let r = server.request(
        "GET",
        "/app/slow?token=secret",
        &[("User-Agent", USER_AGENT)],
        b"",
    );
    let took = started.elapsed();
    expect_status(&server, &r, "GET /app/slow", 200);
    let slow_pid = i64::from(pid(&r.json()));
    // Datagrams that arrived while the request was still running.
    let during = c.count();
    assert!(
        took >= Duration::from_millis(1400),
        "the slow request took {took:?}"
    );

    let d = c.wait_decoded(COLLECT_LIMIT, |d| {
        d.of_kind("slow_request")
            .any(|s| s.int("slow_record_state") == Some(1))
    });
    maybe_dump("slow", &d);
    assert_decoded(&server, &c, &d);
    let ctx = || context(&server, &d);
    let records: Vec<&Sample> = d.of_kind("slow_request").collect();
    assert!(!records.is_empty(), "no slow_request record\n{}", ctx());

    for s in &records {
        assert_eq!(
            s.pid,
            slow_pid,
            "slow record from another pid: {}",
            s.brief()
        );
        assert_eq!(s.text("slow_method"), Some("GET"), "{}", s.brief());
        assert_eq!(s.text("slow_script_name"), Some("/app"), "{}", s.brief());
        assert_eq!(
            s.text("slow_path_info"),
            Some("/slow"),
            "only /slow is slow, and the query string is stripped: {}",
            s.brief()
        );
        if capture_user_agent {
            assert_eq!(
                s.text("slow_user_agent"),
                Some(USER_AGENT),
                "+CaptureUserAgent: {}",
                s.brief()
            );
        } else {
            assert!(
                !s.has("slow_user_agent"),
                "slow_user_agent without +CaptureUserAgent: {}",
                s.brief()
            );
        }
    }

    let active: Vec<&Sample> = records
        .iter()
        .copied()
        .filter(|s| s.int("slow_record_state") == Some(0))
        .collect();
    let arrived_while_running = |s: &Sample| {
        s.file
            .trim_end_matches(".bin")
            .parse::<usize>()
            .is_ok_and(|i| i < during)
    };
    assert!(
        active.iter().any(|s| arrived_while_running(s)),
        "no active (slow_record_state 0) record arrived while the request ran\n{}",
        ctx()
    );
    for s in &active {
        assert_eq!(
            s.int("slow_status"),
            Some(0),
            "an active record's status is 0: {}",
            s.brief()
        );
        let dur = s.num("slow_duration").unwrap_or(f64::NAN);
        assert!(
            dur >= 0.5 && dur <= took.as_secs_f64(),
            "an active record is past the 0.5 s threshold and before the end \
             (the client saw {took:?}): {}",
            s.brief()
        );
    }

    check_seq_rises(&server, &d, slow_pid);
    check_configured(&d, 0.5, 0.5);

    let done: Vec<&Sample> = records
        .iter()
        .copied()
        .filter(|s| s.int("slow_record_state") == Some(1))
        .collect();
    assert_eq!(
        done.len(),
        1,
        "one completed (slow_record_state 1) record\n{}",
        ctx()
    );
    let s = done[0];
    assert_eq!(s.int("slow_status"), Some(200), "{}", s.brief());
    let dur = s.num("slow_duration").unwrap_or(f64::NAN);
    assert!(
        dur >= 1.4 && dur < took.as_secs_f64() + 0.5,
        "completed slow_duration {dur} (the client saw {took:?}): {}",
        s.brief()
    );
}

#[test]
fn slow_request_records() {
    slow_requests(false);
}

#[test]
fn slow_request_records_capture_user_agent() {
    slow_requests(true);
}

// ---------------------------------------------------------------------------
// 4. Lifecycle: maximum-requests
// ---------------------------------------------------------------------------

// Reference: WSGITelemetryService.rst (process lifecycle events: start,
// draining, stop), WSGIDaemonProcess.rst (maximum-requests=), wire.py
// (kinds 5, 6, 7; shutdown_reason).
#[test]
fn lifecycle_on_maximum_requests() {
    let Some(c) = collector() else { return };
    let server = builder(
        &c,
        "WSGISocketPrefix {root}/run/wsgi\n\
         WSGIDaemonProcess tele processes=1 threads=1 maximum-requests=3\n\
         WSGIScriptAlias /app {root}/app.wsgi process-group=tele application-group=%{GLOBAL}",
    )
    .start();
    let served = send(&server, "/app/", 3);
    assert_eq!(served.len(), 1, "one daemon process: {served:?}");
    let old = *served.keys().next().unwrap();
    let replaced = |d: &Decoded| {
        d.of_kind("process_started")
            .any(|s| s.pid != old && s.text("process_group") == Some("tele"))
    };
    let d = c.wait_decoded(COLLECT_LIMIT, |d| {
        replaced(d) && d.of_kind("process_stopped").any(|s| s.pid == old)
    });
    maybe_dump("lifecycle", &d);
    assert_decoded(&server, &c, &d);
    let ctx = || context(&server, &d);
    check_process_started(&server, &d, old, "tele");

    let position = |kind: &str, p: i64| {
        d.samples
            .iter()
            .position(|s| s.kind_name == kind && s.pid == p)
    };
    let stopping = position("process_stopping", old)
        .unwrap_or_else(|| panic!("no process_stopping from pid {old}\n{}", ctx()));
    let stopping = &d.samples[stopping];
    assert_eq!(
        stopping.text("shutdown_reason"),
        Some("maximum_requests"),
        "{}",
        stopping.brief()
    );
    let stopped = position("process_stopped", old)
        .unwrap_or_else(|| panic!("no process_stopped from pid {old}\n{}", ctx()));
    let stopped = &d.samples[stopped];
    assert_eq!(
        stopped.text("shutdown_reason"),
        Some("maximum_requests"),
        "{}",
        stopped.brief()
    );
    assert_eq!(
        stopped.int("lifetime_request_count"),
        Some(3),
        "{}",
        stopped.brief()
    );
    for s in [stopping, stopped] {
        assert_eq!(s.text("process_group"), Some("tele"), "{}", s.brief());
    }
    check_seq_rises(&server, &d, old);
    assert!(
        replaced(&d),
        "no process_started from a replacement 'tele' process\n{}",
        ctx()
    );
    let new = d
        .of_kind("process_started")
        .find(|s| s.pid != old && s.text("process_group") == Some("tele"))
        .map(|s| s.pid)
        .unwrap();
    check_process_started(&server, &d, new, "tele");
    // The replacement serves the next request.
    let next = send(&server, "/app/", 1);
    assert!(next.contains_key(&new), "{next:?} vs replacement {new}");
}

// ---------------------------------------------------------------------------
// 5. Configuration errors
// ---------------------------------------------------------------------------

// Reference: WSGITelemetryService.rst "Validation" (unix: only, interval
// at least 0.5, an argument required, only interval= as second argument;
// server config only), WSGISlowRequests.rst and WSGITelemetryOptions.rst
// "Validation".
#[test]
fn bad_telemetry_directives_fail_configtest() {
    let ok = "WSGITelemetryService unix:/tmp/mod_wsgi-telemetry-unused.sock interval=0.5";
    let (passed, out) = ServerBuilder::new().config(ok).configtest();
    assert!(passed, "{ok} should pass configtest:\n{out}");
    for (config, needle) in [
        ("WSGITelemetryService udp:127.0.0.1:9", "WSGITelemetryService"),
        (
            "WSGITelemetryService unix:/tmp/mod_wsgi-telemetry-unused.sock interval=0.1",
            "WSGITelemetryService",
        ),
        (
            "WSGITelemetryService unix:/tmp/mod_wsgi-telemetry-unused.sock interval=0",
            "WSGITelemetryService",
        ),
        ("WSGITelemetryService", "WSGITelemetryService"),
        (
            "WSGITelemetryService unix:/tmp/mod_wsgi-telemetry-unused.sock every=1",
            "WSGITelemetryService",
        ),
        (
            "<VirtualHost 127.0.0.1:80>\nWSGITelemetryService unix:/tmp/mod_wsgi-telemetry-unused.sock\n</VirtualHost>",
            "WSGITelemetryService",
        ),
        ("WSGISlowRequests -1", "WSGISlowRequests"),
        ("WSGITelemetryOptions +NoSuchFlag", "WSGITelemetryOptions"),
        (
            "WSGITelemetryOptions None +CaptureUserAgent",
            "WSGITelemetryOptions",
        ),
    ] {
        let (passed, out) = ServerBuilder::new().config(config).configtest();
        assert!(!passed, "{config} should fail configtest:\n{out}");
        assert!(
            out.contains(needle),
            "{config}: expected {needle:?} in:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// 6. Garbage-collector records
// ---------------------------------------------------------------------------

/// `/collect?gen=N` makes 500 reference cycles and collects generation N;
/// answers with the pid, the interpreter and its collector's settings.
const GC_APP: &str = r#"
import gc, json, os
import mod_wsgi

class Node:
    pass

def application(environ, start_response):
    generation = int(environ.get('QUERY_STRING', 'gen=2').split('=')[1])
    for _ in range(500):
        a, b = Node(), Node()
        a.other, b.other = b, a
    collected = gc.collect(generation)
    body = json.dumps({'pid': os.getpid(),
                       'interpreter': mod_wsgi.application_group,
                       'collected': collected,
                       'threshold': list(gc.get_threshold()),
                       'collections': [s['collections'] for s in gc.get_stats()]}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

/// GC records of `kind` for `pid` and interpreter `name` (the main
/// interpreter's records carry no name).
fn gc_records<'a>(d: &'a Decoded, kind: &'a str, child: i64, name: &'a str) -> Vec<&'a Sample> {
    d.of_kind(kind)
        .filter(|s| s.pid == child && s.text("interpreter_name").unwrap_or("") == name)
        .collect()
}

// Reference: user-guides/external-telemetry-service.rst ("GC" view: per
// interpreter generation pressure, collections, and every cyclic-GC pause),
// mod_wsgi/telemetry/wire.py of mod-wsgi-telemetry 1.1.0 (KIND_GC_SNAPSHOT,
// KIND_GC_EVENT, fields 8 and 300-324).
#[test]
fn gc_snapshots_and_collection_events_per_interpreter() {
    let Some(c) = collector() else { return };
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .file("gc.wsgi", GC_APP)
        .config(&format!(
            "WSGITelemetryService {} interval={INTERVAL}\n\
             WSGIScriptAlias /main {{root}}/gc.wsgi application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /sub {{root}}/gc.wsgi application-group=sub",
            c.target()
        ))
        .start();
    let main = server.json_ok("/main?gen=0", &[]);
    let child = i64::from(pid(&main));
    assert_eq!(
        server.json_ok("/sub?gen=0", &[]).str_of("interpreter"),
        "sub"
    );
    // Both interpreters are hooked once a snapshot of each has been sent.
    let hooked = c.wait_decoded(COLLECT_LIMIT, |d| {
        !gc_records(d, "gc_snapshot", child, "").is_empty()
            && !gc_records(d, "gc_snapshot", child, "sub").is_empty()
    });
    assert!(
        !gc_records(&hooked, "gc_snapshot", child, "sub").is_empty(),
        "no gc_snapshot for both interpreters\n{}",
        context(&server, &hooked)
    );
    let since = common::now_epoch();
    let mut last = None;
    for _ in 0..3 {
        last = Some(server.json_ok("/main?gen=2", &[]));
        assert_eq!(
            server.json_ok("/sub?gen=1", &[]).str_of("interpreter"),
            "sub"
        );
    }
    let last = last.unwrap();
    let full_collections = last.get("collections").as_array().unwrap()[2]
        .as_f64()
        .unwrap();
    let threshold0 = last.get("threshold").as_array().unwrap()[0]
        .as_f64()
        .unwrap();

    let forced = |d: &Decoded, name: &str, generation: i64| {
        gc_records(d, "gc_event", child, name)
            .into_iter()
            .filter(|e| {
                e.int("gc_event_generation") == Some(generation)
                    && e.num("gc_event_start_stamp").unwrap_or(0.0) >= since - 0.5
            })
            .count()
    };
    let d = c.wait_decoded(COLLECT_LIMIT, |d| {
        forced(d, "", 2) >= 3
            && forced(d, "sub", 1) >= 3
            && gc_records(d, "gc_snapshot", child, "")
                .iter()
                .any(|s| s.int("gc_collections2").unwrap_or(0) as f64 >= full_collections)
    });
    maybe_dump("gc", &d);
    assert_decoded(&server, &c, &d);
    let ctx = || context(&server, &d);
    assert!(
        forced(&d, "", 2) >= 3,
        "main: 3 full collections expected\n{}",
        ctx()
    );
    assert!(
        forced(&d, "sub", 1) >= 3,
        "sub: 3 generation-1 collections\n{}",
        ctx()
    );
    let mut collected_since = 0;
    for event in gc_records(&d, "gc_event", child, "") {
        let duration = event.num("gc_event_duration").unwrap_or(-1.0);
        assert!((0.0..5.0).contains(&duration), "{}", event.brief());
        if event.num("gc_event_start_stamp").unwrap_or(0.0) >= since - 0.5 {
            collected_since += event.int("gc_event_collected").unwrap_or(0);
        }
    }
    // Each request made 1000 objects in cycles; the automatic and forced
    // passes of the three requests collected nearly all of them (the last
    // pair is still referenced when a request's own pass runs).
    assert!(
        collected_since >= 2500,
        "main: {collected_since} objects collected by the passes reported\n{}",
        ctx()
    );
    let snapshot = gc_records(&d, "gc_snapshot", child, "")
        .into_iter()
        .last()
        .expect("a main-interpreter snapshot");
    assert_eq!(
        snapshot.int("gc_is_enabled"),
        Some(1),
        "{}",
        snapshot.brief()
    );
    assert_eq!(
        snapshot.int("gc_threshold0").map(|t| t as f64),
        Some(threshold0),
        "{}",
        snapshot.brief()
    );
    assert!(
        snapshot.int("gc_collections2").unwrap_or(0) as f64 >= full_collections,
        "{}",
        snapshot.brief()
    );
    for name in [
        "gc_count0",
        "gc_collected2",
        "gc_uncollectable2",
        "gc_freeze_count",
        "gc_dropped_events",
    ] {
        assert!(
            snapshot.int(name).is_some(),
            "{name} missing: {}",
            snapshot.brief()
        );
    }
}
