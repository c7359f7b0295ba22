//! Apache entry points for the auth scripts: the `wsgi` authentication
//! provider (`AuthBasicProvider wsgi`, `AuthDigestProvider wsgi`) backed
//! by `WSGIAuthUserScript`, the `wsgi-group` authorization provider
//! (`Require wsgi-group ...`) backed by `WSGIAuthGroupScript`, and the
//! access check backed by `WSGIAccessScript`. They run in the Apache
//! child, whatever process group the application itself uses.

use crate::apache::log::{server_log, APLOG_ERR};
use crate::apache::request::{HookRequest, Request};
use crate::apache::servers::server_config;
use crate::apache::{c_str_latin1, ffi, hook, pool};
use crate::config::dir::ScriptRef;
use crate::config::text;
use crate::config::values::{GroupContext, GroupSpec};
use crate::config::DirConfig;
use crate::process::{interpreter_for, process_info, python_failure};
use crate::python::interp::Interpreter;
use crate::wsgi::auth::{self, AuthRequest, Failed, HostAccess, PasswordCheck, RealmHash};
use crate::wsgi::authz::{self, Membership};
use crate::wsgi::environ;
use crate::wsgi::handler::Route;
use crate::wsgi::ssl::SslVars;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::null;
use std::sync::Arc;

/// Which script a hook calls: the user script (for Basic or Digest
/// authentication), the group script or the access script.
#[derive(Clone, Copy)]
enum ScriptKind {
    Basic,
    Digest,
    Group,
    Access,
}

impl ScriptKind {
    fn describe(self) -> &'static str {
        match self {
            ScriptKind::Basic | ScriptKind::Digest => "user authentication",
            ScriptKind::Group => "group authentication",
            ScriptKind::Access => "host access",
        }
    }

    /// The C module's line when the directive naming the script is absent.
    fn not_configured(self) -> &'static str {
        match self {
            ScriptKind::Basic => {
                "WSGI0041: Location of WSGI user authentication script not provided."
            }
            ScriptKind::Digest => {
                "WSGI0044: Location of WSGI user authentication script not provided."
            }
            ScriptKind::Group => {
                "WSGI0058: Location of WSGI group authorization script not provided."
            }
            ScriptKind::Access => "WSGI0053: Location of WSGI host access script not provided.",
        }
    }

    /// The C module's codes for "no interpreter for the hook" and "the
    /// script lacks the function".
    fn codes(self) -> (&'static str, &'static str) {
        match self {
            ScriptKind::Basic => ("WSGI0042", "WSGI0043"),
            ScriptKind::Digest => ("WSGI0045", "WSGI0046"),
            ScriptKind::Group => ("WSGI0048", "WSGI0052"),
            ScriptKind::Access => ("WSGI0054", "WSGI0056"),
        }
    }

    fn script(self, dir: &DirConfig) -> Option<&ScriptRef> {
        match self {
            ScriptKind::Basic | ScriptKind::Digest => dir.auth_user_script.as_ref(),
            ScriptKind::Group => dir.auth_group_script.as_ref(),
            ScriptKind::Access => dir.access_script.as_ref(),
        }
    }
}

/// An interpreter as the C module names it in "Unable to acquire" lines
/// (without the process).
fn interpreter_name(application_group: &str) -> String {
    if application_group.is_empty() {
        "main interpreter".to_string()
    } else {
        format!("sub-interpreter '{application_group}'")
    }
}

/// Everything one call into an auth script needs.
struct Prepared {
    kind: ScriptKind,
    interpreter: Arc<Interpreter>,
    route: Route,
    application_group: String,
}

