"""The explorer's data set view, aggregate salience and counterfactuals (textdeconv/serve/dataset.py,
counterfactuals.py; issue 37): slices, sorting and metrics by hand on hand-made tables, and the
endpoints on the tiny run against direct model calls. The page is tested in test_browser.py."""
import json
import math
import warnings

import numpy as np
import pytest
from helpers.exact import raises_exactly

from textdeconv.serve.app import create_app
from textdeconv.serve.counterfactuals import greedy_deletions, hotflip, margins_for
from textdeconv.serve.dataset import DataSet, Slice, metrics, order, select, slice_filters
from textdeconv.serve.explorer import Explorer, Limits

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SENTENCES = ["a gripping , funny movie", "a dull , lifeless mess", "warm and engaging", "the plot is thin",
             "great fun", "bad acting , worse script", "a charming film", "tedious and long"]  # test_train's
GOLD = ["positive", "negative"] * 4


# -- the arithmetic, by hand ------------------------------------------------------------------------
def test_metrics_by_hand():
    m = metrics([0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2], ["a", "b", "c"])
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert (m["count"], m["correct"], m["accuracy"]) == (6, 4, 4 / 6)
    a, b, c = m["classes"]
    assert a == {"class": "a", "precision": 1.0, "recall": 2 / 3, "f1": pytest.approx(0.8, abs=1e-15),
                 "support": 3, "predicted": 2}
    assert (b["precision"], b["recall"], b["f1"], b["support"], b["predicted"]) == (0.5, 0.5, 0.5, 2, 2)
    assert (c["precision"], c["recall"], c["support"], c["predicted"]) == (0.5, 1.0, 1, 2)
    assert c["f1"] == pytest.approx(2 / 3, abs=1e-15)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3, abs=1e-15)


def test_metrics_of_undefined_ratios_are_none():
    m = metrics([0, 0], [1, 1], ["a", "b", "c"])
    a, b, c = m["classes"]
    assert (a["precision"], a["recall"], a["f1"]) == (None, 0.0, None)  # a: never predicted
    assert (b["precision"], b["recall"], b["f1"]) == (0.0, None, None)  # b: not in the slice
    assert (c["precision"], c["recall"], c["f1"]) == (None, None, None)
    assert (m["accuracy"], m["macro_f1"]) == (0.0, None)
    empty = metrics([], [], ["a", "b"])
    assert (empty["count"], empty["accuracy"], empty["confusion"]) == (0, None, [[0, 0], [0, 0]])


def hand_table():
    return DataSet("hand", ["a fine film", "a dull film", "Fine!", "not fine at all", "dull"],
                   [["a", "fine", "film"], ["a", "dull", "film"], ["Fine", "!"], ["not", "fine", "at", "all"],
                    ["dull"]],
                   np.array([1, 0, 1, 0, 0]),
                   np.array([[.2, .8], [.9, .1], [.6, .4], [.3, .7], [.55, .45]], np.float32))


@pytest.mark.parametrize("piece,rows", [
    (Slice(), [0, 1, 2, 3, 4]),
    (Slice(search="fin"), [0, 2, 3]),          # substring, any case
    (Slice(word="fin"), []),                   # whole tokens only
    (Slice(word="FINE"), [0, 2, 3]),
    (Slice(correct=False), [2, 3]),
    (Slice(correct=True), [0, 1, 4]),
    (Slice(gold=0, predicted=1), [3]),
    (Slice(predicted=0), [1, 2, 4]),
    (Slice(min_length=3), [0, 1, 3]),
    (Slice(max_length=2), [2, 4]),
    (Slice(min_length=2, max_length=3, search="film"), [0, 1]),
])
def test_slices_by_hand(piece, rows):
    assert select(hand_table(), piece).tolist() == rows


def escaped_table():
    texts = ["the -LRB- long -RRB- film", "`` fine '' , he said", "lrb is no bracket", 'a "quoted" word',
             "-lsb- sic -rsb-"]
    toks = [t.split(" ") for t in texts]
    return DataSet("hand", texts, toks, np.zeros(5, np.int64), np.full((5, 2), .5, np.float32))


@pytest.mark.parametrize("piece,rows", [
    (Slice(search="("), [0]),                  # the table shows -LRB- as (
    (Slice(search="( long )"), [0]),
    (Slice(search="-lrb-"), [0]),              # the stored token still matches
    (Slice(search="lrb"), [0, 2]),
    (Slice(search="[ SIC ]"), [4]),
    (Slice(search="\u201cfine\u201d"), []),    # shown: "“ fine ”" (tokens are spaced)
    (Slice(search="\u201c fine \u201d"), [1]),
    (Slice(search='"'), [1, 3]),                # a typed quote finds `` and '' and a real quote
    (Slice(search='" fine "'), [1]),
    (Slice(search="``"), [1]),
    (Slice(search=")"), [0]),
    (Slice(word="("), [0]), (Slice(word="-LRB-"), [0]), (Slice(word='"'), [1]), (Slice(word="["), [4]),
    (Slice(word="lrb"), [2]),
])
def test_search_matches_what_the_table_shows(piece, rows):
    assert select(escaped_table(), piece).tolist() == rows


