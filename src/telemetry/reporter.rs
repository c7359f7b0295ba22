//! The reporter: one thread per serving process that drains the metrics
//! window every interval and sends it, with lifecycle and slow-request
//! records, to the ingester's UNIX datagram socket. Sends never block:
//! a missing or full ingester loses datagrams, never requests.

use super::{Exit, GcEvent, GcSnapshot, GilReport, Identity, Settings, SlowOutcome, SlowRequest};
use crate::metrics;
use crate::metrics::now_seconds;
use crate::python::interp;
use once_cell::sync::OnceCell;
use parking_lot::{Condvar, Mutex};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one tick may wait, in all, for a busy ingester to take its
/// datagrams.
const SEND_PATIENCE: Duration = Duration::from_millis(200);

pub struct Reporter {
    socket: UnixDatagram,
    target: PathBuf,
    seq: AtomicU32,
    identity: Identity,
    settings: Settings,
    capture_user_agent: bool,
    gc: GcSource,
    /// The request in flight on each slot, kept only with slow-request
    /// reporting on.
    slow: Vec<Mutex<Option<SlowRequest>>>,
    /// Set at exit, which may run in a signal handler: an atomic, so
    /// stopping never waits for a lock.
    stopped: AtomicBool,
    /// Cleared once the process starts stopping: from then on the
    /// reporter no longer enters interpreters, which are about to go.
    gc_open: AtomicBool,
    /// Set while a tick is inside the interpreters for GC snapshots.
    gc_sampling: AtomicBool,
    /// Only for the reporter's own timed waits.
    pause: Mutex<()>,
    wake: Condvar,
}

static REPORTER: OnceCell<Reporter> = OnceCell::new();

/// The running reporter, if `WSGITelemetryService` is set in this process.
pub fn get() -> Option<&'static Reporter> {
    REPORTER.get()
}

/// Why reporting could not start; the detail is for the debug log.
#[derive(Debug)]
pub enum StartFailure {
    /// The socket towards the target could not be set up.
    Target(std::io::Error),
    /// The reporter thread could not be started.
    Thread(std::io::Error),
}

/// Starts reporting (once per process); `threads` is the worker slots.
/// Where the reporter reads the garbage collectors' figures: the
/// `gc.callbacks` hook of the `mod_wsgi` module (`pymodule/gc.rs`), lent at
/// start so that this layer needs not import it.
#[derive(Clone, Copy)]
pub struct GcSource {
    /// With the interpreter's GIL held: its collector's state.
    pub snapshot: fn(crate::python::Python<'_>, &str) -> Option<GcSnapshot>,
    /// The collection passes recorded since the last call.
    pub drain_events: fn() -> Vec<GcEvent>,
    /// How many collection passes could not be queued so far.
    pub dropped_events: fn() -> u64,
}

pub fn start(
    target: PathBuf,
    identity: Identity,
    settings: Settings,
    capture_user_agent: bool,
    threads: usize,
    gc: GcSource,
) -> Result<(), StartFailure> {
    let socket = UnixDatagram::unbound().map_err(StartFailure::Target)?;
    socket.set_nonblocking(true).map_err(StartFailure::Target)?;
    let reporter = Reporter {
        socket,
        target,
        seq: AtomicU32::new(0),
        identity,
        settings,
        capture_user_agent,
        slow: (0..threads.max(1)).map(|_| Mutex::new(None)).collect(),
        gc,
        stopped: AtomicBool::new(false),
        gc_open: AtomicBool::new(true),
        gc_sampling: AtomicBool::new(false),
        pause: Mutex::new(()),
        wake: Condvar::new(),
    };
    if REPORTER.set(reporter).is_err() {
        return Ok(());
    }
    let reporter = REPORTER.get().expect("just set");
    reporter.send(
        super::process_started(
            &reporter.identity,
            &reporter.settings,
            reporter.next_seq(),
            now_seconds(),
        )
        .bytes(),
    );
    std::thread::Builder::new()
        .name("wsgi-telemetry".into())
        .spawn(move || reporter.run())
        .map_err(StartFailure::Thread)?;
    Ok(())
}

impl Reporter {
    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn send(&self, bytes: &[u8]) {
        // Losing a datagram is acceptable; blocking a request is not.
        let _ = self.socket.send_to(bytes, &self.target);
    }

    /// For the reporter's own sends, which come in bursts (a tick's
    /// sample, snapshots and GC events): while the ingester's queue is full
    /// (the kernel allows only a few datagrams), waits for it to drain,
    /// but not past `deadline`.
    fn send_by(&self, bytes: &[u8], deadline: Instant) {
        loop {
            match self.socket.send_to(bytes, &self.target) {
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                _ => return,
            }
        }
    }

    pub fn capture_user_agent(&self) -> bool {
        self.capture_user_agent
    }

    /// Whether requests should be described for slow-request records.
    pub fn tracks_slow_requests(&self) -> bool {
        self.settings.slow_threshold.is_some()
    }

    fn slow_threshold(&self) -> f64 {
        self.settings.slow_threshold.unwrap_or(f64::INFINITY)
    }

