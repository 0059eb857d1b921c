"""Agreement with leave-one-out, as ferret reports it (``taucorr_loo``; Attanasio et al., 2023).

Leave-one-out (LOO) scores a word by what its removal costs the explained class:

    loo_t = p_c(x) - p_c(x without token t),

a difference of softmax probabilities (ferret's choice; the ``occlusion`` method uses logits),
with "removed" as the ``Perturber``'s ``replacement`` says. ``loo_agreement`` is the Kendall rank
correlation (tau-b, ``scipy.stats.kendalltau``) of each explanation's scores with its sentence's
LOO scores, averaged over sentences; a constant vector (or a single token) has no ranking and is
left out (``n_nan``).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau

from textdeconv.evaluation.faithfulness import check_explanations, target_probs


def kendall(a, b) -> float:
    """Kendall's tau-b of two (n,) score vectors; NaN when either is constant or n < 2."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


def loo_scores(expls, perturber) -> list[np.ndarray]:
    """Per explanation, the (n,) leave-one-out drops of p_c, all sentences in one batched call."""
    expls = check_explanations(expls, perturber.net.num_classes)
    longest = max(len(e.token_ids) for e in expls)
    # every sentence needs the same number of perturbations: pad with no-op masks
    masks = [[np.zeros(len(e.token_ids), bool)] + list(np.eye(len(e.token_ids), dtype=bool))
             + [np.zeros(len(e.token_ids), bool)] * (longest - len(e.token_ids)) for e in expls]
    p = target_probs(expls, perturber, masks)
    return [p[i, 0] - p[i, 1:1 + len(e.token_ids)] for i, e in enumerate(expls)]


def loo_agreement(expls, perturber) -> dict:
    """Mean Kendall tau between every explanation and its leave-one-out scores.

    Returns:
        dict: ``kendall_tau_mean``, ``kendall_tau_sd`` (ddof=1), ``n_nan``, ``n_sentences``;
        ``per_sentence`` (N,) taus.
    """
    expls = check_explanations(expls, perturber.net.num_classes)
    tau = np.array([kendall(e.scores, loo) for e, loo in zip(expls, loo_scores(expls, perturber))])
    ok = tau[~np.isnan(tau)]
    return {"kendall_tau_mean": float(ok.mean()) if ok.size else float("nan"),
            "kendall_tau_sd": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
            "n_nan": int(tau.size - ok.size), "n_sentences": int(tau.size), "per_sentence": tau}
