"""The layer-wise reverse engine (issue 24) against identities, independent implementations and
hand computation: our TextCNN's own methods, GradientTape gradients, tf.custom_gradient ReLU
overrides, a numpy LRP-epsilon, and tiny models whose values are worked out by hand."""
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers.engine_models import (
    branch_model,
    chain_reference,
    from_scratch_model,
    functional_reference,
    guided_relu,
    pretrained_model,
    randomize,
    residual_model,
    stack_model,
    stack_reference,
    tape_logit_gradient,
    toy_corpus,
    zeiler_fergus_relu,
)
from tiny_models import VARIANTS, random_sentences, tiny_net, tiny_vocab

from textdeconv.attribution import make_explainer
from textdeconv.attribution.engine import (
    RULE_NAMES,
    SUPPORTED,
    Analyzer,
    UnsupportedModelError,
    analyzer,
    explain_model,
    load_model_for_explaining,
)
from textdeconv.attribution.engine.vocabulary import keras_tokenize, read_vocabulary
from textdeconv.data.vocab import pad_batch
from textdeconv.errors import InputError, MissingFileError

pytestmark = pytest.mark.numerics  # run with oneDNN on and off by .ci/run

L = keras.layers
CLASSES = ["neg", "pos"]


def analyzers(model, *methods, **options):
    return [Analyzer(model, m, **options) for m in methods]


def random_ids(rng, batch, length, vocab=20, min_len=1):
    """Right-padded rows of random lengths (ids 2..vocab-1, then 0)."""
    ids = np.zeros((batch, length), np.int32)
    for row in ids:
        n = int(rng.integers(min_len, length + 1))
        row[:n] = rng.integers(2, vocab, n)
    return ids


def check_budget(res, atol=1e-4):
    """LRP-epsilon: sum of all word scores (padding included) + absorbed = the explained logit."""
    total = res["scores"].sum(axis=1) + res["absorbed"]
    np.testing.assert_allclose(total, res["target_logit"], atol=atol, rtol=1e-4)
    np.testing.assert_allclose(res["absorbed_layers"].sum(axis=1), res["absorbed"], atol=1e-5)


# ---- our TextCNN: the engine equals the existing methods -------------------------------------

@functools.cache
def tiny(variant):
    return tiny_net(variant, widths=(2, 3), seed=VARIANTS.index(variant) + 3)


@pytest.mark.parametrize("variant", ["rand", "multichannel"])  # static / non-static: rand's graph
def test_engine_equals_our_methods_on_the_textcnn(variant):
    net, vocab = tiny(variant), tiny_vocab()
    sentences = random_sentences(6, np.random.default_rng(0)) + [["good", "good", "good"]]  # tied maxima
    ids = pad_batch([vocab.encode(s) for s in sentences], net.pad)
    target = np.array([0, 1, -1, 1, 0, -1, 1], np.int32)
    pairs = {"deconvnet": "deconv-rectified", "gradient": "gradient", "grad-x-input": "grad-x-input",
             "guided-backprop": "guided-backprop"}
    engines = analyzers(net.model, *pairs) + analyzers(net.model, "deconvnet", "grad-x-input", taps=False)
    assert not engines[1].tap_steps and len(engines[0].tap_steps) == 2 and not engines[-1].tap_steps
    for engine in engines:
        ref = make_explainer(pairs[engine.method], net, vocab, CLASSES).attribute_ids(ids, target)
        res = engine.analyze(ids, target)
        np.testing.assert_allclose(res["scores"], ref["scores"], atol=1e-5, err_msg=engine.method)
        np.testing.assert_allclose(res["logits"], ref["logits"], atol=1e-5)
        np.testing.assert_array_equal(res["target"], ref["target"])
        assert np.abs(ref["scores"]).max() > 1e-3


def test_registry_names_build_the_engine_for_our_runs():
    net, vocab = tiny("multichannel"), tiny_vocab()
    sentences = random_sentences(5, np.random.default_rng(1))
    ours = make_explainer("deconv-rectified", net, vocab, CLASSES).explain(sentences, target=1)
    mine = make_explainer("deconvnet", net, vocab, CLASSES).explain(sentences, target=1)
    for a, b in zip(ours, mine):
        assert b.method == "deconvnet" and b.tokens == a.tokens
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)
    norm = make_explainer("deconvnet", net, vocab, CLASSES, saliency="norm").explain(sentences, target=1)
    ref = make_explainer("deconv-rectified", net, vocab, CLASSES, saliency="norm").explain(sentences, target=1)
    for a, b in zip(ref, norm):
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)
    for method, options in (("lrp-epsilon", {"epsilon": 0.05}), ("lrp-alpha-beta", {}), ("lrp-zplus", {})):
        for e in make_explainer(method, net, vocab, CLASSES, **options).explain(sentences):
            assert e.method == method and e.extras["pad_score"] == 0.0  # PAD embeddings are zero
            if method == "lrp-epsilon":
                total = e.scores.sum() + e.extras["absorbed"]
                assert total == pytest.approx(e.extras["target_logit"], abs=1e-4)
    with pytest.raises(InputError, match="must be a finite number >= 0"):
        make_explainer("lrp-epsilon", net, vocab, CLASSES, epsilon=-1.0)


def test_lrp_epsilon_budget_on_the_textcnn_with_kim_output_weights():
    net, vocab = tiny_net("rand", seed=9, output_weights="kim"), tiny_vocab()  # Rescaling in front of the Dense
    ids = pad_batch([vocab.encode(s) for s in random_sentences(6, np.random.default_rng(2))], net.pad)
    for taps in (True, False):
        (a,) = analyzers(net.model, "lrp-epsilon", epsilon=0.1, taps=taps)
        res = a.analyze(ids)
        check_budget(res)
        assert a.affine_layers == ["conv_2", "conv_3", "keep_scale", "logits"]
    ref = analyzers(net.model, "lrp-epsilon", epsilon=0.1, taps=False)[0].analyze(ids)
    np.testing.assert_allclose(res["scores"], ref["scores"], atol=1e-5)


# ---- a multi-layer model: GradientTape and tf.custom_gradient references ------------------------

@functools.cache
def stack(**kwargs):
    return stack_model(seed=1, **kwargs)


def test_gradient_equals_the_tape_on_strided_stacks_with_batchnorm():
    model = stack()
    ids = random_ids(np.random.default_rng(3), 6, 17, min_len=5)
    target = np.array([0, 1, 2, 0, 1, 2])
    grad, emb = tape_logit_gradient(model, ids, target)
    gradient, gxi = analyzers(model, "gradient", "grad-x-input")
    np.testing.assert_allclose(gradient.attribute(ids, target), grad.sum(-1), atol=1e-5)
    np.testing.assert_allclose(gxi.attribute(ids, target), (grad * emb).sum(-1), atol=1e-5)
    probs = model(ids, training=False).numpy()
    np.testing.assert_allclose(tf.nn.softmax(gradient.analyze(ids)["logits"]).numpy(), probs, atol=1e-6)
    assert np.abs(grad).max() > 1e-3


