"""Training the models the ground-truth studies need (planted triggers, words removed, labels
permuted): SST-2 sentence splits changed in memory, written as JSONL and trained as ordinary
runs with ``trainer.train``, so every study model is a run directory ``textdeconv explain`` opens.

A study model lives in ``RUNS/<name>/``: ``data/{train,dev,test}.jsonl``, ``model/`` (the run),
``fingerprint.txt`` (a hash of the data and the config: a folder holding another model is refused,
never overwritten) and ``timing.json`` (the wall seconds its training took, so a reused model
still reports its cost). A finished model is reused, an interrupted one resumed.

The JSONL text is the tokens joined by spaces; reading it tokenizes again, which splits 12 of the
9,613 SST-2 sentences differently (``!?`` -> ``! ?``, ``gonna`` -> ``gon na``). Accuracies are
therefore computed here on the token lists in memory (``accuracy``), not read from metrics.json.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from textdeconv.config import Config, DataConfig, load_config
from textdeconv.data.splits import load_splits
from textdeconv.errors import ConfigError, OutputError

DEFAULT_CONFIG = "sst.yaml"
# Kim's CNN-rand as shipped, trained on sentences for at most 10 epochs (early stopping after 3
# without a better dev accuracy): a planted model or a retrain costs a minute or two on a CPU
STUDY_OVERRIDES = ("train.epochs=10", "train.patience=3", "train.tensorboard=false")


def study_config(config: str = DEFAULT_CONFIG, overrides=(), study: str = "ground-truth") -> Config:
    """The config every study model is trained with: ``config`` under ``STUDY_OVERRIDES`` and then
    ``overrides``. Raises ConfigError unless it is an SST-2 config (the studies plant and remove
    words in SST-2 sentences), blaming the option that set data.dataset, else the file; ``study``
    names the study in the message. ``data.train_on`` is ``sentences``, what every study model is
    trained on (``sentence_splits``), so the config a results file records says so."""
    cfg = load_config(config, [*STUDY_OVERRIDES, *overrides])
    cfg = cfg.replace(data=dataclasses.replace(cfg.data, train_on="sentences"))
    if cfg.data.dataset != "sst2":
        origin = config
        for item in overrides:  # the last override of data.dataset decided it
            key = item.split("=", 1)[0].strip() if isinstance(item, str) else item[0]
            if key == "data.dataset":
                origin = item[2] if isinstance(item, (tuple, list)) and len(item) == 3 else "--set data.dataset"
        raise ConfigError(f"{origin}: the {study} study's models use SST-2 sentences; data.dataset is "
                          f"{cfg.data.dataset!r} (set data.dataset=sst2)")
    return cfg


def sentence_splits(cfg: Config):
    """SST-2 train/dev/test *sentences* (``data.max_train`` / ``max_eval`` still apply), cleaned
    with the config's ``vocab.clean``: ``(splits, class names)``."""
    return load_splits(dataclasses.replace(cfg.data, train_on="sentences"), cfg.vocab.clean)


def fingerprint(cfg: Config, splits, seed: int) -> str:
    """sha256 of everything a study model depends on: the splits, the model/vocab/train config, the seed."""
    h = hashlib.sha256()
    settings = {k: v for k, v in cfg.to_dict().items() if k != "data"}
    h.update(json.dumps([settings, seed], sort_keys=True).encode())
    for name in sorted(splits):
        for ex in splits[name]:
            h.update(f"{name}\t{ex.label}\t{' '.join(ex.tokens)}\n".encode())
    return h.hexdigest()


def write_jsonl(examples, class_names, path: Path) -> None:
    from textdeconv.files import atomic_write_text

    lines = [json.dumps({"text": " ".join(ex.tokens), "label": class_names[ex.label]}, ensure_ascii=False)
             for ex in examples]
    atomic_write_text(path, "\n".join(lines) + "\n")


