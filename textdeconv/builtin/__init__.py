"""Models shipped inside the package, named ``builtin:NAME`` wherever a run directory is taken.

``builtin:sst2`` is a small SST-2 CNN-rand run (config, vocabulary, weights without optimizer
state), so that ``textdeconv explain "a gripping , funny movie"`` works straight after
``pip install``. Its files are read, never written: commands that write a run's reports by default
write a bundled model's under ``./runs/builtin-NAME`` instead (``report_home``). No TensorFlow here.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from textdeconv.errors import MissingFileError

PREFIX = "builtin:"
DEFAULT = "sst2"


def names() -> list[str]:
    """The bundled models' names (the folders beside this module that hold a model)."""
    root = Path(str(resources.files(__name__)))
    return sorted(p.parent.name for p in root.glob("*/model.keras"))


def is_builtin(run) -> bool:
    """``run`` is a string of the form ``builtin:NAME``."""
    return isinstance(run, str) and run.startswith(PREFIX)


def builtin_dir(spec: str) -> Path:
    """The folder of ``builtin:NAME`` (or plain ``NAME``).

    Raises:
        MissingFileError: no bundled model of that name (lists the ones there are).
    """
    name = spec[len(PREFIX):] if is_builtin(spec) else spec
    path = Path(str(resources.files(__name__))) / name
    if not name or "/" in name or "\\" in name or not (path / "model.keras").is_file():
        have = ", ".join(PREFIX + n for n in names()) or "none"
        raise MissingFileError(f"no bundled model {spec!r}; bundled: {have}")
    return path


def builtin_name(run_dir: str | Path) -> str | None:
    """``builtin:NAME`` when ``run_dir`` is a bundled model's folder, else None."""
    path = Path(run_dir).resolve()
    root = Path(str(resources.files(__name__))).resolve()
    return PREFIX + path.name if path.parent == root and (path / "model.keras").is_file() else None


def report_home(run_dir: str | Path) -> Path:
    """Where a command writes a run's reports by default: the run directory itself, or for a
    bundled model (inside the installed package) ``./runs/builtin-NAME`` of the working directory."""
    name = builtin_name(run_dir)
    return Path("runs") / name.replace(":", "-") if name else Path(run_dir)


def card(name: str = DEFAULT) -> dict:
    """The bundled model's card: how it was trained (command, config, seed) and what it scored."""
    return json.loads((builtin_dir(name) / "card.json").read_text(encoding="utf-8"))
