"""A self-contained HTML page of explanations: tokens coloured by score, switchable between
methods and target classes, with the deconvnet's per-filter detail on hover.

The page needs no network: CSS and JavaScript are inline, and the data sits in one
``<script type="application/json">`` element, JSON-escaped so that no token can close it.
Tokens are also written into the page as escaped text, so it reads (uncoloured) without JavaScript.

Colour: a diverging map symmetric around 0 (blue = evidence for the target class, red =
against, white = 0), drawn by ``heatmap.js``, the one renderer the explorer (``textdeconv serve``)
uses too, inlined here. By default each sentence is scaled by its own max |score| for the shown
method and class (the page's "per sentence" scale), so short and long sentences stay readable;
the "global" scale divides by the max over all sentences instead, for comparing sentences.

Hover (deconv methods): the ``top_filters`` live filters whose max-pooling window (switch) covers
the word, largest |contribution| (w_cj * p_j, the filter's share of the target logit) first.
"""
from __future__ import annotations

import json
import math
from html import escape

import numpy as np

from textdeconv.errors import InputError
from textdeconv.files import atomic_write_text
from textdeconv.reports.heatmap import heatmap_js

SCALES = ("sentence", "global")


def json_numbers(values) -> list:
    """JSON-ready floats equal to what the CSV writer prints (float32 in its shortest form);
    NaN/inf become null, since JSON has no such numbers."""
    a = np.asarray(values)
    if a.dtype == np.float32:
        out = [float(str(x)) for x in a]
    else:
        out = [float(x) for x in a.astype(np.float64)]
    return [x if math.isfinite(x) else None for x in out]


def filter_rows(table, n_tokens: int, top: int = 3) -> list[list]:
    """The filters a hover shows for one sentence: for every token, the ``top`` alive filters
    with the largest |contribution| whose switch window covers it; the union, in table order.

    Args:
        table: one sentence's ``textdeconv.deconv.filter_table`` frame.
        n_tokens: the sentence's length.
    Returns:
        rows ``[width, filter, switch, ngram, contribution]``; the page picks a token's filters
        from them again (window covers the token, sort by |contribution|, first ``top``).
    """
    alive = table[table["alive"]].reset_index(drop=True)
    start, width = alive["switch"].to_numpy(), alive["width"].to_numpy()
    strength = np.abs(alive["contribution"].to_numpy(np.float64))
    keep = set()
    for t in range(n_tokens):
        covering = np.flatnonzero((start <= t) & (t < start + width))
        keep.update(covering[np.argsort(-strength[covering], kind="stable")][:top].tolist())
    contribution = json_numbers(alive["contribution"].to_numpy())
    return [[int(width[i]), int(alive["filter"][i]), int(start[i]), str(alive["ngram"][i]), contribution[i]]
            for i in sorted(keep)]


def html_data(sentence_ids, results: dict, class_names, filter_tables: dict | None = None, gold=None,
              method: str | None = None, target: int = -1, scale: str = "sentence", title: str = "",
              top_filters: int = 3) -> dict:
    """Collect what the page shows into one JSON-ready dict.

    Args:
        sentence_ids: one id per sentence (shown as ``[id]``).
        results: ``{method: [explanations with target 0, with target 1, ...]}``, each list one
            ``Explanation`` per sentence in ``sentence_ids`` order.
        class_names: label of each class index.
        filter_tables: ``{method: [[filter_table per sentence] per class]}`` for deconv methods.
        gold: a label name per sentence, or None.
        method, target: what the page shows first (target -1 = each sentence's predicted class).
        scale: ``"sentence"`` or ``"global"`` colour scaling, switchable on the page.
    Raises:
        InputError: the explanations do not line up (wrong target, other tokens, missing class).
    """
    methods, classes, filter_tables = list(results), list(class_names), filter_tables or {}
    if not methods:
        raise InputError("no explanations to show")
    if scale not in SCALES:
        raise InputError(f"unknown colour scale {scale!r}; choose one of {', '.join(SCALES)}")
    sentence_ids = list(sentence_ids)
    for m, per_class in results.items():
        if len(per_class) != len(classes):
            raise InputError(f"{m}: got explanations for {len(per_class)} classes, expected {len(classes)}")
        for c, expls in enumerate(per_class):
            if len(expls) != len(sentence_ids) or any(e.target != c for e in expls):
                raise InputError(f"{m}: the explanations for class {classes[c]!r} must be one per sentence, "
                                 f"each with target {c}")
    sentences = []
    for k, sid in enumerate(sentence_ids):
        first = results[methods[0]][0][k]
        if any(per_class[c][k].tokens != first.tokens for per_class in results.values() for c in range(len(classes))):
            raise InputError(f"sentence {sid}: the methods explain different tokens")
        sentences.append({
            "id": sid.item() if isinstance(sid, np.generic) else sid,
            "tokens": list(first.tokens), "in_vocab": [bool(v) for v in first.in_vocab],
            "predicted": int(first.predicted), "probs": json_numbers(first.probs),
            "gold": None if gold is None else str(gold[k]),
            "scores": {m: [json_numbers(per_class[c][k].scores) for c in range(len(classes))]
                       for m, per_class in results.items()},
            "filters": {m: [filter_rows(tables[c][k], len(first.tokens), top_filters) for c in range(len(classes))]
                        for m, tables in filter_tables.items()},
        })
    return {"title": title, "classes": classes, "methods": methods, "method": method or methods[0],
            "target": int(target), "scale": scale, "top_filters": int(top_filters), "sentences": sentences}


