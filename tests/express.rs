//! `mod_wsgi-express` (python/mod_wsgi/express) against the real Apache:
//! `setup-server` writes a server root whose `apachectl` passes
//! `configtest` and starts a server showing each option's effect, and
//! `start-server` runs Apache in the foreground and takes it (with every
//! daemon process) down on SIGINT. Command-line mistakes and the
//! `module-location`/`module-config` commands need no Apache.
//!
//! The command runs as `MOD_WSGI_PYTHON -m mod_wsgi.express` with
//! `PYTHONPATH=<repo>/python` and `MOD_WSGI_SO` (see tests/common/mod.rs).
//! As root the servers run as www-data (`--user/--group www-data`), so the
//! scratch directories are world-readable.
//!
//! Run: `cargo test --release --test express`

mod common;

use common::express::{
    descendants, express_command, identity_args, is_root, run_express, strings, text, www_data_uid,
    Scratch, StartServer, START_ATTEMPTS, START_TIMEOUT, STOP_TIMEOUT,
};
use common::json::Json;
use common::procs;
use common::{free_port, http_request, module_path, python_exe, python_info};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INFO_APP: &str = include_str!("apps/express/info.wsgi");
const DISPATCH: &str = include_str!("apps/express/dispatch.py");
const MODULE_APP: &str = include_str!("apps/express/expressmod.py");

// ---------------------------------------------------------------------------
// A running server
// ---------------------------------------------------------------------------

struct Express {
    root: PathBuf,
    port: u16,
    https_port: u16,
    child: Option<Child>,
    output: PathBuf,
}

impl Express {
    /// `setup-server` with `args` ("{port}" and "{https_port}" replaced),
    /// then `apachectl foreground`; retried on a port clash.
    fn setup_and_start(scratch: &Scratch, args: &[String], env: &[(&str, &str)]) -> Express {
        common::ensure_python_reachable();
        let root = scratch.path("server-root");
        let mut last = String::new();
        for attempt in 0..START_ATTEMPTS {
            let port = free_port();
            let mut https_port = free_port();
            while https_port == port {
                https_port = free_port();
            }
            let out = run_express(&setup_args(&root, port, https_port, args), &scratch.dir);
            assert!(out.status.success(), "setup-server failed:\n{}", text(&out));
            let output = scratch.path(&format!("apachectl-{attempt}.out"));
            let log = fs::File::create(&output).unwrap();
            let mut cmd = Command::new(root.join("apachectl"));
            cmd.arg("foreground")
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("LANG", "C.UTF-8")
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .process_group(0);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let child = cmd.spawn().expect("spawn apachectl foreground");
            let mut server = Express {
                root: root.clone(),
                port,
                https_port,
                child: Some(child),
                output,
            };
            match server.wait_until_up() {
                Ok(()) => return server,
                Err(msg) => {
                    server.stop();
                    let busy = msg.contains("Address already in use");
                    last = msg;
                    if !busy {
                        break;
                    }
                }
            }
        }
        panic!("the express server did not start:\n{last}");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn wait_until_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("Apache exited ({status})\n{}", self.logs()));
            }
            let pid_ok = fs::read_to_string(self.root.join("httpd.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                == Some(self.pid());
            if pid_ok
                && std::net::TcpStream::connect_timeout(
                    &format!("127.0.0.1:{}", self.port).parse().unwrap(),
                    Duration::from_millis(200),
                )
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("Apache did not come up\n{}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn error_log(&self) -> String {
        fs::read(self.root.join("error_log"))
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default()
    }

    fn logs(&self) -> String {
        let out = fs::read(&self.output)
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default();
        format!(
            "--- apachectl output ---\n{out}\n--- error_log ---\n{}",
            self.error_log()
        )
    }

    fn conf(&self) -> String {
        fs::read_to_string(self.root.join("httpd.conf")).unwrap()
    }

    fn get(&self, path: &str) -> common::Response {
        http_request(self.port, "GET", path, &[], b"")
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.logs()))
    }

    fn json(&self, path: &str) -> Json {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}\n{}", r.text(), self.logs());
        r.json()
    }

    fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        procs::wait_until(timeout, || self.error_log().contains(needle))
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        if matches!(child.try_wait(), Ok(None)) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // SAFETY: the process group we created for the child.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Express {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- logs of failed test ---\n{}", self.logs());
        }
    }
}

