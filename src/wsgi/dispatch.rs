//! `WSGIDispatchScript`: per-request hooks that may override the process
//! group, application group and callable name chosen by configuration.

use super::handler::{build_environ, load_script, log_python_error, EnvironExtras, LogFn, Route};
use crate::apache::log::APLOG_ERR;
use crate::python::interp::Interpreter;
use crate::python::object;

/// What the dispatch script decided; `None` keeps the configured value.
#[derive(Debug, Default)]
pub struct Overrides {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// Calls the script's hooks in `interp`. `Err` means the script failed and
/// the request should get a 500 (the reason is already logged).
pub fn run(
    interp: &Interpreter,
    log: LogFn<'_>,
    script: &Route,
    extras: &EnvironExtras,
    configured: &Route,
) -> Result<Overrides, ()> {
    let gil = interp.enter();
    let module = load_script(&gil, interp, log, script, true).ok_or(())?;
    let Some(environ) = build_environ(extras, configured) else {
        log_python_error(log, "Cannot build the environ for the dispatch script.");
        return Err(());
    };
    let call = |hook: &str| -> Result<Option<String>, ()> {
        if !module.hasattr(hook) {
            return Ok(None);
        }
        let failed = |message: &str| {
            log_python_error(
                log,
                &format!(
                    "Exception occurred in {hook}() of dispatch script '{}'. {message}",
                    script.script
                ),
            );
            Err(())
        };
        let Some(result) = module.getattr(hook).and_then(|f| f.call(&[&environ])) else {
            return failed("");
        };
        if object::is_none(&result) {
            return Ok(None);
        }
        match object::unicode_to_string(&result) {
            Some(value) => Ok(Some(value)),
            None => {
                object::clear_error();
                log(
                    APLOG_ERR,
                    &format!(
                        "Dispatch script '{}': {hook}() must return a string or None.",
                        script.script
                    ),
                );
                Err(())
            }
        }
    };
    let overrides = Overrides {
        process_group: call("process_group")?,
        application_group: call("application_group")?,
        callable_object: call("callable_object")?,
    };
    drop((environ, module));
    drop(gil);
    Ok(overrides)
}
