//! mod_wsgi for Apache httpd, in Rust.
//!
//! Layers, top to bottom: `module` (the Apache module record and hooks),
//! `wsgi` (the PEP 3333 adapter), `pymodule` (the `mod_wsgi` Python
//! module), `python` (CPython embedding), `apache` (httpd/APR wrappers) and
//! `config` (pure configuration logic). Everything that references httpd's
//! symbols is left out of unit-test builds, which cannot link them.

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
#[cfg(not(test))]
mod sys;
mod telemetry;
mod wsgi;
