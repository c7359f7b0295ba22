//! GIL modes and the interpreter registry against a real Apache: own-GIL
//! sub-interpreters (PEP 684), switch intervals, `<WSGIInterpreterOptions>`
//! rules, dispatch and import scripts, and interpreter destruction.
//! Expectations follow the Python the module was built for: before 3.12
//! per-interpreter GIL must be inert with a warning.
//!
//! Run: `cargo test --release --test gil_modes` (see tests/common/mod.rs).

mod common;

use common::{python_info, Mpm, Server, ServerBuilder};
use std::time::{Duration, Instant};

const APP_GIL: &str = include_str!("apps/gil.wsgi");
const DISPATCH: &str = include_str!("apps/dispatch.py");
const APP_OWN_GIL_FALLBACK: &str = include_str!("apps/own_gil_fallback.wsgi");
const LOG_WAIT: Duration = Duration::from_secs(10);

/// `WSGIOwnGILFallback` works from Python 3.13; on 3.12 it is refused at
/// load with a warning (docs/gil-modes.md).
fn own_gil_fallback_supported() -> bool {
    let info = python_info();
    (info.major, info.minor) >= (3, 13)
}

/// Python 3.12: the fallback directive is refused at load, so a script
/// refused an extension module by its own-GIL interpreter fails as it
/// would without the directive (500 and the guidance line).
fn expect_fallback_refused_on_3_12(server: &Server, path: &str) {
    assert_log(server, "WSGIOwnGILFallback requires Python 3.13 or later");
    let r = server.get(path);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_log(server, "cannot be loaded in the sub-interpreter");
    let log = server.error_log();
    assert!(!log.contains("Falling back to the shared GIL"), "{log}");
    for crash in ["Fatal Python error", "Segmentation fault", "double free"] {
        assert!(!log.contains(crash), "{crash}:\n{log}");
    }
}

fn own_gil_supported() -> bool {
    let info = python_info();
    (info.major, info.minor) >= (3, 12)
}

fn server(mpm: Mpm, config: &str) -> Server {
    ServerBuilder::new()
        .mpm(mpm)
        .single_process()
        .log_level("warn wsgi:info")
        .file("gil.wsgi", APP_GIL)
        .file("dispatch.py", DISPATCH)
        .config(config)
        .start()
}

