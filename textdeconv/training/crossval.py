"""k-fold cross-validation on a custom data set (Kim 2014: 10 folds where there is no test set).

``cross_validate(cfg, RUN)`` writes ``RUN/config.yaml`` (the config, classes and paths pinned), then
trains fold k into ``RUN/fold-k``, an ordinary run directory with ``data.fold = k`` whose test split
is the k-th stratified fold (``explain.py --run RUN/fold-3 --split test``), and finally ``RUN/cv.json``:
each fold's dev and test accuracy and their mean and sample standard deviation (ddof = 1).
"""
from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from textdeconv.config import Config, load_config, save_config
from textdeconv.data.splits import load_splits, pin
from textdeconv.errors import ConfigError, MissingFileError, OutputError
from textdeconv.files import atomic_write_json
from textdeconv.training.trainer import train


def fold_config(cfg: Config, fold: int) -> Config:
    return cfg.replace(data=dataclasses.replace(cfg.data, fold=fold))


def is_cv_run(run_dir: str | Path) -> bool:
    """True for a cross-validation folder (config.yaml with data.cv_folds, no state.json of its own)."""
    run_dir = Path(run_dir)
    if (run_dir / "state.json").exists() or not (run_dir / "config.yaml").is_file():
        return False
    data = load_config(run_dir / "config.yaml").data
    return data.cv_folds is not None and data.fold is None


def mean_sd(values) -> dict:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values)}


def cross_validate(cfg: Config | None, run_dir: str | Path, resume: bool = False, verbose="auto") -> dict:
    """Train every fold of ``cfg.data.cv_folds`` (or resume the unfinished ones); return cv.json's dict.

    Raises:
        ConfigError: data.cv_folds is not set, or data.fold is (cross_validate sets it).
        OutputError / MissingFileError: as train() does for a new or resumed run.
    """
    run_dir = Path(run_dir)
    if resume:
        if not is_cv_run(run_dir):
            raise MissingFileError(f"nothing to resume in {run_dir}: not a cross-validation run")
        cfg = load_config(run_dir / "config.yaml")
    else:
        if not cfg.data.cv_folds:
            raise ConfigError("cross-validation needs data.cv_folds (e.g. --cv 10)")
        if cfg.data.fold is not None:
            raise ConfigError("data.fold is set per fold by cross-validation; leave it null")
        if (run_dir / "config.yaml").exists():
            raise OutputError(f"{run_dir} already holds a run; pass --resume to continue it or pick another --run-dir")
        _, classes = load_splits(fold_config(cfg, 1).data)  # data errors before any fold starts
        cfg = cfg.replace(data=pin(cfg.data, classes))
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")

    k = cfg.data.cv_folds
    folds = []
    for fold in range(1, k + 1):
        fold_dir = run_dir / f"fold-{fold}"
        again = resume and (fold_dir / "state.json").is_file()
        if verbose != 0:
            print(f"fold {fold}/{k}: {fold_dir}")
        m = train(None if again else fold_config(cfg, fold), fold_dir, resume=again, verbose=verbose)
        folds.append({"fold": fold, "run": fold_dir.name, "dev_accuracy": m["dev"]["accuracy"],
                      "test_accuracy": m["test"]["accuracy"], "test_n": m["test"]["n"],
                      "best_epoch": m["best_epoch"]})
    summary = {"folds": k, "seed": cfg.data.seed, "classes": list(cfg.data.classes),
               "test_accuracy": mean_sd([f["test_accuracy"] for f in folds]),
               "dev_accuracy": mean_sd([f["dev_accuracy"] for f in folds]),
               "per_fold": folds}
    atomic_write_json(run_dir / "cv.json", summary)
    return summary
