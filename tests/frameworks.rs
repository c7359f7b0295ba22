//! Real web frameworks from PyPI (Flask, Django) served in embedded mode.
//!
//! The frameworks live in a virtualenv built once for the Python under test
//! (see tests/common/venv.rs; it needs network access to PyPI the first
//! time, or `MOD_WSGI_SKIP_FRAMEWORKS=1` to skip). Each test starts one
//! server and drives a whole application through it: an HTML page, a JSON
//! API (POST and GET with a query string), a form POST (Django: the real
//! CSRF cookie + token flow), a multipart upload checked by size and
//! SHA-256, the framework's own 404, and URL generation under the
//! `WSGIScriptAlias` mount point (SCRIPT_NAME).
//!
//! The framework tests reach the virtualenv through `WSGIPythonPath`
//! (its site-packages). `venv_as_python_home` checks the documented
//! `WSGIPythonHome <venv>` set-up: for a home holding `pyvenv.cfg` the
//! module sets only the program name (`<venv>/bin/python`), so CPython finds
//! the base installation's standard library and the venv's site-packages.
//!
//! Run: `cargo test --release --test frameworks`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::framework_apps::{hidden_csrf_token, DJANGO_FILES, FLASK_APP};
use common::json::{self, Json};
use common::venv::{framework_venv, Venv};
use common::{python_eval, python_info, Mpm, Response, Server, ServerBuilder};
use std::sync::OnceLock;

/// Size of the uploaded file: a few hundred KB, not a round number.
const UPLOAD_LEN: usize = 300 * 1024 + 17;

/// How a server finds the framework virtualenv.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VenvVia {
    /// `WSGIPythonHome <venv>`: the documented way to use a virtualenv;
    /// `sys.prefix` is then the virtualenv.
    PythonHome,
    /// `WSGIPythonPath <venv>/lib/pythonX.Y/site-packages`: the base
    /// interpreter with the virtualenv's packages on `sys.path`.
    SitePackages,
}

/// The framework tests use the documented `WSGIPythonHome <venv>`; the
/// prefork run uses `WSGIPythonPath` so both set-ups stay covered.
const FRAMEWORK_VENV_VIA: VenvVia = VenvVia::PythonHome;

fn venv_directive(venv: &Venv, via: VenvVia) -> String {
    match via {
        VenvVia::PythonHome => format!("WSGIPythonHome \"{}\"", venv.dir.display()),
        VenvVia::SitePackages => {
            format!("WSGIPythonPath \"{}\"", venv.site_packages.display())
        }
    }
}

fn flask_server(mpm: Mpm, venv: &Venv, via: VenvVia) -> Server {
    ServerBuilder::new()
        .mpm(mpm)
        .file("flask/flask_app.wsgi", FLASK_APP)
        .config(&venv_directive(venv, via))
        .config("WSGIScriptAlias /flask {root}/flask/flask_app.wsgi")
        .start()
}

fn django_server(mpm: Mpm, venv: &Venv) -> Server {
    let mut b = ServerBuilder::new().mpm(mpm);
    for (rel, contents) in DJANGO_FILES {
        b = b.file(&format!("django/{rel}"), contents);
    }
    b.config(&venv_directive(venv, FRAMEWORK_VENV_VIA))
        .config("WSGIScriptAlias /django {root}/django/django.wsgi")
        .start()
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Asserts the status, showing the body and the error log otherwise.
fn expect_status(server: &Server, what: &str, r: Response, status: u16) -> Response {
    assert_eq!(
        r.status,
        status,
        "{what}: body {:?}\nheaders {:?}\n--- error_log ---\n{}",
        r.text(),
        r.headers,
        server.error_log()
    );
    r
}

fn get(server: &Server, path: &str, status: u16) -> Response {
    let r = server.get(path);
    expect_status(server, &format!("GET {path}"), r, status)
}

fn assert_contains(hay: &str, needle: &str, what: &str) {
    assert!(hay.contains(needle), "{what}: {needle:?} not in {hay:?}");
}

fn strs(j: &Json) -> Vec<String> {
    j.as_array()
        .unwrap_or_else(|| panic!("not an array: {j:?}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v:?}"))
                .to_string()
        })
        .collect()
}

fn ints(j: &Json) -> Vec<i64> {
    j.as_array()
        .unwrap_or_else(|| panic!("not an array: {j:?}"))
        .iter()
        .map(|v| {
            v.as_i64()
                .unwrap_or_else(|| panic!("not an integer: {v:?}"))
        })
        .collect()
}

/// Deterministic binary payload: every byte value, then sequences that a
/// careless multipart parser might trip over, then pseudo-random bytes.
fn upload_payload() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut v: Vec<u8> = (0..=255u8).collect();
        v.extend_from_slice(
            b"\r\n--\r\n\r\n--boundary\r\nContent-Disposition: x\r\n\r\n\0\0\xff\xfe",
        );
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while v.len() < UPLOAD_LEN {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push((x >> 24) as u8);
        }
        v
    })
}

