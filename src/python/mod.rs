//! CPython embedding: runtime initialisation, the interpreter registry and
//! object helpers. CPython `unsafe` lives here and in the adapter types.

pub mod interp;
pub mod object;
pub mod runtime;
pub mod trampoline;
