"""`lanekit quality` argument errors: one line, exit 2, no traceback; the shipped corpus is pinned."""

from __future__ import annotations

import pytest

from lanekit.cli.main import main
from lanekit.quality.corpus import load_corpus, shipped_corpora


@pytest.mark.parametrize("argv", [["quality"], ["quality", "a.gguf", "--lane", "x"],
                                  ["quality", "--url", "http://127.0.0.1:9/v1"],
                                  ["quality", "smollm2-135m", "--chunks", "1"], ["quality", "smollm2-135m", "--ctx", "8"]])
def test_bad_target_combinations_exit_2_with_a_fix(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "fix:" in err and "Traceback" not in err


def test_an_unknown_corpus_is_a_config_error(capsys):
    assert main(["quality", "smollm2-135m", "--corpus", "/nonexistent.txt"]) == 2
    assert "corpus" in capsys.readouterr().err


def test_the_shipped_corpus_is_public_domain_and_hash_pinned():
    assert shipped_corpora() == ["pd-en-v1"]
    c = load_corpus()
    assert c.license == "public domain" and len(c.sha256) == 64 and c.n_bytes > 600_000
    assert c.text().startswith("The Declaration of Independence")
