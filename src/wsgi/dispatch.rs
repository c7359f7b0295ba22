//! `WSGIDispatchScript`: per-request hooks that may override the process
//! group, application group and callable name chosen by configuration.

use super::handler::{
    build_environ, load_script_for_request, log_python_error, log_script_exception_as,
    EnvironExtras, Route,
};
use super::transport::Transport;
use crate::config::routing::DispatchOverrides as Overrides;
use crate::python::interp::Interpreter;
use crate::python::{
    convert,
    errors::{self, ExceptionType},
    object::{self, Owned},
    Python,
};

/// A hook a dispatch script may define, and how the C module's
/// `TypeError` messages name what it returns.
struct Hook {
    name: &'static str,
    subject: &'static str,
    /// What a result of the wrong type should have been (the C module's
    /// wording differs per hook).
    expected: &'static str,
}

/// The hooks, in the order they are called.
const HOOKS: [Hook; 3] = [
    Hook {
        name: "process_group",
        subject: "Process group",
        expected: "a byte string",
    },
    Hook {
        name: "application_group",
        subject: "Application group",
        expected: "a string object",
    },
    Hook {
        name: "callable_object",
        subject: "Callable object",
        expected: "a string object",
    },
];

/// Calls the script's hooks in `interp` for the request whose file is
/// `request_file`. `Err` means a hook failed and the request should get a
/// 500 (the reason is already logged). A script that cannot be loaded
/// changes nothing: the request goes where configuration sends it, as with
/// the C module.
pub fn run(
    interp: &Interpreter,
    transport: &dyn Transport,
    request_file: &str,
    script: &Route,
    extras: &EnvironExtras,
    configured: &Route,
) -> Result<Overrides, ()> {
    let gil = interp.enter();
    let py = gil.python();
    let log = |level: i32, line: &str| transport.log(level, line);
    // Exceptions are said to be raised for the request's interpreter, as
    // the C module names it.
    let who = crate::config::gil::describe_interpreter_of(
        &extras.process_group,
        &extras.application_group,
    );
    let Some(module) = load_script_for_request(&gil, interp, transport, script, request_file)
    else {
        if errors::pending_error_type_name(py).is_some() {
            log_script_exception_as(py, &log, Some(request_file), &script.script, &who);
        }
        return Ok(Overrides::default());
    };
    let Some(environ) = build_environ(py, extras, configured) else {
        log_python_error(
            py,
            &log,
            "Cannot build the environ for the dispatch script.",
        );
        return Err(());
    };
    let call = |hook: &Hook| -> Result<Option<String>, ()> {
        let Some(function) = module.getattr(py, hook.name) else {
            errors::clear_error(py);
            return Ok(None);
        };
        let value = function
            .call(py, &[&environ])
            .and_then(|result| hook_value(py, &result, hook));
        value.ok_or_else(|| {
            log_script_exception_as(py, &log, Some(request_file), &script.script, &who)
        })
    };
    let overrides = Overrides {
        process_group: call(&HOOKS[0])?,
        application_group: call(&HOOKS[1])?,
        callable_object: call(&HOOKS[2])?,
    };
    drop((environ, module));
    drop(gil);
    Ok(overrides)
}

/// A hook's result as the C module takes it: `None` keeps the configured
/// value; bytes, or a str that encodes as latin-1, replace it. Anything
/// else raises `TypeError` (`None` returned: an exception is pending).
fn hook_value(py: Python<'_>, result: &Owned, hook: &Hook) -> Option<Option<String>> {
    if object::is_none(py, result) {
        return Some(None);
    }
    if let Some(bytes) = convert::bytes_contents(py, result) {
        return Some(Some(String::from_utf8_lossy(bytes).into_owned()));
    }
    let subject = hook.subject;
    if !convert::is_str(py, result) {
        raise_type_error(py, &format!("{subject} must be {}", hook.expected));
        return None;
    }
    if let Some(bytes) = convert::latin1_or_raise(py, result) {
        return Some(Some(String::from_utf8_lossy(&bytes).into_owned()));
    }
    // The encoding error becomes the cause of the TypeError.
    errors::raise_from_pending(
        py,
        ExceptionType::TypeError,
        &format!(
            "{subject} must be a byte string, value containing non 'latin-1' characters found"
        ),
    );
    None
}

fn raise_type_error(py: Python<'_>, message: &str) {
    errors::raise(py, ExceptionType::TypeError, message);
}
