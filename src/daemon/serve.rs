//! A daemon process: forked by the Apache parent, it takes on the group's
//! identity and limits, starts Python and serves requests from the group's
//! socket on `threads=` worker threads, while the main thread watches the
//! process's life (see `monitor`) until it is time to stop.

use super::lifecycle::{self, Limits};
use super::monitor::{self, Tracker};
use super::wire::{Frame, RequestHead};
use crate::apache::ffi;
use crate::apache::log::{
    server_log_with_status, APLOG_ALERT, APLOG_CRIT, APLOG_ERR, APLOG_WARNING,
};
use crate::apache::proc_mutex::ProcMutex;
use crate::config::daemon::{DaemonProcessSpec, UnixId};
use crate::config::ServerConfig;
use crate::python::interp;
use crate::sys::identity::{self, Gid, Uid};
use crate::sys::limits::{self, Resource};
use crate::sys::socket::{self, Epoll};
use crate::wsgi::handler::{self, Outcome};
use crate::wsgi::transport::Transport;
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::ptr::null;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a daemon process ends before or instead of serving.
enum DaemonFailure {
    /// Already logged, in the C module's words.
    Logged,
    /// A set-up step (root, identity, working directory) failed, logged
    /// in the C module's words; the process waits before it exits.
    SetupFailed,
    /// Logged by `daemon_main`.
    Message(String),
}

impl From<String> for DaemonFailure {
    fn from(message: String) -> Self {
        DaemonFailure::Message(message)
    }
}

/// Logs a daemon set-up step that failed (`errno` from the OS, 0 when
/// none), then the C module's closing line for it; the process exits.
fn setup_failed(errno: i32, message: &str, closing_code: &str) -> DaemonFailure {
    server_log_with_status(null(), APLOG_ALERT, errno, message);
    server_log_with_status(
        null(),
        APLOG_ALERT,
        0,
        &format!("{closing_code}: Daemon process configuration failed; process left in unspecified state. Daemon process will exit and be restarted after a delay."),
    );
    DaemonFailure::SetupFailed
}

/// How long a process whose set-up failed waits before exiting (and so
/// being started again), as in the C module: the same failure would
/// otherwise repeat at once, over and over.
const SETUP_FAILURE_DELAY: Duration = Duration::from_secs(20);

/// The OS error number behind `error` (0 when it has none).
fn errno_of(error: &std::io::Error) -> i32 {
    error.raw_os_error().unwrap_or(0)
}

/// A user or group as the configuration wrote it (`name` or `#number`).
fn as_written(id: &UnixId) -> String {
    match id {
        UnixId::Name(name) => name.clone(),
        UnixId::Id(number) => format!("#{number}"),
    }
}

/// A user name or `#uid` as a uid.
pub fn resolve_uid(id: &UnixId) -> Result<Uid, String> {
    match id {
        UnixId::Id(n) => Ok(*n),
        UnixId::Name(name) => {
            let c = CString::new(name.as_str()).map_err(|_| "NUL in user name".to_string())?;
            identity::user_id(&c).ok_or_else(|| format!("unknown user '{name}'"))
        }
    }
}

fn resolve_gid(id: &UnixId) -> Result<Gid, String> {
    match id {
        UnixId::Id(n) => Ok(*n),
        UnixId::Name(name) => {
            let c = CString::new(name.as_str()).map_err(|_| "NUL in group name".to_string())?;
            identity::group_id(&c).ok_or_else(|| format!("unknown group '{name}'"))
        }
    }
}

/// The uid and gid the group's processes run as: `user=` and `group=`,
/// else Apache's `User` and `Group`.
pub fn group_ids(spec: &DaemonProcessSpec) -> Result<(Uid, Gid), String> {
    let (apache_uid, apache_gid) = super::supervisor::apache_child_ids();
    let uid = spec.user.as_ref().map_or(Ok(apache_uid), resolve_uid)?;
    let gid = spec.group.as_ref().map_or(Ok(apache_gid), resolve_gid)?;
    Ok((uid, gid))
}