/// Finds the request's script of `kind` and its interpreter; `Err` when
/// there is none or Python is not available (logged).
fn prepare(req: &Request, kind: ScriptKind) -> Result<Prepared, Failed> {
    // SAFETY: our merged per-directory config for this request.
    let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
    let Some(script) = kind.script(dir) else {
        // The C module logs this against the server, not the request.
        server_log(null(), APLOG_ERR, kind.not_configured());
        return Err(Failed);
    };
    if let Some(reason) = python_failure() {
        req.log(
            APLOG_ERR,
            &format!("mod_wsgi: Python is not available in this process: {reason}"),
        );
        return Err(Failed);
    }
    // SAFETY: the request's server.
    let config = unsafe { server_config(req.server()) };
    let application_group = script
        .options
        .application_group
        .clone()
        .unwrap_or(GroupSpec::Global)
        .expand(req);
    let env = |name: &str| req.env(name);
    let interpreter = interpreter_for(config, &application_group, &env).map_err(|message| {
        req.log_script_error(
            0,
            &format!(
                "{}: Unable to acquire {} for {} hook.",
                kind.codes().0,
                interpreter_name(&application_group),
                kind.describe()
            ),
        );
        tracing::debug!(
            "Acquiring the interpreter for the {} hook failed: {message}",
            kind.describe()
        );
        Failed
    })?;
    let route = Route {
        reload_on_change: dir.script_reloading.unwrap_or(true),
        case_insensitive: config.global.case_sensitivity == Some(false),
        ..Route::for_script(&script.path)
    };
    Ok(Prepared {
        kind,
        interpreter,
        route,
        application_group,
    })
}

/// The auth script's view of the request.
fn auth_request<'a>(req: &'a Request, prepared: &Prepared) -> AuthRequest<'a> {
    // Credentials are never passed on, whatever WSGIPassAuthorization says.
    let policy = environ::EnvironPolicy {
        https: req.is_https(),
        authorization: None,
        head_as_get: false,
        trusted_proxies: None,
        trusted_headers: &[],
        listener: None,
    };
    let mut cgi = environ::adjust(req.cgi_environment(), &policy).vars;
    // The C module gives auth scripts none of the mod_wsgi.* routing keys a
    // WSGI application gets (script_name, path_info).
    cgi.retain(|(name, _)| !name.starts_with("mod_wsgi."));
    AuthRequest {
        transport: req,
        cgi,
        application_group: prepared.application_group.clone(),
        apache_version: process_info().apache_version,
        ssl: Request::ssl_loaded().then_some(req as &dyn SslVars),
        filename: req.filename(),
    }
}

