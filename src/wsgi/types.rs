//! The Python objects a WSGI application sees for a request: the
//! `start_response`/`write` adapter, `wsgi.input` and `wsgi.errors`.
//! They are heap types created once per interpreter. Each instance points
//! at the Rust `RequestContext` while the request runs; the pointer is
//! cleared when the request ends, so a kept reference raises instead of
//! touching freed memory.

use super::context::RequestContext;
use super::interpreter::InterpreterObjects;
use super::response;
use crate::python::trampoline::trampoline;
use crate::python::{
    code, collections, convert,
    errors::{self, ExceptionType},
    object::{self, Owned},
    Python,
};
use pyo3_ffi as ffi;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::addr_of_mut;

#[repr(C)]
pub struct RequestBound {
    ob_base: ffi::PyObject,
    context: *mut c_void,
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi object dealloc", || {
        // SAFETY: called by Python with a dead instance of one of our heap
        // types; free it with the type's allocator and drop the type
        // reference the instance held.
        unsafe {
            let tp = ffi::Py_TYPE(obj);
            let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
            if !free.is_null() {
                let free: ffi::freefunc = std::mem::transmute::<*mut c_void, ffi::freefunc>(free);
                free(obj.cast());
            }
            ffi::Py_DecRef(tp.cast());
        }
    })
}

/// The request context behind `obj`, or a Python error when the request
/// has finished.
///
/// # Safety
/// `obj` is an instance of one of our types and the GIL is held.
unsafe fn context<'a>(
    py: Python<'_>,
    obj: *mut ffi::PyObject,
) -> Option<&'a mut RequestContext<'a>> {
    // SAFETY: layout guaranteed by our type spec.
    let ptr = unsafe { (*(obj as *mut RequestBound)).context } as *mut RequestContext;
    if ptr.is_null() {
        errors::raise(
            py,
            ExceptionType::RuntimeError,
            "the request this object belongs to has completed",
        );
        return None;
    }
    // SAFETY: set by `bind` for the duration of the request, on this thread.
    Some(unsafe { &mut *ptr })
}

/// The body of the request-bound method `$name`, run through the
/// trampoline with `$py` bound to the GIL's token and `$ctx` to the
/// request context behind `$slf`; once the request has finished the call
/// raises instead.
macro_rules! request_method {
    ($name:expr, $slf:expr, |$py:ident, $ctx:ident| $body:block) => {{
        // SAFETY: CPython calls our methods with the GIL held.
        let $py = unsafe { Python::assume_held() };
        trampoline($py, $name, || {
            // SAFETY: `self` is an instance of one of our types, as
            // `context` requires, and the GIL is held (`$py`).
            let Some($ctx) = (unsafe { context($py, $slf) }) else {
                return std::ptr::null_mut();
            };
            $body
        })
    }};
}

/// Creates an instance of `tp` bound to `ctx`.
pub fn bind(tp: &Owned, ctx: *mut RequestContext) -> Option<Owned> {
    // SAFETY: GIL held; generic allocation zero-fills our struct.
    // PyType_GenericAlloc returns a new reference, or NULL with an exception set.
    let obj = unsafe { Owned::from_new(ffi::PyType_GenericAlloc(tp.as_ptr().cast(), 0)) }?;
    // SAFETY: `obj` has our layout.
    unsafe { (*(obj.as_ptr() as *mut RequestBound)).context = ctx.cast() };
    Some(obj)
}

/// Detaches an instance from its finished request.
pub fn unbind(obj: &Owned) {
    // SAFETY: `obj` has our layout; GIL held.
    unsafe { (*(obj.as_ptr() as *mut RequestBound)).context = std::ptr::null_mut() };
}

fn none_result(py: Python<'_>) -> *mut ffi::PyObject {
    convert::none(py).into_raw()
}

fn raise_type_error(py: Python<'_>, message: &str) -> *mut ffi::PyObject {
    errors::raise(py, ExceptionType::TypeError, message);
    std::ptr::null_mut()
}

fn raise_os_error(py: Python<'_>, message: &str) -> *mut ffi::PyObject {
    errors::raise(py, ExceptionType::OSError, message);
    std::ptr::null_mut()
}

