//! `WSGIAuthUserScript`, `WSGIAuthGroupScript` and `WSGIAccessScript`:
//! calling the script's `check_password`, `get_realm_hash`,
//! `groups_for_user` or `allow_access` with a cut-down environ, and
//! reading its answer. Always in the Apache child, before the handler.

use super::context::RequestContext;
use super::environ::CgiVars;
use super::handler::{
    cgi_dict, load_script_for_request, log_python_error, log_script_exception_as, LogFn, Route,
};
use super::transport::Transport;
use super::{streams, types};
use crate::apache::log::APLOG_ERR;
use crate::config::text;
use crate::python::interp::Interpreter;
use crate::python::{
    collections, convert,
    errors::{self, ExceptionType},
    object::{self, Owned},
    Python,
};

/// What an auth hook needs from the request.
pub struct AuthRequest<'a> {
    pub transport: &'a dyn Transport,
    /// The CGI variables, as Apache has them before the fixups phase
    /// (so without `SetEnv` values) and without `HTTP_AUTHORIZATION`.
    pub cgi: CgiVars<'a>,
    pub application_group: String,
    pub apache_version: [i64; 3],
    /// mod_ssl's answers for this request, when mod_ssl is loaded.
    pub ssl: Option<&'a dyn super::ssl::SslVars>,
    /// The file the request is for (Apache's `r->filename`): the C module
    /// tags an auth script's log lines with it, not with the script.
    pub filename: String,
}

/// The script could not give an answer; the reason is logged.
#[derive(Debug, PartialEq, Eq)]
pub struct Failed;

/// `check_password(environ, user, password)`.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// `True`, or a string: the name to record as the user instead.
    Granted(Option<String>),
    Denied,
    UnknownUser,
    /// No `check_password` in the script.
    NoProvider,
}

/// `get_realm_hash(environ, user, realm)`.
#[derive(Debug, PartialEq, Eq)]
pub enum RealmHash {
    Found(String),
    UnknownUser,
    NoProvider,
}

/// `allow_access(environ, host)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAccess {
    Allow,
    Deny,
    /// `None`: leave the decision to the rest of the configuration.
    Undecided,
}

/// Logs what went wrong with an auth script's answer as the C module
/// does: on the request, tagged `[script FILENAME]` with the request's
/// file, and a raised exception as a WSGI0174 (WSGI0175) block naming the
/// script and its interpreter.
pub struct Reporter<'a> {
    log: LogFn<'a>,
    filename: &'a str,
    script: &'a str,
    interpreter: String,
}

impl Reporter<'_> {
    /// `[script FILENAME] message`, at ERR.
    pub fn error(&self, message: &str) {
        (self.log)(APLOG_ERR, &format!("[script {}] {message}", self.filename));
    }

    /// The pending Python exception, with its traceback.
    pub fn exception(&self, py: Python<'_>) {
        log_script_exception_as(
            py,
            self.log,
            Some(self.filename),
            self.script,
            &self.interpreter,
        );
    }
}

