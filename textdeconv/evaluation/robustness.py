"""Infidelity and max-sensitivity (Yeh et al., 2019), as Captum's ``captum.metrics`` define them,
and MuFidelity (Bhatt et al., 2020).

**Infidelity** — how well the scores predict what a perturbation I does to the model:

    INFD = E_I[(a . I - (f_c(x) - f_c(x - I)))^2]

with f_c the explained class's *logit* (the quantity our methods decompose) and a the per-token
scores. Our scores are per token, so I is binary over tokens: each token is removed
independently with probability ``drop_prob`` (the ``Perturber``'s replacement), I_t = 1 for a
removed token, and a . I is the sum of the removed tokens' scores — Captum's "binary
perturbation for global attributions" (its docstring), a subset removal as Yeh et al.'s square
removal. With ``normalize`` (Captum's ``normalize=True``, default here) the scores are first
rescaled by the beta that minimises the error, beta = E[(a.I) d] / E[(a.I)^2], so methods in
other units (probabilities, norms) are not punished for their scale. Lower is better.

**Max-sensitivity** — how much the explanation moves under a small input change:

    SENS_max = max_j ||e(x + delta_j) - e(x)|| / ||e(x)||,   delta_j ~ U(-r, r) on the embeddings,

Captum's ``sensitivity_max`` with its default perturbation (uniform noise in the L-inf ball of
radius ``r = 0.02``), ``n_samples = 10`` draws and the Frobenius norm, normalised by the
original explanation's norm (a zero norm counts as 1). The noise is added to the model's
embedding table(s), so a word that occurs twice in a sentence gets the same draw both times;
every explanation explains the class the unperturbed one did. Lower is better.

**MuFidelity** — do the scores of a random subset of words add up to what removing it does:

    mu_F = corr_{S subset of the tokens, |S| = k} ( sum_{t in S} a_t , f_c(x) - f_c(x without S) ),

the Pearson correlation over ``n_samples`` random subsets of k = max(1, round(``subset_fraction``
x n)) of the n tokens (uniform, drawn with the same seeded generator and the same removal as
infidelity), one correlation per sentence. Bhatt et al. fix |S|; ``subset_fraction`` 0.2 is
Xplique's ``subset_percent`` default, ``n_samples`` 50 (Quantus and Xplique draw 200 per image).
A sentence where either side does not vary (every subset the same, as for a one-word sentence, or
constant scores) has no correlation: it is left out of the mean and counted in ``n_undefined``.
Higher is better; scale-free, so methods in other units are not punished for their scale.
"""
from __future__ import annotations

import numpy as np

from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import check_explanations


def infidelity_from_samples(attr_dot_perturb, output_drops, normalize: bool = True) -> np.ndarray:
    """Captum's infidelity of each example from its S samples.

    Args:
        attr_dot_perturb: (N, S) a . I for every sample.
        output_drops: (N, S) f(x) - f(x - I).
        normalize: rescale the attributions by the error-minimising beta first.
    Returns:
        (N,) infidelities.
    """
    a = np.asarray(attr_dot_perturb, np.float64)
    d = np.asarray(output_drops, np.float64)
    if a.shape != d.shape or a.ndim != 2 or a.shape[1] < 1:
        raise InputError(f"need two (N, S) arrays of the same shape, got {a.shape} and {d.shape}")
    if not normalize:
        return ((a - d) ** 2).mean(axis=1)
    aa, ad, dd = (a * a).sum(axis=1), (a * d).sum(axis=1), (d * d).sum(axis=1)
    beta = np.divide(ad, aa, out=np.zeros_like(ad), where=aa != 0)  # Captum's safe_div: 0 where a.I is 0
    return (beta ** 2 * aa - 2 * beta * ad + dd) / a.shape[1]


def removal_samples(expls, perturber, draw) -> tuple[np.ndarray, np.ndarray]:
    """Each explanation under S random removals ``draw(n)`` gives it ((S, n) bool, called once per
    sentence, in order): the (N, S) sums of its scores over the removed words and the (N, S) drops
    of its target logit when they are removed, all sentences in one batched call."""
    ids, drops, sums = [], [], []
    for e in expls:
        masks = draw(len(e.token_ids))
        sums.append(masks.astype(np.float64) @ np.asarray(e.scores, np.float64))
        ids += [e.token_ids] * (len(masks) + 1)
        drops += [np.zeros(len(e.token_ids), bool)] + list(masks)
    logits = perturber.logits(ids, drops).astype(np.float64).reshape(len(expls), len(sums[0]) + 1, -1)
    f = logits[np.arange(len(expls)), :, np.array([e.target for e in expls])]  # (N, S + 1)
    return np.array(sums), f[:, :1] - f[:, 1:]


