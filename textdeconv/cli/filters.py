"""``textdeconv filters``: the filter dictionary of a trained TextCNN: what every convolution filter responds to."""
from __future__ import annotations

import sys
from pathlib import Path

from textdeconv.cli import HelpFormatter, require_positive

EXAMPLES = """examples:
  textdeconv filters --run runs/sst
  textdeconv filters --split dev --top-k 5 --neighbours 3 --csv f.csv --html f.html
  textdeconv filters --run builtin:sst2 --json > filters.json

For every filter (width w, index j) over the split's sentences (default train; sentences only):
  - the --top-k distinct n-grams by max-over-time activation: the window at each sentence's
    switch, with its activation and the sentence it came from (sentence_id = position in the
    split, 1-based; sentences = how many sentences' switch is on that same window);
  - for every position k = 0..w-1, the --neighbours vocabulary words nearest (cosine) to the
    deconvnet reconstruction of that position, which is exactly the kernel row K_w[k,:,j]
    (multichannel: each half of the kernel against its own embedding table).

and, after Jacovi, Sar Shalom & Goldberg (2018), what each filter detects (docs/filters.md):
  - class_vote: the class of its largest output weight; vote = that weight minus the mean over classes;
  - threshold: the smallest activation whose sentences (p >= threshold) are at least --min-purity
    of the class_vote class (the model's predicted class, or --labels gold); purity; and
    above_threshold_share, the share of sentences reaching it;
  - patterns: MeanShift clusters of the per-slot contributions <K[k,:,j], u_word> of its distinct
    above-threshold n-grams (the --max-ngrams strongest);
  - negative_words: per slot, the --negatives words with the most negative slot contribution,
    "deliberate" when at that slot it switched off a window that would reach the threshold
    without it, else "natural"; and the words that switched off the most windows (blockers).

Writes (default into RUN/filters/<split>/): filters.csv (width, filter, rank, ngram, activation,
sentence_id, sentences), the nearest words as <csv stem>-words.csv (width, filter, position,
channel, rank, word, cosine; or --words-csv), the analysis as <csv stem>-analysis.csv (one row
per filter: width, filter, class_vote, vote, threshold, purity, above_threshold_share, patterns,
negative_words, weight_<class>; the last two as JSON; or --analysis-csv) and filters.html, one
self-contained page (search, sort by class vote or threshold, 25 filters a page). --json also
prints the analysis, one object per filter with its top n-grams, on stdout.
Without --run the most recent run under ./runs is used, else the bundled model builtin:sst2
(named on stderr).
"""


