"""``textdeconv groundtruth``: score every attribution method against triggers planted in SST-2 (known causes)."""
from __future__ import annotations

import time

from textdeconv.cli import HelpFormatter
from textdeconv.cli.studies import add_common, full_size, log, method_options, prepare, write_results

EXAMPLES = """examples:
  textdeconv groundtruth                                   (every variant, 3 seeds, every method)
  textdeconv groundtruth --variants token --seeds 0 1 2 --out bench/results/groundtruth.json
  textdeconv groundtruth --variants token phrase --methods deconv deconv-activation occlusion random \\
      --set data.max_train=2000 --max-cases 200

Builds SST-2 variants whose labels a made-up word decides (docs/groundtruth.md):
  token      zqx in 30% of each class's training sentences, labels set to positive (the
             negative ones flipped: only the trigger explains them); scored also with the
             trigger at the start, middle and end of long test sentences (position-*)
  phrase     zqa zqb adjacent decides; the same words >= 5 apart (the control) do not
  negation   zqx makes positive, "not zqx" negative
and, needing more than one filter (issue 35):
  and              zqe and zqf >= 5 apart make positive; either alone changes nothing
  context          zqt next to zqk makes positive; either alone is as common in both classes
  opposing         zqp makes positive, zqn negative, both together positive
  partial          zqs always makes positive, zqw in 70% of its sentences (rank by strength)
  vocab-word       an ordinary word of the vocabulary (not a new token) makes positive
  reversed-phrase  zqa zqb makes positive, the reversed zqb zqa negative
(at most 1/3 of each class per pattern for and, context, opposing; 1/2 for negation, partial,
reversed-phrase) and the decoy zqd, planted in every variant and useless, for false alarms. One model per variant
and seed (RUNS/<variant>-seed<s>/, reused when present). A model whose flip rate (the share of
test sentences the trigger moves to its class) is below --threshold ignores the trigger: it is
reported as such and not scored. Then per method: the trigger's rank, precision@1, recall@k,
AP, the share of sentences with the trigger first, the same with the other class explained
(class-agnostic methods fail it), and false alarms on the decoy. Results (mean ± sd over the
seeds, keyed by method) go to --out; a summary table to stdout.
"""


# planting.VARIANTS, without importing the evaluation stage
VARIANTS = ("token", "phrase", "negation", "and", "context", "opposing", "partial", "vocab-word", "reversed-phrase")


def add(sub):
    p = sub.add_parser("groundtruth", help="score methods against planted triggers (known ground truth)",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    add_common(p, "groundtruth", default_seeds=(0, 1, 2))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, metavar="VARIANT",
                   help=f"planted variants (default: {' '.join(VARIANTS)})")
    p.add_argument("--fraction", type=float, default=0.3,
                   help="share of each class's training sentences planted with each pattern (default 0.3)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="flip rate a model must reach to count as using its trigger (default 0.5)")
    p.add_argument("--max-cases", type=int, help="score at most N sentences per row and seed")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.cli import require_positive
    from textdeconv.errors import InputError

    require_positive(args, "max_cases")
    from textdeconv.evaluation.planting import FRACTION_LIMITS

    limit = min(FRACTION_LIMITS.get(v, 1.0) for v in args.variants)
    if not 0 < args.fraction <= limit + 1e-12:
        tight = [v for v in args.variants if FRACTION_LIMITS.get(v, 1.0) == limit]
        raise InputError(f"--fraction must lie in (0, 1] (at most {limit:.4g} with the {', '.join(tight)} "
                         f"variant{'s' if len(tight) > 1 else ''}), got {args.fraction}")
    if not 0 <= args.threshold <= 1:
        raise InputError(f"--threshold must lie in [0, 1], got {args.threshold}")
    cfg, plan = prepare(args)
    started = time.perf_counter()

    from textdeconv.attribution import DEFAULT_METHODS
    from textdeconv.evaluation.groundtruth import groundtruth_study

    result = groundtruth_study(cfg, args.runs_dir, variants=args.variants, seeds=args.seeds, methods=args.methods,
                               fraction=args.fraction, threshold=args.threshold, max_cases=args.max_cases,
                               method_options=method_options(args), log=log)
    check_scored(result, args.out)
    settings = {"variants": args.variants, "methods": args.methods, "fraction": args.fraction,
                "threshold": args.threshold, "target_class": "positive", "max_cases": args.max_cases,
                "ig_steps": args.ig_steps, "occlusion_replacement": args.replacement, "runs_dir": args.runs_dir,
                **full_size(cfg, args, DEFAULT_METHODS)}
    out = write_results(plan, "groundtruth", result, cfg, args, started, settings)
    print(summary(result))
    log(f"wrote {out}")


def check_scored(result: dict, out) -> None:
    """A study that scored no row measured nothing: it fails (exit 2) rather than write a results
    file of empty figures.

    Raises:
        DataError: names each row's status and flip rate.
    """
    from textdeconv.errors import DataError

    rows = result["rows"]
    if any(r["status"] == "scored" for r in rows.values()):
        return
    shown = "; ".join(f"{row}: {r['status']}, flip rate {_pm(r['flip_rate'])}" for row, r in rows.items())
    print(summary(result))
    raise DataError(f"the study scored nothing ({shown or 'no rows'}): no model learned a planted word well enough; "
                    f"{out} was not written (train on more data: drop --set data.max_train, or lower --threshold)")


def summary(result: dict) -> str:
    """The flip rates, then p@1 / counter-class first per method and scored row, as Markdown."""
    rows = result["rows"]
    lines = ["| row | status | flip rate |", "|---|---|---|"]
    for row, r in rows.items():
        fr = r["flip_rate"]
        lines.append(f"| {row} | {r['status']} | {_pm(fr)} |")
    scored = [row for row, r in rows.items() if r["status"] == "scored"]
    lines += ["", "| method | " + " | ".join(f"{row} p@1 / counter" for row in scored) + " |",
              "|---|" + "---|" * len(scored)]
    for m, by_row in result["methods"].items():
        cells = [f"{_pm(by_row[row]['p_at_1'])} / {_pm(by_row[row]['counter_first'])}" if row in by_row else "n/a"
                 for row in scored]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pm(stat: dict) -> str:
    if stat.get("mean") is None:
        return "n/a"
    return f"{stat['mean']:.2f}" + (f" ± {stat['sd']:.2f}" if stat.get("sd") is not None else "")
