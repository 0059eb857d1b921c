"""LIME (Ribeiro et al., 2016) by the lime library, over our own tokens and removal.

lime's ``LimeTextExplainer`` draws ``num_samples`` perturbed sentences (the first the sentence
itself; each other one removes k words chosen uniformly, k uniform in 1..n), weighs them by an
exponential kernel (width 25) on their cosine distance x 100 to the sentence, and fits a weighted
ridge regression (alpha 1) of the target logit on the n 0/1 word indicators; a word's score is its
coefficient, in logits per word (lime's defaults throughout, all n words kept:
``feature_selection="none"``).

lime perturbs strings; it is given one made of position names (``w0 w1 ... w(n-1)``), split on
spaces, with ``bow=False``, so every position is its own feature (a repeated word is two features)
and each perturbed string maps back to an exact keep mask over our tokens, removed as occlusion
removes them (``replacement``). lime draws from its own ``RandomState``, seeded per sentence.
"""
from __future__ import annotations

import numpy as np

from textdeconv.attribution.coalition import CoalitionExplainer, require_extra
from textdeconv.errors import InputError

MASK = "-"  # what lime writes for a removed position; never a position name


def position_string(n: int) -> str:
    return " ".join(f"w{t}" for t in range(n))


def keep_masks(strings, n: int) -> np.ndarray:
    """lime's perturbed position strings -> (m, n) 0/1 keep masks (1 = kept)."""
    names = [f"w{t}" for t in range(n)]
    keep = np.zeros((len(strings), n), np.float64)
    for i, s in enumerate(strings):
        pieces = s.split(" ")
        if len(pieces) != n or any(p not in (name, MASK) for p, name in zip(pieces, names)):
            raise AssertionError(f"lime returned an unexpected perturbation {s!r}")  # a bug, not a user error
        keep[i] = [p == name for p, name in zip(pieces, names)]
    return keep


class Lime(CoalitionExplainer):
    """LIME word weights of the target logit over a sentence's tokens, by lime.

    Args:
        net, vocab, class_names, replacement, seed, internal_batch_size: as ``CoalitionExplainer``.
        num_samples: perturbed sentences per sentence, the sentence itself included (lime's
            default 5000).
    """

    name = "lime"

    def __init__(self, net, vocab, class_names, num_samples: int = 5000, replacement: str = "pad", seed: int = 0,
                 internal_batch_size: int = 512):
        require_extra("lime", "lime")
        import lime.lime_text

        self.lime_text = lime.lime_text
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 2:
            raise InputError(f"lime: num_samples must be an integer >= 2, got {num_samples!r}")
        super().__init__(net, vocab, class_names, replacement, seed, internal_batch_size)
        self.num_samples = int(num_samples)

    def sentence_scores(self, value, n: int, seed: int, target: int) -> np.ndarray:
        explainer = self.lime_text.LimeTextExplainer(split_expression=" ", bow=False, mask_string=MASK,
                                                     feature_selection="none", random_state=seed)

        def classifier(strings):
            # lime wants (m, classes) and fits only the explained column; the others stay 0
            out = np.zeros((len(strings), len(self.class_names)))
            out[:, target] = value(keep_masks(strings, n))
            return out

        exp = explainer.explain_instance(position_string(n), classifier, labels=(target,), num_features=n,
                                         num_samples=self.num_samples)
        scores = np.zeros(n, np.float64)
        for feature, weight in exp.local_exp[target]:
            scores[int(feature)] = weight
        return scores.astype(np.float32)
