"""The metrics issue 25 adds, on cases whose answers are known by hand: ERASER's AUPRC, token-F1
and IOU-F1, Kendall agreement with leave-one-out, infidelity, max-sensitivity, independent layer
randomization, and their columns in the methods x metrics table."""
import numpy as np
import pytest
from helpers.exact import raises_exactly
from tiny_models import oracle_model, random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution.deconv import Deconvnet
from textdeconv.attribution.explanation import Explanation
from textdeconv.attribution.perturb import Perturber
from textdeconv.data.vocab import PAD, UNK, Vocab
from textdeconv.errors import InputError
from textdeconv.evaluation.agreement import kendall, loo_agreement, loo_scores
from textdeconv.evaluation.rationales import auprc, eraser_plausibility, iou, span_pr, spans, token_prf, top_k
from textdeconv.evaluation.robustness import (
    infidelity,
    infidelity_from_samples,
    max_sensitivity,
    sensitivity_from_samples,
)
from textdeconv.evaluation.sanity import cascading_randomization, independent_randomization, randomization_stages

W = 2.0


def good_model():
    return oracle_model(W)


def expl(tokens, scores, vocab, target=1):
    ids = np.array(vocab.encode(tokens))
    return Explanation(tokens=list(tokens), token_ids=ids, scores=np.asarray(scores, np.float64), target=target,
                       target_name="", predicted=target, predicted_name="", probs=np.array([0.5, 0.5]), method="hand")


SENTENCES = [["the", "good", "movie", "plot"], ["good", "the"], ["plot", "movie", "the", "movie", "good", "the"]]


# ---------------------------------------------------------------------------------- ERASER rationales

def test_spans_and_iou():
    assert spans([0, 1, 1, 0, 1]) == [(1, 3), (4, 5)]
    assert spans([1, 1]) == [(0, 2)] and spans([0, 0]) == []
    assert iou((0, 4), (2, 6)) == pytest.approx(2 / 6) and iou((0, 2), (0, 2)) == 1.0 and iou((0, 1), (3, 4)) == 0.0


def test_token_and_span_scores_by_hand():
    gold = np.array([0, 1, 1, 1, 0, 0, 1], bool)  # gold spans (1, 4) and (6, 7)
    pred = np.array([0, 0, 1, 1, 0, 1, 0], bool)  # predicted spans (2, 4) and (5, 6)
    p, r, f = token_prf(gold, pred)
    assert (p, r) == (2 / 3, 2 / 4) and f == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # (2, 4) vs (1, 4): IOU 2/3 >= 0.5, a hit; (5, 6) touches no gold span: P = 1/2, R = 1/2
    assert span_pr(gold, pred) == (0.5, 0.5)
    assert span_pr(gold, pred, threshold=0.7) == (0.0, 0.0)
    assert top_k([0.1, -0.9, 0.5, 0.5], 2).tolist() == [False, True, True, False]  # |score|, ties by position


def test_auprc_matches_erasers_definition():
    # ranks by score: P(.9) N(.8) P(.7) N(.1): precision_recall_curve points (R, P): (0, 1) (.5, 1)
    # (.5, .5) (1, 2/3) (1, .5); the trapezoid area over recall: .5 * 1 + .5 * (.5 + 2/3) / 2
    assert auprc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert auprc([1, 0, 0], [3.0, 1.0, 0.5]) == pytest.approx(1.0)


