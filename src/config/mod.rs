//! Configuration: the directive table, typed values and merge rules.
//! Pure Rust with no FFI, so all of it is unit-tested without Apache.

pub mod daemon;
pub mod dir;
pub mod directives;
pub mod error;
pub mod gil;
pub mod interp_options;
pub mod log_level;
pub mod routing;
pub mod server;
pub mod text;
pub mod values;
pub mod words;

pub use dir::DirConfig;
pub use directives::{Context, Directive, DIRECTIVES};
pub use error::{ConfigError, ConfigResult};
pub use server::ServerConfig;

use std::sync::atomic::{AtomicBool, Ordering};

/// Set while reading the configuration when a directive needs Python in
/// Apache's own children even under `WSGIRestrictEmbedded On`: a dispatch,
/// access or auth script, or an import script for embedded mode. Per
/// directory sections are not reachable from the server configuration at
/// child start, so, as in the C module, this is one flag for the process.
static EMBEDDED_PYTHON_NEEDED: AtomicBool = AtomicBool::new(false);

pub fn note_embedded_python_needed() {
    EMBEDDED_PYTHON_NEEDED.store(true, Ordering::Relaxed);
}

/// Whether any directive read so far needs Python in Apache's children.
pub fn embedded_python_needed() -> bool {
    EMBEDDED_PYTHON_NEEDED.load(Ordering::Relaxed)
}
