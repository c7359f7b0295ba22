//! Apache entry points for the auth scripts: the `wsgi` authentication
//! provider (`AuthBasicProvider wsgi`, `AuthDigestProvider wsgi`) backed
//! by `WSGIAuthUserScript`, the `wsgi-group` authorization provider
//! (`Require wsgi-group ...`) backed by `WSGIAuthGroupScript`, and the
//! access check backed by `WSGIAccessScript`. They run in the Apache
//! child, whatever process group the application itself uses.

use super::{interpreter_for, process_info, server_config, PYTHON_FAILURE};
use crate::apache::log::APLOG_ERR;
use crate::apache::request::Request;
use crate::apache::{c_str, ffi, pool};
use crate::config::dir::ScriptRef;
use crate::config::values::{GroupContext, GroupSpec};
use crate::config::DirConfig;
use crate::python::interp::Interpreter;
use crate::wsgi::auth::{self, AuthRequest, Failed, HostAccess, PasswordCheck, RealmHash};
use crate::wsgi::authz::{self, Membership};
use crate::wsgi::environ;
use crate::wsgi::handler::Route;
use std::ffi::{c_char, c_int, c_void};
use std::ptr::null;
use std::sync::Arc;

/// Which directive named the script, for log lines.
#[derive(Clone, Copy)]
enum ScriptKind {
    User,
    Group,
    Access,
}

impl ScriptKind {
    fn describe(self) -> &'static str {
        match self {
            ScriptKind::User => "user authentication",
            ScriptKind::Group => "group authentication",
            ScriptKind::Access => "host access",
        }
    }

    fn script(self, dir: &DirConfig) -> Option<&ScriptRef> {
        match self {
            ScriptKind::User => dir.auth_user_script.as_ref(),
            ScriptKind::Group => dir.auth_group_script.as_ref(),
            ScriptKind::Access => dir.access_script.as_ref(),
        }
    }
}

/// Everything one call into an auth script needs.
struct Prepared {
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
        req.log(
            APLOG_ERR,
            &format!("Location of WSGI {} script not provided.", kind.describe()),
        );
        return Err(Failed);
    };
    if let Some(reason) = PYTHON_FAILURE.get() {
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
        req.log(
            APLOG_ERR,
            &format!(
                "Unable to acquire the interpreter for the {} hook: {message}",
                kind.describe()
            ),
        );
        Failed
    })?;
    let route = Route {
        reload_on_change: dir.script_reloading.unwrap_or(true),
        case_insensitive: config.global.case_sensitivity == Some(false),
        ..Route::for_script(&script.path)
    };
    Ok(Prepared {
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
    };
    AuthRequest {
        transport: req,
        cgi: environ::adjust(req.cgi_environment(), &policy).vars,
        application_group: prepared.application_group.clone(),
        apache_version: process_info().apache_version,
    }
}

/// Runs `body` for a hook, turning a panic into `on_panic`.
fn guarded<T>(req: &Request, on_panic: T, body: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|_| {
        req.log(
            APLOG_ERR,
            "mod_wsgi: internal error in an auth hook (please report)",
        );
        on_panic
    })
}

/// # Safety
/// `p` is a NUL-terminated string or null.
unsafe fn text(p: *const c_char) -> String {
    // SAFETY: per the contract.
    unsafe { c_str(p) }.into_owned()
}

unsafe extern "C" fn check_password(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    // SAFETY: the live request of this provider call.
    let req = unsafe { Request::from_raw(r) };
    // SAFETY: Apache passes NUL-terminated strings.
    let (user, password) = unsafe { (text(user), text(password)) };
    guarded(&req, ffi::authn_status_AUTH_GENERAL_ERROR, || {
        let Ok(prepared) = prepare(&req, ScriptKind::User) else {
            return ffi::authn_status_AUTH_GENERAL_ERROR;
        };
        let request = auth_request(&req, &prepared);
        let answer = auth::check_password(
            &prepared.interpreter,
            &request,
            &prepared.route,
            &user,
            &password,
        );
        match answer {
            Ok(PasswordCheck::Granted(name)) => {
                if let Some(name) = name {
                    req.set_user(&name);
                }
                ffi::authn_status_AUTH_GRANTED
            }
            Ok(PasswordCheck::Denied) => ffi::authn_status_AUTH_DENIED,
            Ok(PasswordCheck::UnknownUser) => ffi::authn_status_AUTH_USER_NOT_FOUND,
            Ok(PasswordCheck::NoProvider) => {
                req.log(
                    APLOG_ERR,
                    &format!(
                        "Target WSGI user authentication script '{}' does not provide 'Basic' auth provider.",
                        prepared.route.script
                    ),
                );
                ffi::authn_status_AUTH_DENIED
            }
            Err(Failed) => ffi::authn_status_AUTH_GENERAL_ERROR,
        }
    })
}

