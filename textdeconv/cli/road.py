"""``textdeconv road``: remove each method's top or bottom words by imputing them from their neighbours (ROAD)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from textdeconv.cli import HelpFormatter, require_positive
from textdeconv.cli.roar import METHODS

EXAMPLES = """examples:
  textdeconv road                                       (7 methods, every SST-2 test sentence, builtin:sst2)
  textdeconv road --max-sentences 200 --methods deconv occlusion random --out road-small.json
  textdeconv road --run runs/sst --methods all --seed 1

For each method and fraction k, every sentence loses its top ceil(k n) words by the method's scores
for the predicted class (MoRF) or its bottom ceil(k n) (LeRF); one word always stays. A removed
word's embedding becomes the mean of its neighbours' (runs of removed words solved jointly, kept
words fixed) plus Gaussian noise (sigma = --noise x the embedding table's standard deviation),
and the same model reads the result: no retraining, so no model can learn the label from which
words are missing (Rong et al., 2022). Per method and order: accuracy and mean probability of the
originally predicted class at each k, and per sentence an area (AOPC: mean drop of that
probability). Each method is tested against random and deconv sentence by sentence (Wilcoxon,
Holm-corrected across methods; median difference with a bootstrap 95% interval). Results go to
--out; a table to stdout.
"""


def add(sub):
    p = sub.add_parser("road", help="remove-and-debias (ROAD) benchmark: impute removed words, no retraining",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    from textdeconv.attribution import METHOD_NAMES

    p.add_argument("--run", default="builtin:sst2", help="run directory or builtin:sst2 (default builtin:sst2)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=(*METHOD_NAMES, "all"), metavar="METHOD",
                   help=f"methods to score, or all (default: {', '.join(METHODS)})")
    p.add_argument("--split", default="test", choices=("dev", "test"), help="sentences to score (default test)")
    p.add_argument("--max-sentences", type=int, help="at most N sentences, taken at an even stride (default all)")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5], metavar="K",
                   help="fractions of each sentence's words to remove (default 0.1 0.2 0.3 0.5)")
    p.add_argument("--noise", type=float, default=0.01,
                   help="imputation noise sigma, relative to the embedding table's standard deviation (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of the imputation noise, the bootstrap and the "
                                                       "random method (default 0)")
    p.add_argument("--ig-steps", type=int, default=20, help="integrated-gradients steps (default 20)")
    p.add_argument("--out", default="bench/results/road.json", help="results file (default bench/results/road.json)")
    p.add_argument("--note", help="a note stored in the results file (e.g. why the study ran at reduced size)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.attribution import METHOD_NAMES, get_method
    from textdeconv.cli.studies import command_line, every, log
    from textdeconv.errors import InputError

    require_positive(args, "max_sentences", "ig_steps")
    args.methods = every(args.methods, METHOD_NAMES)
    for method in args.methods:
        get_method(method).require()  # a missing optional library, before any work
    fractions = list(args.fractions)
    if any(not 0 < f < 1 for f in fractions) or fractions != sorted(set(fractions)):
        raise InputError(f"--fractions must be increasing values in (0, 1), got {' '.join(map(str, fractions))}")
    if not args.noise >= 0:
        raise InputError(f"--noise must be at least 0, got {args.noise}")
    if args.seed < 0:
        raise InputError(f"--seed must be non-negative, got {args.seed}")

    from textdeconv.outputs import OutputPlan
    from textdeconv.training.rundir import pick_run, run_inputs

    run_dir, cfg, _ = pick_run(args.run)
    plan = OutputPlan()  # checked before the model loads; written at the end
    run_inputs(plan, run_dir, cfg)
    plan.write("--out", args.out)
    plan.check()
    from textdeconv.evaluation.report import require_sst

    require_sst(cfg, run_dir)

    from textdeconv.api import Run
    from textdeconv.builtin import builtin_name
    from textdeconv.evaluation.report import sst_labelled
    from textdeconv.evaluation.retrain import machine, now, plain
    from textdeconv.evaluation.road import road_study

    started = {"date": now(), "machine": machine()}  # the load the study ran under, before it adds its own
    t0 = time.perf_counter()
    model = Run(run_dir)
    sentences, _, labels = sst_labelled(model, args.split, args.max_sentences)
    log(f"{len(sentences)} {args.split} sentences, {len(args.methods)} methods")
    options = {"integrated-gradients": {"steps": args.ig_steps}, "occlusion": {"replacement": "pad"},
               "random": {"seed": args.seed}}
    result = road_study(model.net, model.vocab, model.class_names, sentences, labels, args.methods,
                        fractions=fractions, seed=args.seed, noise=args.noise, method_options=options, log=log)
    settings = {"run": builtin_name(run_dir) or str(run_dir), "split": args.split,
                "max_sentences": args.max_sentences, "methods": args.methods, "fractions": fractions,
                "noise": args.noise, "seed": args.seed, "ig_steps": args.ig_steps, "occlusion_replacement": "pad",
                "target": "predicted", "removal": "noisy linear imputation of the removed words' embeddings "
                                                  "(mean of in-sentence neighbours, kept words fixed); no retraining"}
    record = {"study": "road", "command": command_line("road"), **started, "settings": settings,
              "wall_minutes": round((time.perf_counter() - t0) / 60, 2)}
    if args.note:
        record["note"] = args.note
    out = Path(args.out)
    with plan:
        plan.temp(out).write_text(json.dumps(plain({**record, **result}), indent=2) + "\n", encoding="utf-8")
    print(summary(result, fractions))
    log(f"wrote {out}")


def summary(result: dict, fractions) -> str:
    pcts = [f"{round(100 * f)}" for f in fractions]
    lines = [f"{result['n_sentences']} sentences; whole sentences: accuracy {result['full']['accuracy']:.4f}, "
             f"mean probability of the predicted class {result['full']['mean_prob']:.4f}", "",
             "| method | order | " + " | ".join(f"acc {p}%" for p in pcts) + " | AOPC |",
             "|---|---|" + "---|" * (len(pcts) + 1)]
    for m, r in result["methods"].items():
        for order in ("morf", "lerf"):
            lines.append(f"| {m} | {order} | " + " | ".join(f"{r[order][p]['accuracy']:.4f}" for p in pcts)
                         + f" | {r['aopc_' + order]:.4f} |")
    return "\n".join(lines)
