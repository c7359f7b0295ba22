//! Thin safe wrappers over the Apache and APR C API. Apache `unsafe` lives
//! here and in the hook entry points of `crate::module`.

pub mod commands;
pub mod ffi;
pub mod hook;
pub mod log;
pub mod pool;
pub mod proc;
pub mod proc_mutex;
pub mod request;
pub mod scoreboard;
pub mod servers;

use std::ffi::{c_char, CStr};

extern "C" {
    /// This module's record. The module layer defines and exports it; the
    /// wrappers name it by its symbol so that they need not import that
    /// layer. Mutable because Apache writes `module_index` into it at load.
    static mut wsgi_module: ffi::module;
}

/// The index Apache gave this module, which selects its slot in every
/// configuration vector and its per-module log level.
pub fn module_index() -> i32 {
    // SAFETY: Apache assigns module_index once at load time, before any
    // hook or directive of ours runs; reading an int.
    unsafe { (*std::ptr::addr_of!(wsgi_module)).module_index }
}

/// Borrows a NUL-terminated C string of request data (a header, a CGI
/// variable, a user name) as PEP 3333 native text: each byte one latin-1
/// character ([`crate::config::text::latin1`]), as the C module decodes it.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn c_str_latin1<'a>(p: *const c_char) -> std::borrow::Cow<'a, str> {
    if p.is_null() {
        return std::borrow::Cow::Borrowed("");
    }
    // SAFETY: guaranteed by the caller.
    crate::config::text::latin1(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Borrows a NUL-terminated C string as UTF-8, replacing invalid bytes.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn c_str<'a>(p: *const c_char) -> std::borrow::Cow<'a, str> {
    if p.is_null() {
        return std::borrow::Cow::Borrowed("");
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy()
}

/// Apache's server description, e.g. "Apache/2.4.62 (Debian)".
pub fn server_description() -> String {
    // SAFETY: returns a static string owned by httpd.
    unsafe { c_str(ffi::ap_get_server_description()) }.into_owned()
}

/// APR's message for `status` (an OS error or an APR status).
pub fn apr_error(status: ffi::apr_status_t) -> String {
    let mut buf = [0 as std::ffi::c_char; 256];
    // SAFETY: apr_strerror writes a NUL-terminated message into `buf`.
    unsafe {
        ffi::apr_strerror(status, buf.as_mut_ptr(), buf.len() as ffi::apr_size_t);
        c_str(buf.as_ptr()).into_owned()
    }
}

/// A value of `ap_mpm_query`, or `None` when the MPM does not support it.
pub fn mpm_query(code: u32) -> Option<i32> {
    let mut value: i32 = 0;
    // SAFETY: plain out-parameter call.
    let rv = unsafe { ffi::ap_mpm_query(code as i32, &mut value) };
    (rv == 0).then_some(value)
}

/// The running MPM's name ("event", "worker", "prefork").
pub fn mpm_name() -> String {
    // SAFETY: returns a static string owned by httpd.
    unsafe { c_str(ffi::ap_show_mpm()) }.into_owned()
}

/// When the httpd binary was built.
pub fn build_date() -> String {
    // SAFETY: returns a static string owned by httpd.
    unsafe { c_str(ffi::ap_get_server_built()) }.into_owned()
}

/// Whether Apache is exiting (not restarting) as the configuration goes.
pub fn exiting() -> bool {
    // SAFETY: a plain query of Apache's state.
    unsafe {
        ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as std::ffi::c_int)
            == ffi::AP_SQ_MS_EXITING as std::ffi::c_int
    }
}

/// How many times Apache has read its configuration (the generation).
pub fn config_generation() -> i32 {
    // SAFETY: a plain query of Apache's state.
    unsafe { ffi::ap_state_query(ffi::AP_SQ_CONFIG_GEN as std::ffi::c_int) }
}

/// The uid/gid of Apache's `User`/`Group`.
pub fn child_user_and_group() -> (libc::uid_t, libc::gid_t) {
    // SAFETY: reading a global Apache fills in while reading its config.
    unsafe {
        let config = std::ptr::addr_of!(ffi::ap_unixd_config);
        ((*config).user_id, (*config).group_id)
    }
}

/// `path` made absolute: under ServerRoot when `under_server_root`, else
/// under Apache's runtime directory.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn relative_path(
    pool: *mut ffi::apr_pool_t,
    path: &str,
    under_server_root: bool,
) -> String {
    let rel = std::ffi::CString::new(path).expect("no NUL in a directive value");
    // SAFETY: both functions return pool strings.
    unsafe {
        let p = if under_server_root {
            ffi::ap_server_root_relative(pool, rel.as_ptr())
        } else {
            ffi::ap_runtime_dir_relative(pool, rel.as_ptr())
        };
        c_str(p).into_owned()
    }
}

/// Closes Apache's listening sockets (in a process that will not serve
/// them).
pub fn close_listeners() {
    // SAFETY: closes the descriptors in Apache's listener list; nothing in
    // this process uses them afterwards.
    unsafe { ffi::ap_close_listeners() };
}
