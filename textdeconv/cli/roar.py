"""``textdeconv roar``: remove each method's top words from SST-2, retrain, and report test accuracy (ROAR)."""
from __future__ import annotations

import time

from textdeconv.cli import HelpFormatter
from textdeconv.cli.studies import add_common, every, full_size, log, method_options, prepare, write_results

# the default set: the deconvnet signals, one of each other family, and the random floor
# (grad-x-input equals deconv to float precision on this architecture, so it adds no information)
METHODS = ("deconv", "deconv-activation", "deconv-rectified", "gradient-l2", "integrated-gradients",
           "occlusion", "random")

EXAMPLES = """examples:
  textdeconv roar                                       (7 methods x 10/20/30/50%, seed 0)
  textdeconv roar --methods deconv occlusion random --recursive deconv random
  textdeconv roar --fractions 0.1 0.3 --seeds 0 1 2 --out bench/results/roar.json
  textdeconv roar --methods all --seeds 0 1 2 --recursive all --recursive-seeds 0   (full size)

For each method and fraction k, every train, dev and test sentence loses its top ceil(k n) words
by the method's scores (from the model trained on the full data; one word always stays) and a new
model is trained from scratch on what is left (RUNS/roar-<method>-<k>-seed<s>/, reused when
present). Lower test accuracy = the method found the words the task needs; random is the
baseline. Beside it: plain deletion (the full model on the reduced test sentences, no retraining)
and, for the --recursive methods, recursive ROAR (each k explained by the model retrained at the
previous k). Each ROAR model is also scored on the full test sentences and on the test sentences
reduced by the evidence for the other class: a model that reads the label off the removal
(leakage) falls below chance on both. One retrain per method, fraction and seed (twice for
--recursive): under a minute each on a quiet 2-core CPU. Results (keyed by method) go to --out;
a table of test accuracies to stdout.
"""


def add(sub):
    p = sub.add_parser("roar", help="remove-and-retrain (ROAR) benchmark of attribution methods", epilog=EXAMPLES,
                       description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    add_common(p, "roar", default_seeds=(0,), default_methods=METHODS)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5], metavar="K",
                   help="fractions of each sentence's words to remove (default 0.1 0.2 0.3 0.5)")
    p.add_argument("--recursive", nargs="*", default=[], metavar="METHOD",
                   help="methods to run recursive ROAR for too, or all (every --methods; default none)")
    p.add_argument("--recursive-seeds", type=int, nargs="+", metavar="SEED",
                   help="the seeds to run recursive ROAR for (default: every --seeds)")
    p.add_argument("--target", default="predicted", choices=("predicted", "gold"),
                   help="the class each sentence's words are ranked for (default: the model's prediction)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.attribution import DEFAULT_METHODS, METHOD_NAMES
    from textdeconv.errors import InputError

    args.methods = every(args.methods, METHOD_NAMES)
    args.recursive = every(args.recursive, args.methods)
    fractions = list(args.fractions)
    if any(not 0 < f < 1 for f in fractions) or fractions != sorted(set(fractions)):
        raise InputError(f"--fractions must be increasing values in (0, 1), got {' '.join(map(str, fractions))}")
    missing = [m for m in args.recursive if m not in args.methods]
    if missing:
        raise InputError(f"--recursive names methods not in --methods: {', '.join(missing)}")
    recursive_seeds = list(args.seeds) if args.recursive_seeds is None else args.recursive_seeds
    if set(recursive_seeds) - set(args.seeds):
        raise InputError("--recursive-seeds names seeds not in --seeds: "
                         + " ".join(map(str, sorted(set(recursive_seeds) - set(args.seeds)))))
    cfg, plan = prepare(args)
    started = time.perf_counter()

    from textdeconv.evaluation.roar import roar_study

    result = roar_study(cfg, args.runs_dir, args.methods, fractions=fractions, seeds=args.seeds,
                        recursive_methods=args.recursive, recursive_seeds=recursive_seeds, target=args.target,
                        method_options=method_options(args), log=log)
    settings = {"methods": args.methods, "fractions": fractions, "recursive_methods": args.recursive,
                "recursive_seeds": recursive_seeds, "target": args.target,
                "removal": "delete (the sentence closes up); at least one word stays",
                "ig_steps": args.ig_steps, "occlusion_replacement": args.replacement, "runs_dir": args.runs_dir,
                **full_size(cfg, args, DEFAULT_METHODS)}  # full size = every default method, 3 seeds
    out = write_results(plan, "roar", result, cfg, args, started, settings)
    print(summary(result, fractions))
    log(f"wrote {out}")


def summary(result: dict, fractions) -> str:
    pcts = [f"{round(100 * f)}" for f in fractions]
    lines = [f"base test accuracy: {result['base']['test_accuracy']['mean']:.4f}", "",
             "| method | kind | " + " | ".join(f"{p}%" for p in pcts) + " |", "|---|---|" + "---|" * len(pcts)]
    for m, kinds in result["methods"].items():
        for kind, by_pct in kinds.items():
            lines.append(f"| {m} | {kind} | " + " | ".join(f"{by_pct[p]['mean']:.4f}" for p in pcts) + " |")
    return "\n".join(lines)
