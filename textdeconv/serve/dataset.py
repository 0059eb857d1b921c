"""The explorer's data set view: a labelled data set of the served run (a split of its own data,
or an uploaded CSV/TSV/JSONL file with text and label columns) with the run's predictions,
computed once per run and source and cached; slices, sorting and paging over its rows, and the
metrics of a slice (accuracy, per-class precision/recall/F1, the confusion matrix).

The arithmetic here is plain numpy over arrays (``select``, ``order``, ``metrics``), so the tests
check it on hand-made tables; ``Explorer`` (explorer.py) loads the rows and runs the model.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from textdeconv.errors import UserError

SPLITS = ("train", "dev", "test")
SORTS = ("index", "confidence", "length", "loss")
FORMATS = ("csv", "tsv", "jsonl")
PREDICT_CHUNK = 1024  # sentences predicted between two checks of the request's time budget
# treebank escapes as the page shows them (explorer.js ``ESCAPES``): the search matches both forms
DISPLAY = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
           "-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}",
           "``": "\u201c", "''": "\u201d"}


def shown(text: str) -> str:
    """``text`` as the table shows it: each space-separated treebank escape replaced by what it stands for."""
    return " ".join(DISPLAY.get(t, t) for t in text.split(" "))


def fold(text: str) -> str:
    """Casefolded, with curly double quotes as the ``"`` a keyboard types (the search compares these)."""
    return text.casefold().replace("\u201c", '"').replace("\u201d", '"')


@dataclass(frozen=True)
class DataSet:
    """A labelled data set with one run's predictions.

    ``texts``: what a person reads (the sentence as written, before the run's cleaning);
    ``tokens``: what the model reads; ``gold``: (n,) class indices; ``probs``: (n, C) float32."""

    source: str
    texts: list
    tokens: list
    gold: np.ndarray
    probs: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def predicted(self) -> np.ndarray:
        return np.argmax(self.probs, axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """(n,) the probability of the predicted class."""
        return self.probs.max(axis=1).astype(np.float64)

    @property
    def loss(self) -> np.ndarray:
        """(n,) cross-entropy of the gold class, -log p(gold) (float64; a 0 probability gives inf)."""
        p = self.probs[np.arange(len(self)), self.gold].astype(np.float64)
        with np.errstate(divide="ignore"):
            return -np.log(p)

    @cached_property
    def shown_texts(self) -> list:
        """The texts as the page shows them (``shown``), folded (``fold``), computed once per data set."""
        return [fold(shown(t)) for t in self.texts]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.tokens], dtype=np.int64)


@dataclass(frozen=True)
class Slice:
    """Which rows a request looks at; every field None = no condition. ``search``: a case-insensitive
    substring of the text as stored or as shown (treebank escapes as brackets and quotes, ``shown``;
    a curly quote and ``"`` match each other); ``word``: a token the model reads, or its shown form
    (case-insensitive, whole token);
    ``gold`` / ``predicted``: class indices; ``correct``: true or false; lengths in tokens, inclusive."""

    search: str | None = None
    word: str | None = None
    gold: int | None = None
    predicted: int | None = None
    correct: bool | None = None
    min_length: int | None = None
    max_length: int | None = None


def select(data: DataSet, s: Slice) -> np.ndarray:
    """The row indices (0-based, in data set order) of the rows ``s`` keeps."""
    keep = np.ones(len(data), dtype=bool)
    predicted = data.predicted
    if s.gold is not None:
        keep &= data.gold == s.gold
    if s.predicted is not None:
        keep &= predicted == s.predicted
    if s.correct is not None:
        keep &= (predicted == data.gold) == s.correct
    if s.min_length is not None:
        keep &= data.lengths >= s.min_length
    if s.max_length is not None:
        keep &= data.lengths <= s.max_length
    if s.search:
        needle = s.search.casefold()
        folded = fold(s.search)
        keep &= np.array([needle in t.casefold() or folded in v for t, v in zip(data.texts, data.shown_texts)],
                         dtype=bool)
    if s.word:
        word, folded = s.word.casefold(), fold(s.word)
        keep &= np.array([any(word == t.casefold() or folded == fold(DISPLAY.get(t, t)) for t in toks)
                          for toks in data.tokens], dtype=bool)
    return np.flatnonzero(keep)


