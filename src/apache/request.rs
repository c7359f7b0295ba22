//! Safe view of a `request_rec` for the duration of one handler call.

use super::{c_str, c_str_latin1, ffi, pool};
use std::ffi::c_char;
use std::marker::PhantomData;

/// Why writing response data to the client failed.
#[derive(Debug)]
pub enum WriteFailure {
    /// Apache had already found the connection closed.
    ClientGone,
    /// The output filters failed, with APR's description of the error.
    Failed(String),
}

/// APR's description of `status`.
fn apr_error(status: ffi::apr_status_t) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: apr_strerror writes a NUL-terminated message into `buf`.
    unsafe {
        ffi::apr_strerror(status, buf.as_mut_ptr(), buf.len() as ffi::apr_size_t);
        c_str(buf.as_ptr()).into_owned()
    }
}

/// Borrowed handle to the request being handled on this thread. Its
/// lifetime is that of the hook call handing it out ([`Request::scoped`]),
/// so the compiler refuses to keep it (in a static, a spawned thread)
/// past the call.
#[derive(Clone, Copy)]
pub struct Request<'hook> {
    raw: *mut ffi::request_rec,
    call: PhantomData<&'hook mut ffi::request_rec>,
}

/// Collects an APR table's entries as native text (`c_str_latin1`),
/// borrowed from the table's pool where they are ASCII.
///
/// # Safety
/// `table` is a live apr_table_t whose strings outlive `'a`.
pub unsafe fn table_entries<'a>(
    table: *const ffi::apr_table_t,
) -> Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)> {
    // SAFETY: apr_table_elts returns the table's array header.
    let arr = unsafe { &*ffi::apr_table_elts(table) };
    let entries = arr.elts as *const ffi::apr_table_entry_t;
    (0..arr.nelts as usize)
        .filter_map(|i| {
            // SAFETY: `i < nelts` indexes the table's entries.
            let e = unsafe { &*entries.add(i) };
            if e.key.is_null() {
                return None;
            }
            // SAFETY: keys and values are NUL-terminated pool strings.
            Some(unsafe { (c_str_latin1(e.key), c_str_latin1(e.val)) })
        })
        .collect()
}

/// The `request_rec` a hook was called with, vouched for by that hook.
pub struct HookRequest(*mut ffi::request_rec);

impl HookRequest {
    /// # Safety
    /// `raw` is the live request of the current hook invocation and is only
    /// used on this thread while the hook runs.
    pub unsafe fn new(raw: *mut ffi::request_rec) -> HookRequest {
        HookRequest(raw)
    }

    /// Runs `f` with the request. `f` must work for any lifetime, so the
    /// request it is lent cannot leave it.
    pub fn scope<T>(self, f: impl for<'hook> FnOnce(Request<'hook>) -> T) -> T {
        f(Request {
            raw: self.0,
            call: PhantomData,
        })
    }
}

impl<'hook> Request<'hook> {
    /// Fills `subprocess_env` with Apache's CGI variables and returns
    /// them, borrowed from the request pool for the hook's call.
    pub fn cgi_environment(
        self,
    ) -> Vec<(std::borrow::Cow<'hook, str>, std::borrow::Cow<'hook, str>)> {
        // SAFETY: standard calls on the live request.
        unsafe {
            ffi::ap_add_common_vars(self.raw);
            ffi::ap_add_cgi_vars(self.raw);
            table_entries(self.rec().subprocess_env)
        }
    }
}

