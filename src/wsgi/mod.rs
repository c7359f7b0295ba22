//! The PEP 3333 adapter. Validation is pure; the rest runs against the
//! `Transport` trait so embedded and daemon mode share it.

#[cfg(not(test))]
pub mod auth;
pub mod authz;
pub mod context;
#[cfg(not(test))]
pub mod dispatch;
pub mod environ;
#[cfg(not(test))]
pub mod gil_watch;
#[cfg(not(test))]
pub mod handler;
#[cfg(not(test))]
pub mod interpreter;
#[cfg(not(test))]
pub mod observe;
pub mod response;
#[cfg(not(test))]
pub mod ssl;
#[cfg(not(test))]
pub mod streams;
pub mod transport;
#[cfg(not(test))]
pub mod types;