/// Takes on the group's user, group and supplementary groups (defaults:
/// Apache's `User` and `Group`); a no-op unless running as root.
fn switch_identity(spec: &DaemonProcessSpec) -> Result<(), DaemonFailure> {
    if !identity::is_root() {
        return Ok(());
    }
    let (uid, gid) = group_ids(spec)?;
    let mut groups = vec![gid];
    for extra in &spec.supplementary_groups {
        groups.push(resolve_gid(extra)?);
    }
    // Without supplementary-groups= the user keeps the groups
    // /etc/group gives it, as Apache's own children do.
    let user_name = if spec.supplementary_groups.is_empty() {
        identity::user_name_bytes(uid)
    } else {
        None
    };
    const EXIT: &str = "Daemon process will exit.";
    if let Err(e) = identity::set_group(gid) {
        return Err(setup_failed(
            errno_of(&e),
            &format!("WSGI0004: Unable to set group id to gid={gid}. {EXIT}"),
            "WSGI0025",
        ));
    }
    let joined = match &user_name {
        Some(name) => identity::init_groups(name, gid),
        None => identity::set_groups(&groups),
    };
    match (&user_name, joined) {
        (_, Ok(())) => {}
        (Some(name), Err(e)) => {
            return Err(setup_failed(
                errno_of(&e),
                &format!(
                    "WSGI0006: Unable to initialise groups for uname={} and gid={gid}. {EXIT}",
                    name.to_string_lossy()
                ),
                "WSGI0025",
            ));
        }
        (None, Err(e)) => {
            let listed: Vec<String> = spec.supplementary_groups.iter().map(as_written).collect();
            let uname = spec
                .user
                .as_ref()
                .map_or_else(|| uid.to_string(), as_written);
            return Err(setup_failed(
                errno_of(&e),
                &format!(
                    "WSGI0005: Unable to set supplementary groups for uname={uname} of '{}'. {EXIT}",
                    listed.join(",")
                ),
                "WSGI0025",
            ));
        }
    }
    if let Err(e) = identity::set_user(uid) {
        return Err(setup_failed(
            errno_of(&e),
            &format!("WSGI0007: Unable to change to uid={uid}. {EXIT}"),
            "WSGI0008",
        ));
    }
    Ok(())
}

/// Entry point in the forked child. Never returns.
pub fn daemon_main(
    spec: DaemonProcessSpec,
    listener: RawFd,
    accept_lock: Option<ProcMutex>,
    pool: *mut ffi::apr_pool_t,
    standby: bool,
) -> ! {
    let name = spec.name.clone();
    let outcome = std::panic::catch_unwind(move || {
        let accept_lock = match accept_lock {
            Some(mut lock) => {
                lock.attach_in_child(pool).map_err(|e| {
                    DaemonFailure::from(format!("cannot attach the accept mutex: {e}"))
                })?;
                Some(lock)
            }
            None => None,
        };
        run(spec, listener, accept_lock, standby)
    });
    let code = match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(DaemonFailure::Logged)) => 1,
        Ok(Err(DaemonFailure::SetupFailed)) => {
            // Apache stopping meanwhile must still end the process.
            crate::sys::signals::reset_stop_signals();
            std::thread::sleep(SETUP_FAILURE_DELAY);
            1
        }
        Ok(Err(DaemonFailure::Message(message))) => {
            tracing::error!("mod_wsgi: daemon process for group '{name}' failed: {message}");
            1
        }
        Err(_) => {
            tracing::error!("mod_wsgi: daemon process for group '{name}' panicked");
            1
        }
    };
    // Leave without running Apache's exit handlers, which belong to the
    // parent.
    crate::sys::process::exit_now(code)
}

