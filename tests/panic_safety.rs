//! A Rust panic inside a method Python calls must not take the process
//! down: it becomes a `SystemError` the application sees, the error log
//! names it once, and the same process serves the next request.
//!
//! Needs the module built with `--features fault-injection`, named by
//! MOD_WSGI_SO_FAULTS (scripts/test.sh builds it); `MOD_WSGI_TEST_PANIC`
//! makes the named method panic on its first call in each process.
//!
//! Run: `cargo test --release --test panic_safety`

mod common;

use common::{python_exe, Mpm, Server, ServerBuilder};
use std::path::PathBuf;

/// Calls the method named by the path, catching the `SystemError` a panic
/// becomes, and reports what happened and which process served it.
const PROBE_APP: &str = r#"
import os

def call_probe(environ, start_response, path):
    if path == '/start_response':
        start_response('200 OK', [('Content-Type', 'text/plain')])
    elif path == '/input_read':
        environ['wsgi.input'].read()
    elif path == '/errors_write':
        environ['wsgi.errors'].write('probe line\n')

def application(environ, start_response):
    path = environ['PATH_INFO']
    try:
        call_probe(environ, start_response, path)
        outcome = 'no error'
    except SystemError as error:
        outcome = 'caught SystemError: %s' % error
    status = '500 Internal Server Error' if outcome.startswith('caught') else '200 OK'
    # Before any output a second start_response() replaces the first.
    start_response(status, [('Content-Type', 'text/plain')])
    return [('%s\npid=%d\n' % (outcome, os.getpid())).encode()]
"#;

/// The module with fault injection compiled in; the suite fails rather
/// than skips without it.
fn faulty_module() -> PathBuf {
    match std::env::var_os("MOD_WSGI_SO_FAULTS") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "MOD_WSGI_SO_FAULTS is not set: build the module with \
             `cargo build --release --features fault-injection` into its own \
             CARGO_TARGET_DIR and point MOD_WSGI_SO_FAULTS at it (scripts/test.sh does)"
        ),
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Embedded,
    Daemon,
}

fn start(mode: Mode, panicking_method: &str) -> Server {
    let route = match mode {
        Mode::Embedded => "WSGIScriptAlias /probe {root}/probe.wsgi\n",
        Mode::Daemon => {
            "WSGIDaemonProcess probe processes=1 threads=2\n\
             WSGIScriptAlias /probe {root}/probe.wsgi process-group=probe application-group=%{GLOBAL}\n"
        }
    };
    ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .module_path(&faulty_module(), &python_exe())
        .env("MOD_WSGI_TEST_PANIC", panicking_method)
        .file("probe.wsgi", PROBE_APP)
        .config(route)
        .start()
}

/// The `pid=` line of a probe response.
fn served_by(body: &str) -> &str {
    body.lines()
        .find_map(|line| line.strip_prefix("pid="))
        .unwrap_or_else(|| panic!("no pid in {body:?}"))
}

fn panic_is_contained(mode: Mode, method: &str, probe: &str) {
    let mut server = start(mode, method);
    let injected = format!("fault injected by MOD_WSGI_TEST_PANIC into {method}");

    let first = server.get(&format!("/probe/{probe}"));
    let first_body = first.text();
    assert_eq!(
        first.status,
        500,
        "{first_body}\n--- error_log ---\n{}",
        server.error_log()
    );
    assert!(
        first_body.starts_with(&format!(
            "caught SystemError: mod_wsgi internal error in {method}: {injected}"
        )),
        "{first_body}"
    );

    // The injected panic fires once per process, so the same call now works.
    let second = server.get(&format!("/probe/{probe}"));
    let second_body = second.text();
    assert_eq!(second.status, 200, "{second_body}");
    assert!(second_body.starts_with("no error\n"), "{second_body}");
    assert_eq!(
        served_by(&first_body),
        served_by(&second_body),
        "the process that panicked must serve the next request"
    );

    let log = server.error_log();
    let logged = format!("internal error (Rust panic) in {method}: {injected} (at src/");
    assert_eq!(log.matches(&logged).count(), 1, "{log}");
    assert_eq!(log.matches(&injected).count(), 1, "named once:\n{log}");
    assert!(
        !log.contains("panicked at"),
        "default panic hook ran:\n{log}"
    );
    assert!(server.is_alive());
    server.stop();
}

#[test]
fn start_response_panic_embedded() {
    panic_is_contained(Mode::Embedded, "start_response", "start_response");
}

#[test]
fn start_response_panic_daemon() {
    panic_is_contained(Mode::Daemon, "start_response", "start_response");
}

#[test]
fn input_read_panic_embedded() {
    panic_is_contained(Mode::Embedded, "wsgi.input.read", "input_read");
}

#[test]
fn input_read_panic_daemon() {
    panic_is_contained(Mode::Daemon, "wsgi.input.read", "input_read");
}

#[test]
fn errors_write_panic_embedded() {
    panic_is_contained(Mode::Embedded, "wsgi.errors.write", "errors_write");
}

#[test]
fn errors_write_panic_daemon() {
    panic_is_contained(Mode::Daemon, "wsgi.errors.write", "errors_write");
}
