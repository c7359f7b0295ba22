//! Python containers: tuples, lists, dicts and iteration. Every function
//! here takes the token of the GIL it needs.

use super::convert::int_obj;
use super::object::Owned;
use super::Python;
use pyo3_ffi as ffi;
use std::ffi::CString;

/// The items of an iterable; `None` with the error set if it is not
/// iterable or iterating raised.
pub fn iter_items(_py: Python<'_>, obj: &Owned) -> Option<Vec<Owned>> {
    // SAFETY: GIL held; PyObject_GetIter returns a new reference or NULL
    // with the error set; PyIter_Next returns new references, NULL at the
    // end (error clear) or on an error (error set).
    unsafe {
        let iter = Owned::from_new(ffi::PyObject_GetIter(obj.as_ptr()))?;
        let mut items = Vec::new();
        while let Some(item) = Owned::from_new(ffi::PyIter_Next(iter.as_ptr())) {
            items.push(item);
        }
        ffi::PyErr_Occurred().is_null().then_some(items)
    }
}

/// `iter(obj)`; `None` with the error set if it is not iterable.
pub fn get_iter(_py: Python<'_>, obj: &Owned) -> Option<Owned> {
    // SAFETY: GIL held; a new reference or NULL with the error set.
    unsafe { Owned::from_new(ffi::PyObject_GetIter(obj.as_ptr())) }
}

/// The iterator's next item; `None` at the end, or with the error set
/// when the iteration raised (see `error_pending`).
pub fn iter_next(_py: Python<'_>, iterator: &Owned) -> Option<Owned> {
    // SAFETY: GIL held; `iterator` is an iterator (from `get_iter`).
    // PyIter_Next returns a new reference, or NULL at the end or on an error.
    unsafe { Owned::from_new(ffi::PyIter_Next(iterator.as_ptr())) }
}

/// `dict[key]` for a dict object, or `None` when absent.
pub fn dict_get(_py: Python<'_>, dict: &Owned, key: &str) -> Option<Owned> {
    let key = CString::new(key).ok()?;
    // SAFETY: GIL held; a borrowed reference (or NULL) made owned.
    unsafe { Owned::from_borrowed(ffi::PyDict_GetItemString(dict.as_ptr(), key.as_ptr())) }
}

pub fn tuple(_py: Python<'_>, items: &[&Owned]) -> Option<Owned> {
    // SAFETY: GIL held; PyTuple_SetItem steals each new reference.
    unsafe {
        let t = Owned::from_new(ffi::PyTuple_New(items.len() as ffi::Py_ssize_t))?;
        for (i, item) in items.iter().enumerate() {
            ffi::PyTuple_SetItem(t.as_ptr(), i as ffi::Py_ssize_t, (*item).clone().into_raw());
        }
        Some(t)
    }
}

pub fn int_tuple(py: Python<'_>, items: &[i64]) -> Option<Owned> {
    let owned: Vec<Owned> = items
        .iter()
        .map(|&v| int_obj(py, v))
        .collect::<Option<_>>()?;
    tuple(py, &owned.iter().collect::<Vec<_>>())
}

pub fn new_list(_py: Python<'_>) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyList_New returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyList_New(0)) }
}

pub fn new_dict(_py: Python<'_>) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyDict_New returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyDict_New()) }
}

pub fn dict_set(_py: Python<'_>, dict: &Owned, key: &str, value: &Owned) -> bool {
    let Ok(key) = CString::new(key) else {
        return false;
    };
    // SAFETY: GIL held; does not steal references.
    unsafe { ffi::PyDict_SetItemString(dict.as_ptr(), key.as_ptr(), value.as_ptr()) == 0 }
}

/// `dict[key] = value` with an object key; false with the error set.
pub fn dict_set_item(_py: Python<'_>, dict: &Owned, key: &Owned, value: &Owned) -> bool {
    // SAFETY: GIL held; PyDict_SetItem does not steal references.
    unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) == 0 }
}

/// `del dict[key]`; false with the error set (`KeyError` when absent).
pub fn dict_del_item(_py: Python<'_>, dict: &Owned, key: &Owned) -> bool {
    // SAFETY: GIL held, live objects.
    unsafe { ffi::PyDict_DelItem(dict.as_ptr(), key.as_ptr()) == 0 }
}

/// A shallow copy of a dict; `None` with the error set.
pub fn dict_copy(_py: Python<'_>, dict: &Owned) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyDict_Copy returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyDict_Copy(dict.as_ptr())) }
}

/// `dict.update(other)` for two dicts; false with the error set.
pub fn dict_update(_py: Python<'_>, dict: &Owned, other: &Owned) -> bool {
    // SAFETY: GIL held, live objects; nothing is stolen.
    unsafe { ffi::PyDict_Update(dict.as_ptr(), other.as_ptr()) == 0 }
}

/// Whether `obj` is a dict (or a subclass of it).
pub fn is_dict(_py: Python<'_>, obj: &Owned) -> bool {
    // SAFETY: GIL held; a type check on a live object.
    unsafe { ffi::PyDict_Check(obj.as_ptr()) != 0 }
}

/// The length of a list; `None` with the error set if it is not a list.
pub fn list_len(_py: Python<'_>, list: &Owned) -> Option<usize> {
    // SAFETY: GIL held; PyList_Size checks the type (-1 and SystemError
    // when it is not a list).
    usize::try_from(unsafe { ffi::PyList_Size(list.as_ptr()) }).ok()
}

/// `list.append(item)`; false with the error set (also when `list` is
/// not a list).
pub fn list_append(_py: Python<'_>, list: &Owned, item: &Owned) -> bool {
    // SAFETY: GIL held; PyList_Append checks the type and does not steal.
    unsafe { ffi::PyList_Append(list.as_ptr(), item.as_ptr()) == 0 }
}

/// The items of a list as they are now (`list[:]`), so that the list may
/// change while they are used; `None` with the error set.
pub fn list_snapshot(_py: Python<'_>, list: &Owned) -> Option<Vec<Owned>> {
    // SAFETY: GIL held. PyList_GetSlice returns a new reference (a new
    // list) or NULL with the error set; PyList_GetItem a borrowed
    // reference kept alive by that copy, made owned, for every index in
    // bounds.
    unsafe {
        let copy = Owned::from_new(ffi::PyList_GetSlice(list.as_ptr(), 0, isize::MAX))?;
        let count = ffi::PyList_Size(copy.as_ptr());
        Some(
            (0..count)
                .filter_map(|i| Owned::from_borrowed(ffi::PyList_GetItem(copy.as_ptr(), i)))
                .collect(),
        )
    }
}
