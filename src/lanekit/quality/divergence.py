"""Perplexity, KL divergence and top-1 agreement of a lane against a base, on the same token ids.

The arithmetic is llama-perplexity's `--kl-divergence` (perplexity.cpp `kl_divergence`):
per scored token, NLL of the target under the lane and under the base, KLD(base || lane)
summed over vocab entries whose base log-prob is above -16, "same top p" when both argmax
agree, Δp = p_lane(target) - p_base(target); means carry llama.cpp's ± (standard error).
When the lane only returns its top-k log-probs (HTTP engines), the vocab outside the
lane's top-k is merged into one bin: a lower bound of the full KLD (merging bins never
raises a divergence), reported as `kld_topk`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_BASE_FLOOR = -16.0  # llama.cpp skips base entries at or below this log-prob


def mean_and_uncertainty(total: float, total_sq: float, count: int) -> tuple[float, float]:
    """llama.cpp's mean and standard error of the mean (0 below 11 samples)."""
    if count < 1:
        return math.nan, math.nan
    mean = total / count
    var = total_sq / count - mean * mean
    return mean, math.sqrt(var / (count - 1)) if var > 0 and count > 10 else 0.0


def percentile(sorted_values: np.ndarray, fraction: float) -> float:
    """llama.cpp's linear-interpolated percentile of already sorted values."""
    if sorted_values.size == 0:
        return math.nan
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    p = fraction * (sorted_values.size - 1)
    ip = int(p)
    p -= ip
    return float((1 - p) * sorted_values[ip] + p * sorted_values[min(ip + 1, sorted_values.size - 1)])


def perplexity_of(nll: np.ndarray) -> tuple[float, float]:
    """PPL = exp(mean NLL) and its ± (llama.cpp's `Final estimate` formula)."""
    nll = np.asarray(nll, dtype=np.float64)
    mean, err = mean_and_uncertainty(float(nll.sum()), float((nll * nll).sum()), int(nll.size))
    ppl = math.exp(mean) if not math.isnan(mean) else math.nan
    return ppl, ppl * err


@dataclass
class DivergenceAccumulator:
    """Running sums over chunks, so a large base never has to sit in memory whole."""

    nll: list[np.ndarray] = field(default_factory=list)
    nll_base: list[np.ndarray] = field(default_factory=list)
    kld: list[np.ndarray] = field(default_factory=list)
    p_diff: list[np.ndarray] = field(default_factory=list)
    same_top: int = 0
    count: int = 0
    topk_only: bool = False

    def add_full(self, base_logprobs: np.ndarray, lane_logprobs: np.ndarray, targets: np.ndarray) -> None:
        """One chunk where the lane's full distribution is known: (n, vocab) log-probs."""
        base = np.asarray(base_logprobs, dtype=np.float32)
        lane = np.asarray(lane_logprobs, dtype=np.float32)
        rows = np.arange(targets.size)
        nll = -lane[rows, targets].astype(np.float64)
        nll_base = -base[rows, targets].astype(np.float64)
        keep = base > _BASE_FLOOR
        p_base = np.where(keep, np.exp(base), 0.0).astype(np.float64)
        kld = (p_base * np.where(keep, base - lane, 0.0)).sum(axis=1)
        self._add(nll, nll_base, kld, int((lane.argmax(axis=1) == base.argmax(axis=1)).sum()))

    def add_topk(self, base_logprobs: np.ndarray, targets: np.ndarray, lane_target_logprob: np.ndarray,
                 lane_top_ids: list[list[int]], lane_top_logprobs: list[list[float]]) -> None:
        """One chunk where the lane gave the target's log-prob and its top-k (ids, log-probs)."""
        base = np.asarray(base_logprobs, dtype=np.float64)
        rows = np.arange(targets.size)
        nll = -np.asarray(lane_target_logprob, dtype=np.float64)
        nll_base = -base[rows, targets]
        kld = np.empty(targets.size)
        same = 0
        for r in range(targets.size):
            ids = np.asarray(lane_top_ids[r], dtype=np.int64)
            lq = np.asarray(lane_top_logprobs[r], dtype=np.float64)
            pb = np.exp(base[r])
            pb_in = pb[ids]
            rest_b = max(0.0, 1.0 - pb_in.sum())
            rest_q = max(1e-12, 1.0 - np.exp(lq).sum())
            terms = pb_in * (base[r, ids] - lq)
            kld[r] = terms[pb_in > 0].sum() + (rest_b * (math.log(rest_b) - math.log(rest_q)) if rest_b > 0 else 0.0)
            same += int(ids[int(np.argmax(lq))] == int(np.argmax(base[r])))
        self.topk_only = True
        self._add(nll, nll_base, kld, same)

    def _add(self, nll: np.ndarray, nll_base: np.ndarray, kld: np.ndarray, same_top: int) -> None:
        self.nll.append(nll)
        self.nll_base.append(nll_base)
        self.kld.append(kld)
        self.p_diff.append(np.exp(-nll) - np.exp(-nll_base))
        self.same_top += same_top
        self.count += int(nll.size)

    def stats(self) -> dict:
        """The numbers llama-perplexity prints, under lanekit's names."""
        nll, nll_b = np.concatenate(self.nll), np.concatenate(self.nll_base)
        kld, p_diff = np.sort(np.concatenate(self.kld)), np.sort(np.concatenate(self.p_diff))
        n = self.count
        ln_q, ln_q_err = mean_and_uncertainty(float(nll.sum()), float((nll ** 2).sum()), n)
        ln_b, ln_b_err = mean_and_uncertainty(float(nll_b.sum()), float((nll_b ** 2).sum()), n)
        cov = (float((nll * nll_b).sum()) / n - ln_q * ln_b) / (n - 1) if n >= 10 else 0.0
        kld_mean, kld_err = mean_and_uncertainty(float(kld.sum()), float((kld ** 2).sum()), n)
        mse, mse_err = mean_and_uncertainty(float((p_diff ** 2).sum()), float((p_diff ** 4).sum()), n)
        top = self.same_top / n
        rms = math.sqrt(mse)
        return {
            "n_tokens": n,
            "ppl": math.exp(ln_q), "ppl_err": math.exp(ln_q) * ln_q_err,
            "ppl_base": math.exp(ln_b), "ppl_base_err": math.exp(ln_b) * ln_b_err,
            "ln_ppl_ratio": ln_q - ln_b,
            "ln_ppl_ratio_err": math.sqrt(max(0.0, ln_q_err ** 2 + ln_b_err ** 2 - 2 * cov)),
            "kld_mean": kld_mean, "kld_err": kld_err,
            "kld_median": percentile(kld, 0.5), "kld_p99": percentile(kld, 0.99),
            "kld_p999": percentile(kld, 0.999), "kld_max": float(kld[-1]),
            "rms_dp": rms, "rms_dp_err": 0.5 / rms * mse_err if rms > 0 else 0.0,
            "same_top": top, "same_top_err": math.sqrt(top * (1 - top) / (n - 1)) if n > 1 else math.nan,
            "topk_only": self.topk_only,
        }
