//! Event subscriptions (`subscribe_events`, `subscribe_shutdown`,
//! `subscribe_signals`), publishing, and the per-request state behind
//! `request_data()` and `active_requests`.
//!
//! Subscribers live on each interpreter's own `mod_wsgi` module, in the
//! lists the C module exposes: `event_callbacks` get every event,
//! `shutdown_callbacks` also get `process_stopping` and `signal_callbacks`
//! also get `process_signal`. An application may append to them directly.

use crate::apache::log::{server_log, APLOG_ERR};
use crate::python::trampoline::trampoline;
use crate::python::{
    code, collections, convert,
    errors::{self, ExceptionType},
    object::{self, Owned},
    Python,
};
use pyo3_ffi as ffi;
use std::cell::RefCell;
use std::collections::HashMap;

const EVENT_CALLBACKS: &str = "event_callbacks";
const SHUTDOWN_CALLBACKS: &str = "shutdown_callbacks";
const SIGNAL_CALLBACKS: &str = "signal_callbacks";

/// Keys of the request payloads, made into Python strings once per
/// interpreter instead of on every request.
const PAYLOAD_KEYS: &[&str] = &[
    "request_id",
    "request_data",
    "thread_id",
    "server_pid",
    "request_start",
    "queue_start",
    "daemon_start",
    "application_start",
    "callable_object",
    "request_environ",
    "application_object",
    "daemon_connects",
    "daemon_restarts",
];

/// One interpreter's event state, looked up once when it is set up.
pub struct EventObjects {
    /// `mod_wsgi.event_callbacks`: called for every event.
    pub subscribers: Owned,
    /// `mod_wsgi.shutdown_callbacks`: called for `process_stopping` too.
    shutdown: Owned,
    /// `mod_wsgi.signal_callbacks`: called for `process_signal` too.
    signals: Owned,
    pub active_requests: Owned,
    keys: HashMap<&'static str, Owned>,
}

impl EventObjects {
    pub fn new(py: Python<'_>, module: &Owned) -> Option<Self> {
        let keys = PAYLOAD_KEYS
            .iter()
            .map(|k| Some((*k, convert::str_obj(py, k)?)))
            .collect::<Option<_>>()?;
        Some(EventObjects {
            subscribers: module.getattr(py, EVENT_CALLBACKS)?,
            shutdown: module.getattr(py, SHUTDOWN_CALLBACKS)?,
            signals: module.getattr(py, SIGNAL_CALLBACKS)?,
            active_requests: module.getattr(py, "active_requests")?,
            keys,
        })
    }

    /// Publishes a process-wide event: to every event subscriber, then to
    /// those that subscribed to this kind of event alone.
    pub fn publish_process_event(
        &self,
        py: Python<'_>,
        name: &str,
        payload: &Owned,
        log: &dyn Fn(&str),
    ) {
        publish(py, &self.subscribers, name, payload, log);
        match name {
            "process_stopping" => publish(py, &self.shutdown, name, payload, log),
            "process_signal" => publish(py, &self.signals, name, payload, log),
            _ => {}
        }
    }

    /// Whether anything subscribed to request events in this interpreter.
    pub fn subscribed(&self, py: Python<'_>) -> bool {
        collections::list_len(py, &self.subscribers).is_some_and(|n| n > 0)
    }

    /// `dict[key] = value`, with the key string made once.
    pub fn set(&self, py: Python<'_>, dict: &Owned, key: &'static str, value: &Owned) -> bool {
        match self.keys.get(key) {
            Some(k) => collections::dict_set_item(py, dict, k, value),
            None => collections::dict_set(py, dict, key, value),
        }
    }
}

/// Creates the per-interpreter subscriber lists and `active_requests`.
pub fn init(py: Python<'_>, module: &Owned) -> Option<()> {
    for list in [EVENT_CALLBACKS, SHUTDOWN_CALLBACKS, SIGNAL_CALLBACKS] {
        module
            .setattr(py, list, &collections::new_list(py)?)
            .then_some(())?;
    }
    module
        .setattr(py, "active_requests", &collections::new_dict(py)?)
        .then_some(())
}