def order(data: DataSet, rows: np.ndarray, by: str = "index", descending: bool = False) -> np.ndarray:
    """``rows`` sorted by ``by`` (one of ``SORTS``); ties keep data set order, whichever direction."""
    if by == "index":
        key = rows.astype(np.float64)
    else:
        key = {"confidence": data.confidence, "length": data.lengths.astype(np.float64), "loss": data.loss}[by][rows]
    if descending:
        key = -key
    return rows[np.lexsort((rows, key))]


def metrics(gold: np.ndarray, predicted: np.ndarray, class_names) -> dict:
    """Accuracy, per-class precision / recall / F1 and the confusion matrix of a slice.

    ``confusion[g][p]``: rows whose gold class is g and predicted class p. A ratio whose
    denominator is 0 is None (precision of a class never predicted, recall of a class absent from
    the slice, accuracy of an empty slice); F1 is None when precision or recall is, 0 when both are 0."""
    c = len(class_names)
    gold, predicted = np.asarray(gold, np.int64), np.asarray(predicted, np.int64)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (gold, predicted), 1)
    n = int(len(gold))
    per_class = []
    for i, name in enumerate(class_names):
        tp, support, guessed = int(confusion[i, i]), int(confusion[i].sum()), int(confusion[:, i].sum())
        precision = tp / guessed if guessed else None
        recall = tp / support if support else None
        if precision is None or recall is None:
            f1 = None
        else:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"class": name, "precision": precision, "recall": recall, "f1": f1,
                          "support": support, "predicted": guessed})
    f1s = [r["f1"] for r in per_class if r["f1"] is not None]
    return {"count": n, "correct": int(np.trace(confusion)),
            "accuracy": int(np.trace(confusion)) / n if n else None,
            "macro_f1": sum(f1s) / len(f1s) if f1s else None,
            "classes": per_class, "confusion": confusion.tolist()}


def row_json(data: DataSet, i: int, class_names) -> dict:
    """One row as ``/api/dataset`` answers it (``id`` is 1-based: the sentence's place in its split
    or the record's place in the file)."""
    from textdeconv.reports.html import json_numbers

    probs = json_numbers(data.probs[i])
    p, g = int(np.argmax(data.probs[i])), int(data.gold[i])
    loss = float(data.loss[i])
    return {"id": i + 1, "text": data.texts[i], "tokens": list(data.tokens[i]), "gold": class_names[g],
            "gold_index": g, "predicted": class_names[p], "predicted_index": p, "probability": probs[p],
            "probs": dict(zip(class_names, probs)), "correct": p == g, "length": len(data.tokens[i]),
            "loss": loss if np.isfinite(loss) else None}


def file_key(text: str, fmt: str, text_column: str, label_column: str) -> str:
    """The cache key of an uploaded file: its content and how it is read."""
    digest = hashlib.sha256("\0".join((fmt, text_column, label_column, text)).encode("utf-8")).hexdigest()
    return f"file:{digest[:16]}"


def file_rows(text: str, fmt: str, text_column: str, label_column: str, class_names, vocab):
    """``(texts, token lists, gold indices)`` of an uploaded labelled file, read as ``textdeconv
    train`` reads ``dataset: custom`` files; labels must name the run's classes."""
    from textdeconv.config import DataConfig
    from textdeconv.data.custom import read_records_text

    cfg = DataConfig(dataset="custom", text_column=text_column, label_column=label_column)
    how = {"text_column": "'file.text_column'", "label_column": "'file.label_column'"}
    records = read_records_text("the file", text, fmt, cfg, how)
    index = {c: i for i, c in enumerate(class_names)}
    for r in records:
        if r.label not in index:
            raise UserError(f"{r.where}: label {r.label!r} is not a class of this run ({', '.join(class_names)})")
    texts = [" ".join(r.tokens) for r in records]
    return texts, [vocab.prepare(list(r.tokens)) for r in records], [index[r.label] for r in records]


