//! The Apache parent's side of daemon mode: one listening UNIX socket per
//! `WSGIDaemonProcess` group, its processes forked after configuration and
//! restarted when they die, and all of them stopped when Apache restarts
//! or stops (the configuration pool's cleanup).
//!
//! A group's listening socket outlives a graceful restart when the group
//! is still configured: requests that queue on it while the old daemons
//! stop are served by the new ones, so a restart loses none. With
//! `WSGISocketRotation On` (the default) the socket file is renamed to the
//! new generation's name, as the reference describes; with it Off the
//! name stays the same.

use super::lifecycle::parent_lines;
use super::standby::Handover;
use crate::apache::proc_mutex::ProcMutex;
use crate::apache::servers::ConfiguredServer;
use crate::apache::{ffi, hook, pool, proc};
use crate::config::daemon::DaemonProcessSpec;
use crate::config::server::AcceptMutex;
use crate::config::ServerConfig;
use crate::metrics::board::GroupId;
use crate::sys::fd;
use crate::sys::identity::{Gid, Uid};
use crate::sys::process::{self, Pid};
use crate::sys::socket::{self, Buffer};
use parking_lot::Mutex;
use std::ffi::{c_int, c_void, CString};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// A daemon group as this Apache generation runs it.
pub struct Group {
    pub spec: DaemonProcessSpec,
    pub socket_path: String,
    pub listener: RawFd,
    /// Process id per slot (0: not running).
    pids: Vec<Pid>,
    /// The `ServerName` of the virtual host that defined the group; only
    /// that name's hosts may use it. `None`: defined at server level.
    pub scope: Option<String>,
    /// `WSGIAcceptMutex`: the lock its processes take around `accept`.
    accept_lock: Option<ProcMutex>,
    /// Address of the defining virtual host's `server_rec`, whose error
    /// log the group's processes write to (0: the main server's). An
    /// address, as raw pointers are not `Send`.
    log_server: usize,
    /// Its counters on the metrics board, if there is one.
    board_group: Option<GroupId>,
    /// The state shared with the group's standby (ours; see
    /// `standby`); `None` for groups without one.
    handover: Option<&'static Handover>,
    /// Address of the standby's registration data (0: none).
    standby_data: usize,
}

/// A group's listening socket, kept across generations by the parent.
#[derive(Debug, Clone, PartialEq)]
struct Listener {
    group: String,
    path: String,
    fd: RawFd,
}

/// The listening sockets of the current generation.
static LISTENERS: Mutex<Vec<Listener>> = Mutex::new(Vec::new());

/// Apache unloads and reloads this module on a restart, so the listeners
/// are handed to the next generation through the process pool (as text:
/// no pointer into this library may outlive it).
const HANDOVER_KEY: &std::ffi::CStr = c"mod_wsgi_daemon_listeners";

fn encode_listeners(listeners: &[Listener]) -> String {
    listeners
        .iter()
        .map(|l| format!("{}\t{}\t{}\n", l.fd, l.group, l.path))
        .collect()
}

fn decode_listeners(text: &str) -> Vec<Listener> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            Some(Listener {
                fd: fields.next()?.parse().ok()?,
                group: fields.next()?.to_string(),
                path: fields.next()?.to_string(),
            })
        })
        .collect()
}

/// Stores the listeners in the process pool for the next generation.
fn hand_over(process_pool: *mut ffi::apr_pool_t, listeners: &[Listener]) {
    // SAFETY: the process pool outlives every generation.
    unsafe { pool::set_userdata_text(process_pool, HANDOVER_KEY, &encode_listeners(listeners)) };
}

/// The listeners the previous generation handed over.
fn take_handed_over(process_pool: *mut ffi::apr_pool_t) -> Vec<Listener> {
    // SAFETY: the process pool outlives every generation.
    match unsafe { pool::userdata_text(process_pool, HANDOVER_KEY) } {
        Some(text) => decode_listeners(&text),
        None => Vec::new(),
    }
}

/// Whether Apache is exiting (not restarting) as the configuration goes.
fn apache_exiting() -> bool {
    crate::apache::exiting()
}

