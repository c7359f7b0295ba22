//! Request handling compared with the C mod_wsgi 6.1.1: the same
//! configuration and application run under the C module and under ours,
//! and every response (status, headers, body) must be the same. The C
//! module's answer is the expectation.
//!
//! The C module is `MOD_WSGI_C_SO`, else the one the differential harness
//! installs from PyPI for MOD_WSGI_PYTHON (tests/common/differential.rs).
//!
//! Run: `cargo test --release --test request_compat`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

#[macro_use]
mod common;

use common::{python_exe, Server, ServerBuilder};
use std::path::PathBuf;

const PROBE: &str = include_str!("apps/request_compat/probe.wsgi");

/// The C mod_wsgi built for the Python under test (provisioned from PyPI
/// by the differential harness; `MOD_WSGI_C_SO` overrides it).
fn c_module_so() -> PathBuf {
    common::differential::c_module().so.clone()
}

/// One request of a comparison.
struct Probe<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
}

fn get<'a>(path: &'a str, headers: &'a [(&'a str, &'a str)]) -> Probe<'a> {
    Probe {
        method: "GET",
        path,
        headers,
    }
}

/// How the body is framed: compared on its own (`response_framing`), so
/// that the other comparisons each show one thing.
const FRAMING: &[&str] = &["content-length", "transfer-encoding"];

