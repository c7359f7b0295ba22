//! Live telemetry (`WSGITelemetryService`): what each datagram carries.
//! Encoding is pure; the reporter thread and socket are in `reporter`.

#[cfg(not(test))]
pub mod reporter;
pub mod wire;

use crate::metrics::{Phase, Window};
use wire::{Datagram, Kind};

/// Who is reporting: constant for the life of a process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub pid: u32,
    pub mod_wsgi_version: String,
    pub python_version: String,
    pub apache_version: String,
    pub mpm_name: String,
    pub hostname: String,
    pub process_group: String,
    pub parent_pid: u32,
}

/// Reporter settings echoed in every interval sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Settings {
    pub interval: f64,
    /// `WSGISlowRequests` in seconds (0 reports every request); None
    /// when not set.
    pub slow_threshold: Option<f64>,
    /// The main interpreter's GIL switch interval (seconds).
    pub switch_interval: f64,
}

fn identity_fields(d: &mut Datagram, id: &Identity, with_versions: bool) {
    if with_versions {
        d.str("mod_wsgi_version", &id.mod_wsgi_version)
            .str("python_version", &id.python_version)
            .str("apache_version", &id.apache_version)
            .str("mpm_name", &id.mpm_name);
    }
    d.str("hostname", &id.hostname)
        .str("process_group", &id.process_group)
        .u64("process_parent_pid", id.parent_pid.into());
}

/// The periodic sample for one drained window.
pub fn interval(w: &Window, id: &Identity, settings: &Settings, seq: u32) -> Datagram {
    let mut d = Datagram::new(Kind::Interval, id.pid, seq, w.stop);
    identity_fields(&mut d, id, true);
    d.f64("sample_period", w.period())
        .f64("telemetry_interval", settings.interval)
        .f64(
            "slow_requests_threshold",
            settings.slow_threshold.unwrap_or(0.0),
        )
        .f64("switch_interval", settings.switch_interval);
    let (user, system) = w.cpu_rates();
    d.u64("request_count", w.request_count)
        .f64("request_throughput", w.throughput())
        .f64("capacity_utilization", w.capacity_utilization())
        .f64("cpu_user_utilization", user)
        .f64("cpu_system_utilization", system)
        .f64("cpu_utilization", user + system)
        .u64("memory_rss", w.usage.memory_rss)
        .u64("memory_max_rss", w.usage.memory_max_rss)
        .u64("request_threads_maximum", w.threads_maximum as u64)
        .u64("request_threads_started", w.threads_started as u64)
        .u64("request_threads_active", w.threads_active as u64);
    for phase in Phase::ALL {
        let stats = w.phase(phase);
        let name = phase.name();
        d.f64(name, stats.mean_over(w.request_count));
        if let Some((min, max)) = stats.extremes() {
            d.f64(&format!("{name}_min"), min)
                .f64(&format!("{name}_max"), max);
        }
        d.i32_array(&format!("{name}_buckets"), stats.histogram.counts());
    }
    d.u64("input_bytes_total", w.input_bytes)
        .u64("input_reads_total", w.input_reads)
        .u64("output_bytes_total", w.output_bytes)
        .u64("output_writes_total", w.output_writes)
        .i32_array("request_threads_completed", &w.slots.completed)
        .f64_array("request_threads_busy_time", &w.slots.busy_time)
        .f64_array("request_threads_cpu_time", &w.slots.cpu_time)
        .f64_array("request_threads_current_elapsed", &w.slots.current_elapsed)
        .f64_array("request_threads_max_duration", &w.slots.max_duration);
    for (i, count) in w.status_classes.iter().enumerate() {
        d.u64(&format!("status_{}xx_total", i + 1), *count);
    }
    d
}

/// Announces a process that has started serving.
pub fn process_started(id: &Identity, settings: &Settings, seq: u32, stamp: f64) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStarted, id.pid, seq, stamp);
    identity_fields(&mut d, id, true);
    d.f64("switch_interval", settings.switch_interval);
    d
}

/// The process has decided to stop, with `active` requests in flight.
pub fn process_stopping(
    id: &Identity,
    seq: u32,
    stamp: f64,
    reason: &str,
    active: usize,
) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStopping, id.pid, seq, stamp);
    identity_fields(&mut d, id, false);
    d.str("shutdown_reason", reason)
        .u64("active_requests_at_decision", active as u64);
    d
}

