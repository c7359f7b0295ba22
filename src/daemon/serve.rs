//! A daemon process: forked by the Apache parent, it takes on the group's
//! identity, starts Python and serves requests from the group's socket on
//! `threads=` worker threads until told to stop.

use super::wire::{Frame, RequestHead};
use crate::apache::ffi;
use crate::apache::log::APLOG_ERR;
use crate::config::daemon::{DaemonProcessSpec, UnixId};
use crate::config::ServerConfig;
use crate::python::interp;
use crate::wsgi::handler::{self, Outcome};
use crate::wsgi::transport::Transport;
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

/// Write end of the pipe that wakes everything up to stop.
static STOP_WRITE: AtomicI32 = AtomicI32::new(-1);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_stop_signal(_: libc::c_int) {
    request_stop();
}

fn request_stop() {
    let fd = STOP_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe is fine.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// A user name or `#uid` as a uid.
pub fn resolve_uid(id: &UnixId) -> Result<libc::uid_t, String> {
    match id {
        UnixId::Id(n) => Ok(*n),
        UnixId::Name(name) => {
            let c = CString::new(name.as_str()).map_err(|_| "NUL in user name".to_string())?;
            // SAFETY: getpwnam returns a static record or NULL.
            let pw = unsafe { libc::getpwnam(c.as_ptr()) };
            if pw.is_null() {
                return Err(format!("unknown user '{name}'"));
            }
            // SAFETY: non-null record.
            Ok(unsafe { (*pw).pw_uid })
        }
    }
}

fn resolve_gid(id: &UnixId) -> Result<libc::gid_t, String> {
    match id {
        UnixId::Id(n) => Ok(*n),
        UnixId::Name(name) => {
            let c = CString::new(name.as_str()).map_err(|_| "NUL in group name".to_string())?;
            // SAFETY: getgrnam returns a static record or NULL.
            let gr = unsafe { libc::getgrnam(c.as_ptr()) };
            if gr.is_null() {
                return Err(format!("unknown group '{name}'"));
            }
            // SAFETY: non-null record.
            Ok(unsafe { (*gr).gr_gid })
        }
    }
}

/// Takes on the group's user, group and supplementary groups (defaults:
/// Apache's `User` and `Group`); a no-op unless running as root.
fn switch_identity(spec: &DaemonProcessSpec) -> Result<(), String> {
    // SAFETY: identity syscalls in a freshly forked, single-threaded child.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let (apache_uid, apache_gid) = super::supervisor::apache_child_ids();
    let uid = spec.user.as_ref().map_or(Ok(apache_uid), resolve_uid)?;
    let gid = spec.group.as_ref().map_or(Ok(apache_gid), resolve_gid)?;
    let mut groups = vec![gid];
    for extra in &spec.supplementary_groups {
        groups.push(resolve_gid(extra)?);
    }
    // SAFETY: as above.
    unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0 || libc::setgid(gid) != 0 {
            return Err(format!(
                "cannot switch to group {gid}: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!(
                "cannot switch to user {uid}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The home directory of the current user, the default working directory.
fn user_home() -> Option<String> {
    // SAFETY: getpwuid returns a static record or NULL.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        (!pw.is_null() && !(*pw).pw_dir.is_null())
            .then(|| crate::apache::c_str((*pw).pw_dir).into_owned())
    }
}

/// Overwrites the process's argument area so `ps` shows `title`.
fn set_process_title(title: &str) {
    let server = crate::apache::log::main_server();
    if server.is_null() {
        return;
    }
    // SAFETY: the argv strings Apache was started with are contiguous in
    // memory from argv[0] to the end of the last; we only write inside that
    // span and keep a terminating NUL.
    unsafe {
        let process = (*server).process;
        let argc = (*process).argc as usize;
        let argv = (*process).argv;
        if argc == 0 || argv.is_null() || (*argv).is_null() {
            return;
        }
        let start = *argv as *mut u8;
        let last = *argv.add(argc - 1);
        let end = last.add(libc::strlen(last)) as *mut u8;
        let room = end.offset_from(start) as usize;
        let bytes = title.as_bytes();
        let n = bytes.len().min(room);
        std::ptr::write_bytes(start, 0, room + 1);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, n);
        let comm = CString::new(&bytes[..bytes.len().min(15)]).unwrap_or_default();
        libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
    }
}

/// Entry point in the forked child. Never returns.
pub fn daemon_main(spec: DaemonProcessSpec, listener: RawFd, _slot: usize) -> ! {
    let name = spec.name.clone();
    let outcome = std::panic::catch_unwind(move || run(spec, listener));
    let code = match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(message)) => {
            tracing::error!("mod_wsgi: daemon process for group '{name}' failed: {message}");
            1
        }
        Err(_) => {
            tracing::error!("mod_wsgi: daemon process for group '{name}' panicked");
            1
        }
    };
    // SAFETY: leave without running Apache's exit handlers, which belong to
    // the parent.
    unsafe { libc::_exit(code) }
}

fn run(spec: DaemonProcessSpec, listener: RawFd) -> Result<(), String> {
    // SAFETY: in the freshly forked child: drop Apache's listening sockets
    // and the other groups' listeners, and take over the stop signals.
    let stop_read = unsafe {
        ffi::ap_close_listeners();
        super::supervisor::close_other_listeners(listener);
        let mut fds = [0; 2];
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err("cannot create the stop pipe".into());
        }
        STOP_WRITE.store(fds[1], Ordering::Relaxed);
        let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            libc::signal(sig, handler);
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        let flags = libc::fcntl(listener, libc::F_GETFL);
        libc::fcntl(listener, libc::F_SETFL, flags | libc::O_NONBLOCK);
        fds[0]
    };
    if let Some(title) = spec.process_title() {
        set_process_title(&title);
    }
    switch_identity(&spec)?;
    // SAFETY: process-wide settings in this child.
    unsafe {
        if let Some(mask) = spec.umask {
            libc::umask(mask as libc::mode_t);
        }
    }
    let home = spec
        .home
        .as_ref()
        .map(|h| h.display().to_string())
        .or_else(user_home);
    if let Some(home) = home {
        std::env::set_current_dir(&home)
            .map_err(|e| format!("cannot change to home '{home}': {e}"))?;
    }
    if let Some(lang) = &spec.lang {
        std::env::set_var("LANG", lang);
    }
    if let Some(locale) = &spec.locale {
        std::env::set_var("LC_ALL", locale);
        let c = CString::new(locale.as_str()).unwrap_or_default();
        // SAFETY: single-threaded at this point.
        unsafe { libc::setlocale(libc::LC_ALL, c.as_ptr()) };
    }

    let config = crate::module::main_config();
    let role = crate::module::ProcessRole {
        group: &spec.name,
        daemon: Some(&spec),
    };
    crate::module::start_daemon_python(
        config,
        role,
        spec.threads > 1,
        spec.processes > 1 || spec.multiprocess,
    )?;
    crate::module::preload_scripts(config, role);
    tracing::info!(
        "mod_wsgi: daemon process {} serving group '{}' with {} threads",
        std::process::id(),
        spec.name,
        spec.threads
    );

    let workers: Vec<_> = (0..spec.threads.max(1))
        .map(|_| {
            let spec = spec.clone();
            let mut builder = std::thread::Builder::new().name(format!("wsgi:{}", spec.name));
            if let Some(size) = spec.stack_size {
                builder = builder.stack_size(size as usize);
            }
            builder.spawn(move || worker(listener, stop_read, config, &spec))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    wait_readable(stop_read, -1);
    tracing::info!(
        "mod_wsgi: daemon process {} of group '{}' stopping",
        std::process::id(),
        spec.name
    );
    for worker in workers {
        let _ = worker.join();
    }
    interp::destroy_all();
    Ok(())
}

/// Waits until `fd` is readable (or the timeout passes; -1 waits forever).
fn wait_readable(fd: RawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: polling one valid descriptor.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return n > 0;
        }
    }
}

