"""What lanekit knows about each agent harness, in one place: its context floor and where its
config holds the context (Hermes checks the model and its compression model separately).

Every reader — `fit`, the doctor's context check, recipes, the Hermes driver, the profile's
Hermes config — takes these numbers from here.
"""

from __future__ import annotations

from pydantic import BaseModel


class HarnessFacts(BaseModel):
    """One harness: the window it refuses below, the window to serve it, its config keys."""

    name: str
    version: str
    min_context: int          # the harness refuses a model whose window is below this
    serve_context: int        # what a lane should serve per request for it (a power of two above the floor)
    context_keys: tuple[str, ...] = ()
    source: str = ""


HERMES = HarnessFacts(
    name="hermes", version="0.19.0", min_context=64_000, serve_context=65_536,
    context_keys=("model.context_length", "auxiliary.compression.context_length"),
    source="NousResearch/hermes-agent agent/model_metadata.py MINIMUM_CONTEXT_LENGTH = 64_000; the compression "
           "model is checked separately")

HARNESSES: dict[str, HarnessFacts] = {h.name: h for h in (HERMES,)}


def context_floor(harness: str | None) -> int | None:
    """Tokens per request a lane must serve for `harness` (None: no floor known)."""
    facts = HARNESSES.get(harness or "")
    return facts.serve_context if facts else None
