"""Explanations against a known cause: train on SST-2 with planted triggers (``planting``), prove
each model uses its trigger, then score every attribution method against the trigger's positions.

Per variant and seed, one model (``retrain.train_splits``). Its test cases come in kinds
(``planting.planted_cases``); each scored kind is a *row* of the results:

    row               variant   kind      cause                  k
    token             token     trigger   zqx                    1
    position-start    token     start     zqx at position 0      1   (sentences >= 20 tokens)
    position-middle   token     middle    zqx at n // 2          1
    position-end      token     end       zqx at the end         1
    phrase            phrase    trigger   zqa zqb (adjacent)     2
    negation          negation  negated   not zqx                2
    and               and       trigger   zqe ... zqf (apart)    2   (controls: each alone)
    context           context   trigger   zqk zqt (either order) 2   (controls: each alone)
    opposing          opposing  trigger   zqp (rival: zqn)       1
    partial           partial   trigger   zqw (70% predictive)   1
    partial-strength  partial   strength  zqs (rival: zqw)       1
    vocab-word        vocab-word trigger  an ordinary word       1
    reversed-phrase   reversed-phrase trigger  zqa zqb           2
    reversed-phrase-reversed  reversed-phrase reversed  zqb zqa (pushes to o)  2

**Does the model use the cause?** Over the row's sentences whose clean version the model does
not already put in the class c the cause pushes to, the *flip rate* is the share it puts in c once
the cause is planted. A row whose flip rate is below ``threshold`` (default 0.5) for a seed is
reported for that seed as *ignored* and not scored; the controls are reported beside it: the
phrase's words planted apart (their "flip rate" should stay low), the negation variant's plain
trigger, the ``and`` and ``context`` variants' words alone (low), and the decoy (the share of
sentences whose prediction it changes).

**Scores**, on the sentences that flipped (the cause demonstrably decided them), explaining c.
Tokens are ranked by signed score, highest first, ties by position (``faithfulness.ranking``):

    rank          mean 1-based rank of the cause tokens (1 = top; Bastings et al.'s mean rank)
    best_rank     rank of the highest-ranked cause token (the histograms)
    p_at_1        the top token is a cause token
    p_at_k        precision@k with k = the number of cause tokens (Bastings et al.): the share of
                  the top k tokens that are cause tokens
    recall_at_k   share of the cause among the top k tokens (= p_at_k, as k is the cause's size)
    above_rival   rows with a rival (``opposing``, ``partial-strength``): every cause token ranks
                  above every rival token (the opposing trigger the cause outweighs, the weaker
                  shortcut)
    ap            average precision of the ranking for the cause tokens
    first         the cause fills the top k (recall_at_k == 1)
    counter_first the top token is a cause token when the *other* class is explained (its best
                  rank there: ``counter_rank_histogram``): a
                  class-specific method ranks the cause last there (it is evidence against that
                  class), a class-agnostic one (deconv-activation, gradient-l2) still ranks it first

**False alarms**, on clean test sentences with the decoy planted, explaining the predicted class:
``false_alarm`` = |score| on the decoy / total |score| (chance: 1 / n, ``false_alarm_chance``; an
all-zero explanation has no share and is left out) and ``decoy_first`` = the decoy's score is
above every other token's; for the phrase variant also ``apart_false_alarm``, the
share on the two words planted apart (the same words as the trigger, which the model must not use
there). Every metric is a mean over sentences per seed, then mean +- sd over seeds.
"""
from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from textdeconv.errors import InputError
from textdeconv.evaluation.faithfulness import ranking
from textdeconv.evaluation.planting import VARIANTS, plant_training, planted_cases
from textdeconv.evaluation.retrain import (
    accuracy,
    load_model,
    mean_sd,
    predict,
    sentence_splits,
    train_splits,
)
from textdeconv.evaluation.shortcuts import ordinary_word

