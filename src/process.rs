//! Process-wide state and the start and stop of Python in a serving
//! process (an Apache child or a daemon): what the process is (`PROCESS`,
//! its role), why Python is missing when it is, Python and telemetry
//! start-up, the telemetry stop records and script preload. Below the
//! WSGI adapter, daemon mode and the `mod_wsgi` module, which all ask it
//! about the process.

use crate::apache::log::{self, APLOG_ERR, APLOG_WARNING};
use crate::apache::servers::{all_server_configs, server_config};
use crate::apache::{ffi, mpm_query};
use crate::config::daemon::DaemonProcessSpec;
use crate::config::gil;
use crate::config::interp_options;
use crate::config::routing;
use crate::config::server::HashSeed;
use crate::config::values::{GroupContext, GroupSpec};
use crate::config::ServerConfig;
use crate::python::interp::{self, Interpreter, InterpreterSetup};
use crate::python::runtime::{self, InitSettings};
use crate::telemetry::reporter::GcSource;
use once_cell::sync::OnceCell;
use std::ptr::null;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Facts about this process fixed when it starts serving.
pub(crate) struct ProcessInfo {
    pub multithread: bool,
    pub multiprocess: bool,
    pub apache_version: [i64; 3],
    /// Python runs without the GIL in this process.
    pub free_threading: bool,
    /// `mod_wsgi.maximum_processes` / `threads_per_process`: the group's
    /// `processes=`/`threads=`, or the MPM's limits in embedded mode.
    pub maximum_processes: i64,
    pub threads_per_process: i64,
    /// `mod_wsgi.server_metrics()` may read the scoreboard here:
    /// `WSGIServerMetrics` in embedded mode, `server-metrics=` in a daemon.
    pub server_metrics: bool,
    pub server: ServerFacts,
}

/// What the `apache` module and telemetry say about the server.
pub(crate) struct ServerFacts {
    pub description: String,
    pub mpm_name: String,
    pub build_date: String,
}

impl ServerFacts {
    fn read() -> Self {
        ServerFacts {
            description: crate::apache::server_description(),
            mpm_name: crate::apache::mpm_name(),
            build_date: crate::apache::build_date(),
        }
    }
}

static PROCESS: OnceCell<ProcessInfo> = OnceCell::new();
/// This process's facts; set before any request is served.
pub(crate) fn process_info() -> &'static ProcessInfo {
    PROCESS.get().expect("set in child_init or at daemon start")
}

/// This process's facts, if it has started serving.
pub(crate) fn process_info_if_set() -> Option<&'static ProcessInfo> {
    PROCESS.get()
}

/// Why Python could not be started in this child, reported per request.
static PYTHON_FAILURE: OnceCell<String> = OnceCell::new();

/// Why Python is not available in this process, if it is not.
pub(crate) fn python_failure() -> Option<&'static String> {
    PYTHON_FAILURE.get()
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

/// Where Python runs in this process: an Apache child (embedded mode, the
/// empty group) or a daemon process of a `WSGIDaemonProcess` group.
#[derive(Clone, Copy)]
pub(crate) struct ProcessRole<'c> {
    pub group: &'c str,
    pub daemon: Option<&'c DaemonProcessSpec>,
}

impl ProcessRole<'_> {
    pub const EMBEDDED: ProcessRole<'static> = ProcessRole {
        group: "",
        daemon: None,
    };
}

fn init_settings(config: &ServerConfig, role: ProcessRole<'_>) -> InitSettings {
    let g = &config.global;
    let path_text = |p: &std::path::PathBuf| p.display().to_string();
    InitSettings {
        home: role
            .daemon
            .and_then(|d| d.python_home.as_ref().map(path_text))
            .or_else(|| g.python_home.clone()),
        optimize: g.python_optimize.unwrap_or(0),
        hash_seed: match g.python_hash_seed {
            Some(HashSeed::Fixed(seed)) => Some(seed),
            _ => None,
        },
        dont_write_bytecode: g.dont_write_bytecode.unwrap_or(false),
        warnings: g.python_warnings.clone(),
        eggs: role
            .daemon
            .and_then(|d| d.python_eggs.as_ref().map(path_text))
            .or_else(|| g.python_eggs.clone()),
        free_threading: false,
        gil_forced_off: false,
        builtin_modules: &[],
    }
}

