//! `start_recording_metrics()`, `request_metrics()`, `process_metrics()`
//! and `server_metrics()`.

use crate::apache::scoreboard;
use crate::metrics::now_seconds;
use crate::metrics::{self, report, report::Value};
use crate::python::trampoline::trampoline;
use crate::python::{collections, convert, object::Owned, Python};
use pyo3_ffi as ffi;

fn list(py: Python<'_>, items: impl Iterator<Item = Option<Owned>>) -> Option<Owned> {
    let list = collections::new_list(py)?;
    for item in items {
        if !collections::list_append(py, &list, &item?) {
            return None;
        }
    }
    Some(list)
}

fn to_python(py: Python<'_>, value: &Value) -> Option<Owned> {
    match value {
        Value::None => Some(convert::none(py)),
        Value::Int(n) => convert::int_obj(py, *n),
        Value::Float(f) => convert::float_obj(py, *f),
        Value::Ints(v) => list(py, v.iter().map(|n| convert::int_obj(py, *n))),
        Value::Floats(v) => list(py, v.iter().map(|f| convert::float_obj(py, *f))),
        Value::Records(records) => list(
            py,
            records
                .iter()
                .map(|fields| dict(py, fields.iter().map(|(k, v)| (*k, v)))),
        ),
    }
}

fn dict<'a>(py: Python<'_>, fields: impl Iterator<Item = (&'a str, &'a Value)>) -> Option<Owned> {
    let d = collections::new_dict(py)?;
    for (key, value) in fields {
        if !collections::dict_set(py, &d, key, &to_python(py, value)?) {
            return None;
        }
    }
    Some(d)
}

fn report_dict(py: Python<'_>, fields: &[(String, Value)]) -> *mut ffi::PyObject {
    dict(py, fields.iter().map(|(k, v)| (k.as_str(), v)))
        .map_or(std::ptr::null_mut(), Owned::into_raw)
}

fn none(py: Python<'_>) -> *mut ffi::PyObject {
    convert::none(py).into_raw()
}

pub unsafe extern "C" fn start_recording_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.start_recording_metrics", || {
        metrics::start_recording(now_seconds());
        none(py)
    })
}

pub unsafe extern "C" fn request_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.request_metrics", || {
        let Some(recorder) = metrics::for_python() else {
            return none(py);
        };
        // The drain takes the lock request threads use: release the GIL so a
        // request thread finishing meanwhile is never blocked behind Python.
        let window = crate::python::interp::without_gil(|| {
            recorder.drain(now_seconds(), metrics::usage::process())
        });
        report_dict(
            py,
            &report::request_metrics(
                &window,
                std::process::id(),
                !crate::process::in_daemon_process(),
            ),
        )
    })
}

pub unsafe extern "C" fn process_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.process_metrics", || {
        let Some(recorder) = metrics::for_python() else {
            return none(py);
        };
        let fields = report::process_metrics(
            &recorder.lifetime(),
            std::process::id(),
            metrics::process_start(),
            now_seconds(),
            recorder.active_requests(),
            metrics::usage::process(),
        );
        let Some(d) = dict(py, fields.iter().map(|(k, v)| (k.as_str(), v))) else {
            return std::ptr::null_mut();
        };
        collections::dict_set(
            py,
            &d,
            "gil_enabled",
            &convert::bool_obj(py, crate::python::runtime::gil_enabled(py)),
        );
        let by = metrics::gil_enabled_by()
            .and_then(|s| convert::str_obj(py, s))
            .unwrap_or_else(|| convert::none(py));
        collections::dict_set(py, &d, "gil_enabled_by", &by);
        let Some(fallbacks) = convert::int_obj(py, metrics::own_gil_fallbacks() as i64) else {
            return std::ptr::null_mut();
        };
        collections::dict_set(py, &d, "own_gil_fallbacks", &fallbacks);
        d.into_raw()
    })
}

pub unsafe extern "C" fn server_metrics(
    _m: *mut ffi::PyObject,
    _a: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_held() };
    trampoline(py, "mod_wsgi.server_metrics", || {
        let allowed = crate::process::process_info_if_set().is_some_and(|p| p.server_metrics);
        let Some(board) = allowed.then(scoreboard::read).flatten() else {
            return none(py);
        };
        let now = now_seconds();
        let built = (|| {
            let d = collections::new_dict(py)?;
            let set = |d: &Owned, k: &str, v: Option<Owned>| {
                v.map(|v| collections::dict_set(py, d, k, &v))
            };
            set(
                &d,
                "server_limit",
                convert::int_obj(py, board.server_limit.into()),
            )?;
            set(
                &d,
                "thread_limit",
                convert::int_obj(py, board.thread_limit.into()),
            )?;
            set(
                &d,
                "running_generation",
                convert::int_obj(py, board.running_generation.into()),
            )?;
            set(
                &d,
                "restart_time",
                convert::float_obj(py, board.restart_time),
            )?;
            set(&d, "current_time", convert::float_obj(py, now))?;
            set(
                &d,
                "running_time",
                convert::int_obj(py, (now - board.restart_time).max(0.0) as i64),
            )?;
            let processes = list(
                py,
                board.processes.iter().map(|p| {
                    let pd = collections::new_dict(py)?;
                    set(
                        &pd,
                        "process_num",
                        convert::int_obj(py, p.process_num.into()),
                    )?;
                    set(&pd, "pid", convert::int_obj(py, p.pid.into()))?;
                    set(&pd, "generation", convert::int_obj(py, p.generation.into()))?;
                    set(&pd, "quiescing", Some(convert::bool_obj(py, p.quiescing)))?;
                    let workers = list(
                        py,
                        p.workers.iter().map(|w| {
                            let wd = collections::new_dict(py)?;
                            set(&wd, "thread_num", convert::int_obj(py, w.thread_num.into()))?;
                            set(&wd, "generation", convert::int_obj(py, w.generation.into()))?;
                            set(&wd, "status", convert::str_obj(py, &w.status.to_string()))?;
                            set(
                                &wd,
                                "access_count",
                                convert::int_obj(py, w.access_count as i64),
                            )?;
                            set(&wd, "bytes_served", convert::int_obj(py, w.bytes_served))?;
                            set(&wd, "start_time", convert::float_obj(py, w.start_time))?;
                            set(&wd, "stop_time", convert::float_obj(py, w.stop_time))?;
                            set(&wd, "last_used", convert::float_obj(py, w.last_used))?;
                            set(&wd, "client", convert::str_obj(py, &w.client))?;
                            set(&wd, "request", convert::str_obj(py, &w.request))?;
                            set(&wd, "vhost", convert::str_obj(py, &w.vhost))?;
                            Some(wd)
                        }),
                    );
                    set(&pd, "workers", workers)?;
                    Some(pd)
                }),
            );
            set(&d, "processes", processes)?;
            Some(d)
        })();
        built.map_or(std::ptr::null_mut(), Owned::into_raw)
    })
}
