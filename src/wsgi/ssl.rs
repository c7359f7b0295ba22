//! `mod_ssl.is_https()` and `mod_ssl.var_lookup(name)` in the environ the
//! access-control scripts get, as the C module provides them there. They
//! answer for the request being checked only while its script function
//! runs; kept and called later, they raise instead of reaching a request
//! that has gone.

use crate::python::trampoline::trampoline;
use crate::python::{
    collections, convert,
    errors::{self, ExceptionType},
    object::{self, Owned},
    Python,
};
use pyo3_ffi as ffi;
use std::cell::Cell;

/// What the two functions ask of the request.
pub trait SslVars {
    fn is_https(&self) -> bool;
    /// mod_ssl's value of variable `name` (empty when it has none).
    fn var(&self, name: &str) -> String;
}

thread_local! {
    /// The request whose auth function is running on this thread.
    static CURRENT: Cell<Option<*const (dyn SslVars + 'static)>> = const { Cell::new(None) };
}

/// Makes `vars` what the functions answer for until dropped.
pub struct SslScope {
    previous: Option<*const (dyn SslVars + 'static)>,
}

impl SslScope {
    pub fn enter(vars: &dyn SslVars) -> SslScope {
        // SAFETY: only the lifetime is erased; the scope is dropped before
        // `vars` goes out of use (it lives on the caller's stack frame).
        let erased: *const (dyn SslVars + 'static) = unsafe { std::mem::transmute(vars) };
        SslScope {
            previous: CURRENT.with(|c| c.replace(Some(erased))),
        }
    }
}

impl Drop for SslScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Runs `f` on the current request, or raises RuntimeError.
fn with_current(
    py: Python<'_>,
    f: impl FnOnce(&dyn SslVars) -> *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    match CURRENT.with(Cell::get) {
        // SAFETY: set by a live SslScope on this thread (see `enter`).
        Some(vars) => f(unsafe { &*vars }),
        None => {
            errors::raise(
                py,
                ExceptionType::RuntimeError,
                "mod_ssl functions are only available while the request is being checked",
            );
            std::ptr::null_mut()
        }
    }
}

/// Raises the C module's TypeError for a wrong argument count.
fn wrong_count(py: Python<'_>, name: &str, wanted: isize, args: *mut ffi::PyObject) -> bool {
    // SAFETY: GIL held; `args` is the call's argument tuple.
    let given = unsafe { ffi::PyTuple_Size(args) };
    if given == wanted {
        return false;
    }
    let plural = if wanted == 1 { "argument" } else { "arguments" };
    errors::raise(
        py,
        ExceptionType::TypeError,
        &format!("{name}() takes exactly {wanted} {plural} ({given} given)"),
    );
    true
}

unsafe extern "C" fn is_https(
    _slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_ssl.is_https", || {
        if wrong_count(py, "ssl_is_https", 0, args) {
            return std::ptr::null_mut();
        }
        with_current(py, |vars| {
            convert::int_obj(py, i64::from(vars.is_https()))
                .map_or(std::ptr::null_mut(), Owned::into_raw)
        })
    })
}

unsafe extern "C" fn var_lookup(
    _slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls its functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_ssl.var_lookup", || {
        if wrong_count(py, "ssl_var_lookup", 1, args) {
            return std::ptr::null_mut();
        }
        // SAFETY: GIL held; index 0 exists (counted above); borrowed.
        // PyTuple_GetItem returns a borrowed reference, or NULL (IndexError) out of range.
        let Some(name) = (unsafe { Owned::from_borrowed(ffi::PyTuple_GetItem(args, 0)) }) else {
            return std::ptr::null_mut();
        };
        let Some(name) = convert::unicode_to_string(py, &name) else {
            errors::clear_error(py);
            errors::raise(
                py,
                ExceptionType::TypeError,
                &format!(
                    "byte string value expected, value of type {} found",
                    object::type_name(py, &name)
                ),
            );
            return std::ptr::null_mut();
        };
        with_current(py, |vars| {
            convert::str_obj(py, &vars.var(&name)).map_or(std::ptr::null_mut(), Owned::into_raw)
        })
    })
}

static mut IS_HTTPS: ffi::PyMethodDef = ffi::PyMethodDef {
    ml_name: c"ssl_is_https".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: is_https,
    },
    ml_flags: ffi::METH_VARARGS,
    ml_doc: std::ptr::null(),
};

static mut VAR_LOOKUP: ffi::PyMethodDef = ffi::PyMethodDef {
    ml_name: c"ssl_var_lookup".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: var_lookup,
    },
    ml_flags: ffi::METH_VARARGS,
    ml_doc: std::ptr::null(),
};

/// Adds `mod_ssl.is_https` and `mod_ssl.var_lookup` to `environ`.
pub fn add_to(py: Python<'_>, environ: &Owned) -> Option<()> {
    for (key, def) in [
        ("mod_ssl.is_https", std::ptr::addr_of_mut!(IS_HTTPS)),
        ("mod_ssl.var_lookup", std::ptr::addr_of_mut!(VAR_LOOKUP)),
    ] {
        // SAFETY: GIL held; the method definitions are static and never
        // written; a new reference or NULL with an exception set.
        let function = unsafe {
            Owned::from_new(ffi::PyCFunction_NewEx(
                def,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ))
        }?;
        collections::dict_set(py, environ, key, &function).then_some(())?;
    }
    Some(())
}