fn num(j: &common::json::Json, key: &str) -> f64 {
    j.get(key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {j:?}"))
}

fn text(j: &common::json::Json, key: &str) -> String {
    j.get(key)
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {j:?}"))
        .to_string()
}

fn flag(j: &common::json::Json, key: &str) -> bool {
    j.get(key)
        .as_bool()
        .unwrap_or_else(|| panic!("{key} missing in {j:?}"))
}

fn assert_log(server: &Server, needle: &str) {
    assert!(
        server.wait_for_log(needle, LOG_WAIT),
        "expected {needle:?} in the error log:\n{}",
        server.error_log()
    );
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The seed recipe: a dispatch script spreads requests round-robin over
/// four named sub-interpreters, each with its own GIL and, through
/// containers, its own switch interval.
#[test]
fn dispatch_into_four_own_gil_interpreters() {
    let mut config = String::from(
        "WSGIPerInterpreterGIL On\n\
         WSGIDispatchScript {root}/dispatch.py\n\
         WSGIScriptAlias / {root}/gil.wsgi application-group=%{ENV:APPLICATION_GROUP}\n",
    );
    for i in 0..4 {
        config.push_str(&format!(
            "<WSGIInterpreterOptions application-group=interp_{i}>\n  WSGISwitchInterval 0.00{}\n</WSGIInterpreterOptions>\n",
            i + 1
        ));
    }
    let server = server(Mpm::Event, &config);
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..8 {
        let j = server.json_ok("/", &[]);
        seen.insert(text(&j, "application_group"), j);
    }
    let names: Vec<&String> = seen.keys().collect();
    assert_eq!(
        names,
        ["interp_0", "interp_1", "interp_2", "interp_3"],
        "round-robin over four interpreters"
    );
    for (i, (name, j)) in seen.iter().enumerate() {
        if own_gil_supported() {
            let expected = 0.001 * (i as f64 + 1.0);
            assert!(close(num(j, "switch_interval"), expected), "{name}: {j:?}");
            assert!(flag(j, "daemon_threads_refused"), "{name} has its own GIL");
            assert_log(
                &server,
                &format!("Creating sub-interpreter '{name}' in embedded mode with own GIL."),
            );
            assert_log(
                &server,
                &format!("Set switch interval {expected:.6}s for sub-interpreter '{name}'."),
            );
        } else {
            assert!(close(num(j, "switch_interval"), 0.005), "{name}: {j:?}");
            assert!(!flag(j, "daemon_threads_refused"));
            assert_log(
                &server,
                &format!("Creating sub-interpreter '{name}' in embedded mode."),
            );
        }
    }
    // The dispatch script itself ran in the main interpreter (the request's
    // own group, %{ENV:APPLICATION_GROUP} being unset), shared GIL.
    assert_log(
        &server,
        "Attaching to Python main interpreter in embedded mode.",
    );
    if !own_gil_supported() {
        assert_log(
            &server,
            "WSGIPerInterpreterGIL requires Python 3.12 or later",
        );
        // Each container's interval would change the whole process.
        assert_log(&server, "WSGI0199: Skipping per-interpreter switch interval 0.001000s for sub-interpreter 'interp_0': setting it would mutate the process-global value because this interpreter does not have its own GIL.");
    }
}

/// The spinners' rendezvous (apps/gil.wsgi): a request to `first` marks
/// slot 0 of a shared page and spins until it sees slot 1 marked; once it
/// is spinning, a request to `second` marks slot 1 and spins likewise.
/// Each answer says whether its spinner saw the other. The server needs
/// the writable directory "shared".
fn spin_race(
    server: &Server,
    first: &str,
    second: &str,
) -> (common::json::Json, common::json::Json) {
    let page = server.root().join("shared/page");
    std::fs::write(&page, [0u8; 2]).unwrap();
    common::chown_www_data(&page);
    let port = server.port();
    let spin = |path: &str, slot: u8| {
        let target = format!("{path}?spin={}&slot={slot}", page.display());
        std::thread::spawn(move || {
            common::http_request(port, "GET", &target, &[], b"")
                .expect("request")
                .json()
        })
    };
    let first = spin(first, 0);
    assert!(
        common::procs::wait_until(LOG_WAIT, || std::fs::read(&page)
            .is_ok_and(|b| b.first() == Some(&1))),
        "the first spinner never marked the page"
    );
    let second = spin(second, 1);
    (first.join().unwrap(), second.join().unwrap())
}

/// Two requests in two own-GIL interpreters run Python at the same time:
/// each marks a shared page and spins (with an enormous switch interval,
/// so a shared GIL would never be handed over) until it sees the other's
/// mark. Under a shared GIL the first spinner cannot see the second.
#[test]
fn own_gil_interpreters_run_python_in_parallel() {
    let parallel = |per_interpreter_gil: &str| -> (bool, bool) {
        let server = ServerBuilder::new()
            .mpm(Mpm::Event)
            .single_process()
            .file("gil.wsgi", APP_GIL)
            .writable_dir("shared")
            .config(&format!(
                "WSGIPerInterpreterGIL {per_interpreter_gil}\n\
                 WSGIScriptAlias /a {{root}}/gil.wsgi application-group=left\n\
                 WSGIScriptAlias /b {{root}}/gil.wsgi application-group=right\n"
            ))
            .start();
        // Create both interpreters before the race.
        server.json_ok("/a", &[]);
        server.json_ok("/b", &[]);
        let (l, r) = spin_race(&server, "/a", "/b");
        (flag(&l, "saw_peer"), flag(&r, "saw_peer"))
    };
    let (l, r) = parallel("Off");
    assert!(
        !(l && r),
        "shared GIL: the first spinner must not see the second (got {l}, {r})"
    );
    let (l, r) = parallel("On");
    if own_gil_supported() {
        assert!(
            l && r,
            "own GIL: both spinners see each other (got {l}, {r})"
        );
    } else {
        // Before 3.12 the directive is inert: still one GIL.
        assert!(
            !(l && r),
            "WSGIPerInterpreterGIL On before Python 3.12 falls back to the shared GIL: \
             the first spinner must not see the second (got {l}, {r})"
        );
    }
}

/// 3.12+: in an own-GIL interpreter a single-phase-init extension cannot
/// be imported; only that request fails. Before 3.12 the directive is
/// inert (docs/gil-modes.md): the same configuration logs the warning,
/// gives the interpreter the shared GIL, and a single-phase-init extension
/// imports as in any sub-interpreter. Both are checked, so the test is no
/// vacuous pass on 3.11.
#[test]
fn extension_without_subinterpreter_support_fails_only_its_request() {
    // 3.11 has no _testsinglephase; its _testcapi is single-phase init.
    let single_phase = if own_gil_supported() {
        "_testsinglephase"
    } else {
        "_testcapi"
    };
    let server = ServerBuilder::new()
        .single_process()
        .log_level("warn wsgi:info")
        .file("gil.wsgi", APP_GIL)
        .file(
            "imports.wsgi",
            format!(
                "import {single_phase}\n\
                 def application(environ, start_response):\n\
                 \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
                 \x20   return [b'imported']\n"
            ),
        )
        .config(
            "WSGIPerInterpreterGIL On\n\
             WSGIScriptAlias /imports {root}/imports.wsgi application-group=isolated\n\
             WSGIScriptAlias / {root}/gil.wsgi application-group=isolated\n",
        )
        .start();
    if !own_gil_supported() {
        let r = server.get("/imports");
        assert_eq!((r.status, r.text().as_str()), (200, "imported"));
        // 3.11 has no _testsinglephase; its _testcapi is single-phase init.
        let j = server.json_ok("/?import=_testcapi", &[]);
        assert_eq!(text(&j, "imported"), "_testcapi");
        assert_eq!(text(&j, "application_group"), "isolated");
        assert!(!flag(&j, "daemon_threads_refused"), "shared GIL: {j:?}");
        assert_log(
            &server,
            "WSGIPerInterpreterGIL requires Python 3.12 or later",
        );
        assert_log(
            &server,
            "Creating sub-interpreter 'isolated' in embedded mode.",
        );
        return;
    }
    // The refusal is explained after the traceback: at request time, and
    // when the script itself imports the module.
    let guidance = "The extension module '_testsinglephase' cannot be loaded in the \
                    sub-interpreter 'isolated', which has its own GIL";
    let r = server.get("/?import=_testsinglephase");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_log(&server, "ImportError");
    assert_log(&server, guidance);
    // Among the remedies: our opt-in fallback, off here, so nothing fell
    // back.
    assert_log(
        &server,
        "let it fall back to the shared GIL when its WSGI script's import is refused \
         (WSGIOwnGILFallback On), or run it in %{GLOBAL}.",
    );
    let before = server.error_log().matches(guidance).count();
    let r = server.get("/imports");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        server.wait_for_log("Unable to execute Python script file", LOG_WAIT),
        "{}",
        server.error_log()
    );
    assert!(
        common::procs::wait_until(LOG_WAIT, || server.error_log().matches(guidance).count()
            > before),
        "no guidance after the script's failed import:\n{}",
        server.error_log()
    );
    // A module with multi-interpreter support imports fine, and the
    // interpreter keeps serving.
    let j = server.json_ok("/?import=_testmultiphase", &[]);
    assert_eq!(text(&j, "imported"), "_testmultiphase");
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "isolated");
    let log = server.error_log();
    assert!(
        !log.contains("Falling back to the shared GIL"),
        "WSGIOwnGILFallback is off by default:\n{log}"
    );
    assert!(
        log.contains("Creating sub-interpreter 'isolated' in embedded mode with own GIL.")
            && !log.contains("Creating sub-interpreter 'isolated' in embedded mode."),
        "the interpreter keeps its own GIL:\n{log}"
    );
}

/// The extension module the fallback tests import when their script is
/// loaded: `_testsinglephase` refuses own-GIL interpreters (3.12+); 3.11
/// has no own GIL and no `_testsinglephase`, and its `_testcapi` is
/// single-phase init too.
fn refused_module() -> &'static str {
    if own_gil_supported() {
        "_testsinglephase"
    } else {
        "_testcapi"
    }
}

