#!/usr/bin/env python
"""Train a config with several seeds; record per-seed and mean +- sd dev/test accuracy.

    python bench/accuracy.py --config sst.yaml --seeds 0 1 2
    python bench/accuracy.py --config sst5.yaml --seeds 0 1 2

Each config's entry is merged into bench/results/accuracy.json (keyed by config name and any
--set overrides). Finished seed runs under runs/bench/ are reused, interrupted ones resumed.

    python bench/accuracy.py --config sst.yaml --seeds 0 1 2 --extend sst --set train.patience=0

--extend NAME continues the finished runs runs/bench/NAME-seedS (copied first) under the --set
overrides; only train.* keys other than evals_per_epoch may change (others must repeat the
extended run's values): with train.patience=0, Kim's fixed 25 epochs instead of early stopping.
The continued run's first epochs are the original run's; later ones are those the original run would have
trained next (pass p is shuffled by (seed, p)) if the overrides leave batch_size alone.
Continuing needs the run's last checkpoint, which a finished run keeps only with
train.keep_checkpoints: true: runs trained here set it (it does not change the results), an
extended run keeps it too, and a run without its checkpoints is refused.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import machine, now  # noqa: E402

from textdeconv.cli import run_main  # noqa: E402

KEEP = "train.keep_checkpoints=true"  # a finished run stays extendable (--extend needs its last checkpoint)


def extend(src: Path, dst: Path, overrides) -> None:
    """Copy the finished run ``src`` to ``dst`` with ``overrides`` in its config, ready to --resume."""
    import shutil

    from textdeconv.config import load_config, save_config
    from textdeconv.errors import InputError, MissingFileError
    from textdeconv.files import atomic_write_json

    if not (src / "metrics.json").is_file():
        raise MissingFileError(f"{src}: no finished run to extend")
    before, after = load_config(src / "config.yaml").to_dict(), load_config(src / "config.yaml", overrides).to_dict()
    changed = [f"{section}.{key}" for section in ("data", "vocab", "model") for key in before[section]
               if before[section][key] != after[section][key]]
    if changed:
        raise InputError(f"--extend continues a trained model: only train.* keys can change, "
                         f"but {', '.join(changed)} differ from {src.name}'s config")
    if before["train"]["evals_per_epoch"] != after["train"]["evals_per_epoch"]:
        raise InputError("--extend cannot change train.evals_per_epoch: the run's finished evaluations "
                         "would be counted as passes of another size")
    state = json.loads((src / "state.json").read_text())
    if not (src / "checkpoints" / str(state.get("checkpoint"))).is_file():
        raise MissingFileError(f"{src}: its last checkpoint (checkpoints/{state.get('checkpoint')}) is gone: a "
                               "finished run keeps it only with train.keep_checkpoints: true, so it cannot be "
                               "continued; train it again with this script (which sets it) and extend that")
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    save_config(load_config(src / "config.yaml", [*overrides, KEEP]), tmp / "config.yaml")
    state = json.loads((tmp / "state.json").read_text())
    atomic_write_json(tmp / "state.json", state | {"finished": False, "wait": 0})
    (tmp / "metrics.json").unlink()
    tmp.rename(dst)


def check_same_config(run_dir: Path, cfg) -> None:
    """Refuse to reuse ``run_dir`` when it was trained under another model/vocab/train config (a
    shipped config changed since): the benchmark would silently report the old run.
    (train.keep_checkpoints changes no result: runs trained before it existed are reused.)"""
    from textdeconv.config import load_config

    saved = load_config(run_dir / "config.yaml").to_dict()
    wanted = cfg.to_dict()
    diff = [f"{section}.{key}: {saved[section].get(key)!r} there, {value!r} now"
            for section in ("vocab", "model", "train") for key, value in wanted[section].items()
            if saved[section].get(key) != value and f"{section}.{key}" != "train.keep_checkpoints"]
    if diff:
        raise ValueError(f"{run_dir} was trained with another config ({'; '.join(diff)}); move it away "
                         "to train this config anew")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--extend", metavar="NAME", help="continue the finished runs runs/bench/NAME-seedS instead of "
                                                    "training anew (--set: train.* keys only)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "accuracy.json"))
    args = p.parse_args()

    import numpy as np

    from textdeconv.config import load_config
    from textdeconv.training.trainer import train

    name = Path(args.config).stem + "".join(f" {s}" for s in args.set)
    name += f" (extending {args.extend})" if args.extend else ""
    per_seed = []
    load_average = os.getloadavg()

    def record():
        acc = np.array([r["test_accuracy"] for r in per_seed]) * 100
        dev = np.array([r["dev_accuracy"] for r in per_seed]) * 100
        entry = {
            "test_accuracy_mean": round(float(acc.mean()), 2), "test_accuracy_sd":
                round(float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, 2),
            "dev_accuracy_mean": round(float(dev.mean()), 2),
            "seconds_per_epoch_mean": round(float(np.mean([r["seconds_per_epoch"] for r in per_seed])), 1),
            "train_minutes_mean":
                round(float(np.mean([r["seconds_per_epoch"] * r["epochs_run"] for r in per_seed])) / 60, 1),
            "per_seed": per_seed,
            "config": cfg.to_dict() | {"train": cfg.to_dict()["train"] | {"seed": [r["seed"] for r in per_seed]}},
            "command": "python bench/accuracy.py " + " ".join(sys.argv[1:]),
            "machine": machine(load_average), "date": now(),
        }
        out = Path(args.out)
        results = json.loads(out.read_text()) if out.exists() else {}
        results[name] = entry
        from textdeconv.files import atomic_write_json

        atomic_write_json(out, results)
        print(f"{name}: test accuracy {entry['test_accuracy_mean']:.2f} +- {entry['test_accuracy_sd']:.2f} -> {out}")

    for seed in args.seeds:
        cfg = load_config(args.config, args.set + [f"train.seed={seed}", KEEP])
        slug = name.replace(" ", "_").replace("=", "-").replace("(", "").replace(")", "")
        run_dir = ROOT / "runs" / "bench" / f"{slug}-seed{seed}"
        if args.extend and not run_dir.exists():
            extend(ROOT / "runs" / "bench" / f"{args.extend}-seed{seed}", run_dir, args.set)
        resume = (run_dir / "state.json").exists()
        if resume:
            check_same_config(run_dir, cfg)
        t0 = time.time()
        m = train(cfg, run_dir, resume=resume, verbose=2)
        per_seed.append({"seed": seed, "test_accuracy": m["test"]["accuracy"], "dev_accuracy": m["dev"]["accuracy"],
                         "test_macro_f1": m["test"]["macro_f1"], "best_epoch": m["best_epoch"],
                         "epochs_run": m["epochs_run"], "seconds_per_epoch": m["seconds_per_epoch"],
                         "wall_seconds_this_invocation": round(time.time() - t0, 1),
                         "load_average_after": [round(x, 2) for x in os.getloadavg()],
                         "run_dir": str(run_dir.relative_to(ROOT))})
        print(json.dumps(per_seed[-1]), flush=True)
        record()  # after every seed, so an interrupted benchmark still leaves its finished seeds


if __name__ == "__main__":
    run_main(main)
