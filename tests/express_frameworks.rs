//! Real frameworks from PyPI (Flask, Django) served by `mod_wsgi-express
//! start-server`: each framework answers its own pages, `--url-alias`
//! serves static files through Apache in front of the application, a form
//! POST is echoed (Django through its real CSRF cookie + token flow), and
//! SIGINT takes Apache and every process it started down.
//!
//! * Flask: daemon mode (the express default), the command run by the base
//!   interpreter (`MOD_WSGI_PYTHON`), the virtualenv's site-packages given
//!   with `--python-path`, the application at `/`.
//! * Django: `--embedded-mode`, the command run by the virtualenv's own
//!   `bin/python` (express then writes `WSGIPythonHome <venv>`, see
//!   docs/express.md), the application at `--mount-point /site`.
//!
//! The virtualenv is the one tests/frameworks.rs uses (tests/common/venv.rs:
//! it needs network access to PyPI the first time; `MOD_WSGI_SKIP_FRAMEWORKS=1`
//! skips these tests when it cannot be built). As root the servers run as
//! www-data, so everything they read is world-readable.
//!
//! Run: `cargo test --release --test express_frameworks`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::express::{descendants, python_command, strings, Scratch, StartServer};
use common::framework_apps::{hidden_csrf_token, DJANGO_FILES, FLASK_APP};
use common::json::Json;
use common::venv::framework_venv;
use common::{free_port, http_request_within, procs, python_exe, python_info, Response};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Served from `--url-alias /static DIR`.
const STYLE_CSS: &str = "body { color: #123456; }\n/* served by Apache, not the app */\n";

/// Binary static file: every byte value, in an odd length.
fn logo_png() -> Vec<u8> {
    (0..=255u8)
        .chain((0..=255u8).rev())
        .cycle()
        .take(6 * 1024 + 13)
        .collect()
}

/// The form both applications echo: a non-ASCII name and markup that the
/// templates must escape.
const FORM_FIELDS: &str = "name=Zo%C3%AB+Ada&colour=%3Cb%3Eblue%3C%2Fb%3E";
const FORM_CT: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn expect_status(server: &StartServer, what: &str, r: Response, status: u16) -> Response {
    assert_eq!(
        r.status,
        status,
        "{what}: body {:?}\nheaders {:?}\n{}",
        r.text(),
        r.headers,
        server.logs()
    );
    r
}

fn get(server: &StartServer, path: &str, status: u16) -> Response {
    let r = server.get(path);
    expect_status(server, &format!("GET {path}"), r, status)
}

fn json_ok(server: &StartServer, path: &str) -> Json {
    get(server, path, 200).json()
}

fn assert_contains(hay: &str, needle: &str, what: &str) {
    assert!(hay.contains(needle), "{what}: {needle:?} not in {hay:?}");
}

fn content_type(r: &Response) -> &str {
    r.header("content-type").unwrap_or("")
}

/// Writes the static directory: `style.css` and `img/logo.png`.
fn static_files(s: &Scratch) -> String {
    s.file("static/style.css", STYLE_CSS);
    s.file("static/img/logo.png", logo_png());
    s.s("static")
}

/// `--url-alias /static DIR`: Apache serves the files (bytes equal,
/// Content-Type from mime.types, Apache's ETag and Last-Modified), and a
/// missing file there is Apache's 404, not the application's.
fn check_static_files(server: &StartServer, app_404_marker: &str) {
    let r = get(server, "/static/style.css", 200);
    assert_eq!(r.text(), STYLE_CSS);
    assert!(content_type(&r).starts_with("text/css"), "{:?}", r.headers);
    assert!(r.header("etag").is_some(), "no ETag: {:?}", r.headers);
    assert!(
        r.header("last-modified").is_some(),
        "no Last-Modified: {:?}",
        r.headers
    );

    let r = get(server, "/static/img/logo.png", 200);
    assert!(
        r.body == logo_png(),
        "logo.png: {} bytes differ",
        r.body.len()
    );
    assert_eq!(content_type(&r), "image/png", "{:?}", r.headers);
    assert_eq!(
        r.header("content-length"),
        Some(logo_png().len().to_string().as_str()),
        "{:?}",
        r.headers
    );

    let r = get(server, "/static/missing.css", 404);
    let body = r.text();
    assert_contains(&body, "<title>404 Not Found</title>", "Apache's 404");
    assert!(
        !body.contains(app_404_marker),
        "the application answered /static/missing.css: {body:?}"
    );
}