/// The groups of the current configuration. Apache children are forked
/// after this is filled, so they inherit it and know where to connect.
static GROUPS: Mutex<Vec<Group>> = Mutex::new(Vec::new());
/// Set while the groups are being stopped, so deaths are not restarted.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The Apache parent, the only process that may stop the groups (children
/// inherit the configuration pool and its cleanup).
static PARENT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// What an Apache child needs to hand a request to a group.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub path: String,
    pub connect_timeout: Duration,
    /// `None`: Apache's `Timeout`.
    pub socket_timeout: Option<Duration>,
    pub response_socket_timeout: Option<Duration>,
    pub receive_buffer_size: Option<u32>,
    pub header_buffer_size: u32,
    pub response_flush_delay: Duration,
    /// See [`Group::scope`].
    pub scope: Option<String>,
    /// `threads=0`: the group runs service scripts and takes no requests.
    pub service_only: bool,
    /// `script-user=` / `script-group=`, checked by the child.
    pub script_ownership: super::script_owner::ScriptOwnership,
    /// See [`Group::board_group`].
    pub board_group: Option<GroupId>,
}

/// Where and how the Apache children reach `group`, if it exists.
pub fn endpoint(group: &str) -> Option<Endpoint> {
    GROUPS
        .lock()
        .iter()
        .find(|g| g.spec.name == group)
        .map(|g| Endpoint {
            path: g.socket_path.clone(),
            connect_timeout: g.spec.connect_timeout,
            socket_timeout: g.spec.socket_timeout,
            response_socket_timeout: g.spec.response_socket_timeout.or(g.spec.socket_timeout),
            receive_buffer_size: g.spec.receive_buffer_size,
            header_buffer_size: g.spec.header_buffer_size,
            response_flush_delay: g.spec.response_flush_delay,
            scope: g.scope.clone(),
            service_only: g.spec.is_managed_mode(),
            script_ownership: super::script_owner::ScriptOwnership {
                user: g.spec.script_user.clone(),
                group: g.spec.script_group.clone(),
            },
            board_group: g.board_group,
        })
}

/// Each group that listens, with its socket path (for the listen queue
/// the metrics page shows).
pub fn listening_sockets() -> Vec<(String, String)> {
    GROUPS
        .lock()
        .iter()
        .filter(|g| g.listener >= 0)
        .map(|g| (g.spec.name.clone(), g.socket_path.clone()))
        .collect()
}

/// The longest path a UNIX socket address holds (without its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Gives the socket file at `path` its owner and mode: only the Apache
/// child user (`owner`) may connect.
fn secure_socket_file(path: &str, owner: (Uid, Gid)) {
    let Ok(cpath) = CString::new(path) else {
        return;
    };
    socket::restrict_socket_file(&cpath, owner);
}

/// Why a group's listening socket could not be made.
enum SocketFailure {
    /// A configuration Apache refuses to start with.
    Refused(String),
    /// Binding the socket failed: as in the C module, that group does not
    /// start and Apache runs on (its requests fail to connect).
    Bind(std::io::Error),
}