def test_slice_filters_by_hand():
    # 3 sentences, 3 filters (width 1: filters 0, 1; width 2: filter 0), 2 classes
    pooled = np.array([[1.0, 0.0, 2.0], [3.0, 0.5, 0.0], [0.0, 1.0, 1.0]])
    w = np.array([[0.5, -0.5], [-1.0, 2.0], [1.0, 1.0]])  # (F, C)
    contributions = np.stack([pooled * w[:, c] for c in range(2)])
    switch = np.array([[0, 1, -1], [1, 0, 2], [0, 1, 0]])
    tokens = [["a", "b"], ["c", "d", "e"], ["f", "g"]]
    out = slice_filters(contributions, pooled, switch, tokens, [1, 1, 2], [0, 1, 0], ["neg", "pos"], top=5)
    neg, pos = out
    # neg: means 0.5*4/3 = 2/3, -1*1.5/3 = -0.5, 1*3/3 = 1 -> (2,0) then (1,0); filter (1,1) is negative
    assert [(f["width"], f["filter"]) for f in neg["filters"]] == [(2, 0), (1, 0)]
    # n-grams of equal count: the larger activation first (2.0 for "<pad> a", 1.0 for "f g")
    assert neg["filters"][0] == {"width": 2, "filter": 0, "mean_contribution": 1.0, "fired": 2,
                                 "ngrams": [{"ngram": "<pad> a", "count": 1}, {"ngram": "f g", "count": 1}]}
    assert neg["filters"][1] == {"width": 1, "filter": 0, "mean_contribution": pytest.approx(2 / 3, abs=1e-15),
                                 "fired": 2, "ngrams": [{"ngram": "d", "count": 1}, {"ngram": "a", "count": 1}]}
    # pos: means -2/3, 2*1.5/3 = 1, 1 -> a tie of (1,1) and (2,0): column order
    assert [(f["width"], f["filter"], f["mean_contribution"], f["fired"]) for f in pos["filters"]] == [
        (1, 1, 1.0, 2), (2, 0, 1.0, 2)]
    assert pos["filters"][0]["ngrams"] == [{"ngram": "g", "count": 1}, {"ngram": "c", "count": 1}]  # 1.0 > 0.5
    # counts first, then activation, then alphabetical; at most `ngrams`
    (many,) = slice_filters(np.ones((1, 4, 1)), np.array([[1.0], [3.0], [2.0], [2.0]]), np.zeros((4, 1), int),
                            [["b"], ["c"], ["b"], ["a"]], [1], [0], ["x"], top=1, ngrams=3)
    assert many["filters"][0]["ngrams"] == [{"ngram": "b", "count": 2}, {"ngram": "c", "count": 1},
                                            {"ngram": "a", "count": 1}]
    assert many["filters"][0]["fired"] == 4 and many["filters"][0]["mean_contribution"] == 1.0
    assert [len(x["filters"]) for x in slice_filters(contributions, pooled, switch, tokens, [1, 1, 2], [0, 1, 0],
                                                     ["neg", "pos"], top=1)] == [1, 1]


@pytest.mark.parametrize("by,descending,rows", [
    ("index", False, [0, 1, 2, 3, 4]), ("index", True, [4, 3, 2, 1, 0]),
    ("confidence", False, [4, 2, 3, 0, 1]), ("confidence", True, [1, 0, 3, 2, 4]),
    ("loss", True, [3, 2, 4, 0, 1]),          # -log p(gold): -log .3, -log .4, -log .55, -log .8, -log .9
    ("length", False, [4, 2, 0, 1, 3]), ("length", True, [3, 0, 1, 2, 4]),  # ties in data set order
])
def test_sorting_by_hand(by, descending, rows):
    t = hand_table()
    assert order(t, np.arange(5), by, descending).tolist() == rows


def test_loss_by_hand():
    assert hand_table().loss.tolist() == pytest.approx([-math.log(.8), -math.log(.9), -math.log(.4),
                                                        -math.log(.3), -math.log(.55)], rel=1e-6)


WEIGHTS = {"the": 0.0, "good": 1.0, "great": 0.8, "fine": 0.3, "bad": -1.0}  # logit_1 - logit_0, plus 0.25


