/* The explorer page (textdeconv serve): talks to the JSON API of textdeconv/serve/app.py and
 * colours words with the shared renderer window.TDHeat (/heatmap.js, textdeconv/reports/heatmap.js).
 * Every text from the server or the user is put in the page with textContent, never as HTML.
 */
(function () {
  "use strict";
  var H = window.TDHeat;
  var MAX_METHODS = 4, HISTORY = 8;
  var $ = function (id) { return document.getElementById(id); };
  var state = {
    runs: [], methods: [], limits: {},
    selected: ["deconv"],   // methods shown side by side, in the order they were picked
    options: {},            // method -> {option: value}
    target: "",             // "" = each sentence's predicted class, else a class name
    scale: "sentence",
    shown: [],              // indices of the runs shown
    sentences: [],          // [{input: text or token list, history: [{input, text, predicted, p}]}]
    cache: {},              // explanation per (run, method, options, target, input)
    errors: {},             // why there is no explanation, per the same key
    signed: {},             // (method, options) -> the scores have a sign (false: norms, a one-colour map)
    focus: null,            // the clicked word: {k, run, method, t}
    thresholds: false,      // the word panel asks for the filters' thresholds (once asked: the run's analysis is cached)
    table: null, sort: null,
    tableBody: null,        // the request the table shown answers (Download CSV sends it again)
    fileBytes: null,        // the chosen file, decoded again when its encoding is changed
    ds: {res: null, offset: 0, limit: 50, file: null, proj: null},  // the Data set tab: answer, page, file, map
    tab: "explain", dsLink: null  // the tab shown; the Data set view a link asked for
  };
  // treebank escapes as the text they stand for (the tokens stay as they are in data-token)
  var ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
                 "-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}",
                 "``": "\u201c", "''": "\u201d"};
  function display(tok) { return Object.prototype.hasOwnProperty.call(ESCAPES, tok) ? ESCAPES[tok] : tok; }
  var seq = {explain: 0, panel: 0, card: 0, training: 0, filters: 0, ds: 0, agg: 0, cf: 0, proj: 0};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  // body[data-pending] counts the requests under way (0 = the page shows every answer)
  var pending = 0;
  function busy(n) { pending += n; document.body.dataset.pending = String(pending); }
  function api(path, body) {
    var init = body === undefined ? {} :
      {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
    busy(1);
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {error: "HTTP " + r.status}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || "HTTP " + r.status);
        return data;
      });
    }).finally(function () { setTimeout(function () { busy(-1); }, 0); });
  }
  function status(msg, isError, id) {
    var s = $(id || "status");
    s.textContent = msg || "";
    s.className = isError ? "error" : (id ? "note" : "");
  }
  function pct(p) { return p === null || p === undefined ? "n/a" : p.toFixed(3); }
  function textOf(input) { return typeof input === "string" ? input : input.join(" "); }

  // -- what to ask for ------------------------------------------------------------------------
  function targetFor(r) {
    return state.target && state.runs[r].classes.indexOf(state.target) >= 0 ? state.target : null;
  }
  function optionsFor(m) { return state.options[m] || {}; }
  function keyOf(r, m, input) { return JSON.stringify([r, m, optionsFor(m), targetFor(r), input]); }
  function get(r, m, input) { return state.cache[keyOf(r, m, input)] || null; }
  function unsigned(m) { return state.signed[JSON.stringify([m, optionsFor(m)])] === false; }

  // fetch every explanation the page shows that is not cached yet, one request per run and method
  function refresh() {
    var jobs = {};
    state.sentences.forEach(function (s) {
      state.shown.forEach(function (r) {
        state.selected.forEach(function (m) {
          var key = keyOf(r, m, s.input);
          if (key in state.cache) return;
          var g = JSON.stringify([r, m]);
          var job = jobs[g] = jobs[g] || {run: r, method: m, options: optionsFor(m), target: targetFor(r),
                                           texts: [], keys: []};
          if (job.keys.indexOf(key) < 0) { job.texts.push(s.input); job.keys.push(key); }
        });
      });
    });
    var list = Object.keys(jobs).map(function (g) { return jobs[g]; });
    var mine = ++seq.explain;
    if (!list.length) { render(); return Promise.resolve(); }
    status("explaining …");
    return Promise.all(list.map(function (j) {
      return api("/api/explain", {texts: j.texts, method: j.method, options: j.options, target: j.target, run: j.run})
        .then(function (res) {
          var byId = {}, why = {};
          state.signed[JSON.stringify([j.method, j.options])] = res.signed !== false;
          res.explanations.forEach(function (e) { byId[e.sentence_id] = e; });
          (res.errors || []).forEach(function (e) { why[e.sentence_id] = e.error; });
          j.keys.forEach(function (key, i) {
            state.cache[key] = byId[i + 1] || null;
            if (why[i + 1]) state.errors[key] = why[i + 1]; else delete state.errors[key];
          });
          return res.warnings;
        }, function (err) {  // the whole request refused: every sentence in it says why
          j.keys.forEach(function (key) { state.errors[key] = err.message; });
          throw err;
        });
    })).then(function (warnings) {
      if (mine !== seq.explain) return;
      status([].concat.apply([], warnings).join("; "));
      render();
    }, function (err) {
      if (mine === seq.explain) { status(err.message, true); render(); }
    });
  }

  // -- drawing the sentences ---------------------------------------------------------------------
  function probsLine(e) {
    var box = el("div", "probs");
    Object.keys(e.probs).forEach(function (c) {
      var p = e.probs[c], item = el("span", "prob" + (c === e.predicted ? " top" : ""));
      item.dataset["class"] = c;
      item.dataset.p = String(p);
      var bar = el("span", "pbar"), fill = el("span", "pfill");
      fill.style.width = Math.round(100 * (p || 0)) + "%";
      bar.appendChild(fill);
      item.appendChild(el("span", null, c));
      item.appendChild(bar);
      item.appendChild(el("span", "num", pct(p)));
      box.appendChild(item);
    });
    return box;
  }
  function render() {
    var box = $("results"), scales = {};
    box.textContent = "";
    state.shown.forEach(function (r) {
      state.selected.forEach(function (m) {
        scales[r + "|" + m] = H.scales(state.sentences.map(function (s) {
          var e = get(r, m, s.input);
          return e ? e.scores : [];
        }), state.scale);
      });
    });
    state.sentences.forEach(function (s, k) {
      var card = el("section", "sent"), runs = el("div", "runs");
      card.dataset.k = k;
      card.appendChild(el("div", "sent-head", "[" + (k + 1) + "]" + (s.history.length ? "  edited" : "")));
      state.shown.forEach(function (r) {
        var col = el("div", "run-col"), first = get(r, state.selected[0], s.input);
        col.dataset.run = r;
        if (state.runs.length > 1) col.appendChild(el("div", "run-name", state.runs[r].name));
        if (!first) {
          col.appendChild(el("div", "note sent-error",
                             "no explanation: " + (state.errors[keyOf(r, state.selected[0], s.input)] || "not explained yet")));
          runs.appendChild(col);
          return;
        }
        var pred = el("div", "pred", "predicted " + first.predicted + " (" + pct(first.probs[first.predicted]) +
                      ") · scores explain: " + first.target);
        pred.dataset.predicted = first.predicted;
        pred.dataset.target = first.target;
        col.appendChild(pred);
        col.appendChild(probsLine(first));
        if (first.cleaned) {  // the run's vocab.clean dropped characters the user typed: say so
          col.appendChild(el("div", "note clean-note", "run " + state.runs[r].name + "'s cleaning (vocab.clean=" +
            state.runs[r].clean + ") removed " + Array.from(first.cleaned).map(function (c) { return "“" + c + "”"; })
            .join(" ") + ": the model reads " + first.tokens.join(" ")));
        }
        state.selected.forEach(function (m) {
          var e = get(r, m, s.input), row = el("div", "mrow"), toks = el("span", "toks"), one = unsigned(m);
          var scale = scales[r + "|" + m][k];
          row.dataset.method = m;
          row.dataset.signed = one ? "0" : "1";
          row.appendChild(el("span", "mname", m));
          (e ? e.tokens : []).forEach(function (tok, t) {
            var span = el("span", "tok" + (e.in_vocab[t] ? "" : " unk"), display(tok));
            span.dataset.k = k; span.dataset.run = r; span.dataset.method = m; span.dataset.t = t;
            span.dataset.token = tok;
            span.tabIndex = 0;
            span.setAttribute("role", "button");
            span.title = (display(tok) !== tok ? tok + ": " : "") + H.fmt(e.scores[t]) +
              (one ? " (unsigned: how much, not which way)" : " for " + e.target) + (e.in_vocab[t] ? "" : " (unknown word)");
            H.paint(span, e.scores[t], scale, one);
            var f = state.focus;
            if (f && f.k === k && f.run === r && f.t === t) span.classList.add("selected");
            toks.appendChild(span);
            toks.appendChild(document.createTextNode(" "));
          });
          row.appendChild(toks);
          if (e) row.appendChild(rowLegend(scale, one));
          col.appendChild(row);
        });
        runs.appendChild(col);
      });
      card.appendChild(runs);
      card.appendChild(counterfactualBox(s, k));
      if (s.history.length) card.appendChild(historyBox(s, k));
      box.appendChild(card);
    });
    var all = state.selected.every(unsigned), some = state.selected.some(unsigned);
    H.legendBar($("legend-bar"), all);
    $("lo").textContent = all ? "0" : "−max";
    $("hi").textContent = "+max";
    $("scale-note").textContent = (state.scale === "global" ? "one scale for all sentences (per method and run)" :
      "each sentence scaled by its own max |score|") + (all ? "" : "; blue = evidence for the target class, red = against") +
      (some ? "; purple = an unsigned score (a norm: how much the word matters, not for which class), 0 = white" : "") +
      "; each row's scale is at its right";
  }
  // a row's own legend: its colour map with the numbers at both ends
  function rowLegend(scale, one) {
    var box = el("span", "row-legend"), bar = el("span", "mini-bar");
    box.dataset.scale = String(scale);
    H.legendBar(bar, one);
    box.appendChild(el("span", "num", one ? "0" : H.fmt(-scale)));
    box.appendChild(bar);
    box.appendChild(el("span", "num", H.fmt(scale)));
    return box;
  }

  // -- what-if: edits and their history --------------------------------------------------------------
  function snapshot(s) {
    var r = state.shown[0], e = get(r, state.selected[0], s.input);
    return {input: s.input, text: textOf(e ? e.tokens : s.input), predicted: e ? e.predicted : null,
            p: e ? e.probs[e.predicted] : null};
  }
  function historyBox(s, k) {
    var box = el("div", "history"), list = el("ol");
    box.appendChild(el("span", "note", "earlier versions (run " + state.runs[state.shown[0]].name + "):"));
    s.history.forEach(function (h, i) {
      var li = el("li", null, h.text + "  →  " + (h.predicted || "?") + " " + pct(h.p) + "  ");
      var b = el("button", "restore", "restore");
      b.type = "button";
      b.dataset.k = k; b.dataset.i = i;
      li.appendChild(b);
      list.appendChild(li);
    });
    box.appendChild(list);
    return box;
  }
  function edit(word) {
    var f = state.focus;
    if (!f) return;
    var s = state.sentences[f.k], e = get(f.run, f.method, s.input);
    if (!e) return;
    // edits are made on the sentence's tokens before the run's cleaning (e.source), so every run
    // shown cleans the edited sentence its own way; the clicked word is the source token it came from
    var tokens = (e.source || e.tokens).slice(), at = e.source_index ? e.source_index[f.t] : f.t;
    if (word === null) {
      if (tokens.length < 2) { status("a sentence needs at least one word", true); return; }
      tokens.splice(at, 1);
      state.focus = null;
      $("panel").hidden = true;
      apply(s, tokens);
      return;
    }
    if (!word.trim()) return;
    // the server's tokenizer, as for typed sentences: "Great!" is the two tokens "Great" and "!"
    api("/api/tokenize", {text: word, run: f.run}).then(function (res) {
      if (!res.tokens.length) { status("the replacement has no tokens", true); return; }
      tokens.splice.apply(tokens, [at, 1].concat(res.tokens));
      apply(s, tokens);
    }, function (err) { status(err.message, true); });
  }
  function apply(s, tokens) {
    s.cf = null;  // the counterfactuals were of the sentence before this edit
    s.history.push(snapshot(s));
    if (s.history.length > HISTORY) s.history.shift();
    s.input = tokens;
    refresh().then(function () { if (state.focus) openPanel(); });
  }
  function restore(k, i) {
    var s = state.sentences[k], old = s.history.splice(i, 1)[0];
    s.history.push(snapshot(s));
    s.input = old.input;
    state.focus = null;
    $("panel").hidden = true;
    refresh();
  }

  // -- counterfactuals: automatic edits that try to flip the prediction (POST /api/counterfactuals) ------
  function counterfactualBox(s, k) {
    var box = el("div", "cf"), r = state.shown[0];
    var b = el("button", "cf-go", s.cf ? "counterfactuals again" : "counterfactuals");
    b.type = "button"; b.dataset.k = k;
    b.title = "the smallest set of deletions the greedy finds to flip the prediction (each step the deletion " +
      "that lowers the margin most, by the model), and one-word substitutions ranked by HotFlip's first-order " +
      "estimate; each edit checked by the model";
    box.appendChild(b);
    if (s.cfError) box.appendChild(el("span", "note sent-error", " " + s.cfError));
    if (!s.cf) return box;
    var res = s.cf, flips = res.counterfactuals.filter(function (c) { return c.flips; }).length;
    box.appendChild(el("span", "note", " run " + state.runs[r].name + ", " + res.method + ": " +
      res.counterfactuals.length + " edits of the " + res.predicted + " prediction, " + flips + " flip it"));
    var list = el("ol", "cf-list");
    res.counterfactuals.forEach(function (c, i) {
      var li = el("li", "cf-item" + (c.flips ? " flips" : ""));
      li.dataset.flips = c.flips ? "1" : "0";
      li.dataset.kind = c.kind;
      var use = el("button", "cf-use", "use this");
      use.type = "button"; use.dataset.k = k; use.dataset.i = i;
      li.appendChild(use);
      var diff = el("span", "cf-diff"), at = {};
      c.positions.forEach(function (p, j) { at[p] = j; });
      res.tokens.forEach(function (tok, t) {
        if (t in at) {
          diff.appendChild(el("del", null, display(tok)));
          if (c.kind === "replace") { diff.appendChild(document.createTextNode(" ")); diff.appendChild(el("ins", null, display(c.inserted[0]))); }
        } else {
          diff.appendChild(document.createTextNode(display(tok)));
        }
        diff.appendChild(document.createTextNode(" "));
      });
      li.appendChild(diff);
      var how = c.kind === "delete" ? " · " + c.size + (c.size === 1 ? " deletion" : " deletions") :
        " · estimated margin change " + c.estimated_change.toFixed(2);
      li.appendChild(el("span", "cf-pred", "→ " + c.predicted + " " + pct(c.probability) + (c.flips ? " (flips)" : "") +
        how));
      list.appendChild(li);
    });
    box.appendChild(list);
    return box;
  }
  function counterfactuals(k) {
    var s = state.sentences[k], r = state.shown[0], m = state.selected[0], mine = ++seq.cf;
    s.cfError = null;
    status("looking for counterfactuals …");
    api("/api/counterfactuals", {text: s.input, method: m, options: optionsFor(m), run: r}).then(function (res) {
      if (mine !== seq.cf) return;
      s.cf = res;
      status("");
      render();
    }, function (err) { s.cfError = err.message; status(err.message, true); render(); });
  }
  function useCounterfactual(k, i) {
    var s = state.sentences[k], c = s.cf && s.cf.counterfactuals[i];
    if (!c) return;
    s.cf = null;
    apply(s, c.tokens.slice());
  }

  // -- the word panel: filters, dictionary cards, suggestions ----------------------------------------
  function openPanel() {
    var f = state.focus, s = state.sentences[f.k], e = get(f.run, f.method, s.input);
    if (!e) return;
    var mine = ++seq.panel, word = e.tokens[f.t];
    $("panel").hidden = false;
    $("card").hidden = true;
    $("word-title").textContent = "“" + display(word) + "” — word " + (f.t + 1) + " of sentence " + (f.k + 1);
    $("word-scores").textContent = state.selected.map(function (m) {
      var x = get(f.run, m, s.input);
      return m + " " + (x ? H.fmt(x.scores[f.t]) : "n/a");
    }).join(" · ") + " (for " + e.target + (state.runs.length > 1 ? ", run " + state.runs[f.run].name : "") + ")";
    $("replace-text").value = "";
    $("word-filters").textContent = "";
    $("filters-note").textContent = "…";
    $("fired-filters").textContent = "";
    $("fired-note").textContent = "";
    $("suggestions").textContent = "";
    $("training-table").textContent = "";
    $("training-note").textContent = "";
    seq.training++;
    wordFilters(f, e);
    if (word.length > 200) {
      $("suggestions").appendChild(el("span", "note", "no suggestions for a word this long"));
      return;
    }
    api("/api/neighbours?run=" + f.run + "&k=8&word=" + encodeURIComponent(word)).then(function (res) {
      if (mine !== seq.panel) return;
      var box = $("suggestions");
      if (!res.known) box.appendChild(el("span", "note", "not in the vocabulary: no neighbours"));
      res.neighbours.forEach(function (n) {
        var b = el("button", "suggestion", n.word);
        b.type = "button";
        b.title = "cosine " + n.cosine.toFixed(3);
        b.dataset.word = n.word;
        box.appendChild(b);
      });
    }, function (err) { if (mine === seq.panel) $("suggestions").appendChild(el("span", "note", err.message)); });
  }
  // -- the panel's training sentences: nearest (pooled features) or TracIn ----------------------------
  function showTraining(mode) {
    var f = state.focus, s = f && state.sentences[f.k], e = s && get(f.run, f.method, s.input);
    if (!e) return;
    var mine = ++seq.training, table = $("training-table");
    table.textContent = "";
    $("training-note").textContent = "… (the first request reads the run's training sentences)";
    api("/api/training-sentences", {text: e.tokens, mode: mode, k: 5, target: targetFor(f.run), run: f.run})
      .then(function (res) {
        if (mine !== seq.training) return;
        var rows = mode === "similar" ? res.neighbours.map(function (n) { return ["near", n]; }) :
          res.proponents.map(function (n) { return ["proponent", n]; })
            .concat(res.opponents.map(function (n) { return ["opponent", n]; }));
        $("training-note").textContent = mode === "similar" ?
          "Nearest of " + res.settings.train_sentences + " training sentences by cosine of the pooled features; " +
          "shared filters (width/filter: share of the cosine) in the tooltip." :
          "TracIn for " + res.target + ", output layer, " + (res.settings.checkpoints === "every" ?
            res.settings.checkpoint_epochs.length + " kept checkpoints" :
            "model.keras alone (the run kept no per-epoch checkpoints)") + ": proponents lowered its loss, " +
          "opponents raised it.";
        var head = table.createTHead().insertRow();
        ["", "score", "label", "training sentence"].forEach(function (h) { head.appendChild(el("th", null, h)); });
        var body = table.createTBody();
        rows.forEach(function (kn) {
          var n = kn[1], tr = body.insertRow();
          tr.className = "training-row";
          tr.appendChild(el("td", null, kn[0]));
          tr.appendChild(el("td", null, H.fmt(mode === "similar" ? n.similarity : n.influence)));
          tr.appendChild(el("td", null, n.train_label));
          tr.appendChild(el("td", null, "#" + n.train_id + " " + n.train_text));
          if (n.shared_filters) tr.title = n.shared_filters.map(function (x) {
            return x.width + "/" + x.filter + ": " + x.share.toFixed(3); }).join(", ");
        });
      }, function (err) { if (mine === seq.training) $("training-note").textContent = err.message; });
  }
  function wordFilters(f, e) {
    var panel = seq.panel, mine = ++seq.filters;
    function current() { return panel === seq.panel && mine === seq.filters; }
    if (state.thresholds) $("fired-note").textContent = "… (the first request analyses the run's training sentences)";
    api("/api/word-filters", {text: e.tokens, token: f.t, target: targetFor(f.run), run: f.run,
                              thresholds: state.thresholds}).then(function (res) {
      if (!current()) return;
      showFilters(res, f.run);
      if (res.fired) showFired(res, f.run);
    }, function (err) {
      if (!current()) return;
      $("filters-note").textContent = err.message;
      if (state.thresholds) $("fired-note").textContent = err.message;
    });
  }
  function showThresholds() {
    var f = state.focus, s = f && state.sentences[f.k], e = s && get(f.run, f.method, s.input);
    if (!e) return;
    state.thresholds = true;
    $("word-filters").textContent = "";
    $("fired-filters").textContent = "";
    wordFilters(f, e);
  }
  function voteText(f) { return f.class_vote + " " + H.fmt(f.vote); }
  function showFired(res, run) {
    var table = $("fired-filters"), a = res.analysis;
    table.textContent = "";
    $("fired-note").textContent = (res.fired.length ? res.fired.length + " filters of this sentence fired above " +
      "their thresholds (Jacovi et al. 2018: the smallest activation above which at least " +
      Math.round(100 * a.min_purity) + "% of the " + a.sentences_scanned + " training sentences are of the " +
      "filter's class vote, " + a.labels + " labels), largest |contribution| to the predicted class " +
      res.predicted + " first; marked rows cover this word. Pattern: the nearest of the filter's slot " +
      "activation patterns (its size and n-grams in the tooltip). Click a filter for its dictionary card." :
      "No filter of this sentence reaches its threshold.");
    if (!res.fired.length) return;
    var head = el("tr");
    ["filter", "n-gram", "pattern", "votes", "contribution"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    table.appendChild(head);
    res.fired.forEach(function (f) {
      var tr = el("tr", "clickable fired-row" + (f.covers_token ? " covers" : ""));
      tr.tabIndex = 0;
      tr.dataset.width = f.width; tr.dataset.filter = f.filter; tr.dataset.run = run;
      tr.dataset.pattern = f.pattern; tr.dataset.contribution = String(f.contribution);
      tr.appendChild(el("td", "fid", f.width + "/" + f.filter));
      var ng = el("td", "ngcell"); ng.appendChild(el("span", "ng", f.ngram)); tr.appendChild(ng);
      var pat = el("td", null, f.pattern < 0 ? "–" : (f.pattern + 1) + " of " + f.patterns);
      if (f.pattern >= 0) pat.title = f.pattern_size + " n-grams, e.g. " + f.pattern_ngrams.join(", ");
      tr.appendChild(pat);
      tr.appendChild(el("td", "vote", voteText(f)));
      tr.appendChild(el("td", "num", H.fmt(f.contribution)));
      table.appendChild(tr);
    });
  }
  function showFilters(res, run) {
    var table = $("word-filters");
    table.textContent = "";
    $("filters-note").textContent = res.filters.length ?
      "Live filters whose max-pooling window covers the word, largest |contribution| first. Contribution = " +
      "w·p, the filter's share of the " + res.target + " logit (all " + res.live_filters + " live filters: " +
      H.fmt(res.total_contribution) + "). Click a filter for its dictionary card." :
      "No live filter's winning window covers this word: it does not reach the " + res.target + " logit.";
    if (!res.filters.length) return;
    var head = el("tr");
    var cols = ["filter", "n-gram", "activation", "votes", "contribution"];
    if (res.fired) cols.push("threshold");
    cols.forEach(function (h) { head.appendChild(el("th", null, h)); });
    table.appendChild(head);
    res.filters.forEach(function (f) {
      var tr = el("tr", "clickable filter-row" + (f.above_threshold ? " above" : ""));
      tr.tabIndex = 0;
      tr.dataset.width = f.width; tr.dataset.filter = f.filter; tr.dataset.run = run;
      tr.dataset.contribution = String(f.contribution);
      tr.appendChild(el("td", "fid", f.width + "/" + f.filter));
      var ng = el("td", "ngcell"); ng.appendChild(el("span", "ng", f.ngram)); tr.appendChild(ng);
      tr.appendChild(el("td", "num", f.activation.toFixed(3)));
      tr.appendChild(el("td", "vote", voteText(f)));
      tr.appendChild(el("td", "num", H.fmt(f.contribution)));
      if (res.fired) {
        tr.dataset.above = f.above_threshold ? "1" : "0";
        tr.appendChild(el("td", "num", f.threshold === null ? "none" :
          f.threshold.toFixed(3) + (f.above_threshold ? " ✓ pattern " + (f.pattern + 1) : "")));
      }
      table.appendChild(tr);
    });
  }
  function showCard(run, width, filter) {
    var mine = ++seq.card;
    $("card").hidden = false;
    $("card-title").textContent = "Filter " + width + "/" + filter + " (width " + width + ")";
    $("card-note").textContent = "reading the training split …";
    $("card-ngrams").textContent = "";
    $("card-words").textContent = "";
    api("/api/filter-card?run=" + run + "&width=" + width + "&filter=" + filter).then(function (c) {
      if (mine !== seq.card) return;
      $("card-note").textContent = "Fires on " + Math.round(100 * c.fires) + "% of " + c.sentences_scanned +
        " training sentences; mean activation " + c.mean_activation.toFixed(3) + ", bias " + H.fmt(c.bias) +
        ". Votes " + c.class_vote + " (its output weight minus the mean over classes: " + H.fmt(c.vote) + ").";
      var ol = el("ol");
      c.ngrams.forEach(function (g) {
        var li = el("li");
        li.appendChild(el("span", "ng", g.ngram));
        li.appendChild(el("span", "note", " " + g.activation.toFixed(3) + (g.sentences > 1 ? " ×" + g.sentences : "")));
        ol.appendChild(li);
      });
      $("card-ngrams").appendChild(el("h3", null, "Top n-grams (activation)"));
      $("card-ngrams").appendChild(c.ngrams.length ? ol : el("p", "note", "dead on every training sentence"));
      var table = el("table", "data"), head = el("tr");
      ["position", "nearest words (cosine)"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      table.appendChild(head);
      c.positions.forEach(function (p) {
        var tr = el("tr");
        tr.appendChild(el("td", null, p.position + (p.channel === "embedding" ? "" : " " + p.channel)));
        tr.appendChild(el("td", null, p.words.map(function (w) { return w.word + " " + w.cosine.toFixed(2); }).join(", ")));
        table.appendChild(tr);
      });
      $("card-words").appendChild(el("h3", null, "Nearest words per position"));
      $("card-words").appendChild(table);
    }, function (err) { if (mine === seq.card) $("card-note").textContent = err.message; });
  }

  // -- controls ------------------------------------------------------------------------------------
  function buildControls() {
    var box = $("methods");
    state.methods.forEach(function (m) {
      var label = el("label"), box2 = el("input");
      box2.type = "checkbox"; box2.value = m.name; box2.checked = state.selected.indexOf(m.name) >= 0;
      label.title = m.summary;
      if (m.available === false) {  // its optional library is not installed: shown, not offered
        box2.disabled = true;
        label.title = m.summary + " (not installed: pip install " + m.extra + ")";
      }
      label.appendChild(box2);
      label.appendChild(document.createTextNode(" " + m.name));
      box.appendChild(label);
    });
    box.addEventListener("change", function (ev) {
      var name = ev.target.value, i = state.selected.indexOf(name);
      if (ev.target.checked && i < 0) state.selected.push(name);
      if (!ev.target.checked && i >= 0) {
        if (state.selected.length === 1) { ev.target.checked = true; return; }
        state.selected.splice(i, 1);
      }
      methodLimits();
      buildOptions();
      saveUrl();
      refresh();
    });
    methodLimits();
    buildOptions();
    var classes = [];
    state.runs.forEach(function (r) { r.classes.forEach(function (c) { if (classes.indexOf(c) < 0) classes.push(c); }); });
    var target = $("target");
    [["", "predicted class"]].concat(classes.map(function (c) { return [c, c]; })).forEach(function (o) {
      var opt = el("option", null, o[1]); opt.value = o[0]; target.appendChild(opt);
    });
    target.addEventListener("change", function () { state.target = target.value; saveUrl(); refresh().then(reopen); });
    $("scale").addEventListener("change", function () { state.scale = $("scale").value; saveUrl(); render(); });
    state.shown = state.runs.map(function (r) { return r.index; });
    if (state.runs.length > 1) {
      var choice = $("run-choice");
      choice.appendChild(el("span", null, "runs side by side: "));
      state.runs.forEach(function (r) {
        var label = el("label"), cb = el("input");
        cb.type = "checkbox"; cb.checked = true; cb.value = r.index;
        label.appendChild(cb);
        label.appendChild(document.createTextNode(" " + r.name + " "));
        choice.appendChild(label);
      });
      choice.addEventListener("change", function () {
        var on = Array.prototype.filter.call(choice.querySelectorAll("input"), function (c) { return c.checked; })
          .map(function (c) { return Number(c.value); });
        if (!on.length) { choice.querySelector("input").checked = true; on = [0]; }
        state.shown = on;
        refresh();
      });
    }
    $("run-names").textContent = state.runs.map(function (r) {
      return r.name + " (" + r.dataset + ", " + r.variant + ", classes " + r.classes.join("/") + ")";
    }).join(" · ");
    H.legendBar($("legend-bar"));
  }
  function methodLimits() {
    Array.prototype.forEach.call($("methods").querySelectorAll("input"), function (c) {
      c.disabled = !c.checked && state.selected.length >= MAX_METHODS;
    });
  }
  function buildOptions() {
    var box = $("options");
    box.textContent = "";
    state.selected.forEach(function (name) {
      var m = state.methods.filter(function (x) { return x.name === name; })[0];
      Object.keys(m.options).forEach(function (key) {
        var o = m.options[key], label = el("label", null, name + " " + key + " "), input;
        var value = key in optionsFor(name) ? optionsFor(name)[key] : o["default"];
        if (o.choices) {
          input = el("select");
          o.choices.forEach(function (c) { var opt = el("option", null, c); opt.value = c; input.appendChild(opt); });
        } else {
          input = el("input");
          input.type = "number"; input.min = o.minimum; input.style.width = "5em";
        }
        input.value = value;
        input.title = o.help;
        input.addEventListener("change", function () {
          var v = o.choices ? o.choices[input.selectedIndex] : Number(input.value);  // keeps a choice's type (true, not "true")
          state.options[name] = Object.assign({}, optionsFor(name));
          if (v === o["default"]) delete state.options[name][key]; else state.options[name][key] = v;
          saveUrl();
          refresh().then(reopen);
        });
        label.appendChild(input);
        box.appendChild(label);
      });
    });
  }
  // the page's state in the URL's fragment (sentences, methods, options, target, scale): a reload or a
  // shared link shows the same view; the fragment never reaches the server
  function saveUrl() {
    var q = new URLSearchParams();
    q.set("text", $("text").value);
    q.set("methods", state.selected.join(","));
    if (Object.keys(state.options).length) q.set("options", JSON.stringify(state.options));
    if (state.target) q.set("target", state.target);
    if (state.scale !== "sentence") q.set("scale", state.scale);
    if (state.tab === "dataset") {  // the Data set tab, its split, slice, sorting and page (a file is not kept)
      q.set("tab", "dataset");
      var v = $("ds-split").value;
      q.set("ds", JSON.stringify(Object.assign({split: v === "file" ? "test" : v}, dsSlice(),
        {sort: $("ds-sort").value, descending: $("ds-desc").checked, offset: state.ds.offset})));
    }
    history.replaceState(null, "", "#" + q.toString());
  }
  // the Data set tab's controls from a link's "ds" (unknown or damaged values are left at their defaults)
  function restoreDataset(d) {
    if (!d || typeof d !== "object" || Array.isArray(d)) return;
    var set = function (id, value) {
      if (typeof value !== "string" && typeof value !== "number") return;
      $(id).value = String(value);
      if ($(id).value !== String(value)) $(id).value = $(id).tagName === "SELECT" ? $(id).options[0].value : "";
    };
    if (d.split !== "file") set("ds-split", d.split);
    ["search", "word"].forEach(function (k) { set("ds-" + k, d[k]); });
    set("ds-gold", d.gold); set("ds-pred", d.predicted); set("ds-sort", d.sort);
    if (typeof d.correct === "boolean") $("ds-correct").value = String(d.correct);
    set("ds-min", d.min_length); set("ds-max", d.max_length);
    $("ds-desc").checked = d.descending === true;
    if (typeof d.offset === "number" && d.offset >= 0 && d.offset % 1 === 0) state.ds.offset = d.offset;
  }
  function loadUrl() {
    var q = new URLSearchParams(location.hash.slice(1)), names = state.methods
      .filter(function (m) { return m.available !== false; }).map(function (m) { return m.name; });
    if (q.has("text")) $("text").value = q.get("text");
    var picked = (q.get("methods") || "").split(",").filter(function (m) { return names.indexOf(m) >= 0; });
    if (picked.length) state.selected = picked.slice(0, MAX_METHODS);
    try {
      var o = JSON.parse(q.get("options") || "{}");
      if (o && typeof o === "object" && !Array.isArray(o)) state.options = o;
    } catch (err) { /* a damaged link: the defaults */ }
    if (q.has("target")) state.target = q.get("target");
    if (q.get("scale") === "global") state.scale = "global";
    if (q.get("tab") === "dataset") {
      state.tab = "dataset";
      try { state.dsLink = JSON.parse(q.get("ds") || "{}"); } catch (err) { state.dsLink = null; }
    }
  }
  function reopen() { if (state.focus && !$("panel").hidden) openPanel(); }
  function explainText() {
    var lines = $("text").value.split(/\r\n|\r|\n/).filter(function (l) { return l.trim(); });
    if (!lines.length) { status("type a sentence first", true); return; }
    if (lines.length > state.limits.max_sentences) {
      status(lines.length + " sentences: the page explains at most " + state.limits.max_sentences +
             " at once; use the File tab for more", true);
      return;
    }
    state.sentences = lines.map(function (l) { return {input: l, history: []}; });
    saveUrl();
    state.focus = null;
    $("panel").hidden = true;
    refresh();
  }

  // -- the File tab: a sortable table and the CLI's CSV -----------------------------------------------
  function fileBody() {
    var r = state.shown[0], m = state.selected[0];
    return {text: $("paste").value, method: m, options: optionsFor(m), target: targetFor(r), run: r};
  }
  // a file's bytes as text in the chosen encoding; bytes that are not valid in it are refused, never replaced
  function decodeFile() {
    var f = state.fileBytes, enc = $("encoding").value, text;
    try {
      text = new TextDecoder(enc, {fatal: true}).decode(f.bytes);
    } catch (err) {
      $("paste").value = "";
      status(f.name + " is not valid " + $("encoding").selectedOptions[0].textContent +
             ": choose its encoding (Latin-1 is common for older files)", true, "table-status");
      return;
    }
    $("paste").value = text;
    explainFile();
  }
  function fileRun() {
    var r = state.shown[0], m = state.selected[0];
    $("file-run").textContent = "Run " + state.runs[r].name + ", method " + m + ", target " +
      (targetFor(r) || "predicted class") + " (set on the Explain tab).";
  }
  function explainFile() {
    fileRun();
    if (!$("paste").value.trim()) { status("choose a file or paste sentences first", true, "table-status"); return; }
    status("explaining …", false, "table-status");
    var body = fileBody();
    api("/api/table", body).then(function (res) {
      state.table = res;
      state.tableBody = body;  // Download CSV writes what this table shows, whatever changes later
      state.sort = null;
      drawTable();
      $("csv-go").disabled = false;
      status(res.rows.length + " sentences, run " + state.runs[body.run].name + ", " + res.method +
             (res.warnings.length ? "; " + res.warnings.join("; ") : ""), false, "table-status");
    }, function (err) { status(err.message, true, "table-status"); });
  }
  function tableColumns(rows) {
    var classes = rows.length ? Object.keys(rows[0].probs) : [];
    var cols = [{key: "sentence_id", label: "line", num: true}, {key: "sentence", label: "sentence"},
                {key: "predicted", label: "predicted"}, {key: "confidence", label: "confidence", num: true}];
    classes.forEach(function (c) { cols.push({key: "p:" + c, label: "P(" + c + ")", num: true, cls: c}); });
    cols.push({key: "evidence", label: "top evidence"});
    return cols;
  }
  function cell(row, col) {
    if (col.cls !== undefined) return row.probs[col.cls];
    if (col.key === "evidence") return row.evidence.map(function (w) { return w.token + " " + H.fmt(w.score); }).join(", ");
    return row[col.key];
  }
  function drawTable() {
    var table = $("table"), rows = state.table.rows.slice(), cols = tableColumns(rows), head = el("tr");
    table.textContent = "";
    if (state.sort) {
      var col = cols[state.sort.col], dir = state.sort.dir;
      rows.sort(function (a, b) {
        var x = cell(a, col), y = cell(b, col);
        return (col.num ? x - y : String(x).localeCompare(String(y))) * dir;
      });
    }
    cols.forEach(function (c, i) {
      var th = el("th", c.num ? "num" : null, c.label);
      th.dataset.col = i;
      if (state.sort && state.sort.col === i) th.classList.add(state.sort.dir > 0 ? "asc" : "desc");
      head.appendChild(th);
    });
    table.appendChild(head);
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.dataset.sentenceId = row.sentence_id;
      cols.forEach(function (c) {
        var v = cell(row, c);
        tr.appendChild(el("td", c.num ? "num" : null, c.num && c.key !== "sentence_id" ? pct(v) : v));
      });
      table.appendChild(tr);
    });
  }
  function downloadCsv() {
    status("writing the CSV …", false, "table-status");
    if (!state.tableBody) return;
    var body = Object.assign({}, state.tableBody, {spreadsheet_safe: $("csv-safe").checked});
    delete body.top;
    fetch("/api/csv", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function (r) {
        if (!r.ok) return r.json().then(function (d) { throw new Error(d.error); });
        return r.blob();
      }).then(function (blob) {
        var a = el("a"), url = URL.createObjectURL(blob);
        a.href = url; a.download = "explanations.csv";
        document.body.appendChild(a); a.click(); a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
        status(body.spreadsheet_safe ? "CSV downloaded, spreadsheet-safe: cells starting with = + - @ get a leading '" :
               "CSV downloaded: the rows textdeconv explain --csv writes for the table shown", false, "table-status");
      }).catch(function (err) { status(err.message, true, "table-status"); });
  }

  // -- the Data set tab: a labelled data set, slices, metrics, aggregate salience (POST /api/dataset) -------
  function dsSource() {
    var v = $("ds-split").value;
    if (v !== "file") return {split: v};
    if (!state.ds.file) return null;
    return {file: {text: state.ds.file.text, format: state.ds.file.format,
                   text_column: $("ds-text-col").value, label_column: $("ds-label-col").value}};
  }
  function dsSlice() {
    var q = {}, v;
    if ((v = $("ds-search").value)) q.search = v;
    if ((v = $("ds-word").value.trim())) q.word = v;
    if ((v = $("ds-gold").value)) q.gold = v;
    if ((v = $("ds-pred").value)) q.predicted = v;
    if ((v = $("ds-correct").value)) q.correct = v === "true";
    if ($("ds-min").value !== "") q.min_length = Math.max(0, Math.floor(Number($("ds-min").value)));
    if ($("ds-max").value !== "") q.max_length = Math.max(0, Math.floor(Number($("ds-max").value)));
    return q;
  }
  function dsRun() {
    var r = state.shown[0];
    $("ds-run").textContent = "Run " + state.runs[r].name + " (the first run shown on the Explain tab); aggregate " +
      "salience uses the method " + state.selected[0] + ". Click a confusion-matrix cell for those rows, a row to explain it.";
    return r;
  }
  function dsClasses() {
    var r = state.shown[0];
    ["ds-gold", "ds-pred"].forEach(function (id) {
      var sel = $(id), keep = sel.value;
      sel.textContent = "";
      [""].concat(state.runs[r].classes).forEach(function (c) {
        var o = el("option", null, c || "any"); o.value = c; sel.appendChild(o);
      });
      sel.value = keep;
      if (sel.value !== keep) sel.value = "";
    });
  }
  function loadDataset() {
    var r = dsRun(), source = dsSource();
    if (!source) { status("choose a labelled file first", true, "ds-status"); return Promise.resolve(); }
    var body = Object.assign({run: r}, source, dsSlice(), {sort: $("ds-sort").value, descending: $("ds-desc").checked,
                                                           offset: state.ds.offset, limit: state.ds.limit});
    var mine = ++seq.ds;
    saveUrl();
    status("loading … (the first request predicts every row of the data set)", false, "ds-status");
    return api("/api/dataset", body).then(function (res) {
      if (mine !== seq.ds) return;
      state.ds.res = res;
      drawDataset();
      status(res.matched + " of " + res.total + " rows in the slice (" + (res.source.indexOf("file:") === 0 ?
        "the file " + state.ds.file.name : "the " + res.source + " split") + ")", false, "ds-status");
    }, function (err) { if (mine === seq.ds) status(err.message, true, "ds-status"); });
  }
  function reslice() { state.ds.offset = 0; return loadDataset(); }
  function fmt3(x) { return x === null || x === undefined ? "–" : x.toFixed(3); }
  function drawDataset() {
    var res = state.ds.res, m = res.metrics;
    $("ds-metrics").textContent = m.count + " rows · accuracy " + fmt3(m.accuracy) + " (" + m.correct + " correct) · " +
      "macro F1 " + fmt3(m.macro_f1);
    // the confusion matrix: rows gold, columns predicted; a cell selects those rows
    var cm = $("ds-confusion"), gold = $("ds-gold").value, pred = $("ds-pred").value;
    cm.textContent = "";
    var head = el("tr");
    head.appendChild(el("th", "note", "gold \\ predicted"));
    res.classes.forEach(function (c) { head.appendChild(el("th", null, c)); });
    cm.appendChild(head);
    res.classes.forEach(function (g, i) {
      var tr = el("tr");
      tr.appendChild(el("th", null, g));
      res.classes.forEach(function (p, j) {
        var td = el("td", "num" + (i === j ? " diag" : "")), b = el("button", "cm-cell", m.confusion[i][j]);
        b.type = "button"; b.dataset.gold = g; b.dataset.predicted = p;
        b.title = "rows of gold " + g + " predicted " + p;
        if (gold === g && pred === p) b.classList.add("active");
        td.appendChild(b);
        tr.appendChild(td);
      });
      cm.appendChild(tr);
    });
    var ct = $("ds-classes");
    ct.textContent = "";
    var h2 = el("tr");
    ["class", "precision", "recall", "F1", "support"].forEach(function (x) { h2.appendChild(el("th", null, x)); });
    ct.appendChild(h2);
    m.classes.forEach(function (c) {
      var tr = el("tr");
      tr.dataset["class"] = c["class"];
      tr.appendChild(el("td", null, c["class"]));
      [c.precision, c.recall, c.f1].forEach(function (x) { tr.appendChild(el("td", "num", fmt3(x))); });
      tr.appendChild(el("td", "num", c.support));
      ct.appendChild(tr);
    });
    var table = $("ds-table");
    table.textContent = "";
    var th = el("tr");
    ["#", "sentence", "gold", "predicted", "confidence", "loss", "tokens", ""].forEach(function (x) {
      th.appendChild(el("th", null, x));
    });
    table.appendChild(th);
    res.rows.forEach(function (row) {
      var tr = el("tr", "clickable ds-row" + (row.correct ? "" : " wrong"));
      tr.tabIndex = 0;
      tr.dataset.id = row.id;
      tr.title = "explain this sentence";
      tr.appendChild(el("td", "num", row.id));
      var shownText = row.text.split(" ").map(display).join(" ");  // treebank escapes as brackets, as in Explain
      tr.appendChild(el("td", "ds-text", row.tokens.length ? shownText : shownText + " (no tokens)"));
      tr.appendChild(el("td", "cls", row.gold));
      tr.appendChild(el("td", "cls", row.predicted));
      tr.appendChild(el("td", "num", pct(row.probability)));
      tr.appendChild(el("td", "num", row.loss === null ? "∞" : row.loss.toFixed(3)));
      tr.appendChild(el("td", "num", row.length));
      tr.appendChild(el("td", "mark", row.correct ? "✓" : "✗"));
      table.appendChild(tr);
    });
    var last = Math.min(res.offset + res.limit, res.matched);
    $("ds-page").textContent = res.matched ? "rows " + (res.offset + 1) + "–" + last + " of " + res.matched : "no rows";
    $("ds-prev").disabled = res.offset === 0;
    $("ds-next").disabled = last >= res.matched;
  }
  function openRow(id) {
    var res = state.ds.res, row = res && res.rows.filter(function (x) { return x.id === id; })[0];
    if (!row) return;
    showTab("explain");
    $("text").value = row.text;
    explainText();
  }
  function aggregateSlice() {
    var r = state.shown[0], m = state.selected[0], source = dsSource(), mine = ++seq.agg;
    if (!source) return;
    var body = Object.assign({run: r, method: m, options: optionsFor(m), top: 10}, source, dsSlice());
    $("ds-agg").textContent = "";
    $("ds-agg-note").textContent = "explaining the slice once per class …";
    api("/api/aggregate", body).then(function (res) {
      if (mine !== seq.agg) return;
      $("ds-agg-note").textContent = "Mean " + res.method + " score of each word over the " + res.sentences +
        " sentences of the slice (" + res.tokens + " tokens; words seen at least " + res.min_count + " times), " +
        "every sentence explained for each class; the count and the total in the tooltip. Filters (width/index): " +
        "the largest mean contribution w·p to the class over the slice, with their most frequent winning n-grams.";
      res.classes.forEach(function (c) {
        var box = el("div", "agg-class");
        box.dataset["class"] = c["class"];
        box.appendChild(el("h3", null, c["class"]));
        [["for", "evidence for"], ["against", "evidence against"]].forEach(function (kind) {
          var line = el("div", "agg-" + kind[0]);
          line.appendChild(el("span", "note", kind[1] + ": "));
          if (!c[kind[0]].length) line.appendChild(el("span", "note", "none"));
          c[kind[0]].forEach(function (w) {
            var chip = el("span", "agg-word", display(w.word) + " " + H.fmt(w.mean));
            chip.dataset.word = w.word;
            chip.title = w.count + "× · total " + H.fmt(w.total);
            line.appendChild(chip);
            line.appendChild(document.createTextNode(" "));
          });
          box.appendChild(line);
        });
        // the filters with the largest mean contribution w_cj * p_j to this class over the slice
        var fc = res.filters.available ? res.filters.classes.filter(function (x) { return x["class"] === c["class"]; })[0] : null;
        if (fc) {
          var fl = el("div", "agg-filters");
          fl.appendChild(el("span", "note", "filters: "));
          if (!fc.filters.length) fl.appendChild(el("span", "note", "none"));
          fc.filters.forEach(function (f) {
            var chip = el("span", "agg-filter");
            chip.dataset.width = f.width; chip.dataset.filter = f.filter;
            chip.appendChild(el("b", null, f.width + "/" + f.filter + " " + H.fmt(f.mean_contribution)));
            chip.appendChild(document.createTextNode(" " + f.ngrams.map(function (g) {
              return "\u201c" + g.ngram.split(" ").map(display).join(" ") + "\u201d ×" + g.count;
            }).join(", ")));
            chip.title = "width " + f.width + ", filter " + f.filter + ": mean contribution " + H.fmt(f.mean_contribution) +
              " to " + c["class"] + "; fired in " + f.fired + " of " + res.sentences + " sentences";
            fl.appendChild(chip);
          });
          box.appendChild(fl);
        }
        $("ds-agg").appendChild(box);
      });
      if (!res.filters.available) $("ds-agg").appendChild(el("p", "note agg-no-filters", res.filters.note));
    }, function (err) { if (mine === seq.agg) $("ds-agg-note").textContent = err.message; });
  }
  // the projector: the slice's rows on the first two principal components of their pooled features
  var PALETTE = ["#2166ac", "#b2182b", "#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e", "#a6761d"];
  var SVG = "http://www.w3.org/2000/svg";
  function projectSlice() {
    var r = state.shown[0], source = dsSource(), mine = ++seq.proj, unit = {};
    if (!source) return;
    if ($("ds-colour").value === "activation") {
      var m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec($("ds-unit").value);
      if (!m) { $("ds-proj-note").textContent = "name the filter as width/index, e.g. " + state.runs[r].widths[0] + "/0"; return; }
      unit = {width: Number(m[1]), filter: Number(m[2])};
    }
    $("ds-proj").textContent = "";
    $("ds-proj-note").textContent = "computing the pooled features …";
    api("/api/projection", Object.assign({run: r}, source, dsSlice(), unit)).then(function (res) {
      if (mine !== seq.proj) return;
      state.ds.proj = res;
      drawProjection();
    }, function (err) { if (mine === seq.proj) $("ds-proj-note").textContent = err.message; });
  }
  function drawProjection() {
    var res = state.ds.proj, by = $("ds-colour").value, size = 320, pad = 10, box = $("ds-proj");
    if (!res) return;
    box.textContent = "";
    if (by === "activation" && !res.filter) { projectSlice(); return; }  // the map has no activations yet
    var classes = state.runs[res.run].classes, groups = by === "correct" ? ["correct", "error"] : classes;
    var top = by === "activation" ? H.maxAbs(res.points.map(function (p) { return p.activation; })) : 0;
    $("ds-proj-note").textContent = res.points.length + " rows, PCA of the " + res.features + " max-pooled filter " +
      "features (explained variance " + res.explained_variance.map(function (v) { return (100 * v).toFixed(1) + "%"; })
      .join(" + ") + "). Click a point to explain its sentence.";
    var xs = res.points.map(function (p) { return p.x; }), ys = res.points.map(function (p) { return p.y; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var sx = (size - 2 * pad) / ((x1 - x0) || 1), sy = (size - 2 * pad) / ((y1 - y0) || 1);
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + size + " " + size);
    svg.setAttribute("width", size); svg.setAttribute("height", size);
    svg.setAttribute("class", "proj");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "the slice's sentences on two principal components");
    res.points.forEach(function (p) {
      var group = by === "correct" ? (p.correct ? "correct" : "error") : by === "activation" ? "" : p[by];
      var c = document.createElementNS(SVG, "circle"), t = document.createElementNS(SVG, "title");
      c.setAttribute("cx", (pad + (p.x - x0) * sx).toFixed(2));
      c.setAttribute("cy", (size - pad - (p.y - y0) * sy).toFixed(2));
      c.setAttribute("r", 4);
      c.setAttribute("fill", by === "activation" ? H.colour(p.activation, top, true)[0] :
                     PALETTE[Math.max(0, groups.indexOf(group)) % PALETTE.length]);
      if (by === "activation") c.dataset.activation = String(p.activation);
      c.setAttribute("class", "proj-point" + (p.correct ? "" : " wrong"));
      c.setAttribute("tabindex", "0");
      c.dataset.id = p.id;
      c.dataset.group = group;
      t.textContent = "#" + p.id + " " + p.text + " (gold " + p.gold + ", predicted " + p.predicted +
        (by === "activation" ? ", activation " + p.activation.toFixed(3) : "") + ")";
      c.appendChild(t);
      svg.appendChild(c);
    });
    box.appendChild(svg);
    var legend = el("div", "note proj-legend");
    if (by === "activation") {
      var bar = el("span", "mini-bar");
      H.legendBar(bar, true);
      legend.appendChild(el("span", null, "filter " + res.filter.width + "/" + res.filter.filter + " activation 0 "));
      legend.appendChild(bar);
      legend.appendChild(el("span", null, " " + top.toFixed(3)));
      box.appendChild(legend);
      return;
    }
    groups.forEach(function (g, i) {
      var dot = el("span", "proj-key");
      dot.style.backgroundColor = PALETTE[i % PALETTE.length];
      legend.appendChild(dot);
      legend.appendChild(document.createTextNode(" " + g + "  "));
    });
    box.appendChild(legend);
  }
  function openPoint(id) {
    var p = state.ds.proj && state.ds.proj.points.filter(function (x) { return x.id === id; })[0];
    if (!p) return;
    showTab("explain");
    $("text").value = p.text;
    explainText();
  }
  // saved slices: named sets of the slice controls, kept in this browser (localStorage), not on the server
  var SAVED = "textdeconv-explorer-slices";
  function savedSlices() {
    try {
      var x = JSON.parse(localStorage.getItem(SAVED) || "[]");
      return Array.isArray(x) ? x.filter(function (s) { return s && typeof s.name === "string"; }) : [];
    } catch (err) { return []; }
  }
  function drawSaved() {
    var box = $("ds-saved");
    box.textContent = "";
    savedSlices().forEach(function (s, i) {
      var b = el("button", "saved-slice", s.name), x = el("button", "saved-drop", "×");
      b.type = "button"; b.dataset.i = i; b.title = JSON.stringify(s.slice);
      x.type = "button"; x.dataset.i = i; x.title = "forget " + s.name;
      x.setAttribute("aria-label", "forget " + s.name);
      box.appendChild(b);
      box.appendChild(x);
    });
  }
  function saveSlice() {
    var name = $("ds-slice-name").value.trim().slice(0, 60), all = savedSlices();
    if (!name) { status("name the slice first", true, "ds-status"); return; }
    var slice = Object.assign({}, dsSlice(), {sort: $("ds-sort").value, descending: $("ds-desc").checked});
    all = all.filter(function (s) { return s.name !== name; }).concat([{name: name, slice: slice}]);
    try { localStorage.setItem(SAVED, JSON.stringify(all)); } catch (err) { status("cannot save: " + err.message, true, "ds-status"); }
    $("ds-slice-name").value = "";
    drawSaved();
  }
  function openSaved(i) {
    var s = savedSlices()[i];
    if (!s) return;
    ["ds-search", "ds-word", "ds-min", "ds-max"].forEach(function (id) { $(id).value = ""; });
    ["ds-gold", "ds-pred", "ds-correct"].forEach(function (id) { $(id).value = ""; });
    restoreDataset(Object.assign({}, s.slice, {offset: 0}));
    reslice();
  }
  function dropSaved(i) {
    var all = savedSlices();
    all.splice(i, 1);
    try { localStorage.setItem(SAVED, JSON.stringify(all)); } catch (err) { /* nothing kept */ }
    drawSaved();
  }
  function showTab(name) {
    state.tab = name;
    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (x) {
      var on = x.dataset.tab === name;
      x.classList.toggle("active", on);
      x.setAttribute("aria-selected", on ? "true" : "false");
      $("tab-" + x.dataset.tab).hidden = !on;
    });
    fileRun();
    if (name === "dataset") {
      dsClasses();
      dsRun();
      if (!state.ds.res) loadDataset();
    }
    saveUrl();
  }
  function wireDataset() {
    var timer = null;
    $("ds-go").addEventListener("click", reslice);
    $("ds-split").addEventListener("change", function () {
      $("ds-file-row").hidden = $("ds-split").value !== "file";
      if ($("ds-split").value !== "file" || state.ds.file) reslice();
    });
    $("ds-file").addEventListener("change", function () {
      var f = $("ds-file").files[0];
      if (!f) return;
      var ext = f.name.toLowerCase().split(".").pop();
      var format = {csv: "csv", tsv: "tsv", tab: "tsv", jsonl: "jsonl", ndjson: "jsonl"}[ext];
      if (!format) { status(f.name + ": the format is told by the extension (.csv, .tsv, .jsonl)", true, "ds-status"); return; }
      f.arrayBuffer().then(function (bytes) {
        var text;
        try { text = new TextDecoder("utf-8", {fatal: true}).decode(bytes); }
        catch (err) { status(f.name + " is not valid UTF-8", true, "ds-status"); return; }
        state.ds.file = {name: f.name, text: text, format: format};
        reslice();
      });
    });
    ["ds-gold", "ds-pred", "ds-correct", "ds-sort", "ds-desc"].forEach(function (id) {
      $(id).addEventListener("change", reslice);
    });
    ["ds-search", "ds-word", "ds-min", "ds-max", "ds-text-col", "ds-label-col"].forEach(function (id) {
      $(id).addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(reslice, 250); });
    });
    $("ds-clear").addEventListener("click", function () {
      ["ds-search", "ds-word", "ds-min", "ds-max"].forEach(function (id) { $(id).value = ""; });
      ["ds-gold", "ds-pred", "ds-correct"].forEach(function (id) { $(id).value = ""; });
      reslice();
    });
    $("ds-prev").addEventListener("click", function () {
      state.ds.offset = Math.max(0, state.ds.offset - state.ds.limit); loadDataset();
    });
    $("ds-next").addEventListener("click", function () { state.ds.offset += state.ds.limit; loadDataset(); });
    $("ds-confusion").addEventListener("click", function (ev) {
      var b = ev.target.closest(".cm-cell");
      if (!b) return;
      $("ds-gold").value = b.dataset.gold;
      $("ds-pred").value = b.dataset.predicted;
      $("ds-correct").value = "";
      reslice();
    });
    $("ds-table").addEventListener("click", function (ev) {
      var tr = ev.target.closest(".ds-row");
      if (tr) openRow(Number(tr.dataset.id));
    });
    $("ds-aggregate").addEventListener("click", aggregateSlice);
    $("ds-save").addEventListener("click", saveSlice);
    $("ds-slice-name").addEventListener("keydown", function (ev) { if (ev.key === "Enter") saveSlice(); });
    $("ds-saved").addEventListener("click", function (ev) {
      var b = ev.target.closest(".saved-slice"), x = ev.target.closest(".saved-drop");
      if (b) openSaved(Number(b.dataset.i));
      if (x) dropSaved(Number(x.dataset.i));
    });
    drawSaved();
    $("ds-project").addEventListener("click", projectSlice);
    $("ds-colour").addEventListener("change", function () {
      $("ds-unit").hidden = $("ds-colour").value !== "activation";
      if ($("ds-colour").value === "activation" && !$("ds-unit").value) {
        $("ds-unit").value = state.runs[state.shown[0]].widths[0] + "/0";
      }
      drawProjection();
    });
    $("ds-unit").addEventListener("change", projectSlice);
    $("ds-proj").addEventListener("click", function (ev) {
      var c = ev.target.closest(".proj-point");
      if (c) openPoint(Number(c.dataset.id));
    });
    $("ds-proj").addEventListener("keydown", function (ev) {
      var c = ev.target.closest(".proj-point");
      if (c && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); openPoint(Number(c.dataset.id)); }
    });
  }

  // -- wiring --------------------------------------------------------------------------------------
  function wire() {
    $("go").addEventListener("click", explainText);
    $("text").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) explainText();
    });
    $("results").addEventListener("click", function (ev) {
      var tok = ev.target.closest(".tok"), rb = ev.target.closest(".restore");
      var cg = ev.target.closest(".cf-go"), cu = ev.target.closest(".cf-use");
      if (rb) { restore(Number(rb.dataset.k), Number(rb.dataset.i)); return; }
      if (cg) { counterfactuals(Number(cg.dataset.k)); return; }
      if (cu) { useCounterfactual(Number(cu.dataset.k), Number(cu.dataset.i)); return; }
      if (!tok) return;
      state.focus = {k: Number(tok.dataset.k), run: Number(tok.dataset.run), method: tok.dataset.method,
                     t: Number(tok.dataset.t)};
      render();
      var again = $("results").querySelector('.tok.selected[data-method="' + tok.dataset.method + '"]');
      if (again) again.focus();  // the keyboard stays on the word
      openPanel();
    });
    document.addEventListener("keydown", function (ev) {
      var t = ev.target;
      if ((ev.key === "Enter" || ev.key === " ") && t.matches && t.matches(".tok, tr.clickable")) {
        ev.preventDefault();
        t.click();
      }
    });
    $("panel-close").addEventListener("click", function () { $("panel").hidden = true; state.focus = null; render(); });
    $("word-filters").addEventListener("click", function (ev) {
      var tr = ev.target.closest(".filter-row");
      if (!tr) return;
      Array.prototype.forEach.call($("word-filters").querySelectorAll("tr"), function (x) { x.classList.remove("active"); });
      tr.classList.add("active");
      showCard(Number(tr.dataset.run), Number(tr.dataset.width), Number(tr.dataset.filter));
    });
    $("fired-filters").addEventListener("click", function (ev) {
      var tr = ev.target.closest(".fired-row");
      if (!tr) return;
      Array.prototype.forEach.call($("fired-filters").querySelectorAll("tr"), function (x) { x.classList.remove("active"); });
      tr.classList.add("active");
      showCard(Number(tr.dataset.run), Number(tr.dataset.width), Number(tr.dataset.filter));
    });
    $("thresholds-go").addEventListener("click", showThresholds);
    $("training-similar").addEventListener("click", function () { showTraining("similar"); });
    $("training-tracin").addEventListener("click", function () { showTraining("tracin"); });
    $("delete-word").addEventListener("click", function () { edit(null); });
    $("replace-word").addEventListener("click", function () { edit($("replace-text").value); });
    $("replace-text").addEventListener("keydown", function (ev) { if (ev.key === "Enter") edit($("replace-text").value); });
    $("suggestions").addEventListener("click", function (ev) {
      var b = ev.target.closest(".suggestion");
      if (b) edit(b.dataset.word);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (b) {
      b.addEventListener("click", function () { showTab(b.dataset.tab); });
    });
    wireDataset();
    $("file").addEventListener("change", function () {
      var f = $("file").files[0];
      if (!f) return;
      if (f.size > state.limits.max_body_bytes) {
        status(f.name + " is over the limit of " + state.limits.max_body_bytes + " bytes", true, "table-status");
        return;
      }
      f.arrayBuffer().then(function (bytes) { state.fileBytes = {name: f.name, bytes: bytes}; decodeFile(); });
    });
    $("encoding").addEventListener("change", function () { if (state.fileBytes) decodeFile(); });
    $("table-go").addEventListener("click", explainFile);
    $("csv-go").addEventListener("click", downloadCsv);
    $("table").addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (!th || !state.table) return;
      var col = Number(th.dataset.col);
      state.sort = {col: col, dir: state.sort && state.sort.col === col ? -state.sort.dir : 1};
      drawTable();
    });
  }

  Promise.all([api("/api/runs"), api("/api/methods")]).then(function (res) {
    state.runs = res[0].runs;
    state.limits = res[0].limits;
    state.methods = res[1].methods;
    loadUrl();
    buildControls();
    $("target").value = state.target;
    if ($("target").value !== state.target) state.target = "";
    $("scale").value = state.scale;
    wire();
    document.body.dataset.ready = "1";
    explainText();
    if (state.tab === "dataset") {
      dsClasses();
      restoreDataset(state.dsLink);
      showTab("dataset");
    }
  }, function (err) { status("the server did not answer: " + err.message, true); });
})();
