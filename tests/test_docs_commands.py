"""Every ```bash block of README.md and docs/*.md runs, page by page, top to bottom, as a reader
would type it: in one folder per page, with the real treebank at $TEXTDECONV_DATA, so a command,
an option, a file name or a run name that drifts from the code fails here. Marker ``docs``: these
start some thirty processes (minutes), so the default ``pytest`` leaves them out: run them with
``pytest -m docs``, as .ci/run does in a step of its own.

A block that cannot run here says why on the line before it, as
``<!-- docs-test: skip: REASON -->`` (installs, servers, GPUs, clusters, the web, hours of
studies); the reasons are shown in the test report and the collector test fails on a block with
neither.

What a reader brings is made by the test, and only that: the folder holds ``runs/sst`` (a run of
tiny.yaml on the real treebank: the run the pages call ``runs/sst``), its ``model.keras`` and
``vocab.txt`` copied beside it (the "any Keras model" files), ``reviews.txt`` / ``big.txt``
(sentences to explain), labelled ``test.csv`` / ``reviews.csv`` (text, label) and
``~/data/reviews/{train,test}.csv`` (review, sentiment; $HOME is the folder), and every ```yaml
block whose first line names a file (``# reviews.yaml ...``) is written as that file. Commands
run as written, with sizes cut so a page takes seconds: ``textdeconv train --config`` gets
``--set train.epochs=1 --set data.max_train=400 --set data.max_eval=200`` and ``textdeconv
evaluate`` at most ``--limit 10 --sanity-n 3 --ig-steps 4`` (``SIZES``, ``CAPS``), and a run the
page trains itself (``--run-dir DIR``) is not in its folder beforehand — never another command
or option.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = r"(?:<!-- docs-test: skip: (?P<skip>[^>]*?) -->\n)?"
BASH = re.compile(SKIP + r"```bash\n(?P<code>.*?)```", re.S)
YAML_FILE = re.compile(r"```yaml\n# (?P<name>[\w.-]+\.ya?ml)\b[^\n]*\n(?P<code>.*?)```", re.S)
CAPS = {"evaluate": {"--limit": 10, "--sanity-n": 3, "--ig-steps": 4}}
SIZES = {"train": ["--set", "train.epochs=1", "--set", "data.max_train=400", "--set", "data.max_eval=200"]}

pytestmark = pytest.mark.docs


def bash_blocks(page: Path):
    """``[(line, code, skip reason or None)]`` of a page's bash blocks, in order."""
    text = page.read_text(encoding="utf-8")
    return [(text[:m.start("code")].count("\n") + 1, m.group("code"), m.group("skip")) for m in BASH.finditer(text)]


PAGES_WITH_BASH = [p for p in PAGES if bash_blocks(p)]


def sized(argv: list[str]) -> list[str]:
    """A ``textdeconv`` command line with its sizes cut (``SIZES``, ``CAPS``); nothing else changes."""
    argv = list(argv)
    if argv[:1] == ["train"] and "--config" in argv and "--resume" not in argv:
        return argv + SIZES["train"]
    for option, cap in CAPS.get(argv[0] if argv else "", {}).items():
        if option in argv:
            i = argv.index(option) + 1
            argv[i] = str(min(int(argv[i]), cap))
        else:
            argv += [option, str(cap)]
    return argv


SHIM = f"""#!{sys.executable}
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_docs_commands import sized
from textdeconv.cli import main
main(sized(sys.argv[1:]), prog="textdeconv")
"""

SENTENCES = ["a gripping , funny movie", "a dull mess", "not bad at all", "the plot drags but the cast is superb",
             "an uneven film", "it is a beautiful , moving story", "boring and far too long", "a small gem"]
LABELS = ["positive", "negative", "positive", "positive", "negative", "positive", "negative", "positive"]


