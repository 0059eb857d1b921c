"""Baseline attribution methods against exact identities, independent implementations and hand
computation (the hand model is test_deconv's: widths 1 and 2, one filter each, 2-d embeddings)."""
import functools

import numpy as np
import pytest
import tensorflow as tf
from tiny_models import VARIANTS, random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution import make_explainer, method_names
from textdeconv.attribution.random_baseline import sentence_scores
from textdeconv.config import ModelConfig
from textdeconv.data.vocab import PAD, UNK, Vocab, pad_batch
from textdeconv.model.textcnn import TextCNN, build_model

pytestmark = pytest.mark.numerics  # run with oneDNN on and off by .ci/run

CLASSES = ["neg", "pos"]


@functools.cache
def net_for(variant):
    return tiny_net(variant, widths=(2, 3), seed=VARIANTS.index(variant) + 11)


@functools.cache
def explainer(method, variant="multichannel"):
    """One explainer per (method, variant), shared by the tests so each traces its graph once."""
    return make_explainer(method, net_for(variant), tiny_vocab(), CLASSES)


def batch(net, vocab, sentences):
    return pad_batch([vocab.encode(s) for s in sentences], net.pad)


def hand_model():
    """test_deconv's hand model. "good bad" -> [PAD good bad PAD]; good = e1, bad = e2.
    width 1: k = (2, -1), b = 0; width 2: k0 = (1, 0), k1 = (0, -.5), b = .1;
    W = [[1, -2], [3, 1.5]] (rows: filters), output bias (.2, -.1)."""
    vocab = Vocab([PAD, UNK, "good", "bad"])
    cfg = ModelConfig(embedding_dim=2, filter_sizes=(1, 2), num_filters=1, max_norm=None)
    net = TextCNN(build_model(cfg, 4, 2))
    net.tables[0].embeddings.assign([[0, 0], [0, 0], [1, 0], [0, 1]])
    net.convs[0].kernel.assign(np.array([[[2.0], [-1.0]]]))
    net.convs[0].bias.assign([0.0])
    net.convs[1].kernel.assign(np.array([[[1.0], [0.0]], [[0.0], [-0.5]]]))
    net.convs[1].bias.assign([0.1])
    net.dense.kernel.assign([[1.0, -2.0], [3.0, 1.5]])
    net.dense.bias.assign([0.2, -0.1])
    return net, vocab


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("method", method_names())
def test_every_method_returns_one_explanation_per_sentence(method, variant):
    net, vocab = net_for(variant), tiny_vocab()
    sentences = random_sentences(5, np.random.default_rng(0))
    targets = [None, 0, 1, None, 1]
    expls = explainer(method, variant).explain(sentences, target=targets)
    probs = net.model(batch(net, vocab, sentences), training=False).numpy()  # the model's own softmax
    assert len(expls) == len(sentences)
    for e, s, t, p in zip(expls, sentences, targets, probs):
        assert e.method == method and e.tokens == s
        assert e.scores.shape == (len(s),) and np.all(np.isfinite(e.scores))
        np.testing.assert_allclose(e.probs, p, atol=1e-5)
        assert e.predicted == int(p.argmax()) and e.predicted_name == CLASSES[e.predicted]
        assert e.target == (e.predicted if t is None else t) and e.target_name == CLASSES[e.target]
    assert any(np.abs(e.scores).max() > 1e-4 for e in expls)  # not all zero


