"""Methods that score words from the model's outputs on subsets of the sentence's words (``shap``,
``lime``): the shared value function and the per-sentence seeding.

A coalition is a 0/1 vector over the sentence's n tokens, 1 = the word is kept. Its value is the
target logit of the sentence with the words at 0 removed exactly as occlusion removes them
(``replacement``: ``pad`` zeroes the embedding in place, ``unk`` swaps in the unknown-word id,
``delete`` cuts the word out), through the same batched ``Perturber``: the libraries see only
numbers, never text, so a removed word is never glued to its neighbour, split or cleaned away.

Each sentence is explained with its own seed, drawn from (seed, length, token ids) as the
``random`` method draws its scores, so a sentence gets the same scores alone or in any batch.
"""
from __future__ import annotations

import importlib

import numpy as np

from textdeconv.attribution.explanation import Explainer
from textdeconv.attribution.perturb import Perturber, check_replacement
from textdeconv.errors import InputError, MissingExtraError


def require_extra(module: str, method: str):
    """``import module`` for the method, or MissingExtraError naming the pip extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(f"the {method} method needs the {module} library: pip install {module} "
                                f"(textdeconv's {method} extra)", name=e.name) from None


def sentence_seed(seed: int, token_ids) -> int:
    """A 32-bit seed for one sentence from (seed, length, token ids): the same sentence, the same seed."""
    token_ids = [int(i) for i in token_ids]
    return int(np.random.default_rng([seed, len(token_ids), *token_ids]).integers(2**32 - 1))


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


class CoalitionExplainer(Explainer):
    """Base of the coalition methods: subclasses implement ``sentence_scores(value, n, seed, target)``,
    where ``value(keep)`` maps keep masks (m, n) (1 = kept) to the target logits (m,).

    Args:
        net, vocab, class_names: as for ``Explainer``.
        replacement: how a masked word is removed (``pad``, ``unk``, ``delete``), as occlusion's.
        seed: non-negative integer; each sentence's own seed derives from it and the sentence.
        internal_batch_size: perturbed sentences per forward pass.
    """

    def __init__(self, net, vocab, class_names, replacement: str = "pad", seed: int = 0,
                 internal_batch_size: int = 512):
        super().__init__(net, vocab, class_names)
        check_replacement(replacement)
        if isinstance(internal_batch_size, bool) or not isinstance(internal_batch_size, int) \
                or internal_batch_size < 1:
            raise InputError(f"internal_batch_size must be an integer >= 1, got {internal_batch_size!r}")
        self.replacement, self.seed = replacement, check_seed(seed)
        self.perturber = Perturber(net, replacement, batch_size=internal_batch_size)

    def value_function(self, words, target: int):
        """``value(keep)``: keep (m, n) 0/1 -> (m,) float64 target logits of ``words`` (n,) with the
        words at 0 removed."""
        words = np.asarray(words)

        def value(keep):
            keep = np.asarray(keep)
            if keep.ndim != 2 or keep.shape[1] != len(words):
                raise ValueError(f"coalitions must be (m, {len(words)}), got {keep.shape}")
            drops = list(keep < 0.5)
            logits = self.perturber.logits([words] * len(drops), drops)
            return logits[:, target].astype(np.float64)

        return value

    def sentence_scores(self, value, n: int, seed: int, target: int) -> np.ndarray:
        """(n,) float32 scores of one sentence of n words from its value function."""
        raise NotImplementedError

    def attribute_ids(self, ids, target) -> dict:
        """ids (batch, time) int32; target (batch,), -1 = predicted. Returns numpy ``scores``
        (batch, time) (zero on padding), ``logits`` (batch, classes), ``target`` (batch,)."""
        ids, logits, target = self.logits_and_targets(ids, target)
        pad = self.net.pad
        scores = np.zeros(ids.shape, np.float32)
        for i, row in enumerate(ids):
            n = int((row != 0).sum())  # PAD is never a word
            if n == 0:  # a row of padding alone (reports.stream.warm_up traces with those): no word to score
                continue
            words = row[pad:pad + n]
            value = self.value_function(words, int(target[i]))
            scores[i, pad:pad + n] = self.sentence_scores(value, n, sentence_seed(self.seed, words), int(target[i]))
        return {"scores": scores, "logits": logits, "target": target}
