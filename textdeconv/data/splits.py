"""Every data set as train/dev/test examples: SST (treebank.py) or your own files (custom.py).

``load_splits(cfg)`` is the entry point for training; ``split_sentences`` for what explaining,
the filter dictionary and the lexicon read; ``check_data`` runs before TensorFlow loads.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from textdeconv.config import DataConfig
from textdeconv.data.custom import data_files, file_format, load_custom
from textdeconv.data.download import ensure_sst, resolve_data_dir
from textdeconv.data.treebank import (CLASS_NAMES, SPLITS, Example, phrase_examples, read_tree_sentences,
                                      read_trees, sentence_examples, subsample)
from textdeconv.data.vocab import clean_tokens
from textdeconv.errors import ConfigError, DataError, MissingFileError


def load_sst(cfg: DataConfig) -> dict[str, list[Example]]:
    """Examples per split: train as configured (phrases or sentences), dev/test sentences."""
    tree_dir = ensure_sst(cfg)
    splits = {}
    for split in SPLITS:
        trees = read_trees(tree_dir / f"{split}.txt")
        if split == "train" and cfg.train_on == "phrases":
            ex = phrase_examples(trees, cfg.dataset)
        else:
            ex = sentence_examples(trees, cfg.dataset)
        limit = cfg.max_train if split == "train" else cfg.max_eval
        splits[split] = subsample(ex, limit)
    return splits



def clean_splits(splits: dict[str, list[Example]], clean: str | None) -> dict[str, list[Example]]:
    """``vocab.clean`` applied to every example (``vocab.clean_tokens``); training examples it
    empties (a phrase that was only punctuation, such as ``.``) are dropped, dev and test keep all."""
    if clean is None:
        return splits
    out = {}
    for split, examples in splits.items():
        cleaned = [Example(tuple(clean_tokens(ex.tokens, clean)), ex.label) for ex in examples]
        out[split] = [ex for ex in cleaned if ex.tokens] if split == "train" else cleaned
    return out


def load_splits(cfg: DataConfig, clean: str | None = None) -> tuple[dict[str, list[Example]], tuple[str, ...]]:
    """``(splits, class names)`` for any data set; custom data without a test file has no "test".
    ``clean``: the run's ``vocab.clean``, applied by ``clean_splits`` (what training reads)."""
    splits, names = load_custom(cfg) if cfg.dataset == "custom" else (load_sst(cfg), CLASS_NAMES[cfg.dataset])
    return clean_splits(splits, clean), names


def load_split(cfg: DataConfig, split: str) -> list[Example]:
    """One split of the data set (explain.py --split)."""
    splits, _ = load_splits(cfg)
    if split not in splits:
        raise DataError(f"no {split} split: the run's data has no data.test file and is not a cross-validation fold")
    return splits[split]


def split_sentences(cfg: DataConfig, split: str, clean: str | None = None):
    """A split's full sentences, whatever the training protocol (no phrases, no subsampling): what
    ``explain.py --split``, the filter dictionary and the lexicon read; ``clean``: the run's
    ``vocab.clean`` (the token lists are what the model reads).

    Returns:
        (sentence ids 1..n, token lists, gold label indices).
    """
    cfg = replace(cfg, train_on="sentences", max_train=None, max_eval=None)
    if cfg.dataset == "custom" or split not in SPLITS:
        examples = load_split(cfg, split)
    else:  # SST: the one tree file asked for (load_sst reads all three; the training trees are 3/4 of the time)
        examples = read_tree_sentences(ensure_sst(cfg) / f"{split}.txt", cfg.dataset)
    return (list(range(1, len(examples) + 1)), [clean_tokens(ex.tokens, clean) for ex in examples],
            [ex.label for ex in examples])


def check_data(cfg: DataConfig, warn=None) -> None:
    """Cheap checks before TensorFlow loads: SST present (or downloaded), custom files exist.
    ``warn(message)`` (default: a line ``warning: ...`` on stderr) is told when two splits are
    one file: the scores on the second would measure memorisation, not generalisation."""
    if cfg.dataset != "custom":
        ensure_sst(cfg)
        return
    for key in ("train", "dev", "test"):
        path = getattr(cfg, key)
        for file, _ in data_files(path, file_format(path, cfg.format)) if path else ():
            if not file.is_file():
                raise MissingFileError(f"data.{key}: data file not found: {file}")
    for a, b in (("train", "test"), ("train", "dev"), ("dev", "test")):
        pa, pb = getattr(cfg, a), getattr(cfg, b)
        if pa and pb and _same(pa, pb):
            (warn or _warn)(f"data.{b} is data.{a} ({pb}): the {b} scores measure how well the model remembers "
                            f"its {a} sentences, not how it generalises")


def _same(a, b) -> bool:
    try:
        return os.path.samefile(os.path.expanduser(a), os.path.expanduser(b))
    except OSError:
        return False


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def pin(cfg: DataConfig, classes) -> DataConfig:
    """The data config a run saves: custom paths made absolute and the class order fixed, SST's
    folder resolved (``data.dir``, else $TEXTDECONV_DATA, else ./data/sst) to an absolute path, so
    that later commands read the same files with the same class ids from any working directory
    and shell, without $TEXTDECONV_DATA and without downloading again."""
    if cfg.dataset != "custom":
        return replace(cfg, dir=str(resolve_data_dir(cfg.dir).resolve()))
    paths = {k: str(Path(v).expanduser().resolve()) for k in ("train", "dev", "test") if (v := getattr(cfg, k))}
    return replace(cfg, classes=tuple(classes), **paths)


def class_names(cfg: DataConfig) -> tuple[str, ...]:
    """Class names of a saved run's data config (custom: data.classes, which train() pins)."""
    if cfg.dataset != "custom":
        return CLASS_NAMES[cfg.dataset]
    if not cfg.classes:
        raise ConfigError("data.dataset=custom but data.classes is not set; a run trained by textdeconv saves it")
    return cfg.classes
