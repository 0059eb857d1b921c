"""``textdeconv evaluate``: compare attribution methods on one model: faithfulness, sanity checks, plausibility."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from textdeconv.attribution import DEFAULT_METHODS, METHOD_NAMES, check_options, get_method
from textdeconv.cli import HelpFormatter, require_positive

EXAMPLES = """examples:
  textdeconv evaluate --run runs/sst --split test
  textdeconv evaluate --split dev --methods deconv grad-x-input occlusion random --limit 200
  textdeconv evaluate --split test --replacement unk --ig-steps 20
  textdeconv evaluate --model model.keras --vocab vocab.txt --data test.csv --classes negative positive
      (any Keras text CNN: the engine's methods, occlusion and random, faithfulness metrics only,
      into ./evaluation/<model>-<replacement>/: table.csv, table.md, meta.json)

Writes into RUN/evaluation/<split>-<replacement>/ (or --out):
  table.csv, table.md   one row per method: ERASER comprehensiveness / sufficiency AOPC, deletion
                        (most/least relevant first) and insertion AUC, plausibility AP / AUROC and
                        sign agreement against the treebank's word labels, Spearman correlation after
                        randomizing the output layer and the whole model, between-class Spearman,
                        and sentences per second
  curves.png            deletion and insertion curves of every method
  randomization.csv     every cascading-randomization stage of every method
  meta.json             command, model, split, sentence count, replacement, seconds per method