@pytest.mark.parametrize("method,relu,dead", [("deconvnet", zeiler_fergus_relu, True),
                                              ("guided-backprop", guided_relu, False),
                                              ("gradient", tf.nn.relu, False)])
def test_engine_equals_a_custom_gradient_relu_override(method, relu, dead):
    model = stack()
    ids = random_ids(np.random.default_rng(4), 5, 15, min_len=4)
    target = np.array([2, 0, 1, 1, 0])
    emb = model.layers[1](tf.constant(ids))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        logits = stack_reference(model, emb, relu, dead_gate=dead)
        objective = tf.reduce_sum(logits * tf.one_hot(target, 3))
    g = tape.gradient(objective, emb)
    reference = tf.reduce_sum(g * emb, -1) if method != "gradient" else tf.reduce_sum(g, -1)
    (engine,) = analyzers(model, method)
    res = engine.analyze(ids, target)
    np.testing.assert_allclose(res["scores"], reference.numpy(), atol=1e-5)
    np.testing.assert_allclose(res["logits"], logits.numpy(), atol=1e-5)
    assert np.abs(reference.numpy()).max() > 1e-3


def test_gradient_equals_the_tape_on_every_other_layer():
    model = branch_model(seed=2)
    ids = random_ids(np.random.default_rng(5), 6, 12)
    emb_layer = model.layers[1]
    emb = emb_layer(tf.constant(ids))
    sub = keras.Model(model.layers[2].input, model.layers[-1].input)  # the embedded input -> the head's input
    head = model.layers[-1]
    for target in (0, 1):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            z = (sub(emb, training=False) @ head.kernel + head.bias)[:, 0]
            objective = tf.reduce_sum(z if target == 1 else -z)  # a sigmoid unit: class 0 is -z
        grad = tape.gradient(objective, emb).numpy()
        gradient, gxi = analyzers(model, "gradient", "grad-x-input")
        np.testing.assert_allclose(gradient.attribute(ids, target), grad.sum(-1), atol=1e-5)
        np.testing.assert_allclose(gxi.attribute(ids, target), (grad * emb.numpy()).sum(-1), atol=1e-5)
    res = gradient.analyze(ids)
    p = model(ids, training=False).numpy()[:, 0]
    np.testing.assert_allclose(res["logits"][:, 1], np.log(p / (1 - p)), atol=1e-4)  # logits [0, z]
    np.testing.assert_array_equal(res["target"], (p > 0.5).astype(int))


# ---- skip connections: every join takes its local backward step -----------------------------------

JOIN_METHODS = (("gradient", tf.nn.relu, False), ("grad-x-input", tf.nn.relu, False),
                ("guided-backprop", guided_relu, False), ("deconvnet", zeiler_fergus_relu, True))


@functools.cache
def residual(kind):
    return residual_model(kind, seed=1)


@pytest.mark.parametrize("kind", ["dpcnn", "densenet", "nested"])
def test_skip_connections_equal_the_tape_and_custom_gradient_references(kind):
    # a tensor read by several paths (a shortcut, a DenseNet join) gets each path's signal once:
    # the reference is TensorFlow's own autodiff through the model's functional graph, with the
    # ReLU's gradient overridden by tf.custom_gradient for guided backprop and the deconvnet
    model = residual(kind)
    ids = random_ids(np.random.default_rng(21), 5, 11, min_len=11)
    target = np.array([0, 1, 2, 1, 0])
    emb = model.layers[1](tf.constant(ids))
    for method, relu, dead in JOIN_METHODS:
        with tf.GradientTape() as tape:
            tape.watch(emb)
            z = functional_reference(model, ids, emb, relu, dead)
            objective = tf.reduce_sum(z * tf.one_hot(target, 3))
        g = tape.gradient(objective, emb)
        reference = (tf.reduce_sum(g, -1) if method == "gradient" else tf.reduce_sum(g * emb, -1)).numpy()
        assert np.abs(reference).max() > 1e-3
        for taps in (True, False) if method in ("grad-x-input", "deconvnet") else (True,):
            (a,) = analyzers(model, method, taps=taps)
            res = a.analyze(ids, target)
            np.testing.assert_allclose(res["scores"], reference, atol=1e-5, err_msg=f"{method} taps={taps}")
            np.testing.assert_allclose(res["logits"], z.numpy(), atol=1e-5)
    grad, _ = tape_gradient_through_graph(model, ids, target)
    np.testing.assert_allclose(analyzers(model, "gradient")[0].attribute(ids, target), grad.sum(-1), atol=1e-5)
    # LRP-0 == gradient x input on a ReLU network, joins included
    lrp0, gxi = analyzers(model, "lrp-epsilon", epsilon=0.0)[0], analyzers(model, "grad-x-input")[0]
    np.testing.assert_allclose(lrp0.attribute(ids, target), gxi.attribute(ids, target), atol=1e-5)


def tape_gradient_through_graph(model, ids, target):
    """d logit / d emb by GradientTape through the model's own layers (functional graph; the
    head's softmax skipped): the plain-Keras reference for ``gradient``."""
    emb_layer, head = model.layers[1], model.layers[-1]
    emb = emb_layer(tf.constant(ids))
    sub = keras.Model(emb_layer.output, head.input)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        z = sub(emb, training=False) @ head.kernel + head.bias
        objective = tf.reduce_sum(z * tf.one_hot(target, z.shape[-1]))
    return tape.gradient(objective, emb).numpy(), emb.numpy()


def test_hand_residual_add_counts_the_shortcut_once():
    # x -> h = 2x (width-1 conv, no bias); y = Add([h, 3h]) = 8x -> Dense w = 1: z = 8x.
    # dz/dh = 1 + 3 = 4 (each path once), dz/dx = 8; the tape's total derivative at h taken
    # for the Add's first input would give 4, then the branch's 3 again: 11 instead of 8.
    ids_in = keras.Input((None,), dtype="int32")
    emb, c1, c3, dense = L.Embedding(3, 1), L.Conv1D(1, 1, use_bias=False), L.Conv1D(1, 1, use_bias=False), L.Dense(1)
    h = c1(emb(ids_in))
    model = keras.Model(ids_in, dense(L.GlobalAveragePooling1D()(L.Add()([h, c3(h)]))))
    emb.embeddings.assign([[0], [0], [1.5]])
    c1.kernel.assign([[[2.0]]])
    c3.kernel.assign([[[3.0]]])
    dense.kernel.assign([[1.0]])
    dense.bias.assign([0.0])
    ids = np.array([[2]])
    for m in ("gradient", "deconvnet", "guided-backprop"):
        assert Analyzer(model, m).attribute(ids, 1)[0, 0] == pytest.approx(8.0 if m == "gradient" else 12.0)
    # LRP-0: R = z = 12 at the Add splits (3, 9) by the inputs' contributions, both back to x: 12
    for m in ("lrp-epsilon", "lrp-alpha-beta", "lrp-zplus"):
        a = Analyzer(model, m, **({"epsilon": 0.0} if m == "lrp-epsilon" else {}))
        assert a.attribute(ids, 1)[0, 0] == pytest.approx(12.0), m


