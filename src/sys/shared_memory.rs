//! Memory shared with every process forked after it is made: an anonymous
//! shared mapping, the way the Apache parent shares a table with its
//! children and daemon processes.

use std::sync::atomic::AtomicU64;

/// Maps `words` zeroed 64-bit words shared with future children. The
/// mapping is never unmapped: it lives as long as the process.
pub fn anonymous_words(words: usize) -> std::io::Result<&'static [AtomicU64]> {
    let len = words * std::mem::size_of::<AtomicU64>();
    // SAFETY: a fresh anonymous mapping; no existing memory is touched.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if at == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `len` bytes, page-aligned (so aligned for AtomicU64), zeroed
    // by the kernel, and never unmapped, so 'static holds.
    Ok(unsafe { std::slice::from_raw_parts(at as *const AtomicU64, words) })
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