def aggregate_json(lex, class_names, top: int, by: str) -> list[dict]:
    """Per class: the ``top`` words with the most evidence for it (largest positive ``by`` score) and
    against it (most negative), among the words ``lexicon`` ranks (``count >= min_count``)."""
    out = []
    for name in class_names:
        rows = lex[(lex["class"] == name) & lex["rank_mean"].notna()]
        key = f"{by}_score"
        ranked = rows[rows[key] > 0].sort_values([key, "word"], ascending=[False, True], kind="stable")
        against = rows[rows[key] < 0].sort_values([key, "word"], ascending=[True, True], kind="stable")

        def items(frame):
            return [{"word": w, "count": int(n), "mean": float(m), "total": float(t)}
                    for w, n, m, t in zip(frame["word"], frame["count"], frame["mean_score"], frame["total_score"])]

        out.append({"class": name, "words": int(len(rows)), "for": items(ranked.head(top)),
                    "against": items(against.head(top))})
    return out


def slice_filters(contributions, pooled, switch, tokens, widths, index, class_names, top: int,
                  ngrams: int = 3) -> list[dict]:
    """Per class, the ``top`` filters with the largest positive mean contribution w_cj * p_j over the
    slice's sentences (the deconvnet's ``contribution``; a filter that did not fire adds 0).

    Args:
        contributions: (C, n, F) each filter's contribution to class c in each sentence;
        pooled: (n, F) p_j; switch: (n, F) the token index where each filter's winning window
            starts (negative: in the left padding); tokens: the n token lists the model read;
        widths, index: (F,) each pooled column's width and filter index.
    Returns:
        per class ``{"class", "filters": [{"width", "filter", "mean_contribution", "fired", "ngrams"}]}``:
        ``fired`` counts the sentences with p_j > 0; ``ngrams`` the ``ngrams`` most frequent winning
        n-grams of those sentences (``{"ngram", "count"}``; ties: the larger activation p_j first,
        then alphabetical; ``<pad>`` for padding, as ``deconv.filter_table``). Filters sort by mean,
        ties in column order (width, then index).
    """
    pooled, switch = np.asarray(pooled), np.asarray(switch)
    fired = pooled > 0
    out = []
    for c, name in enumerate(class_names):
        mean = np.asarray(contributions[c], np.float64).mean(axis=0)
        best = [int(j) for j in np.lexsort((np.arange(len(mean)), -mean)) if mean[j] > 0][:top]
        items = []
        for j in best:
            w = int(widths[j])
            grams, strongest = Counter(), {}
            for i in np.flatnonzero(fired[:, j]):
                toks, start = tokens[i], int(switch[i, j])
                g = " ".join(toks[t] if 0 <= t < len(toks) else "<pad>" for t in range(start, start + w))
                grams[g] += 1
                strongest[g] = max(strongest.get(g, 0.0), float(pooled[i, j]))
            common = sorted(grams.items(), key=lambda kv: (-kv[1], -strongest[kv[0]], kv[0]))[:ngrams]
            items.append({"width": w, "filter": int(index[j]), "mean_contribution": float(mean[j]),
                          "fired": int(fired[:, j].sum()), "ngrams": [{"ngram": g, "count": n} for g, n in common]})
        out.append({"class": name, "filters": items})
    return out


def pca2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two principal components of the rows of ``x`` (n, F) by numpy's SVD of the centred matrix.

    Returns:
        ``(coords (n, 2), explained variance ratio (2,))``; each axis's sign is fixed so that its
        loading of largest magnitude is positive (an SVD's signs are arbitrary). Fewer than two
        non-zero components give zeros in their place.
    """
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, np.float64)
    centred = x - x.mean(axis=0)
    # one BLAS thread: beside TensorFlow's threads on a busy machine, OpenBLAS's own spinning
    # threads made this SVD (1,821 x 300) take 3-10 s instead of 0.13 s
    with threadpool_limits(1, user_api="blas"):
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((2, x.shape[1]))
    k = min(2, vt.shape[0])
    axes[:k] = vt[:k]
    for a in axes:
        if a.any() and a[np.argmax(np.abs(a))] < 0:
            a *= -1
    var = np.zeros(2)
    var[:k] = s[:k] ** 2
    total = float((s ** 2).sum())
    return centred @ axes.T, (var / total if total > 0 else var)