impl Request<'_> {
    /// The underlying pointer, for `WSGIPassApacheRequest`.
    pub fn raw(self) -> *mut ffi::request_rec {
        self.raw
    }

    fn rec(&self) -> &ffi::request_rec {
        // SAFETY: valid for the hook call (see from_raw).
        unsafe { &*self.raw }
    }

    pub fn pool(self) -> *mut ffi::apr_pool_t {
        self.rec().pool
    }

    pub fn uri(&self) -> String {
        // SAFETY: request strings are NUL-terminated pool strings.
        unsafe { c_str(self.rec().uri) }.into_owned()
    }

    pub fn handler(&self) -> String {
        // SAFETY: as above.
        unsafe { c_str(self.rec().handler) }.into_owned()
    }

    pub fn filename(&self) -> String {
        // SAFETY: as above.
        unsafe { c_str(self.rec().filename) }.into_owned()
    }

    pub fn set_filename(self, name: &str) {
        // SAFETY: the copy lives in the request pool.
        unsafe { (*self.raw).filename = pool::strdup(self.pool(), name) as *mut c_char };
    }

    /// The authenticated user (`r->user`), if any, as native text.
    pub fn user(&self) -> Option<String> {
        let user = self.rec().user;
        // SAFETY: a NUL-terminated pool string when set.
        (!user.is_null()).then(|| unsafe { c_str_latin1(user) }.into_owned())
    }

    /// Replaces the authenticated user name.
    pub fn set_user(self, user: &str) {
        // SAFETY: a pool copy assigned to the live request.
        unsafe { (*self.raw).user = pool::strdup(self.pool(), user) as *mut c_char };
    }

    /// The client's address as Apache sees it (after mod_remoteip).
    pub fn client_ip(&self) -> String {
        // SAFETY: a NUL-terminated pool string.
        unsafe { c_str(self.rec().useragent_ip) }.into_owned()
    }

    /// Whether `Satisfy Any` lets authentication stand in for host access.
    pub fn satisfies_any(&self) -> bool {
        // SAFETY: a plain query of the live request's configuration.
        unsafe { ffi::ap_satisfies(self.raw) == ffi::SATISFY_ANY as i32 }
    }

    pub fn set_handler(self, handler: &'static std::ffi::CStr) {
        // SAFETY: a static string outlives the request.
        unsafe { (*self.raw).handler = handler.as_ptr() };
    }

    pub fn is_regular_file(&self) -> bool {
        self.rec().finfo.filetype == ffi::apr_filetype_e_APR_REG
    }

    pub fn file_exists(&self) -> bool {
        self.rec().finfo.filetype != ffi::apr_filetype_e_APR_NOFILE
    }

    pub fn server(&self) -> *mut ffi::server_rec {
        self.rec().server
    }

    /// Host name the client addressed (or the server name).
    pub fn server_port(&self) -> u16 {
        // SAFETY: plain query on the live request.
        unsafe { ffi::ap_get_server_port(self.raw) }
    }

    /// A request note (`r->notes`), where modules leave per-request data.
    pub fn note(&self, name: &str) -> Option<String> {
        let key = std::ffi::CString::new(name).ok()?;
        // SAFETY: lookup in the live table.
        let v = unsafe { ffi::apr_table_get(self.rec().notes, key.as_ptr()) };
        // SAFETY: table values are pool strings.
        (!v.is_null()).then(|| unsafe { c_str(v) }.into_owned())
    }

    /// A request header as the client sent it, as native text.
    pub fn header_in(&self, name: &str) -> Option<String> {
        let key = std::ffi::CString::new(name).ok()?;
        // SAFETY: lookup in the live table.
        let v = unsafe { ffi::apr_table_get(self.rec().headers_in, key.as_ptr()) };
        // SAFETY: table values are pool strings.
        (!v.is_null()).then(|| unsafe { c_str_latin1(v) }.into_owned())
    }

    /// Whether the connection is TLS, asked of mod_ssl when it is loaded.
    pub fn is_https(&self) -> bool {
        type IsHttps = unsafe extern "C" fn(*mut ffi::conn_rec) -> std::ffi::c_int;
        // Looked up once per process: modules are all loaded before the
        // first request, and the lookup is a hash search.
        static SSL_IS_HTTPS: once_cell::sync::OnceCell<Option<IsHttps>> =
            once_cell::sync::OnceCell::new();
        let found = SSL_IS_HTTPS.get_or_init(|| {
            // SAFETY: mod_ssl registers "ssl_is_https" with this signature.
            unsafe {
                ffi::apr_dynamic_fn_retrieve(c"ssl_is_https".as_ptr())
                    .map(|f| std::mem::transmute::<_, IsHttps>(f))
            }
        });
        // SAFETY: calling mod_ssl's function on this request's connection.
        found.is_some_and(|is_https| unsafe { is_https(self.rec().connection) } != 0)
    }

    /// Whether mod_ssl is loaded (its variable lookup is registered).
    pub fn ssl_loaded() -> bool {
        // SAFETY: a lookup in APR's table of optional functions.
        unsafe { ffi::apr_dynamic_fn_retrieve(c"ssl_var_lookup".as_ptr()) }.is_some()
    }

    /// mod_ssl's value of SSL variable `name` for this request (`HTTPS`,
    /// `SSL_CIPHER`, ...); `None` when mod_ssl is not loaded.
    pub fn ssl_var(self, name: &str) -> Option<String> {
        type VarLookup = unsafe extern "C" fn(
            *mut ffi::apr_pool_t,
            *mut ffi::server_rec,
            *mut ffi::conn_rec,
            *mut ffi::request_rec,
            *mut c_char,
        ) -> *mut c_char;
        static SSL_VAR_LOOKUP: once_cell::sync::OnceCell<Option<VarLookup>> =
            once_cell::sync::OnceCell::new();
        let lookup = SSL_VAR_LOOKUP.get_or_init(|| {
            // SAFETY: mod_ssl registers "ssl_var_lookup" with this signature.
            unsafe {
                ffi::apr_dynamic_fn_retrieve(c"ssl_var_lookup".as_ptr())
                    .map(|f| std::mem::transmute::<_, VarLookup>(f))
            }
        });
        let lookup = (*lookup)?;
        // SAFETY: the name is copied into the request pool; mod_ssl's lookup
        // on this live request returns a pool string or NULL.
        let value = unsafe {
            let name = pool::strdup(self.pool(), name);
            let r = self.rec();
            lookup(
                self.pool(),
                r.server,
                r.connection,
                self.raw,
                name.cast_mut(),
            )
        };
        // SAFETY: a NUL-terminated pool string, or NULL (read as empty).
        // Native text, as the C module gives mod_ssl's values to Python.
        Some(unsafe { c_str_latin1(value) }.into_owned())
    }

    /// Apache's `Timeout` for this request's server.
    pub fn server_timeout(&self) -> std::time::Duration {
        // SAFETY: the request's server record is live.
        let micros = unsafe { (*self.rec().server).timeout };
        std::time::Duration::from_micros(micros.max(1_000_000) as u64)
    }

    /// A HEAD request: Apache will discard the body.
    /// Allows GET (and so HEAD) only, for the `Allow` header of a 405.
    pub fn allow_get_only(self) {
        // SAFETY: Apache gives every request a method list; the mask is
        // what its error page lists in `Allow`.
        unsafe {
            (*self.raw).allowed = 1 << ffi::M_GET;
            if let Some(list) = (*self.raw).allowed_methods.as_mut() {
                list.method_mask = 1 << ffi::M_GET;
            }
        }
    }

    /// A GET (a HEAD counts as one, with `header_only`).
    pub fn is_get(&self) -> bool {
        // SAFETY: reading a field of the live request.
        unsafe { (*self.raw).method_number == ffi::M_GET as i32 }
    }

    pub fn header_only(&self) -> bool {
        self.rec().header_only != 0
    }

    /// Whether a content filter (mod_deflate, mod_cache, ...) sits in
    /// front of the protocol filters and so needs the real body.
    pub fn has_content_output_filter(&self) -> bool {
        let first = self.rec().output_filters;
        // SAFETY: filter chain entries and their records are live for the
        // request.
        unsafe {
            !first.is_null()
                && !(*first).frec.is_null()
                && (*(*first).frec).ftype < ffi::ap_filter_type_AP_FTYPE_PROTOCOL
        }
    }

    /// Whether `AcceptPathInfo Off` refuses this request's extra path
    /// (`PATH_INFO` after the file the URL named).
    pub fn path_info_refused(&self) -> bool {
        let rec = self.rec();
        let refused = rec.used_path_info == ffi::AP_REQ_REJECT_PATH_INFO as i32;
        // SAFETY: `path_info` is a NUL-terminated pool string when set.
        refused && !rec.path_info.is_null() && unsafe { *rec.path_info } != 0
    }

    /// Whether `Options ExecCGI` applies to the request's directory.
    pub fn exec_cgi_allowed(&self) -> bool {
        // SAFETY: query on the live request.
        let options = unsafe { ffi::ap_allow_options(self.raw) };
        options & ffi::OPT_EXECCGI as i32 != 0
    }

    /// The request's log id (`%L`), generated now if no module has yet.
    pub fn log_id(self) -> String {
        // SAFETY: the generated id is a pool string kept on the request so
        // the access and error logs show the same value.
        unsafe {
            if self.rec().log_id.is_null() {
                let mut id: *const c_char = std::ptr::null();
                ffi::ap_run_generate_log_id(self.rec().connection, self.raw, &mut id);
                (*self.raw).log_id = id;
            }
            c_str(self.rec().log_id).into_owned()
        }
    }

    /// The connection's log id, when one was generated.
    pub fn connection_log_id(&self) -> Option<String> {
        // SAFETY: the connection outlives the request.
        let id = unsafe { (*self.rec().connection).log_id };
        // SAFETY: pool string when set.
        (!id.is_null()).then(|| unsafe { c_str(id) }.into_owned())
    }

    /// The listening socket the connection came in on: the host as the
    /// `Listen` directive named it ("" when it named none) and the port.
    pub fn listener(&self) -> (String, u16) {
        // SAFETY: the connection and its local address outlive the request.
        let addr = unsafe { (*self.rec().connection).local_addr };
        if addr.is_null() {
            return (String::new(), 0);
        }
        // SAFETY: checked non-null; a pool-allocated sockaddr.
        let (host, port) = unsafe { ((*addr).hostname, (*addr).port) };
        // SAFETY: pool string when set.
        let host = (!host.is_null()).then(|| unsafe { c_str(host) }.into_owned());
        (host.unwrap_or_default(), port)
    }

    /// When Apache received the request, in seconds since the epoch.
    pub fn request_time(&self) -> f64 {
        self.rec().request_time as f64 / 1e6
    }

    pub fn env_var(&self, name: &str) -> Option<String> {
        let key = std::ffi::CString::new(name).ok()?;
        // SAFETY: lookup in the live table.
        let v = unsafe { ffi::apr_table_get(self.rec().subprocess_env, key.as_ptr()) };
        // SAFETY: table values are pool strings.
        (!v.is_null()).then(|| unsafe { c_str(v) }.into_owned())
    }

    pub fn set_status(self, status: i32, line: &str) {
        // SAFETY: the status line is copied into the request pool.
        unsafe {
            (*self.raw).status = status;
            (*self.raw).status_line = pool::strdup(self.pool(), line);
        }
    }

    pub fn add_header(self, name: &str, value: &str) {
        // SAFETY: both strings copied into the request pool first.
        unsafe {
            let p = self.pool();
            if name.eq_ignore_ascii_case("content-type") {
                ffi::ap_set_content_type(self.raw, pool::strdup(p, value));
            } else if name.eq_ignore_ascii_case("content-length") {
                ffi::apr_table_set(
                    (*self.raw).headers_out,
                    pool::strdup(p, name),
                    pool::strdup(p, value),
                );
            } else {
                // As the C module does: a challenge also survives an error
                // page Apache makes, and goes out ahead of other headers.
                let table = if name.eq_ignore_ascii_case("www-authenticate") {
                    (*self.raw).err_headers_out
                } else {
                    (*self.raw).headers_out
                };
                ffi::apr_table_add(table, pool::strdup(p, name), pool::strdup(p, value));
            }
        }
    }

    /// Serves `location` (a local URL path) in place of this request, as a
    /// GET without a body, the way CGI's local redirects work.
    pub fn internal_redirect(self, location: &str) {
        // SAFETY: the location is copied into the request pool; the method
        // strings are static; Apache runs the new request to completion
        // before returning.
        unsafe {
            (*self.raw).method = c"GET".as_ptr();
            (*self.raw).method_number = ffi::M_GET as i32;
            ffi::apr_table_unset((*self.raw).headers_in, c"Content-Length".as_ptr());
            ffi::ap_internal_redirect_handler(pool::strdup(self.pool(), location), self.raw);
        }
    }

    /// Writes body bytes into the output filter chain; false when the
    /// client has gone away.
    pub fn write(self, data: &[u8]) -> Result<(), WriteFailure> {
        if data.is_empty() {
            return Ok(());
        }
        if self.connection_aborted() {
            return Err(WriteFailure::ClientGone);
        }
        // SAFETY: the brigade lives in the request pool and is destroyed
        // before returning; apr_brigade_write copies `data`, and the flush
        // pushes it (and the headers, the first time) to the client now,
        // so streamed responses arrive as they are produced.
        let status = unsafe {
            let connection = self.rec().connection;
            let brigade = ffi::apr_brigade_create(self.pool(), (*connection).bucket_alloc);
            let mut status = ffi::apr_brigade_write(
                brigade,
                None,
                std::ptr::null_mut(),
                data.as_ptr().cast(),
                data.len() as ffi::apr_size_t,
            );
            if status == 0 {
                status = ffi::ap_fflush(self.rec().output_filters, brigade);
            }
            ffi::apr_brigade_destroy(brigade);
            status
        };
        if status != 0 {
            return Err(WriteFailure::Failed(apr_error(status)));
        }
        if self.connection_aborted() {
            return Err(WriteFailure::ClientGone);
        }
        Ok(())
    }

    /// Whether Apache has found the client connection gone.
    pub fn connection_aborted(&self) -> bool {
        // SAFETY: the request's connection lives as long as the request.
        unsafe { (*self.rec().connection).aborted != 0 }
    }

    /// Passes `data` down the output filters without forcing it out; the
    /// caller flushes when no more data follows at once (daemon relay).
    pub fn write_unflushed(self, data: &[u8]) -> bool {
        // SAFETY: ap_rwrite copies `data` before returning.
        data.is_empty()
            || unsafe { ffi::ap_rwrite(data.as_ptr().cast(), data.len() as i32, self.raw) >= 0 }
    }

    /// Pushes everything written so far (and the headers) to the client.
    pub fn flush(self) -> bool {
        // SAFETY: flushing the live request's output.
        unsafe { ffi::ap_rflush(self.raw) >= 0 }
    }

    /// Sets how long a write to (or read from) the client may block.
    pub fn set_client_timeout(self, timeout: std::time::Duration) {
        // SAFETY: the connection's socket lives as long as the connection.
        unsafe {
            let socket = ffi::ap_get_conn_socket((*self.raw).connection);
            if !socket.is_null() {
                ffi::apr_socket_timeout_set(
                    socket,
                    timeout.as_micros() as ffi::apr_interval_time_t,
                );
            }
        }
    }

    /// The `ServerName` of the (virtual) server handling the request.
    pub fn server_hostname(self) -> String {
        // SAFETY: the request's server record is live; the name may be NULL.
        let name = unsafe { (*self.rec().server).server_hostname };
        if name.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated string owned by the configuration.
            unsafe { crate::apache::c_str(name) }.into_owned()
        }
    }

    /// Makes Apache close the connection after what was already sent and
    /// skip the end-of-response marker (for chunked responses, the final
    /// empty chunk), so the client sees the response as incomplete.
    pub fn abort_response(self) {
        // SAFETY: plain field updates on the live request and connection.
        unsafe {
            (*(*self.raw).connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE;
            (*self.raw).eos_sent = 1;
        }
    }

    /// Sends `length` bytes of the open file `fd` from `offset` through the
    /// output filters as a file bucket (so the core can use sendfile when
    /// `allow_sendfile`), then flushes, so the caller may close `fd`
    /// afterwards. False when the client has gone away.
    pub fn send_file(self, fd: i32, offset: u64, length: u64, allow_sendfile: bool) -> bool {
        let mut flags = ffi::APR_FOPEN_READ as i32;
        if allow_sendfile {
            flags |= ffi::APR_FOPEN_SENDFILE_ENABLED as i32;
        }
        let mut file: *mut ffi::apr_file_t = std::ptr::null_mut();
        let mut os_fd = fd;
        // SAFETY: wraps the caller's open descriptor without taking
        // ownership (no cleanup closes it); the flush below makes sure no
        // bucket refers to it after we return.
        unsafe {
            if ffi::apr_os_file_put(&mut file, &mut os_fd, flags, self.pool()) != 0 {
                return false;
            }
            let mut sent: ffi::apr_size_t = 0;
            let status = ffi::ap_send_fd(
                file,
                self.raw,
                offset as ffi::apr_off_t,
                length as ffi::apr_size_t,
                &mut sent,
            );
            status == 0 && ffi::ap_rflush(self.raw) >= 0
        }
    }

    /// Prepares to read the request body; returns an HTTP status on error.
    pub fn setup_body(self, allow_chunked: bool) -> Result<(), i32> {
        let policy = if allow_chunked {
            ffi::REQUEST_CHUNKED_DECHUNK
        } else {
            ffi::REQUEST_CHUNKED_ERROR
        };
        // SAFETY: standard body-reading setup on the live request.
        let status = unsafe { ffi::ap_setup_client_block(self.raw, policy as i32) };
        if status != 0 {
            return Err(status);
        }
        // SAFETY: as above.
        unsafe { ffi::ap_should_client_block(self.raw) };
        Ok(())
    }

    /// Reads up to `buf.len()` body bytes; 0 at end, `None` on error.
    /// Reads up to `buf.len()` bytes of the request body: `Ok(0)` at its
    /// end, or the status Apache's input filters failed with (a timeout,
    /// a client that left, a malformed chunk), as `ap_get_client_block`
    /// would not say.
    pub fn read_body(self, buf: &mut [u8]) -> Result<usize, ffi::apr_status_t> {
        let rec = self.rec();
        // SAFETY: a brigade from the request pool, filled by the request's
        // input filters, flattened into at most buf.len() bytes of `buf`
        // and destroyed before returning.
        unsafe {
            let bb = ffi::apr_brigade_create(rec.pool, (*rec.connection).bucket_alloc);
            let rv = ffi::ap_get_brigade(
                rec.input_filters,
                bb,
                ffi::ap_input_mode_t_AP_MODE_READBYTES,
                ffi::apr_read_type_e_APR_BLOCK_READ,
                buf.len() as _,
            );
            if rv != 0 {
                ffi::apr_brigade_destroy(bb);
                // What is left of the body cannot be skipped reliably:
                // the connection is not reused.
                (*rec.connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE;
                return Err(rv);
            }
            let mut len = buf.len() as ffi::apr_size_t;
            let rv = ffi::apr_brigade_flatten(bb, buf.as_mut_ptr().cast(), &mut len);
            ffi::apr_brigade_destroy(bb);
            if rv != 0 {
                return Err(rv);
            }
            Ok(len as usize)
        }
    }

    /// Logs `message` about this request's script as the C module does:
    /// `[script FILENAME] ` first, and the OS error `errno` (when not 0)
    /// rendered by Apache.
    pub fn log_script_error(self, errno: i32, message: &str) {
        self.log_script(super::log::APLOG_ERR, errno, message);
    }

    /// `log_script_error` at any level (the C module tags every line it
    /// logs about a request this way, traces included).
    pub fn log_script(self, level: i32, errno: i32, message: &str) {
        if !self.log_enabled(level) {
            return;
        }
        let line = format!("[script {}] {message}", self.filename());
        super::log::request_log_with_status(self.raw, level, errno, &line);
    }

    pub fn log(self, level: i32, message: &str) {
        super::log::request_log(self.raw, level, message);
    }

    pub fn log_enabled(self, level: i32) -> bool {
        super::log::request_log_enabled(self.raw, level)
    }

    /// Per-request module data slot.
    pub fn set_module_data<T>(self, data: *const T) {
        let index = super::module_index() as usize;
        // SAFETY: request_config has a slot per module.
        unsafe {
            let v = self.rec().request_config as *mut *const std::ffi::c_void;
            *v.add(index) = data.cast();
        }
    }

    pub fn module_data<T>(&self) -> *const T {
        // SAFETY: reading our own slot.
        unsafe { super::commands::module_config::<T>(self.rec().request_config) }
    }

    pub fn per_dir_config<T>(&self) -> *const T {
        // SAFETY: the merged per-directory config of this request.
        unsafe { super::commands::module_config::<T>(self.rec().per_dir_config) }
    }
}

impl crate::config::values::GroupContext for Request<'_> {
    fn server_name(&self) -> String {
        self.server_hostname()
    }

    fn request_host(&self) -> String {
        // SAFETY: r->hostname is a pool string or NULL.
        unsafe { c_str(self.rec().hostname) }.into_owned()
    }

    fn server_port(&self) -> u16 {
        Request::server_port(self)
    }

    fn uri_and_path_info(&self) -> (String, String) {
        // SAFETY: r->path_info is a pool string or NULL.
        let path_info = unsafe { c_str(self.rec().path_info) }.into_owned();
        (self.uri(), path_info)
    }

    fn env(&self, name: &str) -> Option<String> {
        self.note(name)
            .or_else(|| self.env_var(name))
            .or_else(|| std::env::var(name).ok())
    }
}
