//! `sys.stdout`, `sys.stderr` and `sys.stdin` in every interpreter, and the
//! `signal.signal` guard (`WSGIRestrictStdin`, `WSGIRestrictStdout`,
//! `WSGIRestrictSignal`).
//!
//! Writes are routed per call: on a thread that is handling a request they
//! join that request's `wsgi.errors` lines; anywhere else (module import,
//! background threads, shutdown) they go to the server's error log. Either
//! way they are line-buffered and logged at `error`, as the C module does.

use super::context::{drain_lines, RequestContext};
use super::interpreter::InterpreterObjects;
use super::types;
use crate::apache::log::{server_log, APLOG_ERR, APLOG_INFO};
use crate::config::interp_options::Restrictions;
use crate::python::trampoline::trampoline;
use crate::python::{code, convert, object::Owned, Python};
use parking_lot::Mutex;
use pyo3_ffi as ffi;
use std::cell::Cell;
use std::ffi::c_void;

thread_local! {
    /// The request this thread is handling, while it runs.
    static CURRENT_REQUEST: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// Output written outside any request, waiting for its newline.
static UNATTACHED_LINE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Marks this thread as handling the request behind `ctx` until dropped.
pub struct RequestScope {
    previous: *mut c_void,
}

impl RequestScope {
    pub fn enter(ctx: *mut RequestContext) -> RequestScope {
        RequestScope {
            previous: CURRENT_REQUEST.with(|c| c.replace(ctx.cast())),
        }
    }
}

impl Drop for RequestScope {
    fn drop(&mut self) {
        CURRENT_REQUEST.with(|c| c.set(self.previous));
    }
}

fn write_unattached(text: &[u8], flush: bool) {
    let mut pending = UNATTACHED_LINE.lock();
    pending.extend_from_slice(text);
    if flush && !pending.is_empty() && !pending.ends_with(b"\n") {
        // A flushed partial line is logged as a line of its own.
        pending.push(b'\n');
    }
    drain_lines(&mut pending, |line| {
        server_log(std::ptr::null(), APLOG_ERR, line)
    });
}

/// Routes output written to `sys.stdout`/`sys.stderr` to the request this
/// thread handles, or to the server log outside any request.
pub fn route_output(text: &[u8], flush: bool) {
    let ctx = CURRENT_REQUEST.with(Cell::get) as *mut RequestContext;
    if ctx.is_null() {
        write_unattached(text, flush);
        return;
    }
    // SAFETY: set by RequestScope on this thread for the life of the
    // request's context; only this thread (holding the GIL) touches it.
    let ctx = unsafe { &mut *ctx };
    ctx.log_text(text);
    if flush {
        ctx.flush_log();
    }
}

/// Logs whatever partial line is left outside requests (at shutdown).
pub fn flush_unattached() {
    write_unattached(b"", true);
}

/// `mod_wsgi._log_info(text)`: one server-level INFO line per text line,
/// for the signal guard (the C module logs its notice so, even within a
/// request).
pub unsafe extern "C" fn log_info(
    _module: *mut ffi::PyObject,
    text: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi._log_info", || {
        // SAFETY: GIL held; `text` is the argument CPython passed this
        // METH_O function, a borrowed reference live for the call.
        let text = unsafe { Owned::from_borrowed(text) };
        let Some(text) = text.and_then(|t| convert::unicode_to_string(py, &t)) else {
            return std::ptr::null_mut();
        };
        for line in text.lines() {
            server_log(std::ptr::null(), APLOG_INFO, line);
        }
        convert::none(py).into_raw()
    })
}

/// Logs each line of `text` as its own record at `level`: with the
/// request's decoration on a request thread, to the server log elsewhere.
pub fn log_lines(level: i32, text: &str) {
    let ctx = CURRENT_REQUEST.with(Cell::get) as *mut RequestContext;
    for line in text.lines() {
        if ctx.is_null() {
            server_log(std::ptr::null(), level, line);
        } else {
            // SAFETY: as in `route`.
            let ctx = unsafe { &*ctx };
            ctx.transport.log(level, &format!("{}{line}", ctx.log_tag));
        }
    }
}

/// Installed in each interpreter by [`install`] when signal registration
/// is restricted.
const SIGNAL_GUARD_SOURCE: &std::ffi::CStr = c"
import signal, mod_wsgi

def guarded_signal(signum, handler):
    import traceback
    stack = ''.join(traceback.format_stack()[:-1])
    mod_wsgi._log_info(
        'Ignoring Python signal handler registration for signal %d in WSGI '
        'process; mod_wsgi manages signals.\\n%s' % (signum, stack))
    return handler

signal.signal = guarded_signal
";

/// Replaces the standard streams (and `signal.signal` when restricted) in
/// the current interpreter, as the C module does: `sys.stdout` and
/// `sys.stderr` log through `mod_wsgi.Log`; a restricted stream is a
/// `mod_wsgi.Restricted`. The GIL is held.
pub fn install(
    py: Python<'_>,
    objects: &InterpreterObjects,
    restrictions: Restrictions,
) -> Option<()> {
    let sys = code::import(py, "sys")?;
    let stdout = if restrictions.stdout {
        types::restricted(objects, c"sys.stdout")?
    } else {
        types::standard_stream(py, objects, c"<stdout>")?
    };
    set_sys_stream(py, &sys, "stdout", &stdout)?;
    set_sys_stream(
        py,
        &sys,
        "stderr",
        &types::standard_stream(py, objects, c"<stderr>")?,
    )?;
    if restrictions.stdin {
        set_sys_stream(
            py,
            &sys,
            "stdin",
            &types::restricted(objects, c"sys.stdin")?,
        )?;
    }
    if restrictions.signal {
        code::run_source(py, SIGNAL_GUARD_SOURCE, "mod_wsgi._signal", &[])?;
    }
    Some(())
}

fn set_sys_stream(py: Python<'_>, sys: &Owned, name: &str, stream: &Owned) -> Option<()> {
    sys.setattr(py, name, stream).then_some(())
}
