"""Each step's forward pass and its backward rule, for every method of the engine.

A method is a ``Rule``: how the backward signal crosses a ReLU, a max-pool and an affine map.
Two families share the walk:

*signal* rules carry g = (modified) d logit_c / d tensor:
    affine map z = A x + b (Conv1D, Dense, BatchNormalization, Rescaling, average pooling, Add, Average)
        g_x = A^T g_z, the vector-Jacobian product of the linear part, local to the step (forward):
        for Conv1D the transposed convolution with the tied kernel (TensorFlow's Conv2DBackpropInput), for Dense g W^T;
    ReLU a = max(z, 0)
        gradient, grad-x-input  g_z = g_a * [a > 0]
        guided-backprop          g_z = max(g_a, 0) * [a > 0]    (Springenberg et al., 2015)
        deconvnet                g_z = max(g_a, 0)              (Zeiler & Fergus, 2014: rectified, not gated)

*LRP* rules carry relevance R (Bach et al., 2015; Montavon et al., 2019), conserved by ReLUs,
max-pools and re-layouts and redistributed at every Conv1D / Dense z_o = sum_i x_i w_io + b_o by
    lrp-epsilon     R_i = x_i sum_o w_io R_o / (z_o + eps * s_o),   s_o = sign(z_o) (+1 at 0)
    lrp-alpha-beta  R_i = sum_o (alpha (x_i w_io)^+ / (Z+_o + b_o^+) - beta (x_i w_io)^- / (Z-_o + b_o^-)) R_o
    lrp-zplus       alpha-beta with alpha=1, beta=0 and the bias ignored (iNNvestigate's Z+ rule),
with Z+_o = sum_i (x_i w_io)^+ and Z-_o = sum_i (x_i w_io)^-; a zero denominator passes nothing.
At average pooling, Add / Average joins, BatchNormalization and Rescaling every LRP method takes
the z-rule (the epsilon rule, with eps = 0 for the alpha-beta rules), as iNNvestigate and zennit do:
relevance split by each input's contribution, all of it passed on where there is no offset (the
alpha-beta rule there would multiply it by alpha). The relevance each affine step absorbs is
computed from its rule's formula (``_affine``): with the epsilon rule exactly
    sum_o R_o - sum_i R_i = sum_o R_o (b_o + eps * s_o) / (z_o + eps * s_o),
because sum_i x_i w_io = z_o - b_o; the analyzer reports it per layer call (``absorbed``).

Max-pool switches (every method; ``MaxPooling1D`` and ``GlobalMaxPooling1D``): the signal of a
pooled unit goes to the input positions that equal its maximum, shared equally on exact ties
(1/k each of k tied positions), summed over overlapping windows. This is TensorFlow's gradient of
``reduce_max`` (hence of GlobalMaxPooling1D) and our deconv's rule; TensorFlow's ``MaxPool``
gradient instead gives all of it to the first maximum in the window, so on exact ties inside a
MaxPooling1D the engine's gradient and a GradientTape's differ (both are subgradients). Equal
shares keep repeated words symmetric. The deconvnet, which does not gate at ReLUs, sets no switch
in a window whose maximum is exactly 0 (ReLU units that never fired): otherwise a filter that never
fired would project its signal through arbitrary silent positions.
"""
from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass

import keras
import tensorflow as tf

from textdeconv.errors import InputError

SALIENCIES = ("dot", "norm", "sum")


@dataclass(frozen=True)
class Rule:
    """A method of the engine. ``relu``: gate, guided, rectify (signal) or pass (LRP)."""

    name: str
    family: str          # "signal" or "lrp"
    relu: str
    saliency: str        # word score from the embedding-side signal: dot, norm or sum
    dead_switch: bool = False
    lrp: str = ""        # "epsilon" or "alpha-beta"
    epsilon: float = 0.0
    alpha: float = 1.0
    beta: float = 0.0
    bias: bool = True


_SIGNAL = {"gradient": ("gate", "sum"), "grad-x-input": ("gate", "dot"), "guided-backprop": ("guided", "dot"),
           "deconvnet": ("rectify", "dot")}
RULE_NAMES = (*_SIGNAL, "lrp-epsilon", "lrp-alpha-beta", "lrp-zplus")
DEFAULT_EPSILON = 0.01


