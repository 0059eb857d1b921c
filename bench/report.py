#!/usr/bin/env python
"""Write docs/results.md and the README's headline block from bench/results/, so no figure is
ever copied by hand.

    python bench/report.py            # regenerate docs/results.md and README.md's results block
    python bench/report.py --check    # exit 1, naming the stale file, when either differs

Reads accuracy.json, train_speed.json, explain_speed.json, explain_latency.json,
explain_stream.json, explain_stream_parquet.json, explain_beam.json, serve_latency.json, serve_dataset.json,
engine_speed.json, keras_examples.json, deep_textcnn.json, filters_sst2.json, embedding_drift.json,
peer_parity.json, influence.json and every
evaluation-*/ folder (table.csv, randomization.csv, meta.json). Every section names the file it
came from and the command, machine and date recorded in it. Accuracy entries whose command has no
--set or --extend are the shipped configs (the headline); every other entry is an experiment,
compared with its base on the same seeds.

The README block sits between ``<!-- results:begin -->`` and ``<!-- results:end -->``; the rest of
the README is left as it is. docs/any-model.md's deep text CNN figures (deep_textcnn.json) sit
between ``<!-- deep-textcnn:begin -->`` and ``<!-- deep-textcnn:end -->`` the same way, its peer
parity figures (peer_parity.json) between ``<!-- peer-parity:begin -->`` and ``<!-- peer-parity:end -->``,
docs/filters.md's SST-2 filter figures (filters_sst2.json) between ``<!-- filters:begin -->`` and
``<!-- filters:end -->``, docs/influence.md's (influence.json) between ``<!-- influence:begin -->`` and
``<!-- influence:end -->``, docs/evaluation.md's ROAD figures (road.json, bench/road_report.py) between
``<!-- road:begin -->`` and ``<!-- road:end -->``, and docs/perturbation-methods.md's cost table
(evaluation-sst2-test-shap-lime/) between ``<!-- method-costs:begin -->`` and ``<!-- method-costs:end -->``
(``page_blocks``). Standard library only (json, csv): fast, and no TensorFlow.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
DEEP_BEGIN, DEEP_END = "<!-- deep-textcnn:begin -->", "<!-- deep-textcnn:end -->"
FILTERS_BEGIN, FILTERS_END = "<!-- filters:begin -->", "<!-- filters:end -->"
PEER_BEGIN, PEER_END = "<!-- peer-parity:begin -->", "<!-- peer-parity:end -->"
INFLUENCE_BEGIN, INFLUENCE_END = "<!-- influence:begin -->", "<!-- influence:end -->"


COSTS_BEGIN, COSTS_END = "<!-- method-costs:begin -->", "<!-- method-costs:end -->"
ROAD_BEGIN, ROAD_END = "<!-- road:begin -->", "<!-- road:end -->"
COSTS_FOLDER = "evaluation-sst2-test-shap-lime"  # docs/perturbation-methods.md's cost table (issue 34)
README_EVALUATIONS = ("evaluation-sst2-test",)  # the evaluation tables the README shows (it stays <= 12 KB)
COSTS_METRICS = ("ms_per_sentence", "comprehensiveness_aopc", "loo_kendall_tau", "infidelity", "mufidelity",
                 "plausibility_auroc", "randomized_logits_spearman")
SRC = "bench/results"  # how pages name the inputs, wherever --results points

# Kim (2014), Table 2: test accuracy of his CNN variants (pretrained ones: word2vec 300d)
KIM = {("sst2", "rand"): 82.7, ("sst2", "static"): 86.8, ("sst2", "non-static"): 87.2,
       ("sst2", "multichannel"): 88.1, ("sst5", "rand"): 45.0, ("sst5", "static"): 45.5,
       ("sst5", "non-static"): 48.0, ("sst5", "multichannel"): 47.4}
KIM_NAME = {"rand": "CNN-rand", "static": "CNN-static", "non-static": "CNN-non-static",
            "multichannel": "CNN-multichannel"}
DATASETS = {"sst2": "SST-2", "sst5": "SST-5", "custom": "own data"}
VARIANTS = ("rand", "static", "non-static", "multichannel")

# evaluation columns: (short name for the README, the direction that means better)
METRICS = {
    "comprehensiveness_aopc": ("comprehensiveness", "↑"), "sufficiency_aopc": ("sufficiency", "↓"),
    "deletion_morf_auc": ("deletion MoRF", "↓"), "deletion_lerf_auc": ("deletion LeRF", "↑"),
    "insertion_auc": ("insertion", "↑"), "plausibility_ap": ("plausibility AP", "↑"),
    "plausibility_auroc": ("plausibility AUROC", "↑"), "sign_agreement": ("sign agreement", "↑"),
    "randomized_logits_spearman": ("ρ after output layer randomized", "↓"),
    "randomized_all_spearman": ("ρ after all randomized", "↓"),
    "class_spearman": ("ρ between classes", "↓"), "sentences_per_s": ("sentences/s", "↑"),
    "loo_kendall_tau": ("LOO τ", "↑"), "eraser_auprc": ("ERASER AUPRC", "↑"), "token_f1": ("token-F1", "↑"),
    "iou_f1": ("IOU-F1", "↑"), "infidelity": ("infidelity", "↓"), "mufidelity": ("MuFidelity", "↑"),
    "max_sensitivity": ("max-sensitivity", "↓"),
    "independent_max_spearman": ("ρ after one layer randomized (max)", "↓"),
    "ms_per_sentence": ("ms / sentence", "↓"),
    # issue 35: mean |ρ| beside the signed mean ρ, the median beside the mean (absent from older tables: omitted)
    "randomized_logits_abs_rho": ("\\|ρ\\| after output layer randomized", "↓"),
    "randomized_all_abs_rho": ("\\|ρ\\| after all randomized", "↓"),
    "class_abs_rho": ("\\|ρ\\| between classes", "↓"),
    "independent_max_abs_rho": ("\\|ρ\\| after one layer randomized (max)", "↓"),
    "max_sensitivity_median": ("max-sensitivity median", "↓"),
}
HEADLINE_METRICS = ("comprehensiveness_aopc", "sufficiency_aopc", "plausibility_auroc", "loo_kendall_tau",
                    "randomized_logits_spearman", "randomized_logits_abs_rho", "class_spearman", "ms_per_sentence")
HEADLINE_ROWS = 8

# two-sided 95% Student t quantiles by degrees of freedom (beyond 30: 1.96)
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
       2.045, 2.042)


# ---------------------------------------------------------------------------------------- helpers

def load_json(results: Path, name: str):
    path = results / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(x, digits: int = 2) -> str:
    """A figure with thousands separators; '' for a missing one."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:,.{digits}f}"


