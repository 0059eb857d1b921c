"""Nearest training sentences in the pooled-feature space, with the filters they share.

A sentence's pooled features are the max over time of every filter's ReLU output (the
``pooled`` seam of ``TextCNN``, the vector the output layer reads). Similarity is the **cosine**
of two such vectors: the features are non-negative, so it lies in [0, 1], and unlike the dot
product it does not favour long sentences (whose maxima over more windows are larger). It splits
exactly over the filters: cosine(h, h') = sum_j h_j h'_j / (|h| |h'|), and only filters active in
both sentences (h_j > 0 and h'_j > 0) have a non-zero term, their **share**. A sentence none of
whose filters fires has similarity 0 with every sentence.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def cosine_matrix(query: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(m, n) cosine similarity of pooled features query (m, F) and train (n, F); 0 for a zero vector."""
    qn, tn = np.linalg.norm(query, axis=1), np.linalg.norm(train, axis=1)
    denom = np.outer(qn, tn)
    dots = query @ train.T
    return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)


def filter_names(widths, num_filters) -> list[tuple[int, int]]:
    """``(width, filter)`` of each pooled feature, in the pooled vector's order (widths concatenated)."""
    return [(w, j) for w, n in zip(widths, num_filters) for j in range(n)]


def nearest(query: np.ndarray, train: np.ndarray, k: int, names, top_filters: int = 5):
    """The ``k`` training sentences nearest each query, and their shared active filters.

    Args:
        query: (m, F) pooled features; train: (n, F); names: ``filter_names`` of the F features.
        top_filters: shared filters kept per neighbour, largest share first.
    Returns:
        ``(neighbours, filters)`` DataFrames: neighbours (query, rank, train, similarity) with query
        and train as row positions; filters (query, rank, train, width, filter, share, activation,
        train_activation). Ties in similarity go to the earlier training sentence.
    """
    sims = cosine_matrix(query, train)
    k = min(k, train.shape[0])
    rows, frows = [], []
    qn, tn = np.linalg.norm(query, axis=1), np.linalg.norm(train, axis=1)
    for q in range(query.shape[0]):
        order = np.argsort(-sims[q], kind="stable")[:k]
        for rank, t in enumerate(order, 1):
            rows.append((q, rank, int(t), float(sims[q, t])))
            if sims[q, t] <= 0:
                continue
            both = np.flatnonzero((query[q] > 0) & (train[t] > 0))
            share = query[q, both] * train[t, both] / (qn[q] * tn[t])
            keep = np.argsort(-share, kind="stable")[:top_filters]
            for j, s in zip(both[keep], share[keep]):
                w, f = names[j]
                frows.append((q, rank, int(t), w, f, float(s), float(query[q, j]), float(train[t, j])))
    neighbours = pd.DataFrame(rows, columns=["query", "rank", "train", "similarity"])
    filters = pd.DataFrame(frows, columns=["query", "rank", "train", "width", "filter", "share", "activation",
                                           "train_activation"])
    return neighbours, filters
