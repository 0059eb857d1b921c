"""Plausibility: do explanations point at the words the treebank annotators marked as sentiment?

The Stanford Sentiment Treebank labels every word (leaf) 0-4; 2 is neutral. A word is
*sentiment-bearing* when its label is not 2, positive when it is above 2, negative below.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from textdeconv.errors import InputError

NEUTRAL = 2


def word_labels(tree) -> list[int]:
    """The 0-4 sentiment labels of a ``data.Tree``'s leaves, left to right (aligned with
    ``tree.leaves()``)."""
    return [node.label for node in tree.subtrees() if node.word is not None]


def ranking_scores(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(average precision, AUROC) of scores ``s`` for binary labels ``y``; NaN without both kinds."""
    if y.all() or not y.any():
        return float("nan"), float("nan")
    return float(average_precision_score(y, s)), float(roc_auc_score(y, s))


def expected_signs(expl, labels: np.ndarray, positive_class: int | None):
    """sign(label - 2) when the explanation explains ``positive_class``, its negation when it
    explains the other class of a binary model, None when the sentence cannot be scored."""
    if positive_class is None:
        return None
    direction = np.sign(labels - NEUTRAL)
    if expl.target == positive_class:
        return direction
    if len(expl.probs) == 2:
        return -direction
    return None


def plausibility(expls, word_label_lists, positive_class: int | None = None) -> dict:
    """Agreement of explanation scores with the treebank's word-level sentiment.

    (a) Detection — |score| as a detector of sentiment-bearing words (label != 2):
        ``micro_ap`` / ``micro_auroc``: average precision and AUROC (scikit-learn) over all
        tokens of all sentences pooled; ``macro_ap`` / ``macro_auroc``: their means over the
        ``n_sentences_macro`` sentences that have both sentiment-bearing and neutral words.
    (b) Direction — among sentiment-bearing words, the fraction whose score sign agrees with the
        word's polarity for the explained class: sign(score) == sign(label - 2) when the target
        is ``positive_class``; sign(score) == -sign(label - 2) when the target is the other class
        of a binary model (probs of length 2). Explanations of any other class (a non-positive
        class of a multi-class model), or every explanation when ``positive_class`` is None, are
        skipped. A zero score counts as disagreement. ``sign_agreement`` pools the words
        (``n_sign_words`` of them, from ``n_sign_sentences`` sentences); ``sign_agreement_macro``
        averages per sentence over the used sentences that have a sentiment-bearing word.

    Args:
        expls: N Explanations.
        word_label_lists: N label lists (or ``data.Tree``s), aligned with each explanation's tokens.
        positive_class: index of the positive class, or None to skip (b).
    Returns:
        dict with the metrics above and the counts ``n_sentences``, ``n_tokens``,
        ``n_sentiment_words``, ``n_sentences_macro``, ``n_sign_sentences``, ``n_sign_skipped``,
        ``n_sign_words``; ``per_sentence``: ``ap``, ``auroc``, ``sign_agreement`` (N,), NaN
        where undefined.
    """
    expls, word_label_lists = list(expls), list(word_label_lists)
    if not expls:
        raise InputError("no explanations to evaluate")
    if len(expls) != len(word_label_lists):
        raise InputError(f"got {len(expls)} explanations and {len(word_label_lists)} label lists")
    ys, ss, ap, auroc, agree = [], [], [], [], []
    agree_words = agree_total = used = 0
    for i, (e, labels) in enumerate(zip(expls, word_label_lists)):
        if hasattr(labels, "subtrees"):
            labels = word_labels(labels)
        labels = np.asarray(labels, int)
        scores = np.asarray(e.scores, np.float64)
        if labels.shape != scores.shape:
            raise InputError(f"sentence {i}: {len(labels)} word labels for {len(scores)} scored tokens; "
                             "labels must align with the explanation's tokens")
        if np.any((labels < 0) | (labels > 4)):
            raise InputError(f"sentence {i}: word labels must be 0-4, got {labels.tolist()}")
        y = labels != NEUTRAL
        ys.append(y)
        ss.append(np.abs(scores))
        a, r = ranking_scores(y, np.abs(scores))
        ap.append(a)
        auroc.append(r)
        expected = expected_signs(e, labels, positive_class)
        if expected is None:
            agree.append(float("nan"))
            continue
        used += 1
        hits = np.sign(scores[y]) == expected[y]  # expected is +-1 here, so a zero score misses
        agree_words += int(hits.sum())
        agree_total += int(y.sum())
        agree.append(float(hits.mean()) if y.any() else float("nan"))
    y_all, s_all = np.concatenate(ys), np.concatenate(ss)
    micro_ap, micro_auroc = ranking_scores(y_all, s_all)
    ap, auroc, agree = np.array(ap), np.array(auroc), np.array(agree)
    macro = ~np.isnan(ap)
    return {
        "micro_ap": micro_ap, "micro_auroc": micro_auroc,
        "macro_ap": float(ap[macro].mean()) if macro.any() else float("nan"),
        "macro_auroc": float(auroc[macro].mean()) if macro.any() else float("nan"),
        "sign_agreement": agree_words / agree_total if agree_total else float("nan"),
        "sign_agreement_macro": float(np.nanmean(agree)) if np.any(~np.isnan(agree)) else float("nan"),
        "n_sentences": len(expls), "n_tokens": int(y_all.size), "n_sentiment_words": int(y_all.sum()),
        "n_sentences_macro": int(macro.sum()), "n_sign_sentences": used, "n_sign_skipped": len(expls) - used,
        "n_sign_words": agree_total,
        "per_sentence": {"ap": ap, "auroc": auroc, "sign_agreement": agree},
    }