def presence_net():
    """Width-1 filters on one-hot embeddings: filter k fires 1 where word k stands, so after the max
    over time logit_1 = 0.25 + the sum of WEIGHTS over the distinct words present, logit_0 = 0."""
    from textdeconv.config import ModelConfig
    from textdeconv.data.vocab import PAD, UNK, Vocab
    from textdeconv.model.textcnn import TextCNN, build_model

    words = list(WEIGHTS)
    net = TextCNN(build_model(ModelConfig(embedding_dim=5, filter_sizes=(1,), num_filters=5, max_norm=None), 7, 2))
    net.tables[0].embeddings.assign(np.vstack([np.zeros((2, 5)), np.eye(5)]).astype("float32"))
    net.convs[0].kernel.assign(np.eye(5, dtype="float32")[None])
    net.convs[0].bias.assign(np.zeros(5, "float32"))
    net.dense.kernel.assign(np.stack([np.zeros(5), [WEIGHTS[w] for w in words]], axis=1).astype("float32"))
    net.dense.bias.assign(np.array([0.0, 0.25], "float32"))
    return net, Vocab([PAD, UNK] + words)


def flipping_sets(net, ids, size):
    from itertools import combinations

    sets = [c for c in combinations(range(len(ids)), size)]
    m = margins_for(net, [[w for j, w in enumerate(ids) if j not in c] for c in sets], 1)
    return [list(c) for c, x in zip(sets, m) if x < 0]


@pytest.mark.parametrize("sentence,want,order,margins", [
    # no single deletion flips (the margin is 1.35); of the pairs only good + great does (-0.45)
    ("the good great fine bad", [1, 2], [1, 2], [0.35, -0.45]),
    # the max over time: deleting one of two "good"s changes nothing, so the set needs both and great
    # (great first; then the two goods tie at 0.25 and the earlier goes first)
    ("good good great bad", [0, 1, 2], [2, 0, 1], [0.25, 0.25, -0.75]),
])
def test_greedy_deletions_find_the_smallest_flipping_set_of_a_hand_set_net(sentence, want, order, margins):
    net, vocab = presence_net()
    ids = vocab.encode(sentence.split())
    found = greedy_deletions(net, ids, 1, 5)
    assert found["positions"] == want and found["flips"] is True
    assert [s["position"] for s in found["steps"]] == order
    assert [s["margin"] for s in found["steps"]] == pytest.approx(margins, abs=1e-6)
    assert all(not flipping_sets(net, ids, n) for n in range(1, len(want)))  # no smaller set flips
    assert want in flipping_sets(net, ids, len(want))
    capped = greedy_deletions(net, ids, 1, 1)  # the cap: one deletion, which does not flip
    assert (capped["positions"], capped["flips"]) == ([order[0]], False)
    assert greedy_deletions(net, ids[:1], 1, 5)["positions"] == []  # never every word


def test_greedy_deletions_stop_over_the_request_budget():
    import time

    from textdeconv.serve.budget import Budget

    net, vocab = presence_net()
    budget = Budget(0.0)
    time.sleep(0.01)
    with raises_exactly(type(_request_error()), "the request needed more than its time budget of 0 s (textdeconv "
                        "serve --time-budget); ask for fewer sentences or a cheaper method"):
        budget.run(greedy_deletions, net, vocab.encode("the good great fine bad".split()), 1, 5)


def test_hotflip_estimates_equal_directional_derivatives_and_rank_by_them():
    """A random multichannel TextCNN (frozen and trained tables): each estimate equals the forward-mode
    derivative of the margin along (E[v] - E[w_t]) in both channels, computed here apart from the
    gradient, and the pairs are the best ``per_word`` at the best ``words`` positions, sorted."""
    import tensorflow as tf

    from textdeconv.config import ModelConfig
    from textdeconv.data.vocab import pad_batch
    from textdeconv.model.textcnn import TextCNN, build_model

    rng = np.random.default_rng(3)
    V, D = 12, 4
    vectors = rng.normal(size=(V, D)).astype("float32")
    cfg = ModelConfig(variant="multichannel", embedding_dim=D, filter_sizes=(1, 2), num_filters=3, max_norm=None,
                      vectors="x")
    net = TextCNN(build_model(cfg, V, 2, vectors=vectors, seed=5))
    net.tables[1].embeddings.assign(vectors + rng.normal(size=(V, D)).astype("float32"))  # channels differ
    net.dense.kernel.assign(rng.normal(size=(6, 2)).astype("float32"))
    ids = [4, 7, 2, 9]
    batch = pad_batch([ids], net.pad)
    logits = net.forward(batch).logits.numpy()[0]
    cls = int(np.argmax(logits))
    tables = [t.embeddings.numpy() for t in net.tables]
    emb = net.embed(batch)
    want = np.full((len(ids), V), np.inf)
    for t, w in enumerate(ids):
        for v in range(2, V):
            if v == w:
                continue
            step = np.zeros(emb.shape, "float32")
            step[0, net.pad + t] = np.concatenate([tab[v] - tab[w] for tab in tables])
            with tf.autodiff.ForwardAccumulator(emb, tf.constant(step)) as acc:
                out = net.logits_from_embeddings(emb, batch)[0]
                margin = out[cls] - out[1 - cls]
            want[t, v] = float(acc.jvp(margin))
    found = hotflip(net, ids, cls, 2, 3)
    for f in found:
        assert f["estimated_change"] == pytest.approx(want[f["position"], f["id"]], abs=1e-5)
    changes = [f["estimated_change"] for f in found]
    assert changes == sorted(changes) and len(found) == 6
    rows = list(np.argsort(want.min(axis=1), kind="stable")[:2])
    assert sorted({f["position"] for f in found}) == sorted(rows)
    for t in rows:
        assert sorted(f["id"] for f in found if f["position"] == t) == sorted(np.argsort(want[t])[:3].tolist())
    assert hotflip(net, ids, cls, 0, 3) == []


