"""The filter dictionary's HTML page (``textdeconv filters``' filters.html): one row per filter with
its fires share, top n-grams, nearest words per position and, given ``filter_analysis``' table, its
class vote, threshold, slot patterns and negative words.

Light by construction: the figures sit once in one ``<script type="application/json">`` element as
compact arrays (``page_data``: words as indices into one word list; a number the page shows to
fixed decimals is rounded to them, one it shows as a percentage or sorts by is kept whole, so each
is rounded once), and a small inline script draws only the 25 rows of the page shown, with
``createElement``/``textContent`` (never as HTML), after searching and sorting all of them. The JSON
is written with ``reports.html.script_json``, so no token can close its element. The page needs no
network; without JavaScript it says so (the CSV files hold the same figures).
"""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from textdeconv.files import atomic_write_text
from textdeconv.reports.html import script_json

PER_PAGE = 25


def _num(x):
    """A finite float, or None."""
    return float(x) if x is not None and np.isfinite(x) else None


def _sid(x):
    """A sentence id: an int when it is one, else its text."""
    return int(x) if isinstance(x, (int, np.integer)) else str(x)


class Lexicon(dict):
    """Each word once: ``word(w)`` its index, ``ngram(text)`` the indices of its space-separated
    parts (joined with spaces again on the page, so the text comes back exactly)."""

    def word(self, w) -> int:
        return self.setdefault(str(w), len(self))

    def ngram(self, text) -> list[int]:
        return [self.word(t) for t in str(text).split(" ")]


def _analysis(r, classes: list, lex: Lexicon) -> list:
    """One filter's analysis as ``[class index, vote, threshold|null, purity|null, above share,
    patterns, patterns not shown, negative words]``; patterns ``[size, slots, 3 n-grams]`` (the first
    4), negative words ``[slot, [[word, value, windows switched off (-1: natural)], ...3]]``; words
    and n-grams as ``Lexicon`` indices."""
    thr = float(r["threshold"])
    pats = [[int(p["size"]), [round(float(v), 2) for v in p["slots"]], [lex.ngram(g) for g in p["ngrams"][:3]]]
            for p in r["patterns"][:4]]
    negs = [[int(n["slot"]), [[lex.word(x["word"]), round(float(x["value"]), 2),
                               int(x["blocked"]) if x["kind"] == "deliberate" else -1] for x in n["words"][:3]]]
            for n in r["negative_words"]]
    return [classes.index(r["class_vote"]), float(r["vote"]), thr if np.isfinite(thr) else None, _num(r["purity"]),
            _num(r["above_threshold_share"]), pats, max(0, len(r["patterns"]) - 4), negs]


def page_data(fd, analysis: pd.DataFrame | None = None) -> dict:
    """The page's JSON: ``channels``, ``classes``, ``lexicon`` (every word shown, each once) and
    ``filters``, one ``[width, filter, fires, mean activation, bias, n-grams, positions, analysis]``
    per filter in table order: n-grams ``[words, activation, sentence id, sentences]``, positions
    ``[[[word, cosine], ...] per channel] per position``, analysis as ``_analysis`` or null; every
    word (and n-gram word) an index into ``lexicon``."""
    ngrams = {key: g for key, g in fd.ngrams.groupby(["width", "filter"], sort=False)}
    words = {key: g for key, g in fd.words.groupby(["width", "filter", "position", "channel"], sort=False)}
    extra = {} if analysis is None else {(int(r["width"]), int(r["filter"])): r for _, r in analysis.iterrows()}
    classes = [] if analysis is None else list(dict.fromkeys(analysis["class_vote"]))
    channels = list(dict.fromkeys(fd.words["channel"]))
    lex = Lexicon()
    filters = []
    for r in fd.summary.itertuples():
        w, j = int(r.width), int(r.filter)
        g = ngrams.get((w, j))
        top = [] if g is None else [[lex.ngram(x.ngram), round(float(x.activation), 3), _sid(x.sentence_id),
                                     int(x.sentences)] for x in g.itertuples()]
        positions = []
        for k in range(w):
            per_channel = []
            for ch in channels:
                near = words.get((w, j, k, ch))
                per_channel.append([] if near is None else
                                   [[lex.word(x.word), round(float(x.cosine), 2)]
                                    for x in near.itertuples()])
            positions.append(per_channel)
        a = extra.get((w, j))
        filters.append([w, j, float(r.fires), round(float(r.mean_activation), 3), round(float(r.bias), 3),
                        top, positions, None if a is None else _analysis(a, classes, lex)])
    return {"channels": channels, "classes": classes, "lexicon": list(lex), "analysis": bool(extra),
            "per_page": PER_PAGE, "filters": filters}


