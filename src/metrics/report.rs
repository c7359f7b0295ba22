//! The shapes of `request_metrics()` and `process_metrics()`, as ordered
//! key/value lists the Python layer turns into dicts.

use super::{Lifetime, Phase, Usage, Window};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Int(i64),
    Float(f64),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    /// A list of dicts.
    Records(Vec<Vec<(&'static str, Value)>>),
}

fn int(n: impl TryInto<i64>) -> Value {
    Value::Int(n.try_into().unwrap_or(i64::MAX))
}

fn micros(seconds: f64) -> Value {
    Value::Int((seconds * 1_000_000.0).round() as i64)
}

/// `mod_wsgi.request_metrics()` for a drained window.
pub fn request_metrics(window: &Window, pid: u32, embedded: bool) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(80);
    let mut put = |k: &str, v: Value| out.push((k.to_string(), v));
    put("pid", int(pid));
    put("start_time", Value::Float(window.start));
    put("stop_time", Value::Float(window.stop));
    put("sample_period", Value::Float(window.period()));
    put("request_count", int(window.request_count));
    put("request_throughput", Value::Float(window.throughput()));
    put("request_threads_maximum", int(window.threads_maximum));
    put("request_threads_started", int(window.threads_started));
    put("request_threads_active", int(window.threads_active));
    put(
        "capacity_utilization",
        Value::Float(window.capacity_utilization()),
    );
    let completed: Vec<i64> = window.slots.completed.iter().map(|&n| n.into()).collect();
    put("request_threads_completed", Value::Ints(completed.clone()));
    put("request_threads_buckets", Value::Ints(completed));
    put(
        "request_threads_busy_time",
        Value::Floats(window.slots.busy_time.clone()),
    );
    put(
        "request_threads_cpu_time",
        Value::Floats(window.slots.cpu_time.clone()),
    );
    put(
        "request_threads_current_elapsed",
        Value::Floats(window.slots.current_elapsed.clone()),
    );
    put(
        "request_threads_max_duration",
        Value::Floats(window.slots.max_duration.clone()),
    );
    for phase in Phase::ALL {
        let stats = window.phase(phase);
        let name = phase.name();
        let absent = embedded && phase.daemon_only();
        let mean = if absent {
            Value::None
        } else {
            Value::Float(stats.mean_over(window.request_count))
        };
        put(name, mean);
        let (min, max) = match stats.extremes() {
            Some((min, max)) if !absent => (micros(min), micros(max)),
            _ => (Value::None, Value::None),
        };
        put(&format!("{name}_min_us"), min);
        put(&format!("{name}_max_us"), max);
        let buckets = stats.histogram.counts().iter().map(|&n| n.into()).collect();
        put(&format!("{name}_buckets"), Value::Ints(buckets));
    }
    put("gil_wait_count", int(window.gil_waits));
    put("input_bytes", int(window.input_bytes));
    put("input_reads", int(window.input_reads));
    put("output_bytes", int(window.output_bytes));
    put("output_writes", int(window.output_writes));
    for (i, count) in window.status_classes.iter().enumerate() {
        put(&format!("status_{}xx", i + 1), int(*count));
    }
    let (user, system) = window.cpu_rates();
    put("cpu_user_utilization", Value::Float(user));
    put("cpu_system_utilization", Value::Float(system));
    put("cpu_utilization", Value::Float(user + system));
    // Older names for the same rates.
    put("cpu_user_time", Value::Float(user));
    put("cpu_system_time", Value::Float(system));
    put("cpu_time", Value::Float(user + system));
    put("memory_rss", int(window.usage.memory_rss));
    put("memory_max_rss", int(window.usage.memory_max_rss));
    out
}

/// `mod_wsgi.process_metrics()`.
pub fn process_metrics(
    lifetime: &Lifetime,
    pid: u32,
    restart_time: f64,
    now: f64,
    active_requests: usize,
    usage: Usage,
) -> Vec<(String, Value)> {
    let threads = lifetime
        .per_slot
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(slot, n)| vec![("thread_id", int(slot + 1)), ("request_count", int(*n))])
        .collect();
    [
        ("pid", int(pid)),
        ("restart_time", Value::Float(restart_time)),
        ("current_time", Value::Float(now)),
        ("running_time", int((now - restart_time).max(0.0) as i64)),
        ("request_count", int(lifetime.request_count)),
        ("request_busy_time", Value::Float(lifetime.busy_time)),
        ("request_threads", int(lifetime.threads_started())),
        ("active_requests", int(active_requests)),
        ("cpu_user_time", Value::Float(usage.cpu_user)),
        ("cpu_system_time", Value::Float(usage.cpu_system)),
        ("cpu_time", Value::Float(usage.cpu_user + usage.cpu_system)),
        ("memory_rss", int(usage.memory_rss)),
        ("memory_max_rss", int(usage.memory_max_rss)),
        ("threads", Value::Records(threads)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Recorder, RequestSample};
    use super::*;

    fn lookup<'a>(fields: &'a [(String, Value)], key: &str) -> &'a Value {
        &fields.iter().find(|(k, _)| k == key).expect(key).1
    }

    #[test]
    fn embedded_reports_have_no_daemon_phases() {
        let r = Recorder::new(3, 0.0, Usage::default());
        r.begin(0, 0.0);
        let s = RequestSample {
            application_start: 0.001,
            application_finish: 0.5,
            status: 200,
            ..RequestSample::default()
        };
        r.finish(&s, 0.0);
        let fields = request_metrics(&r.drain(1.0, Usage::default()), 42, true);
        assert_eq!(lookup(&fields, "pid"), &Value::Int(42));
        assert_eq!(lookup(&fields, "request_count"), &Value::Int(1));
        assert_eq!(lookup(&fields, "status_2xx"), &Value::Int(1));
        assert_eq!(lookup(&fields, "queue_time"), &Value::None);
        assert_eq!(lookup(&fields, "queue_time_min_us"), &Value::None);
        assert_eq!(
            lookup(&fields, "application_time_max_us"),
            &Value::Int(499_000)
        );
        assert_eq!(lookup(&fields, "request_threads_maximum"), &Value::Int(3));
        let Value::Ints(buckets) = lookup(&fields, "request_time_buckets") else {
            panic!("buckets")
        };
        assert_eq!(buckets.len(), 65);
        assert_eq!(buckets.iter().sum::<i64>(), 1);
    }

    #[test]
    fn process_report_lists_threads_that_served() {
        let r = Recorder::new(4, 0.0, Usage::default());
        for _ in 0..2 {
            r.begin(2, 0.0);
            r.finish(
                &RequestSample {
                    slot: 2,
                    ..RequestSample::default()
                },
                0.0,
            );
        }
        let fields = process_metrics(&r.lifetime(), 7, 100.0, 130.5, 0, Usage::default());
        assert_eq!(lookup(&fields, "running_time"), &Value::Int(30));
        assert_eq!(lookup(&fields, "request_count"), &Value::Int(2));
        assert_eq!(lookup(&fields, "request_threads"), &Value::Int(1));
        assert_eq!(
            lookup(&fields, "threads"),
            &Value::Records(vec![vec![
                ("thread_id", Value::Int(3)),
                ("request_count", Value::Int(2))
            ]])
        );
    }
}
