"""Explanations as coloured HTML in a notebook (``Explanation._repr_html_``, ``Explanations._repr_html_``).

The colour map is the one the HTML page and the explorer draw with ``heatmap.js`` beside this
file (the one JavaScript renderer, which ``heatmap_js`` reads): white at 0, blue (33, 102, 172)
at +scale (evidence for the target class), red (178, 24, 43) at -scale; each sentence scaled by
its own max |score|. ``colour`` mirrors the JavaScript ``colour`` value for value. All text is escaped.
"""
from __future__ import annotations

import functools
import math
from html import escape
from importlib import resources

import numpy as np

POSITIVE, NEGATIVE = (33, 102, 172), (178, 24, 43)


def colour(score: float, scale: float) -> tuple[str, str]:
    """(background, text colour) for ``score`` on a diverging map reaching full colour at ``scale``:
    heatmap.js's ``colour`` (rounding half up as JavaScript's ``Math.round``, not half to even)."""
    a = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    end = POSITIVE if score > 0 else NEGATIVE
    rgb = ",".join(str(math.floor(255 + (e - 255) * a + 0.5)) for e in end)
    return f"rgb({rgb})", "#fff" if a > 0.6 else "#222"


@functools.cache
def heatmap_js() -> str:
    """The shared JavaScript colour renderer (``window.TDHeat``), as the HTML report inlines it
    and the explorer serves it."""
    return resources.files("textdeconv.reports").joinpath("heatmap.js").read_text(encoding="utf-8")


def sentence_html(e, class_names=None) -> str:
    """One sentence: its tokens coloured by score (title = the score), then the prediction."""
    scale = float(np.abs(e.scores).max()) if len(e.scores) else 0.0
    spans = []
    for tok, s, known in zip(e.tokens, e.scores, e.in_vocab):
        bg, fg = colour(float(s), scale)
        mark = "" if known else ";text-decoration:underline dotted"
        spans.append(f'<span title="{float(s):+.4f}" style="background:{bg};color:{fg};padding:1px 3px;'
                     f'border-radius:3px{mark}">{escape(tok)}</span>')
    return " ".join(spans)


def _head(e) -> str:
    return (f"predicted <b>{escape(e.predicted_name)}</b> ({float(e.probs[e.predicted]):.3f}), "
            f"target <b>{escape(e.target_name)}</b>, {escape(e.method)}")


def explanation_html(e) -> str:
    """One explanation as a small block (``Explanation._repr_html_``)."""
    return (f'<div style="font:14px/1.9 system-ui,sans-serif">{sentence_html(e)}'
            f'<div style="font-size:.8em;color:#555">{_head(e)}; blue = for the target, red = against '
            f'(scaled by the sentence\'s max |score|; dotted = unknown word)</div></div>')


def heatmap_table(expls, sentence_ids, class_names=()) -> str:
    """All explanations as one table: id, coloured sentence, prediction (``Explanations._repr_html_``)."""
    rows = "".join(f'<tr><td style="color:#555">{escape(str(sid))}</td>'
                   f'<td style="text-align:left">{sentence_html(e)}</td>'
                   f'<td style="text-align:left;font-size:.85em">{_head(e)}</td></tr>'
                   for sid, e in zip(sentence_ids, expls))
    return ('<table style="font:14px/1.9 system-ui,sans-serif;border-collapse:collapse">'
            '<tr><th>id</th><th style="text-align:left">sentence (blue = for the target, red = against)</th>'
            f'<th style="text-align:left">prediction</th></tr>{rows}</table>')
