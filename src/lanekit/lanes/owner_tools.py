"""The owner's own engines and harness, recorded once and used by default: their llama-server
build, their vLLM container image, their `hermes`.

`LLAMA_SERVER=… VLLM_IMAGE=… HERMES=… ./install.sh` records them in `$LANEKIT_HOME/owner-tools.json`
(through `python -m lanekit.lanes.owner_tools record KIND VALUE`); lanes and the Hermes driver read
them back with `recorded(kind)`. An explicit spec field or environment variable still wins.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Literal

from lanekit.errors import ConfigError

Kind = Literal["llama_server", "vllm_image", "hermes"]
KINDS: dict[str, str] = {"llama_server": "LLAMA_SERVER", "vllm_image": "VLLM_IMAGE", "hermes": "HERMES"}


def _path() -> Path:
    from lanekit.dirs import home

    return home() / "owner-tools.json"


def load() -> dict[str, str]:
    """Every recorded tool by kind ({} when none)."""
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if k in KINDS and isinstance(v, str)} if isinstance(data, dict) else {}


def recorded(kind: Kind) -> str | None:
    """The owner's tool of this kind, None when none was recorded (or a recorded binary is gone)."""
    value = load().get(kind)
    if value and kind != "vllm_image" and not (Path(value).is_file() and os.access(value, os.X_OK)):
        return None
    return value


def validate(kind: str, value: str) -> str:
    """The value to record; ConfigError naming the variable when it is unusable."""
    if kind not in KINDS:
        raise ConfigError(f"unknown tool kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    var = KINDS[kind]
    value = value.strip()
    if not value:
        raise ConfigError(f"{var} is empty", fix=f"unset {var} or give it a value")
    if kind == "vllm_image":
        if any(c.isspace() for c in value):
            raise ConfigError(f"{var}={value!r} is not an image reference", fix="e.g. VLLM_IMAGE=nvcr.io/nvidia/vllm:26.05.post1-py3")
        return value
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ConfigError(f"{var}={value}: not an executable file", fix=f"point {var} at your {kind.replace('_', '-')} binary")
    return str(path.absolute())  # not resolve(): a venv's bin/hermes may be a symlink that must stay one


def record(kind: str, value: str) -> str:
    """Validate and record one tool (atomic write); returns the recorded value."""
    value = validate(kind, value)
    data = load()
    data[kind] = value
    path = _path()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return value


def forget(kind: str) -> None:
    """Drop a recorded tool (lanekit's own is used again)."""
    data = load()
    if data.pop(kind, None) is not None:
        _path().write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    """`record KIND VALUE` | `forget KIND` | `show`; errors print one line and exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) == 3 and args[0] == "record":
            print(record(args[1], args[2]))
        elif len(args) == 2 and args[0] == "forget":
            forget(args[1])
        elif args == ["show"]:
            print(json.dumps(load(), indent=2, sort_keys=True))
        else:
            print("usage: python -m lanekit.lanes.owner_tools record KIND VALUE | forget KIND | show", file=sys.stderr)
            return 2
    except ConfigError as exc:
        print(f"error: {exc.message}\n  fix: {exc.fix}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
