//! Copying a run of values without falling off glibc's `rep movsb` cliff.
//!
//! `copy_from_slice` (and every loop the compiler recognises as a copy) is a memcpy call. glibc
//! copies runs of a few KiB and more with `rep movsb`, and on this project's machines that
//! instruction runs 10-15x slower when the destination lies a few bytes past the source modulo
//! 4 KiB (measured: 4 to 12 bytes past; 0, and 16 or more, are fine). Two tensors from the same
//! allocator sit at the same offset within a page, so a shift of a row by a few elements lands
//! there: `x.roll(5, 1)` on 512 x 2048 float32 took 0.64 ms, at shifts 4 and 8 0.065 ms;
//! `y[:, 5:] = x[:, :-5]` 0.82 ms against PyTorch's 0.078. Pieces of 2 KiB go through glibc's
//! vector loop instead, at full speed whatever the distance.

use std::mem::{size_of, MaybeUninit};

/// Bytes per piece: below glibc's `rep movsb` threshold on these machines (runs of 2 KiB were
/// fast at every distance, of 4 KiB slow at the bad ones).
const PIECE: usize = 2048;

/// Whether a run of `bytes` from `src` to `dst` would take the slow `rep movsb`: long, and the
/// destination 1 to 63 bytes past the source within a page (a margin round the measured 4-12).
fn slow_distance(dst: usize, src: usize, bytes: usize) -> bool {
    let ahead = dst.wrapping_sub(src) % 4096;
    bytes > PIECE && ahead != 0 && ahead < 64
}

/// `std::ptr::copy_nonoverlapping(src, dst, len)`, in 2 KiB pieces when one call would be slow.
///
/// # Safety
/// As `copy_nonoverlapping`: `src` readable and `dst` writable for `len` values, not overlapping.
pub unsafe fn copy_raw<T: Copy>(src: *const T, dst: *mut T, len: usize) {
    let bytes = len * size_of::<T>();
    if size_of::<T>() == 0 || !slow_distance(dst as usize, src as usize, bytes) {
        // SAFETY: the caller's promise.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    let per = (PIECE / size_of::<T>()).max(1);
    let mut i = 0;
    while i < len {
        let n = per.min(len - i);
        // black_box: a loop of fixed-size copies is otherwise merged back into one call.
        // SAFETY: i + n <= len, inside both runs the caller vouched for.
        unsafe { std::ptr::copy_nonoverlapping(std::hint::black_box(src.add(i)), dst.add(i), n) };
        i += n;
    }
}

/// `dst.copy_from_slice(src)` (same lengths), off the slow path.
pub fn copy_values<T: Copy>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy_values: lengths differ");
    // SAFETY: two slices of the same length; a `&mut` never overlaps a `&`.
    unsafe { copy_raw(src.as_ptr(), dst.as_mut_ptr(), src.len()) }
}

/// `copy_values` into uninitialised memory (the builders' outputs), initialising all of `dst`.
pub fn write_values<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "write_values: lengths differ");
    // SAFETY: as in copy_values; MaybeUninit<T> has T's layout.
    unsafe { copy_raw(src.as_ptr(), dst.as_mut_ptr() as *mut T, src.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_distance_and_length() {
        let src: Vec<u32> = (0..5000).collect();
        let mut dst = vec![0u32; 5100];
        for shift in 0..20 {
            for len in [0, 1, 511, 512, 513, 1500, 4999] {
                dst.iter_mut().for_each(|v| *v = u32::MAX);
                copy_values(&mut dst[shift..shift + len], &src[..len]);
                assert_eq!(&dst[shift..shift + len], &src[..len]);
                assert!(dst[..shift].iter().chain(&dst[shift + len..]).all(|&v| v == u32::MAX));
            }
        }
    }

    #[test]
    fn slow_distances_are_the_short_ones_ahead() {
        assert!(slow_distance(4096 + 20, 4096, 8192));
        assert!(slow_distance(8 + 3 * 4096, 0, 4096));
        assert!(!slow_distance(4096, 4096, 8192));
        assert!(!slow_distance(4096, 4096 + 20, 8192)); // behind the source
        assert!(!slow_distance(4096 + 20, 4096, 1024)); // short
    }
}
