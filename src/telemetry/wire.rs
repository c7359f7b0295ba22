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

/// Declares the field enum: each variant's number on the wire and the
/// name the ingester gives it.
macro_rules! fields {
    ($( $variant:ident = $id:literal => $name:literal, )*) => {
        /// A field of a datagram, by its number on the wire. Only the
        /// fields listed here can be written, so a misspelt field is a
        /// compile error rather than a field silently left out.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u16)]
        pub enum Field {
            $( $variant = $id, )*
        }

        impl Field {
            /// Every field, in number order.
            #[allow(dead_code)]
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            /// The number on the wire.
            pub fn id(self) -> u16 {
                self as u16
            }

            /// The ingester's name for the field; for our own fields
            /// (numbered from 1000), which the package does not know, the
            /// name we document (its decoder shows `id1000` and so on).
            #[allow(dead_code)]
            pub fn name(self) -> &'static str {
                match self {
                    $( Field::$variant => $name, )*
                }
            }
        }
    };
}

fields! {
    ModWsgiVersion = 1 => "mod_wsgi_version",
    PythonVersion = 2 => "python_version",
    ApacheVersion = 3 => "apache_version",
    MpmName = 4 => "mpm_name",
    Hostname = 5 => "hostname",
    ProcessGroup = 6 => "process_group",
    ProcessParentPid = 7 => "process_parent_pid",
    InterpreterName = 8 => "interpreter_name",
    SamplePeriod = 10 => "sample_period",
    TelemetryInterval = 11 => "telemetry_interval",
    SlowRequestsThreshold = 12 => "slow_requests_threshold",
    SwitchInterval = 13 => "switch_interval",
    RequestCount = 20 => "request_count",
    RequestThroughput = 21 => "request_throughput",
    CapacityUtilization = 22 => "capacity_utilization",
    CpuUserUtilization = 30 => "cpu_user_utilization",
    CpuSystemUtilization = 31 => "cpu_system_utilization",
    CpuUtilization = 32 => "cpu_utilization",
    CpuUserTime = 35 => "cpu_user_time",
    CpuSystemTime = 36 => "cpu_system_time",
    CpuTime = 37 => "cpu_time",
    MemoryRss = 40 => "memory_rss",
    MemoryMaxRss = 41 => "memory_max_rss",
    RequestThreadsMaximum = 50 => "request_threads_maximum",
    RequestThreadsStarted = 51 => "request_threads_started",
    RequestThreadsActive = 52 => "request_threads_active",
    ServerTime = 60 => "server_time",
    QueueTime = 61 => "queue_time",
    DaemonTime = 62 => "daemon_time",
    ApplicationTime = 63 => "application_time",
    RequestTime = 64 => "request_time",
    GilWaitTime = 65 => "gil_wait_time",
    InputReadTime = 66 => "input_read_time",
    OutputWriteTime = 67 => "output_write_time",
    ServerTimeMin = 70 => "server_time_min",
    QueueTimeMin = 71 => "queue_time_min",
    DaemonTimeMin = 72 => "daemon_time_min",
    ApplicationTimeMin = 73 => "application_time_min",
    RequestTimeMin = 74 => "request_time_min",
    GilWaitTimeMin = 75 => "gil_wait_time_min",
    InputReadTimeMin = 76 => "input_read_time_min",
    OutputWriteTimeMin = 77 => "output_write_time_min",
    ServerTimeMax = 80 => "server_time_max",
    QueueTimeMax = 81 => "queue_time_max",
    DaemonTimeMax = 82 => "daemon_time_max",
    ApplicationTimeMax = 83 => "application_time_max",
    RequestTimeMax = 84 => "request_time_max",
    GilWaitTimeMax = 85 => "gil_wait_time_max",
    InputReadTimeMax = 86 => "input_read_time_max",
    OutputWriteTimeMax = 87 => "output_write_time_max",
    ServerTimeBuckets = 90 => "server_time_buckets",
    QueueTimeBuckets = 91 => "queue_time_buckets",
    DaemonTimeBuckets = 92 => "daemon_time_buckets",
    ApplicationTimeBuckets = 93 => "application_time_buckets",
    RequestTimeBuckets = 94 => "request_time_buckets",
    GilWaitTimeBuckets = 95 => "gil_wait_time_buckets",
    InputReadTimeBuckets = 96 => "input_read_time_buckets",
    OutputWriteTimeBuckets = 97 => "output_write_time_buckets",
    InputBytesTotal = 100 => "input_bytes_total",
    InputReadsTotal = 101 => "input_reads_total",
    OutputBytesTotal = 102 => "output_bytes_total",
    OutputWritesTotal = 103 => "output_writes_total",
    RequestThreadsCompleted = 110 => "request_threads_completed",
    RequestThreadsBusyTime = 111 => "request_threads_busy_time",
    RequestThreadsCpuTime = 112 => "request_threads_cpu_time",
    RequestThreadsCurrentElapsed = 113 => "request_threads_current_elapsed",
    RequestThreadsMaxDuration = 114 => "request_threads_max_duration",
    Status1xxTotal = 120 => "status_1xx_total",
    Status2xxTotal = 121 => "status_2xx_total",
    Status3xxTotal = 122 => "status_3xx_total",
    Status4xxTotal = 123 => "status_4xx_total",
    Status5xxTotal = 124 => "status_5xx_total",
    ShutdownReason = 130 => "shutdown_reason",
    ProcessUptime = 131 => "process_uptime",
    LifetimeRequestCount = 132 => "lifetime_request_count",
    ActiveRequestsAtDecision = 133 => "active_requests_at_decision",
    ActiveRequestsAtExit = 134 => "active_requests_at_exit",
    GracefulDrain = 135 => "graceful_drain",
    SlowRecordState = 200 => "slow_record_state",
    SlowStartStamp = 201 => "slow_start_stamp",
    SlowDuration = 202 => "slow_duration",
    SlowThreadId = 203 => "slow_thread_id",
    SlowLogId = 204 => "slow_log_id",
    SlowServerPid = 205 => "slow_server_pid",
    SlowMethod = 210 => "slow_method",
    SlowScheme = 211 => "slow_scheme",
    SlowHostname = 212 => "slow_hostname",
    SlowScriptName = 213 => "slow_script_name",
    SlowPathInfo = 214 => "slow_path_info",
    SlowProtocol = 215 => "slow_protocol",
    SlowPeerIp = 216 => "slow_peer_ip",
    SlowUserAgent = 217 => "slow_user_agent",
    SlowServerTime = 220 => "slow_server_time",
    SlowQueueTime = 221 => "slow_queue_time",
    SlowDaemonTime = 222 => "slow_daemon_time",
    SlowApplicationTime = 223 => "slow_application_time",
    SlowGilWaitTime = 224 => "slow_gil_wait_time",
    SlowGilWaitCount = 225 => "slow_gil_wait_count",
    SlowInputBytes = 230 => "slow_input_bytes",
    SlowInputReads = 231 => "slow_input_reads",
    SlowOutputBytes = 232 => "slow_output_bytes",
    SlowOutputWrites = 233 => "slow_output_writes",
    SlowInputReadTime = 234 => "slow_input_read_time",
    SlowOutputWriteTime = 235 => "slow_output_write_time",
    SlowStatus = 240 => "slow_status",
    SlowCpuUserTime = 250 => "slow_cpu_user_time",
    SlowCpuSystemTime = 251 => "slow_cpu_system_time",
    SlowActiveAtStart = 260 => "slow_active_at_start",
    SlowActiveAtCompletion = 261 => "slow_active_at_completion",
    GcCount0 = 300 => "gc_count0",
    GcCount1 = 301 => "gc_count1",
    GcCount2 = 302 => "gc_count2",
    GcThreshold0 = 303 => "gc_threshold0",
    GcThreshold1 = 304 => "gc_threshold1",
    GcThreshold2 = 305 => "gc_threshold2",
    GcCollections0 = 306 => "gc_collections0",
    GcCollections1 = 307 => "gc_collections1",
    GcCollections2 = 308 => "gc_collections2",
    GcCollected0 = 309 => "gc_collected0",
    GcCollected1 = 310 => "gc_collected1",
    GcCollected2 = 311 => "gc_collected2",
    GcUncollectable0 = 312 => "gc_uncollectable0",
    GcUncollectable1 = 313 => "gc_uncollectable1",
    GcUncollectable2 = 314 => "gc_uncollectable2",
    GcIsEnabled = 315 => "gc_is_enabled",
    GcFreezeCount = 316 => "gc_freeze_count",
    GcDroppedEvents = 317 => "gc_dropped_events",
    GcEventStartStamp = 320 => "gc_event_start_stamp",
    GcEventDuration = 321 => "gc_event_duration",
    GcEventGeneration = 322 => "gc_event_generation",
    GcEventCollected = 323 => "gc_event_collected",
    GcEventUncollectable = 324 => "gc_event_uncollectable",
    // Ours, in the interval sample: numbered from 1000, clear of the
    // package's blocks (1-324, with gaps it reserves for itself).
    GilEnabled = 1000 => "gil_enabled",
    GilEnabledBy = 1001 => "gil_enabled_by",
    OwnGilFallbacks = 1002 => "own_gil_fallbacks",
}

