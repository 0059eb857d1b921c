"""Evaluation of explanations: plain functions over lists of ``Explanation``s.

- ``faithfulness``: ERASER comprehensiveness / sufficiency, deletion and insertion curves;
- ``agreement``: Kendall tau with leave-one-out (as ferret);
- ``robustness``: infidelity and max-sensitivity (Yeh et al., as Captum), MuFidelity (Bhatt et al.);
- ``sanity``: cascading and independent parameter randomization, class sensitivity (Adebayo et al., 2018);
- ``plausibility``: agreement with the treebank's word-level sentiment labels; ``rationales``: the
  same labels scored as ERASER scores rationales (AUPRC, token-F1, IOU-F1);
- ground truth (issue 25): ``planting`` + ``groundtruth`` (planted triggers), ``roar`` (remove and
  retrain), ``data_randomization`` (permuted labels), on models ``retrain`` trains.

The names below are imported on first use (``plausibility`` at once: it is also a submodule's
name), so that the light modules (``planting``, ``retrain``) load without TensorFlow.
"""
from __future__ import annotations

import importlib

# bound now: the submodule of the same name would otherwise shadow the function once imported
from textdeconv.evaluation.plausibility import plausibility, word_labels

_EXPORTS = {
    "eraser": "faithfulness", "deletion_insertion": "faithfulness",
    "cascading_randomization": "sanity", "independent_randomization": "sanity", "class_sensitivity": "sanity",
    "eraser_plausibility": "rationales", "loo_agreement": "agreement",
    "infidelity": "robustness", "max_sensitivity": "robustness", "mufidelity": "robustness",
}

__all__ = ["plausibility", "word_labels", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"textdeconv.evaluation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'textdeconv.evaluation' has no attribute {name!r}")
