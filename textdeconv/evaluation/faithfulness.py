"""Faithfulness: does removing the tokens an explanation ranks highest change the model's output?

Every metric is read off p_c, the softmax probability of each explanation's own ``target``
class c, for the sentence with some tokens removed by a ``Perturber`` (its ``replacement`` —
pad / unk / delete — decides what "removed" means and is recorded in every result). For
explanations of any other Keras model by the reverse engine, pass the engine's
``ModelPerturber(explainer, replacement)`` (``textdeconv.attribution.engine.perturb``) instead.

Ranking: tokens are ordered by their *signed* score, highest first, ties broken by position
(earlier first; a stable sort). A method whose sign says "evidence against c" therefore ranks
those tokens last; an unsigned method (e.g. the ``norm`` saliency) ranks by magnitude.

Counts: a fraction f of an n-token sentence is ``n_top(f, n) = ceil(f * n)`` tokens, computed
with a 1e-9 tolerance so that float noise (0.30000000000000004 * 10) does not add a token.

Speed: each function builds every perturbation of every sentence first and evaluates them all
with a single ``Perturber.logits`` call, which batches rows of similar length together.
"""
from __future__ import annotations

import math

import numpy as np

from textdeconv.attribution.perturb import softmax
from textdeconv.errors import InputError

ERASER_KS = (0.01, 0.05, 0.10, 0.20, 0.50)
FRACTIONS = np.linspace(0.0, 1.0, 11)
CURVES = ("morf", "lerf", "insertion")
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


def n_top(fraction: float, n: int) -> int:
    """ceil(fraction * n) tokens, 0 <= result <= n (tolerant to float noise in fraction * n)."""
    return min(n, max(0, math.ceil(fraction * n - 1e-9)))


def ranking(scores: np.ndarray) -> np.ndarray:
    """Token positions (n,) from the highest score to the lowest; ties keep position order."""
    return np.argsort(-np.asarray(scores, np.float64), kind="stable")


def top_mask(scores: np.ndarray, count: int) -> np.ndarray:
    """(n,) bool: True on the ``count`` highest-scoring tokens (see ``ranking``)."""
    mask = np.zeros(len(scores), bool)
    mask[ranking(scores)[:count]] = True
    return mask


def target_probs(expls, perturber, masks_per_sentence) -> np.ndarray:
    """p_c for every perturbation, evaluated in one batched call.

    Args:
        expls: N Explanations (their ``token_ids`` and ``target`` are used).
        perturber: a ``Perturber`` or ``ModelPerturber``.
        masks_per_sentence: N lists of M drop masks (n_i,) bool — True = token removed.
    Returns:
        (N, M) float64: softmax probability of each explanation's target class.
    """
    m = len(masks_per_sentence[0]) if masks_per_sentence else 0
    ids_list, drops = [], []
    for e, masks in zip(expls, masks_per_sentence):
        if len(masks) != m:
            raise ValueError("every sentence needs the same number of perturbations")
        ids_list.extend([e.token_ids] * m)
        drops.extend(masks)
    if not perturber.empty_ok and any(d.all() for d in drops):
        # our TextCNN with max width 1 has no padding, so a fully deleted sentence has no window at all
        raise InputError("replacement 'delete' cannot remove every token of a sentence for a model "
                         "whose widest filter is 1 (the input would be empty); use 'pad' or 'unk'")
    probs = softmax(perturber.logits(ids_list, drops).astype(np.float64))
    targets = np.repeat([e.target for e in expls], m)
    return probs[np.arange(len(targets)), targets].reshape(len(expls), m)


def check_explanations(expls, num_classes: int) -> list:
    """Validate the inputs every metric shares; return them as a list."""
    expls = list(expls)
    if not expls:
        raise InputError("no explanations to evaluate")
    for i, e in enumerate(expls):
        n = len(e.token_ids)
        if n == 0:
            raise InputError(f"explanation {i} has no tokens")
        if np.shape(e.scores) != (n,):
            raise InputError(f"explanation {i}: scores have shape {np.shape(e.scores)}, expected ({n},)")
        if not np.all(np.isfinite(e.scores)):
            raise InputError(f"explanation {i} has non-finite scores; cannot rank its tokens")
        if not 0 <= e.target < num_classes:
            raise InputError(f"explanation {i}: target {e.target} out of range for a "
                             f"{num_classes}-class model")
    return expls


def check_fractions(values, name: str, low_open: bool) -> np.ndarray:
    values = np.asarray(values, np.float64).ravel()
    if values.size == 0:
        raise InputError(f"{name} is empty")
    low_ok = values > 0 if low_open else values >= 0
    if not np.all(low_ok & (values <= 1)):
        raise InputError(f"{name} must lie in {'(0' if low_open else '[0'}, 1], got {values.tolist()}")
    return values


