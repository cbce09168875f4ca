//! Element types, their conversions and the dtype dispatch macros (the buffer a storage holds
//! is `tensor::buffer`).

use half::{bf16, f16};

use super::buffer::{Buffer, Data};

use crate::bail;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

impl DType {
    /// Every dtype, in PyTorch's promotion order within each category.
    pub const ALL: [DType; 10] =
        [DType::Bool, DType::U8, DType::I8, DType::I16, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64];

    /// The name as printed in reprs and error messages (PyTorch's, under ferrograd).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "ferrograd.bool",
            DType::U8 => "ferrograd.uint8",
            DType::I8 => "ferrograd.int8",
            DType::I16 => "ferrograd.int16",
            DType::I32 => "ferrograd.int32",
            DType::I64 => "ferrograd.int64",
            DType::F16 => "ferrograd.float16",
            DType::BF16 => "ferrograd.bfloat16",
            DType::F32 => "ferrograd.float32",
            DType::F64 => "ferrograd.float64",
        }
    }
    /// The name without the module: numpy's dtype name, except bfloat16, which numpy lacks.
    pub fn short_name(self) -> &'static str {
        &self.name()["ferrograd.".len()..]
    }
    /// PyTorch's scalar-type name, as its dtype error messages print it ("Float", "Long").
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::Bool => "Bool",
            DType::U8 => "Byte",
            DType::I8 => "Char",
            DType::I16 => "Short",
            DType::I32 => "Int",
            DType::I64 => "Long",
            DType::F16 => "Half",
            DType::BF16 => "BFloat16",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }
    /// float16 and bfloat16: stored in two bytes, computed in float32 (see `ops::half`).
    pub fn is_half(self) -> bool {
        matches!(self, DType::F16 | DType::BF16)
    }
    pub fn is_integer(self) -> bool {
        matches!(self, DType::U8 | DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }
    /// PyTorch's `dtype.is_signed`: false for bool and uint8.
    pub fn is_signed(self) -> bool {
        !matches!(self, DType::Bool | DType::U8)
    }
    /// Whether an op whose result has this dtype may write it into a tensor of dtype `out`
    /// (PyTorch's canCast): never float into an integer, never a number into bool.
    pub fn can_cast_to(self, out: DType) -> bool {
        let float_into_integer = self.is_float() && !out.is_float();
        let number_into_bool = self != DType::Bool && out == DType::Bool;
        !(float_into_integer || number_into_bool)
    }
    pub fn size_of(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
    /// Type promotion between two tensors, as torch.promote_types: bool < integers < floats;
    /// within a category the wider wins, except that uint8 and int8 meet in int16 and float16
    /// and bfloat16 in float32 (neither holds the other's values).
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        match (self, other) {
            _ if self == other => self,
            (Bool, d) | (d, Bool) => d,
            (U8, I8) | (I8, U8) => I16,
            (F16, BF16) | (BF16, F16) => F32,
            (a, b) if a.is_float() != b.is_float() => if a.is_float() { a } else { b },
            (a, b) => if a.size_of() >= b.size_of() { a } else { b },
        }
    }
}

/// A Python number. As an operand it becomes a "wrapped number" 0-d tensor
/// (`Tensor::wrapped_scalar`), which only changes a tensor's dtype when its category is higher
/// (int tensor * 0.5 -> float32; uint8 tensor + 300 -> uint8, float16 tensor * 2.5 -> float16),
/// as in PyTorch (see `ops::binary::result_type`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as i64 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
    /// The dtype an op between a tensor of dtype `tensor` and this scalar computes in: the
    /// tensor's own dtype within a category, the default dtype of a higher category. A bool stays
    /// bool, so ops that refuse bool operands (`x - True`) see one, as PyTorch's do.
    pub fn result_dtype(self, tensor: DType) -> DType {
        match (self, tensor) {
            (Scalar::Float(_), d) if !d.is_float() => DType::F32,
            (Scalar::Int(_), DType::Bool) => DType::I64,
            (Scalar::Bool(_), _) => DType::Bool,
            (_, d) => d,
        }
    }
    /// The dtype of the wrapped-number tensor holding the scalar exactly (PyTorch wraps Python
    /// floats as double and ints as int64).
    pub fn dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DType::F64,
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, Scalar::Float(_))
    }
    /// The value as an element of type T, an integer exactly: a double holds integers only up to
    /// 2^53, so `full(2**60 + 1)` through `as_f64` would store 2^60.
    pub fn to_element<T: Element>(self) -> T {
        match self {
            Scalar::Bool(b) => T::from_i64(b as i64),
            Scalar::Int(i) => T::from_i64(i),
            Scalar::Float(f) => T::from_f64(f),
        }
    }
}

