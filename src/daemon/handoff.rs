//! What an Apache child tells a daemon process about a request, and how
//! the daemon turns it back into a route and environ extras.
//!
//! The named values of [`RequestHead::meta`] are declared once, in the
//! [`meta_fields!`] lists below: each list makes a struct, its encoder
//! (child side) and its decoder (daemon side), so a value cannot be sent
//! without being read back or the other way round. [`request_head`] takes
//! the [`Route`] and [`EnvironExtras`] apart without `..`, so a field added
//! to either does not compile until it is either listed here or marked as
//! the daemon's own.

//!
//! The lists and their encoding are pure and unit-tested; turning them
//! into a route and environ (which need Python) is left out of unit-test
//! builds.

use super::wire::RequestHead;
#[cfg(not(test))]
use crate::process::ProcessInfo;
#[cfg(not(test))]
use crate::wsgi::handler::{EnvironExtras, Route};

/// How one value is written into the head and read back from it.
trait MetaValue: Sized {
    /// The text sent; `None` sends nothing under the name.
    fn encode(&self) -> Option<String>;
    /// The value from the text received (absent or unreadable text gives
    /// the type's default).
    fn decode(text: Option<&str>) -> Self;
}

/// Text and numbers: sent as they print (`Display`), read back with
/// `FromStr`; absent or unreadable text gives the type's default (`""`,
/// `0`). A blanket impl over those traits would also take in `bool`, which
/// is sent as `1`/`0` instead.
macro_rules! display_meta_value {
    ($($ty:ty),* $(,)?) => {$(
        impl MetaValue for $ty {
            fn encode(&self) -> Option<String> {
                Some(self.to_string())
            }
            fn decode(text: Option<&str>) -> Self {
                text.unwrap_or("").parse().unwrap_or_default()
            }
        }
    )*};
}

display_meta_value!(String, f64, u32);

impl MetaValue for Option<String> {
    fn encode(&self) -> Option<String> {
        self.clone()
    }
    fn decode(text: Option<&str>) -> Self {
        text.map(str::to_string)
    }
}

impl MetaValue for bool {
    fn encode(&self) -> Option<String> {
        Some(if *self { "1" } else { "0" }.to_string())
    }
    fn decode(text: Option<&str>) -> Self {
        text == Some("1")
    }
}

/// `wsgi.url_scheme`: anything but `https` reads back as `http`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct UrlScheme(&'static str);

impl MetaValue for UrlScheme {
    fn encode(&self) -> Option<String> {
        Some(self.0.to_string())
    }
    fn decode(text: Option<&str>) -> Self {
        UrlScheme(if text == Some("https") {
            "https"
        } else {
            "http"
        })
    }
}

/// One list of named head values: the struct holding them, a module of
/// their names, its encoder (values appended to the head's meta in list
/// order) and its decoder.
macro_rules! meta_fields {
    (
        $(#[$doc:meta])*
        struct $name:ident (names in $keys:ident) {
            $( $field:ident: $ty:ty = $key:literal, )*
        }
    ) => {
        /// Each field's name in the head.
        #[allow(non_upper_case_globals, dead_code)]
        mod $keys {
            $( pub const $field: &str = $key; )*
        }

        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        struct $name {
            $( $field: $ty, )*
        }

        impl $name {
            /// The names this list puts in the head, in order.
            #[allow(dead_code)]
            const KEYS: &'static [&'static str] = &[$($key),*];

            fn encode(&self, meta: &mut Vec<(String, String)>) {
                $(
                    if let Some(text) = MetaValue::encode(&self.$field) {
                        meta.push(($key.to_string(), text));
                    }
                )*
            }

            fn decode(head: &RequestHead) -> Self {
                $name {
                    $( $field: <$ty as MetaValue>::decode(head.meta($key)), )*
                }
            }
        }
    };
}

meta_fields! {
    /// Resolved by the child when it routes the request; sent once.
    struct Resolved (names in resolved_keys) {
        script: String = "script",
        callable: String = "callable",
        reload_on_change: bool = "reload",
        case_insensitive: bool = "case_insensitive",
        url_scheme: UrlScheme = "url_scheme",
        application_group: String = "application_group",
        request_handler: String = "request_handler",
        handler_script: String = "handler_script",
        request_id: String = "request_id",
        request_start: f64 = "request_start",
        ignore_activity: bool = "ignore_activity",
        server_pid: u32 = "server_pid",
        resource: Option<String> = "resource",
        connection_id: Option<String> = "connection_id",
    }
}

meta_fields! {
    /// Stamped by the child on each attempt to hand the request over.
    struct Stamp (names in stamp_keys) {
        queue_start: f64 = "queue_start",
        daemon_connects: u32 = "daemon_connects",
        daemon_restarts: u32 = "daemon_restarts",
    }
}

