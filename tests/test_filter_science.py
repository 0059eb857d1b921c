"""Jacovi et al. (2018) filter analyses (textdeconv/reports/filter_analysis.py) on hand-set filters
whose class votes, thresholds, slot patterns and negative words are known by construction."""
import numpy as np
import pytest

from textdeconv.config import ModelConfig
from textdeconv.data.vocab import PAD, UNK, Vocab
from textdeconv.errors import InputError
from textdeconv.model.textcnn import TextCNN, build_model
from textdeconv.reports.filter_analysis import (
    analyze_filters,
    class_votes,
    fired_filters,
    purity_thresholds,
    random_zeroing,
    threshold_ablation,
    threshold_pooled,
)

DIMS = ["good", "bad", "not", "very", "great", "dull", "fun"]  # one-hot embedding dimensions
WORDS = DIMS + ["the", "a", "movie", "plot"]  # zero vectors
CLASSES = ["negative", "positive"]


def hand_net():
    """Two width-2 filters, bias -1, one-hot words (the, a, movie, plot: zero vectors).

    filter 0 (votes positive, W = [-0.5, 1.5]): slot 0  very +2, bad -1, not -3;  slot 1  good +2, bad -1
    filter 1 (votes negative, W = [2, 1]):      slot 0  not +4;  slot 1  great .1, fun .2, bad 4, dull 4.1
    """
    vocab = Vocab([PAD, UNK] + WORDS)
    model = build_model(ModelConfig(variant="rand", embedding_dim=len(DIMS), filter_sizes=(2,), num_filters=2),
                        len(vocab), 2, seed=0)
    net = TextCNN(model)
    emb = np.zeros((len(vocab), len(DIMS)), np.float32)
    for d, word in enumerate(DIMS):
        emb[vocab.stoi[word], d] = 1
    net.tables[0].embeddings.assign(emb)
    k = np.zeros((2, len(DIMS), 2), np.float32)
    col = {w: d for d, w in enumerate(DIMS)}
    k[0, col["very"], 0], k[0, col["bad"], 0], k[0, col["not"], 0] = 2, -1, -3
    k[1, col["good"], 0], k[1, col["bad"], 0] = 2, -1
    k[0, col["not"], 1] = 4
    k[1, col["great"], 1], k[1, col["fun"], 1], k[1, col["bad"], 1], k[1, col["dull"], 1] = .1, .2, 4, 4.1
    net.convs[0].kernel.assign(k)
    net.convs[0].bias.assign(np.array([-1, -1], np.float32))
    net.dense.kernel.assign(np.array([[-0.5, 1.5], [2.0, 1.0]], np.float32))
    net.dense.bias.assign(np.zeros(2, np.float32))
    return net, vocab


# filter 0 pooled: 3, 1, 3 on the first three, 0 elsewhere; filter 1: 0 on the first three, then
# 3 (not good), 3.1, 3.2, 3 (the bad), 3.1, 3.1
SENTENCES = ["very good", "the good movie", "very good plot", "not good", "not great", "not fun",
             "the bad", "a dull", "the dull"]
GOLD = [1, 0, 1, 0, 0, 0, 0, 0, 0]  # "the good movie" labelled negative on purpose


def analysis(min_purity):
    net, vocab = hand_net()
    return net, vocab, analyze_filters(net, vocab, CLASSES, [s.split() for s in SENTENCES], GOLD, labels="gold",
                                       min_purity=min_purity)


def test_class_votes_are_the_output_weights():
    net, _ = hand_net()
    votes = class_votes(net, CLASSES)
    assert list(votes["class_vote"]) == ["positive", "negative"]
    assert votes["vote"].tolist() == pytest.approx([1.0, 0.5])  # w_c - mean: 1.5 - 0.5, 2 - 1.5
    assert votes["weight_positive"].tolist() == pytest.approx([1.5, 1.0])
    with pytest.raises(InputError, match="got 3 class names for 2 classes"):
        class_votes(net, CLASSES + ["neutral"])