/// Creates a listening UNIX socket at `path`.
fn listen_at(path: &str, backlog: u32, owner: (Uid, Gid)) -> Result<RawFd, SocketFailure> {
    if path.len() > MAX_SOCKET_PATH {
        return Err(SocketFailure::Refused(format!(
            "daemon socket path '{path}' is longer than {MAX_SOCKET_PATH} bytes; use a shorter WSGISocketPrefix"
        )));
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(SocketFailure::Bind)?;
    let fd = std::os::fd::IntoRawFd::into_raw_fd(listener);
    socket::listen(fd, backlog);
    // Daemons inherit it across fork; nothing that execs should.
    fd::set_close_on_exec(fd);
    secure_socket_file(path, owner);
    Ok(fd)
}

/// The listener for `group` at `path`: the previous generation's socket
/// (renamed if its name changed) when there is one, else a new socket.
fn reuse_or_listen(
    kept: &mut Vec<Listener>,
    group: &str,
    path: &str,
    backlog: u32,
    owner: (Uid, Gid),
) -> Result<RawFd, SocketFailure> {
    if let Some(i) = kept.iter().position(|l| l.group == group) {
        let old = kept.remove(i);
        if old.path == path || std::fs::rename(&old.path, path).is_ok() {
            // listen() again applies a changed listen-backlog.
            socket::listen(old.fd, backlog);
            secure_socket_file(path, owner);
            return Ok(old.fd);
        }
        close_listener(&old);
    }
    listen_at(path, backlog, owner)
}

/// `send-buffer-size=` and `receive-buffer-size=` on the group's listening
/// socket, as the C module sets them (each connection's own end is sized
/// too, where it is made); a refusal is a warning and the default stays.
fn size_listener_buffers(fd: RawFd, spec: &DaemonProcessSpec) {
    let wanted = [
        (
            spec.send_buffer_size,
            Buffer::Send,
            "WSGI0062: Unable to set send buffer size",
        ),
        (
            spec.receive_buffer_size,
            Buffer::Receive,
            "WSGI0063: Unable to set receive buffer size",
        ),
    ];
    for (size, option, failure) in wanted {
        let Some(size) = size else { continue };
        if let Err(e) = socket::set_buffer_size(fd, option, size) {
            let errno = e.raw_os_error().unwrap_or(0);
            crate::apache::log::server_log_with_status(
                std::ptr::null(),
                crate::apache::log::APLOG_WARNING,
                errno,
                &format!("{failure} on daemon process socket; default size will be used."),
            );
        }
    }
}

fn close_listener(listener: &Listener) {
    // A descriptor this process created.
    fd::close(listener.fd);
    let _ = std::fs::remove_file(&listener.path);
}

/// In an Apache child: closes the inherited daemon listeners.
pub fn close_listeners() {
    for listener in LISTENERS.lock().iter() {
        // An inherited descriptor this process never uses.
        fd::close(listener.fd);
    }
}

/// The uid/gid of Apache's `User`/`Group`.
pub fn apache_child_ids() -> (Uid, Gid) {
    crate::apache::child_user_and_group()
}

/// The socket path prefix: `WSGISocketPrefix` (relative to ServerRoot) or
/// `wsgi` in Apache's runtime directory.
fn socket_prefix(config: &ServerConfig, pool: *mut ffi::apr_pool_t) -> String {
    let configured = config.global.socket_prefix.as_deref();
    // SAFETY: `pool` is the live configuration pool.
    unsafe {
        crate::apache::relative_path(pool, configured.unwrap_or("wsgi"), configured.is_some())
    }
}

/// Data handed to APR's other-child callback: which group and slot.
struct Slot {
    group: usize,
    slot: usize,
    pconf: *mut ffi::apr_pool_t,
    /// When this process was forked, to pace restarts of one that dies young.
    started: Instant,
    /// For the log: the group's name and the process.
    name: String,
    pid: Pid,
    /// Set when the registration ends because the process died, rather
    /// than because Apache is stopping or restarting.
    ended_by_death: bool,
    /// The group's standby, not yet in a slot: paused, it comes and goes
    /// without the C module's lines, which are about serving processes;
    /// once set going, its death is reported like theirs.
    standby: bool,
}

impl Slot {
    /// Logs this process's death (the C module's two lines) and counts its
    /// end on the metrics page, given the wait status the MPM reported: a
    /// signal or a non-zero exit is abnormal (a daemon that stops exits
    /// with 0), and the board decides the rest.
    fn report_died(&self, wait_status: c_int) {
        for line in parent_lines::died(&self.name, self.pid, wait_status) {
            tracing::info!("{line}");
        }
        crate::metrics::note_daemon_ended(&self.name, self.pid as u32, wait_status != 0);
    }
}

/// Which process of a group a fork makes.
#[derive(Clone, Copy)]
enum Forked {
    /// The process serving a slot.
    Slot(usize),
    /// The group's standby (ours, see `standby`): paused before Python
    /// until a process of the group claims it, then a daemon process like
    /// the others.
    Standby,
}

/// Forks the daemon for `slot` of group `index`; the child waits
/// `hold_off` before it starts, and never returns.
fn spawn(index: usize, slot: usize, pconf: *mut ffi::apr_pool_t, hold_off: Duration) {
    fork_daemon(index, Forked::Slot(slot), pconf, hold_off);
}

/// Forks the standby of group `index`, when it has a standby page.
fn spawn_standby(index: usize, pconf: *mut ffi::apr_pool_t, hold_off: Duration) {
    fork_daemon(index, Forked::Standby, pconf, hold_off);
}

/// Forks a process of group `index` and registers it with APR's
/// other-child registry; the child waits `hold_off` before it starts, and
/// never returns.
fn fork_daemon(index: usize, forked: Forked, pconf: *mut ffi::apr_pool_t, hold_off: Duration) {
    let (name, listener, accept_lock, log_server, handover) = {
        let groups = GROUPS.lock();
        let group = &groups[index];
        (
            group.spec.name.clone(),
            group.listener,
            group.accept_lock,
            group.log_server,
            group.handover,
        )
    };
    let standby = matches!(forked, Forked::Standby);
    if standby {
        let Some(handover) = handover else {
            return;
        };
        // No claim may wake the new standby before it exists.
        handover.reset_for(0);
    }
    // SAFETY: the process record lives in the configuration pool, as APR's
    // other-child registry keeps a pointer to it; the child branch below
    // never returns.
    let child = match unsafe { proc::fork(pconf) } {
        proc::Fork::Parent(child) => child,
        proc::Fork::Child => {
            // Apache's own handlers came with the fork; while the child waits
            // out its hold-off, a stop signal must end it rather than be
            // swallowed, or a server that stops meanwhile leaves it behind.
            crate::sys::signals::reset_stop_signals();
            let spec = GROUPS.lock()[index].spec.clone();
            if log_server != 0 {
                crate::apache::log::log_to_server(log_server as *mut ffi::server_rec);
            }
            std::thread::sleep(hold_off);
            if let (true, Some(handover)) = (standby, handover) {
                wait_to_be_claimed(handover);
            }
            if let Some(handover) = handover {
                super::standby::install(handover);
            }
            super::serve::daemon_main(spec, listener, accept_lock, pconf, standby);
        }
        proc::Fork::Failed(status) => {
            let (level, line) = match forked {
                Forked::Slot(_) => (
                    crate::apache::log::APLOG_ALERT,
                    format!("WSGI0024: Unable to spawn daemon process '{name}'. Daemon group will not start."),
                ),
                Forked::Standby => (
                    crate::apache::log::APLOG_WARNING,
                    format!("mod_wsgi: unable to fork the standby process of daemon group '{name}'; its processes recycle without one."),
                ),
            };
            crate::apache::log::server_log_with_status(std::ptr::null(), level, status, &line);
            return;
        }
    };
    let pid = child.pid();
    let data = Box::into_raw(Box::new(Slot {
        group: index,
        slot: match forked {
            Forked::Slot(slot) => slot,
            Forked::Standby => usize::MAX,
        },
        pconf,
        started: Instant::now(),
        name: name.clone(),
        pid,
        ended_by_death: false,
        standby,
    }));
    match (forked, handover) {
        (Forked::Slot(slot), _) => {
            GROUPS.lock()[index].pids[slot] = pid;
            tracing::debug!("mod_wsgi: started daemon process {pid} for group '{name}'");
        }
        (Forked::Standby, handover) => {
            GROUPS.lock()[index].standby_data = data as usize;
            if let Some(handover) = handover {
                handover.reset_for(pid);
            }
        }
    }
    // SAFETY: registering the child with the MPM's maintenance; `data` is
    // reclaimed in the callback when the registration ends.
    unsafe { proc::watch(&child, maintenance, data.cast(), pconf) };
}

/// The standby's wait before Python: until a process of its group claims
/// it, or ends it by going away with the parent.
fn wait_to_be_claimed(handover: &super::standby::Handover) {
    let parent = PARENT.load(std::sync::atomic::Ordering::Acquire);
    // Named apart from Apache's children while it waits, so `ps` (and a
    // test picking an Apache child) can tell it apart.
    let name = process::name();
    process::set_name(b"wsgi-standby");
    while !handover.woken() {
        if process::parent_pid() != parent {
            process::exit_now(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    process::set_name(&name);
}

/// The parent side of a slot process that ended: when it had set the
/// standby going, the standby takes its slot (and a new standby is
/// forked); returns false when the slot needs a new process instead.
fn adopt_standby(group: usize, slot: usize, dead: Pid, pconf: *mut ffi::apr_pool_t) -> bool {
    let adopted = {
        let mut groups = GROUPS.lock();
        let Some(g) = groups.get_mut(group) else {
            return false;
        };
        let Some(standby) = g.handover.and_then(|h| h.claimed_by(dead)) else {
            return false;
        };
        if g.standby_data != 0 {
            // SAFETY: the standby's registration data, alive while it is
            // registered (its UNREGISTER clears `standby_data` first).
            let data = unsafe { &mut *(g.standby_data as *mut Slot) };
            data.standby = false;
            data.slot = slot;
        }
        g.standby_data = 0;
        g.pids[slot] = standby;
        true
    };
    if adopted {
        spawn_standby(group, pconf, Duration::ZERO);
    }
    adopted
}

/// Whether the MPM is stopping (for a shutdown or a restart): a daemon that
/// dies now is not replaced, the next generation starts its own.
fn server_stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::Acquire)
        || crate::apache::mpm_query(ffi::AP_MPMQ_MPM_STATE)
            .is_some_and(|state| state == ffi::AP_MPMQ_STOPPING as i32)
}

/// Called by the MPM about a registered daemon: restart it when it died.
unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    hook::guard("daemon maintenance callback", (), || {
        let slot = data as *mut Slot;
        // SAFETY: `data` is the Slot registered in `spawn`, freed only by
        // the UNREGISTER branch below.
        let entry = unsafe { &mut *slot };
        let (group, index, pconf, started) = (entry.group, entry.slot, entry.pconf, entry.started);
        let (name, pid) = (entry.name.clone(), entry.pid);
        if entry.standby {
            standby_maintenance(reason as u32, slot, pconf, status);
            return;
        }
        match reason as u32 {
            ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
                if let Some(g) = GROUPS.lock().get_mut(group) {
                    g.pids[index] = 0;
                }
                let stopping = server_stopping();
                if stopping {
                    tracing::info!("{}", parent_lines::died_while_stopping(&name, pid));
                } else if reason as u32 == ffi::APR_OC_REASON_LOST {
                    tracing::info!("{}", parent_lines::lost(&name, pid));
                } else {
                    entry.report_died(status);
                }
                entry.ended_by_death = true;
                // SAFETY: the registration ends with the process; APR calls
                // us back with UNREGISTER, which frees `data` (not used
                // after this).
                unsafe { proc::unwatch(data) };
                if !stopping && !adopt_standby(group, index, pid, pconf) {
                    spawn(
                        group,
                        index,
                        pconf,
                        super::lifecycle::restart_hold_off(started.elapsed()),
                    );
                }
            }
            ffi::APR_OC_REASON_UNREGISTER => {
                if !entry.ended_by_death {
                    tracing::info!("{}", parent_lines::deregistering(&name, pid));
                }
                tracing::info!("{}", parent_lines::deregistered(&name, pid));
                // SAFETY: as above; the registration is gone.
                drop(unsafe { Box::from_raw(slot) });
            }
            _ => {}
        }
    })
}

