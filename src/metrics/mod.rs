//! Per-process request accounting behind `mod_wsgi.request_metrics()`,
//! `process_metrics()` and the telemetry reporter.
//!
//! Pure logic: times come in as seconds since the epoch, process usage is
//! passed in by the caller. The request path pays one atomic store when a
//! request starts and one short lock when it finishes.

pub mod board;
pub mod exposition;
pub mod histogram;
#[cfg(not(test))]
mod process;
pub mod report;
#[cfg(not(test))]
pub mod usage;

use histogram::Histogram;
use parking_lot::Mutex;
#[cfg(not(test))]
pub use process::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// The request phases that are timed, in wire and report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Apache receiving the request until it was handed on (to the daemon,
    /// or to the application in embedded mode).
    Server,
    /// Daemon mode: handed to the daemon socket until a daemon thread
    /// picked it up.
    Queue,
    /// Daemon mode: picked up until the application was called.
    Daemon,
    /// Inside the WSGI application, including iterating its response.
    Application,
    /// Apache receiving the request until the application finished.
    Request,
    /// Reading the request body.
    InputRead,
    /// Handing response bytes to Apache.
    OutputWrite,
    /// Waiting to re-acquire the GIL at mod_wsgi's release points.
    GilWait,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Server,
        Phase::Queue,
        Phase::Daemon,
        Phase::Application,
        Phase::Request,
        Phase::InputRead,
        Phase::OutputWrite,
        Phase::GilWait,
    ];

    /// The name used in both the Python dicts and the telemetry fields.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Server => "server_time",
            Phase::Queue => "queue_time",
            Phase::Daemon => "daemon_time",
            Phase::Application => "application_time",
            Phase::Request => "request_time",
            Phase::InputRead => "input_read_time",
            Phase::OutputWrite => "output_write_time",
            Phase::GilWait => "gil_wait_time",
        }
    }

    /// Phases that only exist in daemon mode.
    pub fn daemon_only(self) -> bool {
        matches!(self, Phase::Queue | Phase::Daemon)
    }
}

/// The wall-clock time in seconds since the epoch (the environ's
/// `mod_wsgi.*_start` values).
#[cfg(not(test))]
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What one finished request contributes to the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestSample {
    /// 0-based worker slot (request thread) that served it.
    pub slot: usize,
    pub request_start: f64,
    /// Daemon mode only; 0 in embedded mode.
    pub queue_start: f64,
    /// Daemon mode only; 0 in embedded mode.
    pub daemon_start: f64,
    pub application_start: f64,
    pub application_finish: f64,
    pub input_reads: u64,
    pub input_bytes: u64,
    pub input_time: f64,
    pub output_writes: u64,
    pub output_bytes: u64,
    pub output_time: f64,
    /// HTTP status; 0 when the application never called start_response.
    pub status: u16,
    pub cpu_user: f64,
    pub cpu_system: f64,
    pub gil_wait: f64,
    pub gil_waits: u64,
    /// The shortest and longest single GIL wait of the request (the
    /// extremes reported for the GIL phase); None with no waits.
    pub gil_wait_extremes: Option<(f64, f64)>,
}

impl RequestSample {
    pub fn daemon_mode(&self) -> bool {
        self.queue_start > 0.0 && self.daemon_start > 0.0
    }

    /// The duration of `phase`, or None when it does not apply.
    pub fn phase(&self, phase: Phase) -> Option<f64> {
        let span = |a: f64, b: f64| Some((b - a).max(0.0));
        match phase {
            Phase::Server if self.daemon_mode() => span(self.request_start, self.queue_start),
            Phase::Server => span(self.request_start, self.application_start),
            Phase::Queue if self.daemon_mode() => span(self.queue_start, self.daemon_start),
            Phase::Daemon if self.daemon_mode() => span(self.daemon_start, self.application_start),
            Phase::Queue | Phase::Daemon => None,
            Phase::Application => span(self.application_start, self.application_finish),
            Phase::Request => span(self.request_start, self.application_finish),
            Phase::InputRead => Some(self.input_time),
            Phase::OutputWrite => Some(self.output_time),
            Phase::GilWait => Some(self.gil_wait),
        }
    }

