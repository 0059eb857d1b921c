"""bench/deep_textcnn.py: its DPCNN and VDCNN-style models go through the engine exactly, and the
study runs end to end on toy data at toy sizes (slow), so the SST-2 figures cannot rot."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.engine_models import functional_reference, guided_relu, toy_corpus, zeiler_fergus_relu

from textdeconv.attribution.engine import Analyzer

ROOT = Path(__file__).resolve().parent.parent


def load_bench():
    """bench/deep_textcnn.py as a module (bench/ is no package; dataclasses need sys.modules)."""
    if "deep_textcnn" not in sys.modules:
        sys.path.insert(0, str(ROOT / "bench"))  # it imports keras_examples beside it
        spec = importlib.util.spec_from_file_location("deep_textcnn", ROOT / "bench" / "deep_textcnn.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["deep_textcnn"] = module
        spec.loader.exec_module(module)
    return sys.modules["deep_textcnn"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dpcnn", "vdcnn"])
def test_the_deep_models_are_explained_exactly(kind):
    bench = load_bench()
    m = bench.tiny(bench.MODELS)[kind]
    tf.keras.utils.set_random_seed(0)  # the initial weights, whatever ran before (a dead tiny VDCNN otherwise)
    model = bench.build(m)
    rng = np.random.default_rng(3)
    for layer in model.layers:  # non-trivial biases and BatchNorm statistics
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(scale=0.2, size=layer.bias.shape).astype("float32"))
        if type(layer).__name__ == "BatchNormalization":
            c = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 2, c).astype("float32"))
            layer.moving_mean.assign(rng.normal(scale=0.2, size=c).astype("float32"))
    ids = rng.integers(2, m.max_tokens, (4, m.length)).astype(np.int32)
    ids[0, 9:] = 0  # padding: tied maxima in the stride-2 pools
    target = np.array([0, 1, 1, 0])
    emb = model.layers[1](tf.constant(ids))
    for method, relu, dead in (("gradient", tf.nn.relu, False), ("deconvnet", zeiler_fergus_relu, True),
                               ("guided-backprop", guided_relu, False)):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            z = functional_reference(model, ids, emb, relu, dead)
            objective = tf.reduce_sum(z * tf.one_hot(target, 2))
        g = tape.gradient(objective, emb)
        ref = (tf.reduce_sum(g, -1) if method == "gradient" else tf.reduce_sum(g * emb, -1)).numpy()
        assert np.abs(ref).max() > 1e-4
        np.testing.assert_allclose(Analyzer(model, method).attribute(ids, target), ref, atol=1e-5, err_msg=method)
    for method, options in bench.LRP:
        res = Analyzer(model, method, **options).analyze(ids, target)
        np.testing.assert_allclose(res["scores"].sum(1) + res["absorbed"], res["target_logit"], atol=1e-4)


@pytest.mark.slow
def test_study_end_to_end_on_toy_data():
    bench = load_bench()
    texts, labels = toy_corpus(96)
    tokens = [t.split() for t in texts]
    data = {"train": (tokens[:64], labels[:64]), "dev": (tokens[64:80], labels[64:80]),
            "test": (tokens[80:], labels[80:])}
    results = bench.study(data, ("negative", "positive"), bench.tiny(bench.MODELS), test_stride=2,
                          methods=("deconvnet", "lrp-epsilon"))
    assert set(results) == {"dpcnn", "vdcnn"}
    for r in results.values():
        assert list(r["methods"]) == ["deconvnet", "lrp-epsilon", *bench.BASELINES]
        e = r["exactness"]
        assert e["gradient_vs_tape_max_abs"] < 1e-5 and e["lrp0_vs_grad_x_input_max_abs"] < 1e-5
        assert e["gradient_eager_vs_tape_max_abs"] < 1e-5
        assert max(e["lrp_budget_max_relative_gap"].values()) < 1e-4
        for m in r["methods"].values():
            assert all(np.isfinite(m[key]) for key, _, _ in bench.METRICS)
    text = bench.markdown({"models": results})
    assert "### `dpcnn`" in text and "| `vdcnn` |" in text


def test_a_one_ulp_change_moves_a_tied_switch_by_half_the_signal():
    """Why the trained DPCNN's engine gradient and its eager GradientTape differed at one padding
    row (docs/any-model.md, "Deep text CNNs"): a max pool's gradient jumps at a tie. Two values
    tied in one float32 forward pass share the window's signal (1/k each); one ulp apart they do
    not, and the signal moves by half of itself however small the ulp. The engine's compiled
    forward and the eager one round some windows differently (the bench's
    ``pool_windows_tied_differently``); run eagerly, on the same values as the tape, the engine
    equals it (``gradient_eager_vs_tape_max_abs``)."""
    import keras

    ids = keras.Input((2,), dtype="int32")
    emb = keras.layers.Embedding(3, 1)
    out = keras.layers.Dense(1, use_bias=False)(keras.layers.Flatten()(keras.layers.MaxPooling1D(2)(emb(ids))))
    model = keras.Model(ids, out)
    model.layers[-1].kernel.assign([[2.0]])
    a = np.float32(0.12156285)
    for b, expected in ((a, [1.0, 1.0]), (np.nextafter(a, np.float32(-1)), [2.0, 0.0])):
        emb.embeddings.assign(np.array([[0.0], [a], [b]], np.float32))
        scores = Analyzer(model, "gradient").attribute(np.array([[1, 2]]), target=1)
        np.testing.assert_array_equal(scores, [expected])
        x = tf.constant([[[a], [b]]])
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = tf.reduce_max(x, axis=1) * 2.0  # reduce_max's gradient shares ties, as the engine
        np.testing.assert_array_equal(tape.gradient(z, x).numpy()[..., 0], [expected])
