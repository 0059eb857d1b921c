"""Writers for explanations: long-format CSV, per-filter CSV, JSON, and the terminal view (the HTML
page is ``textdeconv.html``)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from textdeconv.files import atomic_path, atomic_write_text

CSV_COLUMNS = ("sentence_id", "sentence", "token_index", "token", "in_vocab", "score", "target",
               "predicted", "probability", "method")


def token_frame(expls, sentence_ids=None, gold=None) -> pd.DataFrame:
    """One row per token (columns ``CSV_COLUMNS``; ``probability`` is the target class's).
    ``gold`` (a label name per sentence) adds a ``gold`` column.

    ``sentence`` (the tokens joined by spaces) is on each sentence's first row (``token_index``
    0) only, None on the others (an empty CSV field): repeated on every row, a sentence of n
    tokens would cost O(n^2) bytes. ``frame["sentence"].ffill()`` fills it in again.
    """
    ids = sentence_ids if sentence_ids is not None else range(1, len(expls) + 1)
    pairs = list(zip(ids, expls))
    if not pairs:
        return pd.DataFrame(columns=list(CSV_COLUMNS))
    # built column-wise (one array per column, not one frame per sentence): ~100x faster on
    # big inputs, and the same frame, dtypes included (float32 scores stay float32)
    lengths = np.array([len(e.tokens) for _, e in pairs])

    def per_sentence(values, dtype=object):
        return np.repeat(np.array(values, dtype=dtype), lengths)

    firsts = np.cumsum(lengths) - lengths
    sentence = np.full(int(lengths.sum()), None, dtype=object)
    sentence[firsts] = [" ".join(e.tokens) for _, e in pairs]
    cols = {"sentence_id": per_sentence([sid for sid, _ in pairs], None),
            "sentence": sentence,
            "token_index": np.arange(int(lengths.sum())) - np.repeat(firsts, lengths),
            "token": [t for _, e in pairs for t in e.tokens],
            "in_vocab": np.concatenate([e.in_vocab for _, e in pairs]),
            "score": np.concatenate([e.scores for _, e in pairs]),
            "target": per_sentence([e.target_name for _, e in pairs]),
            "predicted": per_sentence([e.predicted_name for _, e in pairs]),
            "probability": per_sentence([e.probability for _, e in pairs], float),
            "method": per_sentence([e.method for _, e in pairs])}
    if gold is not None:
        cols["gold"] = per_sentence([gold[k] for k in range(len(pairs))])
    return pd.DataFrame(cols)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells starting with a formula character get a leading ``'``,
    so a spreadsheet shows them as text instead of running them (``-LRB-`` becomes ``'-LRB-``:
    for pandas and other programs, read the plain CSV). Numeric columns are left as they are."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v for v in out[column]]
    return out


def filter_frame(expls, sentence_ids, net) -> pd.DataFrame:
    """The deconvnet's per-filter detail of every sentence (``attribution.deconv.filter_table``),
    one row per filter with its ``sentence_id`` first: what ``explain --filters-csv`` writes."""
    from textdeconv.attribution.deconv import filter_table

    frames = [filter_table(e, net).assign(sentence_id=sid) for sid, e in zip(sentence_ids, expls)]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["sentence_id"] + [c for c in frame.columns if c != "sentence_id"]]


def write_csv(frame: pd.DataFrame, path) -> None:
    """Write a frame as UTF-8 CSV, atomically (a crash never leaves a partial file)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def to_json(expls, sentence_ids=None) -> str:
    ids = sentence_ids if sentence_ids is not None else range(1, len(expls) + 1)
    items = [{"sentence_id": sid, "tokens": e.tokens, "scores": [float(s) for s in e.scores],
              "in_vocab": [bool(v) for v in e.in_vocab], "target": e.target_name,
              "predicted": e.predicted_name, "probs": [float(p) for p in e.probs], "method": e.method}
             for sid, e in zip(ids, expls)]
    return json.dumps(items, ensure_ascii=False, indent=1)


def write_json(expls, path, sentence_ids=None) -> None:
    atomic_write_text(path, to_json(expls, sentence_ids) + "\n")


def render(e, class_names, color: bool) -> str:
    """Two lines for a terminal: prediction with class probabilities, then ``token score`` pairs
    (green = evidence for the target class, red = against; plain text when ``color`` is False)."""
    probs = "  ".join(f"{c} {p:.3f}" for c, p in zip(class_names, e.probs))
    head = f"predicted: {class_names[e.predicted]}  ({probs})  target: {e.target_name}  method: {e.method}"
    scale = max(float(np.abs(e.scores).max()), 1e-12)
    words = []
    for tok, s, known in zip(e.tokens, e.scores, e.in_vocab):
        text = f"{tok}{'' if known else '?'} {s:+.3f}"
        if color:
            code = ("32" if s > 0 else "31") + (";1" if abs(s) > 0.5 * scale else "")
            text = f"\x1b[{code}m{text}\x1b[0m" if s != 0 else text
        words.append(text)
    return head + "\n  " + "  ".join(words)
