//! Daemon mode, part two: the `WSGIDaemonProcess` options and the
//! daemon-related directives that tests/daemon.rs leaves out, checked
//! against a real Apache (started as root, `User www-data`):
//!
//! * resource options: cpu-time-limit=, memory-limit=,
//!   virtual-memory-limit=, cpu-priority=, python-eggs=;
//! * script-user= / script-group=;
//! * what the Apache child does with the response: WSGIErrorOverride,
//!   header-buffer-size=, response-flush-delay=;
//! * WSGIIgnoreActivity with inactivity-timeout=;
//! * WSGISocketRotation On and Off across a graceful restart;
//! * eviction-timeout= (SIGUSR1 to a daemon process), graceful-timeout=
//!   with maximum-requests=, startup-timeout=, deadlock-timeout=;
//! * the `mod_wsgi.request_start` / `queue_start` / `daemon_start` environ
//!   times;
//! * WSGIAcceptMutex with every method, and a restart of a process whose
//!   worker waits for the lock.
//!
//! The apps are tests/apps/daemon_options/options.wsgi (endpoints listed
//! at its top) and boot.wsgi (fails at import until a marker file exists).
//! The comment above each test names the part of the mod_wsgi 6 reference
//! (configuration-directives/*.rst) whose behaviour it checks. Where an
//! option's effect can only be seen against its absence, the same server
//! runs a second group without it (or with a different value) and the test
//! checks both, so that a module ignoring the option fails the test.
//!
//! Run: `cargo test --release --test daemon_options -- --test-threads=3`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

mod common;

use common::daemon_app::{
    diagnostics, expect_status, facts, get_ok, int, pid, ppid, raw_get, wait_for_log_line,
    wait_for_new_pid, POLL_LIMIT,
};
use common::json::Json;
use common::procs::{children_named, pid_alive, signal, wait_until};
use common::raw;
use common::{http_request, now_epoch, Mpm, Response, Server, ServerBuilder};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

const APP: &str = include_str!("apps/daemon_options/options.wsgi");
const BOOT_APP: &str = include_str!("apps/daemon_options/boot.wsgi");

const LOG_WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A server with options.wsgi at the root of the server root.
fn builder() -> ServerBuilder {
    ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("options.wsgi", APP)
}

fn float(j: &Json, key: &str) -> f64 {
    j.get(key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key:?} is not a number in {j:?}"))
}

/// Waits for the daemon's log line saying that process `pid` of `group`
/// stops for a reason (the C module's words, e.g. "Maximum requests
/// reached; ... of daemon process 'G'.", logged by that process).
fn expect_restart_line(server: &Server, offset: usize, pid: i32, group: &str, reason: &str) {
    let by_process = format!("[pid {pid}:");
    let of_group = format!("process '{group}'");
    assert!(
        wait_for_log_line(server, offset, LOG_WAIT, |l| l.contains(&by_process)
            && l.contains(reason)
            && l.contains(&of_group))
        .is_some(),
        "no log line from process {pid} of '{group}' with {reason:?}\n{}",
        diagnostics(server)
    );
}

/// A replacement for daemon process `old` of `path`'s group serves, as a
/// child of the Apache parent, and `old` is gone.
fn expect_replaced(server: &Server, path: &str, old: i32) -> Json {
    let (j, _) = wait_for_new_pid(server, path, &[old], Instant::now()).unwrap_or_else(|| {
        panic!(
            "{path}: no process other than {old} serves\n{}",
            diagnostics(server)
        )
    });
    assert_eq!(ppid(&j), server.pid() as i32, "{j:?}");
    assert!(
        wait_until(POLL_LIMIT, || !pid_alive(old)),
        "daemon process {old} still running after it was replaced"
    );
    j
}

/// Status of a request's answer, None for a transport error.
fn status_of(r: &io::Result<Response>) -> Option<u16> {
    r.as_ref().ok().map(|r| r.status)
}

fn user_ids(user: &str) -> (u32, u32) {
    let name = CString::new(user).unwrap();
    // SAFETY: getpwnam returns NULL or a pointer to static storage, read
    // at once.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        assert!(!pw.is_null(), "no user {user}");
        ((*pw).pw_uid, (*pw).pw_gid)
    }
}

fn chown(path: &Path, uid: u32, gid: u32) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
    assert_eq!(
        rc,
        0,
        "chown {}: {}",
        path.display(),
        io::Error::last_os_error()
    );
}

