//! Runs one WSGI request: load the script, build environ, call the
//! application, stream the result, always call `close()`.

use super::context::{RequestContext, START_RESPONSE_FIRST};
use super::environ::CgiVars;
use super::observe::{Meter, RequestEvents, Timing};
use super::transport::Transport;
use super::{streams, types};
use crate::apache::log::{APLOG_DEBUG, APLOG_ERR, APLOG_INFO};
use crate::python::interp::{Gil, Interpreter, LoadedScript};
use crate::python::{
    code, collections, convert,
    errors::{self, ExceptionType},
    object::{self, Owned},
    Python,
};
use std::ffi::CString;
use std::sync::Arc;

/// Where a request goes, resolved from configuration before Python runs.
#[derive(Clone)]
pub struct Route {
    pub script: String,
    pub callable: String,
    pub reload_on_change: bool,
    /// `WSGIEnableSendfile`: let Apache use sendfile for file_wrapper bodies.
    pub sendfile: bool,
    /// `WSGICaseSensitivity Off`: paths differing only in case name the
    /// same script, so they share one loaded module.
    pub case_insensitive: bool,
    /// For a `WSGIHandlerScript`, the file the request is for; passed to the
    /// script's optional `reload_required(resource)`.
    pub resource: Option<String>,
    /// Daemon mode: a changed script restarts the whole process (the
    /// request is handed back to be retried) instead of being reloaded
    /// in place.
    pub restart_process_on_change: bool,
}

impl Route {
    /// The route of a script loaded outside any request.
    pub fn for_script(script: &str) -> Route {
        Route {
            script: script.to_string(),
            callable: String::new(),
            reload_on_change: true,
            sendfile: false,
            case_insensitive: false,
            resource: None,
            restart_process_on_change: false,
        }
    }

    /// The key a loaded script is cached under.
    /// The file the request is for, as the C module names it in request
    /// log lines: a handler script's target, else the script itself.
    pub fn target_file(&self) -> &str {
        self.resource.as_deref().unwrap_or(&self.script)
    }

    fn cache_key(&self) -> String {
        if self.case_insensitive {
            self.script.to_lowercase()
        } else {
            self.script.clone()
        }
    }
}

/// Values the environ gets besides the CGI variables.
#[derive(Clone)]
pub struct EnvironExtras<'r> {
    pub cgi: CgiVars<'r>,
    pub url_scheme: &'static str,
    pub process_group: String,
    pub application_group: String,
    pub multithread: bool,
    pub multiprocess: bool,
    pub apache_version: [i64; 3],
    /// The Apache handler name that selected us.
    pub request_handler: String,
    /// The `WSGIHandlerScript` path, empty otherwise.
    pub handler_script: String,
    pub request_id: String,
    pub connection_id: Option<String>,
    /// When Apache received the request (seconds since the epoch).
    pub request_start: f64,
    /// Daemon mode: when the child handed the request over and when a
    /// daemon thread picked it up (seconds since the epoch).
    pub queue_start: f64,
    pub daemon_start: f64,
    /// The Apache child that accepted the request.
    pub server_pid: u32,
    /// Daemon mode: connections the child made to hand the request over,
    /// and how many of them met a restarting daemon (0 in embedded mode,
    /// as the C module reports them).
    pub daemon_connects: u32,
    pub daemon_restarts: u32,
    /// `WSGIPassApacheRequest On`: the `request_rec` to wrap in a capsule.
    pub apache_request: Option<*mut std::ffi::c_void>,
}

pub enum Outcome {
    /// The response was produced (possibly with an application status).
    Done,
    /// Nothing was sent: the server should answer with this HTTP status.
    Fail(i32),
    /// Nothing was run: the script changed and this daemon process must
    /// restart; the request goes back to be retried.
    Restart,
}

/// Where log lines go: a request's context, or the server's at start-up.
pub type LogFn<'a> = &'a dyn Fn(i32, &str);

/// Logs `context` then the pending Python exception's traceback.
pub fn log_python_error(py: Python<'_>, log: LogFn<'_>, context: &str) {
    let text = errors::take_error_text(py).unwrap_or_else(|| "unknown error".into());
    log(APLOG_ERR, context);
    // Apache writes no empty lines, so the C module's tracebacks have none.
    for line in text.lines().filter(|line| !line.is_empty()) {
        log(APLOG_ERR, line);
    }
}

/// Logs the pending exception as the C module does for a WSGI script
/// (WSGI0174): its type, the script and the interpreter, then the
/// traceback. `in_request` adds the script tag the C module puts on
/// request-bound lines.
pub fn log_script_exception(
    py: Python<'_>,
    log: LogFn<'_>,
    script: &str,
    who: &str,
    in_request: bool,
) {
    log_script_exception_as(py, log, in_request.then_some(script), script, who);
}

