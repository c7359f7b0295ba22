//! The one way CPython enters our code: every method, getter, type slot
//! and module init/exec function we hand to Python runs its body through
//! [`trampoline`], so a Rust panic becomes a Python `SystemError` (logged
//! once) instead of unwinding through CPython and aborting the process.

use super::Python;
use crate::panic_guard;
use pyo3_ffi as ffi;
use std::ffi::c_int;

/// What a CPython slot returns, and how it reports failure.
pub trait SlotResult {
    /// Whether the slot's protocol carries a pending exception on failure.
    const RAISES: bool;
    /// The failure value (NULL or -1).
    fn failure() -> Self;
}

impl SlotResult for *mut ffi::PyObject {
    const RAISES: bool = true;
    fn failure() -> Self {
        std::ptr::null_mut()
    }
}

impl SlotResult for c_int {
    const RAISES: bool = true;
    fn failure() -> Self {
        -1
    }
}

/// `tp_dealloc` and the like: nothing to return and no exception to set.
impl SlotResult for () {
    const RAISES: bool = false;
    fn failure() -> Self {}
}

/// Runs the body of the CPython entry point `name` (the name Python code
/// knows it by, e.g. `wsgi.input.read`). A panic is logged at error level
/// and raised as `SystemError`; the slot then returns its failure value.
/// `py`: the GIL CPython holds for every such call.
pub fn trampoline<R: SlotResult>(py: Python<'_>, name: &str, body: impl FnOnce() -> R) -> R {
    panic_guard::catch(name, body).unwrap_or_else(|caught| {
        tracing::error!("mod_wsgi: internal error (Rust panic) in {name}: {caught}");
        if R::RAISES {
            super::errors::raise(
                py,
                super::errors::ExceptionType::SystemError,
                &format!("mod_wsgi internal error in {name}: {}", caught.message),
            );
        }
        R::failure()
    })
}
