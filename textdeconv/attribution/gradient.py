"""Plain gradient saliency: the gradient of the target logit with respect to the embedded input.

For one sentence, target class c and padded position t, with g[t] = d logit_c / d emb[t]
(E values, both channels for multichannel; logit_c is the pre-softmax score, so the other
classes do not enter):

- ``gradient``      score_t = sum_e g[t, e]          signed: the directional derivative of logit_c
                                                     along the all-ones direction in embedding space.
- ``gradient-l2``   score_t = ||g[t]||_2             unsigned sensitivity (Simonyan et al., 2014).
- ``grad-x-input``  score_t = g[t] . emb[t]          signed: positive = the word pushes logit_c up.

For this TextCNN (one conv layer, ReLU, max-pool, linear output) gradient x input equals the
deconvnet's ``deconv`` scores exactly: d logit_c / d emb = sum_j W[j,c] d p_j / d emb, which is
the transposed convolution of the class weights placed at the max-pool switches.
"""
from __future__ import annotations

import tensorflow as tf

from textdeconv.attribution.explanation import Explainer
from textdeconv.errors import InputError
from textdeconv.model.textcnn import batch_function

REDUCTIONS = {"gradient": "sum", "gradient-l2": "l2", "grad-x-input": "dot"}


def pick_target(logits, target):
    """Resolve -1 to the predicted class and gather the target logit.

    Args:
        logits: (batch, classes) float32; target: (batch,) int32, -1 = predicted class.
    Returns:
        (target (batch,) int32, logit_c (batch,) float32).
    """
    target = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
    return target, tf.gather(logits, target, batch_dims=1)


def reduce_scores(grad, emb, reduction: str):
    """grad, emb (batch, time, E) -> scores (batch, time) by ``sum``, ``l2`` or ``dot``."""
    if reduction == "sum":
        return tf.reduce_sum(grad, axis=-1)
    if reduction == "l2":
        return tf.norm(grad, axis=-1)
    return tf.reduce_sum(grad * emb, axis=-1)


class Gradient(Explainer):
    """Batched gradient saliency over a ``TextCNN``; ``method`` is one of ``REDUCTIONS``.

    Args:
        net, vocab, class_names: as for ``Explainer``.
        method: registry name, which picks the reduction over embedding dimensions.
    """

    def __init__(self, net, vocab, class_names, method: str = "grad-x-input"):
        super().__init__(net, vocab, class_names)
        if method not in REDUCTIONS:
            raise InputError(f"unknown gradient method {method!r}; choose one of {', '.join(REDUCTIONS)}")
        self.name, self.reduction = method, REDUCTIONS[method]
        self._core = batch_function(self.gradients)

    def forward_logits(self, emb, ids):
        """emb (batch, time, E) -> logits (batch, classes): the function whose gradient is taken."""
        return self.net.logits_from_embeddings(emb, ids)

    def gradients(self, ids, target):
        """Target-logit gradients for one padded batch.

        Args:
            ids: (batch, time) int32; target: (batch,) int32, -1 = predicted class.
        Returns:
            dict of tensors: grad (batch, time, E), scores (batch, time), logits (batch, classes),
            target (batch,).
        """
        emb = self.net.embed(ids)
        with tf.GradientTape() as tape:
            tape.watch(emb)
            logits = self.forward_logits(emb, ids)
            target, logit_c = pick_target(logits, target)
            # rows are independent, so the gradient of the batch sum is every row's own gradient
            objective = tf.reduce_sum(logit_c)
        grad = tape.gradient(objective, emb)
        return {"grad": grad, "scores": reduce_scores(grad, emb, self.reduction), "logits": logits,
                "target": target}

    def attribute_ids(self, ids, target) -> dict:
        res = self._core(tf.constant(ids, tf.int32), tf.constant(target, tf.int32))
        return {k: v.numpy() for k, v in res.items() if k != "grad"}