@pytest.mark.parametrize("cls,why", [("Multiply", "a multiplicative join has no exact LRP or deconvnet rule"),
                                     ("Maximum", "an elementwise-maximum join has no backward rule in the engine"),
                                     ("Subtract", "a subtracting join has no backward rule in the engine")])
def test_joins_without_an_exact_rule_are_refused_by_name(cls, why):
    ids = keras.Input((None,), dtype="int32")
    e = L.Embedding(10, 4)(ids)
    join = getattr(L, cls)(name="gate")([L.Conv1D(4, 2, padding="same")(e), e])
    model = keras.Model(ids, L.Dense(2)(L.GlobalMaxPooling1D()(join)))
    with pytest.raises(UnsupportedModelError, match=rf"^cannot explain model '.*': layer 'gate' \({cls}\) is not "
                                                    rf"supported \({why}"):
        Analyzer(model, "gradient")


@pytest.mark.filterwarnings("ignore:Layer .* does not support masking")
def test_masked_average_pooling_and_a_shared_layer():
    # Embedding(mask_zero=True) records a NotEqual on the ids: it runs, carries no signal, and
    # GlobalAveragePooling1D averages the unmasked steps only, as in the model
    ids_in = keras.Input((None,), dtype="int32")
    e = L.Embedding(10, 4, mask_zero=True)(ids_in)
    conv = L.Conv1D(3, 1, activation="relu")  # shared by both branches
    x = L.Concatenate()([L.GlobalAveragePooling1D()(e), L.GlobalMaxPooling1D()(conv(e)),
                         L.GlobalMaxPooling1D()(conv(L.Dropout(0.2)(e)))])
    model = keras.Model(ids_in, L.Dense(2)(x))
    ids = np.array([[2, 3, 0, 0], [4, 5, 6, 0]])
    (gxi,) = analyzers(model, "grad-x-input")
    res = gxi.analyze(ids, 1)
    np.testing.assert_allclose(res["logits"], model(ids).numpy(), atol=1e-6)
    emb = model.layers[1](tf.constant(ids))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        mask = tf.cast(ids != 0, tf.float32)[..., None]
        h = conv(emb)
        pooled = tf.concat([tf.reduce_sum(emb * mask, 1) / tf.reduce_sum(mask, 1), tf.reduce_max(h, 1),
                            tf.reduce_max(h, 1)], -1)
        logit = tf.reduce_sum((pooled @ model.layers[-1].kernel + model.layers[-1].bias)[:, 1])
    grad = tape.gradient(logit, emb).numpy()
    np.testing.assert_allclose(res["scores"], (grad * emb.numpy()).sum(-1), atol=1e-5)


@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 1, 2), ("causal", 1, 3),
                                                      ("same", 2, 1), ("valid", 3, 1), ("causal", 2, 1)])
def test_conv1d_settings_gradient_and_tap_path(padding, strides, dilation):
    keras.utils.set_random_seed(7)
    ids_in = keras.Input((None,), dtype="int32")
    x = L.Conv1D(4, 3, strides=strides, dilation_rate=dilation, padding=padding, activation="relu")(
        L.Embedding(20, 5)(ids_in))
    model = randomize(keras.Model(ids_in, L.Dense(2)(L.GlobalMaxPooling1D()(x))), seed=3)
    ids = random_ids(np.random.default_rng(8), 5, 11, min_len=7)
    grad, emb = tape_logit_gradient(model, ids, np.array([0, 1, 0, 1, 1]))
    (taps,), (vjp,) = analyzers(model, "grad-x-input"), analyzers(model, "grad-x-input", taps=False)
    assert bool(taps.tap_steps) == (strides == 1)
    for a in (taps, vjp):
        np.testing.assert_allclose(a.attribute(ids, [0, 1, 0, 1, 1]), (grad * emb).sum(-1), atol=1e-5)
        np.testing.assert_allclose(a.analyze(ids)["logits"], model(ids).numpy(), atol=1e-5)


# ---- LRP ----------------------------------------------------------------------------------------

def test_lrp_zero_equals_gradient_times_input_without_biases():
    model = stack(bias=False, batchnorm=False)
    ids = random_ids(np.random.default_rng(6), 6, 16, min_len=5)
    target = np.array([0, 1, 2, 2, 1, 0])
    grad, emb = tape_logit_gradient(model, ids, target)
    for taps in (True, False):
        (lrp0,) = analyzers(model, "lrp-epsilon", epsilon=0.0, taps=taps)
        res = lrp0.analyze(ids, target)
        np.testing.assert_allclose(res["scores"], (grad * emb).sum(-1), atol=1e-5)
        np.testing.assert_allclose(res["absorbed"], 0.0, atol=1e-5)  # no bias, no epsilon: all conserved
        np.testing.assert_allclose(res["scores"].sum(1), res["target_logit"], atol=1e-4)


def numpy_lrp_epsilon(model, ids, c, eps):
    """Independent LRP-epsilon for Embedding -> Conv1D(relu, valid) -> GlobalMaxPooling1D ->
    Dense(relu) -> Dense, one sentence: (word scores, absorbed per affine layer)."""
    emb, conv, _, d1, d2 = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    x = emb.embeddings.numpy()[ids]                                   # (T, E)
    k, b1 = conv.kernel.numpy(), conv.bias.numpy()                    # (w, E, F)
    w = k.shape[0]
    n = len(ids) - w + 1
    z1 = np.stack([sum(x[t + j] @ k[j] for j in range(w)) for t in range(n)]) + b1
    a1 = np.maximum(z1, 0)
    p, arg = a1.max(0), a1.argmax(0)
    z2 = p @ d1.kernel.numpy() + d1.bias.numpy()
    a2 = np.maximum(z2, 0)
    z3 = a2 @ d2.kernel.numpy() + d2.bias.numpy()

    def stab(z):
        return z + eps * np.where(z >= 0, 1.0, -1.0)

    r3 = np.zeros_like(z3)
    r3[c] = z3[c]
    absorbed = [0.0, 0.0, float(np.sum(r3 * (d2.bias.numpy() + eps * np.sign(stab(z3))) / stab(z3)))]
    r_a2 = a2 * (d2.kernel.numpy() @ (r3 / stab(z3)))
    absorbed[1] = float(np.sum(r_a2 * (d1.bias.numpy() + eps * np.sign(stab(z2))) / stab(z2)))
    r_p = p * (d1.kernel.numpy() @ (r_a2 / stab(z2)))
    r_a1 = np.zeros_like(a1)
    r_a1[arg, np.arange(len(p))] = r_p
    absorbed[0] = float(np.sum(r_a1 * (b1 + eps * np.sign(stab(z1))) / stab(z1)))
    s1 = r_a1 / stab(z1)
    r_x = np.zeros_like(x)
    for t in range(n):
        for j in range(w):
            r_x[t + j] += x[t + j] * (k[j] @ s1[t])
    return r_x.sum(1), absorbed


