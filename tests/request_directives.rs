//! Request-level directives in embedded mode, against a real Apache:
//! routing (`WSGIScriptAliasMatch`, handler mapping with `ExecCGI`,
//! `WSGIHandlerScript`, `WSGICaseSensitivity`), environ shaping
//! (`WSGIPassAuthorization`, trusted proxies, `WSGIMapHEADToGET`, HTTPS,
//! `WSGIPassApacheRequest`, the `mod_wsgi.*` keys) and the standard
//! streams with their `WSGIRestrict*` directives.
//!
//! Run: `cargo test --release --test request_directives`.

mod common;

use common::{python_eval, Mpm, Server, ServerBuilder};
use std::time::Duration;

const APP_ENV: &str = include_str!("apps/env.wsgi");
const APP_STREAMS: &str = include_str!("apps/streams.wsgi");
const APP_HANDLER: &str = include_str!("apps/handler.wsgi");
const APP_METHOD: &str = include_str!("apps/method.wsgi");

const LOG_WAIT: Duration = Duration::from_secs(10);

fn builder() -> ServerBuilder {
    ServerBuilder::new().mpm(Mpm::Event)
}

fn app_named(name: &str) -> String {
    APP_ENV.replace("APP_NAME = 'env'", &format!("APP_NAME = '{name}'"))
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

#[test]
fn script_alias_match_maps_captures_and_path_info() {
    let server = builder()
        .file("apps/one.wsgi", app_named("one"))
        .file("apps/two.wsgi", app_named("two"))
        .config("WSGIScriptAliasMatch ^/scripts/([^/]+) {root}/apps/$1.wsgi")
        .start();
    let j = server.json_ok("/scripts/one/extra/path", &[]);
    assert_eq!(j.str_of("app"), "one");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/scripts/one");
    assert_eq!(j.str_of("PATH_INFO"), "/extra/path");
    let j = server.json_ok("/scripts/two", &[]);
    assert_eq!(j.str_of("app"), "two");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/scripts/two");
    assert_eq!(server.get("/scripts/three").status, 404);
    // Outside the expression Apache serves as usual.
    assert_eq!(server.get("/elsewhere").status, 404);
}

#[test]
fn script_alias_match_bad_expression_fails_configtest() {
    let (ok, out) = builder()
        .config("WSGIScriptAliasMatch ^/(broken {root}/x.wsgi")
        .configtest();
    assert!(!ok, "{out}");
    assert!(
        out.contains("WSGIScriptAliasMatch") && out.contains("regular expression"),
        "{out}"
    );
}

#[test]
fn add_handler_runs_scripts_only_where_exec_cgi_is_on() {
    let server = builder()
        .file("htdocs/app/env.wsgi", app_named("handler-mapped"))
        .file("htdocs/noexec/env.wsgi", app_named("not-allowed"))
        .config(
            "<Directory {root}/htdocs/app>\n  AddHandler wsgi-script .wsgi\n  Options ExecCGI\n</Directory>\n\
             <Directory {root}/htdocs/noexec>\n  AddHandler wsgi-script .wsgi\n  Options None\n</Directory>",
        )
        .start();
    let j = server.json_ok("/app/env.wsgi/more", &[]);
    assert_eq!(j.str_of("app"), "handler-mapped");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/app/env.wsgi");
    assert_eq!(j.str_of("PATH_INFO"), "/more");
    assert_eq!(j.str_of("mod_wsgi.request_handler"), "wsgi-script");
    let r = server.get("/noexec/env.wsgi");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        server.wait_for_log("Options ExecCGI is off in this directory", LOG_WAIT),
        "{}",
        server.error_log()
    );
}

#[test]
fn set_handler_on_a_directory_of_scripts() {
    let server = builder()
        .file("htdocs/scripts/env.wsgi", app_named("set-handler"))
        .config(
            "<Directory {root}/htdocs/scripts>\n  SetHandler wsgi-script\n  Options +ExecCGI\n</Directory>",
        )
        .start();
    let j = server.json_ok("/scripts/env.wsgi", &[]);
    assert_eq!(j.str_of("app"), "set-handler");
    assert_eq!(server.get("/scripts/missing.wsgi").status, 404);
}

