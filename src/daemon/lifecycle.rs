//! When a daemon process interrupts a request, drains (a graceful restart:
//! still serving, waiting to go idle) or stops. Pure decisions from the
//! group's options and a snapshot of the process, so every trigger of the
//! reference (maximum-requests, restart-interval, inactivity, request,
//! interrupt, graceful, eviction, deadlock and startup timeouts, the CPU
//! limit) is unit-tested without processes or clocks.

use crate::config::daemon::DaemonProcessSpec;
use std::time::Duration;

/// Why a daemon process restarts; the words appear in the error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    MaximumRequests,
    RestartInterval,
    InactivityTimeout,
    RequestTimeout,
    DeadlockTimeout,
    StartupTimeout,
    CpuTimeLimit,
    /// `memory-recycle=` (ours): resident memory stayed above the limit.
    MemoryRecycle,
    /// The graceful-restart signal (SIGUSR1) sent to the daemon itself.
    Eviction,
    /// A WSGI script changed on disk (process-level reloading).
    ScriptReload,
    /// SIGTERM or SIGINT: Apache is stopping or restarting.
    StopSignal,
}

impl Reason {
    /// Every reason, for tests that go through them all (the metrics
    /// page must have a restart counter for each).
    #[cfg(test)]
    pub const ALL: [Reason; 11] = [
        Reason::MaximumRequests,
        Reason::RestartInterval,
        Reason::InactivityTimeout,
        Reason::RequestTimeout,
        Reason::DeadlockTimeout,
        Reason::StartupTimeout,
        Reason::CpuTimeLimit,
        Reason::MemoryRecycle,
        Reason::Eviction,
        Reason::ScriptReload,
        Reason::StopSignal,
    ];

    /// The `shutdown_reason` of the `process_stopping` event and the
    /// telemetry records.
    pub fn key(self) -> &'static str {
        match self {
            Reason::MaximumRequests => "maximum_requests",
            Reason::RestartInterval => "restart_interval",
            Reason::InactivityTimeout => "inactivity_timeout",
            Reason::RequestTimeout => "request_timeout",
            Reason::DeadlockTimeout => "deadlock_timeout",
            Reason::StartupTimeout => "startup_timeout",
            Reason::CpuTimeLimit => "cpu_time_limit",
            Reason::MemoryRecycle => "memory_recycle",
            Reason::Eviction => "eviction_signal",
            Reason::ScriptReload => "script_reload",
            Reason::StopSignal => "shutdown_signal",
        }
    }

    /// The C module's line when this reason stops the process at once
    /// (also the drain's start line when it does not wait).
    pub fn stop_line(self, group: &str, limits: &Limits) -> String {
        match self {
            Reason::MaximumRequests => format!(
                "Maximum requests reached; triggering immediate shutdown of daemon process '{group}'."
            ),
            Reason::RestartInterval => {
                format!("Application restart timer expired, stopping process '{group}'.")
            }
            Reason::InactivityTimeout => {
                format!("Daemon process idle inactivity timer expired, stopping process '{group}'.")
            }
            Reason::RequestTimeout => format!(
                "Daemon process request time limit exceeded, stopping daemon process '{group}'."
            ),
            Reason::DeadlockTimeout => {
                format!("Daemon process deadlock timer expired, stopping daemon process '{group}'.")
            }
            Reason::StartupTimeout => {
                format!("Application startup timer expired, stopping daemon process '{group}'.")
            }
            Reason::CpuTimeLimit => format!(
                "Exceeded CPU time limit; triggering immediate shutdown of daemon process '{group}'."
            ),
            Reason::Eviction => format!(
                "{} requested; triggering immediate shutdown of daemon process '{group}'.",
                Self::eviction_kind(limits)
            ),
            Reason::MemoryRecycle => format!(
                "{}; triggering immediate shutdown of daemon process '{group}'.",
                Self::memory_recycle_cause(limits)
            ),
            Reason::ScriptReload | Reason::StopSignal => self.drain_line(group, limits),
        }
    }

    /// The C module's line when this reason starts a drain: the process
    /// keeps serving until its requests are done or the timeout passes.
    pub fn drain_line(self, group: &str, limits: &Limits) -> String {
        let waiting = "waiting for in-flight requests to complete in";
        match self {
            Reason::MaximumRequests => format!(
                "Maximum requests reached; attempting graceful shutdown of daemon process '{group}'."
            ),
            Reason::RestartInterval => {
                format!("Application restart timer expired; {waiting} process '{group}'.")
            }
            Reason::RequestTimeout => format!(
                "Daemon process request time limit exceeded; {waiting} daemon process '{group}'."
            ),
            Reason::CpuTimeLimit => {
                format!("Exceeded CPU time limit; {waiting} daemon process '{group}'.")
            }
            Reason::MemoryRecycle => format!(
                "{}; {waiting} daemon process '{group}'.",
                Self::memory_recycle_cause(limits)
            ),
            Reason::Eviction => format!(
                "{} requested; {waiting} daemon process '{group}'.",
                Self::eviction_kind(limits)
            ),
            // Never drained: these stop at once.
            Reason::InactivityTimeout | Reason::DeadlockTimeout | Reason::StartupTimeout => {
                self.stop_line(group, limits)
            }
            Reason::ScriptReload | Reason::StopSignal => shutdown_requested_line(group),
        }
    }

    /// Our words for a memory recycle (the C module has none).
    fn memory_recycle_cause(limits: &Limits) -> String {
        format!(
            "Resident memory stayed above memory-recycle={} bytes for {MEMORY_RECYCLE_SAMPLES} samples a second apart",
            limits.memory_recycle.unwrap_or(0)
        )
    }

    /// SIGUSR1 is an eviction when `eviction-timeout` is set, otherwise a
    /// graceful restart, in the C module's words.
    fn eviction_kind(limits: &Limits) -> &'static str {
        if limits.eviction_timeout.is_some() {
            "Process eviction"
        } else {
            "Graceful restart"
        }
    }
}

