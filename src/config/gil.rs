//! Decisions about GIL modes: which kind of GIL each interpreter gets,
//! where a switch interval may be applied, and which configurations only
//! earn a warning. Pure functions of the configuration and of what the
//! Python build supports, so every rule is unit-tested without Python.

use super::interp_options::{InterpreterOptions, InterpreterSettings, ResolvedSettings};
use std::fmt;
use std::time::Duration;

/// What the Python this module was built against can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonCapabilities {
    /// PEP 684 sub-interpreters with their own GIL (Python 3.12+).
    pub per_interpreter_gil: bool,
    /// A `--disable-gil` build (PEP 703), able to run without the GIL.
    pub free_threading: bool,
    /// `WSGIOwnGILFallback` can work (Python 3.13+). On 3.12, loading a
    /// single-phase extension module in a shared-GIL interpreter after an
    /// own-GIL one was refused it corrupts CPython's heap (seen as "double
    /// free or corruption" in our tests), so the fallback is not offered.
    pub own_gil_fallback: bool,
}

/// How an interpreter's Python code is serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GilKind {
    /// The process-wide GIL, shared by the main interpreter and every
    /// sub-interpreter without a GIL of its own.
    Shared,
    /// A sub-interpreter's own GIL (PEP 684).
    Own,
    /// No GIL at all: the process runs free-threaded (PEP 703).
    FreeThreaded,
}

impl fmt::Display for GilKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GilKind::Shared => "shared GIL",
            GilKind::Own => "own GIL",
            GilKind::FreeThreaded => "free-threaded, no GIL",
        })
    }
}

/// An interpreter without its process: "main interpreter" or
/// "sub-interpreter 'NAME'".
pub fn interpreter_name(application_group: &str) -> String {
    if application_group.is_empty() {
        "main interpreter".to_string()
    } else {
        format!("sub-interpreter '{application_group}'")
    }
}

/// How to describe an interpreter in log lines.
pub fn describe_interpreter(process_group: &str, application_group: &str) -> String {
    format!(
        "{} in {}",
        interpreter_name(application_group),
        describe_process(process_group)
    )
}

/// An interpreter as the C module names it in script messages ("Loading
/// WSGI script ... into", "... exception raised processing WSGI script
/// ... for"): "of daemon process" rather than "in daemon process".
pub fn describe_interpreter_of(process_group: &str, application_group: &str) -> String {
    let described = describe_interpreter(process_group, application_group);
    if process_group.is_empty() {
        described
    } else {
        described.replacen(" in daemon process ", " of daemon process ", 1)
    }
}

pub fn describe_process(process_group: &str) -> String {
    if process_group.is_empty() {
        "embedded mode".to_string()
    } else {
        format!("daemon process '{process_group}'")
    }
}

/// An interval as the C module prints it: `0.002000s`.
pub fn seconds(interval: Duration) -> String {
    format!("{:.6}s", interval.as_secs_f64())
}

/// What to do for one process before and right after Python starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessPlan {
    /// Start Python with the GIL disabled (`PyConfig.enable_gil`).
    pub free_threading: bool,
    /// With `free_threading`: keep the GIL off even when an extension
    /// module without free-threading support is imported. Otherwise
    /// CPython turns the GIL back on for the whole process and warns.
    pub gil_forced_off: bool,
    /// `sys.setswitchinterval()` in the main interpreter after start-up.
    pub switch_interval: Option<Duration>,
    pub warnings: Vec<String>,
}

/// Plans the process for `process_group` ("" for embedded mode) from the
/// process-wide settings resolved for it.
pub fn plan_process(
    settings: &super::interp_options::ProcessSettings,
    process_group: &str,
    caps: PythonCapabilities,
) -> ProcessPlan {
    // Without a free-threaded build the setting was already reported at
    // configuration load; the process simply keeps its GIL.
    let free_threading = settings.free_threading && caps.free_threading;
    let mut warnings = Vec::new();
    let switch_interval = match settings.switch_interval {
        Some(interval) if free_threading => {
            // WSGI0204 is the daemon form of WSGI0203.
            let code = if process_group.is_empty() {
                "WSGI0203"
            } else {
                "WSGI0204"
            };
            warnings.push(format!(
                "{code}: Skipping WSGISwitchInterval {} in {}: free-threading is active in this process so there is no GIL switch interval to set.",
                seconds(interval),
                describe_process(process_group)
            ));
            None
        }
        other => other,
    };
    ProcessPlan {
        free_threading,
        gil_forced_off: free_threading && settings.gil_forced_off,
        switch_interval,
        warnings,
    }
}

/// What to do when creating one interpreter.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpreterPlan {
    pub gil: GilKind,
    /// `sys.setswitchinterval()` inside this interpreter once created: its
    /// own value for an interpreter with its own GIL; for the shared GIL
    /// only the process-wide value of [`ProcessPlan`] again (set from each
    /// interpreter, as the C module does, and logged as it logs it).
    pub switch_interval: Option<Duration>,
    pub warnings: Vec<String>,
}

