//! What the kernel says about other processes: whether one is alive, and
//! its CPU time and resident memory (`/proc/PID/stat`).

/// Whether a process with `pid` exists (one of another user counts).
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let sent = unsafe { libc::kill(pid, 0) } == 0;
    sent || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// CPU seconds (user and system) and resident bytes of `pid`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
}

/// Reads `/proc/PID/stat`; None when the process is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_stat(&stat, ticks.max(1) as f64, super::usage::page_size()?)
}

/// The fields after the command name (which may hold spaces and
/// parentheses, so the split is at its last `)`).
fn parse_stat(stat: &str, ticks_per_second: f64, page_size: u64) -> Option<Usage> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15, rss 24.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Usage {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks_per_second,
        resident_bytes: field(24)? * page_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let stat = "4242 (apache2 (x) y) S 1 4242 4242 0 -1 4194624 100 0 0 0 250 50 0 0 20 0 1 0 123 1000000 300 18446744073709551615";
        assert_eq!(
            parse_stat(stat, 100.0, 4096),
            Some(Usage {
                cpu_seconds: 3.0,
                resident_bytes: 300 * 4096
            })
        );
        assert_eq!(parse_stat("garbage", 100.0, 4096), None);
        assert_eq!(parse_stat("1 (x) S 1 2", 100.0, 4096), None);
    }

    #[test]
    fn this_process_is_alive_and_reads_its_own_stat() {
        assert!(alive(std::process::id()));
        assert!(!alive(0));
        assert!(usage(std::process::id()).is_some_and(|u| u.resident_bytes > 0));
    }
}