/// [`log_script_exception`] for a request whose file (`request_file`, C's
/// `r->filename`, the `[script]` tag) is not the script that failed, as
/// for an auth, dispatch or handler script. `None`: outside any request.
pub fn log_script_exception_as(
    py: Python<'_>,
    log: LogFn<'_>,
    request_file: Option<&str>,
    script: &str,
    who: &str,
) {
    let kind = errors::pending_error_type_name(py).unwrap_or_else(|| "Unknown".into());
    let tag = request_file.map_or(String::new(), |file| format!("[script {file}] "));
    let headline = if kind == "SystemExit" {
        // The process carries on, so the C module says it ignored it.
        format!("WSGI0175: {tag}SystemExit exception raised by WSGI script '{script}' for {who}; ignored.")
    } else {
        format!(
            "WSGI0174: {tag}{kind} exception raised processing WSGI script '{script}' for {who}."
        )
    };
    log_python_error(py, log, &headline);
}

/// When the pending exception is CPython refusing an extension module in
/// `interp` because the interpreter has its own GIL: the line that explains
/// it, to log after the traceback. Leaves the exception pending.
fn own_gil_refusal_guidance(py: Python<'_>, interp: &Interpreter) -> Option<String> {
    use crate::config::gil;
    if interp.gil != gil::GilKind::Own {
        return None;
    }
    let module = errors::pending_error_messages(py, 8)
        .iter()
        .find_map(|m| gil::own_gil_refusal(m).map(str::to_string))?;
    Some(gil::own_gil_import_guidance(
        &module,
        &gil::interpreter_name(&interp.name),
        interp.may_fall_back_to_shared_gil(),
    ))
}

/// A WSGI script's import was refused an extension module in an own-GIL
/// interpreter under `WSGIOwnGILFallback On`: the interpreter gave up its
/// own GIL (nothing was logged at error level), and the request or preload
/// is to be repeated in its shared-GIL replacement.
struct GaveUpOwnGil;

/// Why a script did not load.
enum LoadFailure {
    /// Logged as the C module logs it, or a SystemExit left pending for
    /// the caller to log.
    Failed,
    /// The interpreter gave up its own GIL over this import.
    OwnGilGivenUp,
}

/// If the pending exception is a refusal that `WSGIOwnGILFallback On`
/// covers in `interp`: records it in the interpreter, logs the traceback
/// at debug level only (the warning of the fallback says what happened)
/// and clears it.
fn give_up_own_gil_if_refused(py: Python<'_>, interp: &Interpreter, report: &LoadLog<'_>) -> bool {
    use crate::config::gil;
    if !interp.may_fall_back_to_shared_gil() {
        return false;
    }
    let messages = errors::pending_error_messages(py, 8);
    let Some(module) =
        gil::own_gil_fallback_module(interp.gil, interp.may_fall_back_to_shared_gil(), &messages)
    else {
        return false;
    };
    interp.give_up_own_gil(module);
    let text = errors::take_error_text(py).unwrap_or_default();
    for line in text.lines().filter(|line| !line.is_empty()) {
        report.script_line(APLOG_DEBUG, 0, line);
    }
    true
}

/// The shared-GIL interpreter that replaces `interp` once it gave up its
/// own GIL, created by the first request to ask (which counts it in
/// `process_metrics()`). Call without any GIL held. `None`, logged: the
/// replacement could not be created.
fn shared_gil_replacement(interp: &Interpreter, log: LogFn<'_>) -> Option<Arc<Interpreter>> {
    match crate::python::interp::replace_with_shared_gil(interp) {
        Ok(replacement) => {
            if replacement.made_now {
                crate::metrics::note_own_gil_fallback();
            }
            Some(replacement.interpreter)
        }
        Err(message) => {
            log(APLOG_ERR, &format!("mod_wsgi: {message}"));
            None
        }
    }
}

/// How script messages name `interp`.
pub fn describe_for_scripts(interp: &Interpreter) -> String {
    crate::config::gil::describe_interpreter_of(&interp.process_group, &interp.name)
}

fn script_module_name(path: &str) -> String {
    // FNV-1a: a stable, collision-unlikely name per script path.
    let hash = path.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("_mod_wsgi_{hash:016x}")
}

fn file_mtime(path: &str) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
}

/// Whether any WSGI script has loaded in this process, and when loading
/// first failed before that: the daemon's startup-timeout watches these.
static SCRIPT_LOADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static FIRST_LOAD_FAILURE: parking_lot::Mutex<Option<std::time::Instant>> =
    parking_lot::Mutex::new(None);

fn note_load(ok: bool) {
    use std::sync::atomic::Ordering;
    if ok {
        SCRIPT_LOADED.store(true, Ordering::Release);
    } else if !SCRIPT_LOADED.load(Ordering::Acquire) {
        FIRST_LOAD_FAILURE
            .lock()
            .get_or_insert_with(std::time::Instant::now);
    }
}

/// How long loading has been failing, while no script has loaded yet.
pub fn startup_failing_for() -> Option<std::time::Duration> {
    if SCRIPT_LOADED.load(std::sync::atomic::Ordering::Acquire) {
        return None;
    }
    FIRST_LOAD_FAILURE.lock().map(|t| t.elapsed())
}

/// Whether the loaded copy of the route's script is older than the file
/// (whose modification time is `mtime`).
fn script_changed(gil: &Gil<'_>, interp: &Interpreter, route: &Route, mtime: Option<i64>) -> bool {
    interp.with_scripts(gil, |scripts| {
        scripts
            .get(&route.cache_key())
            .is_some_and(|s| Some(s.mtime) != mtime)
    })
}

