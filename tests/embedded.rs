//! Embedded-mode integration tests: each test starts a real Apache httpd
//! (own server root, own port on 127.0.0.1) with the module loaded and
//! checks behaviour over HTTP. Every test body runs under the event,
//! worker and prefork MPMs.
//!
//! Run: `cargo test --release --test embedded`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

#[macro_use]
mod common;

use common::procs::wait_until;
use common::{python_eval, python_info, Mpm, Server, ServerBuilder};
use std::time::Duration;

const APP_ENV: &str = include_str!("apps/env.wsgi");
const APP_HELLO: &str = include_str!("apps/hello.wsgi");
const APP_INTERP: &str = include_str!("apps/interp.wsgi");
const APP_CALLABLE: &str = include_str!("apps/callable.wsgi");
const APP_PYINFO: &str = include_str!("apps/pyinfo.wsgi");
const APP_ERRORS: &str = include_str!("apps/errors.wsgi");
const APP_CLOSE: &str = include_str!("apps/close.wsgi");
const APP_EXPRESS: &str = include_str!("apps/express.wsgi");
const PKG_INIT: &str = include_str!("apps/pylib/mod_wsgi/__init__.py");
const PKG_EXPRESS: &str = include_str!("apps/pylib/mod_wsgi/express.py");
const HELPER_MOD: &str = include_str!("apps/pylib/helper_mod.py");

const LOG_WAIT: Duration = Duration::from_secs(10);

fn builder(mpm: Mpm) -> ServerBuilder {
    ServerBuilder::new().mpm(mpm)
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{}-{nanos}", std::process::id())
}

fn assert_status(server: &Server, path: &str, expected: u16) -> common::Response {
    let r = server.get(path);
    assert_eq!(
        r.status,
        expected,
        "GET {path}: body {:?}\n--- error_log ---\n{}",
        r.text(),
        server.error_log()
    );
    r
}

// ---------------------------------------------------------------------------
// Harness self-test on plain Apache (no wsgi module)
// ---------------------------------------------------------------------------

fn harness_plain_apache(mpm: Mpm) {
    let (ok, out) = builder(mpm).without_wsgi().configtest();
    assert!(ok, "configtest of plain config failed:\n{out}");
    assert!(out.contains("Syntax OK"), "{out}");

    let mut server = builder(mpm)
        .without_wsgi()
        .file("htdocs/index.html", "<h1>plain apache</h1>\n")
        .file("htdocs/data.txt", "static text file\n")
        .start();
    let r = assert_status(&server, "/", 200);
    assert_eq!(r.text(), "<h1>plain apache</h1>\n");
    let r = assert_status(&server, "/data.txt", 200);
    assert_eq!(r.text(), "static text file\n");
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("Content-Length"), Some("17"));
    let r = server.request("HEAD", "/data.txt", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_status(&server, "/missing.txt", 404);
    // Outside the granted root.
    let r = server.request("GET", "/data.txt", &[("X-Test", "1")], b"");
    assert_eq!(r.status, 200);
    assert!(
        server.wait_for_log("resuming normal operations", LOG_WAIT),
        "{}",
        server.error_log()
    );
    assert!(server.is_alive());
    let pid = server.pid();
    assert!(pid > 0);
    server.stop();
    assert!(!server.is_alive());
    // Process group is gone.
    assert!(
        wait_until(Duration::from_secs(5), || {
            // SAFETY: signal 0 only probes whether the process group exists.
            unsafe { libc::kill(-(pid as i32), 0) != 0 }
        }),
        "apache processes left behind"
    );
}
mpm_tests!(harness_plain_apache => harness_plain_apache_event, harness_plain_apache_worker, harness_plain_apache_prefork);

#[test]
fn harness_start_failure_reports_log() {
    let (ok, out) = builder(Mpm::Event)
        .without_wsgi()
        .config("NoSuchDirectiveHere 1")
        .configtest();
    assert!(!ok);
    assert!(out.contains("NoSuchDirectiveHere"), "{out}");
    let err = std::panic::catch_unwind(|| {
        builder(Mpm::Event)
            .without_wsgi()
            .config("NoSuchDirectiveHere 1")
            .start();
    })
    .expect_err("start() of a broken config must panic");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("NoSuchDirectiveHere"),
        "panic message lacks apache output: {msg}"
    );
}

