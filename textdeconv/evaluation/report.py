"""Every method through every metric on one model and split: the methods x metrics table.

Used by ``textdeconv evaluate``; callable from Python for custom studies (``evaluate_run``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from textdeconv.attribution.perturb import Perturber
from textdeconv.evaluation.agreement import loo_agreement
from textdeconv.evaluation.faithfulness import deletion_insertion, eraser
from textdeconv.evaluation.plausibility import plausibility
from textdeconv.evaluation.rationales import eraser_plausibility
from textdeconv.evaluation.robustness import infidelity, max_sensitivity, mufidelity
from textdeconv.evaluation.sanity import cascading_randomization, class_sensitivity, independent_randomization

# columns of the summary table, with the direction that means "better"
COLUMNS = {
    "comprehensiveness_aopc": "higher", "sufficiency_aopc": "lower",
    "deletion_morf_auc": "lower", "deletion_lerf_auc": "higher", "insertion_auc": "higher",
    "plausibility_ap": "higher", "plausibility_auroc": "higher", "sign_agreement": "higher",
    "randomized_logits_spearman": "lower", "randomized_all_spearman": "lower",
    "class_spearman": "lower", "sentences_per_s": "higher",
    # issue 25: ferret's LOO agreement, ERASER's rationale scores, Yeh et al.'s robustness, the
    # independent layer randomization and the explaining time per sentence
    "loo_kendall_tau": "higher", "eraser_auprc": "higher", "token_f1": "higher", "iou_f1": "higher",
    "infidelity": "lower", "mufidelity": "higher",  # issue 34: Bhatt et al.'s MuFidelity beside infidelity
    "max_sensitivity": "lower", "independent_max_spearman": "lower",
    "ms_per_sentence": "lower",
    # issue 35: mean |rho| beside each signed mean rho (a map whose sign flips whole averages to
    # rho ~ 0 while ranking the words alike), and the median beside the mean of max-sensitivity
    "randomized_logits_abs_rho": "lower", "randomized_all_abs_rho": "lower", "class_abs_rho": "lower",
    "independent_max_abs_rho": "lower", "max_sensitivity_median": "lower",
}


@dataclass
class Report:
    table: pd.DataFrame                              # one row per method, COLUMNS
    curves: dict = field(default_factory=dict)        # method -> {"fractions", "morf", "lerf", "insertion"}
    randomization: dict = field(default_factory=dict) # method -> DataFrame of stages
    independent: dict = field(default_factory=dict)   # method -> DataFrame of independently randomized stages
    seconds: dict = field(default_factory=dict)       # method -> wall seconds for all its metrics


def evaluate_methods(net, vocab, class_names, sentences, word_labels, methods, *, replacement="pad",
                     sanity_n=200, positive_class=None, method_options=None, progress=None, seed=0,
                     sensitivity_samples=10) -> Report:
    """Evaluate attribution methods on the same model and sentences.

    Args:
        sentences: token lists; word_labels: per sentence, the treebank label (0-4) of each word.
        methods: registry names (see ``textdeconv.attribution.method_names``).
        replacement: how removed tokens are replaced in the faithfulness metrics (pad/unk/delete).
        sanity_n: sentences used by the randomization, class-sensitivity and max-sensitivity
            checks (the first n).
        positive_class: class index whose explanations are scored for sign agreement.
        method_options: {method: {option: value}} passed to the method's constructor.
        progress: optional callable(step_name) called after each step.
        sensitivity_samples: noise draws of max-sensitivity (Captum's default 10); each builds
            and runs the method once more on the sanity sentences.
    """
    from textdeconv.attribution import make_explainer

    method_options = method_options or {}
    perturber = Perturber(net, replacement)
    rows, report = [], Report(table=pd.DataFrame())
    subset = sentences[:sanity_n]
    classes = (0, len(class_names) - 1)
    for name in methods:
        make = lambda n, _name=name: make_explainer(_name, n, vocab, class_names, **method_options.get(_name, {}))
        explainer = make(net)
        t0 = time.perf_counter()
        expls = explainer.explain(sentences)
        explain_s = time.perf_counter() - t0
        faith = eraser(expls, perturber)
        curves = deletion_insertion(expls, perturber)
        plaus_expls = expls if positive_class is None else explainer.explain(sentences, target=positive_class)
        plaus = plausibility(plaus_expls, word_labels, positive_class)
        rationale = eraser_plausibility(expls, word_labels)
        loo = loo_agreement(expls, perturber)
        infid = infidelity(expls, perturber, seed=seed)
        mufid = mufidelity(expls, perturber, seed=seed)
        _step(progress, f"{name}: faithfulness, plausibility")
        rand = cascading_randomization(net, make, subset, seed=seed)
        indep = independent_randomization(net, make, subset, seed=seed)
        sens = class_sensitivity(explainer, subset, *classes)
        robust = max_sensitivity(net, make, subset, n_samples=sensitivity_samples, seed=seed)
        _step(progress, f"{name}: sanity checks")
        report.seconds[name] = round(time.perf_counter() - t0, 2)
        report.curves[name] = {"fractions": curves["fractions"], **curves["curves"]}
        report.randomization[name] = rand
        report.independent[name] = indep
        rows.append({
            "method": name,
            "comprehensiveness_aopc": faith["comprehensiveness_aopc"], "sufficiency_aopc": faith["sufficiency_aopc"],
            "deletion_morf_auc": curves["auc"]["morf"], "deletion_lerf_auc": curves["auc"]["lerf"],
            "insertion_auc": curves["auc"]["insertion"],
            "plausibility_ap": plaus["micro_ap"], "plausibility_auroc": plaus["micro_auroc"],
            "sign_agreement": plaus["sign_agreement"],
            "randomized_logits_spearman": float(rand.set_index("stage").loc["logits", "spearman_mean"]),
            "randomized_all_spearman": float(rand["spearman_mean"].iloc[-1]),
            "class_spearman": sens["spearman_mean"],
            "sentences_per_s": len(sentences) / explain_s,
            "loo_kendall_tau": loo["kendall_tau_mean"], "eraser_auprc": rationale["auprc"],
            "token_f1": rationale["token_f1"], "iou_f1": rationale["iou_f1"],
            "infidelity": infid["infidelity_mean"], "mufidelity": mufid["mufidelity_mean"],
            "max_sensitivity": robust["max_sensitivity_mean"],
            "independent_max_spearman": float(indep["spearman_mean"].iloc[1:].max()),
            "ms_per_sentence": 1000.0 * explain_s / len(sentences),
            "randomized_logits_abs_rho": float(rand.set_index("stage").loc["logits", "abs_spearman_mean"]),
            "randomized_all_abs_rho": float(rand["abs_spearman_mean"].iloc[-1]),
            "class_abs_rho": sens["abs_spearman_mean"],
            "independent_max_abs_rho": float(indep["abs_spearman_mean"].iloc[1:].max()),
            "max_sensitivity_median": robust["max_sensitivity_median"],
            "replacement": replacement,
        })
    report.table = pd.DataFrame(rows)
    return report


def _step(progress, name):
    if progress is not None:
        progress(name)


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table, with each column's better direction in the header."""
    cols = ["method"] + [c for c in COLUMNS if c in table.columns]
    head = [c if c == "method" else f"{c} ({'↑' if COLUMNS[c] == 'higher' else '↓'})" for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        cells = [str(row[c]) if c == "method" else ("n/a" if pd.isna(row[c]) else f"{row[c]:.{digits}f}") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(curves: dict, path, title: str = "") -> None:
    """Deletion (most- and least-relevant first) and insertion curves of every method, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textdeconv.files import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for name, c in curves.items():
        for ax, key in zip(axes, ("morf", "lerf", "insertion")):
            ax.plot(np.asarray(c["fractions"]), np.asarray(c[key]), marker=".", label=name)
    labels = ("deletion, most relevant first (↓ better)", "deletion, least relevant first (↑ better)",
              "insertion, most relevant first (↑ better)")
    for ax, label in zip(axes, labels):
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("fraction of tokens")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability of the explained class")
    axes[2].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def require_sst(cfg, run_dir) -> None:
    """Plausibility needs the treebank's word labels: a run trained on custom data is refused."""
    from textdeconv.errors import DataError

    if cfg.data.dataset == "custom":
        raise DataError(f"{run_dir}: evaluate scores SST runs only (it needs the treebank's phrase labels); "
                        "this run was trained on data.dataset=custom")


def sst_sentences(run, split: str, limit: int | None = None):
    """A run's SST split as ``(token lists, word labels)``: the run's vocab.clean applied to the
    leaves, each piece keeping its leaf's treebank label; at most ``limit`` sentences taken at an
    even stride. Raises DataError for a run not trained on SST (no word labels)."""
    sentences, words, _ = sst_labelled(run, split, limit)
    return sentences, words


def sst_labelled(run, split: str, limit: int | None = None):
    """``sst_sentences`` and each sentence's gold class: ``(token lists, word labels, classes)``."""
    from textdeconv.data.download import ensure_sst
    from textdeconv.data.treebank import map_label, read_trees, subsample
    from textdeconv.data.vocab import clean_aligned
    from textdeconv.evaluation.plausibility import word_labels

    cfg = run.config
    require_sst(cfg, run.path)
    trees = [t for t in read_trees(ensure_sst(cfg.data) / f"{split}.txt")
             if map_label(t.label, cfg.data.dataset) is not None]
    trees = subsample(trees, limit)
    cleaned = [clean_aligned(t.leaves(), word_labels(t), cfg.vocab.clean) for t in trees]
    return [s for s, _ in cleaned], [y for _, y in cleaned], [map_label(t.label, cfg.data.dataset) for t in trees]


def write_report(report: Report, out, meta: dict, title: str = "") -> list[str]:
    """Write a report into the folder ``out``: table.csv, table.md, curves.png, randomization.csv
    (cascading), independent_randomization.csv (when the report has it) and meta.json (``meta``
    plus the seconds per method). Returns the file names written."""
    from pathlib import Path

    from textdeconv.files import atomic_write_json, atomic_write_text
    from textdeconv.reports.export import write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(report.table, out / "table.csv")
    atomic_write_text(out / "table.md", to_markdown(report.table))
    plot_curves(report.curves, out / "curves.png", title=title)
    written = ["table.csv", "table.md", "curves.png"]
    for name, stages_by_method in (("randomization.csv", report.randomization),
                                   ("independent_randomization.csv", report.independent)):
        if not stages_by_method:
            continue
        frames = [df.assign(method=m) for m, df in stages_by_method.items()]
        for frame in frames:
            frame.attrs = {}  # per-sentence correlations ride in attrs; the CSV keeps the stage summaries
        stages = pd.concat(frames, ignore_index=True)
        write_csv(stages[["method"] + [c for c in stages.columns if c != "method"]], out / name)
        written.append(name)
    atomic_write_json(out / "meta.json", {**meta, "seconds_per_method": report.seconds})
    return written + ["meta.json"]
