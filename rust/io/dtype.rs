//! The element types of a safetensors file and how each maps to one of ferrograd's dtypes: one
//! to one, for every dtype both have (F16 and BF16 load as float16 and bfloat16, U8 as uint8).

use half::{bf16, f16};
use safetensors::Dtype;

use crate::tensor::{Buffer, DType, Element, Tensor};

/// The ferrograd dtype a file dtype is loaded as; None for those ferrograd cannot hold.
pub fn loaded_as(file: Dtype) -> Option<DType> {
    Some(match file {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I8 => DType::I8,
        Dtype::I16 => DType::I16,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

pub const SUPPORTED: &str = "BOOL, U8, I8, I16, I32, I64, F16, BF16, F32 and F64";

/// The file dtype named `name` in a header, as the safetensors crate spells them.
pub fn parse(name: &str) -> Option<Dtype> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

pub fn file_dtype(d: DType) -> Dtype {
    match d {
        DType::Bool => Dtype::BOOL,
        DType::U8 => Dtype::U8,
        DType::I8 => Dtype::I8,
        DType::I16 => Dtype::I16,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

/// Bytes per element of a dtype ferrograd reads (all whole bytes).
pub fn byte_size(d: Dtype) -> usize {
    d.bitsize() / 8
}

/// An empty buffer of the dtype `file` loads as, with room for `numel` elements.
pub fn buffer_for(file: Dtype, numel: usize) -> Option<Buffer> {
    Some(crate::with_dtype!(loaded_as(file)?, T => T::into_buffer(Vec::with_capacity(numel))))
}

/// An element's little-endian bytes, both ways.
trait LittleEndian: Element {
    const N: usize;
    fn read(bytes: &[u8]) -> Self;
    fn write(self, out: &mut Vec<u8>);
}
macro_rules! little_endian {
    ($($t:ty),*) => {$(
        impl LittleEndian for $t {
            const N: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
little_endian!(u8, i8, i16, i32, i64, f16, bf16, f32, f64);
impl LittleEndian for bool {
    const N: usize = 1;
    // Any non-zero byte is true, as numpy and PyTorch read a bool byte.
    fn read(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    fn write(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// The dtypes' Rust types with their byte order (every dtype has one).
macro_rules! with_le {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::Bool => { type $T = bool; $body }
            DType::U8 => { type $T = u8; $body }
            DType::I8 => { type $T = i8; $body }
            DType::I16 => { type $T = i16; $body }
            DType::I32 => { type $T = i32; $body }
            DType::I64 => { type $T = i64; $body }
            DType::F16 => { type $T = f16; $body }
            DType::BF16 => { type $T = bf16; $body }
            DType::F32 => { type $T = f32; $body }
            DType::F64 => { type $T = f64; $body }
        }
    };
}

/// Appends the whole little-endian elements in `bytes` to `out` (made by `buffer_for(file)`).
pub fn decode(file: Dtype, bytes: &[u8], out: &mut Buffer) {
    let dtype = out.dtype();
    assert_eq!(loaded_as(file), Some(dtype), "decode: buffer {dtype:?} was not made by buffer_for({file:?})");
    with_le!(dtype, T => {
        let v = T::vec_mut(out);
        v.extend(bytes.chunks_exact(T::N).map(T::read));
    })
}

/// A tensor's elements in logical order as little-endian bytes (a copy of one tensor at a time).
pub fn encode(t: &Tensor) -> Vec<u8> {
    with_le!(t.dtype(), T => t.with_view::<T, _>(|v| {
        let c = v.contiguous();
        let mut out = Vec::with_capacity(c.len() * T::N);
        for &x in c.iter() {
            x.write(&mut out);
        }
        out
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_values_convert_exactly() {
        let read = |h: u16| f16::read(&h.to_le_bytes()).to_f32();
        assert_eq!(read(0x3c00), 1.0);
        assert_eq!(read(0xc000), -2.0);
        assert_eq!(read(0x7bff), 65504.0);
        assert_eq!(read(0x0001), 2f32.powi(-24));
        assert_eq!(read(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(read(0x3555), 0.333_251_95);
        assert!(read(0x8000) == 0.0 && read(0x8000).is_sign_negative());
        assert_eq!(read(0x7c00), f32::INFINITY);
        assert_eq!(read(0xfc00), f32::NEG_INFINITY);
        assert!(read(0x7e00).is_nan());
    }

    #[test]
    fn narrow_types_load_as_themselves() {
        let mut b = buffer_for(Dtype::BF16, 2).unwrap();
        decode(Dtype::BF16, &[0x80, 0x3f, 0x40, 0xc0], &mut b);
        assert!(matches!(&b, Buffer::BF16(v) if v[..] == [bf16::from_f32(1.0), bf16::from_f32(-3.0)]));
        let mut b = buffer_for(Dtype::I8, 2).unwrap();
        decode(Dtype::I8, &[0xff, 0x05], &mut b);
        assert!(matches!(&b, Buffer::I8(v) if v[..] == [-1, 5]));
        let mut b = buffer_for(Dtype::U8, 1).unwrap();
        decode(Dtype::U8, &[0xff], &mut b);
        assert!(matches!(&b, Buffer::U8(v) if v[..] == [255]));
        let mut b = buffer_for(Dtype::I32, 1).unwrap();
        decode(Dtype::I32, &(-7i32).to_le_bytes(), &mut b);
        assert!(matches!(&b, Buffer::I32(v) if v[..] == [-7]));
        assert!(buffer_for(Dtype::C64, 1).is_none());
        assert_eq!(parse("BF16"), Some(Dtype::BF16));
        assert_eq!(parse("F128"), None);
    }

    #[test]
    fn every_dtype_round_trips_through_bytes() {
        for d in DType::ALL {
            let t = crate::ops::cast::to_dtype(&Tensor::from_vec(vec![0.0f64, 1.0, -2.0, 100.0], &[4]).unwrap(), d).unwrap();
            let bytes = encode(&t);
            assert_eq!(bytes.len(), 4 * d.size_of());
            let mut b = buffer_for(file_dtype(d), 4).unwrap();
            decode(file_dtype(d), &bytes, &mut b);
            let back = Tensor::from_buffer(b, &[4]).unwrap();
            assert_eq!((back.dtype(), back.to_vec::<f64>()), (d, t.to_vec::<f64>()), "{d:?}");
        }
    }
}
