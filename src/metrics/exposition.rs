//! The `wsgi-metrics` page: a board snapshot in the Prometheus text
//! exposition format (0.0.4), or in OpenMetrics 1.0 when the scraper asks
//! for it. Pure: what the operating system says about each process comes
//! in with the snapshot.

use super::board::{
    GroupPhase, GroupSnapshot, ProcessSnapshot, Snapshot, INTERPRETER_KINDS, RESTART_REASONS,
};
use super::histogram::BUCKETS;
use std::collections::HashMap;
use std::fmt::Write;

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A process as the operating system reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessUsage {
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
}

/// A daemon group's listening socket right now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ListenQueue {
    /// Connections waiting to be accepted.
    pub depth: u64,
    /// The most the kernel queues.
    pub backlog: u64,
}

/// What the page shows besides the board.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// By pid; processes missing here are gone and left out.
    pub usage: HashMap<u32, ProcessUsage>,
    /// By daemon group name.
    pub listen_queues: HashMap<String, ListenQueue>,
}

fn mode(group: &str) -> &'static str {
    if group.is_empty() {
        "embedded"
    } else {
        "daemon"
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A metric family with one sample (or one per GIL kind) per live process.
struct ProcessFamily {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// Writes the process's samples: page, name, labels, the process, its usage.
    write: fn(&mut Page, &str, &str, &ProcessSnapshot, &ProcessUsage),
}

const PER_PROCESS: [ProcessFamily; 8] = [
    ProcessFamily {
        name: "mod_wsgi_process_resident_memory_bytes",
        kind: "gauge",
        help: "Resident set size of a process that runs Python.",
        write: |page, name, labels, _, usage| page.sample(name, labels, usage.resident_bytes),
    },
    ProcessFamily {
        name: "mod_wsgi_process_cpu_seconds_total",
        kind: "counter",
        help: "CPU time (user and system) of a process that runs Python.",
        write: |page, name, labels, _, usage| page.float(name, labels, usage.cpu_seconds),
    },
    ProcessFamily {
        name: "mod_wsgi_process_start_time_seconds",
        kind: "gauge",
        help: "When the process started serving, in seconds since the epoch.",
        write: |page, name, labels, p, _| page.float(name, labels, p.started),
    },
    ProcessFamily {
        name: "mod_wsgi_process_requests_total",
        kind: "counter",
        help: "Requests the process has completed.",
        write: |page, name, labels, p, _| page.sample(name, labels, p.requests),
    },
    ProcessFamily {
        name: "mod_wsgi_process_busy_threads",
        kind: "gauge",
        help: "Request threads of the process running a request now.",
        write: |page, name, labels, p, _| page.sample(name, labels, p.busy),
    },
    ProcessFamily {
        name: "mod_wsgi_process_gil_wait_seconds_total",
        kind: "counter",
        help: "Time request threads waited to take the GIL back at mod_wsgi's release points.",
        write: |page, name, labels, p, _| page.float(name, labels, p.gil_wait),
    },
    ProcessFamily {
        name: "mod_wsgi_process_gil_enabled",
        kind: "gauge",
        help: "1 while the process runs with a GIL (0: free-threaded with the GIL off).",
        write: |page, name, labels, p, _| page.sample(name, labels, u8::from(p.gil_enabled)),
    },
    ProcessFamily {
        name: "mod_wsgi_process_interpreters",
        kind: "gauge",
        help: "Python interpreters the process has created, by GIL kind.",
        write: |page, name, labels, p, _| {
            for ((_, gil), n) in INTERPRETER_KINDS.iter().zip(p.interpreters) {
                page.sample(name, &format!("{labels},gil=\"{gil}\""), n);
            }
        },
    },
];

fn group_labels(group: &str) -> String {
    format!("group=\"{}\",mode=\"{}\"", escape(group), mode(group))
}

/// Writes metric families, each with its `# HELP`/`# TYPE` lines once.
struct Page {
    format: Format,
    out: String,
}

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // OpenMetrics names a counter family without its `_total`.
        let family = match (self.format, kind) {
            (Format::OpenMetrics, "counter") => name.trim_end_matches("_total"),
            _ => name,
        };
        let _ = writeln!(self.out, "# HELP {family} {help}");
        let _ = writeln!(self.out, "# TYPE {family} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
    }

    fn float(&mut self, name: &str, labels: &str, value: f64) {
        self.sample(name, labels, Float(value));
    }
}

/// A float as both formats write it (no exponent surprises for counts).
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_finite() {
            write!(f, "{}", self.0)
        } else if self.0.is_nan() {
            f.write_str("NaN")
        } else if self.0 > 0.0 {
            f.write_str("+Inf")
        } else {
            f.write_str("-Inf")
        }
    }
}

