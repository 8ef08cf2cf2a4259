//! The FFI calls of the Python face (issue 17: within 3x of the core) where PyO3's safe API takes a slower path
//! or a Python-level call: decoded instances made without `__init__`, with their item array allocated once and
//! filled in place; generated objects read as lists without the MRO walk of `PyList_Check` or `PyList_GetItem`'s
//! checks; the charge loop's scalars written into the reused value tree from borrowed items, without reference
//! counts; exact-int extraction in one C call. Each takes a GIL-bound argument and follows CPython's reference
//! rules, written out at each call; everything else in the crate is safe code. The crate is built against the
//! full (not the limited) C API, so that list access compiles to inline field reads.
#![allow(unsafe_code)]

use exi_core::tables::Datatype;
use exi_core::Value;
use pyo3::exceptions::{PyMemoryError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyList, PyString, PyTuple, PyType};
use pyo3::Borrowed;

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

    /// A new empty instance without `__init__` with room for `room` items: what `list.__new__(cls)` returns (list's
    /// `tp_new` is `PyType_GenericNew`, i.e. `tp_alloc(cls, 0)`), without the wrapper's argument tuple and checks,
    /// and with its item array allocated once at the size the decoder fills (`append` then never reallocates).
    pub fn new_instance<'py>(
        &self,
        py: Python<'py>,
        no_args: &Bound<'py, PyTuple>,
        room: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        // SAFETY: the GIL is held (`py`); `self.0` is a live type object that is a list subclass whose `__new__` is
        // list's (checked in `ListClass::new`), so PyType_GenericNew is exactly its tp_new and returns a new, empty,
        // valid instance (a new reference) or NULL with an exception set, which `from_owned_ptr_or_err` turns into
        // the error. `no_args` is a live tuple (ignored by PyType_GenericNew); kwds may be NULL.
        let list = unsafe {
            let obj = ffi::PyType_GenericNew(self.0.as_ptr().cast(), no_args.as_ptr(), std::ptr::null_mut());
            Bound::from_owned_ptr_or_err(py, obj)?.downcast_into_unchecked::<PyList>()
        };
        if room > 0 {
            let too_big = || PyErr::new::<PyMemoryError, _>(());
            let bytes = room.checked_mul(std::mem::size_of::<*mut ffi::PyObject>()).ok_or_else(too_big)?;
            let allocated = ffi::Py_ssize_t::try_from(room).map_err(|_| too_big())?;
            // SAFETY: GIL held. `list` was made just above and no other code has seen it: PyType_GenericNew zero-fills
            // the object, so it has no item array (ob_item NULL, allocated 0, size 0). Giving it an array from
            // PyMem_Malloc of `room` pointers with `allocated = room` and size 0 is the state list.append leaves
            // after growing (list_dealloc and list_resize free or resize it with PyMem_Free/PyMem_Realloc, and
            // read only the first `size` items). A failed allocation leaves the list as it was.
            unsafe {
                let items = ffi::PyMem_Malloc(bytes).cast::<*mut ffi::PyObject>();
                if items.is_null() {
                    return Err(too_big());
                }
                let raw = list.as_ptr().cast::<ffi::PyListObject>();
                (*raw).ob_item = items;
                (*raw).allocated = allocated;
            }
        }
        Ok(list)
    }
}

/// `list.append(item)`, taking `item`'s reference: stored in place when the list has room (what the preallocated
/// decoded instances always have), else through `PyList_Append`.
#[inline(always)]
pub fn append_owned(list: &Bound<'_, PyList>, item: Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: the GIL is held (`list` is GIL-bound) and `list` is a live list object (its fields are read as
    // `PyListObject`). When `size < allocated`, slot `size` of the item array is free: the item's reference moves
    // there (`into_ptr`) and the size grows by one, which is list.append's own fast path. Otherwise PyList_Append
    // (which takes a new reference) is called and our reference dropped with `item`.
    unsafe {
        let raw = list.as_ptr().cast::<ffi::PyListObject>();
        let size = ffi::Py_SIZE(list.as_ptr());
        if size < (*raw).allocated {
            *(*raw).ob_item.offset(size) = item.into_ptr();
            (*raw).ob_base.ob_size = size + 1;
            return Ok(());
        }
        if ffi::PyList_Append(list.as_ptr(), item.as_ptr()) != 0 {
            return Err(PyErr::fetch(list.py()));
        }
        Ok(())
    }
}

