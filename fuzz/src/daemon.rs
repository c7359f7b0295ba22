//! The pure files of the main crate's `daemon` module.

#[path = "../../src/daemon/handoff.rs"]
pub mod handoff;
#[path = "../../src/daemon/header_scan.rs"]
pub mod header_scan;
#[path = "../../src/daemon/wire.rs"]
pub mod wire;
