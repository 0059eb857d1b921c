#!/usr/bin/env python
"""Training step time on SST-2 phrases: Keras's Adadelta against the lazy (sparse) Adadelta.

    python bench/train_speed.py --config sst.yaml --steps 300

Builds the configs/sst.yaml model and input pipeline (77,616 phrases, batch 50, length-bucketed
tf.data), then for each setting trains --warmup steps (tracing, caches) and times --steps more;
seconds per epoch = ms/step x steps per epoch (the validation pass adds ~1 s). Settings:
  keras-adadelta        train.sparse_updates=false: Keras's Adadelta (decays every embedding row's
                        accumulators each step; not exact Adadelta when a batch repeats a word)
  lazy-adadelta         the default: exact Adadelta touching only the batch's rows (textdeconv/optim.py)
  lazy-adadelta-xla     the same with train.jit_compile=true
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
from textdeconv.cli import load_tensorflow  # noqa: E402

SETTINGS = {"keras-adadelta": ["train.sparse_updates=false"], "lazy-adadelta": [],
            "lazy-adadelta-xla": ["train.jit_compile=true"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="sst.yaml")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train_speed.json"))
    p.add_argument("--only", choices=list(SETTINGS), help=argparse.SUPPRESS)  # internal: one setting, JSON on stdout
    args = p.parse_args()
    load_average = os.getloadavg()
    if args.only is None:  # each setting in a fresh process: a second model in one process runs slower
        results = {}
        for name in args.settings:
            proc = subprocess.run([sys.executable, __file__, "--only", name, "--config", args.config, "--steps",
                                   str(args.steps), "--warmup", str(args.warmup)], capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-3000:])
            results |= json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{name}: {results[name]['ms_per_step']} ms/step, {results[name]['seconds_per_epoch']} s/epoch",
                  file=sys.stderr)
        from textdeconv.io import atomic_write_json

        record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "config": args.config,
                  "timed_steps": args.steps, "warmup_steps": args.warmup, "results": results,
                  "machine": machine(load_average), "date": now()}
        atomic_write_json(args.out, record)
        print(json.dumps(results, indent=1))
        return

    load_tensorflow()  # quietly, before anything imports it noisily
    import keras

    from textdeconv.config import load_config
    from textdeconv.datasets import load_splits
    from textdeconv.io import atomic_write_json
    from textdeconv.model import build_model
    from textdeconv.train import make_dataset, make_optimizer
    from textdeconv.vocab import Vocab

    base = load_config(args.config)
    splits, class_names = load_splits(base.data)
    vocab = Vocab.build((ex.tokens for ex in splits["train"]), base.vocab.min_count, base.vocab.lowercase)
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
        ds = make_dataset(seqs, labels, cfg.train.batch_size, pad, seed=0)
        model.fit(ds.take(args.warmup), epochs=1, verbose=0)
        timed = ds.skip(args.warmup).take(args.steps)
        t0 = time.perf_counter()
        model.fit(timed, epochs=1, verbose=0)
        ms = (time.perf_counter() - t0) / args.steps * 1000
        results[name] = {"ms_per_step": round(ms, 2), "seconds_per_epoch": round(ms * steps_per_epoch / 1000, 1),
                         "overrides": SETTINGS[name], "optimizer": type(model.optimizer).__name__}
    for r in results.values():
        r |= {"train_examples": len(seqs), "steps_per_epoch": steps_per_epoch}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