/// SHA-256 of the payload, computed by the Python under test (hashlib).
fn upload_sha256() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| {
        let path = std::env::temp_dir().join(format!(
            "mod_wsgi-frameworks-payload-{}.bin",
            std::process::id()
        ));
        std::fs::write(&path, upload_payload()).expect("write payload");
        let sha = python_eval(
            &format!(
                "import hashlib; print(hashlib.sha256(open({:?}, 'rb').read()).hexdigest())",
                path.display().to_string()
            ),
            &[],
        );
        let _ = std::fs::remove_file(&path);
        assert_eq!(sha.len(), 64, "{sha:?}");
        sha
    })
}

const BOUNDARY: &str = "----modwsgiFrameworkBoundary7MA4YWxkTrZu0gW";

/// multipart/form-data body with text `fields` and one file part.
fn multipart(fields: &[(&str, &str)], file_field: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    assert!(
        !data
            .windows(BOUNDARY.len())
            .any(|w| w == BOUNDARY.as_bytes()),
        "payload contains the boundary"
    );
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn multipart_content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// JSON document posted to both frameworks' echo API.
const ECHO_JSON: &str = r#"{"name": "Grace", "numbers": [1, 2, 3, 20], "nested": {"ok": true, "none": null, "text": "caf\u00e9 \u2615", "list": [1.5, "two"]}}"#;

/// POST JSON in, JSON out; GET with a query string.
fn check_json_api(server: &Server, prefix: &str) {
    let path = format!("{prefix}/api/echo");
    let r = server.request(
        "POST",
        &path,
        &[("Content-Type", "application/json")],
        ECHO_JSON.as_bytes(),
    );
    let j = expect_status(server, &format!("POST {path}"), r, 201).json();
    assert_eq!(j.str_of("method"), "POST");
    assert_eq!(j.get("received"), &json::parse(ECHO_JSON).unwrap(), "{j:?}");
    assert_eq!(strs(j.get("keys")), ["name", "nested", "numbers"]);
    assert_eq!(ints(j.get("doubled")), [2, 4, 6, 40]);
    assert_eq!(j.str_of("greeting"), "Hello, Grace!");
    assert_eq!(j.str_of("content_type"), "application/json");

    let r = get(
        server,
        &format!("{path}?n=1&n=2&n=39&q=hello%20world&u=%C3%BC%E2%82%AC"),
        200,
    );
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "{:?}",
        r.headers
    );
    let j = r.json();
    assert_eq!(j.str_of("method"), "GET");
    assert_eq!(j.get("total").as_i64(), Some(42), "{j:?}");
    let args = j.get("args");
    assert_eq!(strs(args.get("n")), ["1", "2", "39"]);
    assert_eq!(strs(args.get("q")), ["hello world"]);
    assert_eq!(strs(args.get("u")), ["\u{fc}\u{20ac}"]);
}

/// Uploads the payload (plus a text field) and checks what the app saw.
fn check_upload(
    server: &Server,
    path: &str,
    extra_fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) {
    let data = upload_payload();
    let mut fields = extra_fields.to_vec();
    fields.push(("note", "binary \u{2713}"));
    let body = multipart(&fields, "file", "payload.bin", data);
    let ct = multipart_content_type();
    let mut hdrs = vec![("Content-Type", ct.as_str())];
    hdrs.extend_from_slice(headers);
    let r = server.request("POST", path, &hdrs, &body);
    let j = expect_status(server, &format!("POST {path} (multipart)"), r, 200).json();
    assert_eq!(j.get("size").as_i64(), Some(data.len() as i64), "{j:?}");
    assert_eq!(j.str_of("sha256"), upload_sha256(), "{j:?}");
    assert_eq!(j.str_of("filename"), "payload.bin");
    assert_eq!(j.str_of("note"), "binary \u{2713}");
}

/// `/info` of either app: the framework comes from the venv, and with
/// `WSGIPythonHome` so does `sys.prefix`.
fn check_runs_in_venv(server: &Server, path: &str, module_key: &str, venv: &Venv, via: VenvVia) {
    let j = get(server, path, 200).json();
    assert_eq!(j.str_of("version"), venv.version, "{j:?}");
    let expected_prefix = match via {
        VenvVia::PythonHome => venv.dir.display().to_string(),
        VenvVia::SitePackages => python_info().prefix.clone(),
    };
    assert_eq!(j.str_of("prefix"), expected_prefix, "{j:?}");
    assert_eq!(j.str_of("base_prefix"), python_info().base_prefix, "{j:?}");
    let site = venv.site_packages.display().to_string();
    assert!(
        j.str_of(module_key).starts_with(&site),
        "{module_key} not from the virtualenv's {site}: {j:?}"
    );
}