fn setup_args(root: &Path, port: u16, https_port: u16, args: &[String]) -> Vec<String> {
    let mut all = strings(&["setup-server", "--host", "127.0.0.1"]);
    all.push("--server-root".into());
    all.push(root.display().to_string());
    all.push("--port".into());
    all.push(port.to_string());
    all.extend(identity_args());
    for a in args {
        all.push(
            a.replace("{port}", &port.to_string())
                .replace("{https_port}", &https_port.to_string()),
        );
    }
    all
}

fn configtest(root: &Path) -> (bool, String) {
    let out = Command::new(root.join("apachectl"))
        .arg("configtest")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .expect("apachectl configtest");
    (out.status.success(), text(&out))
}

fn num(j: &Json, key: &str) -> i64 {
    j.get(key)
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not a number in {j:?}"))
}

// ---------------------------------------------------------------------------
// Daemon mode (the default) and the options that shape it
// ---------------------------------------------------------------------------

/// Default daemon mode on the prefork MPM: process/thread counts, the group
/// name, the working directory and Python path, static files through
/// --url-alias, --setenv/--passenv, --include-file and --user/--group.
#[test]
fn daemon_mode_with_static_files_environment_and_include() {
    let s = Scratch::new("daemon");
    let app = s.file("app/info.wsgi", INFO_APP);
    let work = s.dir("work");
    s.file("lib/expresslib.py", "VALUE = 'from --python-path'\n");
    s.file("static/a.txt", "static file\n");
    s.file("static/robots.txt", "User-agent: *\n");
    s.file("extra.conf", "SetEnv INCLUDED yes\n");
    let mut args = vec![app.display().to_string()];
    args.extend(strings(&[
        "--processes",
        "2",
        "--threads",
        "3",
        "--server-mpm",
        "prefork",
        "--log-level",
        "info",
        "--setenv",
        "EXPRESS_FOO",
        "bar baz",
        "--passenv",
        "EXPRESS_PASSED",
    ]));
    for (opt, val) in [
        ("--working-directory", s.s("work")),
        ("--python-path", s.s("lib")),
        ("--include-file", s.s("extra.conf")),
    ] {
        args.push(opt.into());
        args.push(val);
    }
    args.extend(strings(&["--url-alias", "/static/"]));
    args.push(s.s("static"));
    args.extend(strings(&["--url-alias", "/robots.txt"]));
    args.push(s.s("static/robots.txt"));

    let server = Express::setup_and_start(&s, &args, &[("EXPRESS_PASSED", "from-env")]);
    for name in ["httpd.conf", "apachectl", "envvars"] {
        assert!(server.root.join(name).is_file(), "{name} missing");
    }
    let mode = fs::metadata(server.root.join("apachectl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o755, 0o755, "apachectl mode {mode:o}");
    let (ok, out) = configtest(&server.root);
    assert!(ok && out.contains("Syntax OK"), "{out}");
    let conf = server.conf();
    assert!(conf.contains("LoadModule mpm_prefork_module"), "{conf}");
    assert!(conf.contains("processes=2"), "{conf}");

    let group = format!("127.0.0.1:{}", server.port);
    let j = server.json("/info?import=expresslib");
    assert_eq!(j.str_of("process_group"), group);
    assert_eq!(j.str_of("application_group"), "");
    assert_eq!(j.get("multithread").as_bool(), Some(true));
    assert_eq!(j.get("multiprocess").as_bool(), Some(true));
    assert_eq!(j.str_of("cwd"), work.display().to_string());
    assert_eq!(j.str_of("imported"), "from --python-path");
    assert_eq!(j.get("env").str_of("EXPRESS_FOO"), "bar baz");
    assert_eq!(j.get("env").str_of("EXPRESS_PASSED"), "from-env");
    assert_eq!(j.get("env").str_of("INCLUDED"), "yes");
    assert_eq!(j.str_of("script_name"), "");
    assert_eq!(j.str_of("path_info"), "/info");
    if is_root() {
        assert_eq!(num(&j, "uid"), i64::from(www_data_uid()));
    }
    // The daemon is a child of the Apache parent, named as the C package
    // names it: the default group, and the uid of who ran the command.
    assert_eq!(num(&j, "ppid"), i64::from(server.pid()));
    let pid = num(&j, "pid") as i32;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    assert!(
        procs::cmdline(pid).starts_with(&format!("(wsgi:{group}:{uid})")),
        "{}",
        procs::cmdline(pid)
    );
    let daemons = procs::children_named(server.pid(), "(wsgi:");
    assert_eq!(daemons.len(), 2, "{daemons:?}");

    let r = server.get("/static/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "static file\n"));
    let r = server.get("/robots.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "User-agent: *\n"));
    assert_eq!(server.get("/static/missing.txt").status, 404);
}

/// --embedded-mode on the worker MPM, with --mount-point, --document-root,
/// --application-group and --callable-object.
#[test]
fn embedded_mode_with_mount_point_and_document_root() {
    let s = Scratch::new("embedded");
    let app = s.file("app/info.wsgi", INFO_APP);
    s.file("docs/page.html", "<p>static page</p>\n");
    s.file(
        "envvars.sh",
        "EXPRESS_PASSED=from-envvars-script\nexport EXPRESS_PASSED\n",
    );
    let mut args = vec![app.display().to_string()];
    args.push("--envvars-script".into());
    args.push(s.s("envvars.sh"));
    args.extend(strings(&[
        "--passenv",
        "EXPRESS_PASSED",
        "--locale",
        "C.UTF-8",
        "--embedded-mode",
        "--server-mpm",
        "worker",
        "--processes",
        "1",
        "--threads",
        "4",
        "--mount-point",
        "/app/",
        "--application-group",
        "embgroup",
        "--callable-object",
        "app",
        "--document-root",
    ]));
    args.push(s.s("docs"));
    let server = Express::setup_and_start(&s, &args, &[]);
    let conf = server.conf();
    assert!(!conf.contains("WSGIDaemonProcess"), "{conf}");
    assert!(conf.contains("LoadModule mpm_worker_module"), "{conf}");

    let j = server.json("/app/x/y");
    assert_eq!(j.str_of("process_group"), "");
    assert_eq!(j.str_of("application_group"), "embgroup");
    assert_eq!(j.str_of("script_name"), "/app");
    assert_eq!(j.str_of("path_info"), "/x/y");
    assert_eq!(j.get("multithread").as_bool(), Some(true));
    assert_eq!(j.get("env").str_of("EXPRESS_PASSED"), "from-envvars-script");
    assert_eq!(j.str_of("lc_all"), "C.UTF-8");
    // An Apache child, not a daemon process.
    assert_eq!(num(&j, "ppid"), i64::from(server.pid()));
    let pid = num(&j, "pid") as i32;
    assert!(!procs::cmdline(pid).starts_with("(wsgi:"));
    assert!(procs::children_named(server.pid(), "(wsgi:").is_empty());
    if is_root() {
        assert_eq!(num(&j, "uid"), i64::from(www_data_uid()));
    }
    let r = server.get("/page.html");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>static page</p>\n"));
    assert_eq!(server.get("/elsewhere").status, 404);
}

/// --application-type module with --callable-object, a --document-root at
/// the application's own URL space (files win, everything else goes to
/// the application) and --reload-on-changes.
#[test]
fn module_application_with_document_root_and_reload_on_changes() {
    let s = Scratch::new("module");
    s.file("work/expressmod.py", MODULE_APP);
    let helper = s.file("work/expresshelper.py", "VALUE = 'one'\n");
    s.file("docs/index.html", "<p>index</p>\n");
    let mut args = strings(&[
        "--application-type",
        "module",
        "expressmod",
        "--callable-object",
        "app",
        "--reload-on-changes",
        "--log-level",
        "info",
    ]);
    for (opt, val) in [
        ("--working-directory", s.s("work")),
        ("--document-root", s.s("docs")),
    ] {
        args.push(opt.into());
        args.push(val);
    }
    let server = Express::setup_and_start(&s, &args, &[]);
    assert!(server.root.join("handler.wsgi").is_file());

    let r = server.get("/index.html");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>index</p>\n"));
    let j = server.json("/some/path");
    assert_eq!(j.str_of("helper"), "one");
    assert_eq!(j.str_of("script_name"), "");
    assert_eq!(j.str_of("path_info"), "/some/path");
    assert_eq!(
        j.str_of("process_group"),
        format!("127.0.0.1:{}", server.port)
    );
    let first_pid = num(&j, "pid");

    // Change a module the application imported: the daemon restarts and
    // the next request sees the new code.
    fs::write(&helper, "VALUE = 'two'\n").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(2);
    fs::File::options()
        .write(true)
        .open(&helper)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let mut last = Json::Null;
    let reloaded = procs::wait_until(Duration::from_secs(20), || {
        match http_request(server.port, "GET", "/again", &[], b"") {
            Ok(r) if r.status == 200 => {
                last = r.json();
                last.str_of("helper") == "two"
            }
            _ => false,
        }
    });
    assert!(reloaded, "no reload: {last:?}\n{}", server.logs());
    assert_ne!(num(&last, "pid"), first_pid);
    assert!(
        server.error_log().contains("expresshelper.py changed"),
        "{}",
        server.logs()
    );
}

/// The daemon timeouts and limits end up on WSGIDaemonProcess, and two of
/// them visibly act: --maximum-requests and --request-timeout.
#[test]
fn daemon_timeouts_and_limits() {
    let s = Scratch::new("limits");
    let app = s.file("app/info.wsgi", INFO_APP);
    let mut args = vec![app.display().to_string()];
    args.extend(strings(&["--log-level", "info"]));
    let limits = [
        ("--threads", "1"),
        ("--request-timeout", "1"),
        ("--maximum-requests", "1"),
        ("--graceful-timeout", "0"),
        ("--queue-timeout", "7"),
        ("--socket-timeout", "8"),
        ("--connect-timeout", "9"),
        ("--inactivity-timeout", "300"),
        ("--startup-timeout", "11"),
        ("--shutdown-timeout", "1"),
        ("--eviction-timeout", "13"),
        ("--deadlock-timeout", "14"),
        ("--restart-interval", "600"),
        ("--interrupt-timeout", "0"),
        ("--daemon-backlog", "17"),
        ("--switch-interval", "0.003"),
        ("--max-clients", "30"),
    ];
    for (opt, val) in limits {
        args.push(opt.into());
        args.push(val.into());
    }
    let server = Express::setup_and_start(&s, &args, &[]);
    let conf = server.conf();
    let daemon_line: String = conf
        .split("WSGIDaemonProcess")
        .nth(1)
        .and_then(|rest| rest.split("WSGIProcessGroup").next())
        .unwrap_or_default()
        .to_string();
    for (opt, val) in limits {
        let name = match opt {
            "--daemon-backlog" => "listen-backlog",
            "--max-clients" => continue,
            other => &other[2..],
        };
        assert!(
            daemon_line.contains(&format!("{name}={val}")),
            "{name}={val} missing from:\n{daemon_line}"
        );
    }
    assert!(conf.contains("Timeout 8\n"), "{conf}");
    // 30 clients at 25 threads per Apache child: two children.
    assert!(conf.contains("MaxRequestWorkers 50\n"), "{conf}");

    // maximum-requests=1: each request gets a fresh daemon process.
    let a = num(&server.json("/info"), "pid");
    let b = num(&server.json("/info"), "pid");
    assert_ne!(a, b, "maximum-requests 1 did not restart the daemon");

    // request-timeout=1 with one thread: a 10 s request is cut short,
    // after the request timeout and the shutdown timeout (1 s each).
    let started = Instant::now();
    let r = http_request(server.port, "GET", "/sleep/10", &[], b"");
    assert!(
        r.as_ref().map_or(true, |r| r.status >= 500),
        "{:?}",
        r.map(|r| r.status)
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        server.wait_for_log(
            "Daemon process request time limit exceeded",
            Duration::from_secs(10)
        ),
        "{}",
        server.logs()
    );
}

/// The seed posts' recipe: --application-group %{ENV:APPLICATION_GROUP}
/// with an --include-file holding WSGIPerInterpreterGIL and a
/// WSGIDispatchScript that picks the sub-interpreter per request.
#[test]
fn application_group_from_a_dispatch_script_in_an_include_file() {
    let s = Scratch::new("dispatch");
    let app = s.file("app/info.wsgi", INFO_APP);
    let dispatch = s.file("dispatch.py", DISPATCH);
    s.file(
        "per-interp-gil.conf",
        format!(
            "WSGIPerInterpreterGIL On\nWSGIDispatchScript {}\n",
            dispatch.display()
        ),
    );
    let mut args = vec![app.display().to_string()];
    args.extend(strings(&[
        "--processes",
        "1",
        "--threads",
        "15",
        "--application-group",
        "%{ENV:APPLICATION_GROUP}",
        "--include-file",
    ]));
    args.push(s.s("per-interp-gil.conf"));
    let server = Express::setup_and_start(&s, &args, &[]);
    let conf = server.conf();
    assert!(
        conf.contains("WSGIApplicationGroup %{ENV:APPLICATION_GROUP}"),
        "{conf}"
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let j = server.json("/info");
        let group = j.str_of("application_group");
        assert!(group.starts_with("interp_"), "{j:?}");
        seen.insert(group);
        pids.insert(num(&j, "pid"));
    }
    assert!(seen.len() >= 2, "one interpreter only: {seen:?}");
    assert_eq!(pids.len(), 1, "one daemon process expected: {pids:?}");
}

/// --https-port with --ssl-certificate PREFIX (PREFIX.crt/PREFIX.key).
#[test]
fn https_port_with_certificate_prefix() {
    // Both come with the Debian set-up (scripts/deps.sh): a machine
    // without them fails here rather than passing without a check.
    for tool in ["openssl", "curl"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "this test needs `{tool}` on PATH (apt-get install {tool}; scripts/deps.sh installs it)"
        );
    }
    let s = Scratch::new("https");
    let app = s.file("app/info.wsgi", INFO_APP);
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(s.path("cert.key"))
        .arg("-out")
        .arg(s.path("cert.crt"))
        .stdin(Stdio::null())
        .output()
        .expect("openssl req");
    assert!(made.status.success(), "{}", text(&made));
    let mut args = vec![app.display().to_string()];
    args.extend(strings(&[
        "--process-group",
        "secure",
        "--https-port",
        "{https_port}",
        "--ssl-certificate",
    ]));
    args.push(s.s("cert"));
    let server = Express::setup_and_start(&s, &args, &[]);
    assert!(server.conf().contains("SSLEngine On"));
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .arg(format!("https://127.0.0.1:{}/info", server.https_port))
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}\n{}", text(&out), server.logs());
    let j = common::json::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(j.str_of("url_scheme"), "https");
    assert_eq!(j.str_of("process_group"), "secure");
    let pid = num(&j, "pid") as i32;
    assert!(procs::cmdline(pid).starts_with("(wsgi:secure)"));
    // Plain HTTP keeps working on --port.
    assert_eq!(server.json("/info").str_of("url_scheme"), "http");
}

/// --application-type static: a directory served with no WSGI
/// application, with --directory-index and the logs in --log-directory
/// under their own names.
#[test]
fn static_application_type_with_directory_index_and_log_directory() {
    let s = Scratch::new("static");
    let site = s.dir("site");
    s.file("site/index.html", "<p>home</p>\n");
    s.file("site/sub/index.html", "<p>sub</p>\n");
    let logs = s.dir("logs");
    let mut args = vec![site.display().to_string(), "--log-directory".into()];
    args.push(logs.display().to_string());
    args.extend(strings(&[
        "--application-type",
        "static",
        "--directory-index",
        "index.html",
        "--access-log",
        "--access-log-name",
        "requests.log",
        "--error-log-name",
        "problems.log",
    ]));
    let server = Express::setup_and_start(&s, &args, &[]);
    assert!(!server.conf().contains("WSGIScriptAlias"));
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>home</p>\n"));
    let r = server.get("/sub/");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>sub</p>\n"));
    assert_eq!(server.get("/missing").status, 404);
    let access = logs.join("requests.log");
    assert!(
        procs::wait_until(Duration::from_secs(5), || fs::read_to_string(&access)
            .unwrap_or_default()
            .contains("\"GET /sub/ HTTP/1.1\" 200")),
        "{:?}",
        fs::read_to_string(&access)
    );
    let errors = fs::read_to_string(logs.join("problems.log")).unwrap_or_default();
    assert!(errors.contains("resuming normal operations"), "{errors}");
}

/// Telemetry, metrics and the other directive-only options produce a
/// configuration that Apache and the module accept, and take effect:
/// `server_metrics()` reads the scoreboard in the daemon, and the Python
/// metrics accessors stand down for the telemetry reporter.
#[test]
fn telemetry_and_metrics_options_pass_configtest() {
    let s = Scratch::new("telemetry");
    let app = s.file("app/info.wsgi", INFO_APP);
    let root = s.path("server-root");
    let mut args = vec![app.display().to_string()];
    args.extend(strings(&[
        "--telemetry-service",
        "unix:/tmp/mod_wsgi-express-test-telemetry.sock",
        "--telemetry-interval",
        "2",
        "--telemetry-options",
        "+CaptureUserAgent",
        "--slow-requests",
        "3",
        "--server-metrics",
        "--access-log",
        "--access-log-format",
        "combined",
        "--metrics-url",
        "/server-metrics",
    ]));
    let out = run_express(&setup_args(&root, free_port(), 0, &args), &s.dir);
    assert!(out.status.success(), "{}", text(&out));
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    for line in [
        "WSGITelemetryService unix:/tmp/mod_wsgi-express-test-telemetry.sock interval=2",
        "WSGITelemetryOptions +CaptureUserAgent",
        "WSGISlowRequests 3",
        "WSGIServerMetrics On",
        "server-metrics=On",
        "combined\n",
        "<Location \"/server-metrics\">\n    SetHandler wsgi-metrics\n    Require local\n</Location>",
    ] {
        assert!(conf.contains(line), "{line:?} missing:\n{conf}");
    }
    let (ok, out) = configtest(&root);
    assert!(ok, "{out}");

    let server = Express::setup_and_start(&s, &args, &[]);
    let j = server.json("/metrics");
    assert!(num(&j, "server_limit") >= 1, "{j:?}\n{}", server.logs());
    assert_eq!(
        j.get("request_metrics_withheld").as_bool(),
        Some(true),
        "{j:?}"
    );
    // --metrics-url: the daemon group's request above is on the page. Its
    // accounting lands just after the response, so the page is read until
    // it shows (or 10 s pass).
    let ok_line_of = |page: &common::Response| {
        page.text()
            .lines()
            .find(|l| {
                l.starts_with("mod_wsgi_requests_total{")
                    && l.contains("mode=\"daemon\",status=\"2xx\"")
            })
            .map(str::to_string)
    };
    let mut page = server.get("/server-metrics");
    procs::wait_until(Duration::from_secs(10), || {
        page = server.get("/server-metrics");
        page.status != 200 || ok_line_of(&page).is_some()
    });
    assert_eq!(page.status, 200, "{}", server.logs());
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        page.headers
    );
    let ok_line = ok_line_of(&page);
    assert_eq!(
        ok_line.as_deref().and_then(|l| l.rsplit(' ').next()),
        Some("1"),
        "{}",
        page.text()
    );
}

#[test]
fn metrics_url_refuses_a_relative_path_and_allows_the_given_networks() {
    let s = Scratch::new("metrics-url");
    let app = s.file("app/info.wsgi", INFO_APP);
    let root = s.path("server-root");
    let args = strings(&[&app.display().to_string(), "--metrics-url", "metrics"]);
    let out = run_express(&setup_args(&root, free_port(), 0, &args), &s.dir);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--metrics-url metrics: must start with /"),
        "{}",
        text(&out)
    );
    let args = strings(&[
        &app.display().to_string(),
        "--metrics-url",
        "/m",
        "--metrics-allow-from",
        "10.0.0.0/8",
        "--metrics-allow-from",
        "192.0.2.7",
    ]);
    let out = run_express(&setup_args(&root, free_port(), 0, &args), &s.dir);
    assert!(out.status.success(), "{}", text(&out));
    let conf = fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(
        conf.contains("    Require ip 10.0.0.0/8 192.0.2.7\n"),
        "{conf}"
    );
    let (ok, out) = configtest(&root);
    assert!(ok, "{out}");
}

