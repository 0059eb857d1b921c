"""Every script: --help with a worked example, fast (no TensorFlow before arguments are parsed),
and a bad argument is a usage error with a non-zero exit, not a traceback."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parent.parent / "scripts").glob("*.py"))


def run(script, *args):
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)


def test_every_script_is_covered():
    assert {s.name for s in SCRIPTS} >= {"train.py", "explain.py", "evaluate.py", "download_data.py",
                                         "inspect_filters.py", "lexicon.py", "merge_shards.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_help_has_a_worked_example(script):
    proc = run(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"python scripts/{script.name} " in proc.stdout  # an example command line
    assert "tensorflow" not in proc.stderr.lower()  # --help never waits for TensorFlow


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_unknown_option_is_a_usage_error(script):
    proc = run(script, "--no-such-option")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unrecognized arguments: --no-such-option" in proc.stderr or "error:" in proc.stderr


def test_accuracy_benchmark_refuses_a_run_trained_under_another_config(tmp_path):
    sys.path.insert(0, str(SCRIPTS[0].parent.parent / "bench"))
    try:
        import accuracy
    finally:
        sys.path.pop(0)
    from textdeconv.config import load_config, save_config

    save_config(load_config("sst-nonstatic.yaml", ["train.seed=1"]), tmp_path / "config.yaml")
    accuracy.check_same_config(tmp_path, load_config("sst-nonstatic.yaml", ["train.seed=1"]))  # same: reused
    changed = load_config("sst-nonstatic.yaml", ["train.seed=1", "model.vectors_std=0.5", "train.patience=0"])
    with pytest.raises(ValueError, match=r"was trained with another config \(model.vectors_std: .* there, 0.5 now; "
                                         r"train.patience: 5 there, 0 now\); move it away"):
        accuracy.check_same_config(tmp_path, changed)