/// Positional argument `i` of a call, borrowed as owned.
unsafe fn arg(args: *mut ffi::PyObject, i: isize) -> Option<Owned> {
    // SAFETY: `args` is the call's tuple; GIL held. PyTuple_GetItem
    // returns a borrowed reference (the index is checked), made owned.
    unsafe {
        if args.is_null() || ffi::PyTuple_Size(args) <= i {
            return None;
        }
        Owned::from_borrowed(ffi::PyTuple_GetItem(args, i))
    }
}

/// Optional size argument: missing, None or negative mean "no limit".
unsafe fn size_arg(
    py: Python<'_>,
    method: &str,
    args: *mut ffi::PyObject,
) -> Result<Option<usize>, ()> {
    // SAFETY: GIL held; `args` is the call's argument tuple.
    let given = unsafe { ffi::PyTuple_Size(args) };
    if given > 1 {
        raise_type_error(
            py,
            &format!("{method}() takes at most 1 argument ({given} given)"),
        );
        return Err(());
    }
    // SAFETY: forwarded.
    let Some(value) = (unsafe { arg(args, 0) }) else {
        return Ok(None);
    };
    // SAFETY: GIL held. As with the C module, None is not a size.
    unsafe {
        let n = ffi::PyLong_AsLongLong(value.as_ptr());
        if n == -1 && !ffi::PyErr_Occurred().is_null() {
            return Err(());
        }
        Ok((n >= 0).then_some(n as usize))
    }
}

// ---- start_response / write ----

