"""Training hard-killed (SIGKILL) in the middle of an epoch, then resumed with the real CLI (issue 7).

On small trees written here, with one config and seed: ``scripts/train.py`` in a subprocess,
SIGKILLed during epoch ``KILL_EPOCH`` after ``KILL_AFTER`` batches (a helper script wraps the
run's ``RunRecorder`` callback, then runs the unchanged script); ``scripts/train.py --resume`` on
that run directory; and, meanwhile, the same training uninterrupted to compare with. The
production code holds no test hook.
"""
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_train import small_config, write_data

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, KILL_EPOCH, KILL_AFTER = 5, 3, 2  # 8 sentences, batch_size 2: 4 batches an epoch
TIMEOUT = 300

# Runs scripts/train.py as ``python scripts/train.py ARGS`` would, with one change: the callback
# that commits each epoch (train.RunRecorder) also SIGKILLs the process after batch KILL_AFTER of
# epoch KILL_EPOCH, i.e. between two optimizer steps, with nothing of that epoch committed.
KILLER = '''\
import os, runpy, signal, sys

kill_epoch, kill_after, script = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.argv = [script, *sys.argv[4:]]
from textdeconv.runtime import load_tensorflow

load_tensorflow()  # quietly, as the script does, before textdeconv.train imports TensorFlow
import textdeconv.training.trainer as train_mod


class KillMidEpoch(train_mod.RunRecorder):
    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == kill_epoch and batch + 1 == kill_after:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)


train_mod.RunRecorder = KillMidEpoch  # train() looks the name up when it builds its callbacks
runpy.run_path(script, run_name="__main__")
'''


SETTINGS = ["data.train_on=sentences", "data.max_train=null", "data.max_eval=null", "model.filter_sizes=[2,3]",
            "train.learning_rate=0.02", f"train.epochs={EPOCHS}", "train.batch_size=2"]


def train_args(data: Path, run: Path) -> list[str]:
    sets = [f"data.dir={data}", *SETTINGS]
    return ["scripts/train.py", "--config", "tiny.yaml", *(a for s in sets for a in ("--set", s)),
            "--run-dir", str(run), "--offline"]


def popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def temp_files(run: Path) -> list[str]:
    """Leftovers of io.atomic_path: ``.{name}.XXXXXXXX.tmp{suffix}`` beside the final name."""
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*") if ".tmp" in p.name)


