//! Telemetry datagrams: whatever fields and values a process reports, the
//! bytes decode (by the format the ingester reads, written out here
//! independently of the encoder) to the same header and fields, with
//! strings and arrays cut only where the format says.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::telemetry::wire::{field_id, Datagram, Kind, MAGIC, VERSION};

/// Field names the encoder knows (`field_id`'s table). A name that drops
/// out of the table is skipped, so the list only has to be a superset.
const FIELD_NAMES: &[&str] = &[
    "mod_wsgi_version",
    "python_version",
    "apache_version",
    "mpm_name",
    "hostname",
    "process_group",
    "process_parent_pid",
    "interpreter_name",
    "sample_period",
    "telemetry_interval",
    "slow_requests_threshold",
    "switch_interval",
    "request_count",
    "request_throughput",
    "capacity_utilization",
    "cpu_user_utilization",
    "cpu_system_utilization",
    "cpu_utilization",
    "cpu_user_time",
    "cpu_system_time",
    "cpu_time",
    "memory_rss",
    "memory_max_rss",
    "request_threads_maximum",
    "request_threads_started",
    "request_threads_active",
    "server_time",
    "queue_time",
    "daemon_time",
    "application_time",
    "request_time",
    "gil_wait_time",
    "input_read_time",
    "output_write_time",
    "server_time_min",
    "queue_time_min",
    "daemon_time_min",
    "application_time_min",
    "request_time_min",
    "gil_wait_time_min",
    "input_read_time_min",
    "output_write_time_min",
    "server_time_max",
    "queue_time_max",
    "daemon_time_max",
    "application_time_max",
    "request_time_max",
    "gil_wait_time_max",
    "input_read_time_max",
    "output_write_time_max",
    "server_time_buckets",
    "queue_time_buckets",
    "daemon_time_buckets",
    "application_time_buckets",
    "request_time_buckets",
    "gil_wait_time_buckets",
    "input_read_time_buckets",
    "output_write_time_buckets",
    "input_bytes_total",
    "input_reads_total",
    "output_bytes_total",
    "output_writes_total",
    "request_threads_completed",
    "request_threads_busy_time",
    "request_threads_cpu_time",
    "request_threads_current_elapsed",
    "request_threads_max_duration",
    "shutdown_reason",
    "process_uptime",
    "lifetime_request_count",
    "active_requests_at_decision",
    "active_requests_at_exit",
    "graceful_drain",
    "slow_record_state",
    "slow_start_stamp",
    "slow_duration",
    "slow_thread_id",
    "slow_log_id",
    "slow_server_pid",
    "slow_method",
    "slow_scheme",
    "slow_hostname",
    "slow_script_name",
    "slow_path_info",
    "slow_protocol",
    "slow_peer_ip",
    "slow_user_agent",
    "slow_server_time",
    "slow_queue_time",
    "slow_daemon_time",
    "slow_application_time",
    "slow_gil_wait_time",
    "slow_gil_wait_count",
    "slow_input_bytes",
    "slow_input_reads",
    "slow_output_bytes",
    "slow_output_writes",
    "slow_input_read_time",
    "slow_output_write_time",
    "slow_status",
    "slow_cpu_user_time",
    "slow_cpu_system_time",
    "slow_active_at_start",
    "slow_active_at_completion",
    "gc_is_enabled",
    "gc_freeze_count",
    "gc_dropped_events",
    "gc_event_start_stamp",
    "gc_event_duration",
    "gc_event_generation",
    "gc_event_collected",
    "gc_event_uncollectable",
];

const KINDS: &[Kind] = &[
    Kind::Interval,
    Kind::SlowRequest,
    Kind::ProcessStarted,
    Kind::ProcessStopping,
    Kind::ProcessStopped,
    Kind::GcSnapshot,
    Kind::GcEvent,
];

