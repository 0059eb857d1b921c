"""``textdeconv lexicon``: the words an attribution method scores as evidence for each class, over a split."""
from __future__ import annotations

import sys
from pathlib import Path

from textdeconv.attribution import METHOD_NAMES
from textdeconv.cli import HelpFormatter, require_positive

EXAMPLES = """examples:
  textdeconv lexicon --run runs/sst --split dev
  textdeconv lexicon --split test --method grad-x-input --top 15 --min-count 5 --csv lex.csv --png lex.png

Every sentence of the split is explained once for every class as the target (sentences only; the
method's own defaults). Per class and word: count (tokens in the split), mean_score and
total_score of its tokens' scores for that class, rank_mean (1 = largest mean, among words with
count >= --min-count; empty below it) and rank_total (1 = largest sum; every word). Words are the
vocabulary's forms; tokens read as unknown are pooled as <unk>.

Writes (default into RUN/lexicon/<split>-<method>/): lexicon.csv (class, word, count, mean_score,
total_score, rank_mean, rank_total) and lexicon.png, a bar chart of each class's --top words by
--rank-by (mean by default); prints each class's top words.
Without --run the most recent run under ./runs is used, else the bundled model builtin:sst2
(named on stderr).
"""


def add(sub):
    p = sub.add_parser("lexicon", help="corpus lexicon: each class's evidence words over a split",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("--run", help="run directory or builtin:sst2 (default: the latest under ./runs, else builtin:sst2)")
    p.add_argument("--split", required=True, choices=("train", "dev", "test"), help="sentences to explain")
    p.add_argument("--method", default="deconv", choices=METHOD_NAMES, help="attribution method (default deconv)")
    p.add_argument("--top", type=int, default=20, help="words per class in the chart and the printout (default 20)")
    p.add_argument("--min-count", type=int, default=3, help="fewest tokens for a word's mean to be ranked (default 3)")
    p.add_argument("--rank-by", default="mean", choices=("mean", "total"),
                   help="what the chart and the printout rank by (default mean)")
    p.add_argument("--csv", metavar="PATH", help="lexicon CSV (default RUN/lexicon/<split>-<method>/lexicon.csv)")
    p.add_argument("--png", metavar="PATH", help="bar chart (default RUN/lexicon/<split>-<method>/lexicon.png)")
    p.add_argument("--batch-size", type=int, default=128)
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.builtin import report_home
    from textdeconv.training.rundir import pick_run

    require_positive(args, "top", "min_count", "batch_size")
    run_dir, cfg, _ = pick_run(args.run)
    out = report_home(run_dir) / "lexicon" / f"{args.split}-{args.method}"
    csv = Path(args.csv) if args.csv else out / "lexicon.csv"
    png = Path(args.png) if args.png else out / "lexicon.png"
    from textdeconv.outputs import OutputPlan
    from textdeconv.training.rundir import run_inputs

    plan = OutputPlan()  # checked before the model loads; both files appear together at the end
    run_inputs(plan, run_dir, cfg)
    plan.write("--csv", csv)
    plan.write("--png", png)
    plan.check()

    from textdeconv.api import Run
    from textdeconv.data.splits import split_sentences
    from textdeconv.reports import export
    from textdeconv.reports.lexicon import explain_classes, lexicon, plot_lexicon, top_words
    from textdeconv.reports.progress import bar

    run = Run(run_dir)
    ids, sentences, _ = split_sentences(run.config.data, args.split, run.config.vocab.clean)
    explainer = run.explainer(args.method)
    with bar(len(run.class_names), unit="class", desc=f"explaining {len(sentences):,} sentences") as shown:
        frame = explain_classes(explainer, sentences, ids, args.batch_size,
                                lambda c, name: shown.update(c - shown.n))
        shown.update(len(run.class_names) - shown.n)
    lex = lexicon(frame, run.class_names, args.min_count)
    with plan:
        export.write_csv(lex, plan.temp(csv))
        plot_lexicon(lex, run.class_names, plan.temp(png), args.top, args.rank_by,
                     title=f"{run.name}: {args.split}, {args.method}, top {args.top} by {args.rank_by} score"
                           + (f" (count >= {args.min_count})" if args.rank_by == "mean" else ""))
    for name in run.class_names:
        rows = top_words(lex, name, args.top, args.rank_by)
        words = "  ".join(f"{w} {s:+.3g} ({n})" for w, s, n in zip(rows["word"], rows[f"{args.rank_by}_score"],
                                                                   rows["count"]))
        print(f"{name}: {words}")
    for path in (csv, png):
        print(f"wrote {path}", file=sys.stderr)
