"""Shapley values of the words, computed by the shap library over our own tokens and removal.

The game: the players are the sentence's n tokens, a coalition S's value is the target logit
z_c of the sentence with every word outside S removed (``replacement``, as occlusion's), so

    sum_t score_t = z_c(x) - z_c(x with every word removed)          (efficiency)

and a word's score is in logits, like occlusion's. shap sees a 0/1 vector per coalition
(``shap.maskers.Partition`` / ``Independent`` over a numeric feature vector with an all-zero
background), never a string: shap's Text masker, whose masks glue to the next word and whose
``...`` token the vocabulary can clean away, is not used.

Explainers (``explainer``):
- ``partition`` (default): shap's PartitionExplainer, Owen values over a balanced binary tree of
  the word positions (neighbouring words grouped first, as shap's Text masker groups them); with
  enough ``max_evals`` (about n^2 for n words) the tree is expanded to the leaves. Owen values equal
  Shapley values for every game whose interactions are of order <= 2.
- ``permutation``: shap's PermutationExplainer, random permutations each walked forward and
  backward (antithetic), ``max_evals // (2n + 1)`` of them; one pair already gives the exact Shapley
  values for games with interactions of order <= 2, more pairs approach them for any game. Needs
  ``max_evals >= 2n + 1``; a shorter budget for a sentence is refused.

shap's own randomness (the permutations; the tie-breaks of the partition queue) comes from
NumPy's global generator, which each sentence seeds from its own seed and restores afterwards.
"""
from __future__ import annotations

import numpy as np

from textdeconv.attribution.coalition import CoalitionExplainer, require_extra
from textdeconv.errors import InputError

EXPLAINERS = ("partition", "permutation")


def balanced_tree(n: int) -> np.ndarray:
    """A scipy-style linkage (n - 1, 4) over positions 0..n-1: halves split recursively, so
    neighbouring words merge first. Rows: left, right, height, size; node n + k is row k."""
    rows: list[list[float]] = []

    def build(lo: int, hi: int) -> tuple[int, int]:
        if hi - lo == 1:
            return lo, 0
        mid = (lo + hi) // 2
        (left, hl), (right, hr) = build(lo, mid), build(mid, hi)
        height = max(hl, hr) + 1
        rows.append([left, right, height, hi - lo])
        return n + len(rows) - 1, height

    build(0, n)
    return np.array(rows, np.float64).reshape(-1, 4)


class Shap(CoalitionExplainer):
    """Shapley (Owen) values of the target logit over a sentence's tokens, by shap.

    Args:
        net, vocab, class_names, replacement, seed, internal_batch_size: as ``CoalitionExplainer``.
        explainer: ``partition`` or ``permutation``.
        max_evals: model evaluations per sentence (shap's ``max_evals``, default 500).
    """

    name = "shap"

    def __init__(self, net, vocab, class_names, explainer: str = "partition", max_evals: int = 500,
                 replacement: str = "pad", seed: int = 0, internal_batch_size: int = 512):
        self.shap = require_extra("shap", "shap")
        if explainer not in EXPLAINERS:
            raise InputError(f"shap: explainer must be one of {', '.join(EXPLAINERS)}, got {explainer!r}")
        if isinstance(max_evals, bool) or not isinstance(max_evals, (int, np.integer)) or max_evals < 3:
            raise InputError(f"shap: max_evals must be an integer >= 3, got {max_evals!r}")
        super().__init__(net, vocab, class_names, replacement, seed, internal_batch_size)
        self.explainer, self.max_evals = explainer, int(max_evals)

    def sentence_scores(self, value, n: int, seed: int, target: int) -> np.ndarray:
        shap = self.shap
        if self.explainer == "permutation" and self.max_evals < 2 * n + 1:
            raise InputError(f"shap: max_evals={self.max_evals} is too low for the permutation explainer on a "
                             f"{n}-word sentence (it needs at least 2n + 1 = {2 * n + 1})")
        background = np.zeros((1, n))
        saved = np.random.get_state()
        try:
            np.random.seed(seed)
            if self.explainer == "partition":
                masker = shap.maskers.Partition(background, clustering=balanced_tree(n))
                result = shap.PartitionExplainer(value, masker)(np.ones((1, n)), max_evals=self.max_evals,
                                                                 batch_size=self.perturber.batch_size, silent=True)
            else:
                masker = shap.maskers.Independent(background, max_samples=1)
                result = shap.PermutationExplainer(value, masker, seed=seed)(
                    np.ones((1, n)), max_evals=self.max_evals, batch_size=self.perturber.batch_size, silent=True)
        finally:
            np.random.set_state(saved)
        return np.asarray(result.values, np.float64).reshape(n).astype(np.float32)
