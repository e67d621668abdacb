"""Prompt log-probs from an HTTP lane (vLLM, SGLang, any server that echoes), one window per request.

Each window goes out as token ids, never text, so every lane of one model scores the same
ids. Three request shapes:
- `vllm`: /v1/completions with `prompt_logprobs: k` (ids in the answer: top-1 and KLD work);
- `sglang`: native /generate with `return_logprob`, `logprob_start_len: 0`, `top_logprobs_num`;
- `echo`: /v1/completions with `echo: true, logprobs: k` (lm-eval's request; top-k come back
  keyed by text, so only PPL).
An endpoint that answers without a log-prob for every prompt token is refused: llama-server
rejects echo, and servers that drop prompt log-probs silently give chance-level scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import httpx

from lanekit.errors import ConfigError, EndpointError

Shape = Literal["vllm", "sglang", "echo"]
SHAPE_BY_ENGINE: dict[str, Shape] = {"vllm": "vllm", "vllm-docker": "vllm", "sglang": "sglang"}


@dataclass
class PromptLogprobs:
    """Per prompt position t >= 1: log p(ids[t] | ids[:t]) and the lane's top-k (ids, log-probs)."""

    target: list[float]
    top_ids: list[list[int]] = field(default_factory=list)
    top_logprobs: list[list[float]] = field(default_factory=list)

    @property
    def has_ids(self) -> bool:
        return bool(self.top_ids)


def _root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url.removesuffix("/v1")


