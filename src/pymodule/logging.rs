//! `mod_wsgi.LogHandler`: a `logging.Handler` that writes each record to
//! the Apache error log at the Apache level matching the record's level,
//! instead of at `error` as `sys.stderr` output is.

use crate::apache::log::{APLOG_CRIT, APLOG_DEBUG, APLOG_ERR, APLOG_INFO, APLOG_WARNING};
use crate::python::trampoline::trampoline;
use crate::python::{code, collections, convert, object::Owned, Python};
use pyo3_ffi as ffi;

/// The Apache level for a Python logging level. Levels between the
/// standard ones round down to the standard level below them.
pub fn apache_level(python_level: std::ffi::c_long) -> i32 {
    match python_level {
        50.. => APLOG_CRIT,
        40..=49 => APLOG_ERR,
        30..=39 => APLOG_WARNING,
        20..=29 => APLOG_INFO,
        _ => APLOG_DEBUG,
    }
}

/// Defines the handler class in the `mod_wsgi` module being executed.
const LOG_HANDLER_SOURCE: &std::ffi::CStr = c"
import logging

class LogHandler(logging.Handler):
    '''Writes log records to the Apache error log at their own level.'''

    def emit(self, record):
        try:
            _log_record((record.levelno, self.format(record)))
        except Exception:
            self.handleError(record)

LogHandler.__module__ = 'mod_wsgi'
";

/// Adds `LogHandler` to `module`.
pub fn init(py: Python<'_>, module: &Owned) -> Option<()> {
    let log_record = module.getattr(py, "_log_record")?;
    let namespace = code::run_source(
        py,
        LOG_HANDLER_SOURCE,
        "mod_wsgi",
        &[("_log_record", log_record)],
    )?;
    let handler = collections::dict_get(py, &namespace, "LogHandler")?;
    module.setattr(py, "LogHandler", &handler).then_some(())
}

/// `mod_wsgi._log_record((levelno, text))`: one log record per line of
/// `text`, at the Apache level for `levelno`.
pub unsafe extern "C" fn log_record(
    _module: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi._log_record", || {
        let mut level: std::ffi::c_long = 0;
        let mut text: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: GIL held (a Python method call); the format matches the
        // two out-pointers, and `text` is borrowed from `args`.
        let parsed = unsafe {
            ffi::PyArg_ParseTuple(
                args,
                c"lU".as_ptr(),
                &mut level as *mut std::ffi::c_long,
                &mut text as *mut *mut ffi::PyObject,
            )
        };
        if parsed == 0 {
            return std::ptr::null_mut();
        }
        // SAFETY: GIL held; `text` was parsed from `args` ("U"), a borrowed
        // reference that `args` keeps alive.
        let text = unsafe { Owned::from_borrowed(text) };
        let Some(text) = text.and_then(|t| convert::unicode_to_string(py, &t)) else {
            return std::ptr::null_mut();
        };
        crate::wsgi::streams::log_lines(apache_level(level), &text);
        convert::none(py).into_raw()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_levels_map_to_apache_levels_rounding_down() {
        assert_eq!(apache_level(50), APLOG_CRIT);
        assert_eq!(apache_level(60), APLOG_CRIT);
        assert_eq!(apache_level(45), APLOG_ERR);
        assert_eq!(apache_level(40), APLOG_ERR);
        assert_eq!(apache_level(30), APLOG_WARNING);
        assert_eq!(apache_level(25), APLOG_INFO);
        assert_eq!(apache_level(10), APLOG_DEBUG);
        assert_eq!(apache_level(5), APLOG_DEBUG);
        assert_eq!(apache_level(0), APLOG_DEBUG);
    }
}
