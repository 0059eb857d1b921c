"""Removing tokens from the input of any model the engine reads: the faithfulness metrics'
perturber (``textdeconv.evaluation.faithfulness``) and the occlusion and random baselines for it.

    explainer = analyzer(model, "deconvnet").explainer(vocabulary=vectorizer)
    expls = explainer.explain(texts)
    perturber = ModelPerturber(explainer, replacement="pad")
    eraser(expls, perturber), deletion_insertion(expls, perturber)
    occlusion_explanations(expls, perturber), random_explanations(expls)

``ModelPerturber`` offers what the metrics read from textdeconv's own ``Perturber``:
``replacement``, ``empty_ok``, ``net.num_classes`` (and ``net.pad``) and ``logits(ids_list,
drop_masks)``. Each perturbed sentence is laid out exactly as the explainer laid out the
sentences it explained, so p_c of the unperturbed sentence is the explanation's own ``probs``:

- a ``ModelExplainer`` (someone else's model): right-padded with id 0 to the model's fixed input
  length, or, for a model of variable length, to the sentence's own length or the fewest ids the
  model needs (``graph.min_length``);
- an ``EngineExplainer`` over our ``TextCNN``: ``net.pad`` PAD ids on each side, as our runs.

Rows are batched only with rows of the same width, so no row's logits depend on its batch.

Replacements (what "removed" means; the same names as ``textdeconv.attribution.perturb``):

- ``pad``: at the removed positions every Embedding's output becomes its row for the padding id 0,
  the ids and everything else staying in place. For a model that reads its ids only through its
  Embeddings this is writing id 0 there, i.e. what the model saw as padding in training; on our
  TextCNN, whose id 0 embeds to the zero vector and whose window mask reads the ids, it is exactly
  our ``Perturber``'s ``pad`` (the embedding zeroed, the word still counted);
- ``unk``: the id becomes 1, the unknown word;
- ``delete``: the token is cut out and the sentence closes up (a shorter row, laid out again).

The logits are the engine's (``Analyzer``): the head Dense's pre-activation, and [0, z] for a
single sigmoid unit z, so their softmax is the model's probabilities.
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import tensorflow as tf

from textdeconv.attribution.engine.explainer import EngineExplainer, ModelExplainer
from textdeconv.attribution.engine.rules import forward
from textdeconv.attribution.perturb import check_replacement, removal_rows
from textdeconv.attribution.random_baseline import sentence_scores
from textdeconv.errors import InputError


class ModelPerturber:
    """Logits of an engine explainer's model for id sequences with chosen tokens removed.

    Args:
        explainer: the ``ModelExplainer`` (or ``EngineExplainer`` over our TextCNN) whose
            explanations are evaluated; its analyzer's model is run and its row layout reused.
        replacement: ``pad``, ``unk`` or ``delete`` (module docstring).
        batch_size: rows per compiled forward call.
    """

    def __init__(self, explainer, replacement: str = "pad", batch_size: int = 512):
        check_replacement(replacement)
        if not isinstance(explainer, EngineExplainer):
            raise InputError(f"ModelPerturber needs an engine explainer (ModelExplainer or EngineExplainer), "
                             f"got {type(explainer).__name__}; for our own runs use textdeconv's Perturber(net)")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size!r}")
        self.graph = explainer.analyzer.graph
        self.replacement, self.batch_size = replacement, int(batch_size)
        if isinstance(explainer, ModelExplainer):
            self.left, self.length, self.floor = 0, explainer.sequence_length, self.graph.min_length
        else:  # our TextCNN: [pad PAD | tokens | pad PAD], at least one window of the widest filter
            pad = int(explainer.net.pad)
            self.left, self.length, self.floor = pad, None, max(int(w) for w in explainer.net.widths)
        # a fully deleted sentence: padding fills the row to the model's length or minimum; our
        # TextCNN with widest filter 1 (no PAD) would have no window left (as our Perturber says)
        self.empty_ok = isinstance(explainer, ModelExplainer) or replacement != "delete" or self.left > 0
        self.net = SimpleNamespace(num_classes=self.graph.num_classes, pad=self.left)
        spec = tf.TensorSpec([None, self.graph.sequence_length], tf.int32)
        keep = tf.TensorSpec([None, self.graph.sequence_length], tf.float32)
        self._logits = tf.function(self._run, input_signature=[spec, keep], autograph=False)

    @property
    def units(self) -> int:
        """Width of the model's head (1 = one sigmoid unit, read as two classes)."""
        return self.graph.units

    def width(self, n: int) -> int:
        """Ids per row for a sentence of ``n`` tokens, as the explainer lays it out."""
        if self.length is not None:
            return self.length
        return max(n + 2 * self.left, self.floor)

    def _run(self, ids, keep):
        """ids (batch, time) int32; keep (batch, time) 1.0 where the embedding stays -> logits."""
        graph = self.graph
        values = {graph.ids_key: tf.cast(ids, graph.ids_dtype)}
        for step in graph.steps:
            if step.kind == "embedding":
                out = step.call(values)
                pad_row = step.layer(tf.zeros_like(values[graph.ids_key][:, :1]))  # (batch, 1, E): id 0's row
                k = tf.cast(keep, out.dtype)[..., None]
                values[step.output] = out * k + pad_row * (1 - k)
            else:
                values[step.output], _ = forward(step, values, None, shared=frozenset())  # no backward: no copies
        z = tf.cast(values[graph.head.output], tf.float32)
        return tf.concat([tf.zeros_like(z), z], axis=-1) if graph.units == 1 else z

    def logits(self, ids_list, drop_masks=None) -> np.ndarray:
        """Logits (n, classes) for each sentence ``ids_list[i]`` (1-D token ids, no padding) with
        the tokens where ``drop_masks[i]`` is True removed (None: nothing removed)."""
        if drop_masks is None:
            drop_masks = [np.zeros(len(x), bool) for x in ids_list]
        for ids, drop in zip(ids_list, drop_masks):
            if np.shape(drop) != np.shape(ids):
                raise InputError(f"a drop mask has shape {np.shape(drop)} for {np.shape(ids)} token ids")
        rows, keeps = removal_rows([np.asarray(x, np.int64) for x in ids_list], drop_masks, self.replacement)
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(rows):
            if self.length is not None and len(r) > self.length:
                raise InputError(f"a sentence of {len(r)} ids does not fit the model's {self.length} ids per row")
            groups.setdefault(self.width(len(r)), []).append(i)
        out = np.zeros((len(rows), self.graph.num_classes), np.float32)
        for w, members in sorted(groups.items()):
            for start in range(0, len(members), self.batch_size):
                batch = members[start:start + self.batch_size]
                ids = np.zeros((len(batch), w), np.int32)
                keep = np.ones((len(batch), w), np.float32)
                for j, i in enumerate(batch):
                    ids[j, self.left:self.left + len(rows[i])] = rows[i]
                    keep[j, self.left:self.left + len(rows[i])] = keeps[i]
                out[batch] = self._logits(tf.constant(ids), tf.constant(keep)).numpy()
        return out

    def explained_logits(self, logits: np.ndarray, target) -> np.ndarray:
        """The value the engine explains for each row: the target's logit, or +-z for a sigmoid unit
        (class 1 is +z, class 0 is -z; the [0, z] logits would leave class 0 constant)."""
        logits, target = np.asarray(logits), np.asarray(target)
        if self.units == 1:
            return np.where(target == 1, 1.0, -1.0) * logits[:, 1]
        return logits[np.arange(len(target)), target]


