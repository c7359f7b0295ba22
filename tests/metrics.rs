//! The `wsgi-metrics` handler (ours): one Prometheus/OpenMetrics page for
//! every Apache child and daemon process of the server.
//!
//! Each test starts one server with an embedded application and a daemon
//! group, sends a known number of requests with known statuses (some of
//! them while the page is being scraped), and reads the page with the
//! `prometheus_client` parser from PyPI (a virtualenv built on first use,
//! see tests/common/venv.rs), checking the counters against what was sent.
//!
//! Run: `cargo test --release --test metrics`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::daemon_app::diagnostics;
use common::json::Json;
use common::venv::{venv_with, Venv};
use common::{Mpm, Server, ServerBuilder};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// `/ok` answers 200, `/missing` 404, `/broken` 500, `/crash` kills its
/// process with SIGKILL, `/pid` the process id.
const APP: &str = r#"
import os, signal

def application(environ, start_response):
    path = environ.get('PATH_INFO')
    if path == '/crash':
        os.kill(os.getpid(), signal.SIGKILL)
    status = {'/missing': '404 Not Found', '/broken': '500 Internal Server Error'}.get(path, '200 OK')
    body = str(os.getpid()).encode()
    start_response(status, [('Content-Type', 'text/plain'),
                            ('Content-Length', str(len(body)))])
    return [body]
"#;

const PROMETHEUS_CLIENT: &[&str] = &["prometheus_client==0.21.1"];

fn parser_venv() -> &'static Venv {
    static VENV: OnceLock<Result<Venv, String>> = OnceLock::new();
    match VENV.get_or_init(|| venv_with(PROMETHEUS_CLIENT)) {
        Ok(v) => v,
        Err(e) => panic!("cannot build the prometheus_client virtualenv: {e}"),
    }
}

/// Reads a page with prometheus_client's own parser (the OpenMetrics one
/// when `openmetrics`) and returns every sample as
/// `[name, {labels}, value]`.
fn parse(page: &str, openmetrics: bool) -> Json {
    let parser = if openmetrics {
        "from prometheus_client.openmetrics.parser import text_string_to_metric_families"
    } else {
        "from prometheus_client.parser import text_string_to_metric_families"
    };
    let script = format!(
        "import json, sys\n{parser}\n\
         out = []\n\
         for family in text_string_to_metric_families(sys.stdin.read()):\n\
         \x20   for s in family.samples:\n\
         \x20       out.append([s.name, s.labels, s.value])\n\
         print(json.dumps(out))\n"
    );
    let mut child = Command::new(parser_venv().dir.join("bin/python"))
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the parser");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the page: {}\n--- page ---\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::json::parse(&String::from_utf8_lossy(&out.stdout)).expect("parser output is JSON")
}

/// A sample: its name, labels and value.
type Sample = (String, Vec<(String, String)>, f64);

/// The samples of a parsed page.
struct Samples(Vec<Sample>);

