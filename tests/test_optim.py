"""LazyAdadelta == Keras Adadelta on the dense gradient, on a model whose embedding gets sparse gradients."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from textdeconv.optim import LazyAdadelta


def tiny_model(seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 4)(inp)
    x = keras.layers.Conv1D(3, 2, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    return keras.Model(inp, keras.layers.Dense(2)(x))


def train_steps(optimizer, batches, seed=3, densify=False):
    model = tiny_model(seed)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    kinds = []
    for ids, y in batches:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(ids))
        grads = tape.gradient(loss, model.trainable_variables)
        kinds.append(type(grads[0]).__name__)
        if densify:  # the mathematical gradient: duplicate rows summed into a dense table
            grads = [tf.convert_to_tensor(g) for g in grads]
        optimizer.apply(grads, model.trainable_variables)
    return model, kinds


def test_lazy_adadelta_equals_dense_adadelta():
    rng = np.random.default_rng(0)
    # only a few rows per batch, with duplicates, and rows untouched for many steps
    batches = [(rng.integers(0, 6 if s % 5 else 20, size=(3, 5)).astype(np.int32), rng.integers(0, 2, 3))
               for s in range(30)]
    dense, _ = train_steps(keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6), batches,
                           densify=True)
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
