"""The deconvnet against exact identities, an independent implementation and hand computation."""
import numpy as np
import pytest
import tensorflow as tf
from tiny_models import VARIANTS, random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution.deconv import SIGNALS, Deconvnet, filter_table, first_max
from textdeconv.config import ModelConfig
from textdeconv.data.vocab import PAD, UNK, Vocab, pad_batch
from textdeconv.model.textcnn import TextCNN, build_model

pytestmark = pytest.mark.numerics  # run with oneDNN on and off by .ci/run


def batch(net, vocab, sentences):
    return pad_batch([vocab.encode(s) for s in sentences], net.pad)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("method", SIGNALS)
def test_projection_is_the_gradient_of_the_signal_weighted_pool(variant, method):
    # conv1d_transpose is the adjoint of the convolution: R = d(sum_j sigma_j p_j)/d emb
    net, vocab = tiny_net(variant, seed=1), tiny_vocab()
    ids = batch(net, vocab, random_sentences(6, np.random.default_rng(0)))
    target = np.array([0, 1, -1, 1, 0, -1], np.int32)
    res = Deconvnet(net, vocab, ["neg", "pos"], method).project(tf.constant(ids), tf.constant(target))
    emb = net.embed(ids)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        pooled = net.forward_from_embeddings(emb, ids).pooled
        objective = tf.reduce_sum(tf.stop_gradient(res["sigma"]) * pooled)
    grad = tape.gradient(objective, emb).numpy()
    np.testing.assert_allclose(res["projection"].numpy(), grad, atol=1e-5)
    assert np.abs(grad).max() > 1e-3  # the identity is not vacuous


@pytest.mark.parametrize("variant,output_weights", [(v, "keras") for v in VARIANTS] + [("rand", "kim")])
def test_evidence_completeness_and_gradient_times_input(variant, output_weights):
    net, vocab = tiny_net(variant, seed=2, output_weights=output_weights), tiny_vocab()
    sentences = random_sentences(8, np.random.default_rng(1))
    for target in (0, 1):
        expls = Deconvnet(net, vocab, ["neg", "pos"], "deconv").explain(sentences, target=target)
        ids = batch(net, vocab, sentences)
        emb = net.embed(ids)
        with tf.GradientTape() as tape:
            tape.watch(emb)
            fwd = net.forward_from_embeddings(emb, ids)
            logit = fwd.logits[:, target]
        gxi = tf.reduce_sum(tape.gradient(logit, emb) * emb, axis=-1).numpy()
        w = net.dense.kernel.numpy()[:, target] * (0.5 if output_weights == "kim" else 1.0)  # dropout 0.5
        conv_b = np.concatenate([c.bias.numpy() for c in net.convs])
        pooled = fwd.pooled.numpy()
        for i, (e, s) in enumerate(zip(expls, sentences)):
            alive = pooled[i] > 0
            expected = logit[i].numpy() - net.dense.bias.numpy()[target] - np.sum(w[alive] * conv_b[alive])
            assert e.scores.sum() + e.extras["pad_score"] == pytest.approx(expected, abs=1e-4)
            assert e.extras["pad_score"] == 0.0  # PAD embeddings are zero: no mass on padding
            np.testing.assert_allclose(e.scores, gxi[i, net.pad:net.pad + len(s)], atol=1e-5)


@pytest.mark.parametrize("method", SIGNALS)
def test_every_signal_sums_to_its_identity(method):
    # sum_t score_t = sum_{j alive} sigma_j (p_j - b_j), checked against an independent forward pass
    net, vocab = tiny_net("multichannel", seed=4), tiny_vocab()
    sentences = random_sentences(5, np.random.default_rng(2))
    expls = Deconvnet(net, vocab, ["neg", "pos"], method).explain(sentences)
    fwd = net.forward(batch(net, vocab, sentences))
    conv_b = np.concatenate([c.bias.numpy() for c in net.convs])
    for i, e in enumerate(expls):
        p = fwd.pooled.numpy()[i]
        w_c = net.dense.kernel.numpy()[:, e.target]
        sigma = {"deconv": w_c, "deconv-activation": p, "deconv-weighted": w_c * p,
                 "deconv-rectified": np.maximum(w_c, 0)}[method] * (p > 0)
        assert e.scores.sum() == pytest.approx(float(np.sum(sigma * (p - conv_b))), abs=1e-4)
        assert e.extras["expected_total"] == pytest.approx(float(np.sum(sigma * (p - conv_b))), abs=1e-4)


