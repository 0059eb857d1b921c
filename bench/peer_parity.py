#!/usr/bin/env python
"""Issue 31: peer parity you can rerun — the engine against Captum and zennit on PyTorch twins.

Two steps, two environments (torch is never a dependency of the project or its CI):

    # 1. in a separate venv with torch, captum and zennit (no TensorFlow needed there): a CPU build
    #    of torch 2.13.0 first, then captum and zennit pinned against it (zennit also pulls
    #    torchvision; if its build does not match the CPU torch, uninstall it: see _import_peers)
    python -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.13.0
    /tmp/peer/bin/pip install captum==0.9.0 zennit==0.5.1 numpy   # with torch==2.13.0 as a constraint
    /tmp/peer/bin/python bench/peer_parity.py generate      # writes tests/fixtures/peer/*.npz

    # 2. in the project's environment (TensorFlow, no torch):
    python bench/peer_parity.py measure                      # writes bench/results/peer_parity.json

``generate`` builds each architecture of ``ARCHITECTURES`` from a small spec (``spec``: a list of
layer nodes), draws its weights with numpy (seeded), rebuilds it as a PyTorch twin with those
weights (``torch_twin``), and stores in ``tests/fixtures/peer/<name>.npz``: the spec (JSON), the
weights in Keras layout, fixed ids and targets, and per method the peer's word scores — once with
the engine's conventions applied to the twin (``expected/<method>``) and once as the peer computes
them out of the box (``as_is/<convention>``). Word scores are the peer's attribution at the
embedded input, summed over the embedding axis (``Saliency``: the gradient, the engine's
``sum`` saliency; ``GuidedBackprop`` / ``Deconvolution``: the modified gradient times the
embedding, the ``dot`` saliency; LRP: the relevance). The twin computes in float64. Beyond the
engine's methods: Captum's ``Occlusion`` (one token's embedding replaced by the padding id's row)
against the engine's ``occlusion_explanations`` on every model but ours, and Captum's
``IntegratedGradients`` against our runs' ``integrated-gradients`` on our TextCNN.

``measure`` rebuilds each Keras twin from the fixture (``keras_twin``), runs the engine and
records the largest deviation from every expected score and from every out-of-the-box peer
score; ``tests/test_peer_parity.py`` checks the same without writing anything.

The conventions (docs/any-model.md, "Peer parity"), each applied to the twin for ``expected``:

- ``ties``: the engine shares a max-pool window's signal equally among exact ties (1/k each), as
  ``torch.amax``'s gradient does; ``torch.nn.MaxPool1d`` and ``Tensor.max(dim)`` give it all to one
  maximum (the first) — out of the box, Captum and zennit see those;
- ``dead_switch``: the engine's deconvnet sets no switch in a window whose maximum is exactly 0
  (ReLU units that never fired); Captum's ``Deconvolution`` passes the signal to a zero maximum;
- ``zplus_bias``: the engine's ``lrp-zplus`` leaves the bias out (iNNvestigate's Z+); zennit's
  ``ZPlus`` keeps the positive bias in the denominator — that is the engine's ``lrp-alpha-beta``
  with α = 1, β = 0, and ``ZPlus(zero_params="bias")`` is the engine's ``lrp-zplus``;
- ``stabilizer``: a zero denominator passes nothing in the engine; zennit adds 1e-6 (sign-matched)
  to every denominator of ZPlus / AlphaBeta / Norm and of Epsilon(0); the twin uses an exact one;
- ``epsilon_at_joins``: the engine's ``lrp-epsilon`` takes its ε at Add, Average, average pooling
  and BatchNormalization too; zennit's composites put the ``Norm`` rule (ε = 1e-6) there.
  (BatchNormalization: zennit's composites merge a BatchNorm into the layer before it with a
  canonizer; the twins' BatchNorm follows a max pool, so it keeps its own rule, the z-rule.)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "peer"
RESULT = ROOT / "bench" / "results" / "peer_parity.json"
EPSILON = 0.01
# (engine method, engine options, peer, peer's method as called)
METHODS = (
    ("gradient", {}, "captum", "Saliency(abs=False)"),
    ("grad-x-input", {}, "captum", "InputXGradient"),
    ("guided-backprop", {}, "captum", "GuidedBackprop"),
    ("deconvnet", {}, "captum", "Deconvolution"),
    ("lrp-epsilon", {"epsilon": EPSILON}, "zennit", f"Epsilon({EPSILON}); Epsilon({EPSILON}) at joins, pooling, BN"),
    ("lrp-epsilon", {"epsilon": 0.0}, "zennit", "Epsilon(0); Norm at joins, pooling, BN"),
    ("lrp-alpha-beta", {}, "zennit", "AlphaBeta(1, 0) (= ZPlus()); Norm at joins, pooling, BN"),
    ("lrp-alpha-beta", {"alpha": 2.0, "beta": 1.0}, "zennit", "AlphaBeta(2, 1); Norm at joins, pooling, BN"),
    ("lrp-zplus", {}, "zennit", "ZPlus(zero_params='bias'); Norm at joins, pooling, BN"),
)
# our runs' own methods beyond the engine, checked on our TextCNN only: (key, peer, peer's method)
IG_STEPS = 20
RUN_METHODS = ((f"integrated-gradients steps={IG_STEPS}", "captum",
                f"IntegratedGradients(method='riemann_middle', n_steps={IG_STEPS}), zero baseline"),)
# the engine's leave-one-out occlusion (perturb.occlusion_explanations, replacement pad), every model but ours
OCCLUSION = ("occlusion", "captum", "Occlusion, one token's embedding at a time -> the padding id's row")
# out of the box: (key, engine method index in METHODS, what the peer does differently)
AS_IS = (
    ("ties/gradient", 0, "torch MaxPool1d / max(dim): a tied window's signal to its first maximum"),
    ("ties/guided-backprop", 2, "torch MaxPool1d / max(dim): a tied window's signal to its first maximum"),
    ("ties/lrp-epsilon", 4, "torch MaxPool1d / max(dim): a tied window's relevance to its first maximum"),
    ("fan_out_relu/guided-backprop", 2, "Captum GuidedBackprop: a ReLU whose input also feeds another layer (a "
     "shortcut) has the rule applied to that input's total signal, the other path's included"),
    ("fan_out_relu/deconvnet", 3, "Captum Deconvolution: the same ReLU's input gets only the rectified signal "
     "above the ReLU, the other path's signal dropped"),
    ("dead_switch/deconvnet", 3, "Captum Deconvolution: a window whose maximum is 0 still passes its signal"),
    ("zplus_bias/lrp-zplus", 8, "zennit ZPlus(): the positive bias stays in the denominator"),
    ("stabilizer/lrp-alpha-beta", 6, "zennit's default stabilizer: 1e-6 added to every denominator"),
    ("epsilon_at_joins/lrp-epsilon", 4, "zennit's Norm rule (epsilon 1e-6) at joins, pooling and BatchNorm"),
)
RTOL, ATOL = 1e-5, 1e-6  # |engine - peer| <= RTOL * max|peer| (per architecture and method) + ATOL


def method_key(i: int) -> str:
    method, options, _, _ = METHODS[i]
    return method + "".join(f" {k}={v:g}" for k, v in options.items())


# ---- the architectures ------------------------------------------------------------------------------

def node(name, op, inputs=(), **params) -> dict:
    return {"name": name, "op": op, "inputs": list(inputs), **params}


def _conv(name, x, filters, width, **kw):
    return node(name, "conv", [x], filters=filters, width=width, **{"strides": 1, "dilation": 1, "padding": "valid",
                                                                     "activation": "linear", **kw})


def spec(name: str) -> dict:
    """The architecture ``name``: {name, vocab, dim, length (None: any), classes, nodes}; each node
    {name, op, inputs, params}, in topological order, reading ``ids`` first; the last is the head
    Dense (read as logits; ``head`` softmax or sigmoid)."""
    if name == "textcnn":  # textdeconv's own TextCNN (model.textcnn.build_model), widths 2 and 3
        nodes = [node("embedding", "embedding", ["ids"], zero_pad=True)]
        for w in (2, 3):
            nodes += [_conv(f"conv_{w}", "embedding", 4, w, activation="relu"),
                      node(f"mask_{w}", "mask", [f"conv_{w}"], width=w, pad=2),
                      node(f"pool_{w}", "globalmax", [f"mask_{w}"])]
        nodes += [node("pooled", "concat", ["pool_2", "pool_3"]), node("dropout", "dropout", ["pooled"]),
                  node("logits", "dense", ["dropout"], units=2, head="softmax")]
        return {"name": name, "vocab": 12, "dim": 5, "length": None, "pad": 2, "widths": [2, 3], "filters": 4,
                "nodes": nodes}
    if name == "keras_softmax":  # keras-io "using pre-trained word embeddings", tiny
        nodes = [node("embedding", "embedding", ["ids"]),
                 _conv("conv1", "embedding", 3, 5, activation="relu"), node("pool1", "maxpool", ["conv1"], pool=5),
                 _conv("conv2", "pool1", 3, 5, activation="relu"), node("pool2", "maxpool", ["conv2"], pool=5),
                 _conv("conv3", "pool2", 3, 5, activation="relu"), node("gmp", "globalmax", ["conv3"]),
                 node("hidden", "dense", ["gmp"], units=3, activation="relu"), node("drop", "dropout", ["hidden"]),
                 node("out", "dense", ["drop"], units=3, head="softmax")]
        return {"name": name, "vocab": 30, "dim": 4, "length": None, "nodes": nodes}
    if name == "keras_sigmoid":  # keras-io "text classification from scratch", tiny
        nodes = [node("embedding", "embedding", ["ids"]), node("drop0", "dropout", ["embedding"]),
                 _conv("conv1", "drop0", 4, 7, strides=3, activation="relu"),
                 _conv("conv2", "conv1", 4, 7, strides=3, activation="relu"), node("gmp", "globalmax", ["conv2"]),
                 node("hidden", "dense", ["gmp"], units=5, activation="relu"), node("drop", "dropout", ["hidden"]),
                 node("out", "dense", ["drop"], units=1, head="sigmoid")]
        return {"name": name, "vocab": 30, "dim": 4, "length": 40, "nodes": nodes}
    if name == "kim_branches":  # Kim-style parallel widths, each MaxPooling1D then global max
        nodes = [node("embedding", "embedding", ["ids"])]
        for w in (2, 3, 4):
            nodes += [_conv(f"conv{w}", "embedding", 3, w, activation="relu"),
                      node(f"pool{w}", "maxpool", [f"conv{w}"], pool=2), node(f"gmp{w}", "globalmax", [f"pool{w}"])]
        nodes += [node("cat", "concat", ["gmp2", "gmp3", "gmp4"]), node("drop", "dropout", ["cat"]),
                  node("out", "dense", ["drop"], units=2, head="softmax")]
        return {"name": name, "vocab": 20, "dim": 5, "length": None, "nodes": nodes}
    if name == "stack":  # SpatialDropout + strided conv + pooling + BatchNorm + causal dilated conv
        nodes = [node("embedding", "embedding", ["ids"]), node("sdrop", "spatialdropout", ["embedding"]),
                 _conv("conv1", "sdrop", 6, 3, strides=2, padding="same", activation="relu"),
                 node("pool1", "maxpool", ["conv1"], pool=3, strides=2, padding="same"),
                 node("bn", "batchnorm", ["pool1"]),
                 _conv("conv2", "bn", 6, 2, dilation=2, padding="causal"), node("relu2", "relu", ["conv2"]),
                 node("gmp", "globalmax", ["relu2"]), node("hidden", "dense", ["gmp"], units=6, activation="relu"),
                 node("out", "dense", ["hidden"], units=3, head="softmax")]
        return {"name": name, "vocab": 20, "dim": 5, "length": None, "nodes": nodes}
    if name == "avgpool_flatten":  # AveragePooling1D + Flatten, fixed length, a sigmoid unit
        nodes = [node("embedding", "embedding", ["ids"]),
                 _conv("conv1", "embedding", 5, 3, padding="same", activation="relu"),
                 node("avg", "avgpool", ["conv1"], pool=2), node("flat", "flatten", ["avg"]),
                 node("hidden", "dense", ["flat"], units=6, activation="relu"),
                 node("out", "dense", ["hidden"], units=1, head="sigmoid")]
        return {"name": name, "vocab": 20, "dim": 4, "length": 12, "nodes": nodes}
    if name == "residual_add":  # a DPCNN block: region embedding, [ReLU -> Conv] x 2 + shortcut, Average
        nodes = [node("embedding", "embedding", ["ids"]), _conv("region", "embedding", 5, 3, padding="same"),
                 node("relu_a", "relu", ["region"]), _conv("conv_a", "relu_a", 5, 3, padding="same"),
                 node("relu_b", "relu", ["conv_a"]), _conv("conv_b", "relu_b", 5, 3, padding="same"),
                 node("shortcut", "add", ["region", "conv_b"]),
                 node("pool", "maxpool", ["shortcut"], pool=3, strides=2, padding="same"),
                 _conv("conv_c", "pool", 5, 2, padding="same", activation="relu"),
                 node("mean", "average", ["pool", "conv_c"]), node("gmp", "globalmax", ["mean"]),
                 node("out", "dense", ["gmp"], units=3, head="softmax")]
        return {"name": name, "vocab": 20, "dim": 5, "length": None, "nodes": nodes}
    if name == "dense_concat":  # DenseNet-style joins, one on the embeddings; global max and average pooling
        nodes = [node("embedding", "embedding", ["ids"]),
                 _conv("conv_h", "embedding", 4, 3, padding="same", activation="relu"),
                 _conv("conv_f", "conv_h", 4, 3, padding="same", activation="relu"),
                 node("join", "concat", ["conv_h", "conv_f"]), node("gmp", "globalmax", ["join"]),
                 _conv("conv_e", "embedding", 3, 2, padding="same", activation="relu"),
                 node("join_e", "concat", ["embedding", "conv_e"]), node("gap", "globalavg", ["join_e"]),
                 node("both", "concat", ["gmp", "gap"]), node("hidden", "dense", ["both"], units=6, activation="relu"),
                 node("out", "dense", ["hidden"], units=3, head="softmax")]
        return {"name": name, "vocab": 20, "dim": 4, "length": None, "nodes": nodes}
    raise ValueError(f"unknown architecture {name!r}")


ARCHITECTURES = ("textcnn", "keras_softmax", "keras_sigmoid", "kim_branches", "stack", "avgpool_flatten",
                 "residual_add", "dense_concat")


def _width_in(s: dict) -> dict:
    """Channel width of every node's output (for the weight shapes)."""
    width = {}
    for n in s["nodes"]:
        ins = [width[k] for k in n["inputs"] if k != "ids"]
        op = n["op"]
        if op == "embedding":
            width[n["name"]] = s["dim"]
        elif op == "conv":
            width[n["name"]] = n["filters"]
        elif op == "dense":
            width[n["name"]] = n["units"]
        elif op == "concat":
            width[n["name"]] = sum(ins)
        elif op == "flatten":
            width[n["name"]] = ins[0] * _flat_steps(s)
        else:
            width[n["name"]] = ins[0]
    return width


