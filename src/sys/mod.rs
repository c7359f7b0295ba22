//! Thin wrappers over the operating-system calls that the daemon layers
//! need, so that the FFI stays here. Each returns `io::Result` or `Option`
//! and keeps its `unsafe` to itself.

pub mod fd;
pub mod identity;
pub mod limits;
pub mod process;
pub mod shared;
pub mod signals;
pub mod socket;
pub mod usage;

/// The error number of a connection reset by its peer.
pub const ECONNRESET: i32 = libc::ECONNRESET;