    fn run(&self) {
        let interval = Duration::from_secs_f64(self.settings.interval.max(0.1));
        loop {
            {
                let mut pause = self.pause.lock();
                if !self.stopped.load(Ordering::Acquire) {
                    self.wake.wait_for(&mut pause, interval);
                }
            }
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            self.tick();
        }
    }

    fn tick(&self) {
        let now = now_seconds();
        let deadline = Instant::now() + SEND_PATIENCE;
        if let Some(recorder) = metrics::recording() {
            let window = recorder.drain(now, metrics::usage::process());
            let gil = self.gil_report();
            let d = super::interval(
                &window,
                &self.identity,
                &self.settings,
                &gil,
                self.next_seq(),
            );
            self.send_by(d.bytes(), deadline);
        }
        self.send_gc(now, deadline);
        if !self.tracks_slow_requests() {
            return;
        }
        for slot in &self.slow {
            let running = slot.lock().clone();
            if let Some(request) = running {
                if now - request.request_start >= self.slow_threshold() {
                    let d = super::slow_request(
                        self.identity.pid,
                        self.next_seq(),
                        now,
                        &request,
                        None,
                    );
                    self.send_by(d.bytes(), deadline);
                }
            }
        }
    }

    /// Runs `f`, which enters interpreters, unless the process has started
    /// stopping (`None` then).
    fn in_interpreters<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        // Paired with `close_gc`: either this sees the gate closed, or
        // `close_gc` sees this in progress and waits for it.
        self.gc_sampling.store(true, Ordering::SeqCst);
        let result = self.gc_open.load(Ordering::SeqCst).then(f);
        self.gc_sampling.store(false, Ordering::SeqCst);
        result
    }

    /// The GIL's state for the interval sample. Only a process started
    /// without the GIL can have it either way, and there CPython is asked
    /// (`sys._is_gil_enabled()` in the main interpreter): the warning from
    /// which the module that turned it back on is recorded may have been
    /// filtered out. Once the process is stopping, interpreters are not
    /// entered and the recorded module decides.
    fn gil_report(&self) -> GilReport {
        let enabled_by = metrics::gil_enabled_by().map(str::to_string);
        let enabled = !self.settings.free_threading
            || self
                .in_interpreters(|| {
                    let main = interp::all().into_iter().find(|i| i.name.is_empty())?;
                    let gil = main.enter();
                    let enabled = crate::python::runtime::gil_enabled(gil.python());
                    drop(gil);
                    Some(enabled)
                })
                .flatten()
                .unwrap_or(enabled_by.is_some());
        GilReport {
            enabled,
            enabled_by,
            own_gil_fallbacks: metrics::own_gil_fallbacks(),
        }
    }

    /// A garbage-collector snapshot of every interpreter (which also hooks
    /// new interpreters' collectors), then the collection passes timed
    /// since the last tick.
    fn send_gc(&self, now: f64, deadline: Instant) {
        self.in_interpreters(|| {
            let dropped = (self.gc.dropped_events)();
            for interpreter in interp::all() {
                let gil = interpreter.enter();
                let snapshot = (self.gc.snapshot)(gil.python(), &interpreter.name);
                drop(gil);
                if let Some(snapshot) = snapshot {
                    let d = super::gc_snapshot(
                        self.identity.pid,
                        self.next_seq(),
                        now,
                        &snapshot,
                        dropped,
                    );
                    self.send_by(d.bytes(), deadline);
                }
            }
        });
        for event in &(self.gc.drain_events)() {
            let d = super::gc_event(self.identity.pid, self.next_seq(), event);
            self.send_by(d.bytes(), deadline);
        }
    }

    /// Stops GC snapshots before the interpreters are destroyed, waiting
    /// (briefly: this may run in a signal handler that interrupted the
    /// reporter itself) for one in progress.
    fn close_gc(&self) {
        self.gc_open.store(false, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        while self.gc_sampling.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A request started on `slot` (only called with slow tracking on).
    pub fn slow_begin(&self, slot: usize, request: SlowRequest) {
        let slot = slot.min(self.slow.len() - 1);
        *self.slow[slot].lock() = Some(request);
    }

    /// The request on `slot` ended; a slow one gets its completed record.
    pub fn slow_finish(&self, slot: usize, outcome: &SlowOutcome) {
        let slot = slot.min(self.slow.len() - 1);
        let Some(request) = self.slow[slot].lock().take() else {
            return;
        };
        if outcome.finish - request.request_start >= self.slow_threshold() {
            let d = super::slow_request(
                self.identity.pid,
                self.next_seq(),
                outcome.finish,
                &request,
                Some(outcome),
            );
            self.send(d.bytes());
        }
    }

    /// The process decided to stop: one last sample (when `final_sample`,
    /// which takes the window lock), then the decision.
    pub fn stopping(&self, reason: &str, active: usize, final_sample: bool) {
        self.close_gc();
        if final_sample {
            self.tick();
        }
        let d = super::process_stopping(
            &self.identity,
            self.next_seq(),
            now_seconds(),
            reason,
            active,
        );
        self.send(d.bytes());
    }

    /// The process is exiting: stops the thread and says goodbye.
    pub fn stopped(&self, exit: &Exit) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_all();
        let d = super::process_stopped(&self.identity, self.next_seq(), now_seconds(), exit);
        self.send(d.bytes());
    }
}