/// Plans the interpreter for `application_group` ("" is the main
/// interpreter) in `process_group`, given its resolved settings and the
/// process's plan.
pub fn plan_interpreter(
    resolved: &ResolvedSettings,
    process_group: &str,
    application_group: &str,
    caps: PythonCapabilities,
    process: &ProcessPlan,
) -> InterpreterPlan {
    let free_threading_active = process.free_threading;
    let who = interpreter_name(application_group);
    let mut warnings = Vec::new();
    let is_main = application_group.is_empty();
    let gil = if free_threading_active {
        if resolved.per_interpreter_gil && !is_main {
            warnings.push(format!(
                "WSGI0202: Skipping per-interpreter GIL for {who} in {}: free-threading is active in this process so there is no GIL to allocate per interpreter.",
                describe_process(process_group)
            ));
        }
        GilKind::FreeThreaded
    } else if (resolved.per_interpreter_gil || resolved.pool_size > 1)
        && caps.per_interpreter_gil
        && !is_main
    {
        // The main interpreter always keeps the process-wide GIL; asking
        // for its own is ignored without a word, as documented. A pool's
        // members always have their own: sharing one GIL would serialise
        // them, which is what a pool exists to avoid.
        GilKind::Own
    } else {
        GilKind::Shared
    };

    let switch_interval = match resolved.switch_interval {
        None => None,
        Some(interval) => match gil {
            GilKind::Own => Some(interval),
            GilKind::FreeThreaded => {
                // A process-wide value was already reported by plan_process.
                if resolved.switch_interval_per_application {
                    warnings.push(format!(
                        "WSGI0205: Skipping per-interpreter switch interval {} for {who}: free-threading is active in this process so there is no GIL switch interval to set.",
                        seconds(interval)
                    ));
                }
                None
            }
            GilKind::Shared => {
                if resolved.switch_interval_per_application {
                    warnings.push(format!(
                        "WSGI0199: Skipping per-interpreter switch interval {} for {who}: setting it would mutate the process-global value because this interpreter does not have its own GIL.",
                        seconds(interval)
                    ));
                    None
                } else {
                    // Setting the process-wide value again changes nothing.
                    // A different value (a daemon's switch-interval=) wins
                    // over the directive; the C module lets this
                    // interpreter's setting override it.
                    process.switch_interval.filter(|&p| p == interval)
                }
            }
        },
    };
    InterpreterPlan {
        gil,
        switch_interval,
        warnings,
    }
}

/// How many interpreters serve `application_group`: the size of its
/// `WSGIInterpreterPool` where the members can have their own GIL, else
/// one (why was logged when the configuration was loaded).
pub fn pool_members(
    resolved: &ResolvedSettings,
    application_group: &str,
    caps: PythonCapabilities,
    free_threading_active: bool,
) -> usize {
    let poolable =
        !application_group.is_empty() && caps.per_interpreter_gil && !free_threading_active;
    if poolable {
        resolved.pool_size.max(1)
    } else {
        1
    }
}

/// The registry name of member `index` (0-based) of `application_group`'s
/// pool: `NAME#1`, `NAME#2`, ... in logs and metrics.
pub fn pool_member_name(application_group: &str, index: usize) -> String {
    format!("{application_group}#{}", index + 1)
}

/// Why a `WSGIInterpreterPool` in `container` will serve with one
/// interpreter, if it will.
fn pool_warning(
    container: &InterpreterOptions,
    top_level: &InterpreterSettings,
    containers: &[InterpreterOptions],
    caps: PythonCapabilities,
) -> Option<String> {
    let size = container.settings.pool_size.filter(|&n| n > 1)?;
    let group = container.application_group.as_deref().unwrap_or_default();
    let reason = if group.is_empty() {
        "the main interpreter (%{GLOBAL}) cannot be pooled".to_string()
    } else if !caps.per_interpreter_gil {
        "pool members need their own GIL, which requires Python 3.12 or later".to_string()
    } else {
        let process_group = container.process_group.as_deref();
        let free_threading = caps.free_threading
            && match process_group {
                Some(pg) => {
                    super::interp_options::resolve_process(top_level, containers, pg).free_threading
                }
                None => top_level.free_threading == Some(true),
            };
        if !free_threading {
            return None;
        }
        "free-threading is on, so there is no GIL to give each member".to_string()
    };
    let who = if group.is_empty() {
        "%{GLOBAL}".to_string()
    } else {
        format!("application group '{group}'")
    };
    Some(format!(
        "mod_wsgi: WSGIInterpreterPool {size} for {who} has no effect: {reason}; the group is served by one interpreter."
    ))
}

/// Warnings about the GIL directives that can be given once, when the
/// configuration is loaded. (A switch interval an interpreter cannot take
/// is reported when the interpreter is created, as WSGI0199.)
pub fn configuration_warnings(
    top_level: &InterpreterSettings,
    containers: &[InterpreterOptions],
    caps: PythonCapabilities,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let layers = || std::iter::once(top_level).chain(containers.iter().map(|c| &c.settings));
    if !caps.per_interpreter_gil && layers().any(|s| s.per_interpreter_gil == Some(true)) {
        warnings.push(
            "WSGIPerInterpreterGIL requires Python 3.12 or later; the directive has no effect with this Python.".to_string(),
        );
    }
    if caps.per_interpreter_gil
        && !caps.own_gil_fallback
        && layers().any(|s| s.own_gil_fallback == Some(true))
    {
        warnings.push(
            "mod_wsgi: WSGIOwnGILFallback requires Python 3.13 or later: with Python 3.12, loading an extension module into a shared-GIL interpreter after an own-GIL one was refused it can crash the process. The directive has no effect with this Python.".to_string(),
        );
    }
    if !caps.free_threading && layers().any(|s| s.free_threading == Some(true)) {
        warnings.push(
            "WSGI0200: WSGIFreeThreading On has no effect: this Python build does not support free-threading (PEP 703). Rebuild Python with --disable-gil to use it.".to_string(),
        );
    }
    for container in containers {
        if container.application_group.is_some() && container.settings.free_threading.is_some() {
            warnings.push(
                "WSGI0201: WSGIFreeThreading inside <WSGIInterpreterOptions> with application-group= set is ignored: free-threading is a process-wide setting and cannot be scoped per application group.".to_string(),
            );
        }
        warnings.extend(pool_warning(container, top_level, containers, caps));
    }
    warnings
}

