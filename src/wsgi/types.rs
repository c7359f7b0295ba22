//! The Python objects a WSGI application sees for a request: the
//! `start_response`/`write` adapter, `wsgi.input` and `wsgi.errors`.
//! They are heap types created once per interpreter. Each instance points
//! at the Rust `RequestContext` while the request runs; the pointer is
//! cleared when the request ends, so a kept reference raises instead of
//! touching freed memory.

use super::context::RequestContext;
use super::response;
use crate::python::interp::InterpreterObjects;
use crate::python::object::{self, Owned};
use pyo3_ffi as ffi;
use std::ffi::{c_int, c_void};
use std::ptr::addr_of_mut;

#[repr(C)]
pub struct RequestBound {
    ob_base: ffi::PyObject,
    context: *mut c_void,
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called by Python with a dead instance of one of our heap
    // types; free it with the type's allocator and drop the type reference
    // the instance held.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        if !free.is_null() {
            let free: ffi::freefunc = std::mem::transmute::<*mut c_void, ffi::freefunc>(free);
            free(obj.cast());
        }
        ffi::Py_DecRef(tp.cast());
    }
}

/// The request context behind `obj`, or a Python error when the request
/// has finished.
///
/// # Safety
/// `obj` is an instance of one of our types and the GIL is held.
unsafe fn context<'a>(obj: *mut ffi::PyObject) -> Option<&'a mut RequestContext<'a>> {
    // SAFETY: layout guaranteed by our type spec.
    let ptr = unsafe { (*(obj as *mut RequestBound)).context } as *mut RequestContext;
    if ptr.is_null() {
        // SAFETY: GIL held.
        object::raise(
            unsafe { ffi::PyExc_RuntimeError },
            "the request this object belongs to has completed",
        );
        return None;
    }
    // SAFETY: set by `bind` for the duration of the request, on this thread.
    Some(unsafe { &mut *ptr })
}

/// Creates an instance of `tp` bound to `ctx`.
pub fn bind(tp: &Owned, ctx: *mut RequestContext) -> Option<Owned> {
    // SAFETY: GIL held; generic allocation zero-fills our struct.
    let obj = Owned::from_new(unsafe { ffi::PyType_GenericAlloc(tp.as_ptr().cast(), 0) })?;
    // SAFETY: `obj` has our layout.
    unsafe { (*(obj.as_ptr() as *mut RequestBound)).context = ctx.cast() };
    Some(obj)
}

/// Detaches an instance from its finished request.
pub fn unbind(obj: &Owned) {
    // SAFETY: `obj` has our layout; GIL held.
    unsafe { (*(obj.as_ptr() as *mut RequestBound)).context = std::ptr::null_mut() };
}

fn none_result() -> *mut ffi::PyObject {
    object::none().into_raw()
}

fn raise_type_error(message: &str) -> *mut ffi::PyObject {
    // SAFETY: GIL held by every caller (Python method).
    object::raise(unsafe { ffi::PyExc_TypeError }, message);
    std::ptr::null_mut()
}

fn raise_os_error(message: &str) -> *mut ffi::PyObject {
    // SAFETY: GIL held.
    object::raise(unsafe { ffi::PyExc_OSError }, message);
    std::ptr::null_mut()
}

/// Positional argument `i` of a call, borrowed as owned.
unsafe fn arg(args: *mut ffi::PyObject, i: isize) -> Option<Owned> {
    // SAFETY: `args` is the call's tuple; GIL held.
    unsafe {
        if args.is_null() || ffi::PyTuple_Size(args) <= i {
            return None;
        }
        Owned::from_borrowed(ffi::PyTuple_GetItem(args, i))
    }
}

