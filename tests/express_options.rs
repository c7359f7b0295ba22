//! Option coverage of our `mod_wsgi-express` against the C package's.
//!
//! * `every_c_option_is_accepted`: the list of options comes from the C
//!   package's own `setup-server --help` when the test runs. Each option is
//!   given to our `setup-server` with a sample argument (and the options it
//!   needs), and the server root it writes must pass `apachectl
//!   configtest` with our module. An option with no sample here fails the
//!   test as "not covered", so a new C option cannot be missed.
//! * `option_groups_side_by_side`: for a few production option groups the
//!   C package writes a root (run by the C module) and ours writes one (run
//!   by our module); both are started and the same requests must see the
//!   same status and body.
//!
//! Run: `cargo test --release --test express_options`

mod common;

use common::differential::{
    c_module, express_configtest, remove_root, scratch_path, setup_server, ExpressServer,
};
use common::express::{our_setup_server_args, run_express, strings, text, Scratch};
use common::{apache_modules_dir, free_port, http_request, module_path, Response};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const APP: &str = r#"import json


def application(environ, start_response):
    keys = ('PATH_INFO', 'SCRIPT_NAME', 'REMOTE_ADDR', 'HTTP_HOST',
            'wsgi.url_scheme', 'SERVER_NAME', 'REMOTE_USER', 'HTTPS',
            'SSL_PROTOCOL')
    if environ['PATH_INFO'] == '/body':
        data = environ['wsgi.input'].read()
        body = ('%d bytes' % len(data)).encode()
    else:
        body = json.dumps({k: environ.get(k) for k in keys},
                          sort_keys=True).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

/// A service script: leaves a mark named after the Apache parent that
/// started it in the directory replacing `MARKS`.
const SERVICE: &str =
    "import os\nopen(os.path.join('MARKS', 'service-%d' % os.getppid()), 'w').close()\n";
/// The back end of the proxy group: answers every GET with its path and
/// the forwarding headers it received.
const BACKEND: &str = r#"import http.server, json, sys


class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        names = ('Host', 'X-Forwarded-Host', 'X-Forwarded-Port',
                 'X-Forwarded-Scheme', 'X-Forwarded-Prefix')
        body = json.dumps({'path': self.path,
                           'headers': {n: self.headers.get(n) for n in names}},
                          sort_keys=True).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Echo).serve_forever()
"#;

/// The proxy back end, stopped on drop.
struct Backend {
    child: std::process::Child,
    port: u16,
}

