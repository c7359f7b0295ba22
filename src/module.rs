//! The Apache module record (`wsgi_module`) and its hook entry points.

use crate::apache::commands::COMMANDS;
use crate::apache::log::{self, APLOG_EMERG, APLOG_ERR, APLOG_WARNING};
use crate::apache::request::HookRequest;
use crate::apache::servers::{all_servers, server_config};
use crate::apache::{ffi, hook, pool};
use crate::config::gil;
use crate::config::server::ScriptAlias;
use crate::config::{DirConfig, ServerConfig};
use crate::process;
use crate::python::interp;
use crate::python::runtime;

mod auth;
mod metrics_page;
mod request;
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
            // SAFETY: a mark on the process pool, which lives for the whole run.
            let first_pass = unsafe { pool::mark_first((*(*s).process).pool, c"mod_wsgi_init") };
            if let Err(message) = runtime::check_runtime_version() {
                log::server_log(s, APLOG_EMERG, &message);
                return 500;
            }
            if first_pass {
                return 0;
            }
            // SAFETY: the server's process record outlives every configuration.
            process::open_metrics_board(unsafe { (*(*s).process).pool });
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
        if !process::start_embedded(s, config, crate::pymodule::LENT_TO_PROCESS) {
            return;
        }
        // SAFETY: registering cleanups on the child pool, destroyed when the
        // child exits after its request threads have stopped; they run in
        // reverse order, so the announcement comes before destruction.
        unsafe {
            if config.global.destroy_interpreter != Some(false) {
                pool::on_clear(pchild, destroy_python);
            }
            pool::on_clear(pchild, announce_exit);
        }
    })
}

unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    hook::guard("translate_name", ffi::DECLINED as c_int, || {
        // SAFETY: live request for this hook call.
        unsafe { HookRequest::new(r) }.scope(|req| {
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
    })
}

unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: live request for this hook call.
    unsafe { HookRequest::new(r) }.scope(|req| {
        let handler_name = req.handler();
        if handler_name == metrics_page::HANDLER {
            return hook::catch_panic("wsgi-metrics handler", || metrics_page::serve(req))
                .unwrap_or(500);
        }
        if !request::is_script_handler(&handler_name) {
            // SAFETY: our merged per-directory config for this request.
            let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
            if !dir.handler_scripts.iter().any(|(n, _)| *n == handler_name) {
                return ffi::DECLINED as c_int;
            }
        }
        match hook::catch_panic("handler", || request::handle_request(req, &handler_name)) {
            Some(status) => status,
            None => {
                req.log(
                    APLOG_ERR,
                    "mod_wsgi: internal error while handling the request (please report)",
                );
                500
            }
        }
    })
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