/// The histogram's octave edges in seconds: 2 ms, 4 ms, … 65.536 s. Each
/// is the upper edge of four of the board's buckets.
fn octave_edges() -> impl Iterator<Item = (f64, usize)> {
    (1..=16).map(|octave| ((1u64 << octave) as f64 / 1000.0, octave * 4))
}

const PHASES: [(GroupPhase, &str, &str); 4] = [
    (
        GroupPhase::Queue,
        "mod_wsgi_queue_seconds",
        "Time requests waited in a daemon group's listen queue.",
    ),
    (
        GroupPhase::Connect,
        "mod_wsgi_daemon_connect_seconds",
        "Time Apache children took to connect to a daemon group's socket.",
    ),
    (
        GroupPhase::Application,
        "mod_wsgi_application_seconds",
        "Time spent in the WSGI application, response iteration included.",
    ),
    (
        GroupPhase::Request,
        "mod_wsgi_request_seconds",
        "Time from Apache reading the request to the application finishing.",
    ),
];

fn histogram(page: &mut Page, name: &str, group: &GroupSnapshot, phase: GroupPhase) {
    let counts = group.phase(phase);
    if counts.count == 0 && (phase == GroupPhase::Queue || phase == GroupPhase::Connect) {
        return;
    }
    let labels = group_labels(&group.name);
    let mut cumulative = 0u64;
    let mut next = 0usize;
    for (edge, upto) in octave_edges() {
        cumulative += counts.buckets[next..upto].iter().sum::<u64>();
        next = upto;
        page.sample(
            &format!("{name}_bucket"),
            &format!("{labels},le=\"{}\"", Float(edge)),
            cumulative,
        );
    }
    debug_assert_eq!(next, BUCKETS - 1);
    page.sample(
        &format!("{name}_bucket"),
        &format!("{labels},le=\"+Inf\""),
        counts.count,
    );
    page.sample(&format!("{name}_count"), &labels, counts.count);
    page.float(&format!("{name}_sum"), &labels, counts.sum);
}

