"""The filter dictionary (textdeconv/filters.py, scripts/inspect_filters.py) against independent
computations: a numpy convolution, conv1d_transpose of a unit signal, hand-set nearest words."""
import shutil
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import one_line_error, run_cli, script_in_process
from helpers.filter_page import NASTY, hostile_dictionary, page_json
from tiny_models import random_sentences, tiny_net, tiny_vocab

from textdeconv.reports.filter_page import page_data, render_html, write_html
from textdeconv.reports.filters import (
    filter_dictionary,
    filter_reconstruction,
    max_activations,
    nearest_words,
    top_ngrams,
)

pytestmark = pytest.mark.numerics  # run with oneDNN on and off by .ci/run


def numpy_max_over_time(net, vocab, sentences):
    """Per sentence, width and filter: (p_j, switch window ids) from a plain numpy convolution."""
    tables = [np.asarray(t.embeddings.numpy(), np.float64) for t in net.tables]
    out = {}
    for i, s in enumerate(sentences):
        ids = np.array([0] * net.pad + vocab.encode(s) + [0] * net.pad)
        emb = np.concatenate([t[ids] for t in tables], axis=1) * (ids != 0)[:, None]  # PAD rows are zero
        for w, conv in zip(net.widths, net.convs):
            k, b = conv.kernel.numpy().astype(np.float64), conv.bias.numpy().astype(np.float64)
            n = len(ids) - w + 1
            z = np.stack([sum(emb[t + q] @ k[q] for q in range(w)) for t in range(n)]) + b  # (n, F)
            h = np.maximum(z, 0)
            for j in range(h.shape[1]):
                t = int(h[:, j].argmax())
                out[i, w, j] = (h[t, j], tuple(ids[t:t + w]))
    return out


def ref_keys(ref):
    return [(w, j) for _, w, j in ref]


def test_top_ngrams_equal_an_independent_convolution():
    net, vocab = tiny_net("rand", widths=(2, 3), filters=4, seed=3), tiny_vocab()
    net.convs[1].bias.assign(net.convs[1].bias.numpy() - np.array([100, 0, 0, 0], np.float32))  # 3/0 dead
    sentences = random_sentences(24, np.random.default_rng(5))
    sentences += [["good", "movie"], ["Good", "movie"], ["good", "movie"]]  # one window, three sentences
    frame = top_ngrams(net, vocab, sentences, sentence_ids=range(101, 101 + len(sentences)), top_k=4)
    assert list(frame.columns) == ["width", "filter", "rank", "ngram", "activation", "sentence_id", "sentences"]
    ref = numpy_max_over_time(net, vocab, sentences)
    checked = 0
    for (w, j), rows in frame.groupby(["width", "filter"]):
        best = defaultdict(lambda: [-1.0, 0])  # window ids -> [max p_j, sentences whose switch is there]
        for i in range(len(sentences)):
            p, win = ref[i, w, j]
            if p > 0:
                best[win][0] = max(best[win][0], p)
                best[win][1] += 1
        expected = sorted(best.items(), key=lambda kv: -kv[1][0])[:4]
        assert rows["rank"].tolist() == list(range(1, len(expected) + 1))
        np.testing.assert_allclose(rows["activation"], [v[0] for _, v in expected], rtol=1e-5)
        assert rows["sentences"].tolist() == [v[1] for _, v in expected]
        # the top n-gram is the max of the conv output over every window of every sentence
        assert rows["activation"].iloc[0] == pytest.approx(max(ref[i, w, j][0] for i in range(len(sentences))),
                                                           rel=1e-5)
        for r in rows.itertuples():  # each n-gram is its sentence's switch window
            i = r.sentence_id - 101
            assert ref[i, w, j][0] == pytest.approx(r.activation, rel=1e-5)
            window = ref[i, w, j][1]
            ids = [0 if t == "<pad>" else vocab.encode([t])[0] for t in r.ngram.split()]
            assert tuple(ids) == window
        checked += 1
    alive = {(w, j): sum(ref[i, w, j][0] > 0 for i in range(len(sentences))) for w, j in set(ref_keys(ref))}
    assert alive[3, 0] == 0 and 0 < checked == sum(v > 0 for v in alive.values())  # dead filters: no n-grams
    every = top_ngrams(net, vocab, sentences, top_k=100)  # every distinct window of every live filter
    assert every.groupby(["width", "filter"])["sentences"].sum().to_dict() == {k: v for k, v in alive.items() if v}
    # the last three sentences are one window to the model ("Good" is "good"): counted together
    assert (every.groupby(["width", "filter"])["sentences"].max() >= 3).all()


