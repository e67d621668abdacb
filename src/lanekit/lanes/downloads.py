"""Which file of which repository to download for a catalog model, and how big it is.

Data in `recipes/downloads.yaml`; sizes come from lanekit's own memory estimate of the weights
at that quant (shown with "~"), so the advice never claims a byte count it did not measure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from lanekit.lanes.hf_cache import SPLIT_GGUF
from lanekit.lanes.recipes.data import _load

DEFAULT_QUANT = "Q4_K_M"


@dataclass(frozen=True)
class Download:
    """One file to fetch: `hf download REPO FILE`."""

    model: str              # the catalog model's HF id
    repo: str
    file: str
    quant: str
    approx_bytes: int | None

    @property
    def ref(self) -> str:
        """What a lane's `model:` takes once downloaded."""
        return f"{self.repo}:{self.quant}"

    @property
    def command(self) -> str:
        """The `hf download` line (every part of a split GGUF)."""
        match = SPLIT_GGUF.search(self.file)
        if match:
            return f"hf download {self.repo} --include '{self.file[: match.start()]}-*-of-{match.group(2)}.gguf'"
        return f"hf download {self.repo} {self.file}"

    def line(self) -> str:
        size = f" (~{self.approx_bytes / 1e9:.1f} GB)" if self.approx_bytes else ""
        return f"download {self.repo} {self.file}{size}: {self.command}"


@functools.cache
def table() -> dict[str, dict[str, Any]]:
    """downloads.yaml's models by HF id."""
    return dict(_load("downloads.yaml").get("models") or {})


def _entry(model: str) -> tuple[str, dict[str, Any]] | None:
    key = model.strip().lower()
    for hf_id, body in table().items():
        names = {hf_id.lower(), hf_id.split("/")[-1].lower(), *(c.lower() for c in body.get("checkpoints", []))}
        if key in names:
            return hf_id, body
    return None


def approx_gguf_bytes(model: str, quant: str) -> int | None:
    """Weights of `model` at `quant` by lanekit's estimate (None when it cannot size it)."""
    from lanekit.catalog.memory import estimate_memory
    from lanekit.catalog.models import find_catalog

    shape = find_catalog(model)
    if shape is None:
        return None
    try:
        return int(estimate_memory(shape, ctx=256, parallel=1, engine="llamacpp", quant=quant).weights_bytes)
    except Exception:  # noqa: BLE001 - an unknown quant name: no size rather than a wrong one
        return None


def gguf_download(model: str, quant: str | None = None) -> Download | None:
    """The GGUF to fetch for a catalog model (its default quant, or `quant`), None when unknown."""
    found = _entry(model)
    if found is None or "gguf" not in found[1]:
        return None
    hf_id, body = found
    files = body["gguf"]["files"]
    quant = (quant or (DEFAULT_QUANT if DEFAULT_QUANT in files else next(iter(files)))).upper()
    if quant not in files:
        return None
    return Download(hf_id, body["gguf"]["repo"], files[quant], quant, approx_gguf_bytes(hf_id, quant))


def gguf_advice(model: str) -> str | None:
    """One line: which GGUF to download for `model` and how to point a lane at it (None if unknown)."""
    dl = gguf_download(model)
    if dl is None:
        return None
    return f"llama.cpp needs a GGUF: {dl.line()}, then use model: {dl.ref}"


def ollama_tag(model: str) -> str | None:
    """The Ollama library tag of a catalog model (None when none is known)."""
    found = _entry(model)
    return found[1].get("ollama") if found else None


def all_downloads() -> list[Download]:
    """The default GGUF download of every model in the table."""
    return [dl for hf_id in table() if (dl := gguf_download(hf_id)) is not None]

