#!/usr/bin/env python
"""Issue 24's two worked examples on SST-2: two Keras tutorial text CNNs, trained briefly,
explained with every method of the reverse engine and scored with our faithfulness metrics
against the occlusion and random baselines.

    TEXTDECONV_DATA=/work/shared/data/sst nice -n 10 python bench/keras_examples.py --test-stride 3

The models (keras-io examples, at the tutorial's layer sizes):

- ``from_scratch`` ("Text classification from scratch"): Embedding(20000, 128) -> Dropout(0.5)
  -> Conv1D(128, 7, strides 3, relu) x 2 -> GlobalMaxPooling1D -> Dense(128, relu) -> Dropout(0.5)
  -> Dense(1, sigmoid); 500 ids per row; adam, binary cross-entropy, 3 epochs, batches of 32.
- ``pretrained`` ("Using pre-trained word embeddings"): Embedding(vocabulary, 100) -> (Conv1D(128, 5,
  relu) -> MaxPooling1D(5)) x 2 -> Conv1D(128, 5, relu) -> GlobalMaxPooling1D -> Dense(128, relu)
  -> Dropout(0.5) -> Dense(2, softmax); 200 ids per row; rmsprop, batches of 128. The tutorial
  freezes GloVe rows; here the embedding is randomly initialised (Keras's default) and trained,
  since no GloVe file ships with the project (frozen random rows would make it a random-feature
  model). The tutorial's 20 epochs are cut to at most 12, stopped early on dev accuracy (patience
  3 from epoch 5 on, since on SST-2 it sits at the majority class for its first 3-4 epochs; the
  best epoch's weights restored, so its dev accuracy is the selected one, test is untouched).

Data: SST-2 sentences (``data.splits.load_splits`` with ``train_on="sentences"``: 6,920 train,
872 dev, 1,821 test), the treebank's tokens lower-cased in Python and joined by spaces, read by a
``keras.layers.TextVectorization(max_tokens=20000, standardize=None, split="whitespace")``
adapted on train, so the explained tokens are exactly the treebank's. Accuracy is on the full dev
and test sets; explanations and metrics on every ``--test-stride``-th test sentence (an even
stride, recorded in the JSON).

Explained: the predicted class of every sentence, with ``deconvnet``, ``guided-backprop``,
``gradient``, ``grad-x-input``, ``lrp-epsilon`` (eps 0.01), ``lrp-alpha-beta`` (alpha 1, beta 0)
and ``lrp-zplus`` (each through ``ModelExplainer`` with the rows laid out as in training), plus
leave-one-out ``occlusion`` and seeded ``random`` scores (``attribution/engine/perturb.py``).
Scored: ERASER comprehensiveness and sufficiency (AOPC over k = 1, 5, 10, 20, 50 %), the
deletion curves MoRF and LeRF and the insertion curve (AUC over 0, 10, ..., 100 % of the
tokens), all on p of the explained class with removed tokens replaced by the padding id's
embedding (``--replacement pad``; see ``ModelPerturber``). Time per sentence: wall time of
``explain`` over the subsample after one warm-up call (tracing excluded), and the model's
compiled forward pass on the same rows for scale.

Writes bench/results/keras_examples.json (figures, command, config, machine, date); stdout
carries the JSON, progress goes to stderr. ``markdown(results)`` renders the tables.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

METHODS = ("deconvnet", "guided-backprop", "gradient", "grad-x-input", "lrp-epsilon", "lrp-alpha-beta", "lrp-zplus")
BASELINES = ("occlusion", "random")
NOTE = ("times per sentence are single wall-clock passes on a shared machine (see the load average): compare "
        "them within a run only; bench/results/engine_speed.json has the engine's best-of-repeats cost")
METRICS = (  # (key, column title, better)
    ("comprehensiveness_aopc", "comprehensiveness", "higher"),
    ("sufficiency_aopc", "sufficiency", "lower"),
    ("morf_auc", "deletion MoRF AUC", "lower"),
    ("lerf_auc", "deletion LeRF AUC", "higher"),
    ("insertion_auc", "insertion AUC", "higher"),
)


@dataclass(frozen=True)
class Example:
    """One tutorial model and how it is trained. ``kind``: from_scratch or pretrained."""

    kind: str
    max_tokens: int = 20000      # the vectorizer's vocabulary (from_scratch: also the embedding's rows)
    length: int = 500            # ids per row (the vectorizer's output_sequence_length)
    dim: int = 128               # embedding size
    filters: int = 128           # Conv1D filters (and the hidden Dense's units)
    epochs: int = 3
    batch_size: int = 32
    optimizer: str = "adam"
    patience: int | None = None  # early stopping on dev accuracy (best weights restored); None: no stopping
    start_from_epoch: int = 0    # epochs before early stopping watches (a slow start is no plateau)


TUTORIAL = {
    "from_scratch": Example("from_scratch"),
    "pretrained": Example("pretrained", length=200, dim=100, epochs=12, batch_size=128, optimizer="rmsprop",
                          patience=3, start_from_epoch=4),
}


def tiny(examples: dict) -> dict:
    """The same architectures at toy sizes (the end-to-end test). The pretrained model's three
    valid width-5 convolutions and two pool-5 layers need at least 149 ids per row."""
    sizes = {"from_scratch": dict(max_tokens=200, length=32, dim=8, filters=6, epochs=1, batch_size=16),
             "pretrained": dict(max_tokens=200, length=149, dim=8, filters=6, epochs=2, batch_size=16,
                            patience=1, start_from_epoch=0)}
    return {name: replace(ex, **sizes[name]) for name, ex in examples.items()}


# ------------------------------------------------------------------------------------- models

def from_scratch_model(ex: Example):
    """keras-io "Text classification from scratch" (a single sigmoid unit)."""
    import keras

    L = keras.layers
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = L.Embedding(ex.max_tokens, ex.dim)(inputs)
    x = L.Dropout(0.5)(x)
    x = L.Conv1D(ex.filters, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.Conv1D(ex.filters, 7, padding="valid", activation="relu", strides=3)(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(ex.filters, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    predictions = L.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions, name="from_scratch")
    model.compile(loss="binary_crossentropy", optimizer=ex.optimizer, metrics=["accuracy"])
    return model


def pretrained_model(ex: Example, num_tokens: int, classes: int):
    """keras-io "Using pre-trained word embeddings", with a randomly initialised, trained embedding."""
    import keras

    L = keras.layers
    int_sequences_input = keras.Input(shape=(None,), dtype="int64")
    x = L.Embedding(num_tokens, ex.dim)(int_sequences_input)
    x = L.Conv1D(ex.filters, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(ex.filters, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(ex.filters, 5, activation="relu")(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(ex.filters, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    preds = L.Dense(classes, activation="softmax")(x)
    model = keras.Model(int_sequences_input, preds, name="pretrained")
    model.compile(loss="sparse_categorical_crossentropy", optimizer=ex.optimizer, metrics=["accuracy"])
    return model


# --------------------------------------------------------------------------------------- data

def load_sst2() -> tuple[dict, tuple[str, ...]]:
    """({split: (token lists, labels)}, class names): SST-2 sentences of every split, lower-cased."""
    from textdeconv.config import DataConfig
    from textdeconv.data.splits import load_splits

    splits, names = load_splits(DataConfig(dataset="sst2", train_on="sentences", download=False))
    return {split: ([[t.lower() for t in ex.tokens] for ex in examples], [ex.label for ex in examples])
            for split, examples in splits.items()}, names


def every(items, stride: int) -> list:
    return list(items)[::stride]


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ the study

def train(ex: Example, data: dict, class_names, seed: int = 0, build=None) -> tuple:
    """(model, vectorizer, record): the vectorizer adapted on train, the model fit on train with
    dev as validation; the record holds epochs, minutes, the history and dev/test accuracy.

    ``ex``: any settings with kind, max_tokens, length, epochs, batch_size, patience and
    start_from_epoch (deep_textcnn.py passes its own); ``build(vocabulary size, classes)`` makes the
    model (default: the two keras-io examples)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    vectorizer = keras.layers.TextVectorization(max_tokens=ex.max_tokens, standardize=None, split="whitespace",
                                                output_mode="int", output_sequence_length=ex.length)
    vectorizer.adapt(np.array([" ".join(t) for t in data["train"][0]]))

    def xy(split):
        tokens, labels = data[split]
        return vectorizer(np.array([" ".join(t) for t in tokens])).numpy(), np.asarray(labels)

    (x, y), dev = xy("train"), xy("dev")
    if build is not None:
        model = build(len(vectorizer.get_vocabulary()), len(class_names))
    elif ex.kind == "from_scratch":
        model = from_scratch_model(ex)
    else:
        model = pretrained_model(ex, len(vectorizer.get_vocabulary()), len(class_names))
    callbacks = [keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log(
        f"  {ex.kind} epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items())))]
    stopper = None
    if ex.patience is not None:
        stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=ex.patience,
                                                start_from_epoch=ex.start_from_epoch, restore_best_weights=True)
        callbacks.append(stopper)
    start = time.perf_counter()
    history = model.fit(x, y, validation_data=dev, epochs=ex.epochs, batch_size=ex.batch_size, verbose=0,
                        callbacks=callbacks)
    minutes = (time.perf_counter() - start) / 60
    accuracy = {split: float(model.evaluate(*xy(split), batch_size=256, verbose=0)[1]) for split in ("dev", "test")}
    epochs = len(history.history["loss"])
    restored = stopper is not None and stopper.best_weights is not None  # EarlyStopping restores at the end
    record = {"epochs_run": epochs, "weights_from_epoch": stopper.best_epoch + 1 if restored else epochs,
              "minutes": round(minutes, 2),
              "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()},
              "accuracy": accuracy, "vocabulary": len(vectorizer.get_vocabulary()),
              "parameters": int(model.count_params())}
    return model, vectorizer, record


def faithfulness(expls, perturber) -> dict:
    """Our metrics on ``expls``: AOPCs, per-k ERASER means and the three curves' AUCs."""
    from textdeconv.evaluation.faithfulness import deletion_insertion, eraser

    er, di = eraser(expls, perturber), deletion_insertion(expls, perturber)
    return {"comprehensiveness_aopc": er["comprehensiveness_aopc"], "sufficiency_aopc": er["sufficiency_aopc"],
            "morf_auc": di["auc"]["morf"], "lerf_auc": di["auc"]["lerf"], "insertion_auc": di["auc"]["insertion"],
            "comprehensiveness_at_k": [float(v) for v in er["comprehensiveness"]],
            "sufficiency_at_k": [float(v) for v in er["sufficiency"]]}


def explain_and_score(model, vectorizer, ex: Example, sentences, class_names, methods=METHODS,
                      replacement: str = "pad", seed: int = 0) -> tuple[dict, dict]:
    """({method: metrics and seconds per sentence}, forward) for ``sentences`` (token lists), every
    method and baseline explaining the model's predicted class; ``forward``: the compiled forward
    pass's seconds per sentence on the same rows and the predicted classes."""
    import numpy as np
    import tensorflow as tf

    from textdeconv.attribution.engine import Analyzer
    from textdeconv.attribution.engine.perturb import ModelPerturber, occlusion_explanations, random_explanations

    out, reference, perturber = {}, None, None
    for method in methods:
        explainer = Analyzer(model, method).explainer(vocabulary=vectorizer, class_names=class_names,
                                                      sequence_length=ex.length)
        explainer.explain(sentences[:2])  # warm-up: trace the compiled graph
        start = time.perf_counter()
        expls = explainer.explain(sentences)
        seconds = (time.perf_counter() - start) / len(sentences)
        if perturber is None:
            perturber, reference = ModelPerturber(explainer, replacement), expls
        out[method] = {"seconds_per_sentence": seconds, **faithfulness(expls, perturber)}
        log(f"  {ex.kind} {method}: {seconds * 1e3:.2f} ms/sentence, "
            f"comprehensiveness {out[method]['comprehensiveness_aopc']:.3f}")
    occlusion_explanations(reference[:2], perturber)  # warm-up
    start = time.perf_counter()
    occluded = occlusion_explanations(reference, perturber)
    out["occlusion"] = {"seconds_per_sentence": (time.perf_counter() - start) / len(sentences),
                        **faithfulness(occluded, perturber)}
    start = time.perf_counter()
    rand = random_explanations(reference, seed=seed)
    out["random"] = {"seconds_per_sentence": (time.perf_counter() - start) / len(sentences),
                     **faithfulness(rand, perturber)}
    # the forward pass on the same rows (laid out as explained), compiled, for scale
    rows = np.zeros((len(reference), ex.length), np.int32)
    for i, e in enumerate(reference):
        rows[i, :len(e.token_ids)] = e.token_ids
    forward = tf.function(lambda x: model(x, training=False))
    forward(tf.constant(rows[:128]))
    start = time.perf_counter()
    for b in range(0, len(rows), 128):
        forward(tf.constant(rows[b:b + 128])).numpy()
    forward_record = {"seconds_per_sentence": (time.perf_counter() - start) / len(rows),
                      "predicted": [int(e.predicted) for e in reference]}
    return out, forward_record


def study(data: dict, class_names, examples: dict | None = None, test_stride: int = 1, methods=METHODS,
          replacement: str = "pad", seed: int = 0) -> dict:
    """Train, explain and score every example: the bench's core, callable on any data.

    Args:
        data: {"train", "dev", "test": (token lists, integer labels)}.
        class_names: one per class (2 for the from-scratch model's sigmoid unit).
        examples: {name: Example} (default: the tutorial sizes, ``TUTORIAL``).
        test_stride: explain every test_stride-th test sentence.
        methods: engine methods to run (the occlusion and random baselines always run).
        replacement: what removing a token means in the metrics (pad, unk, delete).
    Returns:
        {name: {"config", "embedding", "training", "accuracy", "explained", "methods": {method: metrics},
        "forward"}}.
    """
    examples = TUTORIAL if examples is None else examples
    tokens, labels = data["test"]
    subset, gold = every(tokens, test_stride), every(labels, test_stride)
    results = {}
    for name, ex in examples.items():
        log(f"{name}: training")
        model, vectorizer, record = train(ex, data, class_names, seed)
        log(f"{name}: dev {record['accuracy']['dev']:.4f}, test {record['accuracy']['test']:.4f}, "
            f"{record['minutes']:.2f} min; explaining {len(subset)} test sentences")
        start = time.perf_counter()
        scored, forward = explain_and_score(model, vectorizer, ex, subset, class_names, methods, replacement, seed)
        predicted = forward.pop("predicted")
        results[name] = {
            "config": asdict(ex),
            "embedding": "random init (Keras default), trained" if ex.kind == "pretrained" else "random init, trained",
            "training": {k: v for k, v in record.items() if k != "accuracy"},
            "accuracy": record["accuracy"],
            "explained": {"sentences": len(subset), "of": len(tokens), "stride": test_stride,
                          "truncated": sum(len(t) > ex.length for t in subset),
                          "accuracy": float(sum(p == y for p, y in zip(predicted, gold)) / len(gold)),
                          "minutes": round((time.perf_counter() - start) / 60, 2)},
            "replacement": replacement,
            "methods": scored,
            "forward": forward,
        }
    return results


# ------------------------------------------------------------------------------------- report

def _ordinal(n: int) -> str:
    return "one" if n == 1 else f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _fmt(x, digits=3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def markdown(results: dict) -> str:
    """The study as Markdown (one table per model: methods x metrics), from keras_examples.json's
    content (or ``study``'s return value under "examples")."""
    examples = results.get("examples", results)
    head = ["method", *(f"{title} ({'↑' if better == 'higher' else '↓'})" for _, title, better in METRICS),
            "ms / sentence"]
    out = []
    for name, r in examples.items():
        ex, acc, exp = r["config"], r["accuracy"], r["explained"]
        out += [f"### `{name}`", "",
                f"Dev accuracy {_fmt(acc['dev'])}, test accuracy {_fmt(acc['test'])} after "
                f"{r['training']['epochs_run']} epochs ({_fmt(r['training']['minutes'], 1)} min, weights of epoch "
                f"{r['training'].get('weights_from_epoch', r['training']['epochs_run'])}); "
                f"{ex['length']} ids per row, embedding {r['embedding']}. Scored on {exp['sentences']} of "
                f"{exp['of']} test sentences (every {_ordinal(exp['stride'])}), the predicted class explained; "
                f"removed tokens: `{r.get('replacement', 'pad')}`.", ""]
        rows = []
        for method, m in r["methods"].items():
            rows.append([f"`{method}`", *(_fmt(m.get(key)) for key, _, _ in METRICS),
                         _fmt(m["seconds_per_sentence"] * 1e3, 2)])
        fwd = r.get("forward")
        if fwd:
            rows.append(["forward pass (for scale)", *[""] * len(METRICS), _fmt(fwd["seconds_per_sentence"] * 1e3, 2)])
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


def study_args(argv, doc: str, stride: int, choices, what: str, out_name: str):
    """The command line of a study script (this one, deep_textcnn.py): ``(args, out path)``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test-stride", type=int, default=stride,
                   help="explain every Nth test sentence (accuracy uses all)")
    p.add_argument("--replacement", default="pad", choices=("pad", "unk", "delete"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=sorted(choices), help=f"run one of the two {what}")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / out_name))
    args = p.parse_args(argv)
    if args.test_stride < 1:
        p.error("--test-stride must be >= 1")
    out = Path(args.out)
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        p.error(f"--out: cannot write into {out.parent}")
    return args, out


def study_config(args) -> dict:
    """The settings every study records: data, vectorizer, subsample, metrics and methods."""
    return {"data": "SST-2 sentences (train 6920 / dev 872 / test 1821), treebank tokens lower-cased",
            "data_dir": os.environ.get("TEXTDECONV_DATA", "data/sst (the project default)"),
            "vectorizer": "TextVectorization(max_tokens=20000, standardize=None, split='whitespace')",
            "test_subsample": f"every {_ordinal(args.test_stride)} test sentence (even stride from the first)",
            "replacement": args.replacement, "seed": args.seed,
            "eraser_ks": [0.01, 0.05, 0.10, 0.20, 0.50], "curve_fractions": "0, 0.1, ..., 1",
            "methods": list(METHODS), "baselines": list(BASELINES),
            "method_options": "engine defaults: saliency dot (gradient: sum), epsilon 0.01, alpha 1, beta 0",
            "timing": "explain wall time over the subsample after one warm-up call, per sentence; "
                      "forward = the compiled model on the same rows in batches of 128"}


def main(argv=None) -> int:
    args, out = study_args(argv, __doc__, 3, TUTORIAL, "examples", "keras_examples.json")
    from benchlib import machine, now  # bench/ is on the path when run as a script

    load = os.getloadavg()
    start = time.perf_counter()
    data, class_names = load_sst2()
    examples = {args.only: TUTORIAL[args.only]} if args.only else TUTORIAL
    results = study(data, class_names, examples, args.test_stride, replacement=args.replacement, seed=args.seed)

    from textdeconv.files import atomic_write_json

    record = {
        "command": " ".join(["python", *sys.argv]),
        "what": "two keras-io text CNNs trained briefly on SST-2 sentences, explained by every engine method "
                "and baseline (predicted class), scored with textdeconv's faithfulness metrics",
        "config": study_config(args),
        "note": NOTE,
        "examples": results,
        "total_minutes": round((time.perf_counter() - start) / 60, 2),
        "machine": machine(load), "date": now(),
    }
    atomic_write_json(out, record)
    print(json.dumps(record, indent=1))
    log(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
