#!/usr/bin/env python
"""Latency of the explorer (`textdeconv serve`) through HTTP: warm /api/explain on one sentence
with the deconvnet (targets: p50 <= 30 ms, p95 <= 100 ms on 2 CPU cores) and the time from
starting the server to its first answer (target <= 10 s).

    export TEXTDECONV_DATA=../shared/data/sst
    python bench/serve_latency.py                 # trains two models on 400 SST sentences first
    python bench/serve_latency.py --run RUN       # or measures a run you have

Without --run it measures two models trained for the bench from configs/tiny.yaml on 400 SST
sentences (2 epochs: latency depends on the model's size, not on how well it is trained):
"tiny" as tiny.yaml has it (widths 3/4/5, 8 filters each, 16-dim embedding) and "kim-size" with
Kim (2014)'s sizes (100 filters per width, 300-dim embedding), the size of the real SST models.

The server is a separate process (`python -m textdeconv serve --port 0`), as a user starts it;
every request goes to 127.0.0.1 over one keep-alive connection, as a browser sends them, and
their number is bounded (--requests). The sentences are SST dev sentences (a few fixed ones
without data), one per request, cycled. Writes bench/results/serve_latency.json.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import machine, now  # noqa: E402

TRAIN = ["data.train_on=sentences", "data.max_train=400", "data.max_eval=100", "train.epochs=2"]
MODELS = {"tiny": [], "kim-size": ["model.num_filters=100", "model.embedding_dim=300"]}
FALLBACK = ["a gripping , funny movie", "the plot is thin and the acting is dull", "warm and engaging",
            "it 's not a bad film , but it is not a good one either"]


def sentences(data_dir, n=50) -> list[str]:
    """The first ``n`` SST dev sentences (leaves of each tree), else a few fixed ones."""
    path = Path(data_dir or "") / "trees" / "dev.txt"
    if not data_dir or not path.is_file():
        return FALLBACK
    import re

    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[:n]:
        out.append(" ".join(re.findall(r"\(\d ([^()]+)\)", line)))
    return out


def train(run_dir: Path, data_dir, extra) -> str:
    cmd = [sys.executable, "-m", "textdeconv", "train", "--config", "tiny.yaml", "--run-dir", str(run_dir),
           "--offline", *[a for kv in TRAIN + extra + [f"data.dir={data_dir}"] for a in ("--set", kv)]]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return "python " + " ".join(cmd[1:])


def post(conn, body: bytes):
    conn.request("POST", "/api/explain", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"HTTP {r.status}: {data[:300]!r}")
    return json.loads(data)


def measure(run: Path, texts, requests: int, warmup: int) -> dict:
    """Start the server on ``run``, time its first answer, then ``requests`` warm ones."""
    t0 = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "textdeconv", "serve", "--run", str(run), "--port", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the server did not start: {server.stderr.read()}")
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")), timeout=60)
        bodies = [json.dumps({"texts": [t], "method": "deconv", "target": None}).encode() for t in texts]
        post(conn, bodies[0])
        first_answer = time.perf_counter() - t0
        for k in range(warmup):
            post(conn, bodies[k % len(bodies)])
        times = []
        for k in range(requests):
            t = time.perf_counter()
            post(conn, bodies[k % len(bodies)])
            times.append(time.perf_counter() - t)
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = sorted(1000 * t for t in times)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    return {"warm_latency_ms": {"p50": round(q[49], 2), "p95": round(q[94], 2), "p99": round(q[98], 2),
                                "mean": round(statistics.fmean(ms), 2), "min": round(ms[0], 2),
                                "max": round(ms[-1], 2), "requests": len(ms)},
            "start_to_first_answer_s": round(first_answer, 2),
            "model": {k: cfg["model"][k] for k in ("variant", "embedding_dim", "filter_sizes", "num_filters")},
            "config": cfg}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="a trained run directory (default: train the two bench models on SST)")
    p.add_argument("--requests", type=int, default=300, help="warm requests measured per model (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="requests sent before measuring (default 20)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve_latency.json"))
    args = p.parse_args()
    data_dir = os.environ.get("TEXTDECONV_DATA")
    if not args.run and not data_dir:
        raise SystemExit("set TEXTDECONV_DATA to the SST folder (e.g. ../shared/data/sst) or pass --run RUN")
    texts = sentences(data_dir)
    load_average = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {Path(args.run).name: (Path(args.run), None)} if args.run else {
            name: (Path(tmp) / name, extra) for name, extra in MODELS.items()}
        for name, (run, extra) in runs.items():
            trained = train(run, data_dir, extra) if extra is not None else None
            results[name] = measure(run, texts, args.requests, args.warmup)
            results[name]["run"] = f"trained for the bench (in a temporary folder): {trained}" if trained else str(run)
    result = {
        "models": results,
        "targets": {"p50_ms": 30, "p95_ms": 100, "start_to_first_answer_s": 10},
        "request": {"endpoint": "POST /api/explain", "method": "deconv", "sentences_per_request": 1,
                    "sentences": len(texts), "mean_tokens": round(statistics.fmean(len(t.split()) for t in texts), 1),
                    "connection": "one keep-alive HTTP/1.1 connection to 127.0.0.1",
                    "start_to_first_answer": "from starting `python -m textdeconv serve` to the first /api/explain "
                                             "answer (TensorFlow's import, loading, warm-up, the first request)"},
        "command": " ".join(([f"TEXTDECONV_DATA={data_dir}"] if data_dir else []) +
                            ["python bench/serve_latency.py", *sys.argv[1:]]),
        "machine": machine(load_average, tensorflow=False),
        "date": now(),
    }
    from textdeconv.files import atomic_write_json

    atomic_write_json(args.out, result)
    print(json.dumps({name: {"p50_ms": r["warm_latency_ms"]["p50"], "p95_ms": r["warm_latency_ms"]["p95"],
                             "start_to_first_answer_s": r["start_to_first_answer_s"]} for name, r in results.items()}))


if __name__ == "__main__":
    main()
