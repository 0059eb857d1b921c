"""A Keras 3 text model as the engine sees it: the steps from the integer-id input to the logits.

``build_graph(model)`` walks a functional or Sequential model backwards from its output through
each tensor's ``_keras_history`` (the node that made it), orders the layer calls topologically
and checks every one of them *before any work*: a layer the engine has no rule for (an LSTM, an
attention layer, a Lambda...) or a supported layer configured in a way the rules do not cover
(a tanh Conv1D, channels_first pooling) raises ``UnsupportedModelError`` with one message naming
the layer, its class and the supported list, as iNNvestigate's analyzers do.

The output is read as logits: a final ``Softmax`` / ``Activation("softmax"|"sigmoid")`` layer and a
final Dense's softmax or sigmoid activation are stripped, so attribution starts from the
pre-activation logit. A Dense with one unit is a binary classifier: class 1 is explained as +z,
class 0 as -z (the model's probabilities are softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]).

A model whose input is raw strings and whose first layer is a ``TextVectorization`` (the
"end-to-end" model of the Keras examples) starts at that layer's integer output instead, and the
layer is kept as ``Graph.vectorizer`` for its vocabulary and sequence length.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import keras

from textdeconv.errors import InputError

# step kind -> the Keras classes it covers (exact classes: a subclass may change ``call``)
KINDS = {
    "embedding": ("Embedding", "ZeroPadEmbedding"),
    "identity": ("Dropout", "SpatialDropout1D"),
    "layout": ("Flatten", "Concatenate", "WindowMask"),
    "relu": ("ReLU",),
    "activation": ("Activation",),
    "kernel": ("Conv1D", "Dense"),
    "channel": ("BatchNormalization", "Rescaling"),
    "average": ("AveragePooling1D", "GlobalAveragePooling1D", "Add", "Average"),
    "maxpool": ("MaxPooling1D",),
    "globalmax": ("GlobalMaxPooling1D",),
}
HEAD_ONLY = ("Softmax",)  # allowed as the final layer only (stripped)
SUPPORTED = tuple(sorted({c for names in KINDS.values() for c in names} | set(HEAD_ONLY) | {"InputLayer"}))
_KIND_OF = {name: kind for kind, names in KINDS.items() for name in names}
# joins refused with their reason: no local backward rule that every method can take exactly
_JOINS_REFUSED = {
    "Multiply": "a multiplicative join has no exact LRP or deconvnet rule",
    "Dot": "a multiplicative join has no exact LRP or deconvnet rule",
    "Maximum": "an elementwise-maximum join has no backward rule in the engine",
    "Minimum": "an elementwise-minimum join has no backward rule in the engine",
    "Subtract": "a subtracting join has no backward rule in the engine; use Add with a Rescaling(-1) branch",
}
_OURS = {"ZeroPadEmbedding", "WindowMask"}  # textdeconv's own layers (textdeconv.model.textcnn)


class UnsupportedModelError(InputError):
    """The model holds a layer (or a layer setting) the engine has no backward rule for."""


@dataclass(eq=False)
class Step:
    """One layer call: ``inputs`` are the keys (``id`` of the Keras tensors) of its float inputs in
    call order, ``int_inputs`` those of integer inputs (the ids a mask reads), ``output`` its key."""

    layer: keras.layers.Layer
    kind: str
    inputs: tuple
    int_inputs: tuple
    output: int
    node: object = field(repr=False)
    activation: str = "linear"  # kernel / activation steps: "relu" or "linear" (softmax/sigmoid stripped)
    on_embeddings: bool = False  # a stride-1 Conv1D reading the embeddings directly (the tap path can serve it)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def rank(self) -> int:
        """Rank of this call's output (a shared layer's ``layer.output`` is ambiguous)."""
        return len(self.node.outputs[0].shape)

    def call(self, values: dict):
        """The layer on ``values`` ({key: tensor}), with its recorded call arguments."""
        args, kwargs = self.node.arguments.fill_in(values)
        return self.layer(*args, **kwargs)


@dataclass(eq=False)
class Graph:
    """The checked model: ``steps`` in topological order, ending with the head Dense (read as
    logits); ``units`` its width (1 = binary sigmoid, explained as two classes)."""

    model: keras.Model
    ids_key: int
    ids_dtype: str
    sequence_length: int | None
    steps: list
    head: Step
    units: int
    vectorizer: object = None
    min_length: int = 1

    @property
    def shared(self) -> frozenset:
        """Keys of the tensors that several steps read (a shortcut, a join's input, a fanned-out
        embedding): each reader takes its backward step on its own copy (rules.forward)."""
        readers = Counter(k for s in self.steps for k in dict.fromkeys(s.inputs))
        return frozenset(k for k, n in readers.items() if n > 1)

    @property
    def num_classes(self) -> int:
        return 2 if self.units == 1 else self.units

    @property
    def embeddings(self) -> list:
        return [s for s in self.steps if s.kind == "embedding"]


def _class(layer) -> str:
    return type(layer).__name__


def _activation(fn) -> str:
    return getattr(fn, "__name__", str(fn)) if fn is not None else "linear"


def _is_float(tensor) -> bool:
    return "float" in str(tensor.dtype)


def _refuse(model, layer, why: str = "") -> UnsupportedModelError:
    detail = f" ({why})" if why else ""
    return UnsupportedModelError(
        f"cannot explain model {model.name!r}: layer {layer.name!r} ({_class(layer)}) is not supported{detail}; "
        f"supported layers: {', '.join(SUPPORTED)}")


def _node_of(tensor):
    op, node_index, _ = tensor._keras_history
    return None if op is None else op._inbound_nodes[node_index]


def _walk(output, stop: set) -> list:
    """Nodes from the ``stop`` tensors to ``output``, inputs before users (iterative DFS)."""
    order, seen, stack = [], set(), [(_node_of(output), False)]
    while stack:
        node, done = stack.pop()
        if node is None or id(node) in seen:
            continue
        if done:
            seen.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for t in reversed(node.input_tensors):  # the first input's layers come first
            if id(t) not in stop:
                stack.append((_node_of(t), False))
    return order


def _check(model, node, kind: str, is_head: bool) -> str:
    """Refuse a supported class whose settings no rule covers; return the activation for kernels."""
    layer = node.operation
    cls = _class(layer)
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _refuse(model, layer, "data_format must be channels_last")
    if getattr(layer, "quantization_mode", None):
        raise _refuse(model, layer, f"quantized ({layer.quantization_mode})")
    allowed = ("relu", "linear", "softmax", "sigmoid") if is_head else ("relu", "linear")
    if kind in ("kernel", "activation"):
        act = _activation(layer.activation)
        if act not in allowed or (is_head and act == "relu"):
            where = "the output layer" if is_head else "a hidden layer"
            raise _refuse(model, layer, f"activation {act!r} in {where}; the rules cover "
                                        f"{', '.join(allowed if not is_head else ('linear', 'softmax', 'sigmoid'))}")
        return act
    if cls == "ReLU":
        if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            raise _refuse(model, layer, "only the plain ReLU (no max_value, negative_slope or threshold)")
    if cls == "BatchNormalization":
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        if axis not in (-1, len(node.input_tensors[0].shape) - 1):
            raise _refuse(model, layer, "only normalisation over the last (channel) axis")
    return "linear"


def _ids_of(model, nodes, ids):
    """(key, dtype, vectorizer or None) of the integer ids the engine starts from."""
    if "int" in str(ids.dtype):
        return id(ids), str(ids.dtype), None
    for node in nodes:
        layer = node.operation
        if (_class(layer) == "TextVectorization" and [id(t) for t in node.input_tensors] == [id(ids)]
                and layer.get_config().get("output_mode") == "int"):
            return id(node.outputs[0]), str(node.outputs[0].dtype), layer
    hint = "; build it with keras.Input((None,), dtype='int32') first" if isinstance(model, keras.Sequential) else ""
    raise UnsupportedModelError(
        f"cannot explain model {model.name!r}: its input is {ids.dtype}, not integer token ids; the engine starts "
        f"from ids read by an Embedding (or from an int TextVectorization right after a string input){hint}")


def build_graph(model) -> Graph:
    """Walk and check ``model`` (a built Keras 3 functional or Sequential model).

    Raises:
        UnsupportedModelError: the first unsupported layer in topological order, or a model that
            does not start at integer ids or does not end in a Dense read as logits.
    """
    if not isinstance(model, keras.Model):
        raise InputError(f"expected a keras.Model, got {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise UnsupportedModelError(f"cannot explain model {model.name!r}: it is not built; give it a keras.Input "
                                    "(or call it on a batch) first")
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(f"cannot explain model {model.name!r}: it has {len(inputs)} inputs and "
                                    f"{len(outputs)} outputs; the engine explains one id input, one output")
    nodes = _walk(outputs[0], stop={id(inputs[0])})
    ids_key, ids_dtype, vectorizer = _ids_of(model, nodes, inputs[0])
    # the final softmax / sigmoid: stripped, the head Dense is read as logits
    last, cls = nodes[-1], _class(nodes[-1].operation)
    act = _activation(getattr(last.operation, "activation", None))
    if cls in HEAD_ONLY or (cls == "Activation" and act in ("softmax", "sigmoid")):
        nodes = nodes[:-1]
        if not nodes:
            raise _refuse(model, last.operation, "a model of one activation")
    head_layer = nodes[-1].operation
    steps = []
    for node in nodes:
        layer = node.operation
        cls = _class(layer)
        if cls == "InputLayer" or layer is vectorizer:
            continue
        if isinstance(layer, keras.Model):
            raise _refuse(model, layer, "a nested model; build one flat functional model")
        if not any(_is_float(t) for t in [*node.input_tensors, *node.outputs]):
            # ids -> mask computations (Embedding(mask_zero=True) records a NotEqual): run, carry no signal
            steps.append(Step(layer, "ids", (), tuple(id(t) for t in node.input_tensors), id(node.outputs[0]), node))
            continue
        if cls not in _KIND_OF or (cls in _OURS and not type(layer).__module__.startswith("textdeconv.")):
            raise _refuse(model, layer, _JOINS_REFUSED.get(cls, ""))
        is_head = node is nodes[-1]
        kind = _KIND_OF[cls]
        act = _check(model, node, kind, is_head)
        keys = [t for t in node.input_tensors]
        floats = tuple(id(t) for t in keys if _is_float(t))
        ints = tuple(id(t) for t in keys if "int" in str(t.dtype))
        if kind == "embedding":
            if ints != (ids_key,):
                raise _refuse(model, layer, "an Embedding must read the model's id input")
        elif ints and cls != "WindowMask":
            raise _refuse(model, layer, "it reads integer ids")
        if len(node.outputs) != 1:
            raise _refuse(model, layer, "several outputs")
        steps.append(Step(layer, kind, floats, ints, id(node.outputs[0]), node, act))
    if not steps or steps[-1].layer is not head_layer or _class(head_layer) != "Dense":
        raise UnsupportedModelError(
            f"cannot explain model {model.name!r}: its output must be a Dense layer's logits (linear, softmax or "
            f"sigmoid), found {head_layer.name!r} ({_class(head_layer)})")
    _mark_embedding_side(steps)
    head = steps[-1]
    if head.rank != 2:
        raise _refuse(model, head_layer, "the output Dense must give (batch, classes)")
    if not any(s.kind == "embedding" for s in steps):
        raise UnsupportedModelError(f"cannot explain model {model.name!r}: no Embedding layer reads its ids")
    length = inputs[0].shape[1] if len(inputs[0].shape) == 2 else None
    if vectorizer is not None:
        length = vectorizer.get_config().get("output_sequence_length") or None
    graph = Graph(model, ids_key, ids_dtype, length, steps, head, int(head_layer.units), vectorizer)
    graph.min_length = min_length(graph)
    return graph


def _mark_embedding_side(steps: list) -> None:
    """Flag the stride-1, ungrouped Conv1D steps whose input is embedding space: an Embedding's output, or
    Dropout / a last-axis Concatenate of such tensors (our multichannel ``channels``)."""
    space = set()
    for step in steps:
        cls = _class(step.layer)
        concat = cls == "Concatenate" and step.layer.axis in (-1, step.rank - 1)
        if step.kind == "embedding" or (step.inputs and all(k in space for k in step.inputs) and (
                step.kind == "identity" or concat)):
            space.add(step.output)
        if cls == "Conv1D" and step.inputs[0] in space and step.layer.strides[0] == 1 and step.layer.groups == 1:
            step.on_embeddings = True


def _out_len(step: Step, n: int) -> int:
    """Time length after ``step`` for input time length ``n`` (layers that change it)."""
    layer = step.layer
    if step.kind == "kernel" and _class(layer) == "Conv1D":
        w, s, d = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        return -(-n // s) if layer.padding in ("same", "causal") else (n - d * (w - 1) - 1) // s + 1
    if _class(layer) in ("MaxPooling1D", "AveragePooling1D"):
        p, s = layer.pool_size[0], layer.strides[0]
        return -(-n // s) if layer.padding == "same" else (n - p) // s + 1
    return n


def min_length(graph: Graph, limit: int = 1 << 16) -> int:
    """The fewest ids for which every convolution and pooling still has an output position."""
    def fits(n: int) -> bool:
        lengths = {graph.ids_key: n}
        for step in graph.steps:
            if step.kind == "embedding":
                lengths[step.output] = n
                continue
            ins = [lengths[k] for k in step.inputs if k in lengths]
            if step.kind == "ids" or not ins or step.rank < 3:
                continue  # no time axis from here on
            if _class(step.layer) == "Concatenate" and step.layer.axis in (1, -2):
                lengths[step.output] = sum(ins)
            else:
                lengths[step.output] = _out_len(step, min(ins))
                if lengths[step.output] < 1:
                    return False
        return True

    n = 1
    while not fits(n):
        n *= 2
        if n > limit:
            raise UnsupportedModelError(f"cannot explain model {graph.model.name!r}: no input length up to {limit} "
                                        "leaves an output position")
    lo, hi = n // 2 + 1, n
    while lo < hi:  # output lengths grow with the input length: bisect the smallest that fits
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if not fits(mid) else (lo, mid)
    return max(hi, 1)
