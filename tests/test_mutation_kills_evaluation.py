"""Refusals and boundaries of the metric modules that no other test reached (bench/mutation.py found
their lines unexecuted): each input is refused with its exact type and message, and the value
just inside each boundary is accepted. No model: every check runs before one would be used."""
import types
import warnings

import numpy as np
import pytest
from helpers.exact import raises_exactly

from textdeconv.attribution.explanation import Explanation
from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import check_explanations, target_probs
from textdeconv.evaluation.plausibility import plausibility
from textdeconv.evaluation.rationales import eraser_plausibility
from textdeconv.evaluation.robustness import infidelity, max_sensitivity
from textdeconv.evaluation.sanity import class_sensitivity, correlations, reinitialize, spearman, summarize


def expl(scores, target=1):
    n = len(scores)
    return Explanation(tokens=[f"w{i}" for i in range(n)], token_ids=np.arange(2, 2 + n),
                       scores=np.asarray(scores, float), target=target, target_name="", predicted=target,
                       predicted_name="", probs=np.array([0.5, 0.5]), method="hand")


TWO_CLASSES = types.SimpleNamespace(net=types.SimpleNamespace(num_classes=2))  # only its class count is read


def test_check_explanations_refuses_each_bad_input_exactly():
    with raises_exactly(InputError, "no explanations to evaluate"):
        check_explanations([], 2)
    with raises_exactly(InputError, "explanation 1 has no tokens"):
        check_explanations([expl([1.0]), expl([])], 2)
    bad = expl([1.0, 2.0])
    bad.scores = np.ones(3)
    with raises_exactly(InputError, "explanation 0: scores have shape (3,), expected (2,)"):
        check_explanations([bad], 2)
    with raises_exactly(InputError, "explanation 0: target 2 out of range for a 2-class model"):
        check_explanations([expl([1.0], target=2)], 2)
    with raises_exactly(InputError, "explanation 0: target -1 out of range for a 2-class model"):
        check_explanations([expl([1.0], target=-1)], 2)
    ok = [expl([1.0], target=0), expl([0.5, -0.5], target=1)]
    assert check_explanations(iter(ok), 2) == ok  # both ends of the class range, and a generator becomes a list


def test_target_probs_needs_as_many_masks_for_every_sentence():
    masks = [[np.zeros(1, bool)], [np.zeros(2, bool), np.ones(2, bool)]]
    with raises_exactly(ValueError, "every sentence needs the same number of perturbations"):
        target_probs([expl([1.0]), expl([1.0, 2.0])], None, masks)


def test_plausibility_refuses_no_explanations_unaligned_lists_and_labels_outside_0_to_4():
    with raises_exactly(InputError, "no explanations to evaluate"):
        plausibility([], [])
    with raises_exactly(InputError, "got 1 explanations and 2 label lists"):
        plausibility([expl([1.0])], [[2], [2]])
    with raises_exactly(InputError, "sentence 0: word labels must be 0-4, got [5, 2]"):
        plausibility([expl([1.0, 2.0])], [[5, 2]])
    with raises_exactly(InputError, "sentence 0: word labels must be 0-4, got [-1, 2]"):
        plausibility([expl([1.0, 2.0])], [[-1, 2]])
    # 0 and 4 are labels: the word labelled 4 scores highest, so the detection is perfect
    res = plausibility([expl([0.5, 2.0, 0.1])], [[0, 4, 2]], positive_class=1)
    assert res["micro_ap"] == 1.0 and res["n_sentiment_words"] == 2
    assert res["sign_agreement"] == 0.5  # the positive score on the word labelled 0 disagrees


def test_eraser_plausibility_refuses_unaligned_lists_and_a_fraction_outside_0_to_1():
    with raises_exactly(InputError, "got 1 explanations and 0 label lists"):
        eraser_plausibility([expl([1.0])], [])
    for fraction in (0.0, -0.5, 1.5):
        with raises_exactly(InputError, f"fraction must lie in (0, 1], got {fraction}"):
            eraser_plausibility([expl([1.0, 2.0])], [[3, 2]], fraction=fraction)


def test_infidelity_and_max_sensitivity_refuse_their_bad_settings():
    for n, p in ((0, 0.5), (1, 0.0), (1, 1.0), (1, -0.5)):
        with raises_exactly(InputError, f"need n_samples >= 1 and drop_prob in (0, 1), got {n} and {p}"):
            infidelity([expl([1.0, 2.0])], TWO_CLASSES, n_samples=n, drop_prob=p)
    for n, r in ((0, 0.02), (1, 0.0), (1, -0.1)):
        with raises_exactly(InputError, f"need n_samples >= 1 and radius > 0, got {n} and {r}"):
            max_sensitivity(None, None, [["good"]], n_samples=n, radius=r)


def test_spearman_and_correlations_refuse_unaligned_inputs():
    with raises_exactly(InputError, "score vectors differ in shape: (2,) vs (3,)"):
        spearman(np.ones(2), np.ones(3))
    with raises_exactly(InputError, "got 1 and 2 explanations; they must align"):
        correlations([expl([1.0])], [expl([1.0]), expl([2.0])])
    assert spearman([1, 2], [2, 1]) == pytest.approx(-1.0)  # two tokens are enough for a ranking
    assert np.isnan(spearman([1], [1])) and np.isnan(spearman([1, 1], [1, 2])) and np.isnan(spearman([1, 2], [3, 3]))