#[test]
fn harness_http_client_parsing() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let responses: Vec<&'static [u8]> = vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nuntil eof",
    ];
    let srv = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for resp in responses {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read headers (+ body when Content-Length says so).
            loop {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(h) = text.find("\r\n\r\n") {
                    let cl = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map(|v| v.trim().parse::<usize>().unwrap())
                        .unwrap_or(0);
                    if buf.len() >= h + 4 + cl {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            seen.push(String::from_utf8_lossy(&buf).to_string());
            s.write_all(resp).unwrap();
        }
        seen
    });
    let r = common::http_request(port, "GET", "/c", &[], b"").unwrap();
    assert_eq!((r.status, r.text()), (200, "hello, world".to_string()));
    assert_eq!(r.header("x-a"), Some("b"));
    let r = common::http_request(port, "POST", "/p", &[("X-H", "v")], b"body!").unwrap();
    assert_eq!((r.status, r.text()), (201, "abc".to_string()));
    let r = common::http_request(port, "GET", "/e", &[], b"").unwrap();
    assert_eq!((r.status, r.text()), (500, "until eof".to_string()));
    let seen = srv.join().unwrap();
    assert!(seen[0].starts_with("GET /c HTTP/1.1\r\n"), "{:?}", seen[0]);
    assert!(seen[0].contains(&format!("Host: 127.0.0.1:{port}\r\n")));
    assert!(seen[0].contains("Connection: close\r\n"));
    assert!(
        seen[1].contains("Content-Length: 5\r\n") && seen[1].ends_with("\r\n\r\nbody!"),
        "{:?}",
        seen[1]
    );
    assert!(seen[1].contains("X-H: v\r\n"));
}

#[test]
fn harness_json_parser() {
    let j = common::json::parse(
        r#"{"a": [1, 0], "b": "x\"\\\u00e9\ud83d\ude00", "c": true, "d": null, "e": -1.5e2, "f": {}}"#,
    )
    .unwrap();
    assert_eq!(j.get("a").as_array().unwrap().len(), 2);
    assert_eq!(j.get("a").as_array().unwrap()[0].as_i64(), Some(1));
    assert_eq!(j.str_of("b"), "x\"\\\u{e9}\u{1F600}");
    assert_eq!(j.get("c").as_bool(), Some(true));
    assert!(j.get("d").is_null() && j.has("d"));
    assert!(j.get("missing").is_null() && !j.has("missing"));
    assert_eq!(j.get("e"), &common::json::Json::Num(-150.0));
    assert!(common::json::parse("{\"a\": }").is_err());
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

fn configtest_accepts_directives(mpm: Mpm) {
    let (ok, out) = builder(mpm)
        .file("hello.wsgi", APP_HELLO)
        .config(
            "WSGIPythonOptimize 0\n\
             WSGIDontWriteBytecode On\n\
             WSGIPythonHashSeed 0\n\
             WSGIScriptReloading On\n\
             WSGIApplicationGroup %{GLOBAL}\n\
             WSGICallableObject application\n\
             WSGIScriptAlias /hello {root}/hello.wsgi application-group=hello\n\
             <WSGIInterpreterOptions application-group=hello>\n  WSGIPythonPath {root}/lib\n</WSGIInterpreterOptions>\n",
        )
        .configtest();
    assert!(ok, "configtest failed:\n{out}");
    assert!(out.contains("Syntax OK"), "{out}");
}
mpm_tests!(configtest_accepts_directives => configtest_accepts_directives_event, configtest_accepts_directives_worker, configtest_accepts_directives_prefork);

fn startup_banner(mpm: Mpm) {
    let server = builder(mpm)
        .file("hello.wsgi", APP_HELLO)
        .config("WSGIScriptAlias /hello {root}/hello.wsgi")
        .start();
    let find_line = || {
        server
            .error_log()
            .lines()
            .find(|l| l.contains("mod_wsgi/") && l.contains("Python/") && l.contains("Apache/2.4"))
            .map(|l| l.to_string())
    };
    assert!(
        wait_until(LOG_WAIT, || find_line().is_some()),
        "no startup line with mod_wsgi/, Python/ and Apache/2.4:\n{}",
        server.error_log()
    );
    let line = find_line().unwrap();
    // mod_wsgi/<version>
    let after = line.split("mod_wsgi/").nth(1).unwrap();
    assert!(
        after.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "no module version in {line:?}"
    );
    // Python/X.Y matches MOD_WSGI_PYTHON
    let py = line.split("Python/").nth(1).unwrap();
    let ver: String = py
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mm: Vec<&str> = ver.split('.').collect();
    assert!(mm.len() >= 2, "cannot parse Python version from {line:?}");
    assert_eq!(
        format!("{}.{}", mm[0], mm[1]),
        python_info().version(),
        "Python version in banner {line:?} differs from MOD_WSGI_PYTHON"
    );
    assert_status(&server, "/hello", 200);
}
mpm_tests!(startup_banner => startup_banner_event, startup_banner_worker, startup_banner_prefork);

/// Remove "line N of <conf path>" locations so that needles such as "3"
/// can only match the module's own message.
fn strip_locations(out: &str, conf: &str) -> String {
    let mut s = out.replace(conf, "<conf>");
    let mut res = String::new();
    while let Some(i) = s.find("line ") {
        res.push_str(&s[..i]);
        let rest = &s[i + 5..];
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            res.push_str("line ");
        }
        s = rest[digits..].to_string();
    }
    res.push_str(&s);
    res
}