def _number(method: str, name: str, value, minimum: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{method}: {name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not x >= minimum or x == float("inf"):
        raise InputError(f"{method}: {name} must be a finite number >= {minimum:g}, got {value!r}")
    return x


def make_rule(method: str, saliency: str | None = None, epsilon=DEFAULT_EPSILON, alpha=1.0, beta=0.0) -> Rule:
    """The rule named ``method`` with its options checked (InputError on a bad name or value)."""
    if method not in RULE_NAMES:
        raise InputError(f"unknown engine method {method!r}; choose one of {', '.join(RULE_NAMES)}")
    if method in _SIGNAL:
        relu, default = _SIGNAL[method]
        saliency = default if saliency is None else saliency
        if saliency not in SALIENCIES:
            raise InputError(f"{method}: saliency must be one of {', '.join(SALIENCIES)}, got {saliency!r}")
        return Rule(method, "signal", relu, saliency, dead_switch=method == "deconvnet")
    if saliency not in (None, "sum"):
        raise InputError(f"{method}: LRP word scores are the relevance summed over the embedding; no saliency option")
    if method == "lrp-epsilon":
        return Rule(method, "lrp", "pass", "sum", lrp="epsilon", epsilon=_number(method, "epsilon", epsilon, 0.0))
    if method == "lrp-zplus":
        return Rule(method, "lrp", "pass", "sum", lrp="alpha-beta", alpha=1.0, beta=0.0, bias=False)
    alpha, beta = _number(method, "alpha", alpha, 1.0), _number(method, "beta", beta, 0.0)
    if abs(alpha - beta - 1.0) > 1e-9:
        raise InputError(f"{method}: alpha - beta must be 1 (relevance is conserved), "
                         f"got alpha={alpha:g}, beta={beta:g}")
    return Rule(method, "lrp", "pass", "sum", lrp="alpha-beta", alpha=alpha, beta=beta)


# ---- forward ------------------------------------------------------------------------------------

def _kernel_parts(step, part):
    kernel = tf.convert_to_tensor(step.layer.kernel)
    kernel = {None: kernel, "+": tf.nn.relu(kernel), "-": tf.minimum(kernel, 0.0)}[part]
    return tf.cast(kernel, step.layer.compute_dtype)


def linear(step, x, part=None):
    """The linear part of a Conv1D or Dense, as Keras's own ``call`` computes it (no bias), with the
    kernel or its positive (``"+"``) or negative (``"-"``) part."""
    layer = step.layer
    x = tf.cast(x, layer.compute_dtype)
    if type(layer).__name__ == "Dense":
        return keras.ops.matmul(x, _kernel_parts(step, part))
    padding = layer.padding
    if padding == "causal":
        x = keras.ops.pad(x, layer._compute_causal_padding())
        padding = "valid"
    return keras.ops.conv(x, _kernel_parts(step, part), strides=list(layer.strides), padding=padding,
                          dilation_rate=layer.dilation_rate, data_format="channels_last")


def _bias(step):
    layer = step.layer
    if getattr(layer, "bias", None) is None:
        return None
    return tf.cast(tf.convert_to_tensor(layer.bias), layer.compute_dtype)


def channel_affine(layer):
    """(scale, offset) of an inference BatchNormalization or a Rescaling: y = x * scale + offset."""
    dtype = layer.compute_dtype
    if type(layer).__name__ == "Rescaling":
        return (tf.cast(tf.convert_to_tensor(layer.scale), dtype), tf.cast(tf.convert_to_tensor(layer.offset), dtype))
    inv = tf.math.rsqrt(tf.cast(layer.moving_variance, dtype) + layer.epsilon)
    scale = inv * tf.cast(layer.gamma, dtype) if layer.scale else inv
    offset = -tf.cast(layer.moving_mean, dtype) * scale
    return scale, (offset + tf.cast(layer.beta, dtype) if layer.center else offset)


def tap_forward(step, x) -> tuple:
    """A stride-1 Conv1D computed by taps: (z without bias, cache).

    A[t, k, j] = x[t] . K[k, :, j] is one matmul of the (batch * time, E) input with the
    (E, w * F) kernel, the convolution's own work, and z[o, j] = sum_k A[o + k d, k, j] on the
    input padded as Keras pads it (causal: d (w - 1) on the left; same: TensorFlow's split).
    """
    layer = step.layer
    w, d, f = layer.kernel_size[0], layer.dilation_rate[0], layer.filters
    x = tf.cast(x, layer.compute_dtype)
    span = d * (w - 1)
    left = {"causal": span, "same": span // 2}.get(layer.padding, 0)
    right = span - left if layer.padding == "same" else 0
    if left or right:
        x = tf.pad(x, [[0, 0], [left, right], [0, 0]])
    b, t, e = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
    n = t - span
    flat = tf.reshape(tf.transpose(_kernel_parts(step, None), [1, 0, 2]), [e, w * f])
    taps = tf.reshape(tf.reshape(x, [-1, e]) @ flat, [b, t, w, f])
    z = tf.add_n([taps[:, k * d:k * d + n, k, :] for k in range(w)])
    return z, {"taps": taps, "left": left, "right": right}


def tap_scores(step, cache, u):
    """score_t = sum_k sum_j u[t - k d, j] A[t, k, j] = x[t] . (K^T u)[t]: the dot of the input with
    the transposed convolution of ``u`` (batch, n, F), without building (batch, time, E)."""
    w, d = step.layer.kernel_size[0], step.layer.dilation_rate[0]
    taps = cache["taps"]
    u = tf.cast(u, taps.dtype)
    n = tf.shape(u)[1]
    parts = [tf.pad(tf.reduce_sum(u * taps[:, k * d:k * d + n, k, :], axis=-1), [[0, 0], [k * d, d * (w - 1 - k)]])
             for k in range(w)]
    total = tf.cast(tf.add_n(parts), tf.float32)
    return total[:, cache["left"]:tf.shape(total)[1] - cache["right"]]  # padded rows are zero inputs: no mass lost


def forward(step, values: dict, tape, taps: bool = False, shared=None) -> tuple:
    """(output, cache) of ``step`` on ``values``; ``cache`` keeps what its backward rule reads.
    ``taps``: compute a Conv1D on the embeddings by taps (``tap_forward``).

    The step reads its own copies (``cache["inputs"]``) of its inputs that other steps read too
    (``shared``, ``Graph.shared``; None: copy all): a tape gradient taken at a copy is this step's
    local vector-Jacobian product, whereas one taken at a tensor that several steps read (a
    residual shortcut, a DenseNet join) would be the total derivative through every path, and the
    walk, which sums each path's signal itself, would count a branch twice. A tensor only this
    step reads has no other path to its output, so it needs no copy.
    """
    local = {k: tf.identity(values[k]) for k in dict.fromkeys(step.inputs) if shared is None or k in shared}
    out, cache = _forward(step, ChainMap(local, values), tape, taps)
    return out, {**cache, "inputs": local}


def _forward(step, values, tape, taps: bool) -> tuple:
    kind = step.kind
    if kind == "identity" or (kind == "activation" and step.activation == "linear"):
        return values[step.inputs[0]], {}
    if kind == "kernel":
        cache = {}
        if taps:
            z, cache = tap_forward(step, values[step.inputs[0]])
        else:
            z = linear(step, values[step.inputs[0]])
        bias = _bias(step)
        if bias is not None:
            z = z + bias
        return (tf.nn.relu(z) if step.activation == "relu" else z), {**cache, "z": z}
    out = step.call(values)
    if kind == "embedding":
        tape.watch(out)  # the leaves: every later op is recorded for the vector-Jacobian products
    return out, {}


# ---- backward -----------------------------------------------------------------------------------

def relu_rule(rule: Rule, g, a):
    """The signal below a ReLU from the one above it; ``a`` the ReLU's output."""
    if rule.relu == "pass":
        return g
    if rule.relu == "rectify":
        return tf.nn.relu(g)
    open_ = tf.cast(a > 0, g.dtype)
    return (tf.nn.relu(g) if rule.relu == "guided" else g) * open_


def _vjp(tape, z, xs, s):
    return tape.gradient(z, xs, output_gradients=tf.cast(s, z.dtype),
                         unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _stabilise(z, eps):
    return z + eps * tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))


def _signed_parts(step):
    """(lin+, lin-, bias+, bias-) of a Conv1D / Dense for alpha-beta: the map with only positive /
    negative weights, and the positive / negative parts of the bias (None without one)."""
    b = _bias(step)
    return (lambda x: linear(step, x, "+"), lambda x: linear(step, x, "-"),
            None if b is None else tf.nn.relu(b), None if b is None else tf.minimum(b, 0.0))


def _row_sum(x):
    return tf.reduce_sum(tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0], -1]), axis=1)