@pytest.mark.parametrize("method", method_names())
def test_batched_equals_one_by_one(method):
    sentences = random_sentences(8, np.random.default_rng(1), max_len=12)
    x = explainer(method)
    together = x.explain(sentences, target=[0, 1, None, 1, 0, None, 1, 0], batch_size=64)
    for s, t, e in zip(sentences, [0, 1, None, 1, 0, None, 1, 0], together):
        alone = x.explain([s], target=t)[0]
        assert alone.target == e.target and alone.tokens == e.tokens == s
        np.testing.assert_allclose(e.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(e.probs, alone.probs, atol=1e-6)


def tape_gradient(net, ids, target):
    emb = net.embed(ids)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        logit = net.logits_from_embeddings(emb, ids)[:, target]
    return tape.gradient(logit, emb).numpy(), emb.numpy()


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_methods_match_the_tape_and_grad_x_input_equals_deconv(variant):
    net, vocab = net_for(variant), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(2))
    ids, pad = batch(net, vocab, sentences), net.pad
    for target in (0, 1):
        grad, emb = tape_gradient(net, ids, target)
        expected = {"gradient": grad.sum(-1), "gradient-l2": np.linalg.norm(grad, axis=-1),
                    "grad-x-input": (grad * emb).sum(-1)}
        deconv = explainer("deconv", variant).explain(sentences, target=target)
        for method, ref in expected.items():
            for i, (e, s) in enumerate(zip(explainer(method, variant).explain(sentences, target=target), sentences)):
                np.testing.assert_allclose(e.scores, ref[i, pad:pad + len(s)], atol=1e-5)
                if method == "grad-x-input":  # the deconvnet's class-evidence scores are gradient x input
                    np.testing.assert_allclose(e.scores, deconv[i].scores, atol=1e-5)
        assert np.abs(grad).max() > 1e-3


@pytest.mark.parametrize("variant", VARIANTS)
def test_integrated_gradients_completeness_tightens_with_steps(variant):
    net, vocab = net_for(variant), tiny_vocab()
    sentences = random_sentences(8, np.random.default_rng(3), max_len=12)
    ids = batch(net, vocab, sentences)
    logits = net.forward(ids).logits.numpy()
    base = net.logits_from_embeddings(tf.zeros_like(net.embed(ids)), ids).numpy()  # PAD-embedding baseline
    gaps = {}
    for steps in (8, 256):
        expls = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=steps).explain(sentences)
        diff = np.array([logits[i, e.target] - base[i, e.target] for i, e in enumerate(expls)])
        delta = np.array([e.scores.sum() - d for e, d in zip(expls, diff)])
        np.testing.assert_allclose([e.extras["delta"] for e in expls], delta, atol=1e-5)
        assert all(e.extras["pad_score"] == 0.0 for e in expls)  # emb - baseline is zero on padding
        gaps[steps] = np.abs(delta)
    assert np.all(gaps[256] < 0.01 * np.abs(diff) + 1e-3)
    assert gaps[256].sum() < gaps[8].sum()


def test_integrated_gradients_options_and_chunking():
    net, vocab = net_for("rand"), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(4))
    ref = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=20).explain(sentences)
    # one interpolated sentence per gradient call: chunking must not change the sum
    small = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=20, internal_batch_size=1)
    for a, b in zip(ref, small.explain(sentences)):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    trap = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=200, rule="trapezoid").explain(sentences)
    unk = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=200, baseline="unk").explain(sentences)
    for t, u in zip(trap, unk):
        gap = abs(t.scores.sum() - t.extras["delta"])
        assert abs(t.extras["delta"]) < 0.02 * gap + 1e-3
        assert np.isfinite(u.extras["delta"]) and np.isfinite(u.extras["baseline_logit"])
    for bad in ({"steps": 0}, {"baseline": "mean"}, {"rule": "simpson"}):
        with pytest.raises(ValueError, match="steps must be an integer >= 1|baseline must be one of zero, unk, got "
                                             "'mean'|rule must be one of midpoint, trapezoid"):
            make_explainer("integrated-gradients", net, vocab, CLASSES, **bad)


