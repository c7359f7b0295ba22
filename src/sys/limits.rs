//! Resource limits and scheduling priority of this process.

use std::io;

/// A resource whose use a process limit caps.
#[derive(Debug, Clone, Copy)]
pub enum Resource {
    /// CPU seconds (SIGXCPU at the soft limit).
    CpuTime,
    /// The data segment, in bytes.
    Data,
    /// The address space, in bytes.
    AddressSpace,
}

impl Resource {
    fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            Resource::CpuTime => libc::RLIMIT_CPU,
            Resource::Data => libc::RLIMIT_DATA,
            Resource::AddressSpace => libc::RLIMIT_AS,
        }
    }
}

/// Sets the soft limit of `resource` to `value`, with the hard limit
/// unlimited where that is allowed, else the current hard limit kept (and
/// the soft limit capped by it).
pub fn set_limit(resource: Resource, value: u64) -> io::Result<()> {
    let resource = resource.raw();
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setting a limit of this process from a filled-in struct.
    let mut rc = unsafe { libc::setrlimit(resource, &limit) };
    if rc != 0 {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above; getrlimit fills the struct it is given.
        unsafe {
            libc::getrlimit(resource, &mut current);
            rc = libc::setrlimit(
                resource,
                &libc::rlimit {
                    rlim_cur: (value as libc::rlim_t).min(current.rlim_max),
                    rlim_max: current.rlim_max,
                },
            );
        }
    }
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets this process's scheduling priority (nice value).
pub fn set_priority(priority: i32) -> io::Result<()> {
    // SAFETY: setting this process's priority; no memory arguments.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, priority) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
