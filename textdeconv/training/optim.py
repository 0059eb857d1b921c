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

Gradients that arrive as ``tf.IndexedSlices`` (embedding lookups) take the lazy path; duplicate
indices within a batch (or from several replicas, after a ``tf.distribute`` all-reduce) are summed
first, as the dense gradient would have them. A dense gradient takes the dense update, after
applying the decay that lazy steps skipped (``rho ** (k - seen)`` for rows with ``seen > 0``) and
then marks every row seen. So a table stays exact whichever form its gradient takes at each step:
a ``tf.distribute`` all-reduce may deliver it as ``IndexedSlices`` (MirroredStrategy and
MultiWorkerMirroredStrategy gather the replicas' rows) or densified, and ``LossScaleOptimizer``
(mixed float16) passes it on unscaled, still sparse (``tests/test_optim.py``,
``tests/test_distribute.py``). Rows with ``seen == 0`` never took a lazy step, so their
accumulators are already current (zero, or kept by dense steps in a checkpoint written before dense
steps recorded ``seen``) and get no extra decay.
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
        i = self._get_variable_index(variable)
        acc_g, acc_d, seen = self._accumulated_grads[i], self._accumulated_delta_vars[i], self._seen[i]
        step = tf.cast(self.iterations, tf.float32)  # steps completed before this one
        lr = tf.cast(learning_rate, variable.dtype)
        rho = tf.constant(self.rho, tf.float32)
        if isinstance(grad, tf.IndexedSlices):
            rows, pos = tf.unique(grad.indices)
            g = tf.math.unsorted_segment_sum(tf.cast(grad.values, variable.dtype), pos, tf.shape(rows)[0])  # (r, ...)
            decay = tf.pow(rho, step - tf.gather(seen, rows))  # (r,)
            a_g, a_d, delta = self._adadelta(tf.gather(acc_g, rows), tf.gather(acc_d, rows),
                                             self._rows(decay, variable), g)
            self.assign(acc_g, tf.IndexedSlices(a_g, rows))
            self.assign(acc_d, tf.IndexedSlices(a_d, rows))
            self.assign(seen, tf.IndexedSlices(tf.fill(tf.shape(rows), step + 1.0), rows))
            self.assign_add(variable, tf.IndexedSlices(lr * delta, rows))
            return
        last = seen.value if hasattr(seen, "value") else seen
        decay = tf.where(last > 0, tf.pow(rho, step - last), tf.ones_like(last))  # (rows,): 1 where nothing was skipped
        a_g, a_d, delta = self._adadelta(acc_g, acc_d, self._rows(decay, variable), tf.cast(grad, variable.dtype))
        self.assign(acc_g, a_g)
        self.assign(acc_d, a_d)
        self.assign(seen, tf.fill(tf.shape(last), step + 1.0))
        self.assign_add(variable, lr * delta)

    @staticmethod
    def _rows(decay, variable):
        """decay (rows,) -> broadcastable against ``variable`` (a scalar's single counter -> a scalar)."""
        rank = len(variable.shape)
        decay = tf.cast(decay, variable.dtype)
        return tf.reshape(decay, [-1] + [1] * (rank - 1)) if rank else decay[0]

    def _adadelta(self, acc_g, acc_d, decay, g):
        """One Adadelta step on accumulators first decayed by ``decay``; same operation order as
        ``keras.optimizers.Adadelta``, so a dense step with ``decay == 1`` is bit-identical to it."""
        rho, eps = self.rho, self.epsilon
        a_g = rho * (decay * acc_g) + (1 - rho) * tf.square(g)
        a_d = decay * acc_d
        delta = -(tf.sqrt(a_d + eps) * g / tf.sqrt(a_g + eps))
        return a_g, rho * a_d + (1 - rho) * tf.square(delta), delta