/// Applies `cpu-time-limit`, `memory-limit`, `virtual-memory-limit` and
/// `cpu-priority` to this process. One that cannot be set is warned about
/// and the daemon runs without it, as in the C module.
fn apply_resource_limits(spec: &DaemonProcessSpec) {
    let group = &spec.name;
    let set = |resource, value: u64| -> Result<(), i32> {
        limits::set_limit(resource, value).map_err(|e| errno_of(&e))
    };
    let warn = |errno: i32, message: String| {
        server_log_with_status(null(), APLOG_WARNING, errno, &message);
    };
    const WITHOUT: &str = "daemon will run without the configured limit.";
    if let Some(limit) = spec.cpu_time_limit.filter(|d| !d.is_zero()) {
        // The kernel sends SIGXCPU at the soft limit: a graceful restart.
        let seconds = limit.as_secs().max(1);
        if let Err(errno) = set(Resource::CpuTime, seconds) {
            warn(errno, format!("WSGI0076: Unable to set CPU time limit of {seconds} seconds for daemon process '{group}'; {WITHOUT}"));
        }
    }
    if let Some(bytes) = spec.memory_limit.filter(|&b| b > 0) {
        if let Err(errno) = set(Resource::Data, bytes) {
            warn(errno, format!("WSGI0077: Unable to set memory limit of {bytes} for daemon process '{group}'; {WITHOUT}"));
        }
    }
    if let Some(bytes) = spec.virtual_memory_limit.filter(|&b| b > 0) {
        if let Err(errno) = set(Resource::AddressSpace, bytes) {
            warn(errno, format!("WSGI0078: Unable to set virtual memory limit of {bytes} for daemon process '{group}'; {WITHOUT}"));
        }
    }
    if spec.cpu_priority == 0 {
        return;
    }
    if let Err(e) = limits::set_priority(spec.cpu_priority) {
        warn(errno_of(&e), format!("WSGI0075: Unable to set CPU priority of {} for daemon process '{group}'; daemon will run with default priority.", spec.cpu_priority));
    }
}

/// `chroot=`: enters the jail before giving up root.
fn enter_chroot(spec: &DaemonProcessSpec) -> Result<(), DaemonFailure> {
    let Some(dir) = &spec.chroot else {
        return Ok(());
    };
    let path = CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| "NUL in chroot directory".to_string())?;
    identity::change_root(&path).map_err(|e| {
        setup_failed(
            errno_of(&e),
            &format!(
                "WSGI0003: Unable to change root directory to '{}'. Daemon process will exit.",
                dir.display()
            ),
            "WSGI0025",
        )
    })
}

/// Enters `home=`, else the home directory of the user the process now
/// runs as.
fn enter_home(spec: &DaemonProcessSpec) -> Result<(), DaemonFailure> {
    const EXIT: &str = "Daemon process will exit.";
    if let Some(home) = &spec.home {
        return std::env::set_current_dir(home).map_err(|e| {
            setup_failed(
                e.raw_os_error().unwrap_or(0),
                &format!(
                    "WSGI0009: Unable to change working directory to '{}'. {EXIT}",
                    home.display()
                ),
                "WSGI0025",
            )
        });
    }
    let uid = identity::uid();
    let dir = match identity::home_directory(uid) {
        Ok(dir) => dir,
        Err(errno) => {
            return Err(setup_failed(
                errno,
                &format!("WSGI0011: Unable to determine home directory for uid={uid}. {EXIT}"),
                "WSGI0025",
            ));
        }
    };
    std::env::set_current_dir(&dir).map_err(|e| {
        setup_failed(
            e.raw_os_error().unwrap_or(0),
            &format!(
                "WSGI0010: Unable to change working directory to home directory '{dir}' for uid={uid}. {EXIT}"
            ),
            "WSGI0025",
        )
    })
}

