//! Python exceptions: whether one is pending, taking it and putting it
//! back, rendering it with its traceback, and raising new ones. Every
//! function here takes the token of the GIL it needs.

use super::code::import;
use super::convert::{none, str_obj, unicode_to_string};
use super::object::{is_none, type_name, type_of, Owned};
use super::Python;
use pyo3_ffi as ffi;
use std::ffi::{CStr, CString};

/// The built-in exception types raised or looked for outside this layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionType {
    AttributeError,
    BaseException,
    OSError,
    RuntimeError,
    SystemError,
    SystemExit,
    TypeError,
    ValueError,
}

impl ExceptionType {
    fn as_ptr(self) -> *mut ffi::PyObject {
        // SAFETY: reads the address of a built-in exception type, a
        // static CPython sets up before any Python code can run.
        unsafe {
            match self {
                ExceptionType::AttributeError => ffi::PyExc_AttributeError,
                ExceptionType::BaseException => ffi::PyExc_BaseException,
                ExceptionType::OSError => ffi::PyExc_OSError,
                ExceptionType::RuntimeError => ffi::PyExc_RuntimeError,
                ExceptionType::SystemError => ffi::PyExc_SystemError,
                ExceptionType::SystemExit => ffi::PyExc_SystemExit,
                ExceptionType::TypeError => ffi::PyExc_TypeError,
                ExceptionType::ValueError => ffi::PyExc_ValueError,
            }
        }
    }
}

/// Clears the pending exception, if any.
pub fn clear_error(_py: Python<'_>) {
    // SAFETY: GIL held.
    unsafe { ffi::PyErr_Clear() }
}

/// Whether a Python exception is pending.
pub fn error_pending(_py: Python<'_>) -> bool {
    // SAFETY: GIL held.
    !unsafe { ffi::PyErr_Occurred() }.is_null()
}

/// The pending exception as one normalized object (its traceback
/// attached), clearing the error indicator; `None` if none is set.
pub fn take_exception(_py: Python<'_>) -> Option<Owned> {
    // SAFETY: GIL held; these calls hand us new references, or NULL where
    // there is no exception (or no traceback).
    unsafe {
        #[cfg(Py_3_12)]
        {
            Owned::from_new(ffi::PyErr_GetRaisedException())
        }
        #[cfg(not(Py_3_12))]
        {
            let mut ptype = std::ptr::null_mut();
            let mut pvalue = std::ptr::null_mut();
            let mut ptrace = std::ptr::null_mut();
            ffi::PyErr_Fetch(&mut ptype, &mut pvalue, &mut ptrace);
            if ptype.is_null() {
                return None;
            }
            ffi::PyErr_NormalizeException(&mut ptype, &mut pvalue, &mut ptrace);
            if !ptrace.is_null() && !pvalue.is_null() {
                ffi::PyException_SetTraceback(pvalue, ptrace);
            }
            let _type = Owned::from_new(ptype);
            let _trace = Owned::from_new(ptrace);
            Owned::from_new(pvalue)
        }
    }
}

/// The name of the pending exception's type (`KeyError`), leaving the
/// exception pending; `None` if none is set.
pub fn pending_error_type_name(py: Python<'_>) -> Option<String> {
    let exception = take_exception(py)?;
    let name = type_name(py, &exception);
    restore_exception(py, exception);
    Some(name)
}

/// The messages (`str()`) of the pending exception and of those it was
/// raised from or during (`__cause__`, `__context__`), outermost first,
/// leaving the exception pending; at most `limit` of them.
pub fn pending_error_messages(py: Python<'_>, limit: usize) -> Vec<String> {
    let Some(exception) = take_exception(py) else {
        return Vec::new();
    };
    let mut messages = Vec::new();
    let mut current = Some(exception.clone());
    while let Some(e) = current.take() {
        if messages.len() >= limit || is_none(py, &e) {
            break;
        }
        messages.push(e.to_string_lossy(py));
        current = e
            .getattr(py, "__cause__")
            .filter(|c| !is_none(py, c))
            .or_else(|| e.getattr(py, "__context__"));
    }
    clear_error(py);
    restore_exception(py, exception);
    messages
}