# -- the endpoints on the tiny run ------------------------------------------------------------------
@pytest.fixture(scope="module")
def explorer(tiny_run):
    return Explorer.open([tiny_run])


@pytest.fixture(scope="module")
def client(explorer):
    return TestClient(create_app(explorer), base_url="http://127.0.0.1", raise_server_exceptions=False)


def post(client, path, body):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def direct(explorer, token_lists):
    from textdeconv.training.trainer import predict_ids

    run = explorer.runs[0].run
    return predict_ids(run.net.model, [run.vocab.encode(t) for t in token_lists], run.net.pad)


def test_a_split_with_cached_predictions_equal_to_a_direct_model_call(client, explorer):
    explorer.runs[0].datasets.clear()
    r = post(client, "/api/dataset", {"split": "test", "limit": 8})
    assert r.status_code == 200, r.text
    res = r.json()
    assert (res["total"], res["matched"], res["cached"], res["source"]) == (8, 8, False, "test")
    rows = res["rows"]
    assert [x["id"] for x in rows] == list(range(1, 9))
    assert [x["text"] for x in rows] == SENTENCES and [x["gold"] for x in rows] == GOLD
    probs = direct(explorer, [x["tokens"] for x in rows])
    for x, p in zip(rows, probs):
        assert [x["probs"]["negative"], x["probs"]["positive"]] == [float(str(v)) for v in p]
        assert x["predicted_index"] == int(np.argmax(p)) and x["probability"] == float(str(p.max()))
        assert x["correct"] == (x["predicted"] == x["gold"]) and x["length"] == len(x["tokens"])
        assert x["loss"] == pytest.approx(-math.log(float(p[x["gold_index"]])), rel=1e-6)
    cached = explorer.runs[0].datasets["test"]
    again = post(client, "/api/dataset", {"split": "test"}).json()
    assert again["cached"] is True and explorer.runs[0].datasets["test"] is cached
    assert again["rows"] == rows  # limit 50 holds all 8

    # the metrics of the whole split, counted here from the direct call
    pred = np.argmax(probs, axis=1)
    gold = [0 if g == "negative" else 1 for g in GOLD]
    confusion = [[sum(1 for g, p in zip(gold, pred) if (g, p) == (a, b)) for b in (0, 1)] for a in (0, 1)]
    assert res["metrics"]["confusion"] == confusion
    assert res["metrics"]["accuracy"] == sum(g == p for g, p in zip(gold, pred)) / 8
    # a confusion cell is the slice gold x predicted (what the page's click asks for)
    for a, ga in enumerate(("negative", "positive")):
        for b, pb in enumerate(("negative", "positive")):
            cell = post(client, "/api/dataset", {"split": "test", "gold": ga, "predicted": b}).json()
            assert cell["matched"] == confusion[a][b] == len(cell["rows"])
            assert all((x["gold"], x["predicted"]) == (ga, pb) for x in cell["rows"])


def test_slices_sorting_and_paging(client):
    def ids(**body):
        res = post(client, "/api/dataset", {"split": "test", **body})
        assert res.status_code == 200, res.text
        return [x["id"] for x in res.json()["rows"]]

    assert ids(gold="positive") == [1, 3, 5, 7] == ids(gold=1)
    assert ids(search="FUN") == [1, 5]  # "funny", "fun"
    assert ids(word="fun") == [5]
    assert ids(min_length=5) == [1, 2, 6] and ids(max_length=2) == [5]
    assert ids(offset=2, limit=3) == [3, 4, 5] and ids(offset=8) == []
    assert ids(sort="length", descending=True, limit=3) == [1, 2, 6]  # 5 tokens; ties in split order
    res = post(client, "/api/dataset", {"split": "test", "sort": "confidence"}).json()
    conf = [x["probability"] for x in res["rows"]]
    assert conf == sorted(conf)
    wrong = post(client, "/api/dataset", {"split": "test", "correct": False}).json()
    assert wrong["matched"] == 8 - round(8 * res["metrics"]["accuracy"])
    assert all(not x["correct"] for x in wrong["rows"])


