"""Run by tests/test_distribute.py, once per worker of a two-worker local cluster (TF_CONFIG set by
the test): MultiWorkerMirroredStrategy training through Keras ``fit``.

    python tests/multiworker_worker.py OUT.json RUN_DIR KEY=VALUE...

Compares two multi-worker Adadelta steps with one device's (unshuffled batches), then trains
RUN_DIR with the config tiny.yaml and the KEY=VALUE overrides (the chief then trains the same
config on one device, beside RUN_DIR) and writes what the tests assert on to OUT.json. Only the
chief writes RUN_DIR; the other worker writes into a temporary directory that must be gone when it
exits.
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textdeconv.config import TrainConfig, load_config  # noqa: E402
from textdeconv.training.distribute import is_chief, make_strategy  # noqa: E402

STRATEGY = make_strategy(TrainConfig(strategy="multiworker"))  # before any other TensorFlow op

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from distribute_common import fit, toy_ids, weights_gap  # noqa: E402

from textdeconv.training import distribute  # noqa: E402
from textdeconv.training import trainer as train_mod  # noqa: E402


def equality() -> dict:
    ids, labels = toy_ids(14)
    multi, logs = fit(STRATEGY, ids, labels, 8)  # batches of 8 and 6 rows: 4 + 4 and 3 + 3 per worker
    single, single_logs = fit(tf.distribute.get_strategy(), ids, labels, 8)
    return {"replicas": STRATEGY.num_replicas_in_sync, "gap": weights_gap(single, multi),
            "iterations": int(multi.optimizer.iterations.numpy()), "loss": logs["loss"][0],
            "single_loss": single_logs["loss"][0]}


if __name__ == "__main__":
    out, run_dir, *overrides = sys.argv[1:]
    result = {"chief": is_chief(STRATEGY), "equality": equality()}
    written = []
    original = distribute.writable_run_dir

    def recording(strategy, path, resume):
        written.append(original(strategy, path, resume))
        return written[-1]

    train_mod.writable_run_dir = recording
    metrics = train_mod.train(load_config("tiny.yaml", overrides), run_dir, verbose=0)
    result.update(metrics=metrics, wrote_to=str(written[0]))
    if result["chief"]:  # the same config on one device, shuffled batches included
        single_dir = Path(run_dir).with_name("single")
        train_mod.train(load_config("tiny.yaml", overrides + ["train.strategy=default"]), single_dir, verbose=0)
        a, b = (keras.models.load_model(Path(d) / "model.keras", safe_mode=True) for d in (run_dir, single_dir))
        result["run_gap"] = weights_gap(a, b)
    Path(out).write_text(json.dumps(result))