/// The responses to `probes`, with what differs between two servers of
/// the same configuration (root, port, date) replaced by placeholders.
/// `framing` keeps the Content-Length and Transfer-Encoding headers.
fn transcript(server: &Server, probes: &[Probe<'_>], framing: bool) -> String {
    let root = server.root().display().to_string();
    let port = server.port().to_string();
    let mut text = String::new();
    for probe in probes {
        let r = server.request(probe.method, probe.path, probe.headers, b"");
        text.push_str(&format!(
            "=== {} {} {:?}\nstatus {}\n",
            probe.method, probe.path, probe.headers, r.status
        ));
        for (name, value) in &r.headers {
            let name_lower = name.to_ascii_lowercase();
            if name_lower != "date" && (framing || !FRAMING.contains(&name_lower.as_str())) {
                text.push_str(&format!("header {name}: {value}\n"));
            }
        }
        text.push_str(&r.text());
    }
    mask_module_version(&text.replace(&root, "{root}").replace(&port, "{port}"))
}

/// The two modules' version numbers differ; everything else must not.
fn mask_module_version(text: &str) -> String {
    let mut masked = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("mod_wsgi.version: ") {
            masked.push_str("mod_wsgi.version: {version}\n");
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("mod_wsgi/") {
            masked.push_str(&rest[..at]);
            masked.push_str("mod_wsgi/{version}");
            let tail = &rest[at + "mod_wsgi/".len()..];
            rest = &tail[tail.find([' ', '\'', '\n']).unwrap_or(tail.len())..];
        }
        masked.push_str(rest);
    }
    masked
}

/// Runs `probes` against the C module and ours under the same `config`
/// (with `probe.wsgi` at `{root}/probe.wsgi`) and asserts the same
/// transcript.
fn compare(config: &str, probes: &[Probe<'_>]) {
    compare_with(config, probes, false)
}

fn compare_with(config: &str, probes: &[Probe<'_>], framing: bool) {
    let build = |c_module: bool| {
        let mut builder = ServerBuilder::new()
            .single_process()
            .config(config)
            .file("probe.wsgi", PROBE);
        if c_module {
            builder = builder.module_path(&c_module_so(), &python_exe());
        }
        builder.start()
    };
    let expected = {
        let mut server = build(true);
        let text = transcript(&server, probes, framing);
        server.stop();
        text
    };
    let mut server = build(false);
    let actual = transcript(&server, probes, framing);
    if actual != expected {
        let mut diff = String::new();
        let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
        for line in &e {
            if !a.contains(line) {
                diff.push_str(&format!("- {line}\n"));
            }
        }
        for line in &a {
            if !e.contains(line) {
                diff.push_str(&format!("+ {line}\n"));
            }
        }
        if diff.is_empty() {
            diff = format!(
                "same lines, in another order:\n--- C ---\n{expected}\n--- ours ---\n{actual}"
            );
        }
        panic!(
            "ours differs from the C module (- C only, + ours only):\n{diff}\n--- our error_log ---\n{}",
            server.error_log()
        );
    }
    server.stop();
}

const EMBEDDED: &str = "WSGIScriptAlias /app {root}/probe.wsgi\n";
const DAEMON: &str = "WSGISocketPrefix {root}/run/wsgi\n\
                      WSGIDaemonProcess probe threads=2\n\
                      WSGIProcessGroup probe\n\
                      WSGIScriptAlias /app {root}/probe.wsgi\n";

#[test]
fn environ_embedded() {
    compare(
        EMBEDDED,
        &[
            get("/app/environ", &[]),
            get("/app/sub/environ?a=1&b=%20", &[("X-Custom", "v")]),
        ],
    );
}

#[test]
fn environ_daemon() {
    compare(DAEMON, &[get("/app/environ", &[])]);
}

#[test]
fn environ_root_mount() {
    compare(
        "WSGIScriptAlias / {root}/probe.wsgi\n",
        &[get("/environ", &[])],
    );
}

#[test]
fn environ_pass_authorization() {
    compare(
        &format!("{EMBEDDED}WSGIPassAuthorization On\n"),
        &[get("/app/environ", &[("Authorization", "Basic dTpw")])],
    );
}

const PROXY_HEADERS: &[(&str, &str)] = &[
    ("X-Forwarded-For", "203.0.113.7, 127.0.0.1"),
    ("X-Client-IP", "198.51.100.1"),
    ("X-Real-IP", "198.51.100.2"),
    ("X-Forwarded-Host", "www.example.com"),
    ("X-Host", "other.example.com"),
    ("X-Forwarded-Server", "proxy.example.com"),
    ("X-Forwarded-Port", "8443"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-SSL", "on"),
    ("X-Script-Name", "/public"),
    ("X-Forwarded-Script-Name", "/other"),
];

/// Each trusted header on its own, with every proxy header sent.
#[test]
fn trusted_proxy_headers_one_at_a_time() {
    for header in [
        "X-Forwarded-For",
        "X-Client-IP",
        "X-Real-IP",
        "X-Forwarded-Host",
        "X-Host",
        "X-Forwarded-Server",
        "X-Forwarded-Port",
        "X-Forwarded-Proto",
        "X-Forwarded-SSL",
        "X-Script-Name",
        "X-Forwarded-Script-Name",
    ] {
        compare(
            &format!("{EMBEDDED}WSGITrustedProxyHeaders {header}\n"),
            &[get("/app/environ", PROXY_HEADERS)],
        );
    }
}

#[test]
fn trusted_proxy_scheme_values() {
    let mut probes = Vec::new();
    let values = [
        "On", "on", "true", "1", "Off", "false", "0", "yes", "HTTPS", "http",
    ];
    let headers: Vec<[(&str, &str); 2]> = values
        .iter()
        .map(|v| [("X-Forwarded-SSL", *v), ("X-Forwarded-Proto", *v)])
        .collect();
    for pair in &headers {
        probes.push(get("/app/environ", &pair[..1]));
        probes.push(get("/app/environ", &pair[1..]));
    }
    compare(
        &format!("{EMBEDDED}WSGITrustedProxyHeaders X-Forwarded-SSL X-Forwarded-Proto\n"),
        &probes,
    );
}

#[test]
fn trusted_proxies_list() {
    // The peer (127.0.0.1) is trusted in the first, untrusted in the second.
    for proxies in ["127.0.0.1", "10.0.0.0/8"] {
        compare(
            &format!(
                "{EMBEDDED}WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Host X-Script-Name X-Forwarded-Proto\n\
                 WSGITrustedProxies {proxies}\n"
            ),
            &[
                get("/app/environ", PROXY_HEADERS),
                get(
                    "/app/environ",
                    &[("X-Forwarded-For", "203.0.113.7, 127.0.0.1, 127.0.0.1")],
                ),
            ],
        );
    }
}

#[test]
fn trusted_proxy_daemon() {
    compare(
        &format!(
            "{DAEMON}WSGITrustedProxyHeaders X-Forwarded-For X-Script-Name X-Forwarded-Proto\n"
        ),
        &[get("/app/environ", PROXY_HEADERS)],
    );
}

#[test]
fn streams() {
    compare(EMBEDDED, &[get("/app/streams", &[])]);
    compare(
        &format!("{EMBEDDED}WSGIRestrictStdin On\n"),
        &[get("/app/streams", &[])],
    );
}

#[test]
fn start_response_validation() {
    compare(EMBEDDED, &[get("/app/start_response", &[])]);
}

#[test]
fn start_response_replacement() {
    compare(
        EMBEDDED,
        &[
            get("/app/restart", &[]),
            get("/app/restart_exc_info", &[]),
            get("/app/after_output", &[]),
        ],
    );
}

#[test]
fn duplicate_response_headers() {
    compare(EMBEDDED, &[get("/app/duplicates", &[])]);
}

/// The C module's Apache child joins a repeated header's values into one
/// line (Set-Cookie and WWW-Authenticate excepted) when relaying a
/// daemon's response.
#[test]
fn duplicate_response_headers_daemon() {
    compare(DAEMON, &[get("/app/duplicates", &[])]);
}

#[test]
fn file_wrapper_close() {
    compare(EMBEDDED, &[get("/app/file_wrapper", &[])]);
}

#[test]
fn double_slash_mount() {
    compare(
        "MergeSlashes Off\nWSGIScriptAlias //app {root}/probe.wsgi\n",
        &[get("//app/environ", &[]), get("/app/environ", &[])],
    );
}

/// Content-Length or chunking, for a body of one item and of several.
#[test]
fn response_framing() {
    let probes = [get("/app/environ", &[]), get("/app/duplicates", &[])];
    compare_with(EMBEDDED, &probes, true);
    compare_with(DAEMON, &probes, true);
}
