//! The pure files of the main crate's `wsgi` module, and stand-ins for
//! the structs `daemon::handoff` needs from its FFI-bound `handler`.

#[path = "../../src/wsgi/environ.rs"]
pub mod environ;
#[path = "../../src/wsgi/response.rs"]
pub mod response;

/// Stand-ins for the two plain structs `daemon::handoff` fills in. The
/// real ones live in a module that reaches Python; handoff.rs builds
/// both with struct literals naming every field, so a field added to
/// or removed from the real structs breaks this build until the
/// stand-ins follow.
pub mod handler {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Route {
        pub script: String,
        pub callable: String,
        pub reload_on_change: bool,
        pub sendfile: bool,
        pub case_insensitive: bool,
        pub resource: Option<String>,
        pub restart_process_on_change: bool,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct EnvironExtras<'r> {
        pub cgi: super::environ::CgiVars<'r>,
        pub url_scheme: &'static str,
        pub process_group: String,
        pub application_group: String,
        pub multithread: bool,
        pub multiprocess: bool,
        pub apache_version: [i64; 3],
        pub request_handler: String,
        pub handler_script: String,
        pub request_id: String,
        pub connection_id: Option<String>,
        pub request_start: f64,
        pub queue_start: f64,
        pub daemon_start: f64,
        pub server_pid: u32,
        pub daemon_connects: u32,
        pub daemon_restarts: u32,
        pub apache_request: Option<*mut std::ffi::c_void>,
    }
}
