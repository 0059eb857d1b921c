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


def bench_accuracy():
    sys.path.insert(0, str(SCRIPTS[0].parent.parent / "bench"))
    try:
        import accuracy
    finally:
        sys.path.pop(0)
    return accuracy


def test_accuracy_benchmark_refuses_a_run_trained_under_another_config(tmp_path):
    accuracy = bench_accuracy()
    from textdeconv.config import load_config, save_config

    save_config(load_config("sst-nonstatic.yaml", ["train.seed=1"]), tmp_path / "config.yaml")
    accuracy.check_same_config(tmp_path, load_config("sst-nonstatic.yaml", ["train.seed=1"]))  # same: reused
    changed = load_config("sst-nonstatic.yaml", ["train.seed=1", "model.vectors_std=0.5", "train.patience=0"])
    with pytest.raises(ValueError, match=r"was trained with another config \(model.vectors_std: .* there, 0.5 now; "
                                         r"train.patience: 5 there, 0 now\); move it away"):
        accuracy.check_same_config(tmp_path, changed)


def test_accuracy_benchmark_extends_only_under_train_keys(tmp_path):
    """--extend may repeat the extended run's own vocab/model values, never change them."""
    accuracy = bench_accuracy()
    from textdeconv.config import load_config, save_config
    from textdeconv.files import atomic_write_json

    src = tmp_path / "sst_vocab.clean-null-seed0"
    src.mkdir()
    save_config(load_config("sst.yaml", ["vocab.clean=null"]), src / "config.yaml")
    atomic_write_json(src / "state.json", {"epoch": 5, "wait": 5, "finished": True})
    atomic_write_json(src / "metrics.json", {})
    with pytest.raises(ValueError, match="only train.* keys can change, but vocab.clean, model.dropout differ "
                                         "from sst_vocab.clean-null-seed0's config"):
        accuracy.extend(src, tmp_path / "bad", ["vocab.clean=kim", "model.dropout=0.1"])
    with pytest.raises(ValueError, match="cannot change train.evals_per_epoch"):
        accuracy.extend(src, tmp_path / "bad", ["train.evals_per_epoch=4"])
    assert not (tmp_path / "bad").exists()
    accuracy.extend(src, tmp_path / "ok", ["vocab.clean=null", "train.patience=0"])
    cfg = load_config(tmp_path / "ok" / "config.yaml")
    assert (cfg.vocab.clean, cfg.train.patience) == (None, 0)
    assert not (tmp_path / "ok" / "metrics.json").exists()
