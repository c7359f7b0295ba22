//! Resource use from the kernel: process and thread CPU time, memory.

use super::Usage;
use crate::sys::usage as kernel;

/// User and system CPU seconds consumed by the calling thread.
pub fn thread_cpu() -> (f64, f64) {
    kernel::thread().map_or((0.0, 0.0), |u| (u.user_seconds, u.system_seconds))
}

/// The process's CPU time so far and its current and peak memory.
pub fn process() -> Usage {
    let Some(u) = kernel::process() else {
        return Usage::default();
    };
    Usage {
        cpu_user: u.user_seconds,
        cpu_system: u.system_seconds,
        memory_rss: resident_bytes(),
        // Linux reports the peak in kilobytes.
        memory_max_rss: u64::try_from(u.max_rss_kilobytes).unwrap_or(0) * 1024,
    }
}

/// Current resident set size, from /proc/self/statm.
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    pages * kernel::page_size().unwrap_or(4096)
}
