"""The zip container of PyTorch's ``.pt`` files, read entry by entry with every entry checked.

Entries are read by this module, not `zipfile` (which only parses the central directory): each
entry's local header must agree with its central record, the entry must be stored, unencrypted
and inside the file, and its CRC-32 must match (torch writes 0 when told not to compute it).
Every way a zip can be wrong is a ValueError naming the entry and the problem.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib

from . import _core


class _Corrupt(ValueError):
    """A file whose contents contradict themselves; `load` adds the file's name."""


# Local file header: signature, version, flags, method, time, date, CRC-32, compressed size,
# size, name length, extra length.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
# General-purpose flag bits that change how an entry's bytes must be read; torch.save sets only
# bit 3 (sizes in a data descriptor) and bit 11 (UTF-8 names).
_UNREADABLE_FLAGS = {0x1: "encrypted", 0x20: "patched data", 0x40: "strongly encrypted", 0x2000: "masked (encrypted central directory)"}
_CRC_CHUNK = 1 << 20


class _Entry:
    """A checked zip entry: where its bytes are in the file, and how many."""

    __slots__ = ("name", "start", "size")

    def __init__(self, name: str, start: int, size: int):
        self.name, self.start, self.size = name, start, size


class _Archive:
    """The zip's entries, each checked before it is read: stored (torch.save never compresses, and
    a compressed entry could expand without bound), unencrypted, its local header in agreement
    with the central directory, its bytes inside the file and before the central directory, its
    CRC-32 right. Also keeps the budget of bytes the tensors may take once copied."""

    def __init__(self, zf: zipfile.ZipFile, fh):
        self.zf, self.fh, self.size = zf, fh, fh.seek(0, os.SEEK_END)
        self.entries: dict[str, _Entry] = {}
        self.storages: dict[tuple[str, str], _core.Tensor] = {}  # (entry, kind) -> its tensor, once read
        names = zf.namelist()
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise _Corrupt(f"the zip has two entries named '{twice}'")
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            found = "no" if not pkls else f"{len(pkls)}"
            raise _Corrupt(f"not a torch.save file: the zip has {found} '<archive>/data.pkl' entries")
        self.prefix = pkls[0][: -len("data.pkl")]
        order = self.read_whole("byteorder") if self.prefix + "byteorder" in zf.NameToInfo else b"little"
        if order not in (b"little", b"big"):
            raise _Corrupt(f"unknown byte order {order[:16]!r}")
        self.endian = "<" if order == b"little" else ">"
        # Storages are read once and their tensors are views of them; a tensor whose dtype
        # differs from its storage's is copied out instead (in the file's element size). What
        # is read and copied is charged against a bound on the file's size, a generous one.
        self.budget = 4 * self.size + (8 << 20)

    def info(self, name: str) -> _Entry:
        full = self.prefix + name
        if full in self.entries:
            return self.entries[full]
        info = self.zf.NameToInfo.get(full)
        if info is None:
            raise _Corrupt(f"entry '{full}' is missing")
        what = [w for bit, w in _UNREADABLE_FLAGS.items() if info.flag_bits & bit]
        if what:
            raise _Corrupt(f"entry '{full}' is {' and '.join(what)} (flags 0x{info.flag_bits:04x}), which torch.save never writes")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Corrupt(f"entry '{full}' is compressed, which torch.save never does (method {info.compress_type})")
        if info.compress_size != info.file_size:
            raise _Corrupt(f"entry '{full}' is stored but its sizes differ ({info.compress_size} bytes stored, {info.file_size} claimed)")
        header = self.read_at(info.header_offset, _LOCAL_HEADER.size, full)
        sig, _, flags, method, _, _, crc, csize, size, name_len, extra_len = _LOCAL_HEADER.unpack(header)
        if sig != b"PK\x03\x04":
            raise _Corrupt(f"entry '{full}': no local file header at byte {info.header_offset}")
        if method != info.compress_type or (flags ^ info.flag_bits) & (0x1 | 0x8 | 0x20 | 0x40):
            raise _Corrupt(
                f"entry '{full}': its local header (method {method}, flags 0x{flags:04x}) disagrees with the central "
                f"directory (method {info.compress_type}, flags 0x{info.flag_bits:04x})"
            )
        local_name = self.read_at(info.header_offset + _LOCAL_HEADER.size, name_len, full)
        if local_name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
            raise _Corrupt(f"entry '{full}': its local header names it {local_name[:80]!r}")
        # Without a data descriptor (flag bit 3) the local header carries the real CRC and sizes
        # (0xFFFFFFFF: the sizes are in a zip64 extra field instead).
        sizes_differ = 0xFFFFFFFF not in (csize, size) and (csize, size) != (info.compress_size, info.file_size)
        if not flags & 0x8 and (crc != info.CRC or sizes_differ):
            raise _Corrupt(
                f"entry '{full}': its local header (CRC {crc:08x}, {size} bytes) disagrees with the central directory "
                f"(CRC {info.CRC:08x}, {info.file_size} bytes)"
            )
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if start + info.file_size > self.zf.start_dir:
            raise _Corrupt(
                f"entry '{full}' claims {info.file_size} bytes from byte {start}, past the start of the central directory "
                f"at byte {self.zf.start_dir} (truncated or corrupt file)"
            )
        entry = _Entry(full, start, info.file_size)
        self.check_crc(entry, info.CRC)
        self.entries[full] = entry
        return entry

    def check_crc(self, entry: _Entry, want: int) -> None:
        # torch.save(..., ) after torch.serialization.set_crc32_options(False) records 0.
        if want == 0:
            return
        crc, done = 0, 0
        while done < entry.size:
            n = min(_CRC_CHUNK, entry.size - done)
            crc = zlib.crc32(self.read_at(entry.start + done, n, entry.name), crc)
            done += n
        if crc != want:
            raise _Corrupt(f"entry '{entry.name}' fails its CRC-32 check (recorded {want:08x}, computed {crc:08x}): the file is corrupt")

    def read_whole(self, name: str) -> bytes:
        entry = self.info(name)
        return self.read(entry, 0, entry.size)

    def read(self, entry: _Entry, start: int, nbytes: int) -> bytes:
        if start + nbytes > entry.size:
            raise _Corrupt(f"bytes {start}..{start + nbytes} asked of entry '{entry.name}', which holds {entry.size}")
        return self.read_at(entry.start + start, nbytes, entry.name)

    def read_at(self, pos: int, nbytes: int, what: str) -> bytes:
        # Never allocates more than the file holds: the read size is checked first.
        if pos < 0 or pos + nbytes > self.size:
            raise _Corrupt(f"entry '{what}': bytes {pos}..{pos + nbytes} lie past the end of the file ({self.size} bytes)")
        self.fh.seek(pos)
        data = self.fh.read(nbytes)
        if len(data) != nbytes:
            raise _Corrupt(f"entry '{what}': the file ended at byte {pos + len(data)} (was it truncated while loading?)")
        return data

    def charge(self, nbytes: int, what: str) -> None:
        if nbytes > self.budget:
            raise _Corrupt(
                f"{what} takes {nbytes} bytes, and with what was read before it more than a file of {self.size} "
                f"bytes can justify (up to 4 x the file's size + 8 MiB); refusing to allocate it"
            )
        self.budget -= nbytes
