//! The life of a daemon process after start-up: what its requests are
//! doing (the tracker), the signals it takes, and the monitor loop on the
//! main thread that applies `lifecycle::decide` — interrupting timed-out
//! requests, draining, and stopping within shutdown-timeout.

use super::lifecycle::{self, Limits, Next, Phase, Reason, RequestView, Snapshot};
use crate::python::interp::{self, Interpreter};
use crate::sys::fd;
use crate::sys::signals::{self, Signal};
use parking_lot::Mutex;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events for the monitor, written to its pipe (from signal handlers too).
const EVENT_STOP: u8 = b'T';
const EVENT_EVICT: u8 = b'U';
const EVENT_CPU: u8 = b'X';
const EVENT_RELOAD: u8 = b'R';
const EVENT_TICK: u8 = b'.';

static EVENT_WRITE: AtomicI32 = AtomicI32::new(-1);
/// SIGHUP and SIGUSR2 go here, for the `process_signal` dispatcher.
static USER_SIGNAL_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Written once when the process stops accepting; never read, so it stays
/// readable and wakes every worker's poll.
static WORKERS_STOP_WRITE: AtomicI32 = AtomicI32::new(-1);
static ACCEPTING: AtomicBool = AtomicBool::new(true);
/// Set while the monitor drains the process (a graceful restart, restart
/// interval, maximum-requests...): the first moment no request is running,
/// the process stops taking new ones and ends the drain.
static DRAINING: AtomicBool = AtomicBool::new(false);

fn send_event(event: u8) {
    let fd = EVENT_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        // A full pipe only loses a duplicate wake-up.
        let _ = fd::write(fd, &[event]);
    }
}

/// A pipe whose ends close on exec.
fn pipe() -> Result<(RawFd, RawFd), String> {
    fd::pipe().map_err(|e| format!("cannot create a pipe: {e}"))
}

/// Sets up the pipes and signal handlers; returns (event pipe read end,
/// workers' stop read end).
pub fn install() -> Result<(RawFd, RawFd), String> {
    let (event_read, event_write) = pipe()?;
    let (stop_read, stop_write) = pipe()?;
    let (user_read, user_write) = pipe()?;
    // The pipes' write ends are non-blocking, so a signal handler never
    // blocks on them.
    for fd in [event_write, user_write] {
        fd::set_nonblocking(fd);
    }
    EVENT_WRITE.store(event_write, Ordering::Relaxed);
    USER_SIGNAL_WRITE.store(user_write, Ordering::Relaxed);
    USER_SIGNAL_READ.store(user_read, Ordering::Relaxed);
    WORKERS_STOP_WRITE.store(stop_write, Ordering::Relaxed);
    // SIGHUP and SIGUSR2 are handed to the dispatcher as their numbers;
    // the others are events for the monitor.
    let user = |signal: Signal| (signal, user_write, signal.number() as u8);
    signals::route_to_pipes(&[
        (Signal::Term, event_write, EVENT_STOP),
        (Signal::Int, event_write, EVENT_STOP),
        user(Signal::Hup),
        (Signal::Usr1, event_write, EVENT_EVICT),
        user(Signal::Usr2),
        (Signal::Xcpu, event_write, EVENT_CPU),
    ]);
    signals::ignore(Signal::Pipe);
    signals::set_default(Signal::Child);
    Ok((event_read, stop_read))
}

static USER_SIGNAL_READ: AtomicI32 = AtomicI32::new(-1);

