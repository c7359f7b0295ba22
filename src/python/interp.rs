//! The interpreter registry: one Python interpreter per application group
//! in this process, created lazily and entered per thread through a
//! thread state of its own (never the PyGILState API, which only knows the
//! main interpreter).

use super::object::{self, Owned};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use pyo3_ffi as ffi;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Per-interpreter Python objects the WSGI adapter needs on every request.
pub struct InterpreterObjects {
    pub adapter_type: Owned,
    pub input_type: Owned,
    pub errors_type: Owned,
}

/// A loaded WSGI script module and the file's modification time.
pub struct LoadedScript {
    pub module: Owned,
    pub mtime: i64,
}

pub struct Interpreter {
    /// Application group name; "" is the main interpreter.
    pub name: String,
    pub process_group: String,
    state: *mut ffi::PyInterpreterState,
    /// Only touched with this interpreter's GIL held.
    objects: OnceCell<InterpreterObjects>,
    scripts: Mutex<HashMap<String, LoadedScript>>,
}

// SAFETY: the raw interpreter pointer is process-wide and stable; the
// Python objects inside are only used while holding this interpreter's GIL.
unsafe impl Send for Interpreter {}
// SAFETY: as above.
unsafe impl Sync for Interpreter {}

/// What an interpreter needs when it is set up.
#[derive(Debug, Clone, Default)]
pub struct InterpreterSetup {
    pub process_group: String,
    /// Directory lists for `site.addsitedir`, least specific first.
    pub python_path_layers: Vec<Vec<String>>,
}

struct Registry {
    interpreters: Mutex<HashMap<String, Arc<Interpreter>>>,
}

static REGISTRY: OnceCell<Registry> = OnceCell::new();

thread_local! {
    /// This thread's thread state for each interpreter it has entered.
    static THREAD_STATES: RefCell<HashMap<usize, *mut ffi::PyThreadState>> = RefCell::new(HashMap::new());
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
    // SAFETY: reattaches the same thread state.
    unsafe { ffi::PyEval_RestoreThread(saved) };
    result
}

impl Interpreter {
    /// Attaches this thread to the interpreter, creating the thread's
    /// thread state on first use.
    pub fn enter(&self) -> Gil<'_> {
        let key = self.state as usize;
        let tstate = THREAD_STATES.with(|map| {
            *map.borrow_mut().entry(key).or_insert_with(|| {
                // SAFETY: creating a thread state for a live interpreter
                // does not require the GIL.
                unsafe { ffi::PyThreadState_New(self.state) }
            })
        });
        // SAFETY: `tstate` belongs to this thread and is not attached.
        unsafe { ffi::PyEval_RestoreThread(tstate) };
        Gil::attached()
    }

    pub fn objects(&self, _gil: &Gil<'_>) -> &InterpreterObjects {
        self.objects.get().expect("set up at creation")
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
    fn initialise(&self, setup: &InterpreterSetup) -> Result<(), String> {
        let fail = |what: &str| format!("{what}: {}", super::runtime::describe_error());
        add_python_path(&setup.python_path_layers).ok_or_else(|| fail("cannot extend sys.path"))?;
        let module =
            object::import("mod_wsgi").ok_or_else(|| fail("cannot import the mod_wsgi module"))?;
        crate::pymodule::set_groups(&module, &self.process_group, &self.name)
            .ok_or_else(|| fail("cannot set mod_wsgi attributes"))?;
        let objects = crate::wsgi::types::create()
            .ok_or_else(|| fail("cannot create the WSGI adapter types"))?;
        let _ = self.objects.set(objects);
        Ok(())
    }
}

/// `site.addsitedir()` for each directory, moving what each layer added to
/// the front of `sys.path` so more specific layers come first.
fn add_python_path(layers: &[Vec<String>]) -> Option<()> {
    if layers.is_empty() {
        return Some(());
    }
    let sys = object::import("sys")?;
    let site = object::import("site")?;
    let addsitedir = site.getattr("addsitedir")?;
    for layer in layers {
        let path = sys.getattr("path")?;
        // SAFETY: GIL held; `path` is a list.
        let before = unsafe { ffi::PyList_Size(path.as_ptr()) };
        for dir in layer {
            addsitedir.call(&[&object::str_obj(dir)?])?;
        }
        // Hoist the entries this layer appended to the front, in order.
        // SAFETY: GIL held; slicing and reassigning a list.
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
    let interp = Arc::new(Interpreter {
        name: String::new(),
        process_group: setup.process_group.clone(),
        state,
        objects: OnceCell::new(),
        scripts: Mutex::new(HashMap::new()),
    });
    {
        let _gil = interp.enter();
        interp.initialise(setup)?;
    }
    let registry = REGISTRY.get_or_init(|| Registry {
        interpreters: Mutex::new(HashMap::new()),
    });
    registry
        .interpreters
        .lock()
        .insert(String::new(), interp.clone());
    tracing::info!(
        "Created main interpreter for process group '{}' (shared GIL)",
        setup.process_group
    );
    Ok(interp)
}

/// Returns the interpreter for `application_group`, creating a
/// sub-interpreter on first use. Must be called without any GIL held.
pub fn get_or_create(
    application_group: &str,
    setup: impl FnOnce() -> InterpreterSetup,
) -> Result<Arc<Interpreter>, String> {
    let registry = REGISTRY
        .get()
        .ok_or("Python is not initialised in this process")?;
    let mut interpreters = registry.interpreters.lock();
    if let Some(found) = interpreters.get(application_group) {
        return Ok(found.clone());
    }
    // Creation happens under the registry lock so a group is created once.
    // No thread holding a GIL ever waits on this lock, so this cannot deadlock.
    let main = interpreters
        .get("")
        .cloned()
        .ok_or("main interpreter missing")?;
    let setup = setup();
    let main_gil = main.enter();
    // SAFETY: the main interpreter's GIL is held; on success the new
    // thread state is current.
    let tstate = unsafe { ffi::Py_NewInterpreter() };
    if tstate.is_null() {
        drop(main_gil);
        return Err(format!(
            "cannot create a Python sub-interpreter for application group '{application_group}'"
        ));
    }
    std::mem::forget(main_gil);
    // SAFETY: `tstate` is current and belongs to the new interpreter.
    let state = unsafe { ffi::PyThreadState_GetInterpreter(tstate) };
    THREAD_STATES.with(|map| map.borrow_mut().insert(state as usize, tstate));
    let interp = Arc::new(Interpreter {
        name: application_group.to_string(),
        process_group: setup.process_group.clone(),
        state,
        objects: OnceCell::new(),
        scripts: Mutex::new(HashMap::new()),
    });
    // The new thread state is attached; wrap it so it is released on exit.
    let result = {
        let gil = Gil::attached();
        let r = interp.initialise(&setup);
        drop(gil);
        r
    };
    result?;
    tracing::info!(
        "Created sub-interpreter for application group '{}' in process group '{}' (shared GIL)",
        application_group,
        setup.process_group
    );
    interpreters.insert(application_group.to_string(), interp.clone());
    Ok(interp)
}
