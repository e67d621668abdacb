"""The text perplexity is measured on: a public-domain corpus shipped with lanekit, or a file.

Every result carries the corpus' sha256, so two numbers are comparable only when that hash
(and the token-id hash) match. The shipped corpus is pinned: a changed byte fails loudly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lanekit.errors import ConfigError

DEFAULT_CORPUS = "pd-en-v1"


@dataclass(frozen=True)
class Corpus:
    """One text: its name, file, sha256 and size."""

    name: str
    path: Path
    sha256: str
    n_bytes: int
    license: str

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def _manifest() -> dict:
    return json.loads(resources.files("lanekit.quality").joinpath("corpus/manifest.json").read_text())


def shipped_corpora() -> list[str]:
    """Names of the corpora inside the package."""
    return sorted(_manifest()["corpora"])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_corpus(ref: str | None = None) -> Corpus:
    """A shipped corpus by name (default pd-en-v1) or a UTF-8 text file by path."""
    ref = ref or DEFAULT_CORPUS
    entries = _manifest()["corpora"]
    if ref in entries:
        entry = entries[ref]
        path = Path(str(resources.files("lanekit.quality").joinpath(f"corpus/{entry['file']}")))
        sha = file_sha256(path)
        if sha != entry["sha256"]:
            raise ConfigError(f"corpus {ref}: {path} has sha256 {sha[:12]}…, the package pins {entry['sha256'][:12]}…",
                              fix="reinstall lanekit (the shipped corpus was modified)")
        return Corpus(ref, path, sha, path.stat().st_size, entry["license"])
    path = Path(ref).expanduser()
    if not path.is_file():
        raise ConfigError(f"corpus: {ref!r} is neither a shipped corpus nor a file",
                          fix=f"pass a text file or one of: {', '.join(entries)}")
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"corpus: {path} is not UTF-8 text", fix="pass a plain UTF-8 text file") from None
    return Corpus(path.name, path.resolve(), file_sha256(path), path.stat().st_size, "user-supplied")