def occlusion_explanations(expls, perturber: ModelPerturber) -> list:
    """Leave-one-out occlusion for the same sentences and targets as ``expls``:
    score_t = v(x) - v(x with token t removed), v the explained logit (``explained_logits``),
    removal by the perturber's ``replacement``; one batched perturber call for every sentence."""
    expls = list(expls)
    ids, drops, owner = [], [], []
    for i, e in enumerate(expls):
        n = len(e.token_ids)
        ids += [e.token_ids] * (n + 1)
        drops += [np.zeros(n, bool)] + list(np.eye(n, dtype=bool))
        owner += [i] * (n + 1)
    targets = np.array([expls[i].target for i in owner], np.int64)
    values = perturber.explained_logits(perturber.logits(ids, drops), targets) if ids else np.zeros(0)
    out, start = [], 0
    for e in expls:
        n = len(e.token_ids)
        full, removed = values[start], values[start + 1:start + 1 + n]
        start += n + 1
        out.append(replace(e, scores=(full - removed).astype(np.float32), method="occlusion",
                           extras={"replacement": perturber.replacement}))
    return out


def random_explanations(expls, seed: int = 0) -> list:
    """The random baseline for the same sentences and targets: N(0, 1) scores seeded by (seed,
    length, token ids), as textdeconv's ``random`` method draws them."""
    return [replace(e, scores=sentence_scores(e.token_ids, seed), method="random", extras={}) for e in expls]
