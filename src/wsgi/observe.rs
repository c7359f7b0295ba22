//! What a request reports about itself: the metrics window, slow-request
//! records, `active_requests`, `request_data()` and the request events.

use super::context::IoCounters;
use super::handler::EnvironExtras;
use crate::metrics::board::{FinishedRequest, ProcessRecord};
use crate::metrics::now_seconds;
use crate::metrics::{self, usage, Recorder, RequestSample};
use crate::pymodule::events::{self, EventObjects};
use crate::python::interp;
use crate::python::{
    collections, convert, errors,
    object::{self, Owned},
    Python,
};
use crate::telemetry::reporter::{self, Reporter};
use crate::telemetry::{SlowOutcome, SlowRequest};

/// How the application ran, filled in as the request goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub application_start: f64,
    pub application_finish: f64,
    pub status: u16,
}

/// Accounting that happens outside the GIL, before and after the request.
pub struct Meter {
    slot: usize,
    began: f64,
    /// This thread's CPU time when first needed (it costs a system call).
    cpu_start: std::cell::Cell<Option<(f64, f64)>>,
    recorder: Option<&'static Recorder>,
    /// A metrics window is being recorded (not just lifetime counts).
    windowed: bool,
    slow: Option<&'static Reporter>,
    /// This process's record on the server's metrics board.
    board: Option<ProcessRecord>,
}

impl Meter {
    pub fn begin(extras: &EnvironExtras) -> Meter {
        let slot = super::handler::request_thread_id().saturating_sub(1) as usize;
        let began = now_seconds();
        let recorder = metrics::recorder();
        let windowed = metrics::recording().is_some();
        let slow = reporter::get().filter(|r| r.tracks_slow_requests());
        if let Some(recorder) = recorder {
            recorder.begin(slot, began);
        }
        let board = metrics::record();
        if let Some(record) = board {
            record.begin();
        }
        if let Some(reporter) = slow {
            reporter.slow_begin(slot, describe(extras, reporter, recorder));
        }
        let meter = Meter {
            slot,
            began,
            cpu_start: std::cell::Cell::new(None),
            recorder,
            windowed,
            slow,
            board,
        };
        if windowed || slow.is_some() {
            meter.start_cpu_clock();
        }
        meter
    }

    /// Notes the thread's CPU time, if not done yet.
    pub fn start_cpu_clock(&self) {
        if self.cpu_start.get().is_none() {
            self.cpu_start.set(Some(usage::thread_cpu()));
        }
    }

    /// This thread's CPU use since the clock started: (user, system).
    pub fn cpu(&self) -> (f64, f64) {
        let Some((user0, system0)) = self.cpu_start.get() else {
            return (0.0, 0.0);
        };
        let (user, system) = usage::thread_cpu();
        ((user - user0).max(0.0), (system - system0).max(0.0))
    }

    pub fn finish(&self, extras: &EnvironExtras, timing: &Timing, io: &IoCounters) {
        let finish = if timing.application_finish > 0.0 {
            timing.application_finish
        } else {
            now_seconds()
        };
        if self.board.is_none() && !self.windowed && self.slow.is_none() {
            if let Some(recorder) = self.recorder {
                recorder.finish_untimed(self.slot, self.began, finish);
            }
            return;
        }
        let sample = self.sample(extras, timing, io, finish);
        if let Some(record) = self.board {
            record.finish(&FinishedRequest::of(&sample), &extras.application_group);
        }
        if let Some(recorder) = self.recorder {
            if self.windowed {
                recorder.finish(&sample, self.began);
            } else {
                recorder.finish_untimed(self.slot, self.began, finish);
            }
        }
        if let Some(reporter) = self.slow {
            let outcome = SlowOutcome {
                finish,
                status: timing.status,
                input_bytes: io.read_bytes,
                input_reads: io.reads,
                input_time: io.read_time,
                output_bytes: io.written,
                output_writes: io.writes,
                output_time: io.write_time,
                cpu_user: sample.cpu_user,
                cpu_system: sample.cpu_system,
                gil_wait: sample.gil_wait,
                gil_waits: sample.gil_waits,
                active_at_completion: self.recorder.map_or(0, |r| r.active_requests()),
            };
            reporter.slow_finish(self.slot, &outcome);
        }
    }

