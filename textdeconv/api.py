"""The Python front door: open a run, predict, explain; train from a config.

    import textdeconv as td
    run = td.load_run("runs/sst-...")
    run.predict(["a gripping , funny movie"])
    ex = run.explain(["a gripping , funny movie", "a dull mess"], method="deconv")
    ex.to_frame()      # the rows of `textdeconv explain --csv`
    ex[0]              # an Explanation: a coloured heatmap in Jupyter

The command line calls the same functions, so a notebook and a shell give the same numbers.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

from textdeconv.errors import InputError, quoted


class Explanations(Sequence):
    """Explanations of several sentences (one ``Explanation`` each) with their sentence ids.

    A list for indexing and iteration; ``to_frame`` / ``to_json`` / ``save_csv`` / ``save_json``
    give what ``textdeconv explain --csv/--json`` writes; in Jupyter it shows as one table of
    coloured sentences.
    """

    def __init__(self, items, sentence_ids=None, class_names=(), run=None):
        self.items = list(items)
        self.sentence_ids = list(sentence_ids) if sentence_ids is not None else list(range(1, len(self.items) + 1))
        self.class_names = list(class_names)
        self.run = run  # the Run they came from: its files (and its data files) are never written over

    def __getitem__(self, k):
        if isinstance(k, slice):
            return Explanations(self.items[k], self.sentence_ids[k], self.class_names, self.run)
        return self.items[k]

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        methods = sorted({e.method for e in self.items})
        return f"<Explanations: {len(self)} sentences, method {', '.join(methods) or '-'}>"

    def to_frame(self, gold=None):
        """One row per token: the columns of ``textdeconv explain --csv``."""
        from textdeconv.reports.export import token_frame

        return token_frame(self.items, self.sentence_ids, gold)

    def to_json(self) -> str:
        from textdeconv.reports.export import to_json

        return to_json(self.items, self.sentence_ids)

    def save_csv(self, path) -> Path:
        """Write ``to_frame()`` as ``textdeconv explain --csv`` does; the path is checked as the
        command checks its outputs (``textdeconv.outputs``: not a directory, a writable folder, and
        none of the run's files — config.yaml, vocab.txt, model.keras — nor its data files).

        Raises:
            OutputError: the path cannot be written as asked (one line saying why)."""
        from textdeconv.reports.export import write_csv

        return _save(path, "save_csv", lambda tmp: write_csv(self.to_frame(), tmp), self.run)

    def save_json(self, path) -> Path:
        """Write ``to_json()`` (what ``textdeconv explain --json`` prints) to a file, checked likewise."""
        from textdeconv.files import atomic_write_text

        return _save(path, "save_json", lambda tmp: atomic_write_text(tmp, self.to_json() + "\n"), self.run)

    def _repr_html_(self) -> str:
        from textdeconv.reports.heatmap import heatmap_table

        return heatmap_table(self.items, self.sentence_ids, self.class_names)


class Run:
    """A trained run directory, loaded once: its config, vocabulary, model and class names.

    Attributes:
        path: the run directory; ``config`` its resolved ``Config``; ``vocab`` its ``Vocab``;
        ``net`` the ``TextCNN`` (``net.model`` is the Keras model); ``class_names``.
    """

    def __init__(self, path):
        from textdeconv.runtime import load_tensorflow
        from textdeconv.training.rundir import check_run_dir, read_run

        self.path = _run_path(path)
        check_run_dir(self.path)  # a missing or unfinished run fails before TensorFlow loads
        load_tensorflow()
        self.config, self.vocab, self.net, class_names = read_run(self.path)
        self.class_names = list(class_names)
        self._explainers: dict = {}

    @property
    def name(self) -> str:
        """The run directory's name, or ``builtin:NAME`` for a bundled model."""
        from textdeconv.builtin import builtin_name

        return builtin_name(self.path) or self.path.name

    def __repr__(self) -> str:
        return (f"<Run {self.path}: {self.config.data.dataset} {self.config.model.variant}, "
                f"classes {', '.join(self.class_names)}, vocabulary {len(self.vocab):,}>")

    def tokenize(self, texts, warn=None) -> tuple[list[int], list[list[str]]]:
        """``(sentence ids 1..n, token lists)`` as ``textdeconv explain`` reads typed sentences:
        strings are tokenized like the treebank, token lists taken as they are; the run's
        ``vocab.clean`` is applied. A sentence left with no token is skipped with a warning.

        Raises:
            InputError: ``texts`` is a single string or holds something other than strings / token lists.
        """
        from textdeconv.reports.stream import tokenize_items

        items = _check_texts(texts)
        say = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
        strings = [(k, t) for k, t in items if isinstance(t, str)]
        ids, sentences = tokenize_items(strings, self.vocab, None, say)
        by_id = dict(zip(ids, sentences))
        for k, t in items:
            if not isinstance(t, str):
                tokens = self.vocab.prepare(list(t))
                if tokens:
                    by_id[k] = tokens
                else:
                    say(f"sentence {k}: no tokens after vocab.clean; skipped")
        order = sorted(by_id)
        return order, [by_id[k] for k in order]

    def predict(self, texts, batch_size: int = 256):
        """A DataFrame: ``text``, ``predicted`` and one probability column per class."""
        import numpy as np
        import pandas as pd

        from textdeconv.training.trainer import predict_ids

        items = _check_texts(texts)
        _check_batch_size(batch_size)
        ids, sentences = self.tokenize(texts)
        probs = predict_ids(self.net.model, [self.vocab.encode(s) for s in sentences], self.net.pad, batch_size)
        text = {k: t if isinstance(t, str) else " ".join(t) for k, t in items}
        frame = pd.DataFrame({"text": [text[k] for k in ids],
                              "predicted": [self.class_names[i] for i in np.argmax(probs, axis=1)]}, index=ids)
        for c, name in enumerate(self.class_names):
            frame[name] = probs[:, c]
        frame.index.name = "sentence_id"
        return frame

    def explainer(self, method: str = "deconv", **options):
        """The named method's ``Explainer`` for this run (built once per method and options)."""
        from textdeconv.attribution import make_explainer

        key = (method, tuple(sorted(options.items())))
        if key not in self._explainers:
            self._explainers[key] = make_explainer(method, self.net, self.vocab, self.class_names, **options)
        return self._explainers[key]

    def explain(self, texts, method: str = "deconv", target=None, batch_size: int = 128,
                **options) -> Explanations:
        """Explain sentences: raw strings (tokenized as ``textdeconv explain`` does) or token lists.

        Args:
            texts: a list of strings or of token lists.
            method: a registered method name (``textdeconv.methods()``); ``options`` its options
                (e.g. ``saliency="norm"`` for the deconv methods, ``steps=100`` for
                integrated-gradients).
            target: the class to explain, by name or index; None = each sentence's predicted class;
                or a list with one such per text.
        Returns:
            ``Explanations``, equal to the rows ``textdeconv explain --csv`` writes for the same
            sentences, method and options.
        """
        from textdeconv.attribution.explanation import resolve_target
        from textdeconv.reports.stream import explain_blocks

        if isinstance(target, (list, tuple)):  # one per text; an unknown class fails before any work
            n = len(_check_texts(texts))
            if len(target) != n:
                raise InputError(f"got {len(target)} targets for {n} texts")
            for t in target:
                resolve_target(t, self.class_names)
        else:
            resolve_target(target, self.class_names)
        _check_batch_size(batch_size)
        if not isinstance(method, str):
            raise InputError(f"method must be a method name (textdeconv.methods()), got {quoted(method)}")
        ids, sentences = self.tokenize(texts)
        if not sentences:
            raise InputError("nothing to explain: every sentence was empty")
        if isinstance(target, (list, tuple)):
            target = [target[k - 1] for k in ids]  # the texts kept (ids are 1-based positions)
        expls = explain_blocks(self.explainer(method, **options), ids, sentences, target=target,
                               batch_size=batch_size)
        return Explanations(expls, ids, self.class_names, self)

    def filters(self, sentence=None, split: str = "train", labels: str = "predicted", min_purity: float = 0.5,
                max_ngrams: int = 100, negatives: int = 5):
        """What every filter detects (Jacovi et al. 2018; docs/filters.md), computed once per settings.

        Args:
            sentence: None for the per-filter table; a string or token list for its prediction view.
            split: the sentences thresholds and patterns come from (default train); the rest as
                ``textdeconv filters`` (``--labels``, ``--min-purity``, ``--max-ngrams``, ``--negatives``).
        Returns:
            without ``sentence``: a DataFrame, one row per filter: width, filter, class_vote, vote,
            threshold, purity, above_threshold_share, patterns, negative_words, weight_<class> (the
            rows of ``textdeconv filters --json``); with ``sentence``: the filters whose activation
            reaches their threshold, with their n-gram, pattern, class vote and contribution to the
            predicted class (``reports.filter_analysis.fired_filters``).
        """
        from textdeconv.data.splits import split_sentences
        from textdeconv.reports.filter_analysis import analyze_filters, fired_filters

        if split not in ("train", "dev", "test"):
            raise InputError(f"split must be train, dev or test, got {quoted(split)}")
        key = (split, labels, min_purity, max_ngrams, negatives)
        cache = self.__dict__.setdefault("_filter_analyses", {})
        if key not in cache:
            _, sentences, gold = split_sentences(self.config.data, split, self.config.vocab.clean)
            cache[key] = analyze_filters(self.net, self.vocab, self.class_names, sentences, gold, labels=labels,
                                         min_purity=min_purity, max_ngrams=max_ngrams, negatives=negatives)
        if sentence is None:
            return cache[key].table.copy()
        _, tokens = self.tokenize([sentence])
        if not tokens:
            raise InputError("the sentence has no tokens")
        return fired_filters(self.net, self.vocab, cache[key], self.class_names, tokens[0])

    def similar(self, texts, k: int = 5, filters: int = 5):
        """The ``k`` training sentences nearest each sentence in the pooled-feature space.

        The space is the max-over-time filter activations the output layer reads; nearness is
        their cosine (non-negative features: 0 to 1; the dot product would favour long
        sentences). The cosine splits exactly over the filters active in both sentences: each
        one's share h_j h'_j / (|h| |h'|), largest first (``filters`` kept per pair).

        Args:
            texts: strings or token lists, as ``explain`` takes them.
        Returns:
            ``textdeconv.influence.query.Neighbours``: ``to_frame()`` (sentence_id, text, predicted,
            rank, train_id, train_text, train_label, similarity), ``filters_frame()``
            (sentence_id, rank, train_id, width, filter, share, activation, train_activation).
        Raises:
            MissingFileError: the run's training data is not where its config says (never downloaded).
        """
        from textdeconv.influence.query import similar

        return similar(self, texts, k, filters)

    def influence(self, texts, k: int = 5, target=None, layers: str = "output", checkpoints: str = "every"):
        """TracIn (Pruthi et al. 2020): the ``k`` training sentences whose gradient steps helped
        (proponents, influence > 0) and hurt (opponents, < 0) the loss of each sentence's ``target``
        class (default: the predicted class) the most, summed over the run's checkpoints.

        Args:
            layers: ``"output"`` (the output layer's weights and bias, closed form) or ``"all"``
                (every trainable weight; one forward pass over the training set per sentence and
                checkpoint).
            checkpoints: ``"every"``: the checkpoints ``train.keep_every_epoch`` kept, each weighted
                by its learning rate; ``"final"``: model.keras alone, weight 1 (an approximation
                that works on any run, the bundled model too).
        Returns:
            ``Neighbours``; ``to_frame()``: sentence_id, text, target, kind (proponent or opponent),
            rank, train_id, train_text, train_label, influence.
        Raises:
            MissingFileError: no kept checkpoints (with "every"), or no training data.
        """
        from textdeconv.influence.query import influence

        return influence(self, texts, k, target, layers, checkpoints)

    def self_influence(self, layers: str = "output", checkpoints: str = "every"):
        """Every training sentence's TracIn with itself, largest first: where mislabelled sentences
        collect. A DataFrame: rank, train_id, text, label, predicted, self_influence."""
        from textdeconv.influence.query import self_influence

        return self_influence(self, layers, checkpoints)


def _save(path, name: str, write, run=None) -> Path:
    """``write(temporary path)`` under an output plan (``run``'s files declared as its inputs, as
    ``textdeconv explain`` declares them): the file appears whole, or not at all."""
    from textdeconv.outputs import OutputPlan

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InputError(f"{name}: path must be a file path, got {quoted(path)}")
    plan = OutputPlan()
    if run is not None:
        from textdeconv.training.rundir import run_inputs

        run_inputs(plan, run.path, run.config)
    out = plan.write(f"{name}:", path)
    with plan:
        write(plan.temp(out))
    return out


def _run_path(path):
    """A run directory as a Path, or a bundled model's ``builtin:NAME`` as it is."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InputError(f"a run is a directory path or builtin:NAME, got {quoted(path)}")
    return path if isinstance(path, str) and path.startswith("builtin:") else Path(path)


def _check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 1 << 16:
        raise InputError(f"batch_size must be a whole number from 1 to 65536, got {quoted(batch_size)}")


def _check_texts(texts) -> list[tuple[int, object]]:
    """``(1-based index, text)`` pairs; the type is checked here, at the boundary."""
    if isinstance(texts, (str, bytes)):
        raise InputError(f"texts must be a list of sentences, got one {type(texts).__name__}: "
                         f"wrap it in a list, e.g. explain([{str(texts)[:30]!r}])")
    if not isinstance(texts, Sequence) and not hasattr(texts, "__iter__"):
        raise InputError(f"texts must be a list of strings or token lists, got {type(texts).__name__}")
    items = list(enumerate(texts, 1))
    for k, t in items:
        ok = isinstance(t, str) or (isinstance(t, (list, tuple)) and all(isinstance(w, str) for w in t))
        if not ok:
            raise InputError(f"sentence {k} must be a string or a list of token strings, got {type(t).__name__}")
        if isinstance(t, str) and any("\ud800" <= ch <= "\udfff" for ch in t):
            raise InputError(f"sentence {k} is not valid UTF-8")
    if not items:
        raise InputError("texts is empty: nothing to explain")
    return items


def load_run(path=None) -> Run:
    """Open a run directory or a bundled model (``"builtin:sst2"``); default: the most recent run
    under ./runs, else the bundled ``builtin:sst2`` (named on stderr)."""
    from textdeconv.training.rundir import pick_run

    run_dir, _, _ = pick_run(None if path is None else _run_path(path))
    return Run(run_dir)


def prepare_training(config, run_dir=None, overrides=(), resume: bool = False, option: str = "run_dir"):
    """Everything ``train`` checks before TensorFlow loads: the config (with ``overrides``, each
    ``"key=value"``, ``(key, value)`` or ``("key=value", origin)`` naming the option it came from),
    the data files (SST downloaded if allowed), the pretrained vectors and the run directory
    (``rundir.check_new_run_dir``; ``option`` names it in messages).
    Returns ``(config or None when resuming, run directory)``."""
    from textdeconv.config import load_config, resolve_config_path
    from textdeconv.data.splits import check_data
    from textdeconv.training.rundir import check_new_run_dir, default_run_dir

    if resume:
        if run_dir is None:
            raise InputError("resuming needs the run directory")
        return None, Path(run_dir)
    if config is None:
        raise InputError("a config is required (e.g. 'sst.yaml')")
    cfg = load_config(config, _override_list(overrides))
    check_data(cfg.data)
    if cfg.model.vectors:
        from textdeconv.model.embeddings import check_source

        check_source(cfg.model.vectors)
    run_dir = Path(run_dir) if run_dir else default_run_dir(str(config))
    check_new_run_dir(run_dir, cfg, resolve_config_path(config), option)
    return cfg, run_dir


def run_training(cfg, run_dir, resume: bool = False, verbose="auto") -> dict:
    """Train (or cross-validate, with ``data.cv_folds``) into ``run_dir``; returns the metrics
    (``metrics.json``'s content, or ``cv.json``'s for cross-validation).

    A new run that fails before its first epoch is committed (bad data, Ctrl-C, a crash) leaves
    nothing behind: there is nothing to resume. Once an epoch is committed, the run stays for
    ``resume``."""
    from textdeconv.errors import MissingFileError
    from textdeconv.locks import Lock
    from textdeconv.runtime import load_tensorflow
    from textdeconv.training.rundir import check_run_dir_is_ours

    run_dir = Path(run_dir)
    if resume and not run_dir.is_dir():
        raise MissingFileError(f"nothing to resume in {run_dir}: no such directory")
    missing = [p for p in (run_dir, *run_dir.parents) if not p.exists()]  # innermost first
    lock = Lock(run_dir, f"the run {run_dir}", "--run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()  # one writer per run directory, for the whole training
        if not resume:  # checked again under the lock: another process may have trained here meanwhile
            check_run_dir_is_ours(run_dir)
    except BaseException:
        lock.release()
        for p in missing:  # only the (empty) folders this call created; never another writer's files
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    before = set(os.listdir(run_dir))
    try:
        load_tensorflow()
        from textdeconv.training.crossval import cross_validate, is_cv_run
        from textdeconv.training.trainer import train as train_run

        if cfg.data.cv_folds if cfg is not None else is_cv_run(run_dir):
            return cross_validate(cfg, run_dir, resume=resume, verbose=verbose)
        return train_run(cfg, run_dir, resume=resume, verbose=verbose)
    except BaseException:
        if not resume:
            _remove_unresumable(run_dir, before, missing)
        raise
    finally:
        lock.release()


def _remove_unresumable(run_dir: Path, before: set, missing: list) -> None:
    """Remove what a new run wrote when no epoch was committed (no state.json, its own or a fold's)."""
    if not run_dir.is_dir() or (run_dir / "state.json").exists() or any(run_dir.glob("fold-*/state.json")):
        return
    for name in set(os.listdir(run_dir)) - before:
        p = run_dir / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    for p in missing:
        with contextlib.suppress(OSError):
            p.rmdir()


def train(config, run_dir=None, overrides=None, resume: bool = False, verbose="auto") -> dict:
    """Train from a config (a YAML path or a shipped name such as ``"tiny.yaml"``) into
    ``run_dir`` (default ``./runs/<config>-<time>``) and return the metrics.

    ``overrides``: ``{"train.epochs": 1}`` or ``["train.epochs=1"]``, as ``--set`` takes.
    ``resume=True`` continues an interrupted run in ``run_dir`` with its saved config.
    """
    cfg, run_dir = prepare_training(config, run_dir, overrides or (), resume)
    return run_training(cfg, run_dir, resume=resume, verbose=verbose)


def _override_list(overrides) -> list:
    if isinstance(overrides, (str, bytes)):
        raise InputError(f"overrides must be a dict or a list of 'key=value' strings, got one string: wrap it in "
                         f"a list, e.g. [{quoted(overrides, 40)}]")
    if isinstance(overrides, dict):
        return list(overrides.items())
    return list(overrides)
