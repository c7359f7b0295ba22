//! Configuration: the directive table, typed values and merge rules.
//! Pure Rust with no FFI, so all of it is unit-tested without Apache.

pub mod daemon;
pub mod dir;
pub mod directives;
pub mod error;
pub mod gil;
pub mod interp_options;
pub mod server;
pub mod values;
pub mod words;

pub use dir::DirConfig;
pub use directives::{Context, Directive, DIRECTIVES};
pub use error::{ConfigError, ConfigResult};
pub use server::ServerConfig;