def _alpha_beta(rule, step, x, r) -> tuple:
    """([R_x], absorbed (batch,)) of a Conv1D / Dense under the alpha-beta rule. The inputs keep
    sum_i R_i = sum_o R_o (alpha Z+_o / (Z+_o + b+_o) - beta Z-_o / (Z-_o + b-_o)) (a zero
    denominator passes nothing), so the layer absorbs the rest of sum_o R_o."""
    plus, minus, b_plus, b_minus = _signed_parts(step)
    pos, neg = tf.nn.relu(x), tf.minimum(x, 0.0)
    with tf.GradientTape(persistent=True) as t:
        t.watch([pos, neg])
        pp, pn, np_, nn = plus(pos), plus(neg), minus(pos), minus(neg)  # (x+ w+), (x- w+), (x+ w-), (x- w-)
    z_pos, z_neg = pp + nn, pn + np_                                   # Z+ and Z- without the bias
    d_pos, d_neg = (z_pos + b_plus, z_neg + b_minus) if rule.bias and b_plus is not None else (z_pos, z_neg)
    inv_pos, inv_neg = tf.math.divide_no_nan(1.0, d_pos), tf.math.divide_no_nan(1.0, d_neg)
    s_pos = rule.alpha * r * inv_pos
    out = pos * _vjp(t, pp, [pos], s_pos)[0] + neg * _vjp(t, nn, [neg], s_pos)[0]
    kept = rule.alpha * z_pos * inv_pos
    if rule.beta:
        s_neg = rule.beta * r * inv_neg
        out -= neg * _vjp(t, pn, [neg], s_neg)[0] + pos * _vjp(t, np_, [pos], s_neg)[0]
        kept -= rule.beta * z_neg * inv_neg
    return [out], _row_sum(r * (1.0 - kept))