def test_lrp_epsilon_matches_numpy_and_its_budget_is_exact():
    keras.utils.set_random_seed(11)
    ids_in = keras.Input((None,), dtype="int32")
    x = L.Conv1D(5, 2, activation="relu")(L.Embedding(20, 4)(ids_in))
    x = L.Dense(4, activation="relu")(L.GlobalMaxPooling1D()(x))
    model = randomize(keras.Model(ids_in, L.Dense(3)(x)), seed=3)
    ids = random_ids(np.random.default_rng(12), 4, 9, min_len=9)  # full rows: every window is the sentence's
    for eps in (0.0, 0.3):
        for taps in (True, False):
            (a,) = analyzers(model, "lrp-epsilon", epsilon=eps, taps=taps)
            res = a.analyze(ids, [0, 1, 2, 1])
            check_budget(res)
            for i, c in enumerate([0, 1, 2, 1]):
                scores, absorbed = numpy_lrp_epsilon(model, ids[i], c, eps)
                np.testing.assert_allclose(res["scores"][i], scores, atol=1e-5)
                np.testing.assert_allclose(res["absorbed_layers"][i], absorbed, atol=1e-5)


@pytest.mark.parametrize("method", ["lrp-epsilon", "lrp-alpha-beta", "lrp-zplus"])
def test_lrp_runs_on_every_layer_and_epsilon_keeps_its_budget(method):
    for model, ids in ((stack(), random_ids(np.random.default_rng(13), 5, 14, min_len=4)),
                       (branch_model(seed=4), random_ids(np.random.default_rng(14), 5, 12))):
        (a,) = analyzers(model, method)
        res = a.analyze(ids)
        assert np.all(np.isfinite(res["scores"])) and np.abs(res["scores"]).max() > 1e-4
        if method == "lrp-epsilon":
            check_budget(res)


def test_alpha_beta_options_are_checked():
    model = stack()
    assert Analyzer(model, "lrp-alpha-beta", alpha=2, beta=1).rule.beta == 1.0
    with pytest.raises(InputError, match="alpha - beta must be 1"):
        Analyzer(model, "lrp-alpha-beta", alpha=2, beta=0)
    with pytest.raises(InputError, match="no saliency option"):
        Analyzer(model, "lrp-zplus", saliency="dot")
    with pytest.raises(InputError, match="unknown engine method 'lrp'; choose one of"):
        analyzer(model, "lrp")
    assert set(RULE_NAMES) == {"deconvnet", "guided-backprop", "gradient", "grad-x-input", "lrp-epsilon",
                               "lrp-alpha-beta", "lrp-zplus"}


def shared_model():
    """Embedding (1-d) -> one Conv1D(1, 1) w = 2, b = 1 called twice: on e (-> GlobalAveragePooling1D)
    and on Rescaling(2)(e) (-> GlobalMaxPooling1D); Concatenate -> Dense w = (1, 2), b = 0."""
    ids_in = keras.Input((None,), dtype="int32")
    emb, conv, dense = L.Embedding(3, 1), L.Conv1D(1, 1, name="shared"), L.Dense(1, name="head")
    e = emb(ids_in)
    x = L.Concatenate()([L.GlobalAveragePooling1D(name="gap")(conv(e)),
                         L.GlobalMaxPooling1D()(conv(L.Rescaling(2.0, name="scale")(e)))])
    model = keras.Model(ids_in, dense(x))
    emb.embeddings.assign([[0], [0], [1]])
    conv.kernel.assign([[[2.0]]])
    conv.bias.assign([1.0])
    dense.kernel.assign([[1.0], [2.0]])
    dense.bias.assign([0.0])
    return model


def test_shared_layer_absorbs_per_call():
    # x = 1: call 1 z = 3 (GAP 3), call 2 z = 2 * 2 + 1 = 5 (GMP 5); head z = 3 + 2 * 5 = 13.
    # LRP-0: R = (3, 10) at the pooled units; call 1 absorbs 3 * 1 / 3 = 1, call 2 10 * 1 / 5 = 2;
    # the word gets 2 + 8 = 10 and 10 + 1 + 2 = 13.
    (a,) = analyzers(shared_model(), "lrp-epsilon", epsilon=0.0)
    assert a.affine_layers == ["shared#1", "gap", "scale", "shared#2", "head"]
    res = a.analyze(np.array([[2]]), 1)
    np.testing.assert_allclose(res["scores"], [[10.0]], atol=1e-5)
    np.testing.assert_allclose(res["absorbed_layers"], [[1.0, 0.0, 0.0, 2.0, 0.0]], atol=1e-5)
    assert res["target_logit"][0] == pytest.approx(13.0)


def grouped_model():
    """Grouped Conv1D layers: one right after the embedding (groups 2), one deeper (groups 3)."""
    ids_in = keras.Input((None,), dtype="int32")
    x = L.Conv1D(6, 3, groups=2, activation="relu", padding="same")(
        L.Embedding(20, 4, embeddings_initializer=keras.initializers.RandomNormal(seed=5))(ids_in))
    x = L.Conv1D(6, 2, groups=3, activation="relu")(x)
    return randomize(keras.Model(ids_in, L.Dense(2)(L.GlobalMaxPooling1D()(x))), seed=5)


def test_grouped_conv1d_is_exact_through_the_vector_jacobian_product():
    model = grouped_model()
    ids = random_ids(np.random.default_rng(22), 5, 9, min_len=9)
    target = np.array([0, 1, 1, 0, 1])
    grad, emb = tape_logit_gradient(model, ids, target)
    assert np.abs(grad).max() > 1e-3
    gradient, gxi = analyzers(model, "gradient", "grad-x-input")
    assert not gxi.tap_steps  # the tap path reads an ungrouped kernel: grouped convs take the VJP
    np.testing.assert_allclose(gradient.attribute(ids, target), grad.sum(-1), atol=1e-5)
    np.testing.assert_allclose(gxi.attribute(ids, target), (grad * emb).sum(-1), atol=1e-5)
    (lrp0,) = analyzers(model, "lrp-epsilon", epsilon=0.0)
    np.testing.assert_allclose(lrp0.attribute(ids, target), (grad * emb).sum(-1), atol=1e-5)


