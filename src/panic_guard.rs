//! Stopping panics at the `extern "C"` boundary.
//!
//! A panic unwinding out of a function called by Apache or CPython aborts
//! the process (and every request it is serving), so each entry point runs
//! its body through [`catch`] and turns a panic into its caller's failure
//! protocol. While such a body runs, the default panic hook (which writes
//! to stderr, hence the error log) is silenced: the entry point logs the
//! panic itself, once, naming the method and the panic's location.
//!
//! With the `fault-injection` cargo feature, `MOD_WSGI_TEST_PANIC=<name>`
//! makes the first call in each process of the entry point named `<name>`
//! panic, so tests can show the process survives it.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A panic caught by [`catch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caught {
    /// The panic's message (its payload when that is a string).
    pub message: String,
    /// `file:line:column` of the `panic!`, when known.
    pub location: Option<String>,
}

impl std::fmt::Display for Caught {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{} (at {location})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

thread_local! {
    /// How many [`catch`] bodies this thread is inside (they nest when
    /// Python code called by one of our methods calls another).
    static GUARD_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Where the innermost panic on this thread happened, recorded by the
    /// hook for [`catch`] to report.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Wraps the process's panic hook once: inside a [`catch`] body a panic
/// only records its location; elsewhere the previous hook runs as before.
fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARD_DEPTH.with(Cell::get) > 0 {
                let location = info.location().map(ToString::to_string);
                PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Decrements the depth however the body ends.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Self {
        GUARD_DEPTH.with(|depth| depth.set(depth.get() + 1));
        DepthGuard
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        GUARD_DEPTH.with(|depth| depth.set(depth.get() - 1));
    }
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Runs the body of the entry point `name`, returning its result or the
/// panic that stopped it.
///
/// The body is treated as unwind safe: what it had changed before the
/// panic stays as it was, and the caller reports a failure for the call,
/// as it would for any other error.
pub fn catch<R>(name: &str, body: impl FnOnce() -> R) -> Result<R, Caught> {
    install_hook();
    let _depth = DepthGuard::enter();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        fault::inject(name);
        body()
    }));
    outcome.map_err(|payload| Caught {
        message: payload_message(payload.as_ref()),
        location: PANIC_LOCATION.with(|slot| slot.borrow_mut().take()),
    })
}

/// The test-only switch; without the `fault-injection` feature it is empty
/// and compiled away.
mod fault {
    #[cfg(feature = "fault-injection")]
    pub fn inject(name: &str) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::OnceLock;

        /// `MOD_WSGI_TEST_PANIC`, read once per process.
        static TARGET: OnceLock<Option<String>> = OnceLock::new();
        /// Set once the injected panic has fired in this process.
        static FIRED: AtomicBool = AtomicBool::new(false);

        let target = TARGET.get_or_init(|| std::env::var("MOD_WSGI_TEST_PANIC").ok());
        if target.as_deref() == Some(name) && !FIRED.swap(true, Ordering::SeqCst) {
            panic!("fault injected by MOD_WSGI_TEST_PANIC into {name}");
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub fn inject(_name: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_body_result() {
        assert_eq!(catch("ok", || 7), Ok(7));
    }

    #[test]
    fn a_panic_becomes_its_message_and_location() {
        let caught = catch("boom", || -> u8 { panic!("went wrong: {}", 42) }).unwrap_err();
        assert_eq!(caught.message, "went wrong: 42");
        let location = caught
            .location
            .clone()
            .expect("the hook records the location");
        assert!(location.starts_with("src/panic_guard.rs:"), "{location}");
        assert!(caught
            .to_string()
            .starts_with("went wrong: 42 (at src/panic_guard.rs:"));
    }

    #[test]
    fn a_static_str_payload_is_kept() {
        let caught = catch("boom", || std::panic::panic_any("plain")).unwrap_err();
        assert_eq!(caught.message, "plain");
    }

    #[test]
    fn nested_catches_report_the_inner_panic_and_restore_depth() {
        let outer = catch("outer", || {
            let inner = catch("inner", || panic!("inner failure"));
            assert_eq!(inner.unwrap_err().message, "inner failure");
            GUARD_DEPTH.with(Cell::get)
        });
        assert_eq!(outer, Ok(1));
        assert_eq!(GUARD_DEPTH.with(Cell::get), 0);
    }
}
