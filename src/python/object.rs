//! Owned Python references and the few object helpers the adapter needs.
//! Every function here must be called with the GIL of the object's
//! interpreter held.

use pyo3_ffi as ffi;
use std::ffi::{c_char, CString};
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

    pub fn getattr(&self, name: &str) -> Option<Owned> {
        let name = CString::new(name).ok()?;
        // SAFETY: GIL held, live object, NUL-terminated name.
        // PyObject_GetAttrString returns a new reference, or NULL with an exception set.
        unsafe { Owned::from_new(ffi::PyObject_GetAttrString(self.as_ptr(), name.as_ptr())) }
    }

    pub fn setattr(&self, name: &str, value: &Owned) -> bool {
        let Ok(name) = CString::new(name) else {
            return false;
        };
        // SAFETY: GIL held, live objects.
        unsafe { ffi::PyObject_SetAttrString(self.as_ptr(), name.as_ptr(), value.as_ptr()) == 0 }
    }

    pub fn hasattr(&self, name: &str) -> bool {
        let Ok(name) = CString::new(name) else {
            return false;
        };
        // SAFETY: GIL held, live object.
        unsafe { ffi::PyObject_HasAttrString(self.as_ptr(), name.as_ptr()) == 1 }
    }

    /// Calls with positional arguments.
    pub fn call(&self, args: &[&Owned]) -> Option<Owned> {
        let tuple = tuple(args)?;
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

    pub fn call0(&self) -> Option<Owned> {
        self.call(&[])
    }

    /// `str(self)` as Rust text.
    pub fn to_string_lossy(&self) -> String {
        // SAFETY: GIL held.
        // PyObject_Str returns a new reference, or NULL with an exception set.
        let s = unsafe { Owned::from_new(ffi::PyObject_Str(self.as_ptr())) };
        match s {
            Some(s) => unicode_to_string(&s).unwrap_or_default(),
            None => {
                clear_error();
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

pub fn clear_error() {
    // SAFETY: GIL held.
    unsafe { ffi::PyErr_Clear() }
}

pub fn str_obj(s: &str) -> Option<Owned> {
    // SAFETY: GIL held; pointer and length describe valid UTF-8.
    // PyUnicode_FromStringAndSize returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyUnicode_FromStringAndSize(
            s.as_ptr().cast(),
            s.len() as ffi::Py_ssize_t,
        ))
    }
}

/// A native string per PEP 3333: bytes decoded as ISO-8859-1.
pub fn latin1_obj(s: &str) -> Option<Owned> {
    // Apache's strings are bytes; map each char's byte value when possible.
    if s.is_ascii() {
        return str_obj(s);
    }
    // SAFETY: GIL held; pointer and length describe the bytes.
    // PyUnicode_DecodeLatin1 returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyUnicode_DecodeLatin1(
            s.as_ptr().cast(),
            s.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        ))
    }
}

pub fn bytes_obj(b: &[u8]) -> Option<Owned> {
    // SAFETY: GIL held; pointer and length describe `b`.
    // PyBytes_FromStringAndSize returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyBytes_FromStringAndSize(
            b.as_ptr() as *const c_char,
            b.len() as ffi::Py_ssize_t,
        ))
    }
}

pub fn int_obj(v: i64) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyLong_FromLongLong returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyLong_FromLongLong(v)) }
}

/// A `PyCapsule` around a pointer Python code must not free.
pub fn capsule(pointer: *mut std::ffi::c_void, name: &'static std::ffi::CStr) -> Option<Owned> {
    // SAFETY: GIL held; the static name outlives the capsule and there is
    // no destructor, so the pointer is never freed through it.
    // PyCapsule_New returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyCapsule_New(pointer, name.as_ptr(), None)) }
}

pub fn float_obj(v: f64) -> Option<Owned> {
    // SAFETY: GIL held.
    // PyFloat_FromDouble returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyFloat_FromDouble(v)) }
}

/// Python truthiness; an error counts as false and is cleared.
pub fn is_true(obj: &Owned) -> bool {
    // SAFETY: GIL held, live object.
    match unsafe { ffi::PyObject_IsTrue(obj.as_ptr()) } {
        1 => true,
        0 => false,
        _ => {
            clear_error();
            false
        }
    }
}