/// The maintenance of a standby not yet in a slot: one that dies (it
/// failed to start, or was killed) is replaced, paced like a slot
/// process; its claimant, if any, learns it failed.
fn standby_maintenance(reason: u32, data: *mut Slot, pconf: *mut ffi::apr_pool_t, status: c_int) {
    // SAFETY: the standby's registration data, freed only below.
    let entry = unsafe { &mut *data };
    match reason {
        ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
            let group = entry.group;
            let mut was_set_going = false;
            if let Some(g) = GROUPS.lock().get_mut(group) {
                if let Some(h) = g.handover {
                    was_set_going = h.was_set_going(entry.pid);
                    h.clear(entry.pid);
                }
                g.standby_data = 0;
            }
            // A standby set going to take over was starting or serving
            // requests: its death is logged and counted like a slot
            // process's (a crash, unless it had begun to stop). One still
            // paused, or that gave up on a changed script, served nothing.
            if was_set_going && !server_stopping() {
                entry.report_died(status);
            }
            entry.ended_by_death = true;
            let lived = entry.started.elapsed();
            // SAFETY: ends the registration; UNREGISTER frees `data`.
            unsafe { proc::unwatch(data.cast()) };
            if !server_stopping() {
                spawn_standby(group, pconf, super::lifecycle::restart_hold_off(lived));
            }
        }
        ffi::APR_OC_REASON_UNREGISTER => {
            if let Some(g) = GROUPS.lock().get_mut(entry.group) {
                if g.standby_data == data as usize {
                    g.standby_data = 0;
                }
            }
            // SAFETY: the registration is gone.
            drop(unsafe { Box::from_raw(data) });
        }
        _ => {}
    }
}