fn run(
    spec: DaemonProcessSpec,
    listener: RawFd,
    accept_lock: Option<ProcMutex>,
    standby: bool,
) -> Result<(), DaemonFailure> {
    // In the freshly forked child: drop Apache's listening sockets and the
    // other groups' listeners.
    crate::apache::close_listeners();
    super::supervisor::close_other_listeners(listener);
    crate::sys::fd::set_nonblocking(listener);
    let (event_read, workers_stop) = monitor::install()?;
    if let Some(title) = spec.process_title() {
        crate::apache::proc::set_process_title(&title);
    }
    apply_resource_limits(&spec);
    enter_chroot(&spec)?;
    let (uid, gid) = group_ids(&spec)?;
    tracing::info!(
        "Starting daemon process '{}' with uid={uid}, gid={gid} and threads={}.",
        spec.name,
        spec.threads
    );
    switch_identity(&spec)?;
    if let Some(mask) = spec.umask {
        crate::sys::process::set_umask(mask);
    }
    enter_home(&spec)?;
    if let Some(lang) = &spec.lang {
        std::env::set_var("LANG", lang);
    }
    if let Some(locale) = &spec.locale {
        std::env::set_var("LC_ALL", locale);
        let c = CString::new(locale.as_str()).unwrap_or_default();
        // Single-threaded at this point, as setlocale requires.
        if !crate::sys::process::set_locale_all(&c) {
            tracing::warn!(
                "WSGI0079: Unsupported locale setting '{locale}' specified for daemon process group '{}'; daemon will run with the inherited locale. Consider 'C.UTF-8' as a fallback.",
                spec.name
            );
        }
    }
    if let Some(eggs) = &spec.python_eggs {
        std::env::set_var("PYTHON_EGG_CACHE", eggs);
    }

    let config = crate::process::main_config();
    let role = crate::process::ProcessRole {
        group: &spec.name,
        daemon: Some(&spec),
    };
    if crate::process::start_daemon_python(config, role, &spec, crate::pymodule::LENT_TO_PROCESS)
        .is_err()
    {
        server_log_with_status(
            null(),
            APLOG_CRIT,
            0,
            &format!(
                "WSGI0028: Python initialisation failed in daemon process '{}'; Python based handlers will not be available.",
                spec.name
            ),
        );
        return Err(DaemonFailure::Logged);
    }
    if spec.is_managed_mode() {
        return Ok(run_service_scripts(config, role)?);
    }
    crate::process::preload_scripts(config, role, crate::pymodule::LENT_TO_PROCESS.preload);
    if standby {
        load_changed_script(config, &spec.name)?;
    }
    monitor::reload_through_standby(&spec.name);
    monitor::spawn_signal_dispatcher();
    tracing::debug!(
        "mod_wsgi: daemon process {} serving group '{}' with {} threads",
        std::process::id(),
        spec.name,
        spec.threads
    );
    if let Some(lock) = &accept_lock {
        tracing::info!(
            "mod_wsgi: daemon process {} of group '{}' taking turns to accept under the {} mutex",
            std::process::id(),
            spec.name,
            lock.method().name()
        );
    }

    let threads = spec.threads.max(1) as usize;
    let tracker = Arc::new(Tracker::new(threads));
    let turns = Arc::new(AcceptTurns {
        lock: accept_lock,
        in_process: parking_lot::Mutex::new(()),
        waiting: AtomicUsize::new(0),
    });
    let limits = Limits {
        slow_request: config.global.slow_requests.filter(|d| !d.is_zero()),
        ..Limits::from_spec(&spec).with_jitter(spec.maximum_requests_jitter, random_draw())
    };
    let spec = Arc::new(spec);
    let workers: Vec<_> = (0..threads)
        .map(|slot| {
            let spec = spec.clone();
            let tracker = tracker.clone();
            let turns = turns.clone();
            let mut builder = std::thread::Builder::new().name(format!("wsgi:{}", spec.name));
            if let Some(size) = spec.stack_size {
                builder = builder.stack_size(size as usize);
            }
            builder.spawn(move || {
                let worker = Worker {
                    slot,
                    config,
                    spec: &spec,
                    tracker: &tracker,
                };
                let waiter = match AcceptWaiter::new(listener, workers_stop) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!("mod_wsgi: daemon worker cannot wait for connections: {e}");
                        return;
                    }
                };
                match &turns.lock {
                    Some(_) => worker.serve_in_turn(&waiter, listener, &turns),
                    None => worker.serve(&waiter, listener),
                }
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    if standby {
        // Python is up, the preloads (and a changed script) are loaded and
        // the workers accept: the process that set this standby going may
        // stop accepting.
        if let Some(handover) = super::standby::handover() {
            handover.announce_ready(std::process::id() as i32);
        }
    }
    let pulse_stop = Arc::new(AtomicBool::new(false));
    let pulse = limits
        .deadlock_timeout
        .map(|_| monitor::spawn_gil_pulse(tracker.clone(), pulse_stop.clone()));

    let reason = monitor::run(&tracker, &limits, &spec.name, event_read);
    tracing::info!("{}", lifecycle::shutdown_requested_line(&spec.name));
    monitor::stop_accepting();
    crate::process::report_stopping(reason.key(), true);
    // Requests get shutdown-timeout to finish, exit functions included;
    // then the process goes regardless.
    let shutdown_timeout = spec.shutdown_timeout;
    let group = spec.name.clone();
    std::thread::spawn(move || {
        std::thread::sleep(shutdown_timeout);
        tracing::info!("Shutdown timeout expired; aborting daemon process '{group}'.");
        tracing::info!("Exiting daemon process '{group}'.");
        // Ending the process without its exit handlers.
        crate::sys::process::exit_now(1)
    });
    // A worker still waiting for the accept mutex holds no request, and
    // may wait for as long as another process keeps it: it is left behind.
    while workers.iter().filter(|w| !w.is_finished()).count()
        > turns.waiting.load(Ordering::Acquire)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    for worker in workers.into_iter().filter(|w| w.is_finished()) {
        let _ = worker.join();
    }
    if let Some(pulse) = pulse {
        pulse_stop.store(true, Ordering::Release);
        pulse.thread().unpark();
        let _ = pulse.join();
    }
    tracing::info!("Stopping process '{}'.", spec.name);
    // Subscribers hear of it while every interpreter is whole, so they can
    // stop threads that finalisation would otherwise wait for.
    crate::pymodule::events::publish_stopping(reason.key());
    interp::destroy_all();
    crate::process::announce_stopped(reason.key());
    tracing::info!("Exiting daemon process '{}'.", spec.name);
    Ok(())
}

/// In a standby set going for a reload (ours): loads the changed script
/// before the standby says it is ready. When it fails (its traceback is
/// logged by the load) the standby tells its claimant and exits, and the
/// old process keeps serving.
fn load_changed_script(config: &'static ServerConfig, group: &str) -> Result<(), DaemonFailure> {
    let Some(handover) = super::standby::handover() else {
        return Ok(());
    };
    let Some((application_group, script)) = handover.reload_target() else {
        return Ok(());
    };
    let loaded = crate::process::interpreter_for(config, &application_group, &|name: &str| {
        std::env::var(name).ok()
    })
    .map_err(|message| tracing::error!("mod_wsgi: {message}"))
    .is_ok_and(|interpreter| {
        let log = |level: i32, line: &str| {
            if level <= APLOG_ERR {
                tracing::error!("{line}")
            } else {
                tracing::info!("{line}")
            }
        };
        handler::preload(&interpreter, &script, &log)
    });
    if loaded {
        return Ok(());
    }
    tracing::error!(
        "Replacement process for daemon process '{group}' could not load the changed script '{script}'; it exits and the running process keeps serving."
    );
    handover.announce_failed(std::process::id() as i32);
    Err(DaemonFailure::Logged)
}

/// `threads=0`: the process exists to run its `WSGIImportScript` scripts
/// (a never-ending task, or an exec of another program) on the main
/// thread. SIGTERM becomes `SystemExit` in the script; when the scripts
/// return, the process exits and the parent starts a new one.
fn run_service_scripts(
    config: &crate::config::ServerConfig,
    role: crate::process::ProcessRole<'_>,
) -> Result<(), String> {
    let main = crate::process::interpreter_for(config, "", &|name: &str| std::env::var(name).ok())?;
    let gil = main.enter();
    let py = gil.python();
    let armed = crate::python::code::run_source(
        py,
        c"import signal\ndef stop(signum, frame):\n    raise SystemExit(0)\nsignal.signal(signal.SIGTERM, stop)\n",
        "mod_wsgi._service",
        &[],
    )
    .is_some();
    if !armed {
        crate::python::errors::clear_error(py);
    }
    drop(gil);
    if !armed {
        return Err("cannot install the SIGTERM handler for the service script".into());
    }
    crate::process::preload_scripts(config, role, crate::pymodule::LENT_TO_PROCESS.preload);
    tracing::info!("Stopping process '{}'.", role.group);
    interp::destroy_all();
    tracing::info!("Exiting daemon process '{}'.", role.group);
    Ok(())
}

/// What woke a worker. A connection is served even when the process is
/// stopping: with `EPOLLEXCLUSIVE` no other worker was woken for it.
struct Wake {
    connection: bool,
    stop: bool,
}

/// Waits for a connection on the group's listener or for the stop signal.
/// The listener is registered with `EPOLLEXCLUSIVE`, so a new connection
/// wakes one idle worker (of any process in the group) rather than all of
/// them: the kernel does what an accept mutex would.
struct AcceptWaiter {
    epoll: Epoll,
    stop: RawFd,
}

impl AcceptWaiter {
    fn new(listener: RawFd, stop: RawFd) -> std::io::Result<AcceptWaiter> {
        let epoll = Epoll::new()?;
        epoll.add_readable(listener, true)?;
        epoll.add_readable(stop, false)?;
        Ok(AcceptWaiter { epoll, stop })
    }

    fn wait(&self) -> Wake {
        let mut fds = [-1; 2];
        let n = self.epoll.wait(&mut fds);
        let ready = &fds[..n];
        let stop = ready.contains(&self.stop);
        Wake {
            connection: ready.len() > usize::from(stop),
            stop,
        }
    }
}

/// `WSGIAcceptMutex`: the group's processes take turns accepting. Within
/// a process one worker at a time competes for the cross-process lock,
/// since file locks are held per process, not per thread.
struct AcceptTurns {
    lock: Option<ProcMutex>,
    in_process: parking_lot::Mutex<()>,
    /// Workers blocked waiting for their turn.
    waiting: AtomicUsize,
}

impl AcceptTurns {
    /// Waits for this worker's turn; `None` once the process stopped
    /// accepting (or the lock failed).
    fn take(&self) -> Option<AcceptTurn<'_>> {
        let lock = self.lock.as_ref()?;
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let turn = self.in_process.lock();
        let locked = monitor::accepting()
            && lock
                .lock()
                .map_err(|e| {
                    tracing::error!("mod_wsgi: daemon worker cannot take the accept mutex: {e}");
                })
                .is_ok();
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        if !locked {
            return None;
        }
        if !monitor::accepting() {
            lock.unlock();
            return None;
        }
        Some(AcceptTurn { lock, _turn: turn })
    }
}

/// Held while one worker waits for and accepts a connection.
struct AcceptTurn<'a> {
    lock: &'a ProcMutex,
    _turn: parking_lot::MutexGuard<'a, ()>,
}

