//! The tensor: a shared, versioned storage viewed through a layout, plus autograd metadata.

pub mod alloc;
pub mod buffer;
pub mod copy;
pub mod dtype;
pub mod iter;
mod meta;
pub mod shape;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use buffer::{Buffer, Data};
pub use dtype::{DType, Element, Float, Numeric, Scalar};
pub use shape::{Layout, Shape};

use crate::autograd::Node;
use crate::bail;
use crate::error::Result;

/// Memory shared by a tensor and its views. Writes go through `Tensor::write`, which counts them
/// in the writer's version counter: this one, shared by every tensor on the storage, unless the
/// writer has its own (see `TensorImpl::own_version`).
///
/// # The rules that make zero-copy sharing safe
/// numpy arrays (`.numpy()`, `np.asarray`), memoryviews (the buffer protocol) and DLPack
/// consumers hold raw pointers into a storage's buffer, and a storage may hold memory another
/// library lent it (`fg.from_numpy`, `fg.from_dlpack`). So:
/// - A storage's buffer is never reallocated, resized or replaced after creation: its address
///   (`Storage::data_ptr`) is fixed for the storage's life. `Buffer` offers no way to grow once
///   it is a storage's (only `&mut [T]`), and in-place ops write into the slice.
/// - Whoever holds a pointer holds the storage: the numpy array's base object, the memoryview's
///   exporter and the DLPack capsule's manager context each own an `Arc<Storage>`.
/// - Foreign memory (`Data::Foreign`) is kept alive by an owner inside the buffer and released
///   when the storage drops, on whatever thread that happens; owners therefore never need the
///   GIL (a numpy array's reference is a pyo3 `Py`, whose decref pyo3 defers until a thread
///   holds the GIL; a DLPack deleter is callable from any thread by the protocol's rules).
/// - Fresh buffers are `alloc::ALIGN` (64)-byte aligned (JAX imports only aligned memory, and
///   SIMD loads like it): large ones by the global allocator, small ones by a copy in `new`.
///   Foreign memory keeps the alignment its producer gave it.
/// - `memory_allocated` counts the bytes ferrograd allocated, not foreign memory.
/// - Foreign memory is always writable: a read-only numpy array or DLPack tensor is copied.
///
/// Concurrent writes from the other side (numpy writing while a kernel reads) are the user's
/// business, exactly as with PyTorch's shared tensors.
pub struct Storage {
    buf: RwLock<Buffer>,
    version: AtomicU64,
}

/// Bytes held by all live tensor storages, and the peak since the last reset: what
/// `fg.memory_allocated()` and `fg.max_memory_allocated()` report (the graph's saved tensors
/// included, which is how `no_grad` shows its saving).
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

pub fn memory_allocated() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}
pub fn max_memory_allocated() -> usize {
    PEAK_BYTES.load(Ordering::Relaxed)
}
pub fn reset_peak_memory() {
    PEAK_BYTES.store(LIVE_BYTES.load(Ordering::Relaxed), Ordering::Relaxed);
}

impl Storage {
    pub fn new(buf: Buffer) -> Storage {
        let buf = buf.into_aligned();
        let bytes = buf.owned_bytes();
        let live = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
        // A locked read-modify-write only when the peak moves (most storages come and go below it).
        if live > PEAK_BYTES.load(Ordering::Relaxed) {
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
        }
        Storage { buf: RwLock::new(buf), version: AtomicU64::new(0) }
    }
    pub fn read(&self) -> RwLockReadGuard<'_, Buffer> {
        // A poisoned lock only means a panic elsewhere while writing; the data is still a valid
        // buffer, so keep going rather than turn one failure into many.
        self.buf.read().unwrap_or_else(|e| e.into_inner())
    }
    /// The address of the first element; fixed for the storage's life (see the type's docs).
    pub fn data_ptr(&self) -> *const u8 {
        self.read().as_ptr()
    }
    /// The buffer for writing, without counting a change: for a tensor nobody has seen yet.
    /// Everything else writes through `Tensor::write`.
    pub(crate) fn write_unversioned(&self) -> RwLockWriteGuard<'_, Buffer> {
        self.buf.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Asks the kernel to back a large fresh buffer with huge pages (Linux; a hint, never an error).