def pm(mean, sd, n) -> str:
    return f"**{mean:.2f}**" + (f" ± {sd:.2f}" if n > 1 else "")


def machine_text(m: dict | None) -> str:
    if not m:
        return "not recorded"
    parts = [m.get("platform", "?"), f"{m.get('cpus', '?')} CPUs", f"Python {m.get('python', '?')}"]
    parts.append(f"TensorFlow {m['tensorflow']}" if "tensorflow" in m else "TensorFlow version not recorded")
    if "gpus" in m:
        parts.append(f"GPUs: {', '.join(m['gpus'])}" if m["gpus"] else "no GPU")
    return ", ".join(parts)


def load_text(m: dict | None) -> str:
    la = (m or {}).get("load_average_at_start")
    return " / ".join(f"{x:.2f}" for x in la) if la else "not recorded"


def recorded(data: dict, name: str) -> str:
    """The provenance line of a results file: source, command, machine, date."""
    lines = [f"Source: `{SRC}/{name}`.",
             f"Command: `{data.get('command', 'not recorded')}`.",
             f"Machine: {machine_text(data.get('machine'))}; load average at start {load_text(data.get('machine'))}.",
             f"Date: {data.get('date', 'not recorded')}."]
    if data.get("note"):
        lines.append(f"Note: {data['note']}.")
    return "\n".join(f"- {line}" for line in lines)


def t95(n: int) -> float:
    return T95[n - 2] if 2 <= n <= len(T95) + 1 else 1.96


# ---------------------------------------------------------------------------------------- accuracy

class Entry:
    """One accuracy.json entry, with what its command says about it."""

    def __init__(self, key: str, data: dict):
        self.key, self.data = key, data
        args = shlex.split(data.get("command", ""))
        self.config = Path(args[args.index("--config") + 1]).stem if "--config" in args else key.split()[0]
        self.sets = [args[i + 1] for i, a in enumerate(args) if a == "--set" and i + 1 < len(args)]
        self.extends = args[args.index("--extend") + 1] if "--extend" in args else None
        self.adopted = not self.sets and not self.extends
        cfg = data.get("config", {})
        self.dataset = cfg.get("data", {}).get("dataset", "?")
        self.model = cfg.get("model", {})
        self.vocab = cfg.get("vocab", {})
        self.seeds = data.get("per_seed", [])
        prefixes = {Path(s.get("run_dir", "")).name.rsplit("-seed", 1)[0] for s in self.seeds}
        self.run_prefix = prefixes.pop() if len(prefixes) == 1 else None

    @property
    def n(self) -> int:
        return len(self.seeds)

    def test(self) -> list[float]:
        return [100 * s["test_accuracy"] for s in self.seeds]

    def ci(self) -> str:
        acc = self.test()
        if len(acc) < 2:
            return ""
        half = t95(len(acc)) * statistics.stdev(acc) / math.sqrt(len(acc))
        mean = statistics.fmean(acc)
        return f"{mean - half:.2f}–{mean + half:.2f}"

    def kim(self):
        return KIM.get((self.dataset, self.model.get("variant")))

    def kim_text(self) -> str:
        k = self.kim()
        if k is None:
            return ""
        label = f"{KIM_NAME[self.model['variant']]} {k:.1f}"
        if self.dataset == "sst5":
            label += " (SST-1)"
        if self.model.get("variant") != "rand":
            label += " (word2vec 300d)"
        return label

    def describe(self) -> str:
        m, parts = self.model, [DATASETS.get(self.dataset, self.dataset)]
        parts.append(f"{KIM_NAME.get(m.get('variant'), m.get('variant'))}, {m.get('embedding_dim')}d")
        if m.get("vectors"):
            std = m.get("vectors_std")
            parts.append(f"{m['vectors']} " + (f"rescaled to sd {std:g}" if std else "as read"))
        parts.append("Kim's token cleaning" if self.vocab.get("clean") == "kim" else "treebank tokens")
        if m.get("init") == "kim":
            parts.append("Kim's init" + (" and output weights" if m.get("output_weights") == "kim" else ""))
        return ", ".join(parts)

    def per_seed(self) -> str:
        return ", ".join(f"{a:.2f}" for a in self.test())

    def epochs(self) -> str:
        return ", ".join(f"{s['best_epoch']:g}/{s['epochs_run']:g}" for s in self.seeds)

    def sort_key(self):
        variant = self.model.get("variant")
        return (list(DATASETS).index(self.dataset) if self.dataset in DATASETS else 99,
                VARIANTS.index(variant) if variant in VARIANTS else 99, self.config, self.data.get("date", ""))


def base_of(e: Entry, entries: list[Entry]) -> Entry | None:
    """The entry an experiment is compared with: the runs it extended, else the entry of the same
    config whose --set overrides are the largest proper subset of its own."""
    if e.extends:
        return next((b for b in entries if b.run_prefix == e.extends and b is not e), None)
    best = None
    for b in entries:
        if b is e or b.extends or b.config != e.config or not set(b.sets) < set(e.sets):
            continue
        if best is None or len(b.sets) > len(best.sets):
            best = b
    return best


def same_seeds(e: Entry, base: Entry) -> tuple[float, float, int] | None:
    """Mean test and dev accuracy of ``base`` over ``e``'s seeds (None unless it has them all)."""
    by_seed = {s["seed"]: s for s in base.seeds}
    rows = [by_seed.get(s["seed"]) for s in e.seeds]
    if not rows or any(r is None for r in rows):
        return None
    return (100 * statistics.fmean(r["test_accuracy"] for r in rows),
            100 * statistics.fmean(r["dev_accuracy"] for r in rows), len(rows))


def change_text(e: Entry) -> str:
    text = " + ".join(f"`{s}`" for s in e.sets)
    if e.extends:
        text += f" (continuing the finished runs `{e.extends}`)"
    return text


