//! Resource use as the kernel counts it (`getrusage`).

/// CPU time and peak memory of this process or of one thread.
#[derive(Debug, Clone, Copy)]
pub struct ResourceUsage {
    /// User CPU seconds.
    pub user_seconds: f64,
    /// System CPU seconds.
    pub system_seconds: f64,
    /// Peak resident set size, in kilobytes as Linux reports it.
    pub max_rss_kilobytes: i64,
}

fn timeval_seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1_000_000.0
}

fn rusage(who: libc::c_int) -> Option<ResourceUsage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(who, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call.
    let u = unsafe { usage.assume_init() };
    Some(ResourceUsage {
        user_seconds: timeval_seconds(u.ru_utime),
        system_seconds: timeval_seconds(u.ru_stime),
        max_rss_kilobytes: u.ru_maxrss,
    })
}

/// The calling thread's use so far.
pub fn thread() -> Option<ResourceUsage> {
    rusage(libc::RUSAGE_THREAD)
}

/// This process's use so far.
pub fn process() -> Option<ResourceUsage> {
    rusage(libc::RUSAGE_SELF)
}

/// The size of a memory page in bytes; `None` if the system does not say.
pub fn page_size() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).ok()
}
