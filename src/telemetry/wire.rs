//! The telemetry datagram format understood by the `mod_wsgi-telemetry`
//! ingester: a 24-byte little-endian header (magic `WSGI`, version, kind,
//! flags, pid, sequence number, timestamp) followed by type-length-value
//! fields until the end of the datagram.

pub const MAGIC: &[u8; 4] = b"WSGI";
pub const VERSION: u8 = 1;

/// What a datagram describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// The periodic per-interval sample (the ingester calls it
    /// `request_metrics`).
    Interval = 2,
    SlowRequest = 4,
    ProcessStarted = 5,
    ProcessStopping = 6,
    ProcessStopped = 7,
    GcSnapshot = 8,
    GcEvent = 9,
}

const T_U64: u8 = 0x01;
const T_F64: u8 = 0x02;
const T_BYTES: u8 = 0x04;
const T_I32_ARRAY: u8 = 0x05;
const T_F64_ARRAY: u8 = 0x06;

/// Field numbers, by the names the ingester gives them.
pub fn field_id(name: &str) -> Option<u16> {
    let id = match name {
        "mod_wsgi_version" => 1,
        "python_version" => 2,
        "apache_version" => 3,
        "mpm_name" => 4,
        "hostname" => 5,
        "process_group" => 6,
        "process_parent_pid" => 7,
        "interpreter_name" => 8,
        "sample_period" => 10,
        "telemetry_interval" => 11,
        "slow_requests_threshold" => 12,
        "switch_interval" => 13,
        "request_count" => 20,
        "request_throughput" => 21,
        "capacity_utilization" => 22,
        "cpu_user_utilization" => 30,
        "cpu_system_utilization" => 31,
        "cpu_utilization" => 32,
        "cpu_user_time" => 35,
        "cpu_system_time" => 36,
        "cpu_time" => 37,
        "memory_rss" => 40,
        "memory_max_rss" => 41,
        "request_threads_maximum" => 50,
        "request_threads_started" => 51,
        "request_threads_active" => 52,
        "server_time" => 60,
        "queue_time" => 61,
        "daemon_time" => 62,
        "application_time" => 63,
        "request_time" => 64,
        "gil_wait_time" => 65,
        "input_read_time" => 66,
        "output_write_time" => 67,
        "server_time_min" => 70,
        "queue_time_min" => 71,
        "daemon_time_min" => 72,
        "application_time_min" => 73,
        "request_time_min" => 74,
        "gil_wait_time_min" => 75,
        "input_read_time_min" => 76,
        "output_write_time_min" => 77,
        "server_time_max" => 80,
        "queue_time_max" => 81,
        "daemon_time_max" => 82,
        "application_time_max" => 83,
        "request_time_max" => 84,
        "gil_wait_time_max" => 85,
        "input_read_time_max" => 86,
        "output_write_time_max" => 87,
        "server_time_buckets" => 90,
        "queue_time_buckets" => 91,
        "daemon_time_buckets" => 92,
        "application_time_buckets" => 93,
        "request_time_buckets" => 94,
        "gil_wait_time_buckets" => 95,
        "input_read_time_buckets" => 96,
        "output_write_time_buckets" => 97,
        "input_bytes_total" => 100,
        "input_reads_total" => 101,
        "output_bytes_total" => 102,
        "output_writes_total" => 103,
        "request_threads_completed" => 110,
        "request_threads_busy_time" => 111,
        "request_threads_cpu_time" => 112,
        "request_threads_current_elapsed" => 113,
        "request_threads_max_duration" => 114,
        "status_1xx_total" => 120,
        "status_2xx_total" => 121,
        "status_3xx_total" => 122,
        "status_4xx_total" => 123,
        "status_5xx_total" => 124,
        "shutdown_reason" => 130,
        "process_uptime" => 131,
        "lifetime_request_count" => 132,
        "active_requests_at_decision" => 133,
        "active_requests_at_exit" => 134,
        "graceful_drain" => 135,
        "slow_record_state" => 200,
        "slow_start_stamp" => 201,
        "slow_duration" => 202,
        "slow_thread_id" => 203,
        "slow_log_id" => 204,
        "slow_server_pid" => 205,
        "slow_method" => 210,
        "slow_scheme" => 211,
        "slow_hostname" => 212,
        "slow_script_name" => 213,
        "slow_path_info" => 214,
        "slow_protocol" => 215,
        "slow_peer_ip" => 216,
        "slow_user_agent" => 217,
        "slow_server_time" => 220,
        "slow_queue_time" => 221,
        "slow_daemon_time" => 222,
        "slow_application_time" => 223,
        "slow_gil_wait_time" => 224,
        "slow_gil_wait_count" => 225,
        "slow_input_bytes" => 230,
        "slow_input_reads" => 231,
        "slow_output_bytes" => 232,
        "slow_output_writes" => 233,
        "slow_input_read_time" => 234,
        "slow_output_write_time" => 235,
        "slow_status" => 240,
        "slow_cpu_user_time" => 250,
        "slow_cpu_system_time" => 251,
        "slow_active_at_start" => 260,
        "slow_active_at_completion" => 261,
        "gc_count0" => 300,
        "gc_count1" => 301,
        "gc_count2" => 302,
        "gc_threshold0" => 303,
        "gc_threshold1" => 304,
        "gc_threshold2" => 305,
        "gc_collections0" => 306,
        "gc_collections1" => 307,
        "gc_collections2" => 308,
        "gc_collected0" => 309,
        "gc_collected1" => 310,
        "gc_collected2" => 311,
        "gc_uncollectable0" => 312,
        "gc_uncollectable1" => 313,
        "gc_uncollectable2" => 314,
        "gc_is_enabled" => 315,
        "gc_freeze_count" => 316,
        "gc_dropped_events" => 317,
        "gc_event_start_stamp" => 320,
        "gc_event_duration" => 321,
        "gc_event_generation" => 322,
        "gc_event_collected" => 323,
        "gc_event_uncollectable" => 324,
        _ => return None,
    };
    Some(id)
}

