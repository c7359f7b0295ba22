//! Apache calls our hooks, providers, pool cleanups and other-child
//! callbacks through `extern "C"`: each runs its body here so that a Rust
//! panic is logged and answered with the caller's failure value instead of
//! unwinding into httpd (which aborts the process).

use crate::panic_guard;

/// Runs the body of the Apache entry point `name`; a panic is logged once
/// at error level and gives `None`.
pub fn catch_panic<R>(name: &str, body: impl FnOnce() -> R) -> Option<R> {
    panic_guard::catch(name, body)
        .map_err(|caught| {
            tracing::error!("mod_wsgi: internal error (Rust panic) in {name}: {caught}");
        })
        .ok()
}

/// As [`catch_panic`], answering `on_panic` after a panic.
pub fn guard<R>(name: &str, on_panic: R, body: impl FnOnce() -> R) -> R {
    catch_panic(name, body).unwrap_or(on_panic)
}