impl Drop for AcceptTurn<'_> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

/// One request thread of the daemon.
struct Worker<'a> {
    slot: usize,
    config: &'static ServerConfig,
    spec: &'a DaemonProcessSpec,
    tracker: &'a Tracker,
}

impl Worker<'_> {
    /// Accepts and serves connections until the process stops accepting.
    fn serve(&self, waiter: &AcceptWaiter, listener: RawFd) {
        let mut took_last = false;
        loop {
            let wake = waiter.wait();
            if wake.stop {
                // At most one last connection: the one this worker may
                // have been woken for alone.
                if !wake.connection || took_last {
                    return;
                }
                took_last = true;
            } else if !wake.connection {
                continue;
            }
            let Some(stream) = socket::accept(listener) else {
                continue;
            };
            if self.served_last_allowed(self.serve_connection(stream)) {
                return;
            }
        }
    }

    /// Like `serve`, taking turns with the group's other processes under
    /// the accept mutex: only the worker holding it waits on the listener.
    fn serve_in_turn(&self, waiter: &AcceptWaiter, listener: RawFd, turns: &AcceptTurns) {
        while let Some(turn) = turns.take() {
            let wake = waiter.wait();
            let fd = if wake.connection {
                socket::accept(listener)
            } else {
                None
            };
            drop(turn);
            let Some(stream) = fd else {
                if wake.stop {
                    return;
                }
                continue;
            };
            if self.served_last_allowed(self.serve_connection(stream)) {
                return;
            }
        }
    }

    /// After a request: whether it was this process's last one under
    /// `maximum-requests` and the worker should stop at once.
    fn served_last_allowed(&self, served: Option<u64>) -> bool {
        let Some(served) = served else {
            return false;
        };
        if !self
            .spec
            .maximum_requests
            .is_some_and(|m| m > 0 && served >= m)
        {
            return false;
        }
        // Without graceful-timeout the last allowed request stops this
        // worker taking another at once.
        monitor::nudge();
        if self.spec.graceful_timeout.is_none_or(|t| t.is_zero()) {
            monitor::stop_accepting();
            return true;
        }
        false
    }

    /// Reads the request, runs it and reports the outcome to the child;
    /// returns the process's served-request count if it ran.
    fn serve_connection(&self, stream: UnixStream) -> Option<u64> {
        let spec = self.spec;
        let timeout = spec.socket_timeout.unwrap_or(Duration::from_secs(60));
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        if let Some(size) = spec.send_buffer_size {
            super::set_send_buffer(&stream, size);
        }
        let mut reader = stream.try_clone().ok()?;
        let Ok(Some(Frame::Request(head))) = Frame::read_from(&mut reader) else {
            return None;
        };
        let daemon_start = crate::metrics::now_seconds();
        let counts_activity = !super::handoff::ignores_activity(&head);
        let transport = SocketTransport {
            stream: RefCell::new(stream),
            pending: RefCell::new(None),
            broken: Cell::new(false),
            activity: counts_activity.then_some(self.tracker),
        };
        if let (Some(limit), Some(queued)) = (
            spec.queue_timeout.filter(|t| !t.is_zero()),
            super::handoff::queue_start(&head),
        ) {
            if daemon_start - queued > limit.as_secs_f64() {
                transport.log(
                    APLOG_ERR,
                    &format!(
                        "mod_wsgi: Queue timeout expired for WSGI daemon process '{}'.",
                        spec.name
                    ),
                );
                crate::metrics::note_queue_timeout();
                transport.send(&Frame::Fail(504));
                return None;
            }
        }
        transport.touch();
        let (outcome, served) = self.run_request(&transport, &head, daemon_start);
        match outcome {
            Outcome::Done => {
                transport.flush_headers();
                transport.send(&Frame::End);
            }
            Outcome::Fail(status) => {
                transport.send(&Frame::Fail(status));
            }
            Outcome::Restart => {
                monitor::request_reload();
                transport.send(&Frame::Retry);
            }
        }
        transport.touch();
        let _ = transport.stream.borrow_mut().flush();
        served
    }

    fn run_request(
        &self,
        transport: &SocketTransport,
        head: &RequestHead,
        daemon_start: f64,
    ) -> (Outcome, Option<u64>) {
        let spec = self.spec;
        let (route, extras) = super::handoff::route_and_extras(
            head,
            &spec.name,
            crate::process::process_info(),
            daemon_start,
        );
        // Read as the embedded lookup (`Request::env`) reads Apache's table.
        let env = |name: &str| {
            crate::wsgi::environ::get(&head.vars, name)
                .map(|v| crate::config::text::latin1_as_utf8(v).into_owned())
                .or_else(|| std::env::var(name).ok())
        };
        let interpreter =
            match crate::process::interpreter_for(self.config, &extras.application_group, &env) {
                Ok(i) => i,
                Err(message) => {
                    transport.log(APLOG_ERR, &format!("mod_wsgi: {message}"));
                    return (Outcome::Fail(500), None);
                }
            };
        let _active = interp::ActiveRequest::begin();
        let var = |name: &str| env(name).unwrap_or_default();
        let request = format!("{} {}", var("REQUEST_METHOD"), var("REQUEST_URI"));
        self.tracker.begin(self.slot, interpreter.clone(), request);
        let outcome = handler::run(&interpreter, transport, &route, &extras);
        let served = self.tracker.end(self.slot);
        (outcome, Some(served))
    }
}