/// Where the loading of a script is reported.
pub struct LoadLog<'a> {
    pub log: LogFn<'a>,
    /// Logs a line with an OS error number, which Apache renders before it
    /// (`(2)No such file or directory: `).
    pub log_errno: &'a dyn Fn(i32, i32, &str),
    /// The file of the request the script is loaded for (C's `r->filename`,
    /// the `[script]` tag of request lines); `None` at process start.
    pub request_file: Option<&'a str>,
}

impl LoadLog<'_> {
    /// A line about the script: `[script R] ` first within a request.
    fn script_line(&self, level: i32, errno: i32, message: &str) {
        match self.request_file {
            Some(file) => (self.log_errno)(level, errno, &format!("[script {file}] {message}")),
            None => (self.log_errno)(level, errno, message),
        }
    }
}

/// Loads (or reuses) the script module of `route`, reloading it when the
/// file changed (if `route.reload_on_change`), for a request whose file is
/// `request_file`: lines about the script carry it in their `[script]` tag, and an unreadable script is
/// logged with its OS error, as the C module logs them. A SystemExit the
/// script raised is left pending for the caller to log.
pub fn load_script_for_request(
    gil: &Gil<'_>,
    interp: &Interpreter,
    transport: &dyn Transport,
    route: &Route,
    request_file: &str,
) -> Option<Owned> {
    let log = |level: i32, line: &str| transport.log(level, line);
    let report = LoadLog {
        log: &log,
        log_errno: &|level, errno, line| transport.log_with_errno(level, errno, line),
        request_file: Some(request_file),
    };
    // Only a WSGI application's script falls back to the shared GIL: this
    // request is already running something else in this interpreter.
    load_script_as_of(
        gil,
        interp,
        &report,
        route,
        file_mtime(&route.script),
        false,
    )
    .ok()
}

/// One script load (or reload) at a time in the process, as in the C
/// module. Without it, threads whose first requests arrive together would
/// each run the script's top-level code and log "Loading WSGI script".
/// Reentrant, since a script's top-level code may cause another load on
/// the same thread.
static SCRIPT_LOAD: parking_lot::ReentrantMutex<()> = parking_lot::const_reentrant_mutex(());

/// Loads the script with the file's modification time already read.
/// `may_fall_back`: the script is a WSGI application's, so a refusal that
/// `WSGIOwnGILFallback On` covers gives the interpreter up rather than
/// failing.
fn load_script_as_of(
    gil: &Gil<'_>,
    interp: &Interpreter,
    report: &LoadLog<'_>,
    route: &Route,
    mtime: Option<i64>,
    may_fall_back: bool,
) -> Result<Owned, LoadFailure> {
    let py = gil.python();
    let key = route.cache_key();
    // The common case, without the lock: loaded, unchanged, and no
    // `reload_required` to ask.
    let current = interp.with_scripts(gil, |scripts| {
        scripts.get(&key).and_then(|s| {
            let unchanged = !route.reload_on_change || Some(s.mtime) == mtime;
            let asks = route.reload_on_change && s.module.hasattr(py, "reload_required");
            (unchanged && !asks).then(|| s.module.clone())
        })
    });
    if let Some(module) = current {
        return Ok(module);
    }
    // Wait with the GIL released: the thread loading may need it to finish.
    let _one_load_at_a_time = crate::python::interp::without_gil(|| SCRIPT_LOAD.lock());
    // The thread that loaded before may just have given this interpreter
    // up: its import is not run here again.
    if may_fall_back && interp.own_gil_refused_module().is_some() {
        return Err(LoadFailure::OwnGilGivenUp);
    }
    // Decided again under the lock: another thread may just have loaded it.
    let cached = interp.with_scripts(gil, |scripts| {
        scripts.get(&key).map(|s| (s.module.clone(), s.mtime))
    });
    if let Some((module, loaded_mtime)) = &cached {
        let unchanged = !route.reload_on_change || Some(*loaded_mtime) == mtime;
        if unchanged
            && !(route.reload_on_change && reload_requested(py, interp, module, route, report))
        {
            return Ok(module.clone());
        }
    }
    let who = describe_for_scripts(interp);
    // As the C module does, before the file is even read.
    let verb = if cached.is_some() {
        "Reloading"
    } else {
        "Loading"
    };
    tracing::info!("{verb} WSGI script '{}' into {who}.", route.script);
    let loaded = compile(py, report, route, &who)
        .ok_or(LoadFailure::Failed)
        .and_then(|code| execute(py, report, route, &key, &code, interp, may_fall_back));
    if !matches!(loaded, Err(LoadFailure::OwnGilGivenUp)) {
        // Giving up is no failure of the script: it loads again next door.
        note_load(loaded.is_ok());
    }
    let module = match loaded {
        Ok(module) => module,
        Err(failure) => {
            // A copy that failed to reload is gone, as from the C module's
            // sys.modules: the next attempt is a first load again.
            interp.with_scripts(gil, |scripts| scripts.remove(&key));
            return Err(failure);
        }
    };
    interp.with_scripts(gil, |scripts| {
        scripts.insert(
            key,
            LoadedScript {
                module: module.clone(),
                mtime: mtime.unwrap_or(0),
            },
        )
    });
    Ok(module)
}

