"""``textdeconv evaluate --model model.keras --vocab vocab.txt --data labelled.csv``: the faithfulness
of the engine's methods (and of occlusion and random) on any Keras text CNN
(``textdeconv.evaluation.model_report``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from textdeconv.cli.explain_model import MODEL_METHODS

FILES = ("table.csv", "table.md", "meta.json")
BASELINES = ("occlusion", "random")  # always scored (evaluation.model_report); accepted in --methods


def check_args(args) -> None:
    p = args.parser
    if args.run:
        p.error("give --run RUN (a textdeconv run) or --model FILE (any Keras text CNN), not both")
    if not args.data:
        p.error("--model needs --data FILE: the sentences to evaluate on (CSV/TSV/JSONL with text and label "
                "columns, or label-first lines)")
    wrong = [m for m in args.methods or () if m not in (*MODEL_METHODS, *BASELINES)]
    if wrong:
        p.error(f"--model evaluates the engine's methods ({', '.join(MODEL_METHODS)}) and the baselines "
                f"{' and '.join(BASELINES)}, not {', '.join(wrong)}")
    if args.methods and not any(m in MODEL_METHODS for m in args.methods):
        p.error(f"--model scores {' and '.join(BASELINES)} with every evaluation, against an engine method's "
                f"explanations: name one of {', '.join(MODEL_METHODS)} too")


def check_labels(records, classes, data) -> None:
    """With --classes, every label of --data must be one of them (else the accuracy is a silent 0).

    Raises:
        DataError: names the labels that are not classes, and the classes.
    """
    from textdeconv.errors import DataError, quoted

    if not classes:
        return
    other = sorted({r.label for r in records} - set(classes))
    if other:
        shown = ", ".join(quoted(x, 40) for x in other[:5]) + (f", ... ({len(other)} labels)" if len(other) > 5 else "")
        raise DataError(f"{data}: labels {shown} are not among --classes ({', '.join(classes)}); the labels must "
                        "name the classes, in the model's output order")


def run_model(args) -> None:
    from textdeconv.config import DataConfig
    from textdeconv.data.custom import read_records
    from textdeconv.data.treebank import subsample
    from textdeconv.errors import DataError
    from textdeconv.outputs import OutputPlan

    out = Path(args.out) if args.out else Path("evaluation") / f"{Path(args.model).stem}-{args.replacement}"
    plan = OutputPlan()
    for label, path in (("the --model file", args.model), ("the --vocab file", args.vocab),
                        ("the --data file", args.data)):
        plan.read(label, path)
    plan.folder("--out", out, FILES)
    plan.check()
    records = read_records(args.data, DataConfig(dataset="custom", train=args.data, text_column=args.text_column,
                                                 label_column=args.label_column),
                           how={"text_column": "--text-column", "label_column": "--label-column"})
    records = subsample(records, args.limit)
    if not records:
        raise DataError(f"{args.data}: no sentences to evaluate")
    check_labels(records, args.classes, args.data)

    from textdeconv.runtime import load_tensorflow

    load_tensorflow()
    from textdeconv.attribution.engine import Analyzer, ModelExplainer, load_model_for_explaining
    from textdeconv.attribution.engine.explainer import user_options
    from textdeconv.evaluation.model_report import evaluate_model
    from textdeconv.evaluation.report import to_markdown
    from textdeconv.files import atomic_write_json, atomic_write_text
    from textdeconv.reports.export import write_csv
    from textdeconv.reports.progress import bar

    model, tokens = load_model_for_explaining(args.model, args.vocab)
    methods = [m for m in args.methods or MODEL_METHODS if m in MODEL_METHODS]
    texts = [" ".join(r.tokens) for r in records]
    t0 = time.perf_counter()
    with bar(len(methods) + 2, unit="method", desc="evaluating") as shown:
        def progress(name):
            shown.set_postfix_str(name, refresh=False)
            shown.update()

        table, reference = evaluate_model(
            lambda m: ModelExplainer(Analyzer(model, m, **user_options(m, {})), tokens, args.classes,
                                     tokenizer=args.tokenizer),
            texts, methods, replacement=args.replacement, seed=args.seed, progress=progress)
    # the labels name classes as --classes does; without --classes there is nothing to compare them with
    accuracy = (sum(e.predicted_name == r.label for e, r in zip(reference, records)) / len(records)
                if args.classes else None)
    meta = {"command": " ".join(["textdeconv"] + sys.argv[1:]), "model": str(args.model), "data": str(args.data),
            "sentences": len(records), "replacement": args.replacement, "seed": args.seed, "methods": methods,
            "accuracy": accuracy, "seconds_total": round(time.perf_counter() - t0, 2)}
    with plan:
        folder = plan.temp(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(table, folder / "table.csv")
        atomic_write_text(folder / "table.md", to_markdown(table))
        atomic_write_json(folder / "meta.json", meta)
    print(to_markdown(table), end="")
    if accuracy is not None:
        print(f"accuracy against the --data labels: {accuracy:.4f} ({len(records)} sentences)", file=sys.stderr)
    print(f"wrote {out}/{', '.join(FILES)}", file=sys.stderr)
