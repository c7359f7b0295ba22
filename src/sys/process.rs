//! This process and its children: ids, exit, file-creation mask, locale,
//! signalling and reaping children.

use std::ffi::CStr;

/// A process id.
pub type Pid = libc::pid_t;

/// The parent's process id.
pub fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() as u32 }
}

/// Ends the process at once with `code`, without running exit handlers
/// (those of a forked child belong to its parent).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// Sets the process's file-creation mask.
pub fn set_umask(mask: u32) {
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Sets every locale category to `locale`; false when the C library does
/// not know it. Only while the process is single-threaded.
pub fn set_locale_all(locale: &CStr) -> bool {
    // SAFETY: a NUL-terminated name that outlives the call; the caller is
    // single-threaded, as setlocale requires.
    !unsafe { libc::setlocale(libc::LC_ALL, locale.as_ptr()) }.is_null()
}

/// An identifier of the calling thread, as CPython records it in its
/// thread states (`pthread_self`).
pub fn thread_id() -> u64 {
    // SAFETY: pthread_self cannot fail.
    unsafe { libc::pthread_self() as u64 }
}

/// Asks child `pid` to stop (SIGTERM).
pub fn terminate(pid: Pid) {
    // SAFETY: sending a signal; no memory arguments.
    unsafe { libc::kill(pid, libc::SIGTERM) };
}

/// Kills child `pid` (SIGKILL) and waits for it to end.
pub fn kill_and_reap(pid: Pid) {
    let mut status = 0;
    // SAFETY: signalling our own child, then reaping it into a local.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
}

/// Reaps child `pid` if it has ended, without blocking; true when it is
/// gone (reaped now, or not a child to wait for any more).
pub fn reap_if_ended(pid: Pid) -> bool {
    let mut status = 0;
    // SAFETY: reaping our own child without blocking, into a local.
    let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    done == pid || done < 0
}

/// The calling thread's name (`comm`, at most 15 bytes).
pub fn name() -> Vec<u8> {
    let mut buf = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included.
    unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    buf.iter().take_while(|&&b| b != 0).copied().collect()
}

/// Names the calling thread (`comm`; the first 15 bytes of `name`).
pub fn set_name(name: &[u8]) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name[..n]);
    // SAFETY: a NUL-terminated buffer of 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
}
