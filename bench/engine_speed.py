#!/usr/bin/env python
"""Cost of the layer-wise reverse engine (issue 24) against the forward pass, on this CPU.

    python bench/engine_speed.py --repeats 15

(a) our TextCNN: configs/sst.yaml's model settings (CNN-rand, widths 3/4/5 x 100 filters, 300-d
    embeddings), random weights, a 16k vocabulary, a batch of 128 sentences of 20 tokens (padded
    as our runs pad them: 4 PAD ids on each side, 28 ids per row). Timed: the Keras model's
    compiled forward pass, our dedicated fast deconvnet (``deconv-rectified``, the window-tap path)
    and the engine's ``deconvnet`` (default: the Conv1D on the embeddings by taps) and, for
    reference, the engine with every layer through its vector-Jacobian product (``taps=False``).
    Target (issue 24): the engine's deconvnet <= 2x the forward pass.
(b) Keras's "text classification from scratch" model at the example's sizes: 20k vocabulary,
    128-d embeddings, two Conv1D 128 x 7 with strides 3, Dense 128, one sigmoid unit, input of
    500 ids; a batch of 128 rows. Timed: the forward pass, a compiled GradientTape gradient of
    the logit with respect to the embeddings, and the engine's deconvnet and lrp-epsilon (strided
    convolutions: the vector-Jacobian path).

Every figure is the best of --repeats timed calls after two warm-up calls (tracing excluded); the
cases are timed round-robin so that a load change on a shared machine hits them alike. Writes
bench/results/engine_speed.json with the figures, the command, the config, the machine and date.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from benchlib import machine, now  # noqa: E402


def race(cases: dict, repeats: int) -> dict:
    """{name: best seconds} for zero-argument callables, timed round-robin after two warm-ups."""
    for fn in cases.values():
        fn()
        fn()
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(ts) for name, ts in times.items()}


def textcnn_case(args, tf, np):
    from textdeconv.attribution.deconv import Deconvnet
    from textdeconv.attribution.engine import Analyzer
    from textdeconv.config import load_config
    from textdeconv.data.vocab import PAD, UNK, Vocab, pad_batch
    from textdeconv.model.textcnn import TextCNN, build_model

    cfg = load_config(ROOT / "configs" / "sst.yaml").model
    model = build_model(cfg, args.vocab_size, 2, seed=0)
    net = TextCNN(model)
    rng = np.random.default_rng(0)
    ids = pad_batch(rng.integers(2, args.vocab_size, (args.batch_size, args.length)).tolist(), net.pad)
    target = np.full(args.batch_size, -1, np.int32)
    forward = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, None], tf.int32)])
    ours = Deconvnet(net, Vocab([PAD, UNK]), ["negative", "positive"], "deconv-rectified")
    engine, reference = Analyzer(model, "deconvnet"), Analyzer(model, "deconvnet", taps=False)
    x, t = tf.constant(ids), tf.constant(target)
    best = race({"forward": lambda: forward(x).numpy(),
                 "our_fast_deconv": lambda: ours._core(x, t)["scores"].numpy(),
                 "engine_deconvnet": lambda: engine._core(x, t)["scores"].numpy(),
                 "engine_deconvnet_vjp_path": lambda: reference._core(x, t)["scores"].numpy()}, args.repeats)
    gap = np.abs(engine.attribute(ids) - ours.attribute_ids(ids, target)["scores"]).max()
    return {"config": {"model": cfg.to_dict() if hasattr(cfg, "to_dict") else str(cfg),
                       "vocab_size": args.vocab_size, "batch_size": args.batch_size, "tokens": args.length,
                       "ids_per_row": int(ids.shape[1])},
            "max_abs_difference_engine_vs_ours": float(gap), **summarise(best, "forward")}


def from_scratch_case(args, tf, np):
    import keras

    from textdeconv.attribution.engine import Analyzer

    L = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(args.scratch_length,), dtype="int64")
    h = L.Dropout(0.5)(L.Embedding(20000, 128)(inputs))
    h = L.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(h)
    h = L.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(h)
    h = L.Dropout(0.5)(L.Dense(128, activation="relu")(L.GlobalMaxPooling1D()(h)))
    model = keras.Model(inputs, L.Dense(1, activation="sigmoid", name="predictions")(h))
    layers = model.layers
    rng = np.random.default_rng(1)
    ids = rng.integers(2, 20000, (args.batch_size, args.scratch_length)).astype(np.int32)

    def tape_gradient(x):
        emb = layers[1](x)
        with tf.GradientTape() as tape:
            tape.watch(emb)
            h = emb
            for layer in layers[2:-1]:
                h = layer(h, training=False)
            objective = tf.reduce_sum(h @ layers[-1].kernel + layers[-1].bias)  # every row's own logit
        return tape.gradient(objective, emb)

    spec = [tf.TensorSpec([None, args.scratch_length], tf.int32)]
    forward = tf.function(lambda x: model(x, training=False), input_signature=spec)
    gradient = tf.function(tape_gradient, input_signature=spec)
    deconvnet, lrp = Analyzer(model, "deconvnet"), Analyzer(model, "lrp-epsilon")
    x, t = tf.constant(ids), tf.constant(np.full(args.batch_size, -1, np.int32))
    best = race({"forward": lambda: forward(x).numpy(), "gradient_tape": lambda: gradient(x).numpy(),
                 "engine_deconvnet": lambda: deconvnet._core(x, t)["scores"].numpy(),
                 "engine_lrp_epsilon": lambda: lrp._core(x, t)["scores"].numpy()}, args.repeats)
    out = summarise(best, "forward")
    out["ratio_to_gradient"] = {k: round(v / best["gradient_tape"], 3) for k, v in best.items()}
    out["config"] = {"vocab_size": 20000, "embedding_dim": 128, "conv": "2 x Conv1D(128, 7, strides=3, relu)",
                     "dense": 128, "ids_per_row": args.scratch_length, "batch_size": args.batch_size}
    return out


def summarise(best: dict, base: str) -> dict:
    return {"ms": {k: round(v * 1e3, 2) for k, v in best.items()},
            "ratio_to_forward": {k: round(v / best[base], 3) for k, v in best.items()}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--length", type=int, default=20, help="tokens per sentence for our TextCNN")
    p.add_argument("--vocab-size", type=int, default=16000)
    p.add_argument("--scratch-length", type=int, default=500, help="ids per row of the from-scratch model")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "engine_speed.json"))
    args = p.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()

    import numpy as np
    import tensorflow as tf

    from textdeconv.files import atomic_write_json

    textcnn = textcnn_case(args, tf, np)
    print("textcnn:", json.dumps(textcnn["ratio_to_forward"]), file=sys.stderr)
    scratch = from_scratch_case(args, tf, np)
    print("from scratch:", json.dumps(scratch["ratio_to_forward"]), file=sys.stderr)
    ratio = textcnn["ratio_to_forward"]["engine_deconvnet"]
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "what": "best-of-repeats wall time per batch of the compiled computation (tracing excluded), "
                "timed round-robin; ratios divide by the same model's forward pass",
        "repeats": args.repeats,
        "target": {"engine_deconvnet_over_forward_on_textcnn": 2.0, "measured": ratio, "met": ratio <= 2.0},
        "textcnn": textcnn, "from_scratch": scratch,
        "machine": machine(load), "date": now(),
    }
    atomic_write_json(args.out, record)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
