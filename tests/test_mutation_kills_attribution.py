"""Targets, refusals and small identities of the attribution base classes that the attribution tests
did not reach (bench/mutation.py found their lines unexecuted): exact values and messages."""
import numpy as np
import pytest
from helpers.exact import raises_exactly
from tiny_models import tiny_net, tiny_vocab

from textdeconv.attribution import make_explainer
from textdeconv.attribution.explanation import Explainer, Explanation, _softmax, resolve_target
from textdeconv.attribution.perturb import check_replacement
from textdeconv.attribution.random_baseline import RandomAttribution
from textdeconv.errors import InputError

CLASSES = ["negative", "positive", "neutral"]


def test_resolve_target_by_name_index_and_text():
    assert resolve_target(None, CLASSES) == -1
    assert resolve_target(" Positive ", CLASSES) == 1  # names are stripped and compared case-insensitively
    assert resolve_target("2", CLASSES) == 2 and resolve_target(0, CLASSES) == 0
    assert resolve_target(np.int64(2), CLASSES) == 2
    unknown = "unknown target class 'good'; choose one of negative, positive, neutral or an index 0-2"
    with raises_exactly(InputError, unknown):
        resolve_target("good", CLASSES)
    with raises_exactly(InputError, "target class index 3 out of range 0-2 (negative, positive, neutral)"):
        resolve_target(3, CLASSES)
    with raises_exactly(InputError, "target class index -1 out of range 0-2 (negative, positive, neutral)"):
        resolve_target("-1", CLASSES)
    for bad in (True, np.bool_(False), 1.0):
        with raises_exactly(InputError, f"target must be a class name or index, got {bad!r}"):
            resolve_target(bad, CLASSES)


def test_explanation_probability_and_in_vocab():
    e = Explanation(tokens=["a", "zzz"], token_ids=np.array([5, 1]), scores=np.zeros(2), target=2, target_name="",
                    predicted=0, predicted_name="", probs=np.array([0.5, 0.125, 0.375]), method="hand")
    assert e.probability == 0.375 and e.in_vocab.tolist() == [True, False] and e.extras == {}


def test_softmax_by_hand():
    p = _softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))  # a large logit must not overflow
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-12)


def test_explain_refuses_strings_empty_sentences_and_unaligned_targets():
    explainer = make_explainer("random", tiny_net(), tiny_vocab(), ["negative", "positive"])
    with raises_exactly(InputError, "sentences must be token lists, e.g. [vocab.tokenize('a fine film')], not strings"):
        explainer.explain(["good movie"])
    with raises_exactly(InputError, "sentence 1 is empty; nothing to explain"):
        explainer.explain([["good"], []])
    with raises_exactly(InputError, "got 1 targets for 2 sentences"):
        explainer.explain([["good"], ["bad"]], target=[0])
    with raises_exactly(NotImplementedError, ""):
        Explainer(tiny_net(), tiny_vocab(), ["negative", "positive"]).explain([["good"]])
    one, two = explainer.explain([["good", "movie"], ["bad"]], target=["positive", 0])
    assert (one.target, two.target, one.target_name, two.target_name) == (1, 0, "positive", "negative")
    assert one.method == "random" and one.probs.sum() == pytest.approx(1.0)


def test_bad_settings_of_the_perturbation_methods_are_refused():
    with raises_exactly(InputError, "unknown replacement 'zero'; choose one of pad, unk, delete"):
        check_replacement("zero")
    with raises_exactly(InputError, "internal_batch_size must be >= 1, got 0"):
        make_explainer("occlusion", tiny_net(), tiny_vocab(), ["negative", "positive"], internal_batch_size=0)
    net = tiny_net()
    for seed in (-1, True, 1.5):  # the class's own check, behind the registry's
        with raises_exactly(InputError, f"seed must be a non-negative integer, got {seed!r}"):
            RandomAttribution(net, tiny_vocab(), ["negative", "positive"], seed=seed)
    assert RandomAttribution(net, tiny_vocab(), ["negative", "positive"], seed=0).seed == 0


def test_reduce_scores_by_hand_for_a_reduction_name_built_at_run_time():
    import tensorflow as tf

    from textdeconv.attribution.gradient import reduce_scores

    grad = tf.constant([[[3.0, -4.0], [1.0, 0.0]]])
    emb = tf.constant([[[2.0, 1.0], [5.0, 7.0]]])
    l2 = "".join(["l", "2"])  # equal to "l2", not the same object: names are compared by value
    np.testing.assert_array_equal(reduce_scores(grad, emb, l2).numpy(), [[5.0, 1.0]])
    np.testing.assert_array_equal(reduce_scores(grad, emb, "".join(["s", "um"])).numpy(), [[-1.0, 1.0]])
    np.testing.assert_array_equal(reduce_scores(grad, emb, "dot").numpy(), [[2.0, 5.0]])
