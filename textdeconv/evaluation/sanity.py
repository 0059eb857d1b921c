"""Sanity checks for explanations (Adebayo et al., 2018): does an explanation depend on the
model's parameters (cascading and independent layer randomization), and on the class it is asked
to explain? Data randomization (a model retrained on permuted labels) is in ``data_randomization``.

Both checks compare score vectors of the same sentence with the Spearman rank correlation
(``scipy.stats.spearmanr``). A vector that is constant (or has a single token) has no ranking:
its correlation is NaN, counted in ``n_nan`` and left out of the means.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from textdeconv.attribution.explanation import resolve_target
from textdeconv.errors import InputError


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two (n,) score vectors; NaN when either is constant or n < 2."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise InputError(f"score vectors differ in shape: {a.shape} vs {b.shape}")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


def correlations(expls_a, expls_b) -> np.ndarray:
    """(N,) Spearman correlation of the scores of two aligned lists of Explanations."""
    if len(expls_a) != len(expls_b):
        raise InputError(f"got {len(expls_a)} and {len(expls_b)} explanations; they must align")
    return np.array([spearman(a.scores, b.scores) for a, b in zip(expls_a, expls_b)])


def summarize(rho: np.ndarray) -> dict:
    """Mean, sample sd (ddof=1) and mean |rho| over the non-NaN correlations, and the NaN count."""
    ok = rho[~np.isnan(rho)]
    return {"spearman_mean": float(ok.mean()) if ok.size else float("nan"),
            "spearman_sd": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
            "abs_spearman_mean": float(np.abs(ok).mean()) if ok.size else float("nan"),
            "n_nan": int(rho.size - ok.size), "n_sentences": int(rho.size)}


def randomization_stages(net) -> list:
    """(stage name, variables) from the top of the network down: ``logits`` (dense kernel and
    bias), ``conv_<w>`` for each width from the widest to the narrowest, ``embedding`` (every
    embedding table, both channels of a multichannel model)."""
    stages = [("logits", [net.dense.kernel, net.dense.bias])]
    for w, conv in sorted(zip(net.widths, net.convs), key=lambda pair: -pair[0]):
        stages.append((f"conv_{w}", [conv.kernel, conv.bias]))
    stages.append(("embedding", [table.embeddings for table in net.tables]))
    return stages


def reinitialize(variable, rng: np.random.Generator) -> None:
    """Overwrite ``variable`` with N(0, s^2) draws, s = the std of its current values (their
    RMS when they are constant, e.g. a one-element bias); an all-zero variable stays zero."""
    values = np.asarray(variable.numpy(), np.float64)
    scale = values.std() or np.sqrt(np.mean(values ** 2))
    variable.assign(rng.normal(0.0, scale, size=values.shape).astype(values.dtype))


def cascading_randomization(net, make_explainer, sentences, target=None, seed: int = 0) -> pd.DataFrame:
    """Cascading parameter randomization: re-initialize the layers top-down, cumulatively, and
    correlate each stage's explanations with the original ones.

    The original explanations fix each sentence's target class (its predicted class when
    ``target`` is None); every randomized explanation explains that same class, so the target
    does not drift to the randomized model's prediction. The network's weights are restored
    exactly afterwards, also when an explainer raises.

    Args:
        net: the ``TextCNN`` to randomize (modified in place, then restored).
        make_explainer: ``f(net) -> Explainer``; called once per stage, on the randomized net.
        sentences: N token lists.
        target: as ``Explainer.explain`` (None, a class, or one per sentence).
        seed: seeds the ``numpy.random.Generator`` that draws the new weights.
    Returns:
        DataFrame, one row per stage (``original`` first: the original explanations against
        themselves), columns ``stage``, ``depth`` (number of layer groups randomized),
        ``spearman_mean``, ``spearman_sd``, ``abs_spearman_mean``, ``n_nan``, ``n_sentences``.
        ``df.attrs["per_sentence"]`` is a (stages, N) array of the correlations.
    """
    return _randomization(net, make_explainer, sentences, target, seed, cumulative=True)


def independent_randomization(net, make_explainer, sentences, target=None, seed: int = 0) -> pd.DataFrame:
    """Independent parameter randomization (Adebayo et al., 2018): re-initialize one layer group
    at a time, every other layer keeping its trained weights, and correlate the explanations with
    the original ones. A method whose explanations survive the randomization of some layer does
    not depend on that layer, which the cascading check cannot tell apart from the layers below.

    Arguments, target handling and restoring as ``cascading_randomization``; the weights are drawn
    from the same generator in the same order, so the ``logits`` stage equals the cascading one.

    Returns:
        DataFrame with the columns of ``cascading_randomization``; ``depth`` is 1 for every
        randomized stage (one layer group each), 0 for ``original``.
    """
    return _randomization(net, make_explainer, sentences, target, seed, cumulative=False)


def _randomization(net, make_explainer, sentences, target, seed: int, cumulative: bool) -> pd.DataFrame:
    sentences = [list(s) for s in sentences]
    saved = [w.copy() for w in net.model.get_weights()]
    rng = np.random.default_rng(seed)
    rows, per_sentence = [], []
    try:
        original = make_explainer(net).explain(sentences, target=target)
        targets = [e.target for e in original]
        rho = correlations(original, original)
        rows.append({"stage": "original", "depth": 0, **summarize(rho)})
        per_sentence.append(rho)
        for depth, (stage, variables) in enumerate(randomization_stages(net), 1):
            if not cumulative:
                net.model.set_weights(saved)
            for v in variables:
                reinitialize(v, rng)
            randomized = make_explainer(net).explain(sentences, target=targets)
            rho = correlations(original, randomized)
            rows.append({"stage": stage, "depth": depth if cumulative else 1, **summarize(rho)})
            per_sentence.append(rho)
    finally:
        net.model.set_weights(saved)
    df = pd.DataFrame(rows)
    df.attrs["per_sentence"] = np.array(per_sentence)
    return df


def class_sensitivity(explainer, sentences, class_a, class_b) -> dict:
    """Do explanations change with the class they explain?

    Args:
        explainer: an ``Explainer``.
        sentences: N token lists.
        class_a, class_b: two target classes (index or name).
    Returns:
        dict: ``spearman_mean``, ``spearman_sd``, ``abs_spearman_mean``, ``n_nan``,
        ``n_sentences`` (see ``summarize``); ``identical_fraction``, the fraction of sentences
        whose two score vectors are equal (``numpy.allclose``, default tolerances); and
        ``per_sentence`` (N,) correlations.
    """
    ia, ib = (resolve_target(c, explainer.class_names) for c in (class_a, class_b))
    if ia < 0 or ib < 0 or ia == ib:
        raise InputError(f"class_sensitivity needs two different classes, got {class_a!r} and {class_b!r}")
    sentences = [list(s) for s in sentences]
    a = explainer.explain(sentences, target=ia)
    b = explainer.explain(sentences, target=ib)
    rho = correlations(a, b)
    same = np.array([np.allclose(x.scores, y.scores) for x, y in zip(a, b)])
    return {**summarize(rho), "identical_fraction": float(same.mean()) if same.size else float("nan"),
            "per_sentence": rho}
