"""A Hugging Face hub cache laid out as the hub writes it (`models--ORG--NAME/snapshots/<rev>/…`,
each file a symlink to a blob), with the real embedded SmolLM2 GGUF behind the .gguf names."""

from __future__ import annotations

from pathlib import Path

from lanekit.lanes.embedded import model_path


def hub_repo(hub: Path, repo: str, files: dict[str, str | None], rev: str = "abc123", main: bool = True) -> Path:
    """One repo in `hub`: a file whose content is None is the real SmolLM2 GGUF; returns its folder."""
    folder = hub / ("models--" + repo.replace("/", "--"))
    snap, blobs = folder / "snapshots" / rev, folder / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir(exist_ok=True)
    if main:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(rev)
    for i, (name, content) in enumerate(files.items()):
        blob = blobs / f"blob{rev}{i}"
        if content is None:
            blob.symlink_to(model_path("smollm2-135m"))
        else:
            blob.write_text(content)
        (snap / name).symlink_to(f"../../blobs/{blob.name}")
    return folder
