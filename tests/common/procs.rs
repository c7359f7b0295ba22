//! Process helpers for tests that watch Apache's and the daemon groups'
//! processes through /proc: state and parent, command line, children by
//! name, signals, and a bounded polling wait.
//!
//! Only std and libc are used.

#![allow(dead_code)]

use std::fs;
use std::io;
use std::time::{Duration, Instant};

/// State letter and parent pid from /proc/PID/stat; None when gone.
pub fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// How long ago the process started (from /proc, in clock ticks of 10 ms).
pub fn process_age(pid: i32) -> Option<std::time::Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime), counted after the command name's ')'.
    let start_ticks: f64 = stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs_f64(
        (uptime - start_ticks / 100.0).max(0.0),
    ))
}

/// Whether the process exists and has not exited (zombies count as gone).
pub fn pid_alive(pid: i32) -> bool {
    matches!(proc_stat(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// The process's command line, NULs shown as spaces.
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .replace('\0', " ")
        .trim()
        .to_string()
}

/// Every process id listed in /proc.
fn all_pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// Whether no thread of any child of `parent` is running or runnable (state
/// R) or in an uninterruptible wait (D): every one is blocked waiting for
/// work, a signal or I/O.
pub fn children_quiet(parent: u32) -> bool {
    for pid in all_pids() {
        if !matches!(proc_stat(pid), Some((_, p)) if p == parent as i32) {
            continue;
        }
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .and_then(|f| f.chars().next());
            if matches!(state, Some('R' | 'D')) {
                return false;
            }
        }
    }
    true
}

/// Live (not zombie) processes in process group `pgid`: Apache's parent
/// and everything it forked, unless a process left the group.
pub fn in_process_group(pgid: i32) -> Vec<i32> {
    all_pids()
        .filter(|&pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let mut fields = stat[close + 1..].split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
            state != "Z" && state != "X" && group == Some(pgid)
        })
        .collect()
}

/// Live children of `parent` whose command line starts with `prefix`.
pub fn children_named(parent: u32, prefix: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for pid in all_pids() {
        if matches!(proc_stat(pid), Some((s, p)) if p == parent as i32 && s != 'Z')
            && cmdline(pid).starts_with(prefix)
        {
            out.push(pid);
        }
    }
    out
}

/// Polls `cond` every 50 ms until it holds (true) or `timeout` passes
/// (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `sig` to `pid`, failing the test if kill(2) fails.
pub fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: plain kill(2) on a pid this test started (Apache) or that
    // Apache started for this test's server (a daemon process).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}

/// Live processes whose command line names a file under `root` (an Apache
/// started with `-f ROOT/httpd.conf`, and daemon processes that kept that
/// command line).
pub fn running_config_under(root: &str) -> Vec<i32> {
    all_pids()
        .filter(|&pid| pid_alive(pid) && cmdline(pid).contains(root))
        .collect()
}
