#!/usr/bin/env python
"""The methods x metrics table, new columns included (LOO Kendall tau, ERASER AUPRC / token-F1 /
IOU-F1, infidelity, max-sensitivity, independent randomization, ms per sentence), on the SST-2
CNN-rand model the ground-truth studies start from (trained on sentences: runs/studies/base-seed0,
written by ``textdeconv roar`` / ``textdeconv randomization``).

    python bench/groundtruth_metrics.py --run runs/studies/base-seed0/model --limit 600

``textdeconv evaluate`` refuses this run (its data are the JSONL files the studies write, not the
treebank), so the test sentences and their word labels are read from the SST trees here, cleaned
as the run's vocab.clean says. Writes bench/results/metrics-sst2-test/ (table.csv, table.md,
curves.png, randomization.csv, independent_randomization.csv, meta.json) with the command,
machine and date; docs/groundtruth.md shows it (bench/groundtruth_report.py).
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="runs/studies/base-seed0/model", help="the model (a run directory)")
    p.add_argument("--limit", type=int, default=600, help="test sentences, at an even stride (default 600)")
    p.add_argument("--sanity-n", type=int, default=100, help="sentences for randomization and max-sensitivity")
    p.add_argument("--ig-steps", type=int, default=20)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "metrics-sst2-test"))
    args = p.parse_args(argv)
    load = os.getloadavg()

    from textdeconv.attribution import METHOD_NAMES
    from textdeconv.config import DataConfig
    from textdeconv.data.download import ensure_sst
    from textdeconv.data.treebank import map_label, read_trees, subsample
    from textdeconv.data.vocab import clean_aligned
    from textdeconv.evaluation.plausibility import word_labels
    from textdeconv.evaluation.report import evaluate_methods, to_markdown, write_report
    from textdeconv.runtime import load_tensorflow
    from textdeconv.training.rundir import read_run

    load_tensorflow()
    cfg, vocab, net, class_names = read_run(args.run)
    tree_dir = ensure_sst(DataConfig(dataset="sst2", download=False))  # $TEXTDECONV_DATA or data/sst
    trees = [t for t in read_trees(tree_dir / "test.txt") if map_label(t.label, "sst2") is not None]
    pairs = [clean_aligned(t.leaves(), word_labels(t), cfg.vocab.clean) for t in subsample(trees, args.limit)]
    sentences, labels = [s for s, _ in pairs], [y for _, y in pairs]
    t0 = time.perf_counter()
    report = evaluate_methods(net, vocab, class_names, sentences, labels, list(METHOD_NAMES), sanity_n=args.sanity_n,
                              positive_class=len(class_names) - 1,
                              method_options={"integrated-gradients": {"steps": args.ig_steps}},
                              progress=lambda step: print(step, file=sys.stderr, flush=True))
    meta = {"command": "python bench/groundtruth_metrics.py " + " ".join(sys.argv[1:]), "date": now(),
            "machine": machine(load), "run": args.run, "split": "test", "sentences": len(sentences),
            "replacement": "pad", "sanity_n": args.sanity_n, "ig_steps": args.ig_steps, "seed": 0,
            "methods": list(METHOD_NAMES), "seconds_total": round(time.perf_counter() - t0, 2),
            "note": (f"SST-2 CNN-rand trained on sentences for the ground-truth studies (sst.yaml, at most 10 "
                     f"epochs); {len(sentences)} of the 1,821 test sentences at an even stride")}
    write_report(report, args.out, meta, title=f"{args.run}: test ({len(sentences)} sentences)")
    print(to_markdown(report.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
