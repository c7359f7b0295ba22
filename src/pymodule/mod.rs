//! The built-in `mod_wsgi` and `apache` Python modules, present in every
//! interpreter. Multi-phase (PEP 489) init, declared safe for
//! per-interpreter GIL and free-threading; attributes are set per
//! interpreter.

pub mod events;
pub mod gc;
mod logging;
mod metrics;

use crate::python::runtime::BuiltinModule;
use crate::python::trampoline::trampoline;
use crate::python::{
    code, collections, convert,
    errors::{self, ExceptionType},
    object::Owned,
    Python,
};
use pyo3_ffi as ffi;
use std::ffi::{c_int, CStr};
use std::ptr::addr_of_mut;

/// What the process layer borrows from above: script preload from the
/// WSGI adapter, and the garbage-collector figures this module gathers.
pub(crate) const LENT_TO_PROCESS: crate::process::Lent = crate::process::Lent {
    preload: crate::wsgi::handler::preload,
    gc: crate::telemetry::reporter::GcSource {
        snapshot: gc::snapshot,
        drain_events: gc::drain_events,
        dropped_events: gc::dropped_events,
    },
    builtin_modules: &[
        BuiltinModule {
            name: c"mod_wsgi",
            init: init_mod_wsgi,
        },
        BuiltinModule {
            name: c"apache",
            init: init_apache,
        },
    ],
    attach: crate::wsgi::interpreter::attach,
};

/// Module version as a tuple of integers, from the crate version, which
/// names the C mod_wsgi release whose behaviour we match.
pub fn version_numbers() -> [i64; 3] {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<i64>().ok());
    [
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    ]
}

unsafe extern "C" fn exec_module(module: *mut ffi::PyObject) -> c_int {
    // SAFETY: CPython calls a module's init and exec functions with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi module exec", || {
        // SAFETY: GIL held; `module` is the module CPython is executing
        // (Py_mod_exec), a borrowed reference live for the call.
        let Some(module) = (unsafe { Owned::from_borrowed(module) }) else {
            return -1;
        };
        let done = (|| {
            module.setattr(
                py,
                "version",
                &collections::int_tuple(py, &version_numbers())?,
            );
            module.setattr(py, "process_group", &convert::str_obj(py, "")?);
            module.setattr(py, "application_group", &convert::str_obj(py, "")?);
            module.setattr(py, "RequestTimeout", &request_timeout_type(py)?);
            events::init(py, &module)?;
            logging::init(py, &module)?;
            adopt_package_path(py, &module);
            Some(())
        })();
        if done.is_some() {
            0
        } else {
            -1
        }
    })
}

/// `mod_wsgi.RequestTimeout`: injected into a request thread when a
/// daemon's request-timeout fires with interrupt-timeout set. It derives
/// from `BaseException` so `except Exception:` does not swallow it.
fn request_timeout_type(py: Python<'_>) -> Option<Owned> {
    errors::new_exception_type(
        py,
        c"mod_wsgi.RequestTimeout",
        c"The request ran past the daemon process group's request-timeout.",
        ExceptionType::BaseException,
    )
}

/// When `mod_wsgi` package directories are on `sys.path` (the one
/// providing `mod_wsgi.express`, mod-wsgi-telemetry's `mod_wsgi.telemetry`),
/// take all of them as `__path__` so their submodules stay importable
/// alongside this built-in module.
fn adopt_package_path(py: Python<'_>, module: &Owned) {
    let found = (|| {
        let list = code::import(py, "pkgutil")?
            .getattr(py, "extend_path")?
            .call(
                py,
                &[
                    &collections::new_list(py)?,
                    &convert::str_obj(py, "mod_wsgi")?,
                ],
            )?;
        if collections::list_len(py, &list) == Some(0) {
            return None;
        }
        module.setattr(py, "__path__", &list);
        Some(())
    })();
    if found.is_none() {
        errors::clear_error(py);
    }
}

/// Sets the attributes that identify where this interpreter runs.
pub fn set_groups(
    py: Python<'_>,
    module: &Owned,
    process_group: &str,
    application_group: &str,
) -> Option<()> {
    if let Some(process) = crate::process::process_info_if_set() {
        module.setattr(
            py,
            "maximum_processes",
            &convert::int_obj(py, process.maximum_processes)?,
        );
        module.setattr(
            py,
            "threads_per_process",
            &convert::int_obj(py, process.threads_per_process)?,
        );
    }
    if !module.setattr(py, "process_group", &convert::str_obj(py, process_group)?) {
        return None;
    }
    if !module.setattr(
        py,
        "application_group",
        &convert::str_obj(py, application_group)?,
    ) {
        return None;
    }
    // Re-check for a package path: sys.path may have grown since import.
    if !module.hasattr(py, "__path__") {
        adopt_package_path(py, module);
    }
    Some(())
}

const SLOT_COUNT: usize = if cfg!(Py_3_13) {
    4
} else if cfg!(Py_3_12) {
    3
} else {
    2
};

/// A module's slots: its exec function, and the declarations that it is
/// safe with a per-interpreter GIL and without the GIL.
const fn slots(
    exec: unsafe extern "C" fn(*mut ffi::PyObject) -> c_int,
) -> [ffi::PyModuleDef_Slot; SLOT_COUNT] {
    [
        ffi::PyModuleDef_Slot {
            slot: ffi::Py_mod_exec,
            value: exec as *mut _,
        },
        #[cfg(Py_3_12)]
        ffi::PyModuleDef_Slot {
            slot: ffi::Py_mod_multiple_interpreters,
            value: ffi::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
        },
        #[cfg(Py_3_13)]
        ffi::PyModuleDef_Slot {
            slot: ffi::Py_mod_gil,
            value: ffi::Py_MOD_GIL_NOT_USED,
        },
        ffi::PyModuleDef_Slot {
            slot: 0,
            value: std::ptr::null_mut(),
        },
    ]
}