fn assert_configtest_fails(mpm: Mpm, config: &str, needles: &[&str]) {
    let b = builder(mpm).config(config);
    let conf = b.root_path().join("httpd.conf").display().to_string();
    let (ok, out) = b.configtest();
    assert!(!ok, "configtest unexpectedly passed for {config:?}:\n{out}");
    assert!(
        !out.contains("Can't locate API module") && !out.contains("Cannot load"),
        "module failed to load:\n{out}"
    );
    let msg = strip_locations(&out, &conf);
    for n in needles {
        assert!(
            msg.contains(n),
            "configtest output for {config:?} does not mention {n:?}:\n{out}"
        );
    }
}

fn bad_python_optimize(mpm: Mpm) {
    assert_configtest_fails(mpm, "WSGIPythonOptimize 3", &["WSGIPythonOptimize", "3"]);
}
mpm_tests!(bad_python_optimize => bad_python_optimize_event, bad_python_optimize_worker, bad_python_optimize_prefork);

fn bad_script_reloading(mpm: Mpm) {
    assert_configtest_fails(
        mpm,
        "WSGIScriptReloading maybe",
        &["WSGIScriptReloading", "maybe"],
    );
}
mpm_tests!(bad_script_reloading => bad_script_reloading_event, bad_script_reloading_worker, bad_script_reloading_prefork);

fn bad_daemon_threads(mpm: Mpm) {
    assert_configtest_fails(
        mpm,
        "WSGIDaemonProcess app threads=abc",
        &["WSGIDaemonProcess", "abc"],
    );
}
mpm_tests!(bad_daemon_threads => bad_daemon_threads_event, bad_daemon_threads_worker, bad_daemon_threads_prefork);

fn bad_daemon_option(mpm: Mpm) {
    assert_configtest_fails(
        mpm,
        "WSGIDaemonProcess app bogus-option=1",
        &["WSGIDaemonProcess", "bogus-option"],
    );
}
mpm_tests!(bad_daemon_option => bad_daemon_option_event, bad_daemon_option_worker, bad_daemon_option_prefork);

fn bad_interpreter_options_child(mpm: Mpm) {
    assert_configtest_fails(
        mpm,
        "<WSGIInterpreterOptions application-group=foo>\n  WSGICallableObject app\n</WSGIInterpreterOptions>",
        &["WSGICallableObject"],
    );
}
mpm_tests!(bad_interpreter_options_child => bad_interpreter_options_child_event, bad_interpreter_options_child_worker, bad_interpreter_options_child_prefork);

// ---------------------------------------------------------------------------
// WSGIScriptAlias
// ---------------------------------------------------------------------------

fn script_alias_file(mpm: Mpm) {
    let server = builder(mpm)
        .file("hello.wsgi", APP_HELLO)
        .file("env.wsgi", APP_ENV)
        .config("WSGIScriptAlias /hello {root}/hello.wsgi\nWSGIScriptAlias /env {root}/env.wsgi")
        .start();
    let r = assert_status(&server, "/hello", 200);
    assert_eq!(r.text(), "Hello World!\n");

    let j = assert_status(&server, "/env", 200).json();
    assert_eq!(j.str_of("app"), "env");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/env");
    assert_eq!(j.get("PATH_INFO").as_str().unwrap_or(""), "");

    let j = assert_status(&server, "/env/x/y", 200).json();
    assert_eq!(j.str_of("SCRIPT_NAME"), "/env");
    assert_eq!(j.str_of("PATH_INFO"), "/x/y");
    assert_eq!(j.get("QUERY_STRING").as_str().unwrap_or(""), "");

    let j = assert_status(&server, "/env/q?a=1&b=two%20words", 200).json();
    assert_eq!(j.str_of("PATH_INFO"), "/q");
    assert_eq!(j.str_of("QUERY_STRING"), "a=1&b=two%20words");
}
mpm_tests!(script_alias_file => script_alias_file_event, script_alias_file_worker, script_alias_file_prefork);

fn script_alias_root_mount(mpm: Mpm) {
    let server = builder(mpm)
        .file("env.wsgi", APP_ENV)
        .config("WSGIScriptAlias / {root}/env.wsgi")
        .start();
    let j = assert_status(&server, "/foo", 200).json();
    assert_eq!(j.str_of("SCRIPT_NAME"), "");
    assert_eq!(j.str_of("PATH_INFO"), "/foo");
    let j = assert_status(&server, "/", 200).json();
    assert_eq!(j.str_of("SCRIPT_NAME"), "");
    assert_eq!(j.str_of("PATH_INFO"), "/");
}
mpm_tests!(script_alias_root_mount => script_alias_root_mount_event, script_alias_root_mount_worker, script_alias_root_mount_prefork);

