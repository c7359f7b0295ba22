//! `start_recording_metrics()`, `request_metrics()`, `process_metrics()`
//! and `server_metrics()`.

use crate::apache::scoreboard;
use crate::metrics::now_seconds;
use crate::metrics::{self, report, report::Value};
use crate::python::object::{self, Owned};
use crate::python::trampoline::trampoline;
use pyo3_ffi as ffi;

fn list(items: impl Iterator<Item = Option<Owned>>) -> Option<Owned> {
    let list = object::new_list()?;
    for item in items {
        // SAFETY: GIL held; PyList_Append does not steal.
        if unsafe { ffi::PyList_Append(list.as_ptr(), item?.as_ptr()) } != 0 {
            return None;
        }
    }
    Some(list)
}

fn to_python(value: &Value) -> Option<Owned> {
    match value {
        Value::None => Some(object::none()),
        Value::Int(n) => object::int_obj(*n),
        Value::Float(f) => object::float_obj(*f),
        Value::Ints(v) => list(v.iter().map(|n| object::int_obj(*n))),
        Value::Floats(v) => list(v.iter().map(|f| object::float_obj(*f))),
        Value::Records(records) => list(
            records
                .iter()
                .map(|fields| dict(fields.iter().map(|(k, v)| (*k, v)))),
        ),
    }
}

fn dict<'a>(fields: impl Iterator<Item = (&'a str, &'a Value)>) -> Option<Owned> {
    let d = object::new_dict()?;
    for (key, value) in fields {
        if !object::dict_set(&d, key, &to_python(value)?) {
            return None;
        }
    }
    Some(d)
}

fn report_dict(fields: &[(String, Value)]) -> *mut ffi::PyObject {
    dict(fields.iter().map(|(k, v)| (k.as_str(), v))).map_or(std::ptr::null_mut(), Owned::into_raw)
}

fn none() -> *mut ffi::PyObject {
    object::none().into_raw()
}

pub unsafe extern "C" fn start_recording_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    trampoline("mod_wsgi.start_recording_metrics", || {
        metrics::start_recording(now_seconds());
        none()
    })
}

pub unsafe extern "C" fn request_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    trampoline("mod_wsgi.request_metrics", || {
        let Some(recorder) = metrics::for_python() else {
            return none();
        };
        // The drain takes the lock request threads use: release the GIL so a
        // request thread finishing meanwhile is never blocked behind Python.
        let window = crate::python::interp::without_gil(|| {
            recorder.drain(now_seconds(), metrics::usage::process())
        });
        report_dict(&report::request_metrics(
            &window,
            std::process::id(),
            !crate::process::in_daemon_process(),
        ))
    })
}

pub unsafe extern "C" fn process_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    trampoline("mod_wsgi.process_metrics", || {
        let Some(recorder) = metrics::for_python() else {
            return none();
        };
        let fields = report::process_metrics(
            &recorder.lifetime(),
            std::process::id(),
            metrics::process_start(),
            now_seconds(),
            recorder.active_requests(),
            metrics::usage::process(),
        );
        let Some(d) = dict(fields.iter().map(|(k, v)| (k.as_str(), v))) else {
            return std::ptr::null_mut();
        };
        object::dict_set(
            &d,
            "gil_enabled",
            &object::bool_obj(crate::python::runtime::gil_enabled()),
        );
        let by = metrics::gil_enabled_by()
            .and_then(object::str_obj)
            .unwrap_or_else(object::none);
        object::dict_set(&d, "gil_enabled_by", &by);
        let Some(fallbacks) = object::int_obj(metrics::own_gil_fallbacks() as i64) else {
            return std::ptr::null_mut();
        };
        object::dict_set(&d, "own_gil_fallbacks", &fallbacks);
        d.into_raw()
    })
}

pub unsafe extern "C" fn server_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    trampoline("mod_wsgi.server_metrics", || {
        let allowed = crate::process::process_info_if_set().is_some_and(|p| p.server_metrics);
        let Some(board) = allowed.then(scoreboard::read).flatten() else {
            return none();
        };
        let now = now_seconds();
        let built = (|| {
            let d = object::new_dict()?;
            let set = |d: &Owned, k: &str, v: Option<Owned>| v.map(|v| object::dict_set(d, k, &v));
            set(
                &d,
                "server_limit",
                object::int_obj(board.server_limit.into()),
            )?;
            set(
                &d,
                "thread_limit",
                object::int_obj(board.thread_limit.into()),
            )?;
            set(
                &d,
                "running_generation",
                object::int_obj(board.running_generation.into()),
            )?;
            set(&d, "restart_time", object::float_obj(board.restart_time))?;
            set(&d, "current_time", object::float_obj(now))?;
            set(
                &d,
                "running_time",
                object::int_obj((now - board.restart_time).max(0.0) as i64),
            )?;
            let processes = list(board.processes.iter().map(|p| {
                let pd = object::new_dict()?;
                set(&pd, "process_num", object::int_obj(p.process_num.into()))?;
                set(&pd, "pid", object::int_obj(p.pid.into()))?;
                set(&pd, "generation", object::int_obj(p.generation.into()))?;
                set(&pd, "quiescing", Some(object::bool_obj(p.quiescing)))?;
                let workers = list(p.workers.iter().map(|w| {
                    let wd = object::new_dict()?;
                    set(&wd, "thread_num", object::int_obj(w.thread_num.into()))?;
                    set(&wd, "generation", object::int_obj(w.generation.into()))?;
                    set(&wd, "status", object::str_obj(&w.status.to_string()))?;
                    set(&wd, "access_count", object::int_obj(w.access_count as i64))?;
                    set(&wd, "bytes_served", object::int_obj(w.bytes_served))?;
                    set(&wd, "start_time", object::float_obj(w.start_time))?;
                    set(&wd, "stop_time", object::float_obj(w.stop_time))?;
                    set(&wd, "last_used", object::float_obj(w.last_used))?;
                    set(&wd, "client", object::str_obj(&w.client))?;
                    set(&wd, "request", object::str_obj(&w.request))?;
                    set(&wd, "vhost", object::str_obj(&w.vhost))?;
                    Some(wd)
                }));
                set(&pd, "workers", workers)?;
                Some(pd)
            }));
            set(&d, "processes", processes)?;
            Some(d)
        })();
        built.map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}
