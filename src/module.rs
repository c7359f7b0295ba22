//! The Apache module record (`wsgi_module`) and its hook entry points.

use crate::apache::commands::COMMANDS;
use crate::apache::log::{self, APLOG_EMERG, APLOG_ERR, APLOG_WARNING};
use crate::apache::request::Request;
use crate::apache::servers::{all_servers, server_config};
use crate::apache::{ffi, hook, pool};
use crate::config::dir::MapHeadToGet;
use crate::config::gil;
use crate::config::routing;
use crate::config::server::{ScriptAlias, ScriptOptions};
use crate::config::values::GroupContext;
use crate::config::{DirConfig, ServerConfig};
use crate::process;
use crate::python::interp;
use crate::python::runtime;
use crate::wsgi::handler::{self, EnvironExtras, Outcome, Route};
use crate::wsgi::{dispatch, environ};

mod auth;
use std::ffi::{c_char, c_int, c_void};
use std::ptr::{addr_of, addr_of_mut, null, null_mut};

const HANDLER_NAME: &std::ffi::CStr = c"wsgi-script";

#[no_mangle]
pub static mut wsgi_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    name: c"mod_wsgi.c".as_ptr(),
    dynamic_load_handle: null_mut(),
    next: null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as _,
    rewrite_args: None,
    create_dir_config: Some(create_dir_config),
    merge_dir_config: Some(merge_dir_config),
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_server_config),
    cmds: addr_of!(COMMANDS) as *const ffi::command_rec,
    register_hooks: Some(register_hooks),
    flags: 0,
};

unsafe extern "C" fn create_dir_config(p: *mut ffi::apr_pool_t, _dir: *mut c_char) -> *mut c_void {
    // SAFETY: `p` is the configuration pool.
    unsafe { pool::attach(p, DirConfig::default()).cast() }
}

unsafe extern "C" fn merge_dir_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    child: *mut c_void,
) -> *mut c_void {
    // SAFETY: both are DirConfigs we created.
    let merged =
        unsafe { DirConfig::merge(&*(base as *const DirConfig), &*(child as *const DirConfig)) };
    // SAFETY: `p` outlives the merged config's users.
    unsafe { pool::attach(p, merged).cast() }
}

unsafe extern "C" fn create_server_config(
    p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    // SAFETY: `p` is the configuration pool.
    unsafe { pool::attach(p, ServerConfig::default()).cast() }
}

unsafe extern "C" fn merge_server_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    vhost: *mut c_void,
) -> *mut c_void {
    // SAFETY: both are ServerConfigs we created.
    let merged = unsafe {
        ServerConfig::merge(
            &*(base as *const ServerConfig),
            &*(vhost as *const ServerConfig),
        )
    };
    // SAFETY: as above.
    unsafe { pool::attach(p, merged).cast() }
}

unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    hook::guard(
        "post_config",
        ffi::HTTP_INTERNAL_SERVER_ERROR as c_int,
        || {
            log::install();
            log::set_main_server(s);
            // Apache reads its configuration twice at start-up; report once, on the
            // pass that goes on to serve.
            // SAFETY: userdata on the process pool, which lives for the whole run.
            let first_pass = unsafe {
                let key = c"mod_wsgi_init".as_ptr();
                let pool = (*(*s).process).pool;
                let mut data: *mut c_void = null_mut();
                ffi::apr_pool_userdata_get(&mut data, key, pool);
                if data.is_null() {
                    ffi::apr_pool_userdata_set(
                        std::ptr::dangling::<c_void>(),
                        key,
                        Some(ffi::apr_pool_cleanup_null),
                        pool,
                    );
                    true
                } else {
                    false
                }
            };
            if let Err(message) = runtime::check_runtime_version() {
                log::server_log(s, APLOG_EMERG, &message);
                return 500;
            }
            if first_pass {
                return 0;
            }
            // SAFETY: `pconf` lives as long as this configuration.
            unsafe {
                let component =
                    pool::strdup(pconf, &format!("mod_wsgi/{}", env!("CARGO_PKG_VERSION")));
                ffi::ap_add_version_component(pconf, component);
                let python =
                    pool::strdup(pconf, &format!("Python/{}", runtime::BUILD_PYTHON_VERSION));
                ffi::ap_add_version_component(pconf, python);
            }
            // Debug only: Apache's own start-up notice already names both versions.
            log::server_log(
                s,
                log::APLOG_DEBUG,
                &format!(
                    "mod_wsgi/{} Python/{} ({}) configured -- {}",
                    env!("CARGO_PKG_VERSION"),
                    runtime::BUILD_PYTHON_VERSION,
                    runtime::runtime_version(),
                    crate::apache::server_description()
                ),
            );
            // SAFETY: `s` is the main server of the configuration just read.
            for warning in unsafe { gil_configuration_warnings(s) } {
                log::server_log(s, APLOG_WARNING, &warning);
            }
            // SAFETY: plain query of httpd state.
            if unsafe { ffi::ap_exists_scoreboard_image() } != 0 {
                // SAFETY: the configuration just read; `pconf` is its pool.
                let status = unsafe { start_daemon_groups(s, pconf) };
                if status != 0 {
                    return status;
                }
            } else {
                // On a cold start the scoreboard is made after this hook; daemons
                // forked later can read it (`server_metrics()`), so wait for it.
                *DEFERRED_DAEMON_START.lock() = Some((s as usize, pconf as usize));
            }
            0
        },
    )
}