// ---------------------------------------------------------------------------
// start-server
// ---------------------------------------------------------------------------

/// start-server stays in the foreground as Apache (same pid), prints the
/// summary, sends the logs to the terminal, serves a module application
/// from the package itself, and SIGINT to Apache takes down Apache and
/// every daemon process.
#[test]
fn start_server_runs_in_the_foreground_and_stops_on_sigint() {
    start_server_then_interrupt(false);
}

/// Ctrl-C in a terminal: SIGINT reaches the whole process group (Apache,
/// its children and the daemon processes) at once.
#[test]
fn start_server_stops_on_sigint_to_the_process_group() {
    start_server_then_interrupt(true);
}

fn start_server_then_interrupt(whole_group: bool) {
    let s = Scratch::new("start");
    let args = strings(&[
        "--application-type",
        "module",
        "mod_wsgi.diagnostics.hello",
        "--log-to-terminal",
        "--access-log",
        "--log-level",
        "info",
        "--processes",
        "2",
    ]);
    let mut server = StartServer::start(Path::new(&python_exe()), &s, &args, &s.dir, "/");
    let (pid, port, root) = (server.pid(), server.port(), server.root().to_path_buf());

    let r = server.get("/");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), server.output());
    assert_eq!(r.text(), "Hello World!\n");
    let tree = descendants(pid);
    let daemons: Vec<i32> = tree
        .iter()
        .copied()
        .filter(|&p| procs::cmdline(p).starts_with("(wsgi:"))
        .collect();
    assert_eq!(daemons.len(), 2, "{tree:?}\n{}", server.output());

    let printed = server.output();
    for needle in [
        format!("http://127.0.0.1:{port}/"),
        root.join("httpd.conf").display().to_string(),
        "daemon (process group 127.0.0.1:".to_string(),
        "10 (2 processes x 5 threads)".to_string(),
        "resuming normal operations".to_string(),
    ] {
        assert!(printed.contains(&needle), "{needle:?} not in:\n{printed}");
    }
    // The access log goes to standard output.
    assert!(
        procs::wait_until(Duration::from_secs(5), || server
            .output()
            .contains("\"GET / HTTP/1.1\" 200")),
        "{}",
        server.output()
    );

    if let Err(e) = server.interrupt(whole_group) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------
