"""``textdeconv randomization``: compare each method's explanations on a model and on one trained on permuted labels."""
from __future__ import annotations

import time

from textdeconv.cli import HelpFormatter, require_positive
from textdeconv.cli.studies import add_common, full_size, log, method_options, prepare, write_results

EXAMPLES = """examples:
  textdeconv randomization                              (every method, seeds 0 1 2, 500 test sentences)
  textdeconv randomization --methods deconv deconv-activation occlusion --seeds 0 --sentences 200

Per seed, the real model (RUNS/base-seed<s>/, shared with `textdeconv roar --runs-dir` when the
folders agree) and a model trained on the same sentences with the labels permuted
(RUNS/permuted-seed<s>/, no early stopping, selected for memorising the random labels). Each
method explains, on both, the class the real model predicts; per sentence Spearman's rho and the
top-20% overlap of the two score vectors, averaged; as a yardstick, the same between the real
models of two seeds. A method whose explanations barely change does not depend on what the model
learnt (Adebayo et al., 2018). Results (keyed by method) go to --out; a table to stdout.
"""


def add(sub):
    p = sub.add_parser("randomization", help="data randomization check: retrain on permuted labels", epilog=EXAMPLES,
                       description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    add_common(p, "randomization", default_seeds=(0, 1, 2))
    p.add_argument("--sentences", type=int, default=500,
                   help="test sentences compared (default 500, at an even stride)")
    p.add_argument("--top", type=float, default=0.2, help="top-k overlap: k = ceil(TOP x n) words (default 0.2)")
    p.add_argument("--permuted-epochs", type=int, default=20,
                   help="epochs of the permuted-label model, no early stopping (default 20)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.errors import InputError

    require_positive(args, "sentences", "permuted_epochs")
    if not 0 < args.top <= 1:
        raise InputError(f"--top must lie in (0, 1], got {args.top}")
    cfg, plan = prepare(args)
    started = time.perf_counter()

    from textdeconv.attribution import DEFAULT_METHODS
    from textdeconv.evaluation.data_randomization import data_randomization_study

    result = data_randomization_study(cfg, args.runs_dir, args.methods, seeds=args.seeds, n_sentences=args.sentences,
                                      fraction=args.top, permuted_epochs=args.permuted_epochs,
                                      method_options=method_options(args), log=log)
    settings = {"methods": args.methods, "sentences": args.sentences, "top_fraction": args.top,
                "permuted_epochs": args.permuted_epochs, "ig_steps": args.ig_steps,
                "occlusion_replacement": args.replacement, "runs_dir": args.runs_dir,
                **full_size(cfg, args, DEFAULT_METHODS)}
    out = write_results(plan, "randomization", result, cfg, args, started, settings)
    print(summary(result))
    log(f"wrote {out}")


def summary(result: dict) -> str:
    lines = ["| method | rho (permuted) | abs rho (permuted) | top-k overlap (permuted) | rho (other seed) |",
             "|---|---|---|---|---|"]
    for m, r in result["methods"].items():
        other = r.get("other_seed", {}).get("spearman", {}).get("mean")
        permuted = r["permuted"]
        lines.append(f"| {m} | {_num(permuted['spearman']['mean'])} | {_num(permuted['abs_rho']['mean'])} "
                     f"| {_num(permuted['topk_overlap']['mean'])} | {_num(other)} |")
    return "\n".join(lines)


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"