# every accepted test architecture: Sum scores + absorbed = the explained logit, per LRP method
CONSERVATION = {
    "stack": lambda: (stack(), 14),
    "branch": lambda: (branch_model(seed=4), 12),
    "dpcnn": lambda: (residual("dpcnn"), 11),
    "densenet": lambda: (residual("densenet"), 11),
    "nested": lambda: (residual("nested"), 11),
    "shared": lambda: (shared_model(), 6, 3),
    "grouped": lambda: (grouped_model(), 9),
    "textcnn": lambda: (tiny_net("rand", seed=9, output_weights="kim").model, 10, 12),
    "multichannel": lambda: (tiny("multichannel").model, 10, 12),
    "from_scratch": lambda: (from_scratch_model(), 40, 60),
    "pretrained": lambda: (pretrained_model(np.random.default_rng(0).normal(size=(20, 4)).astype("float32")), 150),
}
FAST_CONSERVATION = ("branch", "dpcnn", "densenet")


@pytest.mark.parametrize("name", [n if n in FAST_CONSERVATION else pytest.param(n, marks=pytest.mark.slow)
                                  for n in CONSERVATION])
def test_lrp_conservation_per_method_on_every_architecture(name):
    # every non-affine step passes all its relevance on, and each affine step keeps back exactly
    # what its rule's formula says (bias, epsilon, alpha-beta and zero-denominator terms,
    # computed from the forward values, not by difference): the budget closes for each method
    model, length, *vocab = CONSERVATION[name]()
    ids = random_ids(np.random.default_rng(23), 4, length, vocab=vocab[0] if vocab else 20, min_len=min(length, 6))
    for method, options in (("lrp-epsilon", {}), ("lrp-epsilon", {"epsilon": 0.0}), ("lrp-zplus", {}),
                            ("lrp-alpha-beta", {}), ("lrp-alpha-beta", {"alpha": 2, "beta": 1})):
        (a,) = analyzers(model, method, **options)
        res = a.analyze(ids)
        assert np.abs(res["scores"]).max() > 1e-6, (method, options)
        total = res["scores"].sum(axis=1) + res["absorbed"]
        np.testing.assert_allclose(total, res["target_logit"], atol=1e-4, rtol=1e-4, err_msg=f"{method} {options}")
        np.testing.assert_allclose(res["absorbed_layers"].sum(axis=1), res["absorbed"], atol=1e-5)


# ---- hand-set weights ---------------------------------------------------------------------------

def hand_dense_model(head_activation=None):
    """One token, 2-d embedding e = (1, 0) -> Dense(2, relu) W1 = [[1, -1], [0, 0]], b1 = (0, .5)
    -> Dense(1) W2 = (-2, 3), b2 = 0: z1 = (1, -.5), a1 = (1, 0), z = -2."""
    ids_in = keras.Input((1,), dtype="int32")
    emb = L.Embedding(3, 2)
    d1, d2 = L.Dense(2, activation="relu"), L.Dense(1, activation=head_activation)
    model = keras.Model(ids_in, d2(d1(L.Flatten()(emb(ids_in)))))
    emb.embeddings.assign([[0, 0], [0, 0], [1, 0]])
    d1.kernel.assign([[1, -1], [0, 0]])
    d1.bias.assign([0, 0.5])
    d2.kernel.assign([[-2], [3]])
    d2.bias.assign([0])
    return model


def test_hand_relu_rules_and_the_sigmoid_unit():
    model = hand_dense_model("sigmoid")
    ids = np.array([[2]])
    a = {m: Analyzer(model, m) for m in ("gradient", "guided-backprop", "deconvnet", "lrp-epsilon")}
    res = a["gradient"].analyze(ids)
    np.testing.assert_allclose(res["logits"], [[0.0, -2.0]])  # softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]
    assert res["target"][0] == 0 and res["target_logit"][0] == pytest.approx(2.0)  # class 0 explains -z
    # class 1 (+z): signal at a1 = W2 = (-2, 3). gradient gates at a1 > 0: (-2, 0) -> W1 (-2, 0) = (-2, 0)
    assert a["gradient"].attribute(ids, 1)[0, 0] == pytest.approx(-2.0)
    assert a["guided-backprop"].attribute(ids, 1)[0, 0] == pytest.approx(0.0)  # ReLU(-2) * open = 0
    assert a["deconvnet"].attribute(ids, 1)[0, 0] == pytest.approx(-3.0)  # rectified: (0, 3) -> (-3, 0) . e
    # class 0 (-z): signal (2, -3): gradient (2, 0) -> 2; guided (2, 0) -> 2; deconvnet (2, 0) -> 2
    for m in ("gradient", "guided-backprop", "deconvnet"):
        assert a[m].attribute(ids, 0)[0, 0] == pytest.approx(2.0)
    # LRP-0: R = z = -2 flows back whole: score -2
    assert Analyzer(model, "lrp-epsilon", epsilon=0).attribute(ids, 1)[0, 0] == pytest.approx(-2.0)
    # eps = .1: head z = -2 -> R_a1 = 1 * -2 * -2 / -2.1 = -1.90476; Dense 1: z1 = 1 -> R_x = -1.90476 / 1.1
    res = Analyzer(model, "lrp-epsilon", epsilon=0.1).analyze(ids, 1)
    assert res["scores"][0, 0] == pytest.approx(-2 * 2 / 2.1 / 1.1, rel=1e-5)
    # budget: head -2 (0 - .1) / -2.1 = -.0952381, Dense 1: -1.90476 (0 + .1) / 1.1 = -.1731602
    np.testing.assert_allclose(res["absorbed_layers"][0], [-0.4 / 2.1 / 1.1, -0.2 / 2.1], rtol=1e-5)


def test_hand_maxpool_ties_share_the_switch():
    # x = (1, 2, 2, 1) -> MaxPooling1D(2, strides 1): windows (1,2) (2,2) (2,1) -> y = (2, 2, 2)
    # -> GlobalAveragePooling1D = 2 -> Dense(1) w = 1: z = 2; dz/dy = 1/3 each.
    # Engine: the tied middle window gives 1/6 to each of positions 1 and 2 -> (0, .5, .5, 0).
    # TensorFlow's MaxPool gradient gives the tie to the first maximum -> (0, 2/3, 1/3, 0).
    ids_in = keras.Input((4,), dtype="int32")
    emb, dense = L.Embedding(4, 1), L.Dense(1)
    model = keras.Model(ids_in, dense(L.GlobalAveragePooling1D()(L.MaxPooling1D(2, strides=1)(emb(ids_in)))))
    emb.embeddings.assign([[0], [0], [1], [2]])
    dense.kernel.assign([[1.0]])
    dense.bias.assign([0.0])
    ids = np.array([[2, 3, 3, 2]])
    (gradient,), (lrp,) = analyzers(model, "gradient"), analyzers(model, "lrp-epsilon", epsilon=0.0)
    np.testing.assert_allclose(gradient.attribute(ids, 1), [[0, 0.5, 0.5, 0]], atol=1e-6)
    grad, _ = tape_logit_gradient(model, ids, np.array([1]))
    np.testing.assert_allclose(grad[..., 0], [[0, 0.5, 0.5, 0]], atol=1e-6)  # reduce_max over windows: shared
    emb = model.layers[1](tf.constant(ids))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        z = model.layers[-1](model.layers[-2](model.layers[-3](emb)))  # the model's own MaxPooling1D
    first = tape.gradient(z, emb).numpy()[..., 0]
    np.testing.assert_allclose(first, [[0, 2 / 3, 1 / 3, 0]], atol=1e-6)  # TF's MaxPool: the first maximum
    # LRP-0: R = 2 -> GAP 2/3 per window -> winners: position 1 gets 2/3 + 1/3, position 2 1/3 + 2/3
    np.testing.assert_allclose(lrp.attribute(ids, 1), [[0, 1, 1, 0]], atol=1e-6)


