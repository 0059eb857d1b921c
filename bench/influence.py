#!/usr/bin/env python
"""Issue 34: TracIn and nearest neighbours on planted label noise, and what they cost.

    TEXTDECONV_DATA=/work/shared/data/sst nice -n 10 python bench/influence.py

Two planted-noise runs, each a small TextCNN trained with ``train.keep_every_epoch: true``
(``configs/tiny.yaml``'s model: 16-d rand embeddings, widths 3/4/5 x 8 filters, Adam 0.005,
batches of 16):

- ``synthetic``: sentences of filler words and one or two words of their class's sentiment list
  (``synthetic_rows``), ``--synthetic-train`` of them for training, 200 for dev;
- ``sst2``: the first ``--sst-train`` SST-2 training sentences (file order), the dev sentences
  as dev (needs ``$TEXTDECONV_DATA``).

In each, ``--noise`` of the training labels are flipped (seeded), and one more training sentence
is planted: a copy of a dev sentence the run gets right, with the wrong label. Recorded:

- self-influence recall@k: the share of the flipped sentences among the k training sentences of
  largest self-influence, k = the number flipped and twice that, for TracIn over the output layer
  and over every weight, against the final model's loss alone (one checkpoint, no TracIn sum)
  and against chance (k / n);
- the planted sentence's rank among the TracIn opponents of the dev sentence it copies (target: its
  gold class) and among its proponents when the target is the planted (wrong) label, and its rank
  among that sentence's nearest neighbours (``similar``);
- seconds: a TracIn query (one sentence against the training set; the first one also loads the
  checkpoints and, for the output layer, the training sentences' features at each) and
  self-influence over the training set, output layer and every weight, per checkpoint.

And on the bundled model ``builtin:sst2`` (its 6,920 training sentences, model.keras alone):
seconds for ``similar`` cold (reading the treebank and the training sentences' features) and warm,
and for a TracIn query of the output layer and of every weight.

Writes bench/results/influence.json (figures, command, config, machine, date); ``markdown(data)``
renders the tables docs/influence.md shows (``python bench/report.py``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "influence.json"
BEGIN, END = "<!-- influence:begin -->", "<!-- influence:end -->"

POS = "good great fun fine warm nice lovely superb witty charming gripping moving".split()
NEG = "bad dull awful weak cold poor boring tedious stale lame flat clumsy".split()
FILL = "the a movie film is plot story it this was and of its cast".split()
CLASSES = ("negative", "positive")


def synthetic_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs: 3-6 filler words and 1-2 words of the label's sentiment list, shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        y = int(rng.integers(2))
        words = [*rng.choice(FILL, int(rng.integers(3, 7))), *rng.choice((NEG, POS)[y], int(rng.integers(1, 3)))]
        rng.shuffle(words)
        rows.append((" ".join(words), CLASSES[y]))
    return rows


def flip(rows, fraction: float, seed: int) -> tuple[list, list[int]]:
    """``rows`` with the labels of ``round(fraction * n)`` of them (seeded) flipped; and their positions."""
    rng = np.random.default_rng(seed + 1)
    picked = sorted(int(i) for i in rng.choice(len(rows), int(round(fraction * len(rows))), replace=False))
    out = list(rows)
    for i in picked:
        text, label = out[i]
        out[i] = (text, CLASSES[1 - CLASSES.index(label)])
    return out, picked


def write_rows(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def train_run(folder: Path, train_rows, dev_rows, epochs: int, seed: int = 0, overrides=None) -> Path:
    """Train tiny.yaml's model on the rows (custom CSV data), keeping every epoch's weights;
    ``overrides`` ({key: value}) change the settings further."""
    import textdeconv as td

    run = folder / "run"
    if (run / "metrics.json").is_file():
        return run
    tr, dv = write_rows(folder / "train.csv", train_rows), write_rows(folder / "dev.csv", dev_rows)
    td.train("tiny.yaml", run, {"data.dataset": "custom", "data.train": str(tr), "data.dev": str(dv),
                                "data.test": None, "data.max_train": None, "data.max_eval": None,
                                "train.epochs": epochs, "train.batch_size": 16, "train.seed": seed,
                                "train.keep_every_epoch": True, **(overrides or {})},
             verbose=0)
    return run


def recall(ranking_ids, flipped_ids, k: int) -> float:
    return len(set(ranking_ids[:k]) & set(flipped_ids)) / len(flipped_ids)


def rank_of(frame, train_id, kind=None):
    rows = frame if kind is None else frame[frame["kind"] == kind]
    hit = rows[rows["train_id"] == train_id]
    return int(hit["rank"].iloc[0]) if len(hit) else None


def study(name: str, folder: Path, rows, dev_rows, noise: float, epochs: int, seed: int) -> dict:
    import textdeconv as td
    from textdeconv.influence.query import train_data
    from textdeconv.influence.sources import forward_features

    noisy, flipped = flip(rows, noise, seed)
    # plant: a dev sentence, copied into training with the wrong label (its gold label flipped)
    probe_text, probe_label = dev_rows[0]
    planted_label = CLASSES[1 - CLASSES.index(probe_label)]
    noisy = [*noisy, (probe_text, planted_label)]
    run_dir = train_run(folder, noisy, dev_rows, epochs, seed)
    run = td.load_run(run_dir)
    ts, seqs = train_data(run, "bench")
    planted_id = ts.ids[-1]
    flipped_ids = [ts.ids[i] for i in flipped]
    n, kf = len(seqs), len(flipped)
    out = {"name": name, "train_sentences": n, "flipped": kf, "noise": noise, "epochs": epochs,
           "dev_accuracy": json.loads((run_dir / "metrics.json").read_text())["dev"]["accuracy"],
           "checkpoints": len(json.loads((run_dir / "state.json").read_text())["tracin"]),
           "ks": [kf, 2 * kf], "recall": {}, "seconds": {}}
    rankings = {}
    for layers in ("output", "all"):
        t = time.perf_counter()
        frame = run.self_influence(layers)
        out["seconds"][f"self_influence_{layers}"] = time.perf_counter() - t
        rankings[f"tracin_{layers}"] = frame["train_id"].tolist()
    # the final model's loss alone: what the TracIn sum over checkpoints adds over "sort by training loss"
    probs = forward_features(run.net, seqs)[1]
    loss = -np.log(np.maximum(probs[np.arange(n), ts.labels], 1e-300))
    rankings["final_loss"] = [ts.ids[i] for i in np.argsort(-loss, kind="stable")]
    for key, ranking in rankings.items():
        out["recall"][key] = [recall([i for i in ranking if i != planted_id], flipped_ids, k) for k in out["ks"]]
    out["recall"]["chance"] = [k / n for k in out["ks"]]
    # the planted near-copy of a dev sentence
    predicted = run.predict([probe_text])["predicted"].iloc[0]
    probe = {"text": probe_text, "gold": probe_label, "predicted": predicted, "planted_label": planted_label}
    for layers in ("output", "all"):
        t = time.perf_counter()
        found = run.influence([probe_text], k=n, layers=layers, target=probe_label).to_frame()
        out["seconds"][f"tracin_first_query_{layers}"] = time.perf_counter() - t  # loads the checkpoints
        t = time.perf_counter()
        wrong = run.influence([probe_text], k=n, layers=layers, target=planted_label).to_frame()
        out["seconds"][f"tracin_query_{layers}"] = time.perf_counter() - t
        probe[f"opponent_rank_{layers}"] = rank_of(found, planted_id, "opponent")
        probe[f"proponent_rank_wrong_target_{layers}"] = rank_of(wrong, planted_id, "proponent")
    probe["similar_rank"] = rank_of(run.similar([probe_text], k=n).to_frame(), planted_id)
    out["planted"] = probe
    for key in list(out["seconds"]):
        out["seconds"][key] = round(out["seconds"][key], 3)
    out["seconds_per_checkpoint"] = {k: round(v / out["checkpoints"], 4) for k, v in out["seconds"].items()}
    return out


def sst_rows(limit: int):
    from textdeconv.config import load_config
    from textdeconv.data.splits import split_sentences

    cfg = load_config("tiny.yaml", ["data.download=false"])
    out = {}
    for split in ("train", "dev"):
        _, tokens, labels = split_sentences(cfg.data, split)
        out[split] = [(" ".join(t), CLASSES[y]) for t, y in zip(tokens, labels)]
    return out["train"][:limit], out["dev"]


def builtin_cost(repeats: int) -> dict:
    import textdeconv as td

    run = td.load_run("builtin:sst2")
    t = time.perf_counter()
    run.similar(["a gripping , funny movie"], k=5)
    cold = time.perf_counter() - t
    sentences = ["not bad at all", "a dull , lifeless mess", "the plot is thin but the cast is charming"]
    timing = {"train_sentences": len(run._influence_cache["train"][1]), "similar_cold": cold}

    def best(fn):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times) / len(sentences)

    timing["similar_per_sentence"] = best(lambda: run.similar(sentences, k=5))
    run.influence(sentences[:1], k=5, checkpoints="final")  # loads the checkpoint's training features once
    timing["tracin_output_per_sentence"] = best(lambda: run.influence(sentences, k=5, checkpoints="final"))
    timing["tracin_all_per_sentence"] = best(lambda: run.influence(sentences, k=5, checkpoints="final",
                                                                   layers="all"))
    t = time.perf_counter()
    run.self_influence(checkpoints="final")
    timing["self_influence_output"] = time.perf_counter() - t
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in timing.items()}


def markdown(data: dict) -> str:
    """The tables of docs/influence.md."""
    lines = ["| run | training sentences | flipped | checkpoints | dev accuracy | k | TracIn, output layer | "
             "TracIn, every weight | final loss alone | chance |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in data["studies"]:
        for j, k in enumerate(s["ks"]):
            r = s["recall"]
            lines.append(f"| {s['name']} | {s['train_sentences']:,} | {s['flipped']} | {s['checkpoints']} | "
                         f"{s['dev_accuracy']:.3f} | {k} | {r['tracin_output'][j]:.2f} | {r['tracin_all'][j]:.2f} | "
                         f"{r['final_loss'][j]:.2f} | {r['chance'][j]:.3f} |")
    lines += ["", "The planted copy of a dev sentence with the wrong label (rank among all training sentences):", "",
              "| run | dev sentence | TracIn opponent rank for its gold label (output layer / every weight) | "
              "proponent rank for the planted label | nearest-neighbour rank |", "|---|---|---|---|---|"]
    for s in data["studies"]:
        p = s["planted"]
        lines.append(f"| {s['name']} | {p['text']} ({p['gold']}, predicted {p['predicted']}) | "
                     f"{p['opponent_rank_output']} / {p['opponent_rank_all']} | "
                     f"{p['proponent_rank_wrong_target_output']} / {p['proponent_rank_wrong_target_all']} | "
                     f"{p['similar_rank']} |")
    lines += ["", "Seconds per checkpoint: a TracIn query is one sentence against the whole training set (the first "
              "one also loads the checkpoints); self-influence covers every training sentence.", "",
              "| run | first query, output | query, output | first query, every weight | query, every weight | "
              "self-influence, output | self-influence, every weight |", "|---|---|---|---|---|---|---|"]
    for s in data["studies"]:
        c = s["seconds_per_checkpoint"]
        lines.append(f"| {s['name']} ({s['train_sentences']:,} sentences) | {c['tracin_first_query_output']:.3f} | "
                     f"{c['tracin_query_output']:.4f} | {c['tracin_first_query_all']:.3f} | "
                     f"{c['tracin_query_all']:.3f} | {c['self_influence_output']:.3f} | "
                     f"{c['self_influence_all']:.2f} |")
    b = data.get("builtin")
    if b:
        lines += ["", f"On the bundled model `builtin:sst2` ({b['train_sentences']:,} training sentences, model.keras "
                  "alone), seconds:", "", "| similar, first call | similar, per sentence | TracIn output layer, per "
                  "sentence | TracIn every weight, per sentence | self-influence of every training sentence |",
                  "|---|---|---|---|---|",
                  f"| {b['similar_cold']:.2f} | {b['similar_per_sentence']:.4f} | {b['tracin_output_per_sentence']:.4f}"
                  f" | {b['tracin_all_per_sentence']:.2f} | {b['self_influence_output']:.2f} |"]
    return "\n".join(lines)


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from benchlib import machine, now

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synthetic-train", type=int, default=400)
    p.add_argument("--sst-train", type=int, default=1000)
    p.add_argument("--noise", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", default="runs/bench/influence", help="where the planted-noise runs are trained")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    load = os.getloadavg()
    work = Path(args.work)
    studies = []
    syn = synthetic_rows(args.synthetic_train + 200, args.seed)
    studies.append(study("synthetic", work / f"synthetic-{args.synthetic_train}-{args.seed}",
                         syn[:args.synthetic_train], syn[args.synthetic_train:], args.noise, args.epochs, args.seed))
    print(json.dumps(studies[-1]), file=sys.stderr)
    if os.environ.get("TEXTDECONV_DATA"):
        train_rows, dev_rows = sst_rows(args.sst_train)
        studies.append(study("sst2", work / f"sst2-{args.sst_train}-{args.seed}", train_rows, dev_rows, args.noise,
                             args.epochs, args.seed))
        print(json.dumps(studies[-1]), file=sys.stderr)
    data = {"study": "influence", "command": shlex.join(["python", "bench/influence.py", *(argv or sys.argv[1:])]),
            "date": now(), "machine": machine(load),
            "config": {**{k: v for k, v in vars(args).items() if k not in ("out", "work")}, "model": "tiny.yaml",
                       "keep_every_epoch": True},
            "studies": studies}
    if os.environ.get("TEXTDECONV_DATA"):
        data["builtin"] = builtin_cost(args.repeats)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