/// A latin-1 byte string as the `String` of the same characters.
fn latin1_string(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

/// Response headers as (name, value) pairs.
type Headers = Vec<(String, String)>;

/// The status line and headers given to `start_response`, converted and
/// validated as the C module does; `None` with the exception raised.
fn checked_response(
    py: Python<'_>,
    status: &Owned,
    headers: &Owned,
) -> Option<(i32, String, Headers)> {
    let raise_value_error = |message: String| {
        errors::raise(py, ExceptionType::ValueError, &message);
    };
    let status = convert::latin1_or_raise(py, status)?;
    let code = response::parse_status(&status)
        .map_err(raise_value_error)
        .ok()?;
    let mut checked = Vec::new();
    // SAFETY: GIL held; `headers` is a list (checked by the caller).
    let count = unsafe { ffi::PyList_Size(headers.as_ptr()) };
    for i in 0..count {
        // SAFETY: index within bounds; borrowed item.
        // PyList_GetItem returns a borrowed reference, or NULL (IndexError) out of range.
        let item = unsafe { Owned::from_borrowed(ffi::PyList_GetItem(headers.as_ptr(), i)) }?;
        // SAFETY: GIL held.
        if unsafe { ffi::PyTuple_Check(item.as_ptr()) } == 0 {
            raise_type_error(
                py,
                &format!(
                    "each header must be a 2-tuple, not {}",
                    object::type_name(py, &item)
                ),
            );
            return None;
        }
        // SAFETY: GIL held; a tuple.
        let length = unsafe { ffi::PyTuple_Size(item.as_ptr()) };
        if length != 2 {
            raise_value_error(format!(
                "each header must be a 2-tuple, got length {length}"
            ));
            return None;
        }
        // SAFETY: tuple of size 2.
        let (name, value) = unsafe { (arg(item.as_ptr(), 0)?, arg(item.as_ptr(), 1)?) };
        let name = convert::latin1_or_raise(py, &name)?;
        let value = convert::latin1_or_raise(py, &value)?;
        response::check_header_name(&name)
            .and_then(|()| response::check_header_value(&value))
            .map_err(raise_value_error)
            .ok()?;
        let name = latin1_string(&name);
        response::check_not_hop_by_hop(&name)
            .map_err(raise_value_error)
            .ok()?;
        checked.push((name, String::from_utf8_lossy(&value).into_owned()));
    }
    Some((code, latin1_string(&status), checked))
}

unsafe extern "C" fn start_response(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    request_method!("start_response", slf, |py, ctx| {
        // SAFETY: argument tuple/dict from the call; PyDict_GetItemString
        // returns a borrowed reference, or NULL when absent.
        let (status, headers, exc_info) = unsafe {
            let kw = |name: &std::ffi::CStr| -> Option<Owned> {
                if kwargs.is_null() {
                    None
                } else {
                    Owned::from_borrowed(ffi::PyDict_GetItemString(kwargs, name.as_ptr()))
                }
            };
            (
                arg(args, 0).or_else(|| kw(c"status")),
                arg(args, 1).or_else(|| kw(c"headers")),
                arg(args, 2).or_else(|| kw(c"exc_info")),
            )
        };
        // SAFETY: GIL held.
        let given = unsafe { ffi::PyTuple_Size(args) }
            + if kwargs.is_null() {
                0
            } else {
                // SAFETY: GIL held; the call's keyword dict.
                unsafe { ffi::PyDict_Size(kwargs) }
            };
        if given > 3 {
            return raise_type_error(
                py,
                &format!("start_response() takes at most 3 arguments ({given} given)"),
            );
        }
        let (Some(status), Some(headers)) = (status, headers) else {
            return raise_type_error(
                py,
                &format!("start_response() takes at least 2 arguments ({given} given)"),
            );
        };
        // SAFETY: GIL held.
        if unsafe { ffi::PyList_Check(headers.as_ptr()) } == 0 {
            return raise_type_error(
                py,
                &format!(
                    "start_response() argument 2 must be list, not {}",
                    object::type_name(py, &headers)
                ),
            );
        }
        let exc_info = exc_info.filter(|e| !object::is_none(py, e));
        if let Some(exc_info) = &exc_info {
            // SAFETY: GIL held.
            if unsafe { ffi::PyTuple_Check(exc_info.as_ptr()) } == 0 {
                errors::raise(
                    py,
                    ExceptionType::RuntimeError,
                    "start_response() argument 'exc_info' must be a 3-tuple or None",
                );
                return std::ptr::null_mut();
            }
        }
        // Before any output a later call simply replaces status and headers;
        // once they are out, only an error report (exc_info) may come, and its
        // exception propagates (PEP 3333).
        if ctx.headers_sent {
            let Some(exc_info) = exc_info else {
                errors::raise(
                    py,
                    ExceptionType::RuntimeError,
                    "start_response() called more than once without exc_info",
                );
                return std::ptr::null_mut();
            };
            // SAFETY: GIL held; item 1 of the tuple is the exception.
            // PySequence_GetItem returns a new reference, or NULL with an
            // exception set.
            let value = unsafe { Owned::from_new(ffi::PySequence_GetItem(exc_info.as_ptr(), 1)) };
            if let Some(value) = value {
                errors::restore_exception(py, value);
            }
            return std::ptr::null_mut();
        }
        let Some((code, status_line, parsed)) = checked_response(py, &status, &headers) else {
            return std::ptr::null_mut();
        };
        if let Err(message) = ctx.set_response(code, status_line, parsed) {
            errors::raise(py, ExceptionType::ValueError, &message);
            return std::ptr::null_mut();
        }
        crate::pymodule::events::response_started(
            py,
            &status,
            &headers,
            exc_info.as_ref(),
            &crate::pymodule::events::log_subscriber_failure,
        );
        // SAFETY: GIL held; `slf` is the live instance CPython called the
        // method on, a borrowed reference (never NULL) for the call.
        let slf = unsafe { Owned::from_borrowed(slf) }.expect("non-null");
        slf.getattr(py, "write")
            .map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}

unsafe extern "C" fn write(
    slf: *mut ffi::PyObject,
    data: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    request_method!("write", slf, |py, ctx| {
        // SAFETY: GIL held; `data` is the argument CPython passed this
        // METH_O method, a borrowed reference live for the call.
        let Some(data) = (unsafe { Owned::from_borrowed(data) }) else {
            return std::ptr::null_mut();
        };
        let Some(bytes) = convert::bytes_contents(py, &data) else {
            return raise_type_error(
                py,
                &format!(
                    "write() argument must be bytes, not {}",
                    object::type_name(py, &data)
                ),
            );
        };
        if ctx.status.is_none() {
            errors::raise(
                py,
                ExceptionType::RuntimeError,
                "write() called before start_response()",
            );
            return std::ptr::null_mut();
        }
        let bytes = bytes.to_vec();
        match ctx.write_body(&bytes) {
            Ok(()) if ctx.client_gone => raise_os_error(py, "client connection closed"),
            Ok(()) => none_result(py),
            Err(e) => raise_os_error(py, &e),
        }
    })
}

// ---- wsgi.input ----

fn bytes_result(py: Python<'_>, r: Result<Vec<u8>, String>) -> *mut ffi::PyObject {
    match r {
        Ok(b) => convert::bytes_obj(py, &b).map_or(std::ptr::null_mut(), Owned::into_raw),
        Err(e) => raise_os_error(py, &e),
    }
}

unsafe extern "C" fn input_read(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    request_method!("wsgi.input.read", slf, |py, ctx| {
        // SAFETY: forwarded call arguments.
        match unsafe { size_arg(py, "read", args) } {
            Ok(size) => bytes_result(py, ctx.read(size)),
            Err(()) => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn input_readline(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    request_method!("wsgi.input.readline", slf, |py, ctx| {
        // SAFETY: forwarded call arguments.
        match unsafe { size_arg(py, "readline", args) } {
            Ok(size) => bytes_result(py, ctx.readline(size)),
            Err(()) => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn input_readlines(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    request_method!("wsgi.input.readlines", slf, |py, ctx| {
        // SAFETY: forwarded call arguments.
        let Ok(hint) = (unsafe { size_arg(py, "readlines", args) }) else {
            return std::ptr::null_mut();
        };
        let Some(list) = collections::new_list(py) else {
            return std::ptr::null_mut();
        };
        let mut total = 0usize;
        loop {
            let line = match ctx.readline(None) {
                Ok(l) => l,
                Err(e) => return raise_os_error(py, &e),
            };
            if line.is_empty() {
                break;
            }
            total += line.len();
            let Some(item) = convert::bytes_obj(py, &line) else {
                return std::ptr::null_mut();
            };
            // SAFETY: GIL held; append does not steal.
            unsafe { ffi::PyList_Append(list.as_ptr(), item.as_ptr()) };
            if hint.is_some_and(|h| h > 0 && total >= h) {
                break;
            }
        }
        list.into_raw()
    })
}

/// `wsgi.input.close()`: accepted and ignored, as by the C module (the
/// server owns the request body).
unsafe extern "C" fn input_close(
    _slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.input.close", || none_result(py))
}

unsafe extern "C" fn input_iter(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.input.__iter__", || {
        // SAFETY: GIL held; `slf` is the instance CPython passed to
        // tp_iter, a borrowed reference live for the call.
        unsafe { Owned::from_borrowed(slf) }.map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}

unsafe extern "C" fn input_next(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    request_method!("wsgi.input.__next__", slf, |py, ctx| {
        match ctx.readline(None) {
            // Returning NULL without an exception ends iteration.
            Ok(line) if line.is_empty() => std::ptr::null_mut(),
            other => bytes_result(py, other),
        }
    })
}

// ---- wsgi.errors, sys.stdout and sys.stderr ----
//
// As in the C module, each is an `io.TextIOWrapper` (UTF-8, errors
// replaced, line buffered, written through) over a `mod_wsgi.Log` byte
// stream whose complete lines go to the error log.

/// A `mod_wsgi.Log`: bound to one request (`wsgi.errors`), or following
/// whichever request the writing thread handles (`sys.stdout`/`sys.stderr`).
#[repr(C)]
struct LogBuffer {
    bound: RequestBound,
    /// Static, NUL-terminated: what `name` reports.
    name: *const c_char,
    follows_thread: c_int,
}

/// Where a write to `obj` goes; `Err` with a Python error set when its
/// request has completed.
///
/// # Safety
/// `obj` is a `LogBuffer` and the GIL is held.
unsafe fn log_target<'a>(
    py: Python<'_>,
    obj: *mut ffi::PyObject,
    method: &str,
) -> Result<Option<&'a mut RequestContext<'a>>, ()> {
    // SAFETY: layout guaranteed by the type spec.
    let log = unsafe { &*(obj as *const LogBuffer) };
    if log.follows_thread != 0 {
        return Ok(None);
    }
    let ctx = log.bound.context as *mut RequestContext;
    if ctx.is_null() {
        errors::raise(
            py,
            ExceptionType::RuntimeError,
            &format!("{method}() called on wsgi.errors after request completed"),
        );
        return Err(());
    }
    // SAFETY: set by `new_log` for the duration of the request, on this thread.
    Ok(Some(unsafe { &mut *ctx }))
}

/// Queues `bytes` on the log's pending line, logging each complete line.
fn log_bytes(target: Option<&mut RequestContext>, bytes: &[u8]) {
    match target {
        Some(ctx) => ctx.log_text(bytes),
        None => super::streams::route_output(bytes, false),
    }
}

/// Writes one str (as UTF-8) or bytes-like item; `None` with the error set.
///
/// # Safety
/// `obj` is a `LogBuffer`, `item` null or a live object, and the GIL is
/// held.
unsafe fn log_write_item(
    py: Python<'_>,
    obj: *mut ffi::PyObject,
    item: *mut ffi::PyObject,
    method: &str,
) -> Option<()> {
    // SAFETY: `item` is null or a live object, borrowed for the call
    // (the caller's promise); GIL held.
    let item = unsafe { Owned::from_borrowed(item) }?;
    // SAFETY: forwarded.
    let target = unsafe { log_target(py, obj, method) }.ok()?;
    convert::with_text_or_bytes(py, &item, |bytes| log_bytes(target, bytes))
}

unsafe extern "C" fn log_write(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.write", || {
        if nargs != 1 {
            return raise_type_error(
                py,
                &format!("write() takes exactly 1 argument ({nargs} given)"),
            );
        }
        // SAFETY: one argument given; GIL held; live instance.
        match unsafe { log_write_item(py, slf, *args, "write") } {
            Some(()) => none_result(py),
            None => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn log_writelines(
    slf: *mut ffi::PyObject,
    lines: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.writelines", || {
        // SAFETY: GIL held; live instance.
        if unsafe { log_target(py, slf, "writelines") }.is_err() {
            return std::ptr::null_mut();
        }
        // SAFETY: GIL held; iterate the given iterable (`lines`, borrowed
        // for the call). PyObject_GetIter and PyIter_Next return new
        // references, or NULL (at the end, or with an exception set).
        unsafe {
            let Some(iter) = Owned::from_new(ffi::PyObject_GetIter(lines)) else {
                errors::clear_error(py);
                return raise_type_error(
                    py,
                    "writelines() argument must be an iterable of bytes-like objects",
                );
            };
            while let Some(item) = Owned::from_new(ffi::PyIter_Next(iter.as_ptr())) {
                if log_write_item(py, slf, item.as_ptr(), "writelines").is_none() {
                    return std::ptr::null_mut();
                }
            }
            if !ffi::PyErr_Occurred().is_null() {
                return std::ptr::null_mut();
            }
        }
        none_result(py)
    })
}

/// Logs the pending partial line, if any; a log whose request has
/// completed has nothing left to flush.
unsafe extern "C" fn log_flush(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.flush", || {
        // SAFETY: layout guaranteed by the type spec; GIL held.
        let log = unsafe { &*(slf as *const LogBuffer) };
        if log.follows_thread != 0 {
            super::streams::route_output(b"", true);
        } else if !log.bound.context.is_null() {
            // SAFETY: as in `log_target`.
            unsafe { &mut *(log.bound.context as *mut RequestContext) }.flush_log();
        }
        none_result(py)
    })
}

/// Flushes; a request's log then refuses further writes, as C's does.
unsafe extern "C" fn log_close(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.close", || {
        // SAFETY: forwarded; `log_flush` cannot fail.
        unsafe { ffi::Py_DecRef(log_flush(slf, std::ptr::null_mut())) };
        // SAFETY: layout guaranteed by the type spec; GIL held.
        let log = unsafe { &mut *(slf as *mut LogBuffer) };
        if log.follows_thread == 0 {
            log.bound.context = std::ptr::null_mut();
        }
        none_result(py)
    })
}

unsafe extern "C" fn log_fileno(
    _slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.fileno", || {
        raise_os_error(py, "wsgi.errors log object has no file descriptor")
    })
}

unsafe extern "C" fn log_false(
    _slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.isatty/readable/seekable", || {
        convert::bool_obj(py, false).into_raw()
    })
}

unsafe extern "C" fn log_true(
    _slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.writable", || {
        convert::bool_obj(py, true).into_raw()
    })
}