@tf.custom_gradient
def zeiler_fergus_relu(x):
    """ReLU whose backward pass rectifies the incoming signal instead of gating it."""
    return tf.nn.relu(x), lambda dy: tf.nn.relu(dy)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rectified_signal_equals_autograd_with_overridden_relu(variant):
    net, vocab = tiny_net(variant, seed=5), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(3))
    ids = batch(net, vocab, sentences)
    emb = net.embed(ids)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        pooled = []
        for conv, mask in zip(net.convs, net.masks):
            z = tf.nn.conv1d(emb, conv.kernel, 1, "VALID") + conv.bias
            pooled.append(tf.reduce_max(mask(zeiler_fergus_relu(z), ids), axis=1))
        pooled = tf.concat(pooled, -1)
        alive = tf.stop_gradient(tf.cast(pooled > 0, tf.float32))  # dead filters have no switch
        logits = net.dense(pooled * alive)
        target = tf.argmax(logits, axis=-1)
        objective = tf.reduce_sum(tf.gather(logits, target, batch_dims=1))
    reference = tape.gradient(objective, emb).numpy()
    res = Deconvnet(net, vocab, ["neg", "pos"], "deconv-rectified").project(
        tf.constant(ids), tf.fill([len(sentences)], -1))
    np.testing.assert_allclose(res["projection"].numpy(), reference, atol=1e-5)


def hand_model():
    """widths 1 and 2, one filter each, 2-d embeddings: every number below is worked by hand."""
    vocab = Vocab([PAD, UNK, "good", "bad"])
    cfg = ModelConfig(embedding_dim=2, filter_sizes=(1, 2), num_filters=1, max_norm=None)
    net = TextCNN(build_model(cfg, 4, 2))
    net.tables[0].embeddings.assign([[0, 0], [0, 0], [1, 0], [0, 1]])  # good = e1, bad = e2
    net.convs[0].kernel.assign(np.array([[[2.0], [-1.0]]]))           # width 1: k = (2, -1), b = 0
    net.convs[0].bias.assign([0.0])
    net.convs[1].kernel.assign(np.array([[[1.0], [0.0]], [[0.0], [-0.5]]]))  # width 2, b = 0.1
    net.convs[1].bias.assign([0.1])
    net.dense.kernel.assign([[1.0, -2.0], [3.0, 1.5]])
    net.dense.bias.assign([0.2, -0.1])
    return net, vocab


