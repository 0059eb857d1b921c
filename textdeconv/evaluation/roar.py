"""Remove and retrain: ROAR (Hooker et al., 2019) and recursive ROAR (Madsen et al., 2022) on
SST-2 sentences, with plain deletion (no retraining) beside them.

For a method and a fraction k, every train, dev and test sentence of n words loses its
``min(n - 1, ceil(k n))`` highest-scoring words (signed ranking, ties by position, as
``faithfulness.ranking``; one word always stays) and closes up; a new model is trained from
scratch on the reduced splits (``retrain.train_splits``) and its test accuracy reported. If the
removed words carried the information the task needs, accuracy falls; ``random`` is the
baseline every method should fall below.

- ``roar``: the scores come from the model trained on the full data (the *base* model).
- ``recursive``: the scores at each k come from the model retrained at the previous k, on the
  sentences as that model read them; words are removed until ``ceil(k n)`` of the original n are
  gone (Madsen et al.: a word the new model relies on instead is found and removed too).
- ``deletion``: the base model's accuracy on the reduced test sentences, without retraining (the
  perturbation view the faithfulness metrics take); where it and ROAR disagree, the model could
  relearn the task from what was left.

Each sentence explains the base (or previous) model's predicted class (``target="predicted"``,
no label enters the reduced test set), or its gold label (``target="gold"``).

Leakage check (Rong et al., 2022, for image ROAR): a removal ranked by *signed* class evidence
takes out the words for the target class and keeps the words against it, so what is left can
encode the label, inverted, and a retrained model can learn to read the label off the removal
instead of the words. Each ROAR model is therefore also scored on

- ``roar_on_full``: the unreduced test sentences. A model that learnt sentiment from what was left
  does at least as well with every word back; one that learnt the inverted code falls below chance.
- ``roar_on_swapped``: the test sentences reduced by the method's evidence for the *other* class
  (SST-2 has two). The same words would be kept by a method that ignores the class; a model that
  reads the label off the removal predicts the other class, far below chance.
"""
from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from textdeconv.data.treebank import Example
from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import n_top, ranking
from textdeconv.evaluation.retrain import accuracy, load_model, mean_sd, predict, sentence_splits, train_splits

FRACTIONS = (0.1, 0.2, 0.3, 0.5)
TARGETS = ("predicted", "gold")
KINDS = ("roar", "recursive", "deletion", "roar_on_full", "roar_on_swapped")


def n_remove(fraction: float, n: int) -> int:
    """Words to remove from an n-word sentence: ceil(fraction * n), keeping at least one word."""
    return max(0, min(n - 1, n_top(fraction, n)))


def remove_top(tokens, scores, count: int) -> tuple[str, ...]:
    """``tokens`` without their ``count`` highest-scoring words, in the original order."""
    tokens = tuple(tokens)
    if len(scores) != len(tokens):
        raise InputError(f"{len(scores)} scores for {len(tokens)} tokens")
    drop = set(ranking(scores)[:count].tolist())
    return tuple(t for i, t in enumerate(tokens) if i not in drop)


def explain_scores(explainer, examples, target="predicted") -> list[np.ndarray]:
    """Per example, the method's (n,) scores for ``target``: ``"predicted"``, ``"gold"`` or one
    class index per example; an empty sentence gets an empty vector."""
    if isinstance(target, str):
        if target not in TARGETS:
            raise InputError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
        classes = None if target == "predicted" else [e.label for e in examples]
    else:
        classes = [int(c) for c in target]
        if len(classes) != len(examples):
            raise InputError(f"{len(classes)} targets for {len(examples)} examples")
    idx = [i for i, e in enumerate(examples) if e.tokens]
    out = [np.zeros(0)] * len(examples)
    if idx:
        targets = None if classes is None else [classes[i] for i in idx]
        for i, e in zip(idx, explainer.explain([list(examples[i].tokens) for i in idx], target=targets)):
            out[i] = np.asarray(e.scores, np.float64)
    return out


def other_class(classes, num_classes: int = 2) -> list[int]:
    """The class each example was *not* explained for: ``1 - c`` (two classes only)."""
    if num_classes != 2:
        raise InputError(f"the swapped-removal check needs two classes, the model has {num_classes}")
    return [1 - int(c) for c in classes]


def reduce_split(examples, scores, counts) -> list[Example]:
    """Each example without its ``counts[i]`` highest-scoring words."""
    return [Example(remove_top(e.tokens, s, c), e.label) for e, s, c in zip(examples, scores, counts)]


