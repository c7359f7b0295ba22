//! CPython embedding: runtime initialisation, the interpreter registry and
//! safe helpers over the C API. CPython `unsafe` lives here and in the
//! adapter types (the extern "C" entry points CPython calls).
//!
//! Every helper takes a [`Python`] token, the proof that this thread
//! holds a GIL (`token.rs`). The helpers, by what they wrap:
//! - `object`: `Owned` references, attributes, calls, identity and type
//!   checks;
//! - `convert`: Rust values to Python objects and back (str, bytes, int,
//!   float, bool, None, capsules);
//! - `errors`: pending exceptions, rendering them, raising new ones;
//! - `collections`: tuples, lists, dicts and iteration;
//! - `code`: importing modules, compiling and running code.

pub mod code;
pub mod collections;
pub mod convert;
pub mod errors;
pub mod interp;
pub mod object;
pub mod runtime;
pub mod token;
pub mod trampoline;

pub use token::Python;
