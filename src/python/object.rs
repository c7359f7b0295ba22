//! Owned Python references: `Owned` (a strong reference released on
//! drop), attribute access and calls on it, and the identity and type
//! checks every other helper builds on. Every function and method here
//! takes the token of the GIL it needs, which must be the GIL of the
//! object's interpreter. Making an `Owned` from a raw pointer, cloning and
//! dropping one take no token: they too need that GIL.

use super::collections::tuple;
use super::convert::unicode_to_string;
use super::errors::clear_error;
use super::Python;
use pyo3_ffi as ffi;
use std::ffi::CString;
use std::ptr::NonNull;

/// A strong reference, released on drop.
pub struct Owned(NonNull<ffi::PyObject>);

impl Owned {
    /// Takes ownership of a new reference; `None` if null (error set).
    ///
    /// # Safety
    ///
    /// `p` is null or a strong reference the caller owns and hands over
    /// (a "new reference" in CPython's terms); the GIL is held. The
    /// reference is released when the `Owned` is dropped, so it must not
    /// be released elsewhere.
    pub unsafe fn from_new(p: *mut ffi::PyObject) -> Option<Owned> {
        NonNull::new(p).map(Owned)
    }

    /// Takes a new strong reference to a borrowed object.
    ///
    /// # Safety
    ///
    /// `p` is null or points to a live object (a "borrowed reference" that
    /// stays valid until this returns); the GIL is held.
    pub unsafe fn from_borrowed(p: *mut ffi::PyObject) -> Option<Owned> {
        let nn = NonNull::new(p)?;
        // SAFETY: `p` is a live object and the GIL is held (the caller's
        // promise).
        unsafe { ffi::Py_IncRef(p) };
        Some(Owned(nn))
    }

    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
    }

    /// Gives up ownership without releasing the reference.
    pub fn into_raw(self) -> *mut ffi::PyObject {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    pub fn getattr(&self, _py: Python<'_>, name: &str) -> Option<Owned> {
        let name = CString::new(name).ok()?;
        // SAFETY: GIL held, live object, NUL-terminated name.
        // PyObject_GetAttrString returns a new reference, or NULL with an exception set.
        unsafe { Owned::from_new(ffi::PyObject_GetAttrString(self.as_ptr(), name.as_ptr())) }
    }

    pub fn setattr(&self, _py: Python<'_>, name: &str, value: &Owned) -> bool {
        let Ok(name) = CString::new(name) else {
            return false;
        };
        // SAFETY: GIL held, live objects.
        unsafe { ffi::PyObject_SetAttrString(self.as_ptr(), name.as_ptr(), value.as_ptr()) == 0 }
    }

    pub fn hasattr(&self, _py: Python<'_>, name: &str) -> bool {
        let Ok(name) = CString::new(name) else {
            return false;
        };
        // SAFETY: GIL held, live object.
        unsafe { ffi::PyObject_HasAttrString(self.as_ptr(), name.as_ptr()) == 1 }
    }

    /// Calls with positional arguments.
    pub fn call(&self, py: Python<'_>, args: &[&Owned]) -> Option<Owned> {
        let tuple = tuple(py, args)?;
        // SAFETY: GIL held; tuple is a fresh tuple.
        // PyObject_Call returns a new reference, or NULL with an exception set.
        unsafe {
            Owned::from_new(ffi::PyObject_Call(
                self.as_ptr(),
                tuple.as_ptr(),
                std::ptr::null_mut(),
            ))
        }
    }

    pub fn call0(&self, py: Python<'_>) -> Option<Owned> {
        self.call(py, &[])
    }

    /// Calls with positional arguments and the items of the dict `kwargs`
    /// as keyword arguments.
    pub fn call_with_kwargs(
        &self,
        py: Python<'_>,
        args: &[&Owned],
        kwargs: &Owned,
    ) -> Option<Owned> {
        let tuple = tuple(py, args)?;
        // SAFETY: GIL held; tuple is a fresh tuple and kwargs a live object
        // (PyObject_Call checks it is a dict).
        // PyObject_Call returns a new reference, or NULL with an exception set.
        unsafe {
            Owned::from_new(ffi::PyObject_Call(
                self.as_ptr(),
                tuple.as_ptr(),
                kwargs.as_ptr(),
            ))
        }
    }

    /// `str(self)` as Rust text.
    pub fn to_string_lossy(&self, py: Python<'_>) -> String {
        // SAFETY: GIL held.
        // PyObject_Str returns a new reference, or NULL with an exception set.
        let s = unsafe { Owned::from_new(ffi::PyObject_Str(self.as_ptr())) };
        match s {
            Some(s) => unicode_to_string(py, &s).unwrap_or_default(),
            None => {
                clear_error(py);
                String::from("<unprintable>")
            }
        }
    }
}

impl Clone for Owned {
    fn clone(&self) -> Self {
        // SAFETY: `self` holds a strong reference, so the object is live
        // and the pointer non-null; the GIL is held wherever an `Owned`
        // is used.
        unsafe { Owned::from_borrowed(self.as_ptr()) }.expect("non-null")
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: we own one reference and the GIL is held by contract.
        unsafe { ffi::Py_DecRef(self.0.as_ptr()) }
    }
}

/// Python truthiness; an error counts as false and is cleared.
pub fn is_true(py: Python<'_>, obj: &Owned) -> bool {
    // SAFETY: GIL held, live object.
    match unsafe { ffi::PyObject_IsTrue(obj.as_ptr()) } {
        1 => true,
        0 => false,
        _ => {
            clear_error(py);
            false
        }
    }
}

/// `isinstance(obj, cls)`; `None` with the error set if the check raised.
pub fn is_instance(_py: Python<'_>, obj: &Owned, cls: &Owned) -> Option<bool> {
    // SAFETY: GIL held, live objects.
    match unsafe { ffi::PyObject_IsInstance(obj.as_ptr(), cls.as_ptr()) } {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// Whether `obj` is the `None` singleton.
pub fn is_none(_py: Python<'_>, obj: &Owned) -> bool {
    // SAFETY: identity comparison with the None singleton.
    obj.as_ptr() == unsafe { ffi::Py_None() }
}

/// `type(obj)`.
pub fn type_of(_py: Python<'_>, obj: &Owned) -> Owned {
    // SAFETY: GIL held; every object has a type, which the object keeps
    // alive, so the borrowed pointer is live and non-null.
    // Py_TYPE returns a borrowed reference to the object's type, never NULL.
    unsafe { Owned::from_borrowed(ffi::Py_TYPE(obj.as_ptr()).cast()) }
        .expect("every object has a type")
}

/// Whether `obj`'s type is exactly `kind` (a subclass does not count).
pub fn has_type(_py: Python<'_>, obj: &Owned, kind: &Owned) -> bool {
    // SAFETY: GIL held; reads the type pointer of a live object.
    let own: *mut ffi::PyObject = unsafe { ffi::Py_TYPE(obj.as_ptr()) }.cast();
    own == kind.as_ptr()
}

/// `callable(obj)`.
pub fn is_callable(_py: Python<'_>, obj: &Owned) -> bool {
    // SAFETY: GIL held; a check on a live object that cannot fail.
    unsafe { ffi::PyCallable_Check(obj.as_ptr()) != 0 }
}

/// The name of `obj`'s type, as Python messages show it ("NoneType").
pub fn type_name(py: Python<'_>, obj: &Owned) -> String {
    let name = type_of(py, obj).getattr(py, "__name__");
    clear_error(py);
    name.map(|n| n.to_string_lossy(py)).unwrap_or_default()
}