def test_hand_global_max_ties_and_the_dead_switch():
    # x = (1, 2, 2); Conv1D width 1 with two filters k = (1, -1): h0 = (1, 2, 2) tie at 1 and 2,
    # h1 = ReLU(-x) = 0: dead. Dense w = (1, 5): z = 2. deconvnet: filter 0 gives 1/2 to each tie;
    # the dead filter sets no switch (else ReLU(5/3) * -1 would reach every word) -> (0, 1, 1).
    ids_in = keras.Input((None,), dtype="int32")
    emb, conv, dense = L.Embedding(4, 1), L.Conv1D(2, 1, activation="relu"), L.Dense(1)
    model = keras.Model(ids_in, dense(L.GlobalMaxPooling1D()(conv(emb(ids_in)))))
    emb.embeddings.assign([[0], [1], [2], [3]])
    conv.kernel.assign([[[1.0, -1.0]]])
    conv.bias.assign([0.0, 0.0])
    dense.kernel.assign([[1.0], [5.0]])
    dense.bias.assign([0.0])
    ids = np.array([[1, 2, 2]])
    for m in ("deconvnet", "grad-x-input", "guided-backprop", "lrp-epsilon"):
        np.testing.assert_allclose(Analyzer(model, m, **({"epsilon": 0} if "lrp" in m else {})).attribute(ids, 1),
                                   [[0, 1, 1]], atol=1e-6, err_msg=m)


def test_hand_batchnorm_add_and_average_pooling():
    # BatchNormalization gamma 3, beta 1, mean 1, var + eps = 4: y = 1.5 x - .5; x = 2 -> y = 2.5;
    # Dense w = 2: z = 5. LRP-0: R_x = x a R / y = 2 * 1.5 * 5 / 2.5 = 6, absorbed 5 * -.5 / 2.5 = -1;
    # the alpha-beta rules take the z-rule at BatchNormalization too (as iNNvestigate does): 6, -1.
    ids_in = keras.Input((1,), dtype="int32")
    emb, bn, dense = L.Embedding(3, 1), L.BatchNormalization(), L.Dense(1)
    model = keras.Model(ids_in, dense(bn(L.Flatten()(emb(ids_in)))))
    emb.embeddings.assign([[0], [0], [2]])
    bn.gamma.assign([3.0])
    bn.beta.assign([1.0])
    bn.moving_mean.assign([1.0])
    bn.moving_variance.assign([4.0 - bn.epsilon])
    dense.kernel.assign([[2.0]])
    dense.bias.assign([0.0])
    ids = np.array([[2]])
    (lrp0,) = analyzers(model, "lrp-epsilon", epsilon=0)
    ab, zp, gxi = analyzers(model, "lrp-alpha-beta", "lrp-zplus", "grad-x-input")
    res = lrp0.analyze(ids, 1)
    assert res["scores"][0, 0] == pytest.approx(6.0) and res["absorbed"][0] == pytest.approx(-1.0)
    for a in (ab, zp):
        res = a.analyze(ids, 1)
        assert res["scores"][0, 0] == pytest.approx(6.0)
        np.testing.assert_allclose(res["absorbed_layers"][0], [-1.0, 0.0], atol=1e-6)
    assert gxi.attribute(ids, 1)[0, 0] == pytest.approx(6.0)  # dz/dx = 1.5 * 2 = 3, times x = 2
    # Add of two width-1 convs (k = 1 and 2) -> 3x; x = (1, 3) -> (3, 9); GlobalAveragePooling1D = 6;
    # Dense w = 1: z = 6. LRP-0 shares R = 6 as (3, 9) / 12 -> (1.5, 4.5) = gradient x input (1.5 x).
    ids_in = keras.Input((None,), dtype="int32")
    emb, c1, c2, dense = L.Embedding(4, 1), L.Conv1D(1, 1, use_bias=False), L.Conv1D(1, 1, use_bias=False), L.Dense(1)
    e = emb(ids_in)
    model = keras.Model(ids_in, dense(L.GlobalAveragePooling1D()(L.Add()([c1(e), c2(e)]))))
    emb.embeddings.assign([[0], [1], [0], [3]])
    c1.kernel.assign([[[1.0]]])
    c2.kernel.assign([[[2.0]]])
    dense.kernel.assign([[1.0]])
    dense.bias.assign([0.0])
    for m in ("lrp-epsilon", "grad-x-input"):
        (a,) = analyzers(model, m, **({"epsilon": 0} if "lrp" in m else {}))
        np.testing.assert_allclose(a.attribute(np.array([[1, 3]]), 1), [[1.5, 4.5]], atol=1e-6)


def test_hand_alpha_beta_takes_the_z_rule_at_average_pooling_and_joins():
    # x = (1, 3) -> GlobalAveragePooling1D p = 2 -> Dense w = 1, b = 0: z = 2. alpha = 2, beta = 1
    # at the Dense: Z+ = 2, Z- = 0 (passes nothing): R_p = 2 * 2 = 4, absorbed 2 - 4 = -2.
    # The pooling takes the z-rule: R_x = x (1/2) 4 / 2 = (1, 3), absorbed 0; sum + absorbed = 2 = z
    # (the alpha rule there would double it again: (2, 6)).
    ids_in = keras.Input((None,), dtype="int32")
    emb, dense = L.Embedding(4, 1), L.Dense(1)
    model = keras.Model(ids_in, dense(L.GlobalAveragePooling1D()(emb(ids_in))))
    emb.embeddings.assign([[0], [1], [0], [3]])
    dense.kernel.assign([[1.0]])
    dense.bias.assign([0.0])
    res = Analyzer(model, "lrp-alpha-beta", alpha=2, beta=1).analyze(np.array([[1, 3]]), 1)
    np.testing.assert_allclose(res["scores"], [[1.0, 3.0]], atol=1e-6)
    np.testing.assert_allclose(res["absorbed_layers"], [[0.0, -2.0]], atol=1e-6)
    assert res["scores"].sum() + res["absorbed"][0] == pytest.approx(res["target_logit"][0])
    # the same through an Add join of two identical branches: Add splits (2, 2) by contribution
    ids_in = keras.Input((None,), dtype="int32")
    emb, dense = L.Embedding(4, 1), L.Dense(1)
    e = emb(ids_in)
    model = keras.Model(ids_in, dense(L.GlobalAveragePooling1D()(L.Add()([e, L.Dropout(0.1)(e)]))))
    emb.embeddings.assign([[0], [1], [0], [3]])
    dense.kernel.assign([[1.0]])
    dense.bias.assign([0.0])
    res = Analyzer(model, "lrp-alpha-beta", alpha=2, beta=1).analyze(np.array([[1, 3]]), 1)
    np.testing.assert_allclose(res["scores"], [[2.0, 6.0]], atol=1e-6)  # z = 4: R = 8 -> (2, 6)
    np.testing.assert_allclose(res["absorbed_layers"], [[0.0, 0.0, -4.0]], atol=1e-6)


