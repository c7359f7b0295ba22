//! Conversions between Rust values and Python objects: str (UTF-8 and
//! latin-1), bytes, int, float, bool, None and capsules, both ways. Every
//! function here takes the token of the GIL it needs.

use super::errors::{clear_error, error_pending, raise, ExceptionType};
use super::object::{type_name, Owned};
use super::Python;
use pyo3_ffi as ffi;
use std::ffi::c_char;

pub fn str_obj(_py: Python<'_>, s: &str) -> Option<Owned> {
    // SAFETY: GIL held; pointer and length describe valid UTF-8.
    // PyUnicode_FromStringAndSize returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyUnicode_FromStringAndSize(
            s.as_ptr().cast(),
            s.len() as ffi::Py_ssize_t,
        ))
    }
}

/// A native string per PEP 3333: `bytes` (as Apache holds them) decoded
/// as ISO-8859-1, one character per byte.
pub fn latin1_obj(py: Python<'_>, bytes: &[u8]) -> Option<Owned> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        return str_obj(py, unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    // SAFETY: GIL held; pointer and length describe the bytes.
    // PyUnicode_DecodeLatin1 returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        ))
    }
}

/// A file system path's bytes as Python names files: the file system
/// encoding, with `surrogateescape` for bytes it cannot decode.
pub fn fs_path_obj(_py: Python<'_>, bytes: &[u8]) -> Option<Owned> {
    // SAFETY: GIL held; pointer and length describe the bytes.
    // PyUnicode_DecodeFSDefaultAndSize returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyUnicode_DecodeFSDefaultAndSize(
            bytes.as_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
        ))
    }
}

pub fn bytes_obj(_py: Python<'_>, b: &[u8]) -> Option<Owned> {
    // SAFETY: GIL held; pointer and length describe `b`.
    // PyBytes_FromStringAndSize returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyBytes_FromStringAndSize(
            b.as_ptr() as *const c_char,
            b.len() as ffi::Py_ssize_t,
        ))
    }
}

pub fn int_obj(_py: Python<'_>, v: i64) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyLong_FromLongLong returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyLong_FromLongLong(v)) }
}

/// A `PyCapsule` around a pointer Python code must not free.
pub fn capsule(
    _py: Python<'_>,
    pointer: *mut std::ffi::c_void,
    name: &'static std::ffi::CStr,
) -> Option<Owned> {
    // SAFETY: GIL held; the static name outlives the capsule and there is
    // no destructor, so the pointer is never freed through it.
    // PyCapsule_New returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyCapsule_New(pointer, name.as_ptr(), None)) }
}

pub fn float_obj(_py: Python<'_>, v: f64) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyFloat_FromDouble returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyFloat_FromDouble(v)) }
}

/// `Some(b)` when `obj` is exactly `True` or `False`.
pub fn as_bool(_py: Python<'_>, obj: &Owned) -> Option<bool> {
    // SAFETY: identity comparisons with the bool singletons.
    unsafe {
        if obj.as_ptr() == ffi::Py_True() {
            Some(true)
        } else if obj.as_ptr() == ffi::Py_False() {
            Some(false)
        } else {
            None
        }
    }
}

/// A Python int (or an object with `__index__`) as `i64`; `None` with
/// the error pending when it is not one or does not fit.
pub fn to_i64(py: Python<'_>, obj: &Owned) -> Option<i64> {
    // SAFETY: GIL held, live object.
    let value = unsafe { ffi::PyLong_AsLongLong(obj.as_ptr()) };
    if value == -1 && error_pending(py) {
        return None;
    }
    Some(value)
}

/// A non-negative Python int as `u64`; `None` (error cleared) otherwise.
pub fn to_u64(py: Python<'_>, obj: &Owned) -> Option<u64> {
    // SAFETY: GIL held, live object.
    let value = unsafe { ffi::PyLong_AsUnsignedLongLong(obj.as_ptr()) };
    // SAFETY: GIL held.
    if value == u64::MAX && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        clear_error(py);
        return None;
    }
    Some(value)
}

