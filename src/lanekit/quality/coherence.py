"""A cheap gibberish gate: a known prompt with a known answer, plus text statistics.

It catches the failure that loads, runs and answers with confident nonsense (modelopt NVFP4
through Marlin on sm_121): no perplexity run, one short request. Tiny models may miss the
answer; the statistics still tell language from noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (prompt, accepted answers as lowercase substrings). Facts a 135M model still gets right.
KNOWN_PROMPTS: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France? Answer with one word.", ("paris",)),
    ("Continue the sequence with the next three numbers: 1, 2, 3, 4,", ("5", "five")),
]
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_VOWELS = set("aeiouyAEIOUY")


@dataclass
class CoherenceResult:
    """Verdict of the gate on one answer: `status` is pass / warn / fail."""

    status: str
    detail: str
    answered: bool
    stats: dict = field(default_factory=dict)


def text_stats(text: str) -> dict:
    """Share of word-like tokens, of words with a vowel, of printable chars, longest repeat run."""
    tokens = text.split()
    words = [t for t in tokens if _WORD.fullmatch(t.strip(".,;:!?()\"'*`-"))]
    voweled = [w for w in words if set(w) & _VOWELS]
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    longest_run = max((len(m.group(0)) for m in re.finditer(r"(.)\1*", text)), default=0)
    repeated = _repeated_ngram_share(tokens)
    return {
        "chars": len(text),
        "tokens": len(tokens),
        "word_share": round(len(words) / len(tokens), 3) if tokens else 0.0,
        "vowel_share": round(len(voweled) / len(words), 3) if words else 0.0,
        "printable_share": round(printable / len(text), 3) if text else 0.0,
        "longest_char_run": longest_run,
        "repeated_trigram_share": repeated,
    }


def _repeated_ngram_share(tokens: list[str], n: int = 3) -> float:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if len(grams) < 4:
        return 0.0
    return round(1 - len(set(grams)) / len(grams), 3)


def looks_like_gibberish(text: str) -> str | None:
    """Why `text` is not language (None when it is). Thresholds are loose on purpose."""
    if not text.strip():
        return "empty answer"
    s = text_stats(text)
    if s["printable_share"] < 0.9:
        return f"{1 - s['printable_share']:.0%} unprintable characters"
    if s["longest_char_run"] >= 12 and s["longest_char_run"] > len(text) / 3:
        return f"one character repeated {s['longest_char_run']} times"
    if s["tokens"] >= 6 and s["word_share"] < 0.4:
        return f"only {s['word_share']:.0%} of tokens are words"
    if s["tokens"] >= 6 and s["vowel_share"] < 0.6:
        return f"only {s['vowel_share']:.0%} of words contain a vowel"
    if s["tokens"] >= 12 and s["repeated_trigram_share"] > 0.6:
        return f"{s['repeated_trigram_share']:.0%} of word trigrams repeat (a loop)"
    return None


def judge(text: str, accepted: tuple[str, ...]) -> CoherenceResult:
    """pass: the known answer is there; warn: language but wrong answer; fail: gibberish/empty."""
    stats = text_stats(text)
    why = looks_like_gibberish(text)
    if why:
        return CoherenceResult("fail", f"gibberish: {why} — {text[:80]!r}", False, stats)
    low = text.lower()
    if any(ans in low for ans in accepted):
        return CoherenceResult("pass", f"answered correctly: {text.strip()[:60]!r}", True, stats)
    return CoherenceResult("warn", f"readable but not the known answer: {text.strip()[:80]!r}", False, stats)
