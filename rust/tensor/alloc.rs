//! Sizes and allocations that fail with an error instead of killing the process.
//!
//! Rust's `Vec` aborts the whole interpreter when the allocator says no ("memory allocation
//! failed", SIGABRT), and a size product that overflows wraps silently in release builds
//! (`fg.ones(2**62, 8)` once came back with 0 elements). PyTorch raises RuntimeError in both cases
//! and the process goes on; so does ferrograd:
//!
//! - every size that comes from the user goes through `numel` (checked products, and the bytes
//!   must fit in an `isize`, which is what Rust and the C allocator can address);
//! - every buffer whose size a user controls is reserved with `try_reserve_exact`. Sites that
//!   return `Result` get `Error::Runtime` back (`vec_filled`, `try_with_capacity`); the kernels,
//!   which build their output inside closures that cannot return errors, reserve through
//!   `with_capacity`, which unwinds with an `OutOfMemory` payload. The binding layer's one guard
//!   (`python/error.rs`) turns that payload into the same RuntimeError, as C++'s `bad_alloc`
//!   reaches PyTorch's users. It is the only panic ferrograd raises on purpose.
//!
//! It is also where tensor memory gets its alignment. Every allocation of `ALIGN` bytes or more
//! comes back `ALIGN`-byte aligned from `TensorAllocator`, the extension's global allocator, so
//! the Vecs the kernels build (with `with_capacity`, `collect`, `vec!` alike) are aligned without
//! a copy; `Buffer::into_aligned` copies the rare smaller one when a storage is made.

use std::alloc::{GlobalAlloc, Layout};

use crate::bail;
use crate::error::{Error, Result};

/// The alignment of fresh tensor buffers: a cache line, what numpy's and PyTorch's allocators
/// give large arrays, and what JAX requires of memory it imports through DLPack.
pub const ALIGN: usize = 64;

/// How long mimalloc keeps freed memory before handing it back to the kernel, unless the user
/// set `MIMALLOC_PURGE_DELAY` (which then wins).
///
/// mimalloc's default, 1 s, is shorter than it looks: a purge returns whatever is free at that
/// instant, and one runs every delay at most. Mid-step much of a step's memory is free, so each
/// purge handed back activations the very next step faulted in again as fresh zeroed 2 MiB
/// pages: a ResNet-18 train step (16 x 3 x 64 x 64) took 350-500 page faults on average, and
/// the kernel's page clearing was up to a seventh of its time. At 10 s, 120 steps take 1000
/// faults more than never purging at all (8200 against 7200 for the whole run, against 50-67K at
/// 1 s), and memory a program stops using still goes back within seconds.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_t` (the crate names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's options (see `PURGE_DELAY_MS`); called once, when the extension loads.
pub fn configure() {
    // SAFETY: sets a plain option value, which mimalloc reads on its next purge.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

/// mimalloc with every allocation of `ALIGN` bytes or more aligned to `ALIGN`.
///
/// Sound because the layout it hands mimalloc is a pure function of the caller's layout
/// (`aligned`): `dealloc` receives the caller's original layout (GlobalAlloc's contract), maps it
/// the same way, and so frees with exactly the layout it allocated with. `realloc` keeps the
/// block when both sizes map to the same alignment and moves it by hand when they do not (a
/// Vec growing past 64 bytes), since mimalloc's realloc keeps the old alignment.
pub struct TensorAllocator;

#[inline(always)]
fn aligned(layout: Layout) -> Layout {
    if layout.size() >= ALIGN && layout.align() < ALIGN {
        // Fails only when the size rounded up to ALIGN would overflow isize; such a request
        // fails in the allocator anyway, and keeping the layout keeps the mapping a function.
        match Layout::from_size_align(layout.size(), ALIGN) {
            Ok(l) => l,
            Err(_) => layout,
        }
    } else {
        layout
    }
}

// SAFETY: every method forwards to mimalloc with `aligned(layout)`, consistently for the same
// caller layout, so mimalloc's own contract holds (see the type's docs).
unsafe impl GlobalAlloc for TensorAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with a valid non-zero-size layout (the caller's contract).
        unsafe { mimalloc::MiMalloc.alloc(aligned(layout)) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as alloc.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(aligned(layout)) }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from alloc with `aligned(layout)`, the same layout as here.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, aligned(layout)) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = aligned(layout);
        // SAFETY: the caller guarantees new_size, rounded to layout.align(), fits isize.
        let new = aligned(unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) });
        if old.align() == new.align() {
            // SAFETY: `ptr` was allocated with `old`; the result has `new` (same alignment).
            return unsafe { mimalloc::MiMalloc.realloc(ptr, old, new_size) };
        }
        // SAFETY: a fresh block with `new`, the overlap copied, the old block freed with the
        // layout it was allocated with.
        unsafe {
            let p = mimalloc::MiMalloc.alloc(new);
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                mimalloc::MiMalloc.dealloc(ptr, old);
            }
            p
        }
    }
}

/// The unwinding payload of a failed reservation (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct OutOfMemory {
    pub bytes: usize,
}

impl OutOfMemory {
    pub fn message(&self) -> String {
        format!("DefaultCPUAllocator: not enough memory: you tried to allocate {} bytes.", self.bytes)
    }
}

impl From<OutOfMemory> for Error {
    fn from(e: OutOfMemory) -> Error {
        Error::Runtime(e.message())
    }
}

