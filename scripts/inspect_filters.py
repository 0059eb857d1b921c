#!/usr/bin/env python
"""Filter dictionary of a trained TextCNN: what every convolution filter responds to.

Examples:
  python scripts/inspect_filters.py --run runs/sst-20261125-093000
  python scripts/inspect_filters.py --split dev --top-k 5 --neighbours 3 --csv f.csv --html f.html

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
Without --run the most recent run under runs/ is used (and named on stderr).
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from textdeconv.cli import load_tensorflow, require_positive, run_main  # noqa: E402  (sets TF's log level before TF loads)


def progress_printer(label: str):
    """``f(done, total)`` drawing ``label: done/total sentences`` on stderr, at most once a second."""
    last = [0.0]
    tty = sys.stderr.isatty()

    def show(done, total):
        now = time.monotonic()
        if done < total and now - last[0] < 1.0:
            return
        last[0] = now
        text = f"{label}: {done:,}/{total:,} sentences"
        sys.stderr.write(f"\r\x1b[K{text}" + ("\n" if done >= total else "") if tty else text + "\n")
        sys.stderr.flush()

    return show


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="run directory (default: the most recent under runs/)")
    p.add_argument("--split", default="train", choices=("train", "dev", "test"),
                   help="sentences to scan (default train)")
    p.add_argument("--top-k", type=int, default=10, help="n-grams per filter (default 10)")
    p.add_argument("--neighbours", type=int, default=5, help="nearest words per filter position (default 5)")
    p.add_argument("--csv", metavar="PATH", help="n-gram CSV (default RUN/filters/<split>/filters.csv)")
    p.add_argument("--words-csv", metavar="PATH", help="nearest-words CSV (default: <csv stem>-words.csv beside it)")
    p.add_argument("--html", metavar="PATH", help="HTML page (default RUN/filters/<split>/filters.html)")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args()
    require_positive(args, "top_k", "neighbours", "batch_size")

    from textdeconv.training.rundir import pick_run

    run, _, _ = pick_run(args.run)
    out = run / "filters" / args.split
    csv = Path(args.csv) if args.csv else out / "filters.csv"
    words_csv = Path(args.words_csv) if args.words_csv else csv.with_name(f"{csv.stem}-words.csv")
    page = Path(args.html) if args.html else out / "filters.html"

    load_tensorflow()
    from textdeconv.data.splits import split_sentences
    from textdeconv.reports import export
    from textdeconv.reports.filters import filter_dictionary, write_html
    from textdeconv.training.rundir import read_run

    cfg, vocab, net, _ = read_run(run)
    ids, sentences, _ = split_sentences(cfg.data, args.split, cfg.vocab.clean)
    if not sentences:
        raise ValueError(f"the {args.split} split holds no sentences")
    n_filters = sum(int(c.filters) for c in net.convs)
    print(f"{len(sentences):,} {args.split} sentences, {n_filters} filters (widths "
          f"{', '.join(map(str, net.widths))})", file=sys.stderr)
    fd = filter_dictionary(net, vocab, sentences, ids, args.top_k, args.neighbours, args.batch_size,
                           progress=progress_printer("max activations"))
    export.write_csv(fd.ngrams, csv)
    export.write_csv(fd.words, words_csv)
    dead = int((fd.summary["fires"] == 0).sum())
    write_html(page, fd, f"Filter dictionary: {run.name}",
               f"{len(sentences):,} {args.split} sentences; {n_filters} filters, {dead} dead on every sentence.")
    for path in (csv, words_csv, page):
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
