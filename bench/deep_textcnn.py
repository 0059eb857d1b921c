#!/usr/bin/env python
"""Issue 31: deep text CNNs with skip connections through the reverse engine on SST-2 — a DPCNN
and a small VDCNN-style stack, trained briefly, explained with every engine method and scored
with our faithfulness metrics beside occlusion and random.

    TEXTDECONV_DATA=/work/shared/data/sst nice -n 10 python bench/deep_textcnn.py --test-stride 6

The models (small, so both train in a few CPU minutes; sizes in the JSON's ``config``):

- ``dpcnn`` (Johnson & Zhang, 2017, "Deep Pyramid Convolutional Neural Networks for Text
  Categorization"): Embedding -> region embedding (linear Conv1D, width 3) -> one pre-activation
  block [ReLU -> Conv1D(3) -> ReLU -> Conv1D(3)] + shortcut (Add), then ``downsamplings`` times
  [MaxPooling1D(3, strides 2, same) -> the same block + shortcut], the filters constant, as in the
  paper -> GlobalMaxPooling1D -> Dropout -> Dense(2, softmax).
- ``vdcnn`` (after Conneau et al., 2017, "Very Deep Convolutional Networks for Text
  Classification", with shortcuts): Embedding -> Conv1D(3) -> ``stages`` x [conv block
  [Conv1D(3) -> BatchNormalization -> ReLU] x 2 + shortcut (Add), MaxPooling1D(3, strides 2, same)]
  -> GlobalMaxPooling1D -> Dense(relu) -> Dense(2, softmax). VDCNN's k-max pooling (k = 8) has no
  Keras layer and no exact rule in the engine (a custom layer or Lambda computing it is refused by
  name), so the stack ends in global max pooling, k = 1.

Data, explaining and scoring as ``bench/keras_examples.py`` (whose study functions this script
reuses): SST-2 sentences, treebank tokens lower-cased, a whitespace ``TextVectorization`` adapted
on train; rows of ``length`` ids; the predicted class of every ``--test-stride``-th test sentence
explained with each engine method (defaults: saliency dot, gradient sum, epsilon 0.01, alpha 1,
beta 0), leave-one-out occlusion and seeded random; ERASER AOPCs and deletion / insertion AUCs
with removed tokens replaced by the padding id. Before scoring, every trained model is checked
against the engine's identities on the explained rows: ``gradient`` == a GradientTape through the
model's own layers, LRP-0 == ``grad-x-input``, and sum of scores + absorbed == the logit for every LRP
method (the largest deviations are recorded under ``exactness``).

Writes bench/results/deep_textcnn.json (figures, command, config, machine, date); stdout carries
the JSON, progress goes to stderr. ``markdown(results)`` renders the tables (bench/report.py puts
them on docs/results.md and docs/any-model.md).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_examples as kx  # noqa: E402  (bench/ on the path: the shared study functions)

METHODS, BASELINES, METRICS = kx.METHODS, kx.BASELINES, kx.METRICS
LRP = (("lrp-epsilon", {}), ("lrp-epsilon", {"epsilon": 0.0}), ("lrp-alpha-beta", {}),
       ("lrp-alpha-beta", {"alpha": 2.0, "beta": 1.0}), ("lrp-zplus", {}))


@dataclass(frozen=True)
class Deep:
    """One deep text CNN and how it is trained. ``kind``: dpcnn or vdcnn. ``depth``: DPCNN's
    downsamplings, or VDCNN's stages (conv block + pooling)."""

    kind: str
    max_tokens: int = 20000
    length: int = 64
    dim: int = 64
    filters: int = 64
    depth: int = 3
    dropout: float = 0.5
    epochs: int = 4
    batch_size: int = 64
    optimizer: str = "adam"
    patience: int | None = 1
    start_from_epoch: int = 1


MODELS = {"dpcnn": Deep("dpcnn"), "vdcnn": Deep("vdcnn", depth=2)}


def tiny(models: dict) -> dict:
    """The same architectures at toy sizes (the end-to-end test)."""
    return {name: replace(m, max_tokens=200, length=16, dim=8, filters=6, depth=2, epochs=1, batch_size=16)
            for name, m in models.items()}


