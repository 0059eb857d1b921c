"""TracIn (Pruthi et al., 2020): how much training on a sentence lowered (or raised) the loss of another.

    TracIn(z, z') = sum over checkpoints i of  lr_i * grad loss(w_i, z) . grad loss(w_i, z')

with loss the cross-entropy of the sentence's label (the test sentence: its target, by default
the class the run's model predicts) in inference mode (no dropout). Positive: a **proponent**
(a gradient step on z lowers the loss of z'); negative: an **opponent**. Self-influence
TracIn(z, z) = sum_i lr_i |grad loss(w_i, z)|^2 is large for sentences the model keeps having to
be pushed towards, which is where mislabelled ones end up.

Two parameter sets:

``layers="output"`` (closed form): the output layer's weights W (F, C) and bias b. With
x = the Dense layer's input (pooled features, times 1 - dropout for ``output_weights: kim``) and
g = softmax(logits) - onehot(y), grad_W = x g^T and grad_b = g, so

    grad(z) . grad(z') = (x . x' + 1) (g . g').

``layers="all"``: every trainable weight (embeddings, convolutions, output layer). The dot product
with one test gradient is a directional derivative, computed for a whole batch of training
sentences by forward-mode differentiation (``tf.autodiff.ForwardAccumulator``): one forward pass
over the training set per test sentence and checkpoint. Self-influence needs every training
sentence's own gradient: one backward pass per sentence and checkpoint.

The learning rate recorded per checkpoint is the optimizer's nominal one (Adadelta: 1.0 every
epoch); adaptive optimizers scale steps per weight, which TracIn's formula does not model.
"""
from __future__ import annotations

import numpy as np

from textdeconv.influence.sources import forward_features, load_net

LAYERS = ("output", "all")


def output_terms(net, seqs, labels, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(x, g)``: x (n, F) float64 the output layer's inputs, g (n, C) float64 = probs - onehot(labels)."""
    pooled, probs = forward_features(net, seqs, batch_size)
    g = probs.copy()
    g[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] -= 1.0
    return pooled * net.out_scale, g


def tracin_output(checkpoints, train_seqs, train_labels, test_seqs, test_labels, cache=None) -> np.ndarray:
    """(m test, n train) TracIn over the output layer's weights and bias, summed over ``checkpoints``.
    ``cache``: a dict kept between calls for the same training sentences (their terms per checkpoint)."""
    cache = {} if cache is None else cache
    total = np.zeros((len(test_seqs), len(train_seqs)))
    for ck in checkpoints:
        if ck.path not in cache:
            net = load_net(ck.path)
            cache[ck.path] = (net, *output_terms(net, train_seqs, train_labels))
        net, x, g = cache[ck.path]
        xq, gq = output_terms(net, test_seqs, test_labels)
        total += ck.learning_rate * (xq @ x.T + 1.0) * (gq @ g.T)
    return total


def self_influence_output(checkpoints, seqs, labels) -> np.ndarray:
    """(n,) sum_i lr_i (|x|^2 + 1) |g|^2: each sentence's output-layer TracIn with itself."""
    total = np.zeros(len(seqs))
    for ck in checkpoints:
        x, g = output_terms(load_net(ck.path), seqs, labels)
        total += ck.learning_rate * ((x * x).sum(1) + 1.0) * (g * g).sum(1)
    return total


def _loss_fn(net):
    import tensorflow as tf

    def losses(ids, labels):
        """(batch,) cross-entropy per sentence, inference mode."""
        logits = tf.cast(net.forward(ids).logits, tf.float32)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return losses


def _raw_gradient(net, losses, ids, label):
    """Gradients of one sentence's loss wrt every trainable weight (the embedding's as IndexedSlices)."""
    import tensorflow as tf

    variables = net.model.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses(ids, tf.constant([label], tf.int32)))
    return variables, tape.gradient(loss, variables)