ROWS = (("token", "token", "trigger"), ("position-start", "token", "start"), ("position-middle", "token", "middle"),
        ("position-end", "token", "end"), ("phrase", "phrase", "trigger"), ("negation", "negation", "negated"),
        # issue 35: shortcuts that need more than one filter (planting / shortcuts.py)
        ("and", "and", "trigger"), ("context", "context", "trigger"), ("opposing", "opposing", "trigger"),
        ("partial", "partial", "trigger"), ("partial-strength", "partial", "strength"),
        ("vocab-word", "vocab-word", "trigger"), ("reversed-phrase", "reversed-phrase", "trigger"),
        ("reversed-phrase-reversed", "reversed-phrase", "reversed"))
ROW_K = {"phrase": 2, "negation": 2, "and": 2, "context": 2, "reversed-phrase": 2, "reversed-phrase-reversed": 2}
CONTROLS = {"phrase": ("apart",), "negation": ("trigger",), "and": ("first-alone", "second-alone"),
            "context": ("trigger-alone", "context-alone")}
METRICS = ("rank", "best_rank", "p_at_1", "p_at_k", "recall_at_k", "ap", "first", "counter_first")
ALARMS = ("false_alarm", "decoy_first", "apart_false_alarm")
HISTOGRAM_BINS = tuple(str(r) for r in range(1, 10)) + ("10+",)
DEV_SEED_OFFSET = 10_000  # the dev split is planted with seed + this, so it differs from train's draw


def trigger_scores(scores, cause, rival=()) -> dict:
    """The ranking metrics of one explanation for the cause positions (see the module docstring);
    ``above_rival`` only when ``rival`` positions are given."""
    scores = np.asarray(scores, np.float64)
    cause = sorted(set(int(c) for c in cause))
    n, k = len(scores), len(cause)
    if not cause or cause[0] < 0 or cause[-1] >= n:
        raise InputError(f"cause positions {cause} do not fit a {n}-token sentence")
    order = ranking(scores)
    rank = np.empty(n, int)
    rank[order] = np.arange(1, n + 1)
    ranks = np.sort(rank[cause])
    hits = len(set(order[:k].tolist()) & set(cause))
    out = {"rank": float(ranks.mean()), "best_rank": int(ranks[0]), "p_at_1": float(order[0] in cause),
           "p_at_k": hits / k, "recall_at_k": hits / k, "ap": float(np.mean(np.arange(1, k + 1) / ranks)),
           "first": float(hits == k)}
    rival = sorted(set(int(r) for r in rival))
    if rival:
        if set(rival) & set(cause) or rival[0] < 0 or rival[-1] >= n:
            raise InputError(f"rival positions {rival} must lie in the {n}-token sentence, apart from the cause")
        out["above_rival"] = float(ranks[-1] < rank[rival].min())
    return out


def score_share(scores, positions) -> float:
    """|score| on ``positions`` / total |score|; NaN when every score is zero."""
    mass = np.abs(np.asarray(scores, np.float64))
    total = mass.sum()
    return float(mass[list(positions)].sum() / total) if total > 0 else float("nan")


def strictly_first(scores, positions) -> bool:
    """A planted word holds the highest score, above every other token (a tie is no alarm: an
    all-zero explanation names nothing)."""
    scores = np.asarray(scores, np.float64)
    inside = np.zeros(len(scores), bool)
    inside[list(positions)] = True
    return bool(inside.any() and (~inside).any() and scores[inside].max() > scores[~inside].max())


def flip_check(net, vocab, cases, test_examples) -> dict:
    """The flip rate of a list of cases: the share of the sentences not already in the class the
    cause pushes to whose prediction moves there once it is planted.

    Returns:
        dict: ``flip_rate``, ``n_eligible``, ``n_flipped``, ``planted_accuracy`` (share of all the
        cases predicted as pushed to); ``flipped`` (len(cases),) bool.
    """
    clean = predict(net, vocab, [test_examples[c.source].tokens for c in cases]).argmax(axis=1)
    planted = predict(net, vocab, [c.tokens for c in cases]).argmax(axis=1)
    pushes = np.array([c.pushes_to for c in cases])
    eligible = clean != pushes
    flipped = eligible & (planted == pushes)
    return {"flip_rate": float(flipped.sum() / eligible.sum()) if eligible.any() else float("nan"),
            "n_eligible": int(eligible.sum()), "n_flipped": int(flipped.sum()),
            "planted_accuracy": float(np.mean(planted == pushes)) if len(cases) else float("nan"),
            "flipped": flipped}