/// Accepts and serves connections until the stop pipe becomes readable.
fn worker(
    listener: RawFd,
    stop_read: RawFd,
    config: &'static ServerConfig,
    spec: &DaemonProcessSpec,
) {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: listener,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop_read,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polling two valid descriptors.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            continue;
        }
        if fds[1].revents != 0 {
            return;
        }
        // SAFETY: accepting on our listener (non-blocking: another worker
        // may have taken the connection first).
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            continue;
        }
        // SAFETY: a new descriptor we own.
        let stream = unsafe { UnixStream::from_raw_fd(fd) };
        serve_connection(stream, config, spec);
        let served = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
        if spec.maximum_requests.is_some_and(|max| served >= max) {
            tracing::info!(
                "mod_wsgi: daemon process {} of group '{}' reached maximum-requests; restarting",
                std::process::id(),
                spec.name
            );
            request_stop();
        }
    }
}

/// Status code, status line and headers not yet sent to the child.
type PendingHeaders = (i32, String, Vec<(String, String)>);

/// The daemon side of one request.
struct SocketTransport {
    stream: RefCell<UnixStream>,
    pending: RefCell<Option<PendingHeaders>>,
    broken: Cell<bool>,
}

impl SocketTransport {
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

impl Transport for SocketTransport {
    fn set_status(&self, code: i32, line: &str) {
        *self.pending.borrow_mut() = Some((code, line.to_string(), Vec::new()));
    }