/// Builds one datagram. Field names must be known to [`field_id`]; an
/// unknown name is a programming error and is skipped in release builds.
pub struct Datagram {
    buf: Vec<u8>,
}

impl Datagram {
    pub fn new(kind: Kind, pid: u32, seq: u32, stamp: f64) -> Self {
        let mut buf = Vec::with_capacity(2048);
        buf.extend_from_slice(MAGIC);
        buf.push(VERSION);
        buf.push(kind as u8);
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&pid.to_le_bytes());
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&stamp.to_le_bytes());
        Datagram { buf }
    }

    fn tag(&mut self, name: &str, kind: u8) -> bool {
        let Some(id) = field_id(name) else {
            debug_assert!(false, "no telemetry field id for {name}");
            return false;
        };
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.push(kind);
        true
    }

    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        if self.tag(name, T_U64) {
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
        self
    }

    pub fn f64(&mut self, name: &str, value: f64) -> &mut Self {
        if self.tag(name, T_F64) {
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
        self
    }

    /// A string, truncated to what a 16-bit length can carry (at a
    /// character boundary).
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        let mut end = value.len().min(u16::MAX as usize);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        if self.tag(name, T_BYTES) {
            self.buf.extend_from_slice(&(end as u16).to_le_bytes());
            self.buf.extend_from_slice(&value.as_bytes()[..end]);
        }
        self
    }

    pub fn i32_array(&mut self, name: &str, values: &[u32]) -> &mut Self {
        let n = values.len().min(u16::MAX as usize);
        if self.tag(name, T_I32_ARRAY) {
            self.buf.extend_from_slice(&(n as u16).to_le_bytes());
            for &v in &values[..n] {
                let v = i32::try_from(v).unwrap_or(i32::MAX);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        self
    }

    pub fn f64_array(&mut self, name: &str, values: &[f64]) -> &mut Self {
        let n = values.len().min(u16::MAX as usize);
        if self.tag(name, T_F64_ARRAY) {
            self.buf.extend_from_slice(&(n as u16).to_le_bytes());
            for &v in &values[..n] {
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        self
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_24_little_endian_bytes() {
        let d = Datagram::new(Kind::Interval, 0x0102_0304, 7, 1.5);
        let b = d.bytes();
        assert_eq!(b.len(), 24);
        assert_eq!(&b[0..4], b"WSGI");
        assert_eq!(b[4], 1);
        assert_eq!(b[5], 2);
        assert_eq!(&b[6..8], &[0, 0]);
        assert_eq!(&b[8..12], &[4, 3, 2, 1]);
        assert_eq!(&b[12..16], &[7, 0, 0, 0]);
        assert_eq!(&b[16..24], &1.5f64.to_le_bytes());
    }

    #[test]
    fn fields_are_id_type_then_value() {
        let mut d = Datagram::new(Kind::ProcessStarted, 1, 1, 0.0);
        d.u64("request_count", 3)
            .f64("sample_period", 0.5)
            .str("mpm_name", "event")
            .i32_array("request_threads_completed", &[1, 2])
            .f64_array("request_threads_busy_time", &[0.25]);
        let b = &d.bytes()[24..];
        let mut expected = vec![20, 0, T_U64];
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(&[10, 0, T_F64]);
        expected.extend_from_slice(&0.5f64.to_le_bytes());
        expected.extend_from_slice(&[4, 0, T_BYTES, 5, 0]);
        expected.extend_from_slice(b"event");
        expected.extend_from_slice(&[110, 0, T_I32_ARRAY, 2, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
        expected.extend_from_slice(&[111, 0, T_F64_ARRAY, 1, 0]);
        expected.extend_from_slice(&0.25f64.to_le_bytes());
        assert_eq!(b, &expected[..]);
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let long = "é".repeat(40_000);
        let mut d = Datagram::new(Kind::SlowRequest, 1, 1, 0.0);
        d.str("slow_path_info", &long);
        let b = &d.bytes()[24..];
        let n = u16::from_le_bytes([b[3], b[4]]) as usize;
        assert!(n <= u16::MAX as usize && n % 2 == 0);
        assert_eq!(b.len(), 5 + n);
    }
}
