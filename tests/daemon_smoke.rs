//! Daemon mode first slice: routing to a `WSGIDaemonProcess` group, body
//! streaming through the daemon, restart after a crash, and no daemon left
//! behind when Apache stops. The fuller suite is `tests/daemon.rs`.

mod common;

use common::procs::pid_alive;
use common::{procs, Mpm, ServerBuilder};
use std::time::{Duration, Instant};

const APP: &str = include_str!("apps/daemon_smoke/info.wsgi");

#[test]
fn daemon_group_serves_restarts_and_stops() {
    let mut server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("info.wsgi", APP)
        .config(
            "WSGIDaemonProcess web processes=2 threads=3 display-name=%{GROUP}\n\
             WSGIScriptAlias /d {root}/info.wsgi process-group=web\n\
             WSGIScriptAlias /e {root}/info.wsgi",
        )
        .start();
    let r = server.get("/d");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), server.error_log());
    let daemon = r.json();
    assert_eq!(daemon.str_of("group"), "web");
    assert_eq!(daemon.get("multithread").as_bool(), Some(true));
    // The daemon is a child of the Apache parent, not an Apache child.
    assert_eq!(daemon.get("ppid").as_f64(), Some(server.pid() as f64));
    // mod_wsgi.maximum_processes / threads_per_process: the group's
    // processes= and threads=, or the MPM's limits (the harness's event
    // MPM: MaxRequestWorkers 8 / ThreadsPerChild 4) in embedded mode.
    assert_eq!(daemon.get("maximum_processes").as_f64(), Some(2.0));
    assert_eq!(daemon.get("threads_per_process").as_f64(), Some(3.0));
    let embedded = server.get("/e").json();
    assert_eq!(embedded.str_of("group"), "");
    assert_eq!(embedded.get("maximum_processes").as_f64(), Some(2.0));
    assert_eq!(embedded.get("threads_per_process").as_f64(), Some(4.0));
    assert_ne!(embedded.get("pid").as_f64(), daemon.get("pid").as_f64());
    let pid = daemon.get("pid").as_f64().unwrap() as i32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"(wsgi:web)"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );

    // The request body is streamed to the daemon on demand.
    let body = vec![b'x'; 3_000_000];
    let r = server.request("POST", "/d", &[], &body);
    assert_eq!(r.json().get("body_len").as_f64(), Some(3_000_000.0));

    // A daemon that dies is restarted; the request it had fails.
    let before = procs::children_named(server.pid(), "(wsgi:web)");
    assert_eq!(before.len(), 2, "{before:?}");
    let offset = server.log_len();
    let r = server.try_request("GET", "/d/crash", &[], b"");
    assert!(r.map_or(true, |r| r.status >= 500));
    assert!(
        server.wait_for_log_since(
            offset,
            "terminated by signal or with exit code 3",
            Duration::from_secs(5)
        ),
        "{}",
        server.error_log()
    );
    // Both slots are filled again (an idle worker of either process may
    // take the next connection, so count the processes, not the answers).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut pids: Vec<i32>;
    loop {
        pids = procs::children_named(server.pid(), "(wsgi:web)");
        if pids.len() == 2 && pids.iter().any(|p| !before.contains(p)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "daemons {pids:?}\n{}",
            server.error_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = server.get("/d");
    assert_eq!(r.status, 200, "{}", server.error_log());
    assert!(pids.contains(&(r.json().get("pid").as_f64().unwrap() as i32)));
    server.stop();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| pid_alive(p)) {
        assert!(
            Instant::now() < deadline,
            "daemon processes left behind: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `WSGIDispatchScript` whose `process_group()` picks the daemon group
/// per request: the choice is made in the Apache child, the request runs
/// in the daemon it names.
#[test]
fn dispatch_script_selects_the_daemon_group() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("info.wsgi", APP)
        .file(
            "dispatch.py",
            "def process_group(environ):\n\
             \x20   if environ.get('PATH_INFO', '').startswith('/to-daemon'):\n\
             \x20       return 'picked'\n\
             \x20   return None\n",
        )
        .config(
            "WSGIDaemonProcess picked threads=2\n\
             WSGIDispatchScript {root}/dispatch.py\n\
             WSGIScriptAlias /x {root}/info.wsgi",
        )
        .start();
    let daemon = server.json_ok("/x/to-daemon", &[]);
    assert_eq!(daemon.str_of("group"), "picked");
    let embedded = server.json_ok("/x/stay", &[]);
    assert_eq!(embedded.str_of("group"), "");
    assert_ne!(daemon.get("pid").as_f64(), embedded.get("pid").as_f64());
    assert_eq!(daemon.get("ppid").as_f64(), Some(server.pid() as f64));
}

/// A group defined inside a virtual host serves only hosts with that
/// `ServerName` (a second vhost of the same name may use it); another
/// host naming it gets a 500 and a log line saying it cannot be accessed.
#[test]
fn virtual_host_daemon_groups_stay_with_their_server_name() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("info.wsgi", APP)
        .config(
            "<VirtualHost *:{port}>\n\
             ServerName a.example\n\
             WSGIDaemonProcess owned threads=2\n\
             WSGIScriptAlias /x {root}/info.wsgi process-group=owned\n\
             </VirtualHost>\n\
             <VirtualHost *:{port}>\n\
             ServerName b.example\n\
             WSGIScriptAlias /x {root}/info.wsgi process-group=owned\n\
             </VirtualHost>",
        )
        .start();
    let own = server.request("GET", "/x", &[("Host", "a.example")], b"");
    assert_eq!(own.status, 200, "{}", server.error_log());
    assert_eq!(own.json().str_of("group"), "owned");
    let offset = server.log_len();
    let other = server.request("GET", "/x", &[("Host", "b.example")], b"");
    assert_eq!(other.status, 500, "{}", other.text());
    assert!(
        server.wait_for_log_since(
            offset,
            "Daemon process called 'owned' cannot be accessed by this WSGI application",
            Duration::from_secs(5)
        ),
        "{}",
        server.error_log()
    );
}

/// The processes of a group defined inside a virtual host write their own
/// log lines (those without a request) to that host's `ErrorLog`; a
/// server-level group's go to the main error log.
#[test]
fn virtual_host_daemon_groups_log_to_the_host_error_log() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("info.wsgi", APP)
        .config(
            "WSGIDaemonProcess shared threads=1\n\
             WSGIScriptAlias /shared {root}/info.wsgi process-group=shared\n\
             <VirtualHost *:{port}>\n\
             ServerName a.example\n\
             ErrorLog {root}/a_error_log\n\
             WSGIDaemonProcess owned threads=1\n\
             WSGIScriptAlias /x {root}/info.wsgi process-group=owned\n\
             </VirtualHost>",
        )
        .start();
    let own = server.request("GET", "/x", &[("Host", "a.example")], b"");
    assert_eq!(own.status, 200, "{}", server.error_log());
    let host_log =
        || std::fs::read_to_string(server.root().join("a_error_log")).unwrap_or_default();
    let serving = "Starting daemon process 'owned' with ";
    assert!(
        host_log().contains(serving),
        "the host's error log lacks '{serving}':\n{}\nmain log:\n{}",
        host_log(),
        server.error_log()
    );
    assert!(
        !server.error_log().contains(serving),
        "the owned group's line reached the main error log:\n{}",
        server.error_log()
    );
    server.json_ok("/shared", &[]);
    let serving = "Starting daemon process 'shared' with ";
    assert!(
        server.error_log().contains(serving),
        "{}",
        server.error_log()
    );
    assert!(!host_log().contains(serving), "{}", host_log());
}
