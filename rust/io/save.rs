//! Atomic save: the file is written under a temporary name in the target's folder, flushed to
//! disk, then renamed over the target. A save that fails or is killed midway leaves the previous
//! file untouched, and never a partial file under the target's name.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::Path;

use safetensors::{Dtype, SafeTensorError, View};

use super::{dtype, io_error};
use crate::bail;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One tensor as the safetensors writer sees it; its bytes are made when the writer asks for
/// them, so at most one tensor is copied at a time.
struct Entry<'a>(&'a Tensor);

impl View for Entry<'_> {
    fn dtype(&self) -> Dtype {
        dtype::file_dtype(self.0.dtype())
    }
    fn shape(&self) -> &[usize] {
        self.0.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(dtype::encode(self.0))
    }
    fn data_len(&self) -> usize {
        self.0.numel() * self.0.dtype().size_of()
    }
}

/// Writes `tensors` (names must be unique) and `metadata` (stored in the header's
/// `__metadata__`) to `path` in the safetensors format, atomically.
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
    // Shortened so prefix + random part + suffix stay within a file name's 255 bytes.
    let prefix = format!(".{}.", file_name.to_string_lossy().chars().take(64).collect::<String>());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Created with mode 0o666 so the kernel applies the umask: the mode a plain create would
    // give, read back below (the writer's own temporary file is private, 0o600).
    #[cfg(unix)]
    builder.permissions(<std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666));
    let temp = builder.tempfile_in(dir).map_err(|e| io_error("save", path, e))?.into_temp_path();
    let permissions = std::fs::metadata(&temp).map_err(|e| io_error("save", path, e))?.permissions();
    let entries = tensors.iter().map(|(name, t)| (name.as_str(), Entry(t)));
    let info = (!metadata.is_empty()).then(|| metadata.clone());
    // serialize_to_file writes its own temporary file in the same folder and renames it onto
    // `temp`; on any error it removes it, and dropping `temp` removes ours.
    safetensors::serialize_to_file(entries, info, &temp).map_err(|e| match e {
        SafeTensorError::IoError(e) => io_error("save", path, e),
        other => Error::Value(format!("save: '{}': {other}", path.display())),
    })?;
    std::fs::set_permissions(&temp, permissions).map_err(|e| io_error("save", path, e))?;
    // fsync before the rename: otherwise a crash soon after could leave the new name pointing
    // at data that never reached the disk.
    OpenOptions::new().write(true).open(&temp).and_then(|f| f.sync_all()).map_err(|e| io_error("save", path, e))?;
    temp.persist(path).map_err(|e| io_error("save", path, e.error))?;
    // The rename itself is durable once the folder is synced (not possible on every platform
    // or filesystem; the data is already safe either way).
    if cfg!(unix) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