/// The page for `snapshot`.
pub fn render(snapshot: &Snapshot, observed: &Observed, format: Format) -> String {
    let mut page = Page {
        format,
        out: String::with_capacity(16 * 1024),
    };
    let live: Vec<_> = snapshot
        .processes
        .iter()
        .filter(|p| observed.usage.contains_key(&p.pid))
        .collect();

    page.family(
        "mod_wsgi_requests_total",
        "counter",
        "WSGI requests completed, by process group and status class (no status counts as 5xx).",
    );
    for group in &snapshot.groups {
        for (class, n) in group.requests.iter().enumerate() {
            page.sample(
                "mod_wsgi_requests_total",
                &format!("{},status=\"{}xx\"", group_labels(&group.name), class + 1),
                n,
            );
        }
    }

    for (phase, name, help) in PHASES {
        page.family(name, "histogram", help);
        for group in &snapshot.groups {
            histogram(&mut page, name, group, phase);
        }
    }

    // Each family's samples follow its own HELP/TYPE lines (OpenMetrics
    // parsers take a family's samples as ending at the next family).
    let capacity_of = |group: &GroupSnapshot| {
        live.iter()
            .filter(|p| p.group == group.name)
            .fold((0, 0), |(c, b), p| (c + p.threads, b + p.busy))
    };
    page.family(
        "mod_wsgi_threads",
        "gauge",
        "Request threads of the group's live processes, busy or idle.",
    );
    for group in &snapshot.groups {
        let (capacity, busy) = capacity_of(group);
        let labels = group_labels(&group.name);
        page.sample(
            "mod_wsgi_threads",
            &format!("{labels},state=\"busy\""),
            busy,
        );
        page.sample(
            "mod_wsgi_threads",
            &format!("{labels},state=\"idle\""),
            capacity.saturating_sub(busy),
        );
    }
    page.family(
        "mod_wsgi_thread_capacity",
        "gauge",
        "Request threads the group's live processes have in all.",
    );
    for group in &snapshot.groups {
        let (capacity, _) = capacity_of(group);
        page.sample(
            "mod_wsgi_thread_capacity",
            &group_labels(&group.name),
            capacity,
        );
    }

    let mut queues: Vec<_> = observed.listen_queues.iter().collect();
    queues.sort_by(|a, b| a.0.cmp(b.0));
    page.family(
        "mod_wsgi_daemon_listen_queue_depth",
        "gauge",
        "Connections waiting in a daemon group's listen queue.",
    );
    for (group, queue) in &queues {
        page.sample(
            "mod_wsgi_daemon_listen_queue_depth",
            &group_labels(group),
            queue.depth,
        );
    }
    page.family(
        "mod_wsgi_daemon_listen_backlog",
        "gauge",
        "The most connections a daemon group's listen queue holds.",
    );
    for (group, queue) in &queues {
        page.sample(
            "mod_wsgi_daemon_listen_backlog",
            &group_labels(group),
            queue.backlog,
        );
    }

    let daemon_groups: Vec<&GroupSnapshot> = snapshot
        .groups
        .iter()
        .filter(|g| !g.name.is_empty())
        .collect();
    page.family(
        "mod_wsgi_daemon_queue_timeouts_total",
        "counter",
        "Requests a daemon group turned back after they waited past queue-timeout.",
    );
    for group in &daemon_groups {
        page.sample(
            "mod_wsgi_daemon_queue_timeouts_total",
            &group_labels(&group.name),
            group.queue_timeouts,
        );
    }
    page.family(
        "mod_wsgi_process_restarts_total",
        "counter",
        "Daemon processes that stopped and were replaced, by reason.",
    );
    for group in &daemon_groups {
        let labels = group_labels(&group.name);
        for (reason, n) in RESTART_REASONS.iter().zip(group.restarts) {
            page.sample(
                "mod_wsgi_process_restarts_total",
                &format!("{labels},reason=\"{reason}\""),
                n,
            );
        }
    }

    for (name, help) in [
        (
            "mod_wsgi_interpreter_requests_total",
            "Requests completed, by process group and application group (the interpreter they ran in).",
        ),
        (
            "mod_wsgi_interpreter_gil_wait_seconds_total",
            "Time requests waited to take the GIL back at mod_wsgi's release points, by application group.",
        ),
    ] {
        page.family(name, "counter", help);
        for group in &snapshot.groups {
            for interp in &group.interpreters {
                let labels = format!(
                    "{},application_group=\"{}\"",
                    group_labels(&group.name),
                    escape(&interp.application_group)
                );
                if name == "mod_wsgi_interpreter_requests_total" {
                    page.sample(name, &labels, interp.requests);
                } else {
                    page.float(name, &labels, interp.gil_wait);
                }
            }
        }
    }

    for family in PER_PROCESS {
        page.family(family.name, family.kind, family.help);
        for p in &live {
            let labels = format!("{},pid=\"{}\"", group_labels(&p.group), p.pid);
            (family.write)(&mut page, family.name, &labels, p, &observed.usage[&p.pid]);
        }
    }
    if format == Format::OpenMetrics {
        page.out.push_str("# EOF\n");
    }
    page.out
}

#[cfg(test)]
mod tests {
    use super::super::board::{test_board, FinishedRequest};
    use super::*;

    fn sample_board() -> (Snapshot, Observed) {
        let board = test_board();
        let embedded = board.register_group("").unwrap();
        let daemon = board.register_group("we\"b").unwrap();
        let child = board
            .claim_process(10, embedded, 25, 1.5, &|_| true)
            .unwrap();
        let worker = board.claim_process(20, daemon, 4, 2.5, &|_| true).unwrap();
        let _gone = board.claim_process(30, daemon, 4, 2.5, &|_| true).unwrap();
        child.finish(
            &FinishedRequest {
                status: 200,
                queue: None,
                application: 0.003,
                request: 0.005,
                gil_wait: 0.0,
            },
            "",
        );
        worker.begin();
        for status in [200, 503] {
            worker.finish(
                &FinishedRequest {
                    status,
                    queue: Some(0.0015),
                    application: 0.1,
                    request: 70.0,
                    gil_wait: 0.25,
                },
                "site:80|/",
            );
        }
        worker.begin();
        worker.count_interpreter(crate::config::gil::GilKind::Own);
        board.count_restart(daemon, "memory_recycle");
        board.time(daemon, GroupPhase::Connect, 0.0001);
        let mut observed = Observed::default();
        observed.usage.insert(
            10,
            ProcessUsage {
                resident_bytes: 4096,
                cpu_seconds: 0.5,
            },
        );
        observed.usage.insert(20, ProcessUsage::default());
        observed.listen_queues.insert(
            "we\"b".into(),
            ListenQueue {
                depth: 3,
                backlog: 100,
            },
        );
        (board.snapshot(), observed)
    }

