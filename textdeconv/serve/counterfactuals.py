"""Automatic counterfactual edits of one sentence for the explorer: edits that try to flip the
model's prediction, each verified by the model (``Explorer.counterfactuals`` runs it). The margin
is the predicted class's logit minus the best other class's logit; the prediction flips when it
goes below zero.

- ``greedy_deletions``: the smallest set of deletions the greedy finds. At each step every
  single-word deletion of the current sentence is scored in one batched forward pass (n rows, so
  the effect of each deletion is exact, not first-order: re-padding, new windows and the max over
  time included) and the one lowering the margin most is taken; it stops at the first set that
  flips, or after ``most`` deletions (never every word).
- ``hotflip``: HotFlip's first-order ranking of one-word substitutions (Ebrahimi et al., 2018):
  with g_t = d margin / d emb[t] (one gradient, through the model), replacing the word w_t at t by
  v changes the margin by about (E[v] - E[w_t]) . g_t. All (t, v) pairs are ranked by this
  estimate in one matmul (n, D) @ (D, V), PAD, UNK and v = w_t excluded; E is every embedding table
  side by side (a multichannel model's frozen and trained copies, as its convolutions read them),
  so the estimate is the exact directional derivative for every run type. The top pairs are then
  verified by the model (``verified``).
"""
from __future__ import annotations

import numpy as np

from textdeconv.data.vocab import PAD_ID, UNK_ID, pad_batch
from textdeconv.serve.budget import check


def margins_for(net, seqs, cls: int) -> np.ndarray:
    """(len(seqs),) float64: logit[cls] - max of the other logits, for equal-length id lists (one
    batched forward pass, inference mode)."""
    logits = net.forward(pad_batch(seqs, net.pad)).logits.numpy().astype(np.float64)
    others = np.delete(logits, cls, axis=1)
    return logits[:, cls] - others.max(axis=1)


def greedy_deletions(net, ids, cls: int, most: int) -> dict:
    """The greedy smallest flipping deletion set of the id list ``ids`` predicted as ``cls``.

    Returns ``{"positions": [...] (original indices, sorted), "steps": [{"position", "margin"}],
    "margin": the margin before any deletion, "flips": whether the last step's margin is < 0}``.
    Ties go to the earlier position. Each step first checks the request's budget (``budget.check``)."""
    left = list(range(len(ids)))
    start = float(margins_for(net, [list(ids)], cls)[0])
    steps, gone = [], []
    while len(gone) < min(most, len(ids) - 1):
        check()
        rows = [[ids[j] for j in left if j != i] for i in left]
        m = margins_for(net, rows, cls)
        best = int(np.argmin(m))  # argmin: the first of equal values, the earliest position
        gone.append(left.pop(best))
        steps.append({"position": gone[-1], "margin": float(m[best])})
        if m[best] < 0:
            break
    return {"positions": sorted(gone), "steps": steps, "margin": start,
            "flips": bool(steps) and steps[-1]["margin"] < 0}


def margin_gradient(net, ids, cls: int) -> np.ndarray:
    """(len(ids), E) float64: d margin / d emb at each token (E = dim x channels), with the other
    class fixed at the best other class of the unedited sentence."""
    import tensorflow as tf

    batch = pad_batch([list(ids)], net.pad)
    emb = tf.cast(net.embed(batch), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        logits = tf.cast(net.logits_from_embeddings(emb, batch), tf.float32)[0]
        others = np.delete(np.arange(int(logits.shape[0])), cls)
        other = int(others[int(np.argmax(logits.numpy()[others]))])
        margin = logits[cls] - logits[other]
    g = tape.gradient(margin, emb).numpy()[0].astype(np.float64)
    return g[net.pad:net.pad + len(ids)]


def table(net) -> np.ndarray:
    """(V, E) float64: every embedding table side by side, in the order ``net.embed`` concatenates."""
    return np.concatenate([np.asarray(t.embeddings.numpy(), np.float64) for t in net.tables], axis=1)


def hotflip(net, ids, cls: int, words: int, per_word: int) -> list[dict]:
    """The one-word substitutions with the largest first-order drop of the margin, most negative
    ``estimated_change`` first: from the global ranking of all (position, word) pairs, at most
    ``words`` positions and at most ``per_word`` words at each. Each item: ``position``, ``id``,
    ``estimated_change``."""
    if words < 1 or not len(ids):
        return []
    g = margin_gradient(net, ids, cls)
    e = table(net)
    est = g @ e.T - np.einsum("td,td->t", g, e[np.asarray(ids)])[:, None]  # (n, V)
    est[:, [PAD_ID, UNK_ID]] = np.inf
    est[np.arange(len(ids)), np.asarray(ids)] = np.inf
    # the global ranking admits positions in the order of their best pair (the row minima)
    rows = [int(t) for t in np.argsort(est.min(axis=1), kind="stable")[:words] if np.isfinite(est[t].min())]
    pairs = []
    for t in rows:
        best = np.argsort(est[t], kind="stable")[:per_word]
        pairs += [(float(est[t, v]), t, int(v)) for v in best if np.isfinite(est[t, v])]
    pairs.sort(key=lambda x: (x[0], x[1], x[2]))
    return [{"position": t, "id": v, "estimated_change": c} for c, t, v in pairs]


def deletion_edit(tokens, found: dict) -> dict:
    gone = found["positions"]
    return {"kind": "delete", "size": len(gone), "positions": gone, "removed": [tokens[i] for i in gone],
            "inserted": [], "estimated_change": None,
            "steps": [{"position": s["position"], "word": tokens[s["position"]], "margin": s["margin"]}
                      for s in found["steps"]],
            "tokens": [t for i, t in enumerate(tokens) if i not in gone]}


def substitution_edit(tokens, flip: dict, word: str) -> dict:
    t = flip["position"]
    return {"kind": "replace", "size": 1, "positions": [t], "removed": [tokens[t]], "inserted": [word],
            "estimated_change": flip["estimated_change"], "steps": None,
            "tokens": tokens[:t] + [word] + tokens[t + 1:]}


def verified(edits, probs, original: int, class_names) -> list[dict]:
    """``edits`` with the model's answer on each (``probs``: (n, C)), in the order given."""
    from textdeconv.reports.html import json_numbers

    out = []
    for e, p in zip(edits, probs):
        q = json_numbers(p)
        k = int(np.argmax(p))
        out.append({**e, "text": " ".join(e["tokens"]), "predicted": class_names[k], "predicted_index": k,
                    "probability": q[k], "probs": dict(zip(class_names, q)),
                    "original_probability": q[original], "flips": k != original})
    return out