impl Samples {
    fn of(parsed: &Json) -> Samples {
        let list = parsed.as_array().expect("a list of samples");
        Samples(
            list.iter()
                .map(|s| {
                    let s = s.as_array().unwrap();
                    let Json::Obj(labels) = &s[1] else {
                        panic!("labels are not an object: {:?}", s[1]);
                    };
                    let labels = labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect();
                    (
                        s[0].as_str().unwrap().to_string(),
                        labels,
                        s[2].as_f64().unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// The sum of `name` over samples whose labels include `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && with
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn count(&self, name: &str, with: &[(&str, &str)]) -> usize {
        self.0
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && with
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .count()
    }
}

fn start(mpm: Mpm, daemon_options: &str) -> Server {
    ServerBuilder::new()
        .mpm(mpm)
        .log_level("info")
        .file("app.wsgi", APP)
        .config(&format!(
            "WSGIDaemonProcess metered processes=2 threads=3 {daemon_options}\n\
             WSGIScriptAlias /embedded {{root}}/app.wsgi application-group=%{{GLOBAL}}\n\
             WSGIScriptAlias /daemon {{root}}/app.wsgi process-group=metered application-group=%{{GLOBAL}}\n\
             <Location /metrics>\n  SetHandler wsgi-metrics\n  Require local\n</Location>\n"
        ))
        .start()
}

fn scrape(server: &Server, openmetrics: bool) -> (String, Samples) {
    let accept = if openmetrics {
        "application/openmetrics-text; version=1.0.0"
    } else {
        "text/plain"
    };
    let r = server.request("GET", "/metrics", &[("Accept", accept)], b"");
    assert_eq!(r.status, 200, "scrape failed\n{}", diagnostics(server));
    let content_type = r.header("content-type").unwrap_or_default().to_string();
    if openmetrics {
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
    } else {
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
    }
    let page = r.text();
    let samples = Samples::of(&parse(&page, openmetrics));
    (page, samples)
}

/// Sends `n` GETs of each path under `mount` from `clients` threads and
/// checks each status.
fn load(server: &Server, mount: &str, n: usize, clients: usize) {
    let plan = [("/ok", 200u16), ("/missing", 404), ("/broken", 500)];
    std::thread::scope(|scope| {
        for c in 0..clients {
            scope.spawn(move || {
                for i in (c..n).step_by(clients) {
                    for (path, status) in plan {
                        let r = server.get(&format!("{mount}{path}"));
                        assert_eq!(
                            r.status,
                            status,
                            "GET {mount}{path} #{i}\n{}",
                            diagnostics(server)
                        );
                    }
                }
            });
        }
    });
}

fn requests_by_class(s: &Samples, group: &str, mode: &str, class: &str) -> f64 {
    s.sum(
        "mod_wsgi_requests_total",
        &[("group", group), ("mode", mode), ("status", class)],
    )
}

fn restarts(s: &Samples, reason: &str) -> f64 {
    s.sum(
        "mod_wsgi_process_restarts_total",
        &[("group", "metered"), ("reason", reason)],
    )
}

/// Scrapes until `ready` holds for the page (or 10 s pass) and returns the
/// last page. A request's accounting lands just after its response is
/// written, and the parent notices deaths on its once-a-second
/// maintenance round, so neither shows on the very next scrape.
fn scrape_until(
    server: &Server,
    openmetrics: bool,
    ready: impl Fn(&Samples) -> bool,
) -> (String, Samples) {
    let mut last = scrape(server, openmetrics);
    for _ in 0..50 {
        if ready(&last.1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        last = scrape(server, openmetrics);
    }
    last
}

fn scrape_until_a_crash(server: &Server) -> (String, Samples) {
    scrape_until(server, false, |s| restarts(s, "crashed") > 0.0)
}

#[test]
fn counters_match_the_requests_sent_while_scraping() {
    for mpm in [Mpm::Event, Mpm::Prefork] {
        let server = start(mpm, "");
        const N: usize = 30;
        std::thread::scope(|scope| {
            let scraper = scope.spawn(|| {
                // Scrapes while the load runs; each page must parse.
                for _ in 0..5 {
                    scrape(&server, false);
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            load(&server, "/embedded", N, 3);
            load(&server, "/daemon", N, 3);
            scraper.join().unwrap();
        });
        // The per-interpreter count is the last a finished request adds
        // to (metrics::board::ProcessRecord::finish).
        let all_counted = |s: &Samples| {
            ["", "metered"].iter().all(|group| {
                s.sum("mod_wsgi_interpreter_requests_total", &[("group", group)]) >= (3 * N) as f64
            })
        };
        for openmetrics in [false, true] {
            let (page, s) = scrape_until(&server, openmetrics, all_counted);
            let context = || format!("{mpm:?} openmetrics={openmetrics}\n{page}");
            for (group, mode) in [("", "embedded"), ("metered", "daemon")] {
                for (class, n) in [("2xx", N), ("4xx", N), ("5xx", N), ("3xx", 0)] {
                    assert_eq!(
                        requests_by_class(&s, group, mode, class),
                        n as f64,
                        "{mode} {class}: {}",
                        context()
                    );
                }
                let total = s.sum(
                    "mod_wsgi_request_seconds_count",
                    &[("group", group), ("mode", mode)],
                );
                assert_eq!(
                    total,
                    (3 * N) as f64,
                    "{mode} histogram count: {}",
                    context()
                );
                let inf = s.sum(
                    "mod_wsgi_application_seconds_bucket",
                    &[("group", group), ("le", "+Inf")],
                );
                assert_eq!(inf, (3 * N) as f64, "{mode} +Inf bucket: {}", context());
                // application-group=%{GLOBAL}: every request ran in the
                // main interpreter, whose application group is "".
                assert_eq!(
                    s.sum(
                        "mod_wsgi_interpreter_requests_total",
                        &[("group", group), ("application_group", "")]
                    ),
                    (3 * N) as f64,
                    "{mode} by interpreter: {}",
                    context()
                );
                let per_process = s.sum("mod_wsgi_process_requests_total", &[("group", group)]);
                assert!(
                    per_process <= (3 * N) as f64 && per_process > 0.0,
                    "{mode} per-process requests {per_process}: {}",
                    context()
                );
            }
            // Daemon mode only: the queue and connect histograms.
            assert_eq!(
                s.sum("mod_wsgi_queue_seconds_count", &[("group", "metered")]),
                (3 * N) as f64,
                "{}",
                context()
            );
            assert_eq!(
                s.count("mod_wsgi_queue_seconds_count", &[("mode", "embedded")]),
                0
            );
            assert!(
                s.sum(
                    "mod_wsgi_daemon_connect_seconds_count",
                    &[("group", "metered")]
                ) >= (3 * N) as f64,
                "{}",
                context()
            );
            // Both daemon processes, 3 threads each, idle now.
            assert_eq!(
                s.sum("mod_wsgi_thread_capacity", &[("group", "metered")]),
                6.0,
                "{}",
                context()
            );
            assert_eq!(
                s.sum(
                    "mod_wsgi_threads",
                    &[("group", "metered"), ("state", "busy")]
                ),
                0.0
            );
            assert_eq!(
                s.count(
                    "mod_wsgi_process_resident_memory_bytes",
                    &[("group", "metered")]
                ),
                2,
                "{}",
                context()
            );
            assert!(s.sum("mod_wsgi_process_resident_memory_bytes", &[]) > 0.0);
            assert_eq!(
                s.sum(
                    "mod_wsgi_process_interpreters",
                    &[("group", "metered"), ("gil", "shared")]
                ),
                2.0,
                "one main interpreter per daemon process: {}",
                context()
            );
            assert_eq!(
                s.count("mod_wsgi_daemon_listen_backlog", &[("group", "metered")]),
                1,
                "{}",
                context()
            );
        }
    }
}

#[test]
fn restarts_are_counted_by_reason() {
    // graceful-timeout=0: a process stops at its fourth request, rather
    // than serving on while its replacement starts.
    let mut server = start(Mpm::Event, "maximum-requests=4 graceful-timeout=0");
    for _ in 0..20 {
        let r = server.get("/daemon/ok");
        assert_eq!(r.status, 200, "{}", diagnostics(&server));
    }
    // Let the recycling settle first: the parent hands a standby that took
    // over its slot on its once-a-second maintenance round, and the crash
    // below is meant for a process in a slot (a standby killed before that
    // has a test of its own, below).
    let mut settled = restarts(&scrape(&server, false).1, "maximum_requests");
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(1500));
        let now = restarts(&scrape(&server, false).1, "maximum_requests");
        if now == settled {
            break;
        }
        settled = now;
    }
    // A crash: the daemon process is killed in the middle of a request.
    let r = server.get("/daemon/crash");
    assert!(r.status >= 500, "status {}", r.status);
    let (page, s) = scrape_until_a_crash(&server);
    // 2 processes x 4 requests each, 20 requests: at least 3 recycles.
    assert!(restarts(&s, "maximum_requests") >= 3.0, "{page}");
    assert_eq!(restarts(&s, "crashed"), 1.0, "{page}");
    assert_eq!(restarts(&s, "request_timeout"), 0.0, "{page}");
    server.stop();
}

/// Ours: a standby set going to take over is a daemon process of its group
/// from then on. Killed before it says it is ready (here, inside its
/// three-second `WSGIImportScript`, where a standby's workers may already
/// be accepting in a real one), its death is logged like any daemon
/// process's and counted as a crash on the metrics page.
#[test]
fn a_standby_killed_while_it_starts_is_logged_and_counted_as_a_crash() {
    // Each run of the preload notes its pid in the process's home
    // directory: the first is the slot process, the second the standby.
    const PRELOAD: &str = r#"
import os, time
with open('preload-pids', 'a') as f:
    f.write('%d\n' % os.getpid())
time.sleep(3)
"#;
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .log_level("info")
        .file("app.wsgi", APP)
        .file("preload.py", PRELOAD)
        .writable_dir("home")
        .config(
            "WSGIDaemonProcess metered processes=1 threads=2 maximum-requests=2 home={root}/home\n\
             WSGIImportScript {root}/preload.py process-group=metered application-group=%{GLOBAL}\n\
             WSGIScriptAlias /daemon {root}/app.wsgi process-group=metered application-group=%{GLOBAL}\n\
             <Location /metrics>\n  SetHandler wsgi-metrics\n  Require local\n</Location>\n",
        )
        .start();
    let pids_file = server.root().join("home/preload-pids");
    let preload_pids = || -> Vec<i32> {
        std::fs::read_to_string(&pids_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    // The second request reaches maximum-requests: the process claims the
    // standby, which starts its preload.
    for _ in 0..2 {
        let r = server.get("/daemon/ok");
        assert_eq!(r.status, 200, "{}", diagnostics(&server));
    }
    assert!(
        common::procs::wait_until(Duration::from_secs(10), || preload_pids().len() >= 2),
        "the standby never started its preload: {:?}\n{}",
        preload_pids(),
        diagnostics(&server)
    );
    let standby = preload_pids()[1];
    common::procs::signal(standby, libc::SIGKILL);
    let died = format!("Process 'metered' (pid={standby}) has died");
    assert!(
        common::procs::wait_until(Duration::from_secs(10), || server
            .error_log()
            .contains(&died)),
        "no '{died}' line\n{}",
        server.error_log()
    );
    let (page, s) = scrape_until_a_crash(&server);
    assert_eq!(
        restarts(&s, "crashed"),
        1.0,
        "{page}\n{}",
        server.error_log()
    );
    // The process that claimed it still recycles, and the group serves on.
    let r = server.get("/daemon/ok");
    assert_eq!(r.status, 200, "{}", diagnostics(&server));
}

#[test]
fn the_page_answers_get_and_head_only_and_needs_no_python() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("app.wsgi", APP)
        .config(
            "WSGIRestrictEmbedded On\n\
             WSGIDaemonProcess metered processes=1 threads=2\n\
             WSGIScriptAlias /daemon {root}/app.wsgi process-group=metered\n\
             <Location /metrics>\n  SetHandler wsgi-metrics\n</Location>\n",
        )
        .start();
    assert_eq!(server.get("/daemon/ok").status, 200);
    let (page, s) = scrape_until(&server, false, |s| {
        requests_by_class(s, "metered", "daemon", "2xx") > 0.0
    });
    assert_eq!(
        requests_by_class(&s, "metered", "daemon", "2xx"),
        1.0,
        "{page}"
    );
    // No Apache child runs Python: no embedded process is listed.
    assert_eq!(
        s.count("mod_wsgi_process_requests_total", &[("mode", "embedded")]),
        0
    );
    let head = server.request("HEAD", "/metrics", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = server.request("POST", "/metrics", &[], b"x");
    assert_eq!(post.status, 405);
    let allow = post.header("allow").unwrap_or_default();
    assert!(
        allow.contains("GET") && allow.contains("HEAD"),
        "Allow: {allow}"
    );
    assert!(!allow.contains("POST"), "Allow: {allow}");
}
