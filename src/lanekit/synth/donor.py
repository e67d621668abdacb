"""Tokenizer metadata taken from a donor GGUF, so the synthetic file tokenizes and detokenizes.

Every `tokenizer.*` key is copied with its GGUF type. `pad_to` grows the vocabulary to a
model's own size with `[PAD<n>]` tokens (type UNUSED, what `convert_hf_to_gguf.py` writes for
padded vocabularies), so token_embd / output keep the catalog's exact shape.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf import GGUFValueType, TokenType

from lanekit.errors import ModelError


@dataclass(frozen=True)
class KeyValue:
    """One GGUF metadata entry with its value type (and element type for arrays)."""

    key: str
    value: Any
    vtype: GGUFValueType
    sub_type: GGUFValueType | None = None


_SCALAR = {  # GGUFValueType → struct format (little endian)
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}


class _Cursor:
    """Reads GGUF metadata values from a bytes buffer (the KV section only; tensors are never touched)."""

    def __init__(self, data: bytes | mmap.mmap) -> None:
        self.data, self.pos = data, 0

    def scalar(self, vtype: GGUFValueType) -> Any:
        fmt = _SCALAR[vtype]
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        (n,) = struct.unpack_from("<Q", self.data, self.pos)
        self.pos += 8 + n
        return self.data[self.pos - n:self.pos].decode("utf-8", errors="surrogateescape")

    def value(self, vtype: GGUFValueType) -> tuple[Any, GGUFValueType | None]:
        if vtype == GGUFValueType.STRING:
            return self.string(), None
        if vtype != GGUFValueType.ARRAY:
            return self.scalar(vtype), None
        sub = GGUFValueType(self.scalar(GGUFValueType.UINT32))
        count = self.scalar(GGUFValueType.UINT64)
        if sub == GGUFValueType.STRING:
            return [self.string() for _ in range(count)], sub
        if sub == GGUFValueType.ARRAY:
            return [self.value(GGUFValueType.ARRAY)[0] for _ in range(count)], sub
        fmt = _SCALAR[sub]
        size = struct.calcsize(fmt)
        items = list(struct.unpack_from(f"<{count}{fmt[1]}", self.data, self.pos))
        self.pos += size * count
        return items, sub


def read_metadata(path: str | Path, prefix: str = "") -> list[KeyValue]:
    """The GGUF key-value entries whose key starts with `prefix`, in file order, typed.

    Parses the metadata section directly through mmap (a 49k-token vocabulary in a fraction of
    a second; `gguf.GGUFReader` takes many seconds on the same file). Raises OSError / ValueError
    / struct.error for files that are not GGUF.
    """
    path = Path(path).expanduser()
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if len(data) < 24 or data[:4] != b"GGUF":
            raise ValueError("no GGUF magic")
        version, _n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        cur = _Cursor(data)
        cur.pos = 24
        out = []
        for _ in range(n_kv):
            key = cur.string()
            vtype = GGUFValueType(cur.scalar(GGUFValueType.UINT32))
            value, sub = cur.value(vtype)
            if key.startswith(prefix):
                out.append(KeyValue(key, value, vtype, sub))
    return out


def read_tokenizer(path: str | Path) -> list[KeyValue]:
    """All `tokenizer.*` entries of the donor, in file order; ModelError when there are none."""
    try:
        out = read_metadata(path, "tokenizer.")
    except (OSError, ValueError, struct.error) as exc:
        raise ModelError(f"donor {path} is not a readable GGUF ({exc})",
                         fix="pass --donor with a GGUF that has tokenizer metadata") from exc
    if not any(kv.key == "tokenizer.ggml.tokens" for kv in out):
        raise ModelError(f"donor {path} has no tokenizer.ggml.tokens",
                         fix="pass --donor with a GGUF converted with its tokenizer")
    return out


def vocab_size(entries: list[KeyValue]) -> int:
    """Number of tokens the donor's tokenizer defines."""
    for kv in entries:
        if kv.key == "tokenizer.ggml.tokens":
            return len(kv.value)
    return 0


def pad_vocab(entries: list[KeyValue], size: int) -> list[KeyValue]:
    """Entries with tokens (and their types / scores) padded to `size`; shrinking is refused."""
    have = vocab_size(entries)
    if size < have:
        raise ModelError(f"model vocabulary ({size}) is smaller than the donor's ({have})",
                         fix="use --vocab donor, or a donor with a smaller vocabulary")
    if size == have:
        return list(entries)
    extra = range(have, size)
    out = []
    for kv in entries:
        if kv.key == "tokenizer.ggml.tokens":
            kv = KeyValue(kv.key, list(kv.value) + [f"[PAD{i}]" for i in extra], kv.vtype, kv.sub_type)
        elif kv.key == "tokenizer.ggml.token_type":
            kv = KeyValue(kv.key, list(kv.value) + [int(TokenType.UNUSED)] * len(extra), kv.vtype, kv.sub_type)
        elif kv.key == "tokenizer.ggml.scores":
            kv = KeyValue(kv.key, list(kv.value) + [-1000.0] * len(extra), kv.vtype, kv.sub_type)
        out.append(kv)
    return out


def write_tokenizer_gguf(source: str | Path, out: str | Path) -> Path:
    """A GGUF holding only `source`'s tokenizer (no tensors): a donor small enough to carry to a
    machine that has no embedded model (a lent GPU box)."""
    from gguf import GGUFWriter

    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    writer = GGUFWriter(str(part), "llama")
    for kv in read_tokenizer(source):
        writer.add_key_value(kv.key, kv.value, kv.vtype, kv.sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    part.replace(out)
    return out


def write_donor(src: str | Path, out: str | Path) -> Path:
    """A tokenizer-only GGUF (no tensors, a few MB): every `tokenizer.*` entry of `src`, so a machine
    without the model (a GPU box that reaches no registry) can still write synthetic files."""
    from gguf import GGUFWriter

    entries = read_tokenizer(src)
    arch = next((kv.value for kv in read_metadata(src, "general.architecture")), "llama")
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(out), arch)
    writer.add_name(f"tokenizer donor from {Path(src).name}")
    for kv in entries:
        writer.add_key_value(kv.key, kv.value, kv.vtype, kv.sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