/// `(wsgi:NAME)` processes among Apache's descendants.
fn daemon_processes(server: &StartServer) -> Vec<(i32, String)> {
    descendants(server.pid())
        .into_iter()
        .map(|p| (p, procs::cmdline(p)))
        .filter(|(_, c)| c.starts_with("(wsgi:"))
        .collect()
}

/// SIGINT; Apache must exit and leave no process behind (bounded wait).
fn interrupt(server: &mut StartServer, whole_group: bool) {
    if let Err(e) = server.interrupt(whole_group) {
        panic!("{e}");
    }
    let log = server.error_log();
    assert!(!log.contains("Traceback"), "{log}");
}

// ---------------------------------------------------------------------------
// Flask: daemon mode, --python-path
// ---------------------------------------------------------------------------

#[test]
fn flask_in_daemon_mode_with_static_files_and_form() {
    let Some(venv) = framework_venv() else {
        return;
    };
    let s = Scratch::new("flask");
    let script = s.file("flask/flask_app.wsgi", FLASK_APP);
    let work = s.dir("flask");
    let static_dir = static_files(&s);
    let mut args = vec![script.display().to_string()];
    args.extend(strings(&["--working-directory"]));
    args.push(work.display().to_string());
    args.push("--python-path".into());
    args.push(venv.site_packages.display().to_string());
    args.extend(strings(&["--url-alias", "/static", &static_dir]));
    args.extend(strings(&["--threads", "4", "--log-level", "info"]));
    let mut server = StartServer::start(Path::new(&python_exe()), &s, &args, &s.dir, "/");

    // One daemon process (the default), where Flask runs.
    let daemons = daemon_processes(&server);
    assert_eq!(daemons.len(), 1, "{daemons:?}\n{}", server.logs());

    // Flask comes from the virtualenv's site-packages; the interpreter is
    // the base one that ran the command.
    let j = json_ok(&server, "/info");
    let site = venv.site_packages.display().to_string();
    assert!(
        j.str_of("flask_file").starts_with(&site),
        "Flask not from {site}: {j:?}"
    );
    assert_eq!(j.str_of("prefix"), python_info().prefix, "{j:?}");
    assert_eq!(j.str_of("version"), venv.version, "{j:?}");

    // A page rendered by Flask (Jinja2), with URLs for the root mount.
    let r = get(&server, "/", 200);
    assert!(content_type(&r).starts_with("text/html"), "{:?}", r.headers);
    let html = r.text();
    assert_contains(&html, "<h1>Hello from Flask 3.1.3</h1>", "index");
    assert_contains(&html, r#"action="/form""#, "index");
    assert_contains(&html, r#"href="/upload""#, "index");

    // Flask routes everything else at / (its own JSON 404)...
    let j = get(&server, "/no/such/page", 404).json();
    assert_eq!(j.str_of("framework"), "flask", "{j:?}");
    // ...but /static belongs to Apache (Flask would have answered JSON).
    check_static_files(&server, "\"framework\"");

    // Form POST: request.form echoed, HTML-escaped.
    let r = server.request("POST", "/form", &[FORM_CT], FORM_FIELDS.as_bytes());
    let html = expect_status(&server, "POST /form", r, 200).text();
    assert_contains(&html, "<h1>Thanks, Zo\u{eb} Ada!</h1>", "form");
    assert_contains(&html, "Favourite colour: &lt;b&gt;blue&lt;/b&gt;", "form");
    // A POST without the required field is Flask's 400.
    let r = server.request("POST", "/form", &[FORM_CT], b"colour=red");
    expect_status(&server, "POST /form without name", r, 400);

    // Still the same daemon process: nothing crashed on the way.
    let after = daemon_processes(&server);
    assert_eq!(after, daemons, "{}", server.logs());

    interrupt(&mut server, false);
}

// ---------------------------------------------------------------------------
// Django: embedded mode, the virtualenv's python, a mount point
// ---------------------------------------------------------------------------

#[test]
fn django_in_embedded_mode_with_mount_point_static_files_and_csrf() {
    let Some(venv) = framework_venv() else {
        return;
    };
    let s = Scratch::new("django");
    for (rel, contents) in DJANGO_FILES {
        s.file(&format!("django/{rel}"), contents);
    }
    let work = s.dir("django");
    let static_dir = static_files(&s);
    let mut args = vec![s.s("django/django.wsgi")];
    args.extend(strings(&["--embedded-mode", "--mount-point", "/site"]));
    args.push("--working-directory".into());
    args.push(work.display().to_string());
    args.extend(strings(&["--url-alias", "/static", &static_dir]));
    args.extend(strings(&["--log-level", "info"]));
    let venv_python = venv.dir.join("bin/python");
    let mut server = StartServer::start(&venv_python, &s, &args, &s.dir, "/site/info");
    let port = server.port();
    let origin = format!("http://127.0.0.1:{port}");

    // Embedded: no daemon processes; the virtualenv is the Python home.
    let daemons = daemon_processes(&server);
    assert!(daemons.is_empty(), "{daemons:?}");
    let conf = std::fs::read_to_string(server.root().join("httpd.conf")).unwrap();
    assert_contains(
        &conf,
        &format!("WSGIPythonHome \"{}\"", venv.dir.display()),
        "httpd.conf",
    );

    // sys.prefix is the virtualenv, Django comes from it.
    let j = json_ok(&server, "/site/info");
    assert_eq!(j.str_of("prefix"), venv.dir.display().to_string(), "{j:?}");
    assert_eq!(j.str_of("base_prefix"), python_info().base_prefix, "{j:?}");
    let site = venv.site_packages.display().to_string();
    assert!(
        j.str_of("django_file").starts_with(&site),
        "Django not from {site}: {j:?}"
    );
    assert_eq!(j.str_of("django_version"), "5.2.19", "{j:?}");

    // A page rendered by Django; {% url %} carries the mount point.
    let r = get(&server, "/site/", 200);
    assert!(content_type(&r).starts_with("text/html"), "{:?}", r.headers);
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{:?}", r.headers);
    let html = r.text();
    assert_contains(&html, "<h1>Hello from Django 5.2.19</h1>", "index");
    assert_contains(&html, r#"href="/site/form""#, "index");

    // SCRIPT_NAME is the mount point.
    let j = json_ok(&server, "/site/urls");
    assert_eq!(j.str_of("script_name"), "/site", "{j:?}");
    assert_eq!(j.str_of("path_info"), "/urls", "{j:?}");
    assert_eq!(j.str_of("upload"), "/site/upload", "{j:?}");
    assert_eq!(
        j.str_of("echo_absolute"),
        format!("{origin}/site/api/echo"),
        "{j:?}"
    );
    // Django's own 404 below the mount point; outside it, Apache's.
    let r = get(&server, "/site/no/such/page", 404);
    const DJANGO_404: &str = "The requested resource was not found on this server.";
    assert_contains(&r.text(), DJANGO_404, "Django's 404");
    let r = get(&server, "/no/such/page", 404);
    assert!(!r.text().contains(DJANGO_404), "{:?}", r.text());

    check_static_files(&server, DJANGO_404);

    // CSRF: GET the form for the cookie and the hidden token.
    let r = get(&server, "/site/form", 200);
    let cookie = r
        .set_cookie("csrftoken")
        .unwrap_or_else(|| panic!("no csrftoken cookie: {:?}", r.headers));
    let html = r.text();
    assert_contains(&html, r#"action="/site/form""#, "form page");
    let token = hidden_csrf_token(&html);
    assert!(!cookie.is_empty() && !token.is_empty());
    let cookie_hdr = format!("csrftoken={cookie}");
    let headers = [
        FORM_CT,
        ("Cookie", cookie_hdr.as_str()),
        ("Origin", origin.as_str()),
    ];

    // Cookie but no token: refused by the CSRF middleware.
    let r = server.request("POST", "/site/form", &headers, FORM_FIELDS.as_bytes());
    let r = expect_status(&server, "POST /site/form without token", r, 403);
    assert_contains(&r.text(), "CSRF verification failed", "403 page");
    // Token but no cookie: refused too.
    let body = format!("csrfmiddlewaretoken={token}&{FORM_FIELDS}");
    let r = server.request(
        "POST",
        "/site/form",
        &[FORM_CT, ("Origin", origin.as_str())],
        body.as_bytes(),
    );
    expect_status(&server, "POST /site/form without cookie", r, 403);
    // Both: the view echoes the form.
    let r = server.request("POST", "/site/form", &headers, body.as_bytes());
    let html = expect_status(&server, "POST /site/form", r, 200).text();
    assert_contains(&html, "<h1>Thank you, Zo\u{eb} Ada!</h1>", "thanks");
    assert_contains(&html, "Favourite colour: &lt;b&gt;blue&lt;/b&gt;", "thanks");

    // Django's logger writes to stderr, which is the error log.
    assert!(
        procs::wait_until(std::time::Duration::from_secs(10), || server
            .error_log()
            .contains("Forbidden (CSRF token missing.): /site/form")),
        "{}",
        server.logs()
    );

    // Ctrl-C: SIGINT to the whole process group.
    interrupt(&mut server, true);
}

// ---------------------------------------------------------------------------
// --enable-telemetry: the ingester as a service-script daemon
// ---------------------------------------------------------------------------

/// The processes the telemetry UI on `ui_port` knows, each with the samples
/// it has reported (the UI's websocket carries the same state); `None` while
/// the UI does not answer or answers something that is not its state.
fn telemetry_ui_processes(ui_port: u16) -> Option<Vec<Json>> {
    let r = http_request_within(
        ui_port,
        "GET",
        "/api/state",
        &[],
        b"",
        Duration::from_secs(2),
    )
    .ok()?;
    let state = common::json::parse(&r.text()).ok()?;
    state.get("processes").as_array().cloned()
}

/// `--enable-telemetry` runs mod-wsgi-telemetry's ingester in a `threads=0`
/// daemon of the same server; the application's daemon reports to it, and
/// the UI on 127.0.0.1 shows the requests.
#[test]
fn enable_telemetry_runs_the_ingester_and_its_ui() {
    let Some(venv) = framework_venv() else {
        return;
    };
    let s = Scratch::new("telemetry");
    let script = s.file(
        "app/hello.wsgi",
        "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello']\n",
    );
    let ui_port = free_port();
    let mut args = vec![script.display().to_string()];
    args.extend(strings(&[
        "--enable-telemetry",
        "--telemetry-interval",
        "0.5",
    ]));
    args.push("--telemetry-ui-port".into());
    args.push(ui_port.to_string());
    let venv_python = venv.dir.join("bin/python");
    let mut server = StartServer::start(&venv_python, &s, &args, &s.dir, "/");
    assert!(
        server
            .output()
            .contains(&format!("http://127.0.0.1:{ui_port}/")),
        "{}",
        server.output()
    );
    let daemons = daemon_processes(&server);
    assert!(
        daemons
            .iter()
            .any(|(_, c)| c.starts_with("(wsgi:service:telemetry)")),
        "{daemons:?}\n{}",
        server.logs()
    );
    // Requests the application's processes have reported to the ingester
    // so far, and which processes it knows.
    let reported = || -> Option<(i64, String)> {
        let processes = telemetry_ui_processes(ui_port)?;
        let names = processes
            .iter()
            .map(|p| {
                format!(
                    "{}:{} ",
                    p.get("pid").as_i64().unwrap_or(0),
                    p.str_of("process_group")
                )
            })
            .collect();
        let count = processes
            .iter()
            .filter(|p| p.str_of("process_group").starts_with("127.0.0.1:"))
            .flat_map(|p| p.get("samples").as_array().cloned().unwrap_or_default())
            .filter(|sample| sample.str_of("kind") == "request_metrics")
            .filter_map(|sample| sample.get("fields").get("request_count").as_i64())
            .sum();
        Some((count, names))
    };
    // How many request_metrics samples the ingester holds from each of the
    // application's processes (pid -> count).
    let sample_counts = || -> Option<BTreeMap<i64, usize>> {
        let processes = telemetry_ui_processes(ui_port)?;
        Some(
            processes
                .iter()
                .filter(|p| p.str_of("process_group").starts_with("127.0.0.1:"))
                .map(|p| {
                    let samples = p.get("samples").as_array().cloned().unwrap_or_default();
                    let n = samples
                        .iter()
                        .filter(|sample| sample.str_of("kind") == "request_metrics")
                        .count();
                    (p.get("pid").as_i64().unwrap_or(0), n)
                })
                .collect(),
        )
    };
    // The ingester is up (its socket bound before its UI answers). Requests
    // made before now (the start-up probes) are in samples not all sent
    // yet: a sample from each process that was taken after now drains
    // them. The first new one may have been in flight already; the second
    // new one was taken after now.
    assert!(
        procs::wait_until(Duration::from_secs(15), || reported().is_some()),
        "the telemetry UI never answered\n{}",
        server.logs()
    );
    let before = sample_counts().expect("the UI answers");
    let mut now = BTreeMap::new();
    assert!(
        procs::wait_until(Duration::from_secs(15), || {
            now = sample_counts().unwrap_or_default();
            !now.is_empty()
                && now
                    .iter()
                    .all(|(pid, n)| *n >= before.get(pid).copied().unwrap_or(0) + 2)
        }),
        "no two new samples from each application process: before {before:?}, now {now:?}\n{}",
        server.logs()
    );
    let (baseline, _) = reported().expect("the UI answers");
    const REQUESTS: i64 = 20;
    for _ in 0..REQUESTS {
        get(&server, "/", 200);
    }
    let mut last = (0, String::new());
    let seen = procs::wait_until(Duration::from_secs(15), || {
        last = reported().unwrap_or_default();
        last.0 >= baseline + REQUESTS
    });
    assert!(
        seen && last.0 == baseline + REQUESTS,
        "the ingester counted {} requests, {baseline} before these {REQUESTS}; processes: {}\n{}",
        last.0,
        last.1,
        server.logs()
    );
    let page = http_request_within(ui_port, "GET", "/", &[], b"", Duration::from_secs(5)).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<html"), "the UI page");
    interrupt(&mut server, false);
}

// ---------------------------------------------------------------------------
// Django's `manage.py runmodwsgi`
// ---------------------------------------------------------------------------

/// A project made by `django-admin startproject`, with `mod_wsgi.server`
/// in INSTALLED_APPS and its static files collected into STATIC_ROOT:
/// `runmodwsgi --setup-only` writes a server root for the project's
/// WSGI_APPLICATION with STATIC_URL aliased to STATIC_ROOT, and
/// `runmodwsgi` serves the admin's login page (Django) and its stylesheet
/// (Apache, byte for byte the collected file).
#[test]
fn django_runmodwsgi_serves_the_project_and_its_static_files() {
    let Some(venv) = framework_venv() else {
        return;
    };
    let python = venv.dir.join("bin/python");
    let s = Scratch::new("runmodwsgi");
    let project = s.dir("project");
    let run = |args: &[&str], what: &str| {
        let mut cmd = python_command(&python, &project);
        cmd.args(args);
        common::venv::run(&mut cmd, what).unwrap_or_else(|e| panic!("{e}"))
    };
    run(
        &["-m", "django", "startproject", "mysite", "."],
        "django-admin startproject",
    );
    let settings = project.join("mysite/settings.py");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str(
        "\nALLOWED_HOSTS = ['127.0.0.1', 'localhost']\n\
         INSTALLED_APPS += ['mod_wsgi.server']\n\
         STATIC_ROOT = BASE_DIR / 'collected-static'\n",
    );
    std::fs::write(&settings, text).unwrap();
    run(
        &["manage.py", "collectstatic", "--noinput"],
        "collectstatic",
    );
    let css_path = project.join("collected-static/admin/css/base.css");
    let css = std::fs::read(&css_path).expect("collectstatic wrote admin/css/base.css");

    // --setup-only: the server root, not a server.
    let setup_root = s.path("setup-root");
    let mut setup: Vec<String> = strings(&["manage.py", "runmodwsgi", "--setup-only"]);
    setup.extend(strings(&["--port", "8123", "--server-root"]));
    setup.push(setup_root.display().to_string());
    setup.extend(common::express::identity_args());
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    let out = run(&setup, "runmodwsgi --setup-only");
    assert_contains(&out, "Apache is set up but not running", "--setup-only");
    let conf = std::fs::read_to_string(setup_root.join("httpd.conf")).unwrap();
    let wsgi_py = project.join("mysite/wsgi.py").display().to_string();
    assert_contains(&conf, &wsgi_py, "the project's WSGI_APPLICATION script");
    assert_contains(
        &conf,
        &project.join("collected-static").display().to_string(),
        "STATIC_ROOT aliased",
    );
    assert!(setup_root.join("apachectl").is_file(), "no apachectl");

    // runmodwsgi itself: Apache in the foreground.
    let server = StartServer::start_command(
        &s,
        &strings(&["manage.py", "runmodwsgi"]),
        "/admin/login/",
        |all| {
            let mut cmd = python_command(&python, &project);
            cmd.args(all);
            cmd
        },
    );
    let page = get(&server, "/admin/login/", 200).text();
    assert_contains(&page, "Django administration", "the admin login page");
    let r = get(&server, "/static/admin/css/base.css", 200);
    assert!(r.body == css, "base.css: {} bytes differ", r.body.len());
    assert!(content_type(&r).starts_with("text/css"), "{:?}", r.headers);
}
