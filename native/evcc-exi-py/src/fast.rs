//! The FFI calls of the conversion that PyO3's safe API can only make through a Python-level call (issue 17:
//! the Python face within 3x of the core), and the per-field checks of encoding that PyO3's safe API makes
//! through slower paths (the MRO walk of `PyList_Check`, reference counts of absent fields, the generic integer
//! extraction). Each takes a GIL-bound argument and follows CPython's reference rules,
//! written out at each call; everything else in the crate is safe code.
#![allow(unsafe_code)]

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyType};

/// A type whose instances `new_instance` may create: a subclass of `list` that keeps list's `__new__`
/// (checked once, when a codec is made).
pub struct ListClass(Py<PyType>);

impl ListClass {
    /// `cls` if it is a subclass of `list` whose `__new__` is list's own, else a `TypeError` naming it.
    pub fn new(cls: &Bound<'_, PyType>) -> PyResult<ListClass> {
        let py = cls.py();
        let list_new = py.get_type::<PyList>().getattr("__new__")?;
        if !cls.is_subclass_of::<PyList>()? || !cls.getattr("__new__")?.is(&list_new) {
            let name = cls.name().map(|n| n.to_string()).unwrap_or_default();
            return Err(PyTypeError::new_err(format!("{name} is not a list subclass with list's __new__")));
        }
        Ok(ListClass(cls.clone().unbind()))
    }

    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyType> {
        self.0.bind(py)
    }

    /// `obj` as a list when its type is exactly this class (the usual case), without PyO3's `PyList_Check`
    /// (which walks the MRO of a subclass); `None` otherwise (the caller then checks the slow way).
    #[inline(always)]
    pub fn exact_instance<'a, 'py>(&self, obj: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, PyList>> {
        if obj.get_type_ptr().cast() != self.0.as_ptr() {
            return None;
        }
        // SAFETY: `obj`'s type is `self.0`, a subclass of `list` (checked in `ListClass::new`), so `obj` is a list
        // object and may be used as `Bound<PyList>` (what a successful `downcast` returns).
        Some(unsafe { obj.downcast_unchecked::<PyList>() })
    }

    /// A new empty instance without `__init__`: what `list.__new__(cls)` returns (list's `tp_new` is
    /// `PyType_GenericNew`, i.e. `tp_alloc(cls, 0)`), without the wrapper's argument tuple and checks.
    pub fn new_instance<'py>(&self, py: Python<'py>, no_args: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyList>> {
        // SAFETY: the GIL is held (`py`); `self.0` is a live type object that is a list subclass whose `__new__` is
        // list's (checked in `ListClass::new`), so PyType_GenericNew is exactly its tp_new and returns a new, empty,
        // valid instance (a new reference) or NULL with an exception set, which `from_owned_ptr_or_err` turns into
        // the error. `no_args` is a live tuple (ignored by PyType_GenericNew); kwds may be NULL.
        unsafe {
            let obj = ffi::PyType_GenericNew(self.0.as_ptr().cast(), no_args.as_ptr(), std::ptr::null_mut());
            Ok(Bound::from_owned_ptr_or_err(py, obj)?.downcast_into_unchecked::<PyList>())
        }
    }
}

/// Item `i` of `list`, or `None` when it is Python's `None`: one list access per field, and no reference count
/// traffic for the absent fields (most of a message body's). An out-of-range `i` is the IndexError.
#[inline(always)]
pub fn item_unless_none<'py>(list: &Bound<'py, PyList>, i: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = list.py();
    let i = ffi::Py_ssize_t::try_from(i).map_err(|_| pyo3::exceptions::PyIndexError::new_err("list index out of range"))?;
    // SAFETY: the GIL is held (`py`) and `list` is a live list object. PyList_GetItem returns a borrowed reference,
    // or NULL with an IndexError set when `i` is out of range (fetched into the error here). A non-None item becomes
    // an owned reference (`from_borrowed_ptr` increments its count) before any other call can change the list;
    // None is only compared by address, never dereferenced or kept.
    unsafe {
        let item = ffi::PyList_GetItem(list.as_ptr(), i);
        if item.is_null() {
            return Err(PyErr::fetch(py));
        }
        if item == ffi::Py_None() {
            return Ok(None);
        }
        Ok(Some(Bound::from_borrowed_ptr(py, item)))
    }
}

/// The value of an exact `int` (not a subclass, not a bool) that fits 64 bits, `None` for anything else (the
/// caller then converts or reports the slow way). One C call instead of PyO3's extraction.
#[inline(always)]
pub fn exact_int_i64(obj: &Bound<'_, PyAny>) -> Option<i64> {
    if !obj.is_exact_instance_of::<pyo3::types::PyInt>() {
        return None;
    }
    let mut overflow: std::os::raw::c_int = 0;
    // SAFETY: the GIL is held (`obj` is GIL-bound), `obj` is a live exact int and `overflow` a valid out-pointer.
    // For an exact int PyLong_AsLongLongAndOverflow calls no Python code and does not raise: a value that does
    // not fit sets `overflow` (then the slow path converts it). A -1 result is checked against PyErr_Occurred all
    // the same, and an error that call would have set is cleared, so no exception is left pending.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow != 0 {
        return None;
    }
    // SAFETY: GIL held, as above.
    if v == -1 && unsafe { !ffi::PyErr_Occurred().is_null() } {
        // SAFETY: GIL held; clears the error the conversion set.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    Some(v)
}