/// Reads and compiles the route's script; a failure is logged as the C
/// module logs it (WSGI0105 in a request, WSGI0106 outside one, with the
/// OS error of a failed read), followed by the exception.
fn compile(py: Python<'_>, report: &LoadLog<'_>, route: &Route, who: &str) -> Option<Owned> {
    let script = &route.script;
    let code = match std::fs::read(script) {
        Ok(source) => {
            // The C module hands the bytes over as a C string, so a NUL
            // byte ends the source.
            let end = source.iter().position(|&b| b == 0).unwrap_or(source.len());
            let source = CString::new(&source[..end]).ok()?;
            let filename = CString::new(script.as_str()).ok()?;
            code::compile_file_source(py, &source, &filename).ok_or(0)
        }
        Err(error) => {
            let errno = error.raw_os_error().unwrap_or(0);
            errors::raise_os_error(py, errno, script);
            Err(errno)
        }
    };
    let errno = match code {
        Ok(code) => return Some(code),
        Err(errno) => errno,
    };
    let code = if report.request_file.is_some() {
        "WSGI0105"
    } else {
        "WSGI0106"
    };
    report.script_line(
        APLOG_ERR,
        errno,
        &format!("{code}: Could not read or compile WSGI script '{script}' for {who}."),
    );
    log_script_exception_as(py, report.log, report.request_file, script, who);
    None
}

/// Runs the compiled script as a new module named after `key`. A failure
/// is logged as the C module logs it: SystemExit with WSGI0107, leaving it
/// pending (WSGI0108 outside a request, clearing it; nothing in a process
/// that runs service scripts, where it is how they are told to stop),
/// anything else with WSGI0109 (WSGI0110) and the exception, unless
/// `may_fall_back` and the interpreter gives up its own GIL over it.
fn execute(
    py: Python<'_>,
    report: &LoadLog<'_>,
    route: &Route,
    key: &str,
    code: &Owned,
    interp: &Interpreter,
    may_fall_back: bool,
) -> Result<Owned, LoadFailure> {
    let who = &describe_for_scripts(interp);
    let name = script_module_name(key);
    let script = &route.script;
    let module = code::exec_code_as_module(py, code, &name, script);
    if let Some(module) = module {
        return Ok(module);
    }
    let system_exit = errors::pending_is(py, ExceptionType::SystemExit);
    if !system_exit && may_fall_back && give_up_own_gil_if_refused(py, interp, report) {
        return Err(LoadFailure::OwnGilGivenUp);
    }
    let in_request = report.request_file.is_some();
    match (system_exit, in_request) {
        (true, false) if crate::process::runs_service_scripts() => errors::clear_error(py),
        (true, false) => {
            errors::clear_error(py);
            report.script_line(
                APLOG_ERR,
                0,
                &format!("WSGI0108: SystemExit exception raised when doing exec of Python script file '{script}'."),
            );
        }
        // The exception stays pending: the caller logs it, as the C
        // module's callers do, naming what they name.
        (true, true) => report.script_line(
            APLOG_ERR,
            0,
            &format!("WSGI0107: SystemExit exception raised when doing exec of Python script file '{script}'."),
        ),
        (false, _) => {
            let code = if in_request { "WSGI0109" } else { "WSGI0110" };
            report.script_line(
                APLOG_ERR,
                0,
                &format!("{code}: Unable to execute Python script file '{script}'."),
            );
            let guidance = own_gil_refusal_guidance(py, interp);
            log_script_exception_as(py, report.log, report.request_file, script, who);
            if let Some(line) = guidance {
                report.script_line(APLOG_ERR, 0, &line);
            }
        }
    }
    Err(LoadFailure::Failed)
}

/// A script may define `reload_required(resource)`; a true result
/// reloads it before this request. `resource` is the handler script's
/// target file, or the WSGI script itself. An exception is logged and
/// keeps the loaded script.
fn reload_requested(
    py: Python<'_>,
    interp: &Interpreter,
    module: &Owned,
    route: &Route,
    report: &LoadLog<'_>,
) -> bool {
    if !module.hasattr(py, "reload_required") {
        return false;
    }
    let resource = route.target_file();
    let answer = convert::str_obj(py, resource).and_then(|r| {
        module
            .getattr(py, "reload_required")
            .and_then(|f| f.call(py, &[&r]))
    });
    match answer {
        Some(value) => object::is_true(py, &value),
        None => {
            log_script_exception_as(
                py,
                report.log,
                report.request_file,
                &route.script,
                &describe_for_scripts(interp),
            );
            false
        }
    }
}

/// A small number naming the current request thread, stable for the
/// thread's life (`mod_wsgi.thread_id`).
pub fn request_thread_id() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(1);
    thread_local!(static ID: i64 = NEXT.fetch_add(1, Ordering::Relaxed));
    ID.with(|id| *id)
}