/// Runs `function(environ, *args)` of the script in `interp`, handing the
/// result to `read` (which logs through the `Reporter` why an answer is
/// unusable); `Ok(None)` when the script has no such function.
fn call<T>(
    interp: &Interpreter,
    request: &AuthRequest<'_>,
    route: &Route,
    function: &str,
    args: &[&str],
    read: impl FnOnce(Python<'_>, &Owned, &Reporter<'_>) -> Result<T, Failed>,
) -> Result<Option<T>, Failed> {
    let transport = request.transport;
    let log = |level: i32, line: &str| transport.log(level, line);
    let reporter = Reporter {
        log: &log,
        filename: &request.filename,
        script: &route.script,
        interpreter: crate::config::gil::describe_interpreter_of(
            &interp.process_group,
            &interp.name,
        ),
    };
    let mut ctx = RequestContext::new(transport, &route.script);
    let ctx_ptr: *mut RequestContext = &mut ctx;
    let gil = interp.enter();
    let py = gil.python();
    // Output on sys.stdout/sys.stderr belongs to this request meanwhile.
    let scope = streams::RequestScope::enter(ctx_ptr);
    let answer = (|| {
        let Some(module) =
            load_script_for_request(&gil, interp, transport, route, &request.filename)
        else {
            if errors::pending_error_type_name(py).is_some() {
                reporter.exception(py);
            }
            return Err(Failed);
        };
        let Some(callable) = module.getattr(py, function) else {
            errors::clear_error(py);
            return Ok(None);
        };
        let Some(objects) = super::interpreter::InterpreterObjects::of(interp, &gil) else {
            log(APLOG_ERR, "The Python interpreter is shutting down.");
            return Err(Failed);
        };
        let Some((errors, errors_stream)) = types::request_errors(py, &objects, ctx_ptr) else {
            log_python_error(py, &log, "Cannot create wsgi.errors for the auth script.");
            return Err(Failed);
        };
        let _ssl = request.ssl.map(super::ssl::SslScope::enter);
        let result = (|| {
            let environ = environ(py, request, &errors_stream)?;
            let mut owned = vec![environ];
            for arg in args {
                // Native text already (`apache::c_str_latin1`).
                owned.push(convert::str_obj(py, arg)?);
            }
            let refs: Vec<&Owned> = owned.iter().collect();
            callable.call(py, &refs)
        })();
        types::unbind(&errors);
        let Some(result) = result else {
            reporter.exception(py);
            return Err(Failed);
        };
        read(py, &result, &reporter).map(Some)
    })();
    drop(scope);
    ctx.flush_log();
    drop(gil);
    answer
}

/// The environ the auth functions get: the CGI variables and a few
/// `mod_wsgi.*` keys; no `wsgi.input`, as no body is read at this stage.
fn environ(py: Python<'_>, request: &AuthRequest<'_>, errors: &Owned) -> Option<Owned> {
    let environ = cgi_dict(py, &request.cgi)?;
    let set = |k: &str, v: Owned| collections::dict_set(py, &environ, k, &v);
    set("wsgi.errors", errors.clone());
    set(
        "mod_wsgi.version",
        collections::int_tuple(py, &crate::pymodule::version_numbers())?,
    );
    set("mod_wsgi.process_group", convert::str_obj(py, "")?);
    set(
        "mod_wsgi.application_group",
        convert::latin1_obj(py, request.application_group.as_bytes())?,
    );
    set(
        "apache.version",
        collections::int_tuple(py, &request.apache_version)?,
    );
    if request.ssl.is_some() {
        super::ssl::add_to(py, &environ)?;
    }
    Some(environ)
}

pub fn check_password(
    interp: &Interpreter,
    request: &AuthRequest<'_>,
    route: &Route,
    user: &str,
    password: &str,
) -> Result<PasswordCheck, Failed> {
    let answer = call(
        interp,
        request,
        route,
        "check_password",
        &[user, password],
        |py, result, reporter| {
            if object::is_none(py, result) {
                return Ok(PasswordCheck::UnknownUser);
            }
            if let Some(granted) = convert::as_bool(py, result) {
                return Ok(if granted {
                    PasswordCheck::Granted(None)
                } else {
                    PasswordCheck::Denied
                });
            }
            if !convert::is_str(py, result) {
                reporter.error(
                    "WSGI0177: Basic auth provider must return True, False, None or user name as string.",
                );
                return Err(Failed);
            }
            // The name Apache records is the string's UTF-8 encoding.
            let Some(name) = convert::with_text_or_bytes(py, result, |b| {
                String::from_utf8_lossy(b).into_owned()
            }) else {
                reporter.exception(py);
                return Err(Failed);
            };
            if name.is_empty() {
                reporter.error("WSGI0176: Basic auth provider returned empty user name string.");
                return Err(Failed);
            }
            Ok(PasswordCheck::Granted(Some(name)))
        },
    )?;
    Ok(answer.unwrap_or(PasswordCheck::NoProvider))
}

