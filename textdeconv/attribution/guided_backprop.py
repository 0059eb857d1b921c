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

from textdeconv.attribution.gradient import Gradient


@tf.custom_gradient
def guided_relu(z):
    """ReLU whose backward pass lets through only positive signal where z > 0."""
    def grad(dy):
        return tf.nn.relu(dy) * tf.cast(z > 0, dy.dtype)
    return tf.nn.relu(z), grad


class GuidedBackprop(Gradient):
    """Batched guided backpropagation over a ``TextCNN``: ``Gradient``'s gradient x input taken
    through a guided ``forward_logits`` instead of the model's own forward pass."""

    def __init__(self, net, vocab, class_names):
        super().__init__(net, vocab, class_names, method="grad-x-input")
        self.name = "guided-backprop"

    def forward_logits(self, emb, ids):
        """emb (batch, time, E) -> logits (batch, classes), with ``guided_relu`` in each conv; the
        forward values equal the model's own logits."""
        pooled = []
        for conv, mask in zip(self.net.convs, self.net.masks):
            z = tf.nn.conv1d(emb, conv.kernel, 1, "VALID") + conv.bias  # (batch, time - w + 1, F)
            pooled.append(tf.reduce_max(mask(guided_relu(z), ids), axis=1))
        return self.net.logits_from_pooled(tf.concat(pooled, axis=-1))
