"""Training hard-killed (SIGKILL) in the middle of an epoch, then resumed with the real CLI (issue 7).

Three subprocesses of ``scripts/train.py`` on the same small trees and seed: one killed during
epoch ``KILL_EPOCH`` after ``KILL_AFTER`` batches (a helper script wraps the run's ``RunRecorder``
callback, then runs the unchanged script), the ``--resume`` of that run directory, and an
uninterrupted run to compare with. The production code holds no test hook.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from test_train import SENTENCES, tree

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
from textdeconv.cli import load_tensorflow

load_tensorflow()  # quietly, as the script does, before textdeconv.train imports TensorFlow
import textdeconv.train as train_mod


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


def train_args(data: Path, run: Path) -> list[str]:
    sets = [f"data.dir={data}", "data.train_on=sentences", "data.max_train=null", "data.max_eval=null",
            "model.filter_sizes=[2,3]", "train.learning_rate=0.02", f"train.epochs={EPOCHS}", "train.batch_size=2"]
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
    from textdeconv.vocab import Vocab

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
    """Kill a run mid-epoch (and train an uninterrupted one beside it), snapshot it, resume it."""
    tmp = tmp_path_factory.mktemp("kill_resume")
    (tmp / "data" / "trees").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (tmp / "data" / "trees" / f"{split}.txt").write_text("\n".join(tree(y, s) for y, s in SENTENCES) + "\n")
    killer = tmp / "kill_mid_epoch.py"
    killer.write_text(KILLER)
    killed_dir, ref_dir = tmp / "killed", tmp / "uninterrupted"
    killed = popen(str(killer), str(KILL_EPOCH), str(KILL_AFTER), *train_args(tmp / "data", killed_dir))
    ref = popen(*train_args(tmp / "data", ref_dir))  # in parallel: the CPU time is mostly TensorFlow's import
    killed_out, killed_err = killed.communicate(timeout=TIMEOUT)
    ref_out, ref_err = ref.communicate(timeout=TIMEOUT)
    assert ref.returncode == 0, ref_err[-3000:]
    snapshot = {p.relative_to(killed_dir): p.read_bytes() for p in killed_dir.rglob("*") if p.is_file()}
    after_kill = {"returncode": killed.returncode, "stderr": killed_err, "files": snapshot}
    if killed.returncode == -signal.SIGKILL:
        check_complete(killed_dir)  # before --resume touches anything
    resumed = subprocess.run([sys.executable, "scripts/train.py", "--run-dir", str(killed_dir), "--resume"],
                             cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    return {"killed": killed_dir, "ref": ref_dir, "after_kill": after_kill, "resumed": resumed}


def per_epoch(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "metrics.csv").drop(columns="seconds")  # wall time is the one non-deterministic column


def test_sigkill_mid_epoch_leaves_whole_files_and_resume_finishes_the_run(runs):
    after_kill, killed_dir = runs["after_kill"], runs["killed"]
    assert after_kill["returncode"] == -signal.SIGKILL, after_kill["stderr"][-3000:]
    files = after_kill["files"]
    # only the epochs before the killed one were committed, nothing of the killed epoch
    state = json.loads(files[Path("state.json")])
    assert state["epoch"] == KILL_EPOCH - 1 and not state["finished"]
    assert Path("metrics.json") not in files
    ckpts = {p.name for p in files if p.parent == Path("checkpoints")}
    assert ckpts == {state["checkpoint"], state["best"]}  # exactly what state.json names, no more
    assert state["checkpoint"] == f"epoch_{KILL_EPOCH - 1:03d}.keras"
    assert files[Path("model.keras")] == files[Path("checkpoints") / state["best"]]
    csv_before = files[Path("metrics.csv")].decode()
    assert pd.read_csv(runs["ref"] / "metrics.csv").shape[0] == EPOCHS
    assert [int(line.split(",")[0]) for line in csv_before.splitlines()[1:]] == list(range(1, KILL_EPOCH))

    resumed = runs["resumed"]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "test: accuracy" in resumed.stdout and "Traceback" not in resumed.stderr
    check_complete(killed_dir)
    # finished epochs: each once, unchanged to the byte; then the rest, each once
    csv_after = (killed_dir / "metrics.csv").read_text()
    n_kept = len(csv_before.splitlines())
    assert csv_after.splitlines()[:n_kept] == csv_before.splitlines()
    assert pd.read_csv(killed_dir / "metrics.csv")["epoch"].tolist() == list(range(1, EPOCHS + 1))
    for name in ("config.yaml", "vocab.txt"):  # written once, at the start, never again
        assert (killed_dir / name).read_bytes() == files[Path(name)], name
    metrics = json.loads((killed_dir / "metrics.json").read_text())
    ref_metrics = json.loads((runs["ref"] / "metrics.json").read_text())
    assert {"dev", "test"} <= set(metrics) and metrics["test"]["n"] == ref_metrics["test"]["n"]
    assert metrics["epochs_run"] == ref_metrics["epochs_run"] == EPOCHS
    state = json.loads((killed_dir / "state.json").read_text())
    assert state["finished"] and state["epoch"] == EPOCHS and len(state["history"]) == EPOCHS
    assert (killed_dir / "model.keras").read_bytes() == (killed_dir / "checkpoints" / state["best"]).read_bytes()
    assert (killed_dir / "curves.png").is_file()
    # the epochs finished before the kill are the uninterrupted run's, to the last digit
    pd.testing.assert_frame_equal(per_epoch(killed_dir).iloc[:KILL_EPOCH - 1],
                                  per_epoch(runs["ref"]).iloc[:KILL_EPOCH - 1], check_exact=True)


@pytest.mark.xfail(strict=True, reason="resume is deterministic but not exact: train() reseeds the resumed "
                   "run (keras.utils.set_random_seed(seed + epoch); make_dataset(seed=seed*1000 + epoch)), so "
                   "the epochs after a resume see another batch order than the uninterrupted run")
def test_resumed_epochs_equal_the_uninterrupted_run(runs):
    assert runs["resumed"].returncode == 0, runs["resumed"].stderr[-3000:]
    pd.testing.assert_frame_equal(per_epoch(runs["killed"]), per_epoch(runs["ref"]), check_exact=True)
