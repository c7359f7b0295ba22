//! Live telemetry (`WSGITelemetryService`): what each datagram carries.
//! Encoding is pure; the reporter thread and socket are in `reporter`.

#[cfg(not(test))]
pub mod reporter;
pub mod wire;

use crate::metrics::{Phase, Window};
use wire::{Datagram, Field, Kind};

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
    /// The process started without the GIL (`WSGIFreeThreading`), so an
    /// import may have turned it back on since.
    pub free_threading: bool,
}

/// The GIL's state in the process, as each interval sample reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GilReport {
    /// The GIL is on: always with a build that has one.
    pub enabled: bool,
    /// The extension module whose import turned the GIL back on in a
    /// free-threaded process (the first one CPython warned about).
    pub enabled_by: Option<String>,
    /// Sub-interpreters of the process that fell back to the shared GIL
    /// (`WSGIOwnGILFallback On`).
    pub own_gil_fallbacks: u64,
}

fn identity_fields(d: &mut Datagram, id: &Identity, with_versions: bool) {
    if with_versions {
        d.str(Field::ModWsgiVersion, &id.mod_wsgi_version)
            .str(Field::PythonVersion, &id.python_version)
            .str(Field::ApacheVersion, &id.apache_version)
            .str(Field::MpmName, &id.mpm_name);
    }
    d.str(Field::Hostname, &id.hostname)
        .str(Field::ProcessGroup, &id.process_group)
        .u64(Field::ProcessParentPid, id.parent_pid.into());
}

/// A phase's fields: its mean, minimum, maximum and histogram buckets.
fn phase_fields(phase: Phase) -> [Field; 4] {
    use Field::*;
    match phase {
        Phase::Server => [ServerTime, ServerTimeMin, ServerTimeMax, ServerTimeBuckets],
        Phase::Queue => [QueueTime, QueueTimeMin, QueueTimeMax, QueueTimeBuckets],
        Phase::Daemon => [DaemonTime, DaemonTimeMin, DaemonTimeMax, DaemonTimeBuckets],
        Phase::Application => [
            ApplicationTime,
            ApplicationTimeMin,
            ApplicationTimeMax,
            ApplicationTimeBuckets,
        ],
        Phase::Request => [
            RequestTime,
            RequestTimeMin,
            RequestTimeMax,
            RequestTimeBuckets,
        ],
        Phase::InputRead => [
            InputReadTime,
            InputReadTimeMin,
            InputReadTimeMax,
            InputReadTimeBuckets,
        ],
        Phase::OutputWrite => [
            OutputWriteTime,
            OutputWriteTimeMin,
            OutputWriteTimeMax,
            OutputWriteTimeBuckets,
        ],
        Phase::GilWait => [
            GilWaitTime,
            GilWaitTimeMin,
            GilWaitTimeMax,
            GilWaitTimeBuckets,
        ],
    }
}

/// The counts of responses by status class, 1xx to 5xx.
const STATUS_FIELDS: [Field; 5] = [
    Field::Status1xxTotal,
    Field::Status2xxTotal,
    Field::Status3xxTotal,
    Field::Status4xxTotal,
    Field::Status5xxTotal,
];

/// The periodic sample for one drained window.
pub fn interval(
    w: &Window,
    id: &Identity,
    settings: &Settings,
    gil: &GilReport,
    seq: u32,
) -> Datagram {
    let mut d = Datagram::new(Kind::Interval, id.pid, seq, w.stop);
    identity_fields(&mut d, id, true);
    d.f64(Field::SamplePeriod, w.period())
        .f64(Field::TelemetryInterval, settings.interval)
        .f64(
            Field::SlowRequestsThreshold,
            settings.slow_threshold.unwrap_or(0.0),
        )
        .f64(Field::SwitchInterval, settings.switch_interval);
    let (user, system) = w.cpu_rates();
    d.u64(Field::RequestCount, w.request_count)
        .f64(Field::RequestThroughput, w.throughput())
        .f64(Field::CapacityUtilization, w.capacity_utilization())
        .f64(Field::CpuUserUtilization, user)
        .f64(Field::CpuSystemUtilization, system)
        .f64(Field::CpuUtilization, user + system)
        .u64(Field::MemoryRss, w.usage.memory_rss)
        .u64(Field::MemoryMaxRss, w.usage.memory_max_rss)
        .u64(Field::RequestThreadsMaximum, w.threads_maximum as u64)
        .u64(Field::RequestThreadsStarted, w.threads_started as u64)
        .u64(Field::RequestThreadsActive, w.threads_active as u64);
    for phase in Phase::ALL {
        let stats = w.phase(phase);
        let [mean, min_field, max_field, buckets] = phase_fields(phase);
        d.f64(mean, stats.mean_over(w.request_count));
        if let Some((min, max)) = stats.extremes() {
            d.f64(min_field, min).f64(max_field, max);
        }
        d.i32_array(buckets, stats.histogram.counts());
    }
    d.u64(Field::InputBytesTotal, w.input_bytes)
        .u64(Field::InputReadsTotal, w.input_reads)
        .u64(Field::OutputBytesTotal, w.output_bytes)
        .u64(Field::OutputWritesTotal, w.output_writes)
        .i32_array(Field::RequestThreadsCompleted, &w.slots.completed)
        .f64_array(Field::RequestThreadsBusyTime, &w.slots.busy_time)
        .f64_array(Field::RequestThreadsCpuTime, &w.slots.cpu_time)
        .f64_array(
            Field::RequestThreadsCurrentElapsed,
            &w.slots.current_elapsed,
        )
        .f64_array(Field::RequestThreadsMaxDuration, &w.slots.max_duration);
    for (field, count) in STATUS_FIELDS.into_iter().zip(&w.status_classes) {
        d.u64(field, *count);
    }
    d.u64(Field::GilEnabled, gil.enabled.into());
    if let Some(module) = &gil.enabled_by {
        d.str(Field::GilEnabledBy, module);
    }
    d.u64(Field::OwnGilFallbacks, gil.own_gil_fallbacks);
    d
}

