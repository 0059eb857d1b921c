#!/usr/bin/env python
"""How far fine-tuning moved a pretrained embedding table: initial vs trained (model.keras) rows.

    python bench/embedding_drift.py runs/bench/sst-nonstatic_model.vectors_std-null-seed0 \
        runs/bench/sst-nonstatic-seed0

For each run directory, the initial table is rebuilt exactly as training built it
(embeddings.initial_table with the run's config) and compared with the trained one: sd of the
table at the start, RMS change per value, and the change relative to the table,
||E_final - E_init|| / ||E_init||.
Writes bench/results/embedding_drift.json.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402

from textdeconv.cli import run_main  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories of non-static or multichannel training")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "embedding_drift.json"))
    args = p.parse_args()

    import numpy as np

    from textdeconv.files import atomic_write_json
    from textdeconv.model.embeddings import initial_table
    from textdeconv.training.rundir import read_run

    rows = []
    for run in args.runs:
        cfg, vocab, net, _ = read_run(run)
        if cfg.model.variant not in ("non-static", "multichannel"):
            raise ValueError(f"{run}: model.variant={cfg.model.variant} has no fine-tuned table")
        init, _ = initial_table(cfg, vocab)
        final = net.model.get_layer("embedding").embeddings.numpy()
        delta = final - init
        rows.append({"run": run, "vectors_std": cfg.model.vectors_std,
                     "init_sd": round(float(init[1:].std()), 4),
                     "rms_change": round(float(np.sqrt((delta ** 2).mean())), 4),
                     "relative_change": round(float(np.linalg.norm(delta) / np.linalg.norm(init)), 4)})
        print(json.dumps(rows[-1]), flush=True)
    command = "python bench/embedding_drift.py " + " ".join(sys.argv[1:])
    atomic_write_json(Path(args.out), {"runs": rows, "command": command,
                                       "machine": machine(tensorflow=True), "date": now()})


if __name__ == "__main__":
    run_main(main)