def test_eraser_plausibility_by_hand():
    vocab = Vocab([PAD, UNK, "a", "b", "c", "d", "e"])
    labels = [[2, 4, 2, 2], [0, 2], [2, 2, 2]]  # the last sentence has no rationale and is skipped
    expls = [expl(["a", "b", "c", "d"], [0.1, -2.0, 0.5, 0.0], vocab), expl(["a", "b"], [0.0, 1.0], vocab),
             expl(["a", "b", "c"], [1.0, 2.0, 3.0], vocab)]
    res = eraser_plausibility(expls, labels)
    assert res["n_sentences"] == 2 and res["n_skipped"] == 1
    assert res["fraction"] == pytest.approx(2 / 6)  # 2 rationale words among the 6 tokens of those sentences
    # sentence 1: k = round(4/3) = 1, top |score| is "b" (gold): P = R = F1 = 1, AUPRC 1
    # sentence 2: k = round(2/3) = 1, top is position 1 (not gold): F1 0; AUPRC with the gold word ranked last
    assert res["per_sentence"]["token_f1"][:2].tolist() == [1.0, 0.0] and np.isnan(res["per_sentence"]["token_f1"][2])
    assert res["token_f1"] == 0.5 and res["token_precision"] == 0.5 and res["token_recall"] == 0.5
    assert res["per_sentence"]["auprc"][0] == pytest.approx(1.0)
    assert res["per_sentence"]["auprc"][1] == pytest.approx(auprc([1, 0], [0.0, 1.0]))
    assert res["auprc"] == pytest.approx((1.0 + auprc([1, 0], [0.0, 1.0])) / 2)
    # spans: sentence 1 predicted (1, 2) = gold (1, 2): hit; sentence 2 predicted (1, 2) vs gold (0, 1): miss
    assert (res["iou_precision"], res["iou_recall"], res["iou_f1"]) == (0.5, 0.5, 0.5)
    fixed = eraser_plausibility(expls, labels, fraction=1.0)  # every token predicted: P = 1/4 and 1/2
    assert fixed["token_recall"] == 1.0 and fixed["token_precision"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    with pytest.raises(ValueError, match="2 word labels for 4 scored tokens"):
        eraser_plausibility(expls[:1], [[2, 3]])
    assert np.isnan(eraser_plausibility(expls[2:], labels[2:])["auprc"])


# ------------------------------------------------------------------------------- LOO agreement

def test_kendall_by_hand():
    assert kendall([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # concordant pairs: (0,1) yes, (0,2) yes, (1,2) no -> tau = (2 - 1) / 3
    assert kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert np.isnan(kendall([1, 1], [1, 2])) and np.isnan(kendall([1], [1]))


def test_loo_scores_and_agreement_on_a_hand_set_model():
    net, vocab = good_model()
    perturber = Perturber(net, "pad")
    p1 = 1 / (1 + np.exp(-W))
    oracle = [expl(s, [float(t == "good") for t in s], vocab) for s in SENTENCES]
    for e, loo in zip(oracle, loo_scores(oracle, perturber)):
        # removing "good" takes p_1 from sigma(W) to 1/2; any other word changes nothing
        np.testing.assert_allclose(loo, [(p1 - 0.5) * (t == "good") for t in e.tokens], atol=1e-6)
    assert loo_agreement(oracle, perturber)["kendall_tau_mean"] == pytest.approx(1.0)
    anti = [expl(s, [-float(t == "good") for t in s], vocab) for s in SENTENCES]
    res = loo_agreement(anti, perturber)
    assert res["kendall_tau_mean"] == pytest.approx(-1.0) and res["n_nan"] == 0 and res["n_sentences"] == 3


# ------------------------------------------------------------------------------------ robustness

def test_infidelity_from_samples_by_hand():
    a = np.array([[1.0, 2.0], [0.0, 0.0]])
    d = np.array([[2.0, 4.0], [1.0, 3.0]])
    # raw: ((1-2)^2 + (2-4)^2) / 2 = 2.5; (1 + 9) / 2 = 5
    np.testing.assert_allclose(infidelity_from_samples(a, d, normalize=False), [2.5, 5.0])
    # normalised: beta = (2 + 8) / (1 + 4) = 2 makes the first exact; a.I = 0 gives beta 0 (Captum's safe_div)
    np.testing.assert_allclose(infidelity_from_samples(a, d, normalize=True), [0.0, 5.0])
    with pytest.raises(ValueError, match="same shape"):
        infidelity_from_samples(a, d[:, :1])



def test_infidelity_from_samples_normalizes_by_default_and_checks_shapes_exactly():
    """bench/mutation.py's survivors in robustness.py: the default and each shape refusal."""
    a = np.array([[1.0, 2.0], [0.0, 0.0]])
    d = np.array([[2.0, 4.0], [1.0, 3.0]])
    np.testing.assert_allclose(infidelity_from_samples(a, d), [0.0, 5.0])  # Captum's default: normalised
    for x, y in ((a, d[:, :1]), (a[:, :1], d), (a[:, None], d[:, None]), (a[0], d[0]), (a[:, :0], d[:, :0])):
        with raises_exactly(InputError, f"need two (N, S) arrays of the same shape, got {x.shape} and {y.shape}"):
            infidelity_from_samples(x, y)
    np.testing.assert_allclose(infidelity_from_samples(a[:, :1], d[:, :1], normalize=False), [1.0, 1.0])  # S = 1
    # a beta that is neither 0 nor 1 and a value that is no whole number: a = (1, 1), d = (1, 2) give
    # beta = a.d / a.a = 3 / 2, residuals beta a - d = (0.5, -0.5), mean square 0.25
    np.testing.assert_allclose(infidelity_from_samples([[1.0, 1.0]], [[1.0, 2.0]]), [0.25])

def test_infidelity_is_zero_for_the_exact_decomposition():
    net, vocab = good_model()
    perturber = Perturber(net, "pad")
    exact = [expl(s, [W * (t == "good") for t in s], vocab) for s in SENTENCES]
    res = infidelity(exact, perturber, n_samples=20, normalize=False, seed=1)
    assert res["infidelity_mean"] == pytest.approx(0.0, abs=1e-9)
    wrong = [expl(s, [W * (t == "the") for t in s], vocab) for s in SENTENCES]
    assert infidelity(wrong, perturber, n_samples=20, normalize=False, seed=1)["infidelity_mean"] > 0.5
    # normalising forgives the scale: half the exact scores are still exact
    half = [expl(s, [W / 2 * (t == "good") for t in s], vocab) for s in SENTENCES]
    assert infidelity(half, perturber, n_samples=20, seed=1)["infidelity_mean"] == pytest.approx(0.0, abs=1e-9)
    assert infidelity(half, perturber, n_samples=20, normalize=False, seed=1)["infidelity_mean"] > 0


def test_infidelity_removes_each_word_with_probability_drop_prob_as_documented():
    """The removal masks are ``rng.random((S, n)) < drop_prob``, drawn sentence by sentence from one
    generator: rebuilt here, with scores of 1 on every word (the drop is W where "good" goes), the
    raw infidelity of each sentence is the mean of (words removed - W [good removed])^2. A mask of
    ``> drop_prob`` removes each word with probability 1 - drop_prob and gives other values."""
    net, vocab = good_model()
    ones = [expl(s, np.ones(len(s)), vocab) for s in SENTENCES]
    rng, want = np.random.default_rng(7), []
    for s in SENTENCES:
        masks = rng.random((30, len(s))) < 0.2
        drop = W * masks[:, s.index("good")]
        want.append(np.mean((masks.sum(axis=1) - drop) ** 2))
    got = infidelity(ones, Perturber(net, "pad"), n_samples=30, drop_prob=0.2, normalize=False, seed=7)
    np.testing.assert_allclose(got["per_sentence"], want, rtol=1e-6)
    assert got["infidelity_median"] == pytest.approx(np.median(want), rel=1e-6)


def test_max_sensitivity_by_hand_and_on_a_model():
    assert sensitivity_from_samples([3.0, 4.0], [[3.0, 4.0], [3.0, 5.0], [6.0, 8.0]]) == pytest.approx(5 / 5)
    assert sensitivity_from_samples([0.0, 0.0], [[0.3, 0.4]]) == pytest.approx(0.5)  # zero norm counts as 1
    net, vocab = tiny_net(seed=3), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(0))
    before = [w.copy() for w in net.model.get_weights()]
    from textdeconv.attribution import make_explainer

    random_method = make_explainer("random", net, vocab, ["neg", "pos"])
    rand = max_sensitivity(net, lambda n: random_method, sentences, n_samples=2)
    assert rand["max_sensitivity_mean"] == 0.0  # the random method ignores the embeddings
    deconv_method = Deconvnet(net, vocab, ["neg", "pos"])  # reads the tables at every call: one build serves
    deconv = max_sensitivity(net, lambda n: deconv_method, sentences, n_samples=3, radius=0.05)
    assert 0 < deconv["max_sensitivity_mean"] < 10 and len(deconv["per_sentence"]) == 6
    assert all(np.array_equal(a, b) for a, b in zip(before, net.model.get_weights()))  # restored exactly


def test_max_sensitivity_draws_uniform_noise_of_the_radius_around_every_table_and_its_defaults():
    """Each draw sets every embedding table to its saved values + rng.uniform(-radius, radius), one
    generator seeded with ``seed``, tables in order: rebuilt here from what the explainer factory sees.
    The documented defaults: 10 draws, radius 0.02, seed 0."""
    net, vocab = tiny_net(seed=3), tiny_vocab()
    sentences = random_sentences(3, np.random.default_rng(0))
    saved = [t.embeddings.numpy().copy() for t in net.tables]
    method = Deconvnet(net, vocab, ["neg", "pos"])
    seen = []

    def factory(n):
        seen.append([t.embeddings.numpy().copy() for t in n.tables])
        return method

    res = max_sensitivity(net, factory, sentences, n_samples=3, radius=0.05, seed=4)
    rng = np.random.default_rng(4)
    assert len(seen) == 4  # the unperturbed explanation, then one per draw
    for tables in seen[1:]:
        for got, values in zip(tables, saved):
            np.testing.assert_array_equal(got, values + rng.uniform(-0.05, 0.05, values.shape).astype(values.dtype))
    assert res["n_samples"] == 3 and res["radius"] == 0.05
    seen.clear()
    default = max_sensitivity(net, factory, sentences)
    assert len(seen) == 11 and default["n_samples"] == 10 and default["radius"] == 0.02
    rng = np.random.default_rng(0)
    first = saved[0] + rng.uniform(-0.02, 0.02, saved[0].shape).astype(saved[0].dtype)
    np.testing.assert_array_equal(seen[1][0], first)


def test_infidelity_defaults_and_bounds():
    """The documented defaults (10 samples, drop_prob 0.5, normalised, seed 0) and each refusal."""
    net, vocab = good_model()
    ones = [expl(s, np.ones(len(s)), vocab) for s in SENTENCES]
    perturber = Perturber(net, "pad")
    default = infidelity(ones, perturber)
    explicit = infidelity(ones, perturber, n_samples=10, drop_prob=0.5, normalize=True, seed=0)
    assert default["n_samples"] == 10 and default["drop_prob"] == 0.5 and default["normalize"] is True
    np.testing.assert_array_equal(default["per_sentence"], explicit["per_sentence"])
    other = infidelity(ones, perturber, n_samples=10, drop_prob=0.5, normalize=True, seed=1)
    assert not np.array_equal(other["per_sentence"], explicit["per_sentence"])  # the seed matters
    assert infidelity(ones, perturber, n_samples=1, drop_prob=0.5)["n_samples"] == 1  # one sample is enough
    alone = infidelity(ones[:1], perturber, seed=3)  # one sentence: its row is the whole batch
    assert alone["n_sentences"] == 1
    assert alone["per_sentence"][0] == infidelity(ones, perturber, seed=3)["per_sentence"][0]
    for n, q in ((0, 0.5), (1, 0.0), (1, 1.0), (1, 1.5), (1, -0.5)):
        with raises_exactly(InputError, f"need n_samples >= 1 and drop_prob in (0, 1), got {n} and {q}"):
            infidelity(ones, perturber, n_samples=n, drop_prob=q)


# ------------------------------------------------------------------------ independent randomization

def test_independent_randomization_changes_one_layer_at_a_time():
    net, vocab = tiny_net(seed=5), tiny_vocab()
    sentences = random_sentences(10, np.random.default_rng(1), max_len=10)
    before = [w.copy() for w in net.model.get_weights()]
    seen = []

    class Recording(Deconvnet):
        def explain(self, sentences, target=None, batch_size=128):
            seen.append([w.copy() for w in self.net.model.get_weights()])
            return super().explain(sentences, target, batch_size)

    recording = Recording(net, vocab, ["neg", "pos"])  # one build: its graph reads the variables at every call
    indep = independent_randomization(net, lambda n: recording, sentences, seed=2)
    casc = cascading_randomization(net, lambda n: recording, sentences, seed=2)
    seen = seen[:len(indep)]
    assert indep["stage"].tolist() == casc["stage"].tolist()
    assert indep["depth"].tolist() == [0] + [1] * (len(indep) - 1)
    # the same draws in the same order: the first (output layer) stage equals the cascading one
    assert indep["spearman_mean"].iloc[1] == pytest.approx(casc["spearman_mean"].iloc[1])
    names = [v.path for v in net.model.weights]
    for stage_seen, (_, variables) in zip(seen[1:], randomization_stages(net)):
        own = {v.path for v in variables}
        for name, w0, w in zip(names, before, stage_seen):
            assert (not np.array_equal(w0, w)) == (name in own), name  # only its own layer is re-drawn
    assert all(np.array_equal(a, b) for a, b in zip(before, net.model.get_weights()))


# ------------------------------------------------------------------------------------- the table

def test_the_table_has_the_new_columns():
    from textdeconv.evaluation.report import COLUMNS, evaluate_methods, to_markdown

    net, vocab = tiny_net(seed=7), tiny_vocab()
    sentences = random_sentences(8, np.random.default_rng(4))
    labels = [[3 if t in ("good", "great", "fun") else 1 if t in ("bad", "dull") else 2 for t in s] for s in sentences]
    report = evaluate_methods(net, vocab, ["neg", "pos"], sentences, labels, ["random"], sanity_n=3,
                              positive_class=1, sensitivity_samples=1)
    new = ("loo_kendall_tau", "eraser_auprc", "token_f1", "iou_f1", "infidelity", "max_sensitivity",
           "independent_max_spearman", "ms_per_sentence", "randomized_logits_abs_rho", "randomized_all_abs_rho",
           "class_abs_rho", "independent_max_abs_rho", "max_sensitivity_median")
    assert set(new) <= set(COLUMNS) and set(new) <= set(report.table.columns)
    table = report.table.set_index("method")
    assert table.loc["random", "max_sensitivity"] == 0.0 and table.loc["random", "ms_per_sentence"] > 0
    assert -1 <= table.loc["random", "loo_kendall_tau"] <= 1 and table.loc["random", "infidelity"] >= 0
    assert table.loc["random", "independent_max_spearman"] == 1.0  # model-blind scores survive every layer
    assert table.loc["random", "independent_max_abs_rho"] == 1.0
    assert table.loc["random", "randomized_all_abs_rho"] == 1.0
    assert table.loc["random", "max_sensitivity_median"] == 0.0
    assert set(report.independent) == {"random"}
    assert "ms_per_sentence (↓)" in to_markdown(report.table)


def test_loo_scores_equal_forward_passes_with_each_word_replaced():
    """On a random model, where some removals raise p_c: each LOO score is p_c(x) minus p_c of the
    sentence with that one word replaced by the unknown word, computed here row by row."""
    net, vocab = tiny_net(seed=3), tiny_vocab()
    perturber = Perturber(net, "unk")
    unk = vocab.encode([UNK])[0]
    sentences = [["good", "movie", "not", "fun"], ["dull", "plot"], ["a", "great", "bad", "the", "movie"]]
    expls = [expl(s, np.arange(len(s), dtype=float), vocab, target=t) for s, t in zip(sentences, (1, 0, 1))]
    rises = 0
    for e, loo in zip(expls, loo_scores(expls, perturber)):
        ids = list(e.token_ids)
        rows = [np.array(ids)] + [np.array(ids[:k] + [unk] + ids[k + 1:]) for k in range(len(ids))]
        logits = perturber.logits(rows).astype(np.float64)
        p = np.exp(logits[:, e.target]) / np.exp(logits).sum(axis=1)
        np.testing.assert_allclose(loo, p[0] - p[1:], rtol=1e-5, atol=1e-7)
        rises += int((p[1:] > p[0]).sum())
    assert rises > 0  # a removal that raises p_c: p_c(x) - p tells a difference from other combinations


def test_loo_agreement_sd_over_sentences_by_hand():
    import warnings

    net, vocab = good_model()
    perturber = Perturber(net, "pad")
    a, b = SENTENCES[0], SENTENCES[2]
    mixed = [expl(a, [float(t == "good") for t in a], vocab), expl(b, [-float(t == "good") for t in b], vocab)]
    res = loo_agreement(mixed, perturber)  # taus +1 and -1: mean 0, sample sd sqrt(2)
    assert res["kendall_tau_mean"] == pytest.approx(0.0, abs=1e-12)
    assert res["kendall_tau_sd"] == pytest.approx(np.sqrt(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sd is taken of one tau
        one = loo_agreement(mixed[:1], perturber)
    assert one["kendall_tau_mean"] == pytest.approx(1.0) and np.isnan(one["kendall_tau_sd"]) and one["n_nan"] == 0