/// Builds one datagram, field by field.
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

    fn tag(&mut self, field: Field, kind: u8) {
        self.buf.extend_from_slice(&field.id().to_le_bytes());
        self.buf.push(kind);
    }

    pub fn u64(&mut self, field: Field, value: u64) -> &mut Self {
        self.tag(field, T_U64);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn f64(&mut self, field: Field, value: f64) -> &mut Self {
        self.tag(field, T_F64);
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A string, truncated to what a 16-bit length can carry (at a
    /// character boundary).
    pub fn str(&mut self, field: Field, value: &str) -> &mut Self {
        let mut end = value.len().min(u16::MAX as usize);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        self.tag(field, T_BYTES);
        self.buf.extend_from_slice(&(end as u16).to_le_bytes());
        self.buf.extend_from_slice(&value.as_bytes()[..end]);
        self
    }

    pub fn i32_array(&mut self, field: Field, values: &[u32]) -> &mut Self {
        let n = values.len().min(u16::MAX as usize);
        self.tag(field, T_I32_ARRAY);
        self.buf.extend_from_slice(&(n as u16).to_le_bytes());
        for &v in &values[..n] {
            let v = i32::try_from(v).unwrap_or(i32::MAX);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self
    }

    pub fn f64_array(&mut self, field: Field, values: &[f64]) -> &mut Self {
        let n = values.len().min(u16::MAX as usize);
        self.tag(field, T_F64_ARRAY);
        self.buf.extend_from_slice(&(n as u16).to_le_bytes());
        for &v in &values[..n] {
            self.buf.extend_from_slice(&v.to_le_bytes());
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
        d.u64(Field::RequestCount, 3)
            .f64(Field::SamplePeriod, 0.5)
            .str(Field::MpmName, "event")
            .i32_array(Field::RequestThreadsCompleted, &[1, 2])
            .f64_array(Field::RequestThreadsBusyTime, &[0.25]);
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
    fn field_numbers_and_names_are_unique() {
        let ids: Vec<u16> = Field::ALL.iter().map(|f| f.id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "listed in number order"
        );
        let mut names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Field::ALL.len());
        assert_eq!(Field::ALL.len(), 135);
        assert_eq!(
            (Field::ModWsgiVersion.id(), Field::ModWsgiVersion.name()),
            (1, "mod_wsgi_version")
        );
        assert_eq!(
            (
                Field::GcEventUncollectable.id(),
                Field::GcEventUncollectable.name()
            ),
            (324, "gc_event_uncollectable")
        );
        // Ours come after every number the package uses.
        let ours = [
            Field::GilEnabled,
            Field::GilEnabledBy,
            Field::OwnGilFallbacks,
        ];
        assert!(ours.iter().all(|f| f.id() >= 1000));
        assert!(Field::ALL
            .iter()
            .filter(|f| !ours.contains(f))
            .all(|f| f.id() < 1000));
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let long = "é".repeat(40_000);
        let mut d = Datagram::new(Kind::SlowRequest, 1, 1, 0.0);
        d.str(Field::SlowPathInfo, &long);
        let b = &d.bytes()[24..];
        let n = u16::from_le_bytes([b[3], b[4]]) as usize;
        assert!(n <= u16::MAX as usize && n % 2 == 0);
        assert_eq!(b.len(), 5 + n);
    }
}
