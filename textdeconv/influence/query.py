"""The questions ``Run.similar``, ``Run.influence`` and ``Run.self_influence`` answer, as tidy tables.

Every answer is about the run's **training sentences** (the train split's full sentences, as
``textdeconv explain --split train`` reads them, numbered ``train_id`` 1..n in file order). A run
trained on phrases (``data.train_on: phrases``) trained on more examples than these; its
sentences are among them.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from textdeconv.errors import InputError, quoted
from textdeconv.influence.sources import forward_features, kept_checkpoints, training_set

CHECKPOINTS = ("every", "final")
K_MAX = 10_000


class Neighbours:
    """Training sentences found for each query sentence.

    Attributes:
        kind: ``"similar"`` (nearest in the pooled-feature space) or ``"tracin"``.
        settings: how they were found (k, layers, checkpoints, ...), as JSON-ready values.

    ``to_frame()``: one row per (sentence, training sentence found); ``filters_frame()`` (similar
    only): one row per shared active filter of each pair; ``to_json()`` nests both per sentence.
    ``save_csv`` / ``save_json`` write them as the command does, checked like ``Explanations``'.
    """

    def __init__(self, kind: str, frame: pd.DataFrame, filters: pd.DataFrame | None = None, settings=None, run=None):
        self.kind, self._frame, self._filters = kind, frame, filters
        self.settings = dict(settings or {})
        self.run = run

    def __repr__(self) -> str:
        return f"<Neighbours ({self.kind}): {self._frame['sentence_id'].nunique()} sentences, {len(self._frame)} rows>"

    def __len__(self) -> int:
        return len(self._frame)

    def to_frame(self) -> pd.DataFrame:
        return self._frame.copy()

    def filters_frame(self) -> pd.DataFrame:
        if self._filters is None:
            raise InputError("filters_frame() belongs to similar(): TracIn has no shared filters")
        return self._filters.copy()

    def records(self) -> list[dict]:
        """One dict per query sentence (what ``to_json`` prints)."""
        out = []
        for sid, rows in self._frame.groupby("sentence_id", sort=True):
            first = rows.iloc[0]
            item = {"sentence_id": int(sid), "text": first["text"]}
            if self.kind == "similar":
                item["predicted"] = first["predicted"]
                shared = self._filters[self._filters["sentence_id"] == sid]
                item["neighbours"] = [
                    {**_row(r, ("rank", "train_id", "train_text", "train_label", "similarity")),
                     "shared_filters": [_row(f, ("width", "filter", "share", "activation", "train_activation"))
                                        for f in shared[shared["rank"] == r["rank"]].to_dict("records")]}
                    for r in rows.to_dict("records")]
            else:
                item["target"] = first["target"]
                for kind in ("proponent", "opponent"):
                    item[kind + "s"] = [_row(r, ("rank", "train_id", "train_text", "train_label", "influence"))
                                        for r in rows[rows["kind"] == kind].to_dict("records")]
            out.append(item)
        return out

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "settings": self.settings, "sentences": self.records()},
                          ensure_ascii=False, indent=1)

    def save_csv(self, path):
        """Write ``to_frame()`` as CSV (``textdeconv influence --csv``); the path is checked as the
        command checks its outputs (none of the run's or its data's files)."""
        from textdeconv.api import _save
        from textdeconv.reports.export import write_csv

        return _save(path, "save_csv", lambda tmp: write_csv(self._frame, tmp), self.run)

    def save_json(self, path):
        from textdeconv.api import _save
        from textdeconv.files import atomic_write_text

        return _save(path, "save_json", lambda tmp: atomic_write_text(tmp, self.to_json() + "\n"), self.run)


def _row(r: dict, keys) -> dict:
    return {k: (int(r[k]) if isinstance(r[k], (np.integer,)) else float(r[k]) if isinstance(r[k], np.floating)
                else r[k]) for k in keys}


def check_k(k, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= K_MAX:
        raise InputError(f"{name} must be a whole number from 1 to {K_MAX:,}, got {quoted(k)}")
    return int(k)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {quoted(value)}")
    return value


def _cache(run) -> dict:
    if not hasattr(run, "_influence_cache"):
        run._influence_cache = {}
    return run._influence_cache


def train_data(run, what: str):
    """``(TrainingSet, id sequences)`` of the run's training sentences, read once per run."""
    cache = _cache(run)
    if "train" not in cache:
        ts = training_set(run.config, what)
        cache["train"] = (ts, [run.vocab.encode(t) for t in ts.tokens])
    return cache["train"]