    /// Index into the 1xx..5xx counters; no status counts as a 5xx.
    fn status_class(&self) -> usize {
        match self.status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        }
    }
}

/// Count, total, extremes and distribution of one phase in a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseStats {
    pub count: u64,
    pub total: f64,
    /// Smallest and largest observation, once there is one.
    extremes: Option<(f64, f64)>,
    pub histogram: Histogram,
}

impl PhaseStats {
    fn record(&mut self, seconds: f64) {
        self.record_with_extremes(seconds, Some((seconds, seconds)));
    }

    /// Counts `seconds` in the total and histogram, but takes the window's
    /// extremes from `extremes` (single GIL waits, for the GIL phase; None
    /// when there was no wait to compare).
    fn record_with_extremes(&mut self, seconds: f64, extremes: Option<(f64, f64)>) {
        if let Some((min, max)) = extremes {
            self.extremes = Some(match self.extremes {
                Some((low, high)) => (low.min(min), high.max(max)),
                None => (min, max),
            });
        }
        self.count += 1;
        self.total += seconds;
        self.histogram.record(seconds);
    }

    /// Total divided by the window's request count (0 with no requests).
    pub fn mean_over(&self, requests: u64) -> f64 {
        if requests == 0 {
            0.0
        } else {
            self.total / requests as f64
        }
    }

    /// Smallest and largest observation, None when there was none.
    pub fn extremes(&self) -> Option<(f64, f64)> {
        self.extremes
    }
}

/// Process resource use at one instant, read by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub cpu_user: f64,
    pub cpu_system: f64,
    pub memory_rss: u64,
    pub memory_max_rss: u64,
}

/// Per-slot figures for a window, one entry per worker slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotStats {
    pub completed: Vec<u32>,
    pub busy_time: Vec<f64>,
    pub cpu_time: Vec<f64>,
    pub current_elapsed: Vec<f64>,
    pub max_duration: Vec<f64>,
}

impl SlotStats {
    fn sized(slots: usize) -> Self {
        SlotStats {
            completed: vec![0; slots],
            busy_time: vec![0.0; slots],
            cpu_time: vec![0.0; slots],
            current_elapsed: vec![0.0; slots],
            max_duration: vec![0.0; slots],
        }
    }
}

/// Everything accounted over one sample window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub start: f64,
    pub stop: f64,
    pub request_count: u64,
    pub phases: [PhaseStats; 8],
    pub gil_waits: u64,
    /// Completed requests by status class, 1xx..5xx.
    pub status_classes: [u64; 5],
    pub input_bytes: u64,
    pub input_reads: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub slots: SlotStats,
    /// Slots that finished a request or were in one at the window's end.
    pub threads_active: usize,
    /// Slots that have ever served a request in this process.
    pub threads_started: usize,
    pub threads_maximum: usize,
    /// Usage at the end of the window, and the CPU used during it.
    pub usage: Usage,
    pub cpu_user_delta: f64,
    pub cpu_system_delta: f64,
}

impl Window {
    pub fn phase(&self, phase: Phase) -> &PhaseStats {
        &self.phases[Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0)]
    }

    pub fn period(&self) -> f64 {
        (self.stop - self.start).max(0.0)
    }

    /// Requests per second over the window.
    pub fn throughput(&self) -> f64 {
        let period = self.period();
        if period > 0.0 {
            self.request_count as f64 / period
        } else {
            0.0
        }
    }

    /// Busy time over the capacity of all slots for the window.
    pub fn capacity_utilization(&self) -> f64 {
        let capacity = self.period() * self.threads_maximum as f64;
        if capacity > 0.0 {
            (self.slots.busy_time.iter().sum::<f64>() / capacity).min(1.0)
        } else {
            0.0
        }
    }

    /// CPU seconds per wall second over the window: (user, system).
    pub fn cpu_rates(&self) -> (f64, f64) {
        let period = self.period();
        if period > 0.0 {
            (self.cpu_user_delta / period, self.cpu_system_delta / period)
        } else {
            (0.0, 0.0)
        }
    }
}

/// Figures for the life of the process (`process_metrics()`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifetime {
    pub request_count: u64,
    pub busy_time: f64,
    /// Requests served per slot.
    pub per_slot: Vec<u64>,
}

