#!/usr/bin/env python
"""Write docs/groundtruth.md and its figures from the ground-truth studies' results, so no figure
is ever copied by hand.

    python bench/groundtruth_report.py            # regenerate docs/groundtruth.md and its two PNGs in docs/img/
    python bench/groundtruth_report.py --check    # exit 1, naming the stale file, when the page differs

Reads bench/results/groundtruth.json (``textdeconv groundtruth``), roar.json (``textdeconv roar``),
randomization.json (``textdeconv randomization``) and metrics-sst2-test/ (bench/groundtruth_metrics.py).
A study that has not been run is named as such on the page. The reading at the end is written
from the numbers by the rules in ``reading``, so it cannot drift from them. The page is plain
Markdown (json, csv: no TensorFlow); the figures need matplotlib. ``--check`` compares the page
and that every figure exists (PNG bytes vary with the matplotlib version).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = "bench/results"
RANKS_PNG, ROAR_PNG = "groundtruth-ranks.png", "roar-curves.png"
CLASS_AGNOSTIC = 0.5  # counter_first at or above this: the method names the trigger for either class
SIGN_LOTTERY = {"gradient"}  # signed sum over embedding dimensions: its direction is arbitrary (issue 35)
UNSIGNED = {"gradient-l2", "deconv-activation", "random"}  # scores that do not say for or against a class
LEAK_TOLERANCE = 0.02  # a ROAR model this much worse on the swapped removal learnt part of the removal
PASS_MARGIN = 0.2  # data randomization passes when mean |ρ| vs the permuted model is this far below two real models'
CHANCE = 0.5  # SST-2 test accuracy of a constant guess (912 of 1,821 sentences are negative: 0.501)


# ---------------------------------------------------------------------------------------- helpers

def load_json(results: Path, name: str):
    path = results / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pm(stat, digits: int = 2) -> str:
    """'0.93 ± 0.02' from a mean_sd dict; 'n/a' without a mean."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}"
    return text + (f" ± {stat['sd']:.{digits}f}" if stat.get("sd") is not None else "")


def mean(stat):
    return None if not stat else stat.get("mean")


