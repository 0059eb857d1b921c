"""Plausibility as ERASER scores it (DeYoung et al., 2020): explanations against the treebank's
non-neutral words read as a human rationale.

The rationale of a sentence is its set of sentiment-bearing words (treebank label != 2, see
``plausibility``); its *spans* are the maximal runs of consecutive rationale words. An
explanation is turned into

- a soft score per token, |score| (a word speaking against the class is still named), scored by
  ``auprc``: the area under the precision-recall curve (scikit-learn's ``precision_recall_curve``
  and ``auc``, as ERASER's ``_auprc``), averaged over the sentences that have a rationale;
- a hard rationale, the top-k tokens by |score| with k_i = max(1, round(rho * n_i)) and rho the
  share of rationale words among all evaluated tokens (ERASER's "top-k, k the average rationale
  length", per sentence length), scored by
  ``token_f1``: the mean over sentences of the token-level F1 (ERASER's instance-macro F1), and
  ``iou_f1``: ERASER's partial match: a predicted span counts as a hit when its intersection over
  union with some gold span is at least 0.5; per sentence P = hits / predicted spans and
  R = hits / gold spans, and the F1 of the mean P and the mean R (ERASER's macro F1).

Sentences without a rationale word have no ground truth and are left out (``n_sentences``).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, precision_recall_curve

from textdeconv.errors import InputError
from textdeconv.evaluation.plausibility import NEUTRAL, word_labels

IOU_THRESHOLD = 0.5


def spans(mask) -> list[tuple[int, int]]:
    """Maximal runs of True in a (n,) bool mask as ``(start, end)`` pairs, end exclusive."""
    mask = np.asarray(mask, bool)
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two token spans ``(start, end)``."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union else 0.0


def f1(p: float, r: float) -> float:
    return 0.0 if p == 0 or r == 0 else 2 * p * r / (p + r)


def auprc(y, s) -> float:
    """ERASER's AUPRC of soft scores ``s`` for the (n,) bool rationale ``y`` (needs a True)."""
    precision, recall, _ = precision_recall_curve(np.asarray(y, int), np.asarray(s, np.float64))
    return float(auc(recall, precision))


def top_k(scores, k: int) -> np.ndarray:
    """(n,) bool: the k tokens of highest |score|, ties broken by position (earlier first)."""
    order = np.argsort(-np.abs(np.asarray(scores, np.float64)), kind="stable")
    mask = np.zeros(len(order), bool)
    mask[order[:k]] = True
    return mask


def token_prf(gold, pred) -> tuple[float, float, float]:
    """Token-level precision, recall and F1 of bool masks ``pred`` against ``gold``."""
    gold, pred = np.asarray(gold, bool), np.asarray(pred, bool)
    hits = int((gold & pred).sum())
    p = hits / pred.sum() if pred.any() else 0.0
    r = hits / gold.sum() if gold.any() else 0.0
    return p, r, f1(p, r)


def span_pr(gold, pred, threshold: float = IOU_THRESHOLD) -> tuple[float, float]:
    """ERASER's partial-match precision and recall of one sentence: a predicted span is a hit
    when its best IOU with a gold span reaches ``threshold``."""
    gold_spans, pred_spans = spans(gold), spans(pred)
    hits = sum(max((iou(p, g) for g in gold_spans), default=0.0) >= threshold for p in pred_spans)
    return (hits / len(pred_spans) if pred_spans else 0.0), (hits / len(gold_spans) if gold_spans else 0.0)


def eraser_plausibility(expls, word_label_lists, fraction: float | None = None) -> dict:
    """ERASER's plausibility metrics of explanations against the treebank's word labels.

    Args:
        expls: N Explanations.
        word_label_lists: N label lists (0-4, or ``data.Tree``s) aligned with the tokens.
        fraction: rho, the share of each sentence's tokens in the hard rationale; None: the share
            of rationale words among all tokens of the sentences that have one.
    Returns:
        dict: ``auprc``, ``token_f1``, ``token_precision``, ``token_recall``, ``iou_f1``,
        ``iou_precision``, ``iou_recall`` (NaN when no sentence has a rationale), ``fraction``
        (rho used), ``n_sentences`` (with a rationale), ``n_skipped``; ``per_sentence``:
        ``auprc`` and ``token_f1`` (N,), NaN for the skipped sentences.
    """
    expls, word_label_lists = list(expls), list(word_label_lists)
    if len(expls) != len(word_label_lists):
        raise InputError(f"got {len(expls)} explanations and {len(word_label_lists)} label lists")
    golds = []
    for i, (e, labels) in enumerate(zip(expls, word_label_lists)):
        labels = np.asarray(word_labels(labels) if hasattr(labels, "subtrees") else labels, int)
        if labels.shape != np.shape(e.scores):
            raise InputError(f"sentence {i}: {len(labels)} word labels for {len(e.scores)} scored tokens")
        golds.append(labels != NEUTRAL)
    used = [i for i, g in enumerate(golds) if g.any()]
    n = len(expls)
    per = {"auprc": np.full(n, np.nan), "token_f1": np.full(n, np.nan)}
    if fraction is None:
        tokens = sum(len(golds[i]) for i in used)
        fraction = sum(int(golds[i].sum()) for i in used) / tokens if tokens else float("nan")
    elif not 0 < fraction <= 1:
        raise InputError(f"fraction must lie in (0, 1], got {fraction}")
    tp, tr, sp, sr = [], [], [], []
    for i in used:
        e, gold = expls[i], golds[i]
        per["auprc"][i] = auprc(gold, np.abs(e.scores))
        pred = top_k(e.scores, max(1, int(round(fraction * len(gold)))))
        p, r, per["token_f1"][i] = token_prf(gold, pred)
        tp.append(p)
        tr.append(r)
        p, r = span_pr(gold, pred)
        sp.append(p)
        sr.append(r)
    mean = lambda v: float(np.mean(v)) if len(v) else float("nan")  # noqa: E731
    iou_p, iou_r = mean(sp), mean(sr)
    return {"auprc": mean(per["auprc"][used]), "token_f1": mean(per["token_f1"][used]),
            "token_precision": mean(tp), "token_recall": mean(tr),
            "iou_f1": f1(iou_p, iou_r) if used else float("nan"), "iou_precision": iou_p, "iou_recall": iou_r,
            "fraction": float(fraction), "n_sentences": len(used), "n_skipped": n - len(used),
            "per_sentence": per}
