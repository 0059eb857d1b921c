"""Tiny Keras text models for the reverse-engine tests, and independent references to check it by.

TensorFlow needed: import only from TensorFlow tests.
"""
import keras
import numpy as np
import tensorflow as tf

L = keras.layers


def randomize(model, seed=0, bias_scale=0.3):
    """Random non-zero biases and BatchNormalization statistics (Keras starts them at 0 / 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(scale=bias_scale, size=layer.bias.shape).astype("float32"))
        if isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape
            layer.gamma.assign(rng.uniform(0.5, 2.0, c).astype("float32") * rng.choice([-1, 1], c))
            layer.beta.assign(rng.normal(scale=0.3, size=c).astype("float32"))
            layer.moving_mean.assign(rng.normal(scale=0.3, size=c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
    return model


def stack_model(vocab=20, dim=6, seed=0, bias=True, batchnorm=True, head="softmax"):
    """Strided conv stacks: Embedding -> Conv1D(3, strides 2, same, relu) -> MaxPooling1D(3, 2, same)
    -> [BatchNormalization] -> Conv1D(2, dilation 2, causal, linear) -> ReLU -> GlobalMaxPooling1D
    -> Dense(8, relu) -> Dense(3, softmax)."""
    init = keras.initializers.GlorotUniform(seed=seed)
    ids = keras.Input((None,), dtype="int32")
    x = L.Embedding(vocab, dim, embeddings_initializer=keras.initializers.RandomNormal(seed=seed))(ids)
    x = L.Conv1D(8, 3, strides=2, padding="same", activation="relu", use_bias=bias, kernel_initializer=init)(x)
    x = L.MaxPooling1D(3, strides=2, padding="same")(x)
    if batchnorm:
        x = L.BatchNormalization()(x)
    x = L.Conv1D(8, 2, dilation_rate=2, padding="causal", use_bias=bias, kernel_initializer=init)(x)
    x = L.ReLU()(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(8, activation="relu", use_bias=bias, kernel_initializer=init)(x)
    out = L.Dense(3, activation=head, use_bias=bias, kernel_initializer=init)(x)
    return randomize(keras.Model(ids, out, name="stack"), seed)


def dilated_conv1d(x, kernel, dilation):
    """A VALID, stride-1 Conv1D with ``dilation`` as a sum of shifted matmuls,
    ``y[t] = sum_k x[t + k*dilation] @ kernel[k]`` (x: (batch, time, in), kernel: (width, in, out)).

    Written out because TensorFlow's own CPU kernel for the input gradient (Conv2DBackpropInput)
    refuses dilation > 1 unless oneDNN is on, which it is not by default on AVX2-only CPUs."""
    width = kernel.shape[0]
    steps = tf.shape(x)[1] - (width - 1) * dilation
    return tf.add_n([tf.einsum("btc,cf->btf", x[:, k * dilation:k * dilation + steps], kernel[k])
                     for k in range(width)])


def stack_reference(model, emb, relu, dead_gate=False):
    """``stack_model``'s logits from its embedded input, rebuilt with plain TensorFlow ops and the
    given ``relu`` (e.g. one whose gradient is overridden with tf.custom_gradient). ``dead_gate``
    blocks the backward signal of pooled units equal to 0 (the deconvnet's dead-switch rule)."""
    conv1, pool, *rest = [layer for layer in model.layers[2:]]
    bn = rest.pop(0) if isinstance(rest[0], L.BatchNormalization) else None
    conv2, _, _, dense1, dense2 = rest

    def gate(p):
        return p * tf.stop_gradient(tf.cast(p != 0, p.dtype)) if dead_gate else p

    def bias(layer):
        return layer.bias if layer.bias is not None else 0.0

    h = relu(tf.nn.conv1d(emb, conv1.kernel, 2, "SAME") + bias(conv1))
    h = gate(shared_max_pool(pool, h))
    if bn is not None:
        scale = bn.gamma * tf.math.rsqrt(bn.moving_variance + bn.epsilon)
        h = h * scale + (bn.beta - bn.moving_mean * scale)
    h = tf.pad(h, [[0, 0], [2, 0], [0, 0]])  # causal: dilation 2 x (width 2 - 1) on the left
    h = relu(dilated_conv1d(h, conv2.kernel, 2) + bias(conv2))
    h = gate(tf.reduce_max(h, axis=1))
    h = relu(h @ dense1.kernel + bias(dense1))
    return h @ dense2.kernel + bias(dense2)


def chain_reference(model, emb, relu, dead_gate=False):
    """The pre-activation logits of a chain model (the two Keras example architectures: valid
    Conv1D relu, MaxPooling1D, GlobalMaxPooling1D, Dense relu, Dropout) from its embedded input,
    rebuilt with plain TensorFlow ops and the given ``relu``; ``dead_gate`` as in ``stack_reference``."""
    def gate(p):
        return p * tf.stop_gradient(tf.cast(p != 0, p.dtype)) if dead_gate else p

    layers = [layer for layer in model.layers if not isinstance(layer, (L.InputLayer, L.Embedding, L.Dropout))]
    x = emb
    for layer in layers[:-1]:
        if isinstance(layer, L.Conv1D):
            assert layer.padding == "valid"
            x = relu(tf.nn.conv1d(x, layer.kernel, layer.strides[0], "VALID") + layer.bias)
        elif isinstance(layer, L.MaxPooling1D):
            x = gate(shared_max_pool(layer, x))
        elif isinstance(layer, L.GlobalMaxPooling1D):
            x = gate(tf.reduce_max(x, axis=1))
        else:
            x = relu(x @ layer.kernel + layer.bias)
    return x @ layers[-1].kernel + layers[-1].bias


def branch_model(vocab=20, dim=5, length=12, seed=0):
    """Every other supported layer: SpatialDropout1D, two Conv1D branches joined by Add and by
    Concatenate, AveragePooling1D, Activation("relu"), Rescaling, Flatten, GlobalAveragePooling1D,
    GlobalMaxPooling1D, Dropout, Dense relu and a single sigmoid unit; fixed input length."""
    init = keras.initializers.GlorotUniform(seed=seed)
    ids = keras.Input((length,), dtype="int32")
    e = L.SpatialDropout1D(0.3)(L.Embedding(vocab, dim)(ids))
    a = L.Conv1D(6, 2, padding="same", activation="relu", kernel_initializer=init)(e)
    b = L.Conv1D(6, 3, padding="same", kernel_initializer=init)(e)
    b = L.Activation("relu")(b)
    x = L.AveragePooling1D(2)(L.Add()([a, b]))                       # (batch, length / 2, 6)
    y = L.Conv1D(4, 3, strides=2, padding="valid", activation="relu", kernel_initializer=init)(
        L.Concatenate()([a, L.Rescaling(0.5)(b)]))
    pooled = L.Concatenate()([L.Flatten()(x), L.GlobalAveragePooling1D()(y), L.GlobalMaxPooling1D()(y)])
    h = L.Dropout(0.5)(L.Dense(7, activation="relu", kernel_initializer=init)(pooled))
    out = L.Dense(1, activation="sigmoid", kernel_initializer=init)(h)
    return randomize(keras.Model(ids, out, name="branch"), seed)


def from_scratch_model(vocab=60, length=40, dim=8, filters=6, hidden=8, seed=0):
    """Keras's "text classification from scratch" at tiny size: Embedding -> Dropout -> two Conv1D
    (width 7, strides 3, relu) -> GlobalMaxPooling1D -> Dense relu -> Dropout -> Dense(1, sigmoid)."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input(shape=(length,), dtype="int64")
    x = L.Embedding(vocab, dim)(ids)
    x = L.Dropout(0.5)(x)
    x = L.Conv1D(filters, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.Conv1D(filters, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(hidden, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    out = L.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(ids, out, name="from_scratch")


def pretrained_model(vectors, classes=3, filters=6, seed=0):
    """Keras's "using pre-trained word embeddings" at tiny size: a frozen Embedding holding
    ``vectors`` -> (Conv1D(5, relu) + MaxPooling1D(5)) x 2 -> Conv1D(5, relu) -> GlobalMaxPooling1D
    -> Dense relu -> Dropout -> Dense(classes, softmax); variable input length."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input(shape=(None,), dtype="int64")
    emb = L.Embedding(vectors.shape[0], vectors.shape[1], trainable=False)
    x = emb(ids)
    emb.embeddings.assign(vectors)
    x = L.Conv1D(filters, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(filters, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(filters, 5, activation="relu")(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(filters, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    out = L.Dense(classes, activation="softmax")(x)
    return keras.Model(ids, out, name="pretrained")


@tf.custom_gradient
def zeiler_fergus_relu(x):
    """ReLU whose backward pass rectifies the signal instead of gating it (the deconvnet rule)."""
    return tf.nn.relu(x), lambda dy: tf.nn.relu(dy)


@tf.custom_gradient
def guided_relu(x):
    """ReLU whose backward pass keeps positive signal at positive inputs (guided backprop)."""
    return tf.nn.relu(x), lambda dy: tf.nn.relu(dy) * tf.cast(x > 0, dy.dtype)


def shared_max_pool(layer, x):
    """A MaxPooling1D whose gradient shares exact ties equally: reduce_max over gathered windows
    (TensorFlow's reduce_max gradient splits ties, its MaxPool gradient picks the first)."""
    p, s = layer.pool_size[0], layer.strides[0]
    t = x.shape[1]
    if layer.padding == "same":
        n = -(-t // s)
        total = max((n - 1) * s + p - t, 0)
        x = tf.pad(x, [[0, 0], [total // 2, total - total // 2], [0, 0]], constant_values=-1e30)
    else:
        n = (t - p) // s + 1
    windows = tf.gather(x, np.arange(n)[:, None] * s + np.arange(p)[None, :], axis=1)  # (batch, n, p, C)
    return tf.reduce_max(windows, axis=2)


def tape_logit_gradient(model, ids, target):
    """(d logit_target / d emb, emb) by GradientTape through the model's own layers, for a model
    whose layers are a chain (Sequential-like) ending in a Dense; logit = pre-activation.
    MaxPooling1D runs as ``shared_max_pool`` (same values; exact ties share the gradient)."""
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    emb = layers[0](tf.constant(ids))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        x = emb
        for layer in layers[1:-1]:
            if isinstance(layer, L.MaxPooling1D):
                x = shared_max_pool(layer, x)
            else:
                x = layer(x, training=False) if isinstance(layer, (L.Dropout, L.BatchNormalization)) else layer(x)
        head = layers[-1]
        z = x @ head.kernel + (head.bias if head.bias is not None else 0.0)
        logit = tf.reduce_sum(z * tf.one_hot(target, z.shape[-1])) if z.shape[-1] > 1 else \
            tf.reduce_sum(z[:, 0] * tf.where(tf.constant(target) == 1, 1.0, -1.0))
    return tape.gradient(logit, emb).numpy(), emb.numpy()


def toy_corpus(n=64, seed=0):
    """Sentences with a planted signal: label 1 if "good" or "great" occurs, else 0."""
    rng = np.random.default_rng(seed)
    filler = ["the", "movie", "plot", "a", "was", "film", "story", "it", "and", "actors"]
    texts, labels = [], []
    for i in range(n):
        words = list(rng.choice(filler, size=int(rng.integers(6, 14))))
        label = i % 2
        cue = ["good", "great"] if label else ["bad", "dull"]
        words.insert(int(rng.integers(0, len(words))), str(rng.choice(cue)))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def residual_model(kind, vocab=20, dim=6, seed=0):
    """Skip connections, the joins whose backward step must be local:

    - ``dpcnn``: a DPCNN (Johnson & Zhang, 2017) at tiny size: region embedding (linear Conv1D), two
      pre-activation blocks [ReLU -> Conv1D -> ReLU -> Conv1D] + shortcut (Add), stride-2
      MaxPooling1D between them, GlobalMaxPooling1D, Dense;
    - ``densenet``: DenseNet-style joins: Concatenate([h, f(h)]), then Concatenate of that with a
      Conv1D of it, and a Concatenate of the embedding itself with a Conv1D of it;
    - ``nested``: two levels: Add([h, f2(Add([h, f1(h)]))]) and an Average of the two sums.
    """
    init = keras.initializers.GlorotUniform(seed=seed)

    def conv(filters, width, activation=None, **kw):
        return L.Conv1D(filters, width, padding="same", activation=activation, kernel_initializer=init, **kw)

    ids = keras.Input((None,), dtype="int32")
    e = L.Embedding(vocab, dim, embeddings_initializer=keras.initializers.RandomNormal(seed=seed))(ids)
    if kind == "dpcnn":
        h = conv(6, 3)(e)

        def block(x):
            y = conv(6, 3)(L.ReLU()(x))
            return L.Add()([x, conv(6, 3)(L.ReLU()(y))])
        h = block(h)
        h = L.MaxPooling1D(3, strides=2, padding="same")(h)
        h = L.GlobalMaxPooling1D()(block(h))
    elif kind == "densenet":
        h = conv(4, 3, "relu")(e)
        c = L.Concatenate()([h, conv(4, 3, "relu")(h)])
        c = L.Concatenate()([c, conv(4, 2, "relu")(c)])
        d = L.Concatenate()([e, conv(3, 2, "relu")(e)])
        h = L.Concatenate()([L.GlobalMaxPooling1D()(c), L.GlobalAveragePooling1D()(d)])
        h = L.Dense(6, activation="relu", kernel_initializer=init)(h)
    elif kind == "nested":
        h = conv(6, 3)(e)
        inner = L.Add()([h, conv(6, 3, "relu")(h)])
        outer = L.Add()([h, conv(6, 2, "relu")(inner)])
        h = L.GlobalMaxPooling1D()(L.ReLU()(L.Average()([outer, inner])))
    else:
        raise ValueError(kind)
    out = L.Dense(3, activation="softmax", kernel_initializer=init)(h)
    return randomize(keras.Model(ids, out, name=kind), seed)


def functional_reference(model, ids, emb, relu=tf.nn.relu, dead_gate=False):
    """The pre-activation logits of ``model`` on ``ids`` from its embedded input ``emb``, through Keras's own
    functional graph (so TensorFlow's autodiff sums the paths of every join) with each ReLU,
    max-pool and Dense / Conv1D rebuilt from plain ops: ``relu`` may override its gradient
    (tf.custom_gradient), ``dead_gate`` as in ``stack_reference``. MaxPooling1D shares exact ties."""
    head = model.layers[-1]

    def gate(p):
        return p * tf.stop_gradient(tf.cast(p != 0, p.dtype)) if dead_gate else p

    def act(layer, z):
        name = getattr(getattr(layer, "activation", None), "__name__", "linear")
        return relu(z) if name == "relu" else z

    def op(layer):
        if isinstance(layer, L.Embedding):
            return lambda ids: emb
        if isinstance(layer, L.Conv1D):
            def conv(x):
                assert layer.padding == "same" and layer.strides[0] == 1 and layer.dilation_rate[0] == 1
                z = tf.nn.conv1d(x, layer.kernel, 1, "SAME")
                return act(layer, z + layer.bias if layer.bias is not None else z)
            return conv
        if isinstance(layer, L.Dense):
            def dense(x):
                z = x @ layer.kernel + (layer.bias if layer.bias is not None else 0.0)
                return z if layer is head else act(layer, z)
            return dense
        if isinstance(layer, L.ReLU) or (isinstance(layer, L.Activation) and layer.activation.__name__ == "relu"):
            return relu
        if isinstance(layer, L.MaxPooling1D):
            return lambda x: gate(shared_max_pool(layer, x))
        if isinstance(layer, L.GlobalMaxPooling1D):
            return lambda x: gate(tf.reduce_max(x, axis=1))
        if isinstance(layer, (L.Dropout, L.BatchNormalization, L.SpatialDropout1D)):
            return lambda *a, **k: layer(*a, **{**k, "training": False})
        return layer

    return model._run_through_graph(tf.constant(ids), operation_fn=op)  # a private Keras API, tests only
