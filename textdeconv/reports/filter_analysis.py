"""What each filter detects, after Jacovi, Sar Shalom & Goldberg (2018, "Understanding Convolutional
Neural Networks for Text Classification", BlackboxNLP): class votes, thresholds, slot activation
patterns and negative n-grams.

Notation: filter j of width w, kernel K[k,:,j] (slot k = 0..w-1), bias b_j; u_v the embedded word v
(both channels for multichannel, PAD the zero vector). The slot contribution of word v at slot k is
s_k(v) = <K[k,:,j], u_v>, so a window's pre-activation is z = sum_k s_k(v_k) + b_j and
p_j = max over windows of ReLU(z) (``filters.max_activations``).

- Class vote: the output weights W[j,c] (logits = pooled @ W + b). ``class_vote`` names the class with
  the largest weight (the paper's "identity class"); ``vote`` is that weight minus the mean over
  classes (w_c - mean_c w); with two classes it is (w_1 - w_0) / 2 in absolute value, the only
  part of the weights softmax sees.
- Threshold: over the training sentences, the filter's max-pooled activations p_ij and the class
  y_i of each sentence (the model's prediction, as the authors' code does; or the gold label). For
  a candidate threshold t, purity(t) = share of the sentences with p_ij >= t whose class is the
  filter's ``class_vote``. The threshold is the smallest t > 0 among the observed activations with
  purity(t) >= ``min_purity`` (the largest pure enough set, as the authors' ``calculate_threshold``
  scans); ``purity`` = purity(threshold); ``above_threshold_share`` = share of sentences with
  p_ij >= threshold. No such t: threshold NaN, the filter never counts as above threshold.
- Thresholding ablation: every pooled value p_ij < threshold_j set to 0, logits recomputed from the
  pooled vector (exact: the layer after pooling is linear). Random control: the same number of
  non-zero pooled values set to 0, drawn uniformly among all non-zero ones, per seed.
- Slot patterns: the distinct n-grams at the switch of the above-threshold training sentences (the
  ``max_ngrams`` strongest), each a vector (s_0..s_{w-1}), clustered by mean shift (the authors'
  choice: scikit-learn's ``MeanShift`` and ``estimate_bandwidth``, quantile 0.3, or 0.5 below 10
  n-grams; computed here vectorised, tested equal to scikit-learn's).
  Each pattern: its mean slot vector, size and strongest n-grams.
- Negative words: per slot k, the vocabulary words (PAD, UNK excluded) with the most negative s_k(v).
  Deliberately negative (the paper's "case 2"): the word, at that slot, switched off at least one
  training window that would be above threshold without it (z < threshold <= z - s_k(v)); naturally
  negative: it never did (it only lowers windows that would not count anyway). ``blockers`` lists
  the words that switched off the most windows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from textdeconv.data.vocab import PAD_ID, UNK_ID
from textdeconv.errors import InputError
from textdeconv.reports.filters import filter_columns, max_activations

LABELS = ("predicted", "gold")
COLUMNS = ("width", "filter", "class_vote", "vote", "threshold", "purity", "above_threshold_share",
           "patterns", "negative_words")


def class_votes(net, class_names) -> pd.DataFrame:
    """One row per filter (``max_activations`` column order): ``width``, ``filter``, ``class_vote``
    (the class of the largest output weight; the first on ties), ``vote`` (that weight minus the
    mean over classes) and ``weight_<class>`` = W[j,c] for every class."""
    weights = np.asarray(net.output_weights.numpy(), np.float64)  # (F_total, classes)
    if len(class_names) != weights.shape[1]:
        raise InputError(f"got {len(class_names)} class names for {weights.shape[1]} classes")
    best = np.argmax(weights, axis=1)
    centred = weights - weights.mean(axis=1, keepdims=True)
    cols = filter_columns(net)
    frame = pd.DataFrame({"width": [w for w, _ in cols], "filter": [j for _, j in cols],
                          "class_vote": [class_names[c] for c in best],
                          "vote": centred[np.arange(len(best)), best]})
    for c, name in enumerate(class_names):
        frame[f"weight_{name}"] = weights[:, c]
    return frame


def purity_thresholds(pooled, labels, identity, min_purity: float = 0.5):
    """Per column j: the smallest observed activation t > 0 with purity(t) >= ``min_purity`` (module
    docstring).

    Args:
        pooled: (n, F) max-pooled activations; labels: (n,) class per sentence; identity: (F,) the
        class each filter votes for.
    Returns:
        (threshold, purity, above_threshold_share), each (F,) float64; NaN threshold and purity
        (share 0) where no threshold reaches ``min_purity``.
    """
    if not 0 < min_purity <= 1:
        raise InputError(f"min_purity must be in (0, 1], got {min_purity}")
    pooled, labels = np.asarray(pooled, np.float64), np.asarray(labels)
    n, f = pooled.shape
    thr, pur, share = np.full(f, np.nan), np.full(f, np.nan), np.zeros(f)
    for j in range(f):
        order = np.argsort(-pooled[:, j], kind="stable")
        a = pooled[order, j]
        hits = np.cumsum(labels[order] == identity[j])
        size = np.arange(1, n + 1)
        # a cut may only fall after the last of equal activations: "p >= t" takes all of them
        last = np.append(a[1:] != a[:-1], True) & (a > 0)
        ok = last & (hits >= min_purity * size - 1e-12)
        if ok.any():
            t = np.flatnonzero(ok)[-1]  # the largest pure enough set = the smallest threshold
            thr[j], pur[j], share[j] = a[t], hits[t] / size[t], size[t] / n
    return thr, pur, share


def threshold_pooled(pooled, thresholds) -> np.ndarray:
    """pooled (n, F) with every value below its column's threshold set to 0 (NaN threshold: all)."""
    pooled = np.asarray(pooled)
    return np.where(pooled >= np.asarray(thresholds)[None, :], pooled, 0).astype(pooled.dtype)