fn own_gil_fallback_app() -> String {
    APP_OWN_GIL_FALLBACK.replace(
        "REFUSED_MODULE = None  # replaced by the test",
        &format!("REFUSED_MODULE = {:?}", refused_module()),
    )
}

/// `WSGIOwnGILFallback On` (ours): a daemon's own-GIL interpreter whose
/// script is refused an extension module is replaced by a shared-GIL one
/// of the same name, which serves the request; the warning is logged once
/// and the process counts one fallback. Before 3.12 there is no own GIL to
/// give up (docs/gil-modes.md): the script imports in a shared-GIL
/// interpreter as always and nothing falls back, which is checked instead.
#[test]
fn own_gil_fallback_serves_a_refused_script_from_a_shared_gil_interpreter() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .file("gil.wsgi", APP_GIL)
        .file("refused.wsgi", own_gil_fallback_app())
        .config(
            "WSGISocketPrefix {root}/run/wsgi\n\
             WSGIDaemonProcess fb processes=1 threads=2\n\
             <WSGIInterpreterOptions process-group=fb>\n  WSGIPerInterpreterGIL On\n  WSGIOwnGILFallback On\n</WSGIInterpreterOptions>\n\
             WSGIProcessGroup fb\n\
             WSGIApplicationGroup strict\n\
             WSGIScriptAlias /refused {root}/refused.wsgi\n\
             WSGIScriptAlias / {root}/gil.wsgi\n\
             <Location /refused>\n  WSGIApplicationGroup isolated\n</Location>\n",
        )
        .start();
    // The groups are not named on the aliases, so nothing is preloaded:
    // the first request loads the script.
    assert!(
        !server.error_log().contains("Loading WSGI script"),
        "{}",
        server.error_log()
    );
    if own_gil_supported() && !own_gil_fallback_supported() {
        expect_fallback_refused_on_3_12(&server, "/refused");
        return;
    }
    let first = server.json_ok("/refused", &[]);
    let second = server.json_ok("/refused", &[]);
    for j in [&first, &second] {
        assert_eq!(text(j, "application_group"), "isolated");
        assert_eq!(text(j, "process_group"), "fb");
        assert!(!flag(j, "daemon_threads_refused"), "shared GIL: {j:?}");
    }
    let module = refused_module();
    if !own_gil_supported() {
        for j in [&first, &second] {
            assert_eq!(num(j, "own_gil_fallbacks"), 0.0, "{j:?}");
        }
        assert_log(
            &server,
            "WSGIPerInterpreterGIL requires Python 3.12 or later",
        );
        assert_log(
            &server,
            "Creating sub-interpreter 'isolated' in daemon process 'fb'.",
        );
        let log = server.error_log();
        assert!(!log.contains("Falling back to the shared GIL"), "{log}");
        return;
    }
    for j in [&first, &second] {
        assert_eq!(num(j, "own_gil_fallbacks"), 1.0, "{j:?}");
    }
    let warning = format!(
        "Falling back to the shared GIL for sub-interpreter 'isolated' in daemon process 'fb': \
         extension module '{module}' cannot be loaded with its own GIL (WSGIOwnGILFallback On)."
    );
    assert_log(&server, &warning);
    let log = server.error_log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(&warning)).collect();
    assert_eq!(warnings.len(), 1, "once over two requests:\n{log}");
    assert!(
        warnings[0].contains("[wsgi:warn]") && warnings[0].contains("mod_wsgi (pid="),
        "{}",
        warnings[0]
    );
    // The own-GIL interpreter first, then its shared-GIL replacement.
    let own = log.find("Creating sub-interpreter 'isolated' in daemon process 'fb' with own GIL.");
    let shared = log.find("Creating sub-interpreter 'isolated' in daemon process 'fb'.");
    assert!(
        own.is_some() && shared.is_some() && own < shared,
        "own GIL, then shared GIL:\n{log}"
    );
    // The refusal it recovered from is no script failure.
    assert!(
        !log.contains("Unable to execute Python script file"),
        "{log}"
    );
    assert!(
        !log.contains("cannot be loaded in the sub-interpreter"),
        "{log}"
    );

    // An import made by a request is not covered: that request still fails
    // in its own-GIL interpreter, and the guidance says why the fallback
    // did not apply. That interpreter is not replaced.
    let r = server.get("/?import=_testsinglephase");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_log(
        &server,
        "The extension module '_testsinglephase' cannot be loaded in the sub-interpreter 'strict'",
    );
    assert_log(
        &server,
        "WSGIOwnGILFallback On only covers the import of a WSGI application's script",
    );
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "strict");
    assert!(
        flag(&j, "daemon_threads_refused"),
        "still its own GIL: {j:?}"
    );
    let j = server.json_ok("/refused", &[]);
    assert_eq!(num(&j, "own_gil_fallbacks"), 1.0, "{j:?}");

    // The interpreter that gave up is kept alive to the end; the daemon
    // still stops cleanly, without finalising its main interpreter.
    let mut server = server;
    let leftovers = server.stop_and_list_leftovers();
    assert!(leftovers.is_empty(), "left running: {leftovers:?}");
    let log = server.error_log();
    assert!(log.contains("Not finalising the main interpreter"), "{log}");
    for crash in [
        "Fatal Python error",
        "Segmentation fault",
        "still did not exit",
    ] {
        assert!(!log.contains(crash), "{crash}:\n{log}");
    }
}

