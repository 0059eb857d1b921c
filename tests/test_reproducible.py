"""Same config, same seed, same machine: the same run. Two training processes of one config give
metrics.csv (timings aside) and weights equal byte for byte, so a shipped figure or the bundled
model can be regenerated (docs/training.md, "Reproducibility")."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from test_train import write_data

import textdeconv as td


def train(cwd, data, run_dir, *overrides):
    env = {**os.environ, "TEXTDECONV_DATA": str(data)}
    args = [sys.executable, "-m", "textdeconv", "train", "--config", "tiny.yaml", "--offline", "--run-dir", run_dir,
            "--set", "data.train_on=phrases", "--set", "train.epochs=3", "--set", "train.patience=0"]
    for o in overrides:
        args += ["--set", o]
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / run_dir


def test_two_processes_train_the_same_model(tmp_path):
    data = write_data(tmp_path / "data")
    a, b = train(tmp_path, data, "a"), train(tmp_path, data, "b")
    ma, mb = pd.read_csv(a / "metrics.csv"), pd.read_csv(b / "metrics.csv")
    assert len(ma) == 3
    pd.testing.assert_frame_equal(ma.drop(columns="seconds"), mb.drop(columns="seconds"), check_exact=True)
    wa, wb = td.load_run(a).net.model.get_weights(), td.load_run(b).net.model.get_weights()
    assert len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))
    # and the seed matters: another seed, other weights
    c = train(tmp_path, data, "c", "train.seed=1")
    wc = td.load_run(c).net.model.get_weights()
    assert not np.array_equal(wa[0], wc[0])