def test_batched_equals_one_by_one():
    net, vocab = tiny_net("multichannel", seed=4), tiny_vocab()
    sentences = random_sentences(15, np.random.default_rng(2))
    p_all, s_all = max_activations(net, vocab, sentences, batch_size=64)
    p_one, s_one = max_activations(net, vocab, sentences, batch_size=1)
    np.testing.assert_allclose(p_all, p_one, rtol=1e-6)
    np.testing.assert_array_equal(s_all, s_one)
    assert (s_all >= -net.pad).all() and (p_all > 0).any()


def test_max_activations_traces_its_pooling_once(monkeypatch):
    """One trace for every batch shape (it traced three times: 0.6 s each on a busy machine), and
    the same arrays as one sentence at a time."""
    from textdeconv.reports import filters

    made, function_of_tf = [], tf.function

    def function(fn=None, **kwargs):
        if fn is None:  # used as @tf.function(...): a decorator
            return lambda f: function(f, **kwargs)
        compiled = function_of_tf(fn, **kwargs)
        if fn.__name__ == "pool":  # max_activations' own (Keras compiles others through tf.function too)
            made.append(compiled)
        return compiled

    monkeypatch.setattr(filters.tf, "function", function)
    net, vocab = tiny_net("rand", seed=5), tiny_vocab()
    sentences = random_sentences(40, np.random.default_rng(3))
    assert len({len(s) for s in sentences}) > 3  # several length buckets, so several batch shapes
    p_all, s_all = max_activations(net, vocab, sentences, batch_size=8)
    assert len(made) == 1 and made[0].experimental_get_tracing_count() == 1
    monkeypatch.undo()
    p_one, s_one = max_activations(net, vocab, sentences, batch_size=1)
    np.testing.assert_array_equal(p_all, p_one)
    np.testing.assert_array_equal(s_all, s_one)


@pytest.mark.parametrize("variant", ["rand", "multichannel"])
def test_kernel_rows_are_the_transposed_conv_of_a_unit_signal(variant):
    net = tiny_net(variant, widths=(2, 3), filters=3, seed=7)
    length = 9
    for w, conv in zip(net.widths, net.convs):
        f, e = int(conv.filters), int(conv.kernel.shape[1])
        assert e == net.dim * net.channels
        for j in range(f):
            for s in (0, 3, length - w):
                unit = np.zeros((1, length - w + 1, f), np.float32)
                unit[0, s, j] = 1.0
                r = tf.nn.conv1d_transpose(unit, conv.kernel, output_shape=[1, length, e], strides=1,
                                           padding="VALID").numpy()[0]
                np.testing.assert_allclose(r[s:s + w], filter_reconstruction(net, w, j), rtol=0, atol=1e-7)
                assert not np.delete(r, np.arange(s, s + w), axis=0).any()  # nothing outside the window


def hand_set(net, static=None, trained=None, kernel_rows=()):
    """Assign embedding rows {word: vector} per table and kernel rows {(w, j, k): vector}."""
    vocab = tiny_vocab()
    for table, rows in zip(net.tables, [static, trained] if net.channels == 2 else [trained]):
        m = np.zeros(table.embeddings.shape, np.float32)
        m[2:] = 0.01 * np.arange(1, m.shape[0] - 1)[:, None] * np.array([0, 0, 0, 1, -1])  # far from e0..e2
        for word, vec in rows.items():
            m[vocab.stoi[word] if word != "<unk>" else 1] = vec
        table.embeddings.assign(m)
    for (w, j, k), vec in kernel_rows:
        conv = net.convs[net.widths.index(w)]
        kern = conv.kernel.numpy()
        kern[k, :, j] = vec
        conv.kernel.assign(kern)
    return vocab