def roar_study(cfg, runs_dir, methods, *, fractions=FRACTIONS, seeds=(0,), recursive_methods=(),
               recursive_seeds=None, target: str = "predicted", method_options=None, log=None,
               verbose=0) -> dict:
    """ROAR (and recursive ROAR for ``recursive_methods``) for every method, fraction and seed.

    Args:
        cfg: the study config (``retrain.study_config``).
        runs_dir: folder of the models: ``base-seed<s>``, ``roar-<method>-<pct>-seed<s>``,
            ``rroar-<method>-<pct>-seed<s>``; finished ones are reused.
        methods: registry names (``random`` is the baseline: include it).
        fractions: increasing values in (0, 1).
        recursive_seeds: the seeds recursive ROAR runs for (default: every seed).
    Returns:
        dict: ``base`` (test accuracy of the full-data models), ``methods`` {method: {"roar",
        "recursive", "deletion", "roar_on_full", "roar_on_swapped": {pct: mean_sd of test
        accuracy}}}, ``retrains``, ``minutes`` {training, explaining}, ``sizes``.
    """
    from textdeconv.attribution import make_explainer

    fractions = [float(f) for f in fractions]
    if not fractions or any(not 0 < f < 1 for f in fractions) or fractions != sorted(set(fractions)):
        raise InputError(f"fractions must be increasing values in (0, 1), got {fractions}")
    unknown = sorted(set(recursive_methods) - set(methods))
    if unknown:
        raise InputError(f"recursive methods must be among the methods: {', '.join(unknown)}")
    recursive_seeds = list(seeds) if recursive_seeds is None else list(recursive_seeds)
    if set(recursive_seeds) - set(seeds):
        raise InputError(f"recursive seeds must be among the seeds: {sorted(set(recursive_seeds) - set(seeds))}")
    method_options = method_options or {}
    splits, class_names = sentence_splits(cfg)
    runs_dir = Path(runs_dir)
    pct = {f: f"{round(100 * f):d}" for f in fractions}
    acc = {m: {kind: {pct[f]: [] for f in fractions} for kind in KINDS} for m in methods}
    base_acc, retrains, train_s, explain_s = [], 0, 0.0, 0.0

    def fit(reduced, name, seed):
        nonlocal retrains, train_s
        metrics = train_splits(cfg, reduced, class_names, runs_dir / name, seed, verbose=verbose)
        retrains += 1
        train_s += metrics.get("train_seconds") or 0.0
        return load_model(runs_dir / name)

    def scores_of(explainer, data, classes=None):
        nonlocal explain_s
        t0 = time.perf_counter()
        out = {name: explain_scores(explainer, examples, target if classes is None else classes)
               for name, examples in data.items()}
        explain_s += time.perf_counter() - t0
        return out

    for seed in seeds:
        vocab, net = fit(splits, f"base-seed{seed}", seed)
        base_acc.append(accuracy(net, vocab, splits["test"]))
        if log:
            log(f"seed {seed}: base model test accuracy {base_acc[-1]:.4f}")
        test = splits["test"]
        explained = (predict(net, vocab, [e.tokens for e in test]).argmax(axis=1) if target == "predicted"
                     else [e.label for e in test])
        swap_targets = other_class(explained, len(class_names))
        for m in methods:
            explainer = make_explainer(m, net, vocab, class_names, **method_options.get(m, {}))
            scores = scores_of(explainer, splits)
            swapped_scores = scores_of(explainer, {"test": test}, swap_targets)["test"]
            for f in fractions:
                counts = {name: [n_remove(f, len(e.tokens)) for e in ex] for name, ex in splits.items()}
                reduced = {name: reduce_split(ex, scores[name], counts[name]) for name, ex in splits.items()}
                acc[m]["deletion"][pct[f]].append(accuracy(net, vocab, reduced["test"]))
                v2, n2 = fit(reduced, f"roar-{m}-{pct[f]}-seed{seed}", seed)
                acc[m]["roar"][pct[f]].append(accuracy(n2, v2, reduced["test"]))
                acc[m]["roar_on_full"][pct[f]].append(accuracy(n2, v2, test))
                swapped = reduce_split(test, swapped_scores, counts["test"])
                acc[m]["roar_on_swapped"][pct[f]].append(accuracy(n2, v2, swapped))
                if log:
                    log(f"seed {seed} {m} {pct[f]}%: ROAR {acc[m]['roar'][pct[f]][-1]:.4f}, "
                        f"deletion {acc[m]['deletion'][pct[f]][-1]:.4f}, "
                        f"on full {acc[m]['roar_on_full'][pct[f]][-1]:.4f}, "
                        f"on swapped {acc[m]['roar_on_swapped'][pct[f]][-1]:.4f}")
                del n2
            if m in recursive_methods and seed in recursive_seeds:
                current, cur_vocab, cur_net = splits, vocab, net
                for f in fractions:
                    explainer = make_explainer(m, cur_net, cur_vocab, class_names, **method_options.get(m, {}))
                    scores = scores_of(explainer, current)
                    reduced = {name: reduce_split(ex, scores[name],
                                                  [n_remove(f, len(orig.tokens)) - (len(orig.tokens) - len(e.tokens))
                                                   for e, orig in zip(ex, splits[name])])
                               for name, ex in current.items()}
                    cur_vocab, cur_net = fit(reduced, f"rroar-{m}-{pct[f]}-seed{seed}", seed)
                    acc[m]["recursive"][pct[f]].append(accuracy(cur_net, cur_vocab, reduced["test"]))
                    if log:
                        log(f"seed {seed} {m} {pct[f]}%: recursive ROAR {acc[m]['recursive'][pct[f]][-1]:.4f}")
                    current = reduced
                del cur_net
            gc.collect()
        del net
    out_methods = {m: {kind: {p: mean_sd(v) for p, v in by_pct.items()} for kind, by_pct in acc[m].items()
                       if kind != "recursive" or (m in recursive_methods and recursive_seeds)} for m in methods}
    return {"base": {"test_accuracy": mean_sd(base_acc)}, "methods": out_methods, "retrains": retrains,
            "minutes": {"training": round(train_s / 60, 2), "explaining": round(explain_s / 60, 2)},
            "sizes": {name: len(v) for name, v in splits.items()}}