    /// The finished request as the metrics see it. The CPU times are 0
    /// unless the clock was started (windows and slow requests only).
    fn sample(
        &self,
        extras: &EnvironExtras,
        timing: &Timing,
        io: &IoCounters,
        finish: f64,
    ) -> RequestSample {
        let (cpu_user, cpu_system) = self.cpu();
        RequestSample {
            slot: self.slot,
            request_start: if extras.request_start > 0.0 {
                extras.request_start
            } else {
                self.began
            },
            queue_start: extras.queue_start,
            daemon_start: extras.daemon_start,
            application_start: if timing.application_start > 0.0 {
                timing.application_start
            } else {
                finish
            },
            application_finish: finish,
            input_reads: io.reads,
            input_bytes: io.read_bytes,
            input_time: io.read_time,
            output_writes: io.writes,
            output_bytes: io.written,
            output_time: io.write_time,
            status: timing.status,
            cpu_user,
            cpu_system,
            gil_wait: interp::gil_wait().as_secs_f64(),
            gil_waits: interp::gil_wait_count(),
            gil_wait_extremes: interp::gil_wait_extremes()
                .map(|(min, max)| (min.as_secs_f64(), max.as_secs_f64())),
        }
    }
}

/// The request as a slow-request record describes it.
fn describe(
    extras: &EnvironExtras,
    reporter: &Reporter,
    recorder: Option<&Recorder>,
) -> SlowRequest {
    let var = |name: &str| {
        super::environ::get(&extras.cgi, name)
            .unwrap_or_default()
            .to_string()
    };
    SlowRequest {
        thread_id: super::handler::request_thread_id() as u64,
        server_pid: extras.server_pid,
        log_id: extras.request_id.clone(),
        method: var("REQUEST_METHOD"),
        scheme: extras.url_scheme.to_string(),
        hostname: var("HTTP_HOST"),
        script_name: var("SCRIPT_NAME"),
        path_info: var("PATH_INFO"),
        protocol: var("SERVER_PROTOCOL"),
        peer_ip: var("REMOTE_ADDR"),
        user_agent: if reporter.capture_user_agent() {
            var("HTTP_USER_AGENT")
        } else {
            String::new()
        },
        request_start: extras.request_start,
        queue_start: extras.queue_start,
        daemon_start: extras.daemon_start,
        application_start: now_seconds(),
        active_at_start: recorder.map_or(1, |r| r.active_requests()),
    }
}

/// The Python side of a request: its `request_data()` dict, its entry in
/// `active_requests`, and the events when anything subscribed.
pub struct RequestEvents<'a> {
    objects: &'a EventObjects,
    data: Owned,
    request_id: Owned,
    subscribed: bool,
}

