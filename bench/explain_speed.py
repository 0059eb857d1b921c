#!/usr/bin/env python
"""Explanation throughput on the SST-2 test set: every method against the forward pass alone.

    python bench/explain_speed.py --run runs/bench/sst-seed0 --repeats 3
    python bench/explain_speed.py --run builtin:sst2 --repeats 5      # the bundled model

For each method, sentences per second over the 1,821 test sentences, measured two ways:
  core         the method's compiled batch computation (``attribute_ids``) over length-bucketed
               batches of --batch-size sentences, i.e. what the method itself costs;
  end_to_end   ``Explainer.explain`` on token lists: encoding, batching, the computation and
               building one ``Explanation`` per sentence (what a user of the API sees).
The forward pass alone (compiled, same batches) is the yardstick, timed again with each method,
right before it in every repeat (best of --repeats: ``forward_s``), so that a ratio compares
timings of the same minutes on a shared machine; each method's ``ratio`` is its time divided by
that forward pass's (core). ``taps-forward`` is the deconvnet fast path's own forward pass alone
(the taps' matmuls summed into the convolution, no scoring): the share of the deconvnet's time
that is not scoring. Integrated gradients also record ``per_step_ratio`` (its ratio over
--ig-steps: one forward and backward pass per step) and occlusion ``per_removal_ratio`` (its time
per removed word against the forward pass's time per sentence: one forward pass of the sentence
per removal). ``one-at-a-time`` explains with batch size 1;
``warm-latency`` times single ``Run.explain([text])`` calls on raw text in the warm process
(median, p95 and max milliseconds per call, over the --loop-limit sentences).
``guided-backprop`` is the generic autograd route (a ReLU whose backward pass is overridden with
tf.custom_gradient), the comparison the deconvnet should beat. Every timing is the best of
--repeats after one warm-up pass (tracing excluded). The 1-minute load average at start must not
exceed the CPU count (other work would share the cores) unless --allow-load, which marks the
record ``"quiet": false``. Writes bench/results/explain_speed.json.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402

from textdeconv.runtime import load_tensorflow  # noqa: E402

METHODS = ("deconv", "deconv-activation", "deconv-weighted", "deconv-rectified", "gradient", "grad-x-input",
           "integrated-gradients", "occlusion", "guided-backprop")


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up: traces every batch shape
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def paired(forward, fn, repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` for ``forward`` and ``fn``, each round timing the forward pass right
    before the method, so both minima come from the same minutes of a shared machine."""
    forward()
    fn()  # warm-up: traces every batch shape
    fwd, times = [], []
    for _ in range(repeats):
        for run, out in ((forward, fwd), (fn, times)):
            t0 = time.perf_counter()
            run()
            out.append(time.perf_counter() - t0)
    return min(fwd), min(times)