def random_zeroing(pooled, count: int, seed: int) -> np.ndarray:
    """pooled (n, F) with ``count`` of its non-zero values, drawn uniformly without replacement
    (``numpy.random.default_rng(seed)``), set to 0: the thresholding ablation's control."""
    pooled = np.array(pooled, copy=True)
    alive = np.flatnonzero(pooled.ravel() != 0)
    if not 0 <= count <= len(alive):
        raise InputError(f"cannot zero {count} of {len(alive)} non-zero values")
    pooled.ravel()[np.random.default_rng(seed).choice(alive, size=count, replace=False)] = 0
    return pooled


def accuracy_from_pooled(net, pooled, gold) -> float:
    """Share of rows whose argmax logit (computed from ``pooled`` by the model's own output layer)
    is the gold class."""
    logits = np.asarray(net.logits_from_pooled(np.asarray(pooled, np.float32)))
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(gold)))


def threshold_ablation(net, pooled, gold, thresholds, seeds=(0, 1, 2, 3, 4)) -> dict:
    """Test accuracy with every pooled value below its filter's threshold zeroed, beside the model's
    own and the random control (the same number of non-zero values zeroed at random, per seed)."""
    pooled = np.asarray(pooled, np.float32)
    kept = threshold_pooled(pooled, thresholds)
    zeroed = int(np.count_nonzero(pooled) - np.count_nonzero(kept))
    control = [accuracy_from_pooled(net, random_zeroing(pooled, zeroed, s), gold) for s in seeds]
    return {"sentences": int(len(pooled)), "accuracy": accuracy_from_pooled(net, pooled, gold),
            "thresholded_accuracy": accuracy_from_pooled(net, kept, gold),
            "nonzero_values": int(np.count_nonzero(pooled)), "zeroed_values": zeroed,
            "random_control": {"seeds": [int(s) for s in seeds], "accuracies": control,
                               "mean_accuracy": float(np.mean(control)) if control else None}}


def slot_tables(net) -> list[np.ndarray]:
    """Per width (``net.widths`` order): (V, w, F) float64 s_k(v) = <K[k,:,j], u_v> for every word."""
    emb = np.asarray(net.embed(np.arange(int(net.tables[0].input_dim))[None, :])[0], np.float64)  # (V, E)
    emb[PAD_ID] = 0.0  # PAD is the zero vector wherever the model reads it
    return [np.einsum("ve,kef->vkf", emb, np.asarray(conv.kernel.numpy(), np.float64)) for conv in net.convs]


def layout(net, vocab, sentences):
    """Every sentence as the model reads it alone (pad PAD, ids, pad PAD), end to end.

    Returns:
        flat (total,) ids; offset (n,) where each sentence starts; lengths (n,) padded lengths.
    """
    lengths = np.array([len(s) + 2 * net.pad for s in sentences])
    offset = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = np.zeros(int(lengths.sum()), np.int64)
    for o, s in zip(offset, sentences):
        flat[o + net.pad:o + net.pad + len(s)] = vocab.encode(s)
    return flat, offset, lengths


