"""The Python API (``import textdeconv as td``): the same numbers as the command line, checked at
the boundary, quiet, and a model.keras that plain Keras opens."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_train import SENTENCES, write_data

import textdeconv as td
from textdeconv.cli import main as cli_main
from textdeconv.errors import InputError, MissingFileError

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["a gripping, funny movie", "Isn't it dull?", "warm and engaging <b>&amp;</b>"]


@pytest.fixture(scope="module")
def run(tiny_run):
    return td.load_run(tiny_run)


def cli(capsys, *args):
    """``textdeconv ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as stop:
        cli_main([str(a) for a in args])
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


@pytest.mark.numerics
@pytest.mark.parametrize("method, options, flags", [
    ("deconv", {}, []),
    ("deconv-rectified", {"saliency": "norm"}, ["--saliency", "norm"]),
    ("deconvnet", {"saliency": "sum"}, ["--saliency", "sum"]),
    ("grad-x-input", {}, []),
    ("integrated-gradients", {"steps": 7}, ["--ig-steps", "7"]),
    ("occlusion", {"replacement": "unk"}, ["--replacement", "unk"]),
])
def test_explain_frame_equals_the_cli_csv(run, tiny_run, tmp_path, capsys, method, options, flags):
    csv = tmp_path / "cli.csv"
    code, _, err = cli(capsys, "explain", "--run", tiny_run, *TEXTS, "--method", method, *flags,
                       "--target", "positive", "--csv", csv, "--quiet")
    assert code in (0, None), err
    ex = run.explain(TEXTS, method=method, target="positive", **options)
    api = tmp_path / "api.csv"
    ex.save_csv(api)
    assert api.read_bytes() == csv.read_bytes()  # the same rows, to the last digit
    assert ex.to_frame()["method"].unique().tolist() == [method]


@pytest.mark.numerics
def test_explain_takes_token_lists_and_a_batch_equals_one_by_one(run):
    tokens = [["a", "gripping", ",", "funny", "movie"], ["great", "fun"]]
    together = run.explain(tokens)
    for k, toks in enumerate(tokens):
        alone = run.explain([toks])[0]
        assert alone.tokens == together[k].tokens == toks
        # equal to float32 rounding, not bit for bit: a batch pads to its longest sentence, and
        # TensorFlow's CPU kernels may round the same products differently for another shape
        # (seen at 7e-9 with oneDNN off on an AVX2-only CPU; docs/api.md states the tolerance)
        scale = np.abs(together[k].scores).max()
        np.testing.assert_allclose(alone.scores, together[k].scores, rtol=1e-6, atol=1e-6 * scale)
    assert together.sentence_ids == [1, 2] and len(together) == 2 and together[1:].sentence_ids == [2]


def test_predict_frame_holds_the_model_probabilities(run):
    frame = run.predict(TEXTS)
    assert list(frame.columns) == ["text", "predicted", *run.class_names]
    assert frame.index.tolist() == [1, 2, 3] and frame["text"].tolist() == TEXTS
    ex = run.explain(TEXTS)
    for k, e in enumerate(ex):
        np.testing.assert_allclose(frame[run.class_names].to_numpy()[k], e.probs, rtol=1e-5, atol=1e-6)
        assert frame["predicted"].iloc[k] == e.predicted_name
    np.testing.assert_allclose(frame[run.class_names].sum(axis=1), 1.0, rtol=1e-5)


def test_targets_by_name_and_index_and_an_unknown_one_fails_first(run):
    by_name, by_index = run.explain(["great fun"], target="negative"), run.explain(["great fun"], target=0)
    assert by_name[0].target == by_index[0].target == 0
    np.testing.assert_array_equal(by_name[0].scores, by_index[0].scores)
    with pytest.raises(InputError, match="unknown target class 'neutral'; choose one of negative, positive"):
        run.explain(["great fun"], target="neutral")


def test_one_target_per_sentence(run):
    texts = ["great fun", "a dull mess", "warm and engaging"]
    together = run.explain(texts, target=["negative", 1, None])
    for text, t, e in zip(texts, ["negative", 1, None], together):
        alone = run.explain([text], target=t)[0]
        assert e.target == alone.target and e.tokens == alone.tokens
        np.testing.assert_array_equal(e.scores, alone.scores)
    assert [e.target for e in together[:2]] == [0, 1] and together[2].target == together[2].predicted
    # a sentence left empty is skipped with its target
    with pytest.warns(UserWarning, match="sentence 2: no tokens"):
        kept = run.explain(["great fun", [], "a dull mess"], target=[0, 1, 1])
    assert [e.target for e in kept] == [0, 1] and kept.sentence_ids == [1, 3]
    with pytest.raises(InputError, match="got 2 targets for 3 texts"):
        run.explain(texts, target=[0, 1])
    with pytest.raises(InputError, match="unknown target class 'neutral'"):
        run.explain(texts, target=[0, "neutral", 1])


def test_engine_saliency_sum_is_reachable(run):
    from textdeconv.attribution.engine import Analyzer
    from textdeconv.data.vocab import pad_batch

    e = run.explain([["great", "fun", "film"]], method="deconvnet", saliency="sum", target=1)[0]
    ids = pad_batch([run.vocab.encode(e.tokens)], run.net.pad)
    ref = Analyzer(run.net.model, "deconvnet", saliency="sum").attribute(ids, 1)[0]
    np.testing.assert_allclose(e.scores, ref[run.net.pad:run.net.pad + 3], atol=1e-6)
    dot = run.explain([["great", "fun", "film"]], method="deconvnet", target=1)[0]
    assert not np.allclose(dot.scores, e.scores)