Explanations are for the predicted class; sign agreement explains the positive class. The table
is also printed (Markdown) on stdout.
"""


REPORT_FILES = ("table.csv", "table.md", "curves.png", "randomization.csv", "independent_randomization.csv",
                "meta.json")  # what write_report may write into --out (checked against the run's files)


def add(sub):
    p = sub.add_parser("evaluate", help="score attribution methods: faithfulness, sanity, plausibility",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("--run", help="run directory or builtin:sst2 (default: the latest under ./runs, else builtin:sst2)")
    p.add_argument("--split", default="test", choices=("dev", "test"), help="sentences to evaluate on (default test)")
    p.add_argument("--methods", nargs="+", choices=METHOD_NAMES, metavar="METHOD",
                   help=f"methods to compare (default: all of {', '.join(DEFAULT_METHODS)}, i.e. every method but "
                        "those needing an optional library; with --model: the engine's)")
    p.add_argument("--limit", type=int, help="evaluate on at most N sentences (taken at an even stride)")
    p.add_argument("--replacement", default="pad", choices=("pad", "unk", "delete"),
                   help="how removed tokens are replaced in the faithfulness metrics and occlusion (default pad)")
    p.add_argument("--sanity-n", type=int, default=200, help="sentences for the randomization checks (default 200)")
    p.add_argument("--ig-steps", type=int, default=50, help="integrated-gradients quadrature steps (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomization checks and the random, shap and "
                                                       "lime methods")
    p.add_argument("--width", type=int, default=3, choices=(2, 3, 4, 5),
                   help="occlusion-window: words per window (default 3)")
    p.add_argument("--max-evals", type=int, default=500, help="shap: model evaluations per sentence (default 500)")
    p.add_argument("--num-samples", type=int, default=5000,
                   help="lime: perturbed sentences per sentence (default 5000)")
    p.add_argument("--out", help="output directory (default: RUN/evaluation/<split>-<replacement>; with --model: "
                                 "./evaluation/<model>-<replacement>)")
    other = p.add_argument_group("any Keras text CNN (instead of --run; docs/any-model.md)")
    other.add_argument("--model", metavar="FILE", help="a Keras model file (.keras), evaluated with the engine's "
                                                       "methods, occlusion and random")
    other.add_argument("--vocab", metavar="FILE", help="its vocabulary, one token per line (line N = id N)")
    other.add_argument("--data", metavar="FILE", help="labelled sentences: CSV/TSV/JSONL (--text-column, "
                                                      "--label-column) or label-first lines")
    other.add_argument("--text-column", default="text", help="CSV/TSV header or JSONL key of the text (default text)")
    other.add_argument("--label-column", default="label", help="... of the label (default label)")
    other.add_argument("--classes", nargs="+", metavar="NAME", help="class names in the model's output order; "
                                                                    "then the labels are scored for accuracy")
    other.add_argument("--tokenizer", choices=("keras", "ptb", "whitespace"),
                       help="how text is split (default: the model's TextVectorization, else keras)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.builtin import report_home
    from textdeconv.training.rundir import pick_run

    require_positive(args, "limit", "sanity_n", "ig_steps", "max_evals", "num_samples")
    if args.model:
        from textdeconv.cli.evaluate_model import check_args, run_model

        check_args(args)
        return run_model(args)
    if args.vocab or args.data or args.classes or args.tokenizer:
        args.parser.error("--vocab, --data, --classes and --tokenizer go with --model FILE")
    args.methods = args.methods or list(DEFAULT_METHODS)
    options = {"integrated-gradients": {"steps": args.ig_steps}, "occlusion": {"replacement": args.replacement},
               "random": {"seed": args.seed},
               "occlusion-window": {"replacement": args.replacement, "width": args.width},
               "shap": {"replacement": args.replacement, "seed": args.seed, "max_evals": args.max_evals},
               "lime": {"replacement": args.replacement, "seed": args.seed, "num_samples": args.num_samples}}
    for method in args.methods:  # a bad option value or a missing optional library, before any work
        check_options(method, options.get(method, {}))
        get_method(method).require()
    run_dir, cfg, _ = pick_run(args.run)
    out = Path(args.out) if args.out else report_home(run_dir) / "evaluation" / f"{args.split}-{args.replacement}"
    from textdeconv.outputs import OutputPlan
    from textdeconv.training.rundir import run_inputs

    plan = OutputPlan()  # checked before the model loads; the folder's files appear together at the end
    run_inputs(plan, run_dir, cfg)
    plan.folder("--out", out, REPORT_FILES)
    plan.check()
    from textdeconv.evaluation.report import require_sst

    require_sst(cfg, run_dir)  # before the model loads

    from textdeconv.api import Run
    from textdeconv.builtin import builtin_name
    from textdeconv.evaluation.report import evaluate_methods, sst_sentences, to_markdown, write_report
    from textdeconv.reports.progress import bar

    run = Run(run_dir)
    sentences, labels = sst_sentences(run, args.split, args.limit)
    print(f"{len(sentences)} {args.split} sentences, {len(args.methods)} methods, replacement={args.replacement}",
          file=sys.stderr)
    steps = bar(2 * len(args.methods), unit="step", desc="evaluating")
    from textdeconv.evaluation.retrain import machine, now

    started = {"date": now(), "machine": machine()}  # per-sentence times need the load they ran under
    t0 = time.perf_counter()

    def progress(step):
        steps.set_postfix_str(step, refresh=False)
        steps.update()

    report = evaluate_methods(run.net, run.vocab, run.class_names, sentences, labels, args.methods,
                              replacement=args.replacement, sanity_n=args.sanity_n,
                              positive_class=len(run.class_names) - 1, method_options=options,
                              progress=progress, seed=args.seed)
    steps.close()
    meta = {"command": " ".join(["textdeconv", "evaluate"] + sys.argv[2:] if sys.argv[1:2] == ["evaluate"]
                                else [Path(sys.argv[0]).name] + sys.argv[1:]),
            "run": builtin_name(run_dir) or str(run_dir), "train_on": run.config.data.train_on,
            "split": args.split, "sentences": len(sentences),
            "replacement": args.replacement,
            "sanity_n": min(args.sanity_n, len(sentences)), "ig_steps": args.ig_steps, "seed": args.seed,
            **{k: getattr(args, k) for k, m in (("width", "occlusion-window"), ("max_evals", "shap"),
                                                ("num_samples", "lime")) if m in args.methods},
            "methods": args.methods, "seconds_total": round(time.perf_counter() - t0, 2), **started}
    with plan:
        written = write_report(report, plan.temp(out), meta, title=f"{run.name}: {args.split} "
                               f"({len(sentences)} sentences), replacement={args.replacement}")
    print(to_markdown(report.table))
    print(f"wrote {out}/{', '.join(written)}", file=sys.stderr)
