//! This process's accounting state, shared by the request path, the
//! Python accessors and the telemetry reporter.

use super::{usage, Recorder};
use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static RECORDER: OnceCell<Recorder> = OnceCell::new();
/// Requests are being accounted (the Python API asked, or telemetry is on).
static RECORDING: AtomicBool = AtomicBool::new(false);
/// `start_recording_metrics()` was called.
static API_STARTED: AtomicBool = AtomicBool::new(false);
/// The telemetry reporter consumes the windows; the Python accessors
/// then return None.
static EXTERNAL: AtomicBool = AtomicBool::new(false);
static PROCESS_START: OnceCell<f64> = OnceCell::new();

/// Sets up this process's accumulators (once, when Python starts in it).
pub fn init_process(threads_maximum: usize, now: f64, external: bool) {
    let _ = PROCESS_START.set(now);
    let _ = RECORDER.set(Recorder::new(threads_maximum, now, usage::process()));
    EXTERNAL.store(external, Ordering::SeqCst);
    if external {
        RECORDING.store(true, Ordering::SeqCst);
    }
}

/// The recorder, once the process serves (lifetime counts always move).
pub fn recorder() -> Option<&'static Recorder> {
    RECORDER.get()
}

/// The recorder, when request windows are being accounted.
pub fn recording() -> Option<&'static Recorder> {
    if RECORDING.load(Ordering::Relaxed) {
        RECORDER.get()
    } else {
        None
    }
}

/// `start_recording_metrics()`: starts accounting and opens a fresh window.
pub fn start_recording(now: f64) {
    if API_STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Some(recorder) = RECORDER.get() {
        if !EXTERNAL.load(Ordering::SeqCst) {
            recorder.drain(now, usage::process());
        }
    }
    RECORDING.store(true, Ordering::SeqCst);
}

/// The recorder as the Python accessors see it: None until
/// `start_recording_metrics()`, and always None under telemetry.
pub fn for_python() -> Option<&'static Recorder> {
    if API_STARTED.load(Ordering::SeqCst) && !EXTERNAL.load(Ordering::SeqCst) {
        RECORDER.get()
    } else {
        None
    }
}

/// When this process started serving (seconds since the epoch).
pub fn process_start() -> f64 {
    PROCESS_START.get().copied().unwrap_or(0.0)
}

/// The extension module whose import turned the GIL back on in this
/// (free-threaded) process, the first one CPython warned about.
static GIL_ENABLED_BY: OnceCell<String> = OnceCell::new();

/// Records that importing `module` turned the GIL back on; true the
/// first time (later modules find it on already).
pub fn note_gil_enabled_by(module: &str) -> bool {
    if let Some(record) = record() {
        record.set_gil_enabled(true);
    }
    GIL_ENABLED_BY.set(module.to_string()).is_ok()
}

/// The module recorded by [`note_gil_enabled_by`], if any.
pub fn gil_enabled_by() -> Option<&'static str> {
    GIL_ENABLED_BY.get().map(String::as_str)
}

/// Sub-interpreters of this process replaced by a shared-GIL one under
/// `WSGIOwnGILFallback On`.
static OWN_GIL_FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Counts one sub-interpreter that fell back to the shared GIL.
pub fn note_own_gil_fallback() {
    OWN_GIL_FALLBACKS.fetch_add(1, Ordering::Relaxed);
}

/// How many sub-interpreters of this process fell back to the shared GIL.
pub fn own_gil_fallbacks() -> u64 {
    OWN_GIL_FALLBACKS.load(Ordering::Relaxed)
}

/// The server-wide board, when the Apache parent made one (inherited by
/// every process it forks).
static BOARD: OnceCell<super::board::Board> = OnceCell::new();
/// This process's record on it, once it runs Python.
static RECORD: OnceCell<super::board::ProcessRecord> = OnceCell::new();

/// Uses `board` in this process (the parent, before it forks).
pub fn set_board(board: super::board::Board) {
    let _ = BOARD.set(board);
}

pub fn board() -> Option<super::board::Board> {
    BOARD.get().copied()
}

/// Takes a record for this process in `group`; false when there is no
/// board or it is full.
pub fn claim_record(group: &str, threads: usize, now: f64, gil_enabled: bool) -> bool {
    let Some(board) = board() else {
        return false;
    };
    let Some(group) = board.find_group(group) else {
        return false;
    };
    let claimed = board.claim_process(
        std::process::id(),
        group,
        threads as u64,
        now,
        &crate::sys::proc_stat::alive,
    );
    match claimed {
        Some(record) => {
            record.set_gil_enabled(gil_enabled);
            let _ = RECORD.set(record);
            true
        }
        None => false,
    }
}

/// This process's record, if it has one.
pub fn record() -> Option<super::board::ProcessRecord> {
    RECORD.get().copied()
}

/// One more interpreter in this process, of GIL `kind`.
pub fn note_interpreter(kind: crate::config::gil::GilKind) {
    if let Some(record) = record() {
        record.count_interpreter(kind);
    }
}

/// This daemon process is stopping for `reason` (a lifecycle key).
pub fn note_stopping(reason: &str) {
    if let Some(record) = record() {
        record.stopping(reason);
    }
}

/// The parent saw daemon process `pid` of `group` end: a crash counts
/// as one when it ended abnormally (a signal or a non-zero exit: a
/// daemon that stops exits with 0), or without having begun to stop.
pub fn note_daemon_ended(group: &str, pid: u32, abnormal: bool) {
    let Some(board) = board() else {
        return;
    };
    let began_stopping = board.reap_process(pid);
    if abnormal || began_stopping == Some(false) {
        if let Some(group) = board.find_group(group) {
            board.count_restart(group, "crashed");
        }
    }
}

/// This process turned back a request that waited past `queue-timeout`.
pub fn note_queue_timeout() {
    if let Some(record) = record() {
        record.count_queue_timeout();
    }
}

/// The process is exiting: its record is free for another.
pub fn release_record() {
    if let Some(record) = record() {
        record.release();
    }
}
