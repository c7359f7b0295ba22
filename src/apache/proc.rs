//! Forking a child through APR, and APR's other-child registry, through
//! which the MPMs report the death of a child they did not start (they
//! feed it from their own `waitpid` loop).

use super::ffi;
use std::ffi::{c_int, c_void};

/// The outcome of [`fork`], on each side of it.
pub enum Fork {
    /// In the new process.
    Child,
    /// In the parent, with the child's process record.
    Parent(ForkedChild),
    /// No process was made: APR's status.
    Failed(ffi::apr_status_t),
}

/// A child made by [`fork`]; its record lives in the pool given there,
/// as the other-child registry keeps a pointer to it.
pub struct ForkedChild {
    record: *mut ffi::apr_proc_t,
}

impl ForkedChild {
    pub fn pid(&self) -> libc::pid_t {
        // SAFETY: filled in by apr_proc_fork in the parent.
        unsafe { (*self.record).pid }
    }
}

/// Forks this process, the child's record allocated in `pool`.
///
/// # Safety
/// `pool` must be a live APR pool that outlives any registration of the
/// child with [`watch`].
pub unsafe fn fork(pool: *mut ffi::apr_pool_t) -> Fork {
    // SAFETY: a zeroed apr_proc_t in the pool, as APR expects.
    let record = unsafe {
        let size = std::mem::size_of::<ffi::apr_proc_t>();
        let p = ffi::apr_palloc(pool, size as ffi::apr_size_t) as *mut ffi::apr_proc_t;
        std::ptr::write_bytes(p, 0, 1);
        p
    };
    // SAFETY: apr_proc_fork returns twice, once in each process.
    let status = unsafe { ffi::apr_proc_fork(record, pool) };
    if status == ffi::APR_INCHILD as i32 {
        Fork::Child
    } else if status == ffi::APR_INPARENT as i32 {
        Fork::Parent(ForkedChild { record })
    } else {
        Fork::Failed(status)
    }
}

/// What the MPM calls about a watched child: the reason
/// (`APR_OC_REASON_*`), the data given to [`watch`] and the wait status.
pub type Maintenance = unsafe extern "C" fn(c_int, *mut c_void, c_int);

/// Registers `child` with the other-child registry: `maintenance` is
/// called with `data` when it dies, is lost, or the registration ends.
///
/// # Safety
/// `pool` is the one the child was forked with; `data` stays valid until
/// `maintenance` is called with `APR_OC_REASON_UNREGISTER`.
pub unsafe fn watch(
    child: &ForkedChild,
    maintenance: Maintenance,
    data: *mut c_void,
    pool: *mut ffi::apr_pool_t,
) {
    // SAFETY: per the contract.
    unsafe {
        ffi::apr_proc_other_child_register(
            child.record,
            Some(maintenance),
            data.cast(),
            std::ptr::null_mut(),
            pool,
        )
    };
}

/// Ends the registration made with `data`; APR then calls its maintenance
/// function with `APR_OC_REASON_UNREGISTER`.
///
/// # Safety
/// `data` is the data of a live registration.
pub unsafe fn unwatch(data: *mut c_void) {
    // SAFETY: per the contract.
    unsafe { ffi::apr_proc_other_child_unregister(data) };
}

/// Overwrites the argument area Apache was started with so `ps` shows
/// `title`, and names the process (`comm`, its first 15 bytes) after it.
pub fn set_process_title(title: &str) {
    let server = super::log::main_server();
    if server.is_null() {
        return;
    }
    // SAFETY: the argv strings Apache was started with are contiguous in
    // memory from argv[0] to the end of the last; we only write inside that
    // span and keep a terminating NUL.
    unsafe {
        let process = (*server).process;
        let argc = (*process).argc as usize;
        let argv = (*process).argv;
        if argc == 0 || argv.is_null() || (*argv).is_null() {
            return;
        }
        let start = *argv as *mut u8;
        let last = *argv.add(argc - 1);
        let end = last.add(libc::strlen(last)) as *mut u8;
        let room = end.offset_from(start) as usize;
        let bytes = title.as_bytes();
        let n = bytes.len().min(room);
        std::ptr::write_bytes(start, 0, room + 1);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, n);
        let comm = std::ffi::CString::new(&bytes[..bytes.len().min(15)]).unwrap_or_default();
        libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
    }
}
