//! The Apache module record (`wsgi_module`) and its hook entry points.

use crate::apache::commands::{module_config, reset_used, used_but_not_implemented, COMMANDS};
use crate::apache::log::{self, APLOG_EMERG, APLOG_ERR, APLOG_NOTICE, APLOG_WARNING};
use crate::apache::request::Request;
use crate::apache::{ffi, mpm_query, pool};
use crate::config::interp_options;
use crate::config::server::{HashSeed, ScriptAlias};
use crate::config::values::GroupSpec;
use crate::config::{DirConfig, ServerConfig};
use crate::python::interp::{self, InterpreterSetup};
use crate::python::runtime::{self, InitSettings};
use crate::wsgi::handler::{self, EnvironExtras, Outcome, Route};
use once_cell::sync::OnceCell;
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

/// Facts about this process fixed when it starts serving.
struct ProcessInfo {
    multithread: bool,
    multiprocess: bool,
    apache_version: [i64; 3],
}

static PROCESS: OnceCell<ProcessInfo> = OnceCell::new();
/// Why Python could not be started in this child, reported per request.
static PYTHON_FAILURE: OnceCell<String> = OnceCell::new();

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

/// # Safety
/// `s` is a live server_rec.
unsafe fn server_config<'a>(s: *const ffi::server_rec) -> &'a ServerConfig {
    // SAFETY: every server has our config slot, created by Apache.
    unsafe { &*module_config::<ServerConfig>((*s).module_config) }
}

fn apache_version() -> [i64; 3] {
    let desc = crate::apache::server_description();
    let mut numbers = desc
        .split('/')
        .nth(1)
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok());
    [
        numbers.next().unwrap_or(2),
        numbers.next().unwrap_or(4),
        numbers.next().unwrap_or(0),
    ]
}

unsafe extern "C" fn pre_config(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
) -> c_int {
    reset_used();
    0
}

unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
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
        let component = pool::strdup(pconf, &format!("mod_wsgi/{}", env!("CARGO_PKG_VERSION")));
        ffi::ap_add_version_component(pconf, component);
        let python = pool::strdup(pconf, &format!("Python/{}", runtime::BUILD_PYTHON_VERSION));
        ffi::ap_add_version_component(pconf, python);
    }
    log::server_log(
        s,
        APLOG_NOTICE,
        &format!(
            "mod_wsgi/{} Python/{} ({}) configured -- {}",
            env!("CARGO_PKG_VERSION"),
            runtime::BUILD_PYTHON_VERSION,
            runtime::runtime_version(),
            crate::apache::server_description()
        ),
    );
    let pending = used_but_not_implemented();
    if !pending.is_empty() {
        log::server_log(
            s,
            APLOG_WARNING,
            &format!(
                "mod_wsgi: these directives are accepted but not implemented yet and have no effect: {}",
                pending.join(", ")
            ),
        );
    }
    0
}

fn init_settings(config: &ServerConfig) -> InitSettings {
    let g = &config.global;
    InitSettings {
        home: g.python_home.clone(),
        optimize: g.python_optimize.unwrap_or(0),
        hash_seed: match g.python_hash_seed {
            Some(HashSeed::Fixed(seed)) => Some(seed),
            _ => None,
        },
        dont_write_bytecode: g.dont_write_bytecode.unwrap_or(false),
        warnings: g.python_warnings.clone(),
        eggs: g.python_eggs.clone(),
    }
}

fn interpreter_setup(config: &ServerConfig, application_group: &str) -> InterpreterSetup {
    let resolved = interp_options::resolve(
        &config.global.interpreter,
        &config.global.interpreter_options,
        "",
        application_group,
    );
    InterpreterSetup {
        process_group: String::new(),
        python_path_layers: resolved.python_path_layers,
    }
}

unsafe extern "C" fn child_init(_p: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    log::set_main_server(s);
    let threaded =
        mpm_query(ffi::AP_MPMQ_IS_THREADED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED as i32);
    let forked =
        mpm_query(ffi::AP_MPMQ_IS_FORKED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED as i32);
    let max_daemons = mpm_query(ffi::AP_MPMQ_MAX_DAEMONS).unwrap_or(1);
    let _ = PROCESS.set(ProcessInfo {
        multithread: threaded,
        multiprocess: forked && max_daemons != 1,
        apache_version: apache_version(),
    });
    // SAFETY: `s` is the main server during child_init.
    let config = unsafe { server_config(s) };
    let result = runtime::initialize(&init_settings(config))
        .and_then(|main_tstate| interp::register_main(main_tstate, &interpreter_setup(config, "")));
    if let Err(message) = result {
        log::server_log(
            s,
            APLOG_ERR,
            &format!("mod_wsgi: cannot start Python in this process: {message}"),
        );
        let _ = PYTHON_FAILURE.set(message);
    } else {
        tracing::debug!(
            "Python {} initialised in process {}",
            runtime::runtime_version(),
            std::process::id()
        );
    }
}

unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
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
}

/// Expands an application group spec for this request.
fn application_group_name(spec: &GroupSpec, req: &Request) -> String {
    let port = req.server_port();
    let host = match port {
        80 | 443 => req.hostname(),
        _ => format!("{}:{port}", req.hostname()),
    };
    match spec {
        GroupSpec::Global => String::new(),
        GroupSpec::Named(name) => name.clone(),
        GroupSpec::Server => host,
        GroupSpec::Env(var) => req.env_var(var).unwrap_or_default(),
        GroupSpec::Resource => {
            let uri = req.uri();
            let path_info = req.env_var("PATH_INFO").unwrap_or_default();
            let script_name = uri.strip_suffix(path_info.as_str()).unwrap_or(&uri);
            format!("{host}|{script_name}")
        }
    }
}

unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: live request for this hook call.
    let req = unsafe { Request::from_raw(r) };
    let handler_name = req.handler();
    if handler_name != "wsgi-script" && handler_name != "application/x-httpd-wsgi" {
        return ffi::DECLINED as c_int;
    }
    match std::panic::catch_unwind(|| handle_request(req)) {
        Ok(status) => status,
        Err(_) => {
            req.log(
                APLOG_ERR,
                "mod_wsgi: internal error while handling the request (please report)",
            );
            500
        }
    }
}

fn handle_request(req: Request) -> c_int {
    if !req.file_exists() {
        req.log(
            APLOG_ERR,
            &format!(
                "Target WSGI script not found or unable to stat: {}",
                req.filename()
            ),
        );
        return 404;
    }
    if !req.is_regular_file() {
        return 403;
    }
    if let Some(reason) = PYTHON_FAILURE.get() {
        req.log(
            APLOG_ERR,
            &format!("mod_wsgi: Python is not available in this process: {reason}"),
        );
        return 500;
    }
    // SAFETY: set by translate_name to an alias in the server config,
    // which lives as long as the configuration.
    let alias = unsafe { req.module_data::<ScriptAlias>().as_ref() };
    // SAFETY: our merged per-directory config for this request.
    let dir = unsafe { &*req.per_dir_config::<DirConfig>() };
    // SAFETY: the request's server.
    let config = unsafe { server_config(req.server()) };

    let process_spec = alias
        .and_then(|a| a.options.process_group.clone())
        .or_else(|| dir.process_group.clone())
        .unwrap_or(GroupSpec::Global);
    let process_group = application_group_name(&process_spec, &req);
    if !process_group.is_empty() {
        req.log(
            APLOG_ERR,
            &format!("mod_wsgi: daemon process group '{process_group}' requested, but daemon mode is not implemented yet"),
        );
        return 500;
    }
    if let Err(status) = req.setup_body(dir.chunked_request.unwrap_or(false)) {
        return status;
    }
    let cgi = req.cgi_environment();
    let group_spec = alias
        .and_then(|a| a.options.application_group.clone())
        .or_else(|| dir.application_group.clone())
        .unwrap_or(GroupSpec::Resource);
    let application_group = application_group_name(&group_spec, &req);
    let route = Route {
        script: req.filename(),
        callable: alias
            .and_then(|a| a.options.callable_object.clone())
            .or_else(|| dir.callable_object.clone())
            .unwrap_or_else(|| "application".into()),
        reload_on_change: dir.script_reloading.unwrap_or(true),
    };
    let process = PROCESS.get().expect("set in child_init");
    let interpreter = match interp::get_or_create(&application_group, || {
        interpreter_setup(config, &application_group)
    }) {
        Ok(i) => i,
        Err(message) => {
            req.log(APLOG_ERR, &format!("mod_wsgi: {message}"));
            return 500;
        }
    };
    let extras = EnvironExtras {
        cgi,
        process_group,
        application_group,
        multithread: process.multithread,
        multiprocess: process.multiprocess,
        apache_version: process.apache_version,
    };
    match handler::run(&interpreter, &req, &route, &extras) {
        Outcome::Done => ffi::OK as c_int,
        Outcome::Fail(status) => status,
    }
}

unsafe extern "C" fn register_hooks(_p: *mut ffi::apr_pool_t) {
    /// A NULL-terminated list of module names for hook ordering.
    struct ModuleList([*const c_char; 2]);
    // SAFETY: points only at static strings.
    unsafe impl Sync for ModuleList {}
    static AFTER_ALIAS: ModuleList = ModuleList([c"mod_alias.c".as_ptr(), null()]);
    // SAFETY: registering hooks during module load; arrays are static.
    unsafe {
        ffi::ap_hook_pre_config(
            Some(pre_config),
            null(),
            null(),
            ffi::APR_HOOK_MIDDLE as c_int,
        );
        ffi::ap_hook_post_config(
            Some(post_config),
            null(),
            null(),
            ffi::APR_HOOK_MIDDLE as c_int,
        );
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
    }
    let _ = addr_of_mut!(wsgi_module);
}