def test_explain_model_on_a_runs_model_reads_its_pad_margin(run):
    # td.explain_model on run.net.model lays each sentence out with Kim's margin, as run.predict does
    tokens = [["a", "gripping", ",", "funny", "movie"], ["great", "fun"], ["dull"]]
    probs = run.predict(tokens)[run.class_names].to_numpy()
    expls = td.explain_model(run.net.model, tokens, vocabulary=run.vocab.itos, method="deconvnet",
                             class_names=run.class_names)
    ours = run.explain(tokens, method="deconvnet")
    for e, p, o in zip(expls, probs, ours):
        np.testing.assert_allclose(e.probs, p, atol=1e-6)
        np.testing.assert_allclose(e.scores, o.scores, atol=1e-6)
        assert e.tokens == o.tokens and e.extras["pad_score"] == 0.0  # PAD embeds to zero


@pytest.mark.parametrize("bad, fragment", [
    ("a fine film", "texts must be a list of sentences, got one str: wrap it in a list"),
    ([3, "ok"], "sentence 1 must be a string or a list of token strings, got int"),
    ([["ok", 2]], "sentence 1 must be a string or a list of token strings, got list"),
    ([], "texts is empty"),
])
def test_bad_texts_are_refused_at_the_boundary(run, bad, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        run.explain(bad)
    with pytest.raises(InputError, match=re.escape(fragment)):
        run.predict(bad)


def test_unknown_method_and_bad_option_name_the_choices(run):
    with pytest.raises(InputError, match="unknown attribution method 'lrp-bogus'; choose one of deconv,"):
        run.explain(["great fun"], method="lrp-bogus")
    with pytest.raises(InputError, match=r"integrated-gradients has no option 'stepz' \(its options: steps, "):
        run.explain(["great fun"], method="integrated-gradients", stepz=3)
    with pytest.raises(InputError, match="saliency must be one of dot, norm, got 'l1'"):
        run.explain(["great fun"], saliency="l1")


def test_methods_is_the_registry():
    from textdeconv.attribution import METHODS

    assert td.methods() == list(METHODS)
    assert {"deconv", "deconv-rectified", "gradient", "integrated-gradients", "occlusion",
            "random"} <= set(td.methods())


def test_html_repr_colours_words_and_escapes_text(run):
    ex = run.explain([["<script>alert(1)</script>", "great", "fun", "&", "more"]])
    html = ex[0]._repr_html_()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and ">&amp;<" in html
    spans = re.findall(r'<span title="([+-][0-9.]+)" style="background:(rgb\([0-9,]+\))', html)
    assert [float(s) for s, _ in spans] == pytest.approx([round(float(s), 4) for s in ex[0].scores], abs=1e-4)
    strongest = int(np.argmax(np.abs(ex[0].scores)))  # full colour at the sentence's max |score|
    assert spans[strongest][1] in ("rgb(33,102,172)", "rgb(178,24,43)")
    table = ex._repr_html_()
    assert table.count("<tr>") == 2 and "<script" not in table


def test_load_run_errors_are_user_errors(tmp_path):
    with pytest.raises(MissingFileError, match="run directory not found"):
        td.load_run(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(MissingFileError, match="is not a finished run: missing config.yaml, vocab.txt, model.keras"):
        td.load_run(tmp_path / "half")


def test_train_returns_the_metrics_and_writes_the_run(tmp_path, monkeypatch):
    data = write_data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    metrics = td.train("tiny.yaml", run_dir="runs/t", verbose=0,
                       overrides={"data.dir": str(data), "data.download": False, "train.epochs": 2,
                                  "model.filter_sizes": [2, 3], "data.train_on": "sentences"})
    assert metrics["epochs_run"] == 2 and metrics["test"]["n"] == len(SENTENCES)
    assert (tmp_path / "runs" / "t" / "model.keras").is_file()
    again = td.load_run("runs/t")
    assert again.config.train.epochs == 2 and again.class_names == ["negative", "positive"]


def test_import_is_light_and_quiet_and_model_keras_opens_in_plain_keras(tiny_run):
    code = ("import sys, textdeconv as td\n"
            "assert 'tensorflow' not in sys.modules\n"
            f"run = td.load_run({str(tiny_run)!r})\n"
            "run.explain(['great fun'])\n"
            "import keras\n"
            f"m = keras.models.load_model({str(tiny_run / 'model.keras')!r})\n"
            "print(m.output_shape)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(None, 2)"
    assert proc.stderr == ""  # no absl / oneDNN / cuInit chatter


def test_a_module_importing_tensorflow_first_is_quiet_too():
    """A library module that imports TensorFlow at its top (the evaluation metrics, perturbations)
    starts it as quietly as load_run does (runtime._QuietTensorFlow)."""
    code = ("import textdeconv\n"
            "import textdeconv.attribution.perturb\n"
            "import tensorflow as tf\n"
            "print(int(tf.constant(1) + 1))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout == "2\n", proc.stderr[-2000:]
    assert proc.stderr == ""  # no absl / oneDNN / cuInit chatter


def test_plain_keras_opens_model_keras_when_keras_came_first(tiny_run):
    code = ("import keras, textdeconv\n"
            f"print(keras.models.load_model({str(tiny_run / 'model.keras')!r}).output_shape)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("(None, 2)")


def test_the_api_page_example_runs(tmp_path, monkeypatch):
    """docs/api.md's example (the block marked ``# doctest: api-example``) runs as written."""
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "# doctest: api-example" in b]
    assert len(blocks) == 1, "docs/api.md must hold one ```python block marked '# doctest: api-example'"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0], "docs/api.md", "exec"), namespace)
    frame = namespace["ex"].to_frame()
    assert isinstance(frame, pd.DataFrame) and frame["sentence_id"].tolist() == [1] * 5 + [2] * 3
    assert namespace["metrics"]["epochs_run"] == 1