def build(m: Deep, classes: int = 2):
    """The compiled Keras model for ``m`` (int ids of any length in, class probabilities out)."""
    import keras

    L = keras.layers

    def conv(width=3, activation=None):
        return L.Conv1D(m.filters, width, padding="same", activation=activation)

    ids = keras.Input(shape=(None,), dtype="int64")
    x = L.Embedding(m.max_tokens, m.dim)(ids)
    if m.kind == "dpcnn":
        def block(h):  # pre-activation: the shortcut carries the un-rectified sum
            y = conv()(L.ReLU()(h))
            return L.Add()([h, conv()(L.ReLU()(y))])
        x = block(conv()(x))  # region embedding, then the first block
        for _ in range(m.depth):
            x = block(L.MaxPooling1D(3, strides=2, padding="same")(x))
        x = L.Dropout(m.dropout)(L.GlobalMaxPooling1D()(x))
    elif m.kind == "vdcnn":
        def block(h):
            y = L.ReLU()(L.BatchNormalization()(conv()(h)))
            y = L.ReLU()(L.BatchNormalization()(conv()(y)))
            return L.Add()([h, y])
        x = conv()(x)
        for _ in range(m.depth):
            x = L.MaxPooling1D(3, strides=2, padding="same")(block(x))
        x = L.Dense(m.filters, activation="relu")(L.GlobalMaxPooling1D()(x))
        x = L.Dropout(m.dropout)(x)
    else:
        raise ValueError(f"unknown model kind {m.kind!r}")
    model = keras.Model(ids, L.Dense(classes, activation="softmax")(x), name=m.kind)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=m.optimizer, metrics=["accuracy"])
    return model


def train(m: Deep, data: dict, class_names, seed: int = 0) -> tuple:
    """(model, vectorizer, record) as ``keras_examples.train``: fit on train, dev for early stopping."""
    return kx.train(m, data, class_names, seed,
                    build=lambda vocab_size, classes: build(replace(m, max_tokens=vocab_size), classes))


