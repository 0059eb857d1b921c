"""``textdeconv explain``: per-word saliency of a trained TextCNN's predictions."""
from __future__ import annotations

import sys
from pathlib import Path

from textdeconv.attribution import DECONV_METHODS, METHOD_NAMES, get_method, method_options
from textdeconv.cli import HelpFormatter

EXAMPLES = """examples:
  textdeconv explain --run runs/sst "a gripping , funny movie"
  textdeconv explain "not bad at all" "a dull mess" --target positive --method deconv-rectified
  textdeconv explain --input reviews.txt --csv scores.csv --filters-csv filters.csv
  cat reviews.txt | textdeconv explain --input - --json > scores.json
  textdeconv explain --split test --csv test_saliency.csv --quiet
  textdeconv explain "an uneven film" --method integrated-gradients --ig-steps 100
  textdeconv explain --input reviews.txt --html view.html --html-methods deconv grad-x-input occlusion
  textdeconv explain --input big.txt --csv big.csv --quiet            # streamed; Ctrl-C, then:
  textdeconv explain --input big.txt --csv big.csv --quiet --resume
  textdeconv explain --input big.txt --output big.parquet --quiet    # the same rows as Parquet, ~8x smaller
  textdeconv explain --input 'corpus/*.txt.gz' --output out/ --runner beam    # a corpus on Apache Beam (docs/scale.md)

Without --run the most recent run under ./runs is used, else the bundled model builtin:sst2 (named
on stderr). Scores: positive =
evidence for the target class (default: the predicted class). In files (UTF-8 unless --encoding),
empty and blank lines are skipped silently (line numbers keep counting); sentence_id is the line
number. Text is tokenized like the treebank: control characters (NUL included), zero-width spaces,
byte-order marks and bidi controls separate words; a line left with no token is skipped with a
warning. --input may be a pipe (--input <(zcat big.txt.gz)): read once, as a stream.

Outputs are checked before the model loads (none may be an input, a directory or another output)
and appear together at the end: a command that fails leaves no file behind.

--html writes one self-contained page (no network needed): every sentence, its words coloured by
score (each sentence scaled by its own max |score|, or one global scale, switchable), switchable
between the target classes and the --html-methods, with the deconvnet's filters on hover.

Big files: --input FILE with --csv (and no --json, --html or --filters-csv) is streamed: read
--chunk-size lines at a time, each chunk explained and its rows appended to the CSV, so memory stays
flat whatever the file's size; a progress bar on stderr (on a terminal) shows the bytes read and
sentences/s. The CSV is written as CSV.partial beside CSV.progress.json (the last committed chunk)
and renamed when done; --resume continues an interrupted job (same input file and settings) without
losing or repeating rows, --restart discards it, and without either an interrupted job is an error.
--output x.parquet instead of --csv streams the same rows into Parquet, with the same files and
guarantees (x.parquet.partial, x.parquet.progress.json). A kill (Ctrl-C, SIGTERM) keeps the job for
--resume; bad input (a line that does not decode) removes it, and no CSV is written. A pipe cannot
be resumed. One job writes an output at a time: a second one (another process) is refused, naming
the first's pid. If stdout closes (| head), the job stops with exit 141 and is kept for --resume.
An output is never '-' (write a file; --json prints to stdout) nor the file stdin reads.
Sentences are explained together in blocks of --chunk-size lines (also when not streamed), so
with the same --chunk-size and --batch-size the streamed, resumed and in-memory CSVs are identical
byte for byte. Stdin and the other outputs keep every explanation in memory. A corpus
of many files, or many machines: --runner beam (docs/scale.md).
"""


