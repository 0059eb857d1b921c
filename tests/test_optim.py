"""LazyAdadelta == Keras Adadelta on the dense gradient, on a model whose embedding gets sparse gradients."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from textdeconv.training.optim import LazyAdadelta


def tiny_model(seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 4)(inp)
    x = keras.layers.Conv1D(3, 2, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    return keras.Model(inp, keras.layers.Dense(2)(x))


def train_steps(optimizer, batches, seed=3, densify=False, before_step=None):
    """``densify``: True, or a predicate on the step number; ``before_step(step)`` runs first."""
    model = tiny_model(seed)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    kinds = []
    for step, (ids, y) in enumerate(batches):
        if before_step:
            before_step(step)
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(ids))
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                loss = optimizer.scale_loss(loss)  # as model.fit does under mixed_float16
        grads = tape.gradient(loss, model.trainable_variables)
        kinds.append(type(grads[0]).__name__)
        if densify is True or callable(densify) and densify(step):
            grads = [tf.convert_to_tensor(g) for g in grads]  # the mathematical gradient: duplicates summed
        optimizer.apply(grads, model.trainable_variables)
    return model, kinds


def sparse_batches(n=30):
    rng = np.random.default_rng(0)
    # only a few rows per batch, with duplicates, and rows untouched for many steps
    return [(rng.integers(0, 6 if s % 5 else 20, size=(3, 5)).astype(np.int32), rng.integers(0, 2, 3))
            for s in range(n)]


def test_lazy_adadelta_equals_dense_adadelta():
    batches = sparse_batches()
    dense_opt = keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6)
    dense, _ = train_steps(dense_opt, batches, densify=True)
    lazy_opt = LazyAdadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6)
    lazy, kinds = train_steps(lazy_opt, batches)
    assert set(kinds) == {"IndexedSlices"}  # the lazy path really ran
    for a, b in zip(dense.weights, lazy.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    # the table moved, and rows never looked up did not
    table = lazy.weights[0].numpy()
    assert not np.allclose(table, tiny_model(3).weights[0].numpy())
    used = np.unique(np.concatenate([ids.ravel() for ids, _ in batches]))
    unused = np.setdiff1d(np.arange(20), used)
    np.testing.assert_array_equal(table[unused], tiny_model(3).weights[0].numpy()[unused])
    # per-row counters record the step of the last touch
    seen = lazy_opt._seen[0].numpy()
    assert_same_state(dense_opt, lazy_opt, dense, lazy, table_rows=seen == 30)  # rows of the last batch are current
    last = {int(i): s + 1 for s, (ids, _) in enumerate(batches) for i in ids.ravel()}
    np.testing.assert_array_equal(seen[sorted(last)], [last[i] for i in sorted(last)])


def test_lazy_adadelta_round_trips_through_a_saved_model(tmp_path):
    model = tiny_model(0)
    model.compile(optimizer=LazyAdadelta(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    model.fit(ids, np.array([0, 1]), epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(back.optimizer, LazyAdadelta)
    assert back.optimizer.rho == pytest.approx(0.95)
    np.testing.assert_array_equal(back.optimizer._seen[0].numpy(), model.optimizer._seen[0].numpy())
    assert int(back.optimizer.iterations.numpy()) == 2


def test_keras_adadelta_on_indexed_slices_is_not_dense_adadelta():
    # why LazyAdadelta sums duplicates first: Keras squares each duplicate's slice separately
    # (sum of squares, not square of the sum), so its sparse path drifts from Kim's dense Adadelta
    batches = [(np.array([[1, 1, 1, 2]], np.int32), np.array([1]))]
    dense, _ = train_steps(keras.optimizers.Adadelta(), batches, densify=True)
    keras_sparse, _ = train_steps(keras.optimizers.Adadelta(), batches)
    lazy, _ = train_steps(LazyAdadelta(), batches)
    np.testing.assert_allclose(lazy.weights[0].numpy(), dense.weights[0].numpy(), atol=1e-7)
    assert not np.allclose(keras_sparse.weights[0].numpy()[1], dense.weights[0].numpy()[1], atol=1e-6)


def assert_same_state(dense_opt, lazy_opt, dense_model, lazy_model, table_rows=slice(None)):
    """Weights and both accumulators equal to float32 rounding; the table's accumulators only in
    ``table_rows`` (the others may be stale: lazily, untouched rows decay when next touched).
    Adadelta's first steps are ~1e-6, so the accumulators are what tells a wrong decay apart."""
    for a, b in zip(dense_model.weights, lazy_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
    for name in ("_accumulated_grads", "_accumulated_delta_vars"):
        for i, (a, b) in enumerate(zip(getattr(dense_opt, name), getattr(lazy_opt, name))):
            rows = table_rows if i == 0 else slice(None)
            np.testing.assert_allclose(a.numpy()[rows], b.numpy()[rows], rtol=1e-4, atol=1e-12)


def test_dense_gradients_for_the_table_stay_exact():
    # an all-reduce may deliver the table's gradient densified on some steps: the dense step first
    # applies the decay the lazy steps skipped, so any mix of sparse and dense steps is dense
    # Adadelta; after a dense last step even the untouched rows' accumulators are up to date
    batches = sparse_batches()
    dense_opt, lazy_opt = keras.optimizers.Adadelta(), LazyAdadelta()
    dense, _ = train_steps(dense_opt, batches, densify=True)

    def forget_conv_counters(step):
        if step == 12:  # a checkpoint written before dense steps recorded `seen`: no decay is owed
            lazy_opt._seen[1].assign(tf.zeros_like(lazy_opt._seen[1]))

    mixed, kinds = train_steps(lazy_opt, batches, densify=lambda s: s % 7 in (3, 4) or s == 29,
                               before_step=forget_conv_counters)
    assert kinds.count("IndexedSlices") == 30
    assert_same_state(dense_opt, lazy_opt, dense, mixed)
    assert np.all(lazy_opt._seen[0].numpy() == 30)  # a dense step brings every row up to date


def test_only_dense_steps_are_keras_adadelta_bit_for_bit():
    batches = sparse_batches(8)
    dense, _ = train_steps(keras.optimizers.Adadelta(), batches, densify=True)
    lazy, _ = train_steps(LazyAdadelta(), batches, densify=True)
    for a, b in zip(dense.weights, lazy.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lazy_adadelta_under_loss_scaling_equals_dense_adadelta():
    # mixed_float16: compile wraps the optimizer in LossScaleOptimizer, which divides the table's
    # IndexedSlices by the loss scale (Keras keeps them sparse) before LazyAdadelta sees them
    batches = sparse_batches(12)
    dense_opt, scaled_opt = keras.optimizers.Adadelta(), keras.optimizers.LossScaleOptimizer(LazyAdadelta())
    dense, _ = train_steps(dense_opt, batches, densify=True)
    scaled, kinds = train_steps(scaled_opt, batches)
    assert set(kinds) == {"IndexedSlices"} and int(scaled_opt.iterations.numpy()) == 12
    seen = scaled_opt.inner_optimizer._seen[0].numpy()
    assert seen.min() < seen.max() == 12  # the lazy path ran: rows not in the last batch kept older counters
    assert_same_state(dense_opt, scaled_opt.inner_optimizer, dense, scaled, table_rows=seen == 12)