def _windows_max(layer, x):
    """A MaxPooling1D as reduce_max over its gathered windows: the same values, and TensorFlow's
    reduce_max gradient shares exact ties equally (the engine's tie rule; padding rows tie), where
    its MaxPool gradient gives a tie to the first maximum."""
    import numpy as np
    import tensorflow as tf

    p, s, t = layer.pool_size[0], layer.strides[0], x.shape[1]
    if layer.padding == "same":
        n = -(-t // s)
        total = max((n - 1) * s + p - t, 0)
        x = tf.pad(x, [[0, 0], [total // 2, total - total // 2], [0, 0]], constant_values=-1e30)
    else:
        n = (t - p) // s + 1
    return tf.reduce_max(tf.gather(x, np.arange(n)[:, None] * s + np.arange(p)[None, :], axis=1), axis=2)


def _logits_from(model, rows, emb):
    """The pre-softmax logits of ``model`` from its embedded input, through Keras's own functional
    graph (TensorFlow's autodiff sums the paths of every join), MaxPooling1D as ``_windows_max``."""
    import keras

    head = model.layers[-1]

    def op(layer):
        if isinstance(layer, keras.layers.Embedding):
            return lambda ids: emb
        if isinstance(layer, keras.layers.MaxPooling1D):
            return lambda x: _windows_max(layer, x)
        if layer is head:
            return lambda x: x @ head.kernel + head.bias
        if isinstance(layer, (keras.layers.Dropout, keras.layers.BatchNormalization)):
            return lambda *a, **k: layer(*a, **{**k, "training": False})
        return layer

    return model._run_through_graph(rows, operation_fn=op)  # a private Keras API: a reference only


def tie_changes(analyzer, rows) -> int:
    """Max-pool windows (row, window, channel; every MaxPooling1D and GlobalMaxPooling1D) whose set
    of maxima differs between the analyzer's forward pass compiled (``tf.function``, as
    ``attribute`` runs it) and run eagerly (the kernels a GradientTape reference runs): a window
    tied in one and not in the other sends its signal to different positions."""
    import numpy as np
    import tensorflow as tf

    from textdeconv.attribution.engine.rules import forward

    graph = analyzer.graph
    pools = [s for s in graph.steps if s.kind in ("maxpool", "globalmax")]

    def inputs(ids):
        values, tape = {graph.ids_key: tf.cast(ids, graph.ids_dtype)}, tf.GradientTape(persistent=True)
        with tape:
            for step in graph.steps:
                values[step.output], _ = forward(step, values, tape, step in analyzer.tap_steps, graph.shared)
        return [values[s.inputs[0]] for s in pools]

    def maxima(step, x):
        """(batch, windows, width, channels) bool: the positions equal to their window's maximum."""
        if step.kind == "globalmax":
            return (x == x.max(axis=1, keepdims=True))[:, None]
        layer = step.layer
        p, st, t = layer.pool_size[0], layer.strides[0], x.shape[1]
        if layer.padding == "same":
            n = -(-t // st)
            total = max((n - 1) * st + p - t, 0)
            x = np.pad(x, [(0, 0), (total // 2, total - total // 2), (0, 0)], constant_values=-np.inf)
        else:
            n = (t - p) // st + 1
        windows = x[:, np.arange(n)[:, None] * st + np.arange(p)[None, :]]
        return windows == windows.max(axis=2, keepdims=True)

    ids = tf.constant(rows)
    compiled, eager = tf.function(inputs)(ids), inputs(ids)
    return int(sum((maxima(s, a.numpy()) != maxima(s, b.numpy())).any(axis=2).sum()
                   for s, a, b in zip(pools, compiled, eager)))


def exactness(model, vectorizer, m: Deep, sentences) -> dict:
    """The engine's identities on the trained model and the explained rows (largest deviations):
    ``gradient`` vs a GradientTape through the model's own layers (``_logits_from``), compiled as
    ``attribute`` runs it and eagerly (the tape's own kernels), with the count of max-pool windows
    whose maxima differ between the two forward passes (``tie_changes``); LRP-0 vs
    ``grad-x-input``, and |sum of scores + absorbed - logit| per LRP method."""
    import numpy as np
    import tensorflow as tf

    from textdeconv.attribution.engine import Analyzer

    rows = vectorizer(np.array([" ".join(t) for t in sentences])).numpy().astype(np.int32)
    gradient = Analyzer(model, "gradient").analyze(rows)
    target = gradient["target"]
    emb = model.layers[1](tf.constant(rows))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        z = _logits_from(model, rows, emb)
        objective = tf.reduce_sum(z * tf.one_hot(target, z.shape[-1]))
    tape_grad = tape.gradient(objective, emb).numpy().sum(-1)
    gxi = Analyzer(model, "grad-x-input").attribute(rows, target)
    lrp0 = Analyzer(model, "lrp-epsilon", epsilon=0.0).attribute(rows, target)
    budget = {}
    for method, options in LRP:
        res = Analyzer(model, method, **options).analyze(rows, target)
        gap = np.abs(res["scores"].sum(1) + res["absorbed"] - res["target_logit"]) / np.maximum(
            1.0, np.abs(res["target_logit"]))
        budget[method + "".join(f" {k}={v:g}" for k, v in options.items())] = float(gap.max())
    dev = np.abs(gradient["scores"] - tape_grad)
    tokens = rows != 0  # the sentence's own positions (padding: id 0)
    eager = Analyzer(model, "gradient")
    eager_scores = eager.run(tf.constant(rows), tf.constant(target))["scores"].numpy()
    return {"rows": len(rows), "gradient_vs_tape_max_abs": float(dev.max()),
            "gradient_vs_tape_max_abs_on_tokens": float(dev[tokens].max()),
            "rows_over_1e-5_relative": int((dev.max(1) > 1e-5 * np.abs(tape_grad).max()).sum()),
            "gradient_eager_vs_tape_max_abs": float(np.abs(eager_scores - tape_grad).max()),
            "pool_windows_tied_differently": tie_changes(eager, rows),
            "gradient_max_abs": float(np.abs(tape_grad).max()),
            "lrp0_vs_grad_x_input_max_abs": float(np.abs(lrp0 - gxi).max()),
            "grad_x_input_max_abs": float(np.abs(gxi).max()),
            "lrp_budget_max_relative_gap": budget}


def study(data: dict, class_names, models: dict | None = None, test_stride: int = 1, methods=METHODS,
          replacement: str = "pad", seed: int = 0) -> dict:
    """Train, check, explain and score every model (``keras_examples.study``'s layout, plus
    ``exactness``)."""
    models = MODELS if models is None else models
    tokens, labels = data["test"]
    subset, gold = kx.every(tokens, test_stride), kx.every(labels, test_stride)
    results = {}
    for name, m in models.items():
        kx.log(f"{name}: training")
        model, vectorizer, record = train(m, data, class_names, seed)
        kx.log(f"{name}: dev {record['accuracy']['dev']:.4f}, test {record['accuracy']['test']:.4f}, "
               f"{record['minutes']:.2f} min; checking, then explaining {len(subset)} test sentences")
        checks = exactness(model, vectorizer, m, subset)
        kx.log(f"{name}: exactness {checks}")
        start = time.perf_counter()
        scored, forward = kx.explain_and_score(model, vectorizer, m, subset, class_names, methods, replacement, seed)
        predicted = forward.pop("predicted")
        results[name] = {
            "config": asdict(m),
            "embedding": "random init, trained",
            "training": {k: v for k, v in record.items() if k != "accuracy"},
            "accuracy": record["accuracy"],
            "explained": {"sentences": len(subset), "of": len(tokens), "stride": test_stride,
                          "truncated": sum(len(t) > m.length for t in subset),
                          "accuracy": float(sum(p == y for p, y in zip(predicted, gold)) / len(gold)),
                          "minutes": round((time.perf_counter() - start) / 60, 2)},
            "exactness": checks,
            "replacement": replacement,
            "methods": scored,
            "forward": forward,
        }
    return results


def markdown(results: dict) -> str:
    """The study as Markdown: ``keras_examples.markdown``'s tables, then the exactness checks."""
    models = results.get("models", results)
    first = next(iter(models.values()))["exactness"]
    traced = "gradient_eager_vs_tape_max_abs" in first  # recorded since the tie trace (older files lack it)
    out = [kx.markdown({"examples": models}), "Exactness on the explained rows of each trained model (largest "
           "deviation over all positions, and over the sentences' own tokens; the rows whose gradient deviates "
           "by more than 1e-5 of the largest gradient; "
           + ("the engine run eagerly, on the forward kernels the tape runs, and the max-pool windows whose maxima "
              "differ between its compiled and eager forward passes; " if traced else "")
           + "LRP: |Σ scores + absorbed − logit| / max(1, |logit|)):", "",
           "| model | gradient vs GradientTape | on tokens | rows off | "
           + ("eager vs GradientTape | windows tied differently | " if traced else "")
           + "LRP-0 vs grad × input | "
           + " | ".join(f"budget `{k}`" for k in first["lrp_budget_max_relative_gap"]) + " |"]
    out.append("|" + "---|" * (5 + 2 * traced + len(first["lrp_budget_max_relative_gap"])))
    for name, r in models.items():
        e = r["exactness"]
        out.append(f"| `{name}` | {e['gradient_vs_tape_max_abs']:.1e} | "
                   f"{e['gradient_vs_tape_max_abs_on_tokens']:.1e} | "
                   f"{e['rows_over_1e-5_relative']} of {e['rows']} | "
                   + (f"{e['gradient_eager_vs_tape_max_abs']:.1e} | {e['pool_windows_tied_differently']} | "
                      if traced else "")
                   + f"{e['lrp0_vs_grad_x_input_max_abs']:.1e} | "
                   + " | ".join(f"{v:.1e}" for v in e["lrp_budget_max_relative_gap"].values()) + " |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args, out = kx.study_args(argv, __doc__, 6, MODELS, "models", "deep_textcnn.json")
    from benchlib import machine, now

    load = os.getloadavg()
    start = time.perf_counter()
    data, class_names = kx.load_sst2()
    models = {args.only: MODELS[args.only]} if args.only else MODELS
    results = study(data, class_names, models, args.test_stride, replacement=args.replacement, seed=args.seed)

    from textdeconv.files import atomic_write_json

    record = {
        "command": " ".join(["python", *sys.argv]),
        "what": "a DPCNN and a VDCNN-style text CNN (skip connections, BatchNorm, stride-2 pooling) trained "
                "briefly on SST-2 sentences, checked against the engine's identities, explained by every engine "
                "method and baseline (predicted class), scored with textdeconv's faithfulness metrics",
        "config": {**kx.study_config(args),
                   "refused": "VDCNN's k-max pooling (no Keras layer; a custom layer or Lambda is refused by name): "
                              "global max pooling instead"},
        "note": kx.NOTE,
        "models": results,
        "total_minutes": round((time.perf_counter() - start) / 60, 2),
        "machine": machine(load), "date": now(),
    }
    atomic_write_json(out, record)
    print(json.dumps(record, indent=1))
    kx.log(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