def test_an_uploaded_labelled_file(client, explorer):
    text = 'text,label\n"a gripping , funny movie",positive\nbad acting,negative\n"great fun",negative\n'
    res = post(client, "/api/dataset", {"file": {"text": text}})
    assert res.status_code == 200, res.text
    rows = res.json()["rows"]
    assert [(x["id"], x["text"], x["gold"]) for x in rows] == [
        (1, "a gripping , funny movie", "positive"), (2, "bad acting", "negative"), (3, "great fun", "negative")]
    probs = direct(explorer, [x["tokens"] for x in rows])
    assert [x["probs"]["positive"] for x in rows] == [float(str(p[1])) for p in probs]
    jsonl = '{"review": "great fun", "stars": "positive"}\n'
    res = post(client, "/api/dataset", {"file": {"text": jsonl, "format": "jsonl", "text_column": "review",
                                                 "label_column": "stars"}}).json()
    assert [(x["text"], x["gold"]) for x in res["rows"]] == [("great fun", "positive")]


@pytest.mark.parametrize("body,status,message", [
    ({"split": "valid"}, 400, "'split' must be one of train, dev, test, got 'valid'"),
    ({}, 400, "give either 'split' (train, dev or test) or 'file' ({\"text\": ..., \"format\": \"csv\"}: a "
              "labelled file's content)"),
    ({"split": "test", "file": {"text": "x"}}, 400, "give either 'split' (train, dev or test) or 'file' ({\"text\": "
                                                   "..., \"format\": \"csv\"}: a labelled file's content)"),
    ({"split": "test", "limit": 501}, 400, "'limit' must be between 1 and 500, got 501"),
    ({"split": "test", "limit": 0}, 400, "'limit' must be between 1 and 500, got 0"),
    ({"split": "test", "limit": "5"}, 400, "'limit' must be an integer, got '5'"),
    ({"split": "test", "offset": -1}, 400, "'offset' must be between 0 and 1000000000, got -1"),
    ({"split": "test", "sort": "random"}, 400, "'sort' must be one of index, confidence, length, loss, got 'random'"),
    ({"split": "test", "descending": 1}, 400, "'descending' must be true or false"),
    ({"split": "test", "gold": "neutral"}, 400,
     "'gold' must be a class name or index of this run (negative, positive), got 'neutral'"),
    ({"split": "test", "predicted": 2}, 400,
     "'predicted' must be a class name or index of this run (negative, positive), got 2"),
    ({"split": "test", "correct": "yes"}, 400, "'correct' must be true, false or null"),
    ({"split": "test", "min_length": 1.5}, 400, "'min_length' must be an integer, got 1.5"),
    ({"split": "test", "search": 3}, 400, "'search' must be a string of at most 200 characters"),
    ({"split": "test", "page": 2}, 400, "unknown field(s) 'page'; this endpoint takes split, file, run, search, word, "
                                        "gold, predicted, correct, min_length, max_length, sort, descending, offset, "
                                        "limit"),
    ({"file": {"text": "a", "sep": ","}}, 400, "unknown field(s) 'sep' in 'file'; it takes text, format, "
                                               "text_column, label_column"),
    ({"file": {"text": "a", "format": "xml"}}, 400, "'file.format' must be one of csv, tsv, jsonl, got 'xml'"),
    ({"file": {"text": "text,label\na,meh\n"}}, 400,
     "the file:2: label 'meh' is not a class of this run (negative, positive)"),
    ({"file": {"text": "words,label\na,positive\n"}}, 400,
     "the file:1: no column 'text' (columns found: words, label); pass 'file.text_column' NAME"),
    ({"split": "test", "run": 3}, 404, "unknown run 3; this server has runs 0 (run)"),
])
def test_bad_dataset_requests_are_exact_4xx(client, body, status, message):
    r = post(client, "/api/dataset", body)
    assert (r.status_code, r.json()) == (status, {"error": message})


def test_the_row_cap_and_the_missing_split(explorer, monkeypatch, tmp_path):
    from dataclasses import replace

    run = explorer.runs[0].run
    small = TestClient(create_app(Explorer([run], Limits(max_table_sentences=2))), base_url="http://127.0.0.1",
                       raise_server_exceptions=False)
    r = post(small, "/api/dataset", {"file": {"text": "text,label\na,positive\nb,negative\nc,positive\n"}})
    assert (r.status_code, r.json()) == (413, {"error": "the data set has 3 rows; the limit is 2"})
    moved = replace(run.config, data=replace(run.config.data, dir=str(tmp_path / "gone"), download=True))
    monkeypatch.setattr(run, "config", moved)  # and download=True: the explorer must still not download
    gone = TestClient(create_app(Explorer([run])), base_url="http://127.0.0.1", raise_server_exceptions=False)
    r = post(gone, "/api/dataset", {"split": "dev"})
    assert r.status_code == 409 and r.json()["error"].startswith("the data set view needs the run's dev split: ")
    assert not (tmp_path / "gone").exists()


