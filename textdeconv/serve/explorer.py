"""The explorer's model side: the runs it was started with, loaded once and kept warm, and every
answer the JSON API gives, as plain dicts (``textdeconv.serve.app`` only parses and routes).

Every explanation goes through the code ``textdeconv explain`` runs (``tokenize_items``, the
registry's explainer and ``explain_blocks``' blocks of 4096 lines, batch size 128), so the
scores the page shows equal the CLI's and the API's for the same sentence, and ``csv`` returns
the bytes ``textdeconv explain --input FILE --csv`` writes.

Requests are checked here against ``Limits`` after tokenizing (tokens per sentence are known
only then); the rest of the validation is the app's. A run is named by its index or its name as
given at start: nothing a client sends is ever used as a path.
"""
from __future__ import annotations

import io
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from textdeconv.errors import InputError, UserError
from textdeconv.reports.html import json_numbers
from textdeconv.reports.stream import CHUNK_LINES  # `explain --chunk-size`'s default: lines explained together
from textdeconv.serve.budget import checked, exempt, hold


class RequestError(InputError):
    """A request the explorer refuses; ``status`` is its HTTP status (the message says why)."""

    status = 400

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; anything beyond is refused with a 4xx JSON error."""

    max_body_bytes: int = 2 * 1024 * 1024  # a file of a few thousand sentences, as JSON
    max_sentences: int = 100               # /api/explain, /api/predict: what a person reads at once
    max_table_sentences: int = 5000        # /api/table, /api/csv: an uploaded file
    max_tokens: int = 200                  # per sentence (SST's longest has 56)
    max_ig_steps: int = 300                # integrated-gradients' steps (cost grows with them)
    max_neighbours: int = 50               # /api/neighbours k, /api/word-filters top
    batch_size: int = 128                  # as `textdeconv explain`'s default, so the scores match
    max_page_rows: int = 500               # /api/dataset rows per page
    max_dataset_rows: int = 20000          # rows of a data set (a split or an uploaded labelled file)
    max_aggregate_sentences: int = 2000    # /api/aggregate: sentences of the slice explained (once per class)
    max_projection_rows: int = 5000        # /api/projection: points of one map
    time_budget: float = 30.0              # seconds one request may keep a run's model (and wait for it)
    header_timeout: float = 10.0           # seconds to send a request's headers, once the first byte arrived
    body_timeout: float = 30.0             # seconds between two pieces of a request's body


MAX_EXPLAINERS = 16  # per run: options come from clients, so the cache of built methods is bounded
MAX_FILE_DATASETS = 4  # per run: uploaded labelled files whose predictions stay cached (splits always do)


@dataclass
class Loaded:
    """One run as the explorer holds it: ``run`` (a ``textdeconv.api.Run``), its public ``name``,
    a lock serialising its model calls, and the lazily built caches."""

    run: object
    name: str
    lock: threading.Lock
    dictionary_lock: threading.Lock
    explainers: OrderedDict = field(default_factory=OrderedDict)  # (method, options) -> warm explainer
    dictionary: object = None       # (FilterDictionary of the train split, sentences), built on first request
    analysis: object = None         # (FilterAnalysis of the train split, sentences), built on first request
    analysis_lock: threading.Lock = field(default_factory=threading.Lock)
    unit_embeddings: object = None  # (V, E) row-normalised embedding, for nearest words
    datasets: OrderedDict = field(default_factory=OrderedDict)  # source -> DataSet with predictions (dataset.py)
    datasets_lock: threading.Lock = field(default_factory=threading.Lock)
    features: OrderedDict = field(default_factory=OrderedDict)  # source -> (n, F) pooled features, for the projector


class Explorer:
    """The runs the server answers for. ``Explorer.open(paths)`` loads and warms them."""

    def __init__(self, runs, limits: Limits | None = None):
        self.limits = limits or Limits()
        names: list[str] = []
        for r in runs:  # two runs with the same folder name stay apart: "tiny", "tiny (2)"
            name, k = r.name, 2
            while name in names:
                name, k = f"{r.name} ({k})", k + 1
            names.append(name)
        self.runs = [Loaded(r, n, threading.Lock(), threading.Lock()) for r, n in zip(runs, names)]

    @classmethod
    def open(cls, paths, limits: Limits | None = None, warm: bool = True) -> Explorer:
        """Load every run directory (a bad one raises its one-line UserError) and warm the deconvnet."""
        from textdeconv.api import Run

        explorer = cls([Run(p) for p in paths], limits)
        if warm:
            explorer.warm_up()
        return explorer

    def warm_up(self) -> None:
        """Trace the deconvnet and the prediction once per run, so the first request is as fast as the rest."""
        for k in range(len(self.runs)):
            self.explain(k, ["warm up"], "deconv")
            self.predict(k, ["warm up"])

    # -- runs and methods ---------------------------------------------------------------------
    def run_index(self, ref) -> int:
        """The index of the run a request names (an index or a name given at start)."""
        if ref is None:
            return 0
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(self.runs):
            return ref
        if isinstance(ref, str):
            for k, r in enumerate(self.runs):
                if r.name == ref:
                    return k
        known = ", ".join(f"{k} ({r.name})" for k, r in enumerate(self.runs))
        name = ref if isinstance(ref, int) else repr(str(ref)[:60])
        raise RequestError(f"unknown run {name}; this server has runs {known}", 404)

    def runs_info(self) -> list[dict]:
        out = []
        for k, r in enumerate(self.runs):
            run, cfg = r.run, r.run.config
            out.append({"index": k, "name": r.name, "classes": list(run.class_names), "dataset": cfg.data.dataset,
                        "variant": cfg.model.variant, "vocabulary": len(run.vocab), "widths": list(run.net.widths),
                        "filters": [int(c.filters) for c in run.net.convs], "channels": run.net.channels,
                        "clean": run.vocab.clean})
        return out

    @staticmethod
    def methods_info() -> list[dict]:
        from textdeconv.attribution import METHODS

        return [{"name": m.name, "summary": m.summary, "family": m.family, "available": m.available(),
                 "extra": m.extra or None,
                 "options": {k: {"default": o.default, "help": o.help, "choices": list(o.choices) or None,
                                 "minimum": o.minimum} for k, o in m.options.items()}}
                for m in METHODS.values()]

    # -- tokenizing and explaining --------------------------------------------------------------
    def sentences(self, k: int, items, most: int):
        """Tokenize ``(sentence id, text or token list)`` pairs as ``textdeconv explain`` does;
        returns ``(ids, token lists, warnings, errors)``: ``errors`` maps the id of each sentence
        refused on its own (no tokens, too many tokens) to why. Refuses too many sentences, and a
        request none of whose sentences is left (with the first sentence's reason)."""
        from textdeconv.reports.stream import tokenize_items

        if len(items) > most:
            raise RequestError(f"{len(items)} sentences in one request; the limit is {most}", 413)
        run, warnings, errors = self.runs[k].run, [], {}
        strings = [(sid, t) for sid, t in items if isinstance(t, str)]
        ids, sentences = tokenize_items(strings, run.vocab, None, warnings.append,
                                        skip=lambda sid, why: errors.setdefault(sid, f"sentence {sid}: {why}"))
        by_id = dict(zip(ids, sentences))
        for sid, t in items:
            if not isinstance(t, str):  # a token list (the page's what-if edits): taken as it is
                tokens = run.vocab.prepare(list(t))
                if tokens:
                    by_id[sid] = tokens
                else:
                    errors[sid] = f"sentence {sid}: no tokens"
        status = 400
        for sid in sorted(by_id):
            if len(by_id[sid]) > self.limits.max_tokens:
                errors[sid] = (f"sentence {sid} has {len(by_id.pop(sid))} tokens; the limit is "
                               f"{self.limits.max_tokens} per sentence (textdeconv explain --input takes longer texts)")
                status = 413
        ids = sorted(by_id)
        if not ids:
            if any("tokens; the limit is" in m for m in errors.values()):
                raise RequestError(errors[min(errors)] if len(errors) == 1 else
                                   "; ".join(errors[sid] for sid in sorted(errors)[:3]), status)
            raise RequestError("nothing to explain: every sentence was empty")
        return ids, [by_id[sid] for sid in ids], warnings, errors

    @staticmethod
    def refused(errors: dict) -> list[dict]:
        return [{"sentence_id": sid, "error": errors[sid]} for sid in sorted(errors)]

    def explainer(self, loaded: Loaded, method: str, options: dict):
        """The method's explainer for a run, built and warmed up (``warm_up``) once; the
        ``MAX_EXPLAINERS`` most recently used are kept."""
        from textdeconv.attribution import make_explainer
        from textdeconv.reports.stream import warm_up

        key = (method, tuple(sorted(options.items())))
        if key in loaded.explainers:
            loaded.explainers.move_to_end(key)
            return loaded.explainers[key]
        run = loaded.run
        explainer = make_explainer(method, run.net, run.vocab, run.class_names, **options)
        warm_up(explainer)
        explainer.attribute_ids = checked(explainer.attribute_ids)  # the request's time budget, before each batch
        if callable(getattr(explainer, "_path", None)):  # integrated gradients: also between its chunks of steps
            explainer._path = checked(explainer._path)
        loaded.explainers[key] = explainer
        if len(loaded.explainers) > MAX_EXPLAINERS:
            loaded.explainers.popitem(last=False)
        return explainer

    def explanations(self, k: int, ids, sentences, method: str, target, options: dict):
        """``explain_blocks``' result: blocks of 4096 sentence ids, each explained together.

        The explainer is warmed up once, when it is built, rather than on every request; that
        and the blocks are all ``explain_blocks`` does, so its scores are these."""
        loaded = self.runs[k]
        if method == "integrated-gradients" and options.get("steps", 0) > self.limits.max_ig_steps:
            raise RequestError(f"integrated-gradients: steps {options['steps']} is above the limit "
                               f"{self.limits.max_ig_steps}")
        with hold(loaded.lock, loaded.name):
            explainer = self.explainer(loaded, method, options)
            out = []
            for _, group in itertools.groupby(range(len(ids)), key=lambda i: (ids[i] - 1) // CHUNK_LINES):
                out += explainer.explain([sentences[i] for i in group], target=target,
                                         batch_size=self.limits.batch_size)
        return out

    def explain(self, k: int, texts, method: str = "deconv", target=None, options=None) -> dict:
        """``{"explanations": [...], "warnings": [...]}`` for a list of texts (strings or token lists)."""
        ids, sentences, warnings, errors = self.sentences(k, list(enumerate(texts, 1)), self.limits.max_sentences)
        expls = self.explanations(k, ids, sentences, method, target, options or {})
        names, vocab = self.runs[k].run.class_names, self.runs[k].run.vocab
        out = [explanation_json(e, sid, names) for sid, e in zip(ids, expls)]
        for item in out:
            item.update(source_of(texts[item["sentence_id"] - 1], vocab.clean))
        return {"run": k, "method": method, "options": options or {}, "signed": signed_scores(method, options or {}),
                "explanations": out,
                "warnings": warnings + [errors[sid] + "; skipped" for sid in sorted(errors)],
                "errors": self.refused(errors)}

    def predict(self, k: int, texts) -> dict:
        """Class probabilities of each sentence, as ``Run.predict`` computes them."""
        from textdeconv.training.trainer import predict_ids

        ids, sentences, warnings, errors = self.sentences(k, list(enumerate(texts, 1)), self.limits.max_sentences)
        loaded = self.runs[k]
        run = loaded.run
        with hold(loaded.lock, loaded.name):
            probs = predict_ids(run.net.model, [run.vocab.encode(s) for s in sentences], run.net.pad)
        rows = [{"sentence_id": sid, "tokens": s, "predicted": run.class_names[int(np.argmax(p))],
                 "predicted_index": int(np.argmax(p)), "probs": dict(zip(run.class_names, json_numbers(p)))}
                for sid, s, p in zip(ids, sentences, probs)]
        return {"run": k, "predictions": rows, "errors": self.refused(errors),
                "warnings": warnings + [errors[sid] + "; skipped" for sid in sorted(errors)]}

    # -- the deconvnet's filters ------------------------------------------------------------------
    def word_filters(self, k: int, text, token: int, target=None, top: int = 10, thresholds: bool = False) -> dict:
        """The live filters whose winning window (switch) covers word ``token`` of one sentence,
        largest |contribution| (w_cj * p_j, the filter's share of the target logit) first, each with
        its class vote.

        With ``thresholds`` (Jacovi et al. 2018; docs/filters.md; the run's train split is analysed on
        the first such request, with ``textdeconv filters``' defaults) each row also has its
        ``threshold`` (null: the filter has none), ``above_threshold`` and ``pattern``, and the answer
        has ``fired``: every filter of the sentence above its threshold (``fired_filters``' rows, the
        pattern's size and n-grams, ``covers_token``), strongest contribution to the predicted class first.
        """
        from textdeconv.attribution.deconv import filter_table
        from textdeconv.reports.filter_analysis import class_votes, fired_filters

        ids, sentences, _, _ = self.sentences(k, [(1, text)], 1)
        tokens = sentences[0]
        if not 0 <= token < len(tokens):
            raise RequestError(f"token {token} is out of range: the sentence has {len(tokens)} tokens (0-based)")
        (e,) = self.explanations(k, ids, sentences, "deconv", target, {})
        run = self.runs[k].run
        table = filter_table(e, run.net)
        votes = class_votes(run.net, run.class_names).set_index(["width", "filter"])
        live = table[table["alive"] & (table["switch"] <= token) & (token < table["switch"] + table["width"])]
        live = live.iloc[np.argsort(-np.abs(live["contribution"].to_numpy(np.float64)), kind="stable")][:top]
        rows = [{"width": int(r.width), "filter": int(r.filter), "switch": int(r.switch), "ngram": r.ngram,
                 "activation": a, "contribution": c, "class_vote": votes.loc[(r.width, r.filter), "class_vote"],
                 "vote": float(votes.loc[(r.width, r.filter), "vote"])}
                for r, a, c in zip(live.itertuples(), json_numbers(live["activation"].to_numpy()),
                                   json_numbers(live["contribution"].to_numpy()))]
        total = float(table.loc[table["alive"], "contribution"].sum())
        out = {"run": k, "tokens": tokens, "token": token, "word": tokens[token], "target": e.target_name,
               "target_index": int(e.target), "live_filters": int(table["alive"].sum()),
               "total_contribution": total, "filters": rows}
        if not thresholds:
            return out
        fa, scanned = self.analysis(k)
        with hold(self.runs[k].lock, self.runs[k].name):
            view = fired_filters(run.net, run.vocab, fa, run.class_names, tokens)
        pattern = {(int(w), int(j)): int(p) for w, j, p in zip(view["width"], view["filter"], view["pattern"])}
        for r in rows:
            thr = fa.row(r["width"], r["filter"])["threshold"]
            r["threshold"] = json_numbers([thr])[0]
            r["above_threshold"] = (r["width"], r["filter"]) in pattern
            r["pattern"] = pattern.get((r["width"], r["filter"]), -1)
        fired = []
        for f in view.itertuples():
            pats = fa.row(f.width, f.filter)["patterns"]
            pat = pats[f.pattern] if 0 <= f.pattern < len(pats) else None
            fired.append({"width": int(f.width), "filter": int(f.filter), "switch": int(f.switch), "ngram": f.ngram,
                          "covers_token": bool(f.switch <= token < f.switch + f.width),
                          "activation": float(f.activation), "threshold": float(f.threshold),
                          "class_vote": f.class_vote, "vote": float(f.vote), "pattern": int(f.pattern),
                          "patterns": len(pats), "pattern_size": pat["size"] if pat else 0,
                          "pattern_ngrams": pat["ngrams"] if pat else [], "slots": list(f.slots),
                          "contribution": float(f.contribution)})
        out.update(fired=fired, predicted=view["predicted"].iloc[0] if len(view) else e.predicted_name,
                   analysis={**{key: fa.settings[key] for key in ("labels", "min_purity", "max_ngrams")
                                if key in fa.settings}, "split": "train", "sentences_scanned": scanned})
        return out

    def filter_card(self, k: int, width: int, j: int) -> dict:
        """One filter's dictionary card: top n-grams on the train split and the nearest vocabulary
        words of each position (``textdeconv filters``' defaults: 10 n-grams, 5 words), computed
        for every filter of the run on the first request and cached."""
        net = self.runs[k].run.net
        if width not in net.widths:
            raise RequestError(f"no filters of width {width}; the widths are {', '.join(map(str, net.widths))}", 404)
        n = int(net.convs[net.widths.index(width)].filters)
        if not 0 <= j < n:
            raise RequestError(f"width {width} has filters 0-{n - 1}, not {j}", 404)
        fd, scanned = self.dictionary(k)
        from textdeconv.reports.filter_analysis import class_votes

        votes = class_votes(net, self.runs[k].run.class_names)
        v = votes[(votes["width"] == width) & (votes["filter"] == j)].iloc[0]
        s = fd.summary[(fd.summary["width"] == width) & (fd.summary["filter"] == j)].iloc[0]
        ng = fd.ngrams[(fd.ngrams["width"] == width) & (fd.ngrams["filter"] == j)]
        wd = fd.words[(fd.words["width"] == width) & (fd.words["filter"] == j)]
        positions = [{"position": int(p), "channel": ch,
                      "words": [{"word": w, "cosine": float(c)} for w, c in zip(g["word"], g["cosine"])]}
                     for (p, ch), g in wd.groupby(["position", "channel"], sort=True)]
        return {"run": k, "width": width, "filter": j, "split": "train", "sentences_scanned": scanned,
                "fires": float(s["fires"]), "mean_activation": float(s["mean_activation"]), "bias": float(s["bias"]),
                "class_vote": v["class_vote"], "vote": float(v["vote"]),
                "ngrams": [{"rank": int(r.rank), "ngram": r.ngram, "activation": a, "sentence_id": int(r.sentence_id),
                            "sentences": int(r.sentences)}
                           for r, a in zip(ng.itertuples(), json_numbers(ng["activation"].to_numpy()))],
                "positions": positions}

    def dictionary(self, k: int):
        """``(FilterDictionary of the run's train split, sentences scanned)``, built once."""
        from textdeconv.reports.filters import filter_dictionary

        loaded = self.runs[k]
        with exempt(), loaded.dictionary_lock:
            if loaded.dictionary is None:
                run = loaded.run
                ids, sentences, _ = self.train_split(loaded)
                loaded.dictionary = (filter_dictionary(run.net, run.vocab, sentences, ids), len(sentences))
        return loaded.dictionary

    def analysis(self, k: int):
        """``(FilterAnalysis of the run's train split, sentences scanned)``: thresholds, patterns and
        negative words with ``textdeconv filters``' defaults (purity 0.5, predicted labels), built once."""
        from textdeconv.reports.filter_analysis import analyze_filters

        loaded = self.runs[k]
        with exempt(), loaded.analysis_lock:
            if loaded.analysis is None:
                run = loaded.run
                ids, sentences, gold = self.train_split(loaded, "the filters' thresholds")
                # as the dictionary: not under the model lock, so a long first analysis does not stall explanations
                fa = analyze_filters(run.net, run.vocab, run.class_names, sentences, gold)
                loaded.analysis = (fa, len(sentences))
        return loaded.analysis

    @staticmethod
    def train_split(loaded: Loaded, what: str = "the filter dictionary"):
        """The run's training sentences ``(ids, token lists, gold)``; never downloads (a 409 when absent)."""
        from textdeconv.data.splits import split_sentences

        run = loaded.run
        data = replace(run.config.data, download=False)  # a web request never starts a download
        try:
            ids, sentences, gold = split_sentences(data, "train", run.config.vocab.clean)
        except UserError as e:
            raise RequestError(f"{what} needs the run's training data: {e}", 409) from None
        if not sentences:
            raise RequestError("the run's train split holds no sentences", 409)
        return ids, sentences, gold

    # -- training sentences: nearest neighbours and TracIn ---------------------------------------
    def training_sentences(self, k: int, text, mode: str = "similar", top: int = 5, target=None) -> dict:
        """The training sentences nearest one sentence (``Run.similar``) or most influential on it
        (``Run.influence``, output layer). TracIn sums over the run's kept checkpoints; a run that kept
        none uses model.keras alone, and the answer's ``checkpoints`` says which ("every" or "final")."""
        from textdeconv.influence.sources import kept_checkpoints

        self.sentences(k, [(1, text)], 1)  # the request's limits (tokens per sentence), checked as /api/explain's
        loaded = self.runs[k]
        run = loaded.run
        with hold(loaded.lock, loaded.name):
            try:
                if mode == "similar":
                    found = run.similar([text], top)
                else:
                    try:
                        kept_checkpoints(run.path, "every")
                        used = "every"
                    except UserError:
                        used = "final"
                    found = run.influence([text], top, target, "output", used)
            except UserError as e:
                raise RequestError(str(e), 409) from None
        (item,) = found.records()
        return {"run": k, "mode": mode, "settings": found.settings, **item}

    # -- what-if suggestions --------------------------------------------------------------------
    def neighbours(self, k: int, word: str, count: int = 8) -> dict:
        """The ``count`` vocabulary words nearest ``word`` by cosine in the run's embedding (every
        channel concatenated, as the convolutions read it); PAD, UNK and the word itself left out."""
        from textdeconv.data.vocab import PAD_ID, UNK_ID, normalize_token

        loaded = self.runs[k]
        run = loaded.run
        if loaded.unit_embeddings is None:
            emb = np.concatenate([np.asarray(t.embeddings.numpy(), np.float64) for t in run.net.tables], axis=1)
            loaded.unit_embeddings = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        unit = loaded.unit_embeddings
        key = normalize_token(word, run.vocab.lowercase)
        i = run.vocab.stoi.get(key)
        if i is None or i in (PAD_ID, UNK_ID):
            return {"run": k, "word": word, "known": False, "neighbours": []}
        cos = unit @ unit[i]
        cos[[PAD_ID, UNK_ID, i]] = -np.inf
        top = np.argsort(-cos, kind="stable")[:count]
        return {"run": k, "word": word, "known": True,
                "neighbours": [{"word": run.vocab.itos[v], "cosine": float(cos[v])} for v in top]}

    # -- the data set view: a labelled data set with predictions, slices, metrics (dataset.py) ----------
    def dataset_of(self, k: int, source: dict):
        """``(DataSet, cached)`` of ``source`` (``{"split": name}`` or ``{"file": text, "format",
        "text_column", "label_column"}``) for run ``k``: read and predicted once (in chunks of
        ``PREDICT_CHUNK`` under the run's lock and the request's budget), then cached: every split,
        and the ``MAX_FILE_DATASETS`` files used last."""
        from textdeconv.serve.dataset import DataSet, file_key, file_rows

        loaded = self.runs[k]
        run = loaded.run
        key = source["split"] if "split" in source else file_key(
            source["file"], source["format"], source["text_column"], source["label_column"])
        with hold(loaded.datasets_lock, loaded.name):
            if key in loaded.datasets:
                loaded.datasets.move_to_end(key)
                return loaded.datasets[key], True
            if "split" in source:
                texts, tokens, gold = self.split_rows(loaded, source["split"])
            else:
                try:
                    texts, tokens, gold = file_rows(source["file"], source["format"], source["text_column"],
                                                    source["label_column"], run.class_names, run.vocab)
                except UserError as e:
                    raise RequestError(str(e)) from None
            most = self.limits.max_dataset_rows if "split" in source else self.limits.max_table_sentences
            if len(texts) > most:
                raise RequestError(f"the data set has {len(texts):,} rows; the limit is {most:,}", 413)
            data = DataSet(key, texts, tokens, np.asarray(gold, np.int64), self.predict_all(loaded, tokens))
            loaded.datasets[key] = data
            files = [x for x in loaded.datasets if x.startswith("file:")]
            for old in files[:max(0, len(files) - MAX_FILE_DATASETS)]:
                del loaded.datasets[old]
        return data, False

    def split_rows(self, loaded: Loaded, split: str):
        """``(texts, token lists the model reads, gold)`` of one split of the run's data; never downloads."""
        from textdeconv.data.splits import split_sentences

        run = loaded.run
        data = replace(run.config.data, download=False)
        try:
            _, raw, gold = split_sentences(data, split, None)
        except UserError as e:
            raise RequestError(f"the data set view needs the run's {split} split: {e}", 409) from None
        if not raw:
            raise RequestError(f"the run's {split} split holds no sentences", 409)
        return [" ".join(t) for t in raw], [run.vocab.prepare(list(t)) for t in raw], gold

    def predict_all(self, loaded: Loaded, tokens) -> np.ndarray:
        """(n, C) float32 probabilities, ``predict_ids`` over chunks of ``PREDICT_CHUNK`` sentences,
        the request's budget checked before each."""
        from textdeconv.serve.budget import check
        from textdeconv.serve.dataset import PREDICT_CHUNK
        from textdeconv.training.trainer import predict_ids

        run = loaded.run
        ids = [run.vocab.encode(t) for t in tokens]
        out = []
        with hold(loaded.lock, loaded.name):
            for start in range(0, len(ids), PREDICT_CHUNK):
                check()
                out.append(predict_ids(run.net.model, ids[start:start + PREDICT_CHUNK], run.net.pad))
        return np.concatenate(out)

    def dataset(self, k: int, source: dict, piece=None, sort: str = "index", descending: bool = False,
                offset: int = 0, limit: int = 50) -> dict:
        """A page of a slice of the data set, with the slice's metrics (dataset.py)."""
        from textdeconv.serve.dataset import Slice, metrics, order, row_json, select

        data, cached = self.dataset_of(k, source)
        names = list(self.runs[k].run.class_names)
        rows = select(data, piece or Slice())
        page = order(data, rows, sort, descending)[offset:offset + limit]
        return {"run": k, "source": data.source, "classes": names, "total": len(data), "matched": int(len(rows)),
                "offset": offset, "limit": limit, "sort": sort, "descending": descending, "cached": cached,
                "metrics": metrics(data.gold[rows], data.predicted[rows], names),
                "rows": [row_json(data, int(i), names) for i in page]}

    def aggregate(self, k: int, source: dict, piece=None, method: str = "deconv", options=None, top: int = 10,
                  min_count: int = 2, by: str = "mean") -> dict:
        """Aggregate salience of a slice: every sentence explained once per class with ``method``,
        the word scores pooled by the lexicon code (``reports.lexicon``: count, mean and total per
        word and class) and each class's top words for and against it (``dataset.aggregate_json``)."""
        from textdeconv.reports.lexicon import explain_classes, lexicon
        from textdeconv.serve.dataset import Slice, aggregate_json, select

        options = options or {}
        data, _ = self.dataset_of(k, source)
        rows = [int(i) for i in select(data, piece or Slice()) if data.tokens[i]]
        if not rows:
            raise RequestError("the slice holds no sentence with tokens: nothing to aggregate")
        most = self.limits.max_aggregate_sentences
        if len(rows) > most:
            raise RequestError(f"the slice holds {len(rows):,} sentences; aggregate salience explains at most "
                               f"{most:,} (each once per class): narrow the slice", 413)
        if method == "integrated-gradients" and options.get("steps", 0) > self.limits.max_ig_steps:
            raise RequestError(f"integrated-gradients: steps {options['steps']} is above the limit "
                               f"{self.limits.max_ig_steps}")
        loaded = self.runs[k]
        names = list(loaded.run.class_names)
        with hold(loaded.lock, loaded.name):
            explainer = self.explainer(loaded, method, options)
            frame = explain_classes(explainer, [data.tokens[i] for i in rows], [i + 1 for i in rows],
                                    batch_size=self.limits.batch_size)
            filters = self.aggregate_filters(loaded, [data.tokens[i] for i in rows], top)
        lex = lexicon(frame, names, min_count)
        return {"run": k, "source": data.source, "method": method, "options": options, "sentences": len(rows),
                "tokens": sum(len(data.tokens[i]) for i in rows), "min_count": min_count, "by": by,
                "classes": aggregate_json(lex, names, top, by), "filters": filters}

    def aggregate_filters(self, loaded: Loaded, sentences, top: int) -> dict:
        """The slice's filters with the largest mean contribution to each class (``dataset.slice_filters``):
        the deconvnet's per-filter ``contribution`` w_cj * p_j of every sentence, for each class c;
        the caller holds the run's lock. A model without convolution filters gets ``available`` false."""
        from textdeconv.serve.dataset import slice_filters

        net, names = loaded.run.net, list(loaded.run.class_names)
        if not has_filters(net):
            return {"available": False, "note": "this run's model has no convolution filters: filters are "
                                                "shown for TextCNN runs only", "classes": []}
        # p_j and the switches do not depend on the class: one pass, and w_cj * p_j for every class
        # as Deconvnet.attribute_ids computes the target's ``contribution``
        first = self.explainer(loaded, "deconv", {}).explain(sentences, target=0, batch_size=self.limits.batch_size)
        pooled = np.stack([e.extras["pooled"] for e in first])
        switch = np.stack([e.extras["switch"] for e in first])
        contributions = net.output_weights.numpy().T[:, None, :] * pooled[None]  # (C, n, F)
        widths = np.repeat(net.widths, [int(c.filters) for c in net.convs])
        index = np.concatenate([np.arange(int(c.filters)) for c in net.convs])
        return {"available": True, "note": None,
                "classes": slice_filters(contributions, pooled, switch, [e.tokens for e in first], widths, index,
                                         names, top)}

    def projection(self, k: int, source: dict, piece=None, unit=None) -> dict:
        """The slice's rows on the first two principal components of their max-pooled feature vectors
        (``dataset.pca2``); the features of a data set are computed once (``forward_features``, in
        chunks under the run's lock and the request's budget) and cached with it. ``unit``: a filter
        ``(width, index)`` whose pooled activation each point also carries (``activation``)."""
        from textdeconv.influence.sources import forward_features
        from textdeconv.serve.budget import check
        from textdeconv.serve.dataset import PREDICT_CHUNK, Slice, pca2, select

        column = None
        if unit is not None:
            net, (width, j) = self.runs[k].run.net, unit
            if width not in net.widths:
                raise RequestError(f"no filters of width {width}; the widths are {', '.join(map(str, net.widths))}")
            n = int(net.convs[net.widths.index(width)].filters)
            if not 0 <= j < n:
                raise RequestError(f"width {width} has filters 0-{n - 1}, not {j}")
            # pooled columns: the widths in order, filters 0..F-1 within each
            column = sum(int(c.filters) for c in net.convs[:net.widths.index(width)]) + j
        data, _ = self.dataset_of(k, source)
        rows = select(data, piece or Slice())
        if len(rows) < 2:
            raise RequestError(f"the slice holds {len(rows)} sentence(s); a projection needs at least 2")
        most = self.limits.max_projection_rows
        if len(rows) > most:
            raise RequestError(f"the slice holds {len(rows):,} sentences; the projector shows at most {most:,}: "
                               "narrow the slice", 413)
        loaded = self.runs[k]
        run, names = loaded.run, list(loaded.run.class_names)
        with hold(loaded.lock, loaded.name):
            feats = loaded.features.get(data.source)
            if feats is None or len(feats) != len(data):
                ids = [run.vocab.encode(t) for t in data.tokens]
                parts = []
                for start in range(0, len(ids), PREDICT_CHUNK):
                    check()
                    parts.append(forward_features(run.net, ids[start:start + PREDICT_CHUNK])[0])
                feats = loaded.features[data.source] = np.concatenate(parts)
                while len(loaded.features) > len(loaded.datasets):
                    loaded.features.popitem(last=False)
        coords, ratio = pca2(feats[rows])
        predicted = data.predicted
        points = [{"id": int(i) + 1, "x": float(x), "y": float(y), "text": data.texts[i],
                   "gold": names[int(data.gold[i])], "predicted": names[int(predicted[i])],
                   "correct": bool(predicted[i] == data.gold[i])}
                  for i, (x, y) in zip(rows, coords)]
        if column is not None:
            for p, i in zip(points, rows):
                p["activation"] = float(feats[i, column])
        return {"run": k, "source": data.source, "matched": int(len(rows)), "features": int(feats.shape[1]),
                "explained_variance": [float(r) for r in ratio], "points": points,
                "filter": None if unit is None else {"width": unit[0], "filter": unit[1]}}

    # -- counterfactuals: edits that flip the prediction (counterfactuals.py) ---------------------
    def counterfactuals(self, k: int, text, method: str = "deconv", options=None, most: int = 5, words: int = 3,
                        neighbours: int = 5) -> dict:
        """The greedy smallest set of at most ``most`` word deletions that flips the prediction (each
        step exact: every single deletion scored by the model), then HotFlip's first-order one-word
        substitutions (``neighbours`` words at each of ``words`` positions, best estimate first), each
        edit verified by the model (counterfactuals.py). ``method`` only gives the sentence's
        ``scores``, for the page to shade the original words."""
        from textdeconv.serve.counterfactuals import (
            deletion_edit,
            greedy_deletions,
            hotflip,
            substitution_edit,
            verified,
        )
        from textdeconv.training.trainer import predict_ids

        options = options or {}
        ids, sentences, _, _ = self.sentences(k, [(1, text)], 1)
        (e,) = self.explanations(k, ids, sentences, method, None, options)
        tokens, loaded = list(sentences[0]), self.runs[k]
        run, names, cls = loaded.run, list(loaded.run.class_names), int(e.predicted)
        encoded = run.vocab.encode(tokens)
        with hold(loaded.lock, loaded.name):
            edits = []
            if most > 0 and len(tokens) > 1:
                edits.append(deletion_edit(tokens, greedy_deletions(run.net, encoded, cls, most)))
            edits += [substitution_edit(tokens, f, run.vocab.itos[f["id"]])
                      for f in hotflip(run.net, encoded, cls, words, neighbours)]
            probs = np.zeros((0, len(names)), np.float32)
            if edits:
                probs = predict_ids(run.net.model, [run.vocab.encode(x["tokens"]) for x in edits], run.net.pad)
        found = verified(edits, probs, cls, names)
        return {"run": k, "method": method, "options": options, "tokens": tokens, "scores": json_numbers(e.scores),
                "predicted": e.predicted_name, "predicted_index": cls,
                "probs": dict(zip(names, json_numbers(e.probs))), "flips": sum(c["flips"] for c in found),
                "counterfactuals": found}

    # -- files: a table and the CLI's CSV -------------------------------------------------------
    def file_items(self, text: str | None, texts) -> list:
        """``(line number, text)`` of every non-empty line, as ``textdeconv explain --input`` reads a file."""
        from textdeconv.data.custom import read_sentences

        if text is not None:
            return read_sentences("-", io.BytesIO(text.encode("utf-8")))
        return [(sid, t) for sid, t in enumerate(texts, 1) if not isinstance(t, str) or t.strip()]

    def file_explanations(self, k: int, items, method: str, target, options: dict):
        ids, sentences, warnings, errors = self.sentences(k, items, self.limits.max_table_sentences)
        if errors and any("tokens; the limit is" in m for m in errors.values()):  # a file is explained whole or not
            raise RequestError(next(m for m in errors.values() if "tokens; the limit is" in m), 413)
        warnings += [m + "; skipped" for sid, m in sorted(errors.items())]
        return ids, self.explanations(k, ids, sentences, method, target, options), warnings

    def table(self, k: int, items, method: str = "deconv", target=None, options=None, top: int = 3) -> dict:
        """One row per sentence: prediction, confidence, every class's probability and the ``top``
        words with the most evidence for the target class (largest positive scores)."""
        ids, expls, warnings = self.file_explanations(k, items, method, target, options or {})
        names = self.runs[k].run.class_names
        rows = []
        for sid, e in zip(ids, expls):
            scores = np.asarray(e.scores, np.float64)
            order = [t for t in np.argsort(-scores, kind="stable") if scores[t] > 0][:top]
            probs = json_numbers(e.probs)
            rows.append({"sentence_id": sid, "sentence": " ".join(e.tokens), "predicted": e.predicted_name,
                         "confidence": probs[e.predicted], "target": e.target_name,
                         "probs": dict(zip(names, probs)),
                         "evidence": [{"token": e.tokens[t], "score": json_numbers([e.scores[t]])[0]} for t in order]})
        return {"run": k, "method": method, "rows": rows, "warnings": warnings}

    def csv(self, k: int, items, method: str = "deconv", target=None, options=None,
            spreadsheet_safe: bool = False) -> str:
        """The CSV ``textdeconv explain --input FILE --csv PATH`` writes for the same lines; with
        ``spreadsheet_safe``, text cells a spreadsheet would run as a formula are quoted
        (``reports.export.spreadsheet_safe``)."""
        from textdeconv.reports.export import spreadsheet_safe as safe
        from textdeconv.reports.export import token_frame

        ids, expls, _ = self.file_explanations(k, items, method, target, options or {})
        frame = token_frame(expls, ids)
        return (safe(frame) if spreadsheet_safe else frame).to_csv(index=False)


def has_filters(net) -> bool:
    """Whether a run's model has convolution filters (a TextCNN) whose contributions can be listed."""
    return bool(getattr(net, "convs", None))


def source_of(text, clean) -> dict:
    """What the run's cleaning made of a sentence: ``source`` (its tokens before ``vocab.clean``: a
    text tokenized, a token list as given), ``source_index`` (for each token the model read, the
    source token it came from: an edit is made on the source, so each run cleans it its own way)
    and ``cleaned`` (the characters the cleaning removed, "" when none)."""
    from textdeconv.data.vocab import clean_aligned, tokenize

    source = tokenize(text, lowercase=False) if isinstance(text, str) else [str(t) for t in text]
    kept, index = clean_aligned(source, list(range(len(source))), clean)
    removed = sorted(set("".join(source)) - set("".join(kept)))
    return {"source": source, "source_index": index, "cleaned": "".join(removed)}


def signed_scores(method: str, options: dict) -> bool:
    """Whether the method's word scores have a sign (evidence for / against); norms
    (``gradient-l2``, ``saliency=norm``) are magnitudes, >= 0, drawn with a one-colour map."""
    return not (method == "gradient-l2" or options.get("saliency") == "norm")


def explanation_json(e, sentence_id, class_names) -> dict:
    """One ``Explanation`` as the API returns it (scores as the CSV prints them; NaN -> null)."""
    return {"sentence_id": sentence_id, "tokens": list(e.tokens), "in_vocab": [bool(v) for v in e.in_vocab],
            "scores": json_numbers(e.scores), "target": e.target_name, "target_index": int(e.target),
            "predicted": e.predicted_name, "predicted_index": int(e.predicted),
            "probs": dict(zip(class_names, json_numbers(e.probs))), "method": e.method}
