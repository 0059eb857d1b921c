"""Evaluation metrics on cases whose right values are known by construction or by hand."""
import dataclasses

import numpy as np
import pytest
from helpers.exact import raises_exactly
from tiny_models import oracle_model, random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution.deconv import Deconvnet
from textdeconv.attribution.explanation import Explanation
from textdeconv.attribution.perturb import Perturber
from textdeconv.data.treebank import parse_tree
from textdeconv.data.vocab import pad_batch
from textdeconv.errors import InputError
from textdeconv.evaluation import (
    cascading_randomization,
    class_sensitivity,
    deletion_insertion,
    eraser,
    plausibility,
    word_labels,
)
from textdeconv.evaluation.faithfulness import n_top, ranking
from textdeconv.evaluation.sanity import randomization_stages, spearman

W = 2.0
P = 1 / (1 + np.exp(-W))  # p_1 of any sentence holding "good"; 1/2 without it



def make_expl(tokens, scores, target=1, probs=None, net=None, vocab=None, classes=2):
    """An Explanation built directly; probs from ``net`` when given."""
    ids = np.array(vocab.encode(tokens)) if vocab else np.arange(2, 2 + len(tokens))
    if probs is None:
        probs = net.predict_proba(pad_batch([ids], net.pad))[0] if net else np.full(classes, 1 / classes)
    return Explanation(tokens=list(tokens), token_ids=ids, scores=np.asarray(scores, np.float64), target=target,
                       target_name=str(target), predicted=int(np.argmax(probs)), predicted_name="",
                       probs=np.asarray(probs), method="hand")


def oracle_expls(net, vocab, sentences, sign=1.0, target=1):
    return [make_expl(s, [sign * (t == "good") for t in s], target, net=net, vocab=vocab) for s in sentences]


SENTENCES = [["the", "good", "movie", "plot"], ["good", "the"], ["plot", "movie", "the", "movie", "good", "the"]]


def test_counts_and_ranking():
    assert [n_top(f, 10) for f in np.linspace(0, 1, 11)] == list(range(11))  # 0.3 * 10 = 3.0000000000000004
    assert n_top(0.07, 100) == 7 and n_top(0.01, 5) == 1 and n_top(0.5, 5) == 3 and n_top(0.0, 5) == 0
    assert ranking(np.array([0.0, 2.0, 0.0, -1.0, 2.0])).tolist() == [1, 4, 0, 2, 3]  # ties by position


def test_eraser_oracle_and_anti_oracle():
    net, vocab = oracle_model(W)
    per = Perturber(net, "pad")
    good = oracle_expls(net, vocab, SENTENCES)
    assert good[0].probs[1] == pytest.approx(P, rel=1e-6)
    res = eraser(good, per)
    assert res["replacement"] == "pad" and res["n_sentences"] == 3
    np.testing.assert_allclose(res["comprehensiveness"], P - 0.5, atol=1e-6)  # by hand: p(x) - p(x \ good)
    np.testing.assert_allclose(res["sufficiency"], 0.0, atol=1e-6)           # "good" alone keeps p(x)
    assert res["comprehensiveness_aopc"] == pytest.approx(P - 0.5, abs=1e-6)
    assert res["per_sentence"]["comprehensiveness"].shape == (3, 5)
    assert res["per_sentence"]["n_top"][:, -1].tolist() == [2, 1, 3]           # ceil(0.5 n)
    assert res["per_sentence"]["n_top"][:, 0].tolist() == [1, 1, 1]            # at least one token
    # anti-oracle: "good" ranks last, never among the top half
    bad = eraser(oracle_expls(net, vocab, SENTENCES, sign=-1.0), per)
    np.testing.assert_allclose(bad["comprehensiveness"], 0.0, atol=1e-6)
    np.testing.assert_allclose(bad["sufficiency"], P - 0.5, atol=1e-6)
    # target 0: p_0 = 1 - p_1, so removing "good" raises it
    neg = eraser(oracle_expls(net, vocab, SENTENCES, target=0), per)
    np.testing.assert_allclose(neg["comprehensiveness"], (1 - P) - 0.5, atol=1e-6)