def estimate_bandwidth(x, quantile: float) -> float:
    """scikit-learn's ``estimate_bandwidth(x, quantile)`` (all points, no sampling): the mean over
    points of the distance to their k-th nearest point, self included, k = max(1, int(n * quantile))."""
    x = np.asarray(x, np.float64)
    k = max(1, int(len(x) * quantile))
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))
    return float(np.sort(d, axis=1)[:, k - 1].mean())


def bandwidth_for(x) -> float:
    """sklearn's default quantile 0.3 (the authors' ``MeanShift()``) from 10 points; below, 0.5 (at
    least two neighbours), else the bandwidth would be a point's distance to itself."""
    quantile = 0.3 if len(x) >= 10 else max(0.5, 2 / len(x))
    return estimate_bandwidth(x, quantile) if len(x) > 1 else 0.0


def mean_shift(x, bandwidth: float, max_iter: int = 300) -> np.ndarray:
    """Labels of scikit-learn's ``MeanShift(bandwidth=bandwidth)`` (flat kernel, every point a seed,
    ``cluster_all``), computed for all seeds at once: sklearn's per-seed loop spends 2 s a filter in
    input checks. Each seed moves to the mean of the points within ``bandwidth`` until it moves
    at most 1e-3 * bandwidth; converged centres, strongest (most points within) first, absorb those
    within ``bandwidth``; every point takes its nearest surviving centre. Equal to sklearn's labels
    up to numbering (tests/test_filter_science.py)."""
    x = np.asarray(x, np.float64)
    centres, done = x.copy(), np.zeros(len(x), bool)
    within = np.zeros(len(x), np.int64)
    for it in range(max_iter + 1):
        active = ~done
        if not active.any():
            break
        d = np.sqrt(((centres[active][:, None, :] - x[None, :, :]) ** 2).sum(-1))
        near = d <= bandwidth
        count = near.sum(axis=1)
        new = near.astype(np.float64) @ x / np.maximum(count, 1)[:, None]
        idx = np.flatnonzero(active)
        moved = np.linalg.norm(new - centres[idx], axis=1)
        within[idx] = count
        centres[idx] = np.where(count[:, None] > 0, new, centres[idx])
        done[idx] = (count == 0) | (moved <= 1e-3 * bandwidth) | (it == max_iter)
    keep = within > 0
    uniq = {}
    for c, n in zip(map(tuple, centres[keep]), within[keep]):
        uniq[c] = n
    ordered = sorted(uniq.items(), key=lambda t: (t[1], t[0]), reverse=True)
    cs = np.array([c for c, _ in ordered])
    alive = np.ones(len(cs), bool)
    for i in range(len(cs)):
        if alive[i]:
            alive[np.linalg.norm(cs - cs[i], axis=1) <= bandwidth] = False
            alive[i] = True
    cs = cs[alive]
    return np.argmin(((x[:, None, :] - cs[None, :, :]) ** 2).sum(-1), axis=1)


def slot_patterns(slots, ngrams, top: int = 5) -> list[dict]:
    """Mean-shift clusters of slot vectors, largest first (then by the first member's rank).

    Args:
        slots: (m, w) slot contributions of m distinct n-grams, strongest first; ngrams: their texts.
    Returns:
        ``[{"size", "slots": mean slot vector, "ngrams": the ``top`` strongest members}]``; one pattern
        when the points are identical or fewer than two.
    """
    slots = np.asarray(slots, np.float64)
    if not len(slots):
        return []
    bandwidth = bandwidth_for(slots)
    labels = mean_shift(slots, bandwidth) if bandwidth > 0 else np.zeros(len(slots), int)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    groups.sort(key=lambda g: (-len(g), g[0]))
    return [{"size": int(len(g)), "slots": [round(float(v), 4) for v in slots[g].mean(axis=0)],
             "ngrams": [ngrams[i] for i in g[:top]]} for g in groups]


@dataclass
class FilterAnalysis:
    """``table``: one row per filter, columns ``COLUMNS`` + ``weight_<class>``; ``settings``: how it
    was computed; ``centroids``: per (width, filter) the (patterns, w) mean slot vectors."""

    table: pd.DataFrame
    settings: dict
    centroids: dict = field(default_factory=dict)

    def row(self, width: int, j: int):
        return self.table[(self.table["width"] == width) & (self.table["filter"] == j)].iloc[0]


