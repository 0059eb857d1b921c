"""Data randomization (Adebayo et al., 2018): a model retrained on permuted labels has learnt
nothing about the task, so an explanation that stays the same for it did not come from what the
real model learnt.

Per seed, the *real* model is trained on the SST-2 sentences (``base-seed<s>``, the one ROAR
starts from) and the *permuted* one on the same sentences with the training labels shuffled
(``permuted-seed<s>``). The permuted model is trained without early stopping for ``permuted_epochs``
(default 20) and its dev split is a sample of its own (permuted) training set, so the saved model is the one
that memorised the random labels best; ``memorised`` reports that dev accuracy, ``test_accuracy``
its chance-level accuracy on the real test labels.

On test sentences, every method explains, on both models, the class the real model predicts;
per sentence the score vectors are compared by Spearman's rho (``sanity.spearman``) and by the
top-k overlap |top_k(a) & top_k(b)| / k with k = max(1, ceil(``fraction`` n)) (signed ranking). A
method whose explanations barely change fails the check. As a yardstick, ``other_seed`` compares
the real model with the real model of the next seed (same data, another initialisation): the
change data randomization causes should be well beyond that.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from textdeconv.data.treebank import Example, subsample
from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import n_top, ranking
from textdeconv.evaluation.retrain import accuracy, load_model, mean_sd, sentence_splits, train_splits
from textdeconv.evaluation.sanity import correlations, summarize

PERMUTED_EPOCHS = 20


def topk_overlap(a, b, fraction: float = 0.2) -> float:
    """|top-k of a & top-k of b| / k for two (n,) score vectors, k = max(1, ceil(fraction n))."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.size == 0:
        raise InputError(f"score vectors must be non-empty and alike, got {a.shape} and {b.shape}")
    k = max(1, n_top(fraction, a.size))
    return len(set(ranking(a)[:k].tolist()) & set(ranking(b)[:k].tolist())) / k


def compare(expls_a, expls_b, fraction: float = 0.2) -> dict:
    """Spearman summary (``sanity.summarize``) and mean top-k overlap of two aligned lists."""
    rho = correlations(expls_a, expls_b)
    overlap = np.array([topk_overlap(a.scores, b.scores, fraction) for a, b in zip(expls_a, expls_b)])
    return {**summarize(rho), "topk_overlap": float(overlap.mean()), "fraction": fraction}


def permuted_splits(splits, seed: int, dev_size: int | None = None) -> dict:
    """Train with its labels permuted (seeded); dev = ``dev_size`` (default: the real dev split's
    size) examples of that permuted train set, to select the best memoriser; test unchanged."""
    rng = np.random.default_rng(seed)
    train = splits["train"]
    labels = rng.permutation([e.label for e in train])
    permuted = [Example(e.tokens, int(y)) for e, y in zip(train, labels)]
    size = min(len(permuted), dev_size or len(splits["dev"]))
    dev = [permuted[i] for i in np.sort(rng.choice(len(permuted), size=size, replace=False))]
    return {"train": permuted, "dev": dev, "test": splits["test"]}


def data_randomization_study(cfg, runs_dir, methods, *, seeds=(0,), n_sentences: int | None = 500,
                             fraction: float = 0.2, permuted_epochs: int = PERMUTED_EPOCHS, method_options=None,
                             log=None, verbose=0) -> dict:
    """Compare every method's explanations on the real and the permuted-label models.

    Returns:
        dict: ``models`` per seed (real and permuted test accuracy, the permuted model's
        memorised share, training seconds), ``methods`` {method: {"permuted": {...},
        "other_seed": {...}}} with ``spearman`` (mean rho), ``abs_rho`` (mean |rho|: a method whose
        maps flip sign whole averages rho near 0 yet keeps |rho| high) and ``topk_overlap`` as mean_sd over seeds,
        ``minutes``, ``sizes``.
    """
    from textdeconv.attribution import make_explainer

    seeds = list(seeds)
    method_options = method_options or {}
    splits, class_names = sentence_splits(cfg)
    permuted_cfg = cfg.replace(train=dataclasses.replace(cfg.train, patience=0, epochs=permuted_epochs))
    runs_dir = Path(runs_dir)
    sentences = [list(e.tokens) for e in subsample(splits["test"], n_sentences)]
    models, real, train_s = {}, {}, 0.0
    for seed in seeds:
        m_real = train_splits(cfg, splits, class_names, runs_dir / f"base-seed{seed}", seed, verbose=verbose)
        perm = permuted_splits(splits, seed)
        m_perm = train_splits(permuted_cfg, perm, class_names, runs_dir / f"permuted-seed{seed}", seed, verbose=verbose)
        train_s += (m_real.get("train_seconds") or 0.0) + (m_perm.get("train_seconds") or 0.0)
        vocab, net = load_model(runs_dir / f"base-seed{seed}")
        pv, pn = load_model(runs_dir / f"permuted-seed{seed}")
        real[seed] = (vocab, net, pv, pn)
        models[str(seed)] = {"real_test_accuracy": accuracy(net, vocab, splits["test"]),
                             "permuted_test_accuracy": accuracy(pn, pv, splits["test"]),
                             "permuted_memorised": accuracy(pn, pv, perm["dev"]),
                             "permuted_epochs_run": m_perm.get("epochs_run"),
                             "train_seconds": {"real": m_real.get("train_seconds"),
                                               "permuted": m_perm.get("train_seconds")}}
        if log:
            log(f"seed {seed}: real test {models[str(seed)]['real_test_accuracy']:.4f}, permuted test "
                f"{models[str(seed)]['permuted_test_accuracy']:.4f}, memorised "
                f"{models[str(seed)]['permuted_memorised']:.4f}")
    t0 = time.perf_counter()
    results = {m: {"permuted": [], "other_seed": []} for m in methods}
    for i, seed in enumerate(seeds):
        vocab, net, pv, pn = real[seed]
        for m in methods:
            options = method_options.get(m, {})
            original = make_explainer(m, net, vocab, class_names, **options).explain(sentences)
            targets = [e.target for e in original]
            randomized = make_explainer(m, pn, pv, class_names, **options).explain(sentences, target=targets)
            results[m]["permuted"].append(compare(original, randomized, fraction))
            if len(seeds) > 1:
                ov, on = real[seeds[(i + 1) % len(seeds)]][:2]
                other = make_explainer(m, on, ov, class_names, **options).explain(sentences, target=targets)
                results[m]["other_seed"].append(compare(original, other, fraction))
            if log:
                log(f"seed {seed} {m}: permuted rho {results[m]['permuted'][-1]['spearman_mean']:.3f}, "
                    f"top-k overlap {results[m]['permuted'][-1]['topk_overlap']:.3f}")
    explain_s = time.perf_counter() - t0
    out = {}
    for m, by in results.items():
        out[m] = {}
        for kind, rows in by.items():
            if rows:
                out[m][kind] = {"spearman": mean_sd([r["spearman_mean"] for r in rows]),
                                "abs_rho": mean_sd([r["abs_spearman_mean"] for r in rows]),
                                "topk_overlap": mean_sd([r["topk_overlap"] for r in rows]),
                                "n_nan": [r["n_nan"] for r in rows]}
    return {"models": models, "methods": out, "n_sentences": len(sentences), "fraction": fraction,
            "permuted_training": {"epochs": permuted_epochs, "patience": 0},
            "minutes": {"training": round(train_s / 60, 2), "explaining": round(explain_s / 60, 2)},
            "sizes": {name: len(v) for name, v in splits.items()}}