def _offset(step):
    """The constant b of an affine step z = A x + b (0 for pooling and joins)."""
    if step.kind == "kernel":
        return _bias(step)
    if step.kind == "channel":
        return channel_affine(step.layer)[1]
    return None


def _affine(rule, step, values, tape, z, keys, g) -> tuple:
    """(signals or relevances of the inputs ``keys`` of the affine map ``z`` = A x + b, the
    relevance it absorbs (batch,), None for the signal rules).

    LRP: the alpha-beta rules at Conv1D and Dense; everywhere else (average pooling, joins,
    BatchNormalization, Rescaling) and for lrp-epsilon the z-rule R_i = x_i sum_o a_io R_o / d_o,
    d_o = z_o + eps s_o (eps = 0 for the alpha-beta rules), which keeps sum_i R_i = sum_o R_o
    (z_o - b_o) / d_o (a zero d_o passes nothing): at pooling and joins (b = 0) all of it."""
    xs = [values[k] for k in keys]
    if rule.family == "signal":
        return _vjp(tape, z, xs, g), None
    if rule.lrp == "alpha-beta" and step.kind == "kernel":
        return _alpha_beta(rule, step, xs[0], g)
    inv = tf.math.divide_no_nan(1.0, _stabilise(z, rule.epsilon if rule.lrp == "epsilon" else 0.0))
    return [x * c for x, c in zip(xs, _vjp(tape, z, xs, g * inv))], _absorbed_z(step, z, inv, g)


def _absorbed_z(step, z, inv, r):
    """sum_o R_o (1 - (z_o - b_o) / d_o): what the z-rule (or epsilon rule) does not pass on."""
    b = _offset(step)
    return _row_sum(r * (1.0 - (z if b is None else z - b) * inv))


def _global_switch(x, y):
    hits = tf.cast(tf.equal(x, y[:, None, :]), x.dtype)
    return hits / tf.reduce_sum(hits, axis=1, keepdims=True)