unsafe extern "C" fn log_name(slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.name", || {
        // SAFETY: layout guaranteed by the type spec; GIL held.
        let name = unsafe { (*(slf as *const LogBuffer)).name };
        let name = if name.is_null() {
            "<log>".into()
        } else {
            // SAFETY: a static NUL-terminated string set by `new_log`.
            unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy()
        };
        convert::str_obj(py, &name).map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}

unsafe extern "C" fn log_closed(_slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.closed", || {
        convert::bool_obj(py, false).into_raw()
    })
}

unsafe extern "C" fn log_encoding(_slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.encoding", || {
        convert::str_obj(py, "utf-8").map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}

unsafe extern "C" fn log_errors(_slf: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "wsgi.errors.errors", || {
        convert::str_obj(py, "replace").map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}

/// A `mod_wsgi.Log` named `name`: bound to `ctx`, or following the
/// writing thread's request when `ctx` is null.
fn new_log(
    objects: &InterpreterObjects,
    ctx: *mut RequestContext,
    name: &'static CStr,
) -> Option<Owned> {
    let log = bind(&objects.log_type, ctx)?;
    // SAFETY: `log` has the LogBuffer layout.
    unsafe {
        let fields = &mut *(log.as_ptr() as *mut LogBuffer);
        fields.name = name.as_ptr();
        fields.follows_thread = c_int::from(ctx.is_null());
    }
    Some(log)
}

/// The text stream applications write to, over `log`.
fn text_stream(py: Python<'_>, objects: &InterpreterObjects, log: &Owned) -> Option<Owned> {
    let (encoding, errors) = (
        convert::str_obj(py, "utf-8")?,
        convert::str_obj(py, "replace")?,
    );
    let (newline, line_buffering, write_through) = (
        convert::none(py),
        convert::bool_obj(py, true),
        convert::bool_obj(py, true),
    );
    objects.text_wrapper.call(
        py,
        &[
            log,
            &encoding,
            &errors,
            &newline,
            &line_buffering,
            &write_through,
        ],
    )
}

/// `wsgi.errors` for the request behind `ctx`: the log (to unbind when the
/// request ends) and the text stream over it (for the environ).
pub fn request_errors(
    py: Python<'_>,
    objects: &InterpreterObjects,
    ctx: *mut RequestContext,
) -> Option<(Owned, Owned)> {
    let log = new_log(objects, ctx, c"<wsgi.errors>")?;
    let stream = text_stream(py, objects, &log)?;
    Some((log, stream))
}

/// A `sys.stdout`/`sys.stderr` stream named `name`, logging for whichever
/// request the writing thread handles.
pub fn standard_stream(
    py: Python<'_>,
    objects: &InterpreterObjects,
    name: &'static CStr,
) -> Option<Owned> {
    text_stream(py, objects, &new_log(objects, std::ptr::null_mut(), name)?)
}

// ---- mod_wsgi.Restricted ----

/// What `sys.stdin`/`sys.stdout` become when restricted: any attribute
/// access raises, as the C module's object does.
#[repr(C)]
struct Restricted {
    ob_base: ffi::PyObject,
    /// Static, NUL-terminated: the stream's name in the message.
    stream: *const c_char,
}

unsafe extern "C" fn restricted_getattr(
    slf: *mut ffi::PyObject,
    _name: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its methods, getters and slots with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.Restricted.__getattr__", || {
        // SAFETY: layout guaranteed by the type spec; GIL held.
        let stream = unsafe { (*(slf as *const Restricted)).stream };
        let stream = if stream.is_null() {
            "stream".into()
        } else {
            // SAFETY: a static NUL-terminated string set by `restricted`.
            unsafe { CStr::from_ptr(stream) }.to_string_lossy()
        };
        raise_os_error(py, &format!("{stream} access restricted by mod_wsgi"))
    })
}

