//! Garbage-collector telemetry: a `gc.callbacks` hook in each interpreter
//! that times every collection pass, and the per-interpreter snapshot the
//! reporter sends each interval. Only used with `WSGITelemetryService`.

use crate::python::trampoline::trampoline;
use crate::python::{
    code, collections, convert, errors,
    object::{self, Owned},
    Python,
};
use crate::telemetry::{GcEvent, GcSnapshot};
use parking_lot::Mutex;
use pyo3_ffi as ffi;
use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Collection passes waiting for the reporter; beyond this many, new ones
/// are counted as dropped instead.
const QUEUE_LIMIT: usize = 4096;

static EVENTS: Mutex<VecDeque<GcEvent>> = Mutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Interpreters whose `gc.callbacks` has our hook.
static HOOKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

thread_local! {
    /// When the collection running on this thread started (a pass starts
    /// and stops on the same thread).
    static STARTED: Cell<Option<(Instant, f64)>> = const { Cell::new(None) };
}

/// `gc.callbacks` entry: `(phase, info)`; `self` is the interpreter name.
unsafe extern "C" fn on_collection(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its gc.callbacks with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi gc callback", || {
        // SAFETY: GIL held (Python calls us); `args` is the argument tuple and
        // `slf` the str given at creation; borrowed references made owned.
        let (name, phase, info) = unsafe {
            (
                Owned::from_borrowed(slf),
                Owned::from_borrowed(ffi::PyTuple_GetItem(args, 0)),
                Owned::from_borrowed(ffi::PyTuple_GetItem(args, 1)),
            )
        };
        errors::clear_error(py);
        let phase = phase.and_then(|p| convert::unicode_to_string(py, &p));
        match phase.as_deref() {
            Some("start") => {
                STARTED.with(|s| s.set(Some((Instant::now(), crate::metrics::now_seconds()))))
            }
            Some("stop") => {
                if let (Some((began, start)), Some(info)) = (STARTED.with(|s| s.take()), info) {
                    let field = |key: &str| {
                        collections::dict_get(py, &info, key)
                            .and_then(|v| convert::to_u64(py, &v))
                            .unwrap_or(0)
                    };
                    record(GcEvent {
                        interpreter: name
                            .and_then(|n| convert::unicode_to_string(py, &n))
                            .unwrap_or_default(),
                        start,
                        duration: began.elapsed().as_secs_f64(),
                        generation: field("generation"),
                        collected: field("collected"),
                        uncollectable: field("uncollectable"),
                    });
                }
            }
            _ => {}
        }
        convert::none(py).into_raw()
    })
}

fn record(event: GcEvent) {
    let mut events = EVENTS.lock();
    if events.len() < QUEUE_LIMIT {
        events.push_back(event);
    } else {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The collection passes recorded since the last call.
pub fn drain_events() -> Vec<GcEvent> {
    std::mem::take(&mut *EVENTS.lock()).into()
}

/// How many collection passes could not be queued so far.
pub fn dropped_events() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

static mut CALLBACK_DEF: ffi::PyMethodDef = ffi::PyMethodDef {
    ml_name: c"mod_wsgi_gc_telemetry".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: on_collection,
    },
    ml_flags: ffi::METH_VARARGS,
    ml_doc: std::ptr::null(),
};

/// Adds our hook to this interpreter's `gc.callbacks` (once).
fn hook(py: Python<'_>, gc: &Owned, interpreter: &str) -> Option<()> {
    let mut hooked = HOOKED.lock();
    let hooked = hooked.get_or_insert_with(HashSet::new);
    if hooked.contains(interpreter) {
        return Some(());
    }
    let callbacks = gc.getattr(py, "callbacks")?;
    let name = convert::str_obj(py, interpreter)?;
    // SAFETY: GIL held; the method definition is static and never
    // changed; `name` becomes the function's `self`.
    // PyCFunction_NewEx returns a new reference, or NULL with an exception set.
    let callback = unsafe {
        Owned::from_new(ffi::PyCFunction_NewEx(
            std::ptr::addr_of_mut!(CALLBACK_DEF),
            name.as_ptr(),
            std::ptr::null_mut(),
        ))
    }?;
    callbacks.getattr(py, "append")?.call(py, &[&callback])?;
    hooked.insert(interpreter.to_string());
    Some(())
}

fn three(py: Python<'_>, values: &Owned) -> Option<[u64; 3]> {
    let items = collections::iter_items(py, values)?;
    let mut out = [0; 3];
    for (slot, item) in out.iter_mut().zip(&items) {
        *slot = convert::to_u64(py, item)?;
    }
    Some(out)
}

/// With the interpreter's GIL held: its collector's state, after making
/// sure its collection passes are being timed. `None` (error cleared)
/// when the `gc` module cannot be read.
pub fn snapshot(py: Python<'_>, interpreter: &str) -> Option<GcSnapshot> {
    let read = || {
        let gc = code::import(py, "gc")?;
        hook(py, &gc, interpreter)?;
        let call = |name: &str| gc.getattr(py, name)?.call0(py);
        let mut snapshot = GcSnapshot {
            interpreter: interpreter.to_string(),
            count: three(py, &call("get_count")?)?,
            threshold: three(py, &call("get_threshold")?)?,
            enabled: object::is_true(py, &call("isenabled")?),
            freeze_count: convert::to_u64(py, &call("get_freeze_count")?)?,
            ..GcSnapshot::default()
        };
        let stats = collections::iter_items(py, &call("get_stats")?)?;
        for (generation, stat) in stats.iter().take(3).enumerate() {
            let field = |key: &str| {
                collections::dict_get(py, stat, key).and_then(|v| convert::to_u64(py, &v))
            };
            snapshot.collections[generation] = field("collections")?;
            snapshot.collected[generation] = field("collected")?;
            snapshot.uncollectable[generation] = field("uncollectable")?;
        }
        Some(snapshot)
    };
    let snapshot = read();
    if snapshot.is_none() {
        errors::clear_error(py);
    }
    snapshot
}