def _window_switch(layer, x, y, g, dead):
    """Unpool ``g`` (batch, n, C) through the switches of a MaxPooling1D: x (batch, T, C) -> y."""
    p, s = layer.pool_size[0], layer.strides[0]
    t, n = tf.shape(x)[1], tf.shape(y)[1]
    left = tf.maximum((n - 1) * s + p - t, 0) // 2 if layer.padding == "same" else 0  # TF's SAME split
    pos = tf.range(n)[:, None] * s + tf.range(p)[None, :] - left                        # (n, p)
    valid = (pos >= 0) & (pos < t)
    patches = tf.gather(x, tf.clip_by_value(pos, 0, t - 1), axis=1)                     # (batch, n, p, C)
    hits = tf.cast(tf.equal(patches, y[:, :, None, :]) & valid[None, :, :, None], x.dtype)
    share = hits / tf.reduce_sum(hits, axis=2, keepdims=True)
    if dead:
        share *= tf.cast(tf.not_equal(y, 0), x.dtype)[:, :, None, :]
    flow = tf.transpose(share * tf.cast(g, x.dtype)[:, :, None, :], [1, 2, 0, 3])  # (n, p, batch, C)
    flow = tf.reshape(flow, tf.concat([[n * p], tf.shape(flow)[2:]], axis=0))
    into = tf.where(valid, pos, t)  # padded taps go to a dropped extra row
    back = tf.math.unsorted_segment_sum(flow, tf.reshape(into, [-1]), t + 1)[:t]  # (T, batch, C)
    return tf.transpose(back, [1, 0, 2])


SCORES = "scores"  # the key of a flow that goes straight into the word scores (the tap path)


def backward(rule: Rule, step, values: dict, cache: dict, tape, g) -> tuple:
    """([(input key, signal)], absorbed) for ``step`` given the signal ``g`` at its output; a
    Conv1D computed by taps sends [(SCORES, its (batch, time) share of the word scores)] instead.
    ``absorbed`` (batch,): the relevance an affine step keeps back under an LRP rule (its bias,
    epsilon and zero-denominator terms, by the rule's formula), None elsewhere."""
    kind, out = step.kind, values[step.output]
    keys = list(dict.fromkeys(step.inputs))  # a tensor fed twice (Add(x, x)) is one source
    values = ChainMap(cache["inputs"], values)  # the step's own copies: local vector-Jacobian products
    if kind == "identity" or (kind == "activation" and step.activation == "linear"):
        return [(keys[0], g)], None
    if kind in ("relu", "activation"):
        return [(keys[0], relu_rule(rule, g, out))], None
    if kind == "layout":
        return list(zip(keys, _vjp(tape, out, [values[k] for k in keys], g))), None
    if kind == "kernel":
        if step.activation == "relu":
            g = relu_rule(rule, g, out)
        if "taps" in cache:  # dot saliency or LRP-epsilon: both are x . (K^T u) summed over E
            if rule.family == "signal":
                return [(SCORES, tap_scores(step, cache, g))], None
            inv = tf.math.divide_no_nan(1.0, _stabilise(cache["z"], rule.epsilon))
            return [(SCORES, tap_scores(step, cache, g * inv))], _absorbed_z(step, cache["z"], inv, g)
        flows, absorbed = _affine(rule, step, values, tape, cache["z"], keys, g)
        return list(zip(keys, flows)), absorbed
    if kind in ("channel", "average"):
        flows, absorbed = _affine(rule, step, values, tape, out, keys, g)
        return list(zip(keys, flows)), absorbed
    x = values[keys[0]]
    if kind == "globalmax":
        y, g2 = tf.reshape(out, [-1, tf.shape(x)[-1]]), tf.reshape(g, [-1, tf.shape(x)[-1]])
        share = _global_switch(x, y)
        if rule.dead_switch:
            share *= tf.cast(tf.not_equal(y, 0), x.dtype)[:, None, :]
        return [(keys[0], share * tf.cast(g2, x.dtype)[:, None, :])], None
    if kind == "maxpool":
        return [(keys[0], _window_switch(step.layer, x, out, g, rule.dead_switch))], None
    raise AssertionError(f"no backward rule for step kind {kind!r}")  # graph.py admits only the kinds above