def _v1(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def _post(client: httpx.Client, url: str, body: dict) -> dict:
    try:
        resp = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise EndpointError(f"{url}: {type(exc).__name__}: {exc}", fix="check the lane is up (`lanekit ps`)") from None
    if resp.status_code >= 400:
        text = resp.text[:200].replace("\n", " ")
        if "echo" in text.lower():
            raise EndpointError(f"{url} refuses prompt log-probs (HTTP {resp.status_code}: {text})",
                                fix="llama.cpp lanes are measured offline: `lanekit quality --lane NAME` "
                                    "runs llama-perplexity on the lane's GGUF")
        raise EndpointError(f"{url}: HTTP {resp.status_code}: {text}",
                            fix="the endpoint must accept token-id prompts with prompt log-probs")
    try:
        return resp.json()
    except ValueError:
        raise EndpointError(f"{url}: the answer is not JSON", fix="point --url at an OpenAI-compatible server") from None


def _refuse(url: str, got: int, want: int) -> EndpointError:
    return EndpointError(f"{url} returned {got} prompt log-probs for {want} prompt tokens: it does not serve "
                         "prompt log-probs, and scores from it would be chance-level",
                         fix="use vLLM (prompt_logprobs) or SGLang (return_logprob); llama.cpp lanes are "
                             "measured with llama-perplexity (`lanekit quality --lane NAME`)")


def fetch_prompt_logprobs(client: httpx.Client, base_url: str, model: str, ids: list[int], *, shape: Shape,
                          top_k: int = 20) -> PromptLogprobs:
    """Log-probs of every prompt token after the first; EndpointError when any is missing."""
    want = len(ids) - 1
    if shape == "vllm":
        url = f"{_v1(base_url)}/completions"
        doc = _post(client, url, {"model": model, "prompt": ids, "max_tokens": 1, "temperature": 0,
                                  "prompt_logprobs": top_k})
        rows = ((doc.get("choices") or [{}])[0].get("prompt_logprobs") or [])[1:len(ids)]
        return _from_id_maps(url, rows, ids, want)
    if shape == "sglang":
        url = f"{_root(base_url)}/generate"
        doc = _post(client, url, {"input_ids": ids, "return_logprob": True, "logprob_start_len": 0,
                                  "top_logprobs_num": top_k, "sampling_params": {"max_new_tokens": 1,
                                                                                 "temperature": 0}})
        meta = doc.get("meta_info") or {}
        tok = (meta.get("input_token_logprobs") or [])[1:len(ids)]
        tops = (meta.get("input_top_logprobs") or [])[1:len(ids)]
        target = [row[0] for row in tok if row and isinstance(row[0], (int, float))]
        if len(target) != want:
            raise _refuse(url, len(target), want)
        out = PromptLogprobs(target=[float(x) for x in target])
        if len(tops) == want and all(tops):
            out.top_ids = [[int(e[1]) for e in row] for row in tops]
            out.top_logprobs = [[float(e[0]) for e in row] for row in tops]
        return out
    url = f"{_v1(base_url)}/completions"
    doc = _post(client, url, {"model": model, "prompt": ids, "max_tokens": 1, "temperature": 0, "echo": True,
                              "logprobs": min(top_k, 5)})
    lp = ((doc.get("choices") or [{}])[0].get("logprobs") or {}).get("token_logprobs") or []
    target = [x for x in lp[1:len(ids)] if isinstance(x, (int, float))]
    if len(target) != want:
        raise _refuse(url, len(target), want)
    return PromptLogprobs(target=[float(x) for x in target])


def _from_id_maps(url: str, rows: list, ids: list[int], want: int) -> PromptLogprobs:
    """vLLM's `prompt_logprobs`: per position {token_id: {logprob, rank, ...}} incl. the prompt token."""
    if len(rows) != want or any(not isinstance(r, dict) for r in rows):
        raise _refuse(url, sum(isinstance(r, dict) for r in rows), want)
    out = PromptLogprobs(target=[])
    for pos, row in enumerate(rows, start=1):
        entries = {int(k): (v.get("logprob") if isinstance(v, dict) else v) for k, v in row.items()}
        lp = entries.get(ids[pos])
        if not isinstance(lp, (int, float)) or math.isnan(lp):
            raise _refuse(url, pos - 1, want)
        out.target.append(float(lp))
        ranked = sorted(entries.items(), key=lambda kv: -kv[1])
        out.top_ids.append([k for k, _ in ranked])
        out.top_logprobs.append([float(v) for _, v in ranked])
    return out


def server_tokenize(client: httpx.Client, base_url: str, model: str, text: str) -> tuple[list[int], int | None]:
    """(ids with the tokenizer's special prefix, BOS id or None) from the server's /tokenize."""
    url = f"{_root(base_url)}/tokenize"

    def ids_of(body: dict) -> list[int]:
        doc = _post(client, url, body)
        toks = doc.get("tokens")
        if not isinstance(toks, list):
            raise EndpointError(f"{url}: no `tokens` in the answer", fix="pass --base FILE.gguf of the same model; "
                                "lanekit then uses llama.cpp's token ids")
        return [int(t) for t in toks]

    with_special = ids_of({"model": model, "prompt": text, "add_special_tokens": True})
    probe_on = ids_of({"model": model, "prompt": "a", "add_special_tokens": True})
    probe_off = ids_of({"model": model, "prompt": "a", "add_special_tokens": False})
    bos = probe_on[0] if len(probe_on) == len(probe_off) + 1 else None
    return with_special, bos


def shape_for(engine: str | None, explicit: str | None = None) -> Shape:
    """The request shape for an engine, or the one the user named."""
    if explicit:
        if explicit not in ("vllm", "sglang", "echo"):
            raise ConfigError(f"--logprobs: {explicit!r} is not vllm, sglang or echo", fix="pass one of those")
        return explicit  # type: ignore[return-value]
    if engine in SHAPE_BY_ENGINE:
        return SHAPE_BY_ENGINE[engine]
    if engine == "llamacpp":
        raise ConfigError("llama.cpp lanes are measured with llama-perplexity, not over HTTP",
                          fix="use `lanekit quality --lane NAME` or pass the GGUF file")
    raise ConfigError(f"engine {engine or '?'}: lanekit does not know how it serves prompt log-probs",
                      fix="pass --logprobs vllm|sglang|echo for a server that supports one of them")
