//! The interpreter registry: one Python interpreter per application group
//! in this process, created lazily and entered per thread through a
//! thread state of its own (never the PyGILState API, which only knows the
//! main interpreter).

use super::{
    code, collections, convert, errors,
    object::{self, Owned},
    Python,
};
use crate::config::gil::{
    describe_interpreter, describe_process, entry_queue_scope, queue_entries, EntryQueueScope,
    GilKind, InterpreterPlan,
};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use pyo3_ffi as ffi;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod own_gil_fallback;
use own_gil_fallback::OwnGilFallback;
pub use own_gil_fallback::{replace_with_shared_gil, replacement_or_self};

static ACTIVE_REQUESTS: AtomicUsize = AtomicUsize::new(0);
/// Set when a sub-interpreter was left alive but unregistered (its set-up
/// failed, or `WSGIOwnGILFallback` replaced it): the main interpreter must
/// then not be finalised.
static SETUP_FAILED: AtomicBool = AtomicBool::new(false);

/// Counts a request as running Python in this process while alive, so
/// shutdown never tears down an interpreter under a running thread.
pub struct ActiveRequest(());

impl ActiveRequest {
    pub fn begin() -> Self {
        ACTIVE_REQUESTS.fetch_add(1, Ordering::SeqCst);
        reset_gil_wait();
        ActiveRequest(())
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        ACTIVE_REQUESTS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the layers above keep per interpreter (the WSGI adapter's types
/// and the `mod_wsgi` module's event state). This layer only stores it:
/// its type is theirs, recovered with [`Interpreter::objects`].
pub type Attached = Arc<dyn std::any::Any + Send + Sync>;

/// Sets up what the layers above need in a freshly created interpreter,
/// given its `mod_wsgi` module, with the interpreter's GIL held (`py`); `Err`
/// says what failed. It calls `extend_path` (this layer's step: logging
/// and adding the configured directories to `sys.path`) where its own
/// steps need it. Lent once at start-up ([`lend_attach`]), so that this
/// layer needs not import the adapter or the module.
pub type Attach = fn(
    py: Python<'_>,
    module: &Owned,
    interp: &Interpreter,
    setup: &InterpreterSetup,
    extend_path: &dyn Fn() -> Result<(), String>,
) -> Result<Attached, String>;

static ATTACH: OnceCell<Attach> = OnceCell::new();

/// Records how every interpreter created from now on is set up by the
/// layers above. The first call wins; later ones are ignored.
pub fn lend_attach(attach: Attach) {
    let _ = ATTACH.set(attach);
}

/// A loaded WSGI script module and the file's modification time.
pub struct LoadedScript {
    pub module: Owned,
    pub mtime: i64,
}

pub struct Interpreter {
    /// Registry name: the application group ("" is the main interpreter),
    /// or `NAME#k` for a member of a `WSGIInterpreterPool`.
    pub name: String,
    /// What `mod_wsgi.application_group` reports: the group, pooled or not.
    pub application_group: String,
    pub process_group: String,
    pub gil: GilKind,
    state: *mut ffi::PyInterpreterState,
    /// Only touched with this interpreter's GIL held; emptied before the
    /// interpreter is destroyed.
    objects: Mutex<Option<Attached>>,
    scripts: Mutex<HashMap<String, LoadedScript>>,
    /// Requests running in this interpreter, which a pool balances on.
    in_flight: AtomicUsize,
    /// Under `WSGIOwnGILFallback On`, for an own-GIL sub-interpreter: how
    /// to replace it by a shared-GIL one (`own_gil_fallback.rs`).
    own_gil_fallback: Option<OwnGilFallback>,
    /// This interpreter's own entry queue (see [`EntryQueue`]), unless
    /// it lines up in [`SHARED_GIL_ENTRY`] instead.
    entry: EntryQueue,
}

/// Counts one request as running in an interpreter while alive.
pub struct InFlight<'a>(&'a Interpreter);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.0.gil == GilKind::Shared {
            BUSY_ON_SHARED_GIL.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: the raw interpreter pointer is process-wide and stable; the
// Python objects inside are only used while holding this interpreter's GIL.
unsafe impl Send for Interpreter {}
// SAFETY: as above.
unsafe impl Sync for Interpreter {}

/// What an interpreter needs when it is set up.
#[derive(Debug, Clone)]
pub struct InterpreterSetup {
    pub process_group: String,
    /// The application group the interpreter serves (a pool member's
    /// group, not its `NAME#k`).
    pub application_group: String,
    /// Directory lists for `site.addsitedir`, least specific first.
    pub python_path_layers: Vec<Vec<String>>,
    /// Its GIL and switch interval, decided from the configuration.
    pub plan: InterpreterPlan,
    /// `WSGIRestrictStdin`/`Stdout`/`Signal` as resolved for it.
    pub restrictions: crate::config::interp_options::Restrictions,
    /// With `WSGIOwnGILFallback On` for an own-GIL interpreter: the plan
    /// of the shared-GIL interpreter that replaces it when its WSGI script
    /// is refused an extension module.
    pub shared_gil_fallback: Option<InterpreterPlan>,
}

struct Registry {
    interpreters: Mutex<Interpreters>,
    /// Application groups in creation order, for destruction in reverse.
    created: Mutex<Vec<String>>,
    /// Every thread state this module created, per interpreter, so they can
    /// be told apart from threads Python itself started.
    our_thread_states: Mutex<HashMap<usize, Vec<usize>>>,
}

/// The interpreters and the pools, under one lock so that a request finds
/// its group's interpreter with one acquisition.
#[derive(Default)]
struct Interpreters {
    /// By registry name.
    by_name: HashMap<String, Arc<Interpreter>>,
    /// Each application group seen so far: its pool members' registry
    /// names, empty when it is not pooled.
    pool_members: HashMap<String, Arc<[String]>>,
}

static REGISTRY: OnceCell<Registry> = OnceCell::new();

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry {
        interpreters: Mutex::default(),
        created: Mutex::new(Vec::new()),
        our_thread_states: Mutex::new(HashMap::new()),
    })
}

fn remember_thread_state(state: *mut ffi::PyInterpreterState, tstate: *mut ffi::PyThreadState) {
    registry()
        .our_thread_states
        .lock()
        .entry(state as usize)
        .or_default()
        .push(tstate as usize);
}

thread_local! {
    /// This thread's thread state for each interpreter it has entered.
    static THREAD_STATES: RefCell<HashMap<usize, *mut ffi::PyThreadState>> = RefCell::new(HashMap::new());
    /// True on the thread that initialised Python (set by `register_main`).
    static STARTED_PYTHON: Cell<bool> = const { Cell::new(false) };
    /// This thread's GIL waits since the last reset.
    static GIL_WAITS: Cell<GilWaits> = const { Cell::new(GilWaits::NONE) };
}

/// A thread's waits for a GIL: their total, number and extremes.
#[derive(Clone, Copy)]
struct GilWaits {
    total: Duration,
    count: u64,
    shortest: Duration,
    longest: Duration,
}

impl GilWaits {
    const NONE: GilWaits = GilWaits {
        total: Duration::ZERO,
        count: 0,
        shortest: Duration::MAX,
        longest: Duration::ZERO,
    };
}

/// Runs `attach` (which takes a GIL), adding the time it took to this
/// thread's GIL-wait tally.
fn timed_gil_wait(attach: impl FnOnce()) {
    let started = Instant::now();
    attach();
    let waited = started.elapsed();
    GIL_WAITS.with(|w| {
        let mut waits = w.get();
        waits.total += waited;
        waits.count += 1;
        waits.shortest = waits.shortest.min(waited);
        waits.longest = waits.longest.max(waited);
        w.set(waits);
    });
}

/// Threads entering an interpreter (at the start of a request, or of any
/// other visit) line up here before they ask for its GIL, and pass the
/// turn on, first come first served, once they hold it. So at most one
/// newcomer at a time competes for the GIL with the threads already inside
/// (which take it back after their own blocking calls without queueing),
/// and newcomers are let in in the order they came. CPython's GIL is not
/// fair: each waiter re-queues on every 5 ms timeout, so with ten request
/// threads all waiting on it the unlucky ones waited many times longer
/// (docs/performance.md, "Per-interpreter GIL").
///
/// Interpreters on the shared GIL share one queue from CPython 3.13 on;
/// before, each has its own ([`entry_queue_scope`] says why).
///
/// Threads queue where interpreters compete for a GIL
/// ([`crate::config::gil::queue_entries`]): in own-GIL sub-interpreters,
/// and on the shared GIL while two or more of its interpreters serve
/// requests at once. That is where the unfair waits showed: with a shared
/// GIL because a waiter for one interpreter cannot make a holder in
/// another switch (before 3.13), and with own GILs too, in measurements we
/// have not taken apart further. Where one interpreter runs alone on the
/// shared GIL, CPython's forced switching works and the queue's hand-overs
/// only cost: each newcomer must be woken and scheduled before the next
/// may even ask, which for short requests made a convoy (docs/performance.md,
/// "Run 5, and the entry queue only where sub-interpreters run", and "Short
/// requests in a sub-interpreter").
pub struct EntryQueue(Mutex<()>);

/// How many interpreters on the process-wide GIL serve requests right now
/// (for [`queue_entries`]). Signed: two threads crossing zero in the
/// same interpreter at once may briefly take it below zero.
static BUSY_ON_SHARED_GIL: AtomicIsize = AtomicIsize::new(0);

/// The queue of every interpreter on the process-wide GIL, where
/// [`entry_queue_scope`] gives them one.
static SHARED_GIL_ENTRY: EntryQueue = EntryQueue::new();

/// Whether a thread waiting for a GIL asks its holder to let go whatever
/// interpreter the holder runs (CPython 3.13 on; see [`entry_queue_scope`]).
const DROP_REQUEST_REACHES_HOLDER: bool = cfg!(Py_3_13);

impl EntryQueue {
    const fn new() -> Self {
        EntryQueue(parking_lot::const_mutex(()))
    }

