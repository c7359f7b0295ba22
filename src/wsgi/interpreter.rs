//! What the adapter keeps in every interpreter: its Python types, the
//! standard streams and the `mod_wsgi` module's groups and event state.
//! The interpreter registry (`python/interp.rs`) calls [`attach`] as it
//! creates an interpreter and holds the result for us.

use crate::python::interp::{Attached, Gil, Interpreter, InterpreterSetup};
use crate::python::object::Owned;
use crate::python::runtime::describe_error;
use crate::python::Python;
use std::sync::Arc;

/// Per-interpreter Python objects the WSGI adapter needs on every request.
pub struct InterpreterObjects {
    pub adapter_type: Owned,
    pub input_type: Owned,
    /// `mod_wsgi.Log`, the byte stream under `wsgi.errors`,
    /// `sys.stdout` and `sys.stderr`.
    pub log_type: Owned,
    /// `mod_wsgi.Restricted`, standing for a restricted standard stream.
    pub restricted_type: Owned,
    /// `io.TextIOWrapper`, the text stream over each log.
    pub text_wrapper: Owned,
    /// The class handed out as `wsgi.file_wrapper`.
    pub file_wrapper_type: Owned,
    /// Event subscribers and `active_requests` of this interpreter's
    /// `mod_wsgi` module.
    pub events: crate::pymodule::events::EventObjects,
}

// SAFETY: shared between request threads, but only used (and dropped)
// with the owning interpreter's GIL held.
unsafe impl Send for InterpreterObjects {}
// SAFETY: as above.
unsafe impl Sync for InterpreterObjects {}

impl InterpreterObjects {
    /// The objects attached to `interp`; `None` once it is being destroyed.
    pub fn of(interp: &Interpreter, gil: &Gil<'_>) -> Option<Arc<InterpreterObjects>> {
        interp.objects::<InterpreterObjects>(gil)
    }
}

/// Sets up a freshly created interpreter for the adapter (lent to the
/// registry through `process::Lent`), with its GIL held. The streams are
/// ours before `sys.path` is extended, so a `.pth` file already writes
/// through them; the groups are set after, since a `mod_wsgi` package
/// directory on the extended path becomes the module's `__path__` then.
pub fn attach(
    py: Python<'_>,
    module: &Owned,
    interp: &Interpreter,
    setup: &InterpreterSetup,
    extend_path: &dyn Fn() -> Result<(), String>,
) -> Result<Attached, String> {
    let fail = |what: &str| format!("{what}: {}", describe_error(py));
    let objects = super::types::create(py, module)
        .ok_or_else(|| fail("cannot create the WSGI adapter types"))?;
    super::streams::install(py, &objects, setup.restrictions)
        .ok_or_else(|| fail("cannot install the standard streams"))?;
    super::gil_watch::install(py)
        .ok_or_else(|| fail("cannot watch for the GIL being turned back on"))?;
    extend_path()?;
    crate::pymodule::set_groups(py, module, &interp.process_group, &interp.application_group)
        .ok_or_else(|| fail("cannot set mod_wsgi attributes"))?;
    module.setattr(py, "FileWrapper", &objects.file_wrapper_type);
    Ok(Arc::new(objects))
}