def test_deletion_insertion_by_hand():
    net, vocab = oracle_model(W)
    per = Perturber(net, "pad")
    res = deletion_insertion(oracle_expls(net, vocab, [["good", "the"]]), per, fractions=(0, 0.5, 1))
    np.testing.assert_allclose(res["curves"]["morf"], [P, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(res["curves"]["lerf"], [P, P, 0.5], atol=1e-6)
    np.testing.assert_allclose(res["curves"]["insertion"], [0.5, P, P], atol=1e-6)
    assert res["auc"]["morf"] == pytest.approx(0.5 * (P + 0.5) / 2 + 0.5 * 0.5, abs=1e-6)
    assert res["auc"]["lerf"] == pytest.approx(0.5 * P + 0.5 * (P + 0.5) / 2, abs=1e-6)
    assert res["auc"]["insertion"] == pytest.approx(0.5 * (0.5 + P) / 2 + 0.5 * P, abs=1e-6)
    assert res["replacement"] == "pad"


def test_deletion_curves_order_oracle_against_anti_oracle():
    net, vocab = oracle_model(W)
    per = Perturber(net, "pad")
    ten = [["the"] * 3 + ["good"] + ["movie"] * 6]
    res = deletion_insertion(oracle_expls(net, vocab, ten), per)  # default grid 0, 0.1, ..., 1
    assert res["auc"]["morf"] == pytest.approx(0.1 * (P + 0.5) / 2 + 0.9 * 0.5, abs=1e-6)
    assert res["auc"]["lerf"] == pytest.approx(0.9 * P + 0.1 * (P + 0.5) / 2, abs=1e-6)
    assert res["auc"]["insertion"] == pytest.approx(0.1 * (0.5 + P) / 2 + 0.9 * P, abs=1e-6)
    expls = oracle_expls(net, vocab, SENTENCES + ten)
    good = deletion_insertion(expls, per)
    bad = deletion_insertion(oracle_expls(net, vocab, SENTENCES + ten, sign=-1.0), per)
    assert good["auc"]["morf"] < good["auc"]["lerf"]
    assert bad["auc"]["morf"] > bad["auc"]["lerf"]
    assert good["auc"]["insertion"] > bad["auc"]["insertion"]
    # the mean curve's AUC is the mean of the per-sentence AUCs
    assert good["auc"]["morf"] == pytest.approx(good["per_sentence"]["auc"]["morf"].mean())
    assert good["per_sentence"]["curves"]["lerf"].shape == (4, 11)


def test_replacements_differ_where_they_should_and_are_recorded():
    net, vocab = oracle_model(W)
    net.tables[0].embeddings[1].assign([1.0, 0.0])  # UNK now looks exactly like "good"
    expls = oracle_expls(net, vocab, SENTENCES)
    res = {r: eraser(expls, Perturber(net, r)) for r in ("pad", "unk", "delete")}
    assert [res[r]["replacement"] for r in res] == ["pad", "unk", "delete"]
    # position-free model, PAD and absence both give pre-activation <= 0: pad == delete
    np.testing.assert_allclose(res["pad"]["comprehensiveness"], P - 0.5, atol=1e-6)
    np.testing.assert_allclose(res["delete"]["comprehensiveness"], P - 0.5, atol=1e-6)
    np.testing.assert_allclose(res["unk"]["comprehensiveness"], 0.0, atol=1e-6)  # "good" -> UNK = "good"
    # with width-2/3 windows, closing the gap (delete) creates new n-grams that zeroing (pad) does not
    net2, vocab2 = tiny_net(seed=3), tiny_vocab()
    sentences = random_sentences(20, np.random.default_rng(0))
    expls2 = Deconvnet(net2, vocab2, ["neg", "pos"]).explain(sentences)
    pad, delete = (eraser(expls2, Perturber(net2, r)) for r in ("pad", "delete"))
    assert not np.allclose(pad["per_sentence"]["comprehensiveness"], delete["per_sentence"]["comprehensiveness"])
    np.testing.assert_allclose(pad["per_sentence"]["p_full"], delete["per_sentence"]["p_full"], atol=1e-6)


def test_one_batched_call_equals_sentence_by_sentence():
    net, vocab = tiny_net(widths=(2, 3), seed=5), tiny_vocab()
    sentences = random_sentences(15, np.random.default_rng(1))
    expls = Deconvnet(net, vocab, ["neg", "pos"]).explain(sentences, target=1)
    per = Perturber(net, "unk")
    calls = []
    original = per.logits
    per.logits = lambda *a, **k: calls.append(1) or original(*a, **k)
    together, curves = eraser(expls, per), deletion_insertion(expls, per)
    assert len(calls) == 2  # one logits call per metric
    for i, e in enumerate(expls):
        alone, alone_c = eraser([e], per), deletion_insertion([e], per)
        np.testing.assert_allclose(together["per_sentence"]["comprehensiveness"][i],
                                   alone["per_sentence"]["comprehensiveness"][0], atol=1e-6)
        np.testing.assert_allclose(together["per_sentence"]["sufficiency"][i],
                                   alone["per_sentence"]["sufficiency"][0], atol=1e-6)
        np.testing.assert_allclose(curves["per_sentence"]["auc"]["morf"][i], alone_c["auc"]["morf"], atol=1e-6)
    # comprehensiveness@0.5 of sentence 0 by a direct perturbation
    e, m = expls[0], together["per_sentence"]["n_top"][0, -1]
    drop = np.zeros(len(e.scores), bool)
    drop[np.argsort(-e.scores, kind="stable")[:m]] = True
    logits = original([e.token_ids, e.token_ids], [np.zeros_like(drop), drop])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert together["per_sentence"]["comprehensiveness"][0, -1] == pytest.approx(p[0, 1] - p[1, 1], abs=1e-5)
    assert together["per_sentence"]["p_full"][0] == pytest.approx(e.probs[1], abs=1e-5)


def test_faithfulness_bad_arguments():
    net, vocab = oracle_model(W)
    expls = oracle_expls(net, vocab, [["good"]])
    with pytest.raises(ValueError, match="no explanations"):
        eraser([], Perturber(net))
    with pytest.raises(ValueError, match=r"ks must lie in \(0, 1\]"):
        eraser(expls, Perturber(net), ks=(0.0, 0.5))
    with pytest.raises(ValueError, match="increasing"):
        deletion_insertion(expls, Perturber(net), fractions=(0, 1, 0.5))
    with raises_exactly(InputError, "ks is empty"):
        eraser(expls, Perturber(net), ks=())
    with raises_exactly(InputError, "ks must lie in (0, 1], got [0.5, 1.5]"):
        eraser(expls, Perturber(net), ks=(0.5, 1.5))
    with raises_exactly(InputError, "explanation 0: target 2 out of range for a 2-class model"):
        eraser([make_expl(["good"], [1.0], target=2, net=net, vocab=vocab)], Perturber(net))
    with raises_exactly(InputError, "fractions must lie in [0, 1], got [-0.5, 1.0]"):
        deletion_insertion(expls, Perturber(net), fractions=(-0.5, 1.0))
    for fractions in ((0.0, 0.5, 0.5, 1.0), (0.5,)):  # a repeated value; a single one
        with raises_exactly(InputError, "fractions must be at least two increasing values, got "
                                        f"{list(fractions)}"):
            deletion_insertion(expls, Perturber(net), fractions=fractions)
    with pytest.raises(ValueError, match="cannot remove every token"):
        eraser(expls, Perturber(net, "delete"))
    with pytest.raises(ValueError, match="target 3 out of range"):
        eraser([make_expl(["good"], [1.0], target=3, net=net, vocab=vocab)], Perturber(net))
    with pytest.raises(ValueError, match="non-finite"):
        eraser([make_expl(["good"], [np.nan], net=net, vocab=vocab)], Perturber(net))


# ------------------------------------------------------------------------------------------- sanity


class RecordingDeconvnet(Deconvnet):
    """Deconvnet that records the weights it saw and the targets it was asked for."""

    log: list = []

    def explain(self, sentences, target=None, batch_size=128):
        self.log.append(([w.copy() for w in self.net.model.get_weights()], target))
        return super().explain(sentences, target, batch_size)


@pytest.mark.parametrize("variant, widths", [("rand", (2, 3)), ("multichannel", (3, 4, 5))])
def test_cascading_randomization(variant, widths):
    net, vocab = tiny_net(variant, widths=widths, seed=11), tiny_vocab()
    sentences = random_sentences(12, np.random.default_rng(2), max_len=12)
    before = [w.copy() for w in net.model.get_weights()]
    RecordingDeconvnet.log = []
    df = cascading_randomization(net, lambda n: RecordingDeconvnet(n, vocab, ["neg", "pos"]), sentences, seed=1)
    expected = ["original", "logits"] + [f"conv_{w}" for w in sorted(widths, reverse=True)] + ["embedding"]
    assert df["stage"].tolist() == expected and df["depth"].tolist() == list(range(len(expected)))
    assert df.attrs["per_sentence"].shape == (len(expected), 12)
    after = net.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # restored exactly
    # each stage changed its own variables and kept the ones below
    names = [v.path for v in net.model.weights]
    stage_vars = [[v.path for v in vs] for _, vs in randomization_stages(net)]
    changed = set()
    for (seen, _), stage in zip(RecordingDeconvnet.log[1:], stage_vars):
        changed |= set(stage)
        for name, w0, w in zip(names, before, seen):
            assert (not np.array_equal(w0, w)) == (name in changed), name
    # the original targets are reused for every randomized model
    original_targets = [e.target for e in Deconvnet(net, vocab, ["neg", "pos"]).explain(sentences)]
    assert RecordingDeconvnet.log[0][1] is None
    assert all(list(t) == original_targets for _, t in RecordingDeconvnet.log[1:])
    assert df["spearman_mean"].iloc[0] == pytest.approx(1.0)
    assert df["spearman_mean"].iloc[1] < 0.99 and df["abs_spearman_mean"].iloc[1] <= 1
    assert (df["n_sentences"] == 12).all()
    originals = Deconvnet(net, vocab, ["neg", "pos"]).explain(sentences)
    assert df["n_nan"].iloc[0] == sum(len(e.scores) < 2 or np.ptp(e.scores) == 0 for e in originals)


def test_cascading_randomization_is_seeded_and_restores_after_an_error():
    net, vocab = tiny_net(seed=12), tiny_vocab()
    sentences = random_sentences(8, np.random.default_rng(3))
    make = lambda n: Deconvnet(n, vocab, ["neg", "pos"])  # noqa: E731
    a = cascading_randomization(net, make, sentences, target=1, seed=4)
    b = cascading_randomization(net, make, sentences, target=1, seed=4)
    np.testing.assert_array_equal(a.attrs["per_sentence"], b.attrs["per_sentence"])
    before = [w.copy() for w in net.model.get_weights()]
    calls = []

    def failing(n):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return make(n)

    with pytest.raises(RuntimeError, match="boom"):
        cascading_randomization(net, failing, sentences)
    assert all(np.array_equal(x, y) for x, y in zip(before, net.model.get_weights()))


def test_spearman_handles_constant_and_short_vectors():
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(spearman([2.0], [3.0]))
    assert spearman([1.0, 2.0, 2.0, 5.0], [-1.0, -2.0, -2.0, -5.0]) == pytest.approx(-1.0)


def test_class_sensitivity():
    net, vocab = tiny_net(seed=13), tiny_vocab()
    kernel = net.dense.kernel.numpy()
    net.dense.kernel.assign(np.stack([kernel[:, 0], -kernel[:, 0]], axis=1))  # w_1 = -w_0
    sentences = random_sentences(10, np.random.default_rng(4))
    res = class_sensitivity(Deconvnet(net, vocab, ["neg", "pos"], "deconv"), sentences, 0, "pos")
    # sigma_j = W[j,c] * alive: the class-1 scores are exactly the class-0 scores negated
    assert res["spearman_mean"] == pytest.approx(-1.0) and res["identical_fraction"] == 0.0
    assert res["n_nan"] == int(np.isnan(res["per_sentence"]).sum()) and res["n_nan"] < 10
    same = class_sensitivity(Deconvnet(net, vocab, ["neg", "pos"], "deconv-activation"), sentences, 0, 1)
    assert same["identical_fraction"] == 1.0 and same["spearman_mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two different classes"):
        class_sensitivity(Deconvnet(net, vocab, ["neg", "pos"]), sentences, 1, "pos")


# ------------------------------------------------------------------------------------- plausibility

TREES = ["(1 (2 The) (1 (3 good) (1 (2 plot) (0 fails))))",  # y = 0 1 0 1
         "(3 (3 fun) (2 and) (4 (4 great)))",                 # y = 1 0 1
         "(1 (2 a) (0 bad))",                                 # y = 0 1
         "(2 (2 a) (2 film))"]                                # no sentiment word
SCORES = [[0.1, 0.8, -0.6, -0.5], [-0.2, 0.0, 0.4], [0.3, 0.0], [1.0, 2.0]]
TARGETS = [1, 0, 1, 1]


def test_word_labels():
    tree = parse_tree(TREES[1])
    assert word_labels(tree) == [3, 2, 4] and tree.leaves() == ["fun", "and", "great"]
    assert word_labels(parse_tree(TREES[0])) == [2, 3, 2, 0]


def test_plausibility_by_hand():
    trees = [parse_tree(t) for t in TREES]
    expls = [make_expl(t.leaves(), s, target) for t, s, target in zip(trees, SCORES, TARGETS)]
    res = plausibility(expls, [word_labels(t) for t in trees], positive_class=1)
    # pooled |score| (P = sentiment word): 2N 1N .8P .6N .5P .4P .3N .2P .1N 0N 0P (0s tie)
    # AP = sum over thresholds of recall step x precision = (1/3 + 2/5 + 1/2 + 1/2 + 5/11) / 5
    assert res["micro_ap"] == pytest.approx((1 / 3 + 2 / 5 + 1 / 2 + 1 / 2 + 5 / 11) / 5)
    # AUROC: negatives below each positive (ties 1/2): 4 + 3 + 3 + 2 + 0.5 = 12.5 of 5 x 6
    assert res["micro_auroc"] == pytest.approx(12.5 / 30)
    # per sentence: S1 .8P .6N .5P .1N -> AP (1 + 2/3)/2, AUROC 3/4; S2 AP 1, AUROC 1;
    # S3 .3N 0P -> AP 1/2, AUROC 0; S4 has no sentiment word and is left out
    assert res["macro_ap"] == pytest.approx((5 / 6 + 1 + 1 / 2) / 3)
    assert res["macro_auroc"] == pytest.approx((3 / 4 + 1 + 0) / 3)
    assert res["n_sentences_macro"] == 3 and res["n_tokens"] == 11 and res["n_sentiment_words"] == 5
    # signs: S1 target pos: good + (3) ok, fails - (0) ok; S2 target neg in a binary model, so
    # expected -sign(label - 2): fun -0.2 ok, great +0.4 no; S3 target pos: bad scored 0 -> no
    assert res["sign_agreement"] == pytest.approx(3 / 5) and res["n_sign_words"] == 5
    assert res["sign_agreement_macro"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert res["n_sign_sentences"] == 4 and res["n_sign_skipped"] == 0
    np.testing.assert_allclose(res["per_sentence"]["ap"][:3], [5 / 6, 1, 0.5])
    assert np.isnan(res["per_sentence"]["ap"][3])
    # Trees are accepted in place of label lists
    assert plausibility(expls, trees, positive_class=1)["micro_ap"] == res["micro_ap"]
    # flipping every target flips every expected sign: 2/5 agree (zero scores still miss)
    flipped = [make_expl(e.tokens, e.scores, 1 - e.target) for e in expls]
    assert plausibility(flipped, trees, positive_class=1)["sign_agreement"] == pytest.approx(1 / 5)


def test_plausibility_skips_what_it_cannot_sign():
    trees = [parse_tree(t) for t in TREES[:2]]
    five = [make_expl(t.leaves(), s, target, classes=5) for t, s, target in zip(trees, SCORES, (4, 1))]
    res = plausibility(five, trees, positive_class=4)  # 5 classes: only target 4 can be signed
    assert res["n_sign_sentences"] == 1 and res["n_sign_skipped"] == 1
    assert res["sign_agreement"] == pytest.approx(1.0) and res["n_sign_words"] == 2
    none = plausibility(five, trees, positive_class=None)
    assert np.isnan(none["sign_agreement"]) and none["n_sign_sentences"] == 0
    assert none["micro_ap"] == res["micro_ap"]
    with pytest.raises(ValueError, match="sentence 0: 3 word labels for 4 scored tokens"):
        plausibility(five, [[2, 3, 4], [2, 2, 2]], positive_class=4)
    with pytest.raises(ValueError, match="2 explanations and 1 label lists"):
        plausibility(five, trees[:1], positive_class=4)


class TablePerturber:
    """A perturber whose p_c is a hand-made table: for the sentence with token ids ``ids``,
    p_c(kept tokens) = base + the sum of the kept positions' weights (``TABLES[ids]``); the other
    class gets 1 - p_c. Logits are log-probabilities, so the softmax gives the table back."""

    replacement, empty_ok = "pad", True
    net = type("Net", (), {"num_classes": 2})()

    def __init__(self, tables, targets):
        self.tables, self.targets = tables, targets

    def logits(self, ids_list, drop_masks):
        rows = []
        for ids, drop in zip(ids_list, drop_masks):
            base, weights = self.tables[tuple(ids)]
            p = base + sum(w for w, d in zip(weights, drop) if not d)
            c = self.targets[tuple(ids)]
            rows.append(np.log([p, 1 - p] if c == 0 else [1 - p, p]))
        return np.array(rows)


# sentence A: ids 2..5, scores rank positions 1, 3, 0, 2; p_1 = .05 + .15 [0] + .4 [1] + .05 [2] + .3 [3]
# sentence B: ids 6, 7, scores rank positions 1, 0;       p_0 = .2 + .1 [0] + .6 [1]
TABLES = {(2, 3, 4, 5): (0.05, [0.15, 0.4, 0.05, 0.3]), (6, 7): (0.2, [0.1, 0.6])}
TABLE_EXPLS = [make_expl("a b c d".split(), [0.1, 0.9, -0.3, 0.5], target=1),
               dataclasses.replace(make_expl("e f".split(), [-1.0, 2.0], target=0), token_ids=np.array([6, 7]))]


def test_eraser_by_hand_on_a_probability_table():
    # A, k = .25: top {1}: comprehensiveness .95 - .55 = .4, sufficiency .95 - .45 = .5
    #    k = .5:  top {1, 3}: comprehensiveness .95 - .25 = .7, sufficiency .95 - .75 = .2
    # B, k = .25 and .5: one token, top {1}: comprehensiveness .9 - .3 = .6, sufficiency .9 - .8 = .1
    res = eraser(TABLE_EXPLS, TablePerturber(TABLES, {(2, 3, 4, 5): 1, (6, 7): 0}), ks=(0.25, 0.5))
    per = res["per_sentence"]
    np.testing.assert_array_equal(per["n_top"], [[1, 2], [1, 1]])
    np.testing.assert_allclose(per["p_full"], [0.95, 0.9], atol=1e-12)
    np.testing.assert_allclose(per["comprehensiveness"], [[0.4, 0.7], [0.6, 0.6]], atol=1e-12)
    np.testing.assert_allclose(per["sufficiency"], [[0.5, 0.2], [0.1, 0.1]], atol=1e-12)
    np.testing.assert_allclose(per["comprehensiveness_aopc"], [0.55, 0.6], atol=1e-12)
    np.testing.assert_allclose(per["sufficiency_aopc"], [0.35, 0.1], atol=1e-12)
    np.testing.assert_allclose(res["comprehensiveness"], [0.5, 0.65], atol=1e-12)
    np.testing.assert_allclose(res["sufficiency"], [0.3, 0.15], atol=1e-12)
    assert res["comprehensiveness_aopc"] == pytest.approx((0.4 + 0.7 + 0.6 + 0.6) / 4, abs=1e-12)
    assert res["sufficiency_aopc"] == pytest.approx((0.5 + 0.2 + 0.1 + 0.1) / 4, abs=1e-12)


def test_deletion_and_insertion_auc_by_hand_on_a_probability_table():
    # fractions 0, .5, 1 (m = 0, n/2, n tokens):
    # A: morf .95 .25 .05   lerf .95 .75 .05   insertion .05 .75 .95
    # B: morf .9  .3  .2    lerf .9  .8  .2    insertion .2  .8  .9
    # trapezoid AUC (steps of .5): A morf .375, lerf .625, insertion .625; B .425, .675, .675
    res = deletion_insertion(TABLE_EXPLS, TablePerturber(TABLES, {(2, 3, 4, 5): 1, (6, 7): 0}),
                             fractions=(0.0, 0.5, 1.0))
    curves = res["per_sentence"]["curves"]
    np.testing.assert_allclose(curves["morf"], [[0.95, 0.25, 0.05], [0.9, 0.3, 0.2]], atol=1e-12)
    np.testing.assert_allclose(curves["lerf"], [[0.95, 0.75, 0.05], [0.9, 0.8, 0.2]], atol=1e-12)
    np.testing.assert_allclose(curves["insertion"], [[0.05, 0.75, 0.95], [0.2, 0.8, 0.9]], atol=1e-12)
    for name, (a, b) in {"morf": (0.375, 0.425), "lerf": (0.625, 0.675), "insertion": (0.625, 0.675)}.items():
        np.testing.assert_allclose(res["per_sentence"]["auc"][name], [a, b], atol=1e-12)
        assert res["auc"][name] == pytest.approx((a + b) / 2, abs=1e-12)
    # an uneven grid: 0, .25, 1 on A alone (m = 0, 1, 4): morf .95, .55, .05 -> .25 * .75 + .75 * .3 = .4125
    one = deletion_insertion(TABLE_EXPLS[:1], TablePerturber(TABLES, {(2, 3, 4, 5): 1}), fractions=(0.0, 0.25, 1.0))
    assert one["auc"]["morf"] == pytest.approx(0.4125, abs=1e-12)
    # the two ends alone, the least grid there is: morf .95 -> .05 and insertion .05 -> .95, AUC .5 each
    ends = deletion_insertion(TABLE_EXPLS[:1], TablePerturber(TABLES, {(2, 3, 4, 5): 1}), fractions=(0.0, 1.0))
    assert ends["auc"]["morf"] == pytest.approx(0.5, abs=1e-12) and ends["auc"]["insertion"] == pytest.approx(0.5)