/// `isinstance(obj, cls)`; `None` with the error set if the check raised.
pub fn is_instance(obj: &Owned, cls: &Owned) -> Option<bool> {
    // SAFETY: GIL held, live objects.
    match unsafe { ffi::PyObject_IsInstance(obj.as_ptr(), cls.as_ptr()) } {
        1 => Some(true),
        0 => Some(false),
        _ => None,
    }
}

/// Whether `obj` is the `None` singleton.
pub fn is_none(obj: &Owned) -> bool {
    // SAFETY: identity comparison with the None singleton.
    obj.as_ptr() == unsafe { ffi::Py_None() }
}

/// `Some(b)` when `obj` is exactly `True` or `False`.
pub fn as_bool(obj: &Owned) -> Option<bool> {
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

/// The items of an iterable; `None` with the error set if it is not
/// iterable or iterating raised.
pub fn iter_items(obj: &Owned) -> Option<Vec<Owned>> {
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
pub fn get_iter(obj: &Owned) -> Option<Owned> {
    // SAFETY: GIL held; a new reference or NULL with the error set.
    unsafe { Owned::from_new(ffi::PyObject_GetIter(obj.as_ptr())) }
}

/// The iterator's next item; `None` at the end, or with the error set
/// when the iteration raised (see `error_pending`).
pub fn iter_next(iterator: &Owned) -> Option<Owned> {
    // SAFETY: GIL held; `iterator` is an iterator (from `get_iter`).
    // PyIter_Next returns a new reference, or NULL at the end or on an error.
    unsafe { Owned::from_new(ffi::PyIter_Next(iterator.as_ptr())) }
}

/// Whether a Python exception is pending.
pub fn error_pending() -> bool {
    // SAFETY: GIL held.
    !unsafe { ffi::PyErr_Occurred() }.is_null()
}

/// A non-negative Python int as `u64`; `None` (error cleared) otherwise.
pub fn to_u64(obj: &Owned) -> Option<u64> {
    // SAFETY: GIL held, live object.
    let value = unsafe { ffi::PyLong_AsUnsignedLongLong(obj.as_ptr()) };
    // SAFETY: GIL held.
    if value == u64::MAX && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        clear_error();
        return None;
    }
    Some(value)
}

/// `dict[key]` for a dict object, or `None` when absent.
pub fn dict_get(dict: &Owned, key: &str) -> Option<Owned> {
    let key = CString::new(key).ok()?;
    // SAFETY: GIL held; a borrowed reference (or NULL) made owned.
    unsafe { Owned::from_borrowed(ffi::PyDict_GetItemString(dict.as_ptr(), key.as_ptr())) }
}

pub fn bool_obj(v: bool) -> Owned {
    // SAFETY: GIL held; returns a new reference to True/False.
    unsafe { Owned::from_new(ffi::PyBool_FromLong(v as _)) }.expect("bool singletons exist")
}

pub fn none() -> Owned {
    // SAFETY: GIL held; Py_None is immortal / always valid.
    // Py_None returns a borrowed reference to None, never NULL.
    unsafe { Owned::from_borrowed(ffi::Py_None()) }.expect("None exists")
}

pub fn tuple(items: &[&Owned]) -> Option<Owned> {
    // SAFETY: GIL held; PyTuple_SetItem steals each new reference.
    unsafe {
        let t = Owned::from_new(ffi::PyTuple_New(items.len() as ffi::Py_ssize_t))?;
        for (i, item) in items.iter().enumerate() {
            ffi::PyTuple_SetItem(t.as_ptr(), i as ffi::Py_ssize_t, (*item).clone().into_raw());
        }
        Some(t)
    }
}

pub fn int_tuple(items: &[i64]) -> Option<Owned> {
    let owned: Vec<Owned> = items.iter().map(|&v| int_obj(v)).collect::<Option<_>>()?;
    tuple(&owned.iter().collect::<Vec<_>>())
}

pub fn new_list() -> Option<Owned> {
    // SAFETY: GIL held.
    // PyList_New returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyList_New(0)) }
}

pub fn new_dict() -> Option<Owned> {
    // SAFETY: GIL held.
    // PyDict_New returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyDict_New()) }
}

pub fn dict_set(dict: &Owned, key: &str, value: &Owned) -> bool {
    let Ok(key) = CString::new(key) else {
        return false;
    };
    // SAFETY: GIL held; does not steal references.
    unsafe { ffi::PyDict_SetItemString(dict.as_ptr(), key.as_ptr(), value.as_ptr()) == 0 }
}

/// UTF-8 text of a `str` object, `None` if it is not a str.
pub fn unicode_to_string(obj: &Owned) -> Option<String> {
    // SAFETY: GIL held; type check before reading UTF-8.
    unsafe {
        if ffi::PyUnicode_Check(obj.as_ptr()) == 0 {
            return None;
        }
        let mut len: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len);
        if p.is_null() {
            clear_error();
            return None;
        }
        let bytes = std::slice::from_raw_parts(p as *const u8, len as usize);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The name of `obj`'s type, as Python messages show it ("NoneType").
pub fn type_name(obj: &Owned) -> String {
    // SAFETY: GIL held; every object has a type, which outlives the call.
    // Py_TYPE returns a borrowed reference to the object's type, never NULL.
    let kind = unsafe { Owned::from_borrowed(ffi::Py_TYPE(obj.as_ptr()).cast()) };
    let name = kind.and_then(|k| k.getattr("__name__"));
    clear_error();
    name.map(|n| n.to_string_lossy()).unwrap_or_default()
}

/// The latin-1 bytes of a `str`, raising as the C module does when it is
/// not one (`TypeError: must be str, not bytes`) or cannot be encoded
/// (Python's own `UnicodeEncodeError`). `None`: the error is pending.
pub fn latin1_or_raise(obj: &Owned) -> Option<Vec<u8>> {
    // SAFETY: GIL held; type checked before encoding.
    // PyUnicode_AsLatin1String returns a new reference, or NULL with the
    // error set.
    unsafe {
        if ffi::PyUnicode_Check(obj.as_ptr()) == 0 {
            raise(
                ffi::PyExc_TypeError,
                &format!("must be str, not {}", type_name(obj)),
            );
            return None;
        }
        let encoded = Owned::from_new(ffi::PyUnicode_AsLatin1String(obj.as_ptr()))?;
        bytes_contents(&encoded).map(<[u8]>::to_vec)
    }
}

/// Whether `obj` is a `str` (or a subclass of it).
pub fn is_str(obj: &Owned) -> bool {
    // SAFETY: GIL held; a type check on a live object.
    unsafe { ffi::PyUnicode_Check(obj.as_ptr()) != 0 }
}

/// Borrow the contents of a `bytes` object; `None` if not bytes.
pub fn bytes_contents(obj: &Owned) -> Option<&[u8]> {
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
pub fn with_text_or_bytes<T>(obj: &Owned, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
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

pub fn import(name: &str) -> Option<Owned> {
    let name = CString::new(name).ok()?;
    // SAFETY: GIL held.
    // PyImport_ImportModule returns a new reference, or NULL with an exception set.
    unsafe { Owned::from_new(ffi::PyImport_ImportModule(name.as_ptr())) }
}

/// The pending exception as one normalized object (its traceback
/// attached), clearing the error indicator; `None` if none is set.
pub fn take_exception() -> Option<Owned> {
    // SAFETY: GIL held; these calls hand us new references, or NULL where
    // there is no exception (or no traceback).
    unsafe {
        #[cfg(Py_3_12)]
        {
            Owned::from_new(ffi::PyErr_GetRaisedException())
        }
        #[cfg(not(Py_3_12))]
        {
            let mut ptype = std::ptr::null_mut();
            let mut pvalue = std::ptr::null_mut();
            let mut ptrace = std::ptr::null_mut();
            ffi::PyErr_Fetch(&mut ptype, &mut pvalue, &mut ptrace);
            if ptype.is_null() {
                return None;
            }
            ffi::PyErr_NormalizeException(&mut ptype, &mut pvalue, &mut ptrace);
            if !ptrace.is_null() && !pvalue.is_null() {
                ffi::PyException_SetTraceback(pvalue, ptrace);
            }
            let _type = Owned::from_new(ptype);
            let _trace = Owned::from_new(ptrace);
            Owned::from_new(pvalue)
        }
    }
}

/// The name of the pending exception's type (`KeyError`), leaving the
/// exception pending; `None` if none is set.
pub fn pending_error_type_name() -> Option<String> {
    let exception = take_exception()?;
    let name = type_name(&exception);
    restore_exception(exception);
    Some(name)
}

/// The messages (`str()`) of the pending exception and of those it was
/// raised from or during (`__cause__`, `__context__`), outermost first,
/// leaving the exception pending; at most `limit` of them.
pub fn pending_error_messages(limit: usize) -> Vec<String> {
    let Some(exception) = take_exception() else {
        return Vec::new();
    };
    let mut messages = Vec::new();
    let mut current = Some(exception.clone());
    while let Some(e) = current.take() {
        if messages.len() >= limit || is_none(&e) {
            break;
        }
        messages.push(e.to_string_lossy());
        current = e
            .getattr("__cause__")
            .filter(|c| !is_none(c))
            .or_else(|| e.getattr("__context__"));
    }
    clear_error();
    restore_exception(exception);
    messages
}

/// Makes `exception` (an exception instance) the pending error again.
pub fn restore_exception(exception: Owned) {
    // SAFETY: GIL held; both calls steal the references passed.
    unsafe {
        #[cfg(Py_3_12)]
        ffi::PyErr_SetRaisedException(exception.into_raw());
        #[cfg(not(Py_3_12))]
        {
            let tp = ffi::Py_TYPE(exception.as_ptr()).cast::<ffi::PyObject>();
            ffi::Py_IncRef(tp);
            let tb = ffi::PyException_GetTraceback(exception.as_ptr());
            ffi::PyErr_Restore(tp, exception.into_raw(), tb);
        }
    }
}

/// Takes the pending exception (if any) and renders it with its traceback
/// as Python's `traceback` module would.
pub fn take_error_text() -> Option<String> {
    let value = take_exception()?;
    // SAFETY: GIL held; Py_TYPE borrows the live object's type.
    // Py_TYPE returns a borrowed reference to the object's type, never NULL.
    let etype = unsafe { Owned::from_borrowed(ffi::Py_TYPE(value.as_ptr()).cast()) }?;
    let rendered = (|| {
        let trace = value.getattr("__traceback__").unwrap_or_else(none);
        let lines = import("traceback")?
            .getattr("format_exception")?
            .call(&[&etype, &value, &trace])?;
        let joined = str_obj("")?.getattr("join")?.call(&[&lines])?;
        unicode_to_string(&joined)
    })();
    Some(rendered.unwrap_or_else(|| {
        clear_error();
        value.to_string_lossy()
    }))
}

/// Replaces the pending exception with one of type `exc` and `message`
/// whose `__cause__` is the exception it replaces, as `raise ... from`
/// does (tracebacks then show "The above exception was the direct cause
/// of the following exception").
pub fn raise_from_pending(exc: *mut ffi::PyObject, message: &str) {
    let cause = take_exception();
    raise(exc, message);
    let (Some(cause), Some(raised)) = (cause, take_exception()) else {
        return;
    };
    // SAFETY: GIL held; both are exception instances. SetContext and
    // SetCause steal a reference each, so each gets its own.
    unsafe {
        ffi::PyException_SetContext(raised.as_ptr(), cause.clone().into_raw());
        ffi::PyException_SetCause(raised.as_ptr(), cause.into_raw());
    }
    restore_exception(raised);
}

/// Sets a Python exception of type `exc` with `message`.
pub fn raise(exc: *mut ffi::PyObject, message: &str) {
    let msg = CString::new(message.replace('\0', "")).expect("NULs removed");
    // SAFETY: GIL held; `exc` is an exception type object.
    unsafe { ffi::PyErr_SetString(exc, msg.as_ptr()) }
}

/// Runs constant Python `source` in a fresh namespace named `name`, with
/// `extra` names bound first; returns the namespace, or None with the
/// error pending.
pub fn run_source(source: &std::ffi::CStr, name: &str, extra: &[(&str, Owned)]) -> Option<Owned> {
    let globals = new_dict()?;
    dict_set(&globals, "__name__", &str_obj(name)?);
    dict_set(&globals, "__builtins__", &import("builtins")?);
    for (key, value) in extra {
        dict_set(&globals, key, value);
    }
    // SAFETY: GIL held; the source is NUL-terminated and the namespace ours.
    // PyRun_String returns a new reference, or NULL with an exception set.
    unsafe {
        Owned::from_new(ffi::PyRun_String(
            source.as_ptr(),
            ffi::Py_file_input,
            globals.as_ptr(),
            globals.as_ptr(),
        ))
    }?;
    Some(globals)
}
