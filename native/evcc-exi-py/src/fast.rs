//! The two FFI calls of the conversion that PyO3's safe API can only make through a Python-level call (issue 17:
//! the Python face within 3x of the core). Both take a GIL-bound argument and follow CPython's reference rules,
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

    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
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
