//! Thin wrappers over the operating-system calls that the daemon layers
//! need, so that the FFI stays here.

/// Puts the signals that stop a process back to their default action and
/// unblocks them. A process forked from the Apache parent inherits the
/// parent's handlers, which only note the signal for the parent's own loop.
pub fn reset_stop_signals() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
        // SAFETY: installing the default disposition for a standard signal.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    // SAFETY: an empty-initialised set filled by sigemptyset/sigaddset, then
    // passed to pthread_sigmask for this (the only) thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The parent's process id.
pub fn parent_pid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() as u32 }
}