def test_hand_set_weights():
    # "good bad", padded [PAD good bad PAD]:
    # width 1: windows 0, 2, relu(-1)=0, 0 -> p1 = 2 at "good"
    # width 2: (PAD,good) .1, (good,bad) 1 - .5 + .1 = .6, (bad,PAD) .1 -> p2 = .6 at "good bad"
    # logits: c0 = 1*2 + 3*.6 + .2 = 4.0 ; c1 = -2*2 + 1.5*.6 - .1 = -3.2
    net, vocab = hand_model()
    x = Deconvnet(net, vocab, ["neg", "pos"], "deconv")
    e0, e1 = x.explain([["good", "bad"], ["good", "bad"]], target=[0, 1])
    np.testing.assert_allclose(e0.probs, np.exp([4.0, -3.2]) / np.exp([4.0, -3.2]).sum(), rtol=1e-5)
    assert e0.predicted == 0 and e0.target == 0 and e1.target_name == "pos"
    # class 0, sigma = (1, 3): good = 1*(2,-1).e1 + 3*(1,0).e1 = 5 ; bad = 3*(0,-.5).e2 = -1.5
    np.testing.assert_allclose(e0.scores, [5.0, -1.5], atol=1e-6)
    assert e0.scores.sum() == pytest.approx(4.0 - 0.2 - 3 * 0.1)
    # class 1, sigma = (-2, 1.5): good = -4 + 1.5 = -2.5 ; bad = 1.5 * -.5 = -.75
    np.testing.assert_allclose(e1.scores, [-2.5, -0.75], atol=1e-6)
    rect = Deconvnet(net, vocab, ["neg", "pos"], "deconv-rectified").explain([["good", "bad"]], target=1)[0]
    np.testing.assert_allclose(rect.scores, [1.5, -0.75], atol=1e-6)  # sigma = (0, 1.5)
    act = Deconvnet(net, vocab, ["neg", "pos"], "deconv-activation").explain([["good", "bad"]])[0]
    np.testing.assert_allclose(act.scores, [2 * 2 + 0.6 * 1, 0.6 * -0.5], atol=1e-6)  # sigma = p = (2, .6)
    norm = Deconvnet(net, vocab, ["neg", "pos"], "deconv", saliency="norm").explain([["good", "bad"]], target=0)[0]
    np.testing.assert_allclose(norm.scores, [np.sqrt(26.0), 1.5], atol=1e-6)  # R_good = (5,-1), R_bad = (0,-1.5)
    table = filter_table(e0, net)
    assert table["ngram"].tolist() == ["good", "good bad"]
    assert table["switch"].tolist() == [0, 0]
    np.testing.assert_allclose(table["activation"], [2.0, 0.6], rtol=1e-6)
    np.testing.assert_allclose(table["contribution"], [2.0, 1.8], rtol=1e-6)


def test_tied_maxima_share_the_switch():
    net, vocab = hand_model()
    e = Deconvnet(net, vocab, ["neg", "pos"], "deconv").explain([["good", "good"]], target=0)[0]
    # width 1 ties at both "good" (2 each): switch 1/2 each -> 1 * (2,-1).e1 / 2 = 1 per word.
    # width 2 windows: (PAD,good) .1, (good,good) 1 + 0 + .1 = 1.1, (good,PAD) 1 + .1 = 1.1: a tie too,
    # each window gets 3/2: good_1 = 1.5*(1,0).e1 = 1.5 ; good_2 = 1.5*(0,-.5).e1 + 1.5*(1,0).e1 = 1.5
    np.testing.assert_allclose(e.scores, [1.0 + 1.5, 1.0 + 1.5], atol=1e-6)
    assert e.scores.sum() == pytest.approx((2 * 1 + 3 * 1.1 + 0.2) - 0.2 - 3 * 0.1)