/// What a process did in its life, sent as it exits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exit {
    pub reason: String,
    pub uptime: f64,
    pub requests: u64,
    pub active: usize,
}

pub fn process_stopped(id: &Identity, seq: u32, stamp: f64, exit: &Exit) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStopped, id.pid, seq, stamp);
    identity_fields(&mut d, id, false);
    d.str("shutdown_reason", &exit.reason)
        .f64("process_uptime", exit.uptime)
        .u64("lifetime_request_count", exit.requests)
        .u64("active_requests_at_exit", exit.active as u64)
        .u64("graceful_drain", u64::from(exit.active == 0));
    d
}

/// One interpreter's cyclic garbage collector, as the `gc` module reports
/// it: per generation, the allocation counts and thresholds, and the
/// collections, objects collected and uncollectable objects so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcSnapshot {
    /// The application group (empty for the main interpreter).
    pub interpreter: String,
    pub count: [u64; 3],
    pub threshold: [u64; 3],
    pub collections: [u64; 3],
    pub collected: [u64; 3],
    pub uncollectable: [u64; 3],
    pub enabled: bool,
    pub freeze_count: u64,
}

/// One cyclic collection pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcEvent {
    pub interpreter: String,
    /// Wall-clock start, seconds since the epoch.
    pub start: f64,
    pub duration: f64,
    pub generation: u64,
    pub collected: u64,
    pub uncollectable: u64,
}

/// The interpreter's name field: omitted for the main interpreter, which
/// the ingester takes as the default.
fn interpreter_field(d: &mut Datagram, interpreter: &str) {
    if !interpreter.is_empty() {
        d.str("interpreter_name", interpreter);
    }
}

/// A periodic garbage-collector snapshot of one interpreter; `dropped` is
/// how many collection events this process could not queue so far.
pub fn gc_snapshot(pid: u32, seq: u32, stamp: f64, gc: &GcSnapshot, dropped: u64) -> Datagram {
    let mut d = Datagram::new(Kind::GcSnapshot, pid, seq, stamp);
    interpreter_field(&mut d, &gc.interpreter);
    for (name, values) in [
        ("gc_count", &gc.count),
        ("gc_threshold", &gc.threshold),
        ("gc_collections", &gc.collections),
        ("gc_collected", &gc.collected),
        ("gc_uncollectable", &gc.uncollectable),
    ] {
        for (generation, value) in values.iter().enumerate() {
            d.u64(&format!("{name}{generation}"), *value);
        }
    }
    d.u64("gc_is_enabled", u64::from(gc.enabled))
        .u64("gc_freeze_count", gc.freeze_count)
        .u64("gc_dropped_events", dropped);
    d
}

/// One collection pass, stamped with its end.
pub fn gc_event(pid: u32, seq: u32, event: &GcEvent) -> Datagram {
    let mut d = Datagram::new(Kind::GcEvent, pid, seq, event.start + event.duration);
    interpreter_field(&mut d, &event.interpreter);
    d.f64("gc_event_start_stamp", event.start)
        .f64("gc_event_duration", event.duration)
        .u64("gc_event_generation", event.generation)
        .u64("gc_event_collected", event.collected)
        .u64("gc_event_uncollectable", event.uncollectable);
    d
}

/// A request that ran past `WSGISlowRequests`: what it was and how far
/// it has got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlowRequest {
    pub thread_id: u64,
    pub server_pid: u32,
    pub log_id: String,
    pub method: String,
    pub scheme: String,
    pub hostname: String,
    pub script_name: String,
    pub path_info: String,
    pub protocol: String,
    pub peer_ip: String,
    /// Empty unless `WSGITelemetryOptions +CaptureUserAgent`.
    pub user_agent: String,
    pub request_start: f64,
    pub queue_start: f64,
    pub daemon_start: f64,
    pub application_start: f64,
    pub active_at_start: usize,
}

/// How a slow request ended (for the completed record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlowOutcome {
    pub finish: f64,
    pub status: u16,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub input_time: f64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub output_time: f64,
    pub cpu_user: f64,
    pub cpu_system: f64,
    pub gil_wait: f64,
    pub gil_waits: u64,
    pub active_at_completion: usize,
}