def test_aggregate_salience_is_the_lexicon_of_the_slice(client, explorer):
    res = post(client, "/api/aggregate", {"split": "test", "gold": "positive", "method": "deconv", "top": 50,
                                          "min_count": 1})
    assert res.status_code == 200, res.text
    res = res.json()
    texts = [SENTENCES[i] for i in (0, 2, 4, 6)]
    run = explorer.runs[0].run
    assert (res["sentences"], res["tokens"]) == (4, sum(len(t.split()) for t in texts))
    for c, entry in enumerate(res["classes"]):
        pooled = {}
        for e in run.explain(texts, target=c):  # every word's scores for class c, by hand
            for tok, s in zip(e.tokens, e.scores):
                pooled.setdefault(tok.lower(), []).append(float(s))
        means = {w: (np.mean(v), np.sum(v), len(v)) for w, v in pooled.items()}
        want_for = sorted((w for w in means if means[w][0] > 0), key=lambda w: (-means[w][0], w))
        want_against = sorted((w for w in means if means[w][0] < 0), key=lambda w: (means[w][0], w))
        assert entry["class"] == run.class_names[c]
        assert [x["word"] for x in entry["for"]] == want_for
        assert [x["word"] for x in entry["against"]] == want_against
        for x in entry["for"] + entry["against"]:
            assert x["count"] == means[x["word"]][2]
            assert x["mean"] == pytest.approx(means[x["word"]][0], rel=1e-6, abs=1e-9)
            assert x["total"] == pytest.approx(means[x["word"]][1], rel=1e-6, abs=1e-9)
    # the filters: each sentence's deconvnet filter table for each class, summed here
    from textdeconv.attribution.deconv import filter_table

    filters = res["filters"]
    assert (filters["available"], filters["note"]) == (True, None)
    for c, entry in enumerate(filters["classes"]):
        tables = [filter_table(e, run.net) for e in run.explain(texts, target=c)]
        total, fired, grams, strongest = {}, {}, {}, {}
        for t in tables:
            for w, j, contrib, alive, gram, p in zip(t["width"], t["filter"], t["contribution"], t["alive"],
                                                     t["ngram"], t["activation"]):
                key = (int(w), int(j))
                total[key] = total.get(key, 0.0) + float(contrib)
                fired[key] = fired.get(key, 0) + bool(alive)
                if alive:
                    grams.setdefault(key, {}).setdefault(gram, 0)
                    grams[key][gram] += 1
                    strongest[key, gram] = max(strongest.get((key, gram), 0.0), float(p))
        mean = {key: v / len(texts) for key, v in total.items()}
        want = sorted((key for key in mean if mean[key] > 0), key=lambda key: (-mean[key], key))[:50]
        assert entry["class"] == run.class_names[c] and want
        assert [(f["width"], f["filter"]) for f in entry["filters"]] == want
        for f in entry["filters"]:
            key = (f["width"], f["filter"])
            assert f["mean_contribution"] == pytest.approx(mean[key], rel=1e-6, abs=1e-9)
            assert f["fired"] == fired[key] > 0
            ranked = sorted(grams[key].items(), key=lambda kv: (-kv[1], -strongest[key, kv[0]], kv[0]))[:3]
            assert [(g["ngram"], g["count"]) for g in f["ngrams"]] == ranked
    two = post(client, "/api/aggregate", {"split": "test", "gold": "positive", "top": 1}).json()  # min_count 2
    assert [len(e["filters"]) for e in two["filters"]["classes"]] == [1, 1]
    assert all(len(e["for"]) <= 1 and all(x["count"] >= 2 for x in e["for"]) for e in two["classes"])


def test_aggregate_says_when_the_model_has_no_filters(client, monkeypatch):
    import textdeconv.serve.explorer as module

    monkeypatch.setattr(module, "has_filters", lambda net: False)
    res = post(client, "/api/aggregate", {"split": "test", "gold": "positive", "top": 2}).json()
    assert res["filters"] == {"available": False, "classes": [],
                              "note": "this run's model has no convolution filters: filters are shown for TextCNN "
                                      "runs only"}
    assert [len(e["for"]) <= 2 for e in res["classes"]] == [True, True]


def test_aggregate_refusals(explorer, client):
    small = TestClient(create_app(Explorer([explorer.runs[0].run], Limits(max_aggregate_sentences=3))),
                       base_url="http://127.0.0.1", raise_server_exceptions=False)
    r = post(small, "/api/aggregate", {"split": "test", "gold": "positive"})
    assert (r.status_code, r.json()) == (413, {"error": "the slice holds 4 sentences; aggregate salience explains at "
                                                        "most 3 (each once per class): narrow the slice"})
    r = post(client, "/api/aggregate", {"split": "test", "word": "nothing-like-it"})
    assert (r.status_code, r.json()) == (400, {"error": "the slice holds no sentence with tokens: nothing to "
                                                        "aggregate"})
    r = post(client, "/api/aggregate", {"split": "test", "by": "median"})
    assert (r.status_code, r.json()) == (400, {"error": "'by' must be 'mean' or 'total', got 'median'"})