/// The element types. Conversions follow PyTorch's on x86-64: `from_f64` (float to anything)
/// and `from_i64` (integer or bool to anything) are the two C casts every cast goes through
/// (`ops::cast`).
pub trait Element: Copy + Send + Sync + Default + PartialOrd + PartialEq + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    /// The integer value of an integer or bool element (a float truncates, as `from_f64`).
    fn to_i64(self) -> i64;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
    fn slice(b: &Buffer) -> &[Self];
    fn slice_mut(b: &mut Buffer) -> &mut [Self];
    /// The buffer's Vec, to grow it (a file being read in chunks), before it becomes a storage's
    /// (which never reallocates its buffer: see `tensor::Storage`). Panics on foreign memory.
    fn vec_mut(b: &mut Buffer) -> &mut Vec<Self>;
    fn into_buffer(v: Vec<Self>) -> Buffer;
    /// A buffer over memory ferrograd did not allocate (see `Data::foreign`).
    fn from_data(d: Data<Self>) -> Buffer;
}

/// f32 and f64: the dtypes with autograd kernels (float16 and bfloat16 compute in f32).
pub trait Float: Element + num_traits::Float + std::iter::Sum + std::ops::AddAssign + std::ops::MulAssign {
    /// `if take { a } else { b }` as a conditional move, for choices the data makes (which
    /// max-pool tap wins). A float select compiles to a branch on baseline x86-64 (no blendv),
    /// even under `select_unpredictable`; on the bits it is a cmov.
    fn select(take: bool, a: Self, b: Self) -> Self;
}
impl Float for f32 {
    #[inline(always)]
    fn select(take: bool, a: f32, b: f32) -> f32 {
        f32::from_bits(std::hint::select_unpredictable(take, a.to_bits(), b.to_bits()))
    }
}
impl Float for f64 {
    #[inline(always)]
    fn select(take: bool, a: f64, b: f64) -> f64 {
        f64::from_bits(std::hint::select_unpredictable(take, a.to_bits(), b.to_bits()))
    }
}

/// PyTorch's float -> int64 on x86-64 (cvttsd2si): truncation toward zero, and i64::MIN for NaN,
/// infinities and anything out of range.
#[inline(always)]
fn f64_to_i64(v: f64) -> i64 {
    // SAFETY: the range check just made (false for NaN) is to_int_unchecked's condition. The
    // saturating `as` kept the loop scalar: 14x PyTorch's time for `.int()` of 1M floats.
    if v > -9.223_372_036_854_778e18 && v < 9.223_372_036_854_776e18 { unsafe { v.to_int_unchecked() } } else { i64::MIN }
}
/// The same in 32 bits (cvttss2si), which PyTorch also uses on the way to int16 and int8.
#[inline(always)]
fn f64_to_i32(v: f64) -> i32 {
    // SAFETY: as f64_to_i64.
    if v > -2_147_483_649.0 && v < 2_147_483_648.0 { unsafe { v.to_int_unchecked() } } else { i32::MIN }
}

macro_rules! element {
    ($t:ty, $variant:ident, to_f64: $to:expr, to_i64: $toi:expr, from_f64: $from:expr, from_i64: $fromi:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                $to(self)
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                $toi(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                $fromi(v)
            }
            #[inline]
            fn slice(b: &Buffer) -> &[Self] {
                match b {
                    Buffer::$variant(v) => v,
                    _ => unreachable!("buffer dtype checked by Tensor"),
                }
            }
            #[inline]
            fn slice_mut(b: &mut Buffer) -> &mut [Self] {
                match b {
                    Buffer::$variant(v) => v,
                    _ => unreachable!("buffer dtype checked by Tensor"),
                }
            }
            fn vec_mut(b: &mut Buffer) -> &mut Vec<Self> {
                match b {
                    Buffer::$variant(Data::Owned(v)) => v,
                    _ => unreachable!("vec_mut: only on a fresh owned buffer of this dtype"),
                }
            }
            fn into_buffer(v: Vec<Self>) -> Buffer {
                Buffer::$variant(Data::Owned(v))
            }
            fn from_data(d: Data<Self>) -> Buffer {
                Buffer::$variant(d)
            }
        }
    };
}
element!(f32, F32, to_f64: |x: f32| x as f64, to_i64: |x: f32| f64_to_i64(x as f64), from_f64: |v: f64| v as f32, from_i64: |v: i64| v as f32);
element!(f64, F64, to_f64: |x: f64| x, to_i64: f64_to_i64, from_f64: |v: f64| v, from_i64: |v: i64| v as f64);
// PyTorch converts a double to half through float (c10::Half's constructor takes a float).
element!(f16, F16, to_f64: f16::to_f64, to_i64: |x: f16| f64_to_i64(x.to_f64()),
    from_f64: |v: f64| f16::from_f32(v as f32), from_i64: |v: i64| f16::from_f32(v as f32));