/// The extension module named by CPython's refusal to load it in an
/// interpreter with its own GIL (`module X does not support loading in
/// subinterpreters`), found anywhere in an exception's message. CPython
/// raises the same words whether the module declares no sub-interpreter
/// support at all or no per-interpreter-GIL support.
pub fn own_gil_refusal(message: &str) -> Option<&str> {
    const TAIL: &str = " does not support loading in subinterpreters";
    let end = message.find(TAIL)?;
    let start = message[..end].rfind("module ")? + "module ".len();
    let name = &message[start..end];
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// The line that follows a script's traceback when an extension module
/// refused to load in `interpreter` (which has its own GIL): what failed,
/// why, and what to do about it. `fallback_on`: `WSGIOwnGILFallback On`
/// applies to the interpreter, so this refusal came from an import it
/// does not cover (one made by a request, or by a script other than a
/// WSGI application's).
pub fn own_gil_import_guidance(module: &str, interpreter: &str, fallback_on: bool) -> String {
    let what = format!(
        "mod_wsgi: The extension module '{module}' cannot be loaded in the {interpreter}, \
         which has its own GIL: the module declares no support for sub-interpreters, or none \
         for a per-interpreter GIL. Run 'mod_wsgi-express audit-extensions' (or 'python -m \
         mod_wsgi.audit') to see which"
    );
    if fallback_on {
        format!(
            "{what}. WSGIOwnGILFallback On only covers the import of a WSGI application's \
             script, not imports made later by a request or by other scripts: give this \
             application group the shared GIL (WSGIPerInterpreterGIL Off in its \
             <WSGIInterpreterOptions>) or run it in %{{GLOBAL}}."
        )
    } else {
        format!(
            "{what}; or give this application group the shared GIL (WSGIPerInterpreterGIL Off \
             in its <WSGIInterpreterOptions>), let it fall back to the shared GIL when its WSGI \
             script's import is refused (WSGIOwnGILFallback On), or run it in %{{GLOBAL}}."
        )
    }
}

/// The extension module whose refusal should move an interpreter to the
/// shared GIL, given the interpreter's GIL, whether `WSGIOwnGILFallback`
/// resolved On for it, and the messages of the failed import's exception
/// and of the exceptions it was raised from. `None`: the failure stands,
/// as it would with the C module.
pub fn own_gil_fallback_module(
    gil: GilKind,
    fallback_on: bool,
    messages: &[String],
) -> Option<&str> {
    if gil != GilKind::Own || !fallback_on {
        return None;
    }
    messages.iter().find_map(|m| own_gil_refusal(m))
}

/// The plan for the interpreter that replaces an own-GIL one under
/// `WSGIOwnGILFallback On`: everything resolved as before, with the shared
/// GIL (so a switch interval follows the shared-GIL rules, WSGI0199
/// included). `None` when no fallback can happen: the setting is Off, or
/// the interpreter would not get its own GIL in the first place (the main
/// interpreter, Python before 3.12, a free-threaded process).
pub fn plan_own_gil_fallback(
    resolved: &ResolvedSettings,
    process_group: &str,
    application_group: &str,
    caps: PythonCapabilities,
    process: &ProcessPlan,
) -> Option<InterpreterPlan> {
    if !resolved.own_gil_fallback || !caps.own_gil_fallback {
        return None;
    }
    let own = plan_interpreter(resolved, process_group, application_group, caps, process);
    if own.gil != GilKind::Own {
        return None;
    }
    let shared = ResolvedSettings {
        per_interpreter_gil: false,
        ..resolved.clone()
    };
    Some(plan_interpreter(
        &shared,
        process_group,
        application_group,
        caps,
        process,
    ))
}

/// The warning logged once when an interpreter falls back to the shared
/// GIL.
pub fn own_gil_fallback_warning(
    module: &str,
    process_group: &str,
    application_group: &str,
) -> String {
    format!(
        "mod_wsgi (pid={}): Falling back to the shared GIL for {}: extension module '{module}' \
         cannot be loaded with its own GIL (WSGIOwnGILFallback On).",
        std::process::id(),
        describe_interpreter(process_group, application_group)
    )
}

/// The module named by CPython's warning that importing it turned the GIL
/// back on in a free-threaded process ("The global interpreter lock (GIL)
/// has been enabled to load module 'X', which has not declared ...").
pub fn gil_reenabled_module(message: &str) -> Option<&str> {
    const HEAD: &str = "(GIL) has been enabled to load module '";
    let start = message.find(HEAD)? + HEAD.len();
    let len = message[start..].find('\'')?;
    let name = &message[start..start + len];
    (!name.is_empty()).then_some(name)
}

/// The error line for a module that turned the GIL back on.
pub fn gil_reenabled_line(module: &str, process_group: &str, application_group: &str) -> String {
    let pid = std::process::id();
    format!(
        "mod_wsgi (pid={pid}, process='{process_group}', application='{application_group}'): \
         The GIL has been turned back on for this whole process to load module '{module}', \
         which has not declared that it can run without the GIL; Python code in this process \
         now takes turns again. Audit the extensions ('mod_wsgi-express audit-extensions'), or \
         keep the GIL off at your own risk with 'WSGIFreeThreading Forced'."
    )
}

/// Whether threads entering an interpreter line up in its entry queue
/// before asking for its GIL: in an own-GIL sub-interpreter always, on the
/// shared GIL only while two or more of its interpreters serve requests at
/// once (`busy_on_shared_gil`), never without a GIL. One interpreter
/// alone on the shared GIL (the main one of a `%{GLOBAL}` site, or the one
/// sub-interpreter of a site left at the default application group)
/// switches fairly enough by itself, and there the queue's hand-overs only
/// cost: each newcomer must be woken before the next may ask, a convoy for
/// short requests. `EntryQueue` in src/python/interp.rs says more.
pub fn queue_entries(gil: GilKind, busy_on_shared_gil: isize) -> bool {
    match gil {
        GilKind::FreeThreaded => false,
        GilKind::Own => true,
        GilKind::Shared => busy_on_shared_gil >= 2,
    }
}

/// Which entering threads line up in one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryQueueScope {
    /// Those entering this interpreter.
    Interpreter,
    /// Those entering any interpreter on the process-wide GIL.
    SharedGil,
}

