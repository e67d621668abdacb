"""Tokenizer metadata taken from a donor GGUF, so the synthetic file tokenizes and detokenizes.

Every `tokenizer.*` key is copied with its GGUF type. `pad_to` grows the vocabulary to a
model's own size with `[PAD<n>]` tokens (type UNUSED, what `convert_hf_to_gguf.py` writes for
padded vocabularies), so token_embd / output keep the catalog's exact shape.
"""

from __future__ import annotations

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


def read_tokenizer(path: str | Path) -> list[KeyValue]:
    """All `tokenizer.*` entries of the donor, in file order; ModelError when there are none."""
    import gguf

    path = Path(path).expanduser()
    try:
        reader = gguf.GGUFReader(str(path), "r")
    except (OSError, ValueError) as exc:
        raise ModelError(f"donor {path} is not a readable GGUF ({exc})",
                         fix="pass --donor with a GGUF that has tokenizer metadata") from exc
    out = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == GGUFValueType.ARRAY and len(field.types) > 1 else None
        out.append(KeyValue(key, field.contents(), vtype, sub))
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