def test_class_vote_with_three_classes_is_centred():
    model = build_model(ModelConfig(variant="rand", embedding_dim=3, filter_sizes=(2,), num_filters=1), 5, 3, seed=0)
    net = TextCNN(model)
    net.dense.kernel.assign(np.array([[1.0, 2.0, 6.0]], np.float32))
    votes = class_votes(net, ["a", "b", "c"])
    assert votes["class_vote"].tolist() == ["c"] and votes["vote"].tolist() == pytest.approx([3.0])


def test_purity_threshold_takes_the_largest_pure_enough_set():
    pooled = np.array([[5.], [4.], [3.], [2.], [1.], [0.]])
    labels = np.array([1, 1, 0, 0, 1, 1])
    # purity of the top 1..5: 1, 1, 2/3, 1/2, 3/5 (the dead sentence never counts)
    assert [x[0] for x in purity_thresholds(pooled, labels, np.array([1]), 0.6)] == pytest.approx([1.0, 0.6, 5 / 6])
    assert [x[0] for x in purity_thresholds(pooled, labels, np.array([1]), 0.65)] == pytest.approx([3.0, 2 / 3, 0.5])
    thr, pur, share = purity_thresholds(pooled, labels, np.array([0]), 0.9)  # never pure enough for class 0
    assert np.isnan(thr[0]) and np.isnan(pur[0]) and share[0] == 0


def test_purity_threshold_keeps_equal_activations_together():
    pooled = np.array([[2.], [2.], [1.]])
    labels = np.array([1, 0, 1])
    # the top-1 set (purity 1) is not a threshold: "p >= 2" takes both 2s (purity 1/2)
    thr, pur, _ = purity_thresholds(pooled, labels, np.array([1]), 0.6)
    assert thr[0] == 1.0 and pur[0] == pytest.approx(2 / 3)
    assert np.isnan(purity_thresholds(pooled, labels, np.array([1]), 0.7)[0][0])
    with pytest.raises(InputError, match=r"min_purity must be in \(0, 1\], got 0"):
        purity_thresholds(pooled, labels, np.array([1]), 0)


@pytest.mark.parametrize("min_purity, threshold, purity, share", [(0.6, 1.0, 2 / 3, 3 / 9), (0.75, 3.0, 1.0, 2 / 9)])
def test_hand_set_thresholds(min_purity, threshold, purity, share):
    _, _, fa = analysis(min_purity)
    t = fa.table
    assert list(t.columns[:9]) == ["width", "filter", "class_vote", "vote", "threshold", "purity",
                                   "above_threshold_share", "patterns", "negative_words"]
    cols = ["threshold", "purity", "above_threshold_share"]
    assert t.loc[0, cols].tolist() == pytest.approx([threshold, purity, share])
    # filter 1 votes negative and fires (3 to 3.2) only on the six negative sentences
    assert t.loc[1, cols].tolist() == pytest.approx([3.0, 1.0, 6 / 9])


def test_hand_set_patterns():
    _, _, fa = analysis(0.6)
    two = fa.table.loc[1, "patterns"]  # "not X" (slot 0 does the work) and "X bad/dull" (slot 1 does)
    assert [p["size"] for p in two] == [3, 3]
    by_ngrams = {frozenset(p["ngrams"]): p["slots"] for p in two}
    assert set(by_ngrams) == {frozenset({"not good", "not great", "not fun"}),
                              frozenset({"the bad", "a dull", "the dull"})}
    assert by_ngrams[frozenset({"not good", "not great", "not fun"})] == pytest.approx([4.0, 0.1], abs=1e-4)
    mean = [0.0, (4 + 4.1 + 4.1) / 3]
    assert by_ngrams[frozenset({"the bad", "a dull", "the dull"})] == pytest.approx(mean, abs=1e-4)
    one = fa.table.loc[0, "patterns"]  # above threshold 1: "very good" (2, 2) and "the good" (0, 2)
    assert len(one) == 1 and one[0]["size"] == 2 and one[0]["ngrams"] == ["very good", "the good"]
    assert one[0]["slots"] == pytest.approx([1.0, 2.0])


