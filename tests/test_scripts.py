"""The command and its script shims: --help with a worked example, fast (no TensorFlow before the
arguments are parsed), a bad argument a usage error with a non-zero exit, not a traceback."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
SHIMS = {"train.py": "train", "explain.py": "explain", "evaluate.py": "evaluate", "download_data.py": "download",
         "inspect_filters.py": "filters", "lexicon.py": "lexicon"}
COMMANDS = sorted(SHIMS.values())


def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_every_script_is_a_shim_of_a_subcommand():
    assert {s.name for s in SCRIPTS} == set(SHIMS)
    for script in SCRIPTS:
        code = [line for line in script.read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert len(code) <= 8, f"{script.name} holds logic; it should only call textdeconv.cli.main"


def test_top_level_help_lists_every_subcommand():
    proc = run("-m", "textdeconv", "--help")
    assert proc.returncode == 0, proc.stderr
    for command in COMMANDS:
        assert f"\n    {command}" in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_a_worked_example(command):
    proc = run("-m", "textdeconv", command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"  textdeconv {command} " in proc.stdout  # an example command line
    assert "tensorflow" not in proc.stderr.lower()  # --help never waits for TensorFlow
    assert "sys.modules" not in proc.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_script_help_is_its_subcommand_help(script):
    shim, command = run(script, "--help"), run("-m", "textdeconv", SHIMS[script.name], "--help")
    assert shim.returncode == 0, shim.stderr
    assert shim.stdout.startswith(f"usage: {script.name} ")
    options = re.compile(r"--[a-z][a-z0-9-]*")
    assert set(options.findall(shim.stdout)) == set(options.findall(command.stdout))
    assert f"  textdeconv {SHIMS[script.name]} " in shim.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_unknown_option_is_a_usage_error(script):
    proc = run(script, "--no-such-option")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("usage: ") and f"\n{script.name}: error: " in proc.stderr


def test_the_retired_shard_option_and_merge_shards_command_are_usage_errors():
    """`explain --shard I/N` and `merge-shards` are gone: a corpus scales on the Beam runner (docs/scale.md)."""
    proc = run_cli("-m", "textdeconv", "explain", "--input", "big.txt", "--csv", "part2.csv", "--shard", "2/4")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("usage: textdeconv explain ")
    assert "\ntextdeconv explain: error: unrecognized arguments: --shard" in proc.stderr
    proc = run_cli("-m", "textdeconv", "merge-shards", "big.csv", "part1.csv", "part2.csv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "\ntextdeconv: error: argument COMMAND: invalid choice: 'merge-shards'" in proc.stderr


def test_help_does_not_import_tensorflow():
    proc = run("-c", "import sys; from textdeconv.cli import main\n"
                     "try:\n    main(['explain', '--help'])\nexcept SystemExit:\n    pass\n"
                     "print('tensorflow' in sys.modules, file=sys.stderr)")
    assert proc.stderr.strip().endswith("False")


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
    atomic_write_json(src / "state.json", {"epoch": 5, "wait": 5, "finished": True, "checkpoint": "epoch_005.keras"})
    atomic_write_json(src / "metrics.json", {})
    with pytest.raises(ValueError, match="only train.* keys can change, but vocab.clean, model.dropout differ "
                                         "from sst_vocab.clean-null-seed0's config"):
        accuracy.extend(src, tmp_path / "bad", ["vocab.clean=kim", "model.dropout=0.1"])
    with pytest.raises(ValueError, match="cannot change train.evals_per_epoch"):
        accuracy.extend(src, tmp_path / "bad", ["train.evals_per_epoch=4"])
    with pytest.raises(FileNotFoundError, match=r"checkpoints/epoch_005.keras\) is gone: a finished run keeps it "
                                                r"only with train.keep_checkpoints: true"):
        accuracy.extend(src, tmp_path / "bad", ["train.patience=0"])
    assert not (tmp_path / "bad").exists()
    (src / "checkpoints").mkdir()
    (src / "checkpoints" / "epoch_005.keras").write_bytes(b"a checkpoint")
    accuracy.extend(src, tmp_path / "ok", ["vocab.clean=null", "train.patience=0"])
    cfg = load_config(tmp_path / "ok" / "config.yaml")
    assert (cfg.vocab.clean, cfg.train.patience, cfg.train.keep_checkpoints) == (None, 0, True)
    assert not (tmp_path / "ok" / "metrics.json").exists()