    fn add_header(&self, name: &str, value: &str) {
        if let Some(pending) = self.pending.borrow_mut().as_mut() {
            pending.2.push((name.to_string(), value.to_string()));
        }
    }

    fn write(&self, data: &[u8]) -> bool {
        self.flush_headers() && self.write_with(|stream| super::wire::write_body(stream, data))
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
            // SAFETY: reading into our buffer from the application's file.
            let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), want, at as libc::off_t) };
            if n <= 0 {
                break;
            }
            if !self.write(&buf[..n as usize]) {
                return false;
            }
            at += n as u64;
            left -= n as u64;
        }
        true
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, String> {
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

/// Reads the request, runs it and reports the outcome to the child.
fn serve_connection(stream: UnixStream, config: &'static ServerConfig, spec: &DaemonProcessSpec) {
    let timeout = spec.socket_timeout.unwrap_or(Duration::from_secs(60));
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut reader = match stream.try_clone() {
        Ok(r) => r,
        Err(_) => return,
    };
    let Ok(Some(Frame::Request(head))) = Frame::read_from(&mut reader) else {
        return;
    };
    let transport = SocketTransport {
        stream: RefCell::new(stream),
        pending: RefCell::new(None),
        broken: Cell::new(false),
    };
    let outcome = run_request(&transport, &head, config, spec);
    match outcome {
        Outcome::Done => {
            transport.flush_headers();
            transport.send(&Frame::End);
        }
        Outcome::Fail(status) => {
            transport.send(&Frame::Fail(status));
        }
    }
    let _ = transport.stream.borrow_mut().flush();
}

fn run_request(
    transport: &SocketTransport,
    head: &RequestHead,
    config: &'static ServerConfig,
    spec: &DaemonProcessSpec,
) -> Outcome {
    let (route, extras) =
        super::handoff::route_and_extras(head, &spec.name, crate::module::process_info());
    let env = |name: &str| {
        head.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let interpreter = match crate::module::interpreter_for(config, &extras.application_group, &env)
    {
        Ok(i) => i,
        Err(message) => {
            transport.log(APLOG_ERR, &format!("mod_wsgi: {message}"));
            return Outcome::Fail(500);
        }
    };
    let _active = interp::ActiveRequest::begin();
    handler::run(&interpreter, transport, &route, &extras)
}
