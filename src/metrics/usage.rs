//! Resource use from the kernel: process and thread CPU time, memory.

use super::Usage;

fn timeval_seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1_000_000.0
}

fn rusage(who: libc::c_int) -> Option<libc::rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(who, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call.
    Some(unsafe { usage.assume_init() })
}

/// User and system CPU seconds consumed by the calling thread.
pub fn thread_cpu() -> (f64, f64) {
    rusage(libc::RUSAGE_THREAD).map_or((0.0, 0.0), |u| {
        (timeval_seconds(u.ru_utime), timeval_seconds(u.ru_stime))
    })
}

/// The process's CPU time so far and its current and peak memory.
pub fn process() -> Usage {
    let Some(u) = rusage(libc::RUSAGE_SELF) else {
        return Usage::default();
    };
    Usage {
        cpu_user: timeval_seconds(u.ru_utime),
        cpu_system: timeval_seconds(u.ru_stime),
        memory_rss: resident_bytes(),
        // Linux reports the peak in kilobytes.
        memory_max_rss: u64::try_from(u.ru_maxrss).unwrap_or(0) * 1024,
    }
}

/// Current resident set size, from /proc/self/statm.
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}