#[test]
fn handler_script_serves_mapped_files_and_honours_reload_required() {
    let server = builder()
        .file("handler.wsgi", APP_HANDLER)
        .file("htdocs/page.tmpl", "page body")
        .file("htdocs/reload.tmpl", "reload body")
        .config(
            "WSGIHandlerScript tmpl-handler {root}/handler.wsgi\n\
             <Directory {root}/htdocs>\n  AddHandler tmpl-handler .tmpl\n</Directory>\n\
             WSGIApplicationGroup handlers",
        )
        .single_process()
        .start();
    let j = server.json_ok("/page.tmpl", &[]);
    assert_eq!(j.str_of("content"), "page body");
    assert_eq!(j.str_of("handler"), "tmpl-handler");
    assert_eq!(
        j.str_of("handler_script"),
        format!("{}/handler.wsgi", server.root().display())
    );
    assert_eq!(j.str_of("script_name"), "/page.tmpl");
    let first = j.get("loads").as_f64().unwrap();
    // An ordinary resource keeps the loaded script...
    let j = server.json_ok("/page.tmpl", &[]);
    assert_eq!(j.get("loads").as_f64().unwrap(), first);
    // ...while reload_required(resource) returning True reloads it.
    let j = server.json_ok("/reload.tmpl", &[]);
    assert_eq!(j.str_of("content"), "reload body");
    assert_eq!(j.get("loads").as_f64().unwrap(), first + 1.0);
    // Static files are untouched by the handler.
    assert_eq!(server.get("/index.html").status, 404);
}

#[test]
fn case_insensitive_scripts_share_one_module() {
    let server = builder()
        .file("Same.wsgi", app_named("upper"))
        .file("same.wsgi", app_named("lower"))
        .config(
            "WSGICaseSensitivity Off\nWSGIScriptReloading Off\n\
             WSGIScriptAlias /upper {root}/Same.wsgi\nWSGIScriptAlias /lower {root}/same.wsgi\n\
             WSGIApplicationGroup %{GLOBAL}",
        )
        .single_process()
        .start();
    assert_eq!(server.json_ok("/upper", &[]).str_of("app"), "upper");
    // The second path differs only in case, so it names the same script.
    assert_eq!(server.json_ok("/lower", &[]).str_of("app"), "upper");

    let server = builder()
        .file("Same.wsgi", app_named("upper"))
        .file("same.wsgi", app_named("lower"))
        .config(
            "WSGIScriptAlias /upper {root}/Same.wsgi\nWSGIScriptAlias /lower {root}/same.wsgi\n\
             WSGIApplicationGroup %{GLOBAL}",
        )
        .single_process()
        .start();
    assert_eq!(server.json_ok("/upper", &[]).str_of("app"), "upper");
    assert_eq!(server.json_ok("/lower", &[]).str_of("app"), "lower");
}

// ---------------------------------------------------------------------------
// environ
// ---------------------------------------------------------------------------

#[test]
fn authorization_passes_only_when_enabled() {
    let server = builder()
        .file("env.wsgi", APP_ENV)
        .config(
            "WSGIScriptAlias /plain {root}/env.wsgi\n\
             WSGIScriptAlias /option {root}/env.wsgi pass-authorization=On\n\
             WSGIScriptAlias /located {root}/env.wsgi\n\
             <Location /located>\n  WSGIPassAuthorization On\n</Location>",
        )
        .start();
    let auth = [("Authorization", "Basic dXNlcjpzZWNyZXQ=")];
    let j = server.json_ok("/plain", &auth);
    assert!(j.get("HTTP_AUTHORIZATION").is_null(), "leaked by default");
    for path in ["/option", "/located"] {
        let j = server.json_ok(path, &auth);
        assert_eq!(
            j.str_of("HTTP_AUTHORIZATION"),
            "Basic dXNlcjpzZWNyZXQ=",
            "{path}"
        );
    }
}

