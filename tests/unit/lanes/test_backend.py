"""The backend check: a CPU-only llama.cpp build (this machine's real one) on a box whose
nvidia-smi reports a GB10 fails with the rebuild fix; offload facts from the load log and NVML are
judged pass / warn / fail; `gpu_layers: 0` is the CPU on purpose."""

from __future__ import annotations

import pytest
from gpu_tools import GB10, fake_gpu_tools

from lanekit.errors import EngineBroken
from lanekit.lanes.backend import (
    REBUILD_FIX,
    Offload,
    build_devices,
    check_build,
    judge_backend,
    parse_devices,
    parse_offload,
)
from lanekit.lanes.build_plan import Gpu

GB10_GPU = [Gpu(name="NVIDIA GB10", compute_cap="12.1")]
CUDA_DEVICES = ["CUDA0: NVIDIA GB10 (124546 MiB, 119307 MiB free)"]
CUDA_LIST = "ggml_cuda_init: found 1 CUDA devices:\nAvailable devices:\n  " + CUDA_DEVICES[0] + "\n"
LOAD_LOG = """load_tensors: offloading output layer to GPU
load_tensors: offloading 47 repeating layers to GPU
load_tensors: offloaded 49/49 layers to GPU
load_tensors:        CUDA0 model buffer size = 16452.30 MiB
load_tensors:   CPU_Mapped model buffer size =   166.92 MiB
"""


def test_parse_devices_cpu_build_and_cuda_build():
    assert parse_devices("Available devices:\n  (none)\n") == []
    assert parse_devices(CUDA_LIST) == CUDA_DEVICES


def test_parse_offload_reads_layer_count_and_gpu_buffers():
    off = parse_offload(LOAD_LOG)
    assert (off.offloaded_layers, off.total_layers) == (49, 49)
    assert off.gpu_buffer_mib == pytest.approx(16452.30)
    assert parse_offload("warning: no usable GPU found, --gpu-layers option will be ignored").no_usable_gpu


def test_real_cpu_build_lists_no_gpu_device(llama_server):
    assert build_devices(llama_server) == []


def test_real_cpu_build_on_a_gpu_box_fails_with_the_rebuild_fix(llama_server, tmp_path, monkeypatch):
    fake_gpu_tools(tmp_path, monkeypatch, smi=GB10)
    verdict = check_build(llama_server)
    assert verdict.status == "fail" and "CPU-only" in verdict.detail and "NVIDIA GB10" in verdict.detail
    assert verdict.fix == REBUILD_FIX and "./install.sh" in verdict.fix
    assert check_build(llama_server, gpu_layers=0).status == "warn"  # the CPU on purpose


def test_real_cpu_build_on_a_cpu_box_passes(llama_server, tmp_path, monkeypatch):
    fake_gpu_tools(tmp_path, monkeypatch, smi=None)
    monkeypatch.setenv("PATH", str(tmp_path / "fakebin") + ":/usr/bin:/bin")  # no nvidia-smi anywhere
    assert check_build(llama_server).status == "pass"


def test_guard_refuses_a_cpu_build_on_a_gpu_box(llama_server, tmp_path, monkeypatch):
    from lanekit.lanes.engines.llamacpp import LlamaCppEngine
    from lanekit.lanes.spec import parse_lane

    fake_gpu_tools(tmp_path, monkeypatch, smi=GB10)
    spec = parse_lane({"name": "g", "engine": "llamacpp", "model": "smollm2-135m", "binary": llama_server})
    with pytest.raises(EngineBroken) as err:
        LlamaCppEngine().preflight(spec)
    assert "CPU-only" in err.value.message and err.value.fix == REBUILD_FIX
    LlamaCppEngine().preflight(spec.model_copy(update={"gpu_layers": 0}))  # asked for the CPU: allowed


@pytest.mark.parametrize(("offload", "gpu_bytes", "status", "words"), [
    (Offload(offloaded_layers=49, total_layers=49), None, "pass", "49/49 layers offloaded"),
    (Offload(offloaded_layers=30, total_layers=49), None, "warn", "only 30/49"),
    (Offload(offloaded_layers=0, total_layers=49), None, "fail", "no layer offloaded"),
    (Offload(gpu_buffer_mib=2048.0), None, "pass", "2.00 GiB of weights"),
    (None, 17 << 30, "pass", "holds 17.00 GiB"),
    (None, 2 << 30, "warn", "part of the model stays on the CPU"),
    (None, None, "pass", "offloads by default"),
])
def test_judge_offload(offload, gpu_bytes, status, words):
    verdict = judge_backend(GB10_GPU, CUDA_DEVICES, offload=offload, gpu_bytes=gpu_bytes, model_bytes=16 << 30)
    assert verdict.status == status and words in verdict.detail


def test_no_gpu_box_passes_whatever_the_build():
    assert judge_backend([], [], gpu_layers=None).status == "pass"