/// Two first requests that arrive together (the script is not preloaded)
/// both find the own-GIL interpreter without the script; loads are
/// serialised, and the script dawdles before its import, so the second
/// waits for the first's load. Both get the application's answer, and the
/// interpreter falls back once: one warning, one count, and the import is
/// not run again in the interpreter that gave up.
#[test]
fn concurrent_first_requests_fall_back_once() {
    let app = own_gil_fallback_app().replace(
        "__import__(REFUSED_MODULE)",
        "import sys, time\n\
         sys.stderr.write('importing in %s\\n' % mod_wsgi.application_group)\n\
         sys.stderr.flush()\n\
         time.sleep(0.5)\n\
         __import__(REFUSED_MODULE)",
    );
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .file("refused.wsgi", app)
        .config(
            "WSGISocketPrefix {root}/run/wsgi\n\
             WSGIDaemonProcess fb processes=1 threads=4\n\
             <WSGIInterpreterOptions process-group=fb>\n  WSGIPerInterpreterGIL On\n  WSGIOwnGILFallback On\n</WSGIInterpreterOptions>\n\
             WSGIProcessGroup fb\n\
             WSGIApplicationGroup isolated\n\
             WSGIScriptAlias / {root}/refused.wsgi\n",
        )
        .start();
    if own_gil_supported() && !own_gil_fallback_supported() {
        expect_fallback_refused_on_3_12(&server, "/");
        return;
    }
    let port = server.port();
    let requests: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                common::http_request(port, "GET", "/", &[], b"").expect("request")
            })
        })
        .collect();
    let answers: Vec<_> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    let expected = if own_gil_supported() { 1.0 } else { 0.0 };
    for r in &answers {
        assert_eq!(r.status, 200, "{}\n{}", r.text(), server.error_log());
        let j = r.json();
        assert_eq!(num(&j, "own_gil_fallbacks"), expected, "{j:?}");
        assert!(!flag(&j, "daemon_threads_refused"), "shared GIL: {j:?}");
    }
    let log = server.error_log();
    let warnings = log.matches("Falling back to the shared GIL").count();
    assert_eq!(warnings, usize::from(own_gil_supported()), "{log}");
    // With the fallback: once in the own-GIL interpreter, once in its
    // replacement; before 3.12, once.
    let imports = log.matches("importing in isolated").count();
    assert_eq!(imports, 1 + usize::from(own_gil_supported()), "{log}");
    assert!(
        !log.contains("Unable to execute Python script file"),
        "{log}"
    );
}

/// A script preloaded at process start falls back there (embedded mode,
/// `WSGIImportScript`), before any request: the first request finds the
/// shared-GIL interpreter with the script loaded. Before 3.12 the
/// interpreter has the shared GIL from the start and nothing falls back.
#[test]
fn own_gil_fallback_happens_when_the_script_is_preloaded() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .file("refused.wsgi", own_gil_fallback_app())
        .config(
            "<WSGIInterpreterOptions application-group=warm>\n  WSGIPerInterpreterGIL On\n  WSGIOwnGILFallback On\n</WSGIInterpreterOptions>\n\
             WSGIImportScript {root}/refused.wsgi process-group=%{GLOBAL} application-group=warm\n\
             WSGIScriptAlias / {root}/refused.wsgi application-group=warm\n",
        )
        .start();
    if own_gil_supported() && !own_gil_fallback_supported() {
        expect_fallback_refused_on_3_12(&server, "/");
        return;
    }
    let module = refused_module();
    let loading = "Loading WSGI script '";
    if own_gil_supported() {
        // Before any request.
        assert_log(
            &server,
            &format!(
                "Falling back to the shared GIL for sub-interpreter 'warm' in embedded mode: \
                 extension module '{module}' cannot be loaded with its own GIL"
            ),
        );
        assert_log(&server, "Creating sub-interpreter 'warm' in embedded mode.");
        assert!(
            common::procs::wait_until(LOG_WAIT, || server.error_log().matches(loading).count()
                >= 2),
            "loaded into the own-GIL interpreter, then into its replacement:\n{}",
            server.error_log()
        );
    } else {
        assert_log(&server, "Creating sub-interpreter 'warm' in embedded mode.");
        assert_log(&server, loading);
    }
    let loads_before_requests = server.error_log().matches(loading).count();
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "warm");
    assert!(!flag(&j, "daemon_threads_refused"), "shared GIL: {j:?}");
    let expected = if own_gil_supported() { 1.0 } else { 0.0 };
    assert_eq!(num(&j, "own_gil_fallbacks"), expected, "{j:?}");
    let log = server.error_log();
    assert_eq!(
        log.matches(loading).count(),
        loads_before_requests,
        "the request found the script loaded:\n{log}"
    );
    assert!(
        !log.contains("Unable to execute Python script file"),
        "{log}"
    );
}

#[test]
fn own_gil_fallback_takes_on_or_off() {
    for config in [
        "WSGIOwnGILFallback maybe",
        "<WSGIInterpreterOptions application-group=a>\n  WSGIOwnGILFallback maybe\n</WSGIInterpreterOptions>",
    ] {
        let (ok, out) = ServerBuilder::new().config(config).configtest();
        assert!(!ok, "{config} should fail configtest:\n{out}");
        for needle in ["WSGIOwnGILFallback", "'maybe'", "On or Off"] {
            assert!(out.contains(needle), "{config}: expected {needle:?} in:\n{out}");
        }
    }
    for config in [
        "WSGIOwnGILFallback On",
        "WSGIOwnGILFallback off",
        "<WSGIInterpreterOptions process-group=%{GLOBAL}>\n  WSGIOwnGILFallback On\n</WSGIInterpreterOptions>",
    ] {
        let (ok, out) = ServerBuilder::new().config(config).configtest();
        assert!(ok && out.contains("Syntax OK"), "{config}:\n{out}");
    }
}

#[test]
fn main_interpreter_keeps_the_process_gil() {
    let server = server(
        Mpm::Worker,
        "WSGIPerInterpreterGIL On\n\
         <WSGIInterpreterOptions application-group=%{GLOBAL}>\n  WSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias / {root}/gil.wsgi application-group=%{GLOBAL}\n",
    );
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "");
    assert!(!flag(&j, "daemon_threads_refused"));
    assert_log(
        &server,
        "Attaching to Python main interpreter in embedded mode.",
    );
    assert!(
        !server.error_log().contains("Skipping per-interpreter GIL"),
        "ignored silently for the main interpreter:\n{}",
        server.error_log()
    );
}