#[test]
fn trusted_proxy_headers_rewrite_only_for_trusted_peers() {
    let server = builder()
        .file("env.wsgi", APP_ENV)
        .config(
            "WSGIScriptAlias /trusted {root}/env.wsgi\n\
             WSGIScriptAlias /untrusted {root}/env.wsgi\n\
             WSGIScriptAlias /any {root}/env.wsgi\n\
             <Location /trusted>\n  WSGITrustedProxies 127.0.0.0/8\n\
               WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto\n\
               WSGITrustedProxyHeaders X-Forwarded-Host X-Forwarded-Port X-Script-Name\n</Location>\n\
             <Location /untrusted>\n  WSGITrustedProxies 192.0.2.10\n\
               WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Host\n</Location>\n\
             <Location /any>\n  WSGITrustedProxyHeaders X-Real-IP\n</Location>",
        )
        .start();
    let forwarded = [
        ("X-Forwarded-For", "203.0.113.9, 127.0.0.1"),
        ("X-Real-IP", "198.51.100.1"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "www.example.com"),
        ("X-Forwarded-Port", "443"),
        ("X-Script-Name", "/public"),
    ];
    let j = server.json_ok("/trusted/x", &forwarded);
    assert_eq!(j.str_of("REMOTE_ADDR"), "203.0.113.9");
    assert_eq!(j.str_of("wsgi.url_scheme"), "https");
    assert_eq!(j.str_of("HTTP_HOST"), "www.example.com");
    assert_eq!(j.str_of("SERVER_PORT"), "443");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/public");
    // The rival client-address header is dropped for the chosen one.
    assert!(j.get("HTTP_X_REAL_IP").is_null());
    assert!(!j.get("HTTP_X_FORWARDED_FOR").is_null());

    let j = server.json_ok("/untrusted/x", &forwarded);
    assert_eq!(j.str_of("REMOTE_ADDR"), "127.0.0.1");
    assert_ne!(j.str_of("HTTP_HOST"), "www.example.com");
    assert!(j.get("HTTP_X_FORWARDED_FOR").is_null());
    assert!(j.get("HTTP_X_FORWARDED_HOST").is_null());
    assert!(j.get("HTTP_X_REAL_IP").is_null());
    assert_eq!(j.str_of("wsgi.url_scheme"), "http");

    // Headers without a proxy list: every peer is trusted.
    let j = server.json_ok("/any/x", &forwarded);
    assert_eq!(j.str_of("REMOTE_ADDR"), "198.51.100.1");
    assert!(j.get("HTTP_X_FORWARDED_FOR").is_null());
}

#[test]
fn head_to_get_mapping() {
    let server = builder()
        .module("deflate")
        .file("method.wsgi", APP_METHOD)
        .config(
            "WSGIScriptAlias /on {root}/method.wsgi\nWSGIScriptAlias /off {root}/method.wsgi\n\
             WSGIScriptAlias /auto {root}/method.wsgi\nWSGIScriptAlias /auto-filtered {root}/method.wsgi\n\
             <Location /on>\n  WSGIMapHEADToGET On\n</Location>\n\
             <Location /off>\n  WSGIMapHEADToGET Off\n</Location>\n\
             <Location /auto-filtered>\n  SetOutputFilter DEFLATE\n</Location>",
        )
        .start();
    let seen = |path: &str| {
        let r = server.request("HEAD", path, &[("Accept-Encoding", "gzip")], b"");
        assert_eq!(r.status, 200, "HEAD {path}\n{}", server.error_log());
        assert!(r.body.is_empty(), "HEAD {path} returned a body");
        r.header("X-Seen-Method").unwrap_or("").to_string()
    };
    assert_eq!(seen("/on"), "GET");
    assert_eq!(seen("/off"), "HEAD");
    assert_eq!(seen("/auto"), "HEAD");
    assert_eq!(seen("/auto-filtered"), "GET");
    let r = server.get("/off");
    assert_eq!(r.header("X-Seen-Method"), Some("GET"));
}

#[test]
fn mod_wsgi_environ_keys() {
    let server = builder()
        .file("env.wsgi", APP_ENV)
        .config(
            "WSGIScriptAlias /env {root}/env.wsgi\nWSGIScriptAlias /capsule {root}/env.wsgi\n\
             <Location /capsule>\n  WSGIPassApacheRequest On\n</Location>",
        )
        .start();
    let now = common::now_epoch();
    let j = server.json_ok("/env", &[]);
    assert_eq!(j.get("wsgi.input_terminated").as_bool(), Some(true));
    assert!(!j.str_of("mod_wsgi.request_id").is_empty());
    assert!(j.get("mod_wsgi.thread_id").as_f64().unwrap() >= 1.0);
    let pid: u32 = j.str_of("mod_wsgi.server_pid").parse().unwrap();
    assert!(pid > 0);
    let start = j.get("mod_wsgi.request_start").as_f64().unwrap();
    let app_start = j.get("mod_wsgi.application_start").as_f64().unwrap();
    assert!(
        (start - now).abs() < 30.0,
        "request_start {start} vs now {now}"
    );
    assert!(app_start >= start, "{app_start} < {start}");
    assert_eq!(j.get("mod_wsgi.queue_start").as_f64(), Some(0.0));
    assert_eq!(j.get("mod_wsgi.daemon_start").as_f64(), Some(0.0));
    assert!(j.get("HTTPS").is_null());
    assert!(j.get("apache.request_rec").is_null());
    let j = server.json_ok("/capsule", &[]);
    let capsule = j.str_of("apache.request_rec");
    assert!(
        capsule.contains("capsule") && capsule.contains("apache.request_rec"),
        "{capsule}"
    );
}

