"""``Analyzer``: one method of the reverse engine on one Keras text model, as a compiled batched graph.

    a = analyzer(keras_model, method="deconvnet")
    scores = a.attribute(ids)                    # ids (batch, time) int -> scores (batch, time)
    expls = a.explain(["a gripping film"], vocabulary="vocab.txt")   # Explanation objects

The forward pass runs once under a persistent GradientTape watching the embedded input, keeping
every step's output; the backward walk then visits the steps in reverse topological order and
applies each one's rule (``rules.py``), summing the signals of a tensor read by several layers.
The walk starts at the head Dense's pre-activation logits with the one-hot target (signal rules),
or with the target logit itself as relevance (LRP rules); a single sigmoid unit z is read as two
classes with logits [0, z] (softmax of those is the model's [1 - sigmoid(z), sigmoid(z)]), and
class 0 is explained as -z.

``contrast=True`` (lrp-alpha-beta and lrp-zplus only): the explained value is the contrast
d_c = z_c - mean_{o != c} z_o instead of z_c, i.e. the head Dense (W, b) is read as (W M, b M)
with M_jc = 1 (j = c) and -1 / (C - 1) otherwise. Those rules pass the explained value's sign to
every word (alpha = 1, beta = 0: all relevance flows along positive contributions), so a
predicted class whose own logit is negative would get an all-negative map and every ranking would
invert; d_c of the predicted class is never negative. A sigmoid unit is already its own contrast
(z and -z), so the option changes nothing there.

Word scores at every Embedding output e (batch, time, E) with the signal g there: ``dot``
score_t = g[t] . e[t], ``sum`` sum_e g[t, e], ``norm`` ||g[t]|| (over all embedding tables
together), and for LRP the relevance summed over E. With LRP-epsilon the scores obey

    sum_t score_t = logit_c - sum_{affine layers} sum_o R_o (b_o + eps s_o) / (z_o + eps s_o)

exactly (see rules.py), padding positions included; ``absorbed`` reports the subtracted sum, and
every LRP method keeps sum_t score_t + absorbed = logit_c with absorbed from its own rule.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import tensorflow as tf

from textdeconv.attribution.engine.graph import build_graph
from textdeconv.attribution.engine.rules import DEFAULT_EPSILON, RULE_NAMES, SCORES, backward, forward, make_rule
from textdeconv.errors import InputError

AFFINE_KINDS = ("kernel", "channel", "average")


class Analyzer:
    """A method of the engine (``RULE_NAMES``) over a supported Keras model.

    Args:
        model: a built Keras 3 functional or Sequential model from integer ids to logits (see
            graph.py for the supported layers); checked here, before any work.
        method: deconvnet, guided-backprop, gradient, grad-x-input, lrp-epsilon, lrp-alpha-beta
            or lrp-zplus.
        saliency: signal methods only: dot, norm or sum (default: sum for gradient, dot otherwise).
        epsilon: lrp-epsilon's stabiliser (0 gives LRP-0); alpha, beta: lrp-alpha-beta's weights,
            alpha - beta = 1.
        taps: compute each stride-1 Conv1D that reads the embeddings by taps, so the dot-saliency
            and LRP-epsilon word scores need no transposed convolution (rules.tap_forward); False
            runs every layer through its vector-Jacobian product (the reference path).
        contrast: lrp-alpha-beta / lrp-zplus: explain z_c - mean of the other logits (module
            docstring); False (the default here, as iNNvestigate and zennit) explains z_c.

    Raises:
        UnsupportedModelError (an InputError): the model holds a layer no rule covers.
        InputError: an unknown method or a bad option.
    """

    def __init__(self, model, method: str = "deconvnet", *, saliency: str | None = None,
                 epsilon=DEFAULT_EPSILON, alpha=1.0, beta=0.0, taps: bool = True, contrast: bool = False):
        self.rule = make_rule(method, saliency, epsilon, alpha, beta)
        if not isinstance(contrast, bool):
            raise InputError(f"{method}: contrast must be True or False, got {contrast!r}")
        if contrast and self.rule.lrp != "alpha-beta":
            raise InputError(f"{method}: contrast applies to lrp-alpha-beta and lrp-zplus only (their maps take the "
                             "explained value's sign)")
        self.contrast = contrast
        self.graph = build_graph(model)
        self.model, self.method = model, method
        self._affine_steps = [s for s in self.graph.steps if s.kind in AFFINE_KINDS]
        # one column per layer call: a shared layer's calls are "name#1", "name#2", ... in walk order
        calls = Counter(s.name for s in self._affine_steps)
        seen = Counter()
        self.affine_layers = []
        for s in self._affine_steps:
            seen[s.name] += 1
            self.affine_layers.append(s.name if calls[s.name] == 1 else f"{s.name}#{seen[s.name]}")
        self.vocab_size = min(int(s.layer.input_dim) for s in self.graph.embeddings)
        # a Conv1D on the embeddings is computed by taps when the word score is linear in its signal
        linear_score = self.rule.saliency == "dot" or self.rule.lrp == "epsilon"
        self.tap_steps = {s for s in self.graph.steps if s.on_embeddings and linear_score and taps}
        spec = [tf.TensorSpec([None, self.graph.sequence_length], tf.int32), tf.TensorSpec([None], tf.int32)]
        # autograph off: the walk is plain Python over the steps, traced once per input signature
        self._core = tf.function(self.run, input_signature=spec, autograph=False)

    @property
    def num_classes(self) -> int:
        return self.graph.num_classes

    def run(self, ids, target) -> dict:
        """The method on one batch (traceable).

        Args:
            ids: (batch, time) int32; target: (batch,) int32, -1 = the predicted class.
        Returns:
            dict of tensors: scores (batch, time) float32, logits (batch, classes), target (batch,),
            target_logit (batch,) the explained value (the target's logit; -z for class 0 of a
            sigmoid unit) and, for LRP, absorbed (batch,) and absorbed_layers (batch, affine layers).
        """
        graph, rule = self.graph, self.rule
        values, caches, shared = {graph.ids_key: tf.cast(ids, graph.ids_dtype)}, {}, graph.shared
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
            for step in graph.steps:
                values[step.output], caches[step] = forward(step, values, tape, step in self.tap_steps, shared)
        z = values[graph.head.output]  # the head's pre-activation: forward() never applies softmax/sigmoid
        z32 = tf.cast(z, tf.float32)
        logits = tf.concat([tf.zeros_like(z32), z32], axis=-1) if graph.units == 1 else z32
        target = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
        if graph.units == 1:
            seed = tf.where(target == 1, 1.0, -1.0)[:, None]
        else:
            seed = tf.one_hot(target, graph.units)
        head = graph.head
        if self.contrast and graph.units > 1:
            head, mix = contrast_head(head, graph.units)
            z32 = z32 @ mix  # d (batch, C): every class's contrast logit
        explained = tf.reduce_sum(seed * z32, axis=-1)
        seed = tf.cast(seed * z32 if rule.family == "lrp" else seed, z.dtype)
        signals, absorbed = {graph.head.output: seed}, {}
        batch, time = tf.shape(ids)[0], tf.shape(ids)[1]
        scores = tf.zeros([batch, time], tf.float32)
        for step in reversed(graph.steps):
            g = signals.pop(step.output, None)
            if g is None:
                continue  # no path from this layer to the logits
            if step.kind == "embedding":
                scores += self._word_scores(g, values[step.output])
                continue
            flows, lost = backward(rule, head if step is graph.head else step, values, caches[step], tape, g)
            if lost is not None:
                absorbed[step] = lost
            for key, f in flows:
                if key == SCORES:
                    scores += f
                else:
                    signals[key] = signals[key] + f if key in signals else f
        if rule.saliency == "norm":
            scores = tf.sqrt(scores)
        out = {"scores": scores, "logits": logits, "target": target, "target_logit": explained}
        if rule.family == "lrp":
            layers = [absorbed.get(step, tf.zeros([batch])) for step in self._affine_steps]
            out["absorbed_layers"] = tf.stack(layers, axis=1)
            out["absorbed"] = tf.add_n(layers)
        return out

    def _word_scores(self, g, emb):
        g, emb = tf.cast(g, tf.float32), tf.cast(emb, tf.float32)
        saliency = self.rule.saliency
        if self.rule.family == "lrp" or saliency == "sum":
            return tf.reduce_sum(g, axis=-1)
        if saliency == "norm":
            return tf.reduce_sum(tf.square(g), axis=-1)  # square-rooted once every table has added its part
        return tf.reduce_sum(g * emb, axis=-1)

    def check_ids(self, ids) -> np.ndarray:
        """``ids`` as a (batch, time) int32 array the model reads; InputError otherwise."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
            raise InputError(f"ids must be a (batch, time) integer array, got shape {ids.shape} dtype {ids.dtype}")
        length = self.graph.sequence_length
        if length is not None and ids.shape[1] != length:
            raise InputError(f"model {self.model.name!r} reads {length} ids per row, got {ids.shape[1]}")
        if ids.shape[1] < self.graph.min_length:
            raise InputError(f"model {self.model.name!r} needs at least {self.graph.min_length} ids per row "
                             f"(its convolutions and poolings), got {ids.shape[1]}; pad with 0")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError(f"ids must lie in 0-{self.vocab_size - 1} (the embedding's rows), "
                             f"got {ids.min()}-{ids.max()}")
        return ids.astype(np.int32)

    def check_target(self, target, batch: int) -> np.ndarray:
        """None -> -1 (predicted) for every row; an int or one per row, checked against the classes."""
        if target is None:
            return np.full(batch, -1, np.int32)
        t = np.asarray(target)
        if t.ndim == 0:
            t = np.full(batch, int(t))
        if t.shape != (batch,) or not np.issubdtype(t.dtype, np.integer):
            raise InputError(f"target must be None, a class index or {batch} indices, got {target!r}")
        if np.any((t < -1) | (t >= self.num_classes)):
            raise InputError(f"target class indices must lie in 0-{self.num_classes - 1} (-1 = predicted), "
                             f"got {t.tolist()}")
        return t.astype(np.int32)

    def analyze(self, ids, target=None) -> dict:
        """``run`` on numpy ids: every output as a numpy array (see ``run``)."""
        ids = self.check_ids(ids)
        target = self.check_target(target, ids.shape[0])
        return {k: v.numpy() for k, v in self._core(tf.constant(ids), tf.constant(target)).items()}

    def attribute(self, ids, target=None) -> np.ndarray:
        """Word scores (batch, time) float32 for ids (batch, time); target None = predicted class."""
        return self.analyze(ids, target)["scores"]

    def explainer(self, vocabulary=None, class_names=None, **kwargs):
        """A ``ModelExplainer`` (an ``Explainer``) over this analyzer: ``explain(texts)`` gives
        ``Explanation``s. See ``explainer.ModelExplainer`` for the options."""
        from textdeconv.attribution.engine.explainer import ModelExplainer

        return ModelExplainer(self, vocabulary, class_names, **kwargs)

    def explain(self, texts, vocabulary=None, target=None, class_names=None, batch_size: int = 128, **kwargs):
        """``Explanation``s for raw texts or token lists (see ``explain_model``)."""
        return self.explainer(vocabulary, class_names, **kwargs).explain(texts, target=target, batch_size=batch_size)