#[test]
fn process_switch_interval_applies_to_shared_and_own_gil_interpreters() {
    let server = server(
        Mpm::Prefork,
        "WSGISwitchInterval 0.002\n\
         <WSGIInterpreterOptions application-group=fast>\n  WSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias /main {root}/gil.wsgi application-group=%{GLOBAL}\n\
         WSGIScriptAlias /shared {root}/gil.wsgi application-group=shared\n\
         WSGIScriptAlias /fast {root}/gil.wsgi application-group=fast\n",
    );
    for path in ["/main", "/shared", "/fast"] {
        let j = server.json_ok(path, &[]);
        assert!(close(num(&j, "switch_interval"), 0.002), "{path}: {j:?}");
    }
    assert_log(
        &server,
        "mod_wsgi: Python GIL switch interval set to 0.002000s in embedded mode.",
    );
    assert_log(
        &server,
        "Set switch interval 0.002000s for main interpreter.",
    );
    assert_log(
        &server,
        "Set switch interval 0.002000s for sub-interpreter 'shared'.",
    );
}

/// The rule the reference calls "never silently wider than asked": an
/// interval scoped to an application group that shares the process GIL is
/// refused with a warning, and the process keeps Python's default.
#[test]
fn application_scoped_switch_interval_without_own_gil_warns() {
    let server = server(
        Mpm::Event,
        "<WSGIInterpreterOptions application-group=app1>\n  WSGISwitchInterval 0.001\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias /app1 {root}/gil.wsgi application-group=app1\n\
         WSGIScriptAlias /app2 {root}/gil.wsgi application-group=app2\n",
    );
    let j = server.json_ok("/app1", &[]);
    assert!(close(num(&j, "switch_interval"), 0.005), "{j:?}");
    assert_log(
        &server,
        "WSGI0199: Skipping per-interpreter switch interval 0.001000s for sub-interpreter 'app1': setting it would mutate the process-global value because this interpreter does not have its own GIL.",
    );
    let j = server.json_ok("/app2", &[]);
    assert!(close(num(&j, "switch_interval"), 0.005), "{j:?}");
}

/// A container naming `%{ENV:POOL}` applies to the interpreter the
/// request's POOL names. 3.12+: that interpreter gets its own GIL and the
/// container's switch interval. Before 3.12 it shares the GIL, so the
/// container's interval is refused for it (WSGI0199, naming it) and for no
/// other interpreter: the match is still visible, and still checked.
#[test]
fn env_named_application_group_matches_containers_per_request() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .module("env")
        .file("gil.wsgi", APP_GIL)
        .config(
            "<WSGIInterpreterOptions application-group=%{ENV:POOL}>\n  WSGIPerInterpreterGIL On\n  WSGISwitchInterval 0.003\n</WSGIInterpreterOptions>\n\
             <Location /pooled>\n  SetEnv POOL pool_a\n</Location>\n\
             <Location /plain>\n  SetEnv POOL other\n</Location>\n\
             WSGIScriptAlias /pooled {root}/gil.wsgi application-group=%{ENV:POOL}\n\
             WSGIScriptAlias /plain {root}/gil.wsgi application-group=plain\n",
        )
        .start();
    let j = server.json_ok("/pooled", &[]);
    assert_eq!(text(&j, "application_group"), "pool_a");
    if own_gil_supported() {
        assert!(flag(&j, "daemon_threads_refused"));
        assert!(close(num(&j, "switch_interval"), 0.003), "{j:?}");
    } else {
        assert!(!flag(&j, "daemon_threads_refused"), "shared GIL: {j:?}");
        assert!(close(num(&j, "switch_interval"), 0.005), "{j:?}");
        assert_log(
            &server,
            "WSGIPerInterpreterGIL requires Python 3.12 or later",
        );
        assert_log(&server, "WSGI0199: Skipping per-interpreter switch interval 0.003000s for sub-interpreter 'pool_a'");
    }
    // POOL=other does not name this interpreter ('plain'): no match.
    let j = server.json_ok("/plain", &[]);
    assert_eq!(text(&j, "application_group"), "plain");
    assert!(!flag(&j, "daemon_threads_refused"));
    assert!(close(num(&j, "switch_interval"), 0.005), "{j:?}");
    assert!(
        !server.error_log().contains("sub-interpreter 'plain':"),
        "no container applies to 'plain':\n{}",
        server.error_log()
    );
}

#[test]
fn free_threading_requests_are_reported_on_a_gil_build() {
    let server = server(
        Mpm::Event,
        "WSGIFreeThreading On\n\
         <WSGIInterpreterOptions process-group=%{GLOBAL} application-group=x>\n  WSGIFreeThreading On\n</WSGIInterpreterOptions>\n\
         WSGIScriptAlias / {root}/gil.wsgi\n",
    );
    assert_log(&server, "WSGIFreeThreading On has no effect");
    assert_log(
        &server,
        "WSGI0201: WSGIFreeThreading inside <WSGIInterpreterOptions> with application-group= set is ignored",
    );
    let j = server.json_ok("/", &[]);
    assert!(flag(&j, "gil_enabled"));
}

#[test]
fn dispatch_script_overrides_group_and_callable() {
    let server = server(
        Mpm::Worker,
        "WSGIDispatchScript {root}/dispatch.py application-group=dispatcher\n\
         WSGIScriptAlias / {root}/gil.wsgi application-group=configured\n",
    );
    let j = server.json_ok("/pinned/chosen", &[]);
    assert_eq!(text(&j, "application_group"), "chosen");
    let j = server.json_ok("/keep", &[]);
    assert_eq!(text(&j, "application_group"), "configured");
    let r = server.get("/other/pinned");
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("other callable in interp_"),
        "{}",
        r.text()
    );
    // The script ran in its own application group.
    assert_log(
        &server,
        "Creating sub-interpreter 'dispatcher' in embedded mode",
    );
    // Routing to a daemon process group is not available in this build.
    assert_eq!(server.get("/daemon").status, 500);
}

#[test]
fn dispatch_script_errors_give_500_and_reload_fixes_them() {
    let mut server = ServerBuilder::new()
        .mpm(Mpm::Prefork)
        .single_process()
        .file("gil.wsgi", APP_GIL)
        .writable_dir("scripts")
        .config(
            "WSGIDispatchScript {root}/scripts/dispatch.py\n\
             WSGIScriptAlias / {root}/gil.wsgi application-group=configured\n",
        )
        .start();
    let script = server.root().join("scripts/dispatch.py");
    std::fs::write(
        &script,
        "def application_group(environ):\n    raise ValueError('broken dispatch')\n",
    )
    .unwrap();
    let r = server.get("/");
    assert_eq!(r.status, 500);
    assert_log(&server, "ValueError: broken dispatch");
    std::fs::write(&script, "def application_group(environ):\n    return 42\n").unwrap();
    bump_mtime(&script);
    assert_eq!(server.get("/").status, 500);
    assert_log(
        &server,
        "TypeError: Application group must be a string object",
    );
    // A changed script replacing a loaded one is reloaded, and said so.
    assert_log(&server, "Reloading WSGI script '");
    std::fs::write(
        &script,
        "def application_group(environ):\n    return 'fixed'\n",
    )
    .unwrap();
    bump_mtime(&script);
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "fixed");
    assert!(server.is_alive());
}

