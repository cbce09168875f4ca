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
use std::time::{Duration, SystemTime};

use super::{dtype, io_error};
use crate::bail;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The safetensors crate's limit on the header (its readers refuse larger ones).
const MAX_HEADER: usize = 100_000_000;
/// A temporary file of ours untouched for this long is stale whatever its writer's pid says (the
/// pid may have been reused, or belong to another machine sharing the folder). A live save
/// writes continuously; only the final fsync pauses, and never for an hour.
const STALE_AFTER: Duration = Duration::from_secs(3600);
/// Marks a temporary file as ferrograd's: `.{target}.ferrograd-{host}-{pid}-{random}.tmp`.
const TAG: &str = "ferrograd-";

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
    let ours = format!(".{target}.{TAG}");
    remove_stale_temporaries(dir, &ours);
    let prefix = format!("{ours}{}-{}-", host_tag(), std::process::id());
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

/// Removes the temporary files earlier saves to this target left when they were killed. Only
/// ours (`{ours}{host}-{pid}-{random}.tmp`, `ours` naming the target) and only stale ones: written
/// on this machine by a process that no longer exists, or untouched for STALE_AFTER. Another
/// save to the same target that is still running keeps its file. Best effort: a file that
/// cannot be read or removed (or that its writer renamed meanwhile) is left alone.
fn remove_stale_temporaries(dir: &Path, ours: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let host = host_tag();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(writer) = name.to_str().and_then(|n| parse_temporary(n, ours)) else { continue };
        let age = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| SystemTime::now().duration_since(t).ok());
        let dead = writer.host == host && writer.pid != std::process::id() && process_is_gone(writer.pid);
        if dead || age.is_some_and(|a| a > STALE_AFTER) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

struct Writer<'a> {
    host: &'a str,
    pid: u32,
}

/// The writer of `name` if it is one of our temporary files for the target `ours` names.
fn parse_temporary<'a>(name: &'a str, ours: &str) -> Option<Writer<'a>> {
    let rest = name.strip_prefix(ours)?.strip_suffix(".tmp")?;
    let mut parts = rest.split('-');
    let (host, pid, random) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = host.len() == 8 && host.bytes().all(|b| b.is_ascii_hexdigit());
    let random_ok = random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric());
    let pid = pid.parse().ok().filter(|_| hex && random_ok && parts.next().is_none())?;
    Some(Writer { host, pid })
}

/// 8 hex digits naming this machine (FNV-1a of its host name), so a pid is only judged on the
/// machine it belongs to.
fn host_tag() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_default();
    let hash = name.trim().bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
    format!("{hash:08x}")
}

/// True only when the process certainly does not exist. Linux answers through /proc; elsewhere
/// (or without /proc) nothing is certain and only age makes a file stale.
fn process_is_gone(pid: u32) -> bool {
    let proc = Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::{parse_temporary, process_is_gone};

    #[test]
    fn only_our_temporaries_for_this_target_are_recognised() {
        let ours = ".m.pt.ferrograd-";
        let w = parse_temporary(".m.pt.ferrograd-0a1b2c3d-4242-Ab9xYz.tmp", ours).expect("ours");
        assert_eq!((w.host, w.pid), ("0a1b2c3d", 4242));
        for other in [
            ".m.pt.ferrograd-0a1b2c3d-4242-Ab9xYz.tmp.keep",
            ".m.pt.ferrograd-0a1b2c3d-4242-Ab9xY.tmp",
            ".m.pt.ferrograd-0a1b2c3d-42x2-Ab9xYz.tmp",
            ".m.pt.ferrograd-0a1b2c3-4242-Ab9xYz.tmp",
            ".m.pt.ferrograd-0a1b2c3d-4242-Ab9xYz-1.tmp",
            ".m.pt.ferrograd-0a1b2c3d--4242-Ab9xYz.tmp",
            ".n.pt.ferrograd-0a1b2c3d-4242-Ab9xYz.tmp",
            ".m.pt.abcdef.tmp",
            ".tmpAbCdEf",
            "m.pt",
        ] {
            assert!(parse_temporary(other, ours).is_none(), "{other}");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_live_process_is_never_judged_gone() {
        assert!(!process_is_gone(std::process::id()));
        assert!(process_is_gone(u32::MAX));
    }
}