def training_minutes(entry: dict) -> str:
    """'sst.yaml trains in ... min' from an accuracy.json entry that records whole-command wall times;
    nothing when the entry was measured with other jobs on the machine (a load average, at the start
    or after a seed, above its core count): such minutes would be read as what training costs."""
    runs = [r for r in entry.get("per_seed", []) if r.get("wall_seconds_this_invocation")]
    m = entry.get("machine") or {}
    loads = [(m.get("load_average_at_start") or [0])[0], *((r.get("load_average_after") or [0])[0] for r in runs)]
    if not runs or max(loads) > (m.get("cpus") or 1):
        return ""
    wall = [r["wall_seconds_this_invocation"] / 60 for r in runs]
    return (f"`sst.yaml` trains to its early-stopping point in {num(sum(wall) / len(wall), 1)} min on average "
            f"({num(min(wall), 1)}–{num(max(wall), 1)} min over {len(wall)} seeds, whole run: data, training, "
            f"dev/test scoring), {num(entry.get('seconds_per_epoch_mean'), 1)} s per epoch.")


def accuracy_sections(acc: dict) -> tuple[str, list[Entry]]:
    entries = [Entry(k, v) for k, v in acc.items()]
    shipped = sorted((e for e in entries if e.adopted), key=Entry.sort_key)
    experiments = sorted((e for e in entries if not e.adopted), key=Entry.sort_key)
    out = ["## Accuracy against Kim (2014)", "",
           f"Source: `{SRC}/accuracy.json`, written by `bench/accuracy.py` (machine: see below). Kim's "
           "protocol: trained on every labelled phrase of the training trees, early-stopped on dev "
           "sentences, scored on test sentences. Test accuracy is the mean ± sample sd over n seeds; "
           "the 95% interval is Student's t for the mean; dev is the mean best dev accuracy; best epoch / "
           "epochs run per seed. Seconds per epoch are as recorded, often with other jobs sharing the two "
           "cores; the quiet timings are under Training speed.", "",
           "### Shipped configs", "",
           table(["config", "what", "n", "test accuracy", "95% CI", "dev", "per seed", "best epoch / run",
                  "s/epoch", "Kim (2014)", "vs Kim"],
                 [[f"`{e.config}.yaml`", e.describe(), e.n,
                   pm(e.data["test_accuracy_mean"], e.data["test_accuracy_sd"], e.n), e.ci(),
                   num(e.data.get("dev_accuracy_mean")), e.per_seed(), e.epochs(),
                   num(e.data.get("seconds_per_epoch_mean"), 1), e.kim_text(),
                   f"{e.data['test_accuracy_mean'] - e.kim():+.2f}" if e.kim() is not None else ""]
                  for e in shipped]), ""]
    rows = []
    for e in experiments:
        base = base_of(e, entries)
        same = same_seeds(e, base) if base else None
        note = e.data.get("note", "")
        rows.append([f"`{e.config}.yaml`", change_text(e), e.n,
                     pm(e.data["test_accuracy_mean"], e.data["test_accuracy_sd"], e.n),
                     num(e.data.get("dev_accuracy_mean")),
                     f"`{base.key}`" if base else "",
                     f"{same[0]:.2f} / {same[1]:.2f}" if same else "",
                     f"{e.data['dev_accuracy_mean'] - same[1]:+.2f}" if same else "",
                     e.per_seed(), e.epochs(), num(e.data.get("seconds_per_epoch_mean"), 1), note])
    out += ["### Experiments (not adopted)", "",
            "Every other entry of `accuracy.json`: a shipped config with `--set` overrides, or finished runs "
            "continued with `--extend`. None of them changed a shipped config (choices are made on dev). "
            "*Base* is the entry it is compared with — the runs it continued, else the same config "
            "with the largest subset of its overrides — and *base, same seeds* is that entry's mean test / "
            "dev accuracy over this entry's seeds; *Δ dev* is this entry's dev mean minus that.", "",
            table(["config", "change", "n", "test accuracy", "dev", "base", "base, same seeds: test / dev",
                   "Δ dev", "per seed", "best epoch / run", "s/epoch", "note"], rows), ""]
    machines = {}
    for e in entries:
        machines.setdefault(machine_text(e.data.get("machine")), []).append(e)
    labels = {text: chr(ord("A") + i) for i, text in enumerate(sorted(machines))}
    out += ["### Commands, machines and dates", "",
            "Machines: " + "; ".join(f"**{labels[t]}** {t}" for t in sorted(machines)) + ".", ""]
    for e in shipped + experiments:
        line = f"- `{e.key}`: `{e.data.get('command', '')}`; machine {labels[machine_text(e.data.get('machine'))]}, " \
               f"load average at start {load_text(e.data.get('machine'))}; {e.data.get('date', 'date not recorded')}"
        if e.data.get("measured_as") and e.data["measured_as"] != e.data.get("command"):
            line += f"; measured as `{e.data['measured_as']}` (under the config's defaults of that date)"
        out.append(line + ".")
    return "\n".join(out) + "\n", shipped


# ---------------------------------------------------------------------------------------- speed

def train_speed_section(data: dict) -> str:
    res = data.get("results", {})
    rows = [[f"`{name}`", ", ".join(f"`{o}`" for o in r.get("overrides", [])) or "(config as shipped)",
             r.get("optimizer", ""), num(r.get("ms_per_step")), num(r.get("seconds_per_epoch"), 1),
             num(r.get("steps_per_epoch"), 0), ", ".join(num(w) for w in r.get("ms_per_step_windows", []))]
            for name, r in res.items()]
    out = ["## Training speed", "", recorded(data, "train_speed.json"), "",
           f"Config `{data.get('config', '?')}`: {data.get('timed_steps', '?')} timed steps per window after "
           f"{data.get('warmup_steps', '?')} warm-up steps, {data.get('repeats', '?')} windows; the figure is the "
           "best window (timings on this machine come in phases, so every window is recorded).", "",
           table(["variant", "overrides", "optimizer", "ms/step", "s/epoch", "steps/epoch", "every window (ms/step)"],
                 rows), ""]
    for name, r in res.items():
        b = r.get("breakdown")
        if b:
            out += [f"Where a `{name}` step goes (each part compiled on the same batches, ms):", "",
                    table(["part", "ms"], [[k.removesuffix("_ms").replace("_", " "), num(v)] for k, v in b.items()]),
                    ""]
    return "\n".join(out) + "\n"