/// The child's side: the request as resolved in the Apache child.
/// `ignore_activity` is `WSGIIgnoreActivity` for the request.
#[cfg(not(test))]
///
/// Takes the extras by value: the CGI variables move into the head, not
/// copied and freed on every request.
pub fn request_head<'r>(
    route: &Route,
    extras: EnvironExtras<'r>,
    ignore_activity: bool,
) -> RequestHead<'r> {
    // Every field is named: a new one must be sent or said to be the
    // daemon's own before this compiles.
    let Route {
        script,
        callable,
        reload_on_change,
        // The daemon's own: daemon mode never uses sendfile and restarts
        // the process when a script changes.
        sendfile: _,
        restart_process_on_change: _,
        case_insensitive,
        resource,
    } = route;
    let EnvironExtras {
        cgi,
        url_scheme,
        application_group,
        request_handler,
        handler_script,
        request_id,
        connection_id,
        request_start,
        server_pid,
        // The daemon's own: its group and process, the moment a worker
        // picks the request up, and no request_rec across processes.
        process_group: _,
        multithread: _,
        multiprocess: _,
        apache_version: _,
        daemon_start: _,
        apache_request: _,
        // Stamped on each attempt (stamp_queue_start).
        queue_start: _,
        daemon_connects: _,
        daemon_restarts: _,
    } = extras;
    let resolved = Resolved {
        script: script.clone(),
        callable: callable.clone(),
        reload_on_change: *reload_on_change,
        case_insensitive: *case_insensitive,
        url_scheme: UrlScheme(url_scheme),
        application_group,
        request_handler,
        handler_script,
        request_id,
        request_start,
        ignore_activity,
        server_pid,
        resource: resource.clone(),
        connection_id,
    };
    let mut meta = Vec::new();
    resolved.encode(&mut meta);
    RequestHead { vars: cgi, meta }
}

/// Marks the moment the child hands the request over (each attempt),
/// with the connections made so far and the restarts it ran into.
pub fn stamp_queue_start(head: &mut RequestHead, now: f64, connects: u32, restarts: u32) {
    head.meta
        .retain(|(k, _)| !Stamp::KEYS.contains(&k.as_str()));
    Stamp {
        queue_start: now,
        daemon_connects: connects,
        daemon_restarts: restarts,
    }
    .encode(&mut head.meta);
}

/// When the child handed the request over (seconds since the epoch).
pub fn queue_start(head: &RequestHead) -> Option<f64> {
    head.meta(stamp_keys::queue_start)?.parse().ok()
}

/// Whether the request is left out of the daemon's inactivity tracking.
pub fn ignores_activity(head: &RequestHead) -> bool {
    bool::decode(head.meta(resolved_keys::ignore_activity))
}

