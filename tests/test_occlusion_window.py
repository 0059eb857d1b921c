"""occlusion-window: Captum's sliding-window occlusion over tokens (stride 1, the drop of each
window averaged over the windows covering a word), checked by hand on an additive model."""
import numpy as np
import pytest
from helpers.exact import raises_exactly
from helpers.handset import additive_net, vocab

from textdeconv.attribution import make_explainer
from textdeconv.errors import InputError

CLASSES = ["neg", "pos"]


@pytest.mark.parametrize("replacement", ["pad", "unk", "delete"])
def test_window_drops_are_averaged_over_the_windows_covering_a_word(replacement):
    """additive_net: removing words lowers logit_1 by the sum of their weights (a 1, b 2, c -3,
    d 0.5). "a b c d", width 2: windows {a b}, {b c}, {c d} drop 3, -1, -2.5; a is in the first
    only (3), b in the first two ((3 - 1) / 2 = 1), c in the last two ((-1 - 2.5) / 2 = -1.75), d
    in the last (-2.5). Width 3: windows {a b c}, {b c d} drop 0, -0.5: a 0, b and c -0.25, d -0.5."""
    net, v = additive_net(), vocab()
    sentence = [["a", "b", "c", "d"]]
    (w2,) = make_explainer("occlusion-window", net, v, CLASSES, width=2, replacement=replacement).explain(
        sentence, target="pos")
    np.testing.assert_allclose(w2.scores, [3.0, 1.0, -1.75, -2.5], atol=1e-5)
    (w3,) = make_explainer("occlusion-window", net, v, CLASSES, width=3, replacement=replacement).explain(
        sentence, target="pos")
    np.testing.assert_allclose(w3.scores, [0.0, -0.25, -0.25, -0.5], atol=1e-5)
    assert w2.method == w3.method == "occlusion-window"


def test_a_sentence_shorter_than_the_window_is_one_window():
    """"b c" with width 5: the only window is the whole sentence, whose removal drops 2 - 3 = -1."""
    (e,) = make_explainer("occlusion-window", additive_net(), vocab(), CLASSES, width=5).explain(
        [["b", "c"]], target="pos")
    np.testing.assert_allclose(e.scores, [-1.0, -1.0], atol=1e-5)


def test_window_masks_are_captums_stride_one_windows():
    from textdeconv.attribution.occlusion import windows

    np.testing.assert_array_equal(windows(5, 3), [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(windows(2, 4), [[1, 1]])
    np.testing.assert_array_equal(windows(1, 2), [[1]])


def test_batched_equals_one_by_one_and_width_is_checked():
    from tiny_models import random_sentences, tiny_net, tiny_vocab

    net, v = tiny_net(seed=5), tiny_vocab()
    sentences = random_sentences(7, np.random.default_rng(0))
    explainer = make_explainer("occlusion-window", net, v, CLASSES, width=4)
    together = explainer.explain(sentences)
    for s, e in zip(sentences, together):
        (alone,) = explainer.explain([s])
        np.testing.assert_allclose(e.scores, alone.scores, atol=1e-5)
    for width in (1, 6, True):
        with raises_exactly(InputError, f"occlusion-window: width must be one of 2, 3, 4, 5, got {width!r}"):
            make_explainer("occlusion-window", net, v, CLASSES, width=width)


def test_rows_of_padding_alone_have_no_scores():
    """reports.stream.warm_up traces every explainer on rows of padding alone (n = 0 words)."""
    from tiny_models import tiny_net, tiny_vocab

    from textdeconv.data.vocab import pad_batch

    net = tiny_net()  # widths 2, 3: pad 2 (a width-1 model has no row of padding alone)
    res = make_explainer("occlusion-window", net, tiny_vocab(), CLASSES).attribute_ids(
        pad_batch([[]] * 2, net.pad), np.full(2, -1, np.int32))
    assert res["scores"].shape == (2, 4) and not res["scores"].any()


def test_a_method_flag_no_chosen_method_takes_is_refused():
    """Refused before TensorFlow loads, instead of being ignored."""
    from conftest import run_cli

    proc = run_cli("-m", "textdeconv", "explain", "a fine film", "--method", "deconv", "--width", "2")
    assert proc.returncode == 2 and "error: --width applies to occlusion-window only, not deconv" in proc.stderr
    proc = run_cli("-m", "textdeconv", "explain", "a fine film", "--method", "occlusion", "--html", "x.html",
                   "--html-methods", "occlusion", "gradient", "--seed", "1")
    assert proc.returncode == 2 and "error: --seed applies to random, shap, lime only, not occlusion, gradient" \
        in proc.stderr
    proc = run_cli("-m", "textdeconv", "explain", "a fine film", "--method", "occlusion-window", "--width", "7")
    assert proc.returncode == 2 and "occlusion-window: width must be one of 2, 3, 4, 5, got 7" in proc.stderr


def test_methods_needing_an_optional_library_are_named_not_defaulted():
    from textdeconv.attribution import DEFAULT_METHODS, METHOD_NAMES, get_method

    assert {"shap", "lime", "occlusion-window"} <= set(METHOD_NAMES)
    assert "occlusion-window" in DEFAULT_METHODS and not {"shap", "lime"} & set(DEFAULT_METHODS)
    assert [get_method(m).extra for m in ("shap", "lime", "occlusion-window")] == ["shap", "lime", ""]
    assert get_method("occlusion-window").family == get_method("shap").family == "perturbation"
