//! Python initialisation in a process that serves requests (an Apache
//! child or a daemon process), never in the Apache parent.

use super::errors::take_error_text;
use super::Python;
use pyo3_ffi as ffi;
use std::ffi::{CStr, CString};

/// The interpreter-wide settings fixed at `Py_InitializeFromConfig`.
/// Whether a `WSGIPythonHome` is a virtual environment (has pyvenv.cfg).
fn is_virtualenv(home: &str) -> bool {
    std::path::Path::new(home).join("pyvenv.cfg").is_file()
}

#[derive(Debug, Clone, Default)]
pub struct InitSettings {
    pub home: Option<String>,
    pub optimize: u8,
    /// `None` keeps Python's random hash seed.
    pub hash_seed: Option<u32>,
    pub dont_write_bytecode: bool,
    pub warnings: Vec<String>,
    pub eggs: Option<String>,
    /// Start without the GIL (only honoured by a free-threaded build).
    pub free_threading: bool,
    /// Keep it off even for extension modules that did not declare
    /// free-threading support.
    pub gil_forced_off: bool,
    /// Modules built into every interpreter (`mod_wsgi`, `apache`), lent
    /// by the layer that defines them.
    pub builtin_modules: &'static [BuiltinModule],
}

/// A module added to Python's table of built-in modules before start-up.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinModule {
    pub name: &'static CStr,
    pub init: unsafe extern "C" fn() -> *mut ffi::PyObject,
}

/// The Python version this module was compiled against ("3.12").
pub const BUILD_PYTHON_VERSION: &str = env!("MOD_WSGI_BUILD_PYTHON_VERSION");
const BUILD_PYTHON_EXECUTABLE: &str = env!("MOD_WSGI_BUILD_PYTHON_EXECUTABLE");