def test_integrated_gradients_on_a_linear_path_is_exact():
    # class 0 along alpha * emb("good bad"): width 1 max = 2 alpha (at good), width 2 max = .5 alpha + .1
    # (at good bad), so logit_0 = 2 alpha + 3 (.5 alpha + .1) + .2 = 3.5 alpha + .5 is linear and IG is
    # gradient x input with any number of steps: good = (2,-1).e1 + 3 (1,0).e1 = 5, bad = 3 (0,-.5).e2 = -1.5
    net, vocab = hand_model()
    for steps in (1, 3):
        ig = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=steps)
        e = ig.explain([["good", "bad"]], target=0)[0]
        np.testing.assert_allclose(e.scores, [5.0, -1.5], atol=1e-5)
        assert e.extras["baseline_logit"] == pytest.approx(0.5)
        assert e.extras["delta"] == pytest.approx(0.0, abs=1e-5)  # 3.5 = 4.0 - 0.5


def test_occlusion_by_hand():
    # x = [PAD good bad PAD]: logits (4.0, -3.2)  (test_deconv.test_hand_set_weights)
    # good -> 0: width 1: 0, 0, relu(-1), 0 -> 0; width 2: .1, relu(-.5 + .1) = 0, .1 -> .1
    #            logits (3 * .1 + .2, 1.5 * .1 - .1) = (.5, .05)
    # bad -> 0:  width 1: 0, 2, 0, 0 -> 2; width 2: .1, 1 + .1, .1 -> 1.1
    #            logits (2 + 3.3 + .2, -4 + 1.65 - .1) = (5.5, -2.45)
    net, vocab = hand_model()
    x = make_explainer("occlusion", net, vocab, CLASSES)
    e0, e1 = x.explain([["good", "bad"], ["good", "bad"]], target=[0, 1])
    np.testing.assert_allclose(e0.scores, [4.0 - 0.5, 4.0 - 5.5], atol=1e-5)
    np.testing.assert_allclose(e1.scores, [-3.2 - 0.05, -3.2 + 2.45], atol=1e-5)
    # deleting a word from "good bad" leaves "bad" / "good", whose windows give the same maxima here
    d = make_explainer("occlusion", net, vocab, CLASSES, replacement="delete").explain([["good", "bad"]], target=0)[0]
    np.testing.assert_allclose(d.scores, [3.5, -1.5], atol=1e-5)


def test_occlusion_of_a_one_word_sentence():
    # "good" = [PAD good PAD]: width 1 -> 2, width 2: .1, 1.1 -> 1.1; logit_0 = 2 + 3.3 + .2 = 5.5.
    # delete leaves the empty sentence [PAD PAD]: width 1 -> 0, width 2 -> .1; logit_0 = .5.
    # pad keeps [PAD 0 PAD] (same maxima) and unk's embedding is zero in this model: all give 5.0.
    net, vocab = hand_model()
    for replacement in ("pad", "unk", "delete"):
        e = make_explainer("occlusion", net, vocab, CLASSES, replacement=replacement).explain([["good"]], target=0)[0]
        np.testing.assert_allclose(e.scores, [5.0], atol=1e-5)
    with pytest.raises(ValueError, match="replacement must be one of pad, unk, delete, got 'mask'"):
        make_explainer("occlusion", net, vocab, CLASSES, replacement="mask")


def test_occlusion_delete_matches_a_loop_over_shortened_sentences():
    net, vocab = net_for("non-static"), tiny_vocab()
    sentences = random_sentences(5, np.random.default_rng(5))
    expls = make_explainer("occlusion", net, vocab, CLASSES, replacement="delete").explain(sentences, target=1)
    for s, e in zip(sentences, expls):
        full = net.forward(batch(net, vocab, [s])).logits.numpy()[0, 1]
        for t in range(len(s)):
            cut = net.forward(batch(net, vocab, [s[:t] + s[t + 1:]])).logits.numpy()[0, 1]
            assert e.scores[t] == pytest.approx(full - cut, abs=1e-5)