/// A dict of the CGI variables. They were read from Apache as native
/// strings (`apache::c_str_latin1`), so each character is one byte; the
/// two that name files are given as Python names files, as the C module
/// gives them.
pub fn cgi_dict(py: Python<'_>, cgi: &CgiVars<'_>) -> Option<Owned> {
    let environ = collections::new_dict(py)?;
    for (key, value) in cgi {
        let value = match key.as_ref() {
            "SCRIPT_FILENAME" | "DOCUMENT_ROOT" if !value.is_ascii() => {
                convert::fs_path_obj(py, &crate::config::text::latin1_bytes(value))?
            }
            _ => convert::str_obj(py, value)?,
        };
        collections::dict_set(py, &environ, key, &value);
    }
    Some(environ)
}

/// The environ without the per-request stream objects (`wsgi.input`,
/// `wsgi.errors`), which the caller adds.
pub fn build_environ(py: Python<'_>, extras: &EnvironExtras, route: &Route) -> Option<Owned> {
    let environ = cgi_dict(py, &extras.cgi)?;
    let version = collections::int_tuple(py, &crate::pymodule::version_numbers())?;
    let set = |k: &str, v: Owned| collections::dict_set(py, &environ, k, &v);
    set("wsgi.version", collections::int_tuple(py, &[1, 0])?);
    set("wsgi.url_scheme", convert::str_obj(py, extras.url_scheme)?);
    set(
        "wsgi.multithread",
        convert::bool_obj(py, extras.multithread),
    );
    set(
        "wsgi.multiprocess",
        convert::bool_obj(py, extras.multiprocess),
    );
    set("wsgi.run_once", convert::bool_obj(py, false));
    // read() always ends with b'' at the end of the body, so frameworks
    // may read to EOF instead of trusting CONTENT_LENGTH.
    set("wsgi.input_terminated", convert::bool_obj(py, true));
    set("mod_wsgi.version", version);
    // Group names and the callable hold Apache's bytes (as UTF-8, the way
    // log lines name them); the application sees them as native strings.
    set(
        "mod_wsgi.process_group",
        convert::latin1_obj(py, extras.process_group.as_bytes())?,
    );
    set(
        "mod_wsgi.application_group",
        convert::latin1_obj(py, extras.application_group.as_bytes())?,
    );
    set(
        "mod_wsgi.callable_object",
        convert::latin1_obj(py, route.callable.as_bytes())?,
    );
    set(
        "mod_wsgi.request_handler",
        convert::str_obj(py, &extras.request_handler)?,
    );
    set(
        "mod_wsgi.handler_script",
        convert::str_obj(py, &extras.handler_script)?,
    );
    set(
        "mod_wsgi.request_id",
        convert::str_obj(py, &extras.request_id)?,
    );
    if let Some(id) = &extras.connection_id {
        set("mod_wsgi.connection_id", convert::str_obj(py, id)?);
    }
    set(
        "mod_wsgi.thread_id",
        convert::int_obj(py, request_thread_id())?,
    );
    set(
        "mod_wsgi.server_pid",
        convert::str_obj(py, &extras.server_pid.to_string())?,
    );
    set(
        "mod_wsgi.request_start",
        convert::float_obj(py, extras.request_start)?,
    );
    set(
        "mod_wsgi.queue_start",
        convert::float_obj(py, extras.queue_start)?,
    );
    set(
        "mod_wsgi.daemon_start",
        convert::float_obj(py, extras.daemon_start)?,
    );
    set(
        "apache.version",
        collections::int_tuple(py, &extras.apache_version)?,
    );
    if let Some(request) = extras.apache_request {
        set(
            "apache.request_rec",
            convert::capsule(py, request, c"apache.request_rec")?,
        );
    }
    Some(environ)
}

/// For a `wsgi.file_wrapper` around a real file: its descriptor, the
/// current position and the bytes left. `None` means "iterate instead"
/// (a file-like object without a usable descriptor).
fn wrapped_file(py: Python<'_>, result: &Owned, wrapper_type: &Owned) -> Option<(i32, u64, u64)> {
    // Only an exact instance of our class, not of a subclass.
    if !object::has_type(py, result, wrapper_type) {
        return None;
    }
    let found = (|| {
        let filelike = result.getattr(py, "filelike")?;
        let fd = filelike.getattr(py, "fileno")?.call0(py)?;
        let fd = convert::to_i64(py, &fd)?;
        let position = filelike.getattr(py, "tell")?.call0(py)?;
        let position = convert::to_i64(py, &position)?;
        Some((i32::try_from(fd).ok()?, u64::try_from(position).ok()?))
    })();
    errors::clear_error(py);
    let (fd, position) = found?;
    let size = crate::sys::fd::regular_file_size(fd)?;
    Some((fd, position, size.saturating_sub(position)))
}

