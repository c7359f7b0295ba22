//! Daemon mode: `WSGIDaemonProcess` groups. The protocol between Apache
//! children and daemon processes is pure and unit-tested; the rest runs in
//! the Apache parent (supervision), the daemon processes (serving) and the
//! Apache children (relaying).

pub mod handoff;
pub mod header_scan;
pub mod lifecycle;
#[cfg(not(test))]
pub mod monitor;
#[cfg(not(test))]
pub mod relay;
#[cfg(not(test))]
pub mod script_owner;
#[cfg(not(test))]
pub mod serve;
pub mod standby;
#[cfg(not(test))]
pub mod supervisor;
pub mod wire;

/// Sets SO_SNDBUF on our end of a child↔daemon connection (the child's for
/// `receive-buffer-size=`, the daemon's for `send-buffer-size=`).
#[cfg(not(test))]
fn set_send_buffer(stream: &std::os::unix::net::UnixStream, size: u32) {
    use std::os::fd::AsRawFd;
    let _ = crate::sys::socket::set_buffer_size(
        stream.as_raw_fd(),
        crate::sys::socket::Buffer::Send,
        size,
    );
}