    /// Attaches `tstate` once it is this thread's turn, then passes the
    /// turn on to the longest waiter (a fair unlock).
    ///
    /// # Safety
    /// `tstate` belongs to this thread and is not attached.
    unsafe fn attach_in_turn(&self, tstate: *mut ffi::PyThreadState) {
        let turn = self.0.lock();
        // SAFETY: per the function contract.
        unsafe { ffi::PyEval_RestoreThread(tstate) };
        parking_lot::MutexGuard::unlock_fair(turn);
    }
}

/// Starts a new GIL-wait tally on this thread (at the start of a request).
pub fn reset_gil_wait() {
    GIL_WAITS.with(|w| w.set(GilWaits::NONE));
}

/// The shortest and longest single wait since [`reset_gil_wait`], if any.
pub fn gil_wait_extremes() -> Option<(Duration, Duration)> {
    let waits = GIL_WAITS.with(|w| w.get());
    (waits.count > 0).then_some((waits.shortest, waits.longest))
}

/// How many times this thread re-acquired a GIL since [`reset_gil_wait`].
pub fn gil_wait_count() -> u64 {
    GIL_WAITS.with(|w| w.get().count)
}

/// Time this thread waited to acquire a GIL since [`reset_gil_wait`], at
/// the points where this module enters Python on the application's behalf
/// (dispatch, body reads, writes). Waits inside the application's own code
/// are invisible here, so this is a lower bound on GIL contention.
pub fn gil_wait() -> Duration {
    GIL_WAITS.with(|w| w.get().total)
}

/// Holds an interpreter's GIL on this thread; released on drop.
pub struct Gil<'a> {
    _interpreter: std::marker::PhantomData<&'a Interpreter>,
}

