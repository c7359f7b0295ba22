//! What an Apache child tells a daemon process about a request, and how
//! the daemon turns it back into a route and environ extras. Both
//! directions live here so the field names cannot drift apart.

use super::wire::RequestHead;
use crate::process::ProcessInfo;
use crate::wsgi::handler::{EnvironExtras, Route};

const SCRIPT: &str = "script";
const CALLABLE: &str = "callable";
const RELOAD: &str = "reload";
const CASE_INSENSITIVE: &str = "case_insensitive";
const RESOURCE: &str = "resource";
const URL_SCHEME: &str = "url_scheme";
const APPLICATION_GROUP: &str = "application_group";
const REQUEST_HANDLER: &str = "request_handler";
const HANDLER_SCRIPT: &str = "handler_script";
const REQUEST_ID: &str = "request_id";
const CONNECTION_ID: &str = "connection_id";
const REQUEST_START: &str = "request_start";
const QUEUE_START: &str = "queue_start";
const IGNORE_ACTIVITY: &str = "ignore_activity";
const SERVER_PID: &str = "server_pid";
const DAEMON_CONNECTS: &str = "daemon_connects";
const DAEMON_RESTARTS: &str = "daemon_restarts";

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

/// The child's side: the request as resolved in the Apache child.
/// `ignore_activity` is `WSGIIgnoreActivity` for the request.
pub fn request_head(route: &Route, extras: &EnvironExtras, ignore_activity: bool) -> RequestHead {
    let mut meta = vec![
        (SCRIPT, route.script.clone()),
        (CALLABLE, route.callable.clone()),
        (RELOAD, flag(route.reload_on_change)),
        (CASE_INSENSITIVE, flag(route.case_insensitive)),
        (URL_SCHEME, extras.url_scheme.to_string()),
        (APPLICATION_GROUP, extras.application_group.clone()),
        (REQUEST_HANDLER, extras.request_handler.clone()),
        (HANDLER_SCRIPT, extras.handler_script.clone()),
        (REQUEST_ID, extras.request_id.clone()),
        (REQUEST_START, extras.request_start.to_string()),
        (IGNORE_ACTIVITY, flag(ignore_activity)),
        (SERVER_PID, extras.server_pid.to_string()),
    ];
    if let Some(resource) = &route.resource {
        meta.push((RESOURCE, resource.clone()));
    }
    if let Some(id) = &extras.connection_id {
        meta.push((CONNECTION_ID, id.clone()));
    }
    RequestHead {
        vars: extras.cgi.clone(),
        meta: meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// Marks the moment the child hands the request over (each attempt),
/// with the connections made so far and the restarts it ran into.
pub fn stamp_queue_start(head: &mut RequestHead, now: f64, connects: u32, restarts: u32) {
    head.meta
        .retain(|(k, _)| k != QUEUE_START && k != DAEMON_CONNECTS && k != DAEMON_RESTARTS);
    head.meta.push((QUEUE_START.to_string(), now.to_string()));
    head.meta
        .push((DAEMON_CONNECTS.to_string(), connects.to_string()));
    head.meta
        .push((DAEMON_RESTARTS.to_string(), restarts.to_string()));
}

/// When the child handed the request over (seconds since the epoch).
pub fn queue_start(head: &RequestHead) -> Option<f64> {
    head.meta(QUEUE_START)?.parse().ok()
}

/// Whether the request is left out of the daemon's inactivity tracking.
pub fn ignores_activity(head: &RequestHead) -> bool {
    head.meta(IGNORE_ACTIVITY) == Some("1")
}

/// The daemon's side: the route and environ extras for running the
/// request in this daemon process of `process_group`, picked up by a
/// worker at `daemon_start`.
pub fn route_and_extras(
    head: &RequestHead,
    process_group: &str,
    process: &ProcessInfo,
    daemon_start: f64,
) -> (Route, EnvironExtras) {
    let text = |key: &str| head.meta(key).unwrap_or("").to_string();
    let flag = |key: &str| head.meta(key) == Some("1");
    let route = Route {
        script: text(SCRIPT),
        callable: text(CALLABLE),
        reload_on_change: flag(RELOAD),
        sendfile: false,
        case_insensitive: flag(CASE_INSENSITIVE),
        resource: head.meta(RESOURCE).map(str::to_string),
        restart_process_on_change: true,
    };
    let extras = EnvironExtras {
        cgi: head.vars.clone(),
        url_scheme: if head.meta(URL_SCHEME) == Some("https") {
            "https"
        } else {
            "http"
        },
        process_group: process_group.to_string(),
        application_group: text(APPLICATION_GROUP),
        multithread: process.multithread,
        multiprocess: process.multiprocess,
        apache_version: process.apache_version,
        request_handler: text(REQUEST_HANDLER),
        handler_script: text(HANDLER_SCRIPT),
        request_id: text(REQUEST_ID),
        connection_id: head.meta(CONNECTION_ID).map(str::to_string),
        request_start: text(REQUEST_START).parse().unwrap_or(0.0),
        queue_start: queue_start(head).unwrap_or(0.0),
        daemon_start,
        server_pid: text(SERVER_PID).parse().unwrap_or(0),
        daemon_connects: text(DAEMON_CONNECTS).parse().unwrap_or(0),
        daemon_restarts: text(DAEMON_RESTARTS).parse().unwrap_or(0),
        apache_request: None,
    };
    (route, extras)
}