/// Optional size argument: missing, None or negative mean "no limit".
unsafe fn size_arg(args: *mut ffi::PyObject) -> Result<Option<usize>, ()> {
    // SAFETY: forwarded.
    let Some(value) = (unsafe { arg(args, 0) }) else {
        return Ok(None);
    };
    if object::is_none(&value) {
        return Ok(None);
    }
    // SAFETY: GIL held.
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
fn checked_response(status: &Owned, headers: &Owned) -> Option<(i32, String, Headers)> {
    let raise_value_error = |message: String| {
        // SAFETY: GIL held by the caller (a Python method).
        object::raise(unsafe { ffi::PyExc_ValueError }, &message);
    };
    let status = object::latin1_or_raise(status)?;
    let code = response::parse_status(&status)
        .map_err(raise_value_error)
        .ok()?;
    let mut checked = Vec::new();
    // SAFETY: GIL held; `headers` is a list (checked by the caller).
    let count = unsafe { ffi::PyList_Size(headers.as_ptr()) };
    for i in 0..count {
        // SAFETY: index within bounds; borrowed item.
        let item = Owned::from_borrowed(unsafe { ffi::PyList_GetItem(headers.as_ptr(), i) })?;
        // SAFETY: GIL held.
        if unsafe { ffi::PyTuple_Check(item.as_ptr()) } == 0 {
            raise_type_error(&format!(
                "each header must be a 2-tuple, not {}",
                object::type_name(&item)
            ));
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
        let name = object::latin1_or_raise(&name)?;
        let value = object::latin1_or_raise(&value)?;
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
    // SAFETY: Python calls us with the GIL held and a live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: argument tuple/dict from the call.
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
        return raise_type_error(&format!(
            "start_response() takes at most 3 arguments ({given} given)"
        ));
    }
    let (Some(status), Some(headers)) = (status, headers) else {
        return raise_type_error(&format!(
            "start_response() takes at least 2 arguments ({given} given)"
        ));
    };
    // SAFETY: GIL held.
    if unsafe { ffi::PyList_Check(headers.as_ptr()) } == 0 {
        return raise_type_error(&format!(
            "start_response() argument 2 must be list, not {}",
            object::type_name(&headers)
        ));
    }
    let exc_info = exc_info.filter(|e| !object::is_none(e));
    if let Some(exc_info) = &exc_info {
        // SAFETY: GIL held.
        if unsafe { ffi::PyTuple_Check(exc_info.as_ptr()) } == 0 {
            // SAFETY: GIL held.
            object::raise(
                unsafe { ffi::PyExc_RuntimeError },
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
            // SAFETY: GIL held.
            object::raise(
                unsafe { ffi::PyExc_RuntimeError },
                "start_response() called more than once without exc_info",
            );
            return std::ptr::null_mut();
        };
        // SAFETY: GIL held; item 1 of the tuple is the exception.
        if let Some(value) =
            Owned::from_new(unsafe { ffi::PySequence_GetItem(exc_info.as_ptr(), 1) })
        {
            object::restore_exception(value);
        }
        return std::ptr::null_mut();
    }
    let Some((code, status_line, parsed)) = checked_response(&status, &headers) else {
        return std::ptr::null_mut();
    };
    if let Err(message) = ctx.set_response(code, status_line, parsed) {
        // SAFETY: GIL held.
        object::raise(unsafe { ffi::PyExc_ValueError }, &message);
        return std::ptr::null_mut();
    }
    let transport = ctx.transport;
    crate::pymodule::events::response_started(&status, &headers, exc_info.as_ref(), &|line| {
        transport.log(crate::apache::log::APLOG_ERR, line)
    });
    // SAFETY: bound method lookup on the live instance.
    let slf = Owned::from_borrowed(slf).expect("non-null");
    slf.getattr("write")
        .map_or(std::ptr::null_mut(), Owned::into_raw)
}

unsafe extern "C" fn write(
    slf: *mut ffi::PyObject,
    data: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    let Some(data) = Owned::from_borrowed(data) else {
        return std::ptr::null_mut();
    };
    let Some(bytes) = object::bytes_contents(&data) else {
        return raise_type_error("write() argument must be bytes");
    };
    if ctx.status.is_none() {
        // SAFETY: GIL held.
        object::raise(
            unsafe { ffi::PyExc_RuntimeError },
            "write() called before start_response()",
        );
        return std::ptr::null_mut();
    }
    let bytes = bytes.to_vec();
    match ctx.write_body(&bytes) {
        Ok(()) if ctx.client_gone => raise_os_error("client connection closed"),
        Ok(()) => none_result(),
        Err(e) => raise_os_error(&e),
    }
}

// ---- wsgi.input ----

fn bytes_result(r: Result<Vec<u8>, String>) -> *mut ffi::PyObject {
    match r {
        Ok(b) => object::bytes_obj(&b).map_or(std::ptr::null_mut(), Owned::into_raw),
        Err(e) => raise_os_error(&e),
    }
}

unsafe extern "C" fn input_read(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarded call arguments.
    match unsafe { size_arg(args) } {
        Ok(size) => bytes_result(ctx.read(size)),
        Err(()) => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn input_readline(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarded call arguments.
    match unsafe { size_arg(args) } {
        Ok(size) => bytes_result(ctx.readline(size)),
        Err(()) => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn input_readlines(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarded call arguments.
    let Ok(hint) = (unsafe { size_arg(args) }) else {
        return std::ptr::null_mut();
    };
    let Some(list) = object::new_list() else {
        return std::ptr::null_mut();
    };
    let mut total = 0usize;
    loop {
        let line = match ctx.readline(None) {
            Ok(l) => l,
            Err(e) => return raise_os_error(&e),
        };
        if line.is_empty() {
            break;
        }
        total += line.len();
        let Some(item) = object::bytes_obj(&line) else {
            return std::ptr::null_mut();
        };
        // SAFETY: GIL held; append does not steal.
        unsafe { ffi::PyList_Append(list.as_ptr(), item.as_ptr()) };
        if hint.is_some_and(|h| h > 0 && total >= h) {
            break;
        }
    }
    list.into_raw()
}

unsafe extern "C" fn input_iter(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    Owned::from_borrowed(slf).map_or(std::ptr::null_mut(), Owned::into_raw)
}

unsafe extern "C" fn input_next(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    match ctx.readline(None) {
        // Returning NULL without an exception ends iteration.
        Ok(line) if line.is_empty() => std::ptr::null_mut(),
        other => bytes_result(other),
    }
}

// ---- wsgi.errors ----

unsafe extern "C" fn errors_write(
    slf: *mut ffi::PyObject,
    text: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    let Some(text) = Owned::from_borrowed(text) else {
        return std::ptr::null_mut();
    };
    let Some(s) = object::unicode_to_string(&text) else {
        return raise_type_error("wsgi.errors.write() argument must be str");
    };
    ctx.log_text(s.as_bytes());
    none_result()
}

unsafe extern "C" fn errors_writelines(
    slf: *mut ffi::PyObject,
    lines: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; iterate the given iterable.
    unsafe {
        let Some(iter) = Owned::from_new(ffi::PyObject_GetIter(lines)) else {
            return std::ptr::null_mut();
        };
        while let Some(item) = Owned::from_new(ffi::PyIter_Next(iter.as_ptr())) {
            let r = errors_write(slf, item.as_ptr());
            if r.is_null() {
                return r;
            }
            ffi::Py_DecRef(r);
        }
        if !ffi::PyErr_Occurred().is_null() {
            return std::ptr::null_mut();
        }
    }
    none_result()
}

unsafe extern "C" fn errors_flush(
    slf: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: GIL held; live instance.
    let Some(ctx) = (unsafe { context(slf) }) else {
        return std::ptr::null_mut();
    };
    ctx.flush_log();
    none_result()
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

static mut INPUT_METHODS: [ffi::PyMethodDef; 4] = [
    method!(c"read", input_read, ffi::METH_VARARGS),
    method!(c"readline", input_readline, ffi::METH_VARARGS),
    method!(c"readlines", input_readlines, ffi::METH_VARARGS),
    ffi::PyMethodDef::zeroed(),
];

static mut ERRORS_METHODS: [ffi::PyMethodDef; 4] = [
    method!(c"write", errors_write, ffi::METH_O),
    method!(c"writelines", errors_writelines, ffi::METH_O),
    method!(c"flush", errors_flush, ffi::METH_NOARGS),
    ffi::PyMethodDef::zeroed(),
];

fn make_type(
    name: &'static std::ffi::CStr,
    methods: *mut ffi::PyMethodDef,
    iterable: bool,
) -> Option<Owned> {
    let mut slots = vec![
        ffi::PyType_Slot {
            slot: ffi::Py_tp_dealloc,
            pfunc: dealloc as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_methods,
            pfunc: methods.cast(),
        },
    ];
    if iterable {
        slots.push(ffi::PyType_Slot {
            slot: ffi::Py_tp_iter,
            pfunc: input_iter as *mut c_void,
        });
        slots.push(ffi::PyType_Slot {
            slot: ffi::Py_tp_iternext,
            pfunc: input_next as *mut c_void,
        });
    }
    slots.push(ffi::PyType_Slot {
        slot: 0,
        pfunc: std::ptr::null_mut(),
    });
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: std::mem::size_of::<RequestBound>() as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: GIL held; Python copies the spec and slots into the new type.
    Owned::from_new(unsafe { ffi::PyType_FromSpec(&mut spec) })
}

/// `wsgi.file_wrapper`: iterates a file-like object in blocks and closes
/// it with the response. The adapter recognises this exact class and sends
/// real files from their descriptor instead of iterating.
const FILE_WRAPPER_SOURCE: &std::ffi::CStr = c"
class FileWrapper:
    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration
";

fn file_wrapper_type() -> Option<Owned> {
    let globals = object::run_source(FILE_WRAPPER_SOURCE, "mod_wsgi", &[])?;
    // SAFETY: GIL held; borrowed lookup in the namespace just filled.
    Owned::from_borrowed(unsafe {
        ffi::PyDict_GetItemString(globals.as_ptr(), c"FileWrapper".as_ptr())
    })
}

/// Creates this interpreter's adapter types.
pub fn create(module: &Owned) -> Option<InterpreterObjects> {
    // Method tables are static and only read by Python.
    Some(InterpreterObjects {
        events: crate::pymodule::events::EventObjects::new(module)?,
        file_wrapper_type: file_wrapper_type()?,
        adapter_type: make_type(
            c"mod_wsgi.Adapter",
            addr_of_mut!(ADAPTER_METHODS).cast(),
            false,
        )?,
        input_type: make_type(c"mod_wsgi.Input", addr_of_mut!(INPUT_METHODS).cast(), true)?,
        errors_type: make_type(c"mod_wsgi.Log", addr_of_mut!(ERRORS_METHODS).cast(), false)?,
    })
}