/// What `field` found.
pub enum Field<'py> {
    /// Python's `None`.
    Absent,
    /// A scalar written in place (see `field`).
    Done,
    /// Any other item (a new reference).
    Item(Bound<'py, PyAny>),
}

/// Field `i` of the generated object `list`. With `scalar` (the field's current value, datatype and enumeration
/// values) an item that `scalar_in_place` can write is written there without taking a reference (`Done`);
/// otherwise the item comes back as a new reference. One list access per field, and no reference count traffic
/// for absent fields and in-place scalars. An out-of-range `i` is the IndexError.
#[inline(always)]
pub fn field<'py>(
    list: &Bound<'py, PyList>,
    i: usize,
    scalar: Option<(&mut Value, &Datatype, &[Py<PyString>])>,
) -> PyResult<Field<'py>> {
    let py = list.py();
    let out_of_range = || pyo3::exceptions::PyIndexError::new_err("list index out of range");
    let i = ffi::Py_ssize_t::try_from(i).map_err(|_| out_of_range())?;
    // SAFETY: the GIL is held (`py`) and `list` is a live list object; `i` is checked against its size, so item `i`
    // is a live object owned by the list (the list's own PyList_GET_ITEM), borrowed. None is only compared by
    // address. The borrowed item is used by `scalar_in_place` only, which reads exact ints, bools, bytes and
    // identities and runs no Python code and no Python allocation (so no collection, no finalizer), so nothing can
    // change the list before it returns; any other item becomes an owned reference before anything else runs.
    unsafe {
        if i >= ffi::PyList_GET_SIZE(list.as_ptr()) {
            return Err(out_of_range());
        }
        let item = ffi::PyList_GET_ITEM(list.as_ptr(), i);
        if item == ffi::Py_None() {
            return Ok(Field::Absent);
        }
        let borrowed = Borrowed::from_ptr(py, item);
        if let Some((v, dt, enums)) = scalar {
            if scalar_in_place(v, dt, enums, &borrowed) {
                return Ok(Field::Done);
            }
        }
        Ok(Field::Item(borrowed.to_owned()))
    }
}

/// `v` := `obj` when `obj` is the charge loop's kind of scalar for datatype `dt` and `v` already holds a value of
/// that kind (no drop of the old value): an exact int that fits 64 bits, a bool, one of the interned enumeration
/// values `enums` (by identity), exact bytes. True when written; false for anything else (the caller then
/// converts or reports it). Calls no Python code and makes no Python object (`field` relies on it).
#[inline(always)]
pub fn scalar_in_place(v: &mut Value, dt: &Datatype, enums: &[Py<PyString>], obj: &Bound<'_, PyAny>) -> bool {
    match (dt, v) {
        (Datatype::NBitInt { .. } | Datatype::UnsignedInt { .. } | Datatype::SignedInt { .. }, Value::Int(slot)) => {
            if let Some(i) = exact_int_i64(obj) {
                *slot = exi_core::Int::new(i128::from(i));
                return true;
            }
        }
        (Datatype::Boolean, Value::Bool(slot)) => {
            if let Ok(b) = obj.downcast::<PyBool>() {
                *slot = b.is_true();
                return true;
            }
        }
        (Datatype::Enum { .. }, Value::Enum(slot)) => {
            if let Some(i) = enums.iter().position(|e| e.as_ptr() == obj.as_ptr()) {
                *slot = i as u16;
                return true;
            }
        }
        (Datatype::Binary { .. }, Value::Bytes(buf)) => {
            if let Ok(b) = obj.downcast_exact::<PyBytes>() {
                buf.clear();
                buf.extend_from_slice(b.as_bytes());
                return true;
            }
        }
        _ => {}
    }
    false
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