/// The daemon's side: the route and environ extras for running the
/// request in this daemon process of `process_group`, picked up by a
/// worker at `daemon_start`.
#[cfg(not(test))]
pub fn route_and_extras<'h>(
    head: &'h RequestHead<'_>,
    process_group: &str,
    process: &ProcessInfo,
    daemon_start: f64,
) -> (Route, EnvironExtras<'h>) {
    let Resolved {
        script,
        callable,
        reload_on_change,
        case_insensitive,
        url_scheme,
        application_group,
        request_handler,
        handler_script,
        request_id,
        request_start,
        // Read by serve.rs through ignores_activity.
        ignore_activity: _,
        server_pid,
        resource,
        connection_id,
    } = Resolved::decode(head);
    let Stamp {
        queue_start,
        daemon_connects,
        daemon_restarts,
    } = Stamp::decode(head);
    let route = Route {
        script,
        callable,
        reload_on_change,
        sendfile: false,
        case_insensitive,
        resource,
        restart_process_on_change: true,
    };
    let extras = EnvironExtras {
        // Borrowed from the head, which outlives the request's run.
        cgi: head
            .vars
            .iter()
            .map(|(k, v)| (k.as_ref().into(), v.as_ref().into()))
            .collect(),
        url_scheme: url_scheme.0,
        process_group: process_group.to_string(),
        application_group,
        multithread: process.multithread,
        multiprocess: process.multiprocess,
        apache_version: process.apache_version,
        request_handler,
        handler_script,
        request_id,
        connection_id,
        request_start,
        queue_start,
        daemon_start,
        server_pid,
        daemon_connects,
        daemon_restarts,
        apache_request: None,
    };
    (route, extras)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::wire::{write_request, Frame};

    /// A value unlike the decoder's default in every field.
    fn resolved() -> Resolved {
        Resolved {
            script: "/srv/app.wsgi".into(),
            callable: "app".into(),
            reload_on_change: true,
            case_insensitive: true,
            url_scheme: UrlScheme("https"),
            application_group: "site|/app".into(),
            request_handler: "wsgi-script".into(),
            handler_script: "/srv/handler.wsgi".into(),
            request_id: "aBcD".into(),
            request_start: 1_700_000_000.25,
            ignore_activity: true,
            server_pid: 4321,
            resource: Some("/srv/page.html".into()),
            connection_id: Some("cOnN".into()),
        }
    }

    fn head_of(resolved: &Resolved) -> RequestHead<'static> {
        let mut meta = Vec::new();
        resolved.encode(&mut meta);
        RequestHead {
            vars: vec![
                ("REQUEST_METHOD".into(), "POST".into()),
                ("PATH_INFO".into(), "/é".into()),
            ],
            meta,
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_field_round_trips_through_the_wire() {
        let sent = resolved();
        let mut head = head_of(&sent);
        stamp_queue_start(&mut head, 1_700_000_000.5, 3, 2);
        let mut bytes = Vec::new();
        write_request(&mut bytes, &head).unwrap();
        let Some(Frame::Request(received)) = Frame::read_from(&mut &bytes[..]).unwrap() else {
            panic!("not a request frame");
        };
        assert_eq!(received, head);
        assert_eq!(Resolved::decode(&received), sent);
        assert_eq!(
            Stamp::decode(&received),
            Stamp {
                queue_start: 1_700_000_000.5,
                daemon_connects: 3,
                daemon_restarts: 2,
            }
        );
        assert!(ignores_activity(&received));
        assert_eq!(queue_start(&received), Some(1_700_000_000.5));
    }

    #[test]
    fn every_listed_name_is_sent_and_read_back() {
        let mut head = head_of(&resolved());
        stamp_queue_start(&mut head, 1.5, 3, 2);
        let names: Vec<&str> = head.meta.iter().map(|(k, _)| k.as_str()).collect();
        let listed: Vec<&str> = Resolved::KEYS.iter().chain(Stamp::KEYS).copied().collect();
        assert_eq!(names, listed, "each listed value is sent once, in order");
        let full = (Resolved::decode(&head), Stamp::decode(&head));
        for name in listed {
            let mut without = head.clone();
            without.meta.retain(|(k, _)| k != name);
            let partial = (Resolved::decode(&without), Stamp::decode(&without));
            assert_ne!(partial, full, "'{name}' is sent but not read back");
        }
        assert_eq!(resolved_keys::ignore_activity, "ignore_activity");
        assert_eq!(stamp_keys::queue_start, "queue_start");
    }

    #[test]
    fn the_head_is_what_it_always_was() {
        let mut sent = resolved();
        let mut head = head_of(&sent);
        stamp_queue_start(&mut head, 1_700_000_000.5, 3, 2);
        let expected = pairs(&[
            ("script", "/srv/app.wsgi"),
            ("callable", "app"),
            ("reload", "1"),
            ("case_insensitive", "1"),
            ("url_scheme", "https"),
            ("application_group", "site|/app"),
            ("request_handler", "wsgi-script"),
            ("handler_script", "/srv/handler.wsgi"),
            ("request_id", "aBcD"),
            ("request_start", "1700000000.25"),
            ("ignore_activity", "1"),
            ("server_pid", "4321"),
            ("resource", "/srv/page.html"),
            ("connection_id", "cOnN"),
            ("queue_start", "1700000000.5"),
            ("daemon_connects", "3"),
            ("daemon_restarts", "2"),
        ]);
        assert_eq!(head.meta, expected);

        // Absent optional values are not sent; a second stamp replaces the
        // first.
        sent.resource = None;
        sent.connection_id = None;
        sent.reload_on_change = false;
        sent.ignore_activity = false;
        sent.url_scheme = UrlScheme("http");
        let mut head = head_of(&sent);
        stamp_queue_start(&mut head, 1.5, 1, 0);
        stamp_queue_start(&mut head, 2.5, 2, 1);
        let expected = pairs(&[
            ("script", "/srv/app.wsgi"),
            ("callable", "app"),
            ("reload", "0"),
            ("case_insensitive", "1"),
            ("url_scheme", "http"),
            ("application_group", "site|/app"),
            ("request_handler", "wsgi-script"),
            ("handler_script", "/srv/handler.wsgi"),
            ("request_id", "aBcD"),
            ("request_start", "1700000000.25"),
            ("ignore_activity", "0"),
            ("server_pid", "4321"),
            ("queue_start", "2.5"),
            ("daemon_connects", "2"),
            ("daemon_restarts", "1"),
        ]);
        assert_eq!(head.meta, expected);
    }

    #[test]
    fn missing_or_odd_values_read_as_before() {
        let head = RequestHead {
            vars: Vec::new(),
            meta: pairs(&[
                ("url_scheme", "ftp"),
                ("reload", "yes"),
                ("server_pid", "x"),
            ]),
        };
        let got = Resolved::decode(&head);
        assert_eq!(got.url_scheme, UrlScheme("http"));
        assert!(!got.reload_on_change);
        assert_eq!(got.server_pid, 0);
        assert_eq!(got.resource, None);
        assert_eq!(got.connection_id, None);
        assert_eq!(got.request_start, 0.0);
        assert_eq!(got.script, "");
        assert_eq!(queue_start(&head), None);
        assert!(!ignores_activity(&head));
        assert_eq!(Stamp::decode(&head).daemon_connects, 0);
    }
}