impl Lifetime {
    pub fn threads_started(&self) -> usize {
        self.per_slot.iter().filter(|n| **n > 0).count()
    }
}

struct Accumulated {
    window: Window,
    cpu_at_start: (f64, f64),
}

/// The process's accumulators. In-flight starts and lifetime counts live
/// in atomics, so only the window (when one is being recorded) takes a
/// lock, once per request.
pub struct Recorder {
    threads_maximum: usize,
    in_flight: Box<[AtomicU64]>,
    served: Box<[AtomicU64]>,
    /// Lifetime busy time, in microseconds.
    busy_micros: AtomicU64,
    state: Mutex<Accumulated>,
}

impl Recorder {
    pub fn new(threads_maximum: usize, now: f64, usage: Usage) -> Self {
        let slots = threads_maximum.max(1);
        Recorder {
            threads_maximum: slots,
            in_flight: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            served: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            busy_micros: AtomicU64::new(0),
            state: Mutex::new(Accumulated {
                window: Self::fresh_window(slots, now),
                cpu_at_start: (usage.cpu_user, usage.cpu_system),
            }),
        }
    }

    fn fresh_window(slots: usize, start: f64) -> Window {
        Window {
            start,
            slots: SlotStats::sized(slots),
            threads_maximum: slots,
            ..Window::default()
        }
    }

    /// Slot numbers beyond the configured maximum share the last slot.
    fn slot(&self, slot: usize) -> usize {
        slot.min(self.threads_maximum - 1)
    }

    /// A request started on `slot` at `start` (seconds since the epoch).
    pub fn begin(&self, slot: usize, start: f64) {
        self.in_flight[self.slot(slot)].store(start.to_bits(), Ordering::Relaxed);
    }

