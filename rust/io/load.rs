//! Load: the header is checked against the file's size and field by field before anything is
//! allocated from it, then each tensor is read in 1 MiB chunks straight into its own buffer
//! (never the whole file at once: no second copy of the weights, and no mmap that a file
//! truncated under it could turn into SIGBUS).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};

use super::{dtype, header, io_error};
use crate::bail;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The safetensors crate's own limit on the header.
const MAX_HEADER: u64 = 100_000_000;
/// Read size; a multiple of every element size so a chunk never splits an element.
const CHUNK: usize = 1 << 20;

pub struct Loaded {
    /// In file order (by offset).
    pub tensors: Vec<(String, Tensor)>,
    /// The header's `__metadata__` (string to string).
    pub metadata: HashMap<String, String>,
}

/// Reads a safetensors file. Every problem with the file is a ValueError naming the file and
/// what is wrong; failing to open or read it is an OSError.
pub fn load(path: &Path) -> Result<Loaded> {
    let shown = path.display();
    let named = |e: Error| match e {
        Error::Value(m) => Error::Value(format!("load: '{shown}' is not a valid safetensors file: {m}")),
        other => other,
    };
    let mut file = File::open(path).map_err(|e| io_error("load", path, e))?;
    let file_len = file.metadata().map_err(|e| io_error("load", path, e))?.len();
    let (header_len, header) = read_header(&mut file, file_len, path).map_err(named)?;
    let data_start = 8 + header_len;
    let data_len = file_len - data_start;
    header::check(&header, data_len).map_err(named)?;
    let meta: Metadata = serde_json::from_str(&header).map_err(|e| named(Error::Value(format!("invalid header: {e}"))))?;
    if meta.data_len() as u64 != data_len {
        return Err(named(Error::Value(format!("the tensors cover {} bytes of a {data_len}-byte data section", meta.data_len()))));
    }
    let names = meta.offset_keys();
    let mut staging = vec![0u8; CHUNK.min(data_len as usize)];
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let Some(info) = meta.info(&name) else { bail!(Runtime, "load: tensor {name:?} listed but not found") };
        file.seek(SeekFrom::Start(data_start + info.data_offsets.0 as u64)).map_err(|e| io_error("load", path, e))?;
        let t = read_tensor(&mut file, info, &mut staging).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => named(Error::Value(format!("the file ended while reading tensor {name:?} (was it truncated while loading?)"))),
            _ => io_error("load", path, e),
        })?;
        tensors.push((name, t.map_err(named)?));
    }
    Ok(Loaded { tensors, metadata: meta.metadata().clone().unwrap_or_default() })
}

/// The header length and text, checked against the file's size before anything is allocated.
fn read_header(file: &mut File, file_len: u64, path: &Path) -> Result<(u64, String)> {
    if file_len < 8 {
        bail!(Value, "{file_len} bytes is shorter than the 8-byte header length");
    }
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|e| io_error("load", path, e))?;
    let n = u64::from_le_bytes(n);
    if n > file_len - 8 {
        bail!(Value, "the header length {n} is larger than the rest of the file ({} bytes): the file is truncated or not safetensors", file_len - 8);
    }
    if n > MAX_HEADER {
        bail!(Value, "the header length {n} is over the format's limit of {MAX_HEADER} bytes");
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(|e| io_error("load", path, e))?;
    match String::from_utf8(header) {
        Ok(s) => Ok((n, s)),
        Err(e) => bail!(Value, "the header is not UTF-8 text ({})", e.utf8_error()),
    }
}

/// One tensor, read chunk by chunk into a buffer sized from the (already checked) header. The
/// outer error is the file's, the inner one the tensor's.
fn read_tensor(file: &mut File, info: &TensorInfo, staging: &mut [u8]) -> std::io::Result<Result<Tensor>> {
    let numel: usize = info.shape.iter().product();
    let Some(mut buf) = dtype::buffer_for(info.dtype, numel) else {
        return Ok(Err(Error::Value(format!("unsupported dtype {:?}", info.dtype))));
    };
    let mut remaining = info.data_offsets.1 - info.data_offsets.0;
    while remaining > 0 {
        let k = remaining.min(staging.len());
        file.read_exact(&mut staging[..k])?;
        dtype::decode(info.dtype, &staging[..k], &mut buf);
        remaining -= k;
    }
    Ok(Tensor::from_buffer(buf, &info.shape))
}
