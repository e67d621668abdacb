"""Files `fit` must refuse in one line (exit 2), fast: truncated downloads and absurd block counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lanekit.catalog.gguf_header import GGUFFormatError, read_gguf_header
from lanekit.catalog.models import shape_from_gguf
from lanekit.cli.main import main
from lanekit.errors import ModelError


def _tiny(path: Path, block_count: int) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(block_count)
    w.add_context_length(4096)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_feed_forward_length(96)
    w.add_tensor("token_embd.weight", np.zeros((128, 64), dtype=np.float16))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))
    w.add_tensor("blk.0.ffn_down.weight", np.zeros((64, 96), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_truncated_file_is_refused_by_the_header_reader(tmp_path: Path) -> None:
    whole = _tiny(tmp_path / "whole.gguf", 1)
    assert read_gguf_header(whole).file_bytes == whole.stat().st_size
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[:-100])
    with pytest.raises(GGUFFormatError, match="truncated"):
        read_gguf_header(cut)
    with pytest.raises(ModelError, match="incomplete"):
        shape_from_gguf(cut)


def test_fit_on_a_truncated_embedded_model_exits_2_with_one_line(smollm2_gguf: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "smollm2-cut.gguf"
    cut.write_bytes(smollm2_gguf.read_bytes()[: smollm2_gguf.stat().st_size // 2])
    assert main(["fit", str(cut), "--hw", "h100"]) == 2
    err = capsys.readouterr().err
    assert "incomplete" in err and "past the end of the file" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.parametrize("blocks", [2**32 - 1, 10**8])
def test_absurd_block_count_is_rejected_at_once(tmp_path: Path, blocks: int,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # before the check: a MemoryError at 2^32-1, and 23 s / 3 GB of per-layer lists at 1e8
    path = _tiny(tmp_path / "blocks.gguf", blocks)
    assert main(["fit", str(path), "--hw", "h100"]) == 2
    err = capsys.readouterr().err
    assert "block_count" in err and "corrupt" in err and "Traceback" not in err