def test_counterfactuals_equal_a_direct_explain_of_each_edit(client, explorer):
    text = "a dull , lifeless mess"
    res = post(client, "/api/counterfactuals", {"text": text, "deletions": 3, "words": 2, "neighbours": 3})
    assert res.status_code == 200, res.text
    res = res.json()
    original = post(client, "/api/explain", {"texts": [text]}).json()["explanations"][0]
    assert (res["tokens"], res["scores"], res["predicted"]) == (original["tokens"], original["scores"],
                                                                original["predicted"])
    tokens, cls = res["tokens"], res["predicted_index"]
    found = res["counterfactuals"]
    (cut,) = [c for c in found if c["kind"] == "delete"]
    assert found[0] is cut and 1 <= cut["size"] == len(cut["steps"]) <= 3

    def margin(token_lists):  # the margin from a direct model call: log p(cls) - log p(other), 2 classes
        p = direct(explorer, token_lists).astype(np.float64)
        return np.log(p[:, cls]) - np.log(p[:, 1 - cls])

    gone = []
    for step in cut["steps"]:  # each step the best single deletion of the sentence left, by the model
        left = [t for t in range(len(tokens)) if t not in gone]
        m = margin([[tokens[j] for j in left if j != i] for i in left])
        assert step["position"] == left[int(np.argmin(m))] and step["margin"] == pytest.approx(m.min(), abs=1e-4)
        assert step["word"] == tokens[step["position"]]
        gone.append(step["position"])
    assert cut["positions"] == sorted(gone) and cut["removed"] == [tokens[i] for i in sorted(gone)]
    assert all(s["margin"] >= 0 for s in cut["steps"][:-1])  # it stops at the first set that flips
    subs = [c for c in found if c["kind"] == "replace"]
    assert found == [cut] + subs and len(subs) == 2 * 3
    assert len({c["positions"][0] for c in subs}) == 2
    changes = [c["estimated_change"] for c in subs]
    assert changes == sorted(changes)
    for c in subs:
        (t,) = c["positions"]
        assert c["inserted"][0] not in ("<pad>", "<unk>", tokens[t]) and c["removed"] == [tokens[t]]
        assert c["tokens"] == tokens[:t] + c["inserted"] + tokens[t + 1:]
    edited = post(client, "/api/explain", {"texts": [c["tokens"] for c in found]}).json()["explanations"]
    for c, e in zip(found, edited):  # each verified prediction is the model's on the edited sentence
        assert c["tokens"] == e["tokens"] and c["text"] == " ".join(c["tokens"]) and c["predicted"] == e["predicted"]
        for name in ("negative", "positive"):
            assert c["probs"][name] == pytest.approx(e["probs"][name], abs=1e-6)
        assert c["flips"] == (e["predicted"] != original["predicted"])
        assert c["original_probability"] == c["probs"][original["predicted"]]
    assert res["flips"] == sum(c["flips"] for c in found)
    none = post(client, "/api/counterfactuals", {"text": text, "deletions": 0, "words": 0}).json()
    assert none["counterfactuals"] == [] and none["flips"] == 0


@pytest.mark.parametrize("body,message", [
    ({"text": "a b", "deletions": 21}, "'deletions' must be between 0 and 20, got 21"),
    ({"text": "a b", "words": 11}, "'words' must be between 0 and 10, got 11"),
    ({"text": "a b", "neighbours": 0}, "'neighbours' must be between 1 and 50, got 0"),
    ({"text": 5}, "sentence 1 must be a string or a list of token strings"),
    ({"text": "   "}, "nothing to explain: every sentence was empty"),
])
def test_bad_counterfactual_requests_are_exact_400s(client, body, message):
    r = post(client, "/api/counterfactuals", body)
    assert (r.status_code, r.json()) == (400, {"error": message})


def test_dataset_prediction_stops_over_its_budget(explorer):
    import time

    from textdeconv.serve.budget import Budget

    ex = Explorer([explorer.runs[0].run])
    budget = Budget(0.0)
    time.sleep(0.01)
    with raises_exactly(type(_request_error()), "the request needed more than its time budget of 0 s (textdeconv "
                        "serve --time-budget); ask for fewer sentences or a cheaper method"):
        budget.run(ex.dataset, 0, {"split": "test"})
    assert ex.runs[0].datasets == {} and not ex.runs[0].lock.locked()  # nothing half-cached, the run free


def _request_error():
    from textdeconv.serve.explorer import RequestError

    return RequestError("x")


