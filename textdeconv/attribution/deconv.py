"""Deconvolutional network (Zeiler & Fergus) for the TextCNN: switches, unpooling, and the
transposed convolution with the tied filters, giving a score for every word.

For width w, filter j, padded position t:  z[t,j] = sum_{k<w} emb[t+k] . K_w[k,:,j] + b_j,
h = ReLU(z) (window-masked), p_j = max_t h[t,j].

1. Switches  S[t,j] = d p_j / d h[t,j], from a GradientTape: 1 at the max (1/k on k exact ties).
2. Unpool    U[t,j] = S[t,j] * sigma_j, with sigma_j the chosen signal, zero for filters that
             are dead (p_j = 0): a dead filter has no switch and adds nothing to any logit.
3. Project   R = sum_w conv1d_transpose(U_w, K_w), VALID, output shape = the embedded input's:
             R (batch, time, E) lives in embedding space (both channels for multichannel).
4. Score     dot: score_t = R[t] . emb[t] (default);  norm: ||R[t]||_2.

Because conv1d_transpose is the adjoint of the convolution, R = d(sum_j sigma_j p_j)/d emb
(sigma held constant), and with the dot score the word scores add up to
sum_t score_t = sum_{j alive} sigma_j (p_j - b_j). Signals (``method`` names):

- ``deconv`` — class evidence decomposition: sigma_j = W[j,c] (the class-c output weight).
  Signed: positive = evidence for class c. R equals the gradient of logit_c, scores equal
  gradient x input, and they sum to logit_c - b_c - sum_{j alive} W[j,c] b_j.
- ``deconv-activation`` — Zeiler & Fergus feature reconstruction, class-agnostic:
  sigma_j = p_j (the seed recipe: gradient mask x pooled value). Sum: sum_j p_j (p_j - b_j).
- ``deconv-weighted`` — the class-weighted reconstruction sigma_j = W[j,c] p_j.
- ``deconv-rectified`` — the Zeiler-Fergus deconvnet rule: the backward signal is rectified on
  the way down instead of being gated by the forward ReLU mask. With one conv layer the signal
  reaching h is S * W[j,c], so the rule keeps sigma_j = ReLU(W[j,c]): positive evidence only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from textdeconv.attribution.explanation import Explainer
from textdeconv.errors import InputError
from textdeconv.model.textcnn import batch_function

SIGNALS = ("deconv", "deconv-activation", "deconv-weighted", "deconv-rectified")
SALIENCY = ("dot", "norm")


class Deconvnet(Explainer):
    """Batched deconvnet over a ``TextCNN``; ``method`` picks the signal, ``saliency`` the score."""

    def __init__(self, net, vocab, class_names, method: str = "deconv", saliency: str = "dot",
                 fast: bool = True):
        super().__init__(net, vocab, class_names)
        if method not in SIGNALS:
            raise InputError(f"unknown deconvnet signal {method!r}; choose one of {', '.join(SIGNALS)}")
        if saliency not in SALIENCY:
            raise InputError(f"unknown saliency {saliency!r}; choose one of {', '.join(SALIENCY)}")
        self.name, self.saliency = method, saliency
        # the window-tap path needs no projection vectors, so it serves the dot saliency only
        self.fast = bool(fast) and saliency == "dot"
        self._core = batch_function(self.tap_scores if self.fast else self.project)

    def signal(self, pooled, target):
        """sigma (batch, F_total) for pooled (batch, F_total) and target (batch,) int32."""
        w_c = tf.gather(tf.transpose(self.net.output_weights), target)  # (batch, F_total)
        alive = tf.cast(pooled > 0, pooled.dtype)
        sigma = {"deconv": w_c, "deconv-activation": pooled, "deconv-weighted": w_c * pooled,
                 "deconv-rectified": tf.nn.relu(w_c)}[self.name]
        return sigma * alive

    def project(self, ids, target):
        """The deconvnet on one padded batch.

        Args:
            ids: (batch, time) int32; target: (batch,) int32, -1 = predicted class.
        Returns:
            dict of tensors: projection (batch, time, E), scores (batch, time), logits
            (batch, classes), target (batch,), pooled / sigma / switch (batch, F_total) and
            expected_total (batch,) = sum_{j alive} sigma_j (p_j - b_j).
        """
        net = self.net
        emb = net.embed(ids)
        h = net.conv_outputs(emb, ids)
        with tf.GradientTape() as tape:
            tape.watch(h)
            parts = [tf.reduce_max(x, axis=1) for x in h]
            total = tf.add_n([tf.reduce_sum(p) for p in parts])
        switches = tape.gradient(total, h)  # d p_j / d h[t, j]: the gradient mask of the max
        pooled = tf.concat(parts, axis=-1)
        logits = net.logits_from_pooled(pooled)
        target = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
        sigma = self.signal(pooled, target)
        sizes = [int(x.shape[-1]) for x in h]
        projection = tf.zeros_like(emb)
        for s_w, sig_w, conv in zip(switches, tf.split(sigma, sizes, axis=-1), net.convs):
            unpooled = s_w * sig_w[:, None, :]  # signal at the switch, zero elsewhere
            projection += tf.nn.conv1d_transpose(unpooled, conv.kernel, output_shape=tf.shape(emb),
                                                 strides=1, padding="VALID")
        if self.saliency == "dot":
            scores = tf.reduce_sum(projection * emb, axis=-1)
        else:
            scores = tf.norm(projection, axis=-1)
        return {"projection": projection, "scores": scores, **self._summary(h, pooled, logits, target, sigma)}

    def _summary(self, h, pooled, logits, target, sigma) -> dict:
        bias = tf.concat([conv.bias for conv in self.net.convs], axis=0)
        parts = tf.split(pooled, [int(x.shape[-1]) for x in h], axis=-1)
        return {"logits": logits, "target": target, "pooled": pooled, "sigma": sigma,
                "switch": tf.concat([first_max(x, p) for x, p in zip(h, parts)], axis=-1),
                "expected_total": tf.reduce_sum(sigma * (pooled - bias), axis=-1)}

    def tap_scores(self, ids, target):
        """The deconvnet's dot-saliency scores without the projection (the fast path).

        The convolution is computed by taps on the flattened batch: with emb as (batch*time, E)
        rows (w - 1 zero rows appended), A_k = emb[k : k + batch*time] @ K_w[k] is (batch*time, F)
        and A_k[r, j] = emb[r+k] . K_w[k,:,j], so z[r] = sum_k A_k[r] + b is the window starting at
        row r. The row slices share the embeddings' memory; rows whose window runs past the
        sentence's own padded length (into the next sentence) are zeroed by the window mask, as
        batch padding is. Since the unpooled signal U (zero except at the switches) enters the
        projection linearly,
            score_t = R[t] . emb[t] = sum_k sum_j U[t-k,j] K_w[k,:,j] . emb[t] = sum_k sum_j U[t-k,j] A_k[t-k,j],
        so each tap gives one score per window start, sum_j U[r,j] A_k[r,j], which lands on token
        r + k: elementwise work on A, never the (batch, time, E) projection. The switches are the
        max-pool gradient mask itself: TensorFlow's gradient of reduce_max is 1/m at each of the m
        positions equal to the max, which is ``sigma / m`` where h == p here.
        Equal to ``project``'s scores to float rounding (``tests/test_deconv.py``).

        Args / Returns: as ``project``, without ``projection``.
        """
        net = self.net
        emb = net.embed(ids)
        b, t, e = tf.shape(emb)[0], tf.shape(emb)[1], int(emb.shape[-1])
        wmax = max(int(conv.kernel.shape[0]) for conv in net.convs)
        rows = tf.concat([tf.reshape(emb, [-1, e]), tf.zeros([wmax - 1, e], emb.dtype)], axis=0)
        taps, h = [], []
        for conv, mask in zip(net.convs, net.masks):
            w, _, f = conv.kernel.shape
            a = [rows[k:k + b * t] @ conv.kernel[k] for k in range(w)]  # A_k (batch*time, F)
            taps.append(a)
            h.append(mask(tf.nn.relu(tf.reshape(tf.add_n(a) + conv.bias, [b, t, f])), ids))
        parts = [tf.reduce_max(x, axis=1) for x in h]
        pooled = tf.concat(parts, axis=-1)
        logits = net.logits_from_pooled(pooled)
        target = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
        sigma = self.signal(pooled, target)
        by_tap = [[] for _ in range(wmax)]  # by_tap[k]: per width, the score mass at window start + k
        for a, h_w, p_w, sig_w in zip(taps, h, parts, tf.split(sigma, [int(x.shape[-1]) for x in h], axis=-1)):
            hits = tf.equal(h_w, p_w[:, None, :])
            count = tf.reduce_sum(tf.cast(hits, h_w.dtype), axis=1)  # m >= 1: the max is always hit
            share = tf.where(hits, (sig_w / count)[:, None, :], tf.zeros([], h_w.dtype))  # sigma_j / m on m ties
            unpooled = tf.reshape(share, [b * t, -1])
            for k, a_k in enumerate(a):
                by_tap[k].append(tf.reduce_sum(unpooled * a_k, axis=-1))
        # window start r + k is a token of the same sentence (the mask zeroed every later start)
        scores = tf.add_n([tf.pad(tf.add_n(s), [[k, 0]])[:b * t] for k, s in enumerate(by_tap)])
        return {"scores": tf.reshape(scores, [b, t]), **self._summary(h, pooled, logits, target, sigma)}

    def attribute_ids(self, ids, target) -> dict:
        res = self._core(tf.constant(ids, tf.int32), tf.constant(target, tf.int32))
        res = {k: v.numpy() for k, v in res.items() if k != "projection"}  # projection: reference path only
        w_c = self.net.output_weights.numpy().T[res["target"]]  # (batch, F_total)
        res["contribution"] = w_c * res["pooled"]              # w_cj * p_j, this filter's share of logit_c
        res["switch"] = res["switch"] - self.net.pad           # window start as a token index
        return res


def first_max(h, p):
    """(batch, F) int32: the first time step where h (batch, time, F) equals its max p (batch, F).

    The same index as ``tf.argmax(h, axis=1)`` (the first of tied maxima), from an equality, a
    select and a min, which cost a fraction of TensorFlow's CPU ArgMax kernel on this layout.
    """
    n = tf.shape(h)[1]
    return tf.reduce_min(tf.where(tf.equal(h, p[:, None, :]), tf.range(n)[None, :, None], n), axis=1)


def filter_table(expl, net) -> pd.DataFrame:
    """Per-filter detail of one deconvnet Explanation: width, filter, switch (token index where
    the winning window starts; negative = it starts in the left padding), the n-gram it covers,
    activation p_j, signal sigma_j, contribution w_cj * p_j to the target logit, and alive."""
    x = expl.extras
    widths = np.repeat(net.widths, [int(c.filters) for c in net.convs])
    index = np.concatenate([np.arange(int(c.filters)) for c in net.convs])
    n = len(expl.tokens)
    ngrams = [" ".join(expl.tokens[t] if 0 <= t < n else "<pad>" for t in range(s, s + w))
              for s, w in zip(x["switch"], widths)]
    return pd.DataFrame({"width": widths, "filter": index, "switch": x["switch"], "ngram": ngrams,
                         "activation": x["pooled"], "signal": x["sigma"], "contribution": x["contribution"],
                         "alive": x["pooled"] > 0})