def explain_speed_section(data: dict) -> str:
    res = data.get("results", {})
    rows = [[f"`{name}`", num(r.get("ratio")), num(r.get("forward_s"), 4) if "forward_s" in r else "",
             num(r.get("core_sentences_per_s"), 0), num(r.get("end_to_end_sentences_per_s"), 0)]
            for name, r in res.items() if "ratio" in r]
    out = ["## Explanation speed", "", recorded(data, "explain_speed.json"), ""]
    if data.get("quiet") is False:
        out += ["Measured on a busy machine (1-minute load average above the CPU count at start, "
                "`--allow-load`): the ratios, each against a forward pass timed in alternation with the "
                "method, are what compare; absolute speeds are low.", ""]
    out += [f"Run `{data.get('run', '?')}` ({data.get('model', {}).get('variant', '?')}, "
            f"{data.get('model', {}).get('embedding_dim', '?')}d), {num(data.get('sentences'), 0)} "
            f"{data.get('split', '?')} sentences in length-bucketed batches of {data.get('batch_size', '?')}, "
            f"integrated gradients with {data.get('ig_steps', '?')} steps, best of {data.get('repeats', '?')}. "
            "× forward is the method's compiled core against the compiled forward pass on the same batches"
            " (timed again in alternation with the method, best of the same rounds: forward (s)); "
            "end to end adds tokenizing, batching and building the `Explanation`s.", "",
            table(["method", "× forward", "forward (s)", "sentences/s (core)", "sentences/s (end to end)"], rows), ""]
    ig, occ = res.get("integrated-gradients", {}), res.get("occlusion", {})
    if "per_step_ratio" in ig:
        out += [f"Integrated gradients cost {num(ig['per_step_ratio'])}× the forward pass per step "
                "(each step a forward and a backward pass).", ""]
    if "per_removal_ratio" in occ:
        out += [f"Occlusion costs {num(occ['per_removal_ratio'])}× the forward pass of a sentence per removed "
                f"word ({num(occ.get('removals'), 0)} removals: one forward pass each).", ""]
    one = res.get("one-at-a-time")
    if one:
        out += [f"One sentence at a time (batch size 1, {num(one.get('sentences'), 0)} sentences, `deconv`): "
                f"{num(one.get('end_to_end_sentences_per_s'), 1)} sentences/s.", ""]
    warm = res.get("warm-latency")
    if warm:
        out += [f"One sentence in a warm process (`run.explain([text])` on raw text, `deconv`, "
                f"{num(warm.get('sentences'), 0)} calls): median {num(warm.get('median_ms'))} ms, p95 "
                f"{num(warm.get('p95_ms'))} ms, max {num(warm.get('max_ms'))} ms per call.", ""]
    return "\n".join(out) + "\n"


def latency_section(data: dict) -> str:
    rows = [[label, num(data[key]["median_s"], 3), ", ".join(num(x, 3) for x in data[key].get("runs_s", []))]
            for key, label in (("explain_one_sentence", "`explain` on one sentence, cold process"),
                               ("first_command", "the README's first command in an empty folder (the bundled "
                                                 "model), cold process"),
                               ("import_tensorflow", "`import tensorflow`"),
                               ("import_without_tensorflow", "start-up without TensorFlow"))
            if key in data]
    out = ["## Latency of one explanation", "", recorded(data, "explain_latency.json"), "",
           table(["what", "median (s)", "every run (s)"], rows), ""]
    if "target_s" in data:
        out += [f"Target: {num(data['target_s'], 1)} s for one sentence from a cold process.", ""]
    return "\n".join(out) + "\n"


def serve_section(data: dict) -> str:
    t, req = data.get("targets", {}), data.get("request", {})
    rows = []
    for name, m in data.get("models", {}).items():
        arch, lat = m.get("model", {}), m.get("warm_latency_ms", {})
        rows.append([f"`{name}` ({'/'.join(map(str, arch.get('filter_sizes', [])))} × {arch.get('num_filters', '?')} "
                     f"filters, {arch.get('embedding_dim', '?')}d)", num(lat.get("p50")), num(lat.get("p95")),
                     num(lat.get("requests"), 0), num(m.get("start_to_first_answer_s"), 1)])
    rows.append(["target", f"≤ {num(t.get('p50_ms'), 0)}", f"≤ {num(t.get('p95_ms'), 0)}", "",
                 f"≤ {num(t.get('start_to_first_answer_s'), 0)}"])
    return "\n".join(["## Explorer latency", "", recorded(data, "serve_latency.json"), "",
                      f"`{req.get('endpoint', '?')}` with `{req.get('method', '?')}`, "
                      f"{req.get('sentences_per_request', '?')} sentence per request ({num(req.get('sentences'), 0)} "
                      f"sentences of {num(req.get('mean_tokens'), 1)} tokens on average), "
                      f"{req.get('connection', '')}; start: {req.get('start_to_first_answer', '')}.", "",
                      table(["model", "warm p50 (ms)", "warm p95 (ms)", "requests", "start to first answer (s)"],
                            rows), ""]) + "\n"


def dataset_view_section(data: dict) -> str:
    rows = [[f"`/api/dataset` first request ({num(data.get('rows'), 0)} rows read and predicted, then cached)",
             num(data.get("first_dataset_ms"), 0), "", "1"]]
    for name, m in data.get("warm", {}).items():
        rows.append([f"`/api/dataset` warm: {name} ({num(m.get('matched'), 0)} rows match)", num(m.get("p50_ms")),
                     num(m.get("p95_ms")), num(m.get("requests"), 0)])
    for name, m in data.get("aggregate", {}).items():
        rows.append([f"`/api/aggregate` deconv, {name} ({num(m.get('sentences'), 0)} sentences × 2 classes)",
                     num(m.get("ms"), 0), "", "1"])
    proj = data.get("projection", {})
    rows.append([f"`/api/projection` first ({num(proj.get('points'), 0)} points; pooled features computed)",
                 num(proj.get("first_ms"), 0), "", "1"])
    warm = proj.get("warm", {})
    rows.append(["`/api/projection` warm", num(warm.get("p50_ms")), num(warm.get("p95_ms")),
                 num(warm.get("requests"), 0)])
    cf = data.get("counterfactuals", {})
    rows.append([f"`/api/counterfactuals` ({num(cf.get('candidates'), 0)} edits verified, {num(cf.get('flips'), 0)} "
                 "flip)", num(cf.get("p50_ms")), num(cf.get("p95_ms")), num(cf.get("requests"), 0)])
    card = data.get("first_filter_card", {})
    rows.append([f"`/api/filter-card` first (the dictionary of {num(card.get('sentences_scanned'), 0)} training "
                 "sentences built)", num(card.get("ms"), 0), "", "1"])
    rows.append(["`/api/filter-card` next", num(data.get("next_filter_card_ms")), "", "1"])
    start = data.get("start")
    if start:
        ms = {k: None if start.get(k) is None else 1000 * start[k]
              for k in ("start_to_url_s", "start_to_page_s", "tensorflow_import_s")}
        rows.append([f"`textdeconv serve` launched to its URL printed (median of {num(start.get('starts'), 0)})",
                     num(ms["start_to_url_s"], 0), "", num(start.get("starts"), 0)])
        rows.append(["`textdeconv serve` launched to the page's first answer (`GET /`)", num(ms["start_to_page_s"], 0),
                     "", num(start.get("starts"), 0)])
        rows.append(["of which no code of ours: `import tensorflow` alone in a fresh process",
                     num(ms["tensorflow_import_s"], 0), "", num(start.get("starts"), 0)])
    acc, card_acc = data.get("accuracy"), data.get("card_test_accuracy")
    agree = "equal to" if acc is not None and acc == card_acc else "not equal to"
    return "\n".join(["## Explorer data set view", "", recorded(data, "serve_dataset.json"), "",
                      f"`{data.get('run', '?')}` on the SST-2 {data.get('split', '?')} split, through HTTP on "
                      "127.0.0.1 (one keep-alive connection). The view's accuracy on the whole split, "
                      f"{num(acc, 4)}, is {agree} the model card's test accuracy ({num(card_acc, 4)})."
                      + (f" Load average (1 min) before the first filter card: "
                         f"{num((card.get('load_average_before') or [None])[0], 1)}; before the launches: "
                         f"{num(((start or {}).get('load_average_before') or [None])[0], 1)} on "
                         f"{num(data.get('machine', {}).get('cpus'), 0)} cores." if start else ""), "",
                      table(["request", "p50 or single (ms)", "p95 (ms)", "requests"], rows), ""]) + "\n"


