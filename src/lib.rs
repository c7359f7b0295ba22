//! mod_wsgi for Apache httpd, in Rust.
//!
//! Layers, top to bottom: `module` (the Apache module record and hooks),
//! `daemon` (daemon mode), `wsgi` and `pymodule` (the PEP 3333 adapter and
//! the `mod_wsgi` Python module, peers), `process` (process-wide state,
//! Python start and stop), `telemetry` and `metrics`, then the wrappers
//! `python` (CPython), `apache` (httpd/APR) and `sys` (the OS), and
//! `config` (pure configuration logic). docs/architecture.md has the
//! rules; scripts/layers.sh checks them. Everything that references
//! httpd's symbols is left out of unit-test builds, which cannot link them.

#[cfg(not(test))]
mod apache;
pub mod config;
mod daemon;
mod metrics;
#[cfg(not(test))]
pub mod module;
mod panic_guard;
#[cfg(not(test))]
mod process;
#[cfg(not(test))]
mod pymodule;
#[cfg(not(test))]
mod python;
// Compiled in test builds too, for its own unit tests; only the Apache
// and Python layers use it there.
#[cfg_attr(test, allow(dead_code))]
mod sys;
mod telemetry;
mod wsgi;
