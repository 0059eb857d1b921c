#!/usr/bin/env python
"""Compare attribution methods on one trained model: faithfulness, sanity checks, plausibility.

Examples:
  python scripts/evaluate.py --run runs/sst-20261125-093000 --split test
  python scripts/evaluate.py --split dev --methods deconv grad-x-input occlusion random --limit 200
  python scripts/evaluate.py --split test --replacement unk --ig-steps 20

Writes into RUN/evaluation/<split>-<replacement>/ (or --out):
  table.csv, table.md   one row per method: ERASER comprehensiveness / sufficiency AOPC, deletion
                        (most/least relevant first) and insertion AUC, plausibility AP / AUROC and
                        sign agreement against the treebank's word labels, Spearman correlation after
                        randomizing the output layer and the whole model, between-class Spearman,
                        and sentences per second
  curves.png            deletion and insertion curves of every method
  randomization.csv     every cascading-randomization stage of every method
  meta.json             command, model, split, sentence count, replacement, seconds per method
Explanations are for the predicted class; sign agreement explains the positive class.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from textdeconv.attribution import METHOD_NAMES  # noqa: E402
from textdeconv.cli import load_tensorflow, run_main  # noqa: E402  (sets TF's log level before TF loads)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="run directory (default: the most recent under runs/)")
    p.add_argument("--split", default="test", choices=("dev", "test"), help="sentences to evaluate on (default test)")
    p.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=METHOD_NAMES, metavar="METHOD",
                   help=f"methods to compare (default: all of {', '.join(METHOD_NAMES)})")
    p.add_argument("--limit", type=int, help="evaluate on at most N sentences (taken at an even stride)")
    p.add_argument("--replacement", default="pad", choices=("pad", "unk", "delete"),
                   help="how removed tokens are replaced in the faithfulness metrics and occlusion (default pad)")
    p.add_argument("--sanity-n", type=int, default=200, help="sentences for the randomization checks (default 200)")
    p.add_argument("--ig-steps", type=int, default=50, help="integrated-gradients quadrature steps (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomization checks and the random method")
    p.add_argument("--out", help="output directory (default: RUN/evaluation/<split>-<replacement>)")
    args = p.parse_args()
    for name in ("limit", "sanity_n", "ig_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")

    from textdeconv.training.rundir import pick_run

    run, cfg, _ = pick_run(args.run)
    if cfg.data.dataset == "custom":  # plausibility needs the treebank's word labels
        raise ValueError(f"{run}: evaluate.py scores SST runs only (it needs the treebank's phrase labels); "
                         "this run was trained on data.dataset=custom")
    out = Path(args.out) if args.out else run / "evaluation" / f"{args.split}-{args.replacement}"

    load_tensorflow()
    import keras

    from textdeconv.data.download import ensure_sst
    from textdeconv.data.treebank import map_label, read_trees, subsample
    from textdeconv.data.vocab import clean_aligned
    from textdeconv.evaluation.plausibility import word_labels
    from textdeconv.evaluation.report import evaluate_methods, plot_curves, to_markdown
    from textdeconv.files import atomic_write_json, atomic_write_text
    from textdeconv.reports import export
    from textdeconv.training.rundir import read_run

    cfg, vocab, net, class_names = read_run(run)
    trees = [t for t in read_trees(ensure_sst(cfg.data) / f"{args.split}.txt")
             if map_label(t.label, cfg.data.dataset) is not None]
    trees = subsample(trees, args.limit)
    # the run's vocab.clean applied to the leaves, each piece keeping its leaf's word label
    cleaned = [clean_aligned(t.leaves(), word_labels(t), cfg.vocab.clean) for t in trees]
    sentences, labels = [s for s, _ in cleaned], [y for _, y in cleaned]
    print(f"{len(sentences)} {args.split} sentences, {len(args.methods)} methods, replacement={args.replacement}",
          file=sys.stderr)

    bar = keras.utils.Progbar(2 * len(args.methods), stateful_metrics=["step"])
    done = [0]

    def progress(step):
        done[0] += 1
        bar.update(done[0])
        print(f"  {step}", file=sys.stderr)

    options = {"integrated-gradients": {"steps": args.ig_steps}, "occlusion": {"replacement": args.replacement},
               "random": {"seed": args.seed}}
    t0 = time.perf_counter()
    report = evaluate_methods(net, vocab, class_names, sentences, labels, args.methods,
                              replacement=args.replacement, sanity_n=args.sanity_n,
                              positive_class=len(class_names) - 1, method_options=options,
                              progress=progress, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    export.write_csv(report.table, out / "table.csv")
    atomic_write_text(out / "table.md", to_markdown(report.table))
    plot_curves(report.curves, out / "curves.png",
                title=f"{run.name}: {args.split} ({len(sentences)} sentences), replacement={args.replacement}")
    import pandas as pd

    frames = [df.assign(method=m) for m, df in report.randomization.items()]
    for frame in frames:
        frame.attrs = {}  # per-sentence correlations ride in attrs; the CSV keeps the stage summaries
    stages = pd.concat(frames, ignore_index=True)
    export.write_csv(stages[["method"] + [c for c in stages.columns if c != "method"]], out / "randomization.csv")
    atomic_write_json(out / "meta.json", {
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "run": str(run), "split": args.split,
        "sentences": len(sentences), "replacement": args.replacement, "sanity_n": min(args.sanity_n, len(sentences)),
        "ig_steps": args.ig_steps, "seed": args.seed, "methods": args.methods,
        "seconds_per_method": report.seconds, "seconds_total": round(time.perf_counter() - t0, 2)})
    print(to_markdown(report.table))
    print(f"wrote {out}/table.csv, table.md, curves.png, randomization.csv, meta.json", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