def test_hand_set_negative_words_natural_and_deliberate():
    _, _, fa = analysis(0.6)  # filter 0's threshold is 1: "not good" (z = -2) would reach 1 without "not"
    slot0, slot1 = fa.table.loc[0, "negative_words"]
    assert slot0["words"] == [{"word": "not", "value": -3.0, "kind": "deliberate", "blocked": 1},
                              {"word": "bad", "value": -1.0, "kind": "natural", "blocked": 0}]
    assert slot0["blockers"] == [{"word": "not", "value": -3.0, "blocked": 1}]
    assert slot1["words"] == [{"word": "bad", "value": -1.0, "kind": "natural", "blocked": 0}]  # "the bad": -2 -> -1
    assert slot1["blockers"] == []
    assert all(s["words"] == [] for s in fa.table.loc[1, "negative_words"])  # filter 1 has no negative weight
    _, _, strict = analysis(0.75)  # threshold 3: without "not", "not good" reaches only 1: natural
    assert strict.table.loc[0, "negative_words"][0]["words"][0] == {"word": "not", "value": -3.0, "kind": "natural",
                                                                    "blocked": 0}


def test_predicted_labels_are_the_models_own():
    net, vocab = hand_net()
    fa = analyze_filters(net, vocab, CLASSES, [s.split() for s in SENTENCES], min_purity=0.6)
    # the model predicts positive on the three filter-0 sentences (logit 1.5 p vs -0.5 p) and negative
    # on the others (2 p vs p): filter 0's whole positive set is pure
    assert fa.table.loc[0, ["threshold", "purity"]].tolist() == pytest.approx([1.0, 1.0])
    with pytest.raises(InputError, match="labels='gold' needs the gold labels"):
        analyze_filters(net, vocab, CLASSES, [["good"]], labels="gold")


def test_ablation_against_numpy_and_its_random_control():
    net, _ = hand_net()
    pooled = np.array([[3, 0], [1, 0], [3, 0], [0.5, 3], [0, 3.1], [2, 0]], np.float32)
    gold = np.array([1, 0, 1, 0, 0, 1])
    thr = np.array([2.5, np.nan])
    kept = threshold_pooled(pooled, thr)
    assert kept.tolist() == [[3, 0], [0, 0], [3, 0], [0, 0], [0, 0], [0, 0]]
    res = threshold_ablation(net, pooled, gold, thr, seeds=(0, 1, 2))
    w = net.dense.kernel.numpy()
    accuracy = lambda p: float(np.mean(np.argmax(p @ w, axis=1) == gold))  # noqa: E731 (dense bias is 0)
    assert res["accuracy"] == accuracy(pooled) and res["thresholded_accuracy"] == accuracy(kept)
    assert (res["nonzero_values"], res["zeroed_values"]) == (7, 5)
    for seed, acc in zip((0, 1, 2), res["random_control"]["accuracies"]):
        assert acc == accuracy(random_zeroing(pooled, 5, seed))
    assert res["random_control"]["mean_accuracy"] == pytest.approx(np.mean(res["random_control"]["accuracies"]))


def test_random_zeroing_zeroes_exactly_count_non_zero_values():
    rng = np.random.default_rng(0)
    pooled = np.where(rng.random((50, 8)) < 0.5, rng.random((50, 8)) + 0.1, 0).astype(np.float32)
    out = random_zeroing(pooled, 40, seed=7)
    changed = out != pooled
    assert changed.sum() == 40 and np.all(out[changed] == 0) and np.all(pooled[changed] > 0)
    assert np.array_equal(out, random_zeroing(pooled, 40, seed=7))  # seeded
    assert not np.array_equal(out, random_zeroing(pooled, 40, seed=8))
    with pytest.raises(InputError, match=f"cannot zero 999 of {np.count_nonzero(pooled)} non-zero values"):
        random_zeroing(pooled, 999, seed=0)