# ---- batching, lengths, refusal --------------------------------------------------------------------

@pytest.mark.parametrize("method", RULE_NAMES)  # every rule: each case takes under a second
def test_batched_equals_one_by_one(method):
    model = branch_model(seed=5)  # fixed length 12
    ids = random_ids(np.random.default_rng(15), 7, 12)
    (a,) = analyzers(model, method)
    together = a.analyze(ids, [0, 1, -1, 1, 0, -1, 1])
    for i, t in enumerate([0, 1, -1, 1, 0, -1, 1]):
        alone = a.analyze(ids[i:i + 1], t)
        np.testing.assert_allclose(together["scores"][i], alone["scores"][0], atol=1e-5)
        assert together["target"][i] == alone["target"][0]


def test_model_explainer_batches_only_equal_lengths():
    model = stack()
    vocab = ["", "[UNK]"] + [f"w{i}" for i in range(18)]
    texts = ["w3 w4 w5 w6 w7", "w2 w9", "w11 w12 w13 w14 w15 w16 w17 w3 w4", "w5 zzz w6 w7 w8", "w9"]
    (a,) = analyzers(model, "deconvnet")
    together = a.explain(texts, vocabulary=vocab, batch_size=64, class_names=["a", "b", "c"])
    for text, e in zip(texts, together):
        alone = a.explain([text], vocabulary=vocab, class_names=["a", "b", "c"])[0]
        np.testing.assert_allclose(e.scores, alone.scores, atol=1e-6)
        assert e.tokens == text.split() and len(e.scores) == len(e.tokens)
    assert together[3].token_ids.tolist() == [7, 1, 8, 9, 10]  # zzz is unknown: id 1
    assert a.graph.min_length == 1


def test_unsupported_layers_are_refused_with_one_message():
    ids = keras.Input((None,), dtype="int32")
    e = L.Embedding(10, 4)(ids)
    lstm = keras.Model(ids, L.Dense(2)(L.LSTM(3, name="encoder")(e)))
    lam = keras.Model(ids, L.Dense(2)(L.GlobalMaxPooling1D()(L.Lambda(lambda t: t * 2, name="double")(e))))
    for model, name, cls in ((lstm, "encoder", "LSTM"), (lam, "double", "Lambda")):
        with pytest.raises(UnsupportedModelError) as err:
            Analyzer(model, "deconvnet")
        message = str(err.value)
        assert f"layer '{name}' ({cls}) is not supported" in message and "\n" not in message
        assert "supported layers: " + ", ".join(SUPPORTED) in message
        assert isinstance(err.value, InputError)
    tanh = keras.Model(ids, L.Dense(2)(L.GlobalMaxPooling1D()(L.Conv1D(3, 2, activation="tanh", name="c")(e))))
    with pytest.raises(UnsupportedModelError, match=r"layer 'c' \(Conv1D\) is not supported \(activation 'tanh'"):
        Analyzer(tanh, "gradient")
    floats = keras.Input((5, 4))
    with pytest.raises(UnsupportedModelError, match="not integer token ids"):
        Analyzer(keras.Model(floats, L.Dense(2)(L.Flatten()(floats))), "gradient")
    no_dense = keras.Model(ids, L.GlobalMaxPooling1D(name="pool")(e))
    with pytest.raises(UnsupportedModelError, match="output must be a Dense layer's logits"):
        Analyzer(no_dense, "gradient")


# ---- the two Keras example architectures, trained briefly, end to end -------------------------------

@functools.cache
def trained_examples():
    texts, labels = toy_corpus(64)
    vectorizer = L.TextVectorization(max_tokens=60, output_mode="int", output_sequence_length=40)
    vectorizer.adapt(texts)
    x = vectorizer(np.array(texts)).numpy()
    scratch = from_scratch_model(vocab=60, length=40)
    scratch.compile(loss="binary_crossentropy", optimizer="adam")
    scratch.fit(x, labels, epochs=3, batch_size=16, verbose=0)
    vocab = vectorizer.get_vocabulary()
    vectors = np.random.default_rng(0).normal(size=(len(vocab), 6)).astype("float32")
    vectors[0] = 0
    pretrained = pretrained_model(vectors, classes=3)
    pretrained.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    three = labels + (np.arange(64) % 3 == 0)  # three classes
    pretrained.fit(np.pad(x, [[0, 0], [0, 120]]), three, epochs=3, batch_size=16, verbose=0)  # >= 149 ids
    return texts, vectorizer, scratch, pretrained


def check_relu_overrides(model, ids, target):
    """deconvnet and guided-backprop == chain_reference with the overridden ReLUs (helpers)."""
    emb = model.layers[1](tf.constant(ids))
    for method, relu, dead in (("deconvnet", zeiler_fergus_relu, True), ("guided-backprop", guided_relu, False)):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            z = chain_reference(model, emb, relu, dead)
            if z.shape[-1] == 1:  # a sigmoid unit: class 1 is +z, class 0 is -z
                objective = tf.reduce_sum(z[:, 0] * np.where(target == 1, 1.0, -1.0))
            else:
                objective = tf.reduce_sum(z * tf.one_hot(target, z.shape[-1]))
        reference = tf.reduce_sum(tape.gradient(objective, emb) * emb, -1).numpy()
        (a,) = analyzers(model, method)
        np.testing.assert_allclose(a.attribute(ids, target), reference, atol=1e-5, err_msg=method)
        assert np.abs(reference).max() > 1e-6


