"""Run directories without TensorFlow: where they live, what they must hold, their config.

Used by the scripts to validate a run (and a requested target class) before paying for
TensorFlow's import; loading the model itself is ``textdeconv.train.load_run``.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textdeconv.config import PROJECT_ROOT, Config, load_config
from textdeconv.data import CLASS_NAMES

RUNS_DIR = PROJECT_ROOT / "runs"
RUN_FILES = ("config.yaml", "vocab.txt", "model.keras")


def default_run_dir(config_name: str) -> Path:
    return RUNS_DIR / f"{Path(config_name).stem}-{datetime.now():%Y%m%d-%H%M%S}"


def latest_run(root: Path = RUNS_DIR) -> Path:
    """The run under ``root`` whose model.keras was written last."""
    runs = sorted(root.glob("**/model.keras"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not runs:
        raise FileNotFoundError(f"no trained run under {root}; train one (python scripts/train.py --config "
                                "sst.yaml) or pass --run RUN_DIR")
    return runs[-1].parent


def check_run_dir(run_dir: str | Path) -> tuple[Config, tuple[str, ...]]:
    """Check a run directory holds every file and return ``(config, class_names)``.

    Raises:
        FileNotFoundError: the folder or a file is missing (names which).
        ValueError: the saved config is invalid.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir} is not a finished run: missing {', '.join(missing)}")
    cfg = load_config(run_dir / "config.yaml")
    return cfg, CLASS_NAMES[cfg.data.dataset]