class Dense:
    """The head Dense read through a class mix (``contrast_head``): what ``rules.linear`` and
    ``rules._bias`` read of a layer (its class name picks the matmul path)."""

    def __init__(self, layer, kernel, bias):
        self.name, self.compute_dtype, self.kernel, self.bias = layer.name, layer.compute_dtype, kernel, bias


def contrast_head(head, units: int):
    """(the head step with kernel W M and bias b M, M (C, C)): column c of M gives
    d_c = z_c - mean_{o != c} z_o."""
    mix = (tf.eye(units) * (1.0 + 1.0 / (units - 1)) - 1.0 / (units - 1))
    layer = head.layer
    kernel = tf.cast(layer.kernel, tf.float32) @ mix
    bias = None if getattr(layer, "bias", None) is None else tf.linalg.matvec(mix, tf.cast(layer.bias, tf.float32),
                                                                              transpose_a=True)
    return dataclasses.replace(head, layer=Dense(layer, kernel, bias)), mix


def analyzer(model, method: str = "deconvnet", **options) -> Analyzer:
    """``Analyzer(model, method, **options)``: the engine's entry point (``td.analyzer``).

    Methods: ``RULE_NAMES``; options: saliency (signal methods), epsilon (lrp-epsilon), alpha and
    beta (lrp-alpha-beta), contrast (lrp-alpha-beta, lrp-zplus).
    """
    return Analyzer(model, method, **options)


__all__ = ["Analyzer", "analyzer", "RULE_NAMES"]