def engine_section(data: dict) -> str:
    cnn, other = data.get("textcnn", {}), data.get("from_scratch", {})
    labels = {"forward": "forward pass", "our_fast_deconv": "our `deconv` (fast path)",
              "engine_deconvnet": "engine `deconvnet`", "engine_deconvnet_vjp_path": "engine `deconvnet`, no fast path",
              "gradient_tape": "GradientTape gradient", "engine_lrp_epsilon": "engine `lrp-epsilon`"}
    rows = [[f"TextCNN ({cnn.get('config', {}).get('vocab_size', '?')} words, batch "
             f"{cnn.get('config', {}).get('batch_size', '?')})", labels.get(k, k), num(v),
             num(cnn.get("ratio_to_forward", {}).get(k)), ""] for k, v in cnn.get("ms", {}).items()]
    rows += [[f"Keras \"from scratch\" ({other.get('config', {}).get('conv', '?')})", labels.get(k, k), num(v),
              num(other.get("ratio_to_forward", {}).get(k)), num(other.get("ratio_to_gradient", {}).get(k))]
             for k, v in other.get("ms", {}).items()]
    target = data.get("target", {})
    return "\n".join(["## Any-model engine speed", "", recorded(data, "engine_speed.json"), "",
                      data.get("what", ""), "",
                      table(["model", "computation", "ms per batch", "× forward", "× gradient"], rows), "",
                      "Target: the engine's `deconvnet` ≤ "
                      f"{num(target.get('engine_deconvnet_over_forward_on_textcnn'), 1)}"
                      f"× the forward pass on the TextCNN: {num(target.get('measured'))}× "
                      f"({'met' if target.get('met') else 'not met'}).", ""]) + "\n"


def keras_examples_section(data: dict) -> str:
    """bench/keras_examples.py's study, rendered by that script's own ``markdown`` (no TensorFlow)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("keras_examples", Path(__file__).with_name("keras_examples.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return "\n".join(["## Any Keras model: the two keras-io examples on SST-2", "",
                      recorded(data, "keras_examples.json"), "",
                      "Faithfulness of the engine's methods and two baselines on the keras-io \"from scratch\" and "
                      "\"pre-trained word embeddings\" architectures, trained on SST-2 sentences "
                      "([any-model.md](any-model.md#results-on-sst-2)).", "",
                      module.markdown(data), ""]) + "\n"


def _bench_module(name: str):
    """bench/NAME.py as a module (no TensorFlow at import; dataclasses need sys.modules)."""
    import importlib.util

    if name not in sys.modules:
        sys.path.insert(0, str(Path(__file__).parent))  # deep_textcnn imports keras_examples beside it
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def deep_textcnn_block(data: dict) -> str:
    """bench/deep_textcnn.py's figures, rendered by that script's own ``markdown``."""
    return "\n".join([recorded(data, "deep_textcnn.json"), "", _bench_module("deep_textcnn").markdown(data)])


def peer_parity_block(data: dict) -> str:
    """bench/peer_parity.py's measurement, rendered by that script's own ``markdown``."""
    return "\n".join([recorded(data, "peer_parity.json"), "", _bench_module("peer_parity").markdown(data)])


def costs_block(folder: Path) -> str:
    """docs/perturbation-methods.md's table: time per sentence and a few metrics of every method in
    ``folder`` (a ``textdeconv evaluate`` output), with its command, machine and load."""
    rows = load_csv(folder / "table.csv")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8")) if (folder / "meta.json").is_file() else {}
    cols = [c for c in COSTS_METRICS if rows and c in rows[0]]
    m = meta.get("machine")
    return "\n".join([
        f"Source: `{SRC}/{folder.name}/` (written by `textdeconv evaluate`); command: "
        f"`{meta.get('command', 'not recorded')}`; run `{run_name(meta)}`, {num(meta.get('sentences'), 0)} "
        f"{meta.get('split', '?')} sentences, sanity checks on {meta.get('sanity_n', '?')}; machine: "
        f"{machine_text(m)}, load average at start {load_text(m)}, date {meta.get('date', 'not recorded')}.", "",
        table(["method"] + [f"{METRICS[c][0]} {METRICS[c][1]}" for c in cols],
              [[f"`{r['method']}`"] + [metric_cell(r, c) for c in cols] for r in rows])])


def deep_textcnn_section(data: dict) -> str:
    return "\n".join(["## Any Keras model: deep text CNNs with skip connections on SST-2", "",
                      "A DPCNN and a VDCNN-style stack through the reverse engine "
                      "([any-model.md](any-model.md#deep-text-cnns-on-sst-2)).", "",
                      deep_textcnn_block(data), ""]) + "\n"


def filters_block(data: dict) -> str:
    """bench/filters_science.py's figures, rendered by that script's own ``markdown``."""
    return "\n".join([recorded(data, "filters_sst2.json"), "", _bench_module("filters_science").markdown(data)])


def filters_section(data: dict) -> str:
    return "\n".join(["## What the filters detect: thresholds, patterns, negative words (SST-2)", "",
                      "Jacovi, Sar Shalom & Goldberg (2018)'s analyses of the bundled model's filters "
                      "([filters.md](filters.md)).", "", filters_block(data), ""]) + "\n"


def influence_block(data: dict) -> str:
    """bench/influence.py's figures, rendered by that script's own ``markdown``."""
    return "\n".join([recorded(data, "influence.json"), "", _bench_module("influence").markdown(data)])


def road_block(data: dict) -> str:
    """``textdeconv road``'s figures (road.json), rendered by bench/road_report.py."""
    return "\n".join([recorded(data, "road.json"), "", _bench_module("road_report").markdown(data)])


