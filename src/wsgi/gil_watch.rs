//! Noticing CPython turning the GIL back on in a free-threaded process:
//! it does so, with a `RuntimeWarning` naming the module, when an extension
//! module that has not declared free-threading support is imported. We
//! pass that warning on through the interpreter's `warnings.showwarning`,
//! log one error line naming the module, the process and application
//! groups and (through the request's decoration) the request, and record
//! the module for `process_metrics()`.

use super::streams::log_lines;
use crate::apache::log::APLOG_ERR;
use crate::python::trampoline::trampoline;
use crate::python::{code, collections, convert, object::Owned, Python};
use pyo3_ffi as ffi;

/// Installed in each interpreter: each RuntimeWarning goes to
/// `mod_wsgi._gil_enabled` before being shown as before. (An application
/// that replaces `warnings.showwarning` itself, as
/// `logging.captureWarnings` does, takes this hook out.)
const WATCH_SOURCE: &std::ffi::CStr = c"
import warnings, mod_wsgi

def _watching(show):
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RuntimeWarning):
            mod_wsgi._gil_enabled((str(message), mod_wsgi.process_group,
                                   mod_wsgi.application_group))
        return show(message, category, filename, lineno, file, line)
    return showwarning

warnings.showwarning = _watching(warnings.showwarning)
";

/// Installs the hook in the current interpreter (GIL held).
pub fn install(py: Python<'_>) -> Option<()> {
    code::run_source(py, WATCH_SOURCE, "<mod_wsgi gil watch>", &[]).map(|_| ())
}

/// `mod_wsgi._gil_enabled((message, process_group, application_group))`.
pub unsafe extern "C" fn gil_enabled(
    _module: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi._gil_enabled", || {
        // SAFETY: GIL held; `args` is the argument CPython passed this
        // METH_O function, a borrowed reference live for the call.
        let args = unsafe { Owned::from_borrowed(args) };
        let Some(args) = args.and_then(|a| collections::iter_items(py, &a)) else {
            return std::ptr::null_mut();
        };
        let texts: Vec<String> = args
            .iter()
            .filter_map(|a| convert::unicode_to_string(py, a))
            .collect();
        if let [message, process_group, application_group] = texts.as_slice() {
            if let Some(module) = crate::config::gil::gil_reenabled_module(message) {
                if crate::metrics::note_gil_enabled_by(module) {
                    log_lines(
                        APLOG_ERR,
                        &crate::config::gil::gil_reenabled_line(
                            module,
                            process_group,
                            application_group,
                        ),
                    );
                }
            }
        }
        convert::none(py).into_raw()
    })
}