def test_nearest_words_hand_set():
    net = tiny_net("rand", widths=(2,), filters=2, dim=5)
    e = np.eye(5, dtype=np.float32)
    vocab = hand_set(net, trained={"good": 2 * e[0], "great": e[0] + 0.5 * e[1], "fun": e[1], "bad": -e[0],
                                   "<unk>": 3 * e[0]},
                     kernel_rows=[((2, 0, 0), 5 * e[0]), ((2, 0, 1), e[1]), ((2, 1, 0), -e[0])])
    words = nearest_words(net, vocab, neighbours=2)
    assert list(words.columns) == ["width", "filter", "position", "channel", "rank", "word", "cosine"]
    assert len(words) == 1 * 2 * 2 * 2  # widths x filters x positions x neighbours

    def near(j, k):
        rows = words[(words["filter"] == j) & (words["position"] == k)]
        return list(zip(rows["word"], rows["cosine"].round(6)))

    c = round(1 / np.sqrt(1.25), 6)  # cos(e0 + 0.5 e1, e0)
    assert near(0, 0) == [("good", 1.0), ("great", c)]  # UNK (3 e0, cosine 1) is never reported
    assert near(0, 1) == [("fun", 1.0), ("great", round(0.5 / np.sqrt(1.25), 6))]
    assert near(1, 0)[0] == ("bad", 1.0)


def test_multichannel_compares_each_half_with_its_own_table():
    net = tiny_net("multichannel", widths=(2,), filters=1, dim=5)
    e, z = np.eye(5, dtype=np.float32), np.zeros(5, np.float32)
    vocab = hand_set(net, static={"bad": e[2], "good": e[0]}, trained={"good": e[2], "fun": e[0]},
                     kernel_rows=[((2, 0, 0), np.concatenate([e[2], z])), ((2, 0, 1), np.concatenate([z, e[2]]))])
    words = nearest_words(net, vocab, neighbours=1).set_index(["position", "channel"])["word"]
    assert words[(0, "static")] == "bad" and words[(1, "non-static")] == "good"
    assert set(words.index.get_level_values("channel")) == {"static", "non-static"}


def test_html_escapes_every_text(tmp_path):
    fd, analysis = hostile_dictionary()
    for extra in (None, analysis):
        page = render_html(fd, "run <1>", "note & more", extra)
        # the data element and the page's own search/sort/pager script, nothing a text could open or close
        assert page.count("<script") == 2 and page.count("</script>") == 2
        assert "<b>" not in page.replace("<b>bold</b>", "") and "<i>" not in page and "alert('x')</script>" not in page
        assert "run &lt;1&gt;" in page and "note &amp; more" in page
        data = page_json(page)
        assert data == page_data(fd, extra)  # the page carries page_data, nothing else
        lex = data["lexicon"]
        ngram = data["filters"][0][5][0]
        assert " ".join(lex[i] for i in ngram[0]) == NASTY and ngram[1:] == [1.5, 7, 2]  # exactly, after parsing
        assert [lex[w] for w, _ in data["filters"][0][6][1][0]] == ["<b>1"] and data["filters"][1][5] == []
    a = data["filters"][0][7]
    assert data["classes"][a[0]] == "<i>" and a[1:5] == [0.5, 1.25, 0.9, 0.2]
    assert [" ".join(lex[i] for i in g) for g in a[5][0][2]] == [NASTY] and a[5][0][:2] == [3, [0.5, -0.25]]
    assert a[7] == [[0, [[lex.index("</script><b>x"), -0.5, 4]]]]
    assert data["filters"][1][7][2:4] == [None, None]  # no threshold: null, never NaN
    write_html(tmp_path / "out" / "f.html", fd, "t")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["f.html"]  # no temporary file left


def test_page_data_is_compact_and_rounded_as_shown():
    fd, analysis = hostile_dictionary()
    fd.summary.loc[0, ["fires", "mean_activation", "bias"]] = [0.123456, 1.23456, -0.98765]
    f = page_data(fd, analysis)["filters"][0]
    assert f[:5] == [2, 0, 0.123456, 1.235, -0.988]  # shown as 12%: kept whole, rounded once on the page
    assert len(page_data(fd, analysis)["lexicon"]) == len({"<b>0", "<b>1", "w", "</script><b>x", *NASTY.split(" ")})


# --------------------------------------------------------------------------------------------
# scripts/inspect_filters.py


def script(monkeypatch, capsys, *args):
    """scripts/inspect_filters.py in this process (TensorFlow is loaded already): (exit code, stderr)."""
    code, _, err = script_in_process(monkeypatch, capsys, "inspect_filters.py", *args)
    return code, err


