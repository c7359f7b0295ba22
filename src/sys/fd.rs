//! Raw descriptors this process keeps for its whole life (pipes, listening
//! sockets inherited across fork): flags, reads and writes, waiting.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// A pipe whose ends close on exec: (read end, write end).
pub fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills our two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

/// Makes `fd`'s reads and writes non-blocking.
pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: reading and updating the status flags of a descriptor; no
    // memory arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Marks `fd` to close on exec (it stays open across fork).
pub fn set_close_on_exec(fd: RawFd) {
    // SAFETY: setting a descriptor flag; no memory arguments.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// Closes `fd`, which nothing else in this process may use afterwards.
pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor this process holds; callers own it.
    unsafe { libc::close(fd) };
}

/// Writes `bytes` to `fd` once; async-signal-safe. A full non-blocking
/// pipe drops them.
pub fn write(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: write(2) reads `bytes.len()` bytes from our slice.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Reads once from `fd` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: read(2) writes at most `buf.len()` bytes into our slice.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Reads from `fd` at `offset` into `buf`, leaving the file position as
/// it is.
pub fn read_at(fd: RawFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // SAFETY: pread(2) writes at most `buf.len()` bytes into our slice.
    let n = unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            offset as libc::off_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Waits up to `timeout` (whole milliseconds) for `fd` to become readable;
/// false on timeout or error.
pub fn readable_within(fd: RawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: polling one descriptor described by our local struct.
    unsafe { libc::poll(&mut pfd, 1, millis) > 0 }
}

/// The size of the regular file open on `fd`; `None` when `fd` is not
/// open or names something else (a pipe, a socket, a device).
pub fn regular_file_size(fd: RawFd) -> Option<u64> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat(2) fills our buffer, or fails and leaves it alone.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so the buffer is filled in.
    let stat = unsafe { stat.assume_init() };
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    u64::try_from(stat.st_size).ok()
}