def change_rate(net, vocab, cases, test_examples) -> float:
    """The share of cases whose prediction differs from their clean sentence's (for the decoy)."""
    clean = predict(net, vocab, [test_examples[c.source].tokens for c in cases]).argmax(axis=1)
    planted = predict(net, vocab, [c.tokens for c in cases]).argmax(axis=1)
    return float(np.mean(clean != planted)) if len(cases) else float("nan")


def score_method(explainer, cases) -> dict:
    """Ranking metrics of one method over cases that flipped, plus their best-rank histogram."""
    tokens = [list(c.tokens) for c in cases]
    pushes = [c.pushes_to for c in cases]
    own = explainer.explain(tokens, target=pushes)
    counter = explainer.explain(tokens, target=[1 - p for p in pushes])
    rows = [trigger_scores(e.scores, c.cause, c.rival) for e, c in zip(own, cases)]
    out = {m: float(np.mean([r[m] for r in rows])) for m in (*METRICS, "above_rival")
           if m != "counter_first" and m in rows[0]}
    counter_rows = [trigger_scores(e.scores, c.cause) for e, c in zip(counter, cases)]
    out["counter_first"] = float(np.mean([r["p_at_1"] for r in counter_rows]))
    out["rank_histogram"] = histogram([r["best_rank"] for r in rows])
    out["counter_rank_histogram"] = histogram([r["best_rank"] for r in counter_rows])
    return out


def histogram(best_ranks) -> list[int]:
    """Counts of best ranks 1, 2, ..., 9 and 10 or more (``HISTOGRAM_BINS``)."""
    best = np.asarray(best_ranks)
    return [int((best == r).sum()) for r in range(1, 10)] + [int((best >= 10).sum())]


def alarm_scores(explainer, cases) -> dict:
    """False-alarm metrics of one method on clean sentences with planted, unused words (explaining
    the predicted class)."""
    expls = explainer.explain([list(c.tokens) for c in cases])
    shares = [score_share(e.scores, c.planted) for e, c in zip(expls, cases)]
    first = [float(strictly_first(e.scores, c.planted)) for e, c in zip(expls, cases)]
    return {"share": float(np.nanmean(shares)) if np.any(~np.isnan(shares)) else float("nan"),
            "first": float(np.mean(first)), "chance": float(np.mean([len(c.planted) / len(c.tokens) for c in cases]))}


def cap(cases, limit: int | None, seed: int):
    """At most ``limit`` cases, drawn without replacement (seeded), in their original order."""
    if limit is None or len(cases) <= limit:
        return list(cases)
    keep = np.sort(np.random.default_rng(seed).choice(len(cases), size=limit, replace=False))
    return [cases[i] for i in keep]


