"""Run directories: where they live, what they must hold, their config, the plot of their training
curves, and reading one back (``read_run``).

Everything but ``read_run`` works without TensorFlow, so a command validates a run (and a
requested target class) before paying for TensorFlow's import.
"""
from __future__ import annotations

import os
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from textdeconv.config import Config, load_config
from textdeconv.data.splits import class_names
from textdeconv.errors import DataError, InputError, MissingFileError

RUNS_DIR = Path("runs")  # of the working directory, never of the installed package
RUN_FILES = ("config.yaml", "vocab.txt", "model.keras")
WRITTEN = (*RUN_FILES, "metrics.csv", "metrics.json", "state.json", "curves.png", "cv.json")  # what training writes


def default_run_dir(config_name: str) -> Path:
    return RUNS_DIR / f"{Path(config_name).stem}-{datetime.now():%Y%m%d-%H%M%S}"


def data_inputs(plan, cfg: Config) -> None:
    """Declare the data files a config reads as inputs of an ``outputs.OutputPlan``: custom
    data.train/dev/test, the SST tree files (where they are found) and the vectors file."""
    from textdeconv.data.custom import data_files, file_format
    from textdeconv.data.download import find_tree_dir, resolve_data_dir

    d = cfg.data
    if d.dataset == "custom":
        for key in ("train", "dev", "test"):
            if getattr(d, key):
                for file, _ in data_files(getattr(d, key), file_format(getattr(d, key), d.format)):
                    plan.read(f"a data file (data.{key})", file)
    else:
        tree_dir = find_tree_dir(resolve_data_dir(d.dir))
        for name in ("train", "dev", "test") if tree_dir is not None else ():
            plan.read(f"the SST {name} trees", tree_dir / f"{name}.txt")
    if cfg.model.vectors and Path(cfg.model.vectors).expanduser().exists():
        plan.read("the model.vectors file", Path(cfg.model.vectors).expanduser())


def run_inputs(plan, run_dir, cfg: Config | None = None) -> None:
    """Declare a run's files (config.yaml, vocab.txt, model.keras) and, given its config, its data
    files as inputs of an ``outputs.OutputPlan``: no command may write over them."""
    for name in RUN_FILES:
        plan.read(f"the run's {name}", Path(run_dir) / name)
    if cfg is not None:
        data_inputs(plan, cfg)


def check_new_run_dir(run_dir, cfg: Config, config_path=None, option: str = "--run-dir") -> None:
    """Check, before training starts, that a new run can be written into ``run_dir``: it is no
    file and holds no run, none of the files training writes there is an input (the config file,
    the data files, the vectors file), and it can be created (``textdeconv.outputs``).

    Raises:
        OutputError: one line naming ``option``.
    """
    from textdeconv.outputs import OutputPlan

    plan = OutputPlan()
    if config_path is not None:
        plan.read("the --config file", config_path)
    data_inputs(plan, cfg)
    plan.folder(option, run_dir, WRITTEN, stage=False)
    plan.check()
    check_run_dir_is_ours(run_dir, option)


def check_run_dir_is_ours(run_dir, option: str = "--run-dir") -> None:
    """A new run goes into a new or empty folder only: a folder holding a run is resumed (or
    refused), and one holding anything else is the user's, never written into.

    Raises:
        OutputError: one line naming ``option`` and what the folder holds.
    """
    from textdeconv.errors import OutputError

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    if (run_dir / "state.json").exists() or (run_dir / "config.yaml").is_file() and any(run_dir.glob("fold-*")):
        raise OutputError(f"{run_dir} already holds a run; pass --resume to continue it or pick another {option}")
    held = sorted(os.listdir(run_dir))
    if held:
        shown = ", ".join(held[:3]) + (f", ... ({len(held)} entries)" if len(held) > 3 else "")
        raise OutputError(f"{option} {run_dir} is not empty and holds no run ({shown}); a new run goes into a new or "
                          "empty folder, so pick another one")