fn script_alias_directory(mpm: Mpm) {
    let server = builder(mpm)
        .file(
            "apps/one.wsgi",
            APP_ENV.replace("APP_NAME = 'env'", "APP_NAME = 'one'"),
        )
        .file(
            "apps/two.wsgi",
            APP_ENV.replace("APP_NAME = 'env'", "APP_NAME = 'two'"),
        )
        .config("WSGIScriptAlias /apps/ {root}/apps/")
        .start();
    let j = assert_status(&server, "/apps/one.wsgi/extra", 200).json();
    assert_eq!(j.str_of("app"), "one");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/apps/one.wsgi");
    assert_eq!(j.str_of("PATH_INFO"), "/extra");
    let j = assert_status(&server, "/apps/two.wsgi", 200).json();
    assert_eq!(j.str_of("app"), "two");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/apps/two.wsgi");
    assert_status(&server, "/apps/missing.wsgi", 404);
    assert_status(&server, "/apps/missing.wsgi/extra", 404);
}
mpm_tests!(script_alias_directory => script_alias_directory_event, script_alias_directory_worker, script_alias_directory_prefork);

// ---------------------------------------------------------------------------
// environ
// ---------------------------------------------------------------------------

fn environ_contents(mpm: Mpm) {
    let server = builder(mpm)
        .file("env.wsgi", APP_ENV)
        .config("WSGIScriptAlias /env {root}/env.wsgi")
        .start();
    let marker = unique("ENVIRON-ERRORS-MARKER");
    let r = server.request(
        "GET",
        "/env/p?k=v",
        &[
            ("X-Custom-Header", "custom value"),
            ("X-Errors-Marker", &marker),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), server.error_log());
    let j = r.json();
    assert_eq!(j.str_of("REQUEST_METHOD"), "GET");
    assert_eq!(j.str_of("SERVER_NAME"), "127.0.0.1");
    assert_eq!(j.str_of("SERVER_PORT"), server.port().to_string());
    assert_eq!(j.str_of("REMOTE_ADDR"), "127.0.0.1");
    assert_eq!(j.str_of("HTTP_X_CUSTOM_HEADER"), "custom value");
    assert_eq!(
        j.str_of("HTTP_HOST"),
        format!("127.0.0.1:{}", server.port())
    );
    assert_eq!(j.str_of("QUERY_STRING"), "k=v");
    let version: Vec<i64> = j
        .get("wsgi.version")
        .as_array()
        .unwrap_or_else(|| panic!("wsgi.version missing: {j:?}"))
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(version, vec![1, 0]);
    assert_eq!(j.str_of("wsgi.url_scheme"), "http");
    assert_eq!(
        j.get("wsgi.multithread").as_bool(),
        Some(mpm.is_threaded()),
        "wsgi.multithread under {mpm:?}"
    );
    assert_eq!(j.get("wsgi.multiprocess").as_bool(), Some(true));
    assert_eq!(j.get("wsgi.run_once").as_bool(), Some(false));
    assert_eq!(j.str_of("mod_wsgi.process_group"), "");
    assert!(
        j.get("mod_wsgi.application_group").as_str().is_some(),
        "{j:?}"
    );
    assert!(
        server.wait_for_log(&marker, LOG_WAIT),
        "wsgi.errors output not in error log:\n{}",
        server.error_log()
    );

    // POST body through wsgi.input.read()
    let mut body: Vec<u8> = b"name=value&other=thing\r\n".to_vec();
    body.extend((0u8..=255).collect::<Vec<u8>>());
    let r = server.request(
        "POST",
        "/env",
        &[("Content-Type", "application/octet-stream")],
        &body,
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), server.error_log());
    let j = r.json();
    assert_eq!(j.str_of("REQUEST_METHOD"), "POST");
    assert_eq!(j.str_of("CONTENT_LENGTH"), body.len().to_string());
    assert_eq!(j.str_of("CONTENT_TYPE"), "application/octet-stream");
    assert_eq!(j.str_of("_body_type"), "bytes");
    let echoed: Vec<u8> = j.str_of("_body").chars().map(|c| c as u32 as u8).collect();
    assert_eq!(echoed, body);

    // Larger body.
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let r = server.request("POST", "/env", &[], &big);
    assert_eq!(r.status, 200, "{}", server.error_log());
    assert_eq!(r.json().str_of("_body").as_bytes(), &big[..]);
}
mpm_tests!(environ_contents => environ_contents_event, environ_contents_worker, environ_contents_prefork);

// ---------------------------------------------------------------------------
// Interpreters / application groups / mod_wsgi module
// ---------------------------------------------------------------------------

fn interpreter_global(mpm: Mpm) {
    let server = builder(mpm)
        .file("interp.wsgi", APP_INTERP)
        .config("WSGIApplicationGroup %{GLOBAL}\nWSGIScriptAlias /interp {root}/interp.wsgi")
        .start();
    let j = assert_status(&server, "/interp", 200).json();
    assert_eq!(
        j.get("is_main").as_bool(),
        Some(true),
        "not in main interpreter: {j:?}"
    );
    assert_eq!(j.str_of("application_group"), "");
    assert_eq!(j.str_of("process_group"), "");
    assert_eq!(j.str_of("environ_application_group"), "");
    assert_eq!(j.str_of("environ_process_group"), "");
    assert_eq!(
        j.get("version_is_int_tuple").as_bool(),
        Some(true),
        "mod_wsgi.version: {j:?}"
    );
}
mpm_tests!(interpreter_global => interpreter_global_event, interpreter_global_worker, interpreter_global_prefork);

