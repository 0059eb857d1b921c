"""Corpus lexicon: which words an attribution method finds to be evidence for each class, over a split.

Every sentence is explained once per class (target c = 0..C-1); a word's evidence for class c is
the score of its tokens when c is the target. Per class and word: ``count`` (tokens of the word in
the split), ``mean_score`` and ``total_score`` (mean and sum of those scores), ``rank_mean`` (1 =
the largest mean; only words with count >= min_count are ranked, so one lucky token cannot top the
list) and ``rank_total`` (1 = the largest sum; every word). Words are the vocabulary's forms
(lower-cased when the vocabulary is); tokens the model reads as unknown are pooled as ``<unk>``,
since that is the one embedding it sees for all of them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from textdeconv.data.vocab import UNK, normalize_token
from textdeconv.errors import InputError
from textdeconv.reports.export import token_frame

COLUMNS = ("class", "word", "count", "mean_score", "total_score", "rank_mean", "rank_total")
RANK_BY = ("mean", "total")


def explain_classes(explainer, sentences, sentence_ids=None, batch_size: int = 128, progress=None) -> pd.DataFrame:
    """Explain every sentence for every class: ``export.token_frame`` rows of all classes stacked
    (class 0's explanations first), with a ``word`` column (see the module docstring).

    Args:
        explainer: any ``Explainer`` (``textdeconv.attribution.make_explainer``).
        sentences: token lists; progress: optional ``f(class_index, class_name)`` before each class.
    """
    if not sentences:
        raise InputError("no sentences to explain")
    frames = []
    for c, name in enumerate(explainer.class_names):
        if progress:
            progress(c, name)
        frames.append(token_frame(explainer.explain(sentences, target=c, batch_size=batch_size), sentence_ids))
    frame = pd.concat(frames, ignore_index=True)
    lower = explainer.vocab.lowercase
    frame["word"] = [normalize_token(t, lower) if known else UNK for t, known in zip(frame["token"], frame["in_vocab"])]
    return frame


def lexicon(frame: pd.DataFrame, class_names, min_count: int = 3) -> pd.DataFrame:
    """Rank words per class by mean and total score.

    Args:
        frame: ``explain_classes``' rows (needs ``target``, ``word``, ``score``).
        class_names: the classes, in order (the output's order).
        min_count: words with fewer tokens get no ``rank_mean`` (empty in a CSV).
    Returns:
        columns ``COLUMNS``, sorted by class, then rank_mean (unranked last), rank_total and word.
        Ranks use ``min`` for ties (equal scores share the better rank).
    """
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}")
    scores = frame.assign(score=frame["score"].astype(np.float64))
    lex = (scores.groupby(["target", "word"], sort=False)["score"]
           .agg(count="size", mean_score="mean", total_score="sum").reset_index()
           .rename(columns={"target": "class"}))
    by_class = lex.groupby("class", sort=False)
    lex["rank_total"] = by_class["total_score"].rank(ascending=False, method="min").astype(int)
    ranked_mean = lex["mean_score"].where(lex["count"] >= min_count)
    lex["rank_mean"] = ranked_mean.groupby(lex["class"]).rank(ascending=False, method="min").astype("Int64")
    unknown = set(lex["class"]) - set(class_names)
    if unknown:
        raise InputError(f"explanations for classes {sorted(unknown)} not in {list(class_names)}")
    lex["order"] = lex["class"].map({c: i for i, c in enumerate(class_names)})
    lex = lex.sort_values(["order", "rank_mean", "rank_total", "word"], na_position="last", kind="stable")
    return lex[list(COLUMNS)].reset_index(drop=True)


def top_words(lex: pd.DataFrame, class_name: str, top: int = 20, by: str = "mean") -> pd.DataFrame:
    """The ``top`` rows of one class by ``rank_<by>`` (``by``: mean or total)."""
    if by not in RANK_BY:
        raise InputError(f"unknown ranking {by!r}; choose one of {', '.join(RANK_BY)}")
    rows = lex[(lex["class"] == class_name) & lex[f"rank_{by}"].notna()]
    return rows.sort_values([f"rank_{by}", "word"], kind="stable").head(top)


def plot_lexicon(lex: pd.DataFrame, class_names, path: str | Path, top: int = 20, by: str = "mean",
                 title: str = "") -> dict:
    """Bar chart of each class's ``top`` words by mean (or total) score, one panel per class, as a PNG
    written atomically.

    Returns:
        what was drawn: ``{class: (words top-down, values)}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textdeconv.files import atomic_path

    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    drawn = {}
    fig, axes = plt.subplots(1, len(class_names), figsize=(4.2 * len(class_names), 1.2 + 0.28 * top), squeeze=False)
    for ax, name in zip(axes[0], class_names):
        rows = top_words(lex, name, top, by)
        values = rows[f"{by}_score"].to_numpy()
        labels = [f"{w} ({n})" for w, n in zip(rows["word"], rows["count"])]
        ax.barh(np.arange(len(rows)), values, color=np.where(values >= 0, "#2166ac", "#b2182b"))
        ax.set_yticks(np.arange(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()  # rank 1 on top
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_title(str(name))
        ax.set_xlabel(f"{by} score (count)")
        ax.grid(axis="x", alpha=0.3)
        if not len(rows):
            ax.text(0.5, 0.5, "no word ranked", ha="center", va="center", transform=ax.transAxes)
        drawn[name] = (rows["word"].tolist(), values)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return drawn
