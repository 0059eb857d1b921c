"""TextCNN: shapes for every variant, padding invariants, seams, constraint, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from tiny_models import VARIANTS, tiny_net

from textdeconv.config import ModelConfig
from textdeconv.data.vocab import pad_batch
from textdeconv.model.textcnn import TextCNN, build_model


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_every_variant_including_one_word(variant):
    net = tiny_net(variant, widths=(3, 4, 5), filters=6, dim=7, classes=5)
    ids = pad_batch([[2], [3, 4, 5, 6, 7, 8]], net.pad)  # a one-word sentence is shorter than every filter
    assert ids.shape == (2, 6 + 2 * 4)
    probs = net.model(ids).numpy()
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    fwd = net.forward(ids)
    assert fwd.emb.shape == (2, 14, 7 * (2 if variant == "multichannel" else 1))
    assert [tuple(h.shape) for h in fwd.h] == [(2, 14 - w + 1, 6) for w in (3, 4, 5)]
    assert fwd.pooled.shape == (2, 18)
    np.testing.assert_allclose(tf.nn.softmax(fwd.logits).numpy(), probs, rtol=1e-5, atol=1e-7)
    assert net.channels == (2 if variant == "multichannel" else 1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_trainable_tables(variant):
    net = tiny_net(variant)
    trainable = {t.name: t.trainable for t in net.tables}
    expected = {"rand": {"embedding": True}, "static": {"embedding": False},
                "non-static": {"embedding": True},
                "multichannel": {"embedding_static": False, "embedding": True}}[variant]
    assert trainable == expected


def test_pretrained_variant_without_vectors_is_a_clear_error():
    with pytest.raises(ValueError, match="needs pretrained vectors"):
        build_model(ModelConfig(variant="static"), 10, 2)


def test_pad_rows_are_exactly_zero_and_get_no_gradient():
    net = tiny_net()
    table = net.tables[0].embeddings
    table.assign(table + 1.0)  # make the stored PAD row non-zero
    ids = pad_batch([[2, 3]], net.pad)
    emb = net.embed(ids).numpy()
    assert np.all(emb[0, :net.pad] == 0) and np.all(emb[0, net.pad + 2:] == 0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(net.model(ids))
    grad = tf.convert_to_tensor(tape.gradient(loss, table))
    assert np.all(grad.numpy()[0] == 0)


def test_batch_padding_never_changes_a_prediction():
    # with extra padding, all-PAD windows (value ReLU(bias) > 0) would appear; the window mask hides them
    net = tiny_net(widths=(2, 5), seed=3)
    for conv in net.convs:
        conv.bias.assign(tf.fill(conv.bias.shape, 5.0))  # an all-PAD window would win every max
    short, long = [2, 3], list(range(2, 12))
    alone = net.forward(pad_batch([short], net.pad))
    batched = net.forward(pad_batch([short, long], net.pad))
    np.testing.assert_allclose(batched.pooled.numpy()[0], alone.pooled.numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(batched.logits.numpy()[0], alone.logits.numpy()[0], rtol=1e-6)


def test_logits_from_embeddings_is_the_model():
    net = tiny_net("multichannel")
    ids = pad_batch([[2, 3, 4], [5]], net.pad)
    logits = net.logits_from_embeddings(net.embed(ids), ids)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), net.model(ids).numpy(), rtol=1e-5)


def test_max_norm_caps_each_class_weight_vector():
    cfg = ModelConfig(embedding_dim=4, filter_sizes=(2,), num_filters=8, max_norm=3.0)
    model = build_model(cfg, 10, 2)
    model.compile(optimizer=keras.optimizers.SGD(1e4), loss="sparse_categorical_crossentropy")
    model.fit(pad_batch([[2, 3, 4]] * 4, 1), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    norms = np.linalg.norm(model.get_layer("logits").kernel.numpy(), axis=0)
    assert norms.shape == (2,)
    assert np.all(norms <= 3.0 + 1e-4) and np.any(norms > 2.9)



def test_kim_init_bounds_by_hand_and_zero_output_weights():
    import math

    from textdeconv.config import ConfigError, load_config
    cfg = ModelConfig(embedding_dim=6, filter_sizes=(2, 3), num_filters=4, init="kim")
    model = build_model(cfg, 10, 2, seed=1)
    # Kim's LeNetConvPoolLayer for ReLU: U(-0.01, 0.01) whatever the fan-in/fan-out
    for w in (2, 3):
        kernel = np.abs(model.get_layer(f"conv_{w}").kernel.numpy())
        assert kernel.shape == (w, 6, 4)
        assert kernel.max() <= 0.01 and kernel.max() > 0.009  # 48 / 72 draws reach the top 10%
        assert np.all(model.get_layer(f"conv_{w}").bias.numpy() == 0)
    assert np.all(model.get_layer("logits").kernel.numpy() == 0)
    glorot = build_model(ModelConfig(embedding_dim=6, filter_sizes=(2,), num_filters=4), 10, 2, seed=1)
    assert np.abs(glorot.get_layer("logits").kernel.numpy()).max() > 0
    glorot_max = np.abs(glorot.get_layer("conv_2").kernel.numpy()).max()
    assert math.sqrt(6 / (12 + 8)) >= glorot_max > 0.9 * math.sqrt(6 / (12 + 8))  # Keras: fan_out = w * F
    with pytest.raises(ConfigError, match="'model.init' must be one of glorot, kim, got 'he'"):
        load_config("tiny.yaml", ["model.init=he"])
    with pytest.raises(ConfigError, match="'model.output_weights' must be one of keras, kim, got 'theano'"):
        load_config("tiny.yaml", ["model.output_weights=theano"])


def test_kim_output_weights_see_the_bare_dropout_mask_and_scale_at_inference(tmp_path):
    # Kim's MLPDropout: training logits (m * x) W + b, inference (1 - p) x W + b, max-norm on W
    net = tiny_net(output_weights="kim", seed=3)
    assert net.out_scale == 0.5
    x = tf.constant(np.random.default_rng(0).uniform(0.5, 2.0, size=(64, 8)).astype("float32"))
    kept = net.model.get_layer("keep_scale")(net.model.get_layer("dropout")(x, training=True)).numpy()
    dropped = kept == 0
    assert 0.3 < dropped.mean() < 0.7  # the mask is live...
    np.testing.assert_array_equal(kept[~dropped], x.numpy()[~dropped])  # ...and kept units are not rescaled
    ids = pad_batch([[2, 3, 4], [5]], net.pad)
    fwd = net.forward(ids)
    W, b = net.dense.kernel.numpy(), net.dense.bias.numpy()
    np.testing.assert_allclose(fwd.logits.numpy(), 0.5 * fwd.pooled.numpy() @ W + b, rtol=1e-5)
    np.testing.assert_allclose(net.output_weights.numpy(), 0.5 * W, rtol=0)
    np.testing.assert_allclose(tf.nn.softmax(fwd.logits).numpy(), net.model(ids).numpy(), rtol=1e-5)
    net.model.save(tmp_path / "m.keras")
    loaded = TextCNN(keras.models.load_model(tmp_path / "m.keras", safe_mode=True))
    assert loaded.out_scale == 0.5 and tiny_net().out_scale == 1.0
    # the cap is on Kim's W, so the weights the logits apply are capped at max_norm * (1 - p)
    cfg = ModelConfig(embedding_dim=4, filter_sizes=(2,), num_filters=8, output_weights="kim")
    model = build_model(cfg, 10, 2)
    model.compile(optimizer=keras.optimizers.SGD(1e4), loss="sparse_categorical_crossentropy")
    model.fit(pad_batch([[2, 3, 4]] * 4, 1), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    norms = np.linalg.norm(TextCNN(model).output_weights.numpy(), axis=0)
    assert np.all(norms <= 1.5 + 1e-4) and np.any(norms > 1.45)


def test_save_and_load_with_safe_mode(tmp_path):
    net = tiny_net("multichannel")
    path = tmp_path / "m.keras"
    net.model.save(path)
    loaded = TextCNN(keras.models.load_model(path, safe_mode=True))
    ids = pad_batch([[2, 3, 4, 5]], net.pad)
    np.testing.assert_allclose(loaded.model(ids).numpy(), net.model(ids).numpy(), rtol=1e-6)
    assert loaded.widths == net.widths and loaded.channels == 2


def test_textcnn_rejects_other_models():
    inp = keras.Input((3,))
    with pytest.raises(ValueError, match="not a textdeconv TextCNN"):
        TextCNN(keras.Model(inp, keras.layers.Dense(2)(inp)))
