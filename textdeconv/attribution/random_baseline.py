"""Random attribution: the floor every real method should beat in faithfulness metrics.

score_t ~ N(0, 1) i.i.d., independent of the model and of the target class. Each sentence draws
from its own generator seeded by (seed, length, token ids), so a sentence gets the same scores
whether it is explained alone or in any batch, and identical sentences get identical scores.
The model is still run once per batch so the Explanation carries real logits, target and
prediction.
"""
from __future__ import annotations

import numpy as np

from textdeconv.attribution.explanation import Explainer
from textdeconv.errors import InputError


def sentence_scores(token_ids, seed: int) -> np.ndarray:
    """(n,) float32 standard normal scores for one sentence's (n,) token ids."""
    token_ids = [int(i) for i in token_ids]
    rng = np.random.default_rng([seed, len(token_ids), *token_ids])
    return rng.standard_normal(len(token_ids)).astype(np.float32)


class RandomAttribution(Explainer):
    """Seeded Gaussian scores over a ``TextCNN``'s sentences.

    Args:
        net, vocab, class_names: as for ``Explainer``.
        seed: non-negative integer; the same seed gives the same scores for the same sentence.
    """

    name = "random"

    def __init__(self, net, vocab, class_names, seed: int = 0):
        super().__init__(net, vocab, class_names)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)

    def attribute_ids(self, ids, target) -> dict:
        """ids (batch, time) int32; target (batch,), -1 = predicted. Returns numpy ``scores``
        (batch, time) (zero on padding), ``logits`` (batch, classes), ``target`` (batch,)."""
        ids, logits, target = self.logits_and_targets(ids, target)
        pad = self.net.pad
        scores = np.zeros(ids.shape, np.float32)
        for i, row in enumerate(ids):
            n = int((row != 0).sum())
            scores[i, pad:pad + n] = sentence_scores(row[pad:pad + n], self.seed)
        return {"scores": scores, "logits": logits, "target": target}
