//! UNIX-domain sockets beyond what `std` offers: non-blocking connects
//! (a full backlog answers at once), listen backlogs, buffer sizes,
//! accepting on a shared non-blocking listener, and an epoll set.

use super::identity::{self, Gid, Uid};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// A UNIX socket address, ready to connect to.
pub struct UnixAddress(libc::sockaddr_un);

impl UnixAddress {
    /// The address of the socket file at `path`; `InvalidInput` when the
    /// path does not fit.
    pub fn new(path: &str) -> io::Result<UnixAddress> {
        // SAFETY: sockaddr_un is plain data for which all-zero is valid.
        let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_bytes();
        if bytes.len() >= address.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket path too long",
            ));
        }
        for (slot, byte) in address.sun_path.iter_mut().zip(bytes) {
            *slot = *byte as libc::c_char;
        }
        Ok(UnixAddress(address))
    }
}

/// A new non-blocking stream socket, closed on exec.
pub fn stream_socket_nonblocking() -> io::Result<UnixStream> {
    // SAFETY: creating a socket; no memory arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is new and ours; from here it closes on drop.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}

/// Connects `stream` to `address` once. On a non-blocking socket a full
/// backlog fails with `WouldBlock` instead of waiting.
pub fn connect(stream: &UnixStream, address: &UnixAddress) -> io::Result<()> {
    // SAFETY: connecting our socket to a filled-in address of the size
    // given.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            std::ptr::addr_of!(address.0).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the listen backlog of listening socket `fd` (again, to change it).
pub fn listen(fd: RawFd, backlog: u32) {
    // SAFETY: a socket call with no memory arguments.
    unsafe { libc::listen(fd, backlog.min(i32::MAX as u32) as libc::c_int) };
}

/// Gives the socket file at `path` mode 0600 and, when running as root,
/// owner `owner`, so only that user may connect. Failures are ignored: a
/// socket left more open still works.
pub fn restrict_socket_file(path: &CStr, owner: (Uid, Gid)) {
    // SAFETY: path calls on a NUL-terminated string that outlives them.
    unsafe {
        libc::chmod(path.as_ptr(), 0o600);
        if identity::is_root() {
            libc::chown(path.as_ptr(), owner.0, owner.1);
        }
    }
}

/// Which of a socket's buffers to size.
#[derive(Debug, Clone, Copy)]
pub enum Buffer {
    Send,
    Receive,
}

/// Sets the size of `fd`'s send or receive buffer (capped at `i32::MAX`).
pub fn set_buffer_size(fd: RawFd, buffer: Buffer, size: u32) -> io::Result<()> {
    let option = match buffer {
        Buffer::Send => libc::SO_SNDBUF,
        Buffer::Receive => libc::SO_RCVBUF,
    };
    let value = size.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: setting an integer option from a local of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes a connection from `listener`, closed on exec; `None` when there
/// is none (on a non-blocking listener another process may have taken it).
pub fn accept(listener: RawFd) -> Option<UnixStream> {
    // SAFETY: accepting on a listening socket without asking for the peer
    // address.
    let fd = unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    // SAFETY: a new descriptor we own.
    (fd >= 0).then(|| unsafe { UnixStream::from_raw_fd(fd) })
}

/// An epoll set waiting for descriptors to become readable.
pub struct Epoll(OwnedFd);

impl Epoll {
    /// A new, empty set, closed on exec.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: creating an epoll instance; no memory arguments.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we own.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds `fd`, waiting for it to be readable. `exclusive`
    /// (`EPOLLEXCLUSIVE`): when several sets wait on `fd`, one event wakes
    /// one of them rather than all.
    pub fn add_readable(&self, fd: RawFd, exclusive: bool) -> io::Result<()> {
        let flags = if exclusive {
            libc::EPOLLIN | libc::EPOLLEXCLUSIVE
        } else {
            libc::EPOLLIN
        };
        let mut event = libc::epoll_event {
            events: flags as u32,
            u64: fd as u64,
        };
        // SAFETY: registering a descriptor with our epoll instance from a
        // local event.
        if unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits without a time limit; fills `ready` with the descriptors that
    /// became readable and returns how many (0 when interrupted).
    pub fn wait<const N: usize>(&self, ready: &mut [RawFd; N]) -> usize {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; N];
        // SAFETY: waiting on our epoll instance into our array of the
        // length given.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                -1,
            )
        };
        let n = n.max(0) as usize;
        for (slot, event) in ready.iter_mut().zip(&events[..n]) {
            *slot = event.u64 as RawFd;
        }
        n
    }
}