impl Gil<'_> {
    /// Marks the thread state this thread just attached as held.
    fn attached() -> Self {
        Gil {
            _interpreter: std::marker::PhantomData,
        }
    }

    /// The token for this GIL, valid while the guard is borrowed.
    pub fn python(&self) -> Python<'_> {
        // SAFETY: a `Gil` exists only while this thread's thread state is
        // attached, and the token cannot outlive the borrow of the guard.
        unsafe { Python::assume_held() }
    }
}

impl Drop for Gil<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread attached its thread state in `enter`.
        unsafe { ffi::PyEval_SaveThread() };
    }
}

/// Releases the GIL for a blocking call and reacquires it afterwards.
pub fn without_gil<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the caller holds the GIL (it has a `Gil`), which we drop and
    // take back around `f`, which must not touch Python.
    let saved = unsafe { ffi::PyEval_SaveThread() };
    let result = f();
    // SAFETY: reattaches the same thread state, which is this thread's.
    timed_gil_wait(|| unsafe { ffi::PyEval_RestoreThread(saved) });
    result
}

impl Interpreter {
    /// The queue threads entering this interpreter line up in.
    fn entry_queue(&self) -> &EntryQueue {
        match entry_queue_scope(self.gil, DROP_REQUEST_REACHES_HOLDER) {
            EntryQueueScope::SharedGil => &SHARED_GIL_ENTRY,
            EntryQueueScope::Interpreter => &self.entry,
        }
    }

