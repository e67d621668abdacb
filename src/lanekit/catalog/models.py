"""Where shapes come from: GGUF headers, HF config.json files, and the built-in catalog.

`resolve_model` takes whatever a user typed (a path, an HF repo id, a short alias) and returns
one ModelShape, or raises ModelError naming what it tried.
"""

from __future__ import annotations

from pathlib import Path

from lanekit.catalog.gguf_shape import shape_from_gguf
from lanekit.catalog.hf_config import quant_from_config, shape_from_config_path, shape_from_hf_config
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ModelError

__all__ = [
    "ModelShape",
    "catalog_models",
    "quant_from_config",
    "resolve_model",
    "shape_from_config_path",
    "shape_from_gguf",
    "shape_from_hf_config",
]


def _norm(ref: str) -> str:
    return ref.strip().lower().replace("_", "-")


def catalog_models() -> list[ModelShape]:
    """Every built-in catalog entry, in display order."""
    from lanekit.catalog.builtin import CATALOG

    return list(CATALOG)


def find_catalog(ref: str) -> ModelShape | None:
    """The catalog entry whose HF id, alias or name matches `ref` (case-insensitive), else None."""
    key = _norm(ref)
    for shape in catalog_models():
        names = [shape.name, *(shape.aliases or [])] + ([shape.hf_id] if shape.hf_id else [])
        if key in {_norm(n) for n in names}:
            return shape
        if shape.hf_id and key == _norm(shape.hf_id.split("/", 1)[-1]):
            return shape
    return None


def resolve_model(ref: str) -> ModelShape:
    """Shape for a GGUF path, an HF config.json path or folder, a catalog HF id, or an alias.

    Paths win over catalog names. Raises ModelError (with the closest catalog names) when
    nothing matches.
    """
    ref = str(ref).strip()
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".gguf" or (path.is_file() and _is_gguf(path)):
        return shape_from_gguf(path)
    if path.suffix.lower() == ".json" or (path.is_dir() and (path / "config.json").exists()):
        return shape_from_config_path(path)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            return shape_from_gguf(ggufs[0])
    found = find_catalog(ref)
    if found is not None:
        return found
    import difflib

    names = [n for s in catalog_models() for n in [s.hf_id or s.name, *s.aliases]]
    close = difflib.get_close_matches(ref, names, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ModelError(f"unknown model {ref!r}: not a file and not in the catalog",
                     fix=f"{hint}pass a .gguf path, a config.json folder, or a catalog id "
                         "(`lanekit fit --catalog` lists them)")


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False
