"""Guided backpropagation (Springenberg et al., 2015) for the TextCNN.

The gradient of the target logit logit_c (pre-softmax) with respect to the embedded input, except
that the backward pass through the conv ReLU keeps only positive signal at positions whose forward
input was positive:  d/dz = ReLU(dy) * (z > 0)  instead of  dy * (z > 0).
The conv is recomputed from its weights (z = conv1d(emb, K_w) + b_w) so the overridden ReLU sits
exactly where the model's own ReLU does; window mask, max-pool and output layer are the model's.

    score_t = guided_grad[t] . emb[t]    (signed; both channels for multichannel)

Sign convention: the guided signal reaching the embeddings is a sum of filters with a positive
class-c weight, each taken at its max-pool switch; the score is its dot product with the word, so
positive = the word drives filters that vote for c, negative = the word lowers such a filter's
activation (a kernel entry opposing the word). Filters voting against c are cut off, so unlike
gradient x input nothing here says "this word is evidence against c through filter j".

With one conv layer the signal reaching h is W[j,c] at the switch, so guided backprop equals the
deconvnet's ``deconv-rectified`` signal (ReLU(W[j,c]) at the switch of alive filters).
"""
from __future__ import annotations

import tensorflow as tf

from textdeconv.attribution import register
from textdeconv.attribution.gradient import pick_target
from textdeconv.explanation import Explainer


@tf.custom_gradient
def guided_relu(z):
    """ReLU whose backward pass lets through only positive signal where z > 0."""
    def grad(dy):
        return tf.nn.relu(dy) * tf.cast(z > 0, dy.dtype)
    return tf.nn.relu(z), grad


class GuidedBackprop(Explainer):
    """Batched guided backpropagation over a ``TextCNN``."""

    name = "guided-backprop"

    def __init__(self, net, vocab, class_names):
        super().__init__(net, vocab, class_names)
        self._core = tf.function(self.guided_gradients, reduce_retracing=True)

    def guided_logits(self, emb, ids):
        """emb (batch, time, E) -> logits (batch, classes), with ``guided_relu`` in each conv."""
        pooled = []
        for conv, mask in zip(self.net.convs, self.net.masks):
            z = tf.nn.conv1d(emb, conv.kernel, 1, "VALID") + conv.bias  # (batch, time - w + 1, F)
            pooled.append(tf.reduce_max(mask(guided_relu(z), ids), axis=1))
        return self.net.dense(tf.concat(pooled, axis=-1))

    def guided_gradients(self, ids, target):
        """Guided gradients for one padded batch.

        Args:
            ids: (batch, time) int32; target: (batch,) int32, -1 = predicted class.
        Returns:
            dict of tensors: grad (batch, time, E), scores (batch, time), logits (batch, classes),
            target (batch,).
        """
        emb = self.net.embed(ids)
        with tf.GradientTape() as tape:
            tape.watch(emb)
            logits = self.guided_logits(emb, ids)  # forward values equal the model's own logits
            target, logit_c = pick_target(logits, target)
            objective = tf.reduce_sum(logit_c)
        grad = tape.gradient(objective, emb)
        return {"grad": grad, "scores": tf.reduce_sum(grad * emb, axis=-1), "logits": logits, "target": target}

    def attribute_ids(self, ids, target) -> dict:
        res = self._core(tf.constant(ids, tf.int32), tf.constant(target, tf.int32))
        return {k: v.numpy() for k, v in res.items() if k != "grad"}


@register("guided-backprop")
def _make(net, vocab, class_names, **options):
    return GuidedBackprop(net, vocab, class_names, **options)
