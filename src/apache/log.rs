//! Routes `tracing` events into Apache's error log under this module's
//! name, so `LogLevel wsgi:debug` works as for any Apache module.

use super::{ffi, module_index};
use std::ffi::CString;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata};

pub use crate::config::log_level::*;

static MAIN_SERVER: AtomicPtr<ffi::server_rec> = AtomicPtr::new(std::ptr::null_mut());
/// Where lines without a request go: the main server, or in the daemon
/// processes of a group a virtual host defined, that host.
static LOG_SERVER: AtomicPtr<ffi::server_rec> = AtomicPtr::new(std::ptr::null_mut());
/// Most verbose Apache level enabled for this module on the log server.
static MAX_LEVEL: AtomicI32 = AtomicI32::new(APLOG_TRACE1);

/// Records the server used for log lines that have no request, and the
/// level configured for this module on it.
pub fn set_main_server(s: *mut ffi::server_rec) {
    MAIN_SERVER.store(s, Ordering::Release);
    log_to_server(s);
}

/// Sends lines without a request to the error log of `s` (a live
/// `server_rec`), at the level configured for this module there.
pub fn log_to_server(s: *mut ffi::server_rec) {
    LOG_SERVER.store(s, Ordering::Release);
    // SAFETY: `s` is a live server_rec of the current configuration.
    let level = unsafe { ffi::ap_get_server_module_loglevel(s, module_index()) };
    MAX_LEVEL.store(level, Ordering::Release);
}

/// The main server, for code that runs outside any hook.
pub fn main_server() -> *mut ffi::server_rec {
    MAIN_SERVER.load(Ordering::Acquire)
}

fn apache_level(level: &Level) -> i32 {
    match *level {
        Level::ERROR => APLOG_ERR,
        Level::WARN => APLOG_WARNING,
        Level::INFO => APLOG_INFO,
        Level::DEBUG => APLOG_DEBUG,
        Level::TRACE => APLOG_TRACE1,
    }
}

/// Writes one line to the error log of `s` (the log server when null).
pub fn server_log(s: *const ffi::server_rec, level: i32, message: &str) {
    server_log_with_status(s, level, 0, message);
}

/// `server_log` with an OS error number, which Apache renders as
/// `(errno)description: ` at the start of the line.
pub fn server_log_with_status(s: *const ffi::server_rec, level: i32, errno: i32, message: &str) {
    let s = if s.is_null() {
        LOG_SERVER.load(Ordering::Acquire) as *const _
    } else {
        s
    };
    let msg = CString::new(message.replace('\0', "\\0")).expect("NULs escaped");
    // SAFETY: "%s" with one C string argument; `s` may be null, which
    // Apache accepts for start-up messages.
    unsafe {
        ffi::ap_log_error_(
            c"mod_wsgi".as_ptr(),
            0,
            module_index(),
            level,
            errno,
            s,
            c"%s".as_ptr(),
            msg.as_ptr(),
        )
    };
}

/// Whether a line at `level` for request `r` would be written (honours
/// per-directory `LogLevel`), so callers can skip building it.
pub fn request_log_enabled(r: *const ffi::request_rec, level: i32) -> bool {
    // SAFETY: `r` is the live request being handled.
    level <= unsafe { ffi::ap_get_request_module_loglevel(r, module_index()) }
}

/// Writes one line to the error log in the context of request `r`, so it
/// carries the request's log id and client address.
pub fn request_log(r: *const ffi::request_rec, level: i32, message: &str) {
    request_log_with_status(r, level, 0, message);
}

/// `request_log` with an OS error number, which Apache renders as
/// `(errno)description: ` at the start of the line.
pub fn request_log_with_status(r: *const ffi::request_rec, level: i32, errno: i32, message: &str) {
    if !request_log_enabled(r, level) {
        return;
    }
    let msg = CString::new(message.replace('\0', "\\0")).expect("NULs escaped");
    // SAFETY: `r` is the live request being handled; "%s" with one string.
    unsafe {
        ffi::ap_log_rerror_(
            c"mod_wsgi".as_ptr(),
            0,
            module_index(),
            level,
            errno,
            r,
            c"%s".as_ptr(),
            msg.as_ptr(),
        )
    };
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }
}

/// A minimal `tracing` subscriber: no spans, events go to Apache.
struct ApacheSubscriber;

impl tracing::Subscriber for ApacheSubscriber {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // The level is only known once Apache has read its configuration,
        // so decide per event rather than caching an answer per call site.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        apache_level(metadata.level()) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        server_log(
            std::ptr::null(),
            apache_level(event.metadata().level()),
            &visitor.0,
        );
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs the subscriber for the whole process (idempotent).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(ApacheSubscriber);
}