/// Server and configuration pool whose daemon groups start once the
/// scoreboard exists (addresses, as raw pointers are not `Send`).
static DEFERRED_DAEMON_START: parking_lot::Mutex<Option<(usize, usize)>> =
    parking_lot::Mutex::new(None);

/// Starts the `WSGIDaemonProcess` groups of the configuration of `s`.
///
/// # Safety
/// `s` is the main server of the current configuration, `pconf` its pool.
unsafe fn start_daemon_groups(s: *mut ffi::server_rec, pconf: *mut ffi::apr_pool_t) -> c_int {
    // SAFETY: per the contract.
    let (servers, main_config) = unsafe { (all_servers(s), server_config(s)) };
    // SAFETY: the server's process record outlives every configuration.
    let process_pool = unsafe { (*(*s).process).pool };
    match crate::daemon::supervisor::start_groups(&servers, main_config, pconf, process_pool) {
        Ok(()) => 0,
        Err(message) => {
            log::server_log(s, APLOG_EMERG, &format!("mod_wsgi: {message}"));
            500
        }
    }
}

/// After the scoreboard is created (cold starts only): the deferred
/// daemon groups.
unsafe extern "C" fn pre_mpm(_p: *mut ffi::apr_pool_t, _sb: ffi::ap_scoreboard_e) -> c_int {
    hook::guard("pre_mpm", ffi::HTTP_INTERNAL_SERVER_ERROR as c_int, || {
        let Some((s, pconf)) = DEFERRED_DAEMON_START.lock().take() else {
            return 0;
        };
        // SAFETY: recorded in post_config of this same configuration cycle.
        unsafe { start_daemon_groups(s as *mut ffi::server_rec, pconf as *mut ffi::apr_pool_t) }
    })
}

/// Warnings about GIL directives that can be given at configuration load.
///
/// # Safety
/// `s` is the main server; its `next` chain lists the virtual hosts.
unsafe fn gil_configuration_warnings(s: *mut ffi::server_rec) -> Vec<String> {
    // SAFETY: per the contract.
    let config = unsafe { server_config(s) };
    gil::configuration_warnings(
        &config.global.interpreter,
        &config.global.interpreter_options,
        runtime::CAPABILITIES,
    )
}

/// The process is about to stop: the telemetry record, and
/// `process_stopping` for each interpreter's subscribers. `reason` is
/// empty in embedded mode, where Apache does not say why.
fn announce_stopping(reason: &str) {
    // Prefork may get here from a signal handler that interrupted a
    // request thread, possibly inside the window lock: no last sample then.
    process::report_stopping(reason, interp::safe_to_use_at_exit().is_ok());
    crate::pymodule::events::publish_stopping(reason);
}

/// Pool cleanup on the child pool: destroys the interpreters as the
/// process exits.
unsafe extern "C" fn destroy_python(_data: *mut c_void) -> ffi::apr_status_t {
    hook::guard("destroy_python cleanup", 0, || {
        // The partial output lines are still logged after a failure here.
        let _ = hook::catch_panic("interpreter destruction", interp::destroy_all);
        crate::wsgi::streams::flush_unattached();
        0
    })
}

/// Pool cleanup on the child pool, run before `destroy_python`: tells
/// subscribers and the telemetry ingester that the process is stopping.
unsafe extern "C" fn announce_exit(_data: *mut c_void) -> ffi::apr_status_t {
    hook::guard("announce_exit cleanup", 0, || {
        announce_stopping("");
        process::announce_stopped("");
        0
    })
}

unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    hook::guard("child_init", (), || {
        log::set_main_server(s);
        // Only the Apache parent and the daemons may hold the daemon listeners:
        // a child keeping one open would keep a stale socket accepting
        // connections nobody serves.
        crate::daemon::supervisor::close_listeners();
        // SAFETY: `s` is the main server during child_init.
        let config = unsafe { server_config(s) };
        if !process::start_embedded(s, config, handler::preload) {
            return;
        }
        // SAFETY: registering cleanups on the child pool, destroyed when the
        // child exits after its request threads have stopped; they run in
        // reverse order, so the announcement comes before destruction.
        unsafe {
            if config.global.destroy_interpreter != Some(false) {
                ffi::apr_pool_cleanup_register(
                    pchild,
                    null(),
                    Some(destroy_python),
                    Some(ffi::apr_pool_cleanup_null),
                );
            }
            ffi::apr_pool_cleanup_register(
                pchild,
                null(),
                Some(announce_exit),
                Some(ffi::apr_pool_cleanup_null),
            );
        }
    })
}

unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    hook::guard("translate_name", ffi::DECLINED as c_int, || {
        // SAFETY: live request for this hook call.
        let req = unsafe { Request::from_raw(r) };
        // SAFETY: the request's (merged) server.
        let config = unsafe { server_config(req.server()) };
        if config.aliases.is_empty() {
            return ffi::DECLINED as c_int;
        }
        let uri = req.uri();
        for alias in &config.aliases {
            if let Some(filename) = alias.map_uri(&uri) {
                req.set_filename(&filename);
                req.set_handler(HANDLER_NAME);
                req.set_module_data(alias as *const ScriptAlias);
                return ffi::OK as c_int;
            }
        }
        ffi::DECLINED as c_int
    })
}

/// Handler names served by the `wsgi-script` behaviour (a script file).
fn is_script_handler(name: &str) -> bool {
    name == "wsgi-script" || name == "application/x-httpd-wsgi"
}

unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: live request for this hook call.
    let req = unsafe { Request::from_raw(r) };
    let handler_name = req.handler();
    if !is_script_handler(&handler_name) {
        // SAFETY: our merged per-directory config for this request.
        let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
        if !dir.handler_scripts.iter().any(|(n, _)| *n == handler_name) {
            return ffi::DECLINED as c_int;
        }
    }
    match hook::catch_panic("handler", || handle_request(req, &handler_name)) {
        Some(status) => status,
        None => {
            req.log(
                APLOG_ERR,
                "mod_wsgi: internal error while handling the request (please report)",
            );
            500
        }
    }
}

/// The script a request runs and the options that came with it.
struct Target<'c> {
    script: String,
    options: Option<&'c ScriptOptions>,
    /// Set for a `WSGIHandlerScript` handler.
    handler_script: Option<&'c str>,
}

/// Picks the script for a `wsgi-script` file or a named handler script;
/// `Err` is the HTTP status to answer with.
fn request_target<'c>(
    req: &Request,
    handler_name: &str,
    alias: Option<&'c ScriptAlias>,
    dir: &'c DirConfig,
) -> Result<Target<'c>, c_int> {
    if let Some((_, script)) = dir.handler_scripts.iter().find(|(n, _)| n == handler_name) {
        return Ok(Target {
            script: script.path.clone(),
            options: Some(&script.options),
            handler_script: Some(&script.path),
        });
    }
    if !req.file_exists() {
        req.log_script_error(
            0,
            "WSGI0135: Target WSGI script not found or unable to stat.",
        );
        return Err(404);
    }
    if !req.is_regular_file() {
        req.log_script_error(
            0,
            "WSGI0136: Attempt to invoke directory as WSGI application.",
        );
        return Err(403);
    }
    // A script reached by handler mapping rather than WSGIScriptAlias must
    // be in a directory where scripts may run, as for CGI.
    if alias.is_none() && !req.exec_cgi_allowed() {
        req.log_script_error(0, "WSGI0134: Options ExecCGI is off in this directory.");
        return Err(403);
    }
    Ok(Target {
        script: req.filename(),
        options: alias.map(|a| &a.options),
        handler_script: None,
    })
}

/// The CGI variables adjusted by the request-level directives.
fn request_environ(
    req: &Request,
    dir: &DirConfig,
    options: Option<&ScriptOptions>,
) -> environ::Adjusted {
    let pass_authorization = options
        .and_then(|o| o.pass_authorization)
        .or(dir.pass_authorization)
        .unwrap_or(false);
    let head_as_get = match dir.map_head_to_get.unwrap_or(MapHeadToGet::Auto) {
        MapHeadToGet::On => true,
        MapHeadToGet::Off => false,
        MapHeadToGet::Auto => req.header_only() && req.has_content_output_filter(),
    };
    let policy = environ::EnvironPolicy {
        https: req.is_https(),
        authorization: pass_authorization
            .then(|| req.header_in("Authorization"))
            .flatten(),
        head_as_get,
        trusted_proxies: dir.trusted_proxies.as_deref(),
        trusted_headers: dir.trusted_proxy_headers.as_deref().unwrap_or(&[]),
        listener: Some(req.listener()),
    };
    environ::adjust(req.cgi_environment(), &policy)
}