def tap_forward(net, ids):
    """The logits as ``Deconvnet.tap_scores`` computes them: the flattened embeddings' rows, per
    width and tap k one matmul of the rows shifted by k with K_w[k], the taps summed into the
    convolution."""
    import tensorflow as tf

    emb = net.embed(ids)
    b, t, e = tf.shape(emb)[0], tf.shape(emb)[1], int(emb.shape[-1])
    wmax = max(int(conv.kernel.shape[0]) for conv in net.convs)
    rows = tf.concat([tf.reshape(emb, [-1, e]), tf.zeros([wmax - 1, e], emb.dtype)], axis=0)
    h = []
    for conv, mask in zip(net.convs, net.masks):
        w, _, f = conv.kernel.shape
        z = tf.add_n([rows[k:k + b * t] @ conv.kernel[k] for k in range(w)]) + conv.bias
        h.append(mask(tf.nn.relu(tf.reshape(z, [b, t, f])), ids))
    return net.logits_from_pooled(tf.concat([tf.reduce_max(x, axis=1) for x in h], axis=-1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a run directory or a bundled model, builtin:NAME")
    p.add_argument("--split", default="test")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--ig-steps", type=int, default=50)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--loop-limit", type=int, default=300, help="sentences for the one-at-a-time loop")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "explain_speed.json"))
    p.add_argument("--allow-load", action="store_true",
                   help="measure although the load average exceeds the CPU count (recorded as quiet: false)")
    args = p.parse_args()
    load = os.getloadavg()
    quiet = load[0] <= (os.cpu_count() or 1)
    if not quiet and not args.allow_load:
        sys.exit(f"error: the 1-minute load average is {load[0]:.2f} on {os.cpu_count()} CPUs: timings would share "
                 "the cores with other work; wait for a quiet machine or pass --allow-load (recorded as quiet: false)")

    tf = load_tensorflow()
    from textdeconv.attribution import make_explainer
    from textdeconv.data.splits import split_sentences
    from textdeconv.data.vocab import length_batches, pad_batch
    from textdeconv.files import atomic_write_json
    from textdeconv.training.rundir import pick_run, read_run

    run_dir = pick_run(args.run)[0]  # a directory, or builtin:NAME as the commands take it
    cfg, vocab, net, class_names = read_run(run_dir)
    _, sentences, _ = split_sentences(cfg.data, args.split, cfg.vocab.clean)  # the tokens the model reads
    ids = [vocab.encode(s) for s in sentences]
    batches = [(pad_batch([ids[i] for i in b], net.pad), len(b))
               for b in length_batches([len(x) for x in ids], args.batch_size)]
    n = len(sentences)
    print(f"{n} {args.split} sentences, {len(batches)} batches of <= {args.batch_size}", file=sys.stderr)

    forward = tf.function(lambda x: net.forward(x).logits, reduce_retracing=True)

    def run_forward():
        return [forward(tf.constant(b)).numpy() for b, _ in batches]

    fwd_s = best_of(run_forward, args.repeats)
    results = {"forward": {"core_s": round(fwd_s, 4), "core_sentences_per_s": round(n / fwd_s, 1), "ratio": 1.0}}
    print(f"forward: {n / fwd_s:,.0f} sentences/s", file=sys.stderr)
    # where the deconvnet's time goes: its fast path's forward alone (the taps' matmuls summed into
    # the convolution), without the scoring
    taps = tf.function(lambda x: tap_forward(net, x), reduce_retracing=True)
    fwd_s, taps_s = paired(run_forward, lambda: [taps(tf.constant(b)).numpy() for b, _ in batches], args.repeats)
    results["taps-forward"] = {"core_s": round(taps_s, 4), "core_sentences_per_s": round(n / taps_s, 1),
                               "forward_s": round(fwd_s, 4), "ratio": round(taps_s / fwd_s, 3)}
    print(f"taps-forward: {n / taps_s:,.0f} sentences/s ({taps_s / fwd_s:.2f}x forward)", file=sys.stderr)
    options = {"integrated-gradients": {"steps": args.ig_steps}}
    words = sum(len(s) for s in sentences)  # occlusion removes each word once
    for name in args.methods:
        x = make_explainer(name, net, vocab, class_names, **options.get(name, {}))
        fwd_s, core = paired(run_forward, lambda x=x: [x.attribute_ids(b, [-1] * k) for b, k in batches], args.repeats)
        e2e = best_of(lambda x=x: x.explain(sentences, batch_size=args.batch_size), args.repeats)
        results[name] = {"core_s": round(core, 4), "core_sentences_per_s": round(n / core, 1),
                         "forward_s": round(fwd_s, 4), "ratio": round(core / fwd_s, 3), "end_to_end_s": round(e2e, 4),
                         "end_to_end_sentences_per_s": round(n / e2e, 1)}
        if name == "integrated-gradients":
            results[name]["per_step_ratio"] = round(core / fwd_s / args.ig_steps, 3)
        if name == "occlusion":
            results[name] |= {"removals": words, "per_removal_ratio": round((core / words) / (fwd_s / n), 3)}
        print(f"{name}: {n / core:,.0f} sentences/s core ({core / fwd_s:.2f}x forward), "
              f"{n / e2e:,.0f} end to end", file=sys.stderr)
    x = make_explainer("deconv", net, vocab, class_names)
    loop = sentences[:args.loop_limit]
    one = best_of(lambda: x.explain(loop, batch_size=1), 1)
    results["one-at-a-time"] = {"end_to_end_s": round(one, 4), "sentences": len(loop),
                                "end_to_end_sentences_per_s": round(len(loop) / one, 1)}
    print(f"one-at-a-time deconv: {len(loop) / one:,.0f} sentences/s", file=sys.stderr)
    # one sentence in a warm process, as a notebook or a server calls it: Run.explain on raw text
    # (tokenizing, the deconvnet, the Explanations), timed call by call after two warm-up calls
    from textdeconv.api import Run

    run = Run(run_dir)
    texts = [" ".join(s) for s in loop]
    run.explain(texts[:2])
    run.explain(texts[2:3])
    calls = []
    for text in texts:
        t0 = time.perf_counter()
        run.explain([text])
        calls.append((time.perf_counter() - t0) * 1000)
    calls.sort()
    results["warm-latency"] = {"sentences": len(calls), "median_ms": round(calls[len(calls) // 2], 3),
                               "p95_ms": round(calls[int(0.95 * (len(calls) - 1))], 3),
                               "max_ms": round(calls[-1], 3)}
    print(f"one sentence, warm process: median {calls[len(calls) // 2]:.2f} ms", file=sys.stderr)

    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "run": args.run, "split": args.split,
        "sentences": n, "batch_size": args.batch_size, "ig_steps": args.ig_steps, "repeats": args.repeats,
        "model": cfg.to_dict()["model"], "results": results,
        "quiet": quiet, "machine": machine(load), "date": now(),
    }
    atomic_write_json(args.out, record)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