/// Looks up `%{ENV:VAR}` selectors when no request is at hand.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn interpreter_setup(
    config: &ServerConfig,
    role: ProcessRole<'_>,
    application_group: &str,
    env: &dyn Fn(&str) -> Option<String>,
    free_threading: bool,
) -> InterpreterSetup {
    let g = &config.global;
    let mut resolved = interp_options::resolve(
        &g.interpreter,
        &g.interpreter_options,
        role.group,
        application_group,
        env,
    );
    if let Some(daemon) = role.daemon {
        // In a daemon the group's python-path= takes the place of the
        // top-level WSGIPythonPath, which is for embedded mode only (as in
        // C); container layers still follow.
        if !g.interpreter.python_path.is_empty() {
            resolved.python_path_layers.remove(0);
        }
        let paths: Vec<String> = daemon
            .python_path
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if !paths.is_empty() {
            resolved.python_path_layers.insert(0, paths);
        }
    }
    let process = gil::ProcessPlan {
        free_threading,
        ..process_plan(config, role)
    };
    let caps = runtime::CAPABILITIES;
    let plan = gil::plan_interpreter(&resolved, role.group, application_group, caps, &process);
    let shared_gil_fallback =
        gil::plan_own_gil_fallback(&resolved, role.group, application_group, caps, &process);
    InterpreterSetup {
        process_group: role.group.to_string(),
        application_group: application_group.to_string(),
        restrictions: crate::config::interp_options::Restrictions {
            stdin: resolved.restrict_stdin,
            stdout: resolved.restrict_stdout,
            // A service script owns its process, signals included.
            signal: resolved.restrict_signal
                && !role.daemon.is_some_and(DaemonProcessSpec::is_managed_mode),
        },
        python_path_layers: resolved.python_path_layers,
        plan,
        shared_gil_fallback,
    }
}

/// The role this process plays, fixed when Python starts in it.
static ROLE: OnceCell<(String, Option<DaemonProcessSpec>)> = OnceCell::new();

fn current_role() -> ProcessRole<'static> {
    match ROLE.get() {
        Some((group, daemon)) => ProcessRole {
            group,
            daemon: daemon.as_ref(),
        },
        None => ProcessRole::EMBEDDED,
    }
}

/// Whether this process is a daemon of a `WSGIDaemonProcess` group.
pub(crate) fn in_daemon_process() -> bool {
    current_role().daemon.is_some()
}