/// One queue for the whole shared GIL lets in one newcomer at a time for
/// it, which holds the shared-GIL tail down best (docs/performance.md,
/// "The shared-GIL tail"). It needs a waiter for one interpreter to be able
/// to make a holder in another let go: CPython 3.13 asks the holding
/// thread itself, while 3.11 and 3.12 ask through the waiter's own
/// interpreter, which a holder elsewhere never sees; there, a newcomer
/// queued behind a waiter for another interpreter would wait for a
/// long-running request in its own to end, so each interpreter has its own
/// queue. Own GILs are never shared, so their queues are per interpreter.
pub fn entry_queue_scope(gil: GilKind, drop_request_reaches_holder: bool) -> EntryQueueScope {
    match gil {
        GilKind::Shared if drop_request_reaches_holder => EntryQueueScope::SharedGil,
        _ => EntryQueueScope::Interpreter,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_shared_gil_has_one_queue_only_where_waiters_can_make_any_holder_switch() {
        use super::{entry_queue_scope, EntryQueueScope::*, GilKind};
        // (gil, drop request reaches the holder) -> scope
        let table = [
            (GilKind::Shared, true, SharedGil),
            (GilKind::Shared, false, Interpreter),
            (GilKind::Own, true, Interpreter),
            (GilKind::Own, false, Interpreter),
            (GilKind::FreeThreaded, true, Interpreter),
        ];
        for (gil, reaches, scope) in table {
            assert_eq!(
                entry_queue_scope(gil, reaches),
                scope,
                "{gil:?}, drop request reaches the holder: {reaches}"
            );
        }
    }

    #[test]
    fn entries_queue_where_interpreters_compete_for_a_gil() {
        use super::{queue_entries, GilKind};
        // (gil, interpreters serving on the shared GIL) -> queued
        let table = [
            (GilKind::Shared, 0, false),
            (GilKind::Shared, 1, false),
            (GilKind::Shared, 2, true),
            (GilKind::Shared, 5, true),
            // A transient count while two threads cross zero.
            (GilKind::Shared, -1, false),
            (GilKind::Own, 0, true),
            (GilKind::Own, 1, true),
            (GilKind::FreeThreaded, 0, false),
            (GilKind::FreeThreaded, 3, false),
        ];
        for (gil, busy, queued) in table {
            assert_eq!(
                queue_entries(gil, busy),
                queued,
                "{gil:?}, interpreters serving on the shared GIL: {busy}"
            );
        }
    }

    #[test]
    fn the_module_that_turned_the_gil_back_on_is_named() {
        use super::gil_reenabled_module;
        let warning = "The global interpreter lock (GIL) has been enabled to load module \
             'numpy._core._multiarray_umath', which has not declared that it can run safely \
             without the GIL. To override this behavior and keep the GIL disabled (at your own \
             risk), run with PYTHON_GIL=0 or -Xgil=0.";
        assert_eq!(
            gil_reenabled_module(warning),
            Some("numpy._core._multiarray_umath")
        );
        assert_eq!(gil_reenabled_module("some other RuntimeWarning"), None);
        let line = super::gil_reenabled_line("fake_ext", "api", "");
        assert!(line.contains("process='api', application=''"), "{line}");
        assert!(
            line.contains("load module 'fake_ext'") && line.contains("WSGIFreeThreading Forced")
        );
    }

    #[test]
    fn own_gil_refusals_name_the_module_wherever_the_message_has_it() {
        use super::own_gil_refusal;
        let direct = "module _testsinglephase does not support loading in subinterpreters";
        assert_eq!(own_gil_refusal(direct), Some("_testsinglephase"));
        let wrapped = "Error importing numpy: you should not try to import numpy from\n\
             its source directory... module numpy.core._multiarray_umath does not support \
             loading in subinterpreters";
        assert_eq!(
            own_gil_refusal(&wrapped.replace("support \n", "support ")),
            Some("numpy.core._multiarray_umath")
        );
        assert_eq!(own_gil_refusal("No module named 'numpy'"), None);
        assert_eq!(
            own_gil_refusal("module  does not support loading in subinterpreters"),
            None
        );
        let line =
            super::own_gil_import_guidance("_testsinglephase", "sub-interpreter 'cpu'", false);
        assert!(line.contains("'_testsinglephase' cannot be loaded in the sub-interpreter 'cpu'"));
        assert!(line.contains("audit-extensions") && line.contains("WSGIPerInterpreterGIL Off"));
        assert!(line.contains("(WSGIOwnGILFallback On)"), "{line}");
        // With the fallback on, the refusal came from an import it does
        // not cover, and the line says so instead of suggesting it.
        let line =
            super::own_gil_import_guidance("_testsinglephase", "sub-interpreter 'cpu'", true);
        assert!(
            line.contains(
                "WSGIOwnGILFallback On only covers the import of a WSGI application's script"
            ),
            "{line}"
        );
        assert!(line.contains("WSGIPerInterpreterGIL Off") && line.ends_with("%{GLOBAL}."));
    }

    #[test]
    fn only_a_refusal_in_an_own_gil_interpreter_with_the_fallback_on_falls_back() {
        use super::{own_gil_fallback_module, GilKind};
        let refused = vec![
            "No module named 'other'".to_string(),
            "module _testsinglephase does not support loading in subinterpreters".to_string(),
        ];
        assert_eq!(
            own_gil_fallback_module(GilKind::Own, true, &refused),
            Some("_testsinglephase")
        );
        // Off by default: the failure stands, as with the C module.
        assert_eq!(own_gil_fallback_module(GilKind::Own, false, &refused), None);
        // An interpreter without its own GIL has nothing to fall back from.
        assert_eq!(
            own_gil_fallback_module(GilKind::Shared, true, &refused),
            None
        );
        assert_eq!(
            own_gil_fallback_module(GilKind::FreeThreaded, true, &refused),
            None
        );
        // Any other import failure is the application's own.
        let missing = vec!["No module named 'numpy'".to_string()];
        assert_eq!(own_gil_fallback_module(GilKind::Own, true, &missing), None);
        assert_eq!(own_gil_fallback_module(GilKind::Own, true, &[]), None);
    }

    #[test]
    fn the_fallback_warning_names_the_interpreter_the_process_and_the_module() {
        let line = super::own_gil_fallback_warning("_testsinglephase", "web", "isolated");
        assert_eq!(
            line,
            format!(
                "mod_wsgi (pid={}): Falling back to the shared GIL for sub-interpreter \
                 'isolated' in daemon process 'web': extension module '_testsinglephase' cannot \
                 be loaded with its own GIL (WSGIOwnGILFallback On).",
                std::process::id()
            )
        );
        let embedded = super::own_gil_fallback_warning("numpy", "", "app");
        assert!(
            embedded
                .contains("for sub-interpreter 'app' in embedded mode: extension module 'numpy'"),
            "{embedded}"
        );
    }
    use super::*;
    use crate::config::interp_options::test_support::{container, no_env};
    use crate::config::interp_options::{resolve, resolve_process};

    const PY311: PythonCapabilities = PythonCapabilities {
        per_interpreter_gil: false,
        free_threading: false,
        own_gil_fallback: false,
    };
    const PY312: PythonCapabilities = PythonCapabilities {
        per_interpreter_gil: true,
        free_threading: false,
        own_gil_fallback: false,
    };
    const PY313: PythonCapabilities = PythonCapabilities {
        per_interpreter_gil: true,
        free_threading: false,
        own_gil_fallback: true,
    };
    const PY313T: PythonCapabilities = PythonCapabilities {
        per_interpreter_gil: true,
        free_threading: true,
        own_gil_fallback: true,
    };

    fn top(lines: &[&str]) -> InterpreterSettings {
        let mut c = container("", lines);
        std::mem::take(&mut c.settings)
    }

    fn plan(
        top_level: &InterpreterSettings,
        containers: &[InterpreterOptions],
        process_group: &str,
        application_group: &str,
        caps: PythonCapabilities,
    ) -> (ProcessPlan, InterpreterPlan) {
        let process = plan_process(
            &resolve_process(top_level, containers, process_group),
            process_group,
            caps,
        );
        let resolved = resolve(
            top_level,
            containers,
            process_group,
            application_group,
            &no_env,
        );
        let interp = plan_interpreter(&resolved, process_group, application_group, caps, &process);
        (process, interp)
    }

    fn fallback_plan(
        top_level: &InterpreterSettings,
        containers: &[InterpreterOptions],
        application_group: &str,
        caps: PythonCapabilities,
    ) -> Option<InterpreterPlan> {
        let (process, _) = plan(top_level, containers, "web", application_group, caps);
        let resolved = resolve(top_level, containers, "web", application_group, &no_env);
        plan_own_gil_fallback(&resolved, "web", application_group, caps, &process)
    }

    #[test]
    fn the_fallback_plan_keeps_the_set_up_but_takes_the_shared_gil() {
        let containers = [container(
            "application-group=cpu",
            &[
                "WSGIPerInterpreterGIL On",
                "WSGIOwnGILFallback On",
                "WSGISwitchInterval 0.001",
            ],
        )];
        let t = top(&[]);
        let own = plan(&t, &containers, "web", "cpu", PY313).1;
        assert_eq!(own.gil, GilKind::Own);
        assert_eq!(own.switch_interval, Some(Duration::from_millis(1)));
        let shared = fallback_plan(&t, &containers, "cpu", PY313).expect("falls back");
        assert_eq!(shared.gil, GilKind::Shared);
        // Its own switch interval would now change the whole process: the
        // shared-GIL rule applies, with its warning.
        assert_eq!(shared.switch_interval, None);
        assert_eq!(shared.warnings.len(), 1, "{:?}", shared.warnings);
        assert!(shared.warnings[0].starts_with("WSGI0199: "));
        // A process-wide interval is set again, as for any shared-GIL one.
        let t = top(&["WSGISwitchInterval 0.002"]);
        let containers = [container(
            "application-group=cpu",
            &["WSGIPerInterpreterGIL On", "WSGIOwnGILFallback On"],
        )];
        let shared = fallback_plan(&t, &containers, "cpu", PY313).expect("falls back");
        assert_eq!(shared.switch_interval, Some(Duration::from_millis(2)));
        assert!(shared.warnings.is_empty());
    }

    #[test]
    fn the_fallback_is_refused_with_a_warning_on_python_3_12() {
        let on = top(&["WSGIPerInterpreterGIL On", "WSGIOwnGILFallback On"]);
        let warnings = configuration_warnings(&on, &[], PY312);
        assert!(
            warnings.len() == 1 && warnings[0].contains("WSGIOwnGILFallback requires Python 3.13"),
            "{warnings:?}"
        );
        assert!(configuration_warnings(&on, &[], PY313).is_empty());
        // Before 3.12 the own GIL itself is what is refused.
        let warnings = configuration_warnings(&on, &[], PY311);
        assert!(
            warnings.iter().all(|w| !w.contains("WSGIOwnGILFallback")),
            "{warnings:?}"
        );
    }

    #[test]
    fn no_fallback_plan_without_the_setting_or_without_an_own_gil() {
        let on = top(&["WSGIPerInterpreterGIL On", "WSGIOwnGILFallback On"]);
        assert!(fallback_plan(&on, &[], "app", PY313).is_some());
        // Off by default.
        let own_only = top(&["WSGIPerInterpreterGIL On"]);
        assert!(fallback_plan(&own_only, &[], "app", PY313).is_none());
        // A more specific layer can turn it off again.
        let strict = [container(
            "application-group=strict",
            &["WSGIOwnGILFallback Off"],
        )];
        assert!(fallback_plan(&on, &strict, "strict", PY313).is_none());
        // Nothing has its own GIL: the main interpreter, Python 3.11, a
        // free-threaded process.
        assert!(fallback_plan(&on, &[], "", PY313).is_none());
        assert!(fallback_plan(&on, &[], "app", PY311).is_none());
        // Python 3.12 has the own GIL but not a safe fallback.
        assert!(fallback_plan(&on, &[], "app", PY312).is_none());
        let free = top(&[
            "WSGIFreeThreading On",
            "WSGIPerInterpreterGIL On",
            "WSGIOwnGILFallback On",
        ]);
        assert!(fallback_plan(&free, &[], "app", PY313T).is_none());
        // The fallback alone gives no interpreter its own GIL.
        let fallback_only = top(&["WSGIOwnGILFallback On"]);
        assert!(fallback_plan(&fallback_only, &[], "app", PY313).is_none());
    }

    #[test]
    fn default_is_shared_gil_everywhere() {
        for caps in [PY311, PY312, PY313T] {
            let (process, interp) = plan(&top(&[]), &[], "", "app", caps);
            assert!(!process.free_threading, "GIL stays on by default: {caps:?}");
            assert_eq!(process.switch_interval, None);
            assert_eq!(interp.gil, GilKind::Shared);
            assert!(interp.warnings.is_empty());
        }
    }

    #[test]
    fn per_interpreter_gil_at_top_level_gives_sub_interpreters_their_own() {
        let t = top(&["WSGIPerInterpreterGIL On"]);
        assert_eq!(plan(&t, &[], "", "app", PY312).1.gil, GilKind::Own);
        assert_eq!(plan(&t, &[], "daemon", "app", PY312).1.gil, GilKind::Own);
    }

    #[test]
    fn main_interpreter_never_gets_its_own_gil_and_no_warning_is_given() {
        let containers = [container(
            "application-group=%{GLOBAL}",
            &["WSGIPerInterpreterGIL On"],
        )];
        let (_, interp) = plan(&top(&[]), &containers, "", "", PY312);
        assert_eq!(interp.gil, GilKind::Shared);
        assert!(interp.warnings.is_empty());
        let (_, interp) = plan(&top(&["WSGIPerInterpreterGIL On"]), &[], "", "", PY312);
        assert_eq!(interp.gil, GilKind::Shared);
    }

    #[test]
    fn per_interpreter_gil_is_inert_before_python_3_12_with_a_load_warning() {
        let t = top(&["WSGIPerInterpreterGIL On"]);
        assert_eq!(plan(&t, &[], "", "app", PY311).1.gil, GilKind::Shared);
        let warnings = configuration_warnings(&t, &[], PY311);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("requires Python 3.12"), "{warnings:?}");
        assert!(configuration_warnings(&t, &[], PY312).is_empty());
        // Off is never worth a warning.
        let off = top(&["WSGIPerInterpreterGIL Off"]);
        assert!(configuration_warnings(&off, &[], PY311).is_empty());
    }

    #[test]
    fn container_selects_own_gil_for_one_application_group_only() {
        let containers = [container(
            "process-group=mixed application-group=cpu_app",
            &["WSGIPerInterpreterGIL On"],
        )];
        let t = top(&[]);
        assert_eq!(
            plan(&t, &containers, "mixed", "cpu_app", PY312).1.gil,
            GilKind::Own
        );
        assert_eq!(
            plan(&t, &containers, "mixed", "io_app", PY312).1.gil,
            GilKind::Shared
        );
        assert_eq!(
            plan(&t, &containers, "other", "cpu_app", PY312).1.gil,
            GilKind::Shared
        );
    }

    #[test]
    fn more_specific_container_can_turn_own_gil_off_again() {
        let containers = [
            container("application-group=legacy", &["WSGIPerInterpreterGIL Off"]),
            container("", &["WSGIPerInterpreterGIL On"]),
        ];
        let t = top(&[]);
        assert_eq!(
            plan(&t, &containers, "", "legacy", PY312).1.gil,
            GilKind::Shared
        );
        assert_eq!(plan(&t, &containers, "", "new", PY312).1.gil, GilKind::Own);
    }

    #[test]
    fn env_selector_matches_per_request() {
        let containers = [container(
            "application-group=%{ENV:POOL}",
            &["WSGIPerInterpreterGIL On", "WSGISwitchInterval 0.001"],
        )];
        let env = |var: &str| (var == "POOL").then(|| "interp_1".to_string());
        let r = resolve(&top(&[]), &containers, "", "interp_1", &env);
        assert!(r.per_interpreter_gil);
        assert_eq!(r.switch_interval, Some(Duration::from_millis(1)));
        let r = resolve(&top(&[]), &containers, "", "interp_2", &env);
        assert!(!r.per_interpreter_gil);
        let r = resolve(&top(&[]), &containers, "", "interp_1", &no_env);
        assert!(!r.per_interpreter_gil);
        // Checked at creation time, not at load.
        assert!(configuration_warnings(&top(&[]), &containers, PY312).is_empty());
    }

    #[test]
    fn free_threading_on_lets_extensions_turn_the_gil_back_on_unless_forced() {
        let on = top(&["WSGIFreeThreading On"]);
        let process = plan(&on, &[], "", "", PY313T).0;
        assert!(process.free_threading && !process.gil_forced_off);
        let forced = top(&["WSGIFreeThreading Forced"]);
        let process = plan(&forced, &[], "", "", PY313T).0;
        assert!(process.free_threading && process.gil_forced_off);
        // A process-group container decides for its processes.
        let back_to_on = [container("process-group=tidy", &["WSGIFreeThreading On"])];
        assert!(
            !plan(&forced, &back_to_on, "tidy", "", PY313T)
                .0
                .gil_forced_off
        );
        assert!(
            plan(&forced, &back_to_on, "other", "", PY313T)
                .0
                .gil_forced_off
        );
        // Nothing is forced without a free-threaded build.
        let process = plan(&forced, &[], "", "", PY312).0;
        assert!(!process.free_threading && !process.gil_forced_off);
        let mut settings = InterpreterSettings::default();
        let bad = settings
            .apply(
                crate::config::directives::Directive::FreeThreading,
                &["sometimes".to_string()],
            )
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("WSGIFreeThreading")
                && bad.contains("'sometimes'")
                && bad.contains("On, Off or Forced"),
            "{bad}"
        );
    }

    #[test]
    fn free_threading_is_opt_in_per_process() {
        let containers = [container(
            "process-group=cpu-bound",
            &["WSGIFreeThreading On"],
        )];
        let t = top(&[]);
        assert!(
            plan(&t, &containers, "cpu-bound", "", PY313T)
                .0
                .free_threading
        );
        assert!(!plan(&t, &containers, "legacy", "", PY313T).0.free_threading);
        assert!(!plan(&t, &containers, "", "", PY313T).0.free_threading);

        let embedded_only = [container(
            "process-group=%{GLOBAL}",
            &["WSGIFreeThreading On"],
        )];
        assert!(plan(&t, &embedded_only, "", "", PY313T).0.free_threading);
        assert!(
            !plan(&t, &embedded_only, "daemon", "", PY313T)
                .0
                .free_threading
        );

        let everywhere = top(&["WSGIFreeThreading On"]);
        assert!(plan(&everywhere, &[], "", "", PY313T).0.free_threading);
        assert!(
            plan(&everywhere, &[], "daemon", "", PY313T)
                .0
                .free_threading
        );
        // The empty container means every process, like the top level.
        let empty = [container("", &["WSGIFreeThreading On"])];
        assert!(plan(&t, &empty, "daemon", "", PY313T).0.free_threading);
        // A process-group container can turn it back off.
        let back_off = [container(
            "process-group=legacy",
            &["WSGIFreeThreading Off"],
        )];
        assert!(
            !plan(&everywhere, &back_off, "legacy", "", PY313T)
                .0
                .free_threading
        );
    }

    #[test]
    fn free_threading_needs_a_free_threaded_build() {
        let t = top(&["WSGIFreeThreading On"]);
        assert!(!plan(&t, &[], "", "", PY312).0.free_threading);
        let warnings = configuration_warnings(&t, &[], PY312);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("does not support free-threading"),
            "{warnings:?}"
        );
        assert!(configuration_warnings(&t, &[], PY313T).is_empty());
    }

    #[test]
    fn free_threading_in_application_group_container_is_ignored_with_warning() {
        let containers = [container(
            "process-group=p application-group=a",
            &["WSGIFreeThreading On"],
        )];
        let t = top(&[]);
        assert!(!plan(&t, &containers, "p", "a", PY313T).0.free_threading);
        let warnings = configuration_warnings(&t, &containers, PY313T);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("cannot be scoped per application group"));
    }

    #[test]
    fn free_threading_wins_over_per_interpreter_gil_with_a_creation_warning() {
        let t = top(&["WSGIFreeThreading On", "WSGIPerInterpreterGIL On"]);
        let (process, interp) = plan(&t, &[], "", "app", PY313T);
        assert!(process.free_threading);
        assert_eq!(interp.gil, GilKind::FreeThreaded);
        assert_eq!(interp.warnings.len(), 1);
        assert_eq!(
            interp.warnings[0],
            "WSGI0202: Skipping per-interpreter GIL for sub-interpreter 'app' in embedded mode: free-threading is active in this process so there is no GIL to allocate per interpreter."
        );
        // The main interpreter never asked for its own GIL: no warning.
        let (_, main) = plan(&t, &[], "", "", PY313T);
        assert_eq!(main.gil, GilKind::FreeThreaded);
        assert!(main.warnings.is_empty());
    }

    #[test]
    fn process_switch_interval_comes_from_top_level_and_process_containers() {
        let t = top(&["WSGISwitchInterval 0.005"]);
        let containers = [
            container("process-group=fast", &["WSGISwitchInterval 0.0001"]),
            container("application-group=x", &["WSGISwitchInterval 0.002"]),
        ];
        let (process, interp) = plan(&t, &containers, "", "app", PY312);
        assert_eq!(process.switch_interval, Some(Duration::from_millis(5)));
        // Shared GIL: the process-wide value, set again from inside the
        // sub-interpreter as the C module does (and logs).
        assert_eq!(interp.switch_interval, Some(Duration::from_millis(5)));
        assert!(interp.warnings.is_empty());
        let (process, _) = plan(&t, &containers, "fast", "app", PY312);
        assert_eq!(process.switch_interval, Some(Duration::from_micros(100)));
    }

    #[test]
    fn own_gil_interpreter_gets_its_own_switch_interval() {
        let containers = [container(
            "process-group=my-app application-group=cpu-heavy",
            &["WSGIPerInterpreterGIL On", "WSGISwitchInterval 0.001"],
        )];
        let t = top(&["WSGISwitchInterval 0.002"]);
        let (process, interp) = plan(&t, &containers, "my-app", "cpu-heavy", PY312);
        assert_eq!(process.switch_interval, Some(Duration::from_millis(2)));
        assert_eq!(interp.gil, GilKind::Own);
        assert_eq!(interp.switch_interval, Some(Duration::from_millis(1)));
        assert!(configuration_warnings(&t, &containers, PY312).is_empty());
    }

    #[test]
    fn own_gil_interpreter_takes_a_process_wide_interval_too() {
        // Its GIL is separate, so the process-wide value must be applied
        // inside it as well, or it would silently keep Python's default.
        let t = top(&["WSGIPerInterpreterGIL On", "WSGISwitchInterval 0.002"]);
        let (_, interp) = plan(&t, &[], "", "app", PY312);
        assert_eq!(interp.gil, GilKind::Own);
        assert_eq!(interp.switch_interval, Some(Duration::from_millis(2)));
    }

    #[test]
    fn application_scoped_switch_interval_without_own_gil_is_refused() {
        let containers = [container(
            "application-group=app1",
            &["WSGISwitchInterval 0.001"],
        )];
        let t = top(&[]);
        let (process, interp) = plan(&t, &containers, "", "app1", PY312);
        assert_eq!(process.switch_interval, None, "never wider than asked");
        assert_eq!(interp.switch_interval, None);
        assert_eq!(interp.warnings.len(), 1);
        assert_eq!(
            interp.warnings[0],
            "WSGI0199: Skipping per-interpreter switch interval 0.001000s for sub-interpreter 'app1': setting it would mutate the process-global value because this interpreter does not have its own GIL."
        );
        // Reported when the interpreter is created only, as by C.
        assert!(configuration_warnings(&t, &containers, PY312).is_empty());
        // On 3.11 the interpreter can never have its own GIL.
        let with_gil = [container(
            "application-group=app1",
            &["WSGIPerInterpreterGIL On", "WSGISwitchInterval 0.001"],
        )];
        let (_, interp) = plan(&t, &with_gil, "", "app1", PY311);
        assert!(interp.warnings[0].starts_with("WSGI0199: "));
        let (_, interp) = plan(&t, &with_gil, "", "app1", PY312);
        assert!(interp.warnings.is_empty());
    }

    #[test]
    fn switch_interval_for_the_main_interpreter_by_application_group_is_refused() {
        let containers = [container(
            "application-group=%{GLOBAL}",
            &["WSGIPerInterpreterGIL On", "WSGISwitchInterval 0.001"],
        )];
        let (_, interp) = plan(&top(&[]), &containers, "", "", PY312);
        assert_eq!(interp.gil, GilKind::Shared);
        assert_eq!(interp.switch_interval, None);
        assert_eq!(interp.warnings.len(), 1);
        assert!(interp.warnings[0].starts_with("WSGI0199: "));
    }

    #[test]
    fn switch_interval_is_a_no_op_when_free_threaded() {
        let t = top(&["WSGIFreeThreading On", "WSGISwitchInterval 0.002"]);
        let (process, _) = plan(&t, &[], "", "app", PY313T);
        assert_eq!(process.switch_interval, None);
        assert_eq!(process.warnings.len(), 1);
        assert_eq!(
            process.warnings[0],
            "WSGI0203: Skipping WSGISwitchInterval 0.002000s in embedded mode: free-threading is active in this process so there is no GIL switch interval to set."
        );
        let (process, _) = plan(&t, &[], "web", "app", PY313T);
        assert!(process.warnings[0].starts_with("WSGI0204: "));
        assert!(process.warnings[0].contains("daemon process 'web'"));

        let containers = [container(
            "application-group=a",
            &["WSGIPerInterpreterGIL On", "WSGISwitchInterval 0.001"],
        )];
        let ft = top(&["WSGIFreeThreading On"]);
        let (_, interp) = plan(&ft, &containers, "", "a", PY313T);
        assert_eq!(interp.switch_interval, None);
        assert_eq!(interp.warnings.len(), 2, "{:?}", interp.warnings);
        assert!(interp.warnings[1].contains("free-threading is active"));
        // Without a free-threaded build the same settings keep the GIL.
        let (process, interp) = plan(&ft, &containers, "", "a", PY312);
        assert!(!process.free_threading);
        assert_eq!(interp.gil, GilKind::Own);
        assert_eq!(interp.switch_interval, Some(Duration::from_millis(1)));
    }

    #[test]
    fn descriptions_name_process_and_interpreter() {
        assert_eq!(
            describe_interpreter("", ""),
            "main interpreter in embedded mode"
        );
        assert_eq!(
            describe_interpreter("web", "a"),
            "sub-interpreter 'a' in daemon process 'web'"
        );
        assert_eq!(GilKind::Own.to_string(), "own GIL");
    }

    #[test]
    fn a_pool_has_its_size_only_where_members_can_have_their_own_gil() {
        let containers = [container(
            "application-group=app",
            &["WSGIInterpreterPool 4"],
        )];
        let resolved = resolve(&top(&[]), &containers, "", "app", &no_env);
        assert_eq!(pool_members(&resolved, "app", PY312, false), 4);
        assert_eq!(pool_members(&resolved, "app", PY311, false), 1);
        assert_eq!(pool_members(&resolved, "app", PY313T, true), 1);
        // Another group in the same process is not pooled.
        let other = resolve(&top(&[]), &containers, "", "other", &no_env);
        assert_eq!(pool_members(&other, "other", PY312, false), 1);
        // The main interpreter never is, whatever the settings say.
        assert_eq!(pool_members(&resolved, "", PY312, false), 1);
        assert_eq!(pool_member_name("app", 0), "app#1");
        assert_eq!(pool_member_name("app", 3), "app#4");
    }

    #[test]
    fn pool_members_have_their_own_gil_without_asking() {
        let containers = [container(
            "application-group=app",
            &["WSGIInterpreterPool 2"],
        )];
        assert_eq!(
            plan(&top(&[]), &containers, "", "app", PY312).1.gil,
            GilKind::Own
        );
        assert_eq!(
            plan(&top(&[]), &containers, "", "app", PY311).1.gil,
            GilKind::Shared
        );
        // A pool of one is an ordinary interpreter.
        let one = [container(
            "application-group=app",
            &["WSGIInterpreterPool 1"],
        )];
        assert_eq!(
            plan(&top(&[]), &one, "", "app", PY312).1.gil,
            GilKind::Shared
        );
    }

    #[test]
    fn a_pool_that_cannot_be_had_is_reported_once_at_load() {
        let pooled = [container(
            "application-group=app",
            &["WSGIInterpreterPool 4"],
        )];
        assert!(configuration_warnings(&top(&[]), &pooled, PY312).is_empty());

        let warnings = configuration_warnings(&top(&[]), &pooled, PY311);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("WSGIInterpreterPool 4 for application group 'app' has no effect")
                && warnings[0].contains("Python 3.12"),
            "{warnings:?}"
        );

        let global = container("application-group=%{GLOBAL}", &["WSGIInterpreterPool 2"]);
        let warnings = configuration_warnings(&top(&[]), &[global], PY312);
        assert!(
            warnings.len() == 1
                && warnings[0].contains("main interpreter (%{GLOBAL}) cannot be pooled"),
            "{warnings:?}"
        );

        let ft = top(&["WSGIFreeThreading On"]);
        let warnings = configuration_warnings(&ft, &pooled, PY313T);
        assert!(
            warnings.iter().any(|w| w.contains("free-threading is on")),
            "{warnings:?}"
        );
        // Free-threading for another daemon group leaves this one's pool be.
        let scoped = container(
            "process-group=api application-group=app",
            &["WSGIInterpreterPool 2"],
        );
        let ft_elsewhere = container("process-group=batch", &["WSGIFreeThreading On"]);
        let warnings = configuration_warnings(&top(&[]), &[scoped, ft_elsewhere], PY313T);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