/// The version of the libpython actually loaded, e.g. "3.12.1".
pub fn runtime_version() -> String {
    // SAFETY: Py_GetVersion may be called before initialisation and
    // returns a static string.
    let full = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy();
    full.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Checks the loaded libpython is the major.minor this module was built for.
pub fn check_runtime_version() -> Result<(), String> {
    let runtime = runtime_version();
    let major_minor: String = runtime.split('.').take(2).collect::<Vec<_>>().join(".");
    if major_minor == BUILD_PYTHON_VERSION {
        Ok(())
    } else {
        Err(format!(
            "mod_wsgi was built for Python {BUILD_PYTHON_VERSION} but the loaded Python library is {runtime}; rebuild mod_wsgi against the Python you want to use"
        ))
    }
}

/// The message carried by a failed `PyStatus`.
pub fn status_message(status: &ffi::PyStatus) -> String {
    if status.err_msg.is_null() {
        String::from("unknown error")
    } else {
        // SAFETY: a static C string set by CPython.
        unsafe { CStr::from_ptr(status.err_msg) }
            .to_string_lossy()
            .into_owned()
    }
}

fn status_error(status: &ffi::PyStatus, what: &str) -> Option<String> {
    // SAFETY: reading a PyStatus returned by the C API.
    if unsafe { ffi::PyStatus_Exception(*status) } == 0 {
        return None;
    }
    Some(format!("{what}: {}", status_message(status)))
}

/// What the Python this module was built against supports.
pub const CAPABILITIES: crate::config::gil::PythonCapabilities =
    crate::config::gil::PythonCapabilities {
        per_interpreter_gil: cfg!(Py_3_12),
        free_threading: cfg!(Py_GIL_DISABLED),
        own_gil_fallback: cfg!(Py_3_13),
    };

fn set_config_string(
    config: *mut ffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    value: &str,
) -> Result<(), String> {
    let c = CString::new(value).map_err(|_| format!("NUL in '{value}'"))?;
    // SAFETY: `field` points into `config`; Python copies the string.
    let status = unsafe { ffi::PyConfig_SetBytesString(config, field, c.as_ptr()) };
    status_error(&status, value).map_or(Ok(()), Err)
}

/// Initialises Python for this process and releases the GIL. Returns the
/// main thread's thread state, to be reattached when this thread next
/// enters the main interpreter.
pub fn initialize(settings: &InitSettings) -> Result<*mut ffi::PyThreadState, String> {
    if let Some(eggs) = &settings.eggs {
        std::env::set_var("PYTHON_EGG_CACHE", eggs);
    }
    for module in settings.builtin_modules {
        // SAFETY: registering built-in modules before initialisation; the
        // names are static.
        unsafe { ffi::PyImport_AppendInittab(module.name.as_ptr(), Some(module.init)) };
    }

    let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct.
    unsafe { ffi::PyConfig_InitPythonConfig(config.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let config = unsafe { config.assume_init_mut() };
    let result = (|| {
        // Apache owns the process's signals.
        config.install_signal_handlers = 0;
        config.parse_argv = 0;
        config.optimization_level = settings.optimize as i32;
        // A free-threaded build keeps the GIL unless this process opted
        // out of it. Opted out, it starts without the GIL and turns it back
        // on (with a RuntimeWarning naming the module) when an extension
        // module that has not declared free-threading support is imported,
        // unless the GIL is forced off.
        #[cfg(Py_GIL_DISABLED)]
        {
            const GIL_DEFAULT: i32 = -1;
            const GIL_DISABLE: i32 = 0;
            const GIL_ENABLE: i32 = 1;
            config.enable_gil = match (settings.free_threading, settings.gil_forced_off) {
                (false, _) => GIL_ENABLE,
                (true, false) => GIL_DEFAULT,
                (true, true) => GIL_DISABLE,
            };
        }
        config.write_bytecode = (!settings.dont_write_bytecode) as i32;
        if let Some(seed) = settings.hash_seed {
            config.use_hash_seed = 1;
            config.hash_seed = seed as libc::c_ulong;
        }
        let program = match &settings.home {
            Some(home) => format!("{}/bin/python", home.split(':').next().unwrap_or(home)),
            None => BUILD_PYTHON_EXECUTABLE.to_string(),
        };
        if !program.is_empty() {
            set_config_string(
                config,
                std::ptr::addr_of_mut!(config.program_name),
                &program,
            )?;
        }
        // A virtual environment is found from the program name through its
        // pyvenv.cfg; setting `home` as well would make Python look for the
        // standard library inside the venv, where there is none.
        if let Some(home) = settings.home.as_ref().filter(|h| !is_virtualenv(h)) {
            set_config_string(config, std::ptr::addr_of_mut!(config.home), home)?;
        }
        let argv0 = CString::new("mod_wsgi").expect("no NUL");
        let mut argv = [argv0.as_ptr()];
        // SAFETY: argv has one valid string; Python copies it.
        let status = unsafe { ffi::PyConfig_SetBytesArgv(config, 1, argv.as_mut_ptr()) };
        if let Some(e) = status_error(&status, "argv") {
            return Err(e);
        }
        for warning in &settings.warnings {
            let c = CString::new(warning.as_str()).map_err(|_| "NUL in warning".to_string())?;
            // SAFETY: Py_DecodeLocale returns a PyMem_RawMalloc'd wide string.
            let wide = unsafe { ffi::Py_DecodeLocale(c.as_ptr(), std::ptr::null_mut()) };
            if wide.is_null() {
                return Err(format!("cannot decode warning filter '{warning}'"));
            }
            // SAFETY: appends a copy; then we free our buffer.
            let status = unsafe { ffi::PyWideStringList_Append(&mut config.warnoptions, wide) };
            // SAFETY: allocated by Py_DecodeLocale.
            unsafe { ffi::PyMem_RawFree(wide.cast()) };
            if let Some(e) = status_error(&status, "warnoptions") {
                return Err(e);
            }
        }
        // SAFETY: a fully prepared config.
        let status = unsafe { ffi::Py_InitializeFromConfig(config) };
        // SAFETY: reading the PyStatus just returned.
        if unsafe { ffi::PyStatus_Exception(status) } != 0 {
            // Worded by CPython, as the C module logs it in WSGI0036.
            return Err(status_message(&status));
        }
        Ok(())
    })();
    // SAFETY: frees the config's strings whether or not init succeeded.
    unsafe { ffi::PyConfig_Clear(config) };
    result?;
    // SAFETY: Python is initialised and this thread holds the GIL.
    Ok(unsafe { ffi::PyEval_SaveThread() })
}

/// `sys.flags`-style check used in logs.
pub fn describe_error(py: Python<'_>) -> String {
    take_error_text(py).unwrap_or_else(|| "unknown error".into())
}

/// Whether the GIL is on, in the interpreter this thread is attached to:
/// always with a build that has one; on a free-threaded build, what
/// `sys._is_gil_enabled()` says (an import may have turned it back on).
pub fn gil_enabled(py: Python<'_>) -> bool {
    let answer = super::code::import(py, "sys")
        .and_then(|sys| sys.getattr(py, "_is_gil_enabled"))
        .and_then(|f| f.call0(py));
    match answer {
        Some(value) => super::object::is_true(py, &value),
        None => {
            super::errors::clear_error(py);
            true
        }
    }
}