    /// Attaches this thread to the interpreter, creating the thread's
    /// thread state on first use.
    pub fn enter(&self) -> Gil<'_> {
        let key = self.state as usize;
        let tstate = THREAD_STATES.with(|map| {
            *map.borrow_mut().entry(key).or_insert_with(|| {
                // SAFETY: creating a thread state for a live interpreter
                // does not require the GIL.
                let tstate = unsafe { ffi::PyThreadState_New(self.state) };
                remember_thread_state(self.state, tstate);
                tstate
            })
        });
        timed_gil_wait(|| {
            if queue_entries(self.gil, BUSY_ON_SHARED_GIL.load(Ordering::Relaxed)) {
                // SAFETY: `tstate` belongs to this thread and is not attached.
                unsafe { self.entry_queue().attach_in_turn(tstate) }
            } else {
                // SAFETY: as above.
                unsafe { ffi::PyEval_RestoreThread(tstate) };
            }
        });
        Gil::attached()
    }

    /// What the layers above attached here, as the type they made it;
    /// `None` once the interpreter is being destroyed (or for another type).
    pub fn objects<T: std::any::Any + Send + Sync>(&self, _gil: &Gil<'_>) -> Option<Arc<T>> {
        self.objects.lock().clone()?.downcast().ok()
    }

    /// Counts a request as running here until the guard is dropped.
    pub fn serving(&self) -> InFlight<'_> {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 && self.gil == GilKind::Shared {
            BUSY_ON_SHARED_GIL.fetch_add(1, Ordering::Relaxed);
        }
        InFlight(self)
    }

    /// Runs `f` on the script cache. Call with the GIL held.
    pub fn with_scripts<T>(
        &self,
        _gil: &Gil<'_>,
        f: impl FnOnce(&mut HashMap<String, LoadedScript>) -> T,
    ) -> T {
        f(&mut self.scripts.lock())
    }

    /// Sets up a freshly created interpreter: path, `mod_wsgi` module,
    /// adapter types. Called with its GIL held.
    fn initialise(&self, py: Python<'_>, setup: &InterpreterSetup) -> Result<(), String> {
        let fail = |what: &str| format!("{what}: {}", super::runtime::describe_error(py));
        let module = code::import(py, "mod_wsgi")
            .ok_or_else(|| fail("cannot import the mod_wsgi module"))?;
        let attach = ATTACH
            .get()
            .ok_or("nothing was lent to set up the WSGI adapter in interpreters")?;
        let extend_path = || {
            for dir in setup.python_path_layers.iter().flatten() {
                tracing::info!(
                    "Adding '{dir}' to Python module search path for {}.",
                    describe_process(&setup.process_group)
                );
            }
            add_python_path(py, &setup.python_path_layers)
                .ok_or_else(|| fail("cannot extend sys.path"))
        };
        let objects = attach(py, &module, self, setup, &extend_path)?;
        *self.objects.lock() = Some(objects);
        if let Some(interval) = setup.plan.switch_interval {
            set_switch_interval(py, interval)
                .ok_or_else(|| fail("cannot set the switch interval"))?;
            tracing::info!(
                "Set switch interval {} for {}.",
                crate::config::gil::seconds(interval),
                crate::config::gil::interpreter_name(&self.name)
            );
        }
        Ok(())
    }

    /// Drops every Python object this module holds for the interpreter.
    /// Called with its GIL held.
    fn release_objects(&self, _gil: &Gil<'_>) {
        let objects = self.objects.lock().take();
        let scripts = std::mem::take(&mut *self.scripts.lock());
        drop((objects, scripts));
    }
}

impl Interpreter {
    /// Raises `mod_wsgi.RequestTimeout` in the thread `thread_ident`
    /// (its `pthread_self`) the next time it runs Python code. Call
    /// without holding any GIL.
    pub fn interrupt_thread(&self, thread_ident: u64) -> bool {
        let gil = self.enter();
        let py = gil.python();
        let injected = (|| {
            let exception = code::import(py, "mod_wsgi")?.getattr(py, "RequestTimeout")?;
            // SAFETY: this interpreter's GIL is held; the exception type is
            // a live object of this interpreter.
            let found = unsafe {
                ffi::PyThreadState_SetAsyncExc(thread_ident as std::ffi::c_long, exception.as_ptr())
            };
            Some(found == 1)
        })();
        if injected.is_none() {
            errors::clear_error(py);
        }
        drop(gil);
        injected.unwrap_or(false)
    }

    /// The Python stack of thread `thread_ident` in this interpreter,
    /// innermost frame first, for the log when a request times out. Call
    /// without holding any GIL.
    /// Each frame is `(file, line, function)`.
    pub fn thread_stack(&self, thread_ident: u64) -> Option<Vec<(String, u64, String)>> {
        // Reading another thread's frames is only safe under a GIL.
        if cfg!(Py_GIL_DISABLED) {
            return None;
        }
        let gil = self.enter();
        let py = gil.python();
        let frames = (|| {
            let frames = code::import(py, "sys")?
                .getattr(py, "_current_frames")?
                .call0(py)?;
            let key = convert::int_obj(py, thread_ident as i64)?;
            let frame = frames.getattr(py, "get")?.call(py, &[&key])?;
            if object::is_none(py, &frame) {
                return None;
            }
            let summaries = code::import(py, "traceback")?
                .getattr(py, "extract_stack")?
                .call(py, &[&frame])?;
            let mut stack = collections::iter_items(py, &summaries)?
                .iter()
                .map(|summary| {
                    Some((
                        convert::unicode_to_string(py, &summary.getattr(py, "filename")?)?,
                        convert::to_u64(py, &summary.getattr(py, "lineno")?).unwrap_or(0),
                        convert::unicode_to_string(py, &summary.getattr(py, "name")?)?,
                    ))
                })
                .collect::<Option<Vec<_>>>()?;
            stack.reverse();
            Some(stack)
        })();
        if frames.is_none() {
            errors::clear_error(py);
        }
        drop(gil);
        frames
    }

    /// Takes and releases this interpreter's GIL: the deadlock detector's
    /// proof that it is not stuck.
    pub fn touch_gil(&self) {
        drop(self.enter());
    }
}

/// The GIL an interpreter was given, for its creation line, in the C
/// module's words: only an own GIL is noted.
fn gil_note(gil: GilKind) -> &'static str {
    match gil {
        GilKind::Own => " with own GIL",
        GilKind::Shared | GilKind::FreeThreaded => "",
    }
}