impl<'a> RequestEvents<'a> {
    /// Starts the request's Python state (with the GIL held).
    pub fn begin(
        py: Python<'_>,
        objects: &'a EventObjects,
        extras: &EnvironExtras,
        meter: &Meter,
    ) -> Option<RequestEvents<'a>> {
        let data = collections::new_dict(py)?;
        let request_id = convert::str_obj(py, &extras.request_id)?;
        let subscribed = objects.subscribed(py);
        if subscribed {
            meter.start_cpu_clock();
        }
        events::begin_request(&objects.subscribers, &data, &request_id, subscribed);
        Some(RequestEvents {
            objects,
            data,
            request_id,
            subscribed,
        })
    }

    fn payload(&self, py: Python<'_>) -> Option<Owned> {
        let d = collections::new_dict(py)?;
        self.objects.set(py, &d, "request_id", &self.request_id);
        self.objects.set(py, &d, "request_data", &self.data);
        Some(d)
    }

    /// Records the request in `active_requests` and publishes
    /// `request_started`; returns the application to call, which a
    /// subscriber may have replaced.
    #[allow(clippy::too_many_arguments)]
    pub fn started(
        &self,
        py: Python<'_>,
        extras: &EnvironExtras,
        callable: &str,
        environ: &Owned,
        application: Owned,
        application_start: f64,
        log: &dyn Fn(&str),
    ) -> Owned {
        let built = (|| {
            let d = self.payload(py)?;
            let set =
                |k: &'static str, v: Option<Owned>| v.map(|v| self.objects.set(py, &d, k, &v));
            set(
                "thread_id",
                convert::int_obj(py, super::handler::request_thread_id()),
            )?;
            set("server_pid", convert::int_obj(py, extras.server_pid.into()))?;
            set(
                "request_start",
                convert::float_obj(py, extras.request_start),
            )?;
            set("queue_start", convert::float_obj(py, extras.queue_start))?;
            set("daemon_start", convert::float_obj(py, extras.daemon_start))?;
            set(
                "application_start",
                convert::float_obj(py, application_start),
            )?;
            set("callable_object", convert::str_obj(py, callable))?;
            set("request_environ", Some(environ.clone()))?;
            set("application_object", Some(application.clone()))?;
            set(
                "daemon_connects",
                convert::int_obj(py, extras.daemon_connects.into()),
            )?;
            set(
                "daemon_restarts",
                convert::int_obj(py, extras.daemon_restarts.into()),
            )?;
            Some(d)
        })();
        let Some(payload) = built else {
            errors::clear_error(py);
            return application;
        };
        let active = &self.objects.active_requests;
        collections::dict_set_item(py, active, &self.request_id, &payload);
        if !self.subscribed {
            return application;
        }
        // Subscribers get their own copy: what they merge in must not
        // change the active-request record.
        let Some(event) = collections::dict_copy(py, &payload) else {
            errors::clear_error(py);
            return application;
        };
        events::publish(
            py,
            &self.objects.subscribers,
            "request_started",
            &event,
            log,
        );
        let chosen = collections::dict_get(py, &event, "application_object");
        chosen.unwrap_or(application)
    }

    /// Publishes `request_exception` for the pending exception, leaving
    /// it pending.
    pub fn exception(&self, py: Python<'_>, log: &dyn Fn(&str)) {
        if !self.subscribed {
            return;
        }
        let Some(exception) = errors::take_exception(py) else {
            return;
        };
        let kind = object::type_of(py, &exception);
        let trace = exception
            .getattr(py, "__traceback__")
            .unwrap_or_else(|| convert::none(py));
        let info = collections::tuple(py, &[&kind, &exception, &trace]);
        if let (Some(info), Some(payload)) = (info, self.payload(py)) {
            collections::dict_set(py, &payload, "exception_info", &info);
            events::publish(
                py,
                &self.objects.subscribers,
                "request_exception",
                &payload,
                log,
            );
        }
        errors::clear_error(py);
        errors::restore_exception(py, exception);
    }

    /// Publishes `request_finished` with the request's figures.
    pub fn finished(
        &self,
        py: Python<'_>,
        extras: &EnvironExtras,
        meter: &Meter,
        timing: &Timing,
        io: &IoCounters,
        log: &dyn Fn(&str),
    ) {
        if !self.subscribed {
            return;
        }
        let (cpu_user, cpu_system) = meter.cpu();
        let built = (|| {
            let d = self.payload(py)?;
            let set =
                |k: &'static str, v: Option<Owned>| v.map(|v| self.objects.set(py, &d, k, &v));
            let float = |k: &'static str, v: f64| set(k, convert::float_obj(py, v));
            let int = |k: &'static str, v: u64| {
                set(k, convert::int_obj(py, v.min(i64::MAX as u64) as i64))
            };
            int("thread_id", super::handler::request_thread_id() as u64)?;
            int("server_pid", extras.server_pid.into())?;
            float("request_start", extras.request_start)?;
            float("queue_start", extras.queue_start)?;
            float("daemon_start", extras.daemon_start)?;
            float("application_start", timing.application_start)?;
            float("application_finish", timing.application_finish)?;
            float(
                "application_time",
                (timing.application_finish - timing.application_start).max(0.0),
            )?;
            int("input_reads", io.reads)?;
            int("input_length", io.read_bytes)?;
            float("input_time", io.read_time)?;
            int("output_writes", io.writes)?;
            int("output_length", io.written)?;
            float("output_time", io.write_time)?;
            int("status", timing.status.into())?;
            float("cpu_user_time", cpu_user)?;
            float("cpu_system_time", cpu_system)?;
            float("cpu_time", cpu_user + cpu_system)?;
            float("gil_wait_time", interp::gil_wait().as_secs_f64())?;
            int("gil_wait_count", interp::gil_wait_count())?;
            Some(d)
        })();
        match built {
            Some(payload) => events::publish(
                py,
                &self.objects.subscribers,
                "request_finished",
                &payload,
                log,
            ),
            None => errors::clear_error(py),
        }
    }

    /// Removes the request from `active_requests` and this thread.
    pub fn end(self, py: Python<'_>) {
        let active = &self.objects.active_requests;
        // Absent is fine.
        if !collections::dict_del_item(py, active, &self.request_id) {
            errors::clear_error(py);
        }
        events::end_request();
    }
}