def test_pca_by_hand():
    from textdeconv.serve.dataset import pca2

    coords, ratio = pca2(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]))
    assert coords.tolist() == [[0.0, 1.0], [0.0, -1.0], [2.0, 0.0], [-2.0, 0.0]]  # the y axis carries 8 of 10
    assert ratio.tolist() == pytest.approx([0.8, 0.2], abs=1e-15)
    flipped, _ = pca2(np.array([[0.0, -2.0], [0.0, 2.0], [3.0, 0.0], [-3.0, 0.0]]))
    assert flipped[:, 0].tolist() == [0.0, 0.0, 3.0, -3.0]  # signs fixed: largest loading positive
    line, r = pca2(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))  # one component: the second is zeros
    assert line[:, 0].tolist() == pytest.approx([-math.sqrt(2), 0.0, math.sqrt(2)], abs=1e-12)
    assert line[:, 1].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-12) and r[0] == pytest.approx(1.0)


def test_projection_is_the_pca_of_the_pooled_features(client, explorer):
    res = post(client, "/api/projection", {"split": "test", "gold": "negative"})
    assert res.status_code == 200, res.text
    res = res.json()
    assert [p["id"] for p in res["points"]] == [2, 4, 6, 8]
    net, vocab = explorer.runs[0].run.net, explorer.runs[0].run.vocab
    feats = np.stack([net.forward(np.array([[0] * net.pad + vocab.encode(SENTENCES[i - 1].split()) + [0] * net.pad]))
                      .pooled.numpy()[0] for i in (2, 4, 6, 8)]).astype(np.float64)  # one sentence at a time
    centred = feats - feats.mean(axis=0)
    xy = np.array([[p["x"], p["y"]] for p in res["points"]])
    total = (centred ** 2).sum()
    assert (xy ** 2).sum(axis=0) / total == pytest.approx(res["explained_variance"], rel=1e-5)
    assert np.abs(xy).max() > 0
    from textdeconv.serve.dataset import pca2

    assert xy == pytest.approx(pca2(feats)[0], abs=1e-5)  # the features of the cached data set are the model's
    # the distances between points are the centred features' distances, projected: never larger
    d_feat = np.linalg.norm(centred[:, None] - centred[None], axis=-1)
    d_xy = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    assert (d_xy <= d_feat + 1e-5).all()
    assert [(p["gold"], p["text"]) for p in res["points"]] == [("negative", SENTENCES[i - 1]) for i in (2, 4, 6, 8)]
    r = post(client, "/api/projection", {"split": "test", "word": "fun"})
    assert (r.status_code, r.json()) == (400, {"error": "the slice holds 1 sentence(s); a projection needs at least 2"})


def test_dataset_prediction_waits_for_the_run_lock_within_its_budget(explorer):
    from textdeconv.serve.budget import Budget

    ex = Explorer([explorer.runs[0].run])
    with ex.runs[0].lock:  # another request holds the run's model
        with raises_exactly(type(_request_error()), "run run stayed busy with other requests for the whole time "
                            "budget of 0.3 s; try again"):
            Budget(0.3).run(ex.dataset, 0, {"split": "dev"})
    assert ex.runs[0].datasets == {} and not ex.runs[0].datasets_lock.locked()
    assert ex.dataset(0, {"split": "dev"})["total"] == 8  # the run free: computed and cached
    assert list(ex.runs[0].datasets) == ["dev"]


def test_projection_carries_a_filters_activation(client, explorer):
    net, vocab = explorer.runs[0].run.net, explorer.runs[0].run.vocab
    width, j = net.widths[-1], 1
    res = post(client, "/api/projection", {"split": "test", "width": width, "filter": j})
    assert res.status_code == 200, res.text
    res = res.json()
    assert res["filter"] == {"width": width, "filter": j}
    for p in res["points"]:  # the filter's max-over-time ReLU output, from the conv seam, one sentence at a time
        ids = np.array([[0] * net.pad + vocab.encode(SENTENCES[p["id"] - 1].split()) + [0] * net.pad])
        h = net.conv_outputs(net.embed(ids), ids)[net.widths.index(width)].numpy()
        assert p["activation"] == pytest.approx(float(h[0, :, j].max()), rel=1e-5, abs=1e-7)
    r = post(client, "/api/projection", {"split": "test", "width": 9, "filter": 0})
    widths = ", ".join(map(str, net.widths))
    assert (r.status_code, r.json()) == (400, {"error": f"no filters of width 9; the widths are {widths}"})
    r = post(client, "/api/projection", {"split": "test", "width": width, "filter": 999})
    n = int(net.convs[-1].filters)
    assert (r.status_code, r.json()) == (400, {"error": f"width {width} has filters 0-{n - 1}, not 999"})
    r = post(client, "/api/projection", {"split": "test", "filter": 1})
    assert (r.status_code, r.json()) == (400, {"error": "'width' must be an integer, got None"})
    assert "activation" not in post(client, "/api/projection", {"split": "test"}).json()["points"][0]