def influence_section(data: dict) -> str:
    return "\n".join(["## Training-data influence: TracIn and planted label noise", "",
                      "Self-influence against flipped labels, a planted mislabelled copy, and the cost of "
                      "`similar` and TracIn ([influence.md](influence.md)).", "",
                      influence_block(data), ""]) + "\n"


def stream_section(data: dict, name: str = "explain_stream.json") -> str:
    cfg, r = data.get("config", {}), data.get("results", {})
    parquet = cfg.get("format") == "parquet"
    samples = [[num(s.get("chunk"), 0), num(s.get("sentences"), 0), num(s.get("elapsed_s"), 1),
                num(s.get("rss_mb"), 1)] for s in r.get("rss_mb_samples", [])]
    out = [f"## Streaming a big file: {'Parquet' if parquet else 'CSV'}", "", recorded(data, name), "",
           f"`explain --input FILE {'--output PATH.parquet' if parquet else '--csv PATH'}` on "
           f"{num(cfg.get('sentences'), 0)} generated sentences of "
           f"{'–'.join(map(str, cfg.get('words', [])))} words, method `{cfg.get('method', '?')}`, chunks of "
           f"{num(cfg.get('chunk_size'), 0)} lines, batch size {cfg.get('batch_size', '?')}, "
           f"run `{cfg.get('run', '?')}`.", "",
           table(["what", "figure"], [
               ["sentences explained", num(r.get("sentences"), 0)],
               ["token rows", num(r.get("rows"), 0)],
               ["chunks", num(r.get("chunks"), 0)],
               ["input / output bytes", f"{num(r.get('input_bytes'), 0)} / {num(r.get('output_bytes'), 0)}"],
               ["output bytes per token row",
                num(r.get("bytes_per_row") or (r["output_bytes"] / r["rows"] if r.get("rows") else None))],
               ["seconds explaining", num(r.get("explain_s"), 1)],
               ["sentences/s", num(r.get("sentences_per_s"), 1)],
               ["rows/s", num(r.get("rows_per_s"), 0)],
               ["resident memory before the job (MB)", num(r.get("rss_mb_before_job"), 1)],
               ["peak resident memory (MB)", num(r.get("peak_rss_mb"), 1)],
               ["growth from the first chunk to the last (MB)", num(r.get("rss_growth_mb_from_chunk_1"), 1)],
           ]), "", "Resident memory as the job went:", "",
           table(["after chunk", "sentences", "elapsed (s)", "resident memory (MB)"], samples), ""]
    return "\n".join(out) + "\n"


def beam_section(data: dict) -> str:
    cfg, res = data.get("config", {}), data.get("results", {})
    rows = [[f"`{name}`", num(r.get("sentences"), 0), num(r.get("seconds"), 1), num(r.get("sentences_per_s"), 0),
             num(r.get("speed_vs_stream"))] for name, r in res.items()]
    out = ["## A corpus on Apache Beam", "", recorded(data, "explain_beam.json"), "",
           f"{num(cfg.get('sentences'), 0)} generated sentences in {cfg.get('files', '?')} gzip files, method "
           f"`{cfg.get('method', '?')}`, Parquet, chunks of {num(cfg.get('chunk_size'), 0)} lines, batch size "
           f"{cfg.get('batch_size', '?')}, run `{cfg.get('run', '?')}`. Each setting is one fresh process, timed from "
           "its start (TensorFlow import and model load included) to the files in place: `stream` is the "
           "single-machine `explain --input ALL.txt --output x.parquet` on the same lines as one file; "
           "`beam-Nworkers` is `explain --runner beam` on the DirectRunner with N worker processes "
           "([scale.md](scale.md)).", "",
           table(["setting", "sentences", "seconds", "sentences/s", "× stream"], rows), ""]
    return "\n".join(out) + "\n"


def drift_section(data: dict) -> str:
    rows = [[f"`{r.get('run', '?')}`", "as read" if r.get("vectors_std") is None else f"{r['vectors_std']:g}",
             num(r.get("init_sd"), 4), num(r.get("rms_change"), 4), f"{100 * r.get('relative_change', 0):.1f}%"]
            for r in data.get("runs", [])]
    out = ["## Embedding drift during fine-tuning", "", recorded(data, "embedding_drift.json"), "",
           "How far training moved a pretrained table: its sd at the start, the RMS change per value, and "
           "‖E_final − E_init‖ / ‖E_init‖.", "",
           table(["run", "model.vectors_std", "sd at start", "RMS change", "relative change"], rows), ""]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------- evaluation

def metric_cell(row: dict, col: str) -> str:
    try:
        value = float(row[col])
    except (KeyError, ValueError):
        return ""
    return num(value, 1) if col == "sentences_per_s" else num(value, 2) if col == "ms_per_sentence" else f"{value:.3f}"


def with_abs_rho(rows: list[dict], stages: list[dict]) -> list[dict]:
    """``rows`` (table.csv) with ``randomized_logits_abs_rho`` / ``randomized_all_abs_rho`` read from
    randomization.csv's ``abs_spearman_mean`` (its ``logits`` and last stage) where table.csv,
    written before those columns, lacks them; unchanged when either file lacks the figure."""
    by = {}
    for st in stages:
        if st.get("abs_spearman_mean"):
            by.setdefault(st["method"], {})[st["stage"]] = st["abs_spearman_mean"]
            by[st["method"]]["_last"] = st["abs_spearman_mean"]
    out = []
    for r in rows:
        got = by.get(r["method"], {})
        extra = {}
        if "randomized_logits_abs_rho" not in r and "logits" in got:
            extra["randomized_logits_abs_rho"] = got["logits"]
        if "randomized_all_abs_rho" not in r and "_last" in got:
            extra["randomized_all_abs_rho"] = got["_last"]
        out.append({**r, **extra})
    return out