def recorded(data: dict, name: str) -> str:
    """The provenance lines every section opens with."""
    m = data.get("machine", {})
    load = m.get("load_average_at_start")
    where = f"{m.get('cpus', '?')} CPUs, {m.get('platform', '?')}, TensorFlow {m.get('tensorflow', '?')}"
    if load:
        where += f", load average {load[0]:.1f} at the start (the machine was shared)"
    settings = data.get("settings", {})
    size = "full size" if settings.get("full_size") else "reduced size"
    limits = settings.get("data_limits") or {}
    left_out = settings.get("methods_left_out") or []
    detail = []
    if limits:
        detail.append("data limits " + ", ".join(f"`{k}={v}`" for k, v in limits.items()))
    if left_out:
        detail.append("methods left out: " + ", ".join(f"`{m}`" for m in left_out))
    if len(data.get("seeds", [])) < 3:
        detail.append(f"{len(data.get('seeds', []))} seed(s)")
    command = data.get("command", "?")
    if data.get("note") and " --note " in command:  # the note is quoted on its own line below
        command = command.split(" --note ")[0] + " --note …"
    lines = [f"- Source: `{SRC}/{name}`, written by `{command}` on {data.get('date', '?')}.",
             f"- Machine: {where}.",
             f"- Seeds {', '.join(map(str, data.get('seeds', [])))}; {size}" + (f" ({'; '.join(detail)})" if detail
                                                                                else "") + "."]
    minutes = data.get("minutes", {})
    lines.append(f"- Cost: {data.get('wall_minutes', '?')} min wall clock ({minutes.get('training', '?')} min "
                 f"training, {minutes.get('explaining', '?')} min explaining; reused models count with the "
                 "training time they took when trained).")
    if data.get("note"):
        lines.append(f"- Note: {data['note']}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- ground truth

def groundtruth_section(gt: dict | None) -> str:
    if not gt:
        return ("## Planted shortcuts\n\nNot run yet: `textdeconv groundtruth` writes "
                "`bench/results/groundtruth.json`.\n")
    rows, methods = gt["rows"], gt["methods"]
    out = ["## Planted shortcuts", "", recorded(gt, "groundtruth.json"), "",
           f"Models: Kim's CNN-rand (`{gt['config']['model']['embedding_dim']}`-d, filters "
           f"{gt['config']['model']['filter_sizes']} x {gt['config']['model']['num_filters']}), trained on the "
           f"{gt.get('sizes', {}).get('train', '?')} SST-2 training sentences with the trigger planted in "
           f"{gt['settings'].get('fraction', '?'):.0%} of each class (labels set by the trigger), one model per "
           f"variant and seed; at most {gt['settings'].get('max_cases') or 'all'} sentences scored per row and seed.",
           "", "**Does the model use the trigger?** Flip rate = share of the test sentences not already in the "
           "trigger's class that the planted trigger moves there. Rows below the threshold "
           f"({gt['settings'].get('threshold', '?')}) are not scored.", ""]
    check_rows = []
    for row, r in rows.items():
        controls = []
        if "apart_flip_rate" in r:
            controls.append(f"words apart: {pm(r['apart_flip_rate'])}")
        if "trigger_flip_rate" in r:
            controls.append(f"plain trigger: {pm(r['trigger_flip_rate'])}")
        for key in r:  # the shortcut variants' controls (issue 35): each word alone
            if key.endswith("-alone_flip_rate"):
                controls.append(f"{key[:-len('_flip_rate')].replace('-', ' ')}: {pm(r[key])}")
        if "decoy_change_rate" in r:
            controls.append(f"decoy changes {pm(r['decoy_change_rate'])}")
        check_rows.append([f"`{row}`", r["status"], pm(r["flip_rate"]), ", ".join(map(str, r["n_scored"])),
                           "; ".join(controls) or "—"])
    out += [table(["row", "status", "flip rate", "sentences scored per seed", "controls"], check_rows), ""]

    def cell(m, row, key, digits=2):
        return pm(methods.get(m, {}).get(row, {}).get(key), digits)

    names = list(methods)
    out += ["**Single token** (`zqx`, k = 1): precision@1 (the trigger is the top word), mean rank, and "
            "*counter-class first*: the trigger is still the top word when the **other** class is explained "
            "(a class-specific method ranks it last there). Positions: precision@1 with the trigger at the "
            "start, middle or end of sentences of at least 20 words.", "",
            table(["method", "p@1", "rank", "counter-class first", "p@1 start", "p@1 middle", "p@1 end"],
                  [[f"`{m}`", cell(m, "token", "p_at_1"), cell(m, "token", "rank", 1),
                    cell(m, "token", "counter_first"), cell(m, "position-start", "p_at_1"),
                    cell(m, "position-middle", "p_at_1"), cell(m, "position-end", "p_at_1")] for m in names]), "",
            "**Two-word causes** (k = 2): the ordered phrase `zqa zqb` and the negation `not zqx` (which "
            "reverses the trigger's class). recall@2 = share of the cause among the top two words; "
            "both first = the cause fills the top two.", "",
            table(["method", "phrase recall@2", "phrase AP", "negation recall@2", "negation AP",
                   "negation both first", "negation counter-class first"],
                  [[f"`{m}`", cell(m, "phrase", "recall_at_k"), cell(m, "phrase", "ap"),
                    cell(m, "negation", "recall_at_k"), cell(m, "negation", "ap"), cell(m, "negation", "first"),
                    cell(m, "negation", "counter_first")] for m in names]), "",
            "**False alarms** on clean test sentences explained for their predicted class: the share of "
            "|score| on the planted but useless decoy `zqd` (chance = 1/n, the row `chance`), how often the "
            "decoy alone tops the ranking, and, for the phrase models, the share on `zqa`/`zqb` planted "
            "apart (the trigger's own words where the model must not use them).", ""]
    chance = mean(next((methods[m]["token"]["false_alarm_chance"] for m in names
                        if "false_alarm_chance" in methods[m].get("token", {})), None))
    alarm_rows = [[f"`{m}`", cell(m, "token", "false_alarm", 3), cell(m, "token", "decoy_first", 3),
                   cell(m, "phrase", "apart_false_alarm", 3)] for m in names]
    if chance is not None:
        alarm_rows.append(["chance", f"{chance:.3f}", "—", "—"])
    out += [table(["method", "decoy share (token models)", "decoy first", "apart words share (phrase models)"],
                  alarm_rows), "",
            *shortcut_tables(rows, methods),
            f"![best rank of the trigger per method](img/{RANKS_PNG})", "",
            "The trigger's rank (1 = top; 10+ = tenth or lower) in the single-token sentences, all seeds pooled: "
            "blue when the trigger's class is explained, orange when the other class is. A class-specific method "
            "has its blue bar at 1 and its orange mass at the far end.", ""]
    return "\n".join(out) + "\n"


SHORTCUT_ROWS = {"and": "`zqe` … `zqf` ≥ 5 apart", "context": "`zqt` next to `zqk`", "opposing": "`zqp` over `zqn`",
                 "partial": "`zqw` (70% predictive)", "partial-strength": "`zqs` over `zqw`",
                 "vocab-word": "an ordinary word", "reversed-phrase": "`zqa zqb`",
                 "reversed-phrase-reversed": "`zqb zqa` (other class)"}
BIMODAL_SD = 0.25  # a per-seed p@k spread this wide is shown seed by seed


def seeds_or_mean(stat, digits: int = 2) -> str:
    """mean ± sd, or every seed's value where the seeds disagree (sd >= BIMODAL_SD)."""
    if stat and (stat.get("sd") or 0) >= BIMODAL_SD and stat.get("per_seed"):
        return "seeds " + " / ".join(f"{v:.{digits}f}" for v in stat["per_seed"])
    return pm(stat, digits)


def shortcut_tables(rows: dict, methods: dict) -> list[str]:
    """The shortcut variants' table (issue 35) when the results hold any of their rows; [] otherwise."""
    present = [r for r in SHORTCUT_ROWS if r in rows and rows[r]["status"] == "scored"]
    if not present:
        return []
    head = ["method"] + [f"`{r}` p@k / rank" for r in present]
    body = []
    for m, by_row in methods.items():
        cells = []
        for r in present:
            got = by_row.get(r)
            if not got:
                cells.append("—")
                continue
            cell = f"{seeds_or_mean(got.get('p_at_k'))} / {pm(got.get('rank'), 1)}"
            if "above_rival" in got:
                cell += f"; above rival {pm(got['above_rival'])}"
            cells.append(cell)
        body.append([f"`{m}`"] + cells)
    causes = ", ".join(f"`{r}`: {SHORTCUT_ROWS[r]}" for r in present)
    return ["**Shortcuts that need more than one filter** (issue 35; " + causes + "): precision@k with k the "
            "number of cause tokens and their mean rank (Bastings et al.), per sentence, mean ± sd over seeds "
            f"(seed by seed where the seeds disagree by sd ≥ {BIMODAL_SD}); *above rival*: every cause token "
            "ranks above the planted word it outweighs.", "", table(head, body), ""]


def plot_ranks(gt: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m, rows in gt["methods"].items() if "token" in rows]
    cols = 5
    nrows = max(1, -(-len(methods) // cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(10, 1.7 * nrows + 0.4), sharex=True, sharey=True, squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ax, m in zip(axes.ravel(), methods):
        row = gt["methods"][m]["token"]
        hist = row["rank_histogram"]
        ax.set_visible(True)
        for shift, key, color, label in ((-0.2, "rank_histogram", "#4c72b0", "trigger's class explained"),
                                         (0.2, "counter_rank_histogram", "#dd8452", "other class explained")):
            if key in row:
                counts = row[key]["counts"]
                total = sum(counts) or 1
                ax.bar([i + shift for i in range(len(counts))], [c / total for c in counts], width=0.4,
                       color=color, label=label)
        ax.set_title(m, fontsize=8)
        ax.set_xticks(range(len(hist["bins"])))
        ax.set_xticklabels(hist["bins"], fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_ylim(0, 1)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=7, frameon=False)
    fig.suptitle("rank of the planted trigger (share of sentences)", fontsize=9, x=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=72)
    plt.close(fig)


# -------------------------------------------------------------------------------------------- ROAR

def roar_section(roar: dict | None) -> str:
    if not roar:
        return "## Remove and retrain (ROAR)\n\nNot run yet: `textdeconv roar` writes `bench/results/roar.json`.\n"
    pcts = [f"{round(100 * f)}" for f in roar["settings"]["fractions"]]
    out = ["## Remove and retrain (ROAR)", "", recorded(roar, "roar.json"),
           f"- {roar.get('retrains', '?')} models trained (the base model and one per method, fraction, seed and "
           "kind); removal: " + roar["settings"].get("removal", "?") + f"; words ranked for the "
           f"{roar['settings'].get('target', '?')} class.", "",
           f"Test accuracy of the base model (all words): **{pm(roar['base']['test_accuracy'], 4)}** (Kim's "
           f"CNN-rand as `configs/sst.yaml`, but trained on the {roar.get('sizes', {}).get('train', '?')} training "
           "sentences only, not on every phrase, for at most 10 epochs). Each cell is "
           "the test accuracy after removing the top k% of every train, dev and test sentence's words by the "
           "method: *ROAR* retrains from scratch on the reduced data, *recursive* re-explains with each retrained "
           "model before removing more, *deletion* is the base model on the reduced test sentences without "
           "retraining. Lower = the removed words carried the task; `random` is the floor to beat.", "",
           "Removal without retraining, so without the leakage checked below: ROAD (`textdeconv road`, "
           "`bench/results/road.json`), with per-sentence significance, in "
           "[evaluation.md](evaluation.md#ground-truth-studies-issue-25).", ""]
    rows = []
    for m, kinds in roar["methods"].items():
        for kind in ("roar", "recursive", "deletion"):
            if kind in kinds:
                rows.append([f"`{m}`", kind] + [pm(kinds[kind].get(p), 4) for p in pcts])
    out += [table(["method", "kind"] + [f"k = {p}%" for p in pcts], rows), ""]
    leak_rows = []
    for m, kinds in roar["methods"].items():
        for kind, label in (("roar", "reduced test (ROAR)"), ("roar_on_full", "every word back"),
                            ("roar_on_swapped", "other class's evidence removed")):
            if "roar_on_swapped" in kinds and kind in kinds:
                leak_rows.append([f"`{m}`", label] + [pm(kinds[kind].get(p), 4) for p in pcts])
    if leak_rows:
        out += ["### Does the removal leak the label?", "",
                "Each ROAR model (retrained at k) scored on three versions of the test sentences: reduced by the "
                "method's evidence for the class it explained (the ROAR figure above), unreduced, and reduced by "
                "the method's evidence for the *other* class. A model that learnt sentiment from what was left "
                "keeps its accuracy on all three; a model that learnt to read the label off *which* words were "
                f"removed falls below chance ({CHANCE}) on the last two.", "",
                table(["method", "ROAR model on"] + [f"k = {p}%" for p in pcts], leak_rows), ""]
    out += [f"![ROAR curves](img/{ROAR_PNG})", ""]
    return "\n".join(out) + "\n"


def plot_roar(roar: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = [0.0] + list(roar["settings"]["fractions"])
    pcts = [f"{round(100 * f)}" for f in roar["settings"]["fractions"]]
    base = roar["base"]["test_accuracy"]["mean"]
    panels = ("roar", "deletion") + (("roar_on_swapped",) if any("roar_on_swapped" in k for k in
                                                                 roar["methods"].values()) else ())
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels) + 1.5, 3.6), sharey=True)
    for i, (m, kinds) in enumerate(roar["methods"].items()):
        color = f"C{i % 10}"  # 15 methods: the second ten repeat the colours with a dash-dot line
        style = "--" if m == "random" else ("-" if i < 10 else "-.")
        for ax, kind in zip(axes, panels):
            if kind in kinds:
                ys = [base] + [kinds[kind][p]["mean"] for p in pcts]
                ax.plot([100 * f for f in fractions], ys, marker=".", color=color, label=m, linestyle=style)
        if "recursive" in kinds:
            ys = [base] + [kinds["recursive"][p]["mean"] for p in pcts]
            axes[0].plot([100 * f for f in fractions], ys, marker="x", color=color, linestyle=":", alpha=0.8)
    axes[0].set_title("ROAR: retrained (dotted x: recursive)", fontsize=9)
    axes[1].set_title("deletion: base model, no retraining", fontsize=9)
    if len(panels) == 3:
        axes[2].set_title("leakage: ROAR model, other class's evidence removed", fontsize=9)
        axes[2].axhline(CHANCE, color="grey", linewidth=0.8)
    for ax in axes:
        ax.set_xlabel("% of each sentence's words removed", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("test accuracy", fontsize=8)
    axes[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside: 15 methods
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=72)
    plt.close(fig)


# ------------------------------------------------------------------------------ data randomization

def abs_rho(comparison: dict):
    """The mean |ρ| of one comparison (``abs_rho``; older results call it ``abs_spearman``)."""
    return comparison.get("abs_rho", comparison.get("abs_spearman"))


def randomization_section(rand: dict | None) -> str:
    if not rand:
        return ("## Data randomization\n\nNot run yet: `textdeconv randomization` writes "
                "`bench/results/randomization.json`.\n")
    out = ["## Data randomization", "", recorded(rand, "randomization.json"), ""]
    models = rand.get("models", {})
    out += [table(["seed", "real model test acc.", "permuted-label model test acc.", "permuted labels memorised"],
                  [[s, f"{m['real_test_accuracy']:.4f}", f"{m['permuted_test_accuracy']:.4f}",
                    f"{m['permuted_memorised']:.4f}"] for s, m in models.items()]), "",
            f"Each method explains, on both models, the class the real model predicts for "
            f"{rand.get('n_sentences', '?')} test sentences; per sentence Spearman's ρ and the top-"
            f"{round(100 * rand.get('fraction', 0.2))}% overlap between the two score vectors, averaged (mean ± sd "
            "over seeds). High = the explanation barely depends on what the model learnt: the check fails. "
            "*other seed*: the same comparison between two real models of different seeds, the change to expect "
            "from initialisation alone.", ""]
    out += ["Mean |ρ| (the mean of each sentence's |ρ|): a method whose maps flip sign as a whole (one-signed maps "
            "of a logit that changes sign) averages ρ near 0 while ranking the words alike; only a low |ρ| says "
            "the explanation changed, read against the |ρ| between two real models (*other seed*).", "",
            table(["method", "ρ real vs permuted", "\\|ρ\\| real vs permuted", "top-k overlap real vs permuted",
                   "ρ real vs other seed", "\\|ρ\\| real vs other seed", "top-k overlap real vs other seed"],
                  [[f"`{m}`", pm(r["permuted"]["spearman"], 3), pm(abs_rho(r["permuted"]), 3),
                    pm(r["permuted"]["topk_overlap"], 3), pm(r.get("other_seed", {}).get("spearman"), 3),
                    pm(abs_rho(r.get("other_seed", {})), 3), pm(r.get("other_seed", {}).get("topk_overlap"), 3)]
                   for m, r in rand["methods"].items()]), ""]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- new metrics

NEW_METRICS = {"loo_kendall_tau": "LOO τ ↑", "eraser_auprc": "AUPRC ↑", "token_f1": "token-F1 ↑",
               "iou_f1": "IOU-F1 ↑", "infidelity": "infidelity ↓", "max_sensitivity": "max-sens. ↓",
               "max_sensitivity_median": "max-sens. median ↓",
               "independent_max_spearman": "indep. rand. max ρ ↓",
               "independent_max_abs_rho": "indep. rand. max \\|ρ\\| ↓",
               "randomized_all_spearman": "cascading ρ ↓", "randomized_all_abs_rho": "cascading \\|ρ\\| ↓",
               "ms_per_sentence": "ms / sentence ↓"}


def metrics_section(folder: Path) -> str:
    table_path, meta_path = folder / "table.csv", folder / "meta.json"
    if not table_path.is_file():
        return ("## The new metrics on a real model\n\nNot run yet: `python bench/groundtruth_metrics.py` writes "
                f"`{SRC}/{folder.name}/`.\n")
    with open(table_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    m = meta.get("machine", {})

    def fmt(row, col):
        try:
            value = float(row[col])
        except (KeyError, ValueError):
            return "n/a"
        return "n/a" if value != value else (f"{value:.1f}" if col == "ms_per_sentence" else f"{value:.3f}")

    out = ["## The new metrics on a real model", "",
           f"- Source: `{SRC}/{folder.name}/` (`table.csv`, `independent_randomization.csv`, `meta.json`), written "
           f"by `{meta.get('command', '?')}` on {meta.get('date', '?')}; {m.get('cpus', '?')} CPUs.",
           f"- Model `{meta.get('run', '?')}`; {meta.get('sentences', '?')} test sentences; randomization and "
           f"max-sensitivity on the first {meta.get('sanity_n', '?')}; {round(meta.get('seconds_total', 0) / 60, 1)} "
           "min in all." + (f" Note: {meta['note']}." if meta.get("note") else ""), ""]
    cols = [c for c in NEW_METRICS if rows and c in rows[0]]
    out += ["Definitions in [evaluation.md](evaluation.md#more-metrics-issue-25); the full table (old columns "
            "too) is `table.csv`. `ms / sentence` includes tracing, and the first method in the table pays the "
            "shared warm-up.", "",
            table(["method"] + [NEW_METRICS[c] for c in cols], [[f"`{r['method']}`"] + [fmt(r, c) for c in cols]
                                                               for r in rows]), ""]
    stages_path = folder / "independent_randomization.csv"
    if stages_path.is_file():
        with open(stages_path, newline="", encoding="utf-8") as f:
            stages = [r for r in csv.DictReader(f) if r["stage"] != "original"]
        names = list(dict.fromkeys(r["stage"] for r in stages))
        by = {(r["method"], r["stage"]): r for r in stages}
        methods = list(dict.fromkeys(r["method"] for r in stages))
        out += ["Independent randomization, every stage (`independent_randomization.csv`): mean Spearman ρ with "
                "the original explanations when only that layer group is re-drawn. One convolution width alone "
                "leaves the other widths' filters, so those stages stay high for every method and set the "
                "table's maximum; the output layer and the embeddings are where the methods part.", "",
                table(["method"] + [f"`{n}` only" for n in names],
                      [[f"`{m}`"] + [fmt(by[m, n], "spearman_mean") if (m, n) in by else "" for n in names]
                       for m in methods]), ""]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------- reading

def metric_rows(folder: Path) -> dict:
    """{method: {column: float}} of a methods x metrics table.csv; {} without one."""
    path = folder / "table.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        values = {}
        for k, v in r.items():
            try:
                values[k] = float(v)
            except (TypeError, ValueError):
                pass
        out[r["method"]] = values
    return out


def shortcut_reading(gt: dict) -> list[str]:
    """Which methods the shortcut variants (issue 35) separate, and why, computed from the results."""
    rows, methods = gt["rows"], gt["methods"]
    present = [r for r in SHORTCUT_ROWS if rows.get(r, {}).get("status") == "scored"]
    if not present:
        return []
    judged = {m: {r: mean(by[r].get("p_at_k")) for r in present if r in by and by[r].get("p_at_k")}
              for m, by in methods.items() if m != "random" and m not in SIGN_LOTTERY}
    ceiling = sorted(m for m, v in judged.items() if v and min(v.values()) >= 0.9)
    below = {m: sorted((r for r, x in v.items() if x < 0.9), key=lambda r: v[r]) for m, v in judged.items()}
    below = {m: rs for m, rs in below.items() if rs}
    out = [f"- **What the shortcut variants separate.** {len(ceiling)} of {len(judged)} methods (signed "
           f"`gradient` and `random` aside) reach p@k ≥ 0.9 on every one of the {len(present)} rows: "
           + ", ".join(f"`{m}`" for m in ceiling) + "."]
    if below:
        out.append("- Below 0.9 somewhere: " + "; ".join(
            f"`{m}` on " + ", ".join(f"`{r}` {judged[m][r]:.2f}" for r in rs) for m, rs in sorted(below.items()))
            + ". " + ("`gradient-l2` ranks by how far the logit would move if a word's embedding moved (sensitivity), "
                      "not by what the word adds to it; " if "gradient-l2" in below else "")
            + ("`occlusion-window` removes a word with its neighbours, so it credits the words around a cause "
               "as much as the cause." if "occlusion-window" in below else ""))
    alone = []
    for row in ("and", "context"):
        singles = {k[:-len("-alone_flip_rate")]: mean(v) for k, v in rows.get(row, {}).items()
                   if k.endswith("-alone_flip_rate") and mean(v) is not None}
        if row in present and singles:
            alone.append(f"`{row}` {pm(rows[row]['flip_rate'])} with both words, "
                         + ", ".join(f"{w} alone {x:.2f}" for w, x in singles.items()))
    if alone:
        out.append("- **Why the conjunctions stay at the ceiling.** They were meant to need both words, but the "
                   "models learnt no pure conjunction: each word alone already moves a share of the sentences "
                   "to the trigger's class (flip rates: " + "; ".join(alone) + "). A one-layer TextCNN's logit is "
                   "a sum over max-pooled filters, so two words farther apart than the widest filter can only add "
                   "their evidence, and even adjacent words were learnt partly one by one. Each word then carries a "
                   "large share of the logit of its own, and every method that splits the logit into additive "
                   "shares (the deconvnet's class evidence, which equals gradient × input here, integrated "
                   "gradients, occlusion, LRP) ranks both words on top. Separating these methods on a planted "
                   "cause needs a model whose logit is not a sum of per-window evidence (more than one "
                   "convolution layer), not another trigger.")
    return out


def reading(gt, roar, rand, metrics=None) -> str:
    """What the numbers say, each sentence computed from them."""
    out = ["## What the numbers say about deconvnets on text", ""]
    family = ("deconv", "deconv-activation", "deconv-rectified")
    if gt and rand and all(m in gt["methods"] and "token" in gt["methods"][m] and m in rand["methods"]
                           for m in family):
        def fact(m):
            token, neg = gt["methods"][m]["token"], gt["methods"][m].get("negation", {})
            return (f"p@1 {pm(token['p_at_1'])}, counter-class first {pm(token['counter_first'])}"
                    + (f" ({pm(neg['counter_first'])} on the negation)" if neg else "")
                    + f", ρ {mean(rand['methods'][m]['permuted']['spearman']):.2f} against the permuted-label model")
        out.append("- **In short.** The deconvnet's class-evidence signal `deconv` (" + fact("deconv") + ") names "
                   "the planted cause, for the class it decides and not for the other, and depends on what the "
                   "model learnt. Zeiler and Fergus's reconstruction `deconv-activation` (" + fact("deconv-activation")
                   + ") names the same words whatever class is asked about and hardly changes when the labels are "
                   "permuted: it shows what the filters respond to, not what the classifier decided. The rectified "
                   "rule `deconv-rectified` (" + fact("deconv-rectified") + ") sits between the two.")
    if gt:
        token = {m: r["token"] for m, r in gt["methods"].items() if "token" in r}
        lottery = sorted(m for m in token if m in SIGN_LOTTERY)
        token = {m: r for m, r in token.items() if m not in SIGN_LOTTERY}  # in the tables, not the rankings
        found = sorted(m for m, r in token.items() if (mean(r["p_at_1"]) or 0) >= 0.95)
        agnostic = sorted(m for m, r in token.items() if (mean(r["counter_first"]) or 0) >= CLASS_AGNOSTIC)
        flips = ", ".join(f"{row} {pm(r['flip_rate'])}" for row, r in gt["rows"].items())
        out.append(f"- **Every model used its trigger** where the status table says *scored* (flip rates: {flips}).")
        if found:
            out.append(f"- **Finding a single planted token is easy**: {len(found)} of {len(token)} methods put it "
                       f"first in at least 95% of the sentences ({', '.join(f'`{m}`' for m in found)}).")
        misses = sorted(set(token) - set(found) - {"random"})
        if misses:
            out.append("- Below that: " + ", ".join(f"`{m}` (p@1 {pm(token[m]['p_at_1'])})" for m in misses)
                       + "; `random` sits at " + pm(token.get("random", {}).get("p_at_1")) + ".")
        for m in lottery:
            per_seed = gt["methods"][m]["token"]["p_at_1"].get("per_seed") or []
            out.append(f"- `{m}` is in the tables but not in these rankings: it sums the gradient over the embedding "
                       "dimensions, the derivative along one arbitrary direction, whose sign no training fixes "
                       "(p@1 per seed: " + (", ".join(f"{v:.2f}" for v in per_seed) or "n/a") + "). Its unsigned "
                       "form, Grad-L2 (Bastings et al.), is `gradient-l2`.")
        if agnostic:
            out.append(f"- **Class specificity separates the methods.** Asked to explain the *other* class, "
                       f"{', '.join(f'`{m}`' for m in agnostic)} still rank the trigger first in at least "
                       f"{CLASS_AGNOSTIC:.0%} of the sentences: they show what the network reacts to, not what it "
                       "counts for the class asked about. The class-agnostic reconstruction `deconv-activation` "
                       f"does so in {pm(token.get('deconv-activation', {}).get('counter_first'))} of them, the "
                       f"class-evidence `deconv` in {pm(token.get('deconv', {}).get('counter_first'))}.")
        neg = {m: r["negation"] for m, r in gt["methods"].items() if "negation" in r and m not in SIGN_LOTTERY}
        if neg:
            pair = sorted(neg, key=lambda m: -(mean(neg[m]["first"]) or 0))
            out.append("- **Negation** (`not zqx` explained for the class it decides): both words on top in "
                       + ", ".join(f"`{m}` {pm(neg[m]['first'])}" for m in pair if m != "random") + ".")
            flipped = sorted(m for m in neg if m in token and (mean(neg[m]["counter_first"]) or 0) >= CLASS_AGNOSTIC
                             and (mean(token[m]["counter_first"]) or 0) < CLASS_AGNOSTIC)
            if flipped:
                out.append(f"- **Class-specific on one word, not on two**: {', '.join(f'`{m}`' for m in flipped)} "
                           "rank the single trigger last when the other class is explained, yet in the negation "
                           "sentences they put `not`/`zqx` on top for the class the pair voted *against* "
                           f"({', '.join(pm(neg[m]['counter_first']) for m in flipped)}). The rectified rule keeps "
                           "only the filters that speak *for* the class asked about and drops the evidence against "
                           "it, so a word whose net effect is against the class can still top its map; the signed "
                           "methods (`deconv`, `occlusion`) net the two and rank the pair low.")
        positions = [f"position-{w}" for w in ("start", "middle", "end")]
        spread = {m: [mean(r[p]["p_at_1"]) for p in positions if p in r] for m, r in gt["methods"].items()}
        steady = sorted(m for m, v in spread.items() if len(v) == 3 and max(v) - min(v) < 0.05 and m != "random")
        if steady:
            out.append(f"- **Position does not matter**: precision@1 varies by less than 0.05 between a trigger at "
                       f"the start, middle and end of long sentences for {len(steady)} of "
                       f"{len([m for m in spread if m != 'random'])} methods (global max pooling over padded "
                       "windows sees every position alike).")
        if "phrase" in gt["rows"] and "apart_flip_rate" in gt["rows"]["phrase"]:
            apart = {m: mean(r["phrase"].get("apart_false_alarm")) for m, r in gt["methods"].items()
                     if "phrase" in r and r["phrase"].get("apart_false_alarm")}
            worst = sorted((m for m in apart if m != "random"), key=lambda m: -apart[m])[:3]
            out.append(f"- **Word order**: the phrase's words planted apart still flip "
                       f"{pm(gt['rows']['phrase']['apart_flip_rate'])} of the sentences (adjacent: "
                       f"{pm(gt['rows']['phrase']['flip_rate'])}), so the model leans on the n-gram but not only "
                       "on it. On clean sentences with the words apart, the share of |score| they get is highest "
                       f"for {', '.join(f'`{m}` {apart[m]:.2f}' for m in worst)}"
                       + (f" (random: {apart['random']:.2f})" if "random" in apart else "")
                       + ": the class-agnostic and rectified signals light up the trigger's words wherever they "
                       "are, well beyond what they do to the prediction.")
        for row in SHORTCUT_ROWS:
            scored = {m: mean(r[row].get("p_at_k")) for m, r in gt["methods"].items()
                      if row in r and m not in SIGN_LOTTERY and m != "random"}
            scored = {m: v for m, v in scored.items() if v is not None}
            if gt["rows"].get(row, {}).get("status") != "scored" or not scored:
                continue
            hit = sorted(m for m, v in scored.items() if v >= 0.9)
            miss = sorted(m for m, v in scored.items() if v < 0.5)
            out.append(f"- **`{row}`** ({SHORTCUT_ROWS[row]}, flip rate {pm(gt['rows'][row]['flip_rate'])}): "
                       f"p@k ≥ 0.9 for {', '.join(f'`{m}`' for m in hit) or 'no method'}; below 0.5 for "
                       f"{', '.join(f'`{m}` {scored[m]:.2f}' for m in miss) or 'no method'}"
                       + (f"; `random` {mean(gt['methods']['random'][row]['p_at_k']):.2f}"
                          if row in gt["methods"].get("random", {}) else "") + ".")
        out += shortcut_reading(gt)
        same = identical_groups(gt["methods"])
        if same:
            groups = "; ".join(" = ".join(f"`{m}`" for m in g) for g in same)
            lrp_alike = any({"lrp-alpha-beta", "lrp-zplus"} <= set(g) for g in same)
            out.append(f"- **The same numbers** (every metric within 1e-4, every row): {groups}"
                       + ". `deconv` is gradient x input on this architecture (an identity the tests check), and "
                       "with one convolution layer the rectified deconvnet rule and guided backprop coincide"
                       + ("; LRP-αβ with α = 1, β = 0 is not the z+ rule (it keeps the positive bias b⁺ in its "
                          "denominator, z+ does not), but on these models the difference moves no metric by 1e-4"
                          if lrp_alike else "") + ".")
    if roar:
        pcts = [f"{round(100 * f)}" for f in roar["settings"]["fractions"]]
        low, top = pcts[0], pcts[-1]
        kinds = roar["methods"]
        final = {m: mean(k["roar"].get(top)) for m, k in kinds.items() if "roar" in k}
        if final:
            order = sorted(final, key=lambda m: final[m])
            rnd = final.get("random")
            out.append(f"- **ROAR at {top}%** (test accuracy after retraining, lower = the removed words mattered): "
                       + ", ".join(f"`{m}` {final[m]:.3f}" for m in order)
                       + f" (all words: {roar['base']['test_accuracy']['mean']:.3f})"
                       + (roar_against_random(kinds, top) if rnd is not None else "."))
            first = order[0]
            if first in UNSIGNED:
                out.append(f"- Taken at face value, ROAR ranks `{first}` first. Its ranking ignores the sign: it "
                           "removes the sentiment words of both polarities, which starves the retrained model "
                           "without leaving a class-shaped hole in the sentence.")
            rising = [m for m in final if m != "random" and mean(kinds[m]["roar"].get(top)) is not None
                      and mean(kinds[m]["roar"][top]) >= mean(kinds[m]["roar"][low])]
            if rising:
                out.append(
                    f"- **ROAR does not fall for {', '.join(f'`{m}`' for m in rising)}**: from {low}% to {top}% "
                    "removed their retrained accuracy goes "
                    + ", ".join(f"{mean(kinds[m]['roar'][low]):.3f} → {mean(kinds[m]['roar'][top]):.3f}"
                                for m in rising)
                    + " while the same reduced sentences take the unretrained model to "
                    + ", ".join(f"{mean(kinds[m]['deletion'][top]):.3f}" for m in rising) + ".")
            out += leakage_reading(kinds, top)
            rec = {m: mean(k["recursive"].get(top)) for m, k in kinds.items() if "recursive" in k}
            if rec:
                pairs = ", ".join(f"`{m}` {rec[m]:.3f} (plain ROAR {final.get(m, float('nan')):.3f})"
                                  for m in sorted(rec, key=lambda m: rec[m]))
                text = (f"- **Recursive ROAR** (each step re-explained by the model retrained at the step before) "
                        f"at {top}%: {pairs}.")
                below = [m for m in rec if m != "random" and "random" in rec and rec[m] < rec["random"]]
                n_rec = max((kinds[m]["recursive"][top].get("n") or 1) for m in rec)
                if below:
                    text += (" Re-explaining before each removal takes " + ", ".join(f"`{m}`" for m in below)
                             + " below `random`, each step removing the words the model retrained at the step "
                             "before relies on (Madsen et al.'s reason for the recursion)"
                             + (f"; on {n_rec} seed, with no spread to tell a gap from noise." if n_rec == 1 else "."))
                out.append(text)
    if rand:
        rho = {m: mean(r["permuted"]["spearman"]) for m, r in rand["methods"].items()}
        mag = {m: mean(abs_rho(r["permuted"])) for m, r in rand["methods"].items()}
        has_abs = all(v is not None for v in mag.values())
        key = mag if has_abs else rho  # mean |ρ| where recorded: a whole-map sign flip is no change
        sym = "|ρ|" if has_abs else "ρ"
        high = sorted(m for m, v in key.items() if v is not None and v >= 0.5 and m != "random")
        out.append(f"- **Data randomization**: Spearman {sym} between the real and the permuted-label model: "
                   + ", ".join(f"`{m}` {v:.2f}" + (f" (signed ρ {rho[m]:.2f})" if has_abs else "")
                               for m, v in sorted(key.items(), key=lambda kv: -(kv[1] or 0)) if v is not None)
                   + " (`random` is 1 by construction: it never looks at the model)."
                   + (f" At {sym} ≥ 0.5 ({', '.join(f'`{m}`' for m in high)}) the explanation of a model that learnt "
                      "nothing about sentiment still ranks the words much as the real model's does: it says more "
                      "about the sentence and the architecture than about what was learnt." if high else ""))
        other = {m: mean((abs_rho if has_abs else (lambda c: c.get("spearman")))(r.get("other_seed", {})))
                 for m, r in rand["methods"].items()}
        alike = sorted(m for m in high if other.get(m) is not None and key[m] >= other[m] - 0.05)
        if alike:
            out.append("  " + ", ".join(f"`{m}` ({key[m]:.2f} vs {other[m]:.2f})" for m in alike)
                       + " correlate as much with the permuted-label model as with a real model of another "
                       "seed: for them, training on the true labels leaves no trace the check can see.")
        if has_abs:
            flips = sorted(m for m in rho if rho[m] is not None and abs(rho[m]) < 0.1 and key[m] >= 0.5)
            if flips:
                out.append("  " + ", ".join(f"`{m}` (ρ {rho[m]:.2f}, |ρ| {key[m]:.2f})" for m in flips)
                           + ": a signed ρ near 0 with a high |ρ| is a map that flips sign as a whole, not a map "
                           "that changed; it does not pass the check.")
            low = sorted(m for m in key if m != "random" and other.get(m) is not None and key[m] is not None
                         and other[m] - key[m] >= PASS_MARGIN)
            if low:
                out.append("  " + ", ".join(f"`{m}`" for m in low) + f" lose at least {PASS_MARGIN} of mean |ρ| "
                           "against the permuted-label model compared with two real models ("
                           + ", ".join(f"{key[m]:.2f} vs {other[m]:.2f}" for m in low) + "): they pass the check.")
        else:
            low = sorted(m for m, v in rho.items() if v is not None and abs(v) < 0.1 and (other.get(m) or 0) >= 0.2)
            if low:
                out.append("  " + ", ".join(f"`{m}`" for m in low) + " drop to |ρ| < 0.1 against the permuted-label "
                           "model while two real models agree at ρ " + ", ".join(f"{other[m]:.2f}" for m in low)
                           + ": they pass the check.")
        signed_other = {m: mean(r.get("other_seed", {}).get("spearman")) for m, r in rand["methods"].items()}
        unstable = sorted(m for m, v in signed_other.items() if v is not None and abs(v) < 0.2 and m != "random")
        if unstable:
            out.append("  " + ", ".join(f"`{m}` (ρ {signed_other[m]:.2f})" for m in unstable) + " does not even "
                       "agree in sign between two real models, so the check cannot tell what it depends on.")
    if metrics and "deconv" in metrics and "deconv-activation" in metrics:
        def col(name):
            return {m: v[name] for m, v in metrics.items() if name in v and v[name] == v[name]}

        loo, infid, sens = col("loo_kendall_tau"), col("infidelity"), col("max_sensitivity")
        if loo and infid:
            best = sorted(loo, key=lambda m: -loo[m])[:4]
            out.append("- **On the real model**, agreement with leave-one-out (Kendall τ): "
                       + ", ".join(f"`{m}` {loo[m]:.2f}" for m in best) + " (occlusion is leave-one-out on logits "
                       f"rather than probabilities), the class-agnostic `deconv-activation` "
                       f"{loo['deconv-activation']:.2f}. The class evidence also predicts what removing words does "
                       "(infidelity "
                       f"`deconv` {infid['deconv']:.3f} against `deconv-activation` {infid['deconv-activation']:.3f} "
                       f"and `random` {infid.get('random', float('nan')):.3f}); the reconstruction does not.")
        if sens:
            median = col("max_sensitivity_median")
            calm = sorted(sens, key=lambda m: median.get(m, sens[m]))[:3]
            out.append("- **Max-sensitivity rewards not looking**: the steadiest explanations under embedding noise "
                       "are " + ", ".join(f"`{m}` {sens[m]:.3f}" + (f" (median {median[m]:.3f})" if m in median else "")
                                          for m in calm)
                       + "; robustness alone cannot tell an explanation that ignores the model from one that is "
                       "faithful to it." + ("" if median else " (Means only: a few whole-map sign flips can set a "
                                            "mean, and this table has no median column.)"))
    if len(out) == 2:
        out.append("No study has been run yet.")
    return "\n".join(out) + "\n"


def roar_against_random(kinds: dict, top: str) -> str:
    """'; N of M methods fall below `random` by more than a seed sd ...': a gap counts only when it
    is wider than the larger of the two methods' sd over seeds (a tie or a gap inside the seed
    spread is named as such)."""
    rnd = kinds["random"]["roar"][top]
    below, within = [], []
    for m, k in kinds.items():
        got = k.get("roar", {}).get(top)
        if m == "random" or mean(got) is None:
            continue
        spread = max(got.get("sd") or 0.0, rnd.get("sd") or 0.0)
        (below if got["mean"] < rnd["mean"] - spread else within).append(m)
    text = (f"; {len(below)} of {len(below) + len(within)} methods fall below `random` by more than the larger "
            "of the two seed sds")
    if within:
        text += " (within it, or above: " + ", ".join(f"`{m}`" for m in within) + ")"
    return text + "."


def leakage_reading(kinds: dict, top: str) -> list[str]:
    """The leakage check, read: which methods' ROAR models fall below chance when the other class's
    evidence is removed instead (they read the label off the removal), and which do not."""
    swapped = {m: mean(k["roar_on_swapped"].get(top)) for m, k in kinds.items() if "roar_on_swapped" in k}
    swapped = {m: v for m, v in swapped.items() if v is not None}
    if not swapped:
        return []
    full = {m: mean(kinds[m].get("roar_on_full", {}).get(top)) for m in swapped}
    roar = {m: mean(kinds[m]["roar"].get(top)) for m in swapped}
    leak = sorted((m for m, v in swapped.items() if v < CHANCE and full[m] is not None and full[m] < CHANCE),
                  key=lambda m: swapped[m])
    partial = sorted((m for m, v in swapped.items() if m not in leak and v < roar[m] - LEAK_TOLERANCE),
                     key=lambda m: swapped[m])
    kept = sorted((m for m in swapped if m not in leak and m not in partial), key=lambda m: swapped[m])
    out = []
    if leak:
        out.append(
            f"- **The removal leaks the label** (measured, at {top}%): the retrained models of "
            + ", ".join(f"`{m}`" for m in leak) + " score "
            + ", ".join(f"{swapped[m]:.3f}" for m in leak) + " when the words removed from each test sentence are "
            "the evidence for the *other* class, and " + ", ".join(f"{full[m]:.3f}" for m in leak)
            + f" on the unreduced sentences, both below chance ({CHANCE}), against "
            + ", ".join(f"{roar[m]:.3f}" for m in leak) + " on their own reduced test sentences. The signed "
            "ranking removes the words *for* the class and keeps the words against it, so the training sentences "
            "left behind encode the label inverted, and these models learnt that code: they predict the class whose "
            "evidence is missing. This is the class-information leakage through the removal that Rong et al. "
            "(2022) found in image ROAR; for these methods ROAR's accuracy measures the leak, not the explanation.")
    if partial:
        out.append(
            "- A partial leak for " + ", ".join(f"`{m}`" for m in partial) + ": with the other class's evidence "
            "removed their models score " + ", ".join(f"{swapped[m]:.3f}" for m in partial) + f", more than "
            f"{LEAK_TOLERANCE} below their ROAR accuracy (" + ", ".join(f"{roar[m]:.3f}" for m in partial)
            + "), and with every word back " + ", ".join(f"{full[m]:.3f}" for m in partial) + ", not both below "
            "chance: part of what they learnt is the removal.")
    if kept:
        out.append(
            "- No leak for " + ", ".join(f"`{m}`" for m in kept) + ": with the other class's evidence removed "
            "their models score " + ", ".join(f"{swapped[m]:.3f}" for m in kept) + f", within {LEAK_TOLERANCE} of "
            "or above their ROAR accuracy (" + ", ".join(f"{roar[m]:.3f}" for m in kept) + "), and with every "
            "word back " + ", ".join(f"{full[m]:.3f}" for m in kept) + ". Their ROAR figures can be read as Hooker "
            "et al. intended: as the accuracy left after the words they rank first are gone.")
    return out


def identical_groups(methods: dict, tol: float = 1e-4) -> list[list[str]]:
    """Groups of methods whose metric means all agree within ``tol`` on every row (float noise
    aside, the same numbers)."""
    def values(m):
        return {(row, k): v["mean"] for row, r in methods[m].items() for k, v in r.items()
                if isinstance(v, dict) and v.get("mean") is not None}

    groups: list[list[str]] = []
    for m in methods:
        mine = values(m)
        for g in groups:
            theirs = values(g[0])
            if mine.keys() == theirs.keys() and all(abs(mine[k] - theirs[k]) <= tol for k in mine):
                g.append(m)
                break
        else:
            groups.append([m])
    return [g for g in groups if len(g) > 1]


# ------------------------------------------------------------------------------------------- page

def build(results: Path) -> str:
    gt, roar, rand = (load_json(results, n) for n in ("groundtruth.json", "roar.json", "randomization.json"))
    parts = ["# Explanations against ground truth\n\n"
             "<!-- generated by bench/groundtruth_report.py from bench/results/; do not edit: run "
             "`python bench/groundtruth_report.py` -->\n\n"
             "On real data nobody knows which words a model used, so these studies make the answer known: "
             "a cause planted in SST-2 that the model must use (`textdeconv groundtruth`), words removed and the "
             "model retrained (`textdeconv roar`), labels permuted (`textdeconv randomization`). Every figure "
             "here is read from the results file named in its section, with the command, machine and date it "
             "recorded; the designs are in [evaluation.md](evaluation.md#ground-truth-studies-issue-25).",
             groundtruth_section(gt), roar_section(roar), randomization_section(rand),
             metrics_section(results / "metrics-sst2-test"),
             reading(gt, roar, rand, metric_rows(results / "metrics-sst2-test"))]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def figures(results: Path) -> dict:
    """{file name: (plot function, data)} for the studies that have results."""
    out = {}
    gt, roar = load_json(results, "groundtruth.json"), load_json(results, "roar.json")
    if gt and any("token" in r for r in gt["methods"].values()):
        out[RANKS_PNG] = (plot_ranks, gt)
    if roar:
        out[ROAR_PNG] = (plot_roar, roar)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the page is stale or a figure "
                                                        "is missing")
    p.add_argument("--results", default=str(ROOT / "bench" / "results"), help="folder of the results files")
    p.add_argument("--docs", default=str(ROOT / "docs"), help="folder that gets groundtruth.md (figures in img/)")
    args = p.parse_args(argv)
    results, docs = Path(args.results), Path(args.docs)
    if not results.is_dir():
        print(f"error: results folder not found: {results}", file=sys.stderr)
        return 2
    page, page_path = build(results), docs / "groundtruth.md"
    if args.check:
        stale = []
        if not page_path.is_file() or page_path.read_text(encoding="utf-8") != page:
            stale.append(str(page_path))
        stale += [str(docs / "img" / name) for name in figures(results) if not (docs / "img" / name).is_file()]
        if stale:
            print(f"stale: {', '.join(stale)}; run python bench/groundtruth_report.py", file=sys.stderr)
            return 1
        return 0
    docs.mkdir(parents=True, exist_ok=True)
    tmp = page_path.with_name(f".{page_path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, page_path)
    for name, (plot, data) in figures(results).items():
        plot(data, docs / "img" / name)
    print(f"wrote {page_path}" + "".join(f", {docs / 'img' / n}" for n in figures(results)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
