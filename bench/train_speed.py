#!/usr/bin/env python
"""Training step time on SST-2 phrases: Keras's Adadelta against the lazy (sparse) Adadelta.

    python bench/train_speed.py --config sst.yaml --steps 150 --repeats 5 --breakdown

Builds the configs/sst.yaml model and input pipeline (77,616 phrases, batch 50, length-bucketed
tf.data), then for each setting trains --warmup steps (tracing, caches) and times --repeats windows
of --steps more (one fit() each); ms/step is the best window, every window is recorded. This
machine's speed comes in phases: a plain numpy matmul loop runs at one of two speeds for many
seconds at a time, and a training step takes ~20 or ~34 ms by phase, so one long window measures
the phase, not the code. Seconds per epoch = best ms/step x steps per epoch. Settings:
  keras-adadelta        train.sparse_updates=false: Keras's Adadelta (decays every embedding row's
                        accumulators each step; not exact Adadelta when a batch repeats a word)
  lazy-adadelta         the default: exact Adadelta touching only the batch's rows (textdeconv/optim.py)
  lazy-adadelta-xla     the same with train.jit_compile=true
  random-batches        train.bucket_chunk=1: Kim's plain random batches, padded to their longest row
With --breakdown, the lazy-adadelta process also times the parts of a step on the same batches
(each compiled with tf.function, best of --repeats): reading the batches, the forward pass, forward
+ backward, forward + backward + the optimizer's update, and the full Keras step, so what
dominates a step is a measured share, not a guess.
Each setting runs in a fresh process (a second model built in the same process trains measurably
slower, which would favour whichever setting runs first). Writes bench/results/train_speed.json.
Timings need a quiet machine: the load average is recorded.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402

from textdeconv.runtime import load_tensorflow  # noqa: E402

SETTINGS = {"keras-adadelta": ["train.sparse_updates=false"], "lazy-adadelta": [],
            "lazy-adadelta-xla": ["train.jit_compile=true"], "random-batches": ["train.bucket_chunk=1"]}


def breakdown(model, ds, steps: int, repeats: int, keras_step_ms: float) -> dict:
    """Milliseconds per step (best of ``repeats``) of each part of a training step over the first
    ``steps`` batches of ``ds``; ``keras_step_ms`` is the measured ``fit`` step it is compared with.
    Runs the optimizer, so call it after the timings that need the untouched model."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    variables = model.trainable_variables

    spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)]  # one trace for every length

    @tf.function(input_signature=spec)
    def forward(x, y):
        return loss_fn(y, model(x, training=True))

    @tf.function(input_signature=spec)
    def forward_backward(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, variables)

    @tf.function(input_signature=spec)
    def update(x, y):
        model.optimizer.apply(forward_backward(x, y), variables)
        return variables[0]

    batches = list(ds.take(steps))  # materialised: the compiled parts time compute, not input

    def best_ms(window) -> float:
        """Best of ``repeats`` runs of ``window()`` (one pass over the batches), per batch."""
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            window()
            best = min(best, (time.perf_counter() - t0) / len(batches) * 1000)
        return best

    def per_step(fn):
        fn(*batches[0])  # trace

        def window():
            for x, y in batches:
                out = fn(x, y)
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)

        return best_ms(window)

    def read():
        for _ in ds.take(steps):
            pass

    reading = best_ms(read)
    fwd, fwd_bwd, upd = per_step(forward), per_step(forward_backward), per_step(update)
    parts = {"input_pipeline_ms": reading, "forward_ms": fwd, "backward_ms": fwd_bwd - fwd,
             "optimizer_ms": upd - fwd_bwd, "keras_fit_overhead_ms": keras_step_ms - upd,
             "compiled_step_ms": upd, "keras_step_ms": keras_step_ms}
    return {k: round(v, 2) for k, v in parts.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="sst.yaml")
    p.add_argument("--steps", type=int, default=150, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=5, help="timed windows; the best is reported")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--breakdown", action="store_true", help="also time the parts of a lazy-adadelta step")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train_speed.json"))
    p.add_argument("--only", choices=list(SETTINGS), help=argparse.SUPPRESS)  # internal: one setting, JSON on stdout
    args = p.parse_args()
    load_average = os.getloadavg()
    if args.only is None:  # each setting in a fresh process: a second model in one process runs slower
        results = {}
        for name in args.settings:
            proc = subprocess.run([sys.executable, __file__, "--only", name, "--config", args.config, "--steps",
                                   str(args.steps), "--warmup", str(args.warmup), "--repeats", str(args.repeats)]
                                  + (["--breakdown"] if args.breakdown and name == "lazy-adadelta" else []),
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-3000:])
            results |= json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{name}: {results[name]['ms_per_step']} ms/step, {results[name]['seconds_per_epoch']} s/epoch",
                  file=sys.stderr)
        from textdeconv.files import atomic_write_json

        record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "config": args.config,
                  "timed_steps": args.steps, "repeats": args.repeats, "warmup_steps": args.warmup, "results": results,
                  "machine": machine(load_average), "date": now()}
        atomic_write_json(args.out, record)
        print(json.dumps(results, indent=1))
        return

    load_tensorflow()  # quietly, before anything imports it noisily
    import keras

    from textdeconv.config import load_config
    from textdeconv.data.splits import load_splits
    from textdeconv.data.vocab import Vocab
    from textdeconv.model.textcnn import build_model
    from textdeconv.training.trainer import make_dataset, make_optimizer

    base = load_config(args.config)
    splits, class_names = load_splits(base.data, base.vocab.clean)
    vocab = Vocab.build((ex.tokens for ex in splits["train"]), base.vocab.min_count, base.vocab.lowercase,
                        clean=base.vocab.clean)
    seqs, labels = [vocab.encode(ex.tokens) for ex in splits["train"]], [ex.label for ex in splits["train"]]
    pad = max(base.model.filter_sizes) - 1
    steps_per_epoch = -(-len(seqs) // base.train.batch_size)
    results = {}
    for name in [args.only]:
        cfg = load_config(args.config, SETTINGS[name])
        keras.utils.set_random_seed(0)
        model = build_model(cfg.model, len(vocab), len(class_names), seed=0)
        model.compile(optimizer=make_optimizer(cfg.train), loss="sparse_categorical_crossentropy",
                      weighted_metrics=["accuracy"], jit_compile=cfg.train.jit_compile)
        ds = make_dataset(seqs, labels, cfg.train.batch_size, pad, seed=0, bucket_chunk=cfg.train.bucket_chunk)
        model.fit(ds.take(args.warmup), epochs=1, verbose=0)
        windows = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            model.fit(ds.skip(args.warmup + r * args.steps).take(args.steps), epochs=1, verbose=0)
            windows.append((time.perf_counter() - t0) / args.steps * 1000)
        ms = min(windows)
        results[name] = {"ms_per_step": round(ms, 2), "seconds_per_epoch": round(ms * steps_per_epoch / 1000, 1),
                         "ms_per_step_windows": [round(w, 2) for w in windows],
                         "overrides": SETTINGS[name], "optimizer": type(model.optimizer).__name__}
        if args.breakdown:
            results[name]["breakdown"] = breakdown(model, ds.skip(args.warmup).take(args.steps), args.steps,
                                                   args.repeats, ms)
    for r in results.values():
        r |= {"train_examples": len(seqs), "steps_per_epoch": steps_per_epoch}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
