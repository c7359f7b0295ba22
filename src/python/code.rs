//! Running Python code: importing modules and running source text. Every
//! function here must be called with the GIL held.

use super::collections::{dict_set, new_dict};
use super::convert::str_obj;
use super::object::Owned;
use pyo3_ffi as ffi;
use std::ffi::CString;

pub fn import(name: &str) -> Option<Owned> {
    let name = CString::new(name).ok()?;
    // SAFETY: GIL held.
    // PyImport_ImportModule returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyImport_ImportModule(name.as_ptr())) }
}

/// Runs constant Python `source` in a fresh namespace named `name`, with
/// `extra` names bound first; returns the namespace, or None with the
/// error pending.
pub fn run_source(source: &std::ffi::CStr, name: &str, extra: &[(&str, Owned)]) -> Option<Owned> {
    let globals = new_dict()?;
    dict_set(&globals, "__name__", &str_obj(name)?);
    dict_set(&globals, "__builtins__", &import("builtins")?);
    for (key, value) in extra {
        dict_set(&globals, key, value);
    }
    // SAFETY: GIL held; the source is NUL-terminated and the namespace ours.
    // PyRun_String returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyRun_String(
            source.as_ptr(),
            ffi::Py_file_input,
            globals.as_ptr(),
            globals.as_ptr(),
        ))
    }?;
    Some(globals)
}
