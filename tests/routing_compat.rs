//! Request routing and process set-up compared with the C mod_wsgi 6.1.1:
//! each check starts Apache with the C module, then with ours, on the same
//! configuration and application, and expects the same answers and log
//! lines. What the C module does is the expectation.
//!
//! The C module is `MOD_WSGI_C_SO`, else the one the differential harness
//! installs from PyPI for the Python under test
//! (tests/common/differential.rs); the tests fail, rather than skip,
//! without it.
//!
//! Run: `cargo test --release --test routing_compat`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::json::Json;
use common::{python_exe, Response, Server, ServerBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// Reports how the request was routed and what Python set up.
const REPORT_APP: &str = r#"
import json, os, sys

def report(environ, start_response, callable_name):
    body = json.dumps({
        'process_group': environ.get('mod_wsgi.process_group'),
        'application_group': environ.get('mod_wsgi.application_group'),
        'callable': callable_name,
        'sys_path': sys.path,
        'pid': os.getpid(),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]

def application(environ, start_response):
    return report(environ, start_response, 'application')

def alternative(environ, start_response):
    return report(environ, start_response, 'alternative')
"#;

/// Sends every request to daemon group `d1`.
const DISPATCH_TO_D1: &str = "def process_group(environ):\n    return 'd1'\n";

/// Accepts user `alice` with password `secret`.
const AUTH_ALICE: &str =
    "def check_password(environ, user, password):\n    return user == 'alice' and password == 'secret'\n";

const LOG_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Module {
    C,
    Ours,
}

const BOTH: [Module; 2] = [Module::C, Module::Ours];

/// The C mod_wsgi built for the Python under test (provisioned from PyPI
/// by the differential harness; `MOD_WSGI_C_SO` overrides it).
fn c_module() -> PathBuf {
    common::differential::c_module().so.clone()
}

/// A server for `module` with the report app at `{root}/app.wsgi` and
/// `config` (where `{root}` and `{port}` are substituted).
fn start(module: Module, config: &str, files: &[(&str, &str)]) -> Server {
    let mut builder = ServerBuilder::new();
    if module == Module::C {
        builder = builder.module_path(&c_module(), &python_exe());
    }
    builder = builder
        .module("env")
        .module("auth_basic")
        .module("authn_core")
        .module("authz_user")
        .file("app.wsgi", REPORT_APP)
        .config(config);
    for (path, contents) in files {
        builder = builder.file(path, contents);
    }
    builder.start()
}

fn expect_status(server: &Server, module: Module, r: &Response, status: u16, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{module:?}: {what}: body {:?}\n--- error_log ---\n{}",
        r.text(),
        server.error_log()
    );
}

fn report(server: &Server, module: Module, path: &str, headers: &[(&str, &str)]) -> Json {
    let r = server.request("GET", path, headers, b"");
    expect_status(server, module, &r, 200, path);
    r.json()
}

/// The first error-log line containing `needle`, without the parts that
/// differ from run to run (time, pid, thread, client address).
fn log_message(server: &Server, needle: &str) -> String {
    assert!(
        server.wait_for_log(needle, LOG_WAIT),
        "'{needle}' not logged:\n{}",
        server.error_log()
    );
    let log = server.error_log();
    let line = log.lines().find(|l| l.contains(needle)).unwrap();
    let mut rest = line;
    while let Some(group) = rest.strip_prefix('[') {
        let Some(end) = group.find("] ") else { break };
        let inner = &group[..end];
        let variable = inner.starts_with("pid ")
            || inner.starts_with("client ")
            || inner.starts_with("remote ")
            || inner.contains(':') && inner.chars().next().is_some_and(|c| c.is_alphabetic());
        if !variable {
            break;
        }
        rest = &group[end + 2..];
    }
    rest.replace(&server.root().display().to_string(), "{root}")
}

fn text(json: &Json, key: &str) -> String {
    json.get(key)
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {json:?}"))
        .to_string()
}

// ---------------------------------------------------------------------------
// WSGIRestrictEmbedded On with scripts that still run in Apache's children
// ---------------------------------------------------------------------------

const SOCKETS: &str = "WSGISocketPrefix {root}/run/wsgi\n";

#[test]
fn restrict_embedded_keeps_dispatch_scripts_working() {
    let config = format!(
        "{SOCKETS}WSGIRestrictEmbedded On\nWSGIDaemonProcess d1 threads=2\n\
         WSGIScriptAlias /app {{root}}/app.wsgi\nWSGIDispatchScript {{root}}/dispatch.py\n"
    );
    for module in BOTH {
        let server = start(module, &config, &[("dispatch.py", DISPATCH_TO_D1)]);
        let json = report(&server, module, "/app", &[]);
        assert_eq!(text(&json, "process_group"), "d1", "{module:?}");
    }
}

#[test]
fn restrict_embedded_keeps_auth_scripts_working_and_refuses_embedded_apps() {
    let config = format!(
        "{SOCKETS}WSGIRestrictEmbedded On\nWSGIDaemonProcess d1 threads=2\n\
         WSGIScriptAlias /daemon {{root}}/app.wsgi process-group=d1\n\
         WSGIScriptAlias /embedded {{root}}/app.wsgi\n\
         <Location /daemon>\n  AuthType Basic\n  AuthName test\n  AuthBasicProvider wsgi\n  \
         WSGIAuthUserScript {{root}}/auth.py\n  Require valid-user\n</Location>\n"
    );
    let good = common::basic_credentials("alice", "secret");
    let bad = common::basic_credentials("alice", "wrong");
    let mut refusals = Vec::new();
    for module in BOTH {
        let server = start(module, &config, &[("auth.py", AUTH_ALICE)]);
        let r = server.request("GET", "/daemon", &[], b"");
        expect_status(&server, module, &r, 401, "no credentials");
        let r = server.request("GET", "/daemon", &[("Authorization", &bad)], b"");
        expect_status(&server, module, &r, 401, "wrong password");
        let json = report(&server, module, "/daemon", &[("Authorization", &good)]);
        assert_eq!(text(&json, "process_group"), "d1", "{module:?}");
        let r = server.request("GET", "/embedded", &[], b"");
        expect_status(&server, module, &r, 500, "embedded app");
        refusals.push(log_message(
            &server,
            "Embedded mode of mod_wsgi disabled by runtime configuration",
        ));
    }
    assert_eq!(refusals[0], refusals[1], "C's log line, then ours");
}

// ---------------------------------------------------------------------------
// Group and callable expansion
// ---------------------------------------------------------------------------

/// Aliases naming each group form, with environment values set by mod_env.
const GROUP_FORMS: &str = "WSGIDaemonProcess d1 threads=2\n\
    SetEnv PG d1\nSetEnv AG_HOST %{HOST}\nSetEnv AG_ENV %{ENV:PG}\nSetEnv CALLABLE alternative\n\
    WSGIScriptAlias /server {root}/app.wsgi application-group=%{SERVER}\n\
    WSGIScriptAlias /host {root}/app.wsgi application-group=%{HOST}\n\
    WSGIScriptAlias /Resource {root}/app.wsgi application-group=%{RESOURCE}\n\
    WSGIScriptAlias /default {root}/app.wsgi\n\
    WSGIScriptAlias /env-host {root}/app.wsgi application-group=%{ENV:AG_HOST}\n\
    WSGIScriptAlias /env-env {root}/app.wsgi application-group=%{ENV:AG_ENV}\n\
    WSGIScriptAlias /env-unset {root}/app.wsgi application-group=%{ENV:NOT_SET}\n\
    WSGIScriptAlias /pg-env {root}/app.wsgi process-group=%{ENV:PG}\n\
    WSGIScriptAlias /pg-global {root}/app.wsgi process-group=%{GLOBAL}\n\
    WSGIScriptAlias /pg-unset {root}/app.wsgi process-group=%{ENV:NOT_SET}\n\
    WSGIScriptAlias /callable {root}/app.wsgi\n\
    <Location /callable>\n  WSGICallableObject %{ENV:CALLABLE}\n</Location>\n";

/// Paths served by GROUP_FORMS, some with path info and odd spelling.
const GROUP_PATHS: [&str; 10] = [
    "/server",
    "/host",
    "/Resource/Extra//Info",
    "/default",
    "/env-host",
    "/env-env",
    "/env-unset",
    "/pg-env",
    "/pg-global",
    "/callable",
];

/// (path, process group, application group, callable) for each path.
fn group_answers(module: Module) -> Vec<(String, String, String, String)> {
    let server = start(module, &format!("{SOCKETS}{GROUP_FORMS}"), &[]);
    // A Host header other than the ServerName (127.0.0.1), on the test's
    // non-default port.
    let host = format!("Alias.Example:{}", server.port());
    GROUP_PATHS
        .iter()
        .map(|path| {
            let json = report(&server, module, path, &[("Host", &host)]);
            let answer = |key| text(&json, key).replace(&server.port().to_string(), "PORT");
            (
                path.to_string(),
                answer("process_group"),
                answer("application_group"),
                answer("callable"),
            )
        })
        .collect()
}

#[test]
fn group_forms_expand_as_in_c() {
    let c = group_answers(Module::C);
    let ours = group_answers(Module::Ours);
    for (c, ours) in c.iter().zip(&ours) {
        assert_eq!(c, ours, "C's answer, then ours");
    }
    // The forms must be told apart for the comparison to mean anything.
    let group_of = |path: &str| c.iter().find(|a| a.0 == path).unwrap().2.clone();
    assert_ne!(group_of("/server"), group_of("/host"));
    assert_eq!(group_of("/env-host"), group_of("/host"));
}

#[test]
fn unset_env_process_group_fails_as_in_c() {
    let mut refusals = Vec::new();
    for module in BOTH {
        let server = start(module, &format!("{SOCKETS}{GROUP_FORMS}"), &[]);
        let r = server.request("GET", "/pg-unset", &[], b"");
        expect_status(&server, module, &r, 500, "unset %{ENV} process group");
        refusals.push(log_message(&server, "No WSGI daemon process called"));
    }
    assert_eq!(refusals[0], refusals[1], "C's log line, then ours");
}

// ---------------------------------------------------------------------------
// sys.path: WSGIPythonPath and python-path=
// ---------------------------------------------------------------------------

const PYTHON_PATHS: &str = "WSGIPythonPath {root}/server-a:{root}/server-b\n\
    WSGIDaemonProcess d1 threads=2 python-path={root}/daemon-a:{root}/daemon-b\n\
    WSGIScriptAlias /embedded {root}/app.wsgi\n\
    WSGIDaemonProcess d2 threads=2\n\
    WSGIScriptAlias /daemon {root}/app.wsgi process-group=d1\n\
    WSGIScriptAlias /daemon-without {root}/app.wsgi process-group=d2\n";

/// sys.path in embedded mode, in a daemon with python-path= and in one
/// without, the server root written as `{root}`.
fn python_paths(module: Module) -> [Vec<String>; 3] {
    let server = start(
        module,
        &format!("{SOCKETS}{PYTHON_PATHS}"),
        &[
            ("server-a/.keep", ""),
            ("server-b/.keep", ""),
            ("daemon-a/.keep", ""),
            ("daemon-b/.keep", ""),
        ],
    );
    let root = server.root().display().to_string();
    ["/embedded", "/daemon", "/daemon-without"].map(|path| {
        let json = report(&server, module, path, &[]);
        json.get("sys_path")
            .as_array()
            .expect("sys_path")
            .iter()
            .map(|p| p.as_str().expect("a path").replace(&root, "{root}"))
            .collect()
    })
}

#[test]
fn python_path_entries_land_where_c_puts_them() {
    let c = python_paths(Module::C);
    let ours = python_paths(Module::Ours);
    assert_eq!(c, ours, "C's sys.path (embedded, daemons), then ours");
}

// ---------------------------------------------------------------------------
// Preloading a virtual host's WSGIScriptAlias
// ---------------------------------------------------------------------------

#[test]
fn virtual_host_alias_naming_both_groups_is_preloaded_in_the_daemon() {
    let config = format!(
        "{SOCKETS}WSGIDaemonProcess d1 threads=2\n\
         <VirtualHost 127.0.0.1:{{port}}>\n  ServerName vhost.example\n  \
         WSGIScriptAlias /app {{root}}/app.wsgi process-group=d1 application-group=%{{GLOBAL}}\n\
         </VirtualHost>\n"
    );
    let mut lines = Vec::new();
    for module in BOTH {
        let server = start(module, &config, &[]);
        // Preloading happens at daemon start, before any request.
        lines.push(log_message(&server, "Loading WSGI script"));
    }
    assert_eq!(lines[0], lines[1], "C's log line, then ours");
}
