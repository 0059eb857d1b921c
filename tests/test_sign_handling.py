"""Sign handling of the one-signed LRP rules (docs/evaluation.md#sign-handling): a hand-set TextCNN
whose predicted class has a negative logit, where the right ranking is known on paper."""
import numpy as np
import pytest
from helpers.exact import raises_exactly
from helpers.handset import _net, vocab

from textdeconv.attribution import make_explainer
from textdeconv.attribution.engine import Analyzer
from textdeconv.errors import InputError
from textdeconv.evaluation.groundtruth import trigger_scores

CLASSES = ["negative", "positive"]


def negative_logit_net():
    """One-hot embeddings, width-1 filter k fires [word k present] (a, b, c, d). On "a b":

        z_1 = 3 [a] + 1 [b] - 5 = -1      (predicted: the larger logit, yet negative)
        z_0 = 0 [a] + 1 [b] - 9 = -8

    The contrast d_1 = z_1 - z_0 = 3 [a] + 0 [b] + 4 = 7 > 0: ``a`` is the word that decides
    class 1, ``b`` adds as much to either logit. Explaining z_1 itself, alpha-beta and z+ send the
    negative z_1 along the positive contributions (a: 3, b: 1), so a gets -0.75 and b -0.25 and a
    ranks *last*: the inverted ranking the contrast removes.
    """
    net = _net((1,), 4)
    net.convs[0].kernel.assign(np.eye(4, dtype="float32")[None])
    net.convs[0].bias.assign(np.zeros(4, "float32"))
    net.dense.kernel.assign(np.array([[0, 3], [1, 1], [0, 0], [0, 0]], "float32"))
    net.dense.bias.assign(np.array([-9.0, -5.0], "float32"))
    return net


def _scores(method, **options):
    (e,) = make_explainer(method, negative_logit_net(), vocab(), CLASSES, **options).explain([["a", "b"]])
    return e


@pytest.mark.parametrize("method", ["lrp-alpha-beta", "lrp-zplus"])
def test_the_logit_inverts_the_ranking_and_the_contrast_does_not(method):
    plain = _scores(method, contrast=False)
    assert plain.target == 1 and plain.extras["target_logit"] == pytest.approx(-1.0)
    np.testing.assert_allclose(plain.scores, [-0.75, -0.25], atol=1e-6)  # a: 3/4 of -1, b: 1/4
    assert trigger_scores(plain.scores, [0])["p_at_1"] == 0.0  # the deciding word ranks last
    e = _scores(method)  # the registry default: the contrast
    assert e.target == 1 and e.extras["target_logit"] == pytest.approx(7.0)
    # z+ passes all of d_1 = 7 to a (b's contrast weight is 0); alpha-beta keeps b+ = 4 in the
    # denominator: a gets 7 * 3 / (3 + 4) = 3 and the bias absorbs the other 4
    want = {"lrp-zplus": 7.0, "lrp-alpha-beta": 3.0}[method]
    np.testing.assert_allclose(e.scores, [want, 0.0], atol=1e-5)
    assert e.scores.sum() + e.extras["absorbed"] == pytest.approx(7.0, abs=1e-5)
    assert trigger_scores(e.scores, [0]) == {"rank": 1.0, "best_rank": 1, "p_at_1": 1.0, "p_at_k": 1.0,
                                             "recall_at_k": 1.0, "ap": 1.0, "first": 1.0}


def test_alpha_beta_1_0_is_not_zplus_when_the_bias_is_positive():
    # the contrast head's bias is +4: alpha-beta (1, 0) divides by Z+ + b+ = 7, z+ by Z+ = 3
    assert _scores("lrp-alpha-beta").scores[0] != pytest.approx(_scores("lrp-zplus").scores[0])


