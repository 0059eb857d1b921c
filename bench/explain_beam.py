#!/usr/bin/env python
"""A corpus explained on Apache Beam's DirectRunner against the single-machine stream.

    python bench/explain_beam.py --run runs/bench/sst-seed0 --sentences 200000 --files 8 --workers 1 2

Writes --sentences random lines (as bench/explain_stream.py draws them: 3-50 words from the run's
vocabulary, --seed) into --files gzip files, then explains them into Parquet three ways, each timed
end to end (reading, explaining, writing, moving the files into place), with the run loaded inside
the timing:
  stream            one process, ``explain --input ALL.txt --output x.parquet`` (ParquetJob) on the
                    same lines as one uncompressed file: the single-machine baseline
  beam-Nworkers     ``explain_corpus`` (``explain --runner beam``) on the gzip files with the
                    DirectRunner, --direct_num_workers N (multi_processing when N > 1: each worker
                    process loads the model once)
Every setting runs in a fresh process, so none inherits a warm TensorFlow. Sentences/s counts the
explained sentences. Writes bench/results/explain_beam.json (command, config, results, machine, date).
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402

CHILD = """
import sys, time, json
t0 = time.perf_counter()
from textdeconv.runtime import load_tensorflow
load_tensorflow()
kind, run, inputs, out, chunk, batch, workers = sys.argv[1:8]
if kind == "stream":
    from textdeconv.api import Run
    from textdeconv.reports.parquet import ParquetJob
    from textdeconv.reports.stream import job_settings
    job = ParquetJob(inputs, out, job_settings(run, "deconv", {}), chunk_lines=int(chunk), batch_size=int(batch))
    s = job.run(Run(run).explainer("deconv"))
    counts = {"sentences": s["sentences"], "rows": s["rows"]}
else:
    from textdeconv.reports.beam import explain_corpus
    args = ["--direct_num_workers", workers]
    if int(workers) > 1:
        args += ["--direct_running_mode", "multi_processing"]
    m = explain_corpus(run, inputs, out, chunk_lines=int(chunk), batch_size=int(batch), pipeline_args=args)
    counts = {"sentences": m["sentences"], "rows": m["rows"], "files": len(m["files"])}
print(json.dumps({"seconds": time.perf_counter() - t0, **counts}))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=str(ROOT / "runs" / "bench" / "sst-seed0"))
    p.add_argument("--sentences", type=int, default=200_000)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "explain_beam.json"))
    args = p.parse_args()

    from explain_stream import write_sentences

    from textdeconv.config import load_config
    from textdeconv.data.vocab import Vocab
    from textdeconv.files import atomic_write_json

    load_average = os.getloadavg()
    cfg = load_config(Path(args.run) / "config.yaml")
    vocab = Vocab.load(Path(args.run) / "vocab.txt", cfg.vocab.lowercase, cfg.vocab.clean)
    work = Path(tempfile.mkdtemp(prefix="explain_beam_"))
    try:
        whole = work / "all.txt"
        write_sentences(whole, vocab, args.sentences, args.seed, 3, 50)
        lines = whole.read_bytes().splitlines(keepends=True)
        corpus = work / "corpus"
        corpus.mkdir()
        per = -(-len(lines) // args.files)
        for k in range(args.files):
            with gzip.open(corpus / f"part-{k:03d}.txt.gz", "wb", compresslevel=6) as f:
                f.writelines(lines[k * per:(k + 1) * per])
        settings = [("stream", str(whole), "1")] + [(f"beam-{n}workers", str(corpus / "*.txt.gz"), str(n))
                                                   for n in args.workers]
        results = {}
        for name, inputs, workers in settings:
            out = work / ("stream.parquet" if name == "stream" else name)
            proc = subprocess.run([sys.executable, "-c", CHILD, name.split("-")[0], args.run, inputs, str(out),
                                   str(args.chunk_size), str(args.batch_size), workers],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["sentences_per_s"] = round(r["sentences"] / r["seconds"], 1)
            r["seconds"] = round(r["seconds"], 2)
            results[name] = r
            print(name, r, file=sys.stderr, flush=True)
            if out.is_dir():
                shutil.rmtree(out)
            elif out.exists():
                out.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = results["stream"]["sentences_per_s"]
    for r in results.values():
        r["speed_vs_stream"] = round(r["sentences_per_s"] / base, 2)
    record = {"command": "python bench/explain_beam.py " + " ".join(sys.argv[1:]),
              "config": {"run": args.run, "sentences": args.sentences, "files": args.files, "gzip": True,
                         "workers": args.workers, "method": "deconv", "chunk_size": args.chunk_size,
                         "batch_size": args.batch_size, "seed": args.seed},
              "results": results,
              "machine": machine(load_average) | {"load_average_at_end": list(os.getloadavg())}, "date": now()}
    atomic_write_json(args.out, record)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