/// Pool cleanup on the configuration pool: stop every daemon, waiting up to
/// each group's shutdown-timeout before killing it.
unsafe extern "C" fn stop_groups(_data: *mut c_void) -> ffi::apr_status_t {
    hook::guard("daemon stop cleanup", 0, || {
        if PARENT.load(std::sync::atomic::Ordering::Acquire) != std::process::id() {
            return 0;
        }
        STOPPING.store(true, std::sync::atomic::Ordering::Release);
        let groups = std::mem::take(&mut *GROUPS.lock());
        let mut waiting: Vec<(Pid, Instant)> = Vec::new();
        for group in &groups {
            let standby = group.handover.map_or(0, |h| h.standby_pid());
            for &pid in group.pids.iter().chain([&standby]).filter(|&&p| p > 0) {
                process::terminate(pid);
                waiting.push((pid, Instant::now() + group.spec.shutdown_timeout));
            }
        }
        while !waiting.is_empty() {
            waiting.retain(|&(pid, deadline)| {
                if process::reap_if_ended(pid) {
                    return false;
                }
                if Instant::now() >= deadline {
                    tracing::warn!(
                        "mod_wsgi: daemon process {pid} did not stop in time; killing it"
                    );
                    process::kill_and_reap(pid);
                    return false;
                }
                true
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        // On a restart the listeners stay open for the next generation.
        if apache_exiting() {
            for listener in std::mem::take(&mut *LISTENERS.lock()) {
                close_listener(&listener);
            }
        }
        0
    })
}

/// Records this generation's listeners, here and for the next generation.
fn publish_listeners(process_pool: *mut ffi::apr_pool_t, listeners: Vec<Listener>) {
    hand_over(process_pool, &listeners);
    *LISTENERS.lock() = listeners;
}

/// The `WSGIAcceptMutex` lock for a group, when one is configured and the
/// group has more than one process to serialise. Made before the cleanup
/// that stops the daemons, so it outlives them.
fn accept_lock_for(
    main: &ServerConfig,
    spec: &DaemonProcessSpec,
    socket_path: &str,
    pconf: *mut ffi::apr_pool_t,
) -> Result<Option<ProcMutex>, String> {
    let method = match main.global.accept_mutex {
        Some(method) if method != AcceptMutex::Default && spec.processes > 1 => method,
        _ => return Ok(None),
    };
    let lock_file = format!("{}.lock", socket_path.trim_end_matches(".sock"));
    if method.uses_lock_file() {
        // A file left by a killed generation would make creation fail.
        let _ = std::fs::remove_file(&lock_file);
    }
    let lock = ProcMutex::create(method, &lock_file, pconf)
        .map_err(|e| format!("WSGIAcceptMutex for daemon group '{}': {e}", spec.name))?;
    let (uid, gid) = super::serve::group_ids(spec)?;
    lock.give_to(uid, gid)
        .map_err(|e| format!("WSGIAcceptMutex for daemon group '{}': {e}", spec.name))?;
    Ok(Some(lock))
}

/// Creates the sockets and starts the processes of every daemon group in
/// the configuration (`servers`: the main server first, then the virtual
/// hosts, each with its `ServerName`).
pub fn start_groups(
    servers: &[ConfiguredServer<'_>],
    main: &ServerConfig,
    pconf: *mut ffi::apr_pool_t,
    process_pool: *mut ffi::apr_pool_t,
) -> Result<(), String> {
    STOPPING.store(false, std::sync::atomic::Ordering::Release);
    PARENT.store(std::process::id(), std::sync::atomic::Ordering::Release);
    let generation = crate::apache::config_generation();
    let prefix = socket_prefix(main, pconf);
    let rotate = main.global.socket_rotation.unwrap_or(true);
    let owner = apache_child_ids();
    let mut kept = take_handed_over(process_pool);
    let mut listeners = Vec::new();
    let mut groups = Vec::new();
    let global: Vec<&str> = servers
        .first()
        .map(|main| {
            main.config
                .daemons
                .iter()
                .map(|d| d.name.as_str())
                .collect()
        })
        .unwrap_or_default();
    for server in servers {
        for spec in &server.config.daemons {
            if groups.iter().any(|g: &Group| g.spec.name == spec.name) {
                continue;
            }
            // A virtual host's merged configuration also lists the
            // server-level groups; the others are its own.
            let own_group = !global.contains(&spec.name.as_str());
            let scope = own_group.then(|| server.name.clone());
            let log_server = if own_group { server.server as usize } else { 0 };
            let board_group = crate::metrics::board().and_then(|b| b.register_group(&spec.name));
            let id = groups.len() + 1;
            let pid = std::process::id();
            let socket_path = if rotate {
                format!("{prefix}.{pid}.{generation}.{id}.sock")
            } else {
                let uid = spec
                    .user
                    .as_ref()
                    .map_or(Ok(owner.0), super::serve::resolve_uid)?;
                format!("{prefix}.{pid}.u{uid}.{id}.sock")
            };
            let owner = match spec.socket_user {
                Some(ref user) => (super::serve::resolve_uid(user)?, owner.1),
                None => owner,
            };
            let listener = match reuse_or_listen(
                &mut kept,
                &spec.name,
                &socket_path,
                spec.listen_backlog,
                owner,
            ) {
                Ok(fd) => fd,
                Err(SocketFailure::Bind(error)) => {
                    crate::apache::log::server_log_with_status(
                        std::ptr::null(),
                        crate::apache::log::APLOG_ALERT,
                        error.raw_os_error().unwrap_or(0),
                        &format!("WSGI0013: Unable to bind unix domain socket '{socket_path}'. Daemon group will not start."),
                    );
                    // Known but without processes: its requests fail to
                    // connect (WSGI0117), as in the C module.
                    groups.push(Group {
                        accept_lock: None,
                        log_server,
                        handover: None,
                        standby_data: 0,
                        pids: Vec::new(),
                        spec: spec.clone(),
                        socket_path,
                        listener: -1,
                        scope,
                        board_group,
                    });
                    continue;
                }
                Err(SocketFailure::Refused(message)) => {
                    listeners.extend(kept);
                    publish_listeners(process_pool, listeners);
                    return Err(message);
                }
            };
            size_listener_buffers(listener, spec);
            listeners.push(Listener {
                group: spec.name.clone(),
                path: socket_path.clone(),
                fd: listener,
            });
            let accept_lock = match accept_lock_for(main, spec, &socket_path, pconf) {
                Ok(lock) => lock,
                Err(message) => {
                    listeners.extend(kept);
                    publish_listeners(process_pool, listeners);
                    return Err(message);
                }
            };
            groups.push(Group {
                accept_lock,
                log_server,
                handover: new_handover(spec),
                standby_data: 0,
                pids: vec![0; spec.processes as usize],
                spec: spec.clone(),
                socket_path,
                listener,
                scope,
                board_group,
            });
        }
    }
    // Groups no longer configured.
    for old in kept {
        close_listener(&old);
    }
    publish_listeners(process_pool, listeners);
    if groups.is_empty() {
        return Ok(());
    }
    let counts: Vec<usize> = groups.iter().map(|g| g.pids.len()).collect();
    *GROUPS.lock() = groups;
    // SAFETY: the cleanup runs when this configuration is discarded.
    unsafe { pool::on_clear(pconf, stop_groups) };
    for (index, count) in counts.into_iter().enumerate() {
        for slot in 0..count {
            spawn(index, slot, pconf, Duration::ZERO);
        }
        spawn_standby(index, pconf, Duration::ZERO);
    }
    Ok(())
}

/// The shared state for a group's standby (ours): every group that
/// serves requests has one, for planned recycles and for changed scripts.
fn new_handover(spec: &DaemonProcessSpec) -> Option<&'static Handover> {
    if spec.is_managed_mode() {
        return None;
    }
    // SAFETY: `Handover` is atomics only, valid when zeroed.
    match unsafe { crate::sys::shared_memory::SharedPage::<Handover>::new() } {
        Ok(page) => Some(page.get()),
        Err(e) => {
            tracing::warn!(
                "mod_wsgi: no standby for daemon group '{}' ({e}); its processes recycle without one.",
                spec.name
            );
            None
        }
    }
}

/// In a daemon process: closes the listeners of the other groups.
pub fn close_other_listeners(keep: RawFd) {
    for listener in LISTENERS.lock().iter() {
        if listener.fd != keep {
            // An inherited descriptor this process does not use.
            fd::close(listener.fd);
        }
    }
}