def test_inspect_filters_writes_csvs_and_page(tiny_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    code, err = script(monkeypatch, capsys, "--run", str(run), "--top-k", "3", "--neighbours", "2")
    assert code == 0, err
    out = run / "filters" / "train"
    assert sorted(p.name for p in out.iterdir()) == ["filters-analysis.csv", "filters-words.csv", "filters.csv",
                                                     "filters.html"]
    assert f"wrote {out / 'filters.csv'}" in err and "max activations" not in err  # no progress bar off a terminal
    ngrams = pd.read_csv(out / "filters.csv", keep_default_na=False)
    words = pd.read_csv(out / "filters-words.csv", keep_default_na=False)

    from textdeconv.data.splits import split_sentences
    from textdeconv.training.rundir import read_run

    cfg, vocab, net, _ = read_run(run)
    ids, sentences, _ = split_sentences(cfg.data, "train")
    fd = filter_dictionary(net, vocab, sentences, ids, top_k=3, neighbours=2)
    pd.testing.assert_frame_equal(ngrams, fd.ngrams.astype({"activation": np.float64}), check_exact=False, rtol=1e-6)
    pd.testing.assert_frame_equal(words, fd.words, check_exact=False, rtol=1e-6)
    assert (ngrams.groupby(["width", "filter"])["rank"].max() <= 3).all()
    assert len(words) == sum(w * int(c.filters) * 2 for w, c in zip(net.widths, net.convs))
    page = (out / "filters.html").read_text(encoding="utf-8")
    assert len(page_json(page)["filters"]) == sum(int(c.filters) for c in net.convs)

    csv, page2 = tmp_path / "x" / "f.csv", tmp_path / "p.html"
    code, err = script(monkeypatch, capsys, "--run", str(run), "--split", "dev", "--top-k", "1", "--csv", str(csv),
                       "--html", str(page2))
    assert code == 0, err
    assert sorted(p.name for p in csv.parent.iterdir()) == ["f-analysis.csv", "f-words.csv", "f.csv"]
    assert page2.is_file()
    assert pd.read_csv(csv)["rank"].max() == 1


def inspect_filters_cli(*args):
    return run_cli("scripts/inspect_filters.py", *args)


def test_inspect_filters_errors_and_help(tmp_path):
    one_line_error(inspect_filters_cli("--run", str(tmp_path / "nope")), "run directory not found")
    one_line_error(inspect_filters_cli("--run", str(tmp_path)), "missing config.yaml, vocab.txt, model.keras")
    one_line_error(inspect_filters_cli("--run", str(tmp_path), "--top-k", "0"), "--top-k must be at least 1, got 0")
    one_line_error(inspect_filters_cli("--run", str(tmp_path), "--neighbours", "-2"), "--neighbours must be at least 1")
    proc = inspect_filters_cli("--help")
    assert proc.returncode == 0
    assert "examples:\n  textdeconv filters --run runs/" in proc.stdout
    assert "--top-k" in proc.stdout and "--html" in proc.stdout


def test_top_columns_is_the_stable_argsort():
    from textdeconv.reports.filters import top_columns

    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(40, 300)), 1)  # one decimal: many equal scores, at the cut too
    scores[3] = 0.0  # a row of ties: the first columns
    scores[4, :10] = 5.0  # more ties than n above the rest
    for n in (1, 5, 12, 299, 300, 301):
        assert np.array_equal(top_columns(scores, n), np.argsort(-scores, axis=1, kind="stable")[:, :n])
    assert top_columns(scores, 5)[3].tolist() == [0, 1, 2, 3, 4] and top_columns(scores, 3)[4].tolist() == [0, 1, 2]


def test_unique_rows_is_numpys_unique():
    from textdeconv.reports.filters import unique_rows

    rng = np.random.default_rng(1)
    for m, w in ((1, 1), (50, 2), (400, 3), (300, 5)):
        rows = rng.integers(0, 4, size=(m, w))  # few values: many repeated rows
        _, first, counts = np.unique(rows, axis=0, return_index=True, return_counts=True)
        got_first, got_counts = unique_rows(rows)
        assert got_first.tolist() == first.tolist() and got_counts.tolist() == counts.tolist()
    assert [x.tolist() for x in unique_rows(np.zeros((0, 3), np.int64))] == [[], []]
