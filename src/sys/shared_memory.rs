//! Memory shared between the Apache parent and the processes it forks
//! afterwards: an anonymous shared mapping made before the fork stays the
//! same memory in every process that inherits it. Nothing here unmaps:
//! each mapping lives as long as the process.

use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// Maps `len` zeroed bytes shared with future children.
fn map_anonymous(len: usize) -> std::io::Result<NonNull<libc::c_void>> {
    // SAFETY: a fresh anonymous mapping; no existing memory is touched,
    // and the kernel zeroes it.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len.max(1),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if at == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    NonNull::new(at).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))
}

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
        map_anonymous(std::mem::size_of::<T>()).map(|ptr| SharedPage { ptr: ptr.cast() })
    }

    /// The shared value; it lives as long as the mapping, which is never
    /// unmapped (one page per daemon group and generation).
    pub fn get(&self) -> &'static T {
        // SAFETY: mapped for the life of the process and valid when zeroed.
        unsafe { self.ptr.as_ref() }
    }
}

/// Maps `words` zeroed 64-bit words shared with future children.
pub fn anonymous_words(words: usize) -> std::io::Result<&'static [AtomicU64]> {
    let at = map_anonymous(words * std::mem::size_of::<AtomicU64>())?;
    // SAFETY: that many bytes, page-aligned (so aligned for AtomicU64),
    // zeroed (a valid AtomicU64) and never unmapped, so 'static holds.
    Ok(unsafe { std::slice::from_raw_parts(at.as_ptr() as *const AtomicU64, words) })
}

/// The words at `address`, a mapping [`anonymous_words`] made in this
/// process (or in the parent it was forked from).
///
/// # Safety
/// `address` and `words` must be exactly those of such a mapping.
pub unsafe fn words_at(address: usize, words: usize) -> &'static [AtomicU64] {
    // SAFETY: per the contract, a live mapping of that many words.
    unsafe { std::slice::from_raw_parts(address as *const AtomicU64, words) }
}
