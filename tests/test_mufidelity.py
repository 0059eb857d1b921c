"""MuFidelity (Bhatt et al., 2020): hand-computed correlations, the additive model where it is 1,
the subsets it removes, and its column in the evaluation table."""
import numpy as np
import pytest
from helpers.exact import raises_exactly
from helpers.handset import additive_net, vocab

from textdeconv.attribution import make_explainer
from textdeconv.attribution.perturb import Perturber
from textdeconv.errors import InputError
from textdeconv.evaluation.robustness import mufidelity, pearson_rows

CLASSES = ["neg", "pos"]


def test_pearson_rows_by_hand():
    """(1, 2, 3) against (2, 4, 7): deviations (-1, 0, 1) and (-7/3, -1/3, 8/3), covariance sum 5,
    norms sqrt(2) and sqrt(114)/3: r = 15 / sqrt(228). A constant row has no correlation."""
    r = pearson_rows([[1, 2, 3], [1, 2, 3], [1, 1, 1]], [[2, 4, 7], [-2, -4, -7], [1, 2, 3]])
    assert r[0] == pytest.approx(15 / np.sqrt(228), abs=1e-12)
    assert r[1] == pytest.approx(-15 / np.sqrt(228), abs=1e-12)
    assert np.isnan(r[2])
    # 0.1 repeated: its mean is not exactly 0.1, so the centred row is ~1e-17 and not 0; the formula alone
    # would give 0.0 against (0, 1, ..., 6). Constant rows are found by ptp == 0 before any rounding.
    assert np.isnan(pearson_rows(np.full((1, 7), 0.1), np.arange(7.0)[None])[0])
    assert np.isnan(pearson_rows(np.arange(7.0)[None], np.full((1, 7), 0.1))[0])


def test_mufidelity_is_one_on_an_additive_model_with_gradient_x_input():
    """additive_net: removing a subset S lowers logit_1 by the sum of S's weights, and grad x input
    gives each word exactly its weight (one-hot embeddings, a width-1 filter per word), so the sum
    of the removed scores IS the drop: correlation 1. Negated scores: -1."""
    net, v = additive_net(), vocab()
    sentences = [["a", "b", "c", "d"], ["d", "c", "a"], ["b", "a", "d", "c"]]
    expls = make_explainer("grad-x-input", net, v, CLASSES).explain(sentences, target="pos")
    np.testing.assert_allclose(expls[0].scores, [1.0, 2.0, -3.0, 0.5], atol=1e-6)
    res = mufidelity(expls, Perturber(net, "pad"), n_samples=20, subset_fraction=0.5)
    np.testing.assert_allclose(res["per_sentence"], 1.0, atol=1e-6)
    assert res["mufidelity_mean"] == pytest.approx(1.0, abs=1e-6) and res["n_undefined"] == 0
    for e in expls:
        e.scores = -e.scores
    assert mufidelity(expls, Perturber(net, "delete"), n_samples=20, subset_fraction=0.5)["mufidelity_mean"] == \
        pytest.approx(-1.0, abs=1e-6)


def test_mufidelity_removes_uniform_subsets_of_the_set_size_and_skips_undefined_sentences():
    net, v = additive_net(), vocab()
    expls = make_explainer("occlusion", net, v, CLASSES).explain([["a", "b", "c", "d"], ["b"]], target="pos")
    seen = []

    class Recording(Perturber):
        def logits(self, ids_list, drop_masks=None):
            seen.extend(np.asarray(d, bool) for d in drop_masks)
            return super().logits(ids_list, drop_masks)

    res = mufidelity(expls, Recording(net, "pad"), n_samples=30, subset_fraction=0.5, seed=7)
    # per sentence: the sentence itself, then 30 subsets of round(0.5 n) words (the one-word one: 1)
    first, second = seen[:31], seen[31:]
    assert not first[0].any() and all(d.sum() == 2 for d in first[1:])
    assert len({tuple(d) for d in first[1:]}) > 1
    assert not second[0].any() and all(d.sum() == 1 for d in second[1:])
    assert res["n_undefined"] == 1 and np.isnan(res["per_sentence"][1])  # one word: every subset the same
    assert res["mufidelity_mean"] == pytest.approx(res["per_sentence"][0]) == pytest.approx(1.0, abs=1e-6)
    again = mufidelity(expls, Perturber(net, "pad"), n_samples=30, subset_fraction=0.5, seed=7)
    np.testing.assert_array_equal(again["per_sentence"], res["per_sentence"])
    with raises_exactly(InputError, "need n_samples >= 2 and subset_fraction in (0, 1), got 1 and 0.5"):
        mufidelity(expls, Perturber(net, "pad"), n_samples=1, subset_fraction=0.5)