def test_fired_filters_prediction_view():
    net, vocab, fa = analysis(0.6)
    view = fired_filters(net, vocab, fa, CLASSES, "very good".split())
    assert view[["width", "filter", "ngram", "class_vote", "pattern", "predicted"]].values.tolist() == [
        [2, 0, "very good", "positive", 0, "positive"]]
    assert view.loc[0, ["activation", "threshold", "contribution"]].tolist() == pytest.approx([3.0, 1.0, 4.5])
    assert view.loc[0, "slots"] == pytest.approx([2.0, 2.0])
    view = fired_filters(net, vocab, fa, CLASSES, "the bad".split())  # filter 1, its "X bad/dull" pattern
    row = view.iloc[0]
    assert (row["filter"], row["ngram"], row["predicted"]) == (1, "the bad", "negative")
    assert set(fa.table.loc[1, "patterns"][row["pattern"]]["ngrams"]) == {"the bad", "a dull", "the dull"}
    assert fired_filters(net, vocab, fa, CLASSES, "the movie".split()).empty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_shift_and_bandwidth_equal_scikit_learn(seed):
    from sklearn.cluster import MeanShift
    from sklearn.cluster import estimate_bandwidth as sk_bandwidth

    from textdeconv.reports.filter_analysis import estimate_bandwidth, mean_shift

    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(c, 0.3, size=(int(rng.integers(5, 30)), 3)) for c in rng.normal(0, 3, (4, 3))])
    bw = sk_bandwidth(x, quantile=0.3)
    assert estimate_bandwidth(x, 0.3) == pytest.approx(bw, rel=1e-9)
    ours, theirs = mean_shift(x, bw), MeanShift(bandwidth=bw).fit(x).labels_
    pairs = set(zip(ours, theirs))  # the same partition: a one-to-one map between label sets
    assert len(pairs) == len(set(ours)) == len(set(theirs)) and len(set(ours)) > 1


# --------------------------------------------------------------------------------------------
# textdeconv filters --json / the analysis CSV / the page / td.load_run(...).filters()

FIELDS = ["width", "filter", "class_vote", "vote", "weights", "threshold", "purity", "above_threshold_share",
          "patterns", "negative_words", "ngrams"]


def test_filters_json_csv_page_and_api_agree(tiny_run, tmp_path, monkeypatch, capsys):
    import json
    import shutil

    import pandas as pd
    from conftest import script_in_process

    import textdeconv as td

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    code, out, err = script_in_process(monkeypatch, capsys, "inspect_filters.py", "--run", run, "--json",
                                       "--min-purity", "0.6")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["settings"]["min_purity"] == 0.6 and doc["settings"]["split"] == "train"
    loaded = td.load_run(run)
    weights = loaded.net.dense.kernel.numpy()
    assert [list(f) for f in doc["filters"]] == [FIELDS] * len(weights)
    # the class vote is the class of the largest output weight, read here from the Dense kernel itself
    assert [f["class_vote"] for f in doc["filters"]] == [loaded.class_names[c] for c in weights.argmax(axis=1)]
    assert [f["weights"][loaded.class_names[1]] for f in doc["filters"]] == pytest.approx(weights[:, 1].tolist())
    table = loaded.filters(min_purity=0.6)
    assert list(table.columns[:9]) == FIELDS[:4] + FIELDS[5:10]
    assert table["threshold"].tolist() == pytest.approx(
        [np.nan if f["threshold"] is None else f["threshold"] for f in doc["filters"]], nan_ok=True)
    assert table["patterns"].tolist() == [f["patterns"] for f in doc["filters"]]
    assert table["negative_words"].tolist() == [f["negative_words"] for f in doc["filters"]]
    csv = pd.read_csv(run / "filters" / "train" / "filters-analysis.csv")
    assert csv["class_vote"].tolist() == table["class_vote"].tolist()
    assert [json.loads(p) for p in csv["patterns"]] == table["patterns"].tolist()
    page = (run / "filters" / "train" / "filters.html").read_text(encoding="utf-8")
    from helpers.filter_page import page_json

    rows = page_json(page)["filters"]
    assert [np.nan if r[7][2] is None else r[7][2] for r in rows] == pytest.approx(
        table["threshold"].tolist(), rel=1e-5, nan_ok=True) and '<select id="sort">' in page
    sentence = " ".join(doc["filters"][0]["ngrams"][0].split()) if doc["filters"][0]["ngrams"] else "good"
    view = loaded.filters(sentence, min_purity=0.6)
    assert (view["activation"] >= view["threshold"]).all()
    assert set(view["class_vote"]) <= set(loaded.class_names)


