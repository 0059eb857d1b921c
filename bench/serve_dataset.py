#!/usr/bin/env python
"""Latency of the explorer's data set view (issue 37) through HTTP on the SST-2 test split (1,821
sentences): the first /api/dataset (reads the trees and predicts every row, then cached), warm
pages and slices, aggregate salience of the whole split and of its errors, the projector, and
counterfactuals of one sentence; plus the first filter card (issue 37's D13: the filter
dictionary of the train split, built on the first card asked for) and start-up: from launching
`python -m textdeconv serve` (a separate process, as a user starts it) to the URL printed and to the
page's first answer, beside a bare `import tensorflow` in a fresh process (the share no code of
ours can remove); the median of --starts launches.

    export TEXTDECONV_DATA=../shared/data/sst
    python bench/serve_dataset.py                  # the bundled builtin:sst2 model
    python bench/serve_dataset.py --run RUN

The explorer runs in this process (``ServerThread``, uvicorn in a thread, as the tests and the
screenshots start it); requests go to 127.0.0.1 over one keep-alive connection, their number is
bounded (--requests). The accuracy the view reports on the whole split is recorded beside the
model card's test accuracy (the same sentences and model: they must agree). Writes
bench/results/serve_dataset.json.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import machine, now  # noqa: E402

SLICES = {"page of 50": {}, "search 'good'": {"search": "good"}, "errors by loss": {"correct": False, "sort": "loss",
                                                                                   "descending": True},
          "confusion cell": {"gold": "negative", "predicted": "positive"}, "word 'not', 10-20 tokens":
          {"word": "not", "min_length": 10, "max_length": 20}}
SENTENCE = "the plot is thin and the acting is dull , but it 's a charming film"


def post(conn, path, body) -> tuple[float, dict]:
    t0 = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = json.loads(r.read())
    ms = 1000 * (time.perf_counter() - t0)
    if r.status != 200:
        raise SystemExit(f"{path}: {r.status} {data}")
    return ms, data


def get(conn, path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    data = json.loads(r.read())
    if r.status != 200:
        raise SystemExit(f"{path}: {r.status} {data}")
    return 1000 * (time.perf_counter() - t0), data


def pcts(times) -> dict:
    times = sorted(times)
    return {"p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 2), "requests": len(times)}


def start_up(run: str, starts: int) -> dict:
    """Median seconds from launching ``python -m textdeconv serve`` to its URL on stdout and to the
    answer to ``GET /``, and of a bare ``import tensorflow`` in a fresh process."""
    runs, imports = [], []
    for _ in range(starts):
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "textdeconv", "serve", "--run", run, "--port", "0"],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            t_url = time.perf_counter() - t0
            if not url.startswith("http://127.0.0.1:"):
                raise SystemExit(f"the server did not start: {server.stderr.read()}")
            conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")), timeout=60)
            conn.request("GET", "/")
            page = conn.getresponse()
            page.read()
            if page.status != 200:
                raise SystemExit(f"GET / answered {page.status}")
            runs.append((t_url, time.perf_counter() - t0))
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
        imports.append(time.perf_counter() - t0)
    return {"start_to_url_s": round(statistics.median(u for u, _ in runs), 2),
            "start_to_page_s": round(statistics.median(p for _, p in runs), 2),
            "tensorflow_import_s": round(statistics.median(imports), 2), "starts": starts,
            "each_start_to_url_s": [round(u, 2) for u, _ in runs]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="builtin:sst2")
    p.add_argument("--requests", type=int, default=30, help="warm requests per measurement (default 30)")
    p.add_argument("--starts", type=int, default=3, help="server launches timed for start-up (default 3)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve_dataset.json"))
    args = p.parse_args()
    load = os.getloadavg()
    start = start_up(args.run, args.starts) | {"load_average_before": list(load)}
    from textdeconv.api import load_run
    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    run = load_run(args.run)
    explorer = Explorer([run])
    t0 = time.perf_counter()
    explorer.warm_up()
    warm_s = time.perf_counter() - t0
    out = {"command": "python bench/serve_dataset.py" + ("" if args.run == "builtin:sst2" else f" --run {args.run}"),
           "date": now(), "machine": machine(load), "run": run.name, "split": "test", "start": start,
           "warm_up_s": round(warm_s, 2)}
    with ServerThread(explorer) as url:
        host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        ms, first = post(conn, "/api/dataset", {"split": "test"})
        out["rows"] = first["total"]
        out["first_dataset_ms"] = round(ms, 1)
        out["accuracy"] = first["metrics"]["accuracy"]
        card = Path(run.path) / "card.json"  # the bundled models carry one
        out["card_test_accuracy"] = json.loads(card.read_text()).get("test_accuracy") if card.is_file() else None
        out["warm"] = {}
        for name, body in SLICES.items():
            times = [post(conn, "/api/dataset", {"split": "test", **body})[0] for _ in range(args.requests)]
            out["warm"][name] = pcts(times) | {"matched": post(conn, "/api/dataset", {"split": "test", **body})[1]
                                               ["matched"]}
        out["aggregate"] = {}
        for name, body in (("whole split", {}), ("errors", {"correct": False})):
            ms, res = post(conn, "/api/aggregate", {"split": "test", "method": "deconv", **body})
            out["aggregate"][name] = {"ms": round(ms, 1), "sentences": res["sentences"], "tokens": res["tokens"]}
        ms, res = post(conn, "/api/projection", {"split": "test"})
        out["projection"] = {"first_ms": round(ms, 1), "points": len(res["points"]),
                             "explained_variance": res["explained_variance"]}
        out["projection"]["warm"] = pcts([post(conn, "/api/projection", {"split": "test"})[0]
                                          for _ in range(max(3, args.requests // 5))])
        post(conn, "/api/counterfactuals", {"text": SENTENCE})  # builds nothing new: deconv is warm
        times = []
        for _ in range(args.requests):
            ms, res = post(conn, "/api/counterfactuals", {"text": SENTENCE})
            times.append(ms)
        out["counterfactuals"] = pcts(times) | {"sentence": SENTENCE, "candidates": len(res["counterfactuals"]),
                                                "flips": res["flips"]}
        widths = run.net.widths
        load_card = os.getloadavg()
        ms, res = get(conn, f"/api/filter-card?run=0&width={widths[0]}&filter=0")
        out["first_filter_card"] = {"ms": round(ms, 1), "sentences_scanned": res["sentences_scanned"],
                                    "load_average_before": list(load_card)}
        out["next_filter_card_ms"] = round(get(conn, f"/api/filter-card?run=0&width={widths[-1]}&filter=1")[0], 2)
        conn.close()
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
