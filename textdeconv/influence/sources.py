"""What influence reads: the run's training sentences, its kept checkpoints, and the pooled features.

No TensorFlow at module level; ``pooled_features`` imports it when called.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from textdeconv.errors import DataError, MissingFileError, UserError


@dataclass(frozen=True)
class TrainingSet:
    """The training split's sentences as the model reads them.

    Attributes:
        ids: (n,) sentence ids 1..n (line order of the split, as ``explain --split train``).
        tokens: n token lists (after the run's ``vocab.clean``).
        labels: (n,) int gold label indices.
    """

    ids: list
    tokens: list
    labels: np.ndarray


def training_set(cfg, what: str = "similar") -> TrainingSet:
    """The run's training sentences (``split_sentences(..., "train")``), never downloading.

    Raises:
        MissingFileError: the data is not where the run's config says (one line naming ``what`` needs it).
    """
    from textdeconv.data.splits import split_sentences

    data = replace(cfg.data, download=False)  # explaining never starts a download
    try:
        ids, tokens, labels = split_sentences(data, "train", cfg.vocab.clean)
    except UserError as e:
        raise MissingFileError(f"{what} needs the run's training sentences, which are not available: {e}") from None
    if not tokens:
        raise DataError(f"{what}: the run's train split holds no sentences")
    return TrainingSet(list(ids), list(tokens), np.asarray(labels, dtype=np.int64))


@dataclass(frozen=True)
class Checkpoint:
    """One TracIn checkpoint: the weights file, the passes done when it was saved, and the step size."""

    path: Path
    epoch: float
    learning_rate: float


def kept_checkpoints(run_dir, which: str = "every") -> list[Checkpoint]:
    """The checkpoints TracIn sums over.

    ``which="every"``: the ones ``train.keep_every_epoch`` recorded in state.json (every evaluation's
    weights with its learning rate). ``which="final"``: the run's model.keras alone with step 1
    ("TracIn at the last checkpoint", an approximation; works for any run, the bundled model too).

    Raises:
        MissingFileError: the run recorded none, or a recorded file is gone.
    """
    run_dir = Path(run_dir)
    if which == "final":
        return [Checkpoint(run_dir / "model.keras", float("nan"), 1.0)]
    if which != "every":
        raise ValueError(which)
    state = run_dir / "state.json"
    try:
        entries = json.loads(state.read_text(encoding="utf-8")).get("tracin") if state.is_file() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{state} is damaged ({e})") from None
    if not entries:
        from textdeconv.builtin import builtin_name

        name = builtin_name(run_dir) or str(run_dir)
        raise MissingFileError(f"{name} kept no per-epoch checkpoints: train with train.keep_every_epoch: true, "
                               "or use the final model alone (checkpoints='final', --checkpoints final)")
    out = []
    for e in entries:
        path = run_dir / "checkpoints" / e["weights"]
        if not path.is_file():
            raise MissingFileError(f"{path} is missing (state.json records it as a TracIn checkpoint); restore it, "
                                   "or use checkpoints='final'")
        out.append(Checkpoint(path, float(e["epoch"]), float(e["learning_rate"])))
    return out


def load_net(path):
    """A checkpoint file as a ``TextCNN`` (safe_mode, no optimizer)."""
    import keras

    from textdeconv.model.textcnn import TextCNN

    return TextCNN(keras.models.load_model(path, safe_mode=True, compile=False))


def forward_features(net, seqs, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(pooled, probs)``: pooled (n, F_total) float64, the max-over-time features, and probs
    (n, classes) float64 (inference mode), in input order."""
    import tensorflow as tf

    from textdeconv.data.vocab import length_batches, pad_batch

    n = len(seqs)
    pooled = probs = None
    for b in length_batches([len(s) for s in seqs], batch_size, None):
        fw = net.forward(pad_batch([seqs[i] for i in b], net.pad))
        p, q = fw.pooled.numpy(), tf.nn.softmax(fw.logits).numpy()
        if pooled is None:
            pooled, probs = np.zeros((n, p.shape[1])), np.zeros((n, q.shape[1]))
        pooled[b], probs[b] = p, q
    return pooled, probs
