//! The element types of a safetensors file and how each maps to one of ferrograd's dtypes.

use safetensors::Dtype;

use crate::tensor::{Buffer, DType, Tensor};

/// The ferrograd dtype a file dtype is loaded as; None for those ferrograd cannot hold.
pub fn loaded_as(file: Dtype) -> Option<DType> {
    Some(match file {
        Dtype::F32 | Dtype::F16 | Dtype::BF16 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8 => DType::I64,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

pub const SUPPORTED: &str = "F32, F64, I64 and BOOL, and F16/BF16 (loaded as float32) and I32/I16/I8/U8 (loaded as int64)";

/// The file dtype named `name` in a header, as the safetensors crate spells them.
pub fn parse(name: &str) -> Option<Dtype> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

pub fn file_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I64 => Dtype::I64,
        DType::Bool => Dtype::BOOL,
    }
}

/// Bytes per element of a dtype ferrograd reads (all whole bytes).
pub fn byte_size(d: Dtype) -> usize {
    d.bitsize() / 8
}

/// An empty buffer of the dtype `file` loads as, with room for `numel` elements.
pub fn buffer_for(file: Dtype, numel: usize) -> Option<Buffer> {
    Some(match loaded_as(file)? {
        DType::F32 => Buffer::F32(Vec::with_capacity(numel)),
        DType::F64 => Buffer::F64(Vec::with_capacity(numel)),
        DType::I64 => Buffer::I64(Vec::with_capacity(numel)),
        DType::Bool => Buffer::Bool(Vec::with_capacity(numel)),
    })
}

fn le<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(chunk);
    a
}

/// Appends the whole little-endian elements in `bytes` to `out` (made by `buffer_for(file)`).
pub fn decode(file: Dtype, bytes: &[u8], out: &mut Buffer) {
    match (file, out) {
        (Dtype::F32, Buffer::F32(v)) => v.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(le(c)))),
        (Dtype::F16, Buffer::F32(v)) => v.extend(bytes.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes(le(c))))),
        (Dtype::BF16, Buffer::F32(v)) => v.extend(bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes(le(c)) as u32) << 16))),
        (Dtype::F64, Buffer::F64(v)) => v.extend(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(le(c)))),
        (Dtype::I64, Buffer::I64(v)) => v.extend(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(le(c)))),
        (Dtype::I32, Buffer::I64(v)) => v.extend(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(le(c)) as i64)),
        (Dtype::I16, Buffer::I64(v)) => v.extend(bytes.chunks_exact(2).map(|c| i16::from_le_bytes(le(c)) as i64)),
        (Dtype::I8, Buffer::I64(v)) => v.extend(bytes.iter().map(|&b| b as i8 as i64)),
        (Dtype::U8, Buffer::I64(v)) => v.extend(bytes.iter().map(|&b| b as i64)),
        // Any non-zero byte is true, as numpy and PyTorch read a bool byte.
        (Dtype::BOOL, Buffer::Bool(v)) => v.extend(bytes.iter().map(|&b| b != 0)),
        (f, b) => unreachable!("decode: buffer {:?} was not made by buffer_for({f:?})", b.dtype()),
    }
}

/// A tensor's elements in logical order as little-endian bytes (a copy of one tensor at a time).
pub fn encode(t: &Tensor) -> Vec<u8> {
    fn le_bytes<T: crate::tensor::Element, const N: usize>(t: &Tensor, f: fn(T) -> [u8; N]) -> Vec<u8> {
        t.with_view::<T, _>(|v| {
            let c = v.contiguous();
            let mut out = Vec::with_capacity(c.len() * N);
            for &x in c.iter() {
                out.extend_from_slice(&f(x));
            }
            out
        })
    }
    match t.dtype() {
        DType::F32 => le_bytes(t, f32::to_le_bytes),
        DType::F64 => le_bytes(t, f64::to_le_bytes),
        DType::I64 => le_bytes(t, i64::to_le_bytes),
        DType::Bool => le_bytes(t, |b: bool| [b as u8]),
    }
}

/// IEEE half to single precision (exact: every half is a float).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    match exp {
        // Zero and subnormals: man * 2^-24, exact in f32.
        0 => sign * man as f32 * f32::from_bits(0x3380_0000),
        0x1f => f32::from_bits(((h as u32 & 0x8000) << 16) | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(((h as u32 & 0x8000) << 16) | ((exp + 112) << 23) | (man << 13)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_values_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x8000) == 0.0 && f16_to_f32(0x8000).is_sign_negative());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn narrow_types_widen() {
        let mut b = buffer_for(Dtype::BF16, 2).unwrap();
        decode(Dtype::BF16, &[0x80, 0x3f, 0x40, 0xc0], &mut b);
        assert!(matches!(&b, Buffer::F32(v) if v == &[1.0, -3.0]));
        let mut b = buffer_for(Dtype::I8, 2).unwrap();
        decode(Dtype::I8, &[0xff, 0x05], &mut b);
        assert!(matches!(&b, Buffer::I64(v) if v == &[-1, 5]));
        let mut b = buffer_for(Dtype::U8, 1).unwrap();
        decode(Dtype::U8, &[0xff], &mut b);
        assert!(matches!(&b, Buffer::I64(v) if v == &[255]));
        let mut b = buffer_for(Dtype::I32, 1).unwrap();
        decode(Dtype::I32, &(-7i32).to_le_bytes(), &mut b);
        assert!(matches!(&b, Buffer::I64(v) if v == &[-7]));
        assert!(buffer_for(Dtype::C64, 1).is_none());
        assert_eq!(parse("BF16"), Some(Dtype::BF16));
        assert_eq!(parse("F128"), None);
    }
}