/// Starts the thread that turns SIGHUP and SIGUSR2 into `process_signal`
/// events, away from the request threads and the monitor.
pub fn spawn_signal_dispatcher() {
    let fd = USER_SIGNAL_READ.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("wsgi-signals".into())
        .spawn(move || loop {
            let mut byte = [0u8];
            let read = fd::read(fd, &mut byte);
            if let Ok(1) = read {
                let byte = byte[0];
                if !ACCEPTING.load(Ordering::Acquire) {
                    continue; // shutting down: interpreters may be going away
                }
                let name = if i32::from(byte) == Signal::Hup.number() {
                    "SIGHUP"
                } else {
                    "SIGUSR2"
                };
                crate::pymodule::events::publish_signal(name, i32::from(byte));
            } else if read.is_err_and(|e| e.kind() == std::io::ErrorKind::Interrupted) {
                continue;
            } else {
                return;
            }
        });
    if let Err(e) = spawned {
        tracing::error!("mod_wsgi: cannot start the signal dispatcher thread: {e}");
    }
}

/// Stops handing new connections to workers (idempotent).
/// Whether this process still takes new connections.
pub fn accepting() -> bool {
    ACCEPTING.load(Ordering::Acquire)
}

pub fn stop_accepting() {
    if ACCEPTING.swap(false, Ordering::AcqRel) {
        let fd = WORKERS_STOP_WRITE.load(Ordering::Relaxed);
        let _ = fd::write(fd, b"x");
    }
}

/// A worker ran into a changed WSGI script: restart the process.
pub fn request_reload() {
    stop_accepting();
    send_event(EVENT_RELOAD);
}

/// Wakes the monitor to re-evaluate (after a request ended).
pub fn nudge() {
    send_event(EVENT_TICK);
}

/// One request in progress, in a worker slot.
struct Active {
    started: Instant,
    /// The worker thread (`pthread_self`), for injecting an exception.
    thread: u64,
    interpreter: Arc<Interpreter>,
    interrupted: Option<Instant>,
    /// "METHOD URI", for log lines about a stuck request.
    request: String,
    /// Its stack was logged for passing `WSGISlowRequests`.
    slow_logged: bool,
}

/// What the monitor knows about the process's requests.
pub struct Tracker {
    started: Instant,
    slots: Mutex<Vec<Option<Active>>>,
    /// Milliseconds since `started` of the last request activity.
    last_activity: AtomicU64,
    served: AtomicU64,
    /// Milliseconds since `started` when the GILs were last all taken.
    gil_pulse: AtomicU64,
}

impl Tracker {
    pub fn new(threads: usize) -> Tracker {
        Tracker {
            started: Instant::now(),
            slots: Mutex::new((0..threads).map(|_| None).collect()),
            last_activity: AtomicU64::new(0),
            served: AtomicU64::new(0),
            gil_pulse: AtomicU64::new(0),
        }
    }