def queries(run, texts):
    """``(sentence ids, token lists, id sequences)`` of the query sentences, as ``run.explain`` reads them."""
    ids, sentences = run.tokenize(texts)
    if not sentences:
        raise InputError("nothing to look up: every sentence was empty")
    return ids, sentences, [run.vocab.encode(s) for s in sentences]


def similar(run, texts, k: int = 5, filters: int = 5) -> Neighbours:
    """See ``Run.similar``."""
    from textdeconv.influence.similar import filter_names, nearest

    k, filters = check_k(k), check_k(filters, "filters")
    ids, sentences, seqs = queries(run, texts)
    ts, train_seqs = train_data(run, "similar()")
    cache = _cache(run)
    if "pooled" not in cache:
        cache["pooled"] = forward_features(run.net, train_seqs)[0]
    query, probs = forward_features(run.net, seqs)
    names = filter_names(run.net.widths, [int(c.filters) for c in run.net.convs])
    found, shared = nearest(query, cache["pooled"], k, names, filters)
    sid = np.asarray(ids)[found["query"].to_numpy()]
    frame = pd.DataFrame({
        "sentence_id": sid,
        "text": [" ".join(sentences[q]) for q in found["query"]],
        "predicted": [run.class_names[int(np.argmax(probs[q]))] for q in found["query"]],
        "rank": found["rank"].to_numpy(),
        "train_id": [ts.ids[t] for t in found["train"]],
        "train_text": [" ".join(ts.tokens[t]) for t in found["train"]],
        "train_label": [run.class_names[ts.labels[t]] for t in found["train"]],
        "similarity": found["similarity"].to_numpy(),
    })
    fr = pd.DataFrame({
        "sentence_id": np.asarray(ids, dtype=np.int64)[shared["query"].to_numpy(dtype=np.int64)],
        "rank": shared["rank"].to_numpy(dtype=np.int64),
        "train_id": [ts.ids[t] for t in shared["train"]],
        **{c: shared[c].to_numpy() for c in ("width", "filter", "share", "activation", "train_activation")},
    })
    return Neighbours("similar", frame, fr, {"k": k, "filters": filters, "space": "pooled", "similarity": "cosine",
                                             "train_sentences": len(train_seqs)}, run)


def _checkpoints(run, checkpoints: str):
    return kept_checkpoints(run.path, check_choice(checkpoints, "checkpoints", CHECKPOINTS))


def _targets(run, seqs, target) -> list[int]:
    """One class index per query: ``target`` (a name or index, or one per query), else the predicted class."""
    from textdeconv.attribution.explanation import resolve_target

    probs = forward_features(run.net, seqs)[1]
    predicted = [int(np.argmax(p)) for p in probs]
    if isinstance(target, (list, tuple)):
        if len(target) != len(seqs):
            raise InputError(f"got {len(target)} targets for {len(seqs)} sentences")
        return [p if resolve_target(t, run.class_names) < 0 else resolve_target(t, run.class_names)
                for t, p in zip(target, predicted)]
    t = resolve_target(target, run.class_names)
    return predicted if t < 0 else [t] * len(seqs)


