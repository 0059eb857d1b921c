"""`textdeconv explain --model model.keras --vocab vocab.txt`: any Keras text CNN from the command
line, with the same numbers as the Python engine and one-line refusals."""
import json

import keras
import numpy as np
import pandas as pd
import pytest
from helpers.engine_models import from_scratch_model

from textdeconv.attribution.engine import explain_model
from textdeconv.cli import main as cli_main
from textdeconv.cli.explain_model import MODEL_METHODS

WORDS = ["<pad>", "<unk>"] + [f"w{i}" for i in range(2, 58)] + ["good", "bad"]
TEXTS = ["good w3 w4 w5", "bad w7 w2 w9 w11 bad"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    model = from_scratch_model(vocab=len(WORDS), length=40)
    model.save(folder / "m.keras")
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    return folder / "m.keras", folder / "vocab.txt", model


def cli(capsys, *args):
    with pytest.raises(SystemExit) as stop:
        cli_main([str(a) for a in args])
    out = capsys.readouterr()
    return stop.value.code or 0, out.out, out.err


def test_model_methods_are_the_engine_rules():
    from textdeconv.attribution.engine import RULE_NAMES

    assert set(MODEL_METHODS) == set(RULE_NAMES)


@pytest.mark.parametrize("method", ["deconvnet", "lrp-epsilon"])
def test_cli_equals_the_python_engine(saved, capsys, tmp_path, method):
    path, vocab, model = saved
    csv = tmp_path / "out.csv"
    code, out, err = cli(capsys, "explain", "--model", path, "--vocab", vocab, *TEXTS, "--method", method,
                         "--tokenizer", "whitespace", "--json", "--csv", csv, "--classes", "neg", "pos")
    assert code == 0, err
    items = json.loads(out)
    expected = explain_model(keras.models.load_model(path), TEXTS, vocabulary=str(vocab), method=method,
                             class_names=["neg", "pos"], tokenizer="whitespace")
    assert [i["tokens"] for i in items] == [e.tokens for e in expected] == [t.split() for t in TEXTS]
    for item, e in zip(items, expected):
        np.testing.assert_allclose(item["scores"], e.scores, rtol=1e-5, atol=1e-6)
        assert item["predicted"] == e.predicted_name and item["method"] == method
    frame = pd.read_csv(csv)
    assert frame["sentence_id"].tolist() == [1] * 4 + [2] * 6 and set(frame["target"]) <= {"neg", "pos"}


def test_cli_html_has_every_class_and_method(saved, capsys, tmp_path):
    path, vocab, _ = saved
    page = tmp_path / "p.html"
    code, _, err = cli(capsys, "explain", "--model", path, "--vocab", vocab, TEXTS[0], "--html", page,
                       "--html-methods", "deconvnet", "gradient", "--quiet")
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    assert '"methods":["deconvnet","gradient"]' in text and '"classes":["0","1"]' in text


@pytest.mark.parametrize("extra, fragment", [
    (["--method", "deconv"], "--model explains with the engine's methods"),
    (["--filters-csv", "f.csv"], "--filters-csv needs a run (--run)"),
    (["--run", "runs/x"], "give --run RUN (a textdeconv run) or --model FILE"),
])
def test_cli_refuses_what_needs_a_run(saved, capsys, extra, fragment):
    path, vocab, _ = saved
    code, _, err = cli(capsys, "explain", "--model", path, "--vocab", vocab, "good", *extra)
    assert code == 2 and fragment in err and "Traceback" not in err


def test_cli_unsupported_model_and_missing_vocab_are_one_line(capsys, tmp_path, saved):
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4)(inputs)
    x = keras.layers.LSTM(3)(x)
    lstm = keras.Model(inputs, keras.layers.Dense(2)(x))
    lstm.save(tmp_path / "lstm.keras")
    (tmp_path / "v.txt").write_text("\n".join(WORDS[:10]) + "\n")
    code, _, err = cli(capsys, "explain", "--model", tmp_path / "lstm.keras", "--vocab", tmp_path / "v.txt", "good")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "LSTM" in lines[0]
    code, _, err = cli(capsys, "explain", "--model", saved[0], "--vocab", tmp_path / "nope.txt", "good")
    assert code == 2 and "nope.txt" in err and len(err.strip().splitlines()) == 1


def test_evaluate_a_keras_model_on_a_labelled_file(saved, capsys, tmp_path):
    path, vocab, _ = saved
    data = tmp_path / "test.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in
                                              zip(TEXTS * 3, ["pos", "neg"] * 3)), encoding="utf-8")
    out = tmp_path / "eval"
    code, stdout, err = cli(capsys, "evaluate", "--model", path, "--vocab", vocab, "--data", data, "--out", out,
                            "--methods", "deconvnet", "grad-x-input", "--classes", "neg", "pos",
                            "--tokenizer", "whitespace")
    assert code == 0, err
    table = pd.read_csv(out / "table.csv")
    assert table["method"].tolist() == ["deconvnet", "grad-x-input", "occlusion", "random"]
    assert ((table["comprehensiveness_aopc"] >= -1) & (table["comprehensiveness_aopc"] <= 1)).all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sentences"] == 6 and 0 <= meta["accuracy"] <= 1
    assert stdout == (out / "table.md").read_text()  # stdout carries the table alone
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "table.csv", "table.md"]


def test_evaluate_model_refusals(saved, capsys):
    path, vocab, _ = saved
    code, _, err = cli(capsys, "evaluate", "--model", path, "--vocab", vocab)
    assert code == 2 and "--model needs --data FILE" in err
    code, _, err = cli(capsys, "evaluate", "--model", path, "--vocab", vocab, "--data", "x.csv", "--methods", "deconv")
    assert code == 2 and "--model evaluates the engine's methods" in err