def rho_cell(row: dict) -> str:
    """'ρ (|ρ|)' of one randomization stage; the signed mean alone where no |ρ| was recorded."""
    text = f"{float(row['spearman_mean']):.3f}"
    return text + (f" ({float(row['abs_spearman_mean']):.3f})" if row.get("abs_spearman_mean") else "")


def run_name(meta: dict) -> str:
    """The run an evaluation read: ``builtin:NAME`` for a bundled model (recorded before 2026-12-07
    as the package folder it was loaded from), else the recorded path."""
    run = meta.get("run", "?")
    parts = Path(run).parts
    return f"builtin:{parts[-1]}" if parts[-3:-1] == ("textdeconv", "builtin") else run


def trained_on(meta: dict) -> str | None:
    """What the evaluated run was trained on (``data.train_on``): recorded by ``evaluate`` since
    2026-12-08; for an older ``builtin:NAME`` evaluation, read from the bundled model's config."""
    if meta.get("train_on"):
        return meta["train_on"]
    name = run_name(meta)
    if name.startswith("builtin:"):
        import yaml

        cfg = ROOT / "textdeconv" / "builtin" / name.split(":", 1)[1] / "config.yaml"
        if cfg.is_file():
            return ((yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("data") or {}).get("train_on")
    return None


PLAUSIBILITY_CAVEAT = ("plausibility is optimistic here: the model was trained on every labelled phrase, single "
                       "words included, and is scored against those word labels (issue 35)")


def evaluation_section(folder: Path) -> tuple[str, str]:
    """(the results.md section, the README's compact table); ('', '') without the folder."""
    rows = load_csv(folder / "table.csv")
    if not rows:
        return "", ""
    stages = load_csv(folder / "randomization.csv")
    rows = with_abs_rho(rows, stages)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8")) if (folder / "meta.json").is_file() else {}
    name = f"{SRC}/{folder.name}"
    cols = [c for c in METRICS if c in rows[0]]
    full = table(["method"] + [f"{c} ({METRICS[c][1]})" for c in cols],
                 [[f"`{r['method']}`"] + [metric_cell(r, c) for c in cols] for r in rows])
    trained = trained_on(meta)  # read once: for a builtin run it reads the model's config file
    m = meta.get("machine") or {}
    loaded = (m.get("load_average_at_start") or [0])[0] > (m.get("cpus") or 1)
    # per-sentence times taken beside other jobs stay in results.md (with their load), not in the README
    compact_cols = [c for c in HEADLINE_METRICS if c in rows[0] and not (loaded and c == "ms_per_sentence")]
    compact = table(["method"] + [f"{METRICS[c][0]} {METRICS[c][1]}" for c in compact_cols],
                    [[f"`{r['method']}`"] + [metric_cell(r, c) for c in compact_cols] for r in rows])
    order = list(dict.fromkeys(s["stage"] for s in stages))
    by = {(s["method"], s["stage"]): s for s in stages}
    methods = list(dict.fromkeys(s["method"] for s in stages))
    casc = table(["method"] + [f"`{s}`" for s in order],
                 [[f"`{m}`"] + [rho_cell(by[m, s]) if (m, s) in by else "" for s in order]
                  for m in methods]) if stages else ""
    seconds = meta.get("seconds_per_method", {})
    out = [f"## Explanation quality: methods × metrics ({folder.name})", "",
           f"- Source: `{name}/` (`table.csv`, `randomization.csv`, `meta.json`, `curves.png`), written by "
           "`textdeconv evaluate`.",
           f"- Command: `{meta.get('command', 'not recorded')}`.",
           (f"- Machine: {machine_text(meta['machine'])}; load average at start {load_text(meta['machine'])}; "
            f"date {meta.get('date', 'not recorded')}." if meta.get("machine")
            else "- Machine and date: not recorded in `meta.json`."),
           f"- Run `{run_name(meta)}`"
           + (f" (trained on SST {trained})" if trained else "")
           + f", {meta.get('split', '?')} split, {num(meta.get('sentences'), 0)} "
           f"sentences; removal = `{meta.get('replacement', '?')}`; integrated gradients with "
           f"{meta.get('ig_steps', '?')} steps; randomization and class checks on {meta.get('sanity_n', '?')} "
           f"sentences, seed {meta.get('seed', '?')}; {num(meta.get('seconds_total'), 0)} s in all."]
    if meta.get("note"):
        out.append(f"- Note: {meta['note']}.")
    contaminated = trained == "phrases" and any(c.startswith("plausibility") for c in cols)
    if contaminated:
        fair = [f"`{q.name}`" for q in sorted(folder.parent.glob("evaluation-*")) if q.is_dir() and q != folder
                and trained_on(json.loads((q / "meta.json").read_text(encoding="utf-8"))
                               if (q / "meta.json").is_file() else {}) == "sentences"]
        out.append(f"- Caveat: {PLAUSIBILITY_CAVEAT}; the faithfulness and sanity columns are unaffected"
                   + (f". A model trained on sentences only: {', '.join(fair)}" if fair else "") + ".")
    out += ["","Definitions and how to read them: [evaluation.md](evaluation.md). Explanations are of the "
            "predicted class; ↑ / ↓ marks the better direction. `sentences_per_s` includes each method's "
            "tracing and every metric's perturbation passes; the clean throughput is under Explanation speed.", "",
            full, ""]
    if casc:
        out += ["Cascading randomization (`randomization.csv`): mean Spearman correlation with the original "
                "scores after re-drawing the layers from the top down, cumulatively; in brackets the mean |ρ| "
                "(a method whose maps flip sign as a whole averages ρ near 0 but keeps |ρ| high).", "", casc, ""]
    if seconds:
        out += ["Seconds per method, every metric included (`meta.json`): "
                + ", ".join(f"`{m}` {num(s, 1)}" for m, s in seconds.items()) + ".", ""]
    if (folder / "curves.png").is_file():
        out += [f"![deletion and insertion curves](../{name}/curves.png)", ""]
    head = (f"Explanation quality (`{folder.name}`: run `{Path(run_name(meta)).name}`, "
            f"{num(meta.get('sentences'), 0)} {meta.get('split', '?')} sentences; ↑ / ↓ = better; definitions in "
            "[docs/evaluation.md](docs/evaluation.md)"
            + ("; plausibility optimistic: the model learnt the word labels" if
               contaminated and "plausibility_auroc" in compact_cols else "") + "):")
    return "\n".join(out) + "\n", head + "\n\n" + compact


# ---------------------------------------------------------------------------------------- pages

def build(results: Path) -> tuple[str, str]:
    """(docs/results.md, the README block between the markers, markers excluded)."""
    page = ["# Results\n\n"
            "<!-- generated by bench/report.py from bench/results/; do not edit: run `python bench/report.py` -->\n\n"
            "Every figure on this page is read from a file under `bench/results/` that a `bench/` script (or "
            "`textdeconv evaluate`) wrote, with the command, machine and date it recorded. To measure again, "
            "run the command shown (finished seed runs under `runs/bench/` are reused), then "
            "`python bench/report.py` to regenerate this page and the README's headline block; "
            "`python bench/report.py --check` (run by the tests) fails while either is stale. "
            "Dated history and superseded figures: [changelog.md](changelog.md)."]
    block = ["<!-- generated by `python bench/report.py` from bench/results/; do not edit by hand -->", ""]
    if machines_line(results):
        block += [machines_line(results), ""]
    acc = load_json(results, "accuracy.json")
    if acc:
        section, shipped = accuracy_sections(acc)
        page.append(section)
        block += ["Test accuracy of the shipped configs, mean ± sd over n seeds, against Kim (2014):", "",
                  table(["config", "what", "n", "test accuracy", "Kim (2014)"],
                        [[f"`{e.config}.yaml`", e.describe(), e.n,
                          pm(e.data["test_accuracy_mean"], e.data["test_accuracy_sd"], e.n), e.kim_text()]
                         for e in shipped[:HEADLINE_ROWS]]), ""]
        minutes = training_minutes(acc.get("sst", {}))
        if minutes:
            block += [minutes, ""]
    for name, render in (("train_speed.json", train_speed_section), ("explain_speed.json", explain_speed_section),
                         ("explain_latency.json", latency_section), ("serve_latency.json", serve_section),
                         ("serve_dataset.json", dataset_view_section),
                         ("explain_stream.json", stream_section),
                         ("explain_stream_parquet.json", lambda d: stream_section(d, "explain_stream_parquet.json")),
                         ("explain_beam.json", beam_section), ("engine_speed.json", engine_section),
                         ("keras_examples.json", keras_examples_section),
                         ("deep_textcnn.json", deep_textcnn_section),
                         ("filters_sst2.json", filters_section),
                         ("embedding_drift.json", drift_section), ("influence.json", influence_section)):
        data = load_json(results, name)
        if data:
            page.append(render(data))
    for folder in sorted(p for p in results.glob("evaluation-*") if p.is_dir()):
        section, compact = evaluation_section(folder)
        if section:
            page.append(section)
            if folder.name in README_EVALUATIONS:
                block += [compact, ""]
    block.append("Every table with its command, machine and date, and the experiments not adopted: "
                 "[docs/results.md](docs/results.md).")
    return "\n\n".join(part.strip("\n") for part in page) + "\n", "\n".join(block)


def machines_line(results: Path) -> str:
    """'Measured on N CPU cores, without a GPU.' from the machines the results files record."""
    cpus, gpus = set(), set()
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data.values() if path.name == "accuracy.json" else [data]:
            m = entry.get("machine") if isinstance(entry, dict) else None
            if m:
                cpus.add(str(m.get("cpus", "?")))
                gpus.update(m.get("gpus") or [])
    if not cpus:
        return ""
    return (f"Measured on {' or '.join(sorted(cpus))} CPU cores, "
            + (f"with GPUs ({', '.join(sorted(gpus))})." if gpus else "without a GPU."))


def with_block(readme: str, block: str, begin: str = BEGIN, end_marker: str = END) -> str | None:
    """``readme`` with ``block`` between the markers; None when it has no marker pair."""
    start, end = readme.find(begin), readme.find(end_marker)
    if start < 0 or end < start:
        return None
    return readme[:start + len(begin)] + "\n" + block + "\n" + readme[end:]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def page_blocks() -> dict:
    """docs page -> [(results file, or ``folder/`` of an evaluation, renderer, begin marker, end
    marker)]: the figures each page shows between its markers, regenerated like results.md."""
    return {
        "any-model.md": [("deep_textcnn.json", deep_textcnn_block, DEEP_BEGIN, DEEP_END),
                         ("peer_parity.json", peer_parity_block, PEER_BEGIN, PEER_END)],
        "filters.md": [("filters_sst2.json", filters_block, FILTERS_BEGIN, FILTERS_END)],
        "influence.md": [("influence.json", influence_block, INFLUENCE_BEGIN, INFLUENCE_END)],
        "perturbation-methods.md": [(COSTS_FOLDER + "/", costs_block, COSTS_BEGIN, COSTS_END)],
        "evaluation.md": [("road.json", road_block, ROAD_BEGIN, ROAD_END)],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page differs from what "
                                                        "would be generated")
    p.add_argument("--results", default=str(ROOT / "bench" / "results"), help="folder of the results files")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="folder that gets results.md")
    p.add_argument("--readme", default=str(ROOT / "README.md"), help="README holding the results block")
    args = p.parse_args(argv)

    results, readme_path = Path(args.results), Path(args.readme)
    if not results.is_dir():
        print(f"error: results folder not found: {results}", file=sys.stderr)
        return 2
    if not readme_path.is_file():
        print(f"error: README not found: {readme_path}", file=sys.stderr)
        return 2
    page, block = build(results)
    readme = with_block(readme_path.read_text(encoding="utf-8"), block)
    if readme is None:
        print(f"error: {readme_path} has no '{BEGIN}' ... '{END}' block to fill", file=sys.stderr)
        return 2
    wanted = {Path(args.docs) / "results.md": page, readme_path: readme}
    for page_name, blocks in page_blocks().items():  # figures a page shows between its markers
        page = Path(args.docs) / page_name
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8")
        for name, render, begin, end_marker in blocks:
            if name.endswith("/"):  # a `textdeconv evaluate` folder
                data = results / name.rstrip("/") if (results / name / "table.csv").is_file() else None
            else:
                data = load_json(results, name)
            filled = with_block(text, render(data), begin, end_marker) if data else None
            text = filled if filled is not None else text
        wanted[page] = text
    stale = [path for path, text in wanted.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"stale: {path} (regenerate with: python bench/report.py)")
        return 1 if stale else 0
    for path in stale:
        write(path, wanted[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