/// The element count of `shape`, checked: the product and its size in bytes (`elem_size` each)
/// must fit in an `isize`. PyTorch's wording ("Storage size calculation overflowed").
pub fn numel(shape: &[usize], elem_size: usize, op: &str) -> Result<usize> {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n.and_then(|n| n.checked_mul(elem_size.max(1)).map(|b| (n, b))) {
        Some((n, bytes)) if bytes <= isize::MAX as usize => Ok(n),
        _ => bail!(Runtime, "{op}: Storage size calculation overflowed with sizes={shape:?}"),
    }
}

/// `n` copies of `value`, or an error naming the bytes that could not be had.
pub fn vec_filled<T: Copy + Send + Sync>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = try_with_capacity(n)?;
    fill(&mut v, n, &value);
    Ok(v)
}

/// Writes n copies of `value` into an empty Vec with room for them, in parallel chunks above
/// the grain (one thread's fill of 4 MB took 2.9x PyTorch's `zeros_like` on two), in the
/// widest stores the CPU has (the baseline copy's 16-byte stores bound a 4 MB `zeros` to 2.6x
/// PyTorch's time, the zero-filled gradient of a slice to half of `x[:, ::2]`'s backward).
fn fill<T: Copy + Send + Sync>(v: &mut Vec<T>, n: usize, value: &T) {
    super::hint_huge_pages(v);
    let spare = &mut v.spare_capacity_mut()[..n];
    let write = |_: usize, part: &mut [std::mem::MaybeUninit<T>]| fill_part(part, *value);
    if n > super::iter::GRAIN {
        crate::parallel::for_each_chunk_mut(spare, super::iter::GRAIN, &write);
    } else {
        write(0, spare);
    }
    // SAFETY: the n elements were written just above.
    unsafe { v.set_len(n) };
}

#[inline(always)]
fn fill_part_body<T: Copy, const FMA: bool>(part: &mut [std::mem::MaybeUninit<T>], value: T) {
    for o in part {
        o.write(value);
    }
}

crate::multiversion!(fill_part_body, fill_part_avx2, fill_part, Copy, (part: &mut [std::mem::MaybeUninit<T>], value: T) -> ());

/// An empty Vec with room for `n` elements, or an error. The room is at least `ALIGN` bytes,
/// so the block is aligned (see `TensorAllocator`) and `Buffer::into_aligned` keeps it: a
/// 1-element result was otherwise copied into a second allocation as its storage was made,
/// a tenth of a small op's time (`a + b` on one element).
pub fn try_with_capacity<T>(n: usize) -> std::result::Result<Vec<T>, OutOfMemory> {
    let size = std::mem::size_of::<T>();
    let bytes = n.saturating_mul(size);
    let room = if size == 0 { n } else { n.max(ALIGN.div_ceil(size)) };
    let mut v = Vec::new();
    v.try_reserve_exact(room).map_err(|_| OutOfMemory { bytes })?;
    Ok(v)
}

/// An empty Vec with room for `n` elements; unwinds with `OutOfMemory` when the allocator refuses
/// (for the kernels that build outputs inside closures; see the module docs).
pub fn with_capacity<T>(n: usize) -> Vec<T> {
    try_with_capacity(n).unwrap_or_else(|oom| std::panic::panic_any(oom))
}

/// `n` copies of `value`; unwinds with `OutOfMemory` when the allocator refuses (see the module
/// docs). For kernels whose output size follows from tensors that already exist.
pub fn filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(n);
    fill(&mut v, n, &value);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_refuses_overflowing_products() {
        assert_eq!(numel(&[2, 3], 4, "t").unwrap(), 6);
        assert_eq!(numel(&[], 4, "t").unwrap(), 1);
        assert_eq!(numel(&[0, usize::MAX], 4, "t").unwrap(), 0);
        assert!(numel(&[1 << 31, 1 << 31], 4, "t").is_err());
        assert!(numel(&[1 << 62, 8], 1, "t").is_err());
        // The product fits in usize but not its bytes.
        assert!(numel(&[1 << 62], 4, "t").is_err());
    }

    #[test]
    fn impossible_allocations_are_errors() {
        let e = vec_filled(isize::MAX as usize / 2, 0f32).unwrap_err();
        assert!(e.to_string().contains("not enough memory"), "{e}");
        assert_eq!(vec_filled(3, 1.5f64).unwrap(), vec![1.5; 3]);
    }

    #[test]
    fn fresh_buffers_are_aligned() {
        for n in [16usize, 17, 100, 1000, 1 << 20] {
            let v = with_capacity::<f32>(n);
            assert_eq!(v.as_ptr() as usize % ALIGN, 0, "{n} floats");
            let c: Vec<u8> = (0..=255u8).cycle().take(n * 4).collect();
            assert_eq!(c.as_ptr() as usize % ALIGN, 0);
        }
        // Growing across the 64-byte line moves the block to an aligned one, contents kept.
        let mut v: Vec<u8> = (0..10).collect();
        for i in 10..200u8 {
            v.push(i);
        }
        assert_eq!(v.as_ptr() as usize % ALIGN, 0);
        assert!(v.iter().enumerate().all(|(i, &x)| x as usize == i));
        v.truncate(3);
        v.shrink_to_fit();
        assert_eq!(v, [0, 1, 2]);
    }

    #[test]
    fn with_capacity_unwinds_with_the_payload() {
        let r = std::panic::catch_unwind(|| with_capacity::<f64>(usize::MAX / 16));
        let payload = r.unwrap_err();
        assert!(payload.downcast_ref::<OutOfMemory>().is_some());
    }

    #[test]
    fn configure_sets_the_purge_delay_unless_the_environment_did() {
        configure();
        // SAFETY: reads a plain option value.
        let got = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(v) => assert_eq!(got.to_string(), v),
            Err(_) => assert_eq!(got, PURGE_DELAY_MS),
        }
    }
}