/// Makes `exception` (an exception instance) the pending error again.
pub fn restore_exception(_py: Python<'_>, exception: Owned) {
    // SAFETY: GIL held; both calls steal the references passed.
    unsafe {
        #[cfg(Py_3_12)]
        ffi::PyErr_SetRaisedException(exception.into_raw());
        #[cfg(not(Py_3_12))]
        {
            let tp = ffi::Py_TYPE(exception.as_ptr()).cast::<ffi::PyObject>();
            ffi::Py_IncRef(tp);
            let tb = ffi::PyException_GetTraceback(exception.as_ptr());
            ffi::PyErr_Restore(tp, exception.into_raw(), tb);
        }
    }
}

/// Takes the pending exception (if any) and renders it with its traceback
/// as Python's `traceback` module would.
pub fn take_error_text(py: Python<'_>) -> Option<String> {
    let value = take_exception(py)?;
    let etype = type_of(py, &value);
    let rendered = (|| {
        let trace = value
            .getattr(py, "__traceback__")
            .unwrap_or_else(|| none(py));
        let lines = import(py, "traceback")?
            .getattr(py, "format_exception")?
            .call(py, &[&etype, &value, &trace])?;
        let joined = str_obj(py, "")?.getattr(py, "join")?.call(py, &[&lines])?;
        unicode_to_string(py, &joined)
    })();
    Some(rendered.unwrap_or_else(|| {
        clear_error(py);
        value.to_string_lossy(py)
    }))
}

/// Replaces the pending exception with one of type `exc` and `message`
/// whose `__cause__` is the exception it replaces, as `raise ... from`
/// does (tracebacks then show "The above exception was the direct cause
/// of the following exception").
pub fn raise_from_pending(py: Python<'_>, kind: ExceptionType, message: &str) {
    let cause = take_exception(py);
    raise(py, kind, message);
    let (Some(cause), Some(raised)) = (cause, take_exception(py)) else {
        return;
    };
    // SAFETY: GIL held; both are exception instances. SetContext and
    // SetCause steal a reference each, so each gets its own.
    unsafe {
        ffi::PyException_SetContext(raised.as_ptr(), cause.clone().into_raw());
        ffi::PyException_SetCause(raised.as_ptr(), cause.into_raw());
    }
    restore_exception(py, raised);
}

/// Sets a Python exception of type `kind` with `message`.
pub fn raise(_py: Python<'_>, kind: ExceptionType, message: &str) {
    let msg = CString::new(message.replace('\0', "")).expect("NULs removed");
    // SAFETY: GIL held; the pointer is a built-in exception type object.
    unsafe { ffi::PyErr_SetString(kind.as_ptr(), msg.as_ptr()) }
}

/// Raises the `OSError` Python raises for the OS error `errno` on `path`
/// (its subclass for that error, `FileNotFoundError` for `ENOENT`, with
/// the C library's message and the file name), as `open()` would.
pub fn raise_os_error(_py: Python<'_>, errno: i32, path: &str) {
    let Ok(path) = CString::new(path) else {
        return;
    };
    // SAFETY: sets this thread's errno, which PyErr_SetFromErrno... reads
    // at once; GIL held, a built-in exception type, a NUL-terminated path.
    unsafe {
        *libc::__errno_location() = errno;
        ffi::PyErr_SetFromErrnoWithFilename(ffi::PyExc_OSError, path.as_ptr());
    }
}

/// A new exception class `name` ("package.Name") deriving from `base`,
/// with `doc` as its docstring; `None` with the error pending.
pub fn new_exception_type(
    _py: Python<'_>,
    name: &CStr,
    doc: &CStr,
    base: ExceptionType,
) -> Option<Owned> {
    // SAFETY: GIL held; NUL-terminated strings, a built-in base class and
    // no extra class attributes.
    // PyErr_NewExceptionWithDoc returns a new reference, or NULL with an
    // exception set.
    unsafe {
        Owned::from_new(ffi::PyErr_NewExceptionWithDoc(
            name.as_ptr(),
            doc.as_ptr(),
            base.as_ptr(),
            std::ptr::null_mut(),
        ))
    }
}

/// Whether the pending exception is a `kind` (or a subclass of it);
/// false when none is pending.
pub fn pending_is(_py: Python<'_>, kind: ExceptionType) -> bool {
    // SAFETY: GIL held; the pointer is a built-in exception type object.
    unsafe { ffi::PyErr_ExceptionMatches(kind.as_ptr()) != 0 }
}
