//! The typed buffer a storage holds: one `Data` (owned or lent by another library) per dtype.

use half::{bf16, f16};

use super::dtype::{DType, Element};

/// The elements of one storage: a Vec ferrograd allocated, or memory another library owns
/// (a numpy array, a DLPack producer's tensor) kept alive by `owner` until the storage drops.
/// Either way it derefs to a slice whose address never changes (see `tensor::Storage`).
pub enum Data<T> {
    Owned(Vec<T>),
    Foreign(Foreign<T>),
}

/// Memory lent by another library: `len` elements at `ptr`, valid and writable while `owner` lives.
pub struct Foreign<T> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
    /// Dropping it releases the memory (a numpy array's reference, a DLPack deleter call). It
    /// may drop on any thread, so it must be Send + Sync and must not need the caller to hold
    /// the GIL (pyo3's `Py` defers the decref when the GIL is not held).
    _owner: Box<dyn Send + Sync>,
}

// SAFETY: a Foreign is a `&mut [T]` lent for the owner's lifetime; the owner is Send + Sync and
// every access goes through the storage's RwLock, as for an owned Vec.
unsafe impl<T: Send> Send for Foreign<T> {}
// SAFETY: as above; shared access only hands out `&[T]`.
unsafe impl<T: Sync> Sync for Foreign<T> {}

impl<T> Data<T> {
    /// Memory owned elsewhere, shared without a copy.
    ///
    /// # Safety
    /// `ptr` must be non-null, aligned for `T`, and point to `len` initialised, writable
    /// elements that nothing frees or moves while `owner` is alive. Others may read and write the
    /// same memory (that is the point of sharing); ferrograd's own accesses take the storage's
    /// lock, theirs are the user's business, as with PyTorch's `from_numpy`.
    pub unsafe fn foreign(ptr: *mut T, len: usize, owner: Box<dyn Send + Sync>) -> Data<T> {
        let ptr = std::ptr::NonNull::new(ptr).unwrap_or(std::ptr::NonNull::dangling());
        Data::Foreign(Foreign { ptr, len, _owner: owner })
    }
    pub fn is_owned(&self) -> bool {
        matches!(self, Data::Owned(_))
    }
}

impl<T> std::ops::Deref for Data<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            Data::Owned(v) => v,
            // SAFETY: `Data::foreign`'s contract: `len` valid elements while the owner lives,
            // and the owner lives as long as self.
            Data::Foreign(f) => unsafe { std::slice::from_raw_parts(f.ptr.as_ptr(), f.len) },
        }
    }
}

impl<T> std::ops::DerefMut for Data<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Data::Owned(v) => v,
            // SAFETY: as in deref, and writable by the same contract; `&mut self` is unique on
            // ferrograd's side.
            Data::Foreign(f) => unsafe { std::slice::from_raw_parts_mut(f.ptr.as_ptr(), f.len) },
        }
    }
}

/// A copy is always owned: it no longer shares the foreign memory.
impl<T: Clone> Clone for Data<T> {
    fn clone(&self) -> Self {
        Data::Owned(self.to_vec())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Data<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[derive(Debug, Clone)]
pub enum Buffer {
    Bool(Data<bool>),
    U8(Data<u8>),
    I8(Data<i8>),
    I16(Data<i16>),
    I32(Data<i32>),
    I64(Data<i64>),
    F16(Data<f16>),
    BF16(Data<bf16>),
    F32(Data<f32>),
    F64(Data<f64>),
}

/// `$body` with `$v` bound to the buffer's `Data`, whatever its element type.
macro_rules! each_buffer {
    ($b:expr, $v:ident => $body:expr) => {
        match $b {
            Buffer::Bool($v) => $body,
            Buffer::U8($v) => $body,
            Buffer::I8($v) => $body,
            Buffer::I16($v) => $body,
            Buffer::I32($v) => $body,
            Buffer::I64($v) => $body,
            Buffer::F16($v) => $body,
            Buffer::BF16($v) => $body,
            Buffer::F32($v) => $body,
            Buffer::F64($v) => $body,
        }
    };
}

impl Buffer {
    pub fn dtype(&self) -> DType {
        fn of<T: Element>(_: &[T]) -> DType {
            T::DTYPE
        }
        each_buffer!(self, v => of(v))
    }
    pub fn len(&self) -> usize {
        each_buffer!(self, v => v.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first element's address (stable: a storage's buffer never moves).
    pub fn as_ptr(&self) -> *const u8 {
        each_buffer!(self, v => v.as_ptr().cast::<u8>())
    }
    /// Bytes ferrograd allocated for it (0 for foreign memory): what `memory_allocated` counts.
    pub fn owned_bytes(&self) -> usize {
        each_buffer!(self, v => if v.is_owned() { v.len() * self.dtype().size_of() } else { 0 })
    }
    /// The same elements at a `alloc::ALIGN`-byte aligned address: itself when it already is
    /// (every owned Vec of 64 bytes or more is, see `alloc::TensorAllocator`) or foreign, else
    /// a copy (small Vecs only; a copy of under 64 bytes costs nothing).
    pub fn into_aligned(self) -> Buffer {
        fn aligned<T: Element>(d: Data<T>) -> Buffer {
            match d {
                Data::Owned(v) if !(v.as_ptr() as usize).is_multiple_of(super::alloc::ALIGN) => {
                    let mut w = super::alloc::with_capacity(v.len().max(super::alloc::ALIGN / std::mem::size_of::<T>()));
                    w.extend_from_slice(&v);
                    T::into_buffer(w)
                }
                d => T::from_data(d),
            }
        }
        each_buffer!(self, v => aligned(v))
    }
    /// `n` copies of `value` converted to `dtype` (PyTorch's cast: 300.0 as uint8 is 44); an
    /// allocation the machine refuses unwinds with `alloc::OutOfMemory` (see `tensor::alloc`),
    /// which the binding layer reports as RuntimeError.
    pub fn filled(dtype: DType, n: usize, value: f64) -> Buffer {
        crate::with_dtype!(dtype, T => T::into_buffer(super::alloc::filled(n, T::from_f64(value))))
    }
}
