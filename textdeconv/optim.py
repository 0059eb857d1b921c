"""Lazy (sparse) Adadelta: Kim's optimizer at a fraction of the cost for big embedding tables.

Keras's ``Adadelta`` updates every row of the (vocabulary, E) embedding table on every step, even
though a batch of 50 sentences touches a few hundred rows. For a row whose gradient is zero,
Adadelta's step is

    acc_g <- rho * acc_g,   delta = -sqrt(acc_d + eps) / sqrt(acc_g + eps) * 0 = 0,   acc_d <- rho * acc_d,

so the weights do not move and both accumulators only decay. ``LazyAdadelta`` therefore keeps, per
row, the number of optimizer steps completed when it was last touched (``seen``), and when the row
is next touched at step k it first applies the ``rho ** (k - seen)`` decay it skipped, then the
ordinary Adadelta update. In exact arithmetic the weights and accumulators after every touch equal
dense Adadelta's (untouched rows' accumulators are stale until touched, which does not affect the
weights); in float32 they agree to rounding (``tests/test_optim.py``).

Only gradients that arrive as ``tf.IndexedSlices`` (embedding lookups) take the lazy path; dense
gradients (convolutions, output layer) use Keras's own update. Duplicate indices within a batch are
summed first, as the dense gradient would have them.
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="textdeconv")
class LazyAdadelta(keras.optimizers.Adadelta):
    """``keras.optimizers.Adadelta`` with exact lazy updates for sparse (``IndexedSlices``) gradients."""

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # per-row step counters; a length-1 dummy for scalars keeps the list aligned with var_list
        self._seen = [self.add_variable((v.shape[0] if len(v.shape) else 1,), initializer="zeros",
                                        dtype="float32", name=f"{v.name}_seen") for v in var_list]

    def update_step(self, grad, variable, learning_rate):
        if not isinstance(grad, tf.IndexedSlices):
            return super().update_step(grad, variable, learning_rate)
        i = self._get_variable_index(variable)
        acc_g, acc_d, seen = self._accumulated_grads[i], self._accumulated_delta_vars[i], self._seen[i]
        rows, pos = tf.unique(grad.indices)
        g = tf.math.unsorted_segment_sum(tf.cast(grad.values, variable.dtype), pos, tf.shape(rows)[0])  # (r, ...)
        step = tf.cast(self.iterations, tf.float32)  # steps completed before this one
        decay = tf.pow(tf.constant(self.rho, tf.float32), step - tf.gather(seen, rows))  # (r,)
        decay = tf.reshape(tf.cast(decay, variable.dtype), [-1] + [1] * (len(variable.shape) - 1))
        rho, eps = self.rho, self.epsilon
        a_g = rho * decay * tf.gather(acc_g, rows) + (1 - rho) * tf.square(g)
        a_d = decay * tf.gather(acc_d, rows)
        delta = -tf.sqrt(a_d + eps) / tf.sqrt(a_g + eps) * g
        a_d = rho * a_d + (1 - rho) * tf.square(delta)
        lr = tf.cast(learning_rate, variable.dtype)
        self.assign(acc_g, tf.IndexedSlices(a_g, rows))
        self.assign(acc_d, tf.IndexedSlices(a_d, rows))
        self.assign(seen, tf.IndexedSlices(tf.fill(tf.shape(rows), step + 1.0), rows))
        self.assign_add(variable, tf.IndexedSlices(lr * delta, rows))