def evaluate_planted(net, vocab, class_names, variant: str, cases: dict, test_examples, methods,
                     method_options=None, threshold: float = 0.5, max_cases: int | None = None,
                     seed: int = 0, log=None) -> dict:
    """Checks and scores of one planted model (one variant, one seed).

    Returns:
        dict: ``checks`` {kind: flip check (without the mask) or, for ``decoy``, its change
        rate}; ``rows`` {row: {"status": "scored" | "ignored" | "no sentences", "flip_rate",
        "n_scored"}}; ``methods`` {method: {row: metrics}}; ``explain_seconds``.
    """
    from textdeconv.attribution import make_explainer

    method_options = method_options or {}
    checks, flipped = {}, {}
    for kind, kind_cases in cases.items():
        if kind == "decoy":
            checks[kind] = {"change_rate": change_rate(net, vocab, kind_cases, test_examples), "n": len(kind_cases)}
            continue
        res = flip_check(net, vocab, kind_cases, test_examples)
        flipped[kind] = [c for c, f in zip(kind_cases, res.pop("flipped")) if f]
        checks[kind] = res
    rows = {}
    for row, row_variant, kind in ROWS:
        if row_variant != variant:
            continue
        check = checks.get(kind, {"flip_rate": float("nan"), "n_eligible": 0})
        if not check["n_eligible"]:
            status = "no sentences"
        else:
            status = "scored" if check["flip_rate"] >= threshold and flipped[kind] else "ignored"
        rows[row] = {"status": status, "flip_rate": check["flip_rate"],
                     "n_scored": len(cap(flipped.get(kind, []), max_cases, seed)) if status == "scored" else 0}
    decoys = cap(cases.get("decoy", []), max_cases, seed)
    apart = cap(cases.get("apart", []), max_cases, seed)
    results, t0 = {}, time.perf_counter()
    for name in methods:
        explainer = make_explainer(name, net, vocab, class_names, **method_options.get(name, {}))
        per_row = {}
        for row, row_variant, kind in ROWS:
            if row_variant != variant or rows[row]["status"] != "scored":
                continue
            per_row[row] = score_method(explainer, cap(flipped[kind], max_cases, seed))
        main = next(row for row, v, _ in ROWS if v == variant)
        if decoys and main in per_row:
            alarm = alarm_scores(explainer, decoys)
            per_row[main] |= {"false_alarm": alarm["share"], "decoy_first": alarm["first"],
                              "false_alarm_chance": alarm["chance"]}
            if apart:
                per_row[main]["apart_false_alarm"] = alarm_scores(explainer, apart)["share"]
        results[name] = per_row
        if log:
            log(f"  {name}: " + ", ".join(f"{r} p@1 {m['p_at_1']:.2f}" for r, m in per_row.items()))
    return {"checks": checks, "rows": rows, "methods": results, "explain_seconds": time.perf_counter() - t0}


def aggregate(per_seed: dict, methods, seeds) -> dict:
    """Mean +- sd over seeds of the rows and methods of ``evaluate_planted`` results
    ({variant: {seed: result}})."""
    rows, by_method = {}, {m: {} for m in methods}
    for row, variant, kind in ROWS:
        if variant not in per_seed:
            continue
        results = [per_seed[variant][s] for s in seeds]
        statuses = [r["rows"][row]["status"] for r in results]
        scored = [s for s, st in zip(seeds, statuses) if st == "scored"]
        rows[row] = {"variant": variant, "kind": kind, "k": ROW_K.get(row, 1),
                     "status": "scored" if scored else ("ignored" if "ignored" in statuses else "no sentences"),
                     "seeds_scored": scored, "seeds_ignored": [s for s, st in zip(seeds, statuses) if st == "ignored"],
                     "flip_rate": mean_sd([r["rows"][row]["flip_rate"] for r in results]),
                     "n_scored": [r["rows"][row]["n_scored"] for r in results]}
        if row == variant:  # the variant's main row carries its controls
            for control in CONTROLS.get(variant, ()):
                rows[row][f"{control}_flip_rate"] = mean_sd([r["checks"][control]["flip_rate"] for r in results])
            rows[row]["decoy_change_rate"] = mean_sd([r["checks"]["decoy"]["change_rate"] for r in results])
        for m in methods:
            got = [per_seed[variant][s]["methods"][m].get(row) for s in scored]
            if not got:
                continue
            keys = [k for k in (*METRICS, "above_rival", *ALARMS, "false_alarm_chance") if k in got[0]]
            entry = {k: mean_sd([g[k] for g in got]) for k in keys}
            for name in ("rank_histogram", "counter_rank_histogram"):
                entry[name] = {"bins": list(HISTOGRAM_BINS),
                               "counts": np.sum([g[name] for g in got], axis=0).tolist()}
            by_method[m][row] = entry
    return {"rows": rows, "methods": by_method}