/// Every interpreter created so far in this process.
pub fn all() -> Vec<Arc<Interpreter>> {
    REGISTRY
        .get()
        .map(|r| r.interpreters.lock().by_name.values().cloned().collect())
        .unwrap_or_default()
}

/// `sys.setswitchinterval()` in the interpreter whose GIL is held.
pub fn set_switch_interval(py: Python<'_>, interval: Duration) -> Option<()> {
    let value = convert::float_obj(py, interval.as_secs_f64())?;
    code::import(py, "sys")?
        .getattr(py, "setswitchinterval")?
        .call(py, &[&value])?;
    Some(())
}

/// `site.addsitedir()` for each directory, moving what each layer added to
/// the front of `sys.path` so more specific layers come first.
fn add_python_path(py: Python<'_>, layers: &[Vec<String>]) -> Option<()> {
    if layers.is_empty() {
        return Some(());
    }
    let sys = code::import(py, "sys")?;
    let site = code::import(py, "site")?;
    let addsitedir = site.getattr(py, "addsitedir")?;
    for layer in layers {
        let path = sys.getattr(py, "path")?;
        // SAFETY: GIL held; `path` is a list.
        let before = unsafe { ffi::PyList_Size(path.as_ptr()) };
        for dir in layer {
            addsitedir.call(py, &[&convert::str_obj(py, dir)?])?;
        }
        // Hoist the entries this layer appended to the front, in order.
        // SAFETY: GIL held; slicing and reassigning a list. PyList_GetSlice
        // and PySequence_Concat return new references, or NULL with an
        // exception set.
        unsafe {
            let after = ffi::PyList_Size(path.as_ptr());
            let added = Owned::from_new(ffi::PyList_GetSlice(path.as_ptr(), before, after))?;
            let kept = Owned::from_new(ffi::PyList_GetSlice(path.as_ptr(), 0, before))?;
            let combined = Owned::from_new(ffi::PySequence_Concat(added.as_ptr(), kept.as_ptr()))?;
            if ffi::PyList_SetSlice(path.as_ptr(), 0, after, combined.as_ptr()) != 0 {
                return None;
            }
        }
    }
    Some(())
}

/// Registers the main interpreter after `Py_InitializeFromConfig`, with the
/// initialising thread's state.
pub fn register_main(
    main_tstate: *mut ffi::PyThreadState,
    setup: &InterpreterSetup,
) -> Result<Arc<Interpreter>, String> {
    // SAFETY: Python is initialised.
    let state = unsafe { ffi::PyInterpreterState_Main() };
    THREAD_STATES.with(|map| map.borrow_mut().insert(state as usize, main_tstate));
    STARTED_PYTHON.with(|s| s.set(true));
    remember_thread_state(state, main_tstate);
    let interp = Arc::new(Interpreter {
        name: String::new(),
        application_group: String::new(),
        process_group: setup.process_group.clone(),
        gil: setup.plan.gil,
        state,
        objects: Mutex::new(None),
        scripts: Mutex::new(HashMap::new()),
        in_flight: AtomicUsize::new(0),
        own_gil_fallback: None,
        entry: EntryQueue::new(),
    });
    for warning in &setup.plan.warnings {
        tracing::warn!("{warning}");
    }
    {
        let gil = interp.enter();
        interp.initialise(gil.python(), setup)?;
    }
    let registry = registry();
    registry
        .interpreters
        .lock()
        .by_name
        .insert(String::new(), interp.clone());
    registry.created.lock().push(String::new());
    tracing::info!(
        "Attaching to Python main interpreter in {}.",
        describe_process(&setup.process_group)
    );
    Ok(interp)
}

/// Returns the interpreter for a request to `application_group`, creating
/// a sub-interpreter on first use: the group's own, or, when
/// `pool_members` (asked once per group) names more than one, the member
/// `choose` picks given each member's requests in flight. Must be called
/// without any GIL held.
pub fn get_or_create_for_request(
    application_group: &str,
    pool_members: impl FnOnce() -> Vec<String>,
    choose: impl FnOnce(&[usize]) -> usize,
    setup: impl FnOnce() -> InterpreterSetup,
) -> Result<Arc<Interpreter>, String> {
    with_registry_locked(|registry, interpreters| {
        let Interpreters {
            by_name,
            pool_members: pools,
        } = interpreters;
        let members = match pools.get(application_group) {
            Some(members) => members.clone(),
            None => {
                let members: Arc<[String]> = pool_members().into();
                pools.insert(application_group.to_string(), members.clone());
                members
            }
        };
        let name = match members.len() {
            0 | 1 => application_group,
            _ => {
                let in_flight: Vec<usize> = members
                    .iter()
                    .map(|member| {
                        by_name
                            .get(member)
                            .map_or(0, |i| i.in_flight.load(Ordering::SeqCst))
                    })
                    .collect();
                &members[choose(&in_flight)]
            }
        };
        found_or_created(registry, by_name, name, setup)
    })
}