def test_filters_cli_refuses_a_bad_purity(tiny_run, monkeypatch, capsys):
    from conftest import script_in_process

    code, out, err = script_in_process(monkeypatch, capsys, "inspect_filters.py", "--run", tiny_run,
                                       "--min-purity", "1.5")
    assert code == 2 and out == "" and err.strip() == "error: --min-purity must be in (0, 1], got 1.5"


def test_annotated_filter_frame_on_hand_set_filters():
    from textdeconv.attribution.deconv import Deconvnet
    from textdeconv.reports.export import filter_frame
    from textdeconv.reports.filter_analysis import annotate_filter_frame
    from textdeconv.reports.stream import explain_blocks

    net, vocab, fa = analysis(0.6)
    sentences = [["very", "good"], ["not", "good"], ["a", "dull", "movie"]]
    expls = explain_blocks(Deconvnet(net, vocab, CLASSES), [1, 2, 3], sentences)
    frame = annotate_filter_frame(filter_frame(expls, [1, 2, 3], net), net, CLASSES, expls, fa.table)
    got = frame[["sentence_id", "filter", "ngram", "class_vote", "above_threshold", "pattern"]].values.tolist()
    b = next(k for k, p in enumerate(fa.table.loc[1, "patterns"]) if "a dull" in p["ngrams"])
    # a filter dead on every window (p = 0) reports its first window, as the deconvnet's switch does
    assert got == [[1, 0, "very good", "positive", True, 0], [1, 1, "<pad> very", "negative", False, -1],
                   [2, 0, "<pad> not", "positive", False, -1], [2, 1, "not good", "negative", True, 1 - b],
                   [3, 0, "<pad> a", "positive", False, -1], [3, 1, "a dull", "negative", True, b]]
    assert frame["threshold"].tolist() == pytest.approx([1.0, 3.0] * 3)


def test_explain_filters_csv_with_the_analysis(tiny_run, tmp_path, monkeypatch, capsys):
    import shutil

    import pandas as pd
    from conftest import script_in_process

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    code, _, err = script_in_process(monkeypatch, capsys, "inspect_filters.py", "--run", run)
    assert code == 0, err
    analysis = run / "filters" / "train" / "filters-analysis.csv"
    out = tmp_path / "f.csv"
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", run, "a good movie", "dull",
                                     "--filters-csv", out, "--filter-analysis", analysis, "--quiet")
    assert code == 0, err
    rows, table = pd.read_csv(out), pd.read_csv(analysis)
    assert len(rows) == 2 * len(table)
    assert rows["class_vote"].tolist() == table["class_vote"].tolist() * 2
    thr = np.tile(table["threshold"].to_numpy(), 2)
    assert rows["above_threshold"].tolist() == (rows["activation"].to_numpy() >= thr).tolist()
    assert ((rows["pattern"] >= 0) <= rows["above_threshold"]).all()
    before = analysis.read_bytes()
    table.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", run, "a good movie", "--filters-csv",
                                     tmp_path / "g.csv", "--filter-analysis", tmp_path / "short.csv")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"error: --filter-analysis: {tmp_path / 'short.csv'} lists "
                                         f"{len(table) - 1} filters that are not this model's")
    assert not (tmp_path / "g.csv").exists() and analysis.read_bytes() == before
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", run, "good",
                                     "--filter-analysis", analysis)
    assert code == 2 and "--filter-analysis needs --filters-csv PATH" in err


def test_explorer_filter_card_carries_the_class_vote(tiny_run):
    import warnings

    from textdeconv.serve.app import create_app
    from textdeconv.serve.explorer import Explorer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    explorer = Explorer.open([tiny_run])
    run = explorer.runs[0].run
    client = TestClient(create_app(explorer), base_url="http://127.0.0.1")
    width = run.net.widths[-1]
    card = client.get(f"/api/filter-card?run=0&width={width}&filter=1").json()
    w = run.net.dense.kernel.numpy()[run.net.widths.index(width) * int(run.net.convs[0].filters) + 1]
    assert card["class_vote"] == run.class_names[int(np.argmax(w))]
    assert card["vote"] == pytest.approx(float(w.max() - w.mean()))