def explanations_page(run, sentence_ids, sentences, methods: dict, target=None, gold=None, batch_size: int = 128,
                      first: str | None = None, title: str = "") -> dict:
    """``html_data`` for a run: every sentence explained by every method in ``methods``
    (``{name: options}``) for every class, with the deconvnet's filter tables.

    Args:
        run: a ``textdeconv.api.Run``; sentence_ids, sentences: ids and token lists.
        target: the class shown first (None: each sentence's predicted class); first: the method
            shown first (default: the first of ``methods``).
    """
    from textdeconv.attribution import DECONV_METHODS
    from textdeconv.attribution.deconv import filter_table
    from textdeconv.attribution.explanation import resolve_target

    results, tables = {}, {}
    for method, options in methods.items():
        explainer = run.explainer(method, **options)
        results[method] = [explainer.explain(sentences, target=c, batch_size=batch_size)
                           for c in range(len(run.class_names))]
        if method in DECONV_METHODS:
            tables[method] = [[filter_table(e, run.net) for e in per_class] for per_class in results[method]]
    first = first if first in results else next(iter(results))
    return html_data(sentence_ids, results, run.class_names, tables, gold, method=first,
                     target=resolve_target(target, run.class_names), title=title)


def script_json(data) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` are written as \\u escapes,
    so ``</script>`` or ``<!--`` in a token cannot end or confuse the element (U+2028/9 too)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def render_html(data: dict) -> str:
    """The page for ``html_data``'s dict, as one string."""
    blocks = []
    for k, s in enumerate(data["sentences"]):
        toks = " ".join(f'<span class="td-tok{"" if known else " td-unk"}" data-t="{t}">{escape(tok)}</span>'
                        for t, (tok, known) in enumerate(zip(s["tokens"], s["in_vocab"])))
        blocks.append(f'<section class="td-sent" data-k="{k}"><div class="td-meta">[{escape(str(s["id"]))}]</div>'
                      f'<div class="td-toks">{toks}</div></section>')
    title = escape(data["title"] or "textdeconv explanations")
    return _PAGE.format(title=title, css=_CSS, heatmap=heatmap_js(), js=_JS, data=script_json(data),
                        n=len(data["sentences"]), sentences="\n".join(blocks))


def write_html(path, data: dict) -> None:
    """Write the page atomically (a crash never leaves a partial file)."""
    atomic_write_text(path, render_html(data))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="td-note">{n} sentence(s). Hover a word for its score (and, for deconv methods, the filters
whose max-pooling window covers it).</p>
<div class="td-controls">
<label>method <select id="td-method"></select></label>
<label>target class <select id="td-target"></select></label>
<label>colour scale <select id="td-scale"></select></label>
</div>
<div class="td-legend"><span id="td-lo"></span><span class="td-bar"></span><span id="td-hi"></span>
<span class="td-note" id="td-scale-note"></span></div>
<noscript><p>JavaScript is off: words are shown without colours.</p></noscript>
</header>
<main>
{sentences}
</main>
<div id="td-tip" hidden></div>
<script type="application/json" id="td-data">{data}</script>
<script>{heatmap}
{js}</script>
</body>
</html>
"""

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 1.5em 3em;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:.4em 0;z-index:1}
h1{font-size:1.2em;margin:.2em 0}
.td-note{color:#666;font-size:.85em;margin:.2em 0}
.td-controls label{margin-right:1.2em}
.td-legend{display:flex;align-items:center;gap:.5em;margin-top:.3em;font-size:.85em}
.td-bar{display:inline-block;width:220px;height:12px;border:1px solid #aaa}
.td-sent{margin:.9em 0;unicode-bidi:plaintext}
.td-meta{font-size:.8em;color:#555}
.td-meta .td-wrong{color:#b2182b;font-weight:600}
.td-toks{line-height:2}
.td-tok{padding:.1em .15em;border-radius:3px;cursor:default;unicode-bidi:isolate}
.td-unk{text-decoration:underline dotted #888}
#td-tip{position:fixed;background:#fff;border:1px solid #888;border-radius:4px;padding:.4em .6em;
 font-size:.8em;box-shadow:0 2px 6px rgba(0,0,0,.2);max-width:36em;pointer-events:none;z-index:2}
#td-tip table{border-collapse:collapse;margin-top:.3em}
#td-tip td,#td-tip th{padding:0 .5em;text-align:left}
"""

_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("td-data").textContent), H = window.TDHeat;
  var $ = function (id) { return document.getElementById(id); };
  var state = {method: D.method, target: D.target, scale: D.scale};
  var blocks = document.querySelectorAll(".td-sent");
  var tip = $("td-tip");

  function fill(select, options, value, key) {
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = String(o[0]); opt.textContent = o[1]; select.appendChild(opt);
    });
    select.value = String(value);
    select.addEventListener("change", function () {
      state[key] = key === "target" ? Number(select.value) : select.value; update();
    });
  }
  function classOf(s) { return state.target < 0 ? s.predicted : state.target; }
  function scoresOf(s) { return s.scores[state.method][classOf(s)]; }
  var fmt = H.fmt;
  function pct(p) { return p === null ? "n/a" : p.toFixed(3); }
  function update() {
    var scales = H.scales(D.sentences.map(scoresOf), state.scale), globalMax = scales.length ? scales[0] : 0;
    D.sentences.forEach(function (s, k) {
      var c = classOf(s), sc = scoresOf(s), mx = H.maxAbs(sc), scale = scales[k];
      var meta = blocks[k].querySelector(".td-meta");
      meta.textContent = "[" + s.id + "] predicted: " + D.classes[s.predicted] + " (" + pct(s.probs[s.predicted]) +
        ")  target: " + D.classes[c] + " (" + pct(s.probs[c]) + ")  max |score| " + mx.toPrecision(3) + "  ";
      if (s.gold !== null) {
        var g = document.createElement("span");
        g.textContent = "gold: " + s.gold;
        if (s.gold !== D.classes[s.predicted]) g.className = "td-wrong";
        meta.appendChild(g);
      }
      blocks[k].querySelectorAll(".td-tok").forEach(function (el, t) { H.paint(el, sc[t], scale); });
    });
    $("td-lo").textContent = state.scale === "global" ? fmt(-globalMax) : "-max";
    $("td-hi").textContent = state.scale === "global" ? fmt(globalMax) : "+max";
    $("td-scale-note").textContent = (state.scale === "global" ? "one scale for all sentences" :
      "each sentence scaled by its own max |score|") + "; blue = evidence for the target class, red = against";
  }
  function row(cells, tag) {
    var tr = document.createElement("tr");
    cells.forEach(function (x) { var td = document.createElement(tag); td.textContent = x; tr.appendChild(td); });
    return tr;
  }
  function showTip(el, ev) {
    var s = D.sentences[Number(el.closest(".td-sent").dataset.k)], t = Number(el.dataset.t), c = classOf(s);
    tip.textContent = "";
    var head = document.createElement("div");
    head.textContent = s.tokens[t] + "  score " + fmt(scoresOf(s)[t]) + " for " + D.classes[c] +
      " (" + state.method + ")" + (s.in_vocab[t] ? "" : "  - not in the vocabulary, read as <unk>");
    tip.appendChild(head);
    var rows = (s.filters[state.method] || [])[c];
    if (rows) {
      var covering = rows.filter(function (r) { return r[2] <= t && t < r[2] + r[0]; });
      covering.sort(function (a, b) { return Math.abs(b[4]) - Math.abs(a[4]); });
      var table = document.createElement("table");
      table.appendChild(row(["width", "filter", "n-gram", "contribution"], "th"));
      covering.slice(0, D.top_filters).forEach(function (r) {
        table.appendChild(row([r[0], r[1], r[3], fmt(r[4])], "td"));
      });
      if (!covering.length) table.appendChild(row(["", "", "no live filter's window covers this word", ""], "td"));
      tip.appendChild(table);
    }
    tip.hidden = false;
    moveTip(ev);
  }
  function moveTip(ev) {
    var x = Math.min(ev.clientX + 12, window.innerWidth - tip.offsetWidth - 4);
    var below = ev.clientY + 16 + tip.offsetHeight <= window.innerHeight;
    var y = below ? ev.clientY + 16 : ev.clientY - tip.offsetHeight - 8;
    tip.style.left = Math.max(x, 0) + "px"; tip.style.top = Math.max(y, 0) + "px";
  }
  document.addEventListener("mouseover", function (ev) {
    var el = ev.target.closest && ev.target.closest(".td-tok");
    if (el) showTip(el, ev); else tip.hidden = true;
  });
  document.addEventListener("mousemove", function (ev) { if (!tip.hidden) moveTip(ev); });

  fill($("td-method"), D.methods.map(function (m) { return [m, m]; }), state.method, "method");
  fill($("td-target"), [[-1, "predicted class"]].concat(D.classes.map(function (c, i) { return [i, c]; })),
       state.target, "target");
  fill($("td-scale"), [["sentence", "per sentence"], ["global", "global"]], state.scale, "scale");
  H.legendBar(document.querySelector(".td-bar"));
  update();
})();
"""