def test_pearson_rows_clips_a_rounding_overshoot_to_exactly_one():
    """(1, 1, 2) against 0.3 times itself: the formula gives 1.0000000000000002 (and its negation
    -1.0000000000000002) in float64; a correlation is never outside [-1, 1]."""
    a, b = np.array([[1.0, 1.0, 2.0]]), np.array([[0.3, 0.3, 0.6]])
    assert pearson_rows(a, b)[0] == 1.0 and pearson_rows(a, -b)[0] == -1.0


def test_mufidelity_defaults_and_every_bound_of_its_arguments():
    """The documented defaults (50 subsets of 20 % of the words, seed 0) and the refusals at each
    edge: n_samples 2 is the least, subset_fraction strictly between 0 and 1, no bool for a count."""
    net, v = additive_net(), vocab()
    expls = make_explainer("occlusion", net, v, CLASSES).explain([["a", "b", "c", "d", "a"], ["d", "c"]],
                                                                  target="pos")
    for e in expls:  # scores that are not the exact decomposition: the correlation depends on the subsets
        e.scores = np.arange(len(e.tokens), dtype=np.float64) ** 2
    default = mufidelity(expls, Perturber(net, "pad"))
    explicit = mufidelity(expls, Perturber(net, "pad"), n_samples=50, subset_fraction=0.2, seed=0)
    assert default["n_samples"] == 50 and default["subset_fraction"] == 0.2
    np.testing.assert_array_equal(default["per_sentence"], explicit["per_sentence"])
    defined = default["per_sentence"][~np.isnan(default["per_sentence"])]
    assert len(defined) and default["mufidelity_median"] == np.median(defined)
    other_seed = mufidelity(expls, Perturber(net, "pad"), n_samples=50, subset_fraction=0.2, seed=1)
    assert not np.allclose(other_seed["per_sentence"][0], explicit["per_sentence"][0])  # the seed matters
    assert mufidelity(expls, Perturber(net, "pad"), n_samples=2, subset_fraction=0.5)["n_samples"] == 2
    for n, f in ((1, 0.5), (0, 0.5), (2, 0.0), (2, 1.0), (2, -0.5), (2, 1.5), (True, 0.5), (3.0, 0.5)):
        with raises_exactly(InputError, f"need n_samples >= 2 and subset_fraction in (0, 1), got {n} and {f}"):
            mufidelity(expls, Perturber(net, "pad"), n_samples=n, subset_fraction=f)


def test_mufidelity_sits_beside_infidelity():
    from textdeconv.evaluation.report import COLUMNS

    assert COLUMNS["mufidelity"] == "higher"
    assert list(COLUMNS).index("mufidelity") == list(COLUMNS).index("infidelity") + 1


@pytest.mark.slow
def test_the_evaluation_table_has_a_mufidelity_column():
    from textdeconv.evaluation.report import evaluate_methods, to_markdown

    net, v = additive_net(), vocab()
    sentences = [["a", "b", "c", "d"], ["d", "c", "a", "b"], ["c", "a"]]
    labels = [[3, 4, 0, 2], [2, 0, 3, 4], [0, 3]]
    report = evaluate_methods(net, v, CLASSES, sentences, labels, ["grad-x-input", "random"], sanity_n=2,
                              positive_class=1, sensitivity_samples=1)
    table = report.table.set_index("method")
    # explained: the predicted class, positive for the first two (logit_1 0.75 > 0), where grad x input
    # is exact; negative for "c a" (logit_1 -1.75), whose logit_0 = 0 never moves: undefined, left out
    assert table.loc["grad-x-input", "mufidelity"] == pytest.approx(1.0, abs=1e-6)
    assert table.loc["random", "mufidelity"] < 0.99
    assert "mufidelity (↑)" in to_markdown(report.table)