    fn millis(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Request data moved (or a request began or ended).
    pub fn touch(&self) {
        self.last_activity.store(self.millis(), Ordering::Relaxed);
    }

    /// `request` is how the request is named in log lines ("GET /path").
    pub fn begin(&self, slot: usize, interpreter: Arc<Interpreter>, request: String) {
        let thread = crate::sys::process::thread_id();
        self.slots.lock()[slot] = Some(Active {
            started: Instant::now(),
            thread,
            interpreter,
            interrupted: None,
            request,
            slow_logged: false,
        });
    }

    /// Ends the slot's request; returns how many requests were served.
    /// During a drain, the last request to end stops the process accepting
    /// and wakes the monitor, as the C module does after each request:
    /// under steady load the monitor's own ticks would rarely find the
    /// process idle, and the drain would run to its timeout.
    pub fn end(&self, slot: usize) -> u64 {
        let idle = {
            let mut slots = self.slots.lock();
            slots[slot] = None;
            slots.iter().all(Option::is_none)
        };
        if idle && DRAINING.load(Ordering::Acquire) {
            stop_accepting();
            send_event(EVENT_TICK);
        }
        self.served.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn snapshot(
        &self,
        cpu_limit_reached: bool,
        eviction_requested: bool,
        memory_over_limit_samples: u32,
    ) -> Snapshot {
        let now = Instant::now();
        let requests = self
            .slots
            .lock()
            .iter()
            .enumerate()
            .filter_map(|(slot, active)| {
                active.as_ref().map(|a| RequestView {
                    slot,
                    running_for: now - a.started,
                    interrupted_for: a.interrupted.map(|t| now - t),
                })
            })
            .collect();
        let millis = self.millis();
        Snapshot {
            uptime: self.started.elapsed(),
            idle_for: Duration::from_millis(
                millis.saturating_sub(self.last_activity.load(Ordering::Relaxed)),
            ),
            requests,
            served: self.served.load(Ordering::Acquire),
            startup_failing_for: crate::wsgi::handler::startup_failing_for(),
            gil_stalled_for: Duration::from_millis(
                millis.saturating_sub(self.gil_pulse.load(Ordering::Relaxed)),
            ),
            cpu_limit_reached,
            eviction_requested,
            memory_over_limit_samples,
        }
    }

    /// Injects `mod_wsgi.RequestTimeout` into the request in `slot`,
    /// logging where it was stuck, in the C module's words.
    fn interrupt(&self, slot: usize, group: &str, limits: &Limits) {
        let now = Instant::now();
        let Some(target) = self
            .targets(|index, active| {
                let chosen = index == slot;
                if chosen {
                    active.interrupted = Some(now);
                }
                chosen
            })
            .pop()
        else {
            return;
        };
        let interpreter = target.current_interpreter();
        let stack = interpreter.thread_stack(target.thread);
        target.log_stuck(
            group,
            "interrupting it with RequestTimeout",
            stack.as_deref(),
        );
        tracing::info!("{}", limits.request_timeout_line(slot, group));
        log_stack_lines(target.thread, stack.as_deref());
        if interpreter.interrupt_thread(target.thread) {
            tracing::info!(
                "Injected RequestTimeout into thread {slot} of daemon process '{group}'."
            );
        } else {
            tracing::warn!(
                "Could not inject RequestTimeout into thread {slot} of daemon process '{group}'."
            );
        }
    }

    /// Before a restart for `reason`: our error-level account of the
    /// requests it is about (those past the request timeout, or every
    /// running request when the GIL is stuck, whose stacks then cannot be
    /// read).
    fn log_stuck_requests(&self, reason: Reason, group: &str, limits: &Limits) {
        let targets = self.targets(|_, active| match reason {
            Reason::RequestTimeout => limits
                .request_timeout
                .is_some_and(|fire| active.started.elapsed() >= fire),
            Reason::DeadlockTimeout => true,
            _ => false,
        });
        for target in targets {
            let stack = match reason {
                Reason::DeadlockTimeout => None,
                _ => target.stack(),
            };
            target.log_stuck(group, "restarting the process", stack.as_deref());
        }
        if reason == Reason::DeadlockTimeout {
            tracing::error!(
                "mod_wsgi: Python stacks of every thread of the main interpreter of daemon process '{group}' follow (the GIL is held; written by faulthandler)."
            );
            crate::sys::signals::raise_here(crate::sys::signals::stack_dump_signal());
        }
    }

    /// Logs, once per request, those that have run past `WSGISlowRequests`
    /// (ours). The stack is read only while the GIL pulse is fresh: a GIL
    /// held for good would otherwise stop this thread, and with it the
    /// deadlock timer.
    fn log_newly_slow(&self, group: &str, limits: &Limits, gil_stalled_for: Duration) {
        let Some(threshold) = limits.slow_request else {
            return;
        };
        let targets = self.targets(|_, active| {
            let newly_slow = !active.slow_logged && limits.is_slow(active.started.elapsed());
            if newly_slow {
                active.slow_logged = true;
            }
            newly_slow
        });
        let gil_fresh =
            limits.deadlock_timeout.is_none() || gil_stalled_for < Duration::from_secs(3);
        let action = format!(
            "it is still running (WSGISlowRequests {} seconds)",
            threshold.as_secs_f64()
        );
        for target in targets {
            let stack = gil_fresh.then(|| target.stack()).flatten();
            target.log_stuck(group, &action, stack.as_deref());
        }
    }

    fn log_stacks(&self) {
        for target in self.targets(|_, _| true) {
            // Looked up outside the slots' lock: the registry's may be held
            // while an interpreter is created.
            log_stack(&target.current_interpreter(), target.thread);
        }
    }

    /// The running requests `select` picks (given each slot's index, and
    /// free to mark the request), copied out so that logging and stack
    /// reads happen outside the slots' lock.
    fn targets(&self, mut select: impl FnMut(usize, &mut Active) -> bool) -> Vec<Target> {
        self.slots
            .lock()
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| {
                let active = slot.as_mut()?;
                select(index, active).then(|| Target {
                    thread: active.thread,
                    interpreter: active.interpreter.clone(),
                    request: active.request.clone(),
                    started: active.started,
                })
            })
            .collect()
    }
}

/// A running request as the monitor reports on it.
struct Target {
    thread: u64,
    /// Where it started; see `current_interpreter`.
    interpreter: Arc<Interpreter>,
    request: String,
    started: Instant,
}

impl Target {
    /// Where the request runs Python now: it may have moved to a
    /// shared-GIL replacement (WSGIOwnGILFallback On) after it started.
    fn current_interpreter(&self) -> Arc<Interpreter> {
        interp::replacement_or_self(&self.interpreter)
    }