/// Announces a process that has started serving.
pub fn process_started(id: &Identity, settings: &Settings, seq: u32, stamp: f64) -> Datagram {
    let mut d = Datagram::new(Kind::ProcessStarted, id.pid, seq, stamp);
    identity_fields(&mut d, id, true);
    d.f64(Field::SwitchInterval, settings.switch_interval);
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
    d.str(Field::ShutdownReason, reason)
        .u64(Field::ActiveRequestsAtDecision, active as u64);
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
    d.str(Field::ShutdownReason, &exit.reason)
        .f64(Field::ProcessUptime, exit.uptime)
        .u64(Field::LifetimeRequestCount, exit.requests)
        .u64(Field::ActiveRequestsAtExit, exit.active as u64)
        .u64(Field::GracefulDrain, u64::from(exit.active == 0));
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
        d.str(Field::InterpreterName, interpreter);
    }
}

/// A periodic garbage-collector snapshot of one interpreter; `dropped` is
/// how many collection events this process could not queue so far.
pub fn gc_snapshot(pid: u32, seq: u32, stamp: f64, gc: &GcSnapshot, dropped: u64) -> Datagram {
    let mut d = Datagram::new(Kind::GcSnapshot, pid, seq, stamp);
    interpreter_field(&mut d, &gc.interpreter);
    use Field::*;
    for (fields, values) in [
        ([GcCount0, GcCount1, GcCount2], &gc.count),
        ([GcThreshold0, GcThreshold1, GcThreshold2], &gc.threshold),
        (
            [GcCollections0, GcCollections1, GcCollections2],
            &gc.collections,
        ),
        ([GcCollected0, GcCollected1, GcCollected2], &gc.collected),
        (
            [GcUncollectable0, GcUncollectable1, GcUncollectable2],
            &gc.uncollectable,
        ),
    ] {
        for (field, value) in fields.into_iter().zip(values) {
            d.u64(field, *value);
        }
    }
    d.u64(Field::GcIsEnabled, u64::from(gc.enabled))
        .u64(Field::GcFreezeCount, gc.freeze_count)
        .u64(Field::GcDroppedEvents, dropped);
    d
}