/// Names of the UNIX sockets in `dir`.
fn sockets_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .filter(|e| fs::symlink_metadata(e.path()).is_ok_and(|m| m.file_type().is_socket()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// Sends SIGUSR1 to the Apache parent and waits until the daemon group
/// behind `path` has been replaced (old pid gone, a new one serving) and
/// Apache says it resumed normal operations.
fn graceful_restart(server: &Server, path: &str, old: i32) -> Json {
    let off = server.log_len();
    signal(server.pid() as i32, libc::SIGUSR1);
    assert!(
        server.wait_for_log_since(off, "resuming normal operations", POLL_LIMIT),
        "Apache did not resume after SIGUSR1\n{}",
        diagnostics(server)
    );
    expect_replaced(server, path, old)
}

// ---------------------------------------------------------------------------
// 1. cpu-time-limit=
// ---------------------------------------------------------------------------

// Reference: WSGIDaemonProcess.rst cpu-time-limit= (a shutdown is
// triggered and the process restarted when it has used that much CPU
// time; graceful-timeout= lets the active request finish).
#[test]
fn cpu_time_limit_restarts_the_process() {
    let server = builder()
        .config(
            "WSGIDaemonProcess cpu threads=1 cpu-time-limit=1 graceful-timeout=10 \
             shutdown-timeout=15\n\
             WSGIScriptAlias /cpu {root}/options.wsgi process-group=cpu",
        )
        .start();
    let before = facts(&server, "/cpu/info");
    let pid1 = pid(&before);
    assert_eq!(before.str_of("process_group"), "cpu");
    assert_eq!(int(&before, "rlimit_cpu"), 1, "soft RLIMIT_CPU: {before:?}");

    // Spin to 2 s of CPU time: the limit is reached half-way; the request
    // is let finish (graceful-timeout=10), then the process restarts.
    let off = server.log_len();
    let spun = facts(&server, "/cpu/cpu?s=2");
    assert_eq!(pid(&spun), pid1, "the spinning request ran elsewhere");
    assert!(float(&spun, "cpu") >= 1.0, "spun too little: {spun:?}");
    expect_restart_line(&server, off, pid1, "cpu", "Exceeded CPU time limit");
    let after = expect_replaced(&server, "/cpu/info", pid1);
    assert_eq!(after.str_of("process_group"), "cpu");
    assert!(
        float(&after, "cpu") < 1.0,
        "the new process starts with a fresh CPU account: {after:?}"
    );
}

// Ours (docs/operations.md): memory-recycle= restarts a process whose
// resident memory stays above the limit, gracefully, so the requests
// arriving meanwhile are all served; maximum-requests-jitter= is accepted
// beside it (its draw is unit-tested in src/daemon/lifecycle.rs).
#[test]
fn memory_recycle_restarts_a_leaking_process_without_failing_requests() {
    const LIMIT: &str = "120M";
    let server = builder()
        .config(&format!(
            "WSGIDaemonProcess leak threads=4 memory-recycle={LIMIT} \
             maximum-requests=100000 maximum-requests-jitter=10 graceful-timeout=10\n\
             WSGIScriptAlias /leak {{root}}/options.wsgi process-group=leak"
        ))
        .start();
    let pid1 = pid(&facts(&server, "/leak/info"));
    let off = server.log_len();
    // Steady load from two clients for the whole recycle.
    let (answers, replaced_by) = under_load(&server, "/leak/info", 2, || {
        // 8 x 16 MB takes any Python process past 120 MB.
        for _ in 0..8 {
            assert_eq!(pid(&facts(&server, "/leak/leak?mb=16")), pid1);
        }
        wait_for_new_pid(&server, "/leak/info", &[pid1], Instant::now())
    });
    let statuses: Vec<Option<u16>> = answers.into_iter().map(|(status, _)| status).collect();
    let (after, _) = replaced_by.unwrap_or_else(|| {
        panic!(
            "the leaking process {pid1} was never replaced\n{}",
            diagnostics(&server)
        )
    });
    assert_eq!(ppid(&after), server.pid() as i32);
    expect_restart_line(
        &server,
        off,
        pid1,
        "leak",
        "Resident memory stayed above memory-recycle=125829120 bytes for 3 samples a second apart",
    );
    let failed: Vec<_> = statuses.iter().filter(|s| **s != Some(200)).collect();
    assert!(statuses.len() > 10, "too little load: {statuses:?}");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the recycle: {failed:?}\n{}",
        failed.len(),
        statuses.len(),
        diagnostics(&server)
    );
}

/// An answer: its status (None: transport error), and the pid that served
/// it with that process's parent.
type Answer = (Option<u16>, Option<(i32, i32)>);

/// Steady load from `clients` threads on `path` while `during` runs;
/// returns every answer.
fn under_load<R>(
    server: &Server,
    path: &str,
    clients: usize,
    during: impl FnOnce() -> R,
) -> (Vec<Answer>, R) {
    let answer = |r: io::Result<Response>| {
        let served_by = r.as_ref().ok().filter(|r| r.status == 200).and_then(|r| {
            let j = r.json();
            Some((
                j.get("pid").as_i64()? as i32,
                j.get("ppid").as_i64()? as i32,
            ))
        });
        (status_of(&r), served_by)
    };
    common::load::under_load(server.port(), path, clients, answer, during)
}

/// The position of the first log line holding every one of `parts`.
fn log_position(log: &str, parts: &[&str]) -> Option<usize> {
    log.lines()
        .position(|l| parts.iter().all(|p| l.contains(p)))
}

// Ours (docs/operations.md "Recycling"): with maximum-requests and the
// default graceful-timeout, the group's standby is set going before the
// old process stops accepting, and the old one stops only once the
// replacement says it is ready: under load no request fails, and the
// log shows the replacement ready before the old process shuts down.
#[test]
fn maximum_requests_starts_the_replacement_first_under_load() {
    let server = builder()
        .config(
            "WSGIDaemonProcess recycle processes=1 threads=4 maximum-requests=40\n\
             WSGIScriptAlias /recycle {root}/options.wsgi process-group=recycle",
        )
        .start();
    let pid1 = pid(&facts(&server, "/recycle/info"));
    let (seen, replaced) = under_load(&server, "/recycle/info", 3, || {
        wait_until(Duration::from_secs(20), || !pid_alive(pid1))
    });
    let log = server.error_log();
    assert!(
        replaced,
        "process {pid1} never recycled\n{}",
        diagnostics(&server)
    );
    let failed: Vec<_> = seen.iter().filter(|(s, _)| *s != Some(200)).collect();
    assert!(seen.len() > 40, "too little load: {} requests", seen.len());
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the recycle: {failed:?}\n{}",
        failed.len(),
        seen.len(),
        diagnostics(&server)
    );
    let old = format!("[pid {pid1}:");
    let started = log_position(&log, &[&old, "Starting replacement process (pid="])
        .unwrap_or_else(|| panic!("no replacement started by {pid1}\n{log}"));
    let standby: i32 = log
        .lines()
        .nth(started)
        .unwrap()
        .split("(pid=")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .and_then(|p| p.parse().ok())
        .expect("the standby's pid in the line");
    let ready = log_position(
        &log,
        &[
            &old,
            &format!("Replacement process (pid={standby})"),
            "is ready",
        ],
    )
    .unwrap_or_else(|| panic!("{pid1} never saw its replacement ready\n{log}"));
    // The C module's line comes when the process begins to stop (a drain)
    // or stops (immediate): either way after the replacement was set going
    // and before the old process shuts down.
    let reached =
        log_position(&log, &[&old, "Maximum requests reached"]).expect("the C module's line");
    let shutdown = log_position(
        &log,
        &[&old, "Shutdown requested for daemon process 'recycle'"],
    )
    .expect("the C module's shutdown line");
    let serving = log_position(
        &log,
        &[
            &format!("[pid {standby}:"),
            "Starting daemon process 'recycle'",
        ],
    )
    .unwrap_or_else(|| panic!("the standby {standby} never started\n{log}"));
    assert!(
        started < serving && serving < ready && ready < shutdown && reached < shutdown,
        "order: limit {reached}, replacement set going {started}, replacement starting {serving}, ready {ready}, old shuts down {shutdown}\n{log}"
    );
    // The replacement took over while the old one was still answering, as
    // a child of the Apache parent. Judged from the answers under load: the
    // standby may itself reach maximum-requests under that load and be
    // replaced before a request after it (as in one CI run).
    let standby_parents: BTreeSet<i32> = seen
        .iter()
        .filter_map(|(_, served)| *served)
        .filter(|(p, _)| *p == standby)
        .map(|(_, parent)| parent)
        .collect();
    assert!(
        !standby_parents.is_empty(),
        "the replacement {standby} never answered under load\n{log}"
    );
    assert_eq!(
        standby_parents,
        BTreeSet::from([server.pid() as i32]),
        "the replacement's parent"
    );
}

// ---------------------------------------------------------------------------
// 2-3, 12. memory-limit=, virtual-memory-limit=, cpu-priority=,
// python-eggs=, environ times
// ---------------------------------------------------------------------------