/// Appends `callback` to the module's list `list`; returns it so the
/// subscribe functions work as decorators.
///
/// # Safety
///
/// The GIL is held; `module` and `callback` are null or live objects,
/// borrowed for the call (the arguments CPython passed the method).
unsafe fn subscribe(
    py: Python<'_>,
    module: *mut ffi::PyObject,
    callback: *mut ffi::PyObject,
    list: &str,
) -> *mut ffi::PyObject {
    // SAFETY: both are null or borrowed references live for the call
    // (this function's contract); GIL held.
    let (Some(module), Some(callback)) =
        (unsafe { (Owned::from_borrowed(module), Owned::from_borrowed(callback)) })
    else {
        return std::ptr::null_mut();
    };
    if !object::is_callable(py, &callback) {
        errors::raise(
            py,
            ExceptionType::TypeError,
            "the subscriber must be callable",
        );
        return std::ptr::null_mut();
    }
    let appended = (|| {
        let list = module.getattr(py, list)?;
        collections::list_append(py, &list, &callback).then_some(())
    })();
    if appended.is_none() {
        return std::ptr::null_mut();
    }
    callback.into_raw()
}

pub unsafe extern "C" fn subscribe_events(
    m: *mut ffi::PyObject,
    cb: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.subscribe_events", || {
        // SAFETY: GIL held; `m` is the module and `cb` the argument
        // CPython passed this METH_O function, borrowed for the call.
        unsafe { subscribe(py, m, cb, EVENT_CALLBACKS) }
    })
}

pub unsafe extern "C" fn subscribe_shutdown(
    m: *mut ffi::PyObject,
    cb: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.subscribe_shutdown", || {
        // SAFETY: GIL held; `m` is the module and `cb` the argument
        // CPython passed this METH_O function, borrowed for the call.
        unsafe { subscribe(py, m, cb, SHUTDOWN_CALLBACKS) }
    })
}

pub unsafe extern "C" fn subscribe_signals(
    m: *mut ffi::PyObject,
    cb: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.subscribe_signals", || {
        if crate::process::in_daemon_process() {
            // SAFETY: GIL held; `m` is the module and `cb` the argument
            // CPython passed this METH_O function, borrowed for the call.
            return unsafe { subscribe(py, m, cb, SIGNAL_CALLBACKS) };
        }
        let stack = code::import(py, "traceback")
            .and_then(|t| t.getattr(py, "format_stack"))
            .and_then(|f| f.call0(py))
            .and_then(|lines| {
                convert::str_obj(py, "")?
                    .getattr(py, "join")?
                    .call(py, &[&lines])
            })
            .and_then(|s| convert::unicode_to_string(py, &s))
            .unwrap_or_default();
        errors::clear_error(py);
        tracing::info!(
            "mod_wsgi.subscribe_signals() called outside daemon mode; the callback will not be invoked. Signal callbacks are only delivered in daemon mode processes."
        );
        for line in stack.lines() {
            tracing::info!("{line}");
        }
        // SAFETY: returning a new reference to the callback.
        unsafe { ffi::Py_IncRef(cb) };
        cb
    })
}

/// Where a failing event subscriber is logged from a request: the server
/// log, with no request decoration, as the C module logs it.
pub fn log_subscriber_failure(line: &str) {
    server_log(std::ptr::null(), APLOG_ERR, line);
}

/// Calls each callable in `list` with `name` and
/// `payload` as keyword arguments, merging any dict a callback returns into
/// the payload for the ones after it. A failing subscriber is logged
/// through `log` and skipped.
pub fn publish(py: Python<'_>, list: &Owned, name: &str, payload: &Owned, log: &dyn Fn(&str)) {
    // A snapshot, so that subscribers may subscribe others.
    let Some(entries) = collections::list_snapshot(py, list) else {
        errors::clear_error(py);
        return;
    };
    let Some(name_obj) = convert::str_obj(py, name) else {
        return;
    };
    for callback in entries {
        let result = callback.call_with_kwargs(py, &[&name_obj], payload);
        match result {
            // A dict the subscriber returned is merged in for the next.
            Some(r) if collections::is_dict(py, &r) => {
                collections::dict_update(py, payload, &r);
            }
            Some(_) => {}
            None => {
                let kind = errors::pending_error_type_name(py).unwrap_or_else(|| "Unknown".into());
                let text = errors::take_error_text(py).unwrap_or_default();
                log(&if kind == "SystemExit" {
                    format!("WSGI0190: {kind} exception raised by event callback for '{name}'; ignored.")
                } else {
                    format!("WSGI0112: {kind} exception raised by event callback for '{name}'.")
                });
                for line in text.lines() {
                    log(line);
                }
            }
        }
    }
}

