#!/usr/bin/env python
"""Cold-start latency of `scripts/explain.py` on one sentence (target: <= 6 s on 2 CPU cores).

    python bench/explain_latency.py --run runs/bench/sst-seed0 --repeats 5

Each repeat is a fresh Python process, as a user would start it. Also timed: the README's first
command, `textdeconv explain SENTENCE` in an empty folder (the bundled model builtin:sst2, found
with no run), a bare `import tensorflow` and the TensorFlow-free part of the start-up, to show
where the time goes. Writes bench/results/explain_latency.json.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402


def timed(cmd, cwd=ROOT) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr}")
    return elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sentence", default="a gripping , funny movie")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "explain_latency.json"))
    args = p.parse_args()

    explain = [sys.executable, "scripts/explain.py", "--run", args.run, args.sentence]
    first = [sys.executable, "-m", "textdeconv", "explain", args.sentence]  # the README's first command
    tf_import = [sys.executable, "-c", "import tensorflow"]
    light = [sys.executable, "-c", "import textdeconv.api, textdeconv.data.vocab, textdeconv.reports.stream, pandas"]
    empty = Path(tempfile.mkdtemp(prefix="textdeconv-first-"))  # no ./runs: the bundled model
    env_root = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    os.environ["PYTHONPATH"] = env_root  # the checkout's package, also from the empty folder
    timed(explain)  # warm the OS file cache once; every measured run is still a new process
    timed(first, cwd=empty)
    load_average = os.getloadavg()
    rows = {name: [round(timed(cmd, cwd), 3) for _ in range(args.repeats)]
            for name, cmd, cwd in (("explain_one_sentence", explain, ROOT), ("first_command", first, empty),
                                   ("import_tensorflow", tf_import, ROOT), ("import_without_tensorflow", light, ROOT))}
    if any(empty.iterdir()):
        raise SystemExit(f"the first command wrote into {empty}: {sorted(p.name for p in empty.iterdir())}")
    empty.rmdir()
    import json

    from textdeconv.files import atomic_write_json

    result = {name: {"median_s": round(statistics.median(v), 3), "runs_s": v} for name, v in rows.items()}
    result["target_s"] = 6.0
    result["command"] = "python bench/explain_latency.py " + " ".join(sys.argv[1:])
    result["machine"], result["date"] = machine(load_average, tensorflow=False), now()
    atomic_write_json(args.out, result)
    print(json.dumps({k: v["median_s"] for k, v in result.items() if isinstance(v, dict) and "median_s" in v}))


if __name__ == "__main__":
    main()