pub fn hint_huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes >= 2 * HUGE {
            let start = v.as_mut_ptr() as usize;
            let aligned = (start + HUGE - 1) & !(HUGE - 1);
            let len = (start + bytes).saturating_sub(aligned) & !(HUGE - 1);
            if len > 0 {
                // SAFETY: the range lies inside the Vec's own allocation; madvise only changes
                // how the kernel backs it.
                unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

impl Drop for Storage {
    fn drop(&mut self) {
        let buf = self.buf.get_mut().unwrap_or_else(|e| e.into_inner());
        LIVE_BYTES.fetch_sub(buf.owned_bytes(), Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct AutogradMeta {
    pub grad: Option<Tensor>,
    pub grad_fn: Option<Arc<Node>>,
    /// Which output of `grad_fn` this tensor is (a custom Function has several).
    pub output_nr: usize,
    pub retains_grad: bool,
    /// A leaf's gradient hooks (a non-leaf's live on its node), with their ids.
    pub hooks: Vec<(u64, crate::autograd::GradHook)>,
    pub post_accumulate_hooks: Vec<(u64, crate::autograd::PostAccumulateHook)>,
    /// Set on a custom Function's output that aliases one of its inputs: an in-place op on it
    /// would bypass the Function's backward, so it is refused with this message (PyTorch's).
    pub inplace_error: Option<String>,
}

/// Where a view's values come from, for autograd (PyTorch's view tracking). An in-place op on a
/// view changes its base too, so the base's history must be rewritten (`autograd::views`).
pub(crate) enum ViewBase {
    /// Not a view (or `detach()`/`.data`, which autograd treats as a fresh tensor).
    None,
    /// A view made with grad mode on, of this root tensor (never itself a view).
    Tracked(Tensor),
    /// A view made under no_grad or inference mode: modifying it in place on the graph is
    /// ambiguous (was the view meant to be tracked?) and refused, as PyTorch does.
    Untracked,
}

pub struct TensorImpl {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    pub(crate) dtype: DType,
    /// Kept outside the mutex: every op reads it to decide whether to record.
    requires_grad: AtomicBool,
    /// Made under inference_mode: may never be saved for backward.
    pub(crate) is_inference: bool,
    /// Shares another tensor's storage through a different layout (reshape, slicing ...).
    is_view: bool,
    view_base: ViewBase,
    /// A tracked view's version when its history was last set: a different version means the
    /// storage was written since (through the base or another view), so its history is stale and
    /// is regenerated from the base's (`autograd::views::refresh`).
    view_version: AtomicU64,
    /// A Python number made a 0-d tensor for an op (PyTorch's "wrapped number"): it takes part
    /// in type promotion only through its category (see `ops::binary::result_type`).
    is_wrapped_number: bool,
    /// The version counter (PyTorch's: it counts in-place writes, so backward can tell that a
    /// tensor it saved was changed after it was saved). None, the rule, uses the storage's, which
    /// a tensor, its views and `detach()` share; `.data` gets its own, so writes through it go
    /// unseen by autograd, exactly as in PyTorch. (An Option rather than an Arc for every tensor:
    /// one allocation fewer per op.)
    own_version: Option<Arc<AtomicU64>>,
    meta: Mutex<AutogradMeta>,
}

/// A cheap handle: clones share the same tensor (same grad, same grad_fn).
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

/// A borrowed strided view of a tensor's elements.
pub struct View<'a, T> {
    pub data: &'a [T],
    pub layout: &'a Layout,
}

impl<T: Copy + Send + Sync + Default> View<'_, T> {
    /// Elements in logical order, borrowed when already contiguous.
    pub fn contiguous(&self) -> std::borrow::Cow<'_, [T]> {
        if self.layout.is_contiguous() {
            let o = self.layout.offset;
            std::borrow::Cow::Borrowed(&self.data[o..o + self.layout.numel()])
        } else {
            std::borrow::Cow::Owned(iter::gather(self.data, self.layout))
        }
    }
}

impl Tensor {
    pub(crate) fn from_parts(storage: Arc<Storage>, layout: Layout, dtype: DType) -> Tensor {
        Tensor(Arc::new(TensorImpl {
            storage,
            layout,
            dtype,
            requires_grad: AtomicBool::new(false),
            is_inference: crate::autograd::is_inference_mode_enabled(),
            is_view: false,
            view_base: ViewBase::None,
            view_version: AtomicU64::new(0),
            is_wrapped_number: false,
            own_version: None,
            meta: Mutex::new(AutogradMeta::default()),
        }))
    }

    pub fn from_buffer(buf: Buffer, shape: &[usize]) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        if buf.len() != numel {
            bail!(Value, "tensor: {} values do not fill shape {shape:?} ({numel} elements)", buf.len());
        }
        let dtype = buf.dtype();
        Ok(Tensor::from_parts(Arc::new(Storage::new(buf)), Layout::contiguous(shape), dtype))
    }

    /// A tensor viewing `storage` through `layout` (strides and offset in elements), checked to
    /// stay inside it: for memory shared with another library (`fg.from_numpy`, DLPack).
    pub fn from_storage(storage: Arc<Storage>, layout: Layout) -> Result<Tensor> {
        let (dtype, len) = {
            let b = storage.read();
            (b.dtype(), b.len())
        };
        if layout.shape.len() != layout.strides.len() {
            bail!(Value, "from_storage: {} strides for shape {:?}", layout.strides.len(), layout.shape);
        }
        let extent = layout.shape.iter().zip(&layout.strides).try_fold(1usize, |acc, (&n, &s)| acc.checked_add(n.saturating_sub(1).checked_mul(s)?));
        let needed = if layout.shape.contains(&0) { Some(0) } else { extent.and_then(|e| e.checked_add(layout.offset)) };
        match needed {
            Some(n) if n <= len => Ok(Tensor::from_parts(storage, layout, dtype)),
            _ => bail!(Value, "from_storage: shape {:?} with strides {:?} and offset {} reaches past the {len} elements shared", layout.shape, layout.strides, layout.offset),
        }
    }

    pub fn from_vec<T: Element>(v: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_buffer(T::into_buffer(v), shape)
    }

    /// For kernels whose output length is right by construction.
    pub(crate) fn from_vec_unchecked<T: Element>(v: Vec<T>, shape: &[usize]) -> Tensor {
        debug_assert_eq!(v.len(), shape.iter().product::<usize>());
        Tensor::from_parts(Arc::new(Storage::new(T::into_buffer(v))), Layout::contiguous(shape), T::DTYPE)
    }

    /// `from_vec_unchecked` keeping the caller's shape Vec as the layout's (one allocation
    /// fewer per op: the elementwise kernels build the shape anyway).
    pub(crate) fn from_vec_shaped<T: Element>(v: Vec<T>, shape: Shape) -> Tensor {
        debug_assert_eq!(v.len(), shape.iter().product::<usize>());
        let strides = shape::contiguous_strides(&shape);
        Tensor::from_parts(Arc::new(Storage::new(T::into_buffer(v))), Layout { shape, strides, offset: 0 }, T::DTYPE)
    }

    pub fn scalar<T: Element>(v: T) -> Tensor {
        // Room for ALIGN bytes, so the storage keeps this block instead of copying it aligned.
        Tensor::from_vec_unchecked(alloc::filled(1, v), &[])
    }

    /// A Python number as an operand: a 0-d tensor holding it exactly (int64 or float64) and
    /// marked as a wrapped number, so `uint8 + 300` stays uint8 and `float16 * 0.1` multiplies
    /// by the double 0.1, as in PyTorch.
    pub fn wrapped_scalar(s: Scalar) -> Tensor {
        let mut t = match s {
            Scalar::Bool(b) => Tensor::scalar(b),
            Scalar::Int(i) => Tensor::scalar(i),
            Scalar::Float(f) => Tensor::scalar(f),
        };
        if let Some(inner) = Arc::get_mut(&mut t.0) {
            inner.is_wrapped_number = true;
        }
        t
    }
    pub fn is_wrapped_number(&self) -> bool {
        self.0.is_wrapped_number
    }

    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_parts(Arc::new(Storage::new(Buffer::filled(dtype, n, value))), Layout::contiguous(shape), dtype)
    }
    /// `fg.full/zeros/ones/empty`: a user's shape, checked before anything is allocated.
    pub fn try_full(shape: &[usize], value: Scalar, dtype: DType) -> Result<Tensor> {
        let n = alloc::numel(shape, dtype.size_of(), "full")?;
        check_fits(value, dtype, "full")?;
        let buf = crate::with_dtype!(dtype, T => T::into_buffer(alloc::vec_filled(n, value.to_element::<T>())?));
        Ok(Tensor::from_parts(Arc::new(Storage::new(buf)), Layout::contiguous(shape), dtype))
    }
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 0.0, dtype)
    }
    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 1.0, dtype)
    }

    /// A new view of the same storage (reshape, transpose, slicing ...). The result has no
    /// autograd history; ops attach it.
    pub(crate) fn view_with(&self, mut layout: Layout) -> Tensor {
        // An empty view reads nothing; offset 0 keeps every `data[offset..offset + numel]` in
        // bounds (`fg.zeros(2, 0)[1]` would otherwise point past its empty storage).
        if layout.shape.contains(&0) {
            layout.offset = 0;
        }
        let mut t = Tensor::from_parts(self.0.storage.clone(), layout, self.0.dtype);
        let version = self.version();
        if let Some(inner) = Arc::get_mut(&mut t.0) {
            inner.is_view = true;
            inner.own_version = self.0.own_version.clone();
            inner.view_base = if crate::autograd::is_recording() {
                ViewBase::Tracked(match &self.0.view_base {
                    ViewBase::Tracked(root) => root.clone(),
                    _ => self.clone(),
                })
            } else {
                ViewBase::Untracked
            };
            inner.view_version = AtomicU64::new(version);
        }
        t
    }

    /// `.data`: the same elements with no history and a version counter of its own, so an
    /// in-place change through it (`w.data.mul_(0.5)` between forward and backward) is not
    /// reported by backward (PyTorch's semantics, and its documented caveat).
    pub fn data(&self) -> Tensor {
        let mut t = self.detach();
        if let Some(inner) = Arc::get_mut(&mut t.0) {
            inner.own_version = Some(Arc::new(AtomicU64::new(self.version())));
        }
        t
    }

    /// The buffer for writing; counts one in-place change of this tensor (and its views).
    pub fn write(&self) -> RwLockWriteGuard<'_, Buffer> {
        self.version_counter().fetch_add(1, Ordering::Relaxed);
        self.0.storage.write_unversioned()
    }

    pub fn is_view(&self) -> bool {
        self.0.is_view
    }
    pub(crate) fn view_base(&self) -> &ViewBase {
        &self.0.view_base
    }
    /// The tensor a view made with grad mode on was taken from (PyTorch's `._base`).
    pub fn base(&self) -> Option<&Tensor> {
        match &self.0.view_base {
            ViewBase::Tracked(b) => Some(b),
            _ => None,
        }
    }
    pub(crate) fn mark_view_fresh(&self) {
        self.0.view_version.store(self.version(), Ordering::Relaxed);
    }
    /// Whether a tracked view's history predates the last write to its storage.
    pub(crate) fn view_history_is_stale(&self) -> bool {
        matches!(self.0.view_base, ViewBase::Tracked(_)) && self.0.view_version.load(Ordering::Relaxed) != self.version()
    }

    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.0.layout.strides
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn ndim(&self) -> usize {
        self.0.layout.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    pub fn is_inference(&self) -> bool {
        self.0.is_inference
    }
    pub fn storage(&self) -> &Arc<Storage> {
        &self.0.storage
    }
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }
    fn version_counter(&self) -> &AtomicU64 {
        self.0.own_version.as_deref().unwrap_or(&self.0.storage.version)
    }
    pub fn version(&self) -> u64 {
        self.version_counter().load(Ordering::Relaxed)
    }

    /// Runs `f` on a read-locked view of the elements as `T` (the caller matched the dtype).
    pub fn with_view<T: Element, R>(&self, f: impl FnOnce(View<'_, T>) -> R) -> R {
        let guard = self.0.storage.read();
        f(View { data: T::slice(&guard), layout: &self.0.layout })
    }

    /// Runs `f` on the elements of each of `ts` (all of dtype `T`, which the caller checked) in
    /// logical order: borrowed from the storage when contiguous, gathered when not, so a large
    /// contiguous operand is read in place instead of copied (`to_vec`). Each storage is
    /// read-locked once, however many of `ts` share it: taking one RwLock twice can deadlock
    /// behind a waiting writer.
    pub fn with_slices<T: Element, R>(ts: &[&Tensor], f: impl FnOnce(&[&[T]]) -> R) -> R {
        let mut guards: Vec<(&Tensor, RwLockReadGuard<'_, Buffer>)> = Vec::new();
        let mut which = Vec::with_capacity(ts.len());
        for &t in ts {
            match guards.iter().position(|(o, _)| o.shares_storage(t)) {
                Some(i) => which.push(i),
                None => {
                    guards.push((t, t.0.storage.read()));
                    which.push(guards.len() - 1);
                }
            }
        }
        let gathered: Vec<Option<Vec<T>>> = ts
            .iter()
            .zip(&which)
            .map(|(t, &i)| (!t.0.layout.is_contiguous()).then(|| iter::gather(T::slice(&guards[i].1), &t.0.layout)))
            .collect();
        let slices: Vec<&[T]> = ts
            .iter()
            .zip(&which)
            .zip(&gathered)
            .map(|((t, &i), g)| match g {
                Some(v) => v.as_slice(),
                None => {
                    let o = t.0.layout.offset;
                    &T::slice(&guards[i].1)[o..o + t.0.layout.numel()]
                }
            })
            .collect();
        f(&slices)
    }

    /// The elements as a contiguous Vec in logical order, converted to `T`.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        if self.dtype() == T::DTYPE {
            // `gather` copies a contiguous tensor in parallel chunks too (`clone()`, `deep_copy`).
            return self.with_view::<T, _>(|v| iter::gather(v.data, v.layout));
        }
        crate::with_dtype!(self.dtype(), S => self.with_view::<S, _>(|v| {
            v.contiguous().iter().map(|&x| dtype::cast::<S, T>(x)).collect()
        }))
    }

    /// The single element of a one-element tensor, exactly (an int64 above 2^53 survives).
    pub fn item(&self) -> Result<Scalar> {
        if self.numel() != 1 {
            bail!(Runtime, "item: a Tensor with {} elements cannot be converted to Scalar (shape {:?})", self.numel(), self.shape());
        }
        let off = self.0.layout.offset;
        Ok(match self.dtype() {
            DType::Bool => Scalar::Bool(self.with_view::<bool, _>(|v| v.data[off])),
            d if d.is_float() => Scalar::Float(crate::with_dtype!(d, T => self.with_view::<T, _>(|v| v.data[off].to_f64()))),
            d => Scalar::Int(crate::with_dtype!(d, T => self.with_view::<T, _>(|v| v.data[off].to_i64()))),
        })
    }

    /// The single element of a one-element tensor, as f64.
    pub fn item_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            bail!(Runtime, "item: a Tensor with {} elements cannot be converted to Scalar (shape {:?})", self.numel(), self.shape());
        }
        let off = self.0.layout.offset;
        Ok(crate::with_dtype!(self.dtype(), T => self.with_view::<T, _>(|v| v.data[off].to_f64())))
    }

    /// Same storage, no history, requires_grad=False. Not a view for autograd (as in PyTorch): an
    /// in-place op on it with a graph operand gives it, and only it, a history.
    pub fn detach(&self) -> Tensor {
        let mut t = self.view_with(self.0.layout.clone());
        if let Some(inner) = Arc::get_mut(&mut t.0) {
            inner.is_view = false;
            inner.view_base = ViewBase::None;
        }
        // The same values under a new identity: a trace follows them through it.
        crate::autograd::trace::log_op("detach", &[self], &t);
        t
    }

    /// A copy in contiguous memory with no history (the data part of `contiguous`/`clone`).
    pub fn deep_copy(&self) -> Tensor {
        crate::with_dtype!(self.dtype(), T => Tensor::from_vec_unchecked(self.to_vec::<T>(), self.shape()))
    }
}