def check_complete(run: Path) -> None:
    """Every file in the run directory is whole: JSON parses, .keras loads (safe_mode), config/vocab load."""
    import keras

    from textdeconv.config import load_config
    from textdeconv.data.vocab import Vocab

    assert temp_files(run) == []
    for path in run.rglob("*.json"):
        json.loads(path.read_text())
    for path in run.rglob("*.keras"):
        keras.models.load_model(path, safe_mode=True)
    cfg = load_config(run / "config.yaml")
    assert len(Vocab.load(run / "vocab.txt", cfg.vocab.lowercase)) > 2
    pd.read_csv(run / "metrics.csv")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Kill a run mid-epoch (and train an uninterrupted one meanwhile), snapshot it, resume it."""
    tmp = tmp_path_factory.mktemp("kill_resume")
    data = write_data(tmp / "data")
    killer = tmp / "kill_mid_epoch.py"
    killer.write_text(KILLER)
    run, ref_dir = tmp / "killed", tmp / "uninterrupted"
    killed = popen(str(killer), str(KILL_EPOCH), str(KILL_AFTER), *train_args(data, run))
    # meanwhile the uninterrupted run, here: the same config as the CLI's (--offline: data.download=false)
    from textdeconv.config import load_config
    from textdeconv.training.trainer import train

    train(load_config("tiny.yaml", [f"data.dir={data}", *SETTINGS, "data.download=false"]), ref_dir, verbose=0)
    killed_err = killed.communicate(timeout=TIMEOUT)[1]
    snapshot = tmp / "after_kill"  # the run directory as the kill left it, before --resume touches it
    if run.is_dir():
        shutil.copytree(run, snapshot)
    resumed = subprocess.run([sys.executable, "scripts/train.py", "--run-dir", str(run), "--resume"],
                             cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    return {"killed": killed, "killed_err": killed_err, "run": run, "snapshot": snapshot, "ref": ref_dir,
            "resumed": resumed}


def per_epoch(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "metrics.csv").drop(columns="seconds")  # wall time is the one non-deterministic column


def test_sigkill_mid_epoch_leaves_whole_files_and_resume_finishes_the_run(runs):
    assert runs["killed"].returncode == -signal.SIGKILL, runs["killed_err"][-3000:]
    before, run = runs["snapshot"], runs["run"]
    check_complete(before)
    # only the epochs before the killed one were committed, nothing of the killed epoch
    state = json.loads((before / "state.json").read_text())
    assert state["epoch"] == KILL_EPOCH - 1 and not state["finished"]
    assert state["checkpoint"] == f"epoch_{KILL_EPOCH - 1:03d}.keras"
    assert not (before / "metrics.json").exists()
    ckpts = {p.name for p in (before / "checkpoints").iterdir()}
    assert ckpts == {state["checkpoint"], state["best"]}  # exactly what state.json names, no more
    assert (before / "model.keras").read_bytes() == (before / "checkpoints" / state["best"]).read_bytes()
    csv_before = (before / "metrics.csv").read_text()
    assert [int(line.split(",")[0]) for line in csv_before.splitlines()[1:]] == list(range(1, KILL_EPOCH))

    resumed = runs["resumed"]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "test: accuracy" in resumed.stdout and "Traceback" not in resumed.stderr
    check_complete(run)
    # finished epochs: each once, unchanged to the byte; then the rest, each once
    csv_after = (run / "metrics.csv").read_text()
    n_kept = len(csv_before.splitlines())
    assert csv_after.splitlines()[:n_kept] == csv_before.splitlines()
    assert pd.read_csv(run / "metrics.csv")["epoch"].tolist() == list(range(1, EPOCHS + 1))
    for name in ("config.yaml", "vocab.txt"):  # written once, at the start, never again
        assert (run / name).read_bytes() == (before / name).read_bytes(), name
    metrics = json.loads((run / "metrics.json").read_text())
    ref_metrics = json.loads((runs["ref"] / "metrics.json").read_text())
    assert {"dev", "test"} <= set(metrics) and metrics["test"]["n"] == ref_metrics["test"]["n"]
    assert metrics["epochs_run"] == ref_metrics["epochs_run"] == EPOCHS
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["epoch"] == EPOCHS and len(state["history"]) == EPOCHS
    assert not (run / "checkpoints").exists()  # finished: model.keras is the best (train.keep_checkpoints: false)
    assert (run / "curves.png").is_file()
    # the epochs finished before the kill are the uninterrupted run's, to the last digit
    pd.testing.assert_frame_equal(per_epoch(run).iloc[:KILL_EPOCH - 1],
                                  per_epoch(runs["ref"]).iloc[:KILL_EPOCH - 1], check_exact=True)


def test_resumed_epochs_equal_the_uninterrupted_run(runs):
    """The killed and resumed run trained exactly as the uninterrupted one: every epoch's metrics,
    the final scores and the saved model's weights, to the last bit."""
    assert runs["resumed"].returncode == 0, runs["resumed"].stderr[-3000:]
    import keras
    import numpy as np

    pd.testing.assert_frame_equal(per_epoch(runs["run"]), per_epoch(runs["ref"]), check_exact=True)
    got, want = (json.loads((runs[k] / "metrics.json").read_text()) for k in ("run", "ref"))
    assert (got["dev"], got["test"], got["best_epoch"]) == (want["dev"], want["test"], want["best_epoch"])
    models = [keras.models.load_model(runs[k] / "model.keras", safe_mode=True) for k in ("run", "ref")]
    for a, b in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_kill_between_commit_and_model_copy_keeps_model_keras_the_best(tmp_path, monkeypatch):
    from textdeconv.training import trainer as train_mod

    data = write_data(tmp_path / "data")
    original = train_mod.atomic_write_json

    def die_after_commit(path, obj, durable=False):  # as a SIGKILL right after state.json is in place
        original(path, obj, durable)
        if path.name == "state.json" and obj["epoch"] == 2 and obj["best_epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "atomic_write_json", die_after_commit)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(small_config(data, "train.epochs=2", "train.batch_size=2", "train.keep_checkpoints=true"),
                        run, verbose=0)
    monkeypatch.setattr(train_mod, "atomic_write_json", original)
    state = json.loads((run / "state.json").read_text())
    assert state["best"] == "best_002.keras"  # epoch 2 improved on dev (else the test proves nothing)
    stale = [run / ".metrics.csv.k2j4x.tmp.csv", run / "checkpoints" / ".epoch_003.keras.q1w2.tmp.keras"]
    for f in stale:  # what a kill in the middle of an atomic write leaves behind
        f.write_bytes(b"half")
    metrics = train_mod.train(None, run, resume=True, verbose=0)
    assert not any(f.exists() for f in stale)
    assert metrics["best_epoch"] == 2
    assert (run / "model.keras").read_bytes() == (run / "checkpoints" / "best_002.keras").read_bytes()
