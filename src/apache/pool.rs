//! Ties Rust values to APR pool lifetimes.

use super::{ffi, hook};
use std::ffi::{c_char, c_void, CString};

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
    let c = CString::new(s.replace('\0', "")).expect("NULs removed");
    // SAFETY: apr_pstrdup copies the string into the pool.
    unsafe { ffi::apr_pstrdup(pool, c.as_ptr()) }
}