impl Reason {
    /// Whether a restart for this reason starts its replacement first
    /// (ours): the planned recycles, not faults or signals.
    pub fn replaces_first(self) -> bool {
        matches!(
            self,
            Reason::MaximumRequests | Reason::RestartInterval | Reason::MemoryRecycle
        )
    }
}

/// Whether a process recycling for `reason` keeps accepting until its
/// replacement is ready (ours). Only with a graceful-timeout: without one
/// the C module stops at once, and so do we (the replacement is still set
/// going first, so it starts sooner than the parent would start it).
pub fn waits_for_replacement(reason: Reason, limits: &Limits) -> bool {
    reason.replaces_first() && limits.graceful_timeout.is_some()
}

/// Whether a process has waited long enough for its replacement: the
/// graceful-timeout bounds the wait, as it bounds a drain.
pub fn replacement_wait_over(limits: &Limits, waited: Duration) -> bool {
    limits.graceful_timeout.is_none_or(|t| waited >= t)
}

/// Our line: the replacement was set going before this process stops.
pub fn replacement_started_line(group: &str, standby: i32) -> String {
    format!(
        "Starting replacement process (pid={standby}) for daemon process '{group}' before this one stops accepting requests."
    )
}

/// Our line: the replacement accepts requests, so this one may stop.
pub fn replacement_ready_line(group: &str, standby: i32) -> String {
    format!("Replacement process (pid={standby}) for daemon process '{group}' is ready; this one stops accepting requests.")
}

/// Our line: a changed script is loaded by a replacement first.
pub fn reload_started_line(group: &str, standby: i32, script: &str) -> String {
    format!(
        "Starting replacement process (pid={standby}) for daemon process '{group}' to load the changed script '{script}'; this one serves the code it has until then."
    )
}

/// Our line: the changed script failed in the replacement (whose log
/// lines hold the traceback).
pub fn reload_failed_line(group: &str, standby: i32, script: &str) -> String {
    format!(
        "Replacement process (pid={standby}) for daemon process '{group}' could not load the changed script '{script}' (see its traceback above); this process keeps serving the code it has until the script changes again."
    )
}

/// Our line: the replacement did not become ready in time or failed.
pub fn replacement_failed_line(group: &str, standby: i32) -> String {
    format!("Replacement process (pid={standby}) for daemon process '{group}' did not become ready; this one stops without it.")
}

/// Logged by every daemon process that begins to stop, whatever the reason.
pub fn shutdown_requested_line(group: &str) -> String {
    format!("Shutdown requested for daemon process '{group}'.")
}

/// A drain ended because the requests finished.
pub fn drain_completed_line(group: &str) -> String {
    format!("Requests have completed; triggering immediate shutdown of daemon process '{group}'.")
}

/// A drain ended because its timeout passed with requests still running.
pub fn drain_expired_line(group: &str) -> String {
    format!("Daemon process restart timer expired in daemon process '{group}'; forcing shutdown.")
}

/// The options that drive the decisions, with "unset" and zero both
/// meaning "off".
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub maximum_requests: Option<u64>,
    /// `memory-recycle=`: resident bytes.
    pub memory_recycle: Option<u64>,
    pub restart_interval: Option<Duration>,
    pub inactivity_timeout: Option<Duration>,
    /// The request-timeout fire point, already scaled by the thread count.
    pub request_timeout: Option<Duration>,
    /// `request-timeout=` as configured, for the log.
    pub request_timeout_setting: Option<Duration>,
    pub interrupt_timeout: Option<Duration>,
    pub graceful_timeout: Option<Duration>,
    pub eviction_timeout: Option<Duration>,
    pub deadlock_timeout: Option<Duration>,
    pub startup_timeout: Option<Duration>,
    /// `WSGISlowRequests`: a request running this long has its stack
    /// logged once (ours).
    pub slow_request: Option<Duration>,
}

fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

/// `request-timeout` grows with the thread count by natural log:
/// How long a replacement waits before starting, for a daemon process that
/// died after living `lived`: one that dies young (a crashing application,
/// a service script that returns) is restarted at most about once a second,
/// as the C module's restarts are paced, instead of in a tight loop.
pub fn restart_hold_off(lived: Duration) -> Duration {
    const SHORTEST_LIFE: Duration = Duration::from_secs(1);
    SHORTEST_LIFE.saturating_sub(lived)
}