// Without Apache
// ---------------------------------------------------------------------------

fn express_error(args: &[&str], cwd: &Path) -> String {
    let out = run_express(&strings(args), cwd);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} should fail with status 2:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn command_line_mistakes_are_reported_by_name() {
    let s = Scratch::new("errors");
    s.file("app.wsgi", INFO_APP);
    let root = s.s("server-root");
    let base = ["setup-server", "app.wsgi", "--server-root", root.as_str()];
    let with = |extra: &[&str], identity: bool| {
        let mut v: Vec<&str> = base.to_vec();
        if identity && is_root() {
            v.extend(["--user", "www-data", "--group", "www-data"]);
        }
        v.extend(extra);
        v.iter().map(|x| x.to_string()).collect::<Vec<String>>()
    };
    let check = |extra: &[&str], identity: bool, needle: &str| {
        let args = with(extra, identity);
        let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        let err = express_error(&refs, &s.dir);
        assert!(err.contains(needle), "{extra:?}: {needle:?} not in {err}");
    };
    check(&["--no-such-option"], true, "--no-such-option");
    check(&["--port"], true, "--port");
    check(&["--port", "70000"], true, "--port");
    check(&["--threads", "many"], true, "--threads");
    check(
        &["--application-type", "rocket"],
        true,
        "--application-type",
    );
    check(&["--url-alias", "/only-one"], true, "--url-alias");
    check(
        &["--embedded-mode", "--reload-on-changes"],
        true,
        "--embedded-mode",
    );
    // The base Python has no mod-wsgi-telemetry (express_frameworks.rs
    // runs --enable-telemetry with it installed).
    check(&["--enable-telemetry"], true, "mod-wsgi-telemetry");
    check(
        &[
            "--enable-telemetry",
            "--telemetry-service",
            "unix:/tmp/t.sock",
        ],
        true,
        "--telemetry-service",
    );
    check(&["--telemetry-ui-port", "9000"], true, "--enable-telemetry");
    check(&["--slow-requests", "2"], true, "--telemetry-service");
    check(&["--telemetry-service", "udp:1.2.3.4:9"], true, "unix:");
    check(
        &["--include-file", "/nonexistent.conf"],
        true,
        "--include-file",
    );
    check(&["--https-port", "8443"], true, "--ssl-certificate");
    let missing = express_error(
        &[
            "setup-server",
            "missing.wsgi",
            "--server-root",
            &root,
            "--user",
            "www-data",
            "--group",
            "www-data",
        ],
        &s.dir,
    );
    assert!(missing.contains("missing.wsgi"), "{missing}");
    if is_root() {
        check(&[], false, "--user and --group are required");
    }
    let free_threaded = common::python_eval(
        "import sysconfig; print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))",
        &[],
    ) == "True";
    if !free_threaded {
        check(&["--free-threading"], true, "free-threaded Python");
    }
    assert!(!Path::new(&root).join("httpd.conf").exists());
}

#[test]
fn module_location_and_module_config() {
    let s = Scratch::new("location");
    let so = module_path().display().to_string();
    let out = run_express(&strings(&["module-location"]), &s.dir);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), so);

    let out = run_express(&strings(&["module-config"]), &s.dir);
    assert!(out.status.success(), "{}", text(&out));
    let expected = format!(
        "LoadModule wsgi_module \"{so}\"\nWSGIPythonHome \"{}\"",
        python_info().prefix
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);

    // Without MOD_WSGI_SO: the mod_wsgi*.so file in the package's server/
    // directory, or a clear error when there is none.
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("python/mod_wsgi"),
        &s.path("pkg/mod_wsgi"),
    )
    .unwrap();
    let located = |s: &Scratch| {
        let mut cmd = express_command(&strings(&["module-location"]), &s.dir);
        cmd.env("PYTHONPATH", s.path("pkg"))
            .env_remove("MOD_WSGI_SO");
        cmd.output().unwrap()
    };
    let out = located(&s);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));
    let fake = s.file("pkg/mod_wsgi/server/mod_wsgi-py3.so", "");
    let out = located(&s);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        fake.display().to_string()
    );
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if !name.to_string_lossy().ends_with(".so") {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
