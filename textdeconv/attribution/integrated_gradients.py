"""Integrated gradients (Sundararajan et al., 2017) in embedding space.

For one sentence, target class c, embedded input x = emb (time, E) and baseline x' (time, E):

    score_t = sum_e (x[t,e] - x'[t,e]) * avg_grad[t,e],
    avg_grad = sum_k w_k * d logit_c / d emb evaluated at x' + alpha_k (x - x'),

a quadrature of the path integral over alpha in [0, 1]. ``rule``:

- ``midpoint`` (default): alpha_k = (k + 1/2) / steps, w_k = 1 / steps, k = 0 .. steps-1
  (``steps`` gradient evaluations);
- ``trapezoid``: alpha_k = k / steps, k = 0 .. steps, w = 1 / steps with halves at both ends
  (``steps + 1`` evaluations).

Completeness: the exact integral sums to logit_c(x) - logit_c(x'); the quadrature misses by
``extras["delta"] = sum_t score_t - (logit_c(x) - logit_c(x'))`` per example (padding included,
whose score is zero for both baselines), which shrinks as ``steps`` grows. The logit is piecewise
linear along the path (ReLU and max kinks), so the error falls roughly as 1/steps.

Baselines (``baseline``): ``zero`` = every word's embedding is the zero vector, i.e. the PAD
embedding; ``unk`` = every word is the unknown-word token. Either way ``ids`` stay unchanged, so the
window mask (the sentence's length) is the same at every point of the path.

Signed: positive = evidence for class c relative to the baseline.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from textdeconv.attribution.explanation import Explainer
from textdeconv.attribution.gradient import pick_target
from textdeconv.data.vocab import UNK_ID
from textdeconv.errors import InputError

BASELINES = ("zero", "unk")
RULES = ("midpoint", "trapezoid")


def quadrature(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, weights), float32 arrays of equal length whose weights sum to 1."""
    if rule == "midpoint":
        return ((np.arange(steps) + 0.5) / steps).astype(np.float32), np.full(steps, 1.0 / steps, np.float32)
    weights = np.full(steps + 1, 1.0 / steps, np.float32)
    weights[[0, -1]] /= 2
    return np.linspace(0.0, 1.0, steps + 1, dtype=np.float32), weights


class IntegratedGradients(Explainer):
    """Batched integrated gradients over a ``TextCNN``.

    Args:
        net, vocab, class_names: as for ``Explainer``.
        steps: number of quadrature intervals (>= 1).
        baseline: ``zero`` (PAD embedding) or ``unk``.
        rule: ``midpoint`` or ``trapezoid``.
        internal_batch_size: most interpolated inputs per gradient call; the steps x batch
            inputs are cut into chunks of whole steps to bound memory (at least one step a chunk).
    """

    name = "integrated-gradients"

    def __init__(self, net, vocab, class_names, steps: int = 50, baseline: str = "zero",
                 rule: str = "midpoint", internal_batch_size: int = 4096):
        super().__init__(net, vocab, class_names)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        if baseline not in BASELINES:
            raise InputError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
        if rule not in RULES:
            raise InputError(f"unknown quadrature rule {rule!r}; choose one of {', '.join(RULES)}")
        if internal_batch_size < 1:
            raise InputError(f"internal_batch_size must be >= 1, got {internal_batch_size!r}")
        self.steps, self.baseline, self.rule = int(steps), baseline, rule
        self.internal_batch_size = int(internal_batch_size)
        self.alphas, self.weights = quadrature(self.steps, rule)
        self._path = tf.function(self.path_gradient, reduce_retracing=True)
        self._ends = tf.function(self.endpoints, reduce_retracing=True)

    def endpoints(self, ids, target):
        """Input, baseline and their target logits for one padded batch.

        Args:
            ids: (batch, time) int32; target: (batch,) int32, -1 = predicted class.
        Returns:
            emb, base (batch, time, E); logits (batch, classes); target, logit_c,
            baseline_logit (batch,).
        """
        emb = self.net.embed(ids)
        if self.baseline == "zero":
            base = tf.zeros_like(emb)
        else:  # every word -> UNK, PAD stays PAD (and zero)
            base = self.net.embed(tf.where(ids != 0, tf.fill(tf.shape(ids), UNK_ID), ids))
        logits = self.net.logits_from_embeddings(emb, ids)
        target, logit_c = pick_target(logits, target)
        base_logit = tf.gather(self.net.logits_from_embeddings(base, ids), target, batch_dims=1)
        return emb, base, logits, target, logit_c, base_logit

    def path_gradient(self, emb, base, ids, target, alphas, weights):
        """sum_k w_k * d logit_c / d emb at base + alpha_k (emb - base), all k in one pass.

        Args:
            emb, base: (batch, time, E); ids: (batch, time) int32; target: (batch,) int32
                (resolved, no -1); alphas, weights: (k,) float32.
        Returns:
            (batch, time, E) float32.
        """
        k, b = tf.shape(alphas)[0], tf.shape(emb)[0]
        path = base[None] + alphas[:, None, None, None] * (emb - base)[None]  # (k, batch, time, E)
        path = tf.reshape(path, tf.concat([[k * b], tf.shape(emb)[1:]], 0))
        with tf.GradientTape() as tape:
            tape.watch(path)
            logits = self.net.logits_from_embeddings(path, tf.tile(ids, [k, 1]))
            objective = tf.reduce_sum(tf.gather(logits, tf.tile(target, [k]), batch_dims=1))
        grad = tf.reshape(tape.gradient(objective, path), tf.concat([[k], tf.shape(emb)], 0))
        return tf.einsum("k,kbte->bte", weights, grad)

    def attribute_ids(self, ids, target) -> dict:
        ids = tf.constant(ids, tf.int32)
        emb, base, logits, target, logit_c, base_logit = self._ends(ids, tf.constant(target, tf.int32))
        per_call = max(1, self.internal_batch_size // int(ids.shape[0]))
        avg_grad = tf.zeros_like(emb)
        for i in range(0, len(self.alphas), per_call):
            avg_grad += self._path(emb, base, ids, target, tf.constant(self.alphas[i:i + per_call]),
                                   tf.constant(self.weights[i:i + per_call]))
        scores = tf.reduce_sum((emb - base) * avg_grad, axis=-1).numpy()
        gap = (logit_c - base_logit).numpy()
        return {"scores": scores, "logits": logits.numpy(), "target": target.numpy(),
                "delta": scores.sum(axis=1) - gap, "baseline_logit": base_logit.numpy()}
