"""``textdeconv influence``: the training sentences that drove a prediction (TracIn), or the nearest ones."""
from __future__ import annotations

import sys

from textdeconv.cli import HelpFormatter, require_positive

EXAMPLES = """examples:
  textdeconv influence --run runs/sst "a gripping , funny movie"
  textdeconv influence --run runs/sst "not bad at all" --top 10 --layers all --csv influence.csv
  textdeconv influence --run builtin:sst2 "a dull mess" --checkpoints final --json > influence.json
  textdeconv influence --run builtin:sst2 "a dull mess" --similar --top 5
  textdeconv influence --run runs/sst --self-influence --top 20 --csv suspects.csv

TracIn (Pruthi et al. 2020): sum over the run's checkpoints of learning rate x (gradient of the
training sentence's loss) . (gradient of the sentence's loss for --target, default the predicted
class). Proponents (> 0) are the training sentences whose gradient steps lowered that loss the
most, opponents (< 0) the ones that raised it. --layers output (default) takes the output layer's
weights and bias, in closed form; --layers all every trainable weight (one forward pass over the
training set per sentence and checkpoint). --checkpoints every (default) sums over the weights a run
trained with train.keep_every_epoch: true kept; --checkpoints final uses model.keras alone with
weight 1, an approximation that works for any run (the bundled model too).

--similar: the nearest training sentences by cosine of the pooled features (each filter's max over
the sentence), with the filters active in both, ranked by their share of the cosine.
--self-influence: every training sentence's TracIn with itself, largest first (mislabelled
sentences collect at the top); takes no sentences.

Training sentences are the run's train split (sentence ids 1..n as explain --split train numbers
them), read from where the run's config says; nothing is downloaded. Output: text on stdout,
--json the same as JSON on stdout, --csv PATH one row per training sentence found (written whole
at the end; never one of the run's or its data's files).
"""


def add(sub):
    p = sub.add_parser("influence", help="training sentences behind a prediction: TracIn, nearest neighbours",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("sentences", nargs="*", help="sentences to look up (raw text; tokenized like the treebank)")
    p.add_argument("--run", help="run directory or builtin:sst2 (default: the latest under ./runs, else builtin:sst2)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--similar", action="store_true", help="nearest training sentences instead of TracIn")
    mode.add_argument("--self-influence", action="store_true",
                      help="rank the training sentences by self-influence (no sentences)")
    p.add_argument("--top", type=int, default=5, help="training sentences per list (default 5)")
    p.add_argument("--target", help="TracIn: class whose loss is traced, by name or index (default: predicted)")
    p.add_argument("--layers", default="output", choices=("output", "all"),
                   help="TracIn: the output layer (closed form) or every trainable weight (default output)")
    p.add_argument("--checkpoints", default="every", choices=("every", "final"),
                   help="TracIn: the kept per-epoch weights, or model.keras alone (default every)")
    p.add_argument("--filters", type=int, default=5, help="--similar: shared filters shown per pair (default 5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of text")
    p.add_argument("--csv", metavar="PATH", help="write one row per training sentence found")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.training.rundir import pick_run

    require_positive(args, "top", "filters")
    if args.self_influence and args.sentences:
        args.parser.error("--self-influence ranks the training sentences and takes no sentences")
    if not args.self_influence and not args.sentences:
        args.parser.error("give one or more sentences (or --self-influence)")
    if args.similar and args.target is not None:
        args.parser.error("--target is TracIn's; --similar has none")
    run_dir, cfg, names = pick_run(args.run)
    if args.target is not None:
        from textdeconv.attribution.explanation import resolve_target

        resolve_target(args.target, names)  # an unknown class fails before the model loads
    plan = csv = None
    if args.csv:
        from textdeconv.outputs import OutputPlan
        from textdeconv.training.rundir import run_inputs

        plan = OutputPlan()
        run_inputs(plan, run_dir, cfg)
        csv = plan.write("--csv", args.csv)
        plan.check()

    from textdeconv.api import Run
    from textdeconv.influence.query import render, render_self, self_influence_json
    from textdeconv.reports.export import write_csv

    loaded = Run(run_dir)
    if args.self_influence:
        frame = loaded.self_influence(args.layers, args.checkpoints).head(args.top)
        text = self_influence_json(frame) if args.json else render_self(frame)
    else:
        found = (loaded.similar(args.sentences, args.top, args.filters) if args.similar
                 else loaded.influence(args.sentences, args.top, args.target, args.layers, args.checkpoints))
        frame = found.to_frame()
        text = found.to_json() if args.json else render(found)
    if plan is not None:
        with plan:
            write_csv(frame, plan.temp(csv))
    print(text)
    if csv is not None:
        print(f"wrote {csv}", file=sys.stderr)