/// Returns the interpreter registered as `name` (an application group, or
/// a pool member's `NAME#k`), creating a sub-interpreter on first use.
/// Must be called without any GIL held.
pub fn get_or_create(
    name: &str,
    setup: impl FnOnce() -> InterpreterSetup,
) -> Result<Arc<Interpreter>, String> {
    with_registry_locked(|registry, interpreters| {
        found_or_created(registry, &mut interpreters.by_name, name, setup)
    })
}

/// Runs `f` with the registry locked; an error before Python is
/// initialised in this process.
fn with_registry_locked<T>(
    f: impl FnOnce(&Registry, &mut Interpreters) -> Result<T, String>,
) -> Result<T, String> {
    let registry = REGISTRY
        .get()
        .ok_or("Python is not initialised in this process")?;
    f(registry, &mut registry.interpreters.lock())
}

/// The interpreter registered as `name`, created if there is none. Called
/// with the registry lock held (`interpreters`) and no GIL.
fn found_or_created(
    registry: &Registry,
    interpreters: &mut HashMap<String, Arc<Interpreter>>,
    name: &str,
    setup: impl FnOnce() -> InterpreterSetup,
) -> Result<Arc<Interpreter>, String> {
    if let Some(found) = interpreters.get(name) {
        return Ok(found.clone());
    }
    // Creation happens under the registry lock so an interpreter is
    // created once. No thread holding a GIL ever waits on this lock, so
    // this cannot deadlock.
    create_sub_interpreter(registry, interpreters, name, setup())
}

/// Has `faulthandler` write the Python stack of every thread of the main
/// interpreter to file descriptor 2 (Apache's error log) whenever `signal`
/// arrives. Its handler reads the thread states without taking the GIL,
/// so it works when a deadlocked thread holds it for good.
pub fn dump_stacks_on_signal(signal: i32, gil: &Gil<'_>) -> Result<(), String> {
    let source = std::ffi::CString::new(format!(
        "import faulthandler\nfaulthandler.register({signal}, file=2, all_threads=True, chain=False)\n"
    ))
    .map_err(|e| e.to_string())?;
    let py = gil.python();
    match code::run_source(py, &source, "_mod_wsgi_stack_dump", &[]) {
        Some(_) => Ok(()),
        None => Err(errors::take_error_text(py).unwrap_or_else(|| "unknown error".into())),
    }
}

/// Told of each sub-interpreter created, with its GIL kind (the process
/// layer counts them for the metrics page).
static CREATED_HOOK: OnceCell<fn(GilKind)> = OnceCell::new();

/// Calls `hook` for every sub-interpreter created from now on.
pub fn on_interpreter_created(hook: fn(GilKind)) {
    let _ = CREATED_HOOK.set(hook);
}

/// Creates, sets up and registers the sub-interpreter registered as `name`
/// (replacing any registered under that name). Called with the registry
/// lock held (`interpreters`) and no GIL.
fn create_sub_interpreter(
    registry: &Registry,
    interpreters: &mut HashMap<String, Arc<Interpreter>>,
    name: &str,
    setup: InterpreterSetup,
) -> Result<Arc<Interpreter>, String> {
    let main = interpreters
        .get("")
        .cloned()
        .ok_or("main interpreter missing")?;
    let who = describe_interpreter(&setup.process_group, name);
    let main_gil = main.enter();
    // On success the new interpreter's thread state is current (and with
    // its own GIL, the main GIL has been released).
    let tstate = match new_interpreter(main_gil.python(), setup.plan.gil) {
        Ok(tstate) => tstate,
        Err(reason) => {
            drop(main_gil);
            return Err(format!("cannot create the {who}: {reason}"));
        }
    };
    std::mem::forget(main_gil);
    // SAFETY: `tstate` is current and belongs to the new interpreter.
    let state = unsafe { ffi::PyThreadState_GetInterpreter(tstate) };
    THREAD_STATES.with(|map| map.borrow_mut().insert(state as usize, tstate));
    remember_thread_state(state, tstate);
    let interp = Arc::new(Interpreter {
        name: name.to_string(),
        application_group: setup.application_group.clone(),
        process_group: setup.process_group.clone(),
        gil: setup.plan.gil,
        state,
        objects: Mutex::new(None),
        scripts: Mutex::new(HashMap::new()),
        in_flight: AtomicUsize::new(0),
        own_gil_fallback: OwnGilFallback::for_setup(&setup),
        entry: EntryQueue::new(),
    });
    // Logged before its set-up logs anything, as the C module orders it.
    tracing::info!("Creating {who}{}.", gil_note(interp.gil));
    for warning in &setup.plan.warnings {
        tracing::warn!("{warning}");
    }
    // The new thread state is attached; wrap it so it is released on exit.
    let result = {
        let gil = Gil::attached();
        let r = interp.initialise(gil.python(), &setup);
        if r.is_err() {
            interp.release_objects(&gil);
        }
        drop(gil);
        r
    };
    // A half-initialised interpreter stays alive but unregistered: ending
    // it here could run arbitrary code from a failed import. The next
    // request retries with a fresh one.
    if result.is_err() {
        SETUP_FAILED.store(true, Ordering::SeqCst);
    }
    result.map_err(|e| format!("cannot set up the {who}: {e}"))?;
    registry.created.lock().push(name.to_string());
    interpreters.insert(name.to_string(), interp.clone());
    if let Some(hook) = CREATED_HOOK.get() {
        hook(interp.gil);
    }
    Ok(interp)
}