/// GET the mounts (path, expected group) in an interleaved order and check
/// that each group's module-level counter goes 1, 2, ... independently.
fn check_independent_counters(server: &Server, mounts: &[(&str, &str)]) {
    let order: &[usize] = if mounts.len() > 2 {
        &[0, 2, 0, 1, 2, 2, 1, 0, 1, 0, 2]
    } else {
        &[0, 0, 1, 0, 1, 1, 0, 1]
    };
    let mut expected = vec![0i64; mounts.len()];
    for &i in order {
        let (path, group) = mounts[i];
        expected[i] += 1;
        let j = assert_status(server, path, 200).json();
        assert_eq!(
            j.get("counter").as_i64(),
            Some(expected[i]),
            "{path}: counter mismatch (expected per-group counts {expected:?}): {j:?}"
        );
        assert_eq!(j.str_of("application_group"), group, "{path}: {j:?}");
        assert_eq!(
            j.str_of("environ_application_group"),
            group,
            "{path}: {j:?}"
        );
        if group.is_empty() {
            assert_eq!(j.get("is_main").as_bool(), Some(true), "{path}: {j:?}");
        } else {
            assert_ne!(
                j.get("is_main").as_bool(),
                Some(true),
                "{path} in main interpreter: {j:?}"
            );
        }
    }
}

fn interpreter_groups_directive(mpm: Mpm) {
    let server = builder(mpm)
        .single_process()
        .file("interp.wsgi", APP_INTERP)
        .config(
            "WSGIScriptAlias /a {root}/interp.wsgi\n\
             WSGIScriptAlias /b {root}/interp.wsgi\n\
             <Location /a>\n  WSGIApplicationGroup alpha\n</Location>\n\
             <Location /b>\n  WSGIApplicationGroup beta\n</Location>\n",
        )
        .start();
    check_independent_counters(&server, &[("/a", "alpha"), ("/b", "beta")]);
}
mpm_tests!(interpreter_groups_directive => interpreter_groups_directive_event, interpreter_groups_directive_worker, interpreter_groups_directive_prefork);

fn interpreter_groups_alias_option(mpm: Mpm) {
    let server = builder(mpm)
        .single_process()
        .file("interp.wsgi", APP_INTERP)
        .config(
            "WSGIScriptAlias /a {root}/interp.wsgi application-group=alpha\n\
             WSGIScriptAlias /b {root}/interp.wsgi application-group=beta\n\
             WSGIScriptAlias /g {root}/interp.wsgi application-group=%{GLOBAL}\n",
        )
        .start();
    check_independent_counters(&server, &[("/a", "alpha"), ("/b", "beta"), ("/g", "")]);
}
mpm_tests!(interpreter_groups_alias_option => interpreter_groups_alias_option_event, interpreter_groups_alias_option_worker, interpreter_groups_alias_option_prefork);

fn interpreter_default_group(mpm: Mpm) {
    let server = builder(mpm)
        .file("interp.wsgi", APP_INTERP)
        .config("WSGIScriptAlias /hello {root}/interp.wsgi")
        .start();
    let j = assert_status(&server, "/hello/sub/path", 200).json();
    let group = j.str_of("application_group");
    assert!(
        group.starts_with("127.0.0.1") && group.ends_with("|/hello"),
        "default application group {group:?}"
    );
    assert_eq!(j.str_of("environ_application_group"), group);
    assert_eq!(j.str_of("process_group"), "");
    assert_ne!(
        j.get("is_main").as_bool(),
        Some(true),
        "default group ran in main interpreter: {j:?}"
    );
    assert_eq!(j.get("version_is_int_tuple").as_bool(), Some(true), "{j:?}");
}
mpm_tests!(interpreter_default_group => interpreter_default_group_event, interpreter_default_group_worker, interpreter_default_group_prefork);

// ---------------------------------------------------------------------------
// WSGICallableObject
// ---------------------------------------------------------------------------

fn callable_object(mpm: Mpm) {
    let server = builder(mpm)
        .file("callable.wsgi", APP_CALLABLE)
        .config("WSGICallableObject myapp\nWSGIScriptAlias /c {root}/callable.wsgi")
        .start();
    let r = assert_status(&server, "/c", 200);
    assert_eq!(r.text(), "callable myapp");
}
mpm_tests!(callable_object => callable_object_event, callable_object_worker, callable_object_prefork);