def eraser(expls, perturber, ks=ERASER_KS) -> dict:
    """ERASER comprehensiveness and sufficiency (DeYoung et al., 2020) for the target class c.

    With T_k = the ``max(1, ceil(k * n))`` highest-scoring tokens:
        comprehensiveness@k = p_c(x) - p_c(x without T_k)   (high = the top tokens mattered)
        sufficiency@k       = p_c(x) - p_c(T_k alone)        (low = the top tokens suffice)
    AOPC = the mean over ``ks``. p_c(x) is recomputed with the perturber's model.

    Args:
        expls: N Explanations of the perturber's model.
        perturber: a ``Perturber``; its ``replacement`` defines removal.
        ks: K fractions in (0, 1].
    Returns:
        dict: ``replacement``; ``ks`` (K,); ``comprehensiveness`` and ``sufficiency`` (K,) means
        over sentences; ``comprehensiveness_aopc`` / ``sufficiency_aopc`` floats; ``n_sentences``;
        ``per_sentence``: ``p_full`` (N,), ``n_top`` (N, K) int, ``comprehensiveness`` and
        ``sufficiency`` (N, K), ``comprehensiveness_aopc`` and ``sufficiency_aopc`` (N,).
    """
    ks = check_fractions(ks, "ks", low_open=True)
    expls = check_explanations(expls, perturber.net.num_classes)
    masks, counts = [], np.zeros((len(expls), len(ks)), int)
    for i, e in enumerate(expls):
        n = len(e.token_ids)
        rows = [np.zeros(n, bool)]
        comp, suff = [], []
        for j, k in enumerate(ks):
            counts[i, j] = max(1, n_top(k, n))
            top = top_mask(e.scores, counts[i, j])
            comp.append(top)      # drop the top tokens
            suff.append(~top)     # drop everything else
        masks.append(rows + comp + suff)
    p = target_probs(expls, perturber, masks)
    full, n_k = p[:, 0], len(ks)
    comp = full[:, None] - p[:, 1:1 + n_k]
    suff = full[:, None] - p[:, 1 + n_k:]
    return {
        "replacement": perturber.replacement,
        "ks": ks,
        "comprehensiveness": comp.mean(axis=0),
        "sufficiency": suff.mean(axis=0),
        "comprehensiveness_aopc": float(comp.mean()),
        "sufficiency_aopc": float(suff.mean()),
        "n_sentences": len(expls),
        "per_sentence": {"p_full": full, "n_top": counts, "comprehensiveness": comp, "sufficiency": suff,
                         "comprehensiveness_aopc": comp.mean(axis=1), "sufficiency_aopc": suff.mean(axis=1)},
    }


def deletion_insertion(expls, perturber, fractions=FRACTIONS) -> dict:
    """Deletion and insertion curves of p_c against the fraction of tokens moved.

    For each fraction f, with m = ceil(f * n) and the ranking above:
        morf      — delete the m most relevant tokens (a faithful ranking falls fast: low AUC);
        lerf      — delete the m least relevant tokens (the last m of the ranking: high AUC);
        insertion — start from every token removed and keep only the m most relevant
                    (a faithful ranking rises fast: high AUC).
    ``lerf`` at m removes exactly what ``insertion`` at n - m keeps out. AUC is the trapezoid
    rule over the ``fractions`` grid (the area over [0, 1] when the grid runs from 0 to 1).

    Args:
        expls: N Explanations of the perturber's model.
        perturber: a ``Perturber``; its ``replacement`` defines removal.
        fractions: F >= 2 increasing values in [0, 1].
    Returns:
        dict: ``replacement``; ``fractions`` (F,); ``curves`` {name: (F,) mean p_c};
        ``auc`` {name: float, the AUC of the mean curve = the mean per-sentence AUC};
        ``n_sentences``; ``per_sentence``: ``curves`` {name: (N, F)}, ``auc`` {name: (N,)}.
    """
    fractions = check_fractions(fractions, "fractions", low_open=False)
    if fractions.size < 2 or np.any(np.diff(fractions) <= 0):
        raise InputError(f"fractions must be at least two increasing values, got {fractions.tolist()}")
    expls = check_explanations(expls, perturber.net.num_classes)
    masks = []
    for e in expls:
        n, order = len(e.token_ids), ranking(e.scores)
        rows = {name: [] for name in CURVES}
        for f in fractions:
            m = n_top(f, n)
            morf, lerf, insertion = np.zeros(n, bool), np.zeros(n, bool), np.ones(n, bool)
            morf[order[:m]] = True
            lerf[order[n - m:]] = True
            insertion[order[:m]] = False
            for name, mask in zip(CURVES, (morf, lerf, insertion)):
                rows[name].append(mask)
        masks.append([mask for name in CURVES for mask in rows[name]])
    p = target_probs(expls, perturber, masks).reshape(len(expls), len(CURVES), len(fractions))
    per_curves = {name: p[:, c] for c, name in enumerate(CURVES)}
    per_auc = {name: _trapezoid(v, fractions, axis=1) for name, v in per_curves.items()}
    return {
        "replacement": perturber.replacement,
        "fractions": fractions,
        "curves": {name: v.mean(axis=0) for name, v in per_curves.items()},
        "auc": {name: float(v.mean()) for name, v in per_auc.items()},
        "n_sentences": len(expls),
        "per_sentence": {"curves": per_curves, "auc": per_auc},
    }