/// Creates a sub-interpreter with the requested kind of GIL. Called with
/// the main interpreter's GIL held (`main`); on success the new thread
/// state is current.
fn new_interpreter(main: Python<'_>, gil: GilKind) -> Result<*mut ffi::PyThreadState, String> {
    #[cfg(Py_3_12)]
    if gil == GilKind::Own {
        let mut tstate = std::ptr::null_mut();
        // The isolated configuration of PEP 684: own GIL and allocator,
        // no daemon threads, no fork or exec, and only extension modules
        // that declare multi-interpreter support.
        let config = ffi::_PyInterpreterConfig_INIT;
        // SAFETY: main GIL held; `config` outlives the call.
        let status = unsafe { ffi::Py_NewInterpreterFromConfig(&mut tstate, &config) };
        // SAFETY: reading the returned status.
        if unsafe { ffi::PyStatus_Exception(status) } != 0 || tstate.is_null() {
            return Err(super::runtime::status_message(&status));
        }
        return Ok(tstate);
    }
    let _ = gil;
    // SAFETY: main GIL held.
    let tstate = unsafe { ffi::Py_NewInterpreter() };
    if tstate.is_null() {
        Err(super::runtime::describe_error(main))
    } else {
        Ok(tstate)
    }
}

/// Whether process-exit code may enter the interpreters: it must run on
/// the thread that started Python, with no request running.
pub fn safe_to_use_at_exit() -> Result<(), String> {
    if !STARTED_PYTHON.with(|s| s.get()) {
        // Prefork runs its exit cleanup from a signal handler, on whichever
        // thread took the signal, possibly one of Python's own threads.
        return Err(
            "process exit is running on a thread other than the one that started Python".into(),
        );
    }
    let busy = ACTIVE_REQUESTS.load(Ordering::SeqCst);
    if busy != 0 {
        return Err(format!("{busy} request(s) still running in this process"));
    }
    Ok(())
}

/// Requests running Python in this process right now.
pub fn active_requests() -> usize {
    ACTIVE_REQUESTS.load(Ordering::SeqCst)
}