fn callable_object_missing(mpm: Mpm) {
    let server = builder(mpm)
        .file("callable.wsgi", APP_CALLABLE)
        .file("hello.wsgi", APP_HELLO)
        .config(
            "WSGIScriptAlias /c {root}/callable.wsgi\n\
             WSGIScriptAlias /hello {root}/hello.wsgi\n\
             <Location /c>\n  WSGICallableObject nothere_callable\n</Location>\n",
        )
        .start();
    let off = server.log_len();
    assert_status(&server, "/c", 404);
    assert!(
        server.wait_for_log_since(off, "nothere_callable", LOG_WAIT),
        "error log does not name the missing callable:\n{}",
        server.error_log()
    );
    assert_status(&server, "/hello", 200);
}
mpm_tests!(callable_object_missing => callable_object_missing_event, callable_object_missing_worker, callable_object_missing_prefork);

// ---------------------------------------------------------------------------
// Python initialisation directives
// ---------------------------------------------------------------------------

fn pyinfo_server(mpm: Mpm, config: &str) -> Server {
    builder(mpm)
        .file("pyinfo.wsgi", APP_PYINFO)
        .file("lib/helper_mod.py", HELPER_MOD)
        .config(config)
        .config("WSGIScriptAlias /py {root}/pyinfo.wsgi")
        .start()
}

fn python_path(mpm: Mpm) {
    let server = pyinfo_server(mpm, "WSGIPythonPath {root}/lib");
    let j = assert_status(&server, "/py?import=helper_mod", 200).json();
    assert_eq!(
        j.get("import_value").as_str(),
        Some("helper-value-42"),
        "{j:?}"
    );
    let lib = format!("{}/lib", server.root().display());
    let path = j.get("path").as_array().unwrap();
    assert!(
        path.iter().any(|p| p.as_str() == Some(lib.as_str())),
        "{lib} not in sys.path {path:?}"
    );
}
mpm_tests!(python_path => python_path_event, python_path_worker, python_path_prefork);

fn python_optimize(mpm: Mpm) {
    let server = pyinfo_server(mpm, "WSGIPythonOptimize 1");
    let j = assert_status(&server, "/py", 200).json();
    assert_eq!(j.get("optimize").as_i64(), Some(1), "{j:?}");
}
mpm_tests!(python_optimize => python_optimize_event, python_optimize_worker, python_optimize_prefork);

fn python_hash_seed(mpm: Mpm) {
    let expected = python_eval("print(hash('abc'))", &[("PYTHONHASHSEED", "123")]);
    let server = pyinfo_server(mpm, "WSGIPythonHashSeed 123");
    let j = assert_status(&server, "/py", 200).json();
    assert_eq!(j.str_of("hash_abc"), expected);
    // And it is stable across requests/processes.
    for _ in 0..3 {
        assert_eq!(
            assert_status(&server, "/py", 200).json().str_of("hash_abc"),
            expected
        );
    }
}
mpm_tests!(python_hash_seed => python_hash_seed_event, python_hash_seed_worker, python_hash_seed_prefork);

fn python_dont_write_bytecode(mpm: Mpm) {
    let server = pyinfo_server(mpm, "WSGIDontWriteBytecode On");
    let j = assert_status(&server, "/py", 200).json();
    assert_eq!(j.get("dont_write_bytecode").as_bool(), Some(true), "{j:?}");
}
mpm_tests!(python_dont_write_bytecode => python_dont_write_bytecode_event, python_dont_write_bytecode_worker, python_dont_write_bytecode_prefork);

fn python_warnings(mpm: Mpm) {
    let server = pyinfo_server(mpm, "WSGIPythonWarnings ignore::DeprecationWarning");
    let j = assert_status(&server, "/py", 200).json();
    let opts = j.get("warnoptions").as_array().unwrap();
    assert!(
        opts.iter()
            .any(|o| o.as_str() == Some("ignore::DeprecationWarning")),
        "warnoptions {opts:?}"
    );
}
mpm_tests!(python_warnings => python_warnings_event, python_warnings_worker, python_warnings_prefork);

fn python_home(mpm: Mpm) {
    let prefix = python_info().prefix.clone();
    let server = pyinfo_server(mpm, &format!("WSGIPythonHome \"{prefix}\""));
    let j = assert_status(&server, "/py", 200).json();
    assert_eq!(j.str_of("prefix"), prefix);
    assert_eq!(j.str_of("version"), python_info().version());
}
mpm_tests!(python_home => python_home_event, python_home_worker, python_home_prefork);

/// With Python unable to start (a WSGIPythonHome that does not exist), an
/// embedded request is refused with the C module's WSGI0210.
#[test]
fn embedded_request_without_python_logs_wsgi0210() {
    let server = pyinfo_server(Mpm::Event, "WSGIPythonHome /nonexistent/python-home");
    assert_status(&server, "/py", 500);
    assert!(
        server.wait_for_log(
            "WSGI0210: Embedded mode of mod_wsgi cannot be used as Python was not initialised in this process.",
            Duration::from_secs(5)
        ),
        "{}",
        server.error_log()
    );
    let log = server.error_log();
    assert!(log.contains("[script "), "{log}");
}

