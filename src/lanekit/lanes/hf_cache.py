"""Models already on disk: the Hugging Face hub cache (`models--ORG--NAME/snapshots/<rev>/…`),
llama.cpp's download cache and model folders — found, and named the way lanes accept them.

    scan(folders) -> list[LocalModel]            # every GGUF file and HF checkpoint folder
    resolve_gguf("Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M") -> Path | None
    snapshot("Qwen/Qwen3-30B-A3B") -> Path | None  # the cached checkpoint folder

A lane's `model:` may be an HF repo id (the snapshot `refs/main` points at, else the newest),
`REPO:QUANT` or `REPO/FILE.gguf` for one GGUF of a repo, or a path to a `models--…` folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from lanekit.errors import ModelError

SPLIT_GGUF = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_QUANT = re.compile(r"(?:^|[-_.])((?:I?Q\d+_[A-Z0-9_]+|Q\d+_\d|F16|BF16|F32|MXFP4(?:_MOE)?|TQ\d_\d))(?=[-_.]|$)",
                    re.IGNORECASE)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_dir() -> Path:
    """The hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface") / "hub"


def llamacpp_cache_dir() -> Path:
    """Where `llama-server -hf` downloads to: $LLAMA_CACHE, else ~/.cache/llama.cpp."""
    return Path(os.environ.get("LLAMA_CACHE") or Path.home() / ".cache" / "llama.cpp").expanduser()


@dataclass(frozen=True)
class LocalModel:
    """One model on disk: a GGUF (the first part of a split one) or an HF checkpoint folder."""

    ref: str                 # what a lane's `model:` takes (a repo-qualified name or a path)
    path: Path               # the GGUF file, or the checkpoint folder
    kind: str                # "gguf" | "checkpoint"
    bytes: int
    repo: str | None = None  # HF repo id when it came from the hub cache
    quant: str | None = None


def repo_of(folder: Path) -> str | None:
    """`models--Qwen--Qwen3-30B-A3B` → `Qwen/Qwen3-30B-A3B` (None for other names)."""
    name = folder.name
    if not name.startswith("models--"):
        return None
    return name[len("models--"):].replace("--", "/", 1)


def _repo_folder(repo: str, hub: Path | None = None) -> Path:
    return (hub or hub_dir()) / ("models--" + repo.replace("/", "--"))


def snapshot(repo_or_folder: str | Path, hub: Path | None = None) -> Path | None:
    """The snapshot folder of a cached repo: the revision refs/main names, else the newest."""
    folder = Path(repo_or_folder).expanduser()
    if not folder.is_dir():
        folder = _repo_folder(str(repo_or_folder), hub)
    if folder.parent.name == "snapshots" and folder.is_dir():
        return folder
    snaps = folder / "snapshots"
    if not snaps.is_dir():
        return None
    with_ref = folder / "refs" / "main"
    if with_ref.is_file():
        rev = snaps / with_ref.read_text().strip()
        if rev.is_dir():
            return rev
    revs = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return revs[0] if revs else None


def quant_of_file(name: str) -> str | None:
    """The quant a GGUF file name states (`Qwen3-30B-A3B-Q4_K_M.gguf` → Q4_K_M)."""
    stem = SPLIT_GGUF.sub(".gguf", name)
    stem = stem[: -len(".gguf")] if stem.lower().endswith(".gguf") else stem
    found = _QUANT.findall(stem)
    return found[-1].upper() if found else None


def _size(path: Path) -> int:
    """Bytes of a file (through the hub's blob symlink), or of every part of a split GGUF."""
    match = SPLIT_GGUF.search(path.name)
    if not match:
        return path.stat().st_size
    prefix = path.name[: match.start()]
    return sum(p.stat().st_size for p in path.parent.glob(f"{prefix}-*-of-{match.group(2)}.gguf"))


def ggufs_in(folder: Path) -> list[Path]:
    """GGUF model files under a folder, split GGUFs by their first part, mmproj files left out."""
    out = []
    for path in sorted(folder.rglob("*.gguf")):
        if "mmproj" in path.name.lower() or path.name.startswith("."):
            continue
        match = SPLIT_GGUF.search(path.name)
        if match and match.group(1) != "00001":
            continue
        out.append(path)
    return out


def resolve_gguf(ref: str, hub: Path | None = None) -> Path | None:
    """The GGUF a repo-style reference names in the hub cache (None when it is not cached).

    `REPO` (the repo's only GGUF), `REPO:QUANT`, `REPO/FILE.gguf`, `hf.co/REPO:QUANT`, or a
    `models--…` folder. A repo with several GGUFs and no quant given raises ModelError listing them.
    """
    ref = ref.strip().removeprefix("hf.co/").removeprefix("huggingface.co/")
    repo, _, quant = ref.partition(":")
    file = None
    if repo.lower().endswith(".gguf") and repo.count("/") >= 2:
        repo, file = repo.rsplit("/", 1)
    if not (_REPO_ID.match(repo) or Path(repo).expanduser().is_dir()):
        return None
    snap = snapshot(repo, hub)
    if snap is None:
        return None
    files = ggufs_in(snap)
    if file:
        hits = [f for f in files if f.name == file]
    elif quant:
        hits = [f for f in files if (quant_of_file(f.name) or "").upper() == quant.upper()]
    else:
        hits = files
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        choices = ", ".join(f"{repo}:{quant_of_file(f.name) or f.name}" for f in hits)
        raise ModelError(f"{repo} holds {len(hits)} GGUF files", fix=f"name one: {choices}")
    return None


def scan(folders: list[Path] | None = None, hub: Path | None = None) -> list[LocalModel]:
    """Every model in the hub cache, llama.cpp's cache and `folders` (sorted by reference)."""
    found: dict[Path, LocalModel] = {}
    hub = hub or hub_dir()
    if hub.is_dir():
        for repo_dir in sorted(hub.glob("models--*")):
            repo, snap = repo_of(repo_dir), snapshot(repo_dir)
            if snap is None or repo is None:
                continue
            ggufs = ggufs_in(snap)
            for path in ggufs:
                quant = quant_of_file(path.name)
                ref = f"{repo}:{quant}" if quant and len(ggufs) > 1 else repo
                found[path.absolute()] = LocalModel(ref, path, "gguf", _size(path), repo, quant)
            if (snap / "config.json").is_file() and any(snap.glob("*.safetensors")):
                size = sum(p.stat().st_size for p in snap.glob("*.safetensors"))
                found[snap.absolute()] = LocalModel(repo, snap, "checkpoint", size, repo, None)
    for folder in [llamacpp_cache_dir(), *(folders or [])]:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            continue
        for path in ggufs_in(folder):
            found.setdefault(path.absolute(), LocalModel(str(path), path, "gguf", _size(path),
                                                        quant=quant_of_file(path.name)))
        for cfg in folder.rglob("config.json"):
            snap = cfg.parent
            if any(snap.glob("*.safetensors")) and "snapshots" not in snap.parts:
                size = sum(p.stat().st_size for p in snap.glob("*.safetensors"))
                found.setdefault(snap.absolute(), LocalModel(str(snap), snap, "checkpoint", size))
    return sorted(found.values(), key=lambda m: m.ref)