impl Backend {
    fn start(f: &Fixtures) -> Backend {
        let script = f.scratch.file("backend.py", BACKEND);
        let port = free_port();
        let child = Command::new(common::python_exe())
            .arg(&script)
            .arg(port.to_string())
            .spawn()
            .expect("start the proxy back end");
        let up = common::procs::wait_until(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "the proxy back end did not listen on {port}");
        Backend { child, port }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HOST_ACCESS: &str =
    "def allow_access(environ, host):\n    return 'HTTP_X_DENY' not in environ\n";
const AUTH_USER: &str =
    "def check_password(environ, user, password):\n    return password == 'secret'\n";
const AUTH_GROUP: &str = "def groups_for_user(environ, user):\n    return [b'wsgi']\n";

/// The options (long names) the C package's `setup-server --help` and
/// `start-server --help` list (ours share one parser for both).
fn c_options() -> Vec<String> {
    let mut options = BTreeSet::new();
    for command in ["setup-server", "start-server"] {
        add_c_options(command, &mut options);
    }
    assert!(
        options.len() > 100,
        "expected the C package's long option list, found {options:?}"
    );
    options.into_iter().collect()
}

fn add_c_options(command: &str, options: &mut BTreeSet<String>) {
    let out = Command::new(&c_module().express)
        .args([command, "--help"])
        .output()
        .expect("run the C mod_wsgi-express --help");
    assert!(out.status.success(), "C {command} --help failed");
    let help = String::from_utf8_lossy(&out.stdout);
    for line in help.lines() {
        // An option's line starts with two spaces then the option; help
        // text continues further in.
        let Some(rest) = line.strip_prefix("  --") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name != "help" {
            options.insert(format!("--{name}"));
        }
    }
}

/// Files the samples point at.
struct Fixtures {
    scratch: Scratch,
}

impl Fixtures {
    fn create() -> Fixtures {
        let scratch = Scratch::new("options");
        scratch.file("app.wsgi", APP);
        let marks = scratch.dir("marks");
        {
            use std::os::unix::fs::PermissionsExt;
            // The service runs as the unprivileged user.
            std::fs::set_permissions(&marks, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        scratch.file(
            "service.py",
            SERVICE.replace("MARKS", &marks.display().to_string()),
        );
        scratch.file("host_access.py", HOST_ACCESS);
        scratch.file("auth_user.py", AUTH_USER);
        scratch.file("auth_group.py", AUTH_GROUP);
        scratch.file("include.conf", "# included\n");
        scratch.file("rewrite.conf", "RewriteRule ^old$ new [R]\n");
        scratch.file("envvars.sh", "FOO=bar\n");
        scratch.file("static/index.html", "<p>index</p>\n");
        scratch.file("site/page.page", "not served as a file\n");
        scratch.file("site/listed/one.txt", "one\n");
        scratch.file("site/listed/two.txt", "two\n");
        scratch.file("site/hello.txt", "hello\n");
        let cgi = scratch.file(
            "site/hello.cgi",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\ncgi says hi\\n'\n",
        );
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        scratch.file("site-rewrite.conf", "RewriteRule ^old$ hello.txt\n");
        scratch.dir("directory");
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(scratch.path("server.key"))
            .arg("-out")
            .arg(scratch.path("server.crt"))
            .output()
            .expect("run openssl");
        assert!(made.status.success(), "openssl req failed");
        for file in ["server.key", "server.crt"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(scratch.path(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        Fixtures { scratch }
    }

    fn s(&self, rel: &str) -> String {
        self.scratch.s(rel)
    }
}

/// What an option's sample is expected to do.
enum Expect {
    /// setup-server succeeds and the root passes configtest.
    Accept,
    /// Either that, or setup-server refuses with this text because the
    /// sample needs something this machine may lack (a free-threaded
    /// Python, the telemetry package).
    AcceptOrRefuse(&'static str),
}

/// The arguments that exercise `option` (with whatever it needs), or None
/// when this table does not know the option.
fn sample(option: &str, f: &Fixtures) -> Option<(Vec<String>, Expect)> {
    use Expect::*;
    let https = || {
        vec![
            "--https-port".to_string(),
            "8443".to_string(),
            "--ssl-certificate".to_string(),
            f.s("server"),
        ]
    };
    let with = |before: Vec<String>, more: &[&str]| -> Vec<String> {
        let mut v = before;
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    let o = option;
    let args: Vec<String> = match o {
        // Flags that need nothing else.
        "--http2"
        | "--ssl-environment"
        | "--allow-localhost"
        | "--enable-sendfile"
        | "--disable-reloading"
        | "--reload-on-changes"
        | "--directory-listing"
        | "--error-override"
        | "--compress-responses"
        | "--server-metrics"
        | "--server-status"
        | "--access-log"
        | "--startup-log"
        | "--log-to-terminal"
        | "--rotate-logs"
        | "--chunked-request"
        | "--with-cgi"
        | "--orphan-interpreter"
        | "--embedded-mode"
        | "--enable-docs"
        | "--debug-mode"
        | "--enable-debugger"
        | "--enable-coverage"
        | "--enable-profiler"
        | "--enable-recorder"
        | "--enable-gdb"
        | "--setup-only" => vec![o.to_string()],
        "--free-threading" => {
            return Some((vec![o.to_string()], AcceptOrRefuse("free-threaded Python")))
        }
        "--enable-telemetry" => {
            return Some((vec![o.to_string()], AcceptOrRefuse("mod-wsgi-telemetry")))
        }
        "--telemetry-ui-port" => {
            return Some((
                strings(&["--enable-telemetry", o, "8899"]),
                AcceptOrRefuse("mod-wsgi-telemetry"),
            ))
        }
        "--debugger-startup" => strings(&["--enable-debugger", o]),
        // TLS.
        "--https-port" | "--ssl-certificate" => https(),
        "--ssl-certificate-file" | "--ssl-certificate-key-file" => vec![
            "--https-port".into(),
            "8443".into(),
            "--ssl-certificate-file".into(),
            f.s("server.crt"),
            "--ssl-certificate-key-file".into(),
            f.s("server.key"),
        ],
        "--ssl-ca-certificate-file" | "--ssl-certificate-chain-file" => {
            with(https(), &[o, &f.s("server.crt")])
        }
        "--ssl-verify-client" => with(
            https(),
            &[
                "--ssl-ca-certificate-file",
                &f.s("server.crt"),
                o,
                "/secure",
            ],
        ),
        "--https-only" => with(https(), &["--server-name", "www.example.com", o]),
        "--hsts-policy" => with(
            https(),
            &[
                "--server-name",
                "www.example.com",
                "--https-only",
                o,
                "max-age=60",
            ],
        ),
        // Names and proxies.
        "--server-name" => strings(&[o, "www.example.com"]),
        "--server-alias" => strings(&["--server-name", "example.com", o, "*.example.org"]),
        "--host" => strings(&[o, "127.0.0.1"]),
        "--proxy-mount-point" => strings(&[o, "/px", "http://127.0.0.1:9/"]),
        "--proxy-virtual-host" => strings(&[o, "p.example.com", "http://127.0.0.1:9/"]),
        "--proxy-timeout" => {
            strings(&["--proxy-mount-point", "/px", "http://127.0.0.1:9/", o, "30"])
        }
        "--trust-proxy-header" => strings(&[o, "X-Forwarded-For"]),
        "--trust-proxy" => strings(&["--trust-proxy-header", "X-Forwarded-For", o, "10.0.0.0/8"]),
        // Whole numbers.
        "--port" => strings(&[o, "8123"]),
        "--processes" => strings(&[o, "2"]),
        "--threads" => strings(&[o, "3"]),
        "--max-clients" => strings(&[o, "12"]),
        "--limit-request-body" => strings(&[o, "1000"]),
        "--maximum-requests" => strings(&[o, "100"]),
        "--startup-timeout"
        | "--shutdown-timeout"
        | "--restart-interval"
        | "--cpu-time-limit"
        | "--graceful-timeout"
        | "--eviction-timeout"
        | "--deadlock-timeout"
        | "--inactivity-timeout"
        | "--request-timeout"
        | "--interrupt-timeout"
        | "--connect-timeout"
        | "--socket-timeout"
        | "--queue-timeout"
        | "--header-timeout"
        | "--body-timeout"
        | "--body-max-timeout"
        | "--response-socket-timeout"
        | "--keep-alive-timeout" => strings(&[o, "20"]),
        // Above the default --header-timeout of 15.
        "--header-max-timeout" => strings(&[o, "40"]),
        "--header-min-rate" | "--body-min-rate" => strings(&[o, "600"]),
        "--server-backlog" | "--daemon-backlog" => strings(&[o, "64"]),
        "--send-buffer-size"
        | "--receive-buffer-size"
        | "--header-buffer-size"
        | "--response-buffer-size" => strings(&[o, "65536"]),
        "--response-flush-delay" => strings(&[o, "10"]),
        "--max-log-size" => strings(&["--rotate-logs", o, "2"]),
        // Fractions and seconds with a point.
        "--initial-workers" | "--minimum-spare-workers" | "--maximum-spare-workers" => {
            strings(&[o, "0.5"])
        }
        "--switch-interval" => strings(&[o, "0.01"]),
        "--telemetry-service" => vec![o.into(), format!("unix:{}", f.s("telemetry.sock"))],
        "--telemetry-interval" | "--slow-requests" => vec![
            "--telemetry-service".into(),
            format!("unix:{}", f.s("telemetry.sock")),
            o.into(),
            "2".into(),
        ],
        "--telemetry-options" => strings(&[o, "+CaptureUserAgent"]),
        // Words.
        "--application-type" => strings(&[o, "script"]),
        "--application-group" => strings(&[o, "other"]),
        "--process-group" => strings(&[o, "example"]),
        "--callable-object" => strings(&[o, "application"]),
        "--mount-point" => strings(&[o, "/app"]),
        "--map-head-to-get" => strings(&[o, "Off"]),
        "--directory-index" => strings(&[o, "index.html"]),
        "--allow-override" => strings(&[o, "All"]),
        "--error-document" => strings(&[o, "404", "/missing"]),
        "--ignore-activity" => strings(&[o, "/health"]),
        "--server-mpm" => strings(&[o, "prefork"]),
        "--log-level" => strings(&[o, "info"]),
        "--access-log-format" => strings(&["--access-log", o, "combined"]),
        "--error-log-format" => strings(&[o, "[%l] %M"]),
        "--error-log-name" => strings(&[o, "errors.log"]),
        "--access-log-name" => strings(&["--access-log", o, "requests.log"]),
        "--startup-log-name" => strings(&["--startup-log", o, "start.log"]),
        "--locale" => strings(&[o, "C.UTF-8"]),
        "--setenv" => strings(&[o, "EXAMPLE", "value"]),
        "--passenv" => strings(&[o, "HOME"]),
        "--process-name" => strings(&[o, "example-httpd"]),
        "--python-warnings" => strings(&[o, "ignore::DeprecationWarning"]),
        "--user" | "--group" => strings(&["--user", "www-data", "--group", "www-data"]),
        "--auth-type" => strings(&["--auth-user-script", &f.s("auth_user.py"), o, "Digest"]),
        "--auth-group" => strings(&[
            "--auth-user-script",
            &f.s("auth_user.py"),
            "--auth-group-script",
            &f.s("auth_group.py"),
            o,
            "staff",
        ]),
        "--gdb-executable" => strings(&[o, "gdb"]),
        // Files and directories.
        "--entry-point" => strings(&[o, &f.s("app.wsgi")]),
        "--document-root" => strings(&[o, &f.s("static")]),
        "--url-alias" => strings(&[o, "/static", &f.s("static")]),
        "--include-file" => strings(&[o, &f.s("include.conf")]),
        "--rewrite-rules" => strings(&[o, &f.s("rewrite.conf")]),
        "--envvars-script" => strings(&[o, &f.s("envvars.sh")]),
        "--working-directory"
        | "--log-directory"
        | "--python-path"
        | "--python-eggs"
        | "--socket-prefix"
        | "--coverage-directory"
        | "--profiler-directory"
        | "--recorder-directory" => strings(&[o, &f.s("directory")]),
        "--pid-file" => strings(&[o, &f.s("directory/httpd.pid")]),
        "--server-root" => strings(&[o, &f.s("another-root")]),
        "--shell-executable" => strings(&[o, "/bin/bash"]),
        "--httpd-executable" => strings(&[o, &common::apache_bin()]),
        "--modules-directory" => vec![o.into(), apache_modules_dir()],
        "--mime-types" => strings(&[o, "/etc/mime.types"]),
        "--rotatelogs-executable" => strings(&["--rotate-logs", o, "rotatelogs"]),
        "--add-handler" => strings(&[o, ".page", &f.s("app.wsgi")]),
        "--host-access-script" => strings(&[o, &f.s("host_access.py")]),
        "--auth-user-script" => strings(&[o, &f.s("auth_user.py")]),
        "--auth-group-script" => strings(&[
            "--auth-user-script",
            &f.s("auth_user.py"),
            o,
            &f.s("auth_group.py"),
        ]),
        "--service-script" => strings(&[o, "mark", &f.s("service.py")]),
        "--service-user" | "--service-group" => strings(&[
            "--service-script",
            "mark",
            &f.s("service.py"),
            o,
            "mark",
            "www-data",
        ]),
        "--service-log-file" => strings(&[
            "--service-script",
            "mark",
            &f.s("service.py"),
            o,
            "mark",
            "service.log",
        ]),
        _ => return None,
    };
    Some((args, Accept))
}

/// Our setup-server with `args` into a fresh root, then configtest: None
/// when it behaves as `expect` says, else what went wrong.
fn check_option(
    option: &str,
    args: &[String],
    expect: &Expect,
    f: &Fixtures,
    n: usize,
) -> Option<String> {
    let root = f.scratch.path(&format!("root-{n}"));
    let all = our_setup_server_args(Path::new(&f.s("app.wsgi")), &root, args);
    let out = run_express(&all, &f.scratch.dir);
    let said = text(&out);
    if !out.status.success() {
        if let Expect::AcceptOrRefuse(why) = expect {
            if said.contains(why) {
                return None;
            }
        }
        return Some(format!("{option}: setup-server {args:?} failed:\n{said}"));
    }
    if said.contains("Traceback") {
        return Some(format!(
            "{option}: setup-server printed a traceback:\n{said}"
        ));
    }
    // --server-root in the sample moves the root.
    let root = match args.iter().position(|a| a == "--server-root") {
        Some(i) => Path::new(&args[i + 1]).to_path_buf(),
        None => root,
    };
    let (ok, conf_out) = express_configtest(&root);
    if !ok {
        let conf = std::fs::read_to_string(root.join("httpd.conf")).unwrap_or_default();
        return Some(format!(
            "{option}: configtest of the root for {args:?} failed:\n{conf_out}\n--- httpd.conf ---\n{conf}"
        ));
    }
    None
}

#[test]
fn every_c_option_is_accepted() {
    common::ensure_python_reachable();
    let options = c_options();
    let fixtures = Fixtures::create();
    let mut not_covered = Vec::new();
    let mut cases = Vec::new();
    for option in &options {
        match sample(option, &fixtures) {
            Some((args, expect)) => cases.push((option.clone(), args, expect)),
            None => not_covered.push(option.clone()),
        }
    }
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<_> = cases.chunks(cases.len().div_ceil(3)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(c, chunk)| {
                let fixtures = &fixtures;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .filter_map(|(i, (option, args, expect))| {
                            check_option(option, args, expect, fixtures, c * 1000 + i)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    eprintln!(
        "{} C options, {} checked, {} not covered, {} failed",
        options.len(),
        cases.len(),
        not_covered.len(),
        failures.len()
    );
    assert!(
        not_covered.is_empty(),
        "not covered: these options of the C package's setup-server have no sample in \
         tests/express_options.rs (add one, and the option to python/mod_wsgi/express): {not_covered:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------
// Side by side
// ---------------------------------------------------------------------------

struct Request {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    /// Sent over HTTPS (with curl) to the server's --https-port, for the
    /// host named in the Host header.
    over_tls: bool,
}

fn get(
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
) -> Request {
    Request {
        name,
        method: "GET",
        path,
        headers,
        body: Vec::new(),
        over_tls: false,
    }
}

struct Group {
    name: &'static str,
    /// Also serve HTTPS (--https-port, a port of each side's own, and the
    /// test certificate).
    https: bool,
    options: Vec<String>,
    requests: Vec<Request>,
}

fn groups(f: &Fixtures, backend: u16) -> Vec<Group> {
    let backend_url = format!("http://127.0.0.1:{backend}/");
    vec![
        Group {
            name: "proxy",
            https: false,
            options: strings(&[
                "--proxy-mount-point",
                "/px",
                &backend_url,
                "--proxy-virtual-host",
                "proxied.example.com",
                &backend_url,
                "--proxy-timeout",
                "20",
            ]),
            requests: vec![
                get("mount-point", "/px/a/b?q=1", vec![]),
                get("mount-point-without-slash", "/px", vec![]),
                get("outside-mount-point", "/env", vec![]),
                get("virtual-host", "/c", vec![("Host", "proxied.example.com")]),
            ],
        },
        Group {
            name: "server-name",
            https: false,
            options: strings(&[
                "--server-name",
                "www.example.com",
                "--server-alias",
                "alias.example.com",
            ]),
            requests: vec![
                get("primary", "/env", vec![("Host", "www.example.com")]),
                get("alias", "/env", vec![("Host", "alias.example.com")]),
                get("parent-redirect", "/page", vec![("Host", "example.com")]),
                get("unknown-name", "/env", vec![("Host", "other.example.net")]),
            ],
        },
        Group {
            name: "server-name-allow-localhost",
            https: false,
            options: strings(&["--server-name", "example.com", "--allow-localhost"]),
            requests: vec![
                get("named", "/env", vec![("Host", "example.com")]),
                get(
                    "other-from-localhost",
                    "/env",
                    vec![("Host", "other.example.net")],
                ),
            ],
        },
        Group {
            name: "limits",
            https: false,
            options: strings(&["--keep-alive-timeout", "5", "--limit-request-body", "10"]),
            requests: vec![
                Request {
                    name: "small-body",
                    method: "POST",
                    path: "/body",
                    headers: vec![],
                    body: b"12345".to_vec(),
                    over_tls: false,
                },
                Request {
                    name: "large-body",
                    method: "POST",
                    path: "/body",
                    headers: vec![],
                    body: vec![b'x'; 100],
                    over_tls: false,
                },
            ],
        },
        Group {
            name: "trust-proxy-header",
            https: false,
            options: strings(&[
                "--trust-proxy-header",
                "X-Forwarded-For",
                "--trust-proxy-header",
                "X-Forwarded-Host",
                "--trust-proxy",
                "127.0.0.1",
            ]),
            requests: vec![get(
                "forwarded",
                "/env",
                vec![
                    ("X-Forwarded-For", "203.0.113.9"),
                    ("X-Forwarded-Host", "front.example.com"),
                ],
            )],
        },
        Group {
            name: "rotate-logs",
            https: false,
            options: strings(&["--rotate-logs", "--max-log-size", "1", "--access-log"]),
            requests: vec![get("page", "/env", vec![])],
        },
        Group {
            name: "server-status",
            https: false,
            options: strings(&["--server-status"]),
            requests: vec![
                get("status-page-status-line", "/server-status?auto", vec![]),
                get("application", "/env", vec![]),
            ],
        },
        Group {
            name: "service-script",
            https: false,
            options: strings(&["--service-script", "mark", &f.s("service.py")]),
            requests: vec![get("application", "/env", vec![])],
        },
        Group {
            name: "auth-user-script",
            https: false,
            options: strings(&[
                "--auth-user-script",
                &f.s("auth_user.py"),
                "--auth-group-script",
                &f.s("auth_group.py"),
            ]),
            requests: vec![
                get("no-credentials", "/env", vec![]),
                // user:secret and user:wrong
                get(
                    "good-password",
                    "/env",
                    vec![("Authorization", "Basic dXNlcjpzZWNyZXQ=")],
                ),
                get(
                    "bad-password",
                    "/env",
                    vec![("Authorization", "Basic dXNlcjp3cm9uZw==")],
                ),
            ],
        },
        Group {
            name: "host-access-script",
            https: false,
            options: strings(&["--host-access-script", &f.s("host_access.py")]),
            requests: vec![
                get("allowed", "/env", vec![]),
                get("denied", "/env", vec![("X-Deny", "1")]),
            ],
        },
        Group {
            name: "compress-responses",
            https: false,
            options: strings(&["--compress-responses"]),
            requests: vec![
                get("gzip", "/body", vec![("Accept-Encoding", "gzip")]),
                get("identity", "/body", vec![]),
            ],
        },
        Group {
            name: "https-only",
            https: true,
            options: strings(&[
                "--server-name",
                "www.example.com",
                "--https-only",
                "--hsts-policy",
                "max-age=600",
                "--ssl-environment",
            ]),
            requests: vec![
                get(
                    "plain-http-redirected",
                    "/page",
                    vec![("Host", "www.example.com")],
                ),
                get(
                    "parent-domain-redirected",
                    "/page",
                    vec![("Host", "example.com")],
                ),
                Request {
                    name: "over-https",
                    method: "GET",
                    path: "/env",
                    headers: vec![("Host", "www.example.com")],
                    body: Vec::new(),
                    over_tls: true,
                },
            ],
        },
        Group {
            name: "document-root-extras",
            https: false,
            options: strings(&[
                "--document-root",
                &f.s("site"),
                "--add-handler",
                ".page",
                &f.s("app.wsgi"),
                "--with-cgi",
                "--directory-listing",
                "--rewrite-rules",
                &f.s("site-rewrite.conf"),
            ]),
            requests: vec![
                get("static-file", "/hello.txt", vec![]),
                get("application-fallback", "/not/a/file", vec![]),
                get("add-handler", "/page.page", vec![]),
                get("cgi", "/hello.cgi", vec![]),
                get("directory-listing", "/listed/", vec![]),
                get("rewrite-rules", "/old", vec![]),
            ],
        },
        Group {
            name: "error-document",
            https: false,
            // Apache's own 404 for a missing static file is answered by
            // the application at /missing.
            options: strings(&[
                "--error-document",
                "404",
                "/missing",
                "--url-alias",
                "/static",
                &f.s("static"),
            ]),
            requests: vec![
                get("static-file", "/static/index.html", vec![]),
                get("missing-static-file", "/static/nothing.html", vec![]),
            ],
        },
    ]
}

/// What a request saw, in a form both sides can be compared on: the
/// status, the Location header and the body, with the server's own port
/// replaced. The status page's body (pids, uptimes) is compared by its
/// first line only.
fn seen(group: &str, req: &Request, port: u16, https_port: u16, backend_port: u16) -> String {
    let headers: Vec<(&str, &str)> = req.headers.clone();
    let result = if req.over_tls {
        https_request(req, https_port)
    } else {
        http_request(port, req.method, req.path, &headers, &req.body)
    };
    let r: Response = match result {
        Ok(r) => r,
        Err(e) => return format!("error: {e}"),
    };
    let ports = |text: &str| {
        text.replace(&https_port.to_string(), "HTTPS_PORT")
            .replace(&port.to_string(), "PORT")
            .replace(&backend_port.to_string(), "BACKEND_PORT")
    };
    let mut body = ports(&String::from_utf8_lossy(&r.body));
    if req.name.starts_with("status-page") {
        body = body.lines().next().unwrap_or_default().to_string();
    }
    let location = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| ports(v))
        .unwrap_or_default();
    let mut shown = String::new();
    for name in [
        "content-encoding",
        "www-authenticate",
        "strict-transport-security",
    ] {
        if let Some((_, v)) = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            shown.push_str(&format!(" {name}={:?}", ports(v)));
        }
    }
    format!(
        "{group}/{}: {} location={location:?}{shown} body={body}",
        req.name, r.status
    )
}

/// `req` over HTTPS with curl (certificate not verified; the Host header's
/// name is resolved to 127.0.0.1 so SNI carries it).
fn https_request(req: &Request, https_port: u16) -> std::io::Result<Response> {
    let host = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| *v)
        .unwrap_or("localhost");
    let out = Command::new("curl")
        .args([
            "-sk",
            "-D",
            "-",
            "-o",
            "-",
            "--max-time",
            "10",
            "-X",
            req.method,
        ])
        .arg("--resolve")
        .arg(format!("{host}:{https_port}:127.0.0.1"))
        .arg(format!("https://{host}:{https_port}{}", req.path))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("curl: no response: {text}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("curl: bad status line: {head}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

#[test]
fn option_groups_side_by_side() {
    common::ensure_python_reachable();
    let fixtures = Fixtures::create();
    let app = fixtures.scratch.path("app.wsgi");
    let mut differences = Vec::new();
    let backend = Backend::start(&fixtures);
    for group in groups(&fixtures, backend.port) {
        // The C package's root, run by the C module (its own LoadModule).
        let tls = |port: u16| -> Vec<String> {
            if group.https {
                vec![
                    "--https-port".into(),
                    port.to_string(),
                    "--ssl-certificate".into(),
                    fixtures.s("server"),
                ]
            } else {
                Vec::new()
            }
        };
        let c_port = free_port();
        let c_https = free_port();
        let c_root = scratch_path(&format!("c-{}", group.name));
        let c_options = [group.options.clone(), tls(c_https)].concat();
        if let Err(e) = setup_server(&app, &c_root, c_port, &c_options) {
            panic!("{}: C setup-server failed: {e}", group.name);
        }
        // Ours, run by our module.
        let o_port = free_port();
        let o_https = free_port();
        let o_root = scratch_path(&format!("ours-{}", group.name));
        let o_port_arg = o_port.to_string();
        let placement = strings(&["--port", &o_port_arg, "--host", "127.0.0.1"]);
        let args = our_setup_server_args(
            &app,
            &o_root,
            &[placement, group.options.clone(), tls(o_https)].concat(),
        );
        let out = run_express(&args, Path::new("/tmp"));
        assert!(
            out.status.success(),
            "{}: our setup-server failed:\n{}",
            group.name,
            text(&out)
        );
        assert!(
            std::fs::read_to_string(o_root.join("httpd.conf"))
                .unwrap()
                .contains(&module_path().display().to_string()),
            "our root loads our module"
        );
        let c_server = ExpressServer::start(&c_root, c_port)
            .unwrap_or_else(|e| panic!("{} (C): {e}", group.name));
        let o_server = ExpressServer::start(&o_root, o_port)
            .unwrap_or_else(|e| panic!("{} (ours): {e}", group.name));
        for req in &group.requests {
            let c_seen = seen(group.name, req, c_port, c_https, backend.port);
            let o_seen = seen(group.name, req, o_port, o_https, backend.port);
            if c_seen != o_seen {
                differences.push(format!("C:    {c_seen}\nours: {o_seen}"));
            } else {
                eprintln!("same: {c_seen}");
            }
        }
        if group.name == "rotate-logs" {
            // Both write the error log through rotatelogs: a dated file.
            for root in [&c_root, &o_root] {
                let dated = std::fs::read_dir(root)
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().starts_with("error_log."));
                assert!(
                    dated,
                    "{}: no error_log.<date> in {}",
                    group.name,
                    root.display()
                );
            }
        }
        if group.name == "service-script" {
            // Each server's own service daemon ran the script.
            for root in [&c_root, &o_root] {
                let pid = std::fs::read_to_string(root.join("httpd.pid")).unwrap_or_default();
                let mark = fixtures
                    .scratch
                    .path(&format!("marks/service-{}", pid.trim()));
                let seen =
                    common::procs::wait_until(std::time::Duration::from_secs(15), || mark.exists());
                assert!(
                    seen,
                    "{}: the service script of {} left no mark {}",
                    group.name,
                    root.display(),
                    mark.display()
                );
            }
        }
        drop(c_server);
        drop(o_server);
        remove_root(&c_root);
        remove_root(&o_root);
    }
    assert!(
        differences.is_empty(),
        "what requests saw differs between the C package's root (C module) and ours:\n{}",
        differences.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Debug mode
// ---------------------------------------------------------------------------

const BOOM_APP: &str = r#"def application(environ, start_response):
    if environ['PATH_INFO'] == '/boom':
        marker = 'local-variable-of-the-failing-frame'
        raise ValueError(marker)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'fine']
"#;

/// `--enable-debugger`: Apache runs as one process in the foreground, and
/// an exception out of the application stops in pdb on Apache's own
/// standard input and output, in the failing frame; after `c` the request
/// ends as a 500.
#[test]
fn enable_debugger_stops_in_pdb_post_mortem() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    common::ensure_python_reachable();
    let scratch = Scratch::new("debugger");
    let app = scratch.file("boom.wsgi", BOOM_APP);
    let root = scratch.path("root");
    let port = free_port();
    let args = our_setup_server_args(
        &app,
        &root,
        &strings(&["--port", &port.to_string(), "--enable-debugger"]),
    );
    let out = run_express(&args, &scratch.dir);
    assert!(out.status.success(), "setup-server failed:\n{}", text(&out));
    let conf = std::fs::read_to_string(root.join("apachectl")).unwrap();
    assert!(conf.contains("-DONE_PROCESS"), "apachectl:\n{conf}");

    let mut apache = Command::new("/bin/bash")
        .arg(root.join("apachectl"))
        .arg("foreground")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start apachectl foreground");
    let pid = apache.id() as i32;
    let mut stdout = apache.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let up = common::procs::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(up, "Apache did not listen on {port}");
        let fine = http_request(port, "GET", "/fine", &[], b"").expect("GET /fine");
        assert_eq!((fine.status, fine.body.as_slice()), (200, &b"fine"[..]));
        let request = std::thread::spawn(move || {
            common::http_request_within(port, "GET", "/boom", &[], b"", Duration::from_secs(30))
        });
        let mut seen = Vec::new();
        let wait_for = |seen: &mut Vec<u8>, what: &str| {
            let deadline = Instant::now() + Duration::from_secs(15);
            while !String::from_utf8_lossy(seen).contains(what) {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(chunk) => seen.extend(chunk),
                    Err(_) => panic!(
                        "no {what:?} from Apache's standard output; it said:\n{}",
                        String::from_utf8_lossy(seen)
                    ),
                }
            }
        };
        wait_for(&mut seen, "(Pdb)");
        let said = String::from_utf8_lossy(&seen).to_string();
        assert!(
            said.contains("raise ValueError(marker)"),
            "pdb output:\n{said}"
        );
        let mut stdin = apache.stdin.take().unwrap();
        stdin.write_all(b"p marker\nc\n").unwrap();
        stdin.flush().unwrap();
        wait_for(&mut seen, "'local-variable-of-the-failing-frame'");
        let answer = request.join().unwrap().expect("GET /boom");
        assert_eq!(answer.status, 500);
    }));
    // SAFETY: the process group of our own child.
    unsafe {
        libc::killpg(pid, libc::SIGTERM);
    }
    let stopped = common::procs::wait_until(Duration::from_secs(10), || {
        matches!(apache.try_wait(), Ok(Some(_)))
    });
    if !stopped {
        // SAFETY: as above.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    let _ = apache.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `--enable-profiler`: debug mode, and after the request (and when Apache
/// stops) the requests
/// cProfile data is in SERVER-ROOT/pstats, naming the application.
#[test]
fn enable_profiler_writes_pstats() {
    common::ensure_python_reachable();
    let scratch = Scratch::new("profiler");
    let app = scratch.file("boom.wsgi", BOOM_APP);
    let root = scratch_path("profiler-root");
    let port = free_port();
    let args = our_setup_server_args(
        &app,
        &root,
        &strings(&["--port", &port.to_string(), "--enable-profiler"]),
    );
    let out = run_express(&args, &scratch.dir);
    assert!(out.status.success(), "setup-server failed:\n{}", text(&out));
    // Stopped, and its root removed, at the end of the test.
    let _server = ExpressServer::start(&root, port).expect("start the profiled server");
    let fine = http_request(port, "GET", "/fine", &[], b"").expect("GET /fine");
    assert_eq!((fine.status, fine.body.as_slice()), (200, &b"fine"[..]));
    // Stop Apache (one process in debug mode) and give it time to finish.
    let pid: i32 = std::fs::read_to_string(root.join("httpd.pid"))
        .expect("httpd.pid")
        .trim()
        .parse()
        .expect("a pid in httpd.pid");
    // SAFETY: signalling the Apache this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let pstats = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(root.join("pstats"))
            .expect("SERVER-ROOT/pstats")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pstats"))
            .collect()
    };
    // The per-request dump already wrote the file; at exit the profiler
    // writes it again, so it is read only once Apache is gone.
    assert!(
        common::procs::wait_until(std::time::Duration::from_secs(30), || {
            !common::procs::pid_alive(pid)
        }),
        "Apache (pid {pid}) did not exit after SIGTERM"
    );
    let written = pstats();
    assert_eq!(written.len(), 1, "one pstats file: {written:?}");
    let functions = common::python_eval(
        &format!(
            "import pstats; print(sorted(k[2] for k in pstats.Stats({:?}).stats))",
            written[0].display().to_string()
        ),
        &[],
    );
    assert!(
        functions.contains("'application'"),
        "the profile names the application: {functions}"
    );
}

/// `--enable-gdb`: `apachectl foreground` (what start-server runs) hands
/// Apache to the debugger named by `--gdb-executable` with a command file
/// that runs it as one process in the foreground. A stand-in debugger
/// records how it was called.
#[test]
fn enable_gdb_runs_apache_under_the_debugger() {
    common::ensure_python_reachable();
    let scratch = Scratch::new("gdb");
    let app = scratch.file("boom.wsgi", BOOM_APP);
    let record = scratch.path("gdb-was-called");
    let fake_gdb = scratch.file(
        "fake-gdb",
        format!(
            "#!/bin/sh\n{{ echo \"args: $*\"; cat \"$2\"; }} > {}\n",
            record.display()
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake_gdb, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = scratch.path("root");
    let args = our_setup_server_args(
        &app,
        &root,
        &strings(&[
            "--enable-gdb",
            "--gdb-executable",
            &fake_gdb.display().to_string(),
        ]),
    );
    let out = run_express(&args, &scratch.dir);
    assert!(out.status.success(), "setup-server failed:\n{}", text(&out));
    let ran = Command::new("/bin/bash")
        .arg(root.join("apachectl"))
        .arg("foreground")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run apachectl foreground");
    assert!(
        ran.status.success(),
        "apachectl foreground under the stand-in debugger failed"
    );
    let called = std::fs::read_to_string(&record).expect("the stand-in debugger ran");
    let httpd = common::apache_bin();
    assert!(
        called.contains(&format!("args: -x {}/gdb.cmds {httpd}", root.display())),
        "debugger arguments:\n{called}"
    );
    assert!(
        called.contains(&format!(
            "run -f {}/httpd.conf -DONE_PROCESS -DFOREGROUND",
            root.display()
        )),
        "debugger commands:\n{called}"
    );
}

/// `--enable-recorder`: debug mode, and each request leaves KEY.iheaders
/// (the environ), .icontent (the body read), .oheaders (status and
/// headers), .ocontent (the body sent) and, for a failing call, a
/// traceback in .oaexcept, in SERVER-ROOT/archive.
#[test]
fn enable_recorder_saves_requests_and_responses() {
    common::ensure_python_reachable();
    let scratch = Scratch::new("recorder");
    let app = scratch.file("boom.wsgi", BOOM_APP);
    let root = scratch_path("recorder-root");
    let port = free_port();
    let args = our_setup_server_args(
        &app,
        &root,
        &strings(&["--port", &port.to_string(), "--enable-recorder"]),
    );
    let out = run_express(&args, &scratch.dir);
    assert!(out.status.success(), "setup-server failed:\n{}", text(&out));
    let _server = ExpressServer::start(&root, port).expect("start the recording server");
    let fine = http_request(port, "POST", "/fine", &[], b"sent=1").expect("POST /fine");
    assert_eq!((fine.status, fine.body.as_slice()), (200, &b"fine"[..]));
    let boom = http_request(port, "GET", "/boom", &[], b"").expect("GET /boom");
    assert_eq!(boom.status, 500);
    let archive = root.join("archive");
    let read = |suffix: &str| -> Vec<String> {
        let mut found: Vec<_> = std::fs::read_dir(&archive)
            .expect("SERVER-ROOT/archive")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        // Keys start with the time in microseconds: request order.
        found.sort();
        found
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    };
    common::procs::wait_until(std::time::Duration::from_secs(10), || {
        read(".ocontent").len() == 2 && read(".oaexcept").iter().any(|t| !t.is_empty())
    });
    assert_eq!(read(".icontent"), vec!["sent=1".to_string(), String::new()]);
    assert_eq!(read(".ocontent"), vec!["fine".to_string(), String::new()]);
    let headers = read(".oheaders");
    assert_eq!(
        headers.len(),
        1,
        "only the first request started a response"
    );
    assert!(headers[0].contains("'200 OK'"), "oheaders: {headers:?}");
    let environs = read(".iheaders");
    assert!(
        environs.len() == 2 && environs[1].contains("'PATH_INFO': '/boom'"),
        "iheaders: {environs:?}"
    );
    let failures = read(".oaexcept");
    assert!(
        failures[0].is_empty() && failures[1].contains("ValueError: local-variable"),
        "oaexcept: {failures:?}"
    );
}

/// Options the C package takes without listing them in `--help`: both
/// packages accept each one, and it does the same thing in the files they
/// write (`--ssl-port` is `--https-port`, `--lang` is `--locale`,
/// `--verbose-debugging` writes `WSGIVerboseDebugging On`; `--with-php5`
/// changes nothing in the C package's files here, and ours warns that it
/// ignores it).
#[test]
fn unlisted_c_options_do_what_they_do_in_the_c_package() {
    let s = Scratch::new("unlisted");
    let app = s.file("app.wsgi", "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n");
    let (cert, key) = (s.file("cert.pem", "x"), s.file("key.pem", "x"));
    let cases: &[(&str, &[&str], &str, &str)] = &[
        (
            "verbose",
            &["--verbose-debugging"],
            "httpd.conf",
            "WSGIVerboseDebugging",
        ),
        ("lang", &["--lang", "de_DE.UTF-8"], "*", "de_DE.UTF-8"),
        ("php", &["--with-php5"], "", ""),
        ("ssl", &["--ssl-port", "8556"], "httpd.conf", "8556"),
    ];
    for (tag, options, file, expected) in cases {
        let mut options: Vec<String> = strings(options);
        if *tag == "ssl" {
            for (name, path) in [
                ("--ssl-certificate-file", &cert),
                ("--ssl-certificate-key-file", &key),
            ] {
                options.push(name.into());
                options.push(path.display().to_string());
            }
        }
        let c_root = s.path(&format!("c-{tag}"));
        common::differential::setup_server(&app, &c_root, 8555, &options)
            .unwrap_or_else(|e| panic!("C setup-server {options:?}: {e}"));
        let ours_root = s.path(&format!("ours-{tag}"));
        let args = our_setup_server_args(
            &app,
            &ours_root,
            &[strings(&["--port", "8555"]), options.clone()].concat(),
        );
        let out = run_express(&args, &s.dir);
        assert!(out.status.success(), "ours {options:?}: {}", text(&out));
        if *tag == "php" {
            assert!(
                text(&out).contains("--with-php5 is not provided"),
                "{}",
                text(&out)
            );
            continue;
        }
        let generated = |root: &Path| -> String {
            ["httpd.conf", "envvars", "apachectl"]
                .iter()
                .filter(|f| *file == "*" || *f == file)
                .map(|f| std::fs::read_to_string(root.join(f)).unwrap_or_default())
                .collect()
        };
        for (side, root) in [("C", &c_root), ("ours", &ours_root)] {
            let written = generated(root);
            let found = written
                .lines()
                .filter(|l| l.contains(expected) && !l.trim_start().starts_with('#'))
                // The C package writes the directive either way.
                .filter(|l| *tag != "verbose" || l.contains("On"))
                .count();
            assert!(found > 0, "{side} {options:?}: no {expected:?} in {file}");
        }
    }
}

/// The options of the `WSGIDaemonProcess` line that Apache reads, as
/// name → value (quotes removed). For the C package's configuration that
/// is the block for its multiprocess define when `multiprocess`, else the
/// other one.
fn daemon_line(conf: &str, multiprocess: bool) -> std::collections::BTreeMap<String, String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    let mut wanted_define = true;
    for line in conf.lines() {
        let t = line.trim();
        if t.starts_with("<IfDefine") {
            wanted_define = match t {
                "<IfDefine MOD_WSGI_MULTIPROCESS>" => multiprocess,
                "<IfDefine !MOD_WSGI_MULTIPROCESS>" => !multiprocess,
                _ => wanted_define,
            };
        }
        if let Some(text) = current.as_mut() {
            text.push(' ');
            text.push_str(t.trim_end_matches('\\'));
            if !t.ends_with('\\') {
                blocks.push(current.take().unwrap());
            }
        } else if t.starts_with("WSGIDaemonProcess ") && wanted_define {
            if t.ends_with('\\') {
                current = Some(t.trim_end_matches('\\').to_string());
            } else {
                blocks.push(t.to_string());
            }
        }
    }
    let first = blocks.first().expect("a WSGIDaemonProcess line");
    first
        .split_whitespace()
        .skip(2)
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim_matches(|c| c == '\'' || c == '"').to_string(),
            )
        })
        .collect()
}

/// Directive by directive: the `WSGIDaemonProcess` line each package
/// writes for the same options. Every option of the C package's line is
/// in ours with the same value, except those listed as intended (with
/// why), and those ours leaves out because the C package writes the
/// module's default.
#[test]
fn daemon_process_lines_match_the_c_package() {
    // Intended: ours names the account on the line (the C package relies
    // on User/Group from its apachectl's environment); ours puts the
    // working directory on python-path where the C package leaves it to
    // home=; ours sets the locale for all of Apache in envvars; the C
    // package always makes a python-eggs directory, ours with the option.
    const INTENDED: &[&str] = &[
        "python-path",
        "user",
        "group",
        "lang",
        "locale",
        "python-eggs",
    ];
    // The module's defaults, which ours does not spell out.
    const DEFAULTS: &[(&str, &str)] = &[
        ("send-buffer-size", "0"),
        ("receive-buffer-size", "0"),
        ("header-buffer-size", "0"),
        ("response-buffer-size", "0"),
        ("response-socket-timeout", "0"),
        ("response-flush-delay", "5"),
        ("server-metrics", "Off"),
    ];
    let s = Scratch::new("daemon-lines");
    let app = s.file(
        "app.wsgi",
        "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    );
    let option_sets: &[&[&str]] = &[
        &[],
        &["--processes", "3", "--threads", "7"],
        &["--process-group", "pg", "--max-clients", "40"],
        &[
            "--request-timeout",
            "30",
            "--inactivity-timeout",
            "61",
            "--graceful-timeout",
            "21",
            "--shutdown-timeout",
            "9",
            "--startup-timeout",
            "12",
            "--deadlock-timeout",
            "41",
            "--restart-interval",
            "99",
            "--maximum-requests",
            "77",
            "--connect-timeout",
            "8",
            "--socket-timeout",
            "44",
            "--queue-timeout",
            "33",
            "--eviction-timeout",
            "17",
            "--interrupt-timeout",
            "6",
            "--cpu-time-limit",
            "100",
        ],
        &[
            "--header-buffer-size",
            "20000",
            "--response-buffer-size",
            "70000",
            "--send-buffer-size",
            "4096",
            "--receive-buffer-size",
            "8192",
            "--response-socket-timeout",
            "13",
            "--server-metrics",
            "--daemon-backlog",
            "77",
        ],
    ];
    let mut wrong = Vec::new();
    for (n, options) in option_sets.iter().enumerate() {
        let options = strings(options);
        let c_root = s.path(&format!("c-{n}"));
        setup_server(&app, &c_root, 8555, &options)
            .unwrap_or_else(|e| panic!("C setup-server {options:?}: {e}"));
        let ours_root = s.path(&format!("ours-{n}"));
        // Host and port as common::differential::setup_server gives the C
        // package.
        let placement = strings(&["--host", "127.0.0.1", "--port", "8555"]);
        let args = our_setup_server_args(&app, &ours_root, &[placement, options.clone()].concat());
        let out = run_express(&args, Path::new("/tmp"));
        assert!(out.status.success(), "ours {options:?}: {}", text(&out));
        let multiprocess = options.iter().any(|o| o == "--processes");
        let read = |root: &Path| std::fs::read_to_string(root.join("httpd.conf")).unwrap();
        let c = daemon_line(&read(&c_root), multiprocess);
        let ours = daemon_line(&read(&ours_root), multiprocess);
        for (name, c_value) in &c {
            if INTENDED.contains(&name.as_str()) {
                continue;
            }
            match ours.get(name) {
                Some(v) if v == c_value => {}
                None if DEFAULTS.contains(&(name.as_str(), c_value.as_str())) => {}
                other => wrong.push(format!(
                    "{options:?}: {name}: C {c_value:?}, ours {other:?}"
                )),
            }
        }
        for name in ours.keys() {
            // A C defect: its single-process daemon line leaves
            // --header-buffer-size out; ours passes it on.
            let c_drops = name == "header-buffer-size" && !multiprocess;
            if !c.contains_key(name) && !INTENDED.contains(&name.as_str()) && !c_drops {
                wrong.push(format!(
                    "{options:?}: {name}: only ours writes it ({:?})",
                    ours[name]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "WSGIDaemonProcess differs:\n{}",
        wrong.join("\n")
    );
}
