"""Rebuild lanekit's shipped public-domain perplexity corpus from two Debian packages.

Sources (both public domain; no hub download):
  miscfiles       /usr/share/state/us-declaration.gz, us-constitution.gz (US government works)
  bible-kjv       the King James Version (1611), read through the `bible` program
Usage (as root, once): apt-get install -y miscfiles bible-kjv
                       python3 benchmarks/quality/build_corpus.py
It writes src/lanekit/quality/corpus/pd-en-v1.txt and prints its sha256. The text is fixed:
every result names the sha256, so a rebuilt corpus that differs by one byte is a new corpus.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "src/lanekit/quality/corpus/pd-en-v1.txt"
STATE = Path("/usr/share/state")
# (title, first verse spec, last verse spec): whole books, in this order.
BOOKS = [("Genesis", "gen1:1", "gen50:26"), ("Exodus", "exo1:1", "exo40:38"),
         ("Luke", "luke1:1", "luke24:53"), ("Acts", "acts1:1", "acts28:31")]
_VERSE = re.compile(r"^[1-3]?[A-Za-z]+(\d+):(\d+) (.*)$")


def _state_doc(name: str) -> str:
    """A miscfiles document with its hard line breaks folded into paragraphs."""
    text = gzip.decompress((STATE / f"{name}.gz").read_bytes()).decode("utf-8")
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paras if p) + "\n"


def _book(title: str, first: str, last: str) -> str:
    """One KJV book: a heading per chapter, each chapter one paragraph of verses."""
    out = subprocess.run(["bible", "-f", f"{first}-{last}"], capture_output=True, text=True, check=True).stdout
    chapters: dict[int, list[str]] = {}
    for line in out.splitlines():
        m = _VERSE.match(line.strip())
        if m:
            chapters.setdefault(int(m.group(1)), []).append(m.group(3).strip())
    parts = [f"The Book of {title}\n"]
    for n, verses in chapters.items():
        parts.append(f"Chapter {n}\n\n{' '.join(verses)}\n")
    return "\n".join(parts)


def main() -> None:
    """Assemble the corpus and print its size and sha256."""
    pieces = [_state_doc("us-declaration"), _state_doc("us-constitution")]
    pieces += [_book(*b) for b in BOOKS]
    text = "\n\n".join(pieces)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT}: {len(text.encode())} bytes sha256 {hashlib.sha256(text.encode()).hexdigest()}")


if __name__ == "__main__":
    main()