def groundtruth_study(cfg, runs_dir, *, variants=VARIANTS, seeds=(0, 1, 2), methods=None, fraction: float = 0.3,
                      threshold: float = 0.5, target: int = 1, max_cases: int | None = None,
                      method_options=None, log=None, verbose=0) -> dict:
    """Train a model per variant and seed, check it uses its trigger, score every method.

    Args:
        cfg: the study config (``retrain.study_config``): SST-2, with its model and training.
        runs_dir: folder of the study models (``<variant>-seed<s>/``), reused when present.
        variants: of ``planting.VARIANTS``; seeds: the model seeds (each also seeds the planting).
        methods: registry names (default: every registered method).
        fraction: f of ``planting.plant_training``; threshold: the flip rate a model must reach.
        target: the class the trigger decides (1 = positive).
        max_cases: score at most this many sentences per row and seed (drawn at random).
        method_options: {method: {option: value}}.
        log: callable(str) for progress lines.
    Returns:
        the results (``aggregate``) plus ``models`` (per variant and seed: test accuracy on the
        clean test split, the planted counts, the checks, training seconds), ``minutes`` and
        ``sizes``.
    """
    from textdeconv.attribution import DEFAULT_METHODS

    methods = list(methods or DEFAULT_METHODS)
    seeds = list(seeds)
    if not seeds:
        raise InputError("need at least one seed")
    for v in variants:
        if v not in VARIANTS:
            raise InputError(f"unknown variant {v!r}; choose one of {', '.join(VARIANTS)}")
    splits, class_names = sentence_splits(cfg)
    if len(class_names) != 2:
        raise InputError("planted triggers need a binary data set (SST-2)")
    runs_dir = Path(runs_dir)
    per_seed, models = {}, {}
    train_s = explain_s = 0.0
    # the vocab-word variant's trigger: one ordinary word of the clean training split, for every seed
    word = ordinary_word(splits["train"]) if "vocab-word" in variants else None
    for variant in variants:
        per_seed[variant], models[variant] = {}, {}
        for seed in seeds:
            train_ex, counts = plant_training(splits["train"], variant, target, fraction, seed, word=word)
            dev_ex, _ = plant_training(splits["dev"], variant, target, fraction, seed + DEV_SEED_OFFSET, word=word)
            if log:
                log(f"{variant} seed {seed}: training on {len(train_ex)} sentences ({counts})")
            metrics = train_splits(cfg, {"train": train_ex, "dev": dev_ex, "test": splits["test"]}, class_names,
                                   runs_dir / f"{variant}-seed{seed}", seed, verbose=verbose)
            train_s += metrics.get("train_seconds") or 0.0
            vocab, net = load_model(runs_dir / f"{variant}-seed{seed}")
            cases = planted_cases(splits["test"], variant, target, seed, word=word)
            res = evaluate_planted(net, vocab, class_names, variant, cases, splits["test"], methods, method_options,
                                   threshold, max_cases, seed, log)
            explain_s += res["explain_seconds"]
            per_seed[variant][seed] = res
            models[variant][str(seed)] = {
                "test_accuracy_clean": accuracy(net, vocab, splits["test"]),
                "dev_accuracy_planted": metrics.get("dev", {}).get("accuracy"),
                "best_epoch": metrics.get("best_epoch"), "epochs_run": metrics.get("epochs_run"),
                "train_seconds": metrics.get("train_seconds"), "reused": metrics.get("reused"),
                "planted_train": counts, "checks": res["checks"], "rows": res["rows"],
                "explain_seconds": round(res["explain_seconds"], 1)}
            if log:
                log(f"{variant} seed {seed}: " + ", ".join(f"{r} flip {v['flip_rate']:.2f} ({v['status']})"
                                                          for r, v in res["rows"].items()))
            del net
            gc.collect()
    out = aggregate(per_seed, methods, seeds)
    out["models"] = models
    out["minutes"] = {"training": round(train_s / 60, 2), "explaining": round(explain_s / 60, 2)}
    out["sizes"] = {name: len(v) for name, v in splits.items()}
    if word:
        out["vocab_word"] = word
    return out
