"""Model outputs for sentences with some tokens removed — shared by occlusion and the
faithfulness metrics, batched so thousands of perturbations cost a few forward passes.

Replacement strategies for a removed token:
- ``pad``: its embedding becomes the zero vector (the PAD embedding) and every other position
  keeps its place, so windows and sentence length are unchanged;
- ``unk``: it becomes the unknown-word token;
- ``delete``: it is cut out and the sentence closes up (shorter input).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from textdeconv.data.vocab import UNK_ID, length_batches, pad_batch
from textdeconv.errors import InputError

REPLACEMENTS = ("pad", "unk", "delete")


def check_replacement(replacement: str) -> None:
    if replacement not in REPLACEMENTS:
        raise InputError(f"unknown replacement {replacement!r}; choose one of {', '.join(REPLACEMENTS)}")


def removal_rows(ids_list, drop_masks, replacement: str) -> tuple[list, list]:
    """``(rows, keeps)``: each sentence's token ids with the masked tokens removed as ``replacement``
    says (delete: cut out; unk: the unknown id; pad: kept, with keep 0 so the embedding is zeroed),
    and a float keep mask per row. Shared by our ``Perturber`` and the engine's ``ModelPerturber``."""
    rows, keeps = [], []
    for ids, drop in zip(ids_list, drop_masks):
        ids, drop = np.asarray(ids), np.asarray(drop, bool)
        if replacement == "delete":
            rows.append(ids[~drop])
            keeps.append(np.ones(int((~drop).sum()), np.float32))
        elif replacement == "unk":
            rows.append(np.where(drop, UNK_ID, ids))
            keeps.append(np.ones(len(ids), np.float32))
        else:
            rows.append(ids)
            keeps.append((~drop).astype(np.float32))
    return rows, keeps


class Perturber:
    """Logits of a ``TextCNN`` for token-id sequences with chosen tokens removed.

    What the faithfulness metrics read (``ModelPerturber`` in ``attribution/engine/perturb.py``
    offers the same for any model the engine reads): ``replacement``, ``empty_ok`` (False when
    removing every token leaves no input), ``net.num_classes`` and ``logits(ids_list, drop_masks)``.
    """

    def __init__(self, net, replacement: str = "pad", batch_size: int = 512):
        check_replacement(replacement)
        self.net, self.replacement, self.batch_size = net, replacement, batch_size
        # with widest filter 1 there is no padding: a fully deleted sentence has no window at all
        self.empty_ok = replacement != "delete" or net.pad > 0
        self._logits = tf.function(self._padded_logits, reduce_retracing=True)

    def _padded_logits(self, ids, keep):
        """ids, keep: (batch, time); keep is 1.0 for kept positions (PAD positions too)."""
        emb = self.net.embed(ids) * keep[..., None]
        return self.net.logits_from_embeddings(emb, ids)

    def logits(self, ids_list, drop_masks=None) -> np.ndarray:
        """Logits (n, classes) for each sentence ``ids_list[i]`` (1-D token ids, no padding) with
        the tokens where ``drop_masks[i]`` is True removed (None: nothing removed)."""
        if drop_masks is None:
            drop_masks = [np.zeros(len(x), bool) for x in ids_list]
        rows, keeps = removal_rows(ids_list, drop_masks, self.replacement)
        pad = self.net.pad
        out = None
        for b in length_batches([len(r) for r in rows], self.batch_size):
            ids = pad_batch([rows[i] for i in b], pad, min_len=max(self.net.widths))  # an all-deleted row still fits
            keep = np.ones(ids.shape, np.float32)
            for j, i in enumerate(b):
                keep[j, pad:pad + len(keeps[i])] = keeps[i]
            logits = self._logits(tf.constant(ids), tf.constant(keep)).numpy()
            if out is None:
                out = np.zeros((len(rows), logits.shape[1]), np.float32)
            out[b] = logits
        return out if out is not None else np.zeros((0, self.net.num_classes), np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