/// A `mod_wsgi.Restricted` standing for `stream` (`sys.stdin`, `sys.stdout`).
pub fn restricted(objects: &InterpreterObjects, stream: &'static CStr) -> Option<Owned> {
    // SAFETY: GIL held; generic allocation zero-fills our struct.
    // PyType_GenericAlloc returns a new reference, or NULL with an exception set.
    let obj = unsafe {
        Owned::from_new(ffi::PyType_GenericAlloc(
            objects.restricted_type.as_ptr().cast(),
            0,
        ))
    }?;
    // SAFETY: `obj` has the Restricted layout.
    unsafe { (*(obj.as_ptr() as *mut Restricted)).stream = stream.as_ptr() };
    Some(obj)
}

// ---- type construction ----

macro_rules! method {
    ($name:literal, $func:expr, VARARGS_KW) => {
        ffi::PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionWithKeywords: $func,
            },
            ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
            ml_doc: std::ptr::null(),
        }
    };
    ($name:literal, $func:expr, $flags:expr) => {
        ffi::PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: $func },
            ml_flags: $flags,
            ml_doc: std::ptr::null(),
        }
    };
}

static mut ADAPTER_METHODS: [ffi::PyMethodDef; 3] = [
    method!(c"start_response", start_response, VARARGS_KW),
    method!(c"write", write, ffi::METH_O),
    ffi::PyMethodDef::zeroed(),
];