/// The request running on this thread: its `request_data()` dict, and
/// what `response_started` needs from inside `start_response`.
struct Current {
    data: Owned,
    subscribers: Owned,
    request_id: Owned,
    subscribed: bool,
}

thread_local!(static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) });

/// Makes `data` this thread's `request_data()` until [`end_request`].
pub fn begin_request(subscribers: &Owned, data: &Owned, request_id: &Owned, subscribed: bool) {
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Current {
            data: data.clone(),
            subscribers: subscribers.clone(),
            request_id: request_id.clone(),
            subscribed,
        })
    });
}

/// Forgets this thread's request (call with the GIL held).
pub fn end_request() {
    let previous = CURRENT.with(|c| c.borrow_mut().take());
    drop(previous);
}

/// Publishes `response_started` for this thread's request, if anything
/// subscribed. Called from `start_response` with the GIL held.
pub fn response_started(
    py: Python<'_>,
    status: &Owned,
    headers: &Owned,
    exc_info: Option<&Owned>,
    log: &dyn Fn(&str),
) {
    let current = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|c| c.subscribed)
            .map(|c| (c.subscribers.clone(), c.data.clone(), c.request_id.clone()))
    });
    let Some((subscribers, data, request_id)) = current else {
        return;
    };
    let payload = (|| {
        let d = collections::new_dict(py)?;
        collections::dict_set(py, &d, "request_id", &request_id);
        collections::dict_set(py, &d, "response_status", status);
        collections::dict_set(py, &d, "response_headers", headers);
        collections::dict_set(
            py,
            &d,
            "exception_info",
            &exc_info.cloned().unwrap_or_else(|| convert::none(py)),
        );
        collections::dict_set(py, &d, "request_data", &data);
        Some(d)
    })();
    if let Some(payload) = payload {
        publish(py, &subscribers, "response_started", &payload, log);
    }
    errors::clear_error(py);
}

pub unsafe extern "C" fn request_data(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.request_data", || {
        match CURRENT.with(|c| c.borrow().as_ref().map(|c| c.data.clone())) {
            Some(data) => data.into_raw(),
            None => {
                errors::raise(
                    py,
                    ExceptionType::RuntimeError,
                    "request_data() called outside of an active request",
                );
                std::ptr::null_mut()
            }
        }
    })
}

/// `process_stopping` for each interpreter's subscribers.
pub(crate) fn publish_stopping(reason: &str) {
    if let Err(why) = crate::python::interp::safe_to_use_at_exit() {
        tracing::warn!("mod_wsgi: not publishing process_stopping: {why}");
        return;
    }
    publish_in_every_interpreter("process_stopping", |py, payload| {
        collections::dict_set(
            py,
            payload,
            "shutdown_reason",
            &convert::str_obj(py, reason)?,
        )
        .then_some(())
    });
}

/// `process_signal` for each interpreter's subscribers (daemon mode).
pub(crate) fn publish_signal(name: &str, number: i32) {
    publish_in_every_interpreter("process_signal", |py, payload| {
        let signame = convert::str_obj(py, name)?;
        let signum = convert::int_obj(py, number.into())?;
        (collections::dict_set(py, payload, "signame", &signame)
            && collections::dict_set(py, payload, "signum", &signum))
        .then_some(())
    });
}

/// Publishes a process event to the subscribers of every interpreter, with
/// the payload `fill` puts into a fresh dict in each.
fn publish_in_every_interpreter(event: &str, fill: impl Fn(Python<'_>, &Owned) -> Option<()>) {
    let log = |line: &str| tracing::error!("{line}");
    crate::python::interp::in_each_interpreter(|interpreter, gil| {
        let py = gil.python();
        let Some(objects) = crate::wsgi::interpreter::InterpreterObjects::of(interpreter, gil)
        else {
            return;
        };
        if let Some(payload) = collections::new_dict(py) {
            if fill(py, &payload).is_some() {
                objects
                    .events
                    .publish_process_event(py, event, &payload, &log);
            }
        }
        errors::clear_error(py);
    });
}