// ---------------------------------------------------------------------------
// Application errors
// ---------------------------------------------------------------------------

fn errors_server(mpm: Mpm) -> Server {
    builder(mpm)
        .file("errors.wsgi", APP_ERRORS)
        .file("hello.wsgi", APP_HELLO)
        .config("WSGIScriptAlias /err {root}/errors.wsgi\nWSGIScriptAlias /hello {root}/hello.wsgi")
        .start()
}

/// Request `path`, expect 500 and all `needles` in the log written after it;
/// then the server must still serve good requests.
fn expect_app_error(server: &mut Server, path: &str, needles: &[&str]) {
    let off = server.log_len();
    assert_status(server, path, 500);
    for n in needles {
        assert!(
            server.wait_for_log_since(off, n, LOG_WAIT),
            "GET {path}: {n:?} not in new error log output:\n{}",
            server.error_log_since(off)
        );
    }
    assert_eq!(
        assert_status(server, "/err/ok", 200).text(),
        "errors.wsgi ok"
    );
    assert_eq!(
        assert_status(server, "/hello", 200).text(),
        "Hello World!\n"
    );
    assert!(server.is_alive(), "Apache parent died after {path}");
}

fn error_app_raises(mpm: Mpm) {
    let mut server = errors_server(mpm);
    expect_app_error(
        &mut server,
        "/err/raise",
        &[
            "Traceback",
            "boom-raise-marker from errors.wsgi",
            "RuntimeError",
        ],
    );
}
mpm_tests!(error_app_raises => error_app_raises_event, error_app_raises_worker, error_app_raises_prefork);

/// A second start_response() before any output replaces the status and
/// headers of the first, as the C module does (no exception).
fn error_start_response_twice(mpm: Mpm) {
    let server = errors_server(mpm);
    let r = server.get("/err/twice");
    assert_eq!(r.status, 201, "{}", server.error_log());
    assert_eq!(r.text(), "second call wins");
    assert_eq!(r.header("X-First"), None);
    assert!(
        !server.error_log().contains("[wsgi:error]"),
        "{}",
        server.error_log()
    );
}
mpm_tests!(error_start_response_twice => error_start_response_twice_event, error_start_response_twice_worker, error_start_response_twice_prefork);

fn error_non_iterable(mpm: Mpm) {
    let mut server = errors_server(mpm);
    expect_app_error(&mut server, "/err/noniter", &["[wsgi:error]"]);
}
mpm_tests!(error_non_iterable => error_non_iterable_event, error_non_iterable_worker, error_non_iterable_prefork);

fn error_yield_str(mpm: Mpm) {
    let mut server = errors_server(mpm);
    expect_app_error(&mut server, "/err/yieldstr", &["[wsgi:error]"]);
}
mpm_tests!(error_yield_str => error_yield_str_event, error_yield_str_worker, error_yield_str_prefork);

fn process_survives_errors(mpm: Mpm) {
    let mut server = errors_server(mpm);
    let pid = server.pid();
    for _round in 0..2 {
        for path in ["/err/raise", "/err/noniter", "/err/yieldstr"] {
            assert_status(&server, path, 500);
            assert_status(&server, "/err/ok", 200);
        }
        assert_status(&server, "/err/twice", 201);
        assert_status(&server, "/err/ok", 200);
    }
    assert!(server.is_alive(), "Apache parent exited");
    assert_eq!(server.pid(), pid);
    // SAFETY: probing our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, 0) }, 0);
    for _ in 0..5 {
        assert_eq!(
            assert_status(&server, "/hello", 200).text(),
            "Hello World!\n"
        );
    }
    let log = server.error_log();
    assert!(!log.contains("Segmentation fault"), "crash in log:\n{log}");
    assert!(!log.contains("exit signal"), "child crashed:\n{log}");
}
mpm_tests!(process_survives_errors => process_survives_errors_event, process_survives_errors_worker, process_survives_errors_prefork);

// ---------------------------------------------------------------------------
// close() of the returned iterable
// ---------------------------------------------------------------------------

fn iterable_close_called(mpm: Mpm) {
    let b = builder(mpm);
    let out_dir = b.root_path().join("out");
    let server = b
        .writable_dir("out")
        .file(
            "close.wsgi",
            APP_CLOSE.replace("@OUT_DIR@", &out_dir.display().to_string()),
        )
        .config("WSGIScriptAlias /close {root}/close.wsgi")
        .start();
    for tag in ["first", "second"] {
        let r = assert_status(&server, &format!("/close?{tag}"), 200);
        assert_eq!(r.text(), "close test");
        let f = out_dir.join(format!("closed-{tag}"));
        assert!(
            wait_until(LOG_WAIT, || f.exists()),
            "close() was not called ({} missing):\n{}",
            f.display(),
            server.error_log()
        );
        assert!(
            server.wait_for_log(&format!("CLOSE-CALLED-{tag}"), LOG_WAIT),
            "close() marker via wsgi.errors missing:\n{}",
            server.error_log()
        );
    }
}
mpm_tests!(iterable_close_called => iterable_close_called_event, iterable_close_called_worker, iterable_close_called_prefork);

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

