//! Serving one request in the Apache child: the script and environ the
//! request-level directives give, its placement (`config::routing`), then
//! its transport: relayed to a daemon, or run here (embedded mode).

use crate::apache::ffi;
use crate::apache::log::{self, APLOG_ERR};
use crate::apache::request::Request;
use crate::apache::servers::server_config;
use crate::config::dir::MapHeadToGet;
use crate::config::gil;
use crate::config::routing;
use crate::config::server::{ScriptAlias, ScriptOptions};
use crate::config::values::GroupContext;
use crate::config::DirConfig;
use crate::process;
use crate::python::interp;
use crate::wsgi::handler::{self, EnvironExtras, Outcome, Route};
use crate::wsgi::{dispatch, environ};
use std::ffi::c_int;

/// Handler names served by the `wsgi-script` behaviour (a script file).
pub(super) fn is_script_handler(name: &str) -> bool {
    name == "wsgi-script" || name == "application/x-httpd-wsgi"
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
fn request_environ<'r>(
    req: &Request<'r>,
    dir: &DirConfig,
    options: Option<&ScriptOptions>,
) -> environ::Adjusted<'r> {
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

pub(super) fn handle_request(req: Request, handler_name: &str) -> c_int {
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
            let group = std::mem::take(&mut extras.process_group);
            let head = crate::daemon::handoff::request_head(
                &route,
                extras,
                dir.ignore_activity.unwrap_or(false),
            );
            let options = crate::daemon::relay::RelayOptions {
                error_override: dir.error_override.unwrap_or(false),
            };
            return crate::daemon::relay::relay(req, &group, head, options);
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
