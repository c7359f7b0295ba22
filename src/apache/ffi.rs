//! Raw bindgen output for the Apache and APR headers in `apxs/wrapper.h`.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unnecessary_transmutes,
    clippy::all,
    // Generated code: bindgen writes no SAFETY comments.
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn
)]
include!(concat!(env!("OUT_DIR"), "/apache_bindings.rs"));
