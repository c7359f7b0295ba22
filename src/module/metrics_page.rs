//! The `wsgi-metrics` handler: the metrics board of the whole server as a
//! Prometheus or OpenMetrics page. It runs in the Apache child that takes
//! the scrape and reads shared memory and `/proc` only: no Python, no GIL,
//! no lock a request thread takes.

use crate::apache::ffi;
use crate::apache::log::APLOG_ERR;
use crate::apache::request::Request;
use crate::metrics::exposition::{self, Format, ListenQueue, Observed, ProcessUsage};
use std::ffi::c_int;

/// The handler name operators give `SetHandler`.
pub(super) const HANDLER: &str = "wsgi-metrics";

pub(super) fn serve(req: Request) -> c_int {
    if !req.is_get() {
        req.allow_get_only();
        return ffi::HTTP_METHOD_NOT_ALLOWED as c_int;
    }
    let Some(board) = crate::metrics::board() else {
        req.log(
            APLOG_ERR,
            "mod_wsgi: the wsgi-metrics handler has no metrics board (see the warning at start-up).",
        );
        return ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
    };
    let snapshot = board.snapshot();
    let mut observed = Observed::default();
    for process in &snapshot.processes {
        if let Some(usage) = crate::sys::proc_stat::usage(process.pid) {
            observed.usage.insert(
                process.pid,
                ProcessUsage {
                    resident_bytes: usage.resident_bytes,
                    cpu_seconds: usage.cpu_seconds,
                },
            );
        }
    }
    let sockets = crate::daemon::supervisor::listening_sockets();
    if !sockets.is_empty() {
        // Without socket diagnostics the queue gauges are left out.
        if let Ok(queues) = crate::sys::sock_diag::unix_listen_queues() {
            for (group, path) in sockets {
                if let Some(q) = queues.get(&path) {
                    observed.listen_queues.insert(
                        group,
                        ListenQueue {
                            depth: u64::from(q.waiting),
                            backlog: u64::from(q.backlog),
                        },
                    );
                }
            }
        }
    }
    let format = Format::negotiate(req.header_in("Accept").as_deref());
    let page = exposition::render(&snapshot, &observed, format);
    req.add_header("Content-Type", format.content_type());
    req.add_header("Cache-Control", "no-store");
    req.add_header("Content-Length", &page.len().to_string());
    if !req.header_only() {
        let _ = req.write(page.as_bytes());
    }
    ffi::OK as c_int
}