fn handle_request(req: Request, handler_name: &str) -> c_int {
    // SAFETY: set by translate_name to an alias in the server config,
    // which lives as long as the configuration.
    let alias = unsafe { req.module_data::<ScriptAlias>().as_ref() };
    // SAFETY: our merged per-directory config for this request.
    let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
    // SAFETY: the request's server.
    let config = unsafe { server_config(req.server()) };
    let target = match request_target(&req, handler_name, alias, dir) {
        Ok(target) => target,
        Err(status) => return status,
    };
    if req.path_info_refused() {
        req.log_script_error(0, "WSGI0137: AcceptPathInfo off disallows user's path.");
        return ffi::HTTP_NOT_FOUND as c_int;
    }
    // Embedded requests and dispatch scripts need Python in this process.
    let python_unavailable = || {
        process::python_failure().inspect(|_| {
            req.log_script_error(
                0,
                "WSGI0210: Embedded mode of mod_wsgi cannot be used as Python was not initialised in this process.",
            );
        })
    };
    let options = target.options;
    let selection = routing::Selection::new(options, dir, target.handler_script.is_some());
    // Expanded before Apache adds the CGI variables, the application group
    // and callable after, as they always were.
    let process_group = selection.process_group().expand(&req);
    let chunked_allowed = dir.chunked_request.unwrap_or(false);
    let chunked = req
        .header_in("Transfer-Encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    if chunked && !chunked_allowed {
        // Refused by us, with the C module's line, before Apache's body
        // setup would refuse it with its own.
        req.log_script_error(
            0,
            "WSGI0139: Request requires chunked transfer encoding, but support for chunked transfer encoding has not been enabled.",
        );
        return ffi::HTTP_LENGTH_REQUIRED as c_int;
    }
    if let Err(status) = req.setup_body(chunked_allowed) {
        return status;
    }
    let adjusted = request_environ(&req, dir, options);
    let mut placement = routing::Placement {
        process_group,
        application_group: selection.application_group().expand(&req),
        callable: selection.callable(&|name| req.env(name)),
    };
    let mut route = Route {
        script: target.script,
        callable: placement.callable.clone(),
        reload_on_change: dir.script_reloading.unwrap_or(true),
        sendfile: dir.enable_sendfile.unwrap_or(false),
        case_insensitive: config.global.case_sensitivity == Some(false),
        resource: target.handler_script.map(|_| req.filename()),
        restart_process_on_change: false,
    };
    let process = process::process_info();
    let _active = interp::ActiveRequest::begin();
    let env = |name: &str| req.env(name);
    // An interpreter that cannot be had is logged with the C module's
    // `code` and line, which `purpose` completes ("for dispatch hook"); our
    // reason follows at debug level.
    let interpreter_or_log = |group: &str, code: &str, purpose: &str| {
        process::interpreter_for(config, group, &env)
            .inspect_err(|message| {
                let name = match group {
                    "" => "main interpreter".to_string(),
                    named => format!("sub-interpreter '{named}'"),
                };
                req.log_script_error(0, &format!("{code}: Unable to acquire {name} {purpose}."));
                req.log(log::APLOG_DEBUG, &format!("mod_wsgi: {message}"));
            })
            .ok()
    };
    let mut extras = EnvironExtras {
        cgi: adjusted.vars,
        url_scheme: adjusted.url_scheme,
        process_group: placement.process_group.clone(),
        application_group: placement.application_group.clone(),
        multithread: process.multithread,
        multiprocess: process.multiprocess,
        apache_version: process.apache_version,
        request_handler: handler_name.to_string(),
        handler_script: target.handler_script.unwrap_or("").to_string(),
        request_id: req.log_id(),
        connection_id: req.connection_log_id(),
        request_start: req.request_time(),
        queue_start: 0.0,
        daemon_start: 0.0,
        server_pid: std::process::id(),
        daemon_connects: 0,
        daemon_restarts: 0,
        apache_request: dir
            .pass_apache_request
            .unwrap_or(false)
            .then(|| req.raw().cast()),
    };
    if let Some(script) = &dir.dispatch_script {
        if python_unavailable().is_some() {
            return 500;
        }
        // The dispatch script runs in its own application-group= if given,
        // else in the main interpreter, as the C module runs it.
        let group = script
            .options
            .application_group
            .as_ref()
            .map(|g| g.expand(&req))
            .unwrap_or_default();
        let Some(interpreter) = interpreter_or_log(&group, "WSGI0086", "for dispatch hook") else {
            return 500;
        };
        let dispatch_route = Route {
            script: script.path.clone(),
            callable: String::new(),
            resource: None,
            sendfile: false,
            ..route.clone()
        };
        let Ok(overrides) = dispatch::run(
            &interpreter,
            &req,
            &req.filename(),
            &dispatch_route,
            &extras,
            &route,
        ) else {
            return 500;
        };
        routing::apply_dispatch(&mut placement, &overrides, &req);
        extras.process_group = placement.process_group.clone();
        extras.application_group = placement.application_group.clone();
        route.callable = placement.callable.clone();
    }
    let policy = routing::Policy {
        allowed_processes: dir.restrict_process.as_deref(),
        embedded_disabled: config.global.restrict_embedded == Some(true),
    };
    match routing::transport(&placement, policy) {
        Err(routing::Refusal::ProcessNotAllowed) => {
            req.log_script_error(
                0,
                &format!(
                    "WSGI0149: Daemon process called '{}' cannot be accessed by this WSGI application as not a member of allowed groups.",
                    extras.process_group
                ),
            );
            return 500;
        }
        Err(routing::Refusal::EmbeddedDisabled) => {
            req.log(
                APLOG_ERR,
                &format!(
                    "[script {}] WSGI0143: Embedded mode of mod_wsgi disabled by runtime configuration.",
                    route.script
                ),
            );
            return 500;
        }
        Ok(routing::Transport::Daemon) => {
            let head = crate::daemon::handoff::request_head(
                &route,
                &extras,
                dir.ignore_activity.unwrap_or(false),
            );
            let options = crate::daemon::relay::RelayOptions {
                error_override: dir.error_override.unwrap_or(false),
            };
            return crate::daemon::relay::relay(req, &extras.process_group, head, options);
        }
        Ok(routing::Transport::Embedded) => {}
    }
    if python_unavailable().is_some() {
        return 500;
    }
    let purpose = format!(
        "for WSGI request handler in {}",
        gil::describe_process(&extras.process_group)
    );
    let Some(interpreter) = interpreter_or_log(&extras.application_group, "WSGI0087", &purpose)
    else {
        return 500;
    };
    let outcome = handler::run(&interpreter, &req, &route, &extras);
    if req.log_enabled(log::APLOG_DEBUG) {
        req.log(
            log::APLOG_DEBUG,
            &format!(
                "mod_wsgi: request in {} waited {:.3}ms for the GIL",
                gil::describe_interpreter(&extras.process_group, &extras.application_group),
                interp::gil_wait().as_secs_f64() * 1000.0
            ),
        );
    }
    match outcome {
        Outcome::Done => ffi::OK as c_int,
        Outcome::Fail(status) => status,
        // Only daemons restart for a changed script (embedded mode
        // reloads it in place), so this is not reached.
        Outcome::Restart => 503,
    }
}