def test_class_sensitivity_refuses_one_class_twice_at_any_index():
    """Past index 256 two equal ints are not the same object: the check compares values."""
    explainer = types.SimpleNamespace(class_names=[f"c{i}" for i in range(300)])  # read before any explanation
    for a, b in ((299, 299), ("c280", 280), (None, 1), (1, None)):
        with raises_exactly(InputError, f"class_sensitivity needs two different classes, got {a!r} and {b!r}"):
            class_sensitivity(explainer, [["good"]], a, b)


def test_summarize_by_hand():
    res = summarize(np.array([0.5, np.nan, -0.5, 1.0]))  # mean 1/3; squared deviations 1/36 + 25/36 + 16/36
    assert res["spearman_mean"] == pytest.approx(1 / 3) and res["spearman_sd"] == pytest.approx(np.sqrt(7 / 12))
    assert res["abs_spearman_mean"] == pytest.approx(2 / 3) and (res["n_nan"], res["n_sentences"]) == (1, 4)
    assert summarize(np.array([0.2, 0.4]))["spearman_sd"] == pytest.approx(np.sqrt(0.02))  # ddof=1: over n - 1 = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sd is taken of one value (NumPy would warn: degrees of freedom <= 0)
        one = summarize(np.array([0.3, np.nan]))
        none = summarize(np.array([np.nan, np.nan]))
    assert one["spearman_mean"] == pytest.approx(0.3) and np.isnan(one["spearman_sd"])
    assert all(np.isnan(none[k]) for k in ("spearman_mean", "spearman_sd", "abs_spearman_mean")) and none["n_nan"] == 2


class Variable:
    """What ``reinitialize`` uses of a Keras variable: ``numpy()`` and ``assign``."""

    def __init__(self, values):
        self.values = np.asarray(values, np.float32)

    def numpy(self):
        return self.values

    def assign(self, values):
        self.values = np.asarray(values)


def test_reinitialize_draws_at_the_std_or_the_rms_of_a_constant():
    for values, scale in (([1.0, 3.0], 1.0), ([3.0, 3.0, 3.0], 3.0), ([-2.0], 2.0)):
        v = Variable(values)
        reinitialize(v, np.random.default_rng(7))
        expected = np.random.default_rng(7).normal(0.0, scale, size=len(values))  # float64, as reinitialize draws
        np.testing.assert_array_equal(v.values, expected)
    zero = Variable([0.0, 0.0])
    reinitialize(zero, np.random.default_rng(7))
    np.testing.assert_array_equal(zero.values, [0.0, 0.0])  # an all-zero variable stays zero


def test_class_sensitivity_takes_the_classes_in_either_order():
    from tiny_models import tiny_net, tiny_vocab

    from textdeconv.attribution import make_explainer

    explainer = make_explainer("random", tiny_net(), tiny_vocab(), ["negative", "positive"])
    for a, b in ((1, 0), ("negative", "positive")):
        res = class_sensitivity(explainer, [["good", "movie", "plot"], ["bad", "fun"]], a, b)
        # the random baseline's scores do not depend on the class: both explanations are equal
        assert res["identical_fraction"] == 1.0 and res["spearman_mean"] == pytest.approx(1.0)


def test_kendall_of_two_tokens_and_of_a_score_range_of_one():
    from textdeconv.evaluation.agreement import kendall

    assert kendall([0, 1], [0, 1]) == pytest.approx(1.0) and kendall([0, 1], [1, 0]) == pytest.approx(-1.0)
    # tau-b of (0, 1, 1) and (1, 2, 3): concordant 2, discordant 0, one tie in a only: 2 / sqrt(2 * 3)
    assert kendall([0, 1, 1], [1, 2, 3]) == pytest.approx(2 / np.sqrt(6))


def test_loo_agreement_counts_undefined_taus_and_never_warns(monkeypatch):
    """Sentences whose tau is undefined (one word) are counted, not averaged; with none defined the
    mean and sd are NaN without a NumPy warning (two survivors of bench/mutation.py on agreement.py)."""
    from textdeconv.evaluation import agreement

    drops = {3: np.array([0.3, 0.1, 0.2]), 1: np.array([0.5])}
    monkeypatch.setattr(agreement, "loo_scores", lambda expls, perturber: [drops[len(e.scores)] for e in expls])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = agreement.loo_agreement([expl([3.0, 1.0, 2.0]), expl([1.0]), expl([2.0])], TWO_CLASSES)
        assert (res["n_nan"], res["n_sentences"], res["kendall_tau_mean"]) == (2, 3, 1.0)
        assert np.isnan(res["kendall_tau_sd"])  # one defined tau: no sample sd
        none = agreement.loo_agreement([expl([1.0]), expl([2.0])], TWO_CLASSES)
    assert (none["n_nan"], none["n_sentences"]) == (2, 2)
    assert np.isnan(none["kendall_tau_mean"]) and np.isnan(none["kendall_tau_sd"])