/// A first body write up to this size is copied in behind the headers so
/// both leave in one write.
const COALESCE_WITH_HEADERS: usize = 64 * 1024;

/// Status code, status line and headers not yet sent to the child.
type PendingHeaders = (i32, String, Vec<(String, String)>);

/// The daemon side of one request.
struct SocketTransport<'a> {
    stream: RefCell<UnixStream>,
    pending: RefCell<Option<PendingHeaders>>,
    broken: Cell<bool>,
    /// Where moving data counts as activity (not for WSGIIgnoreActivity).
    activity: Option<&'a Tracker>,
}

impl SocketTransport<'_> {
    fn touch(&self) {
        if let Some(tracker) = self.activity {
            tracker.touch();
        }
    }

    /// Runs one write on the socket; after a failure every later write is
    /// skipped (the child or the client has gone).
    fn write_with(&self, write: impl FnOnce(&mut UnixStream) -> std::io::Result<()>) -> bool {
        if self.broken.get() {
            return false;
        }
        let ok = write(&mut self.stream.borrow_mut()).is_ok();
        if !ok {
            self.broken.set(true);
        }
        ok
    }

    fn send(&self, frame: &Frame) -> bool {
        self.write_with(|stream| frame.write_to(stream))
    }

    fn flush_headers(&self) -> bool {
        match self.pending.borrow_mut().take() {
            Some((status, reason, headers)) => self.send(&Frame::Headers {
                status,
                reason,
                headers,
            }),
            None => true,
        }
    }
}