    #[test]
    fn prometheus_page_counts_requests_and_histograms() {
        let (snapshot, observed) = sample_board();
        let page = render(&snapshot, &observed, Format::Prometheus);
        let has = |line: &str| {
            assert!(
                page.lines().any(|l| l == line),
                "missing {line:?} in\n{page}"
            )
        };
        has("# TYPE mod_wsgi_requests_total counter");
        has("mod_wsgi_requests_total{group=\"\",mode=\"embedded\",status=\"2xx\"} 1");
        has("mod_wsgi_requests_total{group=\"we\\\"b\",mode=\"daemon\",status=\"5xx\"} 1");
        // 3 ms falls in the 4 ms octave; 70 s only under +Inf.
        has("mod_wsgi_application_seconds_bucket{group=\"\",mode=\"embedded\",le=\"0.002\"} 0");
        has("mod_wsgi_application_seconds_bucket{group=\"\",mode=\"embedded\",le=\"0.004\"} 1");
        has("mod_wsgi_request_seconds_bucket{group=\"we\\\"b\",mode=\"daemon\",le=\"65.536\"} 0");
        has("mod_wsgi_request_seconds_bucket{group=\"we\\\"b\",mode=\"daemon\",le=\"+Inf\"} 2");
        has("mod_wsgi_request_seconds_count{group=\"we\\\"b\",mode=\"daemon\"} 2");
        has("mod_wsgi_request_seconds_sum{group=\"we\\\"b\",mode=\"daemon\"} 140");
        has("mod_wsgi_queue_seconds_bucket{group=\"we\\\"b\",mode=\"daemon\",le=\"0.002\"} 2");
        has("mod_wsgi_daemon_connect_seconds_count{group=\"we\\\"b\",mode=\"daemon\"} 1");
        assert!(
            !page.contains("mod_wsgi_queue_seconds_count{group=\"\""),
            "embedded mode has no queue"
        );
        has("mod_wsgi_threads{group=\"we\\\"b\",mode=\"daemon\",state=\"busy\"} 1");
        has("mod_wsgi_threads{group=\"we\\\"b\",mode=\"daemon\",state=\"idle\"} 3");
        has("mod_wsgi_thread_capacity{group=\"\",mode=\"embedded\"} 25");
        has("mod_wsgi_daemon_listen_queue_depth{group=\"we\\\"b\",mode=\"daemon\"} 3");
        has("mod_wsgi_process_restarts_total{group=\"we\\\"b\",mode=\"daemon\",reason=\"memory_recycle\"} 1");
        has("mod_wsgi_process_resident_memory_bytes{group=\"\",mode=\"embedded\",pid=\"10\"} 4096");
        has("mod_wsgi_interpreter_gil_wait_seconds_total{group=\"we\\\"b\",mode=\"daemon\",application_group=\"site:80|/\"} 0.5");
        has("mod_wsgi_interpreter_requests_total{group=\"\",mode=\"embedded\",application_group=\"\"} 1");
        has("mod_wsgi_process_gil_wait_seconds_total{group=\"we\\\"b\",mode=\"daemon\",pid=\"20\"} 0.5");
        has("mod_wsgi_process_interpreters{group=\"we\\\"b\",mode=\"daemon\",pid=\"20\",gil=\"own\"} 1");
        assert!(
            !page.contains("pid=\"30\""),
            "a process the OS no longer has is left out"
        );
        assert!(!page.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let (snapshot, observed) = sample_board();
        let page = render(&snapshot, &observed, Format::OpenMetrics);
        assert!(page.contains("# TYPE mod_wsgi_requests counter\n"));
        assert!(page.contains("\nmod_wsgi_requests_total{"));
        assert!(page.ends_with("# EOF\n"));
        assert_eq!(page.matches("# TYPE mod_wsgi_requests ").count(), 1);
    }

    #[test]
    fn each_family_s_samples_follow_its_own_type_line() {
        let (snapshot, observed) = sample_board();
        let page = render(&snapshot, &observed, Format::Prometheus);
        let mut family = "";
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                let name = line.split('{').next().unwrap();
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .fold(name, |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
                assert!(
                    name == family || base == family,
                    "{name} under the TYPE line of {family}"
                );
            }
        }
    }

    #[test]
    fn the_accept_header_picks_the_format() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert!(Format::OpenMetrics
            .content_type()
            .starts_with("application/openmetrics-text"));
    }

    #[test]
    fn octave_edges_cover_every_bucket_but_the_last() {
        let edges: Vec<_> = octave_edges().collect();
        assert_eq!(edges.first(), Some(&(0.002, 4)));
        assert_eq!(edges.last(), Some(&(65.536, 64)));
        assert_eq!(edges.len(), 16);
    }
}