/// The interpreter for `application_group` in this process, created with
/// its configured GIL mode on first use: the group's own, or the least
/// busy member of its `WSGIInterpreterPool`.
pub(crate) fn interpreter_for(
    config: &ServerConfig,
    application_group: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::sync::Arc<interp::Interpreter>, String> {
    static TURN: AtomicUsize = AtomicUsize::new(0);
    interp::get_or_create_for_request(
        application_group,
        || pool_member_names(config, application_group, env),
        |in_flight| {
            let turn = TURN.fetch_add(1, Ordering::Relaxed);
            routing::least_busy_member(in_flight, turn)
        },
        || setup_in_this_process(config, application_group, env),
    )
}

/// The interpreter registered as `name` (the group itself or one of its
/// pool members) serving `application_group`.
fn interpreter_named(
    config: &ServerConfig,
    name: &str,
    application_group: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::sync::Arc<interp::Interpreter>, String> {
    interp::get_or_create(name, || {
        setup_in_this_process(config, application_group, env)
    })
}

/// The set-up of an interpreter serving `application_group` in this
/// process, for its role.
fn setup_in_this_process(
    config: &ServerConfig,
    application_group: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> InterpreterSetup {
    interpreter_setup(
        config,
        current_role(),
        application_group,
        env,
        free_threading_in_this_process(),
    )
}

/// Whether this process runs Python without its GIL.
fn free_threading_in_this_process() -> bool {
    PROCESS.get().is_some_and(|p| p.free_threading)
}

/// The registry names of `application_group`'s pool members in this
/// process; empty when the group is not pooled. The registry asks once
/// per group: the settings cannot change while the process lives.
fn pool_member_names(
    config: &ServerConfig,
    application_group: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let g = &config.global;
    let resolved = interp_options::resolve(
        &g.interpreter,
        &g.interpreter_options,
        current_role().group,
        application_group,
        env,
    );
    let members = gil::pool_members(
        &resolved,
        application_group,
        runtime::CAPABILITIES,
        free_threading_in_this_process(),
    );
    if members > 1 {
        (0..members)
            .map(|k| gil::pool_member_name(application_group, k))
            .collect()
    } else {
        Vec::new()
    }
}

/// The process plan (free-threading and the process-wide switch interval)
/// for a role; a daemon's `switch-interval=` overrides the directives.
fn process_plan(config: &ServerConfig, role: ProcessRole<'_>) -> gil::ProcessPlan {
    let g = &config.global;
    let mut settings =
        interp_options::resolve_process(&g.interpreter, &g.interpreter_options, role.group);
    if let Some(interval) = role.daemon.and_then(|d| d.switch_interval) {
        settings.switch_interval = Some(interval);
    }
    gil::plan_process(&settings, role.group, runtime::CAPABILITIES)
}

/// Warns, as the C module does before starting Python, when the Python
/// home is missing, not a directory or not accessible; Python will then
/// most likely fail to start (WSGI0036).
fn warn_unusable_python_home(home: &str, mode: &str) {
    const LIKELY: &str = "Python interpreter may not initialise correctly.";
    let warn = |errno: i32, message: String| {
        log::server_log_with_status(null(), APLOG_WARNING, errno, &message);
    };
    match std::fs::metadata(home) {
        Err(e) => warn(
            e.raw_os_error().unwrap_or(0),
            format!("WSGI0100: Unable to stat Python home '{home}' for {mode}; {LIKELY} Verify the path and the access permissions on every component of it."),
        ),
        Ok(meta) if !meta.is_dir() => warn(
            0,
            format!("WSGI0101: Python home '{home}' for {mode} is not a directory; {LIKELY} Verify the supplied path."),
        ),
        // Opening it for listing needs read permission.
        Ok(_) => {
            if let Err(e) = std::fs::read_dir(home) {
                warn(
                    e.raw_os_error().unwrap_or(0),
                    format!("WSGI0102: Python home '{home}' for {mode} is not accessible; {LIKELY} Verify the access permissions on the directory."),
                );
            }
        }
    }
}

/// Starts Python in this process with its GIL mode and switch interval.
fn start_python(
    config: &ServerConfig,
    role: ProcessRole<'_>,
    process: &gil::ProcessPlan,
    lent: Lent,
) -> Result<(), String> {
    let _ = ROLE.set((role.group.to_string(), role.daemon.cloned()));
    let mode = gil::describe_process(role.group);
    for warning in &process.warnings {
        tracing::warn!("{warning}");
    }
    let mut settings = init_settings(config, role);
    settings.builtin_modules = lent.builtin_modules;
    interp::lend_attach(lent.attach);
    settings.free_threading = process.free_threading;
    settings.gil_forced_off = process.gil_forced_off;
    if let Some(home) = &settings.home {
        tracing::info!("Python home set to '{home}' for {mode}.");
        warn_unusable_python_home(home, &mode);
    }
    let free_threading_note = match (process.free_threading, process.gil_forced_off) {
        (true, false) => " with free-threading enabled",
        (true, true) => " with free-threading enabled (GIL forced off)",
        (false, _) => "",
    };
    tracing::info!("Initializing Python runtime in {mode}{free_threading_note}.");
    let main_tstate = runtime::initialize(&settings).inspect_err(|message| {
        log::server_log(
            null(),
            log::APLOG_CRIT,
            &format!("WSGI0036: Python interpreter configuration failed in {mode}: {message}"),
        );
    })?;
    let main = interp::register_main(
        main_tstate,
        &interpreter_setup(config, role, "", &process_env, process.free_threading),
    )?;
    if let Some(interval) = process.switch_interval {
        let gil = main.enter();
        let set = interp::set_switch_interval(gil.python(), interval);
        drop(gil);
        set.ok_or("cannot set the switch interval")?;
        tracing::info!(
            "mod_wsgi: Python GIL switch interval set to {} in {mode}.",
            gil::seconds(interval)
        );
    }
    // With a deadlock timer, a stuck GIL gets every thread's stack logged.
    if role.daemon.is_some_and(|d| d.deadlock_timeout.is_some()) {
        let gil = main.enter();
        let armed = interp::dump_stacks_on_signal(crate::sys::signals::stack_dump_signal(), &gil);
        drop(gil);
        if let Err(e) = armed {
            tracing::warn!("mod_wsgi: the deadlock timer cannot log thread stacks in {mode}: {e}");
        }
    }
    // Service scripts (threads=0) serve no requests: nothing to account.
    if !role.daemon.is_some_and(DaemonProcessSpec::is_managed_mode) {
        start_reporting(config, role.group, process.switch_interval, lent.gc);
    }
    Ok(())
}

/// Sets up request accounting for this process and, under
/// `WSGITelemetryService`, the telemetry reporter.
fn start_reporting(
    config: &ServerConfig,
    process_group: &str,
    switch_interval: Option<std::time::Duration>,
    gc: GcSource,
) {
    let threads = process_info().threads_per_process.max(1) as usize;
    let service = config.global.telemetry_service.as_ref();
    let now = crate::metrics::now_seconds();
    crate::metrics::init_process(threads, now, service.is_some());
    let free_threading = process_info().free_threading;
    if crate::metrics::claim_record(process_group, threads, now, !free_threading) {
        // The main interpreter came first, before there was a record.
        crate::metrics::note_interpreter(if free_threading {
            gil::GilKind::FreeThreaded
        } else {
            gil::GilKind::Shared
        });
        interp::on_interpreter_created(crate::metrics::note_interpreter);
    }
    let Some(service) = service else {
        return;
    };
    let server = &process_info().server;
    let identity = crate::telemetry::Identity {
        pid: std::process::id(),
        mod_wsgi_version: env!("CARGO_PKG_VERSION").to_string(),
        python_version: runtime::runtime_version(),
        // "Apache/2.4.x", without the modules the description lists.
        apache_version: server
            .description
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
        mpm_name: server.mpm_name.clone(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        process_group: process_group.to_string(),
        parent_pid: crate::sys::process::parent_pid(),
    };
    let settings = crate::telemetry::Settings {
        interval: service.interval.as_secs_f64(),
        slow_threshold: config.global.slow_requests.map(|d| d.as_secs_f64()),
        // Python's own default applies when none is configured.
        switch_interval: switch_interval.map_or(0.005, |d| d.as_secs_f64()),
        free_threading: process_info().free_threading,
    };
    let target = format!("unix:{}", service.socket_path);
    let interval = settings.interval;
    let started = crate::telemetry::reporter::start(
        service.socket_path.clone().into(),
        identity,
        settings,
        config.global.telemetry_flags.capture_user_agent,
        threads,
        gc,
    );
    use crate::telemetry::reporter::StartFailure;
    match started {
        Ok(()) => tracing::info!(
            "Telemetry reporter started; target='{target}', interval={interval:.3}s."
        ),
        Err(StartFailure::Target(e)) => {
            tracing::debug!("telemetry socket: {e}");
            tracing::warn!(
                "WSGI0132: Telemetry reporter could not open target '{target}'; metrics will not be sent."
            );
        }
        Err(StartFailure::Thread(e)) => {
            tracing::debug!("telemetry thread: {e}");
            tracing::warn!(
                "WSGI0133: Unable to create telemetry reporter thread; metrics will not be sent."
            );
        }
    }
}

/// The telemetry record of the decision to stop, after one last interval
/// sample when `final_sample`.
pub(crate) fn report_stopping(reason: &str, final_sample: bool) {
    crate::metrics::note_stopping(reason);
    if let Some(reporter) = crate::telemetry::reporter::get() {
        reporter.stopping(reason, interp::active_requests(), final_sample);
    }
}

/// The process is exiting: the last telemetry record.
pub(crate) fn announce_stopped(reason: &str) {
    crate::metrics::release_record();
    let Some(reporter) = crate::telemetry::reporter::get() else {
        return;
    };
    let requests = crate::metrics::recorder().map_or(0, |r| r.lifetime().request_count);
    reporter.stopped(&crate::telemetry::Exit {
        reason: reason.to_string(),
        uptime: (crate::metrics::now_seconds() - crate::metrics::process_start()).max(0.0),
        requests,
        active: interp::active_requests(),
    });
}

/// The main server's configuration, for daemon processes.
pub(crate) fn main_config() -> &'static ServerConfig {
    // SAFETY: the main server (recorded in post_config) and its
    // configuration live for the whole process.
    unsafe { server_config(log::main_server()) }
}

/// Starts Python in a daemon process of `role`'s group.
pub(crate) fn start_daemon_python(
    config: &ServerConfig,
    role: ProcessRole<'_>,
    spec: &DaemonProcessSpec,
    lent: Lent,
) -> Result<(), String> {
    let process = process_plan(config, role);
    let _ = PROCESS.set(ProcessInfo {
        multithread: spec.threads > 1,
        multiprocess: spec.processes > 1 || spec.multiprocess,
        apache_version: apache_version(),
        free_threading: process.free_threading,
        maximum_processes: i64::from(spec.processes),
        threads_per_process: i64::from(spec.threads),
        server_metrics: spec.server_metrics,
        server: ServerFacts::read(),
    });
    start_python(config, role, &process, lent)
}

/// Request-independent answers for expanding group names at start-up.
struct StartupContext;

impl GroupContext for StartupContext {
    fn server_name(&self) -> String {
        String::new()
    }
    fn request_host(&self) -> String {
        String::new()
    }
    fn server_port(&self) -> u16 {
        0
    }
    fn uri_and_path_info(&self) -> (String, String) {
        Default::default()
    }
    fn env(&self, name: &str) -> Option<String> {
        process_env(name)
    }
}

/// Loads a script into an interpreter at start-up, logging through the
/// function given; the WSGI layer's `handler::preload`.
pub(crate) type PreloadScript = fn(&Interpreter, &str, &dyn Fn(i32, &str)) -> bool;

/// What the layers above lend to the start of a serving process, so that
/// this layer needs not import them.
#[derive(Clone, Copy)]
pub(crate) struct Lent {
    /// How a script is preloaded (the WSGI adapter).
    pub preload: PreloadScript,
    /// Where telemetry reads the collectors' figures (the `mod_wsgi` module).
    pub gc: GcSource,
    /// The modules built into every interpreter (`mod_wsgi`, `apache`).
    pub builtin_modules: &'static [runtime::BuiltinModule],
    /// How the adapter sets up each interpreter the registry creates.
    pub attach: interp::Attach,
}

/// Preloads `WSGIImportScript` files, and `WSGIScriptAlias` targets (of
/// the main server and every virtual host) that name both groups, meant
/// for this process's group.
pub(crate) fn preload_scripts(
    config: &ServerConfig,
    role: ProcessRole<'_>,
    preload: PreloadScript,
) {
    // SAFETY: the main server recorded at start-up; its chain of virtual
    // hosts and their configurations live for the whole process.
    let servers = unsafe { all_server_configs(log::main_server()) };
    let mut wanted: Vec<(String, String)> = Vec::new();
    let ours = |spec: &Option<GroupSpec>| {
        spec.as_ref()
            .is_some_and(|p| p.expand(&StartupContext) == role.group)
    };
    for import in &config.global.import_scripts {
        if ours(&import.options.process_group) {
            if let Some(group) = &import.options.application_group {
                wanted.push((import.path.clone(), group.expand(&StartupContext)));
            }
        }
    }
    // A virtual host's list repeats the main server's aliases.
    for alias in servers.iter().flat_map(|c| c.aliases.iter()) {
        let o = &alias.options;
        let literal_group = matches!(
            o.application_group,
            Some(GroupSpec::Global) | Some(GroupSpec::Named(_))
        );
        if !alias.is_regex()
            && ours(&o.process_group)
            && literal_group
            && std::path::Path::new(&alias.target).is_file()
        {
            let group = o
                .application_group
                .as_ref()
                .map(|g| g.expand(&StartupContext))
                .unwrap_or_default();
            let entry = (alias.target.clone(), group);
            if !wanted.contains(&entry) {
                wanted.push(entry);
            }
        }
    }
    for (path, group) in wanted {
        let log = |level: i32, line: &str| {
            if level <= APLOG_ERR {
                tracing::error!("{line}")
            } else {
                tracing::debug!("{line}")
            }
        };
        // A pool's members are all created here, each importing the
        // script, so none pays for it on its first request.
        let members = pool_member_names(config, &group, &process_env);
        let names: Vec<&str> = match members.as_slice() {
            [] => vec![group.as_str()],
            named => named.iter().map(String::as_str).collect(),
        };
        let interpreters: Result<Vec<_>, String> = names
            .iter()
            .map(|name| interpreter_named(config, name, &group, &process_env))
            .collect();
        match interpreters {
            Ok(interpreters) => {
                for interpreter in interpreters {
                    preload(&interpreter, &path, &log);
                }
            }
            Err(message) if role.daemon.is_some() => {
                tracing::debug!("mod_wsgi: cannot preload '{path}': {message}");
                log::server_log(
                    null(),
                    log::APLOG_CRIT,
                    &format!(
                        "WSGI0040: Unable to acquire {} during daemon startup script preload; skipping import.",
                        gil::describe_interpreter_of(role.group, &group)
                    ),
                );
            }
            Err(message) => tracing::error!("mod_wsgi: cannot preload '{path}': {message}"),
        }
    }
}

/// Whether this process is a `threads=0` daemon, which runs its
/// `WSGIImportScript` scripts as services: SystemExit is how they are told
/// to stop, so it is no failure there.
pub(crate) fn runs_service_scripts() -> bool {
    current_role().daemon.is_some_and(|d| d.is_managed_mode())
}

/// Starts Python in an Apache child (embedded mode), with the facts the
/// MPM gives about the process, and preloads its scripts. `false` when
/// Python is not running here: refused by `WSGIRestrictEmbedded`, or it
/// failed to start (then logged on `s`).
pub(crate) fn start_embedded(s: *mut ffi::server_rec, config: &ServerConfig, lent: Lent) -> bool {
    let threaded =
        mpm_query(ffi::AP_MPMQ_IS_THREADED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED as i32);
    let forked =
        mpm_query(ffi::AP_MPMQ_IS_FORKED).is_some_and(|v| v != ffi::AP_MPMQ_NOT_SUPPORTED as i32);
    let max_daemons = mpm_query(ffi::AP_MPMQ_MAX_DAEMONS).unwrap_or(1);
    let max_threads = mpm_query(ffi::AP_MPMQ_MAX_THREADS).unwrap_or(1).max(1);
    let process = process_plan(config, ProcessRole::EMBEDDED);
    let _ = PROCESS.set(ProcessInfo {
        multithread: threaded,
        multiprocess: forked && max_daemons != 1,
        apache_version: apache_version(),
        free_threading: process.free_threading,
        maximum_processes: i64::from(max_daemons),
        threads_per_process: i64::from(max_threads),
        server_metrics: config.global.server_metrics == Some(true),
        server: ServerFacts::read(),
    });
    // Dispatch, auth and import scripts still run here when embedded
    // applications are refused; only with none of them is Python skipped.
    if config.global.restrict_embedded == Some(true) && !crate::config::embedded_python_needed() {
        let _ = PYTHON_FAILURE.set("embedded mode is disabled by WSGIRestrictEmbedded".into());
        return false;
    }
    if let Err(message) = start_python(config, ProcessRole::EMBEDDED, &process, lent) {
        log::server_log(
            s,
            log::APLOG_CRIT,
            "WSGI0001: Python initialisation failed in Apache child process; Python based handlers will not be available.",
        );
        let _ = PYTHON_FAILURE.set(message);
        return false;
    }
    tracing::debug!(
        "Python {} initialised in process {}",
        runtime::runtime_version(),
        std::process::id()
    );
    preload_scripts(config, ProcessRole::EMBEDDED, lent.preload);
    true
}

/// Where the next Apache generation finds the metrics board: Apache
/// unloads this library on a restart, so the mapping's address goes
/// through the process pool (as text: "address words").
const BOARD_HANDOVER_KEY: &std::ffi::CStr = c"mod_wsgi_metrics_board";

/// The Apache parent's metrics board, made on the first start and kept
/// (with its counters) across restarts; the embedded group is registered
/// here, daemon groups as they start. Without one, the `wsgi-metrics`
/// page says so and everything else runs as before.
pub(crate) fn open_metrics_board(process_pool: *mut ffi::apr_pool_t) {
    use crate::metrics::board::{Board, TABLE_WORDS};
    use crate::sys::shared_memory;
    // SAFETY: the process pool outlives every generation.
    let handed_over =
        unsafe { crate::apache::pool::userdata_text(process_pool, BOARD_HANDOVER_KEY) };
    let kept = handed_over.and_then(|text| {
        let (address, words) = text.split_once(' ')?;
        let (address, words) = (address.parse::<usize>().ok()?, words.parse::<usize>().ok()?);
        // SAFETY: this process made that mapping on an earlier start (an
        // older build of different size is not reused).
        (words == TABLE_WORDS).then(|| unsafe { shared_memory::words_at(address, words) })
    });
    let words = match kept {
        Some(words) => words,
        None => match shared_memory::anonymous_words(TABLE_WORDS) {
            Ok(words) => {
                let text = format!("{} {TABLE_WORDS}", words.as_ptr() as usize);
                // SAFETY: the process pool outlives every generation.
                unsafe {
                    crate::apache::pool::set_userdata_text(process_pool, BOARD_HANDOVER_KEY, &text)
                };
                words
            }
            Err(e) => {
                tracing::warn!("mod_wsgi: no shared memory for the metrics board ({e}); the wsgi-metrics handler will answer 503.");
                return;
            }
        },
    };
    if let Some(board) = Board::lay_out(words) {
        board.register_group("");
        crate::metrics::set_board(board);
    }
}