def guided_numpy(net, ids, target):
    """Guided backprop from the weights alone: each filter with W[j,c] > 0 whose max window is
    positive sends W[j,c] * K_w[:, :, j] back onto that window's words (one sentence, no ties)."""
    emb = net.embed(ids[None]).numpy()[0]
    n_windows_base = int((ids != 0).sum()) + 2 * net.pad
    w_c = net.dense.kernel.numpy()[:, target]
    grad, j_total = np.zeros_like(emb), 0
    for conv in net.convs:
        kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
        w = kernel.shape[0]
        windows = np.stack([sum(emb[t + k] @ kernel[k] for k in range(w)) + bias
                            for t in range(n_windows_base - w + 1)])  # (windows, F)
        for j in range(kernel.shape[2]):
            s = int(windows[:, j].argmax())
            if w_c[j_total + j] > 0 and windows[s, j] > 0:
                grad[s:s + w] += w_c[j_total + j] * kernel[:, :, j]
        j_total += kernel.shape[2]
    return (grad * emb).sum(-1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_guided_backprop_equals_numpy_and_rectified_deconv(variant):
    net, vocab = net_for(variant), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(6))
    for target in (0, 1):
        guided = explainer("guided-backprop", variant).explain(sentences, target=target)
        rect = explainer("deconv-rectified", variant).explain(sentences, target=target)
        for s, g, r in zip(sentences, guided, rect):
            ids = np.asarray(pad_batch([vocab.encode(s)], net.pad)[0])
            np.testing.assert_allclose(g.scores, guided_numpy(net, ids, target)[net.pad:net.pad + len(s)], atol=1e-5)
            np.testing.assert_allclose(g.scores, r.scores, atol=1e-5)


def test_guided_backprop_by_hand_cuts_negative_class_weights():
    # class 1, W[:,1] = (-2, 1.5). Gradient x input: good = -2 (2,-1).e1 + 1.5 (1,0).e1 = -2.5,
    # bad = 1.5 (0,-.5).e2 = -.75. Guided: the width-1 filter's signal -2 is cut at the ReLU, so
    # good = 1.5, bad = -.75 (a word can still score negative through a kernel entry).
    net, vocab = hand_model()
    g = make_explainer("guided-backprop", net, vocab, CLASSES).explain([["good", "bad"]], target=1)[0]
    gxi = make_explainer("grad-x-input", net, vocab, CLASSES).explain([["good", "bad"]], target=1)[0]
    np.testing.assert_allclose(gxi.scores, [-2.5, -0.75], atol=1e-6)
    np.testing.assert_allclose(g.scores, [1.5, -0.75], atol=1e-6)
    np.testing.assert_allclose(g.probs, gxi.probs, atol=1e-7)  # the guided forward pass is the model's
    # class 0 has only positive weights (1, 3): nothing to cut, guided == gradient x input = (5, -1.5)
    g0 = make_explainer("guided-backprop", net, vocab, CLASSES).explain([["good", "bad"]], target=0)[0]
    np.testing.assert_allclose(g0.scores, [5.0, -1.5], atol=1e-6)


def test_random_is_seeded_per_sentence():
    net, vocab = net_for("rand"), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(7))
    x = explainer("random", "rand")
    together = x.explain(sentences, target=1)
    for s, e in zip(sentences, together):
        alone = x.explain([s], target=0)[0]  # target does not matter either
        np.testing.assert_array_equal(e.scores, alone.scores)
        np.testing.assert_array_equal(e.scores, sentence_scores(vocab.encode(s), 0))
    other = make_explainer("random", net, vocab, CLASSES, seed=1).explain(sentences)
    assert all(not np.allclose(a.scores, b.scores) for a, b in zip(together, other))
    with pytest.raises(ValueError, match="random: seed must be an integer >= 0, got -1"):
        make_explainer("random", net, vocab, CLASSES, seed=-1)