/// Sends a wrapped real file straight from its descriptor, honouring a
/// Content-Length the application set (never more than it declared).
fn send_wrapped_file(
    ctx: &mut RequestContext,
    (fd, offset, remaining): (i32, u64, u64),
    allow_sendfile: bool,
) -> Result<(), String> {
    if ctx.declared_length.is_none() {
        ctx.declare_length(remaining);
    }
    // A declared Content-Length caps what is sent, without complaint: that
    // is how an application serves part of a file.
    let length = ctx.declared_length.map_or(remaining, |d| {
        d.saturating_sub(ctx.body_sent).min(remaining)
    });
    ctx.send_headers()?;
    if length == 0 || ctx.client_gone {
        return Ok(());
    }
    let transport = ctx.transport;
    let started = std::time::Instant::now();
    let sent = crate::python::interp::without_gil(|| {
        transport.send_file(fd, offset, length, allow_sendfile)
    });
    ctx.io.count_write(started, length);
    ctx.body_sent += length;
    if !sent {
        ctx.client_disconnected();
    }
    Ok(())
}

/// Iterates the application's result, writing each bytes item.
fn stream_result(
    py: Python<'_>,
    ctx: &mut RequestContext,
    result: &Owned,
    file_wrapper_type: &Owned,
    allow_sendfile: bool,
) -> Result<(), String> {
    if let Some(file) = wrapped_file(py, result, file_wrapper_type) {
        return send_wrapped_file(ctx, file, allow_sendfile);
    }
    // Like the C module, no Content-Length is derived from the
    // result: each item is passed on (and flushed) as it comes.
    let iter = collections::get_iter(py, result)
        .ok_or_else(|| "the WSGI application returned a non-iterable object".to_string())?;
    loop {
        let Some(item) = collections::iter_next(py, &iter) else {
            if errors::error_pending(py) {
                return Err("exception raised while iterating the WSGI response".into());
            }
            return Ok(());
        };
        let Some(bytes) = convert::bytes_contents(py, &item) else {
            errors::raise(
                py,
                ExceptionType::TypeError,
                &format!(
                    "response iterable must yield bytes, not {}",
                    object::type_name(py, &item)
                ),
            );
            return Err("invalid item in the WSGI response".into());
        };
        if bytes.is_empty() {
            continue;
        }
        let data = bytes.to_vec();
        if let Err(message) = ctx.write_body(&data) {
            // Reported like an exception the application raised.
            errors::raise(py, ExceptionType::RuntimeError, &message);
            return Err(message);
        }
        if ctx.client_gone {
            return Ok(());
        }
    }
}

/// Calls `close()` on the result if it has one. A failed lookup of
/// `close` is logged with `log_lookup_failure` (C's WSGI0194), then, like
/// an exception `close()` raises, goes to `log_exception`.
fn close_result(
    py: Python<'_>,
    result: &Owned,
    log_lookup_failure: impl FnOnce(),
    log_exception: impl FnOnce(),
) {
    let close = match result.getattr(py, "close") {
        Some(close) => close,
        None => {
            if errors::pending_is(py, ExceptionType::AttributeError) {
                errors::clear_error(py);
            } else {
                log_lookup_failure();
                log_exception();
            }
            return;
        }
    };
    if close.call0(py).is_none() {
        log_exception();
    }
}

/// What a daemon process does about a request whose script changed on
/// disk (script reloading on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedScript {
    /// Restart the process; the request is handed back to be retried.
    Restart,
    /// Serve the loaded code while a replacement process loads the new
    /// one (ours); `announce`: this request is the first to see the change.
    KeepServing { announce: bool },
}

/// Decides about a changed script: (application group, script, its
/// modification time).
pub type ChangedScriptPolicy = fn(&str, &str, Option<i64>) -> ChangedScript;

static CHANGED_SCRIPT_POLICY: std::sync::OnceLock<ChangedScriptPolicy> = std::sync::OnceLock::new();

/// A daemon process installs its policy; without one a change restarts.
pub fn set_changed_script_policy(policy: ChangedScriptPolicy) {
    let _ = CHANGED_SCRIPT_POLICY.set(policy);
}

/// Runs the request in `interp` (whose GIL this thread does not hold).
pub fn run(
    interp: &Interpreter,
    transport: &dyn Transport,
    route: &Route,
    extras: &EnvironExtras,
) -> Outcome {
    let _in_flight = interp.serving();
    let meter = Meter::begin(extras);
    let mut timing = Timing::default();
    let mut ctx = RequestContext::new(transport, route.target_file());
    let ctx_ptr: *mut RequestContext = &mut ctx;
    let run_entered = |interp: &Interpreter, timing: &mut Timing| {
        let gil = interp.enter();
        let outcome = run_in_scope(&gil, interp, ctx_ptr, route, extras, &meter, timing);
        // SAFETY: the request objects were unbound; nothing else refers to ctx.
        unsafe { &mut *ctx_ptr }.flush_log();
        drop(gil);
        outcome
    };
    // An interpreter that gave up its own GIL is not entered again: this
    // request may have taken it from the registry just before.
    let first = if interp.own_gil_refused_module().is_some() {
        Err(GaveUpOwnGil)
    } else {
        run_entered(interp, &mut timing)
    };
    // Nothing of the request was bound or sent before its script's import
    // failed, so it runs again from the start in the replacement, which
    // cannot give up a GIL of its own.
    let outcome = first.unwrap_or_else(|GaveUpOwnGil| {
        let log = |level: i32, line: &str| transport.log(level, line);
        shared_gil_replacement(interp, &log)
            .and_then(|shared| run_entered(&shared, &mut timing).ok())
            .unwrap_or(Outcome::Fail(500))
    });
    if ctx.flush_pending {
        transport.flush();
    }
    if let Outcome::Fail(status) = outcome {
        timing.status = u16::try_from(status).unwrap_or(500);
    }
    meter.finish(extras, &timing, &ctx.io);
    outcome
}

