//! Users and groups: looking them up by name and by id, and taking on an
//! identity (group, supplementary groups, user, root directory).
//!
//! The lookups by id use the reentrant `_r` calls, so request threads may
//! run them; the lookups by name and the home directory use the plain
//! calls, only ever made while a process is single-threaded (the parent at
//! configuration, a daemon before its threads start).

use std::ffi::{CStr, CString};
use std::io;

/// A user id.
pub type Uid = libc::uid_t;
/// A group id.
pub type Gid = libc::gid_t;

/// The real user id of this process.
pub fn uid() -> Uid {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Whether this process runs with an effective user id of root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid of user `name`; `None` when there is no such user.
pub fn user_id(name: &CStr) -> Option<Uid> {
    // SAFETY: getpwnam returns a static record or NULL; the uid is copied
    // out at once.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        (!pw.is_null()).then(|| (*pw).pw_uid)
    }
}

/// The gid of group `name`; `None` when there is no such group.
pub fn group_id(name: &CStr) -> Option<Gid> {
    // SAFETY: getgrnam returns a static record or NULL; the gid is copied
    // out at once.
    unsafe {
        let gr = libc::getgrnam(name.as_ptr());
        (!gr.is_null()).then(|| (*gr).gr_gid)
    }
}

/// Size of the scratch buffer for the `_r` lookups (names, shells, dirs
/// and group members); grown when the record does not fit.
const LOOKUP_BUFFER: usize = 4096;

/// The name of user `uid` as the system stores it, thread-safely.
pub fn user_name_bytes(uid: Uid) -> Option<CString> {
    let mut size = LOOKUP_BUFFER;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: passwd is plain data; all-zero is a valid placeholder.
        let mut record: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: getpwuid_r fills `record` with pointers into `buf`, which
        // outlives their use below.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut record, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 || found.is_null() || record.pw_name.is_null() {
            return None;
        }
        // SAFETY: pw_name points at a NUL-terminated string inside `buf`.
        return Some(unsafe { CStr::from_ptr(record.pw_name) }.to_owned());
    }
}

/// The name of user `uid`, thread-safely.
pub fn user_name(uid: Uid) -> Option<String> {
    user_name_bytes(uid).map(|name| name.to_string_lossy().into_owned())
}

/// The name of group `gid`, thread-safely.
pub fn group_name(gid: Gid) -> Option<String> {
    let mut size = LOOKUP_BUFFER;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: group is plain data; all-zero is a valid placeholder.
        let mut record: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: getgrgid_r fills `record` with pointers into `buf`, which
        // outlives their use below.
        let rc =
            unsafe { libc::getgrgid_r(gid, &mut record, buf.as_mut_ptr(), buf.len(), &mut found) };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 || found.is_null() || record.gr_name.is_null() {
            return None;
        }
        // SAFETY: gr_name points at a NUL-terminated string inside `buf`.
        return Some(
            unsafe { CStr::from_ptr(record.gr_name) }
                .to_string_lossy()
                .into_owned(),
        );
    }
}

/// The home directory of user `uid`; `Err` carries the errno the lookup
/// left (0 when it set none).
pub fn home_directory(uid: Uid) -> Result<String, i32> {
    // SAFETY: getpwuid returns a static record or NULL; the directory is
    // copied out at once.
    let home = unsafe {
        let pw = libc::getpwuid(uid);
        (!pw.is_null() && !(*pw).pw_dir.is_null())
            .then(|| CStr::from_ptr((*pw).pw_dir).to_string_lossy().into_owned())
    };
    home.ok_or_else(|| io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Sets the real, effective and saved group id.
pub fn set_group(gid: Gid) -> io::Result<()> {
    // SAFETY: an identity call with no memory arguments.
    check(unsafe { libc::setgid(gid) })
}

/// Sets the supplementary groups to those /etc/group gives `user`, plus
/// `gid`.
pub fn init_groups(user: &CStr, gid: Gid) -> io::Result<()> {
    // SAFETY: `user` is a NUL-terminated string that outlives the call.
    check(unsafe { libc::initgroups(user.as_ptr(), gid) })
}

/// Sets the supplementary groups to `groups`.
pub fn set_groups(groups: &[Gid]) -> io::Result<()> {
    // SAFETY: the slice's pointer and length describe valid gids.
    check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })
}

/// Sets the real, effective and saved user id.
pub fn set_user(uid: Uid) -> io::Result<()> {
    // SAFETY: an identity call with no memory arguments.
    check(unsafe { libc::setuid(uid) })
}

/// Makes `dir` the root directory and enters it.
pub fn change_root(dir: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated paths that outlive the calls.
    let ok = unsafe { libc::chroot(dir.as_ptr()) == 0 && libc::chdir(c"/".as_ptr()) == 0 };
    if ok {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A C return code (0: success) as a result, with errno on failure.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