/// Runs `body` with the request's script of `kind` ready to call.
/// `on_failure` when there is no script or interpreter (logged), or when
/// the hook panicked: a panic must not unwind into Apache.
fn with_script<T: Copy>(
    req: &Request,
    kind: ScriptKind,
    on_failure: T,
    body: impl FnOnce(&Prepared, &AuthRequest<'_>) -> T,
) -> T {
    let run = || match prepare(req, kind) {
        Ok(prepared) => body(&prepared, &auth_request(req, &prepared)),
        Err(Failed) => on_failure,
    };
    hook::catch_panic(&format!("{} script", kind.describe()), run).unwrap_or_else(|| {
        req.log(
            APLOG_ERR,
            "mod_wsgi: internal error in an auth hook (please report)",
        );
        on_failure
    })
}

/// # Safety
/// `p` is a NUL-terminated string or null.
unsafe fn text(p: *const c_char) -> String {
    // SAFETY: per the contract.
    unsafe { c_str_latin1(p) }.into_owned()
}

/// Logs that the script lacks the function Apache needs.
fn log_missing(req: &Request, prepared: &Prepared, what: &str) {
    let code = prepared.kind.codes().1;
    req.log_script_error(
        0,
        &format!(
            "{code}: Target WSGI {} script '{}' does not provide {what}.",
            prepared.kind.describe(),
            prepared.route.script
        ),
    );
}

unsafe extern "C" fn check_password(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    hook::guard(
        "wsgi authn check_password",
        ffi::authn_status_AUTH_GENERAL_ERROR,
        || {
            // SAFETY: the live request of this provider call.
            unsafe { HookRequest::new(r) }.scope(|req| {
                // SAFETY: Apache passes NUL-terminated strings.
                let (user, password) = unsafe { (text(user), text(password)) };
                let failed = ffi::authn_status_AUTH_GENERAL_ERROR;
                with_script(&req, ScriptKind::Basic, failed, |prepared, request| {
                    let interpreter = &prepared.interpreter;
                    match auth::check_password(
                        interpreter,
                        request,
                        &prepared.route,
                        &user,
                        &password,
                    ) {
                        Ok(PasswordCheck::Granted(name)) => {
                            if let Some(name) = name {
                                req.set_user(&name);
                            }
                            ffi::authn_status_AUTH_GRANTED
                        }
                        Ok(PasswordCheck::Denied) => ffi::authn_status_AUTH_DENIED,
                        Ok(PasswordCheck::UnknownUser) => ffi::authn_status_AUTH_USER_NOT_FOUND,
                        Ok(PasswordCheck::NoProvider) => {
                            log_missing(&req, prepared, "'Basic' auth provider");
                            failed
                        }
                        Err(Failed) => failed,
                    }
                })
            })
        },
    )
}

unsafe extern "C" fn get_realm_hash(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    hook::guard(
        "wsgi authn get_realm_hash",
        ffi::authn_status_AUTH_GENERAL_ERROR,
        || {
            // SAFETY: the live request of this provider call.
            unsafe { HookRequest::new(r) }.scope(|req| {
                // SAFETY: Apache passes NUL-terminated strings.
                let (user, realm) = unsafe { (text(user), text(realm)) };
                let failed = ffi::authn_status_AUTH_GENERAL_ERROR;
                with_script(&req, ScriptKind::Digest, failed, |prepared, request| {
                    let interpreter = &prepared.interpreter;
                    match auth::realm_hash(interpreter, request, &prepared.route, &user, &realm) {
                        Ok(RealmHash::Found(hash)) => {
                            // SAFETY: Apache reads the hash from the request pool.
                            unsafe { *rethash = pool::strdup(req.pool(), &hash) as *mut c_char };
                            ffi::authn_status_AUTH_USER_FOUND
                        }
                        Ok(RealmHash::UnknownUser) => ffi::authn_status_AUTH_USER_NOT_FOUND,
                        Ok(RealmHash::NoProvider) => {
                            log_missing(&req, prepared, "'Digest' auth provider");
                            failed
                        }
                        Err(Failed) => failed,
                    }
                })
            })
        },
    )
}

unsafe extern "C" fn check_group_authorization(
    r: *mut ffi::request_rec,
    require_line: *const c_char,
    _parsed: *const c_void,
) -> ffi::authz_status {
    hook::guard(
        "wsgi-group authz check",
        ffi::authz_status_AUTHZ_GENERAL_ERROR,
        || {
            // SAFETY: the live request of this provider call.
            unsafe { HookRequest::new(r) }.scope(|req| {
                // Group names are compared as the bytes they are, as
                // `groups_for_user`'s are (see config::text::latin1).
                let line = if require_line.is_null() {
                    &[][..]
                } else {
                    // SAFETY: Apache passes a NUL-terminated string.
                    unsafe { CStr::from_ptr(require_line) }.to_bytes()
                };
                let required = authz::required_groups(&text::latin1(line));
                let Some(user) = req.user() else {
                    return ffi::authz_status_AUTHZ_DENIED_NO_USER;
                };
                let denied = ffi::authz_status_AUTHZ_DENIED;
                with_script(&req, ScriptKind::Group, denied, |prepared, request| {
                    let interpreter = &prepared.interpreter;
                    let groups =
                        match auth::groups_for_user(interpreter, request, &prepared.route, &user) {
                            Ok(Some(groups)) => groups,
                            Ok(None) => {
                                log_missing(&req, prepared, "'groups_for_user' callable");
                                return denied;
                            }
                            Err(Failed) => return denied,
                        };
                    let why = match authz::membership(&groups, &required) {
                        Membership::Member => return ffi::authz_status_AUTHZ_GRANTED,
                        Membership::NoGroups => ("WSGI0059", "User is not a member of any groups."),
                        Membership::NotInRequired => {
                            ("WSGI0060", "User is not a member of designated groups.")
                        }
                    };
                    req.log_script_error(
                        0,
                        &format!(
                            "{}: Authorization of user '{}' to access '{}' failed. {}",
                            why.0,
                            text::latin1_as_utf8(&user),
                            req.uri(),
                            why.1
                        ),
                    );
                    denied
                })
            })
        },
    )
}

/// The access check: `allow_access(environ, host)` before authentication.
unsafe extern "C" fn check_access(r: *mut ffi::request_rec) -> c_int {
    hook::guard(
        "check_access",
        ffi::HTTP_INTERNAL_SERVER_ERROR as c_int,
        || {
            // SAFETY: the live request of this hook call.
            unsafe { HookRequest::new(r) }.scope(|req| {
                // SAFETY: our merged per-directory config for this request.
                let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
                if dir.access_script.is_none() {
                    return ffi::DECLINED as c_int;
                }
                let deny = HostAccess::Deny;
                let decision = with_script(&req, ScriptKind::Access, deny, |prepared, request| {
                    let host = req.client_ip();
                    match auth::allow_access(&prepared.interpreter, request, &prepared.route, &host)
                    {
                        Ok(Some(decision)) => decision,
                        Ok(None) => {
                            log_missing(&req, prepared, "'allow_access' callable");
                            deny
                        }
                        Err(Failed) => deny,
                    }
                });
                match decision {
                    HostAccess::Allow => ffi::OK as c_int,
                    HostAccess::Undecided => ffi::DECLINED as c_int,
                    HostAccess::Deny => {
                        // Under `Satisfy Any` authentication may still let it in.
                        if !req.satisfies_any() {
                            req.log_script_error(
                                0,
                                &format!(
                                    "WSGI0057: Client denied by server configuration: '{}'.",
                                    req.filename()
                                ),
                            );
                        }
                        ffi::HTTP_FORBIDDEN as c_int
                    }
                }
            })
        },
    )
}

/// A provider record Apache keeps a pointer to for the process's life.
struct Provider<T>(T);
// SAFETY: read-only function pointers.
unsafe impl<T> Sync for Provider<T> {}

static AUTHN_PROVIDER: Provider<ffi::authn_provider> = Provider(ffi::authn_provider {
    check_password: Some(check_password),
    get_realm_hash: Some(get_realm_hash),
});

static AUTHZ_GROUP_PROVIDER: Provider<ffi::authz_provider> = Provider(ffi::authz_provider {
    check_authorization: Some(check_group_authorization),
    parse_require_line: None,
});

/// Registers the providers and the access hook (from `register_hooks`).
///
/// # Safety
/// `p` is the pool Apache passes to `register_hooks`.
pub(super) unsafe fn register(p: *mut ffi::apr_pool_t) {
    // SAFETY: the provider records are static; the names are copied or
    // static; registering during module load.
    unsafe {
        ffi::ap_register_auth_provider(
            p,
            ffi::AUTHN_PROVIDER_GROUP.as_ptr().cast(),
            c"wsgi".as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr().cast(),
            (&raw const AUTHN_PROVIDER.0).cast(),
            ffi::AP_AUTH_INTERNAL_PER_CONF as c_int,
        );
        ffi::ap_register_auth_provider(
            p,
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr().cast(),
            c"wsgi-group".as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr().cast(),
            (&raw const AUTHZ_GROUP_PROVIDER.0).cast(),
            ffi::AP_AUTH_INTERNAL_PER_CONF as c_int,
        );
        ffi::ap_hook_check_access(
            Some(check_access),
            null(),
            null(),
            ffi::APR_HOOK_MIDDLE as c_int,
            ffi::AP_AUTH_INTERNAL_PER_CONF as c_int,
        );
    }
}
