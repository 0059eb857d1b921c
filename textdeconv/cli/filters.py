"""``textdeconv filters``: the filter dictionary of a trained TextCNN: what every convolution filter responds to."""
from __future__ import annotations

import sys
from pathlib import Path

from textdeconv.cli import HelpFormatter, require_positive

EXAMPLES = """examples:
  textdeconv filters --run runs/sst
  textdeconv filters --split dev --top-k 5 --neighbours 3 --csv f.csv --html f.html

For every filter (width w, index j) over the split's sentences (default train; sentences only):
  - the --top-k distinct n-grams by max-over-time activation: the window at each sentence's
    switch, with its activation and the sentence it came from (sentence_id = position in the
    split, 1-based; sentences = how many sentences' switch is on that same window);
  - for every position k = 0..w-1, the --neighbours vocabulary words nearest (cosine) to the
    deconvnet reconstruction of that position, which is exactly the kernel row K_w[k,:,j]
    (multichannel: each half of the kernel against its own embedding table).

Writes (default into RUN/filters/<split>/): filters.csv (width, filter, rank, ngram, activation,
sentence_id, sentences), the nearest words as <csv stem>-words.csv (width, filter, position,
channel, rank, word, cosine; or --words-csv) and filters.html, one self-contained page.
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
    p.add_argument("--html", metavar="PATH", help="HTML page (default RUN/filters/<split>/filters.html)")
    p.add_argument("--batch-size", type=int, default=256)
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.builtin import report_home
    from textdeconv.training.rundir import pick_run

    require_positive(args, "top_k", "neighbours", "batch_size")
    run_dir, cfg, _ = pick_run(args.run)
    out = report_home(run_dir) / "filters" / args.split
    csv = Path(args.csv) if args.csv else out / "filters.csv"
    words_csv = Path(args.words_csv) if args.words_csv else csv.with_name(f"{csv.stem}-words.csv")
    page = Path(args.html) if args.html else out / "filters.html"
    from textdeconv.outputs import OutputPlan
    from textdeconv.training.rundir import run_inputs

    plan = OutputPlan()  # checked before the model loads; the three files appear together at the end
    run_inputs(plan, run_dir, cfg)
    plan.write("--csv", csv)
    plan.write("--words-csv" if args.words_csv else "the default --words-csv", words_csv)
    plan.write("--html", page)
    plan.check()

    from textdeconv.api import Run
    from textdeconv.data.splits import split_sentences
    from textdeconv.errors import DataError
    from textdeconv.reports import export
    from textdeconv.reports.filters import filter_dictionary, write_html
    from textdeconv.reports.progress import bar

    run = Run(run_dir)
    ids, sentences, _ = split_sentences(run.config.data, args.split, run.config.vocab.clean)
    if not sentences:
        raise DataError(f"the {args.split} split holds no sentences")
    n_filters = sum(int(c.filters) for c in run.net.convs)
    print(f"{len(sentences):,} {args.split} sentences, {n_filters} filters (widths "
          f"{', '.join(map(str, run.net.widths))})", file=sys.stderr)
    with bar(len(sentences), unit="sentence", desc="max activations") as shown:
        fd = filter_dictionary(run.net, run.vocab, sentences, ids, args.top_k, args.neighbours, args.batch_size,
                               progress=lambda done, total: shown.update(done - shown.n))
    dead = int((fd.summary["fires"] == 0).sum())
    with plan:
        export.write_csv(fd.ngrams, plan.temp(csv))
        export.write_csv(fd.words, plan.temp(words_csv))
        write_html(plan.temp(page), fd, f"Filter dictionary: {run.name}",
                   f"{len(sentences):,} {args.split} sentences; {n_filters} filters, {dead} dead on every sentence.")
    for path in (csv, words_csv, page):
        print(f"wrote {path}", file=sys.stderr)
