//! Atomic save: the file is written under a temporary name in the target's folder, flushed to
//! disk, then renamed over the target. A save that fails or is killed midway leaves the previous
//! file untouched, and never a partial file under the target's name.
//!
//! The file is written here rather than by `safetensors::serialize_to_file`, for two reasons:
//! that function writes its own second temporary file (a killed save left two), and it writes
//! `__metadata__` from a HashMap, whose order changes from process to process (the same save
//! gave different bytes). The layout is the crate's: tensors by descending dtype then name, the
//! header padded with spaces to a multiple of 8 bytes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::{dtype, io_error};
use crate::bail;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The safetensors crate's limit on the header (its readers refuse larger ones).
const MAX_HEADER: usize = 100_000_000;

/// Writes `tensors` (names must be unique) and `metadata` (stored in the header's
/// `__metadata__`) to `path` in the safetensors format, atomically. The same arguments give the
/// same bytes.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: &HashMap<String, String>) -> Result<()> {
    let mut seen = HashSet::with_capacity(tensors.len());
    if let Some((name, _)) = tensors.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        bail!(Value, "save: two tensors are named {name:?}");
    }
    let Some(file_name) = path.file_name() else {
        bail!(Value, "save: '{}' does not name a file", path.display());
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut order: Vec<&(String, Tensor)> = tensors.iter().collect();
    order.sort_by(|(a, x), (b, y)| dtype::file_dtype(y.dtype()).cmp(&dtype::file_dtype(x.dtype())).then(a.cmp(b)));
    let header = header(&order, metadata).map_err(|e| match e {
        Error::Value(m) => Error::Value(format!("save: '{}': {m}", path.display())),
        other => other,
    })?;

    // Shortened so prefix + random part + suffix stay within a file name's 255 bytes.
    let target: String = file_name.to_string_lossy().chars().take(64).collect();
    let prefix = format!(".{target}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Created with mode 0o666 so the kernel applies the umask: the mode a plain create would
    // give (tempfile's default is private, 0o600).
    #[cfg(unix)]
    builder.permissions(<std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666));
    // Dropping `temp` on any error below removes it.
    let temp = builder.tempfile_in(dir).map_err(|e| io_error("save", path, e))?;
    write(temp.as_file(), &header, &order).map_err(|e| io_error("save", path, e))?;
    // fsync before the rename: otherwise a crash soon after could leave the new name pointing
    // at data that never reached the disk.
    temp.as_file().sync_all().map_err(|e| io_error("save", path, e))?;
    temp.persist(path).map_err(|e| io_error("save", path, e.error))?;
    // The rename itself is durable once the folder is synced (not possible on every platform
    // or filesystem; the data is already safe either way).
    if cfg!(unix) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The header text, padded with spaces to a multiple of 8 bytes: `__metadata__` first with its
/// keys sorted, then each tensor in `order` with its byte range.
fn header(order: &[&(String, Tensor)], metadata: &HashMap<String, String>) -> Result<Vec<u8>> {
    // JSON text of a string, a shape, a dtype or the metadata (none of which can fail to encode).
    macro_rules! json {
        ($v:expr) => {
            serde_json::to_string($v).map_err(|e| Error::Value(format!("cannot write the header ({e})")))?
        };
    }
    let mut out = String::from("{");
    if !metadata.is_empty() {
        let sorted: BTreeMap<&String, &String> = metadata.iter().collect();
        out += &format!("\"__metadata__\":{}", json!(&sorted));
    }
    let mut offset = 0usize;
    for (name, t) in order {
        let Some(end) = t.numel().checked_mul(t.dtype().size_of()).and_then(|n| n.checked_add(offset)) else {
            bail!(Value, "tensor {name:?} takes more bytes than a file can hold");
        };
        let comma = if out.len() > 1 { "," } else { "" };
        let (name, file_dtype, shape) = (json!(name), json!(&dtype::file_dtype(t.dtype())), json!(t.shape()));
        out += &format!("{comma}{name}:{{\"dtype\":{file_dtype},\"shape\":{shape},\"data_offsets\":[{offset},{end}]}}");
        offset = end;
    }
    out.push('}');
    let mut bytes = out.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    if bytes.len() > MAX_HEADER {
        bail!(Value, "the header would take {} bytes, over the format's limit of {MAX_HEADER}", bytes.len());
    }
    Ok(bytes)
}

/// The 8-byte header length, the header, then each tensor's bytes (one tensor copied at a time).
fn write(file: &File, header: &[u8], order: &[&(String, Tensor)]) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&(header.len() as u64).to_le_bytes())?;
    w.write_all(header)?;
    for (_, t) in order {
        w.write_all(&dtype::encode(t))?;
    }
    w.flush()
}