def test_contrast_of_the_other_class_and_of_three_classes():
    # explaining class 0 of "a b": d_0 = -7, whose only positive contribution is none (w_0 - w_1 =
    # (-3, 0, 0, 0)): nothing to pass, every word 0, all of d_0 absorbed
    net = negative_logit_net()
    (e,) = make_explainer("lrp-zplus", net, vocab(), CLASSES).explain([["a", "b"]], target=0)
    assert e.extras["target_logit"] == pytest.approx(-7.0)
    np.testing.assert_allclose(e.scores, [0.0, 0.0], atol=1e-6)
    # the mix matrix: d_c = z_c - mean of the other two, for every class of a 3-unit head
    import tensorflow as tf

    from textdeconv.attribution.engine.analysis import contrast_head
    from textdeconv.attribution.engine.graph import Step

    class Layer:
        name, compute_dtype = "head", "float32"
        kernel = tf.constant(np.eye(3, dtype="float32"))
        bias = tf.constant([1.0, 2.0, 4.0])

    step = Step(Layer(), "kernel", (1,), (), 2, None)
    head, mix = contrast_head(step, 3)
    np.testing.assert_allclose(np.array([[1.0, 2.0, 4.0]]) @ mix.numpy(), [[1 - 3.0, 2 - 2.5, 4 - 1.5]], atol=1e-6)
    np.testing.assert_allclose(head.layer.bias.numpy(), [1 - 3.0, 2 - 2.5, 4 - 1.5], atol=1e-6)


def test_contrast_is_refused_where_the_map_is_signed():
    with raises_exactly(InputError, "lrp-epsilon: contrast applies to lrp-alpha-beta and lrp-zplus only (their "
                                    "maps take the explained value's sign)"):
        Analyzer(negative_logit_net().model, "lrp-epsilon", contrast=True)
    with raises_exactly(InputError, "lrp-zplus: contrast must be one of True, False, got 'yes'"):
        make_explainer("lrp-zplus", negative_logit_net(), vocab(), CLASSES, contrast="yes")


def test_every_user_path_explains_the_contrast_unless_told_the_logit(tmp_path):
    """td.explain_model and `explain --model` explain what `explain --run` does (the contrast);
    only the low-level analyzer() keeps the logit by default, for the peer comparisons."""
    import argparse

    from textdeconv import explain_model
    from textdeconv.cli.explain_model import engine_options

    net, words = negative_logit_net(), vocab().itos  # width-1 filters: no Kim padding to add
    for method, a_score in (("lrp-zplus", 7.0), ("lrp-alpha-beta", 3.0)):
        (e,) = explain_model(net.model, [["a", "b"]], vocabulary=words, method=method, class_names=CLASSES)
        assert e.scores.tolist() == pytest.approx([a_score, 0.0]) and e.extras["target_logit"] == pytest.approx(7)
        (e,) = explain_model(net.model, [["a", "b"]], vocabulary=words, method=method, class_names=CLASSES,
                             contrast=False)
        assert e.scores.tolist() == pytest.approx([-0.75, -0.25])
        assert engine_options(method, argparse.Namespace(contrast=None)) == {"contrast": True}
        assert engine_options(method, argparse.Namespace(contrast=False)) == {"contrast": False}
    assert Analyzer(net.model, "lrp-zplus").contrast is False


def test_the_logit_flag_is_refused_where_no_chosen_method_takes_it():
    from conftest import run_cli

    proc = run_cli("-m", "textdeconv", "explain", "a fine film", "--method", "deconv", "--logit")
    assert proc.returncode == 2 and "error: --logit applies to lrp-alpha-beta, lrp-zplus only, not deconv" \
        in proc.stderr
    proc = run_cli("-m", "textdeconv", "explain", "--model", "m.keras", "--vocab", "v.txt", "a fine film",
                   "--method", "deconvnet", "--logit")
    assert proc.returncode == 2 and "error: --logit applies to lrp-alpha-beta, lrp-zplus only, not deconvnet\n" \
        in proc.stderr