#[allow(clippy::too_many_arguments)]
fn run_in_scope(
    gil: &Gil<'_>,
    interp: &Interpreter,
    ctx_ptr: *mut RequestContext,
    route: &Route,
    extras: &EnvironExtras,
    meter: &Meter,
    timing: &mut Timing,
) -> Result<Outcome, GaveUpOwnGil> {
    let py = gil.python();
    // SAFETY: `ctx_ptr` points at the caller's context, alive throughout.
    let transport = unsafe { &*ctx_ptr }.transport;
    let log = |level: i32, line: &str| transport.log(level, line);
    // One stat of the script serves both the restart check and the load.
    let mtime = file_mtime(&route.script);
    let keep_serving;
    let mut route = route;
    if route.restart_process_on_change
        && route.reload_on_change
        && script_changed(gil, interp, route, mtime)
    {
        let choice = CHANGED_SCRIPT_POLICY
            .get()
            .map_or(ChangedScript::Restart, |policy| {
                policy(&interp.application_group, &route.script, mtime)
            });
        if matches!(
            choice,
            ChangedScript::Restart | ChangedScript::KeepServing { announce: true }
        ) {
            log(
                APLOG_INFO,
                &format!(
                    "Forcing restart of daemon process '{}' due to modification of script '{}'.",
                    interp.process_group, route.script
                ),
            );
        }
        if choice == ChangedScript::Restart {
            return Ok(Outcome::Restart);
        }
        // The loaded copy serves until the replacement takes over.
        keep_serving = Route {
            reload_on_change: false,
            ..route.clone()
        };
        route = &keep_serving;
    }
    let report = LoadLog {
        log: &log,
        log_errno: &|level, errno, line| transport.log_with_errno(level, errno, line),
        request_file: Some(route.target_file()),
    };
    let module = match load_script_as_of(gil, interp, &report, route, mtime, true) {
        Ok(module) => module,
        Err(LoadFailure::OwnGilGivenUp) => return Err(GaveUpOwnGil),
        Err(LoadFailure::Failed) => {
            if errors::pending_error_type_name(py).is_some() {
                // A SystemExit, named by the request's file as the C module does.
                let who = describe_for_scripts(interp);
                log_script_exception(py, &log, route.target_file(), &who, true);
            }
            return Ok(Outcome::Fail(500));
        }
    };
    // Output to sys.stdout/sys.stderr from this thread belongs to this
    // request from here on; while the script is imported it is the
    // process's, as with the C module.
    let _scope = streams::RequestScope::enter(ctx_ptr);
    let Some(application) = module.getattr(py, &route.callable) else {
        errors::clear_error(py);
        transport.log(
            APLOG_ERR,
            &format!(
                "[script {}] WSGI0089: Target WSGI script '{}' does not contain WSGI application '{}'.",
                route.target_file(),
                route.script,
                route.callable
            ),
        );
        // As the C module answers: 404 in embedded mode, 500 in a daemon.
        return Ok(Outcome::Fail(if interp.process_group.is_empty() {
            404
        } else {
            500
        }));
    };
    let Some(objects) = super::interpreter::InterpreterObjects::of(interp, gil) else {
        transport.log(APLOG_ERR, "The Python interpreter is shutting down.");
        return Ok(Outcome::Fail(503));
    };
    let bound = (
        types::bind(&objects.adapter_type, ctx_ptr),
        types::bind(&objects.input_type, ctx_ptr),
        types::request_errors(py, &objects, ctx_ptr),
    );
    let (Some(adapter), Some(input), Some((errors, errors_stream))) = bound else {
        log_python_error(py, &log, "Cannot create the WSGI request objects.");
        return Ok(Outcome::Fail(500));
    };
    let outcome = (|| {
        let environ = build_environ(py, extras, route)?;
        collections::dict_set(py, &environ, "wsgi.input", &input);
        collections::dict_set(py, &environ, "wsgi.errors", &errors_stream);
        collections::dict_set(
            py,
            &environ,
            "wsgi.file_wrapper",
            &objects.file_wrapper_type,
        );
        let start_response = adapter.getattr(py, "start_response")?;
        Some((environ, start_response))
    })();
    let Some((environ, start_response)) = outcome else {
        log_python_error(py, &log, "Cannot build the WSGI environ.");
        return Ok(Outcome::Fail(500));
    };

    // SAFETY: `ctx_ptr` points at `ctx`, alive until the objects are unbound
    // below; all Python calls run on this thread with the GIL held.
    let ctx = unsafe { &mut *ctx_ptr };
    // As the C module does, failing event subscribers go to the server log.
    let log_error = crate::pymodule::events::log_subscriber_failure;
    let events = RequestEvents::begin(py, &objects.events, extras, meter);
    timing.application_start = crate::metrics::now_seconds();
    if let Some(now) = convert::float_obj(py, timing.application_start) {
        collections::dict_set(py, &environ, "mod_wsgi.application_start", &now);
    }
    let application = match &events {
        Some(events) => events.started(
            py,
            extras,
            &route.callable,
            &environ,
            application,
            timing.application_start,
            &log_error,
        ),
        None => application,
    };
    let mut timed_out = false;
    let who = describe_for_scripts(interp);
    let mut log_failure = || {
        if let Some(events) = &events {
            events.exception(py, &log_error);
        }
        if pending_is_request_timeout(py) {
            // The unwinding the daemon asked for: not an application error.
            timed_out = true;
            errors::clear_error(py);
            log(
                APLOG_INFO,
                &format!("[script {}] {REQUEST_TIMEOUT_MESSAGE}", route.target_file()),
            );
        } else {
            let guidance = own_gil_refusal_guidance(py, interp);
            log_script_exception(py, &log, route.target_file(), &who, true);
            if let Some(line) = guidance {
                log(
                    APLOG_ERR,
                    &format!("[script {}] {line}", route.target_file()),
                );
            }
        }
    };
    let completed = match application.call(py, &[&environ, &start_response]) {
        None => {
            log_failure();
            false
        }
        Some(result) => {
            let streamed =
                stream_result(py, ctx, &result, &objects.file_wrapper_type, route.sendfile);
            if streamed.is_err() {
                // Every streaming failure leaves a Python exception set.
                log_failure();
            }
            close_result(
                py,
                &result,
                || {
                    log(
                        APLOG_ERR,
                        &format!(
                            "[script {}] WSGI0194: Lookup of 'close' attribute on WSGI response iterable raised an exception.",
                            route.target_file()
                        ),
                    )
                },
                || log_script_exception(py, &log, route.target_file(), &who, true),
            );
            match streamed {
                Err(_) => false,
                // An empty response still needs start_response().
                Ok(()) => {
                    ctx.send_headers().is_ok() || {
                        errors::raise(py, ExceptionType::RuntimeError, START_RESPONSE_FIRST);
                        log_failure();
                        false
                    }
                }
            }
        }
    };
    // An interrupted request is answered, as by the C module, with an
    // empty 504 of its own (not an Apache error page).
    let completed = completed
        || (timed_out
            && !ctx.headers_sent
            && ctx.set_status_only(504, "504 Gateway Timeout").is_ok());
    ctx.finish(!completed);
    timing.application_finish = crate::metrics::now_seconds();
    // Before any output an error becomes a 500 page; after it, the
    // response stays as sent (and was cut short by `finish`).
    let outcome = if completed || ctx.headers_sent {
        Outcome::Done
    } else {
        Outcome::Fail(500)
    };
    timing.status = match (&outcome, &ctx.status) {
        (Outcome::Fail(code), _) => u16::try_from(*code).unwrap_or(500),
        (_, Some((code, _))) => u16::try_from(*code).unwrap_or(0),
        _ => 0,
    };
    if let Some(events) = events {
        events.finished(py, extras, meter, timing, &ctx.io, &log_error);
        events.end(py);
    }
    ctx.flush_log();
    for obj in [&adapter, &input, &errors] {
        types::unbind(obj);
    }
    drop((
        environ,
        start_response,
        adapter,
        input,
        errors,
        application,
        module,
        objects,
    ));
    Ok(outcome)
}