/// Runs `f` in every live interpreter with its GIL held: sub-interpreters
/// in creation order, then the main one.
pub fn in_each_interpreter(f: impl Fn(&Interpreter, &Gil<'_>)) {
    let Some(registry) = REGISTRY.get() else {
        return;
    };
    let order: Vec<String> = registry.created.lock().clone();
    let mut names: Vec<&String> = order.iter().filter(|n| !n.is_empty()).collect();
    let main = String::new();
    names.push(&main);
    for name in names {
        let interp = registry.interpreters.lock().by_name.get(name).cloned();
        if let Some(interp) = interp {
            let gil = interp.enter();
            f(&interp, &gil);
            drop(gil);
        }
    }
}

/// Destroys every interpreter at process shutdown: sub-interpreters in the
/// reverse of their creation order, then the main interpreter. Runs on the
/// thread that initialised Python, after request threads have stopped.
pub fn destroy_all() {
    let Some(registry) = REGISTRY.get() else {
        return;
    };
    if let Err(why) = safe_to_use_at_exit() {
        tracing::warn!("Not destroying Python interpreters: {why}");
        return;
    }
    let order: Vec<String> = std::mem::take(&mut *registry.created.lock());
    let mut interpreters = std::mem::take(&mut registry.interpreters.lock().by_name);
    let mut all_ended = !SETUP_FAILED.load(Ordering::SeqCst);
    let process = interpreters
        .get("")
        .map(|main| describe_process(&main.process_group));
    if let Some(process) = &process {
        tracing::info!("Destroying Python sub-interpreters in {process}.");
    }
    for name in order.iter().rev().filter(|n| !n.is_empty()) {
        if let Some(interp) = interpreters.remove(name) {
            all_ended &= end_sub_interpreter(registry, &interp);
        }
    }
    if !all_ended {
        // Finalising the main interpreter while a sub-interpreter is still
        // alive is a fatal error in CPython, so stop here.
        tracing::warn!(
            "Not finalising the main interpreter: a sub-interpreter could not be destroyed"
        );
        return;
    }
    if let Some(main) = interpreters.remove("") {
        let who = describe_interpreter(&main.process_group, "");
        let process = describe_process(&main.process_group);
        tracing::info!("Releasing Python main interpreter wrapper in {process}.");
        tracing::info!("Terminating Python runtime in {process}.");
        let gil = main.enter();
        main.release_objects(&gil);
        let current = THREAD_STATES.with(|m| m.borrow().get(&(main.state as usize)).copied());
        delete_request_thread_states(registry, &main, current);
        std::mem::forget(gil);
        // SAFETY: the main interpreter's thread state is current; Python is
        // not used again in this process.
        let status = unsafe { ffi::Py_FinalizeEx() };
        if status != 0 {
            // Typically a standard stream that cannot be flushed (one
            // restricted by WSGIRestrictStdout); nothing is lost, and the
            // C module is silent here.
            tracing::debug!("Python reported an error while finalising the {who}");
        }
        tracing::info!("Python runtime has shut down in {process}.");
    }
}

/// Deletes the thread states request threads created for `interp`, all
/// but `current`. Deleting one also releases the `threading` module's
/// sentinel for that thread, which finalisation would otherwise wait on
/// when `threading` was first imported by a request thread.
fn delete_request_thread_states(
    registry: &Registry,
    interp: &Interpreter,
    current: Option<*mut ffi::PyThreadState>,
) {
    let ours = registry
        .our_thread_states
        .lock()
        .remove(&(interp.state as usize))
        .unwrap_or_default();
    // SAFETY: this interpreter's GIL is held; the request threads that
    // owned these thread states have finished (no request is active).
    unsafe {
        for &t in &ours {
            let t = t as *mut ffi::PyThreadState;
            if Some(t) != current {
                ffi::PyThreadState_Clear(t);
                ffi::PyThreadState_Delete(t);
            }
        }
    }
}

/// Ends one sub-interpreter; false when it had to be left alive.
fn end_sub_interpreter(registry: &Registry, interp: &Interpreter) -> bool {
    let who = describe_interpreter(&interp.process_group, &interp.name);
    let gil = interp.enter();
    interp.release_objects(&gil);
    let current = THREAD_STATES.with(|m| m.borrow_mut().remove(&(interp.state as usize)));
    delete_request_thread_states(registry, interp, current);
    if has_running_daemon_threads(gil.python()) {
        tracing::warn!(
            "Not destroying the {who}: daemon threads started by the application are still running"
        );
        if let Some(t) = current {
            THREAD_STATES.with(|m| m.borrow_mut().insert(interp.state as usize, t));
        }
        drop(gil);
        return false;
    }
    tracing::info!("Destroying {who}.");
    std::mem::forget(gil);
    // SAFETY: this thread's thread state for the interpreter is current and
    // is its only one left apart from Python's own non-daemon threads,
    // which Py_EndInterpreter joins first.
    unsafe { ffi::Py_EndInterpreter(current.expect("entered above")) };
    // Before 3.12 the shared GIL is still locked on return, with no thread
    // state current: hand it back through this thread's main thread state.
    #[cfg(not(Py_3_12))]
    // SAFETY: the main interpreter is alive; its thread state for this
    // thread is detached, so swapping it in and saving releases the GIL.
    unsafe {
        let main_state = ffi::PyInterpreterState_Main();
        let main_tstate = THREAD_STATES.with(|m| {
            *m.borrow_mut()
                .entry(main_state as usize)
                .or_insert_with(|| ffi::PyThreadState_New(main_state))
        });
        ffi::PyThreadState_Swap(main_tstate);
        ffi::PyEval_SaveThread();
    }
    true
}

/// Whether the current interpreter has daemon threads still running, which
/// would make `Py_EndInterpreter` abort the process.
fn has_running_daemon_threads(py: Python<'_>) -> bool {
    let check = || -> Option<bool> {
        let threading = code::import(py, "threading")?;
        let current = threading.getattr(py, "current_thread")?.call0(py)?;
        let dummy = threading.getattr(py, "_DummyThread")?;
        let threads = threading.getattr(py, "enumerate")?.call0(py)?;
        // SAFETY: GIL held. PyObject_GetIter returns a new reference, or
        // NULL with an exception set.
        let iter = unsafe { Owned::from_new(ffi::PyObject_GetIter(threads.as_ptr())) }?;
        // SAFETY: GIL held.
        // PyIter_Next returns a new reference, or NULL at the end or on an error.
        while let Some(thread) = unsafe { Owned::from_new(ffi::PyIter_Next(iter.as_ptr())) } {
            if thread.as_ptr() == current.as_ptr() {
                continue;
            }
            if object::is_instance(py, &thread, &dummy)? {
                continue; // stands for a request thread, not a Python one
            }
            if object::is_true(py, &thread.getattr(py, "daemon")?) {
                return Some(true);
            }
        }
        Some(false)
    };
    // If Python cannot tell us, do not risk it.
    check().unwrap_or_else(|| {
        errors::clear_error(py);
        true
    })
}
