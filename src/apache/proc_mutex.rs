//! An APR cross-process mutex: the `WSGIAcceptMutex` lock that the
//! processes of one daemon group take in turn around `accept`.

use super::ffi;
use crate::config::server::AcceptMutex;
use std::ffi::CString;

/// A mutex created by the Apache parent before the daemons are forked.
/// It lives in the configuration pool, which outlives every daemon of
/// that generation. A copy is the same mutex.
#[derive(Clone, Copy)]
pub struct ProcMutex {
    raw: *mut ffi::apr_proc_mutex_t,
    method: AcceptMutex,
}

// SAFETY: APR proc mutexes may be locked and unlocked from any thread;
// the pointer itself is never freed while a daemon uses it.
unsafe impl Send for ProcMutex {}
// SAFETY: as above.
unsafe impl Sync for ProcMutex {}

fn mechanism(method: AcceptMutex) -> ffi::apr_lockmech_e {
    match method {
        AcceptMutex::Default => ffi::apr_lockmech_e_APR_LOCK_DEFAULT,
        AcceptMutex::Posixsem => ffi::apr_lockmech_e_APR_LOCK_POSIXSEM,
        AcceptMutex::Sysvsem => ffi::apr_lockmech_e_APR_LOCK_SYSVSEM,
        AcceptMutex::Fcntl => ffi::apr_lockmech_e_APR_LOCK_FCNTL,
        AcceptMutex::Flock => ffi::apr_lockmech_e_APR_LOCK_FLOCK,
        AcceptMutex::Pthread => ffi::apr_lockmech_e_APR_LOCK_PROC_PTHREAD,
    }
}

use super::apr_error;

impl ProcMutex {
    /// Creates the mutex in `pool`; `lock_file` names it for the methods
    /// that use a file.
    pub fn create(
        method: AcceptMutex,
        lock_file: &str,
        pool: *mut ffi::apr_pool_t,
    ) -> Result<ProcMutex, String> {
        let file = CString::new(lock_file).map_err(|_| "NUL in lock file name".to_string())?;
        let name = if method.uses_lock_file() {
            file.as_ptr()
        } else {
            std::ptr::null()
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: `pool` is a live pool; APR copies the name.
        let status = unsafe { ffi::apr_proc_mutex_create(&mut raw, name, mechanism(method), pool) };
        if status != 0 {
            return Err(format!(
                "cannot create the {} accept mutex: {}",
                method.name(),
                apr_error(status)
            ));
        }
        Ok(ProcMutex { raw, method })
    }

    pub fn method(&self) -> AcceptMutex {
        self.method
    }

    /// Lets a process running as `uid`/`gid` use the mutex: System V
    /// semaphores check the caller's identity on every operation.
    pub fn give_to(&self, uid: libc::uid_t, gid: libc::gid_t) -> Result<(), String> {
        if self.method != AcceptMutex::Sysvsem {
            return Ok(());
        }
        let mut os = ffi::apr_os_proc_mutex_t::default();
        // SAFETY: reading the OS handle of our live mutex.
        let status = unsafe { ffi::apr_os_proc_mutex_get(&mut os, self.raw) };
        if status != 0 {
            return Err(apr_error(status));
        }
        // SAFETY: a zeroed semid_ds is a valid value; only its permission
        // fields are read by IPC_SET.
        let mut perms: libc::semid_ds = unsafe { std::mem::zeroed() };
        perms.sem_perm.uid = uid;
        perms.sem_perm.gid = gid;
        perms.sem_perm.mode = 0o600;
        // SAFETY: IPC_SET on the semaphore set APR created for us.
        if unsafe { libc::semctl(os.crossproc, 0, libc::IPC_SET, &mut perms) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    }

    /// Re-attaches the mutex in a forked daemon (the flock method reopens
    /// its file); called while the daemon can still open the file.
    pub fn attach_in_child(&mut self, pool: *mut ffi::apr_pool_t) -> Result<(), String> {
        // SAFETY: our mutex, in a freshly forked child; APR may replace
        // the pointer with a per-process copy.
        let status =
            unsafe { ffi::apr_proc_mutex_child_init(&mut self.raw, std::ptr::null(), pool) };
        if status != 0 {
            return Err(apr_error(status));
        }
        Ok(())
    }

    /// Blocks until this process holds the mutex.
    pub fn lock(&self) -> Result<(), String> {
        loop {
            // SAFETY: locking our live mutex.
            let status = unsafe { ffi::apr_proc_mutex_lock(self.raw) };
            match status {
                0 => return Ok(()),
                s if s == libc::EINTR => continue,
                s => return Err(apr_error(s)),
            }
        }
    }

    pub fn unlock(&self) {
        // SAFETY: unlocking the mutex this process holds.
        unsafe { ffi::apr_proc_mutex_unlock(self.raw) };
    }
}