def test_unknown_method_lists_the_methods():
    net, vocab = net_for("rand"), tiny_vocab()
    names = method_names()
    assert {"gradient", "gradient-l2", "grad-x-input", "integrated-gradients", "occlusion",
            "guided-backprop", "random"} <= set(names)
    with pytest.raises(ValueError, match="unknown attribution method 'lrp'; choose one of") as err:
        make_explainer("lrp", net, vocab, CLASSES)
    assert all(name in str(err.value) for name in names)


def test_tensorflow_free_method_list_matches_the_registry():
    from textdeconv.attribution import METHOD_NAMES

    assert sorted(METHOD_NAMES) == sorted(method_names())


@pytest.mark.parametrize("steps, rule, alphas, weights", [
    (1, "midpoint", [0.5], [1.0]),
    (2, "midpoint", [0.25, 0.75], [0.5, 0.5]),
    (4, "midpoint", [0.125, 0.375, 0.625, 0.875], [0.25, 0.25, 0.25, 0.25]),
    (1, "trapezoid", [0.0, 1.0], [0.5, 0.5]),
    (2, "trapezoid", [0.0, 0.5, 1.0], [0.25, 0.5, 0.25]),
    (4, "trapezoid", [0.0, 0.25, 0.5, 0.75, 1.0], [0.125, 0.25, 0.25, 0.25, 0.125]),
])
def test_quadrature_alphas_and_weights_by_hand(steps, rule, alphas, weights):
    from textdeconv.attribution.integrated_gradients import quadrature

    a, w = quadrature(steps, rule)
    assert a.dtype == w.dtype == np.float32
    np.testing.assert_array_equal(a, np.float32(alphas))  # each of these is exact in binary
    np.testing.assert_array_equal(w, np.float32(weights))


def kinked_model():
    """One word w = (1, 0), two width-1 filters with kernels (1, 0) and biases -.4 and -.8, logits
    (0, 2 p1 + 3 p2). Along the path alpha * w: logit_1 = 2 relu(alpha - .4) + 3 relu(alpha - .8),
    kinks at alpha = .4 and .8; d logit_1 / d emb = (2 [alpha > .4] + 3 [alpha > .8], 0)."""
    vocab = Vocab([PAD, UNK, "w"])
    net = TextCNN(build_model(ModelConfig(embedding_dim=2, filter_sizes=(1,), num_filters=2, max_norm=None), 3, 2))
    net.tables[0].embeddings.assign([[0, 0], [0, 0], [1, 0]])
    net.convs[0].kernel.assign(np.array([[[1.0, 1.0], [0.0, 0.0]]]))
    net.convs[0].bias.assign([-0.4, -0.8])
    net.dense.kernel.assign([[0.0, 2.0], [0.0, 3.0]])
    net.dense.bias.assign([0.0, 0.0])
    return net, vocab


@pytest.mark.parametrize("steps, rule, score", [
    (4, "midpoint", (0 + 0 + 2 + 5) / 4),                    # alpha .125 .375 .625 .875
    (5, "midpoint", (0 + 0 + 2 + 2 + 5) / 5),                # alpha .1 .3 .5 .7 .9: exact here
    (4, "trapezoid", 0 / 8 + 0 / 4 + 2 / 4 + 2 / 4 + 5 / 8),  # alpha 0 .25 .5 .75 1
    (2, "trapezoid", 0 / 4 + 2 / 2 + 5 / 4),                 # alpha 0 .5 1
])
def test_integrated_gradients_by_hand_on_a_path_with_kinks(steps, rule, score):
    # exact IG = integral of the gradient = 2 * .6 + 3 * .2 = 1.8 = logit_1(w) - logit_1(0)
    net, vocab = kinked_model()
    e = make_explainer("integrated-gradients", net, vocab, CLASSES, steps=steps, rule=rule).explain(
        [["w"]], target=1)[0]
    np.testing.assert_allclose(e.scores, [score], rtol=1e-6)
    assert e.extras["baseline_logit"] == 0.0
    assert e.extras["delta"] == pytest.approx(score - 1.8, abs=1e-6)