static mut INPUT_METHODS: [ffi::PyMethodDef; 5] = [
    method!(c"close", input_close, ffi::METH_NOARGS),
    method!(c"read", input_read, ffi::METH_VARARGS),
    method!(c"readline", input_readline, ffi::METH_VARARGS),
    method!(c"readlines", input_readlines, ffi::METH_VARARGS),
    ffi::PyMethodDef::zeroed(),
];

static mut LOG_METHODS: [ffi::PyMethodDef; 10] = [
    ffi::PyMethodDef {
        ml_name: c"write".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: log_write,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: std::ptr::null(),
    },
    method!(c"writelines", log_writelines, ffi::METH_O),
    method!(c"flush", log_flush, ffi::METH_NOARGS),
    method!(c"close", log_close, ffi::METH_NOARGS),
    method!(c"fileno", log_fileno, ffi::METH_NOARGS),
    method!(c"isatty", log_false, ffi::METH_NOARGS),
    method!(c"readable", log_false, ffi::METH_NOARGS),
    method!(c"seekable", log_false, ffi::METH_NOARGS),
    method!(c"writable", log_true, ffi::METH_NOARGS),
    ffi::PyMethodDef::zeroed(),
];

macro_rules! getter {
    ($name:literal, $func:expr) => {
        ffi::PyGetSetDef {
            name: $name.as_ptr(),
            get: Some($func),
            set: None,
            doc: std::ptr::null(),
            closure: std::ptr::null_mut(),
        }
    };
}

