"""Run by tests/test_distribute.py in a subprocess: splits the CPU into two logical devices (which
must happen before TensorFlow initialises its devices) and trains under MirroredStrategy.

    python tests/distribute_worker.py OUT.json RUN_DIR KEY=VALUE...

compares mirrored with single-device training, then trains RUN_DIR with the config tiny.yaml and
the KEY=VALUE overrides (crashing after epoch 1 and resuming), trains a run with
train.prior_correction next to it, and writes what the tests assert on to OUT.json. One process
for all: TensorFlow's start-up is the slow part.
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402
from distribute_common import MODEL, VOCAB, fit, toy_ids, weights_gap  # noqa: E402

from textdeconv.config import TrainConfig  # noqa: E402
from textdeconv.model.textcnn import build_model  # noqa: E402
from textdeconv.training.distribute import make_strategy  # noqa: E402

DEVICES = ["/cpu:0", "/cpu:1"]


def least_moved(a, b) -> float:
    """The smallest, over the weights, of the largest |a - b|: > 0 when training moved every weight."""
    return min(float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights()))


def equality() -> dict:
    ids, labels = toy_ids(16)  # rows 2..19 only, so the table keeps untouched rows
    one = tf.distribute.get_strategy()
    # the strategy train() gets: two MirroredStrategy objects over the same devices in one process
    # would draw the same collective keys, and their all-reduces would mix
    mirrored = make_strategy(TrainConfig(strategy="mirrored", devices=tuple(DEVICES)))
    (single, _), (multi, _) = fit(one, ids, labels, 8), fit(mirrored, ids, labels, 8)  # 2 steps of 4 + 4 rows
    seen = multi.optimizer._seen[0].numpy()
    # batches of 7 + 7 + 2 rows: the 7s are padded to 4 + 4 rows on the replicas (one weight-0 row)
    (odd_single, _), (odd_multi, _) = fit(one, ids, labels, 7), fit(mirrored, ids, labels, 7)
    return {"replicas": mirrored.num_replicas_in_sync, "gap": weights_gap(single, multi),
            "moved": least_moved(single, build_model(MODEL, VOCAB, 2, seed=0)),
            "untouched_rows_seen": seen[20:].tolist(), "touched_rows_seen": sorted(set(seen[2:20].tolist())),
            "iterations": int(multi.optimizer.iterations.numpy()),
            "odd_gap": weights_gap(odd_single, odd_multi),
            "odd_iterations": int(odd_multi.optimizer.iterations.numpy())}


def train_and_resume(run_dir, overrides) -> dict:
    """Train under mirrored, crash after epoch 1, resume; report what the resumed epoch ran on."""
    from textdeconv.config import load_config
    from textdeconv.training import trainer as train_mod
    from textdeconv.training.rundir import read_run

    cfg = load_config("tiny.yaml", overrides)
    original = train_mod.RunRecorder.on_epoch_end
    seen = {}

    def crash_after_first(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt  # as if killed right after epoch 1 was committed
        weight = self.model.get_layer("logits").kernel.value
        seen.update(distributed=isinstance(weight, tf.distribute.DistributedValues),
                    replicas=self.model.distribute_strategy.num_replicas_in_sync,
                    optimizer=type(self.model.optimizer).__name__,
                    iterations=int(self.model.optimizer.iterations.numpy()))

    train_mod.RunRecorder.on_epoch_end = crash_after_first
    try:
        train_mod.train(cfg, run_dir, verbose=0)
    except KeyboardInterrupt:
        pass
    first = json.loads((Path(run_dir) / "state.json").read_text())
    metrics = train_mod.train(None, run_dir, resume=True, verbose=0)
    train_mod.RunRecorder.on_epoch_end = original
    cfg, vocab, net, classes = read_run(run_dir)
    return {"metrics": metrics, "epoch_after_crash": first["epoch"], "state_after_crash": first["distribution"],
            "resumed_epoch": seen, "loaded": {"classes": list(classes), "vocab": len(vocab),
                                              "table_rows": net.tables[0].input_dim, "strategy": cfg.train.strategy,
                                              "dtypes": sorted({w.dtype for w in net.model.weights})}}


def prior_correction(folder: Path) -> dict:
    """A mirrored run with train.prior_correction and learning rate 0 (the zero output bias stays):
    what it saved as the output bias, and the shift it reported."""
    import keras
    from test_train import FROZEN, frozen, prior_config

    from textdeconv.training import trainer as train_mod

    cfg = frozen(prior_config(folder / "prior", *FROZEN, "train.prior_correction=true", "train.strategy=mirrored",
                              f"train.devices=[{', '.join(DEVICES)}]"))
    metrics = train_mod.train(cfg, folder / "prior-run", verbose=0)
    saved = keras.models.load_model(folder / "prior-run" / "model.keras").get_layer("logits").bias.numpy()
    return {"shift": list(metrics["prior_shift"].values()), "saved_bias": saved.tolist(),
            "replicas": metrics["distribution"]["replicas"]}


if __name__ == "__main__":
    out, run_dir, *overrides = sys.argv[1:]
    result = {"equality": equality(), "train": train_and_resume(run_dir, overrides),
              "prior": prior_correction(Path(run_dir).parent)}
    Path(out).write_text(json.dumps(result))
