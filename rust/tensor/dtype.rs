//! Element types and the typed buffer a storage holds.

use crate::bail;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Bool,
    I64,
    F32,
    F64,
}

impl DType {
    /// The name as printed in reprs and error messages (PyTorch's, under ferrograd).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "ferrograd.bool",
            DType::I64 => "ferrograd.int64",
            DType::F32 => "ferrograd.float32",
            DType::F64 => "ferrograd.float64",
        }
    }
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
    /// PyTorch's scalar-type name, as its dtype error messages print it ("Float", "Long").
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::Bool => "Bool",
            DType::I64 => "Long",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
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
            DType::Bool => 1,
            DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
    /// Type promotion between two tensors, as torch.result_type: bool < int64 < float32 < float64.
    pub fn promote(self, other: DType) -> DType {
        fn rank(d: DType) -> u8 {
            match d {
                DType::Bool => 0,
                DType::I64 => 1,
                DType::F32 => 2,
                DType::F64 => 3,
            }
        }
        if rank(self) >= rank(other) { self } else { other }
    }
}

/// A Python scalar's category; a scalar only changes a tensor's dtype when its category is higher
/// (int tensor * 0.5 -> float32; float32 tensor * 2 -> float32), as in PyTorch.
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
    /// The dtype of the 0-d tensor the scalar becomes next to a tensor of dtype `tensor`: the
    /// tensor's own dtype within a category, the default dtype of a higher category. A bool stays
    /// bool, so ops that refuse bool operands (`x - True`) see one, as PyTorch's do.
    pub fn result_dtype(self, tensor: DType) -> DType {
        match (self, tensor) {
            (Scalar::Float(_), DType::Bool | DType::I64) => DType::F32,
            (Scalar::Int(_), DType::Bool) => DType::I64,
            (Scalar::Bool(_), _) => DType::Bool,
            (_, d) => d,
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, Scalar::Float(_))
    }
}

pub trait Element: Copy + Send + Sync + Default + PartialOrd + PartialEq + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn slice(b: &Buffer) -> &[Self];
    fn slice_mut(b: &mut Buffer) -> &mut [Self];
    fn into_buffer(v: Vec<Self>) -> Buffer;
}

/// f32 and f64: the dtypes with autograd.
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

macro_rules! element {
    ($t:ty, $variant:ident, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                $to(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            fn slice(b: &Buffer) -> &[Self] {
                match b {
                    Buffer::$variant(v) => v,
                    _ => unreachable!("buffer dtype checked by Tensor"),
                }
            }
            fn slice_mut(b: &mut Buffer) -> &mut [Self] {
                match b {
                    Buffer::$variant(v) => v,
                    _ => unreachable!("buffer dtype checked by Tensor"),
                }
            }
            fn into_buffer(v: Vec<Self>) -> Buffer {
                Buffer::$variant(v)
            }
        }
    };
}
element!(f32, F32, |x: f32| x as f64, |v: f64| v as f32);
element!(f64, F64, |x: f64| x, |v: f64| v);
element!(i64, I64, |x: i64| x as f64, |v: f64| v as i64);
element!(bool, Bool, |x: bool| x as i64 as f64, |v: f64| v != 0.0);

#[derive(Debug, Clone)]
pub enum Buffer {
    Bool(Vec<bool>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Buffer {
    pub fn dtype(&self) -> DType {
        match self {
            Buffer::Bool(_) => DType::Bool,
            Buffer::I64(_) => DType::I64,
            Buffer::F32(_) => DType::F32,
            Buffer::F64(_) => DType::F64,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Buffer::Bool(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `n` copies of `value`; an allocation the machine refuses unwinds with `alloc::OutOfMemory`
    /// (see `tensor::alloc`), which the binding layer reports as RuntimeError.
    pub fn filled(dtype: DType, n: usize, value: f64) -> Buffer {
        use super::alloc::filled as fill;
        match dtype {
            DType::Bool => Buffer::Bool(fill(n, value != 0.0)),
            DType::I64 => Buffer::I64(fill(n, value as i64)),
            DType::F32 => Buffer::F32(fill(n, value as f32)),
            DType::F64 => Buffer::F64(fill(n, value)),
        }
    }
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
        }
    };
}

/// Like `with_dtype!` for float-only kernels; other dtypes return a TypeError naming the op.
#[macro_export]
macro_rules! with_float {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => { type $T = f32; $body }
            $crate::tensor::DType::F64 => { type $T = f64; $body }
            d => return Err($crate::error::Error::Type(format!(
                "{}: expected a floating point tensor (float32 or float64), got {}", $op, d.name()))),
        }
    };
}

/// Like `with_dtype!` for numeric kernels (no bool).
#[macro_export]
macro_rules! with_numeric {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => { type $T = f32; $body }
            $crate::tensor::DType::F64 => { type $T = f64; $body }
            $crate::tensor::DType::I64 => { type $T = i64; $body }
            d => return Err($crate::error::Error::Type(format!(
                "{}: not implemented for {}", $op, d.name()))),
        }
    };
}

pub fn require_float(dtype: DType, op: &str) -> Result<()> {
    if !dtype.is_float() {
        bail!(Type, "{op}: expected a floating point tensor (float32 or float64), got {}", dtype.name());
    }
    Ok(())
}

/// Types with + - * (the numeric dtypes: f32, f64, i64).
pub trait Numeric: Element + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Mul<Output = Self> {}
impl Numeric for f32 {}
impl Numeric for f64 {}
impl Numeric for i64 {}
