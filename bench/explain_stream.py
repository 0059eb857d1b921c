#!/usr/bin/env python
"""Streamed explanation of a big synthetic file: sentences per second and memory over time.

    python bench/explain_stream.py --run runs/bench/sst-seed0
    python bench/explain_stream.py --run RUN --sentences 20000 --out /tmp/explain_stream.json
    python bench/explain_stream.py --run RUN --format parquet   # explain --output x.parquet instead

Writes --sentences lines (default 1,000,000; each 3-50 words, length and words drawn uniformly
from the run's vocabulary with --seed) to a file in --workdir, then explains it exactly as
``explain.py --input FILE --csv OUT --quiet`` does (``textdeconv.stream.ExplainJob``: blocks of
--chunk-size lines, rows appended and committed per block). Reports sentences/s and rows/s of the
job (explaining and writing the CSV, not generating the input), peak RSS (getrusage ru_maxrss,
the whole process: TensorFlow and the model included), and the RSS sampled after chunk 1, 10,
100, 1000, ... and the last: flat when memory is bounded by a chunk rather than by the file.
The input and the CSV (about 6 kB per sentence: some 6 GB for a million) are deleted afterwards
unless --keep. Writes bench/results/explain_stream.json (command, config, results, machine, date).

--format parquet: the job writes Parquet (``reports.parquet.ParquetJob``, ``explain --output
x.parquet``) instead, to bench/results/explain_stream_parquet.json by default; the results add
bytes per token row and ``publish_s``, the final pass that copies the committed segments into one
file (included in explain_s).
"""
import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402

from textdeconv.runtime import load_tensorflow  # noqa: E402


def rss_mb() -> float | None:
    """Resident set size now (Linux /proc), in MB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)


def write_sentences(path: Path, vocab, n: int, seed: int, min_words: int, max_words: int, block: int = 10_000):
    """n lines of random vocabulary words, written a block at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = np.array(vocab.itos[2:], dtype=object)  # no <pad>, <unk>
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, block):
            lengths = rng.integers(min_words, max_words + 1, size=min(block, n - start))
            tokens = words[rng.integers(0, len(words), size=int(lengths.sum()))]
            ends = np.cumsum(lengths)
            f.writelines(" ".join(tokens[e - k:e]) + "\n" for k, e in zip(lengths, ends))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=str(ROOT / "runs" / "bench" / "sst-seed0"))
    p.add_argument("--sentences", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-words", type=int, default=3)
    p.add_argument("--max-words", type=int, default=50)
    p.add_argument("--method", default="deconv")
    p.add_argument("--chunk-size", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workdir", help="where the input and the CSV go (default: a new folder under the temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the input and the CSV")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="the rows' format (default csv)")
    p.add_argument("--note", help="recorded with the results (e.g. what else ran on the machine)")
    p.add_argument("--out", help="default: bench/results/explain_stream.json (explain_stream_parquet.json for "
                                 "--format parquet)")
    args = p.parse_args()
    args.out = args.out or str(ROOT / "bench" / "results" /
                               ("explain_stream.json" if args.format == "csv" else "explain_stream_parquet.json"))

    load_average = os.getloadavg()
    load_tensorflow()  # quietly, before anything imports it noisily
    from textdeconv.attribution import make_explainer, method_options
    from textdeconv.files import atomic_write_json
    from textdeconv.reports.progress import Progress
    from textdeconv.reports.stream import ExplainJob, job_settings
    from textdeconv.training.rundir import read_run

    cfg, vocab, net, class_names = read_run(Path(args.run))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="explain_stream_"))
    workdir.mkdir(parents=True, exist_ok=True)
    src, csv = workdir / "sentences.txt", workdir / f"explanations.{args.format}"
    start = time.perf_counter()
    write_sentences(src, vocab, args.sentences, args.seed, args.min_words, args.max_words)
    generate_s = time.perf_counter() - start
    print(f"wrote {args.sentences:,} sentences ({src.stat().st_size / 1e6:,.1f} MB) in {generate_s:.1f} s",
          file=sys.stderr)

    options = method_options(args.method)
    explainer = make_explainer(args.method, net, vocab, class_names, **options)
    if args.format == "parquet":
        from textdeconv.reports.parquet import ParquetJob as ExplainJob
    job = ExplainJob(src, csv, job_settings(args.run, args.method, options), chunk_lines=args.chunk_size,
                     batch_size=args.batch_size)
    publish_s, publish = [], job._publish

    def timed_publish(st):  # the final pass (a rename for the CSV; the segments' copy for Parquet)
        t = time.perf_counter()
        publish(st)
        publish_s.append(time.perf_counter() - t)

    job._publish = timed_publish
    samples, chunks, done = [], 0, 0
    rss_before = rss_mb()

    def sample(ids, expls):  # after each committed chunk; RSS at chunk 1, 10, 100, ...
        nonlocal chunks, done
        chunks, done = chunks + 1, done + len(expls)
        if chunks in (1, 10, 100, 1_000, 10_000, 100_000):
            samples.append({"chunk": chunks, "sentences": done, "elapsed_s": round(time.perf_counter() - start, 2),
                            "rss_mb": rss_mb()})

    bar = Progress(job.input_size)
    start = time.perf_counter()
    summary = job.run(explainer, progress=bar, on_chunk=sample)
    explain_s = time.perf_counter() - start
    bar.close()
    if not samples or samples[-1]["chunk"] != chunks:
        samples.append({"chunk": chunks, "sentences": done, "elapsed_s": round(explain_s, 2), "rss_mb": rss_mb()})
    results = {
        "sentences": summary["sentences"], "rows": summary["rows"], "chunks": chunks,
        "input_bytes": src.stat().st_size, "output_bytes": csv.stat().st_size,
        "generate_s": round(generate_s, 2), "explain_s": round(explain_s, 2),
        "sentences_per_s": round(summary["sentences"] / explain_s, 1), "rows_per_s": round(summary["rows"] / explain_s),
        "bytes_per_row": round(csv.stat().st_size / summary["rows"], 2), "publish_s": round(sum(publish_s), 2),
        "rss_mb_before_job": rss_before, "rss_mb_samples": samples,
        "rss_growth_mb_from_chunk_1": round(samples[-1]["rss_mb"] - samples[0]["rss_mb"], 1)
        if samples[0]["rss_mb"] is not None else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),  # KiB on Linux
    }
    if not args.keep:
        src.unlink()
        csv.unlink()
        if not args.workdir:
            shutil.rmtree(workdir)

    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {"run": args.run, "sentences": args.sentences, "seed": args.seed, "words": [args.min_words,
                   args.max_words], "method": args.method, "format": args.format, "chunk_size": args.chunk_size,
                   "batch_size": args.batch_size, "model": cfg.to_dict()["model"], "vocab_size": len(vocab)},
        "results": results,
        "machine": machine(load_average) | {"load_average_at_end": list(os.getloadavg())}, "date": now(),
    }
    if args.note:
        record["note"] = args.note
    atomic_write_json(args.out, record)
    print(json.dumps(results, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
