//! The request hand-off from an Apache child to a daemon.
//!
//! Decoding: any `Request` frame a daemon reads off its socket becomes a
//! route and environ extras without panicking, whatever its fields hold.
//! Encoding: a request the child resolves, handed over and read back,
//! gives the daemon the same route and extras the child had (less what
//! only the daemon knows).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::daemon::handoff::{
    ignores_activity, queue_start, request_head, route_and_extras, stamp_queue_start,
};
use mod_wsgi_pure::daemon::wire::{write_request, Frame, RequestHead};
use mod_wsgi_pure::process::ProcessInfo;
use mod_wsgi_pure::wsgi::handler::{EnvironExtras, Route};

#[derive(Arbitrary, Debug)]
struct Resolved {
    script: String,
    callable: String,
    reload_on_change: bool,
    case_insensitive: bool,
    resource: Option<String>,
    cgi: Vec<(String, String)>,
    https: bool,
    application_group: String,
    request_handler: String,
    handler_script: String,
    request_id: String,
    connection_id: Option<String>,
    request_start: f64,
    server_pid: u32,
    ignore_activity: bool,
    queue_start: f64,
    connects: u32,
    restarts: u32,
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Raw bytes as a daemon reads them.
    Bytes(Vec<u8>),
    /// A request as the child resolved it.
    Resolved(Resolved),
}

const PROCESS: ProcessInfo = ProcessInfo {
    multithread: true,
    multiprocess: false,
    apache_version: [2, 4, 62],
};

/// The same float, NaN included (`to_string` then `parse` keeps every
/// other value exactly).
fn same_float(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn decode<'h>(head: &'h RequestHead<'_>) -> (Route, EnvironExtras<'h>) {
    let _ = queue_start(head);
    let _ = ignores_activity(head);
    route_and_extras(head, "group", &PROCESS, 1.0)
}

fuzz_target!(|input: Input| match input {
    Input::Bytes(bytes) => {
        let mut stream = &bytes[..];
        while let Ok(Some(frame)) = Frame::read_from(&mut stream) {
            if let Frame::Request(head) = frame {
                decode(&head);
            }
        }
    }
    Input::Resolved(r) => {
        let route = Route {
            script: r.script,
            callable: r.callable,
            reload_on_change: r.reload_on_change,
            sendfile: false,
            case_insensitive: r.case_insensitive,
            resource: r.resource,
            restart_process_on_change: false,
        };
        let extras = EnvironExtras {
            cgi: r
                .cgi
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            url_scheme: if r.https { "https" } else { "http" },
            process_group: "group".into(),
            application_group: r.application_group,
            multithread: false,
            multiprocess: true,
            apache_version: [2, 4, 0],
            request_handler: r.request_handler,
            handler_script: r.handler_script,
            request_id: r.request_id,
            connection_id: r.connection_id,
            request_start: r.request_start,
            queue_start: 0.0,
            daemon_start: 0.0,
            server_pid: r.server_pid,
            daemon_connects: 0,
            daemon_restarts: 0,
            apache_request: None,
        };
        let mut head = request_head(&route, extras.clone(), r.ignore_activity);
        stamp_queue_start(&mut head, r.queue_start, r.connects, r.restarts);
        let mut sent = Vec::new();
        write_request(&mut sent, &head).expect("writing to a Vec");
        let Some(Frame::Request(received)) = Frame::read_from(&mut &sent[..]).expect("reads back")
        else {
            panic!("a request frame reads back as a request");
        };
        assert_eq!(received, head);
        assert_eq!(ignores_activity(&received), r.ignore_activity);
        let (got_route, got) = decode(&received);
        assert_eq!(got_route.script, route.script);
        assert_eq!(got_route.callable, route.callable);
        assert_eq!(got_route.reload_on_change, route.reload_on_change);
        assert_eq!(got_route.case_insensitive, route.case_insensitive);
        assert_eq!(got_route.resource, route.resource);
        assert_eq!(got.cgi, extras.cgi);
        assert_eq!(got.url_scheme, extras.url_scheme);
        assert_eq!(got.application_group, extras.application_group);
        assert_eq!(got.request_handler, extras.request_handler);
        assert_eq!(got.handler_script, extras.handler_script);
        assert_eq!(got.request_id, extras.request_id);
        assert_eq!(got.connection_id, extras.connection_id);
        assert_eq!(got.server_pid, extras.server_pid);
        assert!(same_float(got.request_start, extras.request_start));
        assert!(same_float(got.queue_start, r.queue_start));
        assert_eq!(got.daemon_connects, r.connects);
        assert_eq!(got.daemon_restarts, r.restarts);
    }
});