def infidelity(expls, perturber, n_samples: int = 10, drop_prob: float = 0.5, normalize: bool = True,
               seed: int = 0) -> dict:
    """Infidelity of explanations of the perturber's model under random token removal.

    Returns:
        dict: ``infidelity_mean``, ``infidelity_median``, ``n_sentences``, ``n_samples``,
        ``drop_prob``, ``normalize``, ``replacement``; ``per_sentence`` (N,).
    """
    expls = check_explanations(expls, perturber.net.num_classes)
    if n_samples < 1 or not 0 < drop_prob < 1:
        raise InputError(f"need n_samples >= 1 and drop_prob in (0, 1), got {n_samples} and {drop_prob}")
    rng = np.random.default_rng(seed)
    dots, target_drops = removal_samples(expls, perturber, lambda n: rng.random((n_samples, n)) < drop_prob)
    per = infidelity_from_samples(dots, target_drops, normalize)
    return {"infidelity_mean": float(per.mean()), "infidelity_median": float(np.median(per)),
            "n_sentences": len(expls), "n_samples": n_samples, "drop_prob": drop_prob, "normalize": normalize,
            "replacement": perturber.replacement, "per_sentence": per}


def pearson_rows(a, b) -> np.ndarray:
    """Pearson correlation of each row pair of (N, S) arrays; NaN where either row is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    constant = (np.ptp(a, axis=1) == 0) | (np.ptp(b, axis=1) == 0)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))


def mufidelity(expls, perturber, n_samples: int = 50, subset_fraction: float = 0.2, seed: int = 0) -> dict:
    """MuFidelity (Bhatt et al., 2020) of explanations of the perturber's model.

    Returns:
        dict: ``mufidelity_mean`` (over the sentences with a correlation), ``mufidelity_median``,
        ``n_sentences``, ``n_undefined``, ``n_samples``, ``subset_fraction``, ``replacement``;
        ``per_sentence`` (N,), NaN where undefined.
    """
    expls = check_explanations(expls, perturber.net.num_classes)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2 \
            or not 0 < subset_fraction < 1:
        raise InputError(f"need n_samples >= 2 and subset_fraction in (0, 1), got {n_samples} and "
                         f"{subset_fraction}")
    rng = np.random.default_rng(seed)

    def subsets(n):  # n_samples random subsets of max(1, round(fraction * n)) words
        masks = np.zeros((n_samples, n), bool)
        for j in range(n_samples):
            masks[j, rng.choice(n, size=max(1, int(round(subset_fraction * n))), replace=False)] = True
        return masks

    sums, target_drops = removal_samples(expls, perturber, subsets)
    per = pearson_rows(sums, target_drops)
    defined = per[~np.isnan(per)]
    return {"mufidelity_mean": float(defined.mean()) if len(defined) else float("nan"),
            "mufidelity_median": float(np.median(defined)) if len(defined) else float("nan"),
            "n_sentences": len(expls), "n_undefined": int(np.isnan(per).sum()), "n_samples": int(n_samples),
            "subset_fraction": subset_fraction, "replacement": perturber.replacement, "per_sentence": per}


def sensitivity_from_samples(original, perturbed) -> float:
    """max_j ||perturbed[j] - original|| / ||original|| (a zero norm counts as 1), Captum's rule."""
    original = np.asarray(original, np.float64)
    norm = np.linalg.norm(original) or 1.0
    return float(max(np.linalg.norm(np.asarray(p, np.float64) - original) for p in perturbed) / norm)


def max_sensitivity(net, make_explainer, sentences, target=None, n_samples: int = 10, radius: float = 0.02,
                    seed: int = 0) -> dict:
    """Max-sensitivity of a method's explanations to uniform noise on the embeddings.

    Args:
        net: the ``TextCNN``; its embedding tables are perturbed in place and restored exactly
            afterwards (also when an explainer raises).
        make_explainer: ``f(net) -> Explainer``, called once per draw.
        sentences: N token lists.
        target: as ``Explainer.explain``; the perturbed explanations explain the classes the
            unperturbed ones did.
    Returns:
        dict: ``max_sensitivity_mean``, ``max_sensitivity_median``, ``n_sentences``,
        ``n_samples``, ``radius``; ``per_sentence`` (N,).
    """
    if n_samples < 1 or radius <= 0:
        raise InputError(f"need n_samples >= 1 and radius > 0, got {n_samples} and {radius}")
    sentences = [list(s) for s in sentences]
    tables = [t.embeddings for t in net.tables]
    saved = [t.numpy().copy() for t in tables]
    rng = np.random.default_rng(seed)
    try:
        original = make_explainer(net).explain(sentences, target=target)
        targets = [e.target for e in original]
        draws = []
        for _ in range(n_samples):
            for table, values in zip(tables, saved):
                table.assign(values + rng.uniform(-radius, radius, values.shape).astype(values.dtype))
            draws.append(make_explainer(net).explain(sentences, target=targets))
    finally:
        for table, values in zip(tables, saved):
            table.assign(values)
    per = np.array([sensitivity_from_samples(e.scores, [d[i].scores for d in draws]) for i, e in enumerate(original)])
    return {"max_sensitivity_mean": float(per.mean()), "max_sensitivity_median": float(np.median(per)),
            "n_sentences": len(sentences), "n_samples": n_samples, "radius": radius, "per_sentence": per}
