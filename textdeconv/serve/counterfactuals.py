"""Automatic counterfactual edits of one sentence for the explorer: edits that try to flip the
model's prediction, each verified by the model (``Explorer.counterfactuals`` runs it).

- deletions: the words with the most evidence for the predicted class (largest positive score
  under the chosen method) removed cumulatively: the top 1, the top 2, ... (at most ``most``,
  and never every word);
- substitutions: each of the ``words`` most salient words replaced by each of its nearest
  vocabulary words by cosine in the run's own embedding table (``Explorer.neighbours``).

Candidates are sorted by edit size (words changed), then the ones that flip first, then by the
probability left to the original class (lowest first).
"""
from __future__ import annotations

import numpy as np


def salient(scores, most: int) -> list[int]:
    """Token positions with a positive score, largest first (ties: earlier position first)."""
    s = np.asarray(scores, np.float64)
    return [int(t) for t in np.argsort(-s, kind="stable") if s[t] > 0][:most]


def deletions(tokens, scores, most: int) -> list[dict]:
    """The top 1, 2, ... ``most`` salient words deleted (a sentence keeps at least one word)."""
    top = salient(scores, min(most, len(tokens) - 1))
    edits = []
    for n in range(1, len(top) + 1):
        gone = sorted(top[:n])
        edits.append({"kind": "delete", "size": n, "positions": gone, "removed": [tokens[i] for i in gone],
                      "inserted": [], "cosine": None,
                      "tokens": [t for i, t in enumerate(tokens) if i not in gone]})
    return edits


def substitutions(tokens, scores, words: int, neighbours_of) -> list[dict]:
    """Each of the ``words`` most salient words replaced by each word ``neighbours_of(word)`` gives
    (``[{"word", "cosine"}]``, nearest first)."""
    edits = []
    for t in salient(scores, words):
        for n in neighbours_of(tokens[t]):
            edits.append({"kind": "replace", "size": 1, "positions": [t], "removed": [tokens[t]],
                          "inserted": [n["word"]], "cosine": n["cosine"],
                          "tokens": tokens[:t] + [n["word"]] + tokens[t + 1:]})
    return edits


def verified(edits, probs, original: int, class_names) -> list[dict]:
    """``edits`` with the model's answer on each (``probs``: (n, C)), sorted (module docstring)."""
    from textdeconv.reports.html import json_numbers

    out = []
    for e, p in zip(edits, probs):
        q = json_numbers(p)
        k = int(np.argmax(p))
        out.append({**e, "text": " ".join(e["tokens"]), "predicted": class_names[k], "predicted_index": k,
                    "probability": q[k], "probs": dict(zip(class_names, q)),
                    "original_probability": q[original], "flips": k != original})
    out.sort(key=lambda c: (c["size"], not c["flips"], c["original_probability"]))
    return out