/// A throwaway self-signed certificate and key (PEM), made with openssl.
fn self_signed_certificate() -> (Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("mod_wsgi-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl failed");
    let pair = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    pair
}

#[test]
fn https_sets_the_url_scheme() {
    let (cert, key) = self_signed_certificate();
    let tls_port = common::free_port();
    let server = builder()
        .file("env.wsgi", APP_ENV)
        .file("tls.crt", cert)
        .file("tls.key", key)
        .module("ssl")
        .module("socache_shmcb")
        .config(&format!(
            "Listen 127.0.0.1:{tls_port}\nWSGIScriptAlias /env {{root}}/env.wsgi\n\
             <VirtualHost 127.0.0.1:{tls_port}>\n  SSLEngine on\n  SSLCertificateFile {{root}}/tls.crt\n\
               SSLCertificateKeyFile {{root}}/tls.key\n  WSGIScriptAlias /env {{root}}/env.wsgi\n</VirtualHost>"
        ))
        .start();
    assert_eq!(
        server.json_ok("/env", &[]).str_of("wsgi.url_scheme"),
        "http"
    );
    let out = python_eval(
        &format!(
            "import json, ssl, urllib.request\n\
             ctx = ssl._create_unverified_context()\n\
             body = urllib.request.urlopen('https://127.0.0.1:{tls_port}/env', context=ctx, timeout=10).read()\n\
             env = json.loads(body)\n\
             print(env['wsgi.url_scheme'], 'HTTPS' in env)"
        ),
        &[],
    );
    assert_eq!(out, "https False", "{}", server.error_log());
}

// ---------------------------------------------------------------------------
// Standard streams and restrictions
// ---------------------------------------------------------------------------

fn streams_server(extra: &str) -> Server {
    builder()
        .file("streams.wsgi", APP_STREAMS)
        .config(&format!(
            "WSGIScriptAlias /s {{root}}/streams.wsgi\n{extra}"
        ))
        .start()
}

#[test]
fn print_and_stderr_reach_the_error_log_with_request_context() {
    let server = streams_server("");
    let r = server.get("/s/print?t1");
    assert_eq!(r.status, 200, "{}", server.error_log());
    assert!(
        server.wait_for_log("partial-t1", LOG_WAIT),
        "{}",
        server.error_log()
    );
    let log = server.error_log();
    let script = format!("[script {}/streams.wsgi]", server.root().display());
    for needle in ["stdout-line-t1", "stderr-line-t1", "partial-t1"] {
        let line = log
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} missing:\n{log}"));
        assert!(line.contains("[wsgi:error]"), "{line}");
        assert!(line.contains(&script), "{line}");
        assert!(line.contains("[client 127.0.0.1:"), "{line}");
    }
    // Module import ran within the first request, so it is tagged too; a
    // background thread's output has no request.
    assert!(log.contains("streams-module-import-line"), "{log}");
    let r = server.get("/s/thread?t2");
    assert_eq!(r.status, 200);
    assert!(
        server.wait_for_log("thread-line-t2", LOG_WAIT),
        "{}",
        server.error_log()
    );
    let log = server.error_log();
    let line = log.lines().find(|l| l.contains("thread-line-t2")).unwrap();
    assert!(
        line.contains("[wsgi:error]") && !line.contains("[script "),
        "{line}"
    );
}

#[test]
fn stdout_and_stdin_restrictions() {
    let server = streams_server("");
    let j = server.json_ok("/s/stdout", &[]);
    assert_eq!(j.str_of("stdout"), "allowed");

    let server = streams_server("WSGIRestrictStdout On\nWSGIRestrictStdin On");
    let j = server.json_ok("/s/stdout", &[]);
    assert!(
        j.str_of("stdout")
            .starts_with("OSError: sys.stdout access restricted by mod_wsgi"),
        "{}",
        j.str_of("stdout")
    );
    let j = server.json_ok("/s/stdin", &[]);
    assert!(
        j.str_of("stdin")
            .starts_with("OSError: sys.stdin access restricted by mod_wsgi"),
        "{}",
        j.str_of("stdin")
    );
}