def _flat_steps(s: dict) -> int:
    """Time steps a Flatten sees (the fixed-length avgpool_flatten model: 'same' conv, pool 2)."""
    return s["length"] // 2


def weights(s: dict, seed: int) -> dict:
    """{"<node>/<param>": float32 array in Keras layout}: conv kernel (width, in, out), dense (in,
    out), N(0, 1/fan_in) kernels, N(0, 0.3) biases, BatchNorm statistics, an N(0, 1) embedding
    (row 0 zero for our TextCNN, whose padding embeds to zero)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width, w = _width_in(s), {}
    for n in s["nodes"]:
        name, op = n["name"], n["op"]
        cin = width.get(n["inputs"][0]) if n["inputs"] and n["inputs"][0] != "ids" else None
        if op == "embedding":
            table = rng.normal(size=(s["vocab"], s["dim"]))
            if n.get("zero_pad"):
                table[0] = 0.0
            w[f"{name}/embeddings"] = table
        elif op == "conv":
            w[f"{name}/kernel"] = rng.normal(size=(n["width"], cin, n["filters"])) / np.sqrt(n["width"] * cin)
            w[f"{name}/bias"] = rng.normal(scale=0.3, size=n["filters"])
        elif op == "dense":
            w[f"{name}/kernel"] = rng.normal(size=(cin, n["units"])) / np.sqrt(cin)
            w[f"{name}/bias"] = rng.normal(scale=0.3, size=n["units"])
        elif op == "batchnorm":
            w[f"{name}/gamma"] = rng.uniform(0.5, 2.0, cin) * rng.choice([-1, 1], cin)
            w[f"{name}/beta"] = rng.normal(scale=0.3, size=cin)
            w[f"{name}/moving_mean"] = rng.normal(scale=0.3, size=cin)
            w[f"{name}/moving_variance"] = rng.uniform(0.5, 2.0, cin)
    return {k: v.astype(np.float32) for k, v in w.items()}


def ids_and_targets(s: dict, seed: int) -> tuple:
    """Fixed rows: distinct random tokens; a repeated token with padding (exact ties in the pools);
    a short sentence right-padded with 0; targets covering every class."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    classes = 2 if s["nodes"][-1]["units"] == 1 else s["nodes"][-1]["units"]
    if s["name"] == "textcnn":  # our runs' layout: pad PAD ids on each side of every sentence, then 0s
        pad, rows = s["pad"], []
        for tokens in (rng.integers(2, s["vocab"], 7), [5, 5, 5, 5], rng.integers(2, s["vocab"], 3), [3, 8]):
            rows.append([0] * pad + list(tokens) + [0] * pad)
        length = max(map(len, rows))
        ids = np.array([r + [0] * (length - len(r)) for r in rows])
    else:
        length = s["length"] or (150 if s["name"] == "keras_softmax" else 13)
        ids = rng.integers(2, s["vocab"], (5, length))
        ids[1, :] = 7                        # one token repeated: tied windows everywhere
        ids[2, length // 2:] = 0             # padding: tied windows over the padding rows
        ids[3, 1::2] = ids[3, 0]             # a repeated token every other position
        ids[4, length // 3:] = 0
    targets = np.arange(len(ids)) % classes
    return ids.astype(np.int32), targets.astype(np.int32)


# ---- the PyTorch twin (generate) ----------------------------------------------------------------------

def _same_split(length: int, width: int, stride: int, dilation: int) -> tuple:
    """TensorFlow's SAME padding (left, right) for a window of ``width`` (dilated) and ``stride``."""
    out = -(-length // stride)
    total = max((out - 1) * stride + (width - 1) * dilation + 1 - length, 0)
    return total // 2, total - total // 2


def torch_twin(s: dict, w: dict, share_ties: bool = True, dead_gate: bool = False, own_relu_input: bool = True):
    """The PyTorch model of spec ``s`` with weights ``w`` (float64): forward(emb, ids) -> head z
    (batch, units), tensors channels-last (batch, time, channels) as in Keras. ``share_ties``: max
    pools as ``SharedMax`` over gathered windows (ties share the gradient) instead of ``MaxPool1d`` /
    ``max(dim)``; ``dead_gate``: a pooled unit equal to 0 passes no signal (the deconvnet's rule);
    ``own_relu_input``: each ReLU module reads its own copy of its input, so Captum's hook, which it
    registers on the ReLU's input tensor, sees only the ReLU's own path (``fan_out_relu``)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    def param(x):
        return nn.Parameter(torch.tensor(np.asarray(x, np.float64)), requires_grad=False)

    class Conv(nn.Module):
        def __init__(self, n):
            super().__init__()
            k = w[f"{n['name']}/kernel"]
            self.n = n
            self.conv = nn.Conv1d(k.shape[1], k.shape[2], k.shape[0], stride=n["strides"], dilation=n["dilation"],
                                  dtype=torch.float64)
            self.conv.weight = param(k.transpose(2, 1, 0))
            self.conv.bias = param(w[f"{n['name']}/bias"])

        def forward(self, x):
            n, t = self.n, x.shape[1]
            if n["padding"] == "same":
                left, right = _same_split(t, n["width"], n["strides"], n["dilation"])
            else:
                left, right = (n["dilation"] * (n["width"] - 1), 0) if n["padding"] == "causal" else (0, 0)
            return self.conv(F.pad(x.transpose(1, 2), (left, right))).transpose(1, 2)

    class BatchNorm(nn.Module):
        def __init__(self, n):
            super().__init__()
            c = w[f"{n['name']}/gamma"].shape[0]
            self.bn = nn.BatchNorm1d(c, eps=1e-3, dtype=torch.float64).eval()  # Keras's default epsilon
            self.bn.weight, self.bn.bias = param(w[f"{n['name']}/gamma"]), param(w[f"{n['name']}/beta"])
            self.bn.running_mean = torch.tensor(w[f"{n['name']}/moving_mean"], dtype=torch.float64)
            self.bn.running_var = torch.tensor(w[f"{n['name']}/moving_variance"], dtype=torch.float64)

        def forward(self, x):
            return self.bn(x.transpose(1, 2)).transpose(1, 2)

    class Mean(nn.Module):  # GlobalAveragePooling1D (dim 1) and the Average join (dim -1 of a stack)
        def __init__(self, dim):
            super().__init__()
            self.dim = dim

        def forward(self, x):
            return x.mean(dim=self.dim)

    class AvgPool(nn.Module):
        def __init__(self, pool):
            super().__init__()
            self.pool = nn.AvgPool1d(pool)

        def forward(self, x):
            return self.pool(x.transpose(1, 2)).transpose(1, 2)

    from zennit.layer import Sum

    class SharedMax(torch.autograd.Function):
        """max over the last axis whose gradient is shared equally by the maxima, as ``amax``'s, with
        values within 1e-12 (relative) of the maximum counted as tied: torch's float64 convolution
        can round identical windows differently by position (1 ulp apart), which would break a tie
        of the real-number function that TensorFlow's float32 forward keeps exact."""

        @staticmethod
        def forward(ctx, x):
            y = x.amax(-1)
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            hits = ((y[..., None] - x) <= 1e-12 * y.abs().clamp(min=1.0)[..., None]).to(x.dtype)
            return g[..., None] * hits / hits.sum(-1, keepdim=True)

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.nodes = s["nodes"]
            self.mods = nn.ModuleDict()
            for n in self.nodes:
                op, name = n["op"], n["name"]
                if op == "conv":
                    self.mods[name] = Conv(n)
                elif op == "dense":
                    k = w[f"{name}/kernel"]
                    lin = nn.Linear(k.shape[0], k.shape[1], dtype=torch.float64)
                    lin.weight, lin.bias = param(k.T), param(w[f"{name}/bias"])
                    self.mods[name] = lin
                elif op == "batchnorm":
                    self.mods[name] = BatchNorm(n)
                elif op == "avgpool":
                    self.mods[name] = AvgPool(n["pool"])
                elif op in ("globalavg", "average"):
                    self.mods[name] = Mean(1 if op == "globalavg" else -1)
                elif op == "add":
                    self.mods[name] = Sum(dim=-1)
                if op == "relu" or n.get("activation") == "relu":
                    self.mods[name + "_relu"] = nn.ReLU()  # its own module: Captum hooks every ReLU module

        def pool(self, x, n):
            p, st = n["pool"], n.get("strides") or n["pool"]
            if n.get("padding") == "same":
                left, right = _same_split(x.shape[1], p, st, 1)
                x = F.pad(x.transpose(1, 2), (left, right), value=-float("inf")).transpose(1, 2)
            if share_ties:
                y = SharedMax.apply(x.unfold(1, p, st))  # (batch, n, C)
            else:
                y = F.max_pool1d(x.transpose(1, 2), p, st).transpose(1, 2)
            return self.gate(y)

        def gate(self, y):
            return y * (y != 0).to(y.dtype).detach() if dead_gate else y

        def forward(self, emb, ids):
            v = {"ids": ids}
            for n in self.nodes:
                op, name = n["op"], n["name"]
                x = [v[k] for k in n["inputs"]]
                if op == "embedding":
                    y = emb
                elif op in ("conv", "dense", "batchnorm", "avgpool", "globalavg"):
                    y = self.mods[name](x[0])
                elif op == "relu":
                    y = x[0]
                elif op in ("dropout", "spatialdropout"):
                    y = x[0]
                elif op == "mask":  # WindowMask: zero the windows beyond the sentence's own padded length
                    tokens = (ids != 0).sum(1, keepdim=True)
                    keep = torch.arange(x[0].shape[1])[None, :] < tokens + 2 * n["pad"] - n["width"] + 1
                    y = x[0] * keep.to(x[0].dtype)[..., None]
                elif op == "maxpool":
                    y = self.pool(x[0], n)
                elif op == "globalmax":
                    y = self.gate(SharedMax.apply(x[0].transpose(1, 2)) if share_ties else x[0].max(1).values)
                elif op == "concat":
                    y = torch.cat(x, dim=-1)
                elif op == "flatten":
                    y = x[0].reshape(x[0].shape[0], -1)
                elif op in ("add", "average"):
                    y = self.mods[name](torch.stack(x, dim=-1))
                else:
                    raise ValueError(op)
                if name + "_relu" in self.mods:
                    y = self.mods[name + "_relu"](y.clone() if own_relu_input else y)
                v[name] = y
            return v[self.nodes[-1]["name"]]

    return Twin().eval()


def _exact(d):
    """A zennit stabilizer that leaves every denominator as it is and makes a zero one pass nothing
    (the engine's rule)."""
    import torch

    return torch.where(d == 0, torch.full_like(d, float("inf")), d)


def _zennit_scores(twin, emb, ids, targets, units, rule, join_rule):
    """Word scores of a zennit rule: ``rule`` at every Conv1d / Linear, ``join_rule`` at the sums,
    averages, average pooling and BatchNorm, ``Pass`` at ReLUs; the walk starts with the target's
    logit as relevance (a sigmoid unit: +z for class 1, -z for class 0)."""
    import torch
    from torch import nn
    from zennit.composites import LayerMapComposite
    from zennit.layer import Sum
    from zennit.rules import Pass

    means = tuple(type(m) for m in twin.modules() if type(m).__name__ in ("Mean", "AvgPool"))
    layer_map = [(nn.ReLU, Pass()), ((nn.Conv1d, nn.Linear), rule),
                 ((Sum, nn.BatchNorm1d, *means), join_rule)]  # the AvgPool wrapper, not its AvgPool1d too
    emb = emb.clone().requires_grad_(True)
    with LayerMapComposite(layer_map).context(twin) as model:
        z = model(emb, ids)
        if units == 1:
            seed = torch.where(targets == 1, 1.0, -1.0).to(z.dtype)[:, None] * z
        else:
            seed = torch.nn.functional.one_hot(targets, units).to(z.dtype) * z
        (relevance,) = torch.autograd.grad(z, emb, grad_outputs=seed.detach())
    return relevance.sum(-1).numpy()


def _captum_scores(twin, emb, ids, targets, units, cls):
    """Word scores of a Captum attribution class on the twin (logits; a sigmoid unit as [-z, z])."""
    import torch

    class Logits(torch.nn.Module):  # a module: Captum hooks the ReLU modules inside it
        def __init__(self):
            super().__init__()
            self.twin = twin

        def forward(self, e, i):
            z = self.twin(e, i)
            return torch.cat([-z, z], dim=-1) if units == 1 else z

    extra = {"abs": False} if cls.__name__ == "Saliency" else {}
    attr = cls(Logits()).attribute(emb.clone().requires_grad_(True), target=targets.tolist(),
                                   additional_forward_args=(ids,), **extra)
    if cls.__name__ in ("Saliency", "InputXGradient"):  # the gradient (sum saliency); gradient x input (dot)
        return attr.sum(-1).detach().numpy()
    return (attr * emb).sum(-1).detach().numpy()  # guided backprop / deconvolution: the modified gradient . e


def _import_peers():
    """captum and zennit; zennit 0.5 imports torchvision only for its ResNet canonizers, which the
    twins do not use, so a venv without torchvision (a CPU torch has no matching build there) gets an
    empty stand-in for that one import."""
    import importlib.util
    import types

    if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is None:
        resnet = types.ModuleType("torchvision.models.resnet")
        resnet.Bottleneck = type("Bottleneck", (), {})
        resnet.BasicBlock = type("BasicBlock", (), {})
        for name, module in (("torchvision", types.ModuleType("torchvision")),
                             ("torchvision.models", types.ModuleType("torchvision.models")),
                             ("torchvision.models.resnet", resnet)):
            sys.modules.setdefault(name, module)
    import captum
    import torch
    import zennit

    return torch, captum, zennit


def peer_scores(s: dict, w: dict, ids, targets) -> dict:
    """{"expected/<method key>": scores, "as_is/<convention>/<method>": scores} for spec ``s``."""
    import numpy as np

    torch, captum, _ = _import_peers()
    from captum.attr import Deconvolution, GuidedBackprop, InputXGradient, Saliency
    from zennit.rules import AlphaBeta, Epsilon, Norm, ZPlus

    units = s["nodes"][-1]["units"]
    table = torch.tensor(w["embedding/embeddings"], dtype=torch.float64)
    ids_t, tgt = torch.tensor(ids, dtype=torch.long), torch.tensor(targets, dtype=torch.long)
    emb = table[ids_t]
    twin, loose, dead = torch_twin(s, w), torch_twin(s, w, share_ties=False), torch_twin(s, w, dead_gate=True)
    norm = Norm(stabilizer=_exact)
    captum_cls = {"gradient": Saliency, "grad-x-input": InputXGradient, "guided-backprop": GuidedBackprop,
                  "deconvnet": Deconvolution}
    zennit_rule = {
        1: lambda: (Epsilon(_exact), norm),
        2: lambda: (AlphaBeta(1.0, 0.0, stabilizer=_exact), norm),
        3: lambda: (AlphaBeta(2.0, 1.0, stabilizer=_exact), norm),
        4: lambda: (ZPlus(stabilizer=_exact, zero_params="bias"), norm),
    }
    out = {}
    for i, (method, options, peer, _) in enumerate(METHODS):
        if peer == "captum":
            model = dead if method == "deconvnet" else twin
            out[f"expected/{method_key(i)}"] = _captum_scores(model, emb, ids_t, tgt, units, captum_cls[method])
            continue
        if method == "lrp-epsilon" and options["epsilon"]:
            rule, join = Epsilon(options["epsilon"]), Epsilon(options["epsilon"])
        else:
            rule, join = zennit_rule[i - 4]()
        out[f"expected/{method_key(i)}"] = _zennit_scores(twin, emb, ids_t, tgt, units, rule, join)
    if s["name"] != "textcnn":  # leave-one-out occlusion: a token's embedding -> the padding id's row
        from captum.attr import Occlusion

        def logits(e, i):
            z = twin(e, i)
            return torch.cat([-z, z], dim=-1) if units == 1 else z

        occ = Occlusion(logits).attribute(emb, sliding_window_shapes=(1, emb.shape[-1]),
                                          baselines=table[0].expand_as(emb), target=tgt.tolist(),
                                          additional_forward_args=(ids_t,))
        out["expected/occlusion"] = occ[..., 0].detach().numpy()  # every element of a token holds its score
    if s["name"] == "textcnn":  # textdeconv's integrated gradients (midpoint rule, zero baseline)
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(lambda e, i: twin(e, i)).attribute(
            emb, baselines=torch.zeros_like(emb), target=tgt.tolist(), additional_forward_args=(ids_t,),
            n_steps=IG_STEPS, method="riemann_middle")
        out[f"expected/{RUN_METHODS[0][0]}"] = ig.sum(-1).detach().numpy()
    # out of the box (AS_IS)
    out["as_is/ties/gradient"] = _captum_scores(loose, emb, ids_t, tgt, units, Saliency)
    out["as_is/ties/guided-backprop"] = _captum_scores(loose, emb, ids_t, tgt, units, GuidedBackprop)
    out["as_is/ties/lrp-epsilon"] = _zennit_scores(loose, emb, ids_t, tgt, units, Epsilon(EPSILON), Epsilon(EPSILON))
    shared = torch_twin(s, w, own_relu_input=False)
    out["as_is/fan_out_relu/guided-backprop"] = _captum_scores(shared, emb, ids_t, tgt, units, GuidedBackprop)
    out["as_is/fan_out_relu/deconvnet"] = _captum_scores(torch_twin(s, w, dead_gate=True, own_relu_input=False),
                                                         emb, ids_t, tgt, units, Deconvolution)
    out["as_is/dead_switch/deconvnet"] = _captum_scores(twin, emb, ids_t, tgt, units, Deconvolution)
    out["as_is/zplus_bias/lrp-zplus"] = _zennit_scores(twin, emb, ids_t, tgt, units, ZPlus(stabilizer=_exact), norm)
    out["as_is/stabilizer/lrp-alpha-beta"] = _zennit_scores(twin, emb, ids_t, tgt, units, AlphaBeta(1.0, 0.0), Norm())
    out["as_is/epsilon_at_joins/lrp-epsilon"] = _zennit_scores(twin, emb, ids_t, tgt, units, Epsilon(EPSILON), Norm())
    versions = {"torch": torch.__version__, "captum": captum.__version__,
                "zennit": _version("zennit")}
    return {k: np.asarray(v, np.float32) for k, v in out.items()}, versions


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def generate(out_dir: Path = FIXTURES, seed: int = 0) -> dict:
    """Write one fixture per architecture; returns {name: path}."""
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for k, name in enumerate(ARCHITECTURES):
        s = spec(name)
        w = weights(s, seed + 10 * k)
        ids, targets = ids_and_targets(s, seed + 10 * k)
        scores, versions = peer_scores(s, w, ids, targets)
        path = out_dir / f"{name}.npz"
        np.savez_compressed(path, spec=np.array(json.dumps(s)), ids=ids, targets=targets,
                            versions=np.array(json.dumps(versions)),
                            **{f"weights/{k2}": v for k2, v in w.items()}, **scores)
        written[name] = path
        print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return written


# ---- the Keras twin and the engine (measure, and the tests) -------------------------------------------

def load_fixture(path) -> dict:
    """A fixture as {spec, ids, targets, versions, weights: {...}, expected: {...}, as_is: {...}}."""
    import numpy as np

    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    out = {"spec": json.loads(str(data["spec"])), "ids": data["ids"], "targets": data["targets"],
           "versions": json.loads(str(data["versions"])), "weights": {}, "expected": {}, "as_is": {}}
    for k, v in data.items():
        head, _, rest = k.partition("/")
        if head in ("weights", "expected", "as_is"):
            out[head][rest] = v
    return out


def _keras_layer(L, s: dict, n: dict):
    """The Keras layer of spec node ``n``."""
    op, name = n["op"], n["name"]
    if op == "embedding":
        return L.Embedding(s["vocab"], s["dim"], name=name)
    if op == "conv":
        return L.Conv1D(n["filters"], n["width"], strides=n["strides"], dilation_rate=n["dilation"],
                        padding=n["padding"], activation=n["activation"], name=name)
    if op == "dense":
        return L.Dense(n["units"], activation=n.get("head") or n.get("activation", "linear"), name=name)
    if op == "maxpool":
        return L.MaxPooling1D(n["pool"], strides=n.get("strides"), padding=n.get("padding", "valid"), name=name)
    if op == "avgpool":
        return L.AveragePooling1D(n["pool"], name=name)
    if op == "dropout":
        return L.Dropout(0.5, name=name)
    if op == "spatialdropout":
        return L.SpatialDropout1D(0.3, name=name)
    simple = {"relu": L.ReLU, "globalmax": L.GlobalMaxPooling1D, "globalavg": L.GlobalAveragePooling1D,
              "flatten": L.Flatten, "batchnorm": L.BatchNormalization, "concat": L.Concatenate, "add": L.Add,
              "average": L.Average}
    return simple[op](name=name)


def keras_twin(s: dict, w: dict):
    """The Keras model of spec ``s`` with weights ``w``; ``textcnn`` is textdeconv's own
    ``build_model`` (its layer names are the spec's)."""
    import keras

    L = keras.layers
    if s["name"] == "textcnn":
        from textdeconv.config import ModelConfig
        from textdeconv.model.textcnn import build_model

        cfg = ModelConfig(variant="rand", embedding_dim=s["dim"], filter_sizes=tuple(s["widths"]),
                          num_filters=s["filters"])
        model = build_model(cfg, s["vocab"], 2)
    else:
        ids = keras.Input((s["length"],), dtype="int32")
        v = {"ids": ids}
        for n in s["nodes"]:
            x = [v[k] for k in n["inputs"]]
            op, name = n["op"], n["name"]
            layer = _keras_layer(L, s, n)
            v[name] = layer(x if op in ("concat", "add", "average") else x[0])
        model = keras.Model(ids, v[s["nodes"][-1]["name"]], name=s["name"])
    for key, value in w.items():
        name, attr = key.split("/")
        getattr(model.get_layer(name), attr).assign(value)
    return model


def engine_scores(model, fixture: dict, compiled: bool = True) -> dict:
    """{method key: the engine's word scores} on the fixture's ids and targets; ``compiled`` False
    runs the analyzer's walk eagerly (the same code without tracing its ``tf.function``: faster
    for a handful of rows)."""
    import tensorflow as tf

    from textdeconv.attribution.engine import Analyzer

    out = {}
    for i, (method, options, _, _) in enumerate(METHODS):
        a = Analyzer(model, method, **options)
        if compiled:
            out[method_key(i)] = a.attribute(fixture["ids"], fixture["targets"])
        else:
            out[method_key(i)] = a.run(tf.constant(fixture["ids"]), tf.constant(fixture["targets"]))["scores"].numpy()
    if fixture["spec"]["name"] != "textcnn":
        out["occlusion"] = engine_occlusion(model, fixture)
    if fixture["spec"]["name"] == "textcnn":  # our runs' integrated gradients, on the same model
        from textdeconv.attribution.integrated_gradients import IntegratedGradients
        from textdeconv.data.vocab import PAD, UNK, Vocab
        from textdeconv.model.textcnn import TextCNN

        vocab = Vocab([PAD, UNK] + [f"w{i}" for i in range(2, fixture["spec"]["vocab"])])
        ig = IntegratedGradients(TextCNN(model), vocab, ["a", "b"], steps=IG_STEPS, rule="midpoint")
        out[RUN_METHODS[0][0]] = ig.attribute_ids(fixture["ids"], fixture["targets"])["scores"]
    return out


def engine_occlusion(model, fixture: dict):
    """The engine's leave-one-out occlusion (``perturb.occlusion_explanations``, replacement ``pad``)
    of the fixture's rows without padding, explained as texts through a ``ModelExplainer`` (so laid
    out as the fixture's row); NaN on the rows with padding, which the explainer would lay out
    otherwise."""
    import numpy as np

    from textdeconv.attribution.engine import Analyzer
    from textdeconv.attribution.engine.perturb import ModelPerturber, occlusion_explanations

    ids, targets, s = fixture["ids"], fixture["targets"], fixture["spec"]
    vocab = ["", "[UNK]"] + [f"w{i}" for i in range(2, s["vocab"])]
    classes = 2 if s["nodes"][-1]["units"] == 1 else s["nodes"][-1]["units"]
    explainer = Analyzer(model, "gradient").explainer(vocabulary=vocab, class_names=[f"c{i}" for i in range(classes)])
    rows = [i for i, r in enumerate(ids) if (r != 0).all()]
    expls = explainer.explain([" ".join(vocab[j] for j in ids[i]) for i in rows], target=targets[rows].tolist())
    out = np.full(ids.shape, np.nan, np.float32)
    for i, e in zip(rows, occlusion_explanations(expls, ModelPerturber(explainer, "pad"))):
        assert list(e.token_ids) == ids[i].tolist()
        out[i] = e.scores
    return out


def deviation(ours, theirs) -> float:
    """max |ours - theirs| / max(max |theirs|, 1): the figure the tolerance bounds."""
    import numpy as np

    kept = np.isfinite(ours)  # occlusion: only the rows without padding
    ours, theirs = ours[kept], theirs[kept]
    return float(np.abs(ours - theirs).max() / max(float(np.abs(theirs).max()), 1.0))


def failures(fixture: dict, scores: dict) -> list:
    """[(method key, largest |engine - peer|)] for every method outside the tolerance."""
    import numpy as np

    out = []
    for key, peer in fixture["expected"].items():
        kept = np.isfinite(scores[key])  # occlusion: only the rows without padding
        peer = peer[kept]
        gap = np.abs(scores[key][kept] - peer)
        if gap.max() > RTOL * max(1.0, float(np.abs(peer).max())) + ATOL:
            out.append((key, float(gap.max())))
    return out


def measure(fixtures: Path = FIXTURES) -> dict:
    """The engine against every fixture: per architecture, the deviation from each expected peer
    score (methods) and from each out-of-the-box peer score (conventions)."""
    import numpy as np

    out = {}
    for name in ARCHITECTURES:
        f = load_fixture(fixtures / f"{name}.npz")
        scores = engine_scores(keras_twin(f["spec"], f["weights"]), f)
        out[name] = {
            "rows": int(f["ids"].shape[0]), "length": int(f["ids"].shape[1]), "peer_versions": f["versions"],
            "methods": {key: deviation(scores[key], f["expected"][key]) for key in scores},
            "max_abs_score": {key: float(np.abs(f["expected"][key][np.isfinite(scores[key])]).max()) for key in scores},
            "conventions": {key: deviation(scores[method_key(i)], f["as_is"][key]) for key, i, _ in AS_IS},
        }
    return out


# ---- the page -----------------------------------------------------------------------------------------

def markdown(data: dict) -> str:
    """The measurement as Markdown (bench/report.py puts it on docs/any-model.md)."""
    archs = data["architectures"]
    first = next(iter(archs.values()))
    peer = {method_key(i): f"{p} `{m}`" for i, (_, _, p, m) in enumerate(METHODS)}
    peer.update({k: f"{p} `{m}`" for k, p, m in (*RUN_METHODS, OCCLUSION)})
    keys = list(dict.fromkeys(k for a in archs.values() for k in a["methods"]))
    versions = ", ".join(f"{k} {v}" for k, v in first["peer_versions"].items())
    out = [f"Peers ({versions}) run by `{data['generated_by']}` in a venv with torch; rows × ids per model: "
           + ", ".join(f"`{a}` {e['rows']} × {e['length']}" for a, e in archs.items()) + ".", "",
           "Largest deviation of the engine from the peer with the engine's conventions applied, "
           "max |engine − peer| / max(1, max |peer|) over all rows and positions (tolerance "
           f"{data['tolerance']}):", "",
           "| engine method | peer | " + " | ".join(f"`{a}`" for a in archs) + " |",
           "|---|---|" + "---|" * len(archs)]
    for key in keys:
        out.append(f"| `{key}` | {peer[key]} | " + " | ".join(
            f"{a['methods'][key]:.1e}" if key in a["methods"] else "—" for a in archs.values()) + " |")
    out += ["", "The peers out of the box: the same deviation where a peer keeps its own convention "
            "(0 where the convention never comes into play on that model and its rows):", "",
            "| convention | what the peer does | " + " | ".join(f"`{a}`" for a in archs) + " |",
            "|---|---|" + "---|" * len(archs)]
    for key, _, what in AS_IS:
        out.append(f"| `{key}` | {what} | " + " | ".join(f"{a['conventions'][key]:.1e}" for a in archs.values())
                   + " |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["generate", "measure"], help="generate: the fixtures (torch venv); measure: "
                                                                  "the engine against them (project env)")
    p.add_argument("--fixtures", default=str(FIXTURES), help="folder of the fixtures")
    p.add_argument("--out", default=str(RESULT), help="measure: the results file")
    args = p.parse_args(argv)
    if args.step == "generate":
        generate(Path(args.fixtures))
        return 0
    sys.path.insert(0, str(ROOT))
    from benchlib import machine, now

    from textdeconv.files import atomic_write_json

    record = {"command": "python bench/peer_parity.py measure",
              "generated_by": "python bench/peer_parity.py generate",
              "what": "the engine against Captum and zennit on PyTorch twins with identical weights (fixtures "
                      "tests/fixtures/peer/*.npz)",
              "tolerance": f"max |engine - peer| <= {RTOL:g} * max(1, max |peer|) + {ATOL:g}",
              "architectures": measure(Path(args.fixtures)), "machine": machine(None), "date": now()}
    atomic_write_json(Path(args.out), record)
    print(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