def render_html(fd, title: str, note: str = "", analysis: pd.DataFrame | None = None) -> str:
    """The self-contained page (module docstring): search, sort (class vote, threshold) and 25
    filters a page. Every text is escaped: HTML-escaped in the markup, ``script_json`` in the data."""
    data = page_data(fd, analysis)
    head = ("<tr><th>filter</th><th>fires</th>" + ("<th>class vote, threshold, patterns, negative words</th>"
                                                    if data["analysis"] else "")
            + "<th>top n-grams (activation, sentence)</th><th>nearest words per position (cosine)</th></tr>")
    sort = ('<select id="sort"><option value="order">width, filter</option>'
            + ('<option value="vote">class vote</option><option value="threshold">threshold</option>'
               if data["analysis"] else "") + "</select>")
    return _PAGE.format(title=escape(title), note=escape(note), css=_CSS, head=head, sort=sort,
                        data=script_json(data), script=_SCRIPT)


def write_html(path, fd, title: str, note: str = "", analysis: pd.DataFrame | None = None) -> None:
    """Write ``render_html``'s page atomically."""
    atomic_write_text(path, render_html(fd, title, note, analysis))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
<p class="note">{note}</p>
<p class="note">Top n-grams: the window at each sentence's max-over-time switch, strongest first, each distinct
window once (&times;N: N sentences share it). Nearest words: the vocabulary words closest (cosine) to the
deconvnet reconstruction of each filter position k = 0..w-1, which is the kernel row K[k,:,j]. Fires: share of sentences
with a non-zero activation. Class vote: the class of the filter's largest output weight (that weight minus the mean over
classes); threshold: the smallest activation whose sentences are pure enough for that class; patterns: clusters of the
per-slot contributions of its above-threshold n-grams; negative words per slot, <b>bold</b> = deliberately negative
(it switched off windows that would reach the threshold without it). See docs/filters.md.</p>
<noscript><p>This page draws its rows with JavaScript; the CSV files beside it hold the same figures.</p></noscript>
<p class="controls"><input id="q" type="search" placeholder="search n-grams, words, filter 3/17"> {sort}
<button id="prev">&larr;</button> <span id="page"></span> <button id="next">&rarr;</button></p>
<table class="filters" id="filters"><thead>{head}</thead><tbody></tbody></table>
<script type="application/json" id="filter-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 1.5em 3em;color:#222}
h1{font-size:1.25em}h2{font-size:1.1em;margin-top:1.5em}
.note{color:#555;font-size:.9em;max-width:60em}
table.filters{border-collapse:collapse;width:100%}
table.filters>tbody>tr>td,table.filters>tbody>tr>th{border-top:1px solid #ddd;padding:.3em .5em;
 vertical-align:top;text-align:left}
table.pos{border-collapse:collapse;font-size:.9em}table.pos td,table.pos th{padding:0 .4em;text-align:left}
ol{margin:0;padding-left:1.6em}
.ng{font-family:ui-monospace,monospace;background:#eef3fa;padding:0 .2em;border-radius:3px;unicode-bidi:isolate}
.num,.sid{color:#555;font-size:.85em}.fid{font-weight:600;white-space:nowrap}.dead{color:#999}
ul.pat,ul.neg{margin:.2em 0;padding-left:1.1em;font-size:.9em}ul.neg{color:#733}
.controls{position:sticky;top:0;background:#fff;padding:.4em 0;margin:0}
"""

# Rows are built with createElement/textContent only: no text of the data is ever parsed as HTML.
_SCRIPT = r"""
(function(){
  var D=JSON.parse(document.getElementById('filter-data').textContent), L=D.lexicon, per=D.per_page;
  var body=document.querySelector('#filters tbody'), page=0, shown=[];
  var q=document.getElementById('q'), sort=document.getElementById('sort'), label=document.getElementById('page');
  function el(tag,cls,text){var e=document.createElement(tag); if(cls)e.className=cls;
    if(text!==undefined)e.textContent=String(text); return e;}
  function add(p){for(var i=1;i<arguments.length;i++){var c=arguments[i];
    p.appendChild(typeof c==='string'?document.createTextNode(c):c);} return p;}
  // as Python's '%+.Nf': a sign always, '-0.00' for a value that rounds to zero from below (or is -0)
  function sign(x,d){return (x<0||Object.is(x,-0)?'-':'+')+Math.abs(x).toFixed(d);}
  function pc(x){return Math.round(100*x)+'%';}
  function ng(ids){return ids.map(function(i){return L[i];}).join(' ');}
  var F=D.filters.map(function(f,i){
    var a=f[7], text=[f[0]+'/'+f[1]];
    f[5].forEach(function(g){text.push(ng(g[0]));});
    f[6].forEach(function(p){p.forEach(function(ws){ws.forEach(function(x){text.push(L[x[0]]);});});});
    if(a){text.push(D.classes[a[0]]); a[5].forEach(function(p){p[2].forEach(function(g){text.push(ng(g));});});
      a[7].forEach(function(n){n[1].forEach(function(x){text.push(L[x[0]]);});});}
    return {f:f,a:a,order:i,text:text.join('\n').toLowerCase()};});
  function ngrams(f){
    if(!f[5].length)return el('span','dead','dead on every sentence');
    var ol=el('ol');
    f[5].forEach(function(g){ol.appendChild(add(el('li'),el('span','ng',ng(g[0])),' ',
      el('span','num',g[1].toFixed(3)),' ',el('span','sid','#'+g[2]+(g[3]>1?' \u00d7'+g[3]:''))));});
    return ol;}
  function positions(f){
    var t=el('table','pos'), h=el('tr');
    h.appendChild(el('th',null,'k')); D.channels.forEach(function(c){h.appendChild(el('th',null,c));});
    t.appendChild(h);
    f[6].forEach(function(p,k){var tr=el('tr'); tr.appendChild(el('th',null,k));
      p.forEach(function(ws){var td=el('td');
        ws.forEach(function(x,i){add(td,(i?', ':'')+L[x[0]]+' ',el('span','num',x[1].toFixed(2)));});
        tr.appendChild(td);});
      t.appendChild(tr);});
    return t;}
  function analysis(a){
    var td=el('td'); add(td,el('b',null,D.classes[a[0]]),' ',el('span','num',sign(a[1],3)),el('br'));
    if(a[2]===null){td.appendChild(el('span','sid','threshold: never pure enough'));}
    else{add(td,add(el('span','sid'),'threshold '+a[2].toFixed(3),el('br'),
      'purity '+pc(a[3])+', above '+pc(a[4])));
      var ul=el('ul','pat');
      a[5].forEach(function(p){
        var slots=p[1].map(function(v){return sign(v,2);}).join(' ');
        var li=add(el('li'),el('span','num',p[0]+'\u00d7 ['+slots+']'),' ');
        p[2].forEach(function(g,i){add(li,i?', ':'',el('span','ng',ng(g)));});
        ul.appendChild(li);});
      if(a[6])ul.appendChild(el('li','sid','+'+a[6]+' more'));
      td.appendChild(ul);}
    var neg=el('ul','neg');
    a[7].forEach(function(n){var li=el('li',null,'slot '+n[0]+': ');
      n[1].forEach(function(x,i){if(i)li.appendChild(document.createTextNode(', '));
        var w=x[2]>=0?el('b',null,L[x[0]]):document.createTextNode(L[x[0]]);
        if(x[2]>=0)w.title='deliberately negative: switched off '+x[2]+' windows';
        add(li,w,' ',el('span','num',sign(x[1],2)));});
      neg.appendChild(li);});
    td.appendChild(neg); return td;}
  function row(r){
    var f=r.f, tr=el('tr','f'); tr.dataset.order=r.order;
    if(r.a){tr.dataset.vote=D.classes[r.a[0]]+'|'+r.a[1]; tr.dataset.threshold=r.a[2]===null?'inf':r.a[2];}
    tr.appendChild(el('td','fid',f[0]+'/'+f[1]));
    tr.appendChild(add(el('td','num'),pc(f[2]),el('br'),add(el('span','sid'),'mean '+f[3].toFixed(3),el('br'),
      'b '+sign(f[4],3))));
    if(D.analysis)tr.appendChild(r.a?analysis(r.a):el('td'));
    tr.appendChild(add(el('td'),ngrams(f)));
    tr.appendChild(add(el('td'),positions(f)));
    return tr;}
  function key(r,k){if(k==='order')return r.order; if(!r.a)return k==='threshold'?Infinity:['',0];
    if(k==='threshold')return r.a[2]===null?Infinity:r.a[2]; return [D.classes[r.a[0]],-Math.abs(r.a[1])];}
  function cmp(a,b){var k=sort.value,x=key(a,k),y=key(b,k);
    if(k==='vote'){if(x[0]!==y[0])return x[0]<y[0]?-1:1; x=x[1]; y=y[1];}
    return x<y?-1:x>y?1:a.order-b.order;}
  function draw(){var n=Math.max(1,Math.ceil(shown.length/per)); page=Math.min(page,n-1);
    body.textContent='';
    shown.slice(page*per,(page+1)*per).forEach(function(r){body.appendChild(row(r));});
    label.textContent='page '+(page+1)+' of '+n+' ('+shown.length+' filters)';}
  function update(){var t=q.value.trim().toLowerCase();
    shown=F.filter(function(r){return !t||r.text.indexOf(t)>=0;}).sort(cmp); page=0; draw();}
  q.addEventListener('input',update); sort.addEventListener('change',update);
  document.getElementById('prev').onclick=function(){if(page>0){page--;draw();}};
  document.getElementById('next').onclick=function(){page++;draw();};
  update();
})();
"""
