//! Ties Rust values to APR pool lifetimes.

use super::{ffi, hook};
use std::ffi::{c_char, c_void, CStr, CString};

/// Moves `value` to the heap and drops it when `pool` is cleared.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn attach<T>(pool: *mut ffi::apr_pool_t, value: T) -> *mut T {
    unsafe extern "C" fn drop_box<T>(data: *mut c_void) -> ffi::apr_status_t {
        hook::guard("pool cleanup", 0, || {
            // SAFETY: `data` came from Box::into_raw below and is freed once.
            drop(unsafe { Box::from_raw(data as *mut T) });
            0
        })
    }
    let raw = Box::into_raw(Box::new(value));
    // SAFETY: the pool outlives the registration; the cleanup frees `raw`.
    unsafe {
        ffi::apr_pool_cleanup_register(
            pool,
            raw as *const c_void,
            Some(drop_box::<T>),
            Some(ffi::apr_pool_cleanup_null),
        )
    };
    raw
}

/// Copies `s` into `pool`, dropping interior NULs.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn strdup(pool: *mut ffi::apr_pool_t, s: &str) -> *const c_char {
    if s.contains('\0') {
        let c = CString::new(s.replace('\0', "")).expect("NULs removed");
        // SAFETY: apr_pstrdup copies the string into the pool.
        return unsafe { ffi::apr_pstrdup(pool, c.as_ptr()) };
    }
    // The common case, on every response header: one copy, straight into
    // the pool (apr_pstrmemdup adds the terminating NUL).
    // SAFETY: `s` is `s.len()` readable bytes; APR copies them.
    unsafe { ffi::apr_pstrmemdup(pool, s.as_ptr().cast(), s.len() as ffi::apr_size_t) }
}

/// A function APR calls when a pool is cleared.
pub type Cleanup = unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t;

/// Runs `cleanup` (with no data) when `pool` is cleared; cleanups run in
/// the reverse order of registration. Nothing runs in a child at exec.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn on_clear(pool: *mut ffi::apr_pool_t, cleanup: Cleanup) {
    // SAFETY: the pool is live; the cleanup takes no data.
    unsafe {
        ffi::apr_pool_cleanup_register(
            pool,
            std::ptr::null(),
            Some(cleanup),
            Some(ffi::apr_pool_cleanup_null),
        )
    };
}

/// Leaves a mark under `key` in `pool` unless one is there: `true` the
/// first time for a pool, `false` after.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn mark_first(pool: *mut ffi::apr_pool_t, key: &'static CStr) -> bool {
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: reading the key from a live pool.
    unsafe { ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), pool) };
    if !data.is_null() {
        return false;
    }
    // SAFETY: the mark is a non-null dangling pointer never dereferenced;
    // the key is static.
    unsafe {
        ffi::apr_pool_userdata_set(
            std::ptr::dangling::<c_void>(),
            key.as_ptr(),
            Some(ffi::apr_pool_cleanup_null),
            pool,
        )
    };
    true
}

/// Stores a copy of `text` in `pool` under `key`, for a later generation
/// of the module to read back with [`userdata_text`].
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn set_userdata_text(pool: *mut ffi::apr_pool_t, key: &'static CStr, text: &str) {
    let text = CString::new(text).unwrap_or_default();
    // SAFETY: the string is copied into the pool, which keeps it; no
    // cleanup function is attached.
    unsafe {
        let copy = ffi::apr_pstrdup(pool, text.as_ptr());
        ffi::apr_pool_userdata_set(copy.cast(), key.as_ptr(), None, pool);
    }
}

/// The text stored under `key` by [`set_userdata_text`], if any.
///
/// # Safety
/// `pool` must be a live APR pool.
pub unsafe fn userdata_text(pool: *mut ffi::apr_pool_t, key: &'static CStr) -> Option<String> {
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: reading our key from a live pool.
    unsafe { ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), pool) };
    if data.is_null() {
        return None;
    }
    // SAFETY: only set_userdata_text stores under our keys: a
    // NUL-terminated string.
    let text = unsafe { CStr::from_ptr(data as *const c_char) };
    Some(text.to_string_lossy().into_owned())
}