def test_from_scratch_architecture_end_to_end():
    texts, vectorizer, model, _ = trained_examples()
    ids = vectorizer(np.array(texts[:6])).numpy()
    gradient, gxi, deconvnet, lrp = analyzers(model, "gradient", "grad-x-input", "deconvnet", "lrp-epsilon")
    assert not deconvnet.tap_steps  # strides 3: every layer through its vector-Jacobian product
    for target in (0, 1):
        grad, emb = tape_logit_gradient(model, ids, np.full(6, target))
        np.testing.assert_allclose(gradient.attribute(ids, target), grad.sum(-1), atol=1e-5)
        np.testing.assert_allclose(gxi.attribute(ids, target), (grad * emb).sum(-1), atol=1e-5)
    check_budget(lrp.analyze(ids))
    check_relu_overrides(model, ids, np.array([0, 1, 1, 0, 1, 0]))
    expls = explain_model(model, texts[:4] + ["Good, GOOD film!"], vocabulary=vectorizer, method="deconvnet",
                          class_names=["negative", "positive"])
    assert expls[-1].tokens == ["Good", "GOOD", "film"] and expls[-1].token_ids.tolist()[0] == expls[-1].token_ids[1]
    p = model(vectorizer(np.array(texts[:4])), training=False).numpy()[:, 0]
    for e, prob in zip(expls, p):
        assert e.probs[1] == pytest.approx(prob, abs=1e-5) and e.predicted == int(prob > 0.5)
        assert len(e.scores) == len(e.tokens) and e.method == "deconvnet"
    # the end-to-end model (strings in) brings its own vocabulary, tokenizer and length
    strings = keras.Input((), dtype="string")
    end_to_end = keras.Model(strings, _rewire(model, vectorizer(strings)))
    same = explain_model(end_to_end, texts[:4], method="deconvnet", class_names=["negative", "positive"])
    for a, b in zip(expls, same):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    long_text = " ".join(["good"] * 50)
    cut = explain_model(end_to_end, [long_text], method="gradient")[0]
    assert len(cut.tokens) == 40 and cut.extras["truncated"] == 10


def _rewire(model, x):
    """``model``'s layers applied to ``x`` as one flat graph (the engine refuses nested models)."""
    for layer in model.layers[1:]:
        x = layer(x)
    return x


def test_pretrained_embeddings_architecture_end_to_end():
    texts, vectorizer, _, model = trained_examples()
    (gradient, deconvnet, guided, lrp) = analyzers(model, "gradient", "deconvnet", "guided-backprop", "lrp-epsilon")
    # valid Conv1D(5), MaxPooling1D(5), Conv1D(5), MaxPooling1D(5), Conv1D(5): 149 ids leave one position
    n = gradient.graph.min_length
    assert n == 149 and ((n - 4 - 5) // 5 + 1 - 4 - 5) // 5 + 1 - 4 == 1
    assert ((n - 1 - 4 - 5) // 5 + 1 - 4 - 5) // 5 + 1 - 4 == 0
    ids = vectorizer(np.array(texts[:5])).numpy()
    ids = np.pad(ids, [[0, 0], [0, n + 6 - ids.shape[1]]])
    grad, emb = tape_logit_gradient(model, ids, np.array([0, 1, 2, 1, 0]))
    np.testing.assert_allclose(gradient.attribute(ids, [0, 1, 2, 1, 0]), grad.sum(-1), atol=1e-5)
    check_budget(lrp.analyze(ids))
    check_relu_overrides(model, ids, np.array([0, 1, 2, 1, 0]))
    expls = explain_model(model, texts[:5], vocabulary=vectorizer.get_vocabulary(), method="guided-backprop")
    for e, row in zip(expls, ids):
        np.testing.assert_allclose(e.scores, guided.attribute(row[None, :max(n, len(e.tokens))])[0, :len(e.tokens)],
                                   atol=1e-6)
    with pytest.raises(InputError, match="needs at least 149 ids per row"):
        deconvnet.attribute(ids[:, :148])


# ---- vocabulary and saved models -----------------------------------------------------------------------

def test_vocabulary_sources_and_tokenizer(tmp_path):
    assert keras_tokenize("It's a gem! (really)") == ["Its", "a", "gem", "really"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n[UNK]\ngood\nbad\n", encoding="utf-8")
    assert read_vocabulary(path) == ["", "[UNK]", "good", "bad"]
    path.write_text("\n[UNK]\ngood\n\nbad\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"vocab.txt:4: empty token"):
        read_vocabulary(path)
    with pytest.raises(InputError, match="'good' appears twice"):
        read_vocabulary(["", "[UNK]", "good", "good"])
    with pytest.raises(MissingFileError, match="vocabulary file not found"):
        read_vocabulary(tmp_path / "none.txt")


def test_load_model_for_explaining(tmp_path):
    model = stack()
    path = tmp_path / "model.keras"
    model.save(path)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["", "[UNK]"] + [f"w{i}" for i in range(18)]) + "\n", encoding="utf-8")
    loaded, tokens = load_model_for_explaining(path, vocab)
    assert tokens[2] == "w0" and len(tokens) == 20
    ids = random_ids(np.random.default_rng(16), 3, 9)
    a, b = Analyzer(loaded, "deconvnet"), Analyzer(model, "deconvnet")
    np.testing.assert_allclose(a.attribute(ids), b.attribute(ids), atol=1e-6)
    with pytest.raises(MissingFileError, match="model file not found"):
        load_model_for_explaining(tmp_path / "none.keras", vocab)
    big = tmp_path / "big.txt"
    big.write_text("\n".join(["", "[UNK]"] + [f"w{i}" for i in range(30)]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="32 tokens but the model's embedding has only 20 rows"):
        load_model_for_explaining(path, big)
    with pytest.raises(InputError, match="no TextVectorization layer; give its vocabulary file"):
        load_model_for_explaining(path, None)
    vectorizer = L.TextVectorization(max_tokens=12, output_sequence_length=8)
    vectorizer.adapt(["a good film", "a bad film", "good acting"])
    strings = keras.Input((1,), dtype="string")
    x = L.Embedding(12, 3)(vectorizer(strings))
    end_to_end = keras.Model(strings, L.Dense(2)(L.GlobalMaxPooling1D()(x)))
    end_to_end.save(tmp_path / "e2e.keras")
    loaded, tokens = load_model_for_explaining(tmp_path / "e2e.keras")  # the vocabulary comes with it
    assert tokens == vectorizer.get_vocabulary()
    e = explain_model(loaded, ["A good, good film!"], method="lrp-epsilon")[0]
    assert e.tokens == ["A", "good", "good", "film"] and e.scores[1] == pytest.approx(e.scores[2])
    ids_in = keras.Input((None,), dtype="int32")
    lam = keras.Model(ids_in, L.Dense(2)(L.GlobalMaxPooling1D()(L.Lambda(lambda t: t * 2)(L.Embedding(5, 2)(ids_in)))))
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(InputError) as err:
        load_model_for_explaining(tmp_path / "lambda.keras", vocab)
    assert "\n" not in str(err.value) and "lambda.keras: cannot load the model" in str(err.value)


def test_every_supported_layer_is_exercised():
    # the models of this file together hold every layer class the engine supports
    models = [stack(), branch_model(), tiny_net("multichannel", output_weights="kim").model, hand_dense_model(),
              from_scratch_model(), pretrained_model(np.zeros((30, 4), "float32")), residual("nested")]
    used = {type(layer).__name__ for model in models for layer in model.layers}
    used |= {"BatchNormalization", "Add", "MaxPooling1D"}  # the hand models of test_hand_*
    assert set(SUPPORTED) <= used, set(SUPPORTED) - used