    fn stack(&self) -> Option<Vec<(String, u64, String)>> {
        self.current_interpreter().thread_stack(self.thread)
    }

    /// Our error-level account of the request, with `action` taken on it.
    fn log_stuck(&self, group: &str, action: &str, stack: Option<&[(String, u64, String)]>) {
        log_stuck(&self.request, group, self.started.elapsed(), action, stack);
    }
}

fn log_stack(interpreter: &Interpreter, thread: u64) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    log_stack_lines(thread, interpreter.thread_stack(thread).as_deref());
}

/// The C module's info-level stack lines.
fn log_stack_lines(thread: u64, stack: Option<&[(String, u64, String)]>) {
    for line in lifecycle::stack_lines(thread, stack.unwrap_or_default()) {
        tracing::info!("{line}");
    }
}

/// Our error-level account of a request a timeout caught (URL, time,
/// stack), which operators see at the default log level.
fn log_stuck(
    request: &str,
    group: &str,
    elapsed: Duration,
    action: &str,
    stack: Option<&[(String, u64, String)]>,
) {
    for line in lifecycle::stuck_request_lines(request, group, elapsed, action, stack) {
        tracing::error!("{line}");
    }
}

/// Takes every interpreter's GIL about once a second, so a GIL held
/// forever (a C extension that never releases it) shows as a stale pulse.
pub fn spawn_gil_pulse(
    tracker: Arc<Tracker>,
    stopping: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("wsgi:deadlock".into())
        .spawn(move || {
            while !stopping.load(Ordering::Acquire) {
                for interpreter in interp::all() {
                    interpreter.touch_gil();
                }
                tracker.gil_pulse.store(tracker.millis(), Ordering::Relaxed);
                std::thread::park_timeout(Duration::from_secs(1));
            }
        })
        .expect("spawning the deadlock-detection thread")
}

/// Samples resident memory about once a second for `memory-recycle=`,
/// counting consecutive samples over the limit.
#[derive(Default)]
struct MemorySampler {
    last: Option<Instant>,
    over: u32,
}

impl MemorySampler {
    fn over_limit(&mut self, limit: Option<u64>) -> u32 {
        let Some(limit) = limit else {
            return 0;
        };
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.last = Some(Instant::now());
            let resident = crate::metrics::usage::process().memory_rss;
            self.over = if resident > limit { self.over + 1 } else { 0 };
        }
        self.over
    }
}