element!(bf16, BF16, to_f64: bf16::to_f64, to_i64: |x: bf16| f64_to_i64(x.to_f64()),
    from_f64: |v: f64| bf16::from_f32(v as f32), from_i64: |v: i64| bf16::from_f32(v as f32));
element!(i64, I64, to_f64: |x: i64| x as f64, to_i64: |x: i64| x, from_f64: f64_to_i64, from_i64: |v: i64| v);
// Integers narrow by keeping the low bits (C's wrap-around), from int32 for int16 and int8 and
// from int64 for uint8, which is what PyTorch's casts do.
element!(i32, I32, to_f64: |x: i32| x as f64, to_i64: |x: i32| x as i64, from_f64: f64_to_i32, from_i64: |v: i64| v as i32);
element!(i16, I16, to_f64: |x: i16| x as f64, to_i64: |x: i16| x as i64, from_f64: |v: f64| f64_to_i32(v) as i16, from_i64: |v: i64| v as i16);
element!(i8, I8, to_f64: |x: i8| x as f64, to_i64: |x: i8| x as i64, from_f64: |v: f64| f64_to_i32(v) as i8, from_i64: |v: i64| v as i8);
element!(u8, U8, to_f64: |x: u8| x as f64, to_i64: |x: u8| x as i64, from_f64: |v: f64| f64_to_i64(v) as u8, from_i64: |v: i64| v as u8);
element!(bool, Bool, to_f64: |x: bool| x as i64 as f64, to_i64: |x: bool| x as i64, from_f64: |v: f64| v != 0.0, from_i64: |v: i64| v != 0);

/// One element converted from type S to type D, as PyTorch's `.to(dtype)` converts it: a float
/// through `from_f64`, an integer or bool through `from_i64` (exact: int64 above 2^53 survives).
#[inline(always)]
pub fn cast<S: Element, D: Element>(v: S) -> D {
    if S::DTYPE.is_float() { D::from_f64(v.to_f64()) } else { D::from_i64(v.to_i64()) }
}

/// Runs `$body` with `$T` bound to the Rust type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => { type $T = f32; $body }
            $crate::tensor::DType::F64 => { type $T = f64; $body }
            $crate::tensor::DType::I64 => { type $T = i64; $body }
            $crate::tensor::DType::Bool => { type $T = bool; $body }
            $crate::tensor::DType::I32 => { type $T = i32; $body }
            $crate::tensor::DType::I16 => { type $T = i16; $body }
            $crate::tensor::DType::I8 => { type $T = i8; $body }
            $crate::tensor::DType::U8 => { type $T = u8; $body }
            $crate::tensor::DType::F16 => { type $T = ::half::f16; $body }
            $crate::tensor::DType::BF16 => { type $T = ::half::bf16; $body }
        }
    };
}

/// Like `with_dtype!` for float-only kernels; other dtypes return an error naming the op
/// (float16/bfloat16 reach these kernels only where no float32 detour was written: NotImplemented).
#[macro_export]
macro_rules! with_float {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => { type $T = f32; $body }
            $crate::tensor::DType::F64 => { type $T = f64; $body }
            d if d.is_half() => return Err($crate::error::Error::NotImplemented(format!(
                "{}: not implemented for '{}' (convert with .float() first)", $op, d.torch_name()))),
            d => return Err($crate::error::Error::Type(format!(
                "{}: expected a floating point tensor (float32 or float64), got {}", $op, d.name()))),
        }
    };
}

/// Like `with_dtype!` for numeric kernels (no bool; float16/bfloat16 compute in float32 before
/// reaching one).
#[macro_export]
macro_rules! with_numeric {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => { type $T = f32; $body }
            $crate::tensor::DType::F64 => { type $T = f64; $body }
            $crate::tensor::DType::I64 => { type $T = i64; $body }
            $crate::tensor::DType::I32 => { type $T = i32; $body }
            $crate::tensor::DType::I16 => { type $T = i16; $body }
            $crate::tensor::DType::I8 => { type $T = i8; $body }
            $crate::tensor::DType::U8 => { type $T = u8; $body }
            d => return Err($crate::error::Error::NotImplemented(format!(
                "{}: not implemented for '{}'", $op, d.torch_name()))),
        }
    };
}

/// Like `with_dtype!` for integer kernels (bitwise ops, integer division).
#[macro_export]
macro_rules! with_integer {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::I64 => { type $T = i64; $body }
            $crate::tensor::DType::I32 => { type $T = i32; $body }
            $crate::tensor::DType::I16 => { type $T = i16; $body }
            $crate::tensor::DType::I8 => { type $T = i8; $body }
            $crate::tensor::DType::U8 => { type $T = u8; $body }
            d => return Err($crate::error::Error::NotImplemented(format!(
                "{}: not implemented for '{}'", $op, d.torch_name()))),
        }
    };
}