const REQUEST_TIMEOUT_MESSAGE: &str = "Request interrupted by RequestTimeout; thread recovered.";

/// Whether the pending exception is `mod_wsgi.RequestTimeout`, injected
/// when a daemon's request-timeout fired. The exception stays pending.
fn pending_is_request_timeout(py: Python<'_>) -> bool {
    let Some(exception) = errors::take_exception(py) else {
        return false;
    };
    let matched = code::import(py, "mod_wsgi")
        .and_then(|m| m.getattr(py, "RequestTimeout"))
        .and_then(|cls| object::is_instance(py, &exception, &cls))
        .unwrap_or(false);
    errors::clear_error(py);
    errors::restore_exception(py, exception);
    matched
}

/// Loads a script at process start (`WSGIImportScript`, or a
/// `WSGIScriptAlias` naming both groups) so the first request finds it
/// ready. Failures are logged; the process carries on. An interpreter that
/// gives up its own GIL over the import is replaced here already.
pub fn preload(interp: &Interpreter, script: &str, log: LogFn<'_>) -> bool {
    let route = Route::for_script(script);
    let load_into = |interp: &Interpreter| {
        let gil = interp.enter();
        let report = LoadLog {
            log,
            log_errno: &|level, errno, line| match errno {
                0 => log(level, line),
                _ => {
                    crate::apache::log::server_log_with_status(std::ptr::null(), level, errno, line)
                }
            },
            request_file: None,
        };
        let loaded = load_script_as_of(&gil, interp, &report, &route, file_mtime(script), true);
        drop(gil);
        loaded
    };
    match load_into(interp) {
        Ok(_) => true,
        Err(LoadFailure::Failed) => false,
        Err(LoadFailure::OwnGilGivenUp) => {
            shared_gil_replacement(interp, log).is_some_and(|shared| load_into(&shared).is_ok())
        }
    }
}
