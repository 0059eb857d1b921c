"""Shared fixtures: a tiny hand-written treebank, and the real SST trees when they are available.

Kept free of TensorFlow so that the data/config tests stay fast.
"""
import io
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def run_cli(*args, stdin=None):
    """``python ARGS`` in a subprocess from the project root (e.g. ``run_cli("scripts/explain.py", ...)``)."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, input=stdin, timeout=300)


def one_line_error(proc, fragment):
    """The process failed as a user error should: exit 2, one ``error: ...`` line holding ``fragment``."""
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def script_in_process(monkeypatch, capsys, name, *args, stdin=None):
    """``scripts/<name> ARGS`` run in this process (TensorFlow stays loaded, so it is fast):
    ``(exit code, stdout, stderr)``. Each run builds its own explainer, as a new process would."""
    monkeypatch.setattr(sys, "argv", [name, *map(str, args)])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(SCRIPTS / name), run_name="__main__")
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


# Small PTB sentiment trees (labels 0-4 on every node). They cover: positive and negative roots,
# a neutral root (dropped by SST-2), the phrase "good ." repeated in two training trees (phrase
# de-duplication), -LRB-/-RRB- tokens and an accented UTF-8 word.
TREES = {
    "train": [
        "(3 (2 It) (4 (2 's) (3 (3 good) (2 .))))",
        "(1 (2 (2 The) (2 clichés)) (1 (1 (2 are) (0 tiresome)) (2 .)))",
        "(2 (2 It) (2 (2 's) (2 (2 a) (2 film))))",
        "(4 (2 (2 -LRB-) (2 (2 Very) (2 -RRB-))) (3 (3 good) (2 .)))",
    ],
    "dev": [
        "(4 (3 (2 A) (3 delight)) (2 .))",
        "(0 (2 (2 Not) (2 once)) (0 (0 awful) (2 .)))",
    ],
    "test": [
        "(3 (2 Quite) (3 fun))",
        "(1 (2 Too) (1 long))",
        "(2 (2 A) (2 movie))",
    ],
}


def write_trees(root: Path, trees=TREES) -> Path:
    """Write ``trees`` ({split: [tree strings]}) as root/trees/{split}.txt; return ``root``."""
    tree_dir = Path(root) / "trees"
    tree_dir.mkdir(parents=True, exist_ok=True)
    for split, lines in trees.items():
        (tree_dir / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(root)


@pytest.fixture
def tiny_trees_dir(tmp_path) -> Path:
    """tmp_path with trees/train.txt, dev.txt and test.txt holding ``TREES``."""
    return write_trees(tmp_path)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real SST folder ($TEXTDECONV_DATA, holding trees/train.txt); skips the test without it, or
    fails it when TEXTDECONV_REQUIRE_DATA is set (.ci/run sets it: there missing data is an error)."""
    value = os.environ.get("TEXTDECONV_DATA")
    if value:
        root = Path(value).expanduser()
        if (root / "trees" / "train.txt").is_file():
            return root
        reason = f"TEXTDECONV_DATA={value} holds no trees/train.txt: real SST trees unavailable"
    else:
        reason = "TEXTDECONV_DATA not set: real SST trees unavailable (CI sets it to ../shared/data/sst)"
    if os.environ.get("TEXTDECONV_REQUIRE_DATA"):
        pytest.fail(f"{reason} (TEXTDECONV_REQUIRE_DATA is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory trained in-process for 3 epochs on ``test_train.SENTENCES`` (shared by the
    HTML, curves and fuzz tests; TensorFlow is imported only when a test asks for it)."""
    from test_train import SENTENCES, small_config, tree

    from textdeconv.training.trainer import train

    data = tmp_path_factory.mktemp("tiny_run") / "data"
    (data / "trees").mkdir(parents=True)
    text = "\n".join(tree(y, s) for y, s in SENTENCES) + "\n"
    for split in ("train", "dev", "test"):
        (data / "trees" / f"{split}.txt").write_text(text, encoding="utf-8")
    run = data.parent / "run"
    train(small_config(data, "train.epochs=3"), run, verbose=0)
    return run