/// What the Apache parent logs about a daemon process of `group` that it
/// monitors, in the C module's words.
pub mod parent_lines {
    /// It ended while the server runs, so it is replaced.
    pub fn died(group: &str, pid: i32, status: i32) -> [String; 2] {
        // The MPM hands over one number, the exit code or the signal, and
        // not which. The C module reads it as a wait status and so reports
        // `os._exit(3)` as "terminated by signal 3"; we say what is known.
        let outcome = if status == 0 {
            "terminated normally, exit code 0".to_string()
        } else {
            format!("terminated by signal or with exit code {status}")
        };
        [
            format!("Process '{group}' (pid={pid}) has died; deregistering and restarting it."),
            format!("Process '{group}' (pid={pid}) {outcome}"),
        ]
    }

    /// It ended while Apache stops or restarts: not replaced.
    pub fn died_while_stopping(group: &str, pid: i32) -> String {
        format!(
            "Process '{group}' (pid={pid}) has died but server is being stopped, deregister it."
        )
    }

    /// APR lost track of it; it is replaced.
    pub fn lost(group: &str, pid: i32) -> String {
        format!(
            "Process '{group}' (pid={pid}) appears to have been lost; deregistering and restarting it."
        )
    }

    /// Apache drops the registration of a live process as it stops or
    /// restarts.
    pub fn deregistering(group: &str, pid: i32) -> String {
        format!(
            "Deregistering daemon process '{group}' (pid={pid}); server is restarting or shutting down."
        )
    }

    /// Every registration ends with this line.
    pub fn deregistered(group: &str, pid: i32) -> String {
        format!(
            "Process '{group}' (pid={pid}) has been deregistered and will no longer be monitored."
        )
    }
}

/// A thread's Python stack as the C module logs it: the innermost frame
/// (`(file, line, function)`, innermost first) on the thread's own line,
/// then each caller.
pub fn stack_lines(thread: u64, frames: &[(String, u64, String)]) -> Vec<String> {
    frames
        .iter()
        .enumerate()
        .map(|(i, (file, line, function))| {
            let place = format!("file \"{file}\", line {line}, in {function}");
            if i == 0 {
                format!("Thread {thread} executing {place}")
            } else {
                format!("called from {place}.")
            }
        })
        .collect()
}

/// Our error-level account of a request that a timeout caught: which
/// request, how long it ran, what is done about it (`action`), and where
/// its thread was, as Python prints a traceback (most recent call last).
/// `frames` come innermost first, as [`stack_lines`] takes them.
pub fn stuck_request_lines(
    request: &str,
    group: &str,
    elapsed: Duration,
    action: &str,
    frames: Option<&[(String, u64, String)]>,
) -> Vec<String> {
    let head = format!(
        "Request '{request}' in daemon process '{group}' has run for {:.1} seconds; {action}.",
        elapsed.as_secs_f64()
    );
    match frames {
        Some(frames) if !frames.is_empty() => {
            let mut lines = vec![format!(
                "{head} Python stack of its thread, most recent call last:"
            )];
            lines.extend(frames.iter().rev().map(|(file, line, function)| {
                format!("  File \"{file}\", line {line}, in {function}")
            }));
            lines
        }
        Some(_) => vec![format!("{head} Its thread is running no Python code.")],
        None => vec![format!(
            "{head} Its Python stack cannot be read: the thread holds the GIL, or this build has none."
        )],
    }
}

/// `T * (1 + ln(threads))`, so one wedged thread out of many is given
/// proportionally more patience.
pub fn request_timeout_fire_point(timeout: Duration, threads: u32) -> Duration {
    let scale = 1.0 + f64::from(threads.max(1)).ln();
    timeout.mul_f64(scale)
}

impl Limits {
    pub fn from_spec(spec: &DaemonProcessSpec) -> Limits {
        Limits {
            maximum_requests: spec.maximum_requests.filter(|&n| n > 0),
            memory_recycle: spec.memory_recycle.filter(|&n| n > 0),
            restart_interval: nonzero(spec.restart_interval),
            inactivity_timeout: nonzero(spec.inactivity_timeout),
            request_timeout: nonzero(spec.request_timeout)
                .map(|t| request_timeout_fire_point(t, spec.threads)),
            request_timeout_setting: nonzero(spec.request_timeout),
            interrupt_timeout: nonzero(spec.interrupt_timeout),
            graceful_timeout: nonzero(spec.graceful_timeout),
            eviction_timeout: nonzero(spec.eviction_timeout),
            deadlock_timeout: nonzero(spec.deadlock_timeout),
            startup_timeout: nonzero(spec.startup_timeout),
            slow_request: None,
        }
    }

    /// Whether a request running for `running_for` has passed
    /// `WSGISlowRequests`.
    pub fn is_slow(&self, running_for: Duration) -> bool {
        self.slow_request.is_some_and(|t| running_for >= t)
    }

    /// This process's `maximum-requests`, with `maximum-requests-jitter=`
    /// applied: `draw` (any random number) picks the addition, from 0 to
    /// the jitter, so each process of a group recycles at its own count.
    pub fn with_jitter(mut self, jitter: Option<u64>, draw: u64) -> Limits {
        if let (Some(maximum), Some(jitter)) = (self.maximum_requests, jitter) {
            let extra = draw % jitter.saturating_add(1).max(1);
            self.maximum_requests = Some(maximum.saturating_add(extra));
        }
        self
    }