/// One collection pass, stamped with its end.
pub fn gc_event(pid: u32, seq: u32, event: &GcEvent) -> Datagram {
    let mut d = Datagram::new(Kind::GcEvent, pid, seq, event.start + event.duration);
    interpreter_field(&mut d, &event.interpreter);
    d.f64(Field::GcEventStartStamp, event.start)
        .f64(Field::GcEventDuration, event.duration)
        .u64(Field::GcEventGeneration, event.generation)
        .u64(Field::GcEventCollected, event.collected)
        .u64(Field::GcEventUncollectable, event.uncollectable);
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
    d.u64(Field::SlowRecordState, u64::from(outcome.is_some()))
        .f64(Field::SlowStartStamp, r.request_start)
        .f64(Field::SlowDuration, (end - r.request_start).max(0.0))
        .u64(Field::SlowThreadId, r.thread_id)
        .str(Field::SlowLogId, &r.log_id)
        .u64(Field::SlowServerPid, r.server_pid.into())
        .str(Field::SlowMethod, &r.method)
        .str(Field::SlowScheme, &r.scheme)
        .str(Field::SlowHostname, &r.hostname)
        .str(Field::SlowScriptName, &r.script_name)
        .str(Field::SlowPathInfo, &r.path_info)
        .str(Field::SlowProtocol, &r.protocol)
        .str(Field::SlowPeerIp, &r.peer_ip);
    if !r.user_agent.is_empty() {
        d.str(Field::SlowUserAgent, &r.user_agent);
    }
    d.f64(Field::SlowServerTime, span(r.request_start, handed_on))
        .f64(
            Field::SlowQueueTime,
            if daemon {
                span(r.queue_start, r.daemon_start)
            } else {
                0.0
            },
        )
        .f64(
            Field::SlowDaemonTime,
            if daemon {
                span(r.daemon_start, r.application_start)
            } else {
                0.0
            },
        )
        .f64(Field::SlowApplicationTime, span(r.application_start, end))
        .u64(Field::SlowActiveAtStart, r.active_at_start as u64);
    let o = outcome.cloned().unwrap_or_default();
    d.f64(Field::SlowGilWaitTime, o.gil_wait)
        .u64(Field::SlowGilWaitCount, o.gil_waits)
        .u64(Field::SlowInputBytes, o.input_bytes)
        .u64(Field::SlowInputReads, o.input_reads)
        .u64(Field::SlowOutputBytes, o.output_bytes)
        .u64(Field::SlowOutputWrites, o.output_writes)
        .f64(Field::SlowInputReadTime, o.input_time)
        .f64(Field::SlowOutputWriteTime, o.output_time)
        .u64(Field::SlowStatus, o.status.into())
        .f64(Field::SlowCpuUserTime, o.cpu_user)
        .f64(Field::SlowCpuSystemTime, o.cpu_system)
        .u64(Field::SlowActiveAtCompletion, o.active_at_completion as u64);
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
    fn computed_fields_keep_their_names() {
        for phase in Phase::ALL {
            let name = phase.name();
            let names = phase_fields(phase).map(Field::name);
            assert_eq!(
                names,
                [
                    name.to_string(),
                    format!("{name}_min"),
                    format!("{name}_max"),
                    format!("{name}_buckets"),
                ]
            );
        }
        for (i, field) in STATUS_FIELDS.into_iter().enumerate() {
            assert_eq!(field.name(), format!("status_{}xx_total", i + 1));
        }
    }

    #[test]
    fn an_idle_interval_has_no_extremes() {
        let r = Recorder::new(2, 0.0, Usage::default());
        let w = r.drain(1.0, Usage::default());
        let d = interval(
            &w,
            &Identity::default(),
            &Settings::default(),
            &GilReport::default(),
            1,
        );
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
            free_threading: false,
        };
        let d = interval(
            &w,
            &Identity::default(),
            &settings,
            &GilReport::default(),
            2,
        );
        let ids = field_ids(d.bytes());
        for id in [13, 63, 73, 83, 93, 110, 111, 121] {
            assert!(ids.iter().any(|(i, _)| *i == id), "field {id}");
        }
        assert_eq!(&d.bytes()[12..16], &2u32.to_le_bytes());
    }

    #[test]
    fn the_interval_sample_reports_the_gil() {
        let r = Recorder::new(1, 0.0, Usage::default());
        let w = r.drain(1.0, Usage::default());
        let sample = |gil: &GilReport| {
            let d = interval(&w, &Identity::default(), &Settings::default(), gil, 1);
            field_ids(d.bytes())
        };
        let plain = GilReport {
            enabled: true,
            enabled_by: None,
            own_gil_fallbacks: 2,
        };
        let ids = sample(&plain);
        assert!(ids.contains(&(Field::GilEnabled.id(), 1)));
        assert!(ids.contains(&(Field::OwnGilFallbacks.id(), 1)));
        // No module to name: left out rather than sent empty.
        assert!(!ids.iter().any(|(id, _)| *id == Field::GilEnabledBy.id()));
        let reenabled = GilReport {
            enabled: true,
            enabled_by: Some("numpy._core._multiarray_umath".into()),
            own_gil_fallbacks: 0,
        };
        assert!(sample(&reenabled).contains(&(Field::GilEnabledBy.id(), 4)));
        // The values themselves: 0/1, then the count, after the header.
        let d = interval(&w, &Identity::default(), &Settings::default(), &plain, 1);
        let bytes = d.bytes();
        let value_of = |field: Field| {
            let tag = [&field.id().to_le_bytes()[..], &[1]].concat();
            let at = bytes
                .windows(3)
                .rposition(|w| w == tag.as_slice())
                .expect("field present");
            u64::from_le_bytes(bytes[at + 3..at + 11].try_into().unwrap())
        };
        assert_eq!(value_of(Field::GilEnabled), 1);
        assert_eq!(value_of(Field::OwnGilFallbacks), 2);
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
