"""The corpus lexicon (textdeconv/lexicon.py, scripts/lexicon.py) against a direct pandas groupby
over the explanations, and the bar chart against what it was asked to draw."""

import numpy as np
import pandas as pd
import pytest
from conftest import one_line_error, run_cli, script_in_process
from tiny_models import random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution import make_explainer
from textdeconv.reports.lexicon import COLUMNS, explain_classes, lexicon, plot_lexicon, top_words

pytestmark = pytest.mark.numerics  # run with oneDNN on and off by .ci/run

CLASSES = ["negative", "positive"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sentences():
    s = random_sentences(30, np.random.default_rng(8))
    return s + [["GOOD", "qwzx"], ["Good", "fun", "vbnm"]]  # case folds into "good"; unknown words pool as <unk>


def direct(explainer, sents, batch_size):
    """(class, word) -> (count, mean, total), straight from the Explanations.

    The sentences are explained in the same batches as the lexicon's, so both sides start from the
    same scores bit for bit on every CPU kernel (a batch of other sentences pads differently, and
    the matrix kernels may then round the same products differently: see docs/api.md)."""
    rows = [(e.target_name, t.lower() if known else "<unk>", float(s))
            for c in range(len(CLASSES)) for e in explainer.explain(sents, target=c, batch_size=batch_size)
            for t, s, known in zip(e.tokens, e.scores, e.in_vocab)]
    frame = pd.DataFrame(rows, columns=["class", "word", "score"])
    return frame.groupby(["class", "word"])["score"].agg(["size", "mean", "sum"])


@pytest.mark.parametrize("method", ["deconv", "gradient", "occlusion"])
def test_mean_and_total_equal_a_direct_groupby(method):
    net, vocab = tiny_net("non-static", seed=5), tiny_vocab()
    explainer = make_explainer(method, net, vocab, CLASSES)
    sents = sentences()
    lex = lexicon(explain_classes(explainer, sents, batch_size=7), CLASSES, min_count=15)
    assert list(lex.columns) == list(COLUMNS)
    ref = direct(explainer, sents, batch_size=7)
    got = lex.set_index(["class", "word"]).sort_index()
    assert list(got.index) == list(ref.index)  # every (class, word), "<unk>" and "good" folded
    assert got["count"].tolist() == ref["size"].tolist()
    np.testing.assert_allclose(got["mean_score"], ref["mean"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["total_score"], ref["sum"], rtol=1e-9, atol=1e-12)
    unknown = sum(t not in vocab for s in sents for t in s)  # "zzz" of random_sentences, "qwzx", "vbnm"
    assert got.loc[("positive", "<unk>"), "count"] == unknown > 2 and "qwzx" not in got.index.get_level_values("word")
    for name in CLASSES:
        rows = lex[lex["class"] == name]
        assert rows["count"].sum() == sum(len(s) for s in sents)  # every token, once per class
        # ranks by hand: 1 + how many words score strictly higher
        totals = rows["total_score"].to_numpy()
        assert rows["rank_total"].tolist() == [1 + int((totals > t).sum()) for t in totals]
        ranked = rows[rows["count"] >= 15]
        means = ranked["mean_score"].to_numpy()
        assert ranked["rank_mean"].tolist() == [1 + int((means > m).sum()) for m in means]
        assert rows.loc[rows["count"] < 15, "rank_mean"].isna().all()
        assert (rows["count"] < 15).any() and len(ranked) > 1  # both sides of --min-count occur
        assert ranked["rank_mean"].is_monotonic_increasing and rows["rank_mean"].iloc[0] == 1  # sorted
    assert lex["class"].tolist() == sorted(lex["class"], key=CLASSES.index)


def test_chart_draws_the_top_words(tmp_path):
    net, vocab = tiny_net("rand", seed=6), tiny_vocab()
    lex = lexicon(explain_classes(make_explainer("deconv", net, vocab, CLASSES), sentences()), CLASSES, 3)
    png = tmp_path / "out" / "lex.png"
    drawn = plot_lexicon(lex, CLASSES, png, top=4, by="total")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in png.parent.iterdir()] == ["lex.png"]  # written atomically
    for name in CLASSES:
        rows = lex[lex["class"] == name].sort_values("total_score", ascending=False)
        words, values = drawn[name]
        assert words == rows["word"].tolist()[:4]
        np.testing.assert_array_equal(values, rows["total_score"].to_numpy()[:4])
    drawn = plot_lexicon(lex, CLASSES, png, top=50, by="mean")
    assert all(len(words) == int((lex[lex["class"] == n]["count"] >= 3).sum()) for n, (words, _) in drawn.items())
    with pytest.raises(ValueError, match="unknown ranking 'median'"):
        top_words(lex, "positive", by="median")
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        lexicon(pd.DataFrame(columns=["target", "word", "score"]), CLASSES, min_count=0)


# --------------------------------------------------------------------------------------------
# scripts/lexicon.py


def script(monkeypatch, capsys, *args):
    """scripts/lexicon.py in this process (TensorFlow is loaded already): (exit code, stdout, stderr)."""
    return script_in_process(monkeypatch, capsys, "lexicon.py", *args)


def test_lexicon_script_writes_csv_and_png(tiny_run, tmp_path, monkeypatch, capsys):
    csv, png = tmp_path / "lex.csv", tmp_path / "lex.png"
    code, out, err = script(monkeypatch, capsys, "--run", str(tiny_run), "--split", "dev", "--method", "grad-x-input",
                            "--top", "3", "--min-count", "2", "--csv", str(csv), "--png", str(png))
    assert code == 0, err
    assert f"wrote {csv}" in err and f"wrote {png}" in err and "explaining" not in err  # no progress bar off a terminal
    frame = pd.read_csv(csv, keep_default_na=False, na_values={"rank_mean": [""]})
    assert list(frame.columns) == list(COLUMNS) and png.read_bytes()[:8] == PNG_SIGNATURE

    from textdeconv.data.splits import split_sentences
    from textdeconv.training.rundir import read_run

    cfg, vocab, net, classes = read_run(tiny_run)
    ids, sents, _ = split_sentences(cfg.data, "dev")
    expected = lexicon(explain_classes(make_explainer("grad-x-input", net, vocab, classes), sents, ids), classes, 2)
    pd.testing.assert_frame_equal(frame, expected.astype({"rank_mean": float}), check_exact=False, rtol=1e-9)
    for name in classes:  # the printout: each class's top 3 by mean
        line = next(l for l in out.splitlines() if l.startswith(f"{name}: "))
        assert line.split()[1::3] == top_words(expected, name, 3)["word"].tolist()


def lexicon_cli(*args):
    return run_cli("scripts/lexicon.py", *args)


def test_lexicon_script_errors_and_help(tmp_path):
    one_line_error(lexicon_cli("--run", str(tmp_path / "nope"), "--split", "dev"), "run directory not found")
    one_line_error(lexicon_cli("--run", str(tmp_path), "--split", "dev"), "missing config.yaml, vocab.txt, model.keras")
    one_line_error(lexicon_cli("--run", str(tmp_path), "--split", "dev", "--top", "0"),
                   "--top must be at least 1, got 0")
    one_line_error(lexicon_cli("--run", str(tmp_path), "--split", "dev", "--min-count", "0"),
                   "--min-count must be at least 1")
    proc = lexicon_cli("--help")
    assert proc.returncode == 0
    assert "examples:\n  textdeconv lexicon --run runs/" in proc.stdout and "--min-count" in proc.stdout