/// The C++ type PyTorch's overflow messages name ("uint8_t", "c10::Half").
pub fn c_type_name(dtype: DType) -> String {
    match dtype {
        DType::F16 => "c10::Half".to_string(),
        DType::BF16 => "c10::BFloat16".to_string(),
        d => format!("{}_t", d.short_name()),
    }
}

/// Whether `value` converts to `dtype` without overflow (PyTorch's check in `full` and
/// `fill_`): integers must hold it, a half float must not round a finite value to infinity.
pub fn fits(value: f64, dtype: DType) -> bool {
    let (lo, hi) = match dtype {
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        // i64::MAX rounds up to 2^63 as a double, which int64 cannot hold.
        DType::I64 => return value.is_finite() && value >= i64::MIN as f64 && value < i64::MAX as f64,
        DType::F16 | DType::BF16 => {
            // Infinity and NaN convert as they are; a finite value must not round to infinity.
            return !value.is_finite() || crate::with_dtype!(dtype, T => T::from_f64(value).to_f64().is_finite());
        }
        _ => return true,
    };
    value >= lo && value <= hi
}

/// PyTorch's refusal of a value the dtype cannot hold (`full((2,), 300, dtype=uint8)`).
pub fn check_fits(value: Scalar, dtype: DType, op: &str) -> Result<()> {
    if !scalar_fits(value, dtype) {
        let v = match value {
            Scalar::Int(i) => i.to_string(),
            v => v.as_f64().to_string(),
        };
        bail!(Runtime, "{op}: value cannot be converted to type {} without overflow: {v}", c_type_name(dtype));
    }
    Ok(())
}

/// `fits` for a Python number: an integer is checked as an integer (2^63 - 1 fits int64; as a
/// double it would round up to 2^63, which does not). uint8 takes -255..-1 too, wrapped
/// (`full((2,), -1, dtype=uint8)` is 255), as PyTorch's check lets negative ints wrap there.
pub fn scalar_fits(value: Scalar, dtype: DType) -> bool {
    let range = match dtype {
        DType::U8 => (-(u8::MAX as i64), u8::MAX as i64),
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::I64 => (i64::MIN, i64::MAX),
        _ => return fits(value.as_f64(), dtype),
    };
    match value {
        Scalar::Int(i) => (range.0..=range.1).contains(&i),
        _ => fits(value.as_f64(), dtype),
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor(shape={:?}, dtype={}, data={:?})", self.shape(), self.dtype().short_name(), self.to_vec::<f64>())
    }
}
