//! `ferrograd.Size` at C speed: `x.shape` and `x.shape[0]` run in every model's forward.
//!
//! `Size` (python/ferrograd/_size.py) is a tuple whose slices stay Sizes, as torch.Size's do. Its
//! `__getitem__` in Python made `x.shape[0]` 0.33 us, 3x PyTorch's; here it is a C-level base,
//! `_SizeBase`, whose subscript slot is tuple's own plus the retyping of slices, and which the
//! Python class inherits without a Python frame. Shapes are made by tuple's constructor slot.

use std::ffi::c_void;
use std::ptr::{addr_of_mut, null_mut};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

use super::tensor::py_helper;

/// tuple's own slot `which` (tuple is a static type, whose slots PyType_GetSlot reads from
/// Python 3.10 on).
fn tuple_slot(which: std::ffi::c_int) -> *mut c_void {
    // SAFETY: PyTuple_Type is a valid, ready type object for the interpreter's whole life.
    unsafe { ffi::PyType_GetSlot(addr_of_mut!(ffi::PyTuple_Type), which) }
}

/// `tuple.__new__(cls, (items,))`: `cls` must subclass tuple and `items` be a tuple; a new
/// reference, or NULL with the exception set.
///
/// # Safety
/// The GIL is held, and both pointers are valid.
unsafe fn new_tuple_of(cls: *mut ffi::PyTypeObject, items: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the caller's contract; tuple's tp_new is a `newfunc`, called as
    // `tuple.__new__` calls it, and PyTuple_Pack takes one valid object.
    unsafe {
        let new = std::mem::transmute::<*mut c_void, ffi::newfunc>(tuple_slot(ffi::Py_tp_new));
        let args = ffi::PyTuple_Pack(1, items);
        if args.is_null() {
            return null_mut();
        }
        let out = new(cls, args, null_mut());
        ffi::Py_DECREF(args);
        out
    }
}

/// `size[key]`: tuple's subscript; a slice is retyped to the caller's type (`Size`).
unsafe extern "C" fn subscript(slf: *mut ffi::PyObject, key: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: Python calls this slot with the GIL held and two valid objects, slf a tuple
    // subclass; tuple's mp_subscript is a `binaryfunc`.
    unsafe {
        let get = std::mem::transmute::<*mut c_void, ffi::binaryfunc>(tuple_slot(ffi::Py_mp_subscript));
        let out = get(slf, key);
        if out.is_null() || ffi::PySlice_Check(key) == 0 {
            return out;
        }
        let sized = new_tuple_of(ffi::Py_TYPE(slf), out);
        ffi::Py_DECREF(out);
        sized
    }
}

/// The type `_SizeBase(tuple)`, made once at import (`_core._SizeBase`).
pub fn size_base_type(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let mut slots = [
        ffi::PyType_Slot { slot: ffi::Py_mp_subscript, pfunc: subscript as *mut c_void },
        ffi::PyType_Slot { slot: 0, pfunc: null_mut() },
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"ferrograd._core._SizeBase".as_ptr(),
        // 0: tuple's sizes, inherited.
        basicsize: 0,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_BASETYPE) as std::ffi::c_uint,
        slots: slots.as_mut_ptr(),
    };
    let bases = PyTuple::new(py, [py.get_type::<PyTuple>()])?;
    // SAFETY: the spec and its slots are valid for the call, which copies them (the name is a
    // static string); bases is a tuple of one type.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpecWithBases(&mut spec, bases.as_ptr())) }
}

/// `dims` as a `ferrograd.Size`, made as `tuple.__new__(Size, dims)` makes its result: the type's
/// own allocation of len(dims) items, each set once. (`Size(dims)` checks every item as a user's
/// argument, and made `x.shape` 0.7 us, 8x PyTorch's; going through tuple's constructor built
/// two more tuples first, and `x.shape` took 1.3x PyTorch's time.)
pub fn size_object<'py>(py: Python<'py>, dims: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    static SIZE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let size = py_helper(py, &SIZE, "ferrograd._size", "Size")?;
    let cls: *mut ffi::PyTypeObject = size.as_ptr().cast();
    // SAFETY: the GIL is held. Size subclasses tuple (a variable-size type) without adding
    // fields, so its tp_alloc gives a tuple object of len(dims) empty items, reference count 1,
    // which PyTuple_SetItem fills (it steals each int's reference, and on failure releases it).
    unsafe {
        let alloc = std::mem::transmute::<*mut c_void, ffi::allocfunc>(ffi::PyType_GetSlot(cls, ffi::Py_tp_alloc));
        let out = Bound::from_owned_ptr_or_err(py, alloc(cls, dims.len() as ffi::Py_ssize_t))?;
        for (i, &d) in dims.iter().enumerate() {
            let item = d.into_pyobject(py)?.into_ptr();
            if ffi::PyTuple_SetItem(out.as_ptr(), i as ffi::Py_ssize_t, item) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(out)
    }
}
