//! `WSGIAuthUserScript`, `WSGIAuthGroupScript` and `WSGIAccessScript`:
//! calling the script's `check_password`, `get_realm_hash`,
//! `groups_for_user` or `allow_access` with a cut-down environ, and
//! reading its answer. Always in the Apache child, before the handler.

use super::context::RequestContext;
use super::handler::{cgi_dict, load_script, log_python_error, Route};
use super::transport::Transport;
use super::{streams, types};
use crate::apache::log::APLOG_ERR;
use crate::python::interp::Interpreter;
use crate::python::object::{self, Owned};

/// What an auth hook needs from the request.
pub struct AuthRequest<'a> {
    pub transport: &'a dyn Transport,
    /// The CGI variables, as Apache has them before the fixups phase
    /// (so without `SetEnv` values) and without `HTTP_AUTHORIZATION`.
    pub cgi: Vec<(String, String)>,
    pub application_group: String,
    pub apache_version: [i64; 3],
    /// mod_ssl's answers for this request, when mod_ssl is loaded.
    pub ssl: Option<&'a dyn super::ssl::SslVars>,
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

/// Runs `function(environ, *args)` of the script in `interp`, handing the
/// result to `read`; `Ok(None)` when the script has no such function.
fn call<T>(
    interp: &Interpreter,
    request: &AuthRequest<'_>,
    route: &Route,
    function: &str,
    args: &[&str],
    read: impl FnOnce(&Owned) -> Result<T, String>,
) -> Result<Option<T>, Failed> {
    let transport = request.transport;
    let log = |level: i32, line: &str| transport.log(level, line);
    let mut ctx = RequestContext::new(transport, &route.script);
    let ctx_ptr: *mut RequestContext = &mut ctx;
    let gil = interp.enter();
    // Output on sys.stdout/sys.stderr belongs to this request meanwhile.
    let scope = streams::RequestScope::enter(ctx_ptr);
    let answer = (|| {
        let module = load_script(&gil, interp, &log, route, true).ok_or(Failed)?;
        let Some(callable) = module.getattr(function) else {
            object::clear_error();
            return Ok(None);
        };
        let Some(objects) = interp.objects(&gil) else {
            log(APLOG_ERR, "The Python interpreter is shutting down.");
            return Err(Failed);
        };
        let Some((errors, errors_stream)) = types::request_errors(&objects, ctx_ptr) else {
            log_python_error(&log, "Cannot create wsgi.errors for the auth script.");
            return Err(Failed);
        };
        let _ssl = request.ssl.map(super::ssl::SslScope::enter);
        let result = (|| {
            let environ = environ(request, &errors_stream)?;
            let mut owned = vec![environ];
            for arg in args {
                owned.push(object::latin1_obj(arg)?);
            }
            let refs: Vec<&Owned> = owned.iter().collect();
            callable.call(&refs)
        })();
        types::unbind(&errors);
        let Some(result) = result else {
            log_python_error(
                &log,
                &format!(
                    "Exception occurred calling {function}() of WSGI script '{}'.",
                    route.script
                ),
            );
            return Err(Failed);
        };
        match read(&result) {
            Ok(value) => Ok(Some(value)),
            Err(message) => {
                object::clear_error();
                log(APLOG_ERR, &message);
                Err(Failed)
            }
        }
    })();
    drop(scope);
    ctx.flush_log();
    drop(gil);
    answer
}

/// The environ the auth functions get: the CGI variables and a few
/// `mod_wsgi.*` keys; no `wsgi.input`, as no body is read at this stage.
fn environ(request: &AuthRequest<'_>, errors: &Owned) -> Option<Owned> {
    let environ = cgi_dict(&request.cgi)?;
    let set = |k: &str, v: Owned| object::dict_set(&environ, k, &v);
    set("wsgi.errors", errors.clone());
    set(
        "mod_wsgi.version",
        object::int_tuple(&crate::pymodule::version_numbers())?,
    );
    set("mod_wsgi.process_group", object::str_obj("")?);
    set(
        "mod_wsgi.application_group",
        object::str_obj(&request.application_group)?,
    );
    set(
        "apache.version",
        object::int_tuple(&request.apache_version)?,
    );
    if request.ssl.is_some() {
        super::ssl::add_to(&environ)?;
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
        |result| {
            if object::is_none(result) {
                return Ok(PasswordCheck::UnknownUser);
            }
            if let Some(granted) = object::as_bool(result) {
                return Ok(if granted {
                    PasswordCheck::Granted(None)
                } else {
                    PasswordCheck::Denied
                });
            }
            match object::latin1_text(result) {
                Some(name) => Ok(PasswordCheck::Granted(Some(name))),
                None => Err(
                    "Basic auth provider must return True, False, None or user name as string."
                        .into(),
                ),
            }
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
        |result| {
            if object::is_none(result) {
                return Ok(RealmHash::UnknownUser);
            }
            object::latin1_text(result)
                .map(RealmHash::Found)
                .ok_or_else(|| "Digest auth provider must return None or string object.".into())
        },
    )?;
    Ok(answer.unwrap_or(RealmHash::NoProvider))
}

/// The groups `groups_for_user` lists: byte strings, or strings that
/// encode as latin-1. `Ok(None)`: the script has no such function.
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
        |result| {
            let items = object::iter_items(result).ok_or_else(|| {
            format!(
                "Result returned from 'groups_for_user' in '{script}' is not iterable; expected an iterable sequence of byte strings."
            )
        })?;
            items
            .iter()
            .map(|item| {
                object::bytes_contents(item)
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                    .or_else(|| object::latin1_text(item))
                    .ok_or_else(|| {
                        format!(
                            "Item returned from 'groups_for_user' in '{script}' is not a byte string, or a string that encodes as latin-1."
                        )
                    })
            })
            .collect()
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
    call(interp, request, route, "allow_access", &[host], |result| {
        if object::is_none(result) {
            return Ok(HostAccess::Undecided);
        }
        match object::as_bool(result) {
            Some(true) => Ok(HostAccess::Allow),
            Some(false) => Ok(HostAccess::Deny),
            None => Err(format!(
                "Result returned from 'allow_access' in '{script}' must be a boolean or None."
            )),
        }
    })
}
