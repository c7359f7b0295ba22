//! Signal dispositions, and handlers that turn a signal into one byte
//! written to a pipe, for a thread to read in its own time.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

/// The signals this crate handles, ignores or resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Hup,
    Usr1,
    Usr2,
    Xcpu,
    Pipe,
    Child,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Xcpu => libc::SIGXCPU,
            Signal::Pipe => libc::SIGPIPE,
            Signal::Child => libc::SIGCHLD,
        }
    }
}

/// Signal numbers the routing tables cover (Linux's go up to 64).
const SIGNALS: usize = 65;

/// Per signal number: the descriptor its handler writes to (-1: none) and
/// the byte it writes. Atomics, as the handler reads them.
static ROUTE_FD: [AtomicI32; SIGNALS] = [const { AtomicI32::new(-1) }; SIGNALS];
static ROUTE_BYTE: [AtomicU8; SIGNALS] = [const { AtomicU8::new(0) }; SIGNALS];

/// The handler for routed signals: async-signal-safe (atomic loads and one
/// write(2)).
extern "C" fn on_signal(signal: libc::c_int) {
    let Ok(index) = usize::try_from(signal) else {
        return;
    };
    if index >= SIGNALS {
        return;
    }
    let fd = ROUTE_FD[index].load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = ROUTE_BYTE[index].load(Ordering::Relaxed);
        // SAFETY: write(2) is async-signal-safe and reads one byte from our
        // local; a full non-blocking pipe drops it, as the kernel would a
        // signal already pending.
        unsafe { libc::write(fd, [byte].as_ptr().cast(), 1) };
    }
}

/// For each `(signal, fd, byte)`, in order: from now on the signal writes
/// `byte` to `fd` (which should be the non-blocking write end of a pipe,
/// so a handler never blocks), in place of its action so far.
pub fn route_to_pipes(routes: &[(Signal, RawFd, u8)]) {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for &(signal, fd, byte) in routes {
        let number = signal.number();
        let index = number as usize;
        ROUTE_BYTE[index].store(byte, Ordering::Relaxed);
        ROUTE_FD[index].store(fd, Ordering::Relaxed);
        // SAFETY: installing an async-signal-safe handler for a standard
        // signal.
        unsafe { libc::signal(number, handler) };
    }
}

/// Ignores `signal` from now on.
pub fn ignore(signal: Signal) {
    // SAFETY: setting a standard disposition for a standard signal.
    unsafe { libc::signal(signal.number(), libc::SIG_IGN) };
}

/// Gives `signal` its default action from now on.
pub fn set_default(signal: Signal) {
    // SAFETY: setting a standard disposition for a standard signal.
    unsafe { libc::signal(signal.number(), libc::SIG_DFL) };
}

/// Puts the signals that stop a process back to their default action and
/// unblocks them. A process forked from the Apache parent inherits the
/// parent's handlers, which only note the signal for the parent's own loop.
pub fn reset_stop_signals() {
    const STOP: [Signal; 4] = [Signal::Term, Signal::Int, Signal::Hup, Signal::Usr1];
    for signal in STOP {
        set_default(signal);
    }
    // SAFETY: an empty-initialised set filled by sigemptyset/sigaddset, then
    // passed to pthread_sigmask for this (the only) thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in STOP {
            libc::sigaddset(&mut set, signal.number());
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The signal that asks for every thread's Python stack (a real-time
/// signal nothing else in Apache or the module uses).
pub fn stack_dump_signal() -> i32 {
    libc::SIGRTMIN() + 7
}

/// Delivers `signal` to the calling thread now, unblocking it there first,
/// so its handler has run when this returns.
pub fn raise_here(signal: i32) {
    // SAFETY: an empty-initialised set filled by sigemptyset/sigaddset,
    // passed to pthread_sigmask for this thread only; raise() targets this
    // thread.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
}