// ---------------------------------------------------------------------------
// Flask
// ---------------------------------------------------------------------------

fn flask_app(mpm: Mpm) {
    let Some(venv) = framework_venv() else {
        return;
    };
    let via = if mpm == Mpm::Prefork {
        VenvVia::SitePackages
    } else {
        FRAMEWORK_VENV_VIA
    };
    let server = flask_server(mpm, venv, via);
    let port = server.port();

    check_runs_in_venv(&server, "/flask/info", "flask_file", venv, via);

    // HTML page rendered by Jinja2; url_for() includes the mount point.
    let r = get(&server, "/flask/", 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "{:?}",
        r.headers
    );
    let html = r.text();
    assert_contains(&html, "<h1>Hello from Flask 3.1.3</h1>", "index");
    assert_contains(&html, &format!("<p>Python {}</p>", venv.version), "index");
    assert_contains(&html, r#"action="/flask/form""#, "index");
    assert_contains(&html, r#"href="/flask/upload""#, "index");

    check_json_api(&server, "/flask");

    // Form POST; the value is echoed HTML-escaped.
    let r = server.request(
        "POST",
        "/flask/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"name=Zo%C3%AB+Ada&colour=%3Cb%3Eblue%3C%2Fb%3E",
    );
    let html = expect_status(&server, "POST /flask/form", r, 200).text();
    assert_contains(&html, "<h1>Thanks, Zo\u{eb} Ada!</h1>", "form");
    assert_contains(&html, "Favourite colour: &lt;b&gt;blue&lt;/b&gt;", "form");

    check_upload(&server, "/flask/upload", &[], &[]);

    // Flask's own routing answers unknown paths below the mount point.
    let j = get(&server, "/flask/no/such/page", 404).json();
    assert_eq!(j.str_of("framework"), "flask", "{j:?}");
    assert_eq!(j.str_of("path"), "/no/such/page", "{j:?}");
    // A method the route does not accept.
    let r = server.request("DELETE", "/flask/upload", &[], b"");
    expect_status(&server, "DELETE /flask/upload", r, 405);

    // SCRIPT_NAME: URLs built by the app carry the mount point.
    let j = get(&server, "/flask/urls", 200).json();
    assert_eq!(j.str_of("script_root"), "/flask", "{j:?}");
    assert_eq!(j.str_of("path"), "/urls", "{j:?}");
    assert_eq!(j.str_of("index"), "/flask/", "{j:?}");
    assert_eq!(j.str_of("upload"), "/flask/upload", "{j:?}");
    assert_eq!(
        j.str_of("echo_external"),
        format!("http://127.0.0.1:{port}/flask/api/echo?q=x"),
        "{j:?}"
    );

    // Concurrent requests (threads on the threaded MPMs).
    std::thread::scope(|s| {
        let server = &server;
        let handles: Vec<_> = (0..6)
            .map(|t| {
                s.spawn(move || {
                    for i in 0..5 {
                        let body = format!(r#"{{"name": "t{t}", "numbers": [{i}, {t}]}}"#);
                        let r = server.request(
                            "POST",
                            "/flask/api/echo",
                            &[("Content-Type", "application/json")],
                            body.as_bytes(),
                        );
                        let j = expect_status(server, "concurrent POST", r, 201).json();
                        assert_eq!(j.str_of("greeting"), format!("Hello, t{t}!"));
                        assert_eq!(ints(j.get("doubled")), [2 * i, 2 * t]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("request thread");
        }
    });

    let log = server.error_log();
    assert!(!log.contains("Traceback"), "{log}");
}

#[test]
fn flask_app_event() {
    flask_app(Mpm::Event)
}

#[test]
fn flask_app_prefork() {
    flask_app(Mpm::Prefork)
}

/// The documented virtualenv set-up (`WSGIPythonHome` naming the
/// virtualenv, as its `pyvenv.cfg` is what makes it one) must start Python
/// with `sys.prefix` the virtualenv, the base interpreter's standard
/// library and the virtualenv's packages.
#[test]
fn venv_as_python_home() {
    let Some(venv) = framework_venv() else {
        return;
    };
    let server = flask_server(Mpm::Event, venv, VenvVia::PythonHome);
    check_runs_in_venv(
        &server,
        "/flask/info",
        "flask_file",
        venv,
        VenvVia::PythonHome,
    );
    let html = get(&server, "/flask/", 200).text();
    assert_contains(&html, "<h1>Hello from Flask 3.1.3</h1>", "index");
    let log = server.error_log();
    assert!(
        !log.contains("WSGI0036") && !log.contains("Python path configuration"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// Django
// ---------------------------------------------------------------------------

fn django_app(mpm: Mpm) {
    let Some(venv) = framework_venv() else {
        return;
    };
    let server = django_server(mpm, venv);
    let port = server.port();
    let origin = format!("http://127.0.0.1:{port}");

    check_runs_in_venv(
        &server,
        "/django/info",
        "django_file",
        venv,
        FRAMEWORK_VENV_VIA,
    );

    // HTML page; {% url %} includes the mount point.
    let r = get(&server, "/django/", 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{:?}", r.headers);
    let html = r.text();
    assert_contains(&html, "<h1>Hello from Django 5.2.19</h1>", "index");
    assert_contains(&html, &format!("<p>Python {}</p>", venv.version), "index");
    assert_contains(&html, r#"href="/django/form""#, "index");
    assert_contains(&html, r#"href="/django/api/echo""#, "index");

    check_json_api(&server, "/django");

    // CSRF flow: GET the form, keep the cookie and the hidden token.
    let r = get(&server, "/django/form", 200);
    let cookie = r
        .set_cookie("csrftoken")
        .unwrap_or_else(|| panic!("no csrftoken cookie: {:?}", r.headers));
    let html = r.text();
    assert_contains(&html, r#"action="/django/form""#, "form page");
    let token = hidden_csrf_token(&html);
    assert!(!cookie.is_empty() && !token.is_empty());
    let cookie_hdr = format!("csrftoken={cookie}");
    let form_ct = ("Content-Type", "application/x-www-form-urlencoded");
    let form_body = |tok: &str| {
        format!("csrfmiddlewaretoken={tok}&name=Zo%C3%AB+Ada&colour=%3Cb%3Eblue%3C%2Fb%3E")
    };

    // Without the cookie the CSRF middleware refuses the POST...
    let r = server.request(
        "POST",
        "/django/form",
        &[form_ct, ("Origin", origin.as_str())],
        form_body(&token).as_bytes(),
    );
    let r = expect_status(&server, "POST /django/form without cookie", r, 403);
    assert_contains(&r.text(), "CSRF verification failed", "403 page");
    // ...and from a foreign origin even with a valid token.
    let r = server.request(
        "POST",
        "/django/form",
        &[
            form_ct,
            ("Cookie", cookie_hdr.as_str()),
            ("Origin", "http://evil.example"),
        ],
        form_body(&token).as_bytes(),
    );
    expect_status(&server, "POST /django/form from another origin", r, 403);

    // With cookie, token and our own origin it goes through.
    let referer = format!("{origin}/django/form");
    let r = server.request(
        "POST",
        "/django/form",
        &[
            form_ct,
            ("Cookie", cookie_hdr.as_str()),
            ("Origin", origin.as_str()),
            ("Referer", referer.as_str()),
        ],
        form_body(&token).as_bytes(),
    );
    let html = expect_status(&server, "POST /django/form", r, 200).text();
    assert_contains(&html, "<h1>Thank you, Zo\u{eb} Ada!</h1>", "thanks");
    assert_contains(&html, "Favourite colour: &lt;b&gt;blue&lt;/b&gt;", "thanks");

    // The upload is CSRF-protected too: the token travels as a form field.
    check_upload(
        &server,
        "/django/upload",
        &[("csrfmiddlewaretoken", token.as_str())],
        &[("Cookie", cookie_hdr.as_str()), ("Origin", origin.as_str())],
    );

    // Django's own 404 page (DEBUG off).
    let r = get(&server, "/django/no/such/page", 404);
    assert_contains(
        &r.text(),
        "The requested resource was not found on this server.",
        "django 404",
    );
    // A method the view does not accept (GET passes the CSRF middleware).
    get(&server, "/django/upload", 405);
    // A Host outside ALLOWED_HOSTS.
    let r = server.request("GET", "/django/", &[("Host", "evil.example")], b"");
    expect_status(&server, "GET /django/ with a foreign Host", r, 400);

    // SCRIPT_NAME: reverse() and absolute URIs carry the mount point.
    let j = get(&server, "/django/urls", 200).json();
    assert_eq!(j.str_of("script_name"), "/django", "{j:?}");
    assert_eq!(j.str_of("path"), "/django/urls", "{j:?}");
    assert_eq!(j.str_of("path_info"), "/urls", "{j:?}");
    assert_eq!(j.str_of("index"), "/django/", "{j:?}");
    assert_eq!(j.str_of("upload"), "/django/upload", "{j:?}");
    assert_eq!(
        j.str_of("echo_absolute"),
        format!("{origin}/django/api/echo"),
        "{j:?}"
    );

    // Django's loggers write to stderr, which is the Apache error log.
    assert!(
        server.wait_for_log(
            "Not Found: /django/no/such/page",
            std::time::Duration::from_secs(10)
        ),
        "Django's 404 warning not in the error log:\n{}",
        server.error_log()
    );
}

#[test]
fn django_app_event() {
    django_app(Mpm::Event)
}
