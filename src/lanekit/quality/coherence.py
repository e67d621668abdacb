"""The gibberish gate: a known prompt with a known answer, plus statistics that tell language
from noise, with thresholds calibrated on real garbage (benchmarks/quality/gate_report.py).

It catches the lane that loads, runs and answers with confident nonsense (modelopt NVFP4
through Marlin on sm_121): one or two short requests, no perplexity run. Failure modes it
was calibrated on: random-weight `synth` files (sub-word soup, one-word loops), corrupted
tensors, wrong chat templates, wrong RoPE/YaRN, a quant broken past use. Code and number
lists are judged by their own rules, so a healthy coder model's answer is not "noise".
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

# (prompt, accepted answers as lowercase substrings). Facts a 135M model still gets right.
KNOWN_PROMPTS: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France? Answer with one word.", ("paris",)),
    ("Continue the sequence with the next three numbers: 1, 2, 3, 4,", ("5", "five")),
]
# Free prose for the statistics (a one-word answer carries too little evidence).
PROSE_PROMPT = "Write one sentence about the ocean."

# Calibrated on real replies of healthy and broken lanes (tests/unit/quality/data/gate_replies.jsonl,
# benchmarks/quality/gate_report.py): healthy English prose scores -1.8 .. -2.9 per character, lists
# and French down to -3.1; sub-word soup from random or corrupted weights -3.1 .. -4.1.
CHAR_LOGPROB_MIN = -3.2
# Sentences with this share of function words are language whatever their letters look like
# (French "Je m'aime la vie" scores -4.0 per char under the English letter model).
GRAMMAR_OVERRIDES_LETTERS = 0.3
# English prose is ~40% function words; random-vocab soup of real words has almost none.
FUNCTION_WORD_SHARE_MIN = 0.12
# ",-" / ".," clusters per word: healthy replies ~0, broken-attention soup 0.3 and up.
JUNK_PUNCT_PER_WORD_MAX = 0.15
# zlib bytes / text bytes over 80+ characters: loops (wrong RoPE: "a mortal being that is a mortal
# being that is ...", "LaravelLaravel...") compress below 0.3; the most repetitive healthy reply seen
# (a list of weekdays) sits at 0.34.
COMPRESSION_RATIO_MIN = 0.3
MIN_CHARS_FOR_COMPRESSION = 80
MIN_WORDS_FOR_STATS = 8
MIN_CHARS_FOR_CHARMODEL = 24

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*[.,;:!?)]*")
_VOWELS = set("aeiouyAEIOUY")
_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
# an unfenced line of code: a keyword that opens a statement, or indentation followed by one
_CODE_LINE = re.compile(r"^\s*(?:def |class |return\b|import |from \S+ import |function |const |let |var |"
                        r"#include|public |private |fn |if \(|for \(|while \(|print\(|[A-Za-z_][\w.]*\(.*\)\s*[:;{]?\s*$"
                        r"|[{}\[\]();]+\s*$|\s{4,}\S)")
# punctuation that prose never strings together: ",-" ".," ";:" ",," (soup from broken attention)
_JUNK_PUNCT = re.compile(r"[,;:][,.;:-]|[.-][,;:]|,,")
_CHAT_MARKERS = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id)\|>|\[/?INST\]|"
                           r"<start_of_turn>|<end_of_turn>")
FUNCTION_WORDS = frozenset(["a", "an", "the", "and", "or", "but", "nor", "so", "yet", "for", "of", "in", "on", "at", "to", "from", "by", "with", "about", "as", "into", "like", "through", "after", "over", "between", "out", "against", "during", "without", "before", "under", "around", "among", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "have", "has", "had", "having", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them", "my", "your", "his", "its", "our", "their", "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "not", "no", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "only", "own", "same", "than", "too", "very", "just", "also", "if", "then", "because", "while", "until", "up", "down", "off", "again", "once", "one", "two", "three"]
) | frozenset(  # the commonest function words of French, Spanish, German, Italian, Portuguese, Dutch:
    # a healthy model asked to translate answers in them, and random-vocab soup has none in any language
    ["le", "la", "les", "un", "une", "des", "de", "du", "et", "est", "je", "tu", "il", "elle", "nous", "vous", "ils", "ce", "que", "qui", "dans", "pour", "pas", "sur", "au", "el", "los", "las", "y", "es", "en", "que", "por", "con", "una", "del", "al", "se", "lo", "su", "der", "die", "das", "und", "ist", "ich", "du", "er", "sie", "wir", "ein", "eine", "nicht", "mit", "den", "dem", "zu", "il", "di", "che", "non", "per", "una", "sono", "e", "o", "het", "een", "van", "ik", "je", "niet", "op"])


@dataclass
class CoherenceResult:
    """Verdict of the gate on one answer: `status` is pass / warn / fail."""

    status: str
    detail: str
    answered: bool
    stats: dict = field(default_factory=dict)


def split_code(text: str) -> tuple[str, str]:
    """(prose, code): fenced code, inline code and unfenced code lines taken out of the prose."""
    code = [m.group(0) for m in _FENCE.finditer(text)]
    prose = _FENCE.sub(" ", text)
    code += [m.group(0) for m in _INLINE.finditer(prose)]
    prose = _INLINE.sub(" ", prose)
    kept = []
    for line in prose.splitlines():
        (code if _CODE_LINE.match(line) else kept).append(line)
    return "\n".join(kept), "\n".join(code).strip()


def text_stats(text: str) -> dict:
    """Statistics of the prose part of `text` (code blocks set aside)."""
    from lanekit.quality.charmodel import char_logprob

    prose, code = split_code(text)
    tokens = prose.split()
    words = [t for t in tokens if _WORD.fullmatch(t.strip(".,;:!?()\"'*`-[]"))]
    numbers = [t for t in tokens if _NUMBER.fullmatch(t.strip("()[]"))]
    voweled = [w for w in words if set(w) & _VOWELS]
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    longest_run = max((len(m.group(0)) for m in re.finditer(r"(.)\1*", text, re.DOTALL)), default=0)
    lowered = [w.strip(".,;:!?()\"'*`-[]").lower() for w in words]
    top_share = max((lowered.count(w) for w in set(lowered)), default=0) / len(lowered) if lowered else 0.0
    # grammar is judged on sentence-like lines only: lists (days, colours, steps) have no function words
    sentence_words = [w.strip(".,;:!?()\"'*`-[]").lower() for line in prose.splitlines()
                      if len(ws := [t for t in line.split() if _WORD.fullmatch(t.strip(".,;:!?()\"'*`-[]"))]) >= 6
                      for w in ws]
    letters = sum(ch.isalpha() for ch in prose)
    return {
        "chars": len(text),
        "tokens": len(tokens),
        "code_chars": len(code),
        "word_share": round((len(words) + len(numbers)) / len(tokens), 3) if tokens else 0.0,
        "vowel_share": round(len(voweled) / len(words), 3) if words else 0.0,
        "printable_share": round(printable / len(text), 3) if text else 0.0,
        "longest_char_run": longest_run,
        "repeated_trigram_share": _repeated_ngram_share(tokens),
        "top_word_share": round(top_share, 3),
        "function_word_share": (round(sum(w in FUNCTION_WORDS for w in sentence_words) / len(sentence_words), 3)
                                if sentence_words else None),
        "n_words": len(words),
        "n_sentence_words": len(sentence_words),
        # digits and list markers are not evidence either way: the model scores the letters' text
        "char_logprob": (round(v, 3) if letters >= MIN_CHARS_FOR_CHARMODEL
                         and (v := char_logprob(re.sub(r"\d+[.)]?", " ", prose))) is not None else None),
        "chat_markers": bool(_CHAT_MARKERS.search(text)),
        "compression_ratio": (round(len(zlib.compress(text.strip().encode(), 9)) / len(text.strip().encode()), 3)
                              if len(text.strip()) >= MIN_CHARS_FOR_COMPRESSION else None),
        "junk_punct_per_word": round(len(_JUNK_PUNCT.findall(prose)) / max(1, len(words)), 3),
    }


def _repeated_ngram_share(tokens: list[str], n: int = 3) -> float:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if len(grams) < 4:
        return 0.0
    return round(1 - len(set(grams)) / len(grams), 3)


def looks_like_gibberish(text: str) -> str | None:
    """Why `text` is not language (None when it is)."""
    if not text.strip():
        return "empty answer"
    s = text_stats(text)
    if s["printable_share"] < 0.9:
        return f"{1 - s['printable_share']:.0%} unprintable characters"
    if s["longest_char_run"] >= 12 and s["longest_char_run"] > len(text) / 3:
        return f"one character repeated {s['longest_char_run']} times"
    if "\ufffd" in text:
        return "replacement characters: the model emitted bytes that are not UTF-8"
    if s["chat_markers"]:
        return "chat-template markers in the answer (wrong chat template?)"
    if s["tokens"] >= 12 and s["repeated_trigram_share"] > 0.6:
        return f"{s['repeated_trigram_share']:.0%} of word trigrams repeat (a loop)"
    if s["compression_ratio"] is not None and s["compression_ratio"] < COMPRESSION_RATIO_MIN:
        return f"the answer repeats itself (compresses to {s['compression_ratio']:.0%}: a loop)"
    if s["n_words"] >= MIN_WORDS_FOR_STATS and s["top_word_share"] > 0.5:
        return f"one word is {s['top_word_share']:.0%} of the answer (a loop)"
    if s["n_words"] >= 4 and s["junk_punct_per_word"] > JUNK_PUNCT_PER_WORD_MAX:
        return f"punctuation strung together ({s['junk_punct_per_word']:.2f} clusters per word)"
    if s["tokens"] >= 6 and s["word_share"] < 0.4:
        return f"only {s['word_share']:.0%} of tokens are words or numbers"
    if s["n_words"] >= 6 and s["vowel_share"] < 0.6:
        return f"only {s['vowel_share']:.0%} of words contain a vowel"
    grammatical = (s["function_word_share"] or 0.0) >= GRAMMAR_OVERRIDES_LETTERS
    if s["char_logprob"] is not None and s["char_logprob"] < CHAR_LOGPROB_MIN and not grammatical:
        return f"letters do not follow English ({s['char_logprob']:.2f} < {CHAR_LOGPROB_MIN} per char)"
    if s["n_sentence_words"] >= MIN_WORDS_FOR_STATS and s["function_word_share"] < FUNCTION_WORD_SHARE_MIN:
        return f"words without grammar (function words {s['function_word_share']:.0%} < {FUNCTION_WORD_SHARE_MIN:.0%})"
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


def same_reply(a: str, b: str) -> bool:
    """Two answers to different prompts that are (nearly) the same text: the prompt is not reaching
    the model (wrong chat template) or the model ignores it."""
    import difflib

    a, b = a.strip(), b.strip()
    if min(len(a), len(b)) < 20:
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() > 0.9


def probe_verdict(known_reply: str, prose_reply: str | None) -> CoherenceResult:
    """The doctor's verdict on a lane from the known-answer reply and the free-prose reply."""
    verdict = judge(known_reply, KNOWN_PROMPTS[0][1])
    if verdict.status == "fail" or prose_reply is None or not prose_reply.strip():
        return verdict
    why = looks_like_gibberish(prose_reply)
    if why:
        return CoherenceResult("fail", f"gibberish in free prose: {why} — {prose_reply[:60]!r}", False, verdict.stats)
    if same_reply(known_reply, prose_reply):
        return CoherenceResult("fail", "the same answer to two different prompts: the prompt is not reaching the "
                               f"model (wrong chat template?) — {prose_reply[:60]!r}", False, verdict.stats)
    return verdict