unsafe extern "C" fn get_realm_hash(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    // SAFETY: the live request of this provider call.
    let req = unsafe { Request::from_raw(r) };
    // SAFETY: Apache passes NUL-terminated strings.
    let (user, realm) = unsafe { (text(user), text(realm)) };
    guarded(&req, ffi::authn_status_AUTH_GENERAL_ERROR, || {
        let Ok(prepared) = prepare(&req, ScriptKind::User) else {
            return ffi::authn_status_AUTH_GENERAL_ERROR;
        };
        let request = auth_request(&req, &prepared);
        let answer = auth::realm_hash(
            &prepared.interpreter,
            &request,
            &prepared.route,
            &user,
            &realm,
        );
        match answer {
            Ok(RealmHash::Found(hash)) => {
                // SAFETY: Apache reads the hash from the request pool.
                unsafe { *rethash = pool::strdup(req.pool(), &hash) as *mut c_char };
                ffi::authn_status_AUTH_USER_FOUND
            }
            Ok(RealmHash::UnknownUser) => ffi::authn_status_AUTH_USER_NOT_FOUND,
            Ok(RealmHash::NoProvider) => {
                req.log(
                    APLOG_ERR,
                    &format!(
                        "Target WSGI user authentication script '{}' does not provide 'Digest' auth provider.",
                        prepared.route.script
                    ),
                );
                ffi::authn_status_AUTH_DENIED
            }
            Err(Failed) => ffi::authn_status_AUTH_GENERAL_ERROR,
        }
    })
}

unsafe extern "C" fn check_group_authorization(
    r: *mut ffi::request_rec,
    require_line: *const c_char,
    _parsed: *const c_void,
) -> ffi::authz_status {
    // SAFETY: the live request of this provider call.
    let req = unsafe { Request::from_raw(r) };
    // SAFETY: Apache passes a NUL-terminated string.
    let required = authz::required_groups(&unsafe { text(require_line) });
    guarded(&req, ffi::authz_status_AUTHZ_GENERAL_ERROR, || {
        let Some(user) = req.user() else {
            return ffi::authz_status_AUTHZ_DENIED_NO_USER;
        };
        let Ok(prepared) = prepare(&req, ScriptKind::Group) else {
            return ffi::authz_status_AUTHZ_DENIED;
        };
        let request = auth_request(&req, &prepared);
        let groups = match auth::groups_for_user(
            &prepared.interpreter,
            &request,
            &prepared.route,
            &user,
        ) {
            Ok(Some(groups)) => groups,
            Ok(None) => {
                req.log(
                        APLOG_ERR,
                        &format!(
                            "Target WSGI group authentication script '{}' does not provide 'groups_for_user' callable.",
                            prepared.route.script
                        ),
                    );
                return ffi::authz_status_AUTHZ_DENIED;
            }
            Err(Failed) => return ffi::authz_status_AUTHZ_DENIED,
        };
        let why = match authz::membership(&groups, &required) {
            Membership::Member => return ffi::authz_status_AUTHZ_GRANTED,
            Membership::NoGroups => "User is not a member of any groups.",
            Membership::NotInRequired => "User is not a member of designated groups.",
        };
        req.log(
            APLOG_ERR,
            &format!(
                "Authorization of user '{user}' to access '{}' failed. {why}",
                req.uri()
            ),
        );
        ffi::authz_status_AUTHZ_DENIED
    })
}

/// The access check: `allow_access(environ, host)` before authentication.
unsafe extern "C" fn check_access(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: the live request of this hook call.
    let req = unsafe { Request::from_raw(r) };
    // SAFETY: our merged per-directory config for this request.
    let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
    if dir.access_script.is_none() {
        return ffi::DECLINED as c_int;
    }
    guarded(&req, ffi::HTTP_INTERNAL_SERVER_ERROR as c_int, || {
        let decision = prepare(&req, ScriptKind::Access).and_then(|prepared| {
            let request = auth_request(&req, &prepared);
            let host = req.client_ip();
            match auth::allow_access(&prepared.interpreter, &request, &prepared.route, &host)? {
                Some(decision) => Ok(decision),
                None => {
                    req.log(
                        APLOG_ERR,
                        &format!(
                            "Target WSGI host access script '{}' does not provide 'allow_access' callable.",
                            prepared.route.script
                        ),
                    );
                    Err(Failed)
                }
            }
        });
        match decision {
            Ok(HostAccess::Allow) => ffi::OK as c_int,
            Ok(HostAccess::Undecided) => ffi::DECLINED as c_int,
            Ok(HostAccess::Deny) | Err(Failed) => {
                // Under `Satisfy Any` authentication may still let it in.
                if !req.satisfies_any() {
                    req.log(
                        APLOG_ERR,
                        &format!(
                            "Client denied by server configuration: '{}'.",
                            req.filename()
                        ),
                    );
                }
                ffi::HTTP_FORBIDDEN as c_int
            }
        }
    })
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