/// A script that fails to reload is logged as the C module logs it
/// (Reloading, then WSGI0105 and the SyntaxError); the next attempt is a
/// first load again, and a fixed script is served.
#[test]
fn failed_reload_is_logged_and_retried_as_a_first_load() {
    let good = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'good']\n";
    let server = ServerBuilder::new()
        .mpm(Mpm::Prefork)
        .single_process()
        .writable_dir("scripts")
        .config("WSGIScriptAlias / {root}/scripts/app.wsgi application-group=%{GLOBAL}\n")
        .start();
    let script = server.root().join("scripts/app.wsgi");
    let loading = format!("Loading WSGI script '{}'", script.display());
    std::fs::write(&script, good).unwrap();
    assert_eq!(server.get("/").status, 200);
    std::fs::write(&script, "def application(environ, start_response:\n").unwrap();
    bump_mtime(&script);
    assert_eq!(server.get("/").status, 500);
    assert_log(
        &server,
        &format!("Reloading WSGI script '{}'", script.display()),
    );
    assert_log(&server, "WSGI0105: Could not read or compile WSGI script '");
    assert_log(&server, "SyntaxError");
    assert_eq!(server.get("/").status, 500);
    // Logged by the request before its response was sent.
    let log = server.error_log();
    assert_eq!(log.matches(&loading).count(), 2, "{log}");
    std::fs::write(&script, good).unwrap();
    bump_mtime(&script);
    assert_eq!(server.get("/").status, 200);
}

fn bump_mtime(path: &std::path::Path) {
    // Make sure the modification time differs even on coarse clocks.
    let later = std::time::SystemTime::now() + Duration::from_secs(2);
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(later).unwrap();
}

#[test]
fn import_script_preloads_at_process_start() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .file("gil.wsgi", APP_GIL)
        .file(
            "preload.py",
            "import sys, mod_wsgi\nsys.stderr.write('preloaded into %r\\n' % mod_wsgi.application_group)\nsys.stderr.flush()\n",
        )
        .config(
            "WSGIImportScript {root}/preload.py process-group=%{GLOBAL} application-group=warm\n\
             WSGIScriptAlias / {root}/gil.wsgi application-group=warm\n",
        )
        .start();
    // Before any request has been made.
    assert_log(&server, "preloaded into 'warm'");
    assert_log(&server, "Creating sub-interpreter 'warm' in embedded mode");
    assert_log(&server, "Loading WSGI script '");
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "warm");
}

/// `WSGIInterpreterPool 2`: while one request spins in a member (holding
/// its GIL), the next goes to the other, idle member, which has a GIL of
/// its own, so the two see each other. Before 3.12 the pool is refused at
/// load with a warning and one shared-GIL interpreter serves both.
#[test]
fn interpreter_pool_spreads_requests_over_own_gil_members() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .file("gil.wsgi", APP_GIL)
        .writable_dir("shared")
        .config(
            "WSGIScriptAlias / {root}/gil.wsgi application-group=pooled\n\
             <WSGIInterpreterOptions application-group=pooled>\n\
               WSGIInterpreterPool 2\n\
             </WSGIInterpreterOptions>\n",
        )
        .start();
    let (a, b) = spin_race(&server, "/", "/");
    for j in [&a, &b] {
        assert_eq!(text(j, "application_group"), "pooled", "{j:?}");
    }
    if own_gil_supported() {
        assert_ne!(
            text(&a, "load_token"),
            text(&b, "load_token"),
            "the second request went to the idle member"
        );
        assert!(
            flag(&a, "saw_peer") && flag(&b, "saw_peer"),
            "members have their own GIL: both spinners see each other ({a:?}, {b:?})"
        );
        for member in ["pooled#1", "pooled#2"] {
            assert_log(
                &server,
                &format!("Creating sub-interpreter '{member}' in embedded mode with own GIL."),
            );
        }
    } else {
        assert_log(
            &server,
            "mod_wsgi: WSGIInterpreterPool 2 for application group 'pooled' has no effect: pool members need their own GIL, which requires Python 3.12 or later; the group is served by one interpreter.",
        );
        assert_eq!(text(&a, "load_token"), text(&b, "load_token"));
        assert!(
            !(flag(&a, "saw_peer") && flag(&b, "saw_peer")),
            "one shared-GIL interpreter: the first spinner cannot see the second ({a:?}, {b:?})"
        );
        assert_log(
            &server,
            "Creating sub-interpreter 'pooled' in embedded mode.",
        );
        assert!(!server.error_log().contains("pooled#"));
    }
}

/// `WSGIImportScript` into a pooled group creates every member at process
/// start and runs the script in each, so none pays for it on a request.
#[test]
fn import_script_preloads_every_pool_member() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .file("gil.wsgi", APP_GIL)
        .file(
            "preload.py",
            "import sys, mod_wsgi\nsys.stderr.write('preloaded into %r\\n' % mod_wsgi.application_group)\nsys.stderr.flush()\n",
        )
        .config(
            "WSGIImportScript {root}/preload.py process-group=%{GLOBAL} application-group=warm\n\
             WSGIScriptAlias / {root}/gil.wsgi application-group=warm\n\
             <WSGIInterpreterOptions application-group=warm>\n\
               WSGIInterpreterPool 3\n\
             </WSGIInterpreterOptions>\n",
        )
        .start();
    let members: &[&str] = if own_gil_supported() {
        &["warm#1", "warm#2", "warm#3"]
    } else {
        &["warm"]
    };
    for member in members {
        assert_log(
            &server,
            &format!("Creating sub-interpreter '{member}' in embedded mode"),
        );
    }
    // Before any request: one preload per member.
    assert!(
        common::procs::wait_until(LOG_WAIT, || server
            .error_log()
            .matches("preloaded into 'warm'")
            .count()
            == members.len()),
        "expected {} preloads:\n{}",
        members.len(),
        server.error_log()
    );
    let j = server.json_ok("/", &[]);
    assert_eq!(text(&j, "application_group"), "warm");
}