def _gradient(net, losses, ids, label):
    """Dense gradients of one sentence's loss wrt every trainable weight (embedding rows densified)."""
    import tensorflow as tf

    variables, grads = _raw_gradient(net, losses, ids, label)
    return [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for v, g in zip(variables, grads)]


def tracin_all(checkpoints, train_seqs, train_labels, test_seqs, test_labels, batch_size: int = 256,
               cache=None) -> np.ndarray:
    """(m test, n train) TracIn over every trainable weight, by forward-mode directional derivatives.
    ``cache``: a dict kept between calls (each checkpoint's model and traced graph)."""
    import tensorflow as tf

    from textdeconv.data.vocab import length_batches, pad_batch

    total = np.zeros((len(test_seqs), len(train_seqs)))
    order = length_batches([len(s) for s in train_seqs], batch_size, None)
    labels = np.asarray(train_labels, dtype=np.int32)
    cache = {} if cache is None else cache
    for ck in checkpoints:
        if ck.path not in cache:
            net = load_net(ck.path)
            losses = _loss_fn(net)
            cache[ck.path] = (net, losses, _jvp_fn(losses, net.model.trainable_variables))
        net, losses, jvp = cache[ck.path]
        for q, (seq, label) in enumerate(zip(test_seqs, test_labels)):
            tangent = _gradient(net, losses, pad_batch([seq], net.pad), int(label))
            for b in order:
                ids = pad_batch([train_seqs[i] for i in b], net.pad)
                total[q, b] += ck.learning_rate * jvp(ids, tf.constant(labels[b]), tangent).numpy()
    return total


def _jvp_fn(losses, variables):
    """A graph: (ids, labels, tangent) -> (batch,) grad loss(z_j) . tangent, by forward-mode differentiation."""
    import tensorflow as tf

    primals = [v.value for v in variables]
    spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32),
            [tf.TensorSpec(v.shape, v.dtype) for v in variables]]

    @tf.function(input_signature=spec)
    def jvp(ids, labels, tangent):
        with tf.autodiff.ForwardAccumulator(primals, tangent) as acc:
            out = losses(ids, labels)
        return acc.jvp(out)
    return jvp


def _squared_norm_fn(net):
    """A graph (traced once for every sentence length): |grad loss(z)|^2 over every trainable weight."""
    import tensorflow as tf

    losses, variables = _loss_fn(net), net.model.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32), tf.TensorSpec([1], tf.int32)])
    def squared_norm(ids, label):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(losses(ids, label))
        out = tf.constant(0.0, tf.float64)
        for g in tape.gradient(loss, variables):
            if g is None:
                continue
            if isinstance(g, tf.IndexedSlices):  # a word twice in a sentence: its rows summed first
                rows, at = tf.unique(g.indices)
                g = tf.math.unsorted_segment_sum(g.values, at, tf.shape(rows)[0])
            out += tf.reduce_sum(tf.square(tf.cast(g, tf.float64)))
        return out
    return squared_norm


def self_influence_all(checkpoints, seqs, labels) -> np.ndarray:
    """(n,) sum_i lr_i |grad loss(w_i, z)|^2 over every trainable weight, one backward pass per sentence."""
    import tensorflow as tf

    from textdeconv.data.vocab import pad_batch

    total = np.zeros(len(seqs))
    for ck in checkpoints:
        net = load_net(ck.path)
        squared_norm = _squared_norm_fn(net)
        for n, (seq, label) in enumerate(zip(seqs, labels)):
            total[n] += ck.learning_rate * float(squared_norm(pad_batch([seq], net.pad), tf.constant([int(label)])))
    return total


def ranked(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(proponents, opponents)``: per row the ``k`` positions with the largest positive and the most
    negative scores (fewer when fewer have that sign); ties go to the earlier position."""
    pro, opp = [], []
    for row in scores:
        up = np.argsort(-row, kind="stable")
        down = np.argsort(row, kind="stable")
        pro.append(up[row[up] > 0][:k])
        opp.append(down[row[down] < 0][:k])
    return pro, opp