static mut LOG_GETTERS: [ffi::PyGetSetDef; 5] = [
    getter!(c"name", log_name),
    getter!(c"closed", log_closed),
    getter!(c"encoding", log_encoding),
    getter!(c"errors", log_errors),
    ffi::PyGetSetDef {
        name: std::ptr::null(),
        get: None,
        set: None,
        doc: std::ptr::null(),
        closure: std::ptr::null_mut(),
    },
];

fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// A heap type `name` whose instances are `basicsize` bytes, with `slots`
/// (deallocation added).
fn make_type(
    name: &'static CStr,
    basicsize: usize,
    mut slots: Vec<ffi::PyType_Slot>,
) -> Option<Owned> {
    slots.push(slot(ffi::Py_tp_dealloc, dealloc as *mut c_void));
    slots.push(slot(0, std::ptr::null_mut()));
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: basicsize as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: GIL held; Python copies the spec and slots into the new type.
    // PyType_FromSpec returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyType_FromSpec(&mut spec)) }
}

/// A request-bound type with `methods`.
fn bound_type(
    name: &'static CStr,
    methods: *mut ffi::PyMethodDef,
    iterable: bool,
) -> Option<Owned> {
    let mut slots = vec![slot(ffi::Py_tp_methods, methods.cast())];
    if iterable {
        slots.push(slot(ffi::Py_tp_iter, input_iter as *mut c_void));
        slots.push(slot(ffi::Py_tp_iternext, input_next as *mut c_void));
    }
    make_type(name, std::mem::size_of::<RequestBound>(), slots)
}

