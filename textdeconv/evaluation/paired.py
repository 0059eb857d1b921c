"""Paired comparisons of two methods on the same sentences: Wilcoxon signed-rank test, Holm's
correction across a family of tests, and a bootstrap confidence interval of the median difference.

Used by ROAD (``road``), where each sentence gives one number per method, so n is the number of
test sentences (hundreds to thousands) and a p-value means something, unlike ROAR at three seeds.
"""
from __future__ import annotations

import numpy as np

from textdeconv.errors import InputError

BOOTSTRAP = 2000  # resamples of the sentences for the confidence interval
LEVEL = 0.95


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given): the i-th smallest p times
    (m - i), made non-decreasing along that order and capped at 1."""
    p = np.asarray(pvalues, np.float64)
    if p.ndim != 1:
        raise InputError(f"p-values must be a flat list, got shape {p.shape}")
    if np.any(~np.isfinite(p) | (p < 0) | (p > 1)):
        raise InputError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def wilcoxon_p(diff) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences ``diff`` (n,): zero
    differences dropped (Wilcoxon's rule, scipy's default); 1.0 when every difference is zero
    (the two methods gave the same numbers: nothing to test)."""
    from scipy.stats import wilcoxon

    d = np.asarray(diff, np.float64)
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d).pvalue)


def w_plus_share(diff) -> float | None:
    """W+ / (W+ + W-): the share of the signed-rank sum on the positive side (ranks of |d| over the
    non-zero differences, ties averaged), the direction the Wilcoxon test looks at: 0.5 = no lean,
    1 = every non-zero difference positive. None when every difference is zero."""
    from scipy.stats import rankdata

    d = np.asarray(diff, np.float64)
    d = d[d != 0]
    if d.size == 0:
        return None
    ranks = rankdata(np.abs(d))
    return float(ranks[d > 0].sum() / ranks.sum())


def bootstrap_median(diff, seed: int = 0, resamples: int = BOOTSTRAP, level: float = LEVEL) -> list[float]:
    """Percentile bootstrap ``[low, high]`` of the median of ``diff`` (n,): ``resamples``
    resamples of the n values with replacement, from ``np.random.default_rng(seed)``."""
    d = np.asarray(diff, np.float64)
    if d.size == 0:
        raise InputError("no paired differences to bootstrap")
    rng = np.random.default_rng(seed)
    medians = np.median(d[rng.integers(0, d.size, size=(resamples, d.size))], axis=1)
    tail = (1 - level) / 2
    return [float(np.quantile(medians, tail)), float(np.quantile(medians, 1 - tail))]


def compare_all(values: dict, against: str, seed: int = 0) -> dict:
    """Every method against ``against`` on the same sentences, Holm-corrected across the methods.

    Args:
        values: {method: (n,) per-sentence values}, all in the same sentence order.
        against: the method every other one is compared with (a key of ``values``).
    Returns:
        {method: {"p", "p_holm", "median_diff", "ci95", "mean_diff", "w_plus_share", "n_nonzero"}}
        for every method but ``against``; differences are method minus ``against``. When most
        sentences tie (two methods removing the same words), the median is 0 and ``w_plus_share``
        says which way the test's significance points.
    """
    if against not in values:
        raise InputError(f"cannot compare against {against!r}: it is not among the methods")
    base = np.asarray(values[against], np.float64)
    others = [m for m in values if m != against]
    out = {}
    for m in others:
        d = np.asarray(values[m], np.float64) - base
        out[m] = {"p": wilcoxon_p(d), "median_diff": float(np.median(d)), "ci95": bootstrap_median(d, seed),
                  "mean_diff": float(d.mean()), "w_plus_share": w_plus_share(d), "n_nonzero": int(np.count_nonzero(d))}
    for m, p in zip(others, holm([out[m]["p"] for m in others])):
        out[m]["p_holm"] = float(p)
    return out