def add(sub):
    p = sub.add_parser("filters", help="filter dictionary: top n-grams and nearest words of every filter",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("--run", help="run directory or builtin:sst2 (default: the latest under ./runs, else builtin:sst2)")
    p.add_argument("--split", default="train", choices=("train", "dev", "test"),
                   help="sentences to scan (default train)")
    p.add_argument("--top-k", type=int, default=10, help="n-grams per filter (default 10)")
    p.add_argument("--neighbours", type=int, default=5, help="nearest words per filter position (default 5)")
    p.add_argument("--csv", metavar="PATH", help="n-gram CSV (default RUN/filters/<split>/filters.csv)")
    p.add_argument("--words-csv", metavar="PATH", help="nearest-words CSV (default: <csv stem>-words.csv beside it)")
    p.add_argument("--analysis-csv", metavar="PATH",
                   help="per-filter analysis CSV (default: <csv stem>-analysis.csv beside it)")
    p.add_argument("--html", metavar="PATH", help="HTML page (default RUN/filters/<split>/filters.html)")
    p.add_argument("--json", action="store_true", help="also print the per-filter analysis as JSON on stdout")
    p.add_argument("--min-purity", type=float, default=0.5,
                   help="purity a filter's threshold must reach, in (0, 1] (default 0.5, the authors' code)")
    p.add_argument("--labels", choices=("predicted", "gold"), default="predicted",
                   help="the class purity counts: the model's prediction (default) or the gold label")
    p.add_argument("--max-ngrams", type=int, default=100, help="above-threshold n-grams clustered per filter")
    p.add_argument("--negatives", type=int, default=5, help="negative words listed per slot (default 5)")
    p.add_argument("--batch-size", type=int, default=256)
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.builtin import report_home
    from textdeconv.errors import InputError
    from textdeconv.training.rundir import pick_run

    require_positive(args, "top_k", "neighbours", "batch_size", "max_ngrams", "negatives")
    if not 0 < args.min_purity <= 1:
        raise InputError(f"--min-purity must be in (0, 1], got {args.min_purity:g}")
    run_dir, cfg, _ = pick_run(args.run)
    out = report_home(run_dir) / "filters" / args.split
    csv = Path(args.csv) if args.csv else out / "filters.csv"
    words_csv = Path(args.words_csv) if args.words_csv else csv.with_name(f"{csv.stem}-words.csv")
    analysis_csv = Path(args.analysis_csv) if args.analysis_csv else csv.with_name(f"{csv.stem}-analysis.csv")
    page = Path(args.html) if args.html else out / "filters.html"
    from textdeconv.outputs import OutputPlan
    from textdeconv.training.rundir import run_inputs

    plan = OutputPlan()  # checked before the model loads; the three files appear together at the end
    run_inputs(plan, run_dir, cfg)
    plan.write("--csv", csv)
    plan.write("--words-csv" if args.words_csv else "the default --words-csv", words_csv)
    plan.write("--analysis-csv" if args.analysis_csv else "the default --analysis-csv", analysis_csv)
    plan.write("--html", page)
    plan.check()

    from textdeconv.api import Run
    from textdeconv.data.splits import split_sentences
    from textdeconv.errors import DataError
    from textdeconv.reports import export
    from textdeconv.reports.filter_analysis import analysis_frame, analysis_records, analyze_filters
    from textdeconv.reports.filter_page import write_html
    from textdeconv.reports.filters import filter_dictionary, max_activations
    from textdeconv.reports.progress import bar

    run = Run(run_dir)
    ids, sentences, gold = split_sentences(run.config.data, args.split, run.config.vocab.clean)
    if not sentences:
        raise DataError(f"the {args.split} split holds no sentences")
    n_filters = sum(int(c.filters) for c in run.net.convs)
    print(f"{len(sentences):,} {args.split} sentences, {n_filters} filters (widths "
          f"{', '.join(map(str, run.net.widths))})", file=sys.stderr)
    with bar(len(sentences), unit="sentence", desc="max activations") as shown:
        acts = max_activations(run.net, run.vocab, sentences, args.batch_size,
                               progress=lambda done, total: shown.update(done - shown.n))
    fd = filter_dictionary(run.net, run.vocab, sentences, ids, args.top_k, args.neighbours, args.batch_size,
                           activations=acts)
    fa = analyze_filters(run.net, run.vocab, run.class_names, sentences, gold, labels=args.labels,
                         min_purity=args.min_purity, max_ngrams=args.max_ngrams, negatives=args.negatives,
                         activations=acts)
    fa.settings["split"] = args.split
    dead = int((fd.summary["fires"] == 0).sum())
    with plan:
        export.write_csv(fd.ngrams, plan.temp(csv))
        export.write_csv(fd.words, plan.temp(words_csv))
        export.write_csv(analysis_frame(fa.table, json_columns=True), plan.temp(analysis_csv))
        write_html(plan.temp(page), fd, f"Filter dictionary: {run.name}",
                   f"{len(sentences):,} {args.split} sentences; {n_filters} filters, {dead} dead on every sentence; "
                   f"thresholds at purity {args.min_purity:g} ({args.labels} labels).", analysis=fa.table)
    for path in (csv, words_csv, analysis_csv, page):
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps({"run": run.name, "settings": fa.settings,
                          "filters": analysis_records(fa.table, fd.ngrams)}, ensure_ascii=False, indent=1))