unsafe extern "C" fn register_hooks(p: *mut ffi::apr_pool_t) {
    hook::guard("register_hooks", (), || {
        /// A NULL-terminated list of module names for hook ordering.
        struct ModuleList([*const c_char; 2]);
        // SAFETY: points only at static strings.
        unsafe impl Sync for ModuleList {}
        static AFTER_ALIAS: ModuleList = ModuleList([c"mod_alias.c".as_ptr(), null()]);
        // SAFETY: registering hooks during module load; arrays are static.
        unsafe {
            ffi::ap_hook_post_config(
                Some(post_config),
                null(),
                null(),
                ffi::APR_HOOK_MIDDLE as c_int,
            );
            // After the core's hook, which creates the scoreboard.
            ffi::ap_hook_pre_mpm(Some(pre_mpm), null(), null(), ffi::APR_HOOK_LAST as c_int);
            ffi::ap_hook_child_init(
                Some(child_init),
                null(),
                null(),
                ffi::APR_HOOK_MIDDLE as c_int,
            );
            ffi::ap_hook_translate_name(
                Some(translate_name),
                AFTER_ALIAS.0.as_ptr(),
                null(),
                ffi::APR_HOOK_MIDDLE as c_int,
            );
            ffi::ap_hook_handler(Some(handler), null(), null(), ffi::APR_HOOK_MIDDLE as c_int);
            auth::register(p);
        }
        let _ = addr_of_mut!(wsgi_module);
    })
}
