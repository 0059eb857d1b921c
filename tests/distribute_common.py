"""What the distributed-training worker scripts share (tests/distribute_worker.py runs mirrored on
two logical CPUs, tests/multiworker_worker.py one worker of a local cluster): a toy batch, one
identically seeded epoch of training under a strategy, and the weight gap between two models.
Importing it creates no TensorFlow op, so a worker can still set up its devices afterwards."""
import keras
import numpy as np
import tensorflow as tf

from textdeconv.config import ModelConfig
from textdeconv.model.textcnn import build_model
from textdeconv.training.distribute import for_replicas
from textdeconv.training.optim import LazyAdadelta

MODEL = ModelConfig(embedding_dim=6, filter_sizes=(2, 3), num_filters=4, dropout=0.0)
VOCAB = 40


def toy_ids(rows: int):
    """ids (rows, 9) using table rows 2..19 only (later rows stay untouched) with PAD runs of
    different lengths, and alternating labels (rows,)."""
    rng = np.random.default_rng(0)
    ids = np.zeros((rows, 9), np.int32)
    for row in ids:
        n = rng.integers(1, 6)
        row[2:2 + n] = rng.integers(2, 20, size=n)
    return ids, (np.arange(rows) % 2).astype(np.int32)


def fit(strategy, ids, labels, batch_size):
    """A fresh, identically seeded TextCNN trained with LazyAdadelta over ``ids`` once, in order,
    with batches prepared for the strategy as train() prepares them; returns (model, history)."""
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(MODEL, VOCAB, 2, seed=0)
        model.compile(optimizer=LazyAdadelta(learning_rate=1.0), loss="sparse_categorical_crossentropy",
                      weighted_metrics=["accuracy"])
    ds = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(batch_size)
    history = model.fit(for_replicas(ds, strategy, train=True), epochs=1, verbose=0, shuffle=False)
    return model, history.history


def weights_gap(a, b) -> float:
    """Largest |a - b| over every weight, relative to the weight's scale."""
    return max(float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12))
               for x, y in zip(a.get_weights(), b.get_weights()))
