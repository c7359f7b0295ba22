//! Memory shared between the Apache parent and the processes it forks
//! afterwards: an anonymous shared mapping made before the fork stays the
//! same memory in every process that inherits it.

use std::ptr::NonNull;

/// One anonymous shared mapping of zeroed memory, holding a `T`.
pub struct SharedPage<T> {
    ptr: NonNull<T>,
}

// SAFETY: the mapping is plain memory; `T` decides what may be shared
// (atomics only, by the contract of `new`).
unsafe impl<T: Sync> Send for SharedPage<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SharedPage<T> {}

impl<T> SharedPage<T> {
    /// Maps zeroed shared memory for a `T`.
    ///
    /// # Safety
    /// All-zero bytes must be a valid `T`, and `T` must only hold types
    /// that are sound to share between processes (atomics, plain bytes).
    pub unsafe fn new() -> std::io::Result<SharedPage<T>> {
        let size = std::mem::size_of::<T>().max(1);
        // SAFETY: a fresh anonymous mapping; the kernel zeroes it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        NonNull::new(p.cast())
            .map(|ptr| SharedPage { ptr })
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))
    }

    /// The shared value; it lives as long as the mapping, which this
    /// module never unmaps (one page per daemon group and generation).
    pub fn get(&self) -> &'static T {
        // SAFETY: mapped for the life of the process and valid when zeroed.
        unsafe { self.ptr.as_ref() }
    }
}