def labelled_csv(path: Path, header: str, repeat: int) -> None:
    rows = [f'"{s}",{y}' for _ in range(repeat) for s, y in zip(SENTENCES, LABELS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def world(tmp_path_factory, real_data_dir) -> Path:
    """The folder every page starts from (copied per page): see the module docstring."""
    from textdeconv.config import load_config
    from textdeconv.training.trainer import train

    w = tmp_path_factory.mktemp("docs-world")
    os.environ.setdefault("TEXTDECONV_DATA", str(real_data_dir))
    train(load_config("tiny.yaml", {"data.dir": str(real_data_dir)}), w / "runs" / "sst", verbose=0)
    for name in ("model.keras", "vocab.txt"):
        shutil.copyfile(w / "runs" / "sst" / name, w / name)
    (w / "reviews.txt").write_text("\n".join(SENTENCES[:3]) + "\n", encoding="utf-8")
    (w / "big.txt").write_text("\n".join(SENTENCES * 25) + "\n", encoding="utf-8")
    labelled_csv(w / "test.csv", "text,label", 2)
    labelled_csv(w / "reviews.csv", "text,label", 5)
    labelled_csv(w / "data" / "reviews" / "train.csv", "review,sentiment", 5)
    labelled_csv(w / "data" / "reviews" / "test.csv", "review,sentiment", 2)
    bin_dir = w.parent / f"{w.name}-bin"
    bin_dir.mkdir()
    (bin_dir / "textdeconv").write_text(SHIM, encoding="utf-8")
    (bin_dir / "textdeconv").chmod(0o755 | stat.S_IXUSR)
    return w


def test_sizes_are_cut_and_nothing_else_changes():
    assert sized(["train", "--config", "sst.yaml", "--run-dir", "r"]) == ["train", "--config", "sst.yaml",
                                                                            "--run-dir", "r", *SIZES["train"]]
    assert sized(["train", "--run-dir", "r", "--resume"]) == ["train", "--run-dir", "r", "--resume"]
    assert sized(["evaluate", "--split", "test", "--limit", "200"]) == [
        "evaluate", "--split", "test", "--limit", "10", "--sanity-n", "3", "--ig-steps", "4"]
    assert sized(["evaluate", "--limit", "5", "--ig-steps", "20"]) == [
        "evaluate", "--limit", "5", "--ig-steps", "4", "--sanity-n", "3"]
    assert sized(["explain", "--split", "test"]) == ["explain", "--split", "test"]


def test_every_bash_block_runs_or_says_why_not():
    blocks = {p.name: bash_blocks(p) for p in PAGES_WITH_BASH}
    assert {"README.md", "training.md", "explaining.md", "evaluation.md", "any-model.md"} <= set(blocks)
    assert all(reason.strip() for bs in blocks.values() for _, _, reason in bs if reason is not None)
    ran = [(name, line) for name, bs in blocks.items() for line, _, reason in bs if reason is None]
    assert len(ran) >= 10, ran


@pytest.mark.parametrize("page", PAGES_WITH_BASH, ids=lambda p: p.name)
def test_the_page_commands_run(page, world, real_data_dir, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(world, home)
    text = page.read_text(encoding="utf-8")
    for _, code, skip in bash_blocks(page):  # a run the page trains itself starts absent
        for run_dir in re.findall(r"--run-dir (\S+)", code) if skip is None else ():
            shutil.rmtree(home / run_dir, ignore_errors=True)
    for m in YAML_FILE.finditer(text):
        (home / m.group("name")).write_text(m.group("code"), encoding="utf-8")
    env = {**os.environ, "HOME": str(home), "TEXTDECONV_DATA": str(real_data_dir),
           "PATH": f"{world.parent / (world.name + '-bin')}{os.pathsep}{os.environ['PATH']}",
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    ran, skipped = 0, []
    for line, code, skip in bash_blocks(page):
        if skip is not None:
            skipped.append(f"{page.name}:{line}: {skip}")
            continue
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=home, env=env,
                              capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise AssertionError(f"{page.relative_to(ROOT)}, the bash block at line {line} exited "
                                 f"{proc.returncode}:\n{proc.stderr[-3000:]}")
        ran += 1
    if not ran:
        pytest.skip("; ".join(skipped))
    for reason in skipped:
        print("skipped", reason)
