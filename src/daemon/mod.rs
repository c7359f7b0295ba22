//! Daemon mode: `WSGIDaemonProcess` groups. The protocol between Apache
//! children and daemon processes is pure and unit-tested; the rest runs in
//! the Apache parent (supervision), the daemon processes (serving) and the
//! Apache children (relaying).

#[cfg(not(test))]
pub mod handoff;
pub mod lifecycle;
#[cfg(not(test))]
pub mod monitor;
#[cfg(not(test))]
pub mod relay;
#[cfg(not(test))]
pub mod serve;
#[cfg(not(test))]
pub mod supervisor;
pub mod wire;
