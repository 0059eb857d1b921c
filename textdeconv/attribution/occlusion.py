"""Occlusion (leave-one-out): how much the target logit drops when one word is removed.

For one sentence x of n tokens and target class c:

    score_t = logit_c(x) - logit_c(x with token t removed),   t = 0 .. n-1,

a difference of pre-softmax logits. Signed: positive = removing the word lowers logit_c, i.e. the
word supports class c; negative = the word speaks against c. How a word is removed
(``replacement``, see ``textdeconv.perturb``): ``pad`` zeroes its embedding in place (default),
``unk`` swaps in the unknown-word token, ``delete`` cuts it out and the sentence closes up (a
one-word sentence leaves the empty sentence, whose logits are those of all-padding windows).

All n one-word removals of every sentence in a batch go through one ``Perturber`` call, i.e. a
few large forward passes rather than n small ones.
"""
from __future__ import annotations

import numpy as np

from textdeconv.attribution.explanation import Explainer
from textdeconv.attribution.perturb import Perturber, check_replacement
from textdeconv.errors import InputError


class Occlusion(Explainer):
    """Batched leave-one-out occlusion over a ``TextCNN``.

    Args:
        net, vocab, class_names: as for ``Explainer``.
        replacement: ``pad``, ``unk`` or ``delete``.
        internal_batch_size: perturbed sentences per forward pass.
    """

    name = "occlusion"

    def __init__(self, net, vocab, class_names, replacement: str = "pad", internal_batch_size: int = 512):
        super().__init__(net, vocab, class_names)
        check_replacement(replacement)
        if internal_batch_size < 1:
            raise InputError(f"internal_batch_size must be >= 1, got {internal_batch_size!r}")
        self.replacement = replacement
        self.perturber = Perturber(net, replacement, batch_size=int(internal_batch_size))

    def attribute_ids(self, ids, target) -> dict:
        """ids (batch, time) int32 as laid out by ``pad_batch``; target (batch,), -1 = predicted.

        Returns numpy ``scores`` (batch, time) (zero on padding), ``logits`` (batch, classes) and
        ``target`` (batch,). logit_c with word t removed is ``logit_c(x) - score_t``.
        """
        ids, logits, target = self.logits_and_targets(ids, target)
        pad = self.net.pad
        # PAD is never a word, so a row's word count is its non-PAD count (as the window mask has it)
        lengths = (ids != 0).sum(axis=1)
        rows, drops = [], []
        for row, n in zip(ids, lengths):
            words = row[pad:pad + n]
            rows += [words] * n
            drops += list(np.eye(n, dtype=bool))
        occluded = self.perturber.logits(rows, drops)  # (sum of lengths, classes)
        logit_c = logits[np.arange(len(ids)), target]
        occluded_c = np.repeat(logit_c[:, None], ids.shape[1], axis=1)
        start = 0
        for i, n in enumerate(lengths):
            occluded_c[i, pad:pad + n] = occluded[start:start + n, target[i]]
            start += n
        return {"scores": logit_c[:, None] - occluded_c, "logits": logits, "target": target}


WIDTHS = (2, 3, 4, 5)


def windows(n: int, width: int) -> np.ndarray:
    """(k, n) bool: the stride-1 windows of ``width`` consecutive words, k = n - width + 1 (Captum's
    windows that fit inside the input); a sentence shorter than ``width`` has one window, all of it."""
    w = min(width, n)
    starts, positions = np.arange(n - w + 1)[:, None], np.arange(n)[None, :]
    return (positions >= starts) & (positions < starts + w)


class WindowOcclusion(Explainer):
    """Sliding-window occlusion as Captum's ``Occlusion`` with ``sliding_window_shapes=(width,)``,
    ``strides=1`` over the tokens: every window of ``width`` consecutive words is removed once, and a
    word's score is the *mean* drop of the target logit over the windows that cover it

        score_t = mean_{s : s <= t < s + width} [z_c(x) - z_c(x without words s .. s+width-1)],

    (Captum sums the drops of the windows covering a feature and divides by their count). Words
    near the ends are covered by fewer windows. A sentence shorter than ``width`` has one window,
    the whole sentence, and every word gets its drop. Width 1 would be ``occlusion``.

    Args:
        net, vocab, class_names: as for ``Explainer``.
        width: words per window, 2-5 (the filter widths).
        replacement: ``pad``, ``unk`` or ``delete``, as occlusion's.
        internal_batch_size: perturbed sentences per forward pass.
    """

    name = "occlusion-window"

    def __init__(self, net, vocab, class_names, width: int = 3, replacement: str = "pad",
                 internal_batch_size: int = 512):
        super().__init__(net, vocab, class_names)
        check_replacement(replacement)
        if isinstance(width, bool) or width not in WIDTHS:
            raise InputError(f"occlusion-window: width must be one of {', '.join(map(str, WIDTHS))}, got {width!r}")
        if internal_batch_size < 1:
            raise InputError(f"internal_batch_size must be >= 1, got {internal_batch_size!r}")
        self.width, self.replacement = int(width), replacement
        self.perturber = Perturber(net, replacement, batch_size=int(internal_batch_size))

    def attribute_ids(self, ids, target) -> dict:
        """ids (batch, time) int32; target (batch,), -1 = predicted. Returns numpy ``scores``
        (batch, time) (zero on padding), ``logits`` (batch, classes), ``target`` (batch,)."""
        ids, logits, target = self.logits_and_targets(ids, target)
        pad = self.net.pad
        lengths = (ids != 0).sum(axis=1)
        masks = [windows(int(n), self.width) for n in lengths]
        rows, drops = [], []
        for row, n, m in zip(ids, lengths, masks):
            rows += [row[pad:pad + n]] * len(m)
            drops += list(m)
        occluded = self.perturber.logits(rows, drops)
        scores = np.zeros(ids.shape, np.float32)
        start = 0
        for i, (n, m) in enumerate(zip(lengths, masks)):
            drop = logits[i, target[i]] - occluded[start:start + len(m), target[i]]  # (k,) one per window
            scores[i, pad:pad + n] = (drop @ m) / m.sum(axis=0)
            start += len(m)
        return {"scores": scores, "logits": logits, "target": target}