/// A slow-request record: still running at `now` (no outcome) or done.
pub fn slow_request(
    pid: u32,
    seq: u32,
    now: f64,
    r: &SlowRequest,
    outcome: Option<&SlowOutcome>,
) -> Datagram {
    let mut d = Datagram::new(Kind::SlowRequest, pid, seq, now);
    let end = outcome.map_or(now, |o| o.finish);
    let daemon = r.queue_start > 0.0 && r.daemon_start > 0.0;
    let handed_on = if daemon {
        r.queue_start
    } else {
        r.application_start
    };
    let span = |a: f64, b: f64| {
        if a > 0.0 && b > 0.0 {
            (b - a).max(0.0)
        } else {
            0.0
        }
    };
    d.u64("slow_record_state", u64::from(outcome.is_some()))
        .f64("slow_start_stamp", r.request_start)
        .f64("slow_duration", (end - r.request_start).max(0.0))
        .u64("slow_thread_id", r.thread_id)
        .str("slow_log_id", &r.log_id)
        .u64("slow_server_pid", r.server_pid.into())
        .str("slow_method", &r.method)
        .str("slow_scheme", &r.scheme)
        .str("slow_hostname", &r.hostname)
        .str("slow_script_name", &r.script_name)
        .str("slow_path_info", &r.path_info)
        .str("slow_protocol", &r.protocol)
        .str("slow_peer_ip", &r.peer_ip);
    if !r.user_agent.is_empty() {
        d.str("slow_user_agent", &r.user_agent);
    }
    d.f64("slow_server_time", span(r.request_start, handed_on))
        .f64(
            "slow_queue_time",
            if daemon {
                span(r.queue_start, r.daemon_start)
            } else {
                0.0
            },
        )
        .f64(
            "slow_daemon_time",
            if daemon {
                span(r.daemon_start, r.application_start)
            } else {
                0.0
            },
        )
        .f64("slow_application_time", span(r.application_start, end))
        .u64("slow_active_at_start", r.active_at_start as u64);
    let o = outcome.cloned().unwrap_or_default();
    d.f64("slow_gil_wait_time", o.gil_wait)
        .u64("slow_gil_wait_count", o.gil_waits)
        .u64("slow_input_bytes", o.input_bytes)
        .u64("slow_input_reads", o.input_reads)
        .u64("slow_output_bytes", o.output_bytes)
        .u64("slow_output_writes", o.output_writes)
        .f64("slow_input_read_time", o.input_time)
        .f64("slow_output_write_time", o.output_time)
        .u64("slow_status", o.status.into())
        .f64("slow_cpu_user_time", o.cpu_user)
        .f64("slow_cpu_system_time", o.cpu_system)
        .u64("slow_active_at_completion", o.active_at_completion as u64);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Recorder, RequestSample, Usage};

    /// Walks the TLV fields after the header: (id, type) pairs.
    fn field_ids(bytes: &[u8]) -> Vec<(u16, u8)> {
        let mut out = Vec::new();
        let mut off = 24;
        while off < bytes.len() {
            let id = u16::from_le_bytes([bytes[off], bytes[off + 1]]);
            let ty = bytes[off + 2];
            off += 3;
            off += match ty {
                1..=3 => 8,
                4..=6 => {
                    let n = u16::from_le_bytes([bytes[off], bytes[off + 1]]) as usize;
                    2 + n * [1, 4, 8][(ty - 4) as usize]
                }
                _ => panic!("bad type {ty}"),
            };
            out.push((id, ty));
        }
        assert_eq!(off, bytes.len());
        out
    }

    #[test]
    fn an_idle_interval_has_no_extremes() {
        let r = Recorder::new(2, 0.0, Usage::default());
        let w = r.drain(1.0, Usage::default());
        let d = interval(&w, &Identity::default(), &Settings::default(), 1);
        let ids = field_ids(d.bytes());
        assert!(ids.contains(&(20, 1)));
        assert!(ids.contains(&(90, 5)));
        assert!(!ids.iter().any(|(id, _)| (70..90).contains(id)));
    }

    #[test]
    fn a_busy_interval_carries_extremes_and_per_slot_arrays() {
        let r = Recorder::new(2, 0.0, Usage::default());
        r.begin(1, 0.0);
        r.finish(
            &RequestSample {
                slot: 1,
                application_finish: 0.01,
                status: 200,
                ..RequestSample::default()
            },
            0.0,
        );
        let w = r.drain(1.0, Usage::default());
        let settings = Settings {
            interval: 1.0,
            slow_threshold: Some(2.0),
            switch_interval: 0.005,
        };
        let d = interval(&w, &Identity::default(), &settings, 2);
        let ids = field_ids(d.bytes());
        for id in [13, 63, 73, 83, 93, 110, 111, 121] {
            assert!(ids.iter().any(|(i, _)| *i == id), "field {id}");
        }
        assert_eq!(&d.bytes()[12..16], &2u32.to_le_bytes());
    }

    #[test]
    fn lifecycle_records_carry_their_fields() {
        let id = Identity {
            pid: 9,
            process_group: "app".into(),
            ..Identity::default()
        };
        let settings = Settings {
            switch_interval: 0.005,
            ..Settings::default()
        };
        let started = process_started(&id, &settings, 1, 0.0);
        assert_eq!(started.bytes()[5], Kind::ProcessStarted as u8);
        assert!(field_ids(started.bytes()).contains(&(13, 2)));
        let stopping = process_stopping(&id, 2, 0.0, "maximum_requests", 1);
        let ids: Vec<u16> = field_ids(stopping.bytes()).iter().map(|f| f.0).collect();
        assert_eq!(ids, vec![5, 6, 7, 130, 133]);
        let exit = Exit {
            reason: "shutdown_signal".into(),
            uptime: 3.0,
            requests: 4,
            active: 0,
        };
        let stopped = process_stopped(&id, 3, 0.0, &exit);
        assert_eq!(stopped.bytes()[5], Kind::ProcessStopped as u8);
        let ids: Vec<u16> = field_ids(stopped.bytes()).iter().map(|f| f.0).collect();
        assert_eq!(ids, vec![5, 6, 7, 130, 131, 132, 134, 135]);
    }

    #[test]
    fn gc_records_name_sub_interpreters_only() {
        let snapshot = GcSnapshot {
            interpreter: "shop".into(),
            count: [5, 1, 0],
            threshold: [700, 10, 10],
            enabled: true,
            ..GcSnapshot::default()
        };
        let d = gc_snapshot(4, 1, 2.0, &snapshot, 3);
        assert_eq!(d.bytes()[5], Kind::GcSnapshot as u8);
        let ids: Vec<u16> = field_ids(d.bytes()).iter().map(|f| f.0).collect();
        let mut expected = vec![8];
        expected.extend(300..=317);
        assert_eq!(ids, expected);
        let main = GcSnapshot::default();
        let ids: Vec<u16> = field_ids(gc_snapshot(4, 2, 2.0, &main, 0).bytes())
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(ids.first(), Some(&300));

        let event = GcEvent {
            start: 10.0,
            duration: 0.5,
            generation: 2,
            ..GcEvent::default()
        };
        let d = gc_event(4, 3, &event);
        assert_eq!(d.bytes()[5], Kind::GcEvent as u8);
        assert_eq!(&d.bytes()[16..24], &10.5f64.to_le_bytes());
        let ids: Vec<u16> = field_ids(d.bytes()).iter().map(|f| f.0).collect();
        assert_eq!(ids, vec![320, 321, 322, 323, 324]);
    }

    #[test]
    fn slow_records_mark_their_state() {
        let r = SlowRequest {
            request_start: 10.0,
            application_start: 10.5,
            method: "GET".into(),
            ..SlowRequest::default()
        };
        let active = slow_request(1, 1, 12.0, &r, None);
        let ids = field_ids(active.bytes());
        assert!(!ids.iter().any(|(i, _)| *i == 217), "no user agent");
        // slow_record_state is the first field: id 200, u64 0.
        assert_eq!(&active.bytes()[24..27], &[200, 0, 1]);
        assert_eq!(&active.bytes()[27..35], &0u64.to_le_bytes());
        let done = SlowOutcome {
            finish: 13.0,
            status: 200,
            ..SlowOutcome::default()
        };
        let completed = slow_request(1, 2, 13.0, &r, Some(&done));
        assert_eq!(&completed.bytes()[27..35], &1u64.to_le_bytes());
    }
}
