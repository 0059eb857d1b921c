"""The model shipped inside the package (``builtin:sst2``): one command from an empty folder,
the accuracy its card records re-measured from the installed files, nothing written into the
package, and the bundling step that makes it."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import textdeconv as td
from textdeconv import builtin
from textdeconv.errors import InputError, MissingFileError

BUNDLE = Path(builtin.__file__).parent / "sst2"


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_bundle_is_small_and_complete():
    names = sorted(p.name for p in BUNDLE.iterdir())
    assert names == ["card.json", "config.yaml", "model.keras", "vocab.txt"]
    assert sum(p.stat().st_size for p in BUNDLE.iterdir()) <= 5 * 2**20  # ≤ 5 MiB in the wheel and in git
    card = builtin.card()
    assert card["name"] == "builtin:sst2" and card["classes"] == ["negative", "positive"]
    assert card["test_accuracy"] >= 0.83 and card["test_n"] == 1821 and card["dev_n"] == 872
    assert builtin.names() == ["sst2"]


def test_explain_in_an_empty_folder_uses_the_bundled_model(tmp_path):
    before = digest(BUNDLE)
    env = {k: v for k, v in os.environ.items() if k != "TEXTDECONV_DATA"}  # no data set needed
    proc = subprocess.run([sys.executable, "-m", "textdeconv", "explain", "a gripping , funny movie"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "using the bundled model builtin:sst2 (no run under runs/" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("[1] predicted: positive") and "method: deconv" in lines[0]
    words = lines[1].split()
    assert words[0::2] == ["a", "gripping", ",", "funny", "movie"]
    assert [float(x) for x in words[1::2]]  # a signed score per word
    assert list(tmp_path.iterdir()) == [] and digest(BUNDLE) == before  # nothing written anywhere


def test_load_run_by_name_equals_the_folder():
    run = td.load_run("builtin:sst2")
    assert run.name == "builtin:sst2" and run.class_names == ["negative", "positive"]
    same = td.load_run(BUNDLE)
    assert same.name == "builtin:sst2"
    a, b = run.explain(["a dull mess"]), same.explain(["a dull mess"])
    np.testing.assert_array_equal(a[0].scores, b[0].scores)
    assert a[0].predicted_name == "negative"


@pytest.mark.parametrize("spec", ["builtin:nope", "builtin:", "builtin:../sst2"])
def test_an_unknown_bundle_is_one_line(spec):
    with pytest.raises(MissingFileError, match=f"^no bundled model '{spec}'; bundled: builtin:sst2$"):
        td.load_run(spec)


def test_the_card_accuracy_holds_from_the_installed_files(real_data_dir, monkeypatch):
    """The dev accuracy the card records, scored again from the files as installed (sentence-level
    dev set, as training scored it)."""
    from textdeconv.data.splits import load_splits
    from textdeconv.training.trainer import predict_ids

    monkeypatch.setenv("TEXTDECONV_DATA", str(real_data_dir))
    run = td.load_run("builtin:sst2")
    splits, _ = load_splits(run.config.data, run.config.vocab.clean)
    dev = splits["dev"]
    probs = predict_ids(run.net.model, [run.vocab.encode(ex.tokens) for ex in dev], run.net.pad)
    accuracy = float(np.mean(probs.argmax(1) == np.array([ex.label for ex in dev])))
    card = builtin.card()
    assert len(dev) == card["dev_n"] and accuracy == pytest.approx(card["dev_accuracy"], abs=0.5 / len(dev))


def test_reports_of_the_bundled_model_go_to_the_working_folder(real_data_dir, tmp_path, monkeypatch, capsys):
    from textdeconv.cli import main

    before = digest(BUNDLE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTDECONV_DATA", str(real_data_dir))
    with pytest.raises(SystemExit) as stop:
        main(["filters", "--run", "builtin:sst2", "--split", "dev", "--top-k", "2"])
    assert stop.value.code in (0, None), capsys.readouterr().err
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    files = ("filters-analysis.csv", "filters-words.csv", "filters.csv", "filters.html")
    assert written == [f"runs/builtin-sst2/filters/dev/{f}" for f in files]
    assert digest(BUNDLE) == before


def test_bundle_run_keeps_the_weights_and_refuses_to_overwrite(tiny_run, tmp_path):
    from textdeconv.training.bundle import bundle_run

    dest = tmp_path / "pkg" / "mini"
    card = bundle_run(tiny_run, dest, command="textdeconv train --config tiny.yaml")
    assert sorted(p.name for p in dest.iterdir()) == ["card.json", "config.yaml", "model.keras", "vocab.txt"]
    assert json.loads((dest / "card.json").read_text()) == {k: v for k, v in card.items() if k != "bytes"}
    assert (dest / "vocab.txt").read_bytes() == (tiny_run / "vocab.txt").read_bytes()
    run, bundled = td.load_run(tiny_run), td.load_run(dest)
    for w, v in zip(run.net.model.get_weights(), bundled.net.model.get_weights()):
        np.testing.assert_array_equal(w, v)
    assert bundled.config.data.dir is None and bundled.config.model == run.config.model
    assert card["dev_accuracy"] == json.loads((tiny_run / "metrics.json").read_text())["dev"]["accuracy"]
    with pytest.raises(InputError, match="mini exists; pass --replace to bundle over it$"):
        bundle_run(tiny_run, dest, command="x")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["mini"]  # no temporary folder left


@pytest.mark.numerics  # three decimals of the same model on both kernel families
def test_the_readme_first_example_is_what_the_bundled_model_prints(tmp_path, monkeypatch, capsys):
    """The README opens with a command and its output: run the command, compare every character."""
    import re
    import shlex

    from textdeconv.cli import main

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n\$ (textdeconv explain [^\n]*)\n(.*?)```", readme, re.S)
    command, shown = block.group(1), block.group(2)
    args = shlex.split(command)[1:]
    assert "--run" not in args  # the point of the example: no run of one's own
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(args)
    out = capsys.readouterr()
    assert stop.value.code in (0, None), out.err
    assert out.out == shown
    assert "using the bundled model builtin:sst2" in out.err
