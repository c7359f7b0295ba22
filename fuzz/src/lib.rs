//! The FFI-free layers of mod_wsgi, compiled from the main crate's own
//! source files (`#[path]`), so the fuzz targets exercise exactly the code
//! that ships without linking Apache or Python. The module tree mirrors
//! the main crate's so the included files' `crate::`/`super::` paths
//! resolve unchanged.

#[path = "../../src/config/mod.rs"]
pub mod config;

pub mod daemon;

pub mod wsgi;

/// Stand-in for the process facts `daemon::handoff` reads (the real
/// `ProcessInfo` also holds Apache scoreboard state).
pub mod process {
    pub struct ProcessInfo {
        pub multithread: bool,
        pub multiprocess: bool,
        pub apache_version: [i64; 3],
    }
}

pub mod telemetry;