/// The body reaches the client before the handler has returned (it is
/// flushed as written). In a one-process prefork server the next request is
/// only taken once the previous one is done, so one more makes sure no
/// request is in flight when the stop signal comes.
fn settle(server: &common::Server) {
    let status = server.get("/settle").status;
    assert!((200..600).contains(&status), "{status}");
}

#[test]
fn interpreters_are_destroyed_at_shutdown_unless_disabled() {
    // `threading` first imported by a request thread, not the main one.
    let app = "import atexit, sys, threading, mod_wsgi\n\
               def _bye():\n    sys.stderr.write('atexit ran in %r\\n' % mod_wsgi.application_group)\n    sys.stderr.flush()\n\
               atexit.register(_bye)\n\
               def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";
    let cases = [
        (Mpm::Event, "On"),
        (Mpm::Prefork, "On"),
        (Mpm::Event, "Off"),
    ];
    let mut done = [false; 3];
    for (attempt, index) in (0..cases.len()).flat_map(|i| (1..=3).map(move |a| (a, i))) {
        if done[index] {
            continue;
        }
        let (mpm, destroy) = cases[index];
        let mut server = ServerBuilder::new()
            .mpm(mpm)
            .single_process()
            .log_level("warn wsgi:info")
            .file("bye.wsgi", app)
            .config(&format!(
                "WSGIDestroyInterpreter {destroy}\n\
                 WSGIScriptAlias /sub {{root}}/bye.wsgi application-group=leaving\n\
                 WSGIScriptAlias /main {{root}}/bye.wsgi application-group=%{{GLOBAL}}\n"
            ))
            .start();
        assert_eq!(server.get("/sub").status, 200);
        assert_eq!(server.get("/main").status, 200);
        settle(&server);
        server.stop();
        let log = server.error_log();
        let overtaken = log.contains("request(s) still running in this process");
        if overtaken && attempt < 3 {
            // The stop signal overtook a request still finishing its
            // flushed response; destruction was rightly skipped. Again.
            continue;
        }
        if destroy == "On" {
            let sub = log.find("atexit ran in 'leaving'");
            let main = log.find("atexit ran in ''");
            assert!(
                sub.is_some() && main.is_some() && sub < main,
                "{mpm:?}: sub-interpreter first, then main:\n{log}"
            );
            assert!(log.contains("Destroying sub-interpreter 'leaving' in embedded mode"));
        } else {
            assert!(!log.contains("atexit ran"), "{log}");
            assert!(!log.contains("Destroying sub-interpreter"), "{log}");
            assert!(!log.contains("Terminating Python runtime"), "{log}");
        }
        assert!(!log.contains("still did not exit"), "{mpm:?} hung:\n{log}");
        assert!(!log.contains("Segmentation fault"), "{log}");
        assert!(!log.contains("Fatal Python error"), "{log}");
        done[index] = true;
    }
}

#[test]
fn bad_gil_directive_values_fail_configtest() {
    for (config, needle) in [
        ("WSGISwitchInterval fast", "WSGISwitchInterval"),
        ("WSGISwitchInterval 0", "WSGISwitchInterval"),
        ("WSGIPerInterpreterGIL maybe", "WSGIPerInterpreterGIL"),
        ("WSGIFreeThreading 1", "WSGIFreeThreading"),
        (
            "<WSGIInterpreterOptions application-group=a>\n  WSGIScriptReloading On\n</WSGIInterpreterOptions>",
            "WSGIScriptReloading is not allowed inside <WSGIInterpreterOptions>",
        ),
        (
            "<WSGIInterpreterOptions daemon=x>\n</WSGIInterpreterOptions>",
            "daemon",
        ),
        (
            "WSGIInterpreterPool 2",
            "WSGIInterpreterPool is not allowed outside <WSGIInterpreterOptions application-group=NAME>",
        ),
        (
            "<WSGIInterpreterOptions process-group=web>\n  WSGIInterpreterPool 2\n</WSGIInterpreterOptions>",
            "WSGIInterpreterPool is not allowed outside <WSGIInterpreterOptions application-group=NAME>",
        ),
        (
            "<WSGIInterpreterOptions application-group=a>\n  WSGIInterpreterPool 0\n</WSGIInterpreterOptions>",
            "'0'",
        ),
    ] {
        let (ok, out) = ServerBuilder::new().config(config).configtest();
        assert!(!ok, "{config} should fail configtest:\n{out}");
        assert!(out.contains(needle), "{config}: expected {needle:?} in:\n{out}");
    }
}

/// End-to-end free-threading needs a free-threaded CPython, which cannot be
/// installed here: `PYTHON_FREETHREADED` names one when available, and
/// `scripts/test.sh` then runs this test (`--ignored`); cargo reports it
/// as ignored otherwise, never as passed.
#[test]
#[ignore = "needs a free-threaded CPython: set PYTHON_FREETHREADED (3.14t) and run with --ignored"]
fn free_threading_end_to_end() {
    let python = std::env::var("PYTHON_FREETHREADED")
        .expect("PYTHON_FREETHREADED must name a free-threaded python (3.14t) for this test");
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/freethreaded-e2e");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release"])
        .env("PYO3_PYTHON", &python)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build");
    assert!(status.success());
    let so = target.join("release/libmod_wsgi.so");
    let started = Instant::now();
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .single_process()
        .log_level("warn wsgi:info")
        .module_path(&so, &python)
        .file("gil.wsgi", APP_GIL)
        .config(
            "<WSGIInterpreterOptions process-group=%{GLOBAL}>\n  WSGIFreeThreading On\n  WSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>\n\
             WSGISwitchInterval 0.002\n\
             WSGIScriptAlias / {root}/gil.wsgi application-group=sub\n",
        )
        .start();
    let j = server.json_ok("/", &[]);
    assert!(!flag(&j, "gil_enabled"), "{j:?}");
    assert_log(
        &server,
        "WSGI0203: Skipping WSGISwitchInterval 0.002000s in embedded mode",
    );
    assert_log(
        &server,
        "WSGI0202: Skipping per-interpreter GIL for sub-interpreter 'sub' in embedded mode",
    );
    eprintln!("free-threaded run took {:?}", started.elapsed());
}