pub fn realm_hash(
    interp: &Interpreter,
    request: &AuthRequest<'_>,
    route: &Route,
    user: &str,
    realm: &str,
) -> Result<RealmHash, Failed> {
    let answer = call(
        interp,
        request,
        route,
        "get_realm_hash",
        &[user, realm],
        |py, result, reporter| {
            if object::is_none(py, result) {
                return Ok(RealmHash::UnknownUser);
            }
            let hash = if let Some(bytes) = convert::bytes_contents(py, result) {
                String::from_utf8_lossy(bytes).into_owned()
            } else if convert::is_str(py, result) {
                let Some(bytes) = convert::latin1_or_raise(py, result) else {
                    errors::raise_from_pending(
                        py,
                        ExceptionType::TypeError,
                        "Digest auth provider must return None or string object, value containing non 'latin-1' characters found",
                    );
                    reporter.exception(py);
                    return Err(Failed);
                };
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                reporter.error("WSGI0179: Digest auth provider must return None or string object.");
                return Err(Failed);
            };
            if hash.is_empty() {
                reporter.error("WSGI0178: Digest auth provider returned empty realm hash.");
                return Err(Failed);
            }
            Ok(RealmHash::Found(hash))
        },
    )?;
    Ok(answer.unwrap_or(RealmHash::NoProvider))
}

/// The groups `groups_for_user` lists: byte strings, or strings that
/// encode as latin-1, each as `config::text::latin1`. `Ok(None)`: the script has
/// no such function. Iteration that raises part way is logged and the
/// groups listed until then count, as in the C module.
pub fn groups_for_user(
    interp: &Interpreter,
    request: &AuthRequest<'_>,
    route: &Route,
    user: &str,
) -> Result<Option<Vec<String>>, Failed> {
    let script = route.script.as_str();
    call(
        interp,
        request,
        route,
        "groups_for_user",
        &[user],
        |py, result, reporter| {
            let Some(iterator) = collections::get_iter(py, result) else {
                reporter.error(&format!(
                    "WSGI0051: Result returned from 'groups_for_user' in '{script}' is not iterable; expected an iterable sequence of byte strings."
                ));
                reporter.exception(py);
                return Err(Failed);
            };
            let mut groups = Vec::new();
            while let Some(item) = collections::iter_next(py, &iterator) {
                if let Some(bytes) = convert::bytes_contents(py, &item) {
                    groups.push(text::latin1(bytes).into_owned());
                } else if convert::is_str(py, &item) {
                    let Some(bytes) = convert::latin1_or_raise(py, &item) else {
                        reporter.error(&format!(
                            "WSGI0049: Item returned from 'groups_for_user' in '{script}' is a string containing characters that cannot be encoded as latin-1; expected a byte string."
                        ));
                        reporter.exception(py);
                        return Err(Failed);
                    };
                    groups.push(text::latin1(&bytes).into_owned());
                } else {
                    reporter.error(&format!(
                        "WSGI0050: Item returned from 'groups_for_user' in '{script}' is not a byte string."
                    ));
                    return Err(Failed);
                }
            }
            if errors::error_pending(py) {
                reporter.exception(py);
            }
            Ok(groups)
        },
    )
}

/// `Ok(None)`: the script has no `allow_access`.
pub fn allow_access(
    interp: &Interpreter,
    request: &AuthRequest<'_>,
    route: &Route,
    host: &str,
) -> Result<Option<HostAccess>, Failed> {
    let script = route.script.as_str();
    call(
        interp,
        request,
        route,
        "allow_access",
        &[host],
        |py, result, reporter| {
            if object::is_none(py, result) {
                return Ok(HostAccess::Undecided);
            }
            match convert::as_bool(py, result) {
                Some(true) => Ok(HostAccess::Allow),
                Some(false) => Ok(HostAccess::Deny),
                None => {
                    reporter.error(&format!(
                    "WSGI0055: Result returned from 'allow_access' in '{script}' must be a boolean or None."
                ));
                    Err(Failed)
                }
            }
        },
    )
}
