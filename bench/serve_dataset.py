#!/usr/bin/env python
"""Latency of the explorer's data set view (issue 37) through HTTP on the SST-2 test split (1,821
sentences): the first /api/dataset (reads the trees and predicts every row, then cached), warm
pages and slices, aggregate salience of the whole split and of its errors, the projector, and
counterfactuals of one sentence; plus the first filter card (issue 37's D13: the filter
dictionary of the train split, built on the first card asked for).

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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="builtin:sst2")
    p.add_argument("--requests", type=int, default=30, help="warm requests per measurement (default 30)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve_dataset.json"))
    args = p.parse_args()
    load = os.getloadavg()
    from textdeconv.api import load_run
    from textdeconv.serve.explorer import Explorer
    from textdeconv.serve.server import ServerThread

    run = load_run(args.run)
    explorer = Explorer([run])
    t0 = time.perf_counter()
    explorer.warm_up()
    warm_s = time.perf_counter() - t0
    out = {"command": "python bench/serve_dataset.py" + ("" if args.run == "builtin:sst2" else f" --run {args.run}"),
           "date": now(), "machine": machine(load), "run": run.name, "split": "test", "warm_up_s": round(warm_s, 2)}
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
        ms, res = get(conn, f"/api/filter-card?run=0&width={widths[0]}&filter=0")
        out["first_filter_card"] = {"ms": round(ms, 1), "sentences_scanned": res["sentences_scanned"],
                                    "load_average_before": list(load)}
        out["next_filter_card_ms"] = round(get(conn, f"/api/filter-card?run=0&width={widths[-1]}&filter=1")[0], 2)
        conn.close()
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