/// `wsgi.file_wrapper`: iterates a file-like object in blocks; `close()`
/// closes it once (its errors ignored) and lets it go, as the C module's
/// does. The adapter recognises this exact class and sends real files from
/// their descriptor instead of iterating.
///
/// The C module's `close()` on an object without one returns with the
/// AttributeError still set, which Python reports as a SystemError; the
/// same error is raised here so applications see the same outcome.
const FILE_WRAPPER_SOURCE: &std::ffi::CStr = c"
import operator

class FileWrapper:
    def __init__(self, filelike, blksize=8192):
        self._filelike = filelike
        self._blksize = operator.index(blksize)

    @property
    def filelike(self):
        if self._filelike is None:
            raise ValueError('I/O operation on closed file')
        return self._filelike

    @property
    def blksize(self):
        return self._blksize

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self._blksize)
        if not isinstance(data, bytes):
            raise TypeError('file wrapper read() must return bytes, not %s'
                            % type(data).__name__)
        if data:
            return data
        raise StopIteration

    def close(self):
        filelike, self._filelike = self._filelike, None
        if filelike is None:
            return
        try:
            close = filelike.close
        except AttributeError as missing:
            raise SystemError(\"<method 'close' of 'mod_wsgi.FileWrapper' objects> \"
                              'returned a result with an exception set') from missing
        try:
            close()
        except Exception:
            pass
";

fn file_wrapper_type(py: Python<'_>) -> Option<Owned> {
    let globals = code::run_source(py, FILE_WRAPPER_SOURCE, "mod_wsgi", &[])?;
    // SAFETY: GIL held; borrowed lookup in the namespace just filled.
    // PyDict_GetItemString returns a borrowed reference, or NULL when absent.
    unsafe {
        Owned::from_borrowed(ffi::PyDict_GetItemString(
            globals.as_ptr(),
            c"FileWrapper".as_ptr(),
        ))
    }
}

/// Creates this interpreter's adapter types.
pub fn create(py: Python<'_>, module: &Owned) -> Option<InterpreterObjects> {
    // Method tables are static and only read by Python.
    Some(InterpreterObjects {
        events: crate::pymodule::events::EventObjects::new(py, module)?,
        file_wrapper_type: file_wrapper_type(py)?,
        adapter_type: bound_type(
            c"mod_wsgi.Adapter",
            addr_of_mut!(ADAPTER_METHODS).cast(),
            false,
        )?,
        input_type: bound_type(c"mod_wsgi.Input", addr_of_mut!(INPUT_METHODS).cast(), true)?,
        log_type: make_type(
            c"mod_wsgi.Log",
            std::mem::size_of::<LogBuffer>(),
            vec![
                slot(ffi::Py_tp_methods, addr_of_mut!(LOG_METHODS).cast()),
                slot(ffi::Py_tp_getset, addr_of_mut!(LOG_GETTERS).cast()),
            ],
        )?,
        restricted_type: make_type(
            c"mod_wsgi.Restricted",
            std::mem::size_of::<Restricted>(),
            vec![slot(ffi::Py_tp_getattro, restricted_getattr as *mut c_void)],
        )?,
        text_wrapper: code::import(py, "io")?.getattr(py, "TextIOWrapper")?,
    })
}