    /// When the request in flight on `slot` started, if there is one.
    pub fn in_flight_since(&self, slot: usize) -> Option<f64> {
        let bits = self.in_flight[self.slot(slot)].load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// The request on `slot` ended at `end` without window accounting
    /// (nothing is recording): only the lifetime counts move.
    pub fn finish_untimed(&self, slot: usize, started: f64, end: f64) {
        let slot = self.slot(slot);
        self.in_flight[slot].store(0, Ordering::Relaxed);
        self.count_lifetime(slot, (end - started).max(0.0));
    }

    fn count_lifetime(&self, slot: usize, duration: f64) {
        self.served[slot].fetch_add(1, Ordering::Relaxed);
        self.busy_micros
            .fetch_add((duration * 1_000_000.0) as u64, Ordering::Relaxed);
    }

    /// The request on `sample.slot` finished; `started` is what was passed
    /// to [`begin`](Self::begin) (busy time counts from there).
    pub fn finish(&self, sample: &RequestSample, started: f64) {
        let slot = self.slot(sample.slot);
        self.in_flight[slot].store(0, Ordering::Relaxed);
        let end = sample.application_finish;
        let duration = (end - started).max(0.0);
        self.count_lifetime(slot, duration);
        let mut state = self.state.lock();
        let w = &mut state.window;
        w.request_count += 1;
        for (stats, phase) in w.phases.iter_mut().zip(Phase::ALL) {
            match (phase, sample.phase(phase)) {
                (Phase::GilWait, Some(seconds)) => {
                    stats.record_with_extremes(seconds, sample.gil_wait_extremes)
                }
                (_, Some(seconds)) => stats.record(seconds),
                (_, None) => {}
            }
        }
        w.gil_waits += sample.gil_waits;
        w.status_classes[sample.status_class()] += 1;
        w.input_bytes += sample.input_bytes;
        w.input_reads += sample.input_reads;
        w.output_bytes += sample.output_bytes;
        w.output_writes += sample.output_writes;
        w.slots.completed[slot] += 1;
        w.slots.busy_time[slot] += (end - started.max(w.start)).max(0.0);
        w.slots.cpu_time[slot] += sample.cpu_user + sample.cpu_system;
        if duration > w.slots.max_duration[slot] {
            w.slots.max_duration[slot] = duration;
        }
    }

    /// Closes the window at `now` and starts the next one. In-flight
    /// requests add their busy time so far and their elapsed time.
    pub fn drain(&self, now: f64, usage: Usage) -> Window {
        let mut state = self.state.lock();
        let mut window = std::mem::replace(
            &mut state.window,
            Self::fresh_window(self.threads_maximum, now),
        );
        window.stop = now;
        window.usage = usage;
        window.cpu_user_delta = (usage.cpu_user - state.cpu_at_start.0).max(0.0);
        window.cpu_system_delta = (usage.cpu_system - state.cpu_at_start.1).max(0.0);
        state.cpu_at_start = (usage.cpu_user, usage.cpu_system);
        for slot in 0..self.threads_maximum {
            let busy_now = self.in_flight_since(slot);
            if let Some(since) = busy_now {
                window.slots.busy_time[slot] += (now - since.max(window.start)).max(0.0);
                window.slots.current_elapsed[slot] = (now - since).max(0.0);
            }
            if busy_now.is_some() || window.slots.completed[slot] > 0 {
                window.threads_active += 1;
            }
        }
        drop(state);
        window.threads_started = self.lifetime().threads_started();
        window
    }

    /// Requests in flight right now.
    pub fn active_requests(&self) -> usize {
        (0..self.threads_maximum)
            .filter(|s| self.in_flight_since(*s).is_some())
            .count()
    }

    pub fn lifetime(&self) -> Lifetime {
        let per_slot: Vec<u64> = self
            .served
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        Lifetime {
            request_count: per_slot.iter().sum(),
            busy_time: self.busy_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0,
            per_slot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(slot: usize, start: f64, app: f64, finish: f64, status: u16) -> RequestSample {
        RequestSample {
            slot,
            request_start: start,
            application_start: app,
            application_finish: finish,
            status,
            output_bytes: 12,
            output_writes: 1,
            ..RequestSample::default()
        }
    }

    #[test]
    fn embedded_phases_have_no_queue_or_daemon_time() {
        let s = sample(0, 10.0, 10.25, 11.0, 200);
        assert_eq!(s.phase(Phase::Server), Some(0.25));
        assert_eq!(s.phase(Phase::Queue), None);
        assert_eq!(s.phase(Phase::Daemon), None);
        assert_eq!(s.phase(Phase::Application), Some(0.75));
        assert_eq!(s.phase(Phase::Request), Some(1.0));
    }

    #[test]
    fn daemon_phases_split_at_queue_and_pickup() {
        let s = RequestSample {
            queue_start: 10.125,
            daemon_start: 10.25,
            ..sample(0, 10.0, 10.5, 11.0, 200)
        };
        assert_eq!(s.phase(Phase::Server), Some(0.125));
        assert_eq!(s.phase(Phase::Queue), Some(0.125));
        assert_eq!(s.phase(Phase::Daemon), Some(0.25));
        assert_eq!(s.phase(Phase::Request), Some(1.0));
    }

    #[test]
    fn a_window_counts_requests_classes_and_io() {
        let r = Recorder::new(2, 100.0, Usage::default());
        r.begin(0, 100.0);
        r.finish(&sample(0, 100.0, 100.0, 100.5, 200), 100.0);
        r.begin(1, 100.5);
        r.finish(&sample(1, 100.5, 100.5, 100.75, 404), 100.5);
        r.begin(1, 101.0);
        r.finish(&sample(1, 101.0, 101.0, 101.25, 0), 101.0);
        let w = r.drain(102.0, Usage::default());
        assert_eq!(w.request_count, 3);
        assert_eq!(w.status_classes, [0, 1, 0, 1, 1]);
        assert_eq!(w.output_bytes, 36);
        assert_eq!(w.slots.completed, vec![1, 2]);
        assert_eq!(w.slots.busy_time, vec![0.5, 0.5]);
        assert_eq!(w.slots.max_duration, vec![0.5, 0.25]);
        assert_eq!(w.throughput(), 1.5);
        assert_eq!(w.capacity_utilization(), 0.25);
        assert_eq!(w.threads_active, 2);
        assert_eq!(w.threads_started, 2);
        let app = w.phase(Phase::Application);
        assert_eq!(app.extremes(), Some((0.25, 0.5)));
        assert_eq!(app.mean_over(w.request_count), 1.0 / 3.0);
        assert_eq!(app.histogram.total(), 3);
    }

    #[test]
    fn draining_starts_a_new_window_and_keeps_the_lifetime() {
        let r = Recorder::new(1, 0.0, Usage::default());
        r.begin(0, 0.0);
        r.finish(&sample(0, 0.0, 0.0, 0.5, 200), 0.0);
        assert_eq!(r.drain(1.0, Usage::default()).request_count, 1);
        let next = r.drain(2.0, Usage::default());
        assert_eq!(next.request_count, 0);
        assert_eq!(next.start, 1.0);
        assert_eq!(next.phase(Phase::Request).extremes(), None);
        assert_eq!(r.lifetime().request_count, 1);
        assert_eq!(r.lifetime().per_slot, vec![1]);
    }

    #[test]
    fn in_flight_requests_count_as_busy_up_to_the_drain() {
        let r = Recorder::new(2, 10.0, Usage::default());
        r.begin(1, 9.0);
        assert_eq!(r.active_requests(), 1);
        let w = r.drain(12.0, Usage::default());
        // Busy only from the window's start; elapsed from the request's.
        assert_eq!(w.slots.busy_time, vec![0.0, 2.0]);
        assert_eq!(w.slots.current_elapsed, vec![0.0, 3.0]);
        assert_eq!(w.threads_active, 1);
        assert_eq!(w.capacity_utilization(), 0.5);
    }

    #[test]
    fn cpu_rates_are_per_window() {
        let start = Usage {
            cpu_user: 1.0,
            cpu_system: 0.5,
            ..Usage::default()
        };
        let r = Recorder::new(1, 0.0, start);
        let end = Usage {
            cpu_user: 2.0,
            cpu_system: 1.0,
            memory_rss: 4096,
            memory_max_rss: 8192,
        };
        let w = r.drain(2.0, end);
        assert_eq!(w.cpu_rates(), (0.5, 0.25));
        assert_eq!(w.usage.memory_rss, 4096);
        let w = r.drain(4.0, end);
        assert_eq!(w.cpu_rates(), (0.0, 0.0));
    }

    #[test]
    fn gil_extremes_are_single_waits_and_the_histogram_per_request_totals() {
        let r = Recorder::new(1, 0.0, Usage::default());
        let waited = RequestSample {
            gil_wait: 0.004,
            gil_waits: 3,
            gil_wait_extremes: Some((0.0005, 0.003)),
            ..sample(0, 0.0, 0.0, 0.1, 200)
        };
        r.finish(&waited, 0.0);
        r.finish(&sample(0, 0.0, 0.0, 0.1, 200), 0.0);
        let w = r.drain(1.0, Usage::default());
        let gil = w.phase(Phase::GilWait);
        assert_eq!(gil.extremes(), Some((0.0005, 0.003)));
        assert_eq!(gil.histogram.total(), 2);
        assert_eq!(gil.mean_over(w.request_count), 0.002);
        assert_eq!(w.gil_waits, 3);
        // A request without waits first does not pin the minimum at zero.
        r.finish(&sample(0, 0.0, 0.0, 0.1, 200), 0.0);
        r.finish(&waited, 0.0);
        let gil = r.drain(2.0, Usage::default()).phase(Phase::GilWait).clone();
        assert_eq!(gil.extremes(), Some((0.0005, 0.003)));
    }

    #[test]
    fn untimed_requests_count_only_in_the_lifetime() {
        let r = Recorder::new(2, 0.0, Usage::default());
        r.begin(1, 0.0);
        r.finish_untimed(1, 0.0, 0.5);
        assert_eq!(r.active_requests(), 0);
        assert_eq!(r.drain(1.0, Usage::default()).request_count, 0);
        let life = r.lifetime();
        assert_eq!((life.request_count, life.per_slot), (1, vec![0, 1]));
        assert_eq!(life.busy_time, 0.5);
    }

    #[test]
    fn slots_beyond_the_maximum_share_the_last() {
        let r = Recorder::new(2, 0.0, Usage::default());
        r.begin(7, 0.0);
        r.finish(&sample(7, 0.0, 0.0, 0.1, 200), 0.0);
        assert_eq!(r.drain(1.0, Usage::default()).slots.completed, vec![0, 1]);
    }
}