    /// The line announcing that the request in `slot` ran past its
    /// request-timeout, in the C module's words.
    pub fn request_timeout_line(&self, slot: usize, group: &str) -> String {
        format!(
            "Dumping stack trace for thread {slot} of daemon process '{group}' which has exceeded request-timeout of {} seconds, before injecting RequestTimeout to unwind it.",
            self.request_timeout_setting.unwrap_or_default().as_secs()
        )
    }

    /// A request running longer than this will not unwind by itself, so
    /// a drain does not wait for it.
    fn stale_after(&self) -> Option<Duration> {
        self.request_timeout
            .map(|t| t + self.interrupt_timeout.unwrap_or_default())
    }
}

/// One request in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestView {
    /// The worker slot running it.
    pub slot: usize,
    pub running_for: Duration,
    /// Time since `mod_wsgi.RequestTimeout` was injected into it.
    pub interrupted_for: Option<Duration>,
}

/// The process as the monitor sees it on one tick.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uptime: Duration,
    /// Time since a request last started, ended or moved data.
    pub idle_for: Duration,
    pub requests: Vec<RequestView>,
    pub served: u64,
    /// Time since the first failed attempt to load a WSGI script, while no
    /// attempt has succeeded yet.
    pub startup_failing_for: Option<Duration>,
    /// Time since the GIL(s) could last be taken.
    pub gil_stalled_for: Duration,
    pub cpu_limit_reached: bool,
    pub eviction_requested: bool,
    /// Consecutive once-a-second samples with resident memory above
    /// `memory-recycle=` (0 without the option).
    pub memory_over_limit_samples: u32,
}

/// How many consecutive samples over `memory-recycle=` restart the
/// process: a brief peak (one large request) is not a leak.
pub const MEMORY_RECYCLE_SAMPLES: u32 = 3;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Running,
    /// Still serving, restarting once idle or when `timeout` has passed
    /// (`draining_for` is the time since it began).
    Draining {
        reason: Reason,
        timeout: Option<Duration>,
        draining_for: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    Continue,
    Drain {
        reason: Reason,
        timeout: Option<Duration>,
    },
    /// Stop accepting, let requests finish within shutdown-timeout, exit.
    Stop(Reason),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Worker slots whose request should get `mod_wsgi.RequestTimeout`.
    pub interrupt: Vec<usize>,
    pub next: Next,
}

/// Whether a drain can end now: nothing left but requests that will not
/// unwind by themselves, or out of time.
fn drain_done(
    limits: &Limits,
    snap: &Snapshot,
    timeout: Option<Duration>,
    elapsed: Duration,
) -> bool {
    let stale_after = limits.stale_after();
    let busy = snap
        .requests
        .iter()
        .any(|r| stale_after.is_none_or(|s| r.running_for < s));
    !busy || timeout.is_none_or(|t| elapsed >= t)
}