pub fn bool_obj(_py: Python<'_>, v: bool) -> Owned {
    // SAFETY: GIL held; returns a new reference to True/False.
    unsafe { Owned::from_new(ffi::PyBool_FromLong(v as _)) }.expect("bool singletons exist")
}

pub fn none(_py: Python<'_>) -> Owned {
    // SAFETY: GIL held; Py_None is immortal / always valid.
    // Py_None returns a borrowed reference to None, never NULL.
    unsafe { Owned::from_borrowed(ffi::Py_None()) }.expect("None exists")
}

/// UTF-8 text of a `str` object, `None` if it is not a str.
pub fn unicode_to_string(py: Python<'_>, obj: &Owned) -> Option<String> {
    // SAFETY: GIL held; type check before reading UTF-8.
    unsafe {
        if ffi::PyUnicode_Check(obj.as_ptr()) == 0 {
            return None;
        }
        let mut len: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len);
        if p.is_null() {
            clear_error(py);
            return None;
        }
        let bytes = std::slice::from_raw_parts(p as *const u8, len as usize);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The latin-1 bytes of a `str`, raising as the C module does when it is
/// not one (`TypeError: must be str, not bytes`) or cannot be encoded
/// (Python's own `UnicodeEncodeError`). `None`: the error is pending.
pub fn latin1_or_raise(py: Python<'_>, obj: &Owned) -> Option<Vec<u8>> {
    // SAFETY: GIL held; type checked before encoding.
    // PyUnicode_AsLatin1String returns a new reference, or NULL with the
    // error set.
    unsafe {
        if ffi::PyUnicode_Check(obj.as_ptr()) == 0 {
            raise(
                py,
                ExceptionType::TypeError,
                &format!("must be str, not {}", type_name(py, obj)),
            );
            return None;
        }
        let encoded = Owned::from_new(ffi::PyUnicode_AsLatin1String(obj.as_ptr()))?;
        bytes_contents(py, &encoded).map(<[u8]>::to_vec)
    }
}

/// Whether `obj` is a `str` (or a subclass of it).
pub fn is_str(_py: Python<'_>, obj: &Owned) -> bool {
    // SAFETY: GIL held; a type check on a live object.
    unsafe { ffi::PyUnicode_Check(obj.as_ptr()) != 0 }
}

/// Borrow the contents of a `bytes` object; `None` if not bytes.
pub fn bytes_contents<'a>(_py: Python<'_>, obj: &'a Owned) -> Option<&'a [u8]> {
    // SAFETY: GIL held; the slice borrows from `obj`, which outlives it.
    unsafe {
        if ffi::PyBytes_Check(obj.as_ptr()) == 0 {
            return None;
        }
        let p = ffi::PyBytes_AsString(obj.as_ptr());
        let len = ffi::PyBytes_Size(obj.as_ptr());
        Some(std::slice::from_raw_parts(p as *const u8, len as usize))
    }
}

/// Runs `f` on the UTF-8 bytes of a `str`, or on the bytes of any
/// bytes-like object; `None` with Python's error pending otherwise
/// ("a bytes-like object is required, not ...").
pub fn with_text_or_bytes<T>(
    _py: Python<'_>,
    obj: &Owned,
    f: impl FnOnce(&[u8]) -> T,
) -> Option<T> {
    // SAFETY: GIL held; the UTF-8 buffer belongs to the str and the view is
    // released before returning.
    unsafe {
        if ffi::PyUnicode_Check(obj.as_ptr()) != 0 {
            let mut len: ffi::Py_ssize_t = 0;
            let p = ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len);
            if p.is_null() {
                return None;
            }
            return Some(f(std::slice::from_raw_parts(p as *const u8, len as usize)));
        }
        let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
        if ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) != 0 {
            return None;
        }
        let mut view = view.assume_init();
        let bytes = if view.buf.is_null() || view.len <= 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(view.buf as *const u8, view.len as usize)
        };
        let result = f(bytes);
        ffi::PyBuffer_Release(&mut view);
        Some(result)
    }
}
