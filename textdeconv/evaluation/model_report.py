"""Faithfulness of explanations of any supported Keras text model (``textdeconv evaluate --model``).

Every engine method, occlusion and a random baseline explain the model's predicted class on the
same sentences; each is scored with the ERASER AOPCs and the deletion / insertion AUCs
(faithfulness.py), with removed words replaced as ``replacement`` says, through the engine's
``ModelPerturber`` (rows laid out exactly as the model was explained). With gold labels, the
model's accuracy on the sentences is reported too.
"""
from __future__ import annotations

import time

import pandas as pd

from textdeconv.evaluation.faithfulness import deletion_insertion, eraser

COLUMNS = {"comprehensiveness_aopc": "higher", "sufficiency_aopc": "lower", "deletion_morf_auc": "lower",
           "deletion_lerf_auc": "higher", "insertion_auc": "higher", "ms_per_sentence": "lower"}


def faithfulness_row(expls, perturber) -> dict:
    """The AOPCs and the three curves' AUCs of ``expls`` (one explanation per sentence)."""
    er, di = eraser(expls, perturber), deletion_insertion(expls, perturber)
    return {"comprehensiveness_aopc": float(er["comprehensiveness_aopc"]),
            "sufficiency_aopc": float(er["sufficiency_aopc"]), "deletion_morf_auc": float(di["auc"]["morf"]),
            "deletion_lerf_auc": float(di["auc"]["lerf"]), "insertion_auc": float(di["auc"]["insertion"])}


def evaluate_model(make_explainer, texts, methods, replacement: str = "pad", seed: int = 0, progress=None):
    """``(table, reference explanations)``: one row per method (``COLUMNS``), plus occlusion and random.

    Args:
        make_explainer: ``f(method) -> ModelExplainer`` for the model under test.
        texts: the sentences (raw text or token lists).
        methods: engine method names; occlusion and random are added as baselines.
        progress: optional ``f(name)`` called before each method.
    """
    from textdeconv.attribution.engine.perturb import ModelPerturber, occlusion_explanations, random_explanations

    rows, perturber, reference = [], None, None

    def timed(name, fn):
        if progress:
            progress(name)
        fn(2)  # warm-up: trace the compiled graph on two sentences
        start = time.perf_counter()
        expls = fn(None)
        return expls, 1e3 * (time.perf_counter() - start) / len(texts)

    for method in methods:
        explainer = make_explainer(method)
        expls, ms = timed(method, lambda n, e=explainer: e.explain(texts[:n] if n else texts))
        if perturber is None:
            perturber, reference = ModelPerturber(explainer, replacement), expls
        rows.append({"method": method, **faithfulness_row(expls, perturber), "ms_per_sentence": ms})
    occluded, ms = timed("occlusion", lambda n: occlusion_explanations(reference[:n] if n else reference, perturber))
    rows.append({"method": "occlusion", **faithfulness_row(occluded, perturber), "ms_per_sentence": ms})
    rand, ms = timed("random", lambda n: random_explanations(reference[:n] if n else reference, seed=seed))
    rows.append({"method": "random", **faithfulness_row(rand, perturber), "ms_per_sentence": ms})
    return pd.DataFrame(rows, columns=["method", *COLUMNS]), reference
