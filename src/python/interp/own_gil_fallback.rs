//! `WSGIOwnGILFallback On` (our extension): an own-GIL sub-interpreter
//! whose WSGI script is refused an extension module is replaced, in the
//! registry, by a shared-GIL sub-interpreter with the same application
//! group name and otherwise the same set-up. Whether a failure falls back,
//! and the words logged, are decided in `config/gil.rs`; the script loads
//! and the retries are the WSGI adapter's (`wsgi/handler.rs`).

use super::{create_sub_interpreter, registry, Interpreter, InterpreterSetup, SETUP_FAILED};
use crate::config::gil::{self, GilKind};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What an own-GIL interpreter carries when it may fall back.
pub(super) struct OwnGilFallback {
    /// The set-up of its replacement: its own, with the shared-GIL plan.
    setup: InterpreterSetup,
    /// The extension module refused while its WSGI script was imported.
    /// Once set, no WSGI script is imported here again and requests go to
    /// the replacement.
    refused: OnceCell<String>,
}

impl OwnGilFallback {
    /// For an interpreter about to be created with `setup`: `None` unless
    /// it gets its own GIL and the fallback resolved On for it.
    pub(super) fn for_setup(setup: &InterpreterSetup) -> Option<OwnGilFallback> {
        if setup.plan.gil != GilKind::Own {
            return None;
        }
        let plan = setup.shared_gil_fallback.clone()?;
        Some(OwnGilFallback {
            setup: InterpreterSetup {
                plan,
                shared_gil_fallback: None,
                ..setup.clone()
            },
            refused: OnceCell::new(),
        })
    }
}

impl Interpreter {
    /// Whether `WSGIOwnGILFallback On` applies to this interpreter (it
    /// then has its own GIL).
    pub fn may_fall_back_to_shared_gil(&self) -> bool {
        self.own_gil_fallback.is_some()
    }

    /// Records that importing a WSGI script here was refused `module`, so
    /// this interpreter is to be replaced. The first module recorded is
    /// kept. False when the fallback does not apply to this interpreter.
    pub fn give_up_own_gil(&self, module: &str) -> bool {
        match &self.own_gil_fallback {
            Some(fallback) => {
                let _ = fallback.refused.set(module.to_string());
                true
            }
            None => false,
        }
    }

    /// The module recorded by [`Interpreter::give_up_own_gil`], if any.
    pub fn own_gil_refused_module(&self) -> Option<&str> {
        self.own_gil_fallback
            .as_ref()
            .and_then(|f| f.refused.get())
            .map(String::as_str)
    }
}

/// Interpreters replaced by a shared-GIL one. They are never ended, as a
/// sub-interpreter whose set-up failed is not (see `get_or_create`): the
/// failed import may have left half-imported modules or started threads,
/// and ending it would run their finalisers and `atexit` code, while a
/// request that took it from the registry just before its replacement may
/// still be running in it. Holding them here also keeps the Python
/// objects this module holds for them (adapter types, loaded scripts) from
/// being released without their GIL when the last request lets go.
static RETIRED: Mutex<Vec<Arc<Interpreter>>> = Mutex::new(Vec::new());

/// The interpreter to use instead of one that gave up its own GIL.
pub struct Replacement {
    pub interpreter: Arc<Interpreter>,
    /// This call created it (and logged the warning): false when another
    /// request had already replaced the interpreter.
    pub made_now: bool,
}

/// Replaces `old`, which has given up its own GIL
/// ([`Interpreter::give_up_own_gil`]), by a shared-GIL sub-interpreter
/// with the same name and set-up, logging the warning once per
/// interpreter. When `old` has already been replaced, returns what is
/// registered under its name now. Must be called without any GIL held.
pub fn replace_with_shared_gil(old: &Interpreter) -> Result<Replacement, String> {
    let fallback = old
        .own_gil_fallback
        .as_ref()
        .ok_or("this interpreter has no shared-GIL fallback")?;
    let module = fallback.refused.get().map_or("?", String::as_str);
    let registry = registry();
    // Under the registry lock, so that one request replaces the interpreter
    // and the others find its replacement.
    let mut interpreters = registry.interpreters.lock();
    let interpreters = &mut interpreters.by_name;
    let name = old.name.as_str();
    match interpreters.get(name) {
        Some(current) if std::ptr::eq(Arc::as_ptr(current), old) => {
            if let Some(retired) = interpreters.remove(name) {
                RETIRED.lock().push(retired);
            }
            registry.created.lock().retain(|n| n != name);
            // Like a failed set-up, a sub-interpreter left alive means the
            // main interpreter must not be finalised at exit.
            SETUP_FAILED.store(true, Ordering::SeqCst);
        }
        Some(current) => {
            return Ok(Replacement {
                interpreter: current.clone(),
                made_now: false,
            })
        }
        // Its replacement could not be created: try again.
        None => {}
    }
    tracing::warn!(
        "{}",
        gil::own_gil_fallback_warning(module, &old.process_group, name)
    );
    let interpreter = create_sub_interpreter(registry, interpreters, name, fallback.setup.clone())?;
    Ok(Replacement {
        interpreter,
        made_now: true,
    })
}

/// Where a request that took `interp` from the registry now runs Python:
/// the replacement registered under its name once it gave up its own GIL,
/// else `interp` itself. For the daemon's monitor, which remembers each
/// request's interpreter when the request starts.
pub fn replacement_or_self(interp: &Arc<Interpreter>) -> Arc<Interpreter> {
    if interp.own_gil_refused_module().is_none() {
        return interp.clone();
    }
    registry()
        .interpreters
        .lock()
        .by_name
        .get(&interp.name)
        .cloned()
        .unwrap_or_else(|| interp.clone())
}