def add(sub):
    p = sub.add_parser("explain", help="explain predictions word by word (text, CSV, JSON, HTML)",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("sentences", nargs="*", help="sentences to explain (raw text; tokenized like the treebank)")
    p.add_argument("--run", help="run directory or builtin:sst2 (default: the latest under ./runs, else builtin:sst2)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", metavar="FILE", help="text file, one sentence per line ('-' = stdin; a pipe works)")
    src.add_argument("--split", choices=("train", "dev", "test"), help="explain a split of the run's data set")
    p.add_argument("--encoding", default="utf-8",
                   help="of the --input file (default utf-8; e.g. latin-1 for the MR rt-polarity files)")
    p.add_argument("--target", help="class to explain, by name or index (default: predicted class)")
    p.add_argument("--method", choices=METHOD_NAMES,
                   help="attribution method (default: deconv, the class-evidence deconvnet; with --model: "
                        "deconvnet)")
    p.add_argument("--saliency", default="dot", choices=("dot", "norm", "sum"),
                   help="deconv methods: word score = projection . embedding (dot, signed) or ||projection|| (norm); "
                        "the engine's deconvnet (and, with --model, its gradient-style methods) also sum")
    p.add_argument("--ig-steps", type=int, default=50, help="integrated-gradients: quadrature steps (default 50)")
    p.add_argument("--epsilon", type=float, help="lrp-epsilon: the stabiliser (default 0.01; 0 = LRP-0)")
    p.add_argument("--logit", dest="contrast", action="store_false", default=None,
                   help="lrp-alpha-beta, lrp-zplus: explain the target logit itself, as iNNvestigate and zennit do "
                        "(default: its contrast with the mean of the other logits, whose sign the map takes)")
    p.add_argument("--replacement", default="pad", choices=("pad", "unk", "delete"),
                   help="occlusion, occlusion-window, shap, lime: how a word is removed (default pad)")
    p.add_argument("--width", type=int, help="occlusion-window: words per window, 2-5 (default 3)")
    p.add_argument("--explainer", choices=("partition", "permutation"),
                   help="shap: shap's explainer (default partition)")
    p.add_argument("--max-evals", type=int, help="shap: model evaluations per sentence (default 500)")
    p.add_argument("--num-samples", type=int, help="lime: perturbed sentences per sentence (default 5000)")
    p.add_argument("--seed", type=int, help="shap, lime, random: random seed (default 0)")
    p.add_argument("--csv", metavar="PATH", help="write one row per token")
    p.add_argument("--output", metavar="PATH.parquet", help="write --csv's rows as Parquet (dictionary-encoded, "
                   "zstd; streamed and resumed as --csv is)")
    p.add_argument("--filters-csv", metavar="PATH", help="write the per-filter detail (switch, n-gram, contribution)")
    p.add_argument("--filter-analysis", metavar="CSV",
                   help="with --filters-csv: the run's filters-analysis.csv (textdeconv filters) adds each filter's "
                        "threshold, above_threshold and pattern (class_vote and vote are always there)")
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML page of the explanations")
    p.add_argument("--html-methods", nargs="+", metavar="METHOD", choices=METHOD_NAMES,
                   help="methods the page can switch between (default: --method); every class is explained")
    p.add_argument("--json", action="store_true", help="print the explanations as JSON instead of text")
    p.add_argument("--quiet", action="store_true", help="print nothing per sentence (use with --csv)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--chunk-size", type=int, default=4096, metavar="LINES",
                   help="lines explained together (default 4096); the unit a streamed file is read, written and "
                        "resumed in")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the interrupted --input FILE --csv PATH job")
    again.add_argument("--restart", action="store_true", help="discard the interrupted --input FILE --csv PATH job "
                                                              "and start over")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr while streaming")
    scale = p.add_argument_group("a corpus on Apache Beam (docs/scale.md; pip install apache-beam)")
    scale.add_argument("--runner", choices=("local", "beam"), default="local",
                       help="beam: explain the files --input matches (a glob; .gz and other compressed files "
                            "too) with Apache Beam into the folder --output DIR (Parquet shards) or --csv DIR; "
                            "Beam's own options (--runner DataflowRunner, ...) follow a '--' (default: local)")
    scale.add_argument("--overwrite", action="store_true",
                       help="--runner beam: replace the job already in the output folder, once the new one succeeds")
    other = p.add_argument_group("any Keras text CNN (instead of --run; docs/any-model.md)")
    other.add_argument("--model", metavar="FILE", help="a Keras model file (.keras) from token ids to class logits "
                                                       "or probabilities, explained with the layer-wise engine")
    other.add_argument("--vocab", metavar="FILE", help="its vocabulary: one token per line, line N = id N (not "
                                                       "needed when the model starts with a TextVectorization)")
    other.add_argument("--classes", nargs="+", metavar="NAME", help="class names, in the model's output order "
                                                                    "(default 0, 1, ...)")
    other.add_argument("--tokenizer", choices=("keras", "ptb", "whitespace"),
                       help="how text is split (default: the model's TextVectorization, else keras: lower-cased, "
                            "punctuation stripped)")
    p.set_defaults(func=run, command_parser=p)


def passes_through(argv) -> bool:
    """With --runner beam, what follows '--' is Beam's pipeline options (``cli._dispatch``)."""
    return any(a == "--runner=beam" or (a == "--runner" and b == "beam") for a, b in zip(argv, [*argv[1:], None]))


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def options_for(method: str, args) -> dict:
    """The method's options among the command's flags."""
    return method_options(method, saliency=args.saliency, steps=args.ig_steps, replacement=args.replacement,
                          epsilon=args.epsilon, width=args.width, explainer=args.explainer,
                          max_evals=args.max_evals, num_samples=args.num_samples, seed=args.seed,
                          contrast=args.contrast)


METHOD_FLAGS = {"--width": "width", "--explainer": "explainer", "--max-evals": "max_evals",
                "--num-samples": "num_samples", "--seed": "seed", "--logit": "contrast"}


def check_method_flags(args) -> None:
    """A method flag no chosen method takes is refused (it would be ignored); the chosen methods'
    option values and optional libraries are checked before the model loads."""
    from textdeconv.attribution import METHODS, check_options

    methods = list(dict.fromkeys([args.method, *(args.html_methods or [])]))
    for flag, key in METHOD_FLAGS.items():
        if getattr(args, key) is None:
            continue
        takers = [n for n, m in METHODS.items() if key in m.options]
        model_only = args.model and key != "contrast"  # the engine's methods take --logit with --model too
        if model_only or not any(key in get_method(m).options for m in methods):
            args.parser.error(f"{flag} applies to {', '.join(takers)} only, not {', '.join(methods)}"
                              + (" with --model" if model_only else ""))
    if not args.model:
        for m in methods:
            check_options(m, options_for(m, args))
            get_method(m).require()


def typed_items(sentences) -> list[tuple[int, str]]:
    from textdeconv.errors import InputError

    for i, s in enumerate(sentences, 1):
        if not s.strip():
            raise InputError(f"sentence argument {i} is empty")
        if any("\ud800" <= ch <= "\udfff" for ch in s):  # bytes that were not UTF-8 arrive as surrogates
            raise InputError(f"sentence argument {i} is not valid UTF-8")
    return list(enumerate(sentences, 1))


def run(args):
    p = args.parser
    if args.runner == "beam":
        return explain_beam(args)
    if bool(args.sentences) + bool(args.input) + bool(args.split) != 1:
        p.error("give sentences as arguments, or --input FILE, or --split NAME (exactly one)")
    args.method = args.method or ("deconvnet" if args.model else "deconv")
    if args.overwrite:
        p.error("--overwrite goes with --runner beam (a local --csv or --output is replaced anyway, atomically)")
    if args.model:
        from textdeconv.cli.explain_model import check_args

        check_args(args)
    elif args.vocab or args.classes or args.tokenizer:
        p.error("--vocab, --classes and --tokenizer go with --model FILE")
    deconv = args.method in DECONV_METHODS
    if args.filters_csv and not deconv:
        p.error(f"--filters-csv needs a deconv method ({', '.join(DECONV_METHODS)}), not {args.method}")
    if args.filter_analysis and not args.filters_csv:
        p.error("--filter-analysis needs --filters-csv PATH")
    if args.saliency != "dot" and not args.model and "saliency" not in get_method(args.method).options:
        p.error(f"--saliency applies to the deconv methods (and deconvnet) only, not {args.method}")
    if args.html_methods and not args.html:
        p.error("--html-methods needs --html PATH")
    check_method_flags(args)
    if args.ig_steps < 1:
        p.error("--ig-steps must be at least 1")
    if args.batch_size < 1 or args.chunk_size < 1:
        p.error("--batch-size and --chunk-size must be at least 1")
    if args.encoding != "utf-8" and not args.input:
        p.error("--encoding applies to --input FILE")
    from textdeconv.data.custom import line_encoding

    line_encoding(args.encoding)
    if args.output and not args.output.endswith(".parquet"):
        p.error(f"--output takes a .parquet path (the token rows as Parquet), got {args.output}; for CSV use --csv")
    # A file explained into a CSV alone is streamed; JSON, HTML and the filter table need every
    # explanation at once, so those are read whole (and so is stdin).
    path = Path(args.input) if args.input and args.input != "-" else None
    stream = bool(path and bool(args.csv) != bool(args.output) and not (args.json or args.html or args.filters_csv))
    if (args.resume or args.restart) and not stream:
        p.error("--resume and --restart need --input FILE with --csv or --output (and no --json, --html or "
                "--filters-csv)")
    items = None
    if args.input and not stream:
        from textdeconv.data.custom import read_sentences
        from textdeconv.errors import DataError

        items = read_sentences(args.input, encoding=args.encoding)
        if not items:
            raise DataError(f"{args.input}: no non-empty lines to explain")
    elif args.sentences:
        items = typed_items(args.sentences)
    if args.model:
        from textdeconv.cli.explain_model import run_model

        return run_model(args, items)

    from textdeconv.attribution.explanation import resolve_target
    from textdeconv.outputs import OutputPlan
    from textdeconv.training.rundir import pick_run, run_inputs

    run_dir, cfg, class_names = pick_run(args.run)
    target = resolve_target(args.target, class_names)  # an unknown class fails here, before TensorFlow loads
    plan = OutputPlan()  # and so does an output that cannot be written, or a job that cannot start or resume
    run_inputs(plan, run_dir, cfg if args.split else None)
    plan.read("the --input file", args.input)
    job = None
    if stream:
        from textdeconv.reports.stream import ExplainJob, job_settings

        if args.output:  # the same job, writing Parquet
            from textdeconv.reports.parquet import ParquetJob as ExplainJob
        settings = job_settings(run_dir, args.method, options_for(args.method, args))
        job = ExplainJob(args.input, args.csv or args.output, settings,
                         target=None if target < 0 else target, chunk_lines=args.chunk_size,
                         batch_size=args.batch_size, resume=args.resume, restart=args.restart,
                         encoding=args.encoding, plan=plan,
                         option="--output" if args.output else "--csv", input_label="the --input file")
    else:
        for option in ("csv", "output", "filters_csv", "html"):
            if getattr(args, option):
                plan.write(f"--{option.replace('_', '-')}", getattr(args, option))
        plan.check()

    from textdeconv.api import Run

    if job:
        with job:  # its lock is held until the job ends; a failure before it starts leaves nothing
            run = Run(run_dir)
            return explain_stream(job, args, run.explainer(args.method, **options_for(args.method, args)),
                                  class_names)
    run = Run(run_dir)
    with plan:
        ids, expls = explain_in_memory(run, args, items, plan)
    for out in (args.csv, args.output, args.filters_csv, args.html):  # in place now: a closed stdout cannot lose them
        if out:
            print(f"wrote {out}", file=sys.stderr)
    from textdeconv.reports.export import render, to_json

    if args.json:
        print(to_json(expls, ids))
    elif not args.quiet:
        color = sys.stdout.isatty()
        for sid, e in zip(ids, expls):
            print(f"[{sid}] " + render(e, run.class_names, color))


def explain_stream(job, args, explainer, class_names) -> None:
    """--input FILE --csv PATH: explain chunk by chunk into PATH (``textdeconv.reports.stream.ExplainJob``)."""
    from textdeconv.reports.export import render
    from textdeconv.reports.progress import Progress

    if job.start_line:
        print(f"resuming {job.out} after line {job.start_line:,}", file=sys.stderr)
    bar = Progress(job.input_size, job.start_offset, enabled=not args.no_progress)
    color = sys.stdout.isatty()

    def show(ids, expls):  # each chunk's explanations as soon as they are committed
        for sid, e in zip(ids, expls):
            bar.write(f"[{sid}] " + render(e, class_names, color), sys.stdout)

    try:
        summary = job.run(explainer, progress=bar, warn=lambda msg: bar.write(f"warning: {msg}"),
                          on_chunk=None if args.quiet else show)
    except BrokenPipeError:  # the reader of stdout left (| head): stop, keep what was committed
        from textdeconv.cli import closed_pipe

        closed_pipe()
        kept = (f"the job is kept: rerun with --resume (and --quiet) to finish {job.out}" if job.progress_file.exists()
                else f"{job.out} was not written")
        print(f"error: standard output was closed; {kept}", file=sys.stderr)
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by a closed pipe
    finally:
        bar.close()
    print(f"wrote {job.out} ({summary['sentences']:,} sentences, {summary['rows']:,} rows)", file=sys.stderr)


def explain_in_memory(run, args, items, plan):
    """Explain everything at once and write the files of ``plan`` (its temporary paths: they
    appear when the plan is published). Returns ``(sentence ids, explanations)``."""
    from textdeconv.reports import export

    gold = None
    if args.split:
        from textdeconv.data.splits import split_sentences

        ids, sentences, labels = split_sentences(run.config.data, args.split, run.config.vocab.clean)
        gold = [run.class_names[y] for y in labels]
    else:
        from textdeconv.errors import InputError
        from textdeconv.reports.stream import tokenize_items

        ids, sentences = tokenize_items(items, run.vocab, args.input, warn)
        if not sentences:
            raise InputError("nothing to explain: every sentence was empty")

    from textdeconv.reports.stream import explain_blocks

    explainer = run.explainer(args.method, **options_for(args.method, args))
    expls = explain_blocks(explainer, ids, sentences, args.chunk_size, target=args.target, batch_size=args.batch_size)
    if args.csv:
        export.write_csv(export.token_frame(expls, ids, gold), plan.temp(args.csv))
    if args.output:
        from textdeconv.reports.parquet import token_table, write_parquet

        write_parquet(token_table(expls, ids, gold), plan.temp(args.output))
    if args.filters_csv:
        from textdeconv.reports.filter_analysis import annotate_filter_frame, read_analysis_csv

        analysis = read_analysis_csv(args.filter_analysis, run.net) if args.filter_analysis else None
        frame = annotate_filter_frame(export.filter_frame(expls, ids, run.net), run.net, run.class_names, expls,
                                      analysis)
        export.write_csv(frame, plan.temp(args.filters_csv))
    if args.html:
        from textdeconv.reports.html import explanations_page, write_html

        methods = {m: options_for(m, args) for m in dict.fromkeys(args.html_methods or [args.method])}
        write_html(plan.temp(args.html), explanations_page(run, ids, sentences, methods, target=args.target,
                                                           gold=gold, batch_size=args.batch_size, first=args.method,
                                                           title=f"textdeconv explanations: {run.name}"))
    return ids, expls


def explain_beam(args) -> None:
    """--runner beam: the corpus on Apache Beam (``textdeconv.reports.beam.explain_corpus``)."""
    p = args.parser
    if not args.input or args.input == "-":
        p.error("--runner beam needs --input PATTERN (files or a glob; not stdin)")
    if args.sentences:
        p.error(f"--runner beam explains the --input files, not sentence arguments ({args.sentences[0]!r}, ...); "
                "Beam's own options go after '--'")
    other = [f"--{k.replace('_', '-')}" for k in ("split", "json", "html", "filters_csv", "resume", "restart",
                                                    "model") if getattr(args, k)]
    if other:
        p.error(f"--runner beam writes token rows only: {', '.join(other)} cannot be used with it")
    if bool(args.output) == bool(args.csv):
        p.error("--runner beam needs one output folder: --output DIR (Parquet shards) or --csv DIR (CSV shards)")
    from textdeconv.training.rundir import pick_run

    remote = bool(args.run and "://" in args.run)  # gs://..., read by Beam's filesystems (docs/scale.md)
    run_dir = args.run if remote else pick_run(args.run)[0]
    from textdeconv.reports.beam import explain_corpus

    out = args.output or args.csv
    method = args.method or "deconv"
    manifest = explain_corpus(run_dir, [args.input], out, method, options_for(method, args),
                              target=args.target, fmt="parquet" if args.output else "csv", chunk_lines=args.chunk_size,
                              batch_size=args.batch_size, encoding=args.encoding, overwrite=args.overwrite,
                              pipeline_args=args.passthrough)
    dead = f"; {manifest['dead_letters']:,} dead letters in dead-letter-*.jsonl" if manifest["dead_letters"] else ""
    shards = sum(f.startswith("tokens-") for f in manifest["files"])
    print(f"wrote {out} ({manifest['sentences']:,} sentences, {manifest['rows']:,} rows in {shards} files from "
          f"{len(manifest['inputs'])} inputs{dead})", file=sys.stderr)