pub fn decide(limits: &Limits, snap: &Snapshot, phase: Phase) -> Decision {
    let mut interrupt = Vec::new();
    let stop = |reason| Decision {
        interrupt: Vec::new(),
        next: Next::Stop(reason),
    };
    if limits
        .deadlock_timeout
        .is_some_and(|t| snap.gil_stalled_for >= t)
    {
        return stop(Reason::DeadlockTimeout);
    }
    if let (Some(limit), Some(failing)) = (limits.startup_timeout, snap.startup_failing_for) {
        if failing >= limit {
            return stop(Reason::StartupTimeout);
        }
    }
    let mut timed_out = false;
    if let Some(fire) = limits.request_timeout {
        for r in snap.requests.iter().filter(|r| r.running_for >= fire) {
            match (limits.interrupt_timeout, r.interrupted_for) {
                (Some(_), None) => interrupt.push(r.slot),
                (Some(grace), Some(since)) if since < grace => {}
                _ => timed_out = true,
            }
        }
    }
    let next = match phase {
        Phase::Draining {
            reason,
            timeout,
            draining_for,
        } => {
            if drain_done(limits, snap, timeout, draining_for) {
                Next::Stop(reason)
            } else {
                Next::Continue
            }
        }
        Phase::Running => {
            let graceful = limits.graceful_timeout;
            let trigger = if timed_out {
                Some((Reason::RequestTimeout, graceful))
            } else if limits.maximum_requests.is_some_and(|m| snap.served >= m) {
                Some((Reason::MaximumRequests, graceful))
            } else if limits.restart_interval.is_some_and(|t| snap.uptime >= t) {
                Some((Reason::RestartInterval, graceful))
            } else if snap.cpu_limit_reached {
                Some((Reason::CpuTimeLimit, graceful))
            } else if limits.memory_recycle.is_some()
                && snap.memory_over_limit_samples >= MEMORY_RECYCLE_SAMPLES
            {
                Some((Reason::MemoryRecycle, graceful))
            } else if snap.eviction_requested {
                Some((Reason::Eviction, limits.eviction_timeout.or(graceful)))
            } else {
                None
            };
            match trigger {
                Some((reason, timeout)) => {
                    if drain_done(limits, snap, timeout, Duration::ZERO) {
                        Next::Stop(reason)
                    } else {
                        Next::Drain { reason, timeout }
                    }
                }
                None if snap.requests.is_empty()
                    && limits
                        .inactivity_timeout
                        .is_some_and(|t| snap.idle_for >= t) =>
                {
                    Next::Stop(Reason::InactivityTimeout)
                }
                None => Next::Continue,
            }
        }
    };
    Decision { interrupt, next }
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_stop_reason_has_its_restart_counter() {
        use Reason::*;
        for reason in Reason::ALL {
            // A new reason must be added to `Reason::ALL` (this match
            // stops compiling) and so to the metrics page's counters.
            match reason {
                MaximumRequests | RestartInterval | InactivityTimeout | RequestTimeout
                | DeadlockTimeout | StartupTimeout | CpuTimeLimit | MemoryRecycle | Eviction
                | ScriptReload | StopSignal => {}
            }
            assert!(
                crate::metrics::board::RESTART_REASONS.contains(&reason.key()),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn replacement_lines_name_the_group_the_standby_and_the_script() {
        assert_eq!(
            replacement_started_line("shop", 42),
            "Starting replacement process (pid=42) for daemon process 'shop' before this one stops accepting requests."
        );
        assert!(replacement_ready_line("shop", 42)
            .starts_with("Replacement process (pid=42) for daemon process 'shop' is ready;"));
        assert!(replacement_failed_line("shop", 42)
            .ends_with("did not become ready; this one stops without it."));
        assert!(reload_started_line("shop", 42, "/srv/app.wsgi").contains(
            "to load the changed script '/srv/app.wsgi'; this one serves the code it has"
        ));
        assert!(reload_failed_line("shop", 42, "/srv/app.wsgi").contains(
            "could not load the changed script '/srv/app.wsgi' (see its traceback above)"
        ));
    }

    #[test]
    fn planned_recycles_wait_for_their_replacement_within_graceful_timeout() {
        let graceful = Limits {
            graceful_timeout: Some(secs(15)),
            ..Limits::default()
        };
        for reason in [
            Reason::MaximumRequests,
            Reason::RestartInterval,
            Reason::MemoryRecycle,
        ] {
            assert!(waits_for_replacement(reason, &graceful), "{reason:?}");
            assert!(!waits_for_replacement(reason, &Limits::default()));
        }
        for reason in [Reason::RequestTimeout, Reason::Eviction, Reason::StopSignal] {
            assert!(!waits_for_replacement(reason, &graceful), "{reason:?}");
        }
        assert!(!replacement_wait_over(&graceful, secs(14)));
        assert!(replacement_wait_over(&graceful, secs(15)));
        assert!(replacement_wait_over(&Limits::default(), Duration::ZERO));
    }

    #[test]
    fn young_deaths_are_restarted_about_once_a_second() {
        assert_eq!(restart_hold_off(Duration::ZERO), secs(1));
        assert_eq!(
            restart_hold_off(Duration::from_millis(300)),
            Duration::from_millis(700)
        );
        assert_eq!(restart_hold_off(secs(1)), Duration::ZERO);
        assert_eq!(restart_hold_off(secs(60)), Duration::ZERO);
    }

    #[test]
    fn stacks_are_logged_innermost_first_as_the_c_module_words_them() {
        let frame =
            |function: &str, line| ("/srv/app.wsgi".to_string(), line, function.to_string());
        assert_eq!(
            stack_lines(7, &[frame("spin", 5), frame("application", 9)]),
            [
                "Thread 7 executing file \"/srv/app.wsgi\", line 5, in spin",
                "called from file \"/srv/app.wsgi\", line 9, in application."
            ]
        );
        assert!(stack_lines(7, &[]).is_empty());
    }

    #[test]
    fn stuck_requests_are_told_with_their_url_time_and_stack() {
        let frame =
            |function: &str, line| ("/srv/app.wsgi".to_string(), line, function.to_string());
        let frames = [frame("spin", 5), frame("application", 9)];
        assert_eq!(
            stuck_request_lines(
                "GET /x?y=1",
                "site",
                Duration::from_millis(2500),
                "interrupting it with RequestTimeout",
                Some(&frames)
            ),
            [
                "Request 'GET /x?y=1' in daemon process 'site' has run for 2.5 seconds; interrupting it with RequestTimeout. Python stack of its thread, most recent call last:",
                "  File \"/srv/app.wsgi\", line 9, in application",
                "  File \"/srv/app.wsgi\", line 5, in spin",
            ]
        );
        let unreadable =
            stuck_request_lines("GET /", "site", secs(300), "restarting the process", None);
        assert_eq!(unreadable.len(), 1);
        assert!(unreadable[0]
            .ends_with("cannot be read: the thread holds the GIL, or this build has none."));
        let idle = stuck_request_lines(
            "GET /",
            "site",
            secs(3),
            "restarting the process",
            Some(&[]),
        );
        assert!(idle[0].ends_with("Its thread is running no Python code."));
    }

    #[test]
    fn request_timeout_line_names_the_configured_timeout() {
        let spec = DaemonProcessSpec {
            request_timeout: Some(secs(2)),
            threads: 4,
            ..DaemonProcessSpec::new("site")
        };
        assert_eq!(
            Limits::from_spec(&spec).request_timeout_line(1, "site"),
            "Dumping stack trace for thread 1 of daemon process 'site' which has exceeded request-timeout of 2 seconds, before injecting RequestTimeout to unwind it."
        );
    }

    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn running(slot: usize, for_secs: u64) -> RequestView {
        RequestView {
            slot,
            running_for: secs(for_secs),
            interrupted_for: None,
        }
    }

    fn next(limits: &Limits, snap: &Snapshot) -> Next {
        decide(limits, snap, Phase::Running).next
    }

    #[test]
    fn nothing_configured_never_restarts() {
        let snap = Snapshot {
            uptime: secs(1_000_000),
            idle_for: secs(1_000_000),
            served: u64::MAX,
            requests: vec![running(0, 100_000)],
            ..Snapshot::default()
        };
        assert_eq!(next(&Limits::default(), &snap), Next::Continue);
    }

    #[test]
    fn zero_values_mean_off() {
        let mut spec = DaemonProcessSpec::new("g");
        spec.maximum_requests = Some(0);
        spec.restart_interval = Some(Duration::ZERO);
        spec.deadlock_timeout = Some(Duration::ZERO);
        let limits = Limits::from_spec(&spec);
        assert_eq!(limits.maximum_requests, None);
        assert_eq!(limits.restart_interval, None);
        assert_eq!(limits.deadlock_timeout, None);
    }

    #[test]
    fn fire_point_scales_by_natural_log_of_threads() {
        assert_eq!(request_timeout_fire_point(secs(10), 1), secs(10));
        let ten = request_timeout_fire_point(secs(10), 10).as_secs_f64();
        assert!((ten - 33.03).abs() < 0.01, "{ten}");
        let spec = DaemonProcessSpec {
            request_timeout: Some(secs(2)),
            threads: 1,
            ..DaemonProcessSpec::new("g")
        };
        assert_eq!(Limits::from_spec(&spec).request_timeout, Some(secs(2)));
    }

    #[test]
    fn maximum_requests_stops_at_once_without_graceful_timeout() {
        let limits = Limits {
            maximum_requests: Some(5),
            ..Limits::default()
        };
        let mut snap = Snapshot {
            served: 4,
            ..Snapshot::default()
        };
        assert_eq!(next(&limits, &snap), Next::Continue);
        snap.served = 5;
        assert_eq!(next(&limits, &snap), Next::Stop(Reason::MaximumRequests));
    }

    #[test]
    fn graceful_timeout_drains_while_busy_then_stops_when_idle_or_late() {
        let limits = Limits {
            restart_interval: Some(secs(60)),
            graceful_timeout: Some(secs(15)),
            ..Limits::default()
        };
        let busy = Snapshot {
            uptime: secs(61),
            requests: vec![running(0, 3)],
            ..Snapshot::default()
        };
        let drain = Next::Drain {
            reason: Reason::RestartInterval,
            timeout: Some(secs(15)),
        };
        assert_eq!(next(&limits, &busy), drain);
        let draining = |for_secs| Phase::Draining {
            reason: Reason::RestartInterval,
            timeout: Some(secs(15)),
            draining_for: secs(for_secs),
        };
        assert_eq!(decide(&limits, &busy, draining(5)).next, Next::Continue);
        assert_eq!(
            decide(&limits, &busy, draining(15)).next,
            Next::Stop(Reason::RestartInterval)
        );
        let idle = Snapshot {
            requests: vec![],
            ..busy.clone()
        };
        assert_eq!(
            decide(&limits, &idle, draining(1)).next,
            Next::Stop(Reason::RestartInterval)
        );
        // Already idle when the trigger fires: no drain at all.
        assert_eq!(next(&limits, &idle), Next::Stop(Reason::RestartInterval));
    }

    #[test]
    fn inactivity_only_counts_when_no_request_runs() {
        let limits = Limits {
            inactivity_timeout: Some(secs(2)),
            ..Limits::default()
        };
        let mut snap = Snapshot {
            idle_for: secs(3),
            requests: vec![running(0, 3)],
            ..Snapshot::default()
        };
        assert_eq!(next(&limits, &snap), Next::Continue);
        snap.requests.clear();
        assert_eq!(next(&limits, &snap), Next::Stop(Reason::InactivityTimeout));
        snap.idle_for = secs(1);
        assert_eq!(next(&limits, &snap), Next::Continue);
    }

    #[test]
    fn request_timeout_without_interrupt_restarts_the_process() {
        let limits = Limits {
            request_timeout: Some(secs(2)),
            ..Limits::default()
        };
        let snap = Snapshot {
            requests: vec![running(0, 1)],
            ..Snapshot::default()
        };
        assert_eq!(next(&limits, &snap), Next::Continue);
        let snap = Snapshot {
            requests: vec![running(0, 2)],
            ..Snapshot::default()
        };
        // The only request is past its fire point: nothing to wait for.
        assert_eq!(next(&limits, &snap), Next::Stop(Reason::RequestTimeout));
    }

    #[test]
    fn request_timeout_with_graceful_waits_for_healthy_siblings_only() {
        let limits = Limits {
            request_timeout: Some(secs(2)),
            graceful_timeout: Some(secs(10)),
            ..Limits::default()
        };
        let snap = Snapshot {
            requests: vec![running(0, 5), running(1, 1)],
            ..Snapshot::default()
        };
        assert_eq!(
            next(&limits, &snap),
            Next::Drain {
                reason: Reason::RequestTimeout,
                timeout: Some(secs(10))
            }
        );
        let only_wedged = Snapshot {
            requests: vec![running(0, 6)],
            ..Snapshot::default()
        };
        let phase = Phase::Draining {
            reason: Reason::RequestTimeout,
            timeout: Some(secs(10)),
            draining_for: secs(1),
        };
        assert_eq!(
            decide(&limits, &only_wedged, phase).next,
            Next::Stop(Reason::RequestTimeout)
        );
    }

    #[test]
    fn interrupt_timeout_interrupts_first_then_restarts_after_the_grace() {
        let limits = Limits {
            request_timeout: Some(secs(2)),
            interrupt_timeout: Some(secs(2)),
            ..Limits::default()
        };
        let snap = Snapshot {
            requests: vec![running(3, 2), running(4, 1)],
            ..Snapshot::default()
        };
        let d = decide(&limits, &snap, Phase::Running);
        assert_eq!(d.interrupt, vec![3]);
        assert_eq!(d.next, Next::Continue);
        let mut interrupted = running(3, 3);
        interrupted.interrupted_for = Some(secs(1));
        let snap = Snapshot {
            requests: vec![interrupted.clone()],
            ..Snapshot::default()
        };
        let d = decide(&limits, &snap, Phase::Running);
        assert!(d.interrupt.is_empty(), "interrupted once only");
        assert_eq!(d.next, Next::Continue);
        interrupted.interrupted_for = Some(secs(2));
        let snap = Snapshot {
            requests: vec![interrupted],
            ..Snapshot::default()
        };
        assert_eq!(next(&limits, &snap), Next::Stop(Reason::RequestTimeout));
    }

    #[test]
    fn eviction_uses_eviction_timeout_then_graceful_timeout() {
        let busy = Snapshot {
            eviction_requested: true,
            requests: vec![running(0, 1)],
            ..Snapshot::default()
        };
        let both = Limits {
            eviction_timeout: Some(secs(3)),
            graceful_timeout: Some(secs(9)),
            ..Limits::default()
        };
        assert_eq!(
            next(&both, &busy),
            Next::Drain {
                reason: Reason::Eviction,
                timeout: Some(secs(3))
            }
        );
        let graceful_only = Limits {
            graceful_timeout: Some(secs(9)),
            ..Limits::default()
        };
        assert_eq!(
            next(&graceful_only, &busy),
            Next::Drain {
                reason: Reason::Eviction,
                timeout: Some(secs(9))
            }
        );
        assert_eq!(
            next(&Limits::default(), &busy),
            Next::Stop(Reason::Eviction)
        );
    }

    #[test]
    fn deadlock_and_startup_stop_regardless_of_requests() {
        let limits = Limits {
            deadlock_timeout: Some(secs(60)),
            startup_timeout: Some(secs(15)),
            graceful_timeout: Some(secs(100)),
            ..Limits::default()
        };
        let mut snap = Snapshot {
            requests: vec![running(0, 1)],
            gil_stalled_for: secs(59),
            startup_failing_for: Some(secs(14)),
            ..Snapshot::default()
        };
        assert_eq!(next(&limits, &snap), Next::Continue);
        snap.gil_stalled_for = secs(60);
        assert_eq!(next(&limits, &snap), Next::Stop(Reason::DeadlockTimeout));
        snap.gil_stalled_for = secs(1);
        snap.startup_failing_for = Some(secs(15));
        assert_eq!(next(&limits, &snap), Next::Stop(Reason::StartupTimeout));
    }

    #[test]
    fn parent_logs_deaths_in_the_c_modules_words() {
        assert_eq!(
            parent_lines::died("dg", 42, 0),
            [
                "Process 'dg' (pid=42) has died; deregistering and restarting it.",
                "Process 'dg' (pid=42) terminated normally, exit code 0"
            ]
        );
        assert_eq!(
            parent_lines::died("dg", 42, 9)[1],
            "Process 'dg' (pid=42) terminated by signal or with exit code 9"
        );
        assert_eq!(
            parent_lines::deregistered("dg", 42),
            "Process 'dg' (pid=42) has been deregistered and will no longer be monitored."
        );
        assert_eq!(
            parent_lines::died_while_stopping("dg", 42),
            "Process 'dg' (pid=42) has died but server is being stopped, deregister it."
        );
        assert_eq!(
            parent_lines::lost("dg", 42),
            "Process 'dg' (pid=42) appears to have been lost; deregistering and restarting it."
        );
        assert_eq!(
            parent_lines::deregistering("dg", 42),
            "Deregistering daemon process 'dg' (pid=42); server is restarting or shutting down."
        );
    }

    #[test]
    fn stop_and_drain_lines_are_the_c_modules() {
        let plain = Limits::default();
        let evicting = Limits {
            eviction_timeout: Some(secs(3)),
            ..Limits::default()
        };
        assert_eq!(
            Reason::MaximumRequests.stop_line("dg", &plain),
            "Maximum requests reached; triggering immediate shutdown of daemon process 'dg'."
        );
        assert_eq!(
            Reason::MaximumRequests.drain_line("dg", &plain),
            "Maximum requests reached; attempting graceful shutdown of daemon process 'dg'."
        );
        assert_eq!(
            Reason::InactivityTimeout.stop_line("dg", &plain),
            "Daemon process idle inactivity timer expired, stopping process 'dg'."
        );
        assert_eq!(
            Reason::RestartInterval.drain_line("dg", &plain),
            "Application restart timer expired; waiting for in-flight requests to complete in process 'dg'."
        );
        assert_eq!(
            Reason::Eviction.drain_line("dg", &plain),
            "Graceful restart requested; waiting for in-flight requests to complete in daemon process 'dg'."
        );
        assert_eq!(
            Reason::Eviction.stop_line("dg", &evicting),
            "Process eviction requested; triggering immediate shutdown of daemon process 'dg'."
        );
        assert_eq!(
            Reason::StopSignal.stop_line("dg", &plain),
            shutdown_requested_line("dg")
        );
        assert_eq!(
            drain_completed_line("dg"),
            "Requests have completed; triggering immediate shutdown of daemon process 'dg'."
        );
        assert_eq!(
            drain_expired_line("dg"),
            "Daemon process restart timer expired in daemon process 'dg'; forcing shutdown."
        );
        // Every reason that the monitor decides on reads differently.
        let decided = [
            Reason::MaximumRequests,
            Reason::RestartInterval,
            Reason::InactivityTimeout,
            Reason::RequestTimeout,
            Reason::DeadlockTimeout,
            Reason::StartupTimeout,
            Reason::CpuTimeLimit,
            Reason::Eviction,
        ];
        let texts: std::collections::HashSet<_> =
            decided.iter().map(|r| r.stop_line("dg", &plain)).collect();
        assert_eq!(texts.len(), decided.len());
    }

    #[test]
    fn cpu_limit_drains_like_maximum_requests() {
        let limits = Limits {
            graceful_timeout: Some(secs(5)),
            ..Limits::default()
        };
        let snap = Snapshot {
            cpu_limit_reached: true,
            requests: vec![running(0, 1)],
            ..Snapshot::default()
        };
        assert_eq!(
            next(&limits, &snap),
            Next::Drain {
                reason: Reason::CpuTimeLimit,
                timeout: Some(secs(5))
            }
        );
    }

    #[test]
    fn memory_recycle_drains_after_three_samples_over_the_limit() {
        let limits = Limits {
            memory_recycle: Some(100 << 20),
            graceful_timeout: Some(secs(5)),
            ..Limits::default()
        };
        let over = |samples| Snapshot {
            memory_over_limit_samples: samples,
            requests: vec![running(0, 1)],
            ..Snapshot::default()
        };
        assert_eq!(
            next(&limits, &over(MEMORY_RECYCLE_SAMPLES - 1)),
            Next::Continue
        );
        assert_eq!(
            next(&limits, &over(MEMORY_RECYCLE_SAMPLES)),
            Next::Drain {
                reason: Reason::MemoryRecycle,
                timeout: Some(secs(5))
            }
        );
        // Idle: it stops at once.
        let idle = Snapshot {
            requests: Vec::new(),
            ..over(MEMORY_RECYCLE_SAMPLES)
        };
        assert_eq!(next(&limits, &idle), Next::Stop(Reason::MemoryRecycle));
        // Without the option the samples mean nothing.
        assert_eq!(next(&Limits::default(), &over(100)), Next::Continue);
        assert_eq!(Reason::MemoryRecycle.key(), "memory_recycle");
        assert_eq!(
            Reason::MemoryRecycle.drain_line("g", &limits),
            "Resident memory stayed above memory-recycle=104857600 bytes for 3 samples a second apart; waiting for in-flight requests to complete in daemon process 'g'."
        );
    }

    #[test]
    fn slow_requests_pass_the_threshold_only_when_one_is_set() {
        let limits = Limits {
            slow_request: Some(secs(2)),
            ..Limits::default()
        };
        assert!(!limits.is_slow(Duration::from_millis(1999)));
        assert!(limits.is_slow(secs(2)));
        assert!(!Limits::default().is_slow(secs(1_000_000)));
    }

    #[test]
    fn jitter_adds_up_to_its_value_to_maximum_requests() {
        let limits = |maximum| Limits {
            maximum_requests: maximum,
            ..Limits::default()
        };
        let jittered = |draw| {
            limits(Some(100))
                .with_jitter(Some(10), draw)
                .maximum_requests
        };
        assert_eq!(jittered(0), Some(100));
        assert_eq!(jittered(10), Some(110));
        assert_eq!(jittered(11), Some(100));
        assert_eq!(jittered(u64::MAX), Some(100 + u64::MAX % 11));
        let seen: std::collections::BTreeSet<_> = (0..1000).map(jittered).collect();
        assert_eq!(seen.len(), 11, "every count from 100 to 110 is reachable");
        // No maximum-requests: nothing to jitter.
        assert_eq!(limits(None).with_jitter(Some(10), 7).maximum_requests, None);
        assert_eq!(
            limits(Some(100)).with_jitter(None, 7).maximum_requests,
            Some(100)
        );
    }

    #[test]
    fn shutdown_reasons_have_event_keys() {
        assert_eq!(Reason::MaximumRequests.key(), "maximum_requests");
        assert_eq!(Reason::StopSignal.key(), "shutdown_signal");
        assert_eq!(Reason::ScriptReload.key(), "script_reload");
        assert_eq!(Reason::CpuTimeLimit.key(), "cpu_time_limit");
    }
}
