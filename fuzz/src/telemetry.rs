//! The telemetry encoder of the main crate.

#[path = "../../src/telemetry/wire.rs"]
pub mod wire;