def train_splits(cfg: Config, splits, class_names, run_dir, seed: int, verbose=0) -> dict:
    """Train (or reuse, or resume) a study model on ``splits`` ({train, dev, test}: Examples).

    Returns:
        the run's metrics.json, plus ``train_seconds`` (wall time of the training, measured when
        it ran) and ``reused`` (True when the model was already there).
    Raises:
        OutputError: ``run_dir`` holds something else (another study model, or foreign files).
    """
    from textdeconv.files import atomic_write_json, atomic_write_text
    from textdeconv.training.trainer import train

    run_dir = Path(run_dir)
    data_dir, model_dir, stamp = run_dir / "data", run_dir / "model", run_dir / "fingerprint.txt"
    digest = fingerprint(cfg, splits, seed)
    resume = False
    if stamp.is_file():
        if stamp.read_text(encoding="utf-8").strip() != digest:
            raise OutputError(f"{run_dir} holds a study model trained on other data or settings; delete the "
                              "folder or pass another --runs-dir")
        if (model_dir / "metrics.json").is_file():
            metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
            timing = run_dir / "timing.json"
            seconds = json.loads(timing.read_text())["train_seconds"] if timing.is_file() else None
            return {**metrics, "train_seconds": seconds, "reused": True}
        resume = (model_dir / "state.json").is_file()
    elif run_dir.exists() and any(p.name != "data" for p in run_dir.iterdir()):
        raise OutputError(f"{run_dir} exists and is not a study model folder; pass another --runs-dir")
    if not resume:
        data_dir.mkdir(parents=True, exist_ok=True)
        for name, examples in splits.items():
            write_jsonl(examples, class_names, data_dir / f"{name}.jsonl")
        atomic_write_text(stamp, digest + "\n")  # the commit point of the data
    files = {name: str((data_dir / f"{name}.jsonl").resolve()) for name in ("train", "dev", "test") if name in splits}
    data = DataConfig(dataset="custom", format="jsonl", classes=tuple(class_names), **files)
    run_cfg = cfg.replace(data=data, train=dataclasses.replace(cfg.train, seed=seed))
    t0 = time.perf_counter()
    metrics = train(run_cfg, model_dir, resume=resume, verbose=verbose)
    seconds = round(time.perf_counter() - t0, 1)
    atomic_write_json(run_dir / "timing.json", {"train_seconds": seconds, "resumed": resume})
    return {**metrics, "train_seconds": seconds, "reused": False}


def load_model(run_dir):
    """``(vocab, net)`` of a study model trained by ``train_splits`` into ``run_dir``."""
    from textdeconv.training.rundir import read_run

    _, vocab, net, _ = read_run(Path(run_dir) / "model")
    return vocab, net


def predict(net, vocab, token_lists) -> np.ndarray:
    """(N, classes) probabilities for token lists (the run's ``vocab.clean`` applied)."""
    from textdeconv.training.trainer import predict_ids

    if not token_lists:
        return np.zeros((0, net.num_classes), np.float32)
    return predict_ids(net.model, [vocab.encode(vocab.prepare(t)) for t in token_lists], net.pad)


def accuracy(net, vocab, examples) -> float:
    """Accuracy on ``Example``s, their token lists read as they are in memory."""
    pred = predict(net, vocab, [e.tokens for e in examples]).argmax(axis=1)
    return float(np.mean(pred == np.array([e.label for e in examples]))) if len(examples) else float("nan")


# ------------------------------------------------------------------------------------ records

def machine() -> dict:
    """Platform, CPUs, Python and TensorFlow versions and the load average (1, 5, 15 min) now:
    timings need a quiet machine, and the studies share theirs."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        import tensorflow as tf

        info |= {"tensorflow": tf.__version__, "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        pass
    return info


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def mean_sd(values) -> dict:
    """``{"mean", "sd", "n", "per_seed"}`` over the finite values (sd with ddof=1; None when
    undefined); NaN entries of ``per_seed`` become None."""
    values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    ok = [v for v in values if v is not None]
    return {"mean": float(np.mean(ok)) if ok else None, "sd": float(np.std(ok, ddof=1)) if len(ok) > 1 else None,
            "n": len(ok), "per_seed": values}


def plain(obj):
    """``obj`` with numpy scalars and arrays as Python values and NaN / inf as None (valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    return obj