def influence(run, texts, k: int = 5, target=None, layers: str = "output", checkpoints: str = "every") -> Neighbours:
    """See ``Run.influence``."""
    from textdeconv.influence import tracin

    k = check_k(k)
    check_choice(layers, "layers", tracin.LAYERS)
    if isinstance(target, (list, tuple)) and len(target) != len(texts):
        raise InputError(f"got {len(target)} targets for {len(texts)} texts")
    cks = _checkpoints(run, checkpoints)
    ids, sentences, seqs = queries(run, texts)
    if isinstance(target, (list, tuple)):
        target = [target[i - 1] for i in ids]
    targets = _targets(run, seqs, target)
    ts, train_seqs = train_data(run, "influence()")
    if layers == "output":
        scores = tracin.tracin_output(cks, train_seqs, ts.labels, seqs, targets, _cache(run).setdefault("tracin", {}))
    else:
        scores = tracin.tracin_all(cks, train_seqs, ts.labels, seqs, targets,
                                   cache=_cache(run).setdefault("tracin_all", {}))
    pro, opp = tracin.ranked(scores, k)
    rows = []
    for q in range(len(seqs)):
        for kind, found in (("proponent", pro[q]), ("opponent", opp[q])):
            for rank, t in enumerate(found, 1):
                rows.append((ids[q], " ".join(sentences[q]), run.class_names[targets[q]], kind, rank, ts.ids[t],
                             " ".join(ts.tokens[t]), run.class_names[ts.labels[t]], float(scores[q, t])))
    frame = pd.DataFrame(rows, columns=["sentence_id", "text", "target", "kind", "rank", "train_id", "train_text",
                                        "train_label", "influence"])
    settings = {"k": k, "layers": layers, "checkpoints": checkpoints, "checkpoint_epochs": _epochs(cks),
                "learning_rates": [c.learning_rate for c in cks], "train_sentences": len(train_seqs)}
    return Neighbours("tracin", frame, None, settings, run)


def _epochs(cks) -> list:
    return [None if math.isnan(c.epoch) else c.epoch for c in cks]


def self_influence(run, layers: str = "output", checkpoints: str = "every") -> pd.DataFrame:
    """See ``Run.self_influence``."""
    from textdeconv.influence import tracin

    check_choice(layers, "layers", tracin.LAYERS)
    cks = _checkpoints(run, checkpoints)
    ts, train_seqs = train_data(run, "self_influence()")
    fn = tracin.self_influence_output if layers == "output" else tracin.self_influence_all
    scores = fn(cks, train_seqs, ts.labels)
    predicted = forward_features(run.net, train_seqs)[1].argmax(1)
    order = np.argsort(-scores, kind="stable")
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), "train_id": [ts.ids[t] for t in order],
                         "text": [" ".join(ts.tokens[t]) for t in order],
                         "label": [run.class_names[ts.labels[t]] for t in order],
                         "predicted": [run.class_names[predicted[t]] for t in order],
                         "self_influence": scores[order]})



def render(found: Neighbours) -> str:
    """Plain text for a terminal: per sentence, its training sentences with score, id and label."""
    lines = []
    for item in found.records():
        if found.kind == "similar":
            lines.append(f"{item['text']}  (predicted {item['predicted']})")
            lines.append("  nearest training sentences (cosine of pooled features; shared filters width/filter:share):")
            for n in item["neighbours"]:
                shared = " ".join(f"{f['width']}/{f['filter']}:{f['share']:.3f}" for f in n["shared_filters"])
                lines.append(f"    {n['similarity']:.3f}  #{n['train_id']} {n['train_label']}  {n['train_text']}")
                if shared:
                    lines.append(f"           {shared}")
        else:
            lines.append(f"{item['text']}  (target {item['target']})")
            for kind in ("proponents", "opponents"):
                lines.append(f"  {kind}:" if item[kind] else f"  {kind}: none")
                for n in item[kind]:
                    lines.append(f"    {n['influence']:+.4g}  #{n['train_id']} {n['train_label']}  {n['train_text']}")
    return "\n".join(lines)


def render_self(frame: pd.DataFrame) -> str:
    """Plain text of ``self_influence()`` rows."""
    return "\n".join(f"{r.rank:>4}  {r.self_influence:.4g}  #{r.train_id} {r.label} (predicted {r.predicted})  {r.text}"
                     for r in frame.itertuples())


def self_influence_json(frame: pd.DataFrame) -> str:
    """``self_influence()`` rows as JSON (full float precision)."""
    keys = ("rank", "train_id", "text", "label", "predicted", "self_influence")
    return json.dumps([_row(r, keys) for r in frame.to_dict("records")], ensure_ascii=False, indent=1)