impl Transport for SocketTransport<'_> {
    fn set_status(&self, code: i32, line: &str) {
        *self.pending.borrow_mut() = Some((code, line.to_string(), Vec::new()));
    }

    fn add_header(&self, name: &str, value: &str) {
        if let Some(pending) = self.pending.borrow_mut().as_mut() {
            pending.2.push((name.to_string(), value.to_string()));
        }
    }

    fn write(&self, data: &[u8]) -> bool {
        self.touch();
        let pending = if data.len() <= COALESCE_WITH_HEADERS {
            self.pending.borrow_mut().take()
        } else {
            None
        };
        match pending {
            // Small first body bytes go out in one write with the headers.
            Some((status, reason, headers)) => self.write_with(|stream| {
                let mut out = Vec::with_capacity(data.len() + 512);
                Frame::Headers {
                    status,
                    reason,
                    headers,
                }
                .write_to(&mut out)?;
                super::wire::write_body(&mut out, data)?;
                stream.write_all(&out)
            }),
            None => {
                self.flush_headers()
                    && self.write_with(|stream| super::wire::write_body(stream, data))
            }
        }
    }

    fn abort_response(&self) {
        self.flush_headers();
        self.send(&Frame::Abort);
    }

    fn send_file(&self, fd: i32, offset: u64, length: u64, _allow_sendfile: bool) -> bool {
        let mut buf = vec![0u8; 256 * 1024];
        let (mut at, mut left) = (offset, length);
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let n = match crate::sys::fd::read_at(fd, &mut buf[..want], at) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            if !self.write(&buf[..n]) {
                return false;
            }
            at += n as u64;
            left -= n as u64;
        }
        true
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, String> {
        self.touch();
        let asked = buf.len().min(u32::MAX as usize) as u32;
        if !self.send(&Frame::ReadBody(asked)) {
            return Err("connection to the Apache child lost".into());
        }
        match Frame::read_from(&mut *self.stream.borrow_mut()) {
            Ok(Some(Frame::BodyData(data))) if data.len() <= buf.len() => {
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            Ok(Some(Frame::BodyError(message))) => Err(message),
            _ => {
                self.broken.set(true);
                Err("connection to the Apache child lost".into())
            }
        }
    }

    fn log(&self, level: i32, message: &str) {
        if !self.send(&Frame::Log {
            level,
            message: message.to_string(),
        }) {
            crate::apache::log::server_log(std::ptr::null(), level, message);
        }
    }
}

/// A random number, different in each process, for
/// `maximum-requests-jitter=` (std's hasher keys are random per process).
fn random_draw() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}