fn log_level_debug(mpm: Mpm) {
    let server = builder(mpm)
        .log_level("info wsgi:debug")
        .file("hello.wsgi", APP_HELLO)
        .config("WSGIScriptAlias /hello {root}/hello.wsgi")
        .start();
    assert_status(&server, "/hello", 200);
    assert!(
        server.wait_for_log("[wsgi:debug]", LOG_WAIT),
        "no [wsgi:debug] lines:\n{}",
        server.error_log()
    );
}
mpm_tests!(log_level_debug => log_level_debug_event, log_level_debug_worker, log_level_debug_prefork);

fn log_level_warn_quiet(mpm: Mpm) {
    let mut server = builder(mpm)
        .log_level("warn")
        .file("hello.wsgi", APP_HELLO)
        .config("WSGIScriptAlias /hello {root}/hello.wsgi")
        .start();
    for _ in 0..3 {
        assert_status(&server, "/hello", 200);
    }
    // Stopped, Apache has written every line it will (shutdown included),
    // so the absence below is final.
    server.stop();
    let log = server.all_logs();
    assert!(
        !log.contains("[wsgi:debug]"),
        "debug lines at LogLevel warn:\n{log}"
    );
    assert!(
        !log.contains("[wsgi:info]"),
        "info lines at LogLevel warn:\n{log}"
    );
}
mpm_tests!(log_level_warn_quiet => log_level_warn_quiet_event, log_level_warn_quiet_worker, log_level_warn_quiet_prefork);

// ---------------------------------------------------------------------------
// mod_wsgi.express from a package on WSGIPythonPath
// ---------------------------------------------------------------------------

fn mod_wsgi_express_import(mpm: Mpm) {
    let server = builder(mpm)
        .file("pylib/mod_wsgi/__init__.py", PKG_INIT)
        .file("pylib/mod_wsgi/express.py", PKG_EXPRESS)
        .file("express.wsgi", APP_EXPRESS)
        .config(
            "WSGIPythonPath {root}/pylib\n\
             WSGIScriptAlias /express {root}/express.wsgi application-group=expressgrp",
        )
        .start();
    let j = assert_status(&server, "/express", 200).json();
    assert_eq!(j.str_of("marker"), "express-marker-7f3a");
    assert_eq!(j.str_of("application_group"), "expressgrp");
    assert_eq!(j.str_of("process_group"), "");
}
mpm_tests!(mod_wsgi_express_import => mod_wsgi_express_import_event, mod_wsgi_express_import_worker, mod_wsgi_express_import_prefork);

const APP_FILEWRAP: &str = include_str!("apps/filewrap.wsgi");

fn file_wrapper(mpm: Mpm) {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for sendfile in ["Off", "On"] {
        let server = builder(mpm)
            .single_process()
            .file("filewrap.wsgi", APP_FILEWRAP)
            .file("data.bin", &data)
            .config(&format!(
                "EnableSendfile {sendfile}\nWSGIEnableSendfile {sendfile}\n\
                 WSGIScriptAlias /fw {{root}}/filewrap.wsgi application-group=%{{GLOBAL}}\n"
            ))
            .start();
        let r = assert_status(&server, "/fw/real", 200);
        assert_eq!(r.body, data, "whole file, sendfile {sendfile}");
        assert_eq!(r.header("Content-Length"), Some("200000"));
        // close() runs right after the body is flushed, possibly just after
        // the client has read it.
        let closed = || {
            wait_until(LOG_WAIT, || {
                assert_status(&server, "/fw/last", 200)
                    .text()
                    .contains("'closed': True")
            })
        };
        assert!(closed(), "file closed after the response");
        let r = assert_status(&server, "/fw/offset", 200);
        assert_eq!(r.body, data[1000..], "from the file's position");
        let r = assert_status(&server, "/fw/declared", 200);
        assert_eq!(r.body, data[..5], "never more than Content-Length");
        // File-likes without a descriptor are iterated in blocks.
        let r = assert_status(&server, "/fw/chunks", 200);
        assert_eq!(r.body, b"abcdefghij".repeat(10));
        assert!(closed(), "file-like closed after the response");
        let last = assert_status(&server, "/fw/last", 200).text();
        assert!(
            last.contains("'reads': [7, 7,"),
            "block size honoured: {last}"
        );
        assert!(last.contains("'is_class': True"), "{last}");
        let r = assert_status(&server, "/fw/bytesio", 200);
        assert_eq!(r.body, b"in memory");
    }
}
mpm_tests!(file_wrapper => file_wrapper_event, file_wrapper_worker, file_wrapper_prefork);