// Reference: WSGIDaemonProcess.rst memory-limit= (RLIMIT_DATA),
// virtual-memory-limit= (RLIMIT_AS), cpu-priority=, python-eggs= (same as
// setting PYTHON_EGG_CACHE); the mod_wsgi.request_start, queue_start and
// daemon_start environ keys (when Apache took the request, when the child
// handed it to the daemon, when a daemon thread picked it up).
#[test]
fn resource_limits_priority_eggs_and_environ_times() {
    const DATA: i64 = 2_147_483_648;
    const VIRTUAL: i64 = 4_294_967_296;
    let server = builder()
        .writable_dir("eggs")
        .config(&format!(
            "WSGIDaemonProcess limits threads=2 memory-limit={DATA} \
             virtual-memory-limit={VIRTUAL} cpu-priority=5 python-eggs={{root}}/eggs\n\
             WSGIDaemonProcess plain threads=2\n\
             WSGIScriptAlias /limits {{root}}/options.wsgi process-group=limits\n\
             WSGIScriptAlias /plain {{root}}/options.wsgi process-group=plain"
        ))
        .start();
    let root = server.root().display().to_string();

    let l = facts(&server, "/limits/info");
    assert_eq!(l.str_of("process_group"), "limits", "{l:?}");
    assert_eq!(int(&l, "rlimit_data"), DATA, "memory-limit=: {l:?}");
    assert_eq!(
        int(&l, "rlimit_as"),
        VIRTUAL,
        "virtual-memory-limit=: {l:?}"
    );
    assert_eq!(int(&l, "priority"), 5, "cpu-priority=5: {l:?}");
    assert_eq!(
        l.get("egg_cache").as_str(),
        Some(format!("{root}/eggs").as_str()),
        "python-eggs=: {l:?}"
    );

    let p = facts(&server, "/plain/info");
    assert_eq!(p.str_of("process_group"), "plain", "{p:?}");
    assert_ne!(int(&p, "rlimit_data"), DATA, "{p:?}");
    assert_ne!(int(&p, "rlimit_as"), VIRTUAL, "{p:?}");
    assert_ne!(int(&p, "priority"), 5, "{p:?}");
    assert!(p.get("egg_cache").is_null(), "{p:?}");

    // The environ times, in a daemon process: Apache took the request,
    // then the child handed it over, then a daemon thread picked it up, a
    // moment ago.
    for path in ["/limits/info", "/plain/sleep?s=0.2"] {
        let before = now_epoch();
        let j = facts(&server, path);
        let after = now_epoch();
        let (request, queue, daemon, now) = (
            float(&j, "request_start"),
            float(&j, "queue_start"),
            float(&j, "daemon_start"),
            float(&j, "now"),
        );
        for (what, t) in [
            ("request_start", request),
            ("queue_start", queue),
            ("daemon_start", daemon),
        ] {
            assert!(
                t >= before - 5.0 && t <= after + 0.01,
                "{path}: mod_wsgi.{what} = {t} not within 5 s before the request was sent \
                 ({before}..{after}): {j:?}"
            );
        }
        assert!(
            request <= queue && queue <= daemon && daemon <= now,
            "{path}: expected request_start <= queue_start <= daemon_start <= time.time(): \
             {j:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. script-user=, script-group=
// ---------------------------------------------------------------------------

// Reference: WSGIDaemonProcess.rst script-user= and script-group= (a WSGI
// script file not owned by that user or group gets HTTP Forbidden);
// error-reference.rst WSGI0155-0173 (the file and its directory: owner,
// group, writable by others; each answered Forbidden, logged by the Apache
// child with the names the C module gives).
#[test]
fn script_owner_requirements() {
    let mut b = builder().config(
        "WSGIDaemonProcess byuser threads=1 script-user=www-data\n\
         WSGIDaemonProcess bygroup threads=1 script-group=www-data\n\
         WSGIDaemonProcess free threads=1\n\
         WSGIScriptAlias /user-ok {root}/scripts/user_ok.wsgi process-group=byuser\n\
         WSGIScriptAlias /user-root {root}/scripts/root.wsgi process-group=byuser\n\
         WSGIScriptAlias /user-world {root}/scripts/world.wsgi process-group=byuser\n\
         WSGIScriptAlias /group-ok {root}/scripts/group_ok.wsgi process-group=bygroup\n\
         WSGIScriptAlias /group-root {root}/scripts/root.wsgi process-group=bygroup\n\
         WSGIScriptAlias /free-root {root}/scripts/root.wsgi process-group=free\n\
         WSGIScriptAlias /user-rootdir {root}/rootdir/mine.wsgi process-group=byuser",
    );
    for name in ["user_ok", "root", "world", "group_ok"] {
        b = b.file(&format!("scripts/{name}.wsgi"), APP);
    }
    b = b.file("rootdir/mine.wsgi", APP);
    let server = b.start();
    let scripts = server.root().join("scripts");
    let (www_uid, www_gid) = user_ids("www-data");
    // The directory is checked too, as the C module does (WSGI0171/0160).
    chown(&scripts, www_uid, www_gid);
    chown(&scripts.join("user_ok.wsgi"), www_uid, www_gid);
    chown(&scripts.join("world.wsgi"), www_uid, www_gid);
    fs::set_permissions(
        scripts.join("world.wsgi"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    chown(&scripts.join("group_ok.wsgi"), 0, www_gid);
    chown(&scripts.join("root.wsgi"), 0, 0);
    let rootdir = server.root().join("rootdir");
    chown(&rootdir, 0, 0);
    chown(&rootdir.join("mine.wsgi"), www_uid, www_gid);

    for (path, group) in [
        ("/user-ok/info", "byuser"),
        ("/group-ok/info", "bygroup"),
        ("/free-root/info", "free"),
    ] {
        let j = facts(&server, path);
        assert_eq!(j.str_of("process_group"), group, "{path}: {j:?}");
    }

    let scripts_dir = scripts.display().to_string();
    for (path, needle) in [
        (
            "/user-root/info",
            format!("[script {scripts_dir}/root.wsgi] WSGI0164: WSGI script file owner 'root' does not match user required for daemon process."),
        ),
        (
            "/group-root/info",
            format!("[script {scripts_dir}/root.wsgi] WSGI0155: WSGI script file group 'root' does not match group required for daemon process."),
        ),
        (
            "/user-world/info",
            format!("[script {scripts_dir}/world.wsgi] WSGI0166: WSGI script file is writable to group."),
        ),
        (
            "/user-rootdir/info",
            format!("[script {}/mine.wsgi] WSGI0171: Parent directory of WSGI script file has owner 'root' which does not match user required for daemon process.", rootdir.display()),
        ),
    ] {
        let off = server.log_len();
        let r = server.get(path);
        expect_status(&server, &r, path, 403);
        assert!(
            wait_for_log_line(&server, off, LOG_WAIT, |l| l.contains(&needle)).is_some(),
            "{path}: no log line containing {needle:?}\n{}",
            diagnostics(&server)
        );
    }
}

// ---------------------------------------------------------------------------
// 5, 13, 14. WSGIErrorOverride, header-buffer-size=, response-flush-delay=
// ---------------------------------------------------------------------------

// Reference: WSGIErrorOverride.rst (daemon mode: Apache's error documents
// replace the application's error responses), WSGIDaemonProcess.rst
// header-buffer-size= (largest response header, default 32768) and
// response-flush-delay= (milliseconds to wait for more response data
// before flushing to the client, default 5).
#[test]
fn error_override_header_buffer_and_flush_delay() {
    let server = builder()
        .file("htdocs/custom404.txt", "CUSTOM-404-DOCUMENT\n")
        .config(
            "WSGIDaemonProcess relay threads=2\n\
             WSGIDaemonProcess smallheaders threads=1 header-buffer-size=8192\n\
             WSGIDaemonProcess slowflush threads=1 response-flush-delay=3000\n\
             ErrorDocument 404 /custom404.txt\n\
             WSGIScriptAlias /override {root}/options.wsgi process-group=relay\n\
             WSGIScriptAlias /passthrough {root}/options.wsgi process-group=relay\n\
             WSGIScriptAlias /small {root}/options.wsgi process-group=smallheaders\n\
             WSGIScriptAlias /slow {root}/options.wsgi process-group=slowflush\n\
             <Location /override>\n  WSGIErrorOverride On\n</Location>\n\
             <Location /passthrough>\n  WSGIErrorOverride Off\n</Location>",
        )
        .start();

    // WSGIErrorOverride.
    let r = server.get("/override/notfound");
    expect_status(&server, &r, "404 with WSGIErrorOverride On", 404);
    assert_eq!(
        r.text(),
        "CUSTOM-404-DOCUMENT\n",
        "Apache's ErrorDocument expected instead of the application's body"
    );
    let r = server.get("/passthrough/notfound");
    expect_status(&server, &r, "404 with WSGIErrorOverride Off", 404);
    assert_eq!(r.text(), "APP-404-BODY", "the application's own 404 body");
    // Success responses are not touched.
    let j = facts(&server, "/override/info");
    assert_eq!(j.str_of("process_group"), "relay");

    // header-buffer-size=8192: a longer header fails the response.
    let r = get_ok(&server, "/small/bigheader?n=4000");
    assert_eq!(r.header("X-Long").map(str::len), Some(4000));
    let off = server.log_len();
    let r = server.get("/small/bigheader?n=9000");
    expect_status(
        &server,
        &r,
        "9000-byte header, header-buffer-size=8192",
        500,
    );
    let needle = "WSGI0144: Response header line too long from daemon process 'smallheaders'.";
    assert!(
        wait_for_log_line(&server, off, LOG_WAIT, |l| l.contains(needle)).is_some(),
        "no {needle:?} line\n{}",
        diagnostics(&server)
    );
    // The default (32768) lets a 20000-byte header through.
    let r = get_ok(&server, "/passthrough/bigheader?n=20000");
    let long = r.header("X-Long").unwrap_or_default();
    assert_eq!(long.len(), 20000, "X-Long length");
    assert!(long.bytes().all(|b| b == b'h'));

    // response-flush-delay: by default (5 ms) the first chunk reaches the
    // client before the app's 1 s pause is over.
    let t = raw_get(server.port(), "/passthrough/stream", Duration::from_secs(8));
    let (Some(first), Some(second)) = (t.time_of(b"FIRST-CHUNK"), t.time_of(b"SECOND-CHUNK"))
    else {
        panic!("chunks missing: {:?}\n{}", t.text(), diagnostics(&server));
    };
    assert!(
        first < Duration::from_millis(700) && second >= Duration::from_millis(1000),
        "default flush delay: first chunk at {first:?}, second at {second:?}"
    );
    assert!(
        second - first >= Duration::from_millis(700),
        "chunks arrived together ({first:?}, {second:?})"
    );
    // response-flush-delay=3000: the child waits up to 3 s for more data
    // before flushing, so the first chunk goes out with the second.
    let t = raw_get(server.port(), "/slow/stream", Duration::from_secs(10));
    let (Some(first), Some(second)) = (t.time_of(b"FIRST-CHUNK"), t.time_of(b"SECOND-CHUNK"))
    else {
        panic!("chunks missing: {:?}\n{}", t.text(), diagnostics(&server));
    };
    assert!(
        first >= Duration::from_millis(900),
        "response-flush-delay=3000: first chunk flushed at {first:?}, before the second \
         was produced (second at {second:?})"
    );
}

// ---------------------------------------------------------------------------
// 6. WSGIIgnoreActivity
// ---------------------------------------------------------------------------

// Reference: WSGIIgnoreActivity.rst (requests in its scope do not reset the
// inactivity-timeout countdown), WSGIDaemonProcess.rst inactivity-timeout=.
#[test]
fn ignore_activity_lets_inactivity_timeout_fire() {
    let server = builder()
        .config(
            "WSGIDaemonProcess idle threads=1 inactivity-timeout=2\n\
             WSGIScriptAlias /app {root}/options.wsgi process-group=idle\n\
             WSGIScriptAlias /health {root}/options.wsgi process-group=idle\n\
             <Location /health>\n  WSGIIgnoreActivity On\n</Location>",
        )
        .start();

    // Normal requests every 0.5 s keep the process for well over 2 s.
    let off = server.log_len();
    let pid1 = pid(&facts(&server, "/app/info"));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(4500) {
        // Not synchronisation: the pause between requests is what the
        // inactivity timer must see (each one resets it).
        std::thread::sleep(Duration::from_millis(500));
        let j = facts(&server, "/app/info");
        assert_eq!(
            pid(&j),
            pid1,
            "requests every 0.5 s, yet the process was replaced {:?} into them \
             (inactivity-timeout=2)\n{}",
            start.elapsed(),
            diagnostics(&server)
        );
    }
    assert!(
        !server
            .error_log_since(off)
            .contains("Daemon process idle inactivity timer expired"),
        "{}",
        diagnostics(&server)
    );

    // Only ignored requests from now on: the process goes about 2 s after
    // the last normal one.
    let off = server.log_len();
    let last_normal = Instant::now();
    let mut replaced = None;
    let mut answers = Vec::new();
    while last_normal.elapsed() < Duration::from_secs(8) {
        // Not synchronisation: ignored requests spaced out while the
        // inactivity timer runs down.
        std::thread::sleep(Duration::from_millis(500));
        match server.try_request("GET", "/health/info", &[], b"") {
            Ok(r) if r.status == 200 => {
                let p = pid(&r.json());
                answers.push((last_normal.elapsed(), format!("pid {p}")));
                if p != pid1 {
                    replaced = Some(last_normal.elapsed());
                    break;
                }
            }
            Ok(r) => answers.push((last_normal.elapsed(), format!("status {}", r.status))),
            Err(e) => answers.push((last_normal.elapsed(), format!("error {e}"))),
        }
    }
    let replaced = replaced.unwrap_or_else(|| {
        panic!(
            "only WSGIIgnoreActivity requests for 8 s, yet process {pid1} still serves: \
             (time, answer) {answers:?}\n{}",
            diagnostics(&server)
        )
    });
    assert!(
        replaced >= Duration::from_millis(1500) && replaced <= Duration::from_secs(6),
        "inactivity-timeout=2: replaced {replaced:?} after the last normal request: \
         {answers:?}"
    );
    expect_restart_line(
        &server,
        off,
        pid1,
        "idle",
        "Daemon process idle inactivity timer expired",
    );
}

// ---------------------------------------------------------------------------
// 7. WSGISocketRotation
// ---------------------------------------------------------------------------

/// Splits `wsgi.<pid>.<middle>.<n>.sock` into (pid, middle, n).
fn socket_name_parts(name: &str) -> Option<(u32, String, u32)> {
    let rest = name.strip_prefix("wsgi.")?.strip_suffix(".sock")?;
    let parts: Vec<&str> = rest.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    Some((
        parts[0].parse().ok()?,
        parts[1].to_string(),
        parts[2].parse().ok()?,
    ))
}

fn rotation_server(rotation: &str) -> Server {
    builder()
        .file("sockets/.keep", "")
        .config(&format!(
            "WSGISocketPrefix {{root}}/sockets/wsgi\n\
             {rotation}\n\
             WSGIDaemonProcess rot threads=1\n\
             WSGIScriptAlias /rot {{root}}/options.wsgi process-group=rot"
        ))
        .start()
}

/// The only daemon socket in the server's sockets/ directory.
fn only_socket(server: &Server) -> (String, (u32, String, u32)) {
    let names = sockets_in(&server.root().join("sockets"));
    assert_eq!(names.len(), 1, "one daemon group, sockets: {names:?}");
    let parts = socket_name_parts(&names[0])
        .unwrap_or_else(|| panic!("socket name {:?} is not wsgi.PID.X.N.sock", names[0]));
    assert_eq!(parts.0, server.pid(), "Apache's pid in {:?}", names[0]);
    (names[0].clone(), parts)
}

// Reference: WSGISocketRotation.rst (Off: `<prefix>.<pid>.u<uid>.<id>.sock`,
// the same path across graceful restarts).
#[test]
fn socket_rotation_off_keeps_the_path() {
    let server = rotation_server("WSGISocketRotation Off");
    let old = facts(&server, "/rot/info");
    let (name, (_, middle, _)) = only_socket(&server);
    let (uid, _) = user_ids("www-data");
    assert_eq!(middle, format!("u{uid}"), "socket {name:?}");

    let new = graceful_restart(&server, "/rot/info", pid(&old));
    assert_eq!(new.str_of("process_group"), "rot");
    let (after, _) = only_socket(&server);
    assert_eq!(
        after, name,
        "WSGISocketRotation Off: the path must not change"
    );
    for _ in 0..3 {
        assert_eq!(pid(&facts(&server, "/rot/info")), pid(&new));
    }
}

// Reference: WSGISocketRotation.rst (default On:
// `<prefix>.<pid>.<generation>.<id>.sock`, a new path per generation; the
// new processes listen on the new path).
#[test]
fn socket_rotation_on_renames_per_generation() {
    let server = rotation_server("");
    let old = facts(&server, "/rot/info");
    let (name, (_, generation, id)) = only_socket(&server);
    let generation: u32 = generation
        .parse()
        .unwrap_or_else(|_| panic!("no generation number in {name:?}"));

    let new = graceful_restart(&server, "/rot/info", pid(&old));
    assert_eq!(new.str_of("process_group"), "rot");
    let (after, (_, generation2, id2)) = only_socket(&server);
    let generation2: u32 = generation2
        .parse()
        .unwrap_or_else(|_| panic!("no generation number in {after:?}"));
    assert!(
        generation2 > generation,
        "generation in the socket name did not advance: {name:?} then {after:?}"
    );
    assert_eq!(id2, id, "{name:?} then {after:?}");
    assert!(
        !server.root().join("sockets").join(&name).exists(),
        "old socket {name:?} left behind"
    );
    for _ in 0..3 {
        assert_eq!(pid(&facts(&server, "/rot/info")), pid(&new));
    }
}

// ---------------------------------------------------------------------------
// 8-9. eviction-timeout=, graceful-timeout=
// ---------------------------------------------------------------------------

/// Sends `GET slow` (a `/sleep?s=N` of options.wsgi) in the background;
/// once the application logs that it has the request, runs `during`;
/// returns the slow request's outcome and `during`'s result.
fn while_in_flight<T: Send>(
    server: &Server,
    slow: &str,
    during: impl FnOnce() -> T + Send,
) -> (io::Result<Response>, T) {
    let port = server.port();
    let mark = format!("inflight-{}", unique());
    let started = format!("APP-START {mark}");
    let slow = format!("{slow}&mark={mark}");
    let off = server.log_len();
    std::thread::scope(|s| {
        let h = s.spawn(|| http_request(port, "GET", &slow, &[], b""));
        assert!(
            server.wait_for_log_since(off, &started, LOG_WAIT),
            "{slow} did not reach the application\n{}",
            diagnostics(server)
        );
        let t = during();
        (h.join().expect("request thread"), t)
    })
}

/// A number no other call in this test process returns.
fn unique() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

// Reference: WSGIDaemonProcess.rst eviction-timeout= (after the graceful
// restart signal, SIGUSR1, the process keeps accepting requests and waits
// up to that long to go idle; without it or graceful-timeout= it restarts
// at once, killed when shutdown-timeout= expires).
#[test]
fn eviction_timeout_on_sigusr1() {
    let server = builder()
        .config(
            "WSGIDaemonProcess evict threads=2 eviction-timeout=3 shutdown-timeout=1\n\
             WSGIDaemonProcess evictnow threads=2 shutdown-timeout=1 graceful-timeout=0\n\
             WSGIScriptAlias /evict {root}/options.wsgi process-group=evict\n\
             WSGIScriptAlias /evictnow {root}/options.wsgi process-group=evictnow",
        )
        .start();

    // eviction-timeout=3: a request sleeping 2 s (longer than
    // shutdown-timeout=1) finishes, a new one is still taken meanwhile.
    let pid1 = pid(&facts(&server, "/evict/info"));
    let off = server.log_len();
    let (slow, during) = while_in_flight(&server, "/evict/sleep?s=2", || {
        signal(pid1, libc::SIGUSR1);
        // The next request must arrive once the process is waiting to
        // go idle, i.e. after it has taken the signal.
        expect_restart_line(&server, off, pid1, "evict", "Process eviction requested");
        server.try_request("GET", "/evict/info", &[], b"")
    });
    let slow = slow.unwrap_or_else(|e| {
        panic!(
            "request in flight at SIGUSR1 failed: {e}\n{}",
            diagnostics(&server)
        )
    });
    expect_status(
        &server,
        &slow,
        "request in flight at SIGUSR1 (eviction-timeout=3)",
        200,
    );
    assert_eq!(pid(&slow.json()), pid1);
    let during = during.unwrap_or_else(|e| panic!("request during eviction: {e}"));
    expect_status(&server, &during, "request while waiting to go idle", 200);
    assert_eq!(
        pid(&during.json()),
        pid1,
        "the evicted process still accepts requests while it waits"
    );
    expect_restart_line(&server, off, pid1, "evict", "Process eviction requested");
    expect_replaced(&server, "/evict/info", pid1);

    // Without eviction-timeout, and graceful-timeout=0 (its default is 15 s): restarts at once, and
    // the same request dies with the process after shutdown-timeout=1.
    let pid2 = pid(&facts(&server, "/evictnow/info"));
    let off = server.log_len();
    let start = Instant::now();
    let (slow, ()) = while_in_flight(&server, "/evictnow/sleep?s=3", || {
        signal(pid2, libc::SIGUSR1)
    });
    assert_ne!(
        status_of(&slow),
        Some(200),
        "no eviction-timeout: the request should not outlive shutdown-timeout=1"
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    expect_restart_line(
        &server,
        off,
        pid2,
        "evictnow",
        "Graceful restart requested; triggering immediate shutdown",
    );
    expect_replaced(&server, "/evictnow/info", pid2);
}

// Reference: WSGIDaemonProcess.rst graceful-timeout= (when
// maximum-requests= is reached with requests still active, the process
// waits up to that long for them before restarting) and shutdown-timeout=.
#[test]
fn graceful_timeout_with_maximum_requests() {
    let server = builder()
        .config(
            "WSGIDaemonProcess grace threads=2 maximum-requests=2 graceful-timeout=5 \
             shutdown-timeout=1\n\
             WSGIDaemonProcess nograce threads=2 maximum-requests=2 shutdown-timeout=1 graceful-timeout=0\n\
             WSGIScriptAlias /grace {root}/options.wsgi process-group=grace\n\
             WSGIScriptAlias /nograce {root}/options.wsgi process-group=nograce",
        )
        .start();

    // Request 1 done; request 2 reaches the maximum while a 2.5 s request
    // (longer than shutdown-timeout=1) is in flight: it finishes.
    let pid1 = pid(&facts(&server, "/grace/info"));
    let off = server.log_len();
    let (slow, second) = while_in_flight(&server, "/grace/sleep?s=2.5", || {
        server.try_request("GET", "/grace/info", &[], b"")
    });
    let second = second.unwrap_or_else(|e| panic!("second request: {e}"));
    expect_status(&server, &second, "request reaching maximum-requests", 200);
    assert_eq!(pid(&second.json()), pid1);
    let slow = slow.unwrap_or_else(|e| {
        panic!(
            "request in flight when maximum-requests was reached: {e}\n{}",
            diagnostics(&server)
        )
    });
    expect_status(
        &server,
        &slow,
        "request in flight (graceful-timeout=5)",
        200,
    );
    assert_eq!(pid(&slow.json()), pid1);
    expect_restart_line(&server, off, pid1, "grace", "Maximum requests reached");
    expect_replaced(&server, "/grace/info", pid1);

    // With graceful-timeout=0 (the default is 15 s) the same in-flight request dies with the
    // process after shutdown-timeout=1.
    let pid2 = pid(&facts(&server, "/nograce/info"));
    let off = server.log_len();
    let (slow, second) = while_in_flight(&server, "/nograce/sleep?s=3", || {
        server.try_request("GET", "/nograce/info", &[], b"")
    });
    assert_eq!(status_of(&second), Some(200));
    assert_ne!(
        status_of(&slow),
        Some(200),
        "no graceful-timeout: the request should not outlive shutdown-timeout=1"
    );
    expect_restart_line(&server, off, pid2, "nograce", "Maximum requests reached");
    expect_replaced(&server, "/nograce/info", pid2);
}

// ---------------------------------------------------------------------------
// 10. startup-timeout=
// ---------------------------------------------------------------------------

// Reference: WSGIDaemonProcess.rst startup-timeout= (a process that has
// not loaded the WSGI script successfully within that many seconds of
// trying is restarted).
#[test]
fn startup_timeout_restarts_a_process_that_cannot_load() {
    let server = ServerBuilder::new()
        .mpm(Mpm::Event)
        .file("boot/boot.wsgi", BOOT_APP)
        .config(
            "WSGIDaemonProcess boot threads=1 startup-timeout=2\n\
             WSGIScriptAlias /boot {root}/boot/boot.wsgi process-group=boot",
        )
        .start();

    let off = server.log_len();
    let first_failure = Instant::now();
    let r = server.get("/boot");
    expect_status(&server, &r, "script failing at import", 500);
    let line = wait_for_log_line(&server, off, LOG_WAIT, |l| {
        l.contains("RuntimeError: boot.wsgi: marker file missing (pid ")
    })
    .unwrap_or_else(|| panic!("import error not logged\n{}", diagnostics(&server)));
    let pid1: i32 = line
        .split("RuntimeError: boot.wsgi: marker file missing (pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    // Requests keep failing in the meantime.
    let r = server.get("/boot");
    expect_status(&server, &r, "script still failing", 500);

    expect_restart_line(
        &server,
        off,
        pid1,
        "boot",
        "Application startup timer expired",
    );
    assert!(
        wait_until(POLL_LIMIT, || !pid_alive(pid1)),
        "process {pid1} still running after startup-timeout"
    );
    let took = first_failure.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took <= Duration::from_secs(9),
        "startup-timeout=2: process went {took:?} after the first failure"
    );

    fs::write(server.root().join("boot/ready.marker"), "").unwrap();
    let (j, _) = wait_for_new_pid(&server, "/boot", &[pid1], Instant::now())
        .unwrap_or_else(|| panic!("script does not load now\n{}", diagnostics(&server)));
    assert_eq!(ppid(&j), server.pid() as i32, "{j:?}");
}

// ---------------------------------------------------------------------------
// 11. deadlock-timeout=
// ---------------------------------------------------------------------------

// Reference: WSGIDaemonProcess.rst deadlock-timeout= (a process whose
// Python GIL stays held, e.g. by a C extension blocking without releasing
// it, is shut down and restarted) and shutdown-timeout=.
#[test]
fn deadlock_timeout_replaces_a_process_holding_the_gil() {
    let server = builder()
        .config(
            "WSGIDaemonProcess stuck threads=2 deadlock-timeout=3 shutdown-timeout=1\n\
             WSGIScriptAlias /stuck {root}/options.wsgi process-group=stuck",
        )
        .start();
    let pid1 = pid(&facts(&server, "/stuck/info"));
    let off = server.log_len();
    let t = raw_get(
        server.port(),
        "/stuck/holdgil?s=30",
        Duration::from_secs(20),
    );
    let ended = t.eof.or_else(|| t.time_of(b"\r\n\r\n")).unwrap_or_else(|| {
        panic!(
            "request holding the GIL still open after 20 s\n{}",
            diagnostics(&server)
        )
    });
    if let Some(head) = raw::parse_head(&t.data) {
        assert_ne!(head.status, 200, "{:?}", t.text());
    }
    assert!(
        ended >= Duration::from_millis(2500) && ended <= Duration::from_secs(10),
        "deadlock-timeout=3, shutdown-timeout=1: the request holding the GIL ended after \
         {ended:?}"
    );
    assert!(
        wait_until(Duration::from_secs(3), || !pid_alive(pid1)),
        "process {pid1} still running after its request ended"
    );
    expect_restart_line(
        &server,
        off,
        pid1,
        "stuck",
        "Daemon process deadlock timer expired",
    );
    // Ours: every thread's Python stack, the one holding the GIL included.
    let log = server.error_log_since(off);
    let dump = log
        .split("Python stacks of every thread of the main interpreter")
        .nth(1)
        .unwrap_or_else(|| panic!("no stack dump announced\n{log}"));
    assert!(
        dump.contains("most recent call first") && dump.contains("options.wsgi"),
        "the stacks do not show the application's frame\n{log}"
    );
    expect_replaced(&server, "/stuck/info", pid1);
}

// ---------------------------------------------------------------------------
// threads=0: service-script daemons (WSGIDaemonProcess.rst, `threads`;
// subscribing-to-events.rst, "Service-script daemons")
// ---------------------------------------------------------------------------

/// A `threads=0` daemon runs its WSGIImportScript on the main thread and
/// serves nothing; SIGTERM reaches the script as `SystemExit`, and a
/// script that ends is replaced by a new process.
#[test]
fn service_script_daemons_run_their_script_and_stop_on_sigterm() {
    let looping = "import os, sys, time\n\
                   sys.stderr.write('service up %d\\n' % os.getpid()); sys.stderr.flush()\n\
                   try:\n    while True:\n        time.sleep(0.05)\n\
                   except SystemExit:\n    sys.stderr.write('service stopping %d\\n' % os.getpid()); sys.stderr.flush()\n    raise\n";
    let once =
        "import os, sys\nsys.stderr.write('oneshot ran %d\\n' % os.getpid()); sys.stderr.flush()\n";
    let mut server = builder()
        .file("loop.py", looping)
        .file("once.py", once)
        .config(
            "WSGIDaemonProcess svc threads=0 display-name=%{GROUP}\n\
             WSGIDaemonProcess oneshot threads=0\n\
             WSGIImportScript {root}/loop.py process-group=svc application-group=%{GLOBAL}\n\
             WSGIImportScript {root}/once.py process-group=oneshot application-group=%{GLOBAL}\n\
             WSGIScriptAlias /svc {root}/options.wsgi process-group=svc application-group=%{GLOBAL}\n",
        )
        .start();
    let up = wait_for_log_line(&server, 0, LOG_WAIT, |l| l.contains("service up "))
        .expect("the service script runs");
    let svc_pid: i32 = up.rsplit(' ').next().unwrap().trim().parse().unwrap();
    assert!(pid_alive(svc_pid));
    assert!(common::procs::cmdline(svc_pid).starts_with("(wsgi:svc)"));
    // A script that returns ends its process; the parent starts another.
    let restarted = wait_until(LOG_WAIT, || {
        server.error_log().matches("oneshot ran ").count() >= 2
    });
    assert!(restarted, "{}", server.error_log());
    // The group runs no request threads: a request routed to it is refused.
    assert_eq!(server.get("/svc/pid").status, 500);
    assert!(server
        .error_log()
        .contains("runs service scripts (threads=0) and does not take requests"));
    let offset = server.error_log().len();
    signal(svc_pid, libc::SIGTERM);
    assert!(
        wait_for_log_line(&server, offset, LOG_WAIT, |l| l
            .contains(&format!("service stopping {svc_pid}")))
        .is_some(),
        "{}",
        server.error_log()
    );
    assert!(wait_until(LOG_WAIT, || !pid_alive(svc_pid)));
    server.stop();
    let log = server.error_log();
    assert!(!log.contains("Traceback"), "{log}");
    // SystemExit is how a service script is told to stop: no WSGI0108, as
    // with the C module.
    assert!(!log.contains("WSGI0108"), "{log}");
}

/// Apache stopping while a daemon process is being replaced must not leave
/// the replacement behind: a service script that returns is replaced about
/// once a second, so a stop nearly always finds a death to deal with.
#[test]
fn stopping_apache_while_a_daemon_is_replaced_leaves_no_process_behind() {
    let once =
        "import os, sys\nsys.stderr.write('oneshot ran %d\\n' % os.getpid()); sys.stderr.flush()\n";
    let mut server = builder()
        .file("once.py", once)
        .config(
            "WSGIDaemonProcess oneshot threads=0\n\
             WSGIImportScript {root}/once.py process-group=oneshot application-group=%{GLOBAL}\n",
        )
        .start();
    assert!(
        wait_until(LOG_WAIT, || server
            .error_log()
            .matches("oneshot ran ")
            .count()
            >= 2),
        "{}",
        server.error_log()
    );
    // Stop the parent alone, as `apachectl stop` does (the harness would
    // otherwise kill the whole process group), soon after a process ended
    // and before the parent's next check would have replaced it: as soon
    // as the process that ran the script last has exited.
    let last: i32 = server
        .error_log()
        .rsplit("oneshot ran ")
        .next()
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pid after 'oneshot ran'\n{}", server.error_log()));
    assert!(
        wait_until(LOG_WAIT, || !pid_alive(last)),
        "the oneshot process {last} did not exit\n{}",
        server.error_log()
    );
    let parent = server.pid() as i32;
    let stopped_at = server.log_len();
    signal(parent, libc::SIGTERM);
    assert!(
        wait_until(LOG_WAIT, || !pid_alive(parent)),
        "Apache did not stop"
    );
    // Not synchronisation: the window (longer than the one-second restart
    // hold-off) in which a daemon started after the stop would show up.
    std::thread::sleep(Duration::from_millis(2500));
    let left = common::procs::in_process_group(parent);
    let late = server.error_log_since(stopped_at);
    assert!(
        left.is_empty(),
        "processes outlived Apache: {left:?}\n{}",
        server.error_log()
    );
    assert!(
        !late.contains("Starting daemon process"),
        "a daemon process started after Apache was told to stop:\n{late}"
    );
    server.stop();
}

// ---------------------------------------------------------------------------
// 11. WSGIAcceptMutex
// ---------------------------------------------------------------------------

/// Pids holding a lock of `kind` (`POSIX` for fcntl, `FLOCK`) in /proc/locks.
fn lock_holders(kind: &str) -> Vec<i32> {
    fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&kind))
                .then(|| fields.get(4)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Owner uids of the System V semaphore sets (/proc/sysvipc/sem).
fn semaphore_owners() -> Vec<(i64, u32)> {
    fs::read_to_string("/proc/sysvipc/sem")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some((f.get(1)?.parse().ok()?, f.get(4)?.parse().ok()?))
        })
        .collect()
}

/// Four requests of one second each, sent together to a group of two
/// processes with two threads: the pids that answered.
fn concurrent_sleepers(server: &Server) -> Vec<i32> {
    let port = server.port();
    let started = Instant::now();
    let answers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(move || http_request(port, "GET", "/app/sleep?s=1", &[], b"")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let mut pids = Vec::new();
    for answer in &answers {
        match answer {
            Ok(r) if r.status == 200 => pids.push(pid(&r.json())),
            other => panic!(
                "a concurrent request failed: {:?}\n{}",
                status_of(other),
                diagnostics(server)
            ),
        }
    }
    assert!(
        elapsed < Duration::from_secs(3),
        "4 one-second requests on 2x2 threads took {elapsed:?}: accepts were serialised \
         beyond one at a time\n{}",
        diagnostics(server)
    );
    pids.sort();
    pids.dedup();
    pids
}

fn accept_mutex_server(method: &str) -> Server {
    builder()
        .config(&format!(
            "WSGIAcceptMutex {method}\n\
             WSGIDaemonProcess turns processes=2 threads=2 user=nobody group=nogroup \
             home={{root}} display-name=%{{GROUP}} shutdown-timeout=30\n\
             WSGIScriptAlias /app {{root}}/options.wsgi process-group=turns"
        ))
        .start()
}

// Reference: WSGIAcceptMutex.rst (the processes of a multi-process group
// serialise accept on the shared listener with the named Apache mutex
// method; the default is the mechanism Apache itself uses, which on Linux
// with one listener is no lock).
#[test]
fn accept_mutex_methods_serialise_accept_across_processes() {
    let (nobody, _) = user_ids("nobody");
    for method in [
        "fcntl", "flock", "sysvsem", "posixsem", "pthread", "Default",
    ] {
        let semaphores_before = semaphore_owners();
        let server = accept_mutex_server(method);
        let daemons = || children_named(server.pid(), "(wsgi:turns)");
        assert!(
            wait_until(LOG_WAIT, || daemons().len() == 2),
            "{method}: two daemon processes expected: {:?}\n{}",
            daemons(),
            diagnostics(&server)
        );
        let turn_lines = || {
            server
                .error_log()
                .matches(&format!("taking turns to accept under the {method} mutex"))
                .count()
        };
        if method == "Default" {
            assert_eq!(
                turn_lines(),
                0,
                "Default takes no lock\n{}",
                diagnostics(&server)
            );
        } else {
            assert!(
                wait_until(LOG_WAIT, || turn_lines() == 2),
                "{method}: each process should say it takes turns\n{}",
                diagnostics(&server)
            );
        }
        let pids = concurrent_sleepers(&server);
        assert_eq!(
            pids.len(),
            2,
            "{method}: both processes should serve: {pids:?}"
        );

        let group = daemons();
        match method {
            // One idle worker of the group holds the lock, waiting.
            "fcntl" | "flock" => {
                let kind = if method == "fcntl" { "POSIX" } else { "FLOCK" };
                assert!(
                    wait_until(LOG_WAIT, || lock_holders(kind)
                        .iter()
                        .filter(|p| group.contains(p))
                        .count()
                        == 1),
                    "{method}: exactly one daemon of {group:?} should hold the {kind} lock; \
                     holders {:?}",
                    lock_holders(kind)
                );
            }
            // The semaphore set belongs to the group's user, or its
            // processes could not use it.
            "sysvsem" => {
                let new: Vec<_> = semaphore_owners()
                    .into_iter()
                    .filter(|s| !semaphores_before.contains(s))
                    .collect();
                assert!(
                    new.iter().any(|&(_, uid)| uid == nobody),
                    "sysvsem: a semaphore set owned by nobody ({nobody}) expected: {new:?}"
                );
            }
            _ => {}
        }
    }
}

// Reference: WSGIAcceptMutex.rst with WSGIDaemonProcess.rst eviction-timeout=
// (SIGUSR1 restarts one process): a process whose worker waits for the
// lock another process holds still stops at once.
#[test]
fn accept_mutex_waiter_does_not_delay_a_restart() {
    let server = accept_mutex_server("fcntl");
    let daemons = || children_named(server.pid(), "(wsgi:turns)");
    assert!(
        wait_until(LOG_WAIT, || daemons().len() == 2),
        "{}",
        diagnostics(&server)
    );
    let mut holder = Vec::new();
    assert!(
        wait_until(LOG_WAIT, || {
            holder = lock_holders("POSIX")
                .into_iter()
                .filter(|p| daemons().contains(p))
                .collect();
            holder.len() == 1
        }),
        "one daemon should hold the lock\n{}",
        diagnostics(&server)
    );
    let waiter = *daemons().iter().find(|p| !holder.contains(p)).unwrap();
    let off = server.log_len();
    let sent = Instant::now();
    signal(waiter, libc::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(5), || !pid_alive(waiter)),
        "the process waiting for the accept mutex did not stop within 5 s \
         (shutdown-timeout=30)\n{}",
        diagnostics(&server)
    );
    let stopped = sent.elapsed();
    assert!(
        !server
            .error_log_since(off)
            .contains("Shutdown timeout expired; aborting"),
        "{}",
        diagnostics(&server)
    );
    assert!(stopped < Duration::from_secs(5), "{stopped:?}");
    // The group is whole again and both processes serve.
    assert!(
        wait_until(LOG_WAIT, || daemons().len() == 2),
        "{}",
        diagnostics(&server)
    );
    assert_eq!(concurrent_sleepers(&server).len(), 2);
}

/// `send-buffer-size=` and `receive-buffer-size=` size the group's listening
/// socket, as with the C module (checked against it): `ss -xlm` shows the
/// kernel's doubled figures on that listener, while a group without them
/// keeps the defaults.
#[test]
fn buffer_sizes_apply_to_the_listening_socket() {
    let server = builder()
        .config(
            "WSGISocketPrefix {root}/run/wsgi\n\
             WSGIDaemonProcess sized threads=1 send-buffer-size=65536 receive-buffer-size=98304\n\
             WSGIDaemonProcess plain threads=1\n\
             WSGIScriptAlias /sized {root}/options.wsgi process-group=sized\n\
             WSGIScriptAlias /plain {root}/options.wsgi process-group=plain",
        )
        .start();
    let listing = std::process::Command::new("ss")
        .arg("-xlm")
        .output()
        .expect("run ss -xlm");
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    let root = server.root().join("run").display().to_string();
    // One line per listener of this server: its path, then skmem:(...).
    let listeners: Vec<&str> = listing.lines().filter(|l| l.contains(&root)).collect();
    assert_eq!(listeners.len(), 2, "{listing}");
    let sized = listeners
        .iter()
        .filter(|l| l.contains("rb196608,t0,tb131072"))
        .count();
    assert_eq!(
        sized,
        1,
        "one listener sized as configured:\n{}",
        listeners.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Start-up failures of a daemon process
// ---------------------------------------------------------------------------

// Reference: error-reference.rst WSGI0009 and WSGI0025 (home= that cannot
// be entered: ALERT, the OS error first; the process exits after a 20
// second delay and is started again), WSGI0100 (a python-home= that does
// not exist: WARNING), WSGI0036 and WSGI0028 (Python cannot start: CRIT).
// Other groups serve regardless, and the server stops promptly.
#[test]
fn daemon_start_failures_are_logged_as_the_c_module_does() {
    let mut server = builder()
        .config(
            "WSGIDaemonProcess nohome threads=1 home=/nonexistent-home\n\
             WSGIDaemonProcess nopython threads=1 python-home=/nonexistent-python\n\
             WSGIDaemonProcess fine threads=1\n\
             WSGIScriptAlias /fine {root}/options.wsgi process-group=fine",
        )
        .start();
    get_ok(&server, "/fine/info");
    for (level, needle) in [
        ("alert", "(2)No such file or directory: WSGI0009: Unable to change working directory to '/nonexistent-home'. Daemon process will exit."),
        ("alert", "WSGI0025: Daemon process configuration failed; process left in unspecified state. Daemon process will exit and be restarted after a delay."),
        ("info", "Python home set to '/nonexistent-python' for daemon process 'nopython'."),
        ("warn", "(2)No such file or directory: WSGI0100: Unable to stat Python home '/nonexistent-python' for daemon process 'nopython'; Python interpreter may not initialise correctly."),
        ("crit", "WSGI0036: Python interpreter configuration failed in daemon process 'nopython': "),
        ("crit", "WSGI0028: Python initialisation failed in daemon process 'nopython'; Python based handlers will not be available."),
    ] {
        let tag = format!("[wsgi:{level}] ");
        assert!(
            wait_for_log_line(&server, 0, LOG_WAIT, |l| l.contains(&tag) && l.contains(needle))
                .is_some(),
            "no {level} line containing {needle:?}\n{}",
            diagnostics(&server)
        );
    }
    // The process that cannot enter home= waits before it exits, so it is
    // not started again (and the line repeated) within a few seconds. Not
    // synchronisation: the sleep is the window the test watches.
    std::thread::sleep(Duration::from_secs(3));
    let home_failures = server
        .error_log()
        .lines()
        .filter(|l| l.contains("WSGI0009:"))
        .count();
    assert_eq!(home_failures, 1, "{}", diagnostics(&server));
    let stopping = Instant::now();
    server.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stopping took {:?} with a daemon process waiting out its set-up failure",
        stopping.elapsed()
    );
}

// Reference: error-reference.rst WSGI0013 (the group's socket cannot be
// bound: ALERT, the OS error first; that group does not start but Apache
// does) and WSGI0117 (its requests then fail to connect: 503).
#[test]
fn daemon_socket_that_cannot_be_bound_leaves_apache_running() {
    let server = builder()
        .config(
            "WSGISocketPrefix {root}/nodir/wsgi\n\
             WSGIDaemonProcess unbound threads=1\n\
             WSGIScriptAlias /unbound {root}/options.wsgi process-group=unbound\n\
             WSGIScriptAlias /embedded {root}/options.wsgi",
        )
        .start();
    get_ok(&server, "/embedded/info");
    let r = server.get("/unbound/info");
    expect_status(&server, &r, "group whose socket was not bound", 503);
    let nodir = server.root().join("nodir").display().to_string();
    let bind_failure = format!(
        "(2)No such file or directory: WSGI0013: Unable to bind unix domain socket '{nodir}/wsgi."
    );
    assert!(
        wait_for_log_line(&server, 0, LOG_WAIT, |l| l.contains("[wsgi:alert] ")
            && l.contains(&bind_failure)
            && l.contains("Daemon group will not start."))
        .is_some(),
        "no alert line containing {bind_failure:?}\n{}",
        diagnostics(&server)
    );
    let connect_failure = "WSGI0117: Unable to connect to WSGI daemon process 'unbound' on ";
    assert!(
        wait_for_log_line(&server, 0, LOG_WAIT, |l| l
            .contains("(2)No such file or directory: [client ")
            && l.contains(connect_failure))
        .is_some(),
        "no line with the OS error and {connect_failure:?}\n{}",
        diagnostics(&server)
    );
}

// Reference: error-reference.rst WSGI0126 (the Apache child cannot read
// the request body it relays to the daemon: 408 when the client timed
// out, the APR error in the line) and the application's wsgi.input
// raising OSError "mod_wsgi request data read error: ...".
#[test]
fn request_body_read_failure_while_relaying() {
    let server = builder()
        .config(
            "Timeout 2\n\
             WSGIDaemonProcess upload threads=1\n\
             WSGIScriptAlias /upload {root}/options.wsgi process-group=upload",
        )
        .start();
    let request: &[u8] = b"POST /upload/read HTTP/1.1\r\nHost: localhost\r\n\
        Content-Length: 10\r\nConnection: close\r\n\r\nabc";
    // The same, with the application logging "APP-START {mark}" first.
    let partial_upload = |mark: &str| {
        format!(
            "POST /upload/read?mark={mark} HTTP/1.1\r\nHost: localhost\r\n\
             Content-Length: 10\r\nConnection: close\r\n\r\nabc"
        )
        .into_bytes()
    };

    // The client sends 3 of the 10 bytes it announced, then waits.
    let off = server.log_len();
    let mut conn = raw::RawConn::connect(server.port());
    conn.send(request).expect("send request");
    let answer = conn.read_timed(Duration::from_secs(15)).text();
    assert!(
        answer.starts_with("HTTP/1.1 408 "),
        "stalled upload answered {answer:?}\n{}",
        diagnostics(&server)
    );
    for needle in [
        "WSGI0126: Request data read error when proxying data to daemon process: The timeout specified has expired.",
        "OSError: mod_wsgi request data read error: Partial results are valid but processing is incomplete",
    ] {
        assert!(
            wait_for_log_line(&server, off, LOG_WAIT, |l| l.contains(needle)).is_some(),
            "no log line containing {needle:?}\n{}",
            diagnostics(&server)
        );
    }

    // The client goes away part way through the body, once the
    // application is reading it.
    let off = server.log_len();
    let mut conn = raw::RawConn::connect(server.port());
    conn.send(&partial_upload("gone")).expect("send request");
    assert!(
        server.wait_for_log_since(off, "APP-START gone", LOG_WAIT),
        "the upload did not reach the application\n{}",
        diagnostics(&server)
    );
    drop(conn);
    let needle = "WSGI0126: Request data read error when proxying data to daemon process: Partial results are valid but processing is incomplete.";
    assert!(
        wait_for_log_line(&server, off, LOG_WAIT, |l| l.contains(needle)).is_some(),
        "no log line containing {needle:?}\n{}",
        diagnostics(&server)
    );
}