def analyze_filters(net, vocab, class_names, sentences, gold=None, labels: str = "predicted",
                    min_purity: float = 0.5, max_ngrams: int = 100, negatives: int = 5, top: int = 5,
                    batch_size: int = 256, progress=None, activations=None, chunk: int = 20000) -> FilterAnalysis:
    """Class vote, threshold, purity, above-threshold share, slot patterns and negative words of every
    filter over the (training) ``sentences`` (module docstring).

    Args:
        gold: gold class index per sentence (needed for ``labels="gold"``).
        labels: which class purity counts: the model's ``predicted`` class (the authors' code) or ``gold``.
        max_ngrams: distinct above-threshold n-grams clustered per filter (the strongest).
        negatives: words listed per slot (most negative, and top blockers).
        activations: ``max_activations``' result for ``sentences``, if already computed.
    """
    if labels not in LABELS:
        raise InputError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}")
    if labels == "gold" and gold is None:
        raise InputError("labels='gold' needs the gold labels")
    for name, value in (("max_ngrams", max_ngrams), ("negatives", negatives), ("top", top)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if not sentences:
        raise InputError("no sentences to analyse")
    sentences = [vocab.prepare(s) for s in sentences]
    pooled, switch = activations if activations is not None else max_activations(
        net, vocab, sentences, batch_size, progress)
    votes = class_votes(net, class_names)
    identity = np.argmax(np.asarray(net.output_weights.numpy()), axis=1)
    if labels == "predicted":
        y = np.argmax(np.asarray(net.logits_from_pooled(pooled)), axis=1)
    else:
        y = np.asarray(gold)
    thr, pur, share = purity_thresholds(pooled, y, identity, min_purity)
    flat, offset, lengths = layout(net, vocab, sentences)
    words = np.array(vocab.itos, dtype=object)
    keep = np.setdiff1d(np.arange(len(words)), [PAD_ID, UNK_ID])
    patterns, negative, centroids = [], [], {}
    col = 0
    for (w, conv), table in zip(zip(net.widths, net.convs), slot_tables(net)):
        f = int(conv.filters)
        cols = slice(col, col + f)
        bias = np.asarray(conv.bias.numpy(), np.float64)
        blocked = _blocked_counts(table, bias, thr[cols], flat, offset, lengths, w, chunk)  # (w, V, F)
        for j in range(f):
            c = col + j
            above = np.flatnonzero(pooled[:, c] >= thr[c])  # NaN threshold: none
            above = above[np.lexsort((above, -pooled[above, c]))]
            starts = offset[above] + switch[above, c] + net.pad
            windows = flat[starts[:, None] + np.arange(w)] if len(above) else np.zeros((0, w), np.int64)
            _, first = np.unique(windows, axis=0, return_index=True)
            first = np.sort(first)[:max_ngrams]
            slots = table[windows[first], np.arange(w), j] if len(first) else np.zeros((0, w))
            texts = [" ".join(words[v] if v != PAD_ID else "<pad>" for v in windows[i]) for i in first]
            pats = slot_patterns(slots, texts, top)
            patterns.append(pats)
            centroids[w, j] = np.array([p["slots"] for p in pats]).reshape(len(pats), w)
            per_slot = []
            for k in range(w):
                s = table[keep, k, j]
                neg = np.flatnonzero(s < 0)
                most = neg[np.lexsort((keep[neg], s[neg]))][:negatives]
                count = blocked[k, keep, j]
                blockers = np.flatnonzero(count > 0)
                blockers = blockers[np.lexsort((keep[blockers], -count[blockers]))][:negatives]
                per_slot.append({
                    "slot": k,
                    "words": [{"word": str(words[keep[i]]), "value": round(float(s[i]), 4),
                               "kind": "deliberate" if count[i] > 0 else "natural", "blocked": int(count[i])}
                              for i in most],
                    "blockers": [{"word": str(words[keep[i]]), "value": round(float(s[i]), 4),
                                  "blocked": int(count[i])} for i in blockers]})
            negative.append(per_slot)
        col += f
    table = votes[["width", "filter", "class_vote", "vote"]].copy()
    table["threshold"], table["purity"], table["above_threshold_share"] = thr, pur, share
    table["patterns"], table["negative_words"] = patterns, negative
    table = pd.concat([table, votes[[c for c in votes.columns if c.startswith("weight_")]]], axis=1)
    settings = {"sentences": len(sentences), "labels": labels, "min_purity": min_purity,
                "max_ngrams": max_ngrams, "negatives": negatives,
                "clustering": "mean shift (scikit-learn MeanShift, vectorised; estimate_bandwidth)"}
    return FilterAnalysis(table, settings, centroids)


def _blocked_counts(table, bias, thr, flat, offset, lengths, w: int, chunk: int) -> np.ndarray:
    """(w, V, F) int64: how many training windows word v at slot k switched off, i.e. s_k(v) < 0 and
    z < threshold <= z - s_k(v) (z the window's pre-activation), over every window the model reads."""
    v, _, f = table.shape
    counts = np.zeros((w, v, f), np.int64)
    starts = np.concatenate([o + np.arange(n - w + 1) for o, n in zip(offset, lengths)])
    if np.all(np.isnan(thr)):
        return counts
    for a in range(0, len(starts), chunk):
        ids = flat[starts[a:a + chunk, None] + np.arange(w)]  # (m, w)
        s = table[ids, np.arange(w)[None, :], :]  # (m, w, F)
        z = s.sum(axis=1) + bias  # (m, F)
        for k in range(w):
            hit = (s[:, k, :] < 0) & (z < thr) & (z - s[:, k, :] >= thr)
            rows, cols = np.nonzero(hit)
            counts[k] += np.bincount(ids[rows, k] * f + cols, minlength=v * f).reshape(v, f)
    return counts


def fired_filters(net, vocab, analysis: FilterAnalysis, class_names, tokens) -> pd.DataFrame:
    """The prediction view of one sentence: the filters whose max-pooled activation reaches their
    threshold, strongest contribution first.

    Returns:
        columns ``width, filter, switch, ngram, activation, threshold, class_vote, vote, pattern, slots,
        contribution, predicted``: ``switch`` is the n-gram's first token (0-based; negative when the
        window starts in the left padding); ``pattern`` is the index (in ``patterns``) of the pattern
        whose mean slot vector is nearest (Euclidean) to this n-gram's slot vector; ``contribution`` =
        W[j,c] p_j towards the predicted class c (``predicted`` column).
    """
    tokens = vocab.prepare(tokens)
    pooled, switch = max_activations(net, vocab, [tokens])
    p, sw = pooled[0], switch[0]
    weights = np.asarray(net.output_weights.numpy())
    predicted = int(np.argmax(np.asarray(net.logits_from_pooled(pooled))[0]))
    thr = analysis.table["threshold"].to_numpy()
    ids = np.array([PAD_ID] * net.pad + vocab.encode(tokens) + [PAD_ID] * net.pad)
    tables = dict(zip(net.widths, slot_tables(net)))
    rows = []
    for c, (w, j) in enumerate(filter_columns(net)):
        if not p[c] >= thr[c]:
            continue
        start = int(sw[c])
        window = ids[start + net.pad:start + net.pad + w]
        slots = tables[w][window, np.arange(w), j]
        cent = analysis.centroids.get((w, j))
        pattern = int(np.argmin(((cent - slots) ** 2).sum(axis=1))) if cent is not None and len(cent) else -1
        ngram = " ".join(tokens[t] if 0 <= t < len(tokens) else "<pad>" for t in range(start, start + w))
        r = analysis.table.iloc[c]
        rows.append((w, j, start, ngram, float(p[c]), float(thr[c]), r["class_vote"], float(r["vote"]), pattern,
                     [round(float(x), 4) for x in slots], float(weights[c, predicted] * p[c])))
    frame = pd.DataFrame(rows, columns=["width", "filter", "switch", "ngram", "activation", "threshold", "class_vote",
                                        "vote", "pattern", "slots", "contribution"])
    frame["predicted"] = class_names[predicted]
    return frame.sort_values("contribution", key=np.abs, ascending=False, kind="stable").reset_index(drop=True)


def analysis_frame(table: pd.DataFrame, json_columns: bool = False) -> pd.DataFrame:
    """The analysis table as written to CSV: ``patterns`` and ``negative_words`` as JSON text when
    ``json_columns``."""
    frame = table.copy()
    if json_columns:
        for c in ("patterns", "negative_words"):
            frame[c] = frame[c].map(lambda v: json.dumps(v, ensure_ascii=False))
    return frame


def _number(x):
    return None if x is None or not np.isfinite(x) else float(x)


def analysis_records(table: pd.DataFrame, ngrams: pd.DataFrame | None = None) -> list[dict]:
    """One JSON-ready object per filter: the ``COLUMNS``, ``weights`` per class and, given the filter
    dictionary's ``ngrams``, its top n-grams (``ngrams``). A NaN threshold or purity is ``null``."""
    top = {} if ngrams is None else {key: list(g["ngram"]) for key, g in ngrams.groupby(["width", "filter"])}
    weights = [c for c in table.columns if c.startswith("weight_")]
    out = []
    for _, r in table.iterrows():
        key = (int(r["width"]), int(r["filter"]))
        out.append({"width": key[0], "filter": key[1], "class_vote": r["class_vote"], "vote": float(r["vote"]),
                    "weights": {c[len("weight_"):]: float(r[c]) for c in weights},
                    "threshold": _number(r["threshold"]), "purity": _number(r["purity"]),
                    "above_threshold_share": float(r["above_threshold_share"]),
                    "patterns": r["patterns"], "negative_words": r["negative_words"], "ngrams": top.get(key, [])})
    return out


def read_analysis_csv(path, net) -> pd.DataFrame:
    """A ``<csv stem>-analysis.csv`` written by ``textdeconv filters`` for this model, checked: its rows
    must be the model's filters in order, its ``patterns`` JSON.

    Raises:
        MissingFileError: no such file. DataError: not such a file, or another model's (one line saying which).
    """
    from pathlib import Path

    from textdeconv.errors import DataError, MissingFileError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"--filter-analysis: file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"--filter-analysis: {path} is not a CSV file ({str(e).splitlines()[0]})") from None
    missing = [c for c in ("width", "filter", "class_vote", "threshold", "patterns") if c not in frame.columns]
    if missing:
        raise DataError(f"--filter-analysis: {path} has no column {', '.join(missing)}; write it with "
                        "'textdeconv filters --run RUN' (its <csv stem>-analysis.csv)")
    cols = filter_columns(net)
    try:
        same = [(int(w), int(j)) for w, j in zip(frame["width"], frame["filter"])] == cols
    except (TypeError, ValueError):
        same = False
    if not same:
        raise DataError(f"--filter-analysis: {path} lists {len(frame)} filters that are not this model's "
                        f"({len(cols)} filters, widths {', '.join(map(str, net.widths))}); analyse this run")
    try:
        frame["patterns"] = [json.loads(p) for p in frame["patterns"]]
        frame["threshold"] = frame["threshold"].astype(np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"--filter-analysis: {path}: unreadable threshold or patterns ({e})") from None
    return frame


def annotate_filter_frame(frame: pd.DataFrame, net, class_names, expls, analysis: pd.DataFrame | None = None):
    """``reports.export.filter_frame``'s rows (sentences x filters, in order) with ``class_vote`` and
    ``vote``; given an analysis table also ``threshold``, ``above_threshold`` (activation >= threshold)
    and ``pattern`` (index of the nearest pattern of the n-gram's slot vector; -1 when not above)."""
    votes = class_votes(net, class_names)
    n, f = len(expls), len(votes)
    if len(frame) != n * f:
        raise ValueError(f"{len(frame)} rows for {n} sentences x {f} filters")
    frame = frame.copy()
    frame["class_vote"], frame["vote"] = np.tile(votes["class_vote"].to_numpy(), n), np.tile(votes["vote"], n)
    if analysis is None:
        return frame
    thr = np.tile(analysis["threshold"].to_numpy(np.float64), n)
    above = frame["activation"].to_numpy(np.float64) >= thr
    frame["threshold"], frame["above_threshold"] = thr, above
    tables = dict(zip(net.widths, slot_tables(net)))
    cents = [np.array([p["slots"] for p in pats], np.float64) for pats in analysis["patterns"]]
    cols = filter_columns(net)
    pattern = np.full(len(frame), -1)
    switch = frame["switch"].to_numpy()
    for i, e in enumerate(expls):
        pad = np.zeros(net.pad, np.int64)
        ids = np.concatenate([pad, np.asarray(e.token_ids, np.int64), pad])
        for c in np.flatnonzero(above[i * f:(i + 1) * f]):
            w, j = cols[c]
            if not len(cents[c]):
                continue
            s = int(switch[i * f + c]) + net.pad
            slots = tables[w][ids[s:s + w], np.arange(w), j]
            pattern[i * f + c] = int(np.argmin(((cents[c] - slots) ** 2).sum(axis=1)))
    frame["pattern"] = pattern
    return frame