/// `v` as float32, when T is (the float32-only kernels' entry: packed products, recurrent steps).
pub fn as_f32<T: Element>(v: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (its dtype says so), so the cast is the identity.
    (T::DTYPE == DType::F32).then(|| unsafe { std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()) })
}

/// `as_f32`, mutably.
pub fn as_f32_mut<T: Element>(v: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as `as_f32`; `v` is borrowed mutably for the result's lifetime.
    (T::DTYPE == DType::F32).then(|| unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut f32, v.len()) })
}

pub fn require_float(dtype: DType, op: &str) -> Result<()> {
    if !dtype.is_float() {
        bail!(Type, "{op}: expected a floating point tensor (float32 or float64), got {}", dtype.name());
    }
    Ok(())
}

/// Types with + - * (the numeric dtypes). On integers they wrap around, as PyTorch's do
/// (uint8 200 * 2 is 144); on floats they are IEEE's.
pub trait Numeric: Element + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Mul<Output = Self> {
    fn wrapping_add(self, o: Self) -> Self;
    fn wrapping_sub(self, o: Self) -> Self;
    fn wrapping_mul(self, o: Self) -> Self;
}
macro_rules! numeric {
    (float: $($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline(always)]
            fn wrapping_add(self, o: Self) -> Self { self + o }
            #[inline(always)]
            fn wrapping_sub(self, o: Self) -> Self { self - o }
            #[inline(always)]
            fn wrapping_mul(self, o: Self) -> Self { self * o }
        }
    )*};
    (int: $($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline(always)]
            fn wrapping_add(self, o: Self) -> Self { <$t>::wrapping_add(self, o) }
            #[inline(always)]
            fn wrapping_sub(self, o: Self) -> Self { <$t>::wrapping_sub(self, o) }
            #[inline(always)]
            fn wrapping_mul(self, o: Self) -> Self { <$t>::wrapping_mul(self, o) }
        }
    )*};
}
numeric!(float: f32, f64);
numeric!(int: i64, i32, i16, i8, u8);

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::tensor::{Layout, Storage, Tensor};

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn foreign_memory_is_shared_and_released_with_the_storage() {
        let mut lent = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let released = Arc::new(AtomicBool::new(false));
        let before = crate::tensor::memory_allocated();
        // SAFETY: `lent` outlives the tensor (dropped at the end of the test, after `t`).
        let data = unsafe { Data::foreign(lent.as_mut_ptr(), lent.len(), Box::new(Flag(released.clone()))) };
        let storage = Arc::new(Storage::new(f32::from_data(data)));
        assert_eq!(storage.data_ptr(), lent.as_ptr() as *const u8, "no copy");
        // A strided view over it: every other element of the 2 x 3 matrix's columns.
        let t = Tensor::from_storage(storage, Layout { shape: vec![2, 2], strides: vec![3, 2], offset: 0 }).unwrap();
        assert_eq!(t.to_vec::<f32>(), [1.0, 3.0, 4.0, 6.0]);
        assert_eq!(crate::tensor::memory_allocated(), before, "foreign bytes are not ferrograd's");
        assert!(!released.load(Ordering::SeqCst));
        let copy = t.deep_copy();
        drop(t);
        assert!(released.load(Ordering::SeqCst));
        assert_eq!(copy.to_vec::<f32>(), [1.0, 3.0, 4.0, 6.0]);
        lent[0] = 0.0;
    }

    #[test]
    fn views_past_the_shared_memory_are_refused() {
        let s = Arc::new(Storage::new(f64::into_buffer(vec![0.0; 6])));
        assert!(Tensor::from_storage(s.clone(), Layout { shape: vec![2, 3], strides: vec![3, 1], offset: 0 }).is_ok());
        assert!(Tensor::from_storage(s.clone(), Layout { shape: vec![2, 3], strides: vec![4, 1], offset: 0 }).is_err());
        assert!(Tensor::from_storage(s, Layout { shape: vec![0, 3], strides: vec![100, 1], offset: 0 }).is_ok());
    }

    #[test]
    fn small_buffers_are_copied_to_an_aligned_address() {
        for n in [0usize, 1, 3, 15] {
            let t = Tensor::from_vec(vec![7i32; n], &[n]).unwrap();
            assert_eq!(t.storage().data_ptr() as usize % super::super::alloc::ALIGN, 0, "{n}");
            assert_eq!(t.to_vec::<i32>(), vec![7; n]);
        }
    }
}
