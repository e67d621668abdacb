"""A fast GGUF header reader: metadata and the tensor table, never the tensor data.

`gguf.GGUFReader` parses every tokenizer string into numpy objects (8 s for a 49k vocab, far
more for 250k); sizing needs none of them, so large arrays are skipped and only counted. The
table is checked against the file's size: a truncated download (tensor data past the end of
the file) is refused here, before anything sizes it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_KEEP_ARRAY_MAX = 4096  # per-layer arrays are kept; tokenizer vocab/merges are skipped
_MAX_DIMS = 8  # ggml tensors have at most 4 dimensions; more means a corrupt table
_DEFAULT_ALIGNMENT = 32  # GGUF data section alignment unless general.alignment says otherwise


@dataclass(frozen=True)
class SkippedArray:
    """A large array left unread; only its length is known."""

    count: int

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in the table: name, dims, ggml type and exact stored bytes."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    n_elements: int
    n_bytes: int
    offset: int = 0  # from the start of the data section


@dataclass
class GGUFHeader:
    """Metadata key/values and the tensor table of one GGUF file."""

    version: int
    fields: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0  # byte where tensor data begins
    file_bytes: int = 0


class GGUFFormatError(ValueError):
    """The bytes are not a GGUF header this reader understands."""


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise GGUFFormatError("header runs past the end of the file")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        if self.pos + n > len(self.buf):
            raise GGUFFormatError("string runs past the end of the file")
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(raw).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("<Q")
        self.pos += n

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            if count > _KEEP_ARRAY_MAX:
                if etype in _SCALAR:
                    self.pos += count * struct.calcsize(_SCALAR[etype])
                elif etype == _STRING:
                    for _ in range(count):
                        self.skip_string()
                else:
                    for _ in range(count):
                        self.value(etype)
                return SkippedArray(count)
            return [self.value(etype) for _ in range(count)]
        raise GGUFFormatError(f"unknown GGUF value type {vtype}")


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Parse the header of `path` (GGUF v2/v3, little-endian). Raises GGUFFormatError or OSError."""
    import gguf

    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        cur = _Cursor(buf)
        if len(buf) < 24 or bytes(buf[:4]) != b"GGUF":
            raise GGUFFormatError("missing GGUF magic")
        cur.pos = 4
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise GGUFFormatError(f"unsupported GGUF version {version} (big-endian or too old)")
        n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
        header = GGUFHeader(version=version)
        for _ in range(n_kv):
            key = cur.string()
            header.fields[key] = cur.value(cur.unpack("<I"))
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.unpack("<I")
            if n_dims > _MAX_DIMS:
                raise GGUFFormatError(f"tensor {name} claims {n_dims} dimensions (corrupt tensor table)")
            dims = tuple(cur.unpack("<Q") for _ in range(n_dims))
            ttype = cur.unpack("<I")
            offset = cur.unpack("<Q")
            try:
                qtype = gguf.GGMLQuantizationType(ttype)
            except ValueError as exc:
                raise GGUFFormatError(f"tensor {name} has unknown ggml type {ttype}") from exc
            block, type_size = gguf.GGML_QUANT_SIZES[qtype]
            n_el = 1
            for d in dims:
                n_el *= d
            header.tensors.append(TensorInfo(name, dims, qtype.name, n_el, n_el // block * type_size, offset))
        align = header.fields.get("general.alignment")
        align = int(align) if isinstance(align, int) and align > 0 else _DEFAULT_ALIGNMENT
        header.data_start = -(-cur.pos // align) * align
        header.file_bytes = len(buf)
    check_complete(header)
    return header


def check_complete(header: GGUFHeader) -> None:
    """Raise GGUFFormatError when any tensor's data runs past the end of the file (a truncated copy)."""
    if not header.tensors:
        return
    last = max(header.tensors, key=lambda t: t.offset + t.n_bytes)
    end = header.data_start + last.offset + last.n_bytes
    if end > header.file_bytes:
        missing = end - header.file_bytes
        raise GGUFFormatError(f"truncated: tensor {last.name} ends at byte {end:,}, {missing:,} bytes past the "
                              f"end of the file ({header.file_bytes:,} bytes)")