@pytest.mark.parametrize("method", SIGNALS)
def test_batched_equals_one_by_one(method):
    net, vocab = tiny_net("multichannel", widths=(3, 4, 5), seed=6), tiny_vocab()
    sentences = random_sentences(12, np.random.default_rng(4), max_len=14)
    x = Deconvnet(net, vocab, ["neg", "pos"], method)
    together = x.explain(sentences, target=1, batch_size=64)
    for s, e in zip(sentences, together):
        alone = x.explain([s], target=1)[0]
        assert alone.tokens == e.tokens == s
        np.testing.assert_allclose(e.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(e.probs, alone.probs, atol=1e-6)
        np.testing.assert_array_equal(e.extras["switch"], alone.extras["switch"])


def test_activation_signal_is_class_agnostic_and_norm_is_nonnegative():
    net, vocab = tiny_net(seed=7), tiny_vocab()
    s = [["good", "movie", "not", "dull"]]
    x = Deconvnet(net, vocab, ["neg", "pos"], "deconv-activation")
    np.testing.assert_allclose(x.explain(s, target=0)[0].scores, x.explain(s, target=1)[0].scores)
    n = Deconvnet(net, vocab, ["neg", "pos"], "deconv", saliency="norm").explain(s)[0]
    assert np.all(n.scores >= 0)


def test_targets_and_bad_arguments():
    net, vocab = tiny_net(seed=8), tiny_vocab()
    x = Deconvnet(net, vocab, ["negative", "positive"])
    assert x.explain([["good"]], target="Positive")[0].target == 1
    assert x.explain([["good"]], target="0")[0].target_name == "negative"
    with pytest.raises(ValueError, match="unknown target class 'neutral'; choose one of negative, positive"):
        x.explain([["good"]], target="neutral")
    with pytest.raises(ValueError, match="out of range"):
        x.explain([["good"]], target=2)
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        x.explain([["good"], []])
    with pytest.raises(ValueError, match="unknown deconvnet signal"):
        Deconvnet(net, vocab, ["a", "b"], "lrp")
    e = x.explain([["zzz", "good"]])[0]
    assert e.in_vocab.tolist() == [False, True] and e.token_ids.tolist() == [1, 2]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("method", SIGNALS)
def test_window_tap_fast_path_equals_the_conv_transpose_path(variant, method):
    net, vocab = tiny_net(variant, widths=(1, 3, 5), seed=2), tiny_vocab()
    rng = np.random.default_rng(5)
    # mixed lengths, one-word sentences and a repeated n-gram (exactly tied maxima)
    sentences = random_sentences(10, rng, max_len=12) + [["good"], ["good", "good", "good", "good"]]
    ids = batch(net, vocab, sentences)
    target = rng.integers(-1, 2, len(sentences)).astype(np.int32)
    fast = Deconvnet(net, vocab, ["neg", "pos"], method)
    slow = Deconvnet(net, vocab, ["neg", "pos"], method, fast=False)
    assert fast.fast and not slow.fast
    a, b = fast.attribute_ids(ids, target), slow.attribute_ids(ids, target)
    assert set(a) == set(b)
    np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)
    assert np.abs(b["scores"]).max() > 1e-3
    for key in ("logits", "pooled", "sigma", "expected_total", "contribution"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-5)
    np.testing.assert_array_equal(a["target"], b["target"])
    np.testing.assert_array_equal(a["switch"], b["switch"])


def test_fast_path_serves_dot_saliency_only_and_ties_match_by_hand():
    net, vocab = hand_model()
    assert not Deconvnet(net, vocab, ["neg", "pos"], "deconv", saliency="norm").fast
    e = Deconvnet(net, vocab, ["neg", "pos"], "deconv").explain([["good", "good"]], target=0)[0]
    np.testing.assert_allclose(e.scores, [2.5, 2.5], atol=1e-6)  # see test_tied_maxima_share_the_switch


def test_filter_table_reports_a_dead_filter_dead():
    # "bad", padded [PAD bad PAD]: width 1: 0, relu(-1) = 0, 0 -> p1 = 0, dead (no window fires);
    # width 2: (PAD,bad) relu(-.5 + .1) = 0, (bad,PAD) .1 -> p2 = .1 at "bad <pad>"
    net, vocab = hand_model()
    e = Deconvnet(net, vocab, ["neg", "pos"], "deconv").explain([["bad"]], target=0)[0]
    table = filter_table(e, net)
    assert table["alive"].tolist() == [False, True]
    np.testing.assert_allclose(table["activation"], [0.0, 0.1], atol=1e-7)
    np.testing.assert_allclose(table["contribution"], [0.0, 3 * 0.1], atol=1e-7)  # w_0j * p_j
    assert table["ngram"].tolist()[1] == "bad <pad>" and table["switch"].tolist()[1] == 0
    # bad fills slot 0 of the winning width-2 window: 3 * (1, 0).e2 = 0; the dead width-1 filter sends nothing
    # back (were it treated alive, its signal 1 would add (2, -1).e2 = -1)
    np.testing.assert_allclose(e.scores, [0.0], atol=1e-7)


def test_first_max_is_argmax_with_ties_and_all_zero_columns():
    # (batch 2, time 4, F 3): a unique max, a tie (the first wins), an all-zero (dead) column
    h = np.array([[[0, 1, 0], [3, 2, 0], [1, 2, 0], [3, 0, 0]],
                  [[5, 0, 0], [0, 0, 0], [5, 7, 0], [0, 7, 0]]], np.float32)
    got = first_max(tf.constant(h), tf.reduce_max(h, axis=1)).numpy()
    np.testing.assert_array_equal(got, [[1, 1, 0], [0, 2, 0]])
    np.testing.assert_array_equal(got, tf.argmax(h, axis=1, output_type=tf.int32).numpy())