static mut SLOTS: [ffi::PyModuleDef_Slot; SLOT_COUNT] = slots(exec_module);

/// A module-level function taking one argument (`METH_O`) or none.
const fn method(
    name: &'static std::ffi::CStr,
    f: unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject) -> *mut ffi::PyObject,
    one_argument: bool,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: if one_argument {
            ffi::METH_O
        } else {
            ffi::METH_NOARGS
        },
        ml_doc: std::ptr::null(),
    }
}

/// The module's functions, and private helpers for our streams.
static mut METHODS: [ffi::PyMethodDef; 12] = [
    method(c"_log_info", crate::wsgi::streams::log_info, true),
    method(c"_gil_enabled", crate::wsgi::gil_watch::gil_enabled, true),
    method(c"_log_record", logging::log_record, true),
    method(c"subscribe_events", events::subscribe_events, true),
    method(c"subscribe_shutdown", events::subscribe_shutdown, true),
    method(c"subscribe_signals", events::subscribe_signals, true),
    method(c"request_data", events::request_data, false),
    method(
        c"start_recording_metrics",
        metrics::start_recording_metrics,
        false,
    ),
    method(c"request_metrics", metrics::request_metrics, false),
    method(c"process_metrics", metrics::process_metrics, false),
    method(c"server_metrics", metrics::server_metrics, false),
    ffi::PyMethodDef::zeroed(),
];

/// A module definition without state; slots and methods are linked in
/// when the module is initialised.
const fn module_def(name: &'static CStr, doc: &'static CStr) -> ffi::PyModuleDef {
    ffi::PyModuleDef {
        m_base: ffi::PyModuleDef_HEAD_INIT,
        m_name: name.as_ptr(),
        m_doc: doc.as_ptr(),
        m_size: 0,
        m_methods: std::ptr::null_mut(),
        m_slots: std::ptr::null_mut(),
        m_traverse: None,
        m_clear: None,
        m_free: None,
    }
}

static mut MODULE_DEF: ffi::PyModuleDef =
    module_def(c"mod_wsgi", c"Apache mod_wsgi (Rust implementation)");

/// `PyInit_mod_wsgi`, registered with `PyImport_AppendInittab`.
pub unsafe extern "C" fn init_mod_wsgi() -> *mut ffi::PyObject {
    // SAFETY: CPython calls a module's init and exec functions with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "PyInit_mod_wsgi", || {
        // SAFETY: the definition is static; Python only reads it. Slots
        // are linked here because a static cannot take another static's
        // address mutably at compile time.
        unsafe {
            let def = addr_of_mut!(MODULE_DEF);
            (*def).m_slots = addr_of_mut!(SLOTS).cast();
            (*def).m_methods = addr_of_mut!(METHODS).cast();
            ffi::PyModuleDef_Init(def)
        }
    })
}

unsafe extern "C" fn exec_apache_module(module: *mut ffi::PyObject) -> c_int {
    // SAFETY: CPython calls a module's init and exec functions with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "apache module exec", || {
        // SAFETY: GIL held; `module` is the module CPython is executing
        // (Py_mod_exec), a borrowed reference live for the call.
        let Some(module) = (unsafe { Owned::from_borrowed(module) }) else {
            return -1;
        };
        let done = (|| {
            let Some(process) = crate::process::process_info_if_set() else {
                return Some(());
            };
            module.setattr(
                py,
                "version",
                &collections::int_tuple(py, &process.apache_version)?,
            );
            module.setattr(
                py,
                "maximum_processes",
                &convert::int_obj(py, process.maximum_processes)?,
            );
            module.setattr(
                py,
                "threads_per_process",
                &convert::int_obj(py, process.threads_per_process)?,
            );
            module.setattr(
                py,
                "description",
                &convert::str_obj(py, &process.server.description)?,
            );
            module.setattr(
                py,
                "mpm_name",
                &convert::str_obj(py, &process.server.mpm_name)?,
            );
            module.setattr(
                py,
                "build_date",
                &convert::str_obj(py, &process.server.build_date)?,
            );
            Some(())
        })();
        if done.is_some() {
            0
        } else {
            -1
        }
    })
}

static mut APACHE_SLOTS: [ffi::PyModuleDef_Slot; SLOT_COUNT] = slots(exec_apache_module);

static mut APACHE_MODULE_DEF: ffi::PyModuleDef =
    module_def(c"apache", c"The Apache server hosting this interpreter");

/// `PyInit_apache`, registered with `PyImport_AppendInittab`.
pub unsafe extern "C" fn init_apache() -> *mut ffi::PyObject {
    // SAFETY: CPython calls a module's init and exec functions with the GIL
    // held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "PyInit_apache", || {
        // SAFETY: as for `init_mod_wsgi`.
        unsafe {
            let def = addr_of_mut!(APACHE_MODULE_DEF);
            (*def).m_slots = addr_of_mut!(APACHE_SLOTS).cast();
            ffi::PyModuleDef_Init(def)
        }
    })
}