#[test]
fn restrictions_scoped_by_interpreter_options() {
    let server = builder()
        .file("streams.wsgi", APP_STREAMS)
        .config(
            "WSGIScriptAlias /strict {root}/streams.wsgi application-group=strict\n\
             WSGIScriptAlias /lax {root}/streams.wsgi application-group=lax\n\
             <WSGIInterpreterOptions application-group=strict>\n  WSGIRestrictStdout On\n</WSGIInterpreterOptions>",
        )
        .start();
    let strict = server.json_ok("/strict/stdout", &[]);
    assert!(
        strict.str_of("stdout").starts_with("OSError"),
        "{}",
        strict.str_of("stdout")
    );
    assert_eq!(
        server.json_ok("/lax/stdout", &[]).str_of("stdout"),
        "allowed"
    );
}

fn signal_restriction(mpm: Mpm) {
    // On by default: registration is ignored with an info line and a stack.
    let server = ServerBuilder::new()
        .mpm(mpm)
        .file("streams.wsgi", APP_STREAMS)
        .config("WSGIScriptAlias /s {root}/streams.wsgi")
        .start();
    let j = server.json_ok("/s/signal", &[]);
    assert!(j.get("error").is_null(), "{:?}", j.get("error"));
    assert_eq!(j.get("installed").as_bool(), Some(false));
    assert!(
        server.wait_for_log(
            "Ignoring Python signal handler registration for signal 12 in WSGI process; mod_wsgi manages signals.",
            LOG_WAIT
        ),
        "{}",
        server.error_log()
    );
    let log = server.error_log();
    assert!(
        log.contains("[wsgi:info]") && log.contains("streams.wsgi"),
        "{log}"
    );

    // Off: the real signal.signal, which only works on the main thread of
    // the main interpreter, so prefork (requests on the main thread)
    // installs the handler and the threaded MPMs get Python's ValueError.
    let server = ServerBuilder::new()
        .mpm(mpm)
        .file("streams.wsgi", APP_STREAMS)
        .config(
            "WSGIScriptAlias /s {root}/streams.wsgi\nWSGIRestrictSignal Off\n\
             WSGIApplicationGroup %{GLOBAL}",
        )
        .start();
    let j = server.json_ok("/s/signal", &[]);
    if mpm == Mpm::Prefork {
        assert_eq!(
            j.get("installed").as_bool(),
            Some(true),
            "{:?}",
            j.get("error")
        );
    } else {
        assert!(
            j.str_of("error").starts_with("ValueError"),
            "{:?}",
            j.get("error")
        );
    }
}

#[test]
fn signal_restriction_event() {
    signal_restriction(Mpm::Event)
}

#[test]
fn signal_restriction_prefork() {
    signal_restriction(Mpm::Prefork)
}

/// A slash in the alias matches a run of slashes in the URL, and Apache's
/// path walk collapses repeats in what becomes `PATH_INFO`.
#[test]
fn repeated_slashes_split_between_script_name_and_path_info() {
    for (merge, expected_path_info) in [("On", "/x/y"), ("Off", "/x/y")] {
        let server = builder()
            .file("env.wsgi", APP_ENV)
            .config(&format!(
                "MergeSlashes {merge}\nWSGIScriptAlias /env {{root}}/env.wsgi"
            ))
            .start();
        let j = server.json_ok("//env//x///y", &[]);
        assert_eq!(
            j.str_of("PATH_INFO"),
            expected_path_info,
            "MergeSlashes {merge}"
        );
        assert_eq!(j.str_of("SCRIPT_NAME"), "/env", "MergeSlashes {merge}");
    }
}

fn versioned_app(version: &str) -> String {
    format!(
        "def application(environ, start_response):\n    \
         body = '{version}'.encode()\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [body]\n"
    )
}

/// Rewrites a script with a later modification time, as an edit would.
fn edit_script(path: &std::path::Path, contents: &str) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap() + Duration::from_secs(5);
    std::fs::write(path, contents).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(modified).unwrap();
}

#[test]
fn script_reloading_follows_edits_unless_off() {
    for (setting, after_edit) in [("On", "v2"), ("Off", "v1")] {
        let server = builder()
            .file("app.wsgi", versioned_app("v1"))
            .config(&format!(
                "WSGIScriptReloading {setting}\nWSGIScriptAlias /app {{root}}/app.wsgi"
            ))
            .single_process()
            .start();
        assert_eq!(
            server.get("/app").text(),
            "v1",
            "WSGIScriptReloading {setting}"
        );
        edit_script(&server.root().join("app.wsgi"), &versioned_app("v2"));
        assert_eq!(
            server.get("/app").text(),
            after_edit,
            "WSGIScriptReloading {setting}"
        );
    }
}