#[derive(Arbitrary, Debug, Clone)]
enum Value {
    U64(u64),
    F64(f64),
    Str(String),
    /// A long string, to reach the 16-bit length limit cheaply.
    Repeated(String, u16),
    I32Array(Vec<u32>),
    F64Array(Vec<f64>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: u8,
    pid: u32,
    seq: u32,
    stamp: f64,
    fields: Vec<(u8, Value)>,
}

/// A decoded field value; floats as bits so NaN compares equal to itself.
#[derive(Debug, PartialEq)]
enum Decoded {
    U64(u64),
    F64(u64),
    Bytes(Vec<u8>),
    I32Array(Vec<i32>),
    F64Array(Vec<u64>),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.0.len() >= n, "datagram ends inside a field");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
}

fn decode(bytes: &[u8]) -> (u8, u32, u32, u64, Vec<(u16, Decoded)>) {
    let mut r = Reader(bytes);
    assert_eq!(r.take(4), MAGIC);
    assert_eq!(r.take(1), [VERSION]);
    let kind = r.take(1)[0];
    assert_eq!(r.u16(), 0, "flags");
    let pid = u32::from_le_bytes(r.take(4).try_into().unwrap());
    let seq = u32::from_le_bytes(r.take(4).try_into().unwrap());
    let stamp = r.u64();
    let mut fields = Vec::new();
    while !r.0.is_empty() {
        let id = r.u16();
        let value = match r.take(1)[0] {
            0x01 => Decoded::U64(r.u64()),
            0x02 => Decoded::F64(r.u64()),
            0x04 => {
                let n = usize::from(r.u16());
                Decoded::Bytes(r.take(n).to_vec())
            }
            0x05 => {
                let n = usize::from(r.u16());
                Decoded::I32Array(
                    (0..n)
                        .map(|_| i32::from_le_bytes(r.take(4).try_into().unwrap()))
                        .collect(),
                )
            }
            0x06 => {
                let n = usize::from(r.u16());
                Decoded::F64Array((0..n).map(|_| r.u64()).collect())
            }
            other => panic!("unknown field type {other:#x}"),
        };
        fields.push((id, value));
    }
    (kind, pid, seq, stamp, fields)
}

/// What the format promises for a string: at most 65535 bytes, cut at a
/// character boundary.
fn cut(s: &str) -> Vec<u8> {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes()[..end].to_vec()
}

fuzz_target!(|input: Input| {
    let kind = KINDS[usize::from(input.kind) % KINDS.len()];
    let mut datagram = Datagram::new(kind, input.pid, input.seq, input.stamp);
    let mut expected = Vec::new();
    for (which, value) in input.fields {
        let name = FIELD_NAMES[usize::from(which) % FIELD_NAMES.len()];
        let Some(id) = field_id(name) else {
            continue;
        };
        let decoded = match value {
            Value::U64(v) => {
                datagram.u64(name, v);
                Decoded::U64(v)
            }
            Value::F64(v) => {
                datagram.f64(name, v);
                Decoded::F64(v.to_bits())
            }
            Value::Str(s) => {
                datagram.str(name, &s);
                Decoded::Bytes(cut(&s))
            }
            Value::Repeated(s, times) => {
                let s = s.repeat(usize::from(times));
                datagram.str(name, &s);
                Decoded::Bytes(cut(&s))
            }
            Value::I32Array(v) => {
                datagram.i32_array(name, &v);
                Decoded::I32Array(
                    v.iter()
                        .take(u16::MAX as usize)
                        .map(|&n| i32::try_from(n).unwrap_or(i32::MAX))
                        .collect(),
                )
            }
            Value::F64Array(v) => {
                datagram.f64_array(name, &v);
                Decoded::F64Array(
                    v.iter()
                        .take(u16::MAX as usize)
                        .map(|f| f.to_bits())
                        .collect(),
                )
            }
        };
        expected.push((id, decoded));
    }
    let (got_kind, pid, seq, stamp, fields) = decode(datagram.bytes());
    assert_eq!(got_kind, kind as u8);
    assert_eq!((pid, seq), (input.pid, input.seq));
    assert_eq!(stamp, input.stamp.to_bits());
    assert_eq!(fields, expected);
});
