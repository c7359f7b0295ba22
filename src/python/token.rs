//! `Python<'py>`: the compiler-checked proof that this thread holds a GIL.
//! The helpers of this layer take one, so code that has no GIL cannot call
//! them. It is zero-sized and `Copy`: passing it costs nothing.

use std::marker::PhantomData;

/// This thread holds a GIL (its thread state is attached) for `'py`.
/// Made from a held [`super::interp::Gil`] (`gil.python()`), or, where
/// CPython calls in with the GIL held, by [`Python::assume_held`].
/// Neither `Send` nor `Sync`: a GIL is held by one thread.
#[derive(Clone, Copy)]
pub struct Python<'py>(PhantomData<(&'py (), *mut ())>);

impl Python<'_> {
    /// A token for a GIL this thread is known to hold.
    ///
    /// # Safety
    ///
    /// This thread holds a GIL for as long as the token (and any copy of
    /// it) is used: typically an extern "C" function CPython calls with
    /// the GIL held (a type slot, a method, a module init function), which
    /// must not keep the token beyond its return.
    pub unsafe fn assume_held() -> Self {
        Python(PhantomData)
    }
}
