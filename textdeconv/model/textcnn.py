"""Kim (2014) TextCNN as a Keras 3 functional model, with the seams attribution needs.

    ids (batch, time) int32, laid out as [pad PAD | tokens | >= pad PAD]   (see vocab.pad_batch)
      -> embedding(s), PAD rows forced to zero        emb: (batch, time, dim * channels)
      -> per width w: Conv1D(F, w, VALID) + ReLU      h_w: (batch, time - w + 1, F)
         windows past the sentence's own padded length are zeroed (batch padding never wins a max)
      -> global max over time, concat                 pooled: (batch, F * len(widths))
      -> dropout [-> x (1 - p): output_weights=kim]
      -> Dense (max-norm per class)                   logits: (batch, classes) float32
      -> softmax                                      probs:  (batch, classes) float32

Built under a mixed dtype policy (``train.mixed_precision``, see distribute.py) the embeddings and
convolutions compute in float16 with float32 variables; the logits and softmax stay float32.

``multichannel`` feeds a frozen and a trained copy of the embeddings to every filter: the two
channels are concatenated on the feature axis, so one Conv1D kernel of shape (w, 2*dim, F) sums
a filter over both channels exactly as Kim's 2-channel convolution does.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from textdeconv.config import VECTORS_NEEDED, ModelConfig
from textdeconv.errors import ConfigError, InputError

PRETRAINED_VARIANTS = ("static", "non-static", "multichannel")
KIM_CONV_INIT = 0.01  # model.init=kim: conv kernels U(-0.01, 0.01), as Kim's Theano code for ReLU layers


def batch_function(fn):
    """``fn(ids (batch, time) int32, target (batch,) int32)`` compiled once for every batch shape.

    The signature leaves both dimensions open, so the first call traces the one shape-generic
    graph that every later batch reuses: no retracing per length bucket (a cold ``explain.py``
    traces once), and a sentence's scores never depend on which batch ran first in the process.
    """
    return tf.function(fn, input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)])


@keras.saving.register_keras_serializable(package="textdeconv")
class ZeroPadEmbedding(keras.layers.Embedding):
    """Embedding whose PAD (id 0) rows are exactly zero, whatever the table holds.

    Kim reset the PAD vector to zero after every update; masking the output does the same and
    keeps its gradient zero, so padding contributes nothing to any word score.
    """

    def call(self, inputs):
        out = super().call(inputs)
        return out * tf.cast(tf.not_equal(inputs, 0), out.dtype)[..., None]


@keras.saving.register_keras_serializable(package="textdeconv")
class WindowMask(keras.layers.Layer):
    """Zero the ReLU outputs of windows that lie beyond a sentence's own padded length.

    A sentence of n tokens is padded to n + 2*pad; extra PAD added to fill a batch would create
    all-padding windows (value ReLU(bias)) that a sentence alone would not have. Zeroing them
    cannot change a max over ReLU outputs (all >= 0), so batched results equal per-sentence ones.
    """

    def __init__(self, width: int, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.width, self.pad = width, pad

    def call(self, h, ids):
        n_tokens = tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), axis=1, keepdims=True)
        n_windows = n_tokens + 2 * self.pad - self.width + 1  # windows of the sentence alone
        t = tf.range(tf.shape(h)[1])[None, :]
        return h * tf.cast(t < n_windows, h.dtype)[..., None]

    def get_config(self):
        return {**super().get_config(), "width": self.width, "pad": self.pad}


def build_model(cfg: ModelConfig, vocab_size: int, num_classes: int, vectors: np.ndarray | None = None,
                seed: int = 0) -> keras.Model:
    """Build the TextCNN.

    Args:
        cfg: model section of the config.
        vocab_size: rows of the embedding table (PAD and UNK included).
        num_classes: output classes.
        vectors: (vocab_size, dim) float32 initial embeddings; required for static, non-static
            and multichannel.

    Initialisation (``model.init``): ``glorot`` is Keras's GlorotUniform for the convolutions and
    the output layer. ``kim`` follows Kim's Theano code (conv_net_classes.py) for his ReLU network:
    conv kernels U(-0.01, 0.01) (LeNetConvPoolLayer's branch for ``relu``; its fan-in/fan-out bound
    is for the other non-linearities) and softmax weights at zero. Biases start at zero either way.
    """
    if cfg.variant in PRETRAINED_VARIANTS and vectors is None:
        raise ConfigError(VECTORS_NEEDED.format(variant=cfg.variant))
    if vectors is not None and vectors.shape != (vocab_size, cfg.embedding_dim):
        raise ValueError(f"vectors have shape {vectors.shape}, expected ({vocab_size}, {cfg.embedding_dim})")
    pad = max(cfg.filter_sizes) - 1
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")

    def table(name, trainable):
        # vectors are assigned after building: a Constant initializer would copy the whole table
        # into the saved model's config.json (~20 bytes per value), once per channel
        init = ("zeros" if vectors is not None
                else keras.initializers.RandomUniform(-cfg.init_scale, cfg.init_scale, seed=seed))
        layer = ZeroPadEmbedding(vocab_size, cfg.embedding_dim, embeddings_initializer=init,
                                 trainable=trainable, name=name)
        out = layer(ids)
        if vectors is not None:
            layer.embeddings.assign(np.asarray(vectors, dtype=np.float32))
        return out

    if cfg.variant == "multichannel":
        emb = keras.layers.Concatenate(name="channels")([table("embedding_static", False), table("embedding", True)])
    else:
        emb = table("embedding", cfg.variant != "static")

    def conv_init(w):
        if cfg.init == "glorot":
            return keras.initializers.GlorotUniform(seed=seed + w)
        return keras.initializers.RandomUniform(-KIM_CONV_INIT, KIM_CONV_INIT, seed=seed + w)

    pooled = []
    for w in cfg.filter_sizes:
        h = keras.layers.Conv1D(cfg.num_filters, w, padding="valid", activation="relu", name=f"conv_{w}",
                                kernel_initializer=conv_init(w))(emb)
        h = WindowMask(w, pad, name=f"mask_{w}")(h, ids)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"pool_{w}")(h))
    x = keras.layers.Concatenate(name="pooled")(pooled) if len(pooled) > 1 else pooled[0]
    x = keras.layers.Dropout(cfg.dropout, seed=seed, name="dropout")(x)
    if cfg.output_weights == "kim":
        # Kim's dropout is not inverted: his W sees the bare mask m*x in training and is scaled by
        # 1 - p at inference. Keras's Dropout passes m*x / (1 - p), so a constant 1 - p in front of
        # the Dense makes its kernel Kim's W in both phases, and max_norm caps what his code caps.
        x = keras.layers.Rescaling(1.0 - cfg.dropout, name="keep_scale", dtype="float32")(x)
    constraint = keras.constraints.MaxNorm(cfg.max_norm, axis=0) if cfg.max_norm else None
    # float32 whatever the global dtype policy: under mixed precision the outputs and the loss
    # stay float32 (a float16 softmax underflows), as Keras's mixed-precision guide recommends
    logits = keras.layers.Dense(num_classes, kernel_constraint=constraint, name="logits", dtype="float32",
                                kernel_initializer=("zeros" if cfg.init == "kim"
                                                    else keras.initializers.GlorotUniform(seed=seed)))(x)
    probs = keras.layers.Softmax(name="probs", dtype="float32")(logits)
    return keras.Model(ids, probs, name="textcnn")


@dataclass
class Forward:
    """Intermediate tensors of one forward pass (inference mode: no dropout)."""

    emb: tf.Tensor            # (batch, time, dim * channels)
    h: list                   # per width: (batch, time - w + 1, F), after ReLU and window mask
    pooled: tf.Tensor         # (batch, F * len(widths))
    logits: tf.Tensor         # (batch, classes)


class TextCNN:
    """Seams of a built or loaded TextCNN: embedding look-up, conv outputs, pooled features,
    logits from given embeddings. Holds no state beyond the Keras model's layers."""

    def __init__(self, model: keras.Model):
        self.model = model
        names = [layer.name for layer in model.layers]
        self.widths = tuple(int(n.split("_")[1]) for n in names if n.startswith("conv_"))
        if not self.widths or "logits" not in names:
            raise InputError("not a textdeconv TextCNN: expected layers conv_<w> and logits")
        self.pad = max(self.widths) - 1
        self.tables = [model.get_layer(n) for n in ("embedding_static", "embedding") if n in names]
        self.convs = [model.get_layer(f"conv_{w}") for w in self.widths]
        self.masks = [model.get_layer(f"mask_{w}") for w in self.widths]
        self.dense = model.get_layer("logits")
        self.out_scale = float(model.get_layer("keep_scale").scale) if "keep_scale" in names else 1.0
        self.num_classes = int(self.dense.units)
        self.channels = len(self.tables)
        self.dim = int(self.tables[0].output_dim)

    def embed(self, ids) -> tf.Tensor:
        """ids (batch, time) -> emb (batch, time, dim * channels); PAD rows are zero."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        parts = [table(ids) for table in self.tables]
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)

    def conv_outputs(self, emb, ids) -> list:
        """emb (batch, time, E) -> per width (batch, time - w + 1, F), after ReLU and window mask."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        return [mask(conv(emb), ids) for conv, mask in zip(self.convs, self.masks)]

    @property
    def output_weights(self) -> tf.Tensor:
        """(F_total, classes): what the logits apply to the pooled features, logits = pooled @ W + b.
        The Dense kernel, times 1 - dropout for ``model.output_weights=kim`` (``keep_scale``)."""
        return tf.convert_to_tensor(self.dense.kernel) * self.out_scale

    def logits_from_pooled(self, pooled) -> tf.Tensor:
        """pooled (batch, F_total) -> logits (batch, classes), inference mode."""
        return self.dense(pooled * self.out_scale)  # out_scale 1.0 (the default) leaves pooled bit for bit

    def forward_from_embeddings(self, emb, ids) -> Forward:
        h = self.conv_outputs(emb, ids)
        pooled = tf.concat([tf.reduce_max(x, axis=1) for x in h], axis=-1)
        return Forward(emb, h, pooled, self.logits_from_pooled(pooled))

    def logits_from_embeddings(self, emb, ids) -> tf.Tensor:
        """emb (batch, time, E) -> logits (batch, classes); ``ids`` only fixes each row's length."""
        return self.forward_from_embeddings(emb, ids).logits

    def forward(self, ids) -> Forward:
        return self.forward_from_embeddings(self.embed(ids), ids)

    def predict_proba(self, ids) -> np.ndarray:
        return tf.nn.softmax(self.forward(ids).logits).numpy()
