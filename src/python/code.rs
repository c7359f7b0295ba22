//! Running Python code: importing modules and running source text. Every
//! function here takes the token of the GIL it needs.

use super::collections::{dict_set, new_dict};
use super::convert::str_obj;
use super::errors::{clear_error, restore_exception, take_exception};
use super::object::Owned;
use super::Python;
use pyo3_ffi as ffi;
use std::ffi::{CStr, CString};

pub fn import(_py: Python<'_>, name: &str) -> Option<Owned> {
    let name = CString::new(name).ok()?;
    // SAFETY: GIL held.
    // PyImport_ImportModule returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyImport_ImportModule(name.as_ptr())) }
}

/// Runs constant Python `source` in a fresh namespace named `name`, with
/// `extra` names bound first; returns the namespace, or None with the
/// error pending.
pub fn run_source(
    py: Python<'_>,
    source: &CStr,
    name: &str,
    extra: &[(&str, Owned)],
) -> Option<Owned> {
    let globals = new_dict(py)?;
    dict_set(py, &globals, "__name__", &str_obj(py, name)?);
    dict_set(py, &globals, "__builtins__", &import(py, "builtins")?);
    for (key, value) in extra {
        dict_set(py, &globals, key, value);
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

/// Compiles `source` as the contents of the file `filename`, which
/// tracebacks and `co_filename` then name (`compile(source, filename,
/// "exec")`); `None` with the error (a `SyntaxError`, ...) pending.
pub fn compile_file_source(_py: Python<'_>, source: &CStr, filename: &CStr) -> Option<Owned> {
    // SAFETY: GIL held; both strings are NUL-terminated.
    // Py_CompileString returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::Py_CompileString(
            source.as_ptr(),
            filename.as_ptr(),
            ffi::Py_file_input,
        ))
    }
}

/// Runs the compiled `code` as the body of a new module `name` (a plain
/// module object, as `types.ModuleType(name)` makes) whose `__file__` is
/// `file`. As the import system does, the module is in `sys.modules`
/// under `name` while its code runs, and `__builtins__` is set in it
/// first. If the code raises, the half-initialised module is taken out of
/// `sys.modules` again and `None` is returned with the exception pending.
pub fn exec_code_as_module(py: Python<'_>, code: &Owned, name: &str, file: &str) -> Option<Owned> {
    let cname = CString::new(name).ok()?;
    // SAFETY: GIL held. PyModule_New and PyEval_EvalCode return new
    // references or NULL with an exception set; PyModule_GetDict and
    // PyImport_GetModuleDict return borrowed references, made owned.
    unsafe {
        let module = Owned::from_new(ffi::PyModule_New(cname.as_ptr()))?;
        let dict = Owned::from_borrowed(ffi::PyModule_GetDict(module.as_ptr()))?;
        dict_set(py, &dict, "__file__", &str_obj(py, file)?);
        // As the import system does: C code importing on the script's
        // behalf (PyImport_ImportModule) looks `__import__` up here.
        dict_set(py, &dict, "__builtins__", &import(py, "builtins")?);
        let modules = Owned::from_borrowed(ffi::PyImport_GetModuleDict())?;
        dict_set(py, &modules, name, &module);
        let result = Owned::from_new(ffi::PyEval_EvalCode(
            code.as_ptr(),
            dict.as_ptr(),
            dict.as_ptr(),
        ));
        if result.is_none() {
            // Forget the half-initialised module, keeping the error.
            let error = take_exception(py);
            ffi::PyDict_DelItemString(modules.as_ptr(), cname.as_ptr());
            clear_error(py);
            if let Some(error) = error {
                restore_exception(py, error);
            }
            return None;
        }
        Some(module)
    }
}