/// The runnable configurations in examples/gil-modes start and answer.
#[test]
fn gil_mode_examples_serve() {
    let examples = [
        (
            "own-gil",
            include_str!("../examples/gil-modes/own-gil.conf.in"),
            "/",
        ),
        (
            "shared-gil",
            include_str!("../examples/gil-modes/shared-gil.conf.in"),
            "/",
        ),
        (
            "mixed",
            include_str!("../examples/gil-modes/mixed.conf.in"),
            "/cpu",
        ),
        (
            "free-threading",
            include_str!("../examples/gil-modes/free-threading.conf.in"),
            "/",
        ),
    ];
    for (name, conf, path) in examples {
        let server = ServerBuilder::new()
            .mpm(Mpm::Event)
            .single_process()
            .log_level("warn wsgi:info")
            .file("cpu.wsgi", include_str!("../examples/gil-modes/cpu.wsgi"))
            .file(
                "dispatch.py",
                include_str!("../examples/gil-modes/dispatch.py"),
            )
            .config(&conf.replace("@DIR@", "{root}"))
            .start();
        let r = server.get(path);
        assert_eq!(
            r.status,
            200,
            "{name}: {}\n{}",
            r.text(),
            server.error_log()
        );
        assert!(r.text().starts_with("group="), "{name}: {}", r.text());
        if name == "own-gil" && own_gil_supported() {
            // interp_0 is first in the rotation and has its own interval.
            assert!(r.text().contains("switch_interval=0.001"), "{}", r.text());
        }
        if name == "shared-gil" {
            assert!(r.text().contains("switch_interval=0.002"), "{}", r.text());
        }
    }
}

/// A sub-interpreter whose application left a daemon thread running cannot
/// be ended, and then the main interpreter must not be finalised either
/// (CPython aborts the process otherwise): the child still exits cleanly.
#[test]
fn daemon_thread_in_sub_interpreter_does_not_abort_shutdown() {
    let app = "import threading, time\n\
               threading.Thread(target=lambda: time.sleep(3600), daemon=True).start()\n\
               def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";
    for mpm in [Mpm::Event, Mpm::Prefork] {
        let mut server = ServerBuilder::new()
            .mpm(mpm)
            .single_process()
            .log_level("warn wsgi:info")
            .file("daemon.wsgi", app)
            .config("WSGIScriptAlias / {root}/daemon.wsgi application-group=busy\n")
            .start();
        assert_eq!(server.get("/").status, 200);
        settle(&server);
        server.stop();
        let log = server.error_log();
        if mpm == Mpm::Event {
            // Exit cleanup runs on the child's main thread.
            assert!(
                log.contains("Not destroying the sub-interpreter 'busy' in embedded mode"),
                "{log}"
            );
            assert!(log.contains("Not finalising the main interpreter"), "{log}");
        } else {
            // Prefork cleans up from the signal handler, on whichever thread
            // took SIGTERM, possibly while its one request thread is still
            // finishing a flushed response: either way nothing may abort or
            // hang.
            assert!(
                log.contains("Not finalising the main interpreter")
                    || log.contains("on a thread other than the one that started Python")
                    || log.contains("request(s) still running in this process"),
                "{log}"
            );
        }
        assert!(!log.contains("Fatal Python error"), "{mpm:?}: {log}");
        assert!(!log.contains("still did not exit"), "{mpm:?}: {log}");
    }
}

/// CPython's warning that an import turned the GIL back on (a free-threaded
/// build gives it for an extension without free-threading support) is
/// noticed on any build: one error line, on the request that imported the
/// module, naming the module and the groups; `process_metrics()` says which
/// module and whether the GIL is on. A synthetic warning stands in for the
/// real one here, since no free-threaded Python can be installed.
#[test]
fn the_gil_being_turned_back_on_is_logged_and_reported() {
    const APP: &str = r#"
import json, warnings, mod_wsgi

mod_wsgi.start_recording_metrics()

WARNING = ("The global interpreter lock (GIL) has been enabled to load module "
           "'fake_ext', which has not declared that it can run safely without the GIL. "
           "To override this behavior and keep the GIL disabled (at your own risk), "
           "run with PYTHON_GIL=0 or -Xgil=0.")

def application(environ, start_response):
    if environ['PATH_INFO'] == '/import':
        warnings.warn(WARNING, RuntimeWarning)
        warnings.warn(WARNING.replace('fake_ext', 'second_ext'), RuntimeWarning)
    metrics = mod_wsgi.process_metrics() or {}
    body = json.dumps({'gil_enabled': metrics.get('gil_enabled'),
                       'gil_enabled_by': metrics.get('gil_enabled_by')})
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body.encode()]
"#;
    let server = ServerBuilder::new()
        .single_process()
        .log_level("warn wsgi:info")
        .file("watch.wsgi", APP)
        .config("WSGIScriptAlias / {root}/watch.wsgi application-group=watched\n")
        .start();
    let before = server.json_ok("/", &[]);
    assert!(flag(&before, "gil_enabled"), "{before:?}");
    assert!(before.get("gil_enabled_by").is_null(), "{before:?}");
    let after = server.json_ok("/import", &[]);
    assert_eq!(text(&after, "gil_enabled_by"), "fake_ext", "{after:?}");
    let line = "The GIL has been turned back on for this whole process to load module 'fake_ext'";
    assert_log(&server, line);
    let log = server.error_log();
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("turned back on"))
        .collect();
    assert_eq!(ours.len(), 1, "one line, for the first module only:\n{log}");
    assert!(
        ours[0].contains("[wsgi:error]")
            && ours[0].contains("[client 127.0.0.1")
            && ours[0].contains("process='', application='watched'"),
        "{}",
        ours[0]
    );
    // The warning itself is still shown, as before.
    assert!(log.contains("RuntimeWarning"), "{log}");
}