def latest_run(root: Path = RUNS_DIR) -> Path:
    """The run under ``root`` whose model.keras was written last."""
    runs = sorted(root.glob("**/model.keras"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not runs:
        raise MissingFileError(f"no trained run under {root}; train one (textdeconv train --config sst.yaml) "
                               "or pass --run RUN_DIR")
    return runs[-1].parent


def pick_run(run: str | Path | None) -> tuple[Path, Config, tuple[str, ...]]:
    """The run a script was given, checked: ``(run_dir, config, class_names)``.

    ``builtin:NAME`` names a model shipped with the package (``textdeconv.builtin``). Without a
    run, the latest under ./runs is used, or the bundled ``builtin:sst2`` when ./runs holds none;
    either is named on stderr."""
    from textdeconv import builtin

    if builtin.is_builtin(run):
        run_dir = builtin.builtin_dir(run)
    elif run:
        run_dir = Path(run)
    else:
        try:
            run_dir = latest_run()
            print(f"using run: {run_dir}", file=sys.stderr)
        except MissingFileError:  # ./runs holds no trained run
            run_dir = builtin.builtin_dir(builtin.DEFAULT)
            print(f"using the bundled model {builtin.PREFIX}{builtin.DEFAULT} (no run under {RUNS_DIR}/; "
                  "--run RUN_DIR picks one of yours)", file=sys.stderr)
    return (run_dir, *check_run_dir(run_dir))


def check_run_dir(run_dir: str | Path) -> tuple[Config, tuple[str, ...]]:
    """Check a run directory holds every file and return ``(config, class_names)``.

    Raises:
        MissingFileError: the folder or a file is missing (names which).
        ConfigError: the saved config is invalid.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise MissingFileError(f"{run_dir} is a file, not a run directory; pass the folder that holds config.yaml, "
                               "vocab.txt and model.keras")
    if not run_dir.is_dir():
        raise MissingFileError(f"run directory not found: {run_dir}")
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        folds = " (it holds cross-validation folds: pass RUN/fold-K)" if (run_dir / "fold-1").is_dir() else ""
        raise MissingFileError(f"{run_dir} is not a finished run: missing {', '.join(missing)}{folds}")
    cfg = load_config(run_dir / "config.yaml")
    return cfg, class_names(cfg.data)


CURVES = (("loss", "loss"), ("accuracy", "accuracy"))  # (panel, metric): train = metric, dev = val_<metric>


def plot_training_curves(run_dir: str | Path, path: str | Path | None = None) -> dict:
    """Plot a run's metrics.csv (loss and accuracy per epoch, train and dev) as a PNG, atomically.

    Args:
        run_dir: any run directory holding metrics.csv (finished or not).
        path: the PNG (default: ``run_dir/curves.png``).
    Returns:
        what was drawn: ``{"loss": (epochs, values), "val_loss": ..., "accuracy": ..., "val_accuracy": ...}``
        (numpy arrays; a metric missing from the CSV is left out).
    Raises:
        MissingFileError: no metrics.csv; DataError: it has no epoch rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from textdeconv.files import atomic_path

    run_dir = Path(run_dir)
    csv = run_dir / "metrics.csv"
    if not csv.is_file():
        raise MissingFileError(f"{csv} not found: the run has not finished an epoch yet")
    try:
        frame = pd.read_csv(csv)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        frame = pd.DataFrame()
    if frame.empty or "epoch" not in frame:
        raise DataError(f"{csv} holds no epochs")
    drawn = {}
    fig, axes = plt.subplots(1, len(CURVES), figsize=(10, 3.8))
    for ax, (panel, metric) in zip(axes, CURVES):
        for key, label in ((metric, "train"), (f"val_{metric}", "dev")):
            if key in frame:
                (line,) = ax.plot(frame["epoch"], frame[key], marker="o", label=label)
                drawn[key] = (np.asarray(line.get_xdata()), np.asarray(line.get_ydata()))
        if "val_accuracy" in frame:  # model.keras is the best-on-dev epoch
            ax.axvline(frame["epoch"][frame["val_accuracy"].idxmax()], color="grey", linestyle=":", label="best dev")
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    with atomic_path(path or run_dir / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return drawn


def read_run(run_dir: str | Path):
    """Load ``(config, vocab, TextCNN, class_names)`` from a run directory, safely.

    Raises:
        MissingFileError: the folder or one of its files is missing (names which).
        ConfigError: config.yaml is invalid; DataError: another file is corrupt or they do not match.
    """
    import keras

    from textdeconv.data.vocab import Vocab
    from textdeconv.model.textcnn import TextCNN

    run_dir = Path(run_dir)
    cfg, class_names = check_run_dir(run_dir)
    vocab = Vocab.load(run_dir / "vocab.txt", cfg.vocab.lowercase, cfg.vocab.clean)
    path = run_dir / "model.keras"
    corrupt = f"{path} could not be loaded: the file is corrupt or was not written by textdeconv"
    again = "train the run again, or restore the file"
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a file that is there
        raise DataError(f"{corrupt} (not a zip archive, which a .keras file is); {again}")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # Keras raises several types for damaged archives
        from textdeconv.runtime import keras_error

        raise DataError(f"{corrupt} ({keras_error(e)}); {again}") from None
    try:
        net = TextCNN(model)
    except InputError as e:
        raise DataError(f"{path}: {e}") from None
    if net.tables[0].input_dim != len(vocab):
        raise DataError(f"{run_dir}: vocab.txt has {len(vocab)} entries but the model's embedding has "
                         f"{net.tables[0].input_dim}; the files come from different runs")
    check_model_matches(cfg, net, class_names, run_dir)
    from textdeconv.data.download import relocated

    return cfg.replace(data=relocated(cfg.data)), vocab, net, class_names


def check_model_matches(cfg: Config, net, class_names, run_dir) -> None:
    """The run's config.yaml describes its model.keras: embedding size, filter widths and count,
    variant (channels) and classes. A config edited by hand, or files from two runs, would otherwise
    be explained silently with the wrong settings.

    Raises:
        DataError: names each disagreement.
    """
    m = cfg.model
    found = {"model.embedding_dim": (m.embedding_dim, net.dim),
             "model.filter_sizes": (sorted(m.filter_sizes), sorted(net.widths)),
             "model.num_filters": (m.num_filters, int(net.convs[0].filters)),
             "model.variant": (2 if m.variant == "multichannel" else 1, net.channels),
             "classes": (len(class_names), net.num_classes)}
    wrong = [f"{k} {said} vs {has}" if k != "model.variant" else f"model.variant {m.variant} vs {has} embedding "
             f"table(s)" for k, (said, has) in found.items() if said != has]
    if wrong:
        raise DataError(f"{run_dir}: config.yaml does not describe model.keras ({'; '.join(wrong)}: config vs "
                        "model); the files come from different runs, or config.yaml was edited: restore it")