/// Waits up to `timeout` for events; returns those read.
fn wait_events(fd: RawFd, timeout: Duration) -> Vec<u8> {
    if !fd::readable_within(fd, timeout) {
        return Vec::new();
    }
    let mut buf = [0u8; 64];
    let n = fd::read(fd, &mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

/// Runs on the daemon's main thread until the process should stop;
/// returns why.
/// A replacement this process set going and waits for (ours).
struct Replacement {
    standby: i32,
    since: Instant,
    /// The reason to stop for, once it is ready, when the process was
    /// due to stop at once rather than drain.
    held: Option<Reason>,
}

/// A reload this process set a standby going for (ours).
struct PendingReload {
    standby: i32,
    key: u64,
    script: String,
}

static RELOAD: Mutex<Option<PendingReload>> = Mutex::new(None);
static GROUP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Changed scripts of `group` are loaded by its standby first (ours),
/// when the group has one.
pub fn reload_through_standby(group: &str) {
    if super::standby::handover().is_some() {
        let _ = GROUP.set(group.to_string());
        crate::wsgi::handler::set_changed_script_policy(changed_script);
    }
}

/// The daemon's answer to a request whose script changed (ours): while a
/// standby loads the new code, or after a version failed to load in one,
/// the process serves the code it has; without a standby it restarts as
/// the C module's does.
pub fn changed_script(
    application_group: &str,
    script: &str,
    mtime: Option<i64>,
) -> crate::wsgi::handler::ChangedScript {
    use crate::wsgi::handler::ChangedScript;
    let Some(handover) = super::standby::handover() else {
        return ChangedScript::Restart;
    };
    let key = super::standby::reload_key(script, mtime);
    let mut pending = RELOAD.lock();
    if pending.is_some() || handover.refused(key) {
        return ChangedScript::KeepServing { announce: false };
    }
    let me = std::process::id() as i32;
    match handover.claim_for_reload(me, application_group, script) {
        Some(standby) => {
            tracing::info!(
                "{}",
                lifecycle::reload_started_line(
                    GROUP.get().map_or("", String::as_str),
                    standby,
                    script
                )
            );
            *pending = Some(PendingReload {
                standby,
                key,
                script: script.to_string(),
            });
            nudge();
            ChangedScript::KeepServing { announce: true }
        }
        // Another process of the group is being replaced: this one's turn
        // comes with the next standby.
        None if handover.claimed_by_other(me) => ChangedScript::KeepServing { announce: false },
        None => ChangedScript::Restart,
    }
}

/// Whether the reload this process waits for has ended: `true` when the
/// replacement is ready and this process should stop.
fn reload_settled(group: &str) -> bool {
    let mut pending = RELOAD.lock();
    let Some(reload) = pending.as_ref() else {
        return false;
    };
    let Some(handover) = super::standby::handover() else {
        return false;
    };
    match handover.progress(reload.standby) {
        super::standby::Progress::Starting => false,
        super::standby::Progress::Ready => {
            tracing::info!(
                "{}",
                lifecycle::replacement_ready_line(group, reload.standby)
            );
            true
        }
        super::standby::Progress::Failed => {
            handover.refuse(reload.key);
            tracing::error!(
                "{}",
                lifecycle::reload_failed_line(group, reload.standby, &reload.script)
            );
            *pending = None;
            false
        }
    }
}

/// Claims the group's standby for a recycle; logs our line when it did.
fn start_replacement(group: &str) -> Option<i32> {
    let standby = super::standby::handover()?.claim(std::process::id() as i32)?;
    tracing::info!("{}", lifecycle::replacement_started_line(group, standby));
    Some(standby)
}

pub fn run(tracker: &Tracker, limits: &Limits, group: &str, event_read: RawFd) -> Reason {
    let mut phase = Phase::Running;
    let mut replacement: Option<Replacement> = None;
    let mut drain_began = Instant::now();
    let (mut cpu, mut evict) = (false, false);
    let mut memory = MemorySampler::default();
    loop {
        if reload_settled(group) {
            stop_accepting();
            return Reason::ScriptReload;
        }
        for event in wait_events(event_read, Duration::from_millis(200)) {
            match event {
                EVENT_STOP => return Reason::StopSignal,
                EVENT_RELOAD => return Reason::ScriptReload,
                EVENT_EVICT => evict = true,
                EVENT_CPU => cpu = true,
                _ => {}
            }
        }
        if let Phase::Draining {
            reason, timeout, ..
        } = phase
        {
            phase = Phase::Draining {
                reason,
                timeout,
                draining_for: drain_began.elapsed(),
            };
        }
        let snapshot = tracker.snapshot(cpu, evict, memory.over_limit(limits.memory_recycle));
        tracker.log_newly_slow(group, limits, snapshot.gil_stalled_for);
        let decision = lifecycle::decide(limits, &snapshot, phase);
        for slot in decision.interrupt {
            tracker.interrupt(slot, group, limits);
        }
        // A replacement that became ready (or will not) ends the wait: the
        // process stops accepting at once, its requests finish, it stops.
        let mut release = None;
        if let Some(r) = &replacement {
            let progress = super::standby::handover()
                .map_or(super::standby::Progress::Failed, |h| h.progress(r.standby));
            let waited = r.since.elapsed();
            let done = match progress {
                super::standby::Progress::Ready => {
                    tracing::info!("{}", lifecycle::replacement_ready_line(group, r.standby));
                    true
                }
                _ if progress == super::standby::Progress::Failed
                    || lifecycle::replacement_wait_over(limits, waited) =>
                {
                    tracing::info!("{}", lifecycle::replacement_failed_line(group, r.standby));
                    true
                }
                _ => false,
            };
            if done {
                release = Some(r.held);
                replacement = None;
                DRAINING.store(true, Ordering::Release);
                stop_accepting();
            }
        }
        let next = match (release, decision.next) {
            (Some(Some(held)), _) => Next::Stop(held),
            (_, next) => next,
        };
        match next {
            Next::Continue => {}
            // Already waiting for a replacement before a stop: that stop
            // comes once it is ready.
            Next::Drain { .. } if replacement.is_some() => {}
            Next::Drain { reason, timeout } => {
                tracing::info!("{}", reason.drain_line(group, limits));
                drain_began = Instant::now();
                phase = Phase::Draining {
                    reason,
                    timeout,
                    draining_for: Duration::ZERO,
                };
                match lifecycle::waits_for_replacement(reason, limits)
                    .then(|| start_replacement(group))
                    .flatten()
                {
                    Some(standby) => {
                        replacement = Some(Replacement {
                            standby,
                            since: Instant::now(),
                            held: None,
                        })
                    }
                    None => DRAINING.store(true, Ordering::Release),
                }
            }
            // Waiting for the replacement: the stop comes once it is ready.
            Next::Stop(reason) if replacement.is_some() && reason.replaces_first() => {
                if let Some(r) = replacement.as_mut() {
                    r.held.get_or_insert(reason);
                }
            }
            Next::Stop(reason) => {
                // Without a graceful-timeout the process stops at once, but
                // its replacement still starts now rather than when the
                // parent sees this process end.
                let started = (phase == Phase::Running && reason.replaces_first())
                    .then(|| start_replacement(group))
                    .flatten();
                if let Some(standby) =
                    started.filter(|_| lifecycle::waits_for_replacement(reason, limits))
                {
                    replacement = Some(Replacement {
                        standby,
                        since: Instant::now(),
                        held: Some(reason),
                    });
                    continue;
                }
                let line = match phase {
                    Phase::Running => reason.stop_line(group, limits),
                    Phase::Draining {
                        timeout,
                        draining_for,
                        ..
                    } if timeout.is_some_and(|t| draining_for >= t) => {
                        lifecycle::drain_expired_line(group)
                    }
                    Phase::Draining { .. } => lifecycle::drain_completed_line(group),
                };
                tracker.log_stuck_requests(reason, group, limits);
                tracing::info!("{line}");
                if reason == Reason::RequestTimeout {
                    tracker.log_stacks();
                }
                return reason;
            }
        }
    }
}
