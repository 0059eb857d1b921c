"""The ROAD table and its reading, from bench/results/road.json (``textdeconv road``), for
``bench/report.py`` (docs/evaluation.md, between ``<!-- road:begin -->`` and ``<!-- road:end -->``).
Standard library only. The reading is written from the numbers by fixed rules, so it cannot drift
from them:

- a method *differs from* a comparator on an area when its Holm-corrected p < ``ALPHA``; the
  direction is the lean of the signed ranks the test weighs (``w_plus_share`` above or below 0.5:
  the median difference is 0 when most sentences lose the same words under both methods); better
  means a higher MoRF area (its top words mattered more), a lower LeRF area (its bottom words
  mattered less) or a higher gap;
- consistency (Rong et al.'s criterion): the share of method pairs that the MoRF area (high
  first) and the LeRF area (low first) put in the same order.
"""
from __future__ import annotations

ALPHA = 0.05
AREAS = (("aopc_morf", "MoRF area", 1), ("aopc_lerf", "LeRF area", -1), ("gap", "gap", 1))  # (key, name, better sign)


def table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pvalue(p: float) -> str:
    return "p < 1e-4" if p < 1e-4 else f"p = {p:.4f}"


def diff_cell(row: dict | None, n: int) -> str:
    """median [95% CI]; how many sentences differ and the positive share of the signed ranks; Holm p."""
    if not row:
        return ""
    low, high = row["ci95"]
    lean = "" if row.get("w_plus_share") is None else f", W+ {row['w_plus_share']:.0%}"
    return (f"{row['median_diff']:+.3f} [{low:+.3f}, {high:+.3f}]; {row['n_nonzero']:,} of {n:,} "
            f"differ{lean}; {pvalue(row['p_holm'])}")


def markdown(data: dict) -> str:
    s = data["settings"]
    pcts = [f"{round(100 * f)}" for f in s["fractions"]]
    sigma = ", ".join(f"{x:.2g}" for x in data.get("sigma", []))
    out = [f"Model `{s['run']}`, {data['n_sentences']:,} {s['split']} sentences; on the whole sentences accuracy "
           f"{data['full']['accuracy']:.4f} and mean probability of the predicted class "
           f"{data['full']['mean_prob']:.4f}. "
           f"Removal: {s['removal']}; noise sigma {sigma} ({s['noise']} x the embedding table's standard "
           f"deviation), seed {s['seed']}; words ranked for the {s['target']} class. Each cell: accuracy "
           "against the gold labels (mean probability of the originally predicted class). Area: the mean drop "
           "of that probability over the fractions, per sentence, averaged: high for MoRF and low for LeRF is "
           "faithful; gap = MoRF area - LeRF area.", ""]
    rows = []
    for m, r in data["methods"].items():
        for order in ("morf", "lerf"):
            rows.append([f"`{m}`", order.replace("morf", "MoRF").replace("lerf", "LeRF")]
                        + [f"{r[order][p]['accuracy']:.3f} ({r[order][p]['mean_prob']:.3f})" for p in pcts]
                        + [f"{r['aopc_' + order]:.4f}", f"{r['gap']:.4f}" if order == "morf" else ""])
    out += [table(["method", "order"] + [f"k = {p}%" for p in pcts] + ["area", "gap"], rows), ""]
    sig = data.get("significance", {})
    if sig:
        against = list(sig)
        out += [f"Paired per sentence (n = {data['n_sentences']:,}): median of (method - comparator) with a bootstrap "
                "95% interval; how many sentences differ at all and W+, the share of the signed-rank sum on the "
                "method's side (50% = no lean); the Wilcoxon signed-rank p-value (zero differences dropped), "
                "Holm-corrected across the methods (one family per comparator and area).", ""]
        rows = []
        for m in data["methods"]:
            for key, name, _ in AREAS:
                cells = [diff_cell(sig[a][key].get(m), data["n_sentences"]) for a in against]
                if any(cells):
                    rows.append([f"`{m}`", name] + cells)
        out += [table(["method", "area"] + [f"vs `{a}`" for a in against], rows), ""]
    out += [reading(data)]
    return "\n".join(out)


def better(row: dict | None, sign: int) -> bool | None:
    """True / False when the difference is significant (better / worse), None when it is not."""
    if not row or row["p_holm"] >= ALPHA or row.get("w_plus_share") in (None, 0.5):
        return None
    return (row["w_plus_share"] > 0.5) == (sign > 0)


def reading(data: dict) -> str:
    methods, sig = data["methods"], data.get("significance", {})
    lines = ["Reading (generated from the figures above):"]
    morf = sorted(methods, key=lambda m: -methods[m]["aopc_morf"])
    lerf = sorted(methods, key=lambda m: methods[m]["aopc_lerf"])
    lines.append(f"- by MoRF area (best first): {', '.join(f'`{m}`' for m in morf)}; by LeRF area (best first): "
                 f"{', '.join(f'`{m}`' for m in lerf)}.")
    pairs = [(a, b) for i, a in enumerate(morf) for b in morf[i + 1:]]
    agree = sum(lerf.index(a) < lerf.index(b) for a, b in pairs)
    if pairs:
        lines.append(f"- consistency: the two orders agree on {agree} of {len(pairs)} method pairs "
                     f"({agree / len(pairs):.0%}).")
    for against in sig:
        for key, name, sign in AREAS:
            rows = sig[against][key]
            good = [m for m in rows if better(rows[m], sign) is True]
            bad = [m for m in rows if better(rows[m], sign) is False]
            same = [m for m in rows if better(rows[m], sign) is None]
            part = [f"better than `{against}` on the {name}: " + (", ".join(f"`{m}`" for m in good) or "none")]
            if bad:
                part.append("worse: " + ", ".join(f"`{m}`" for m in bad))
            if same:
                part.append("no significant difference: " + ", ".join(f"`{m}`" for m in same))
            lines.append("- " + "; ".join(part) + ".")
    return "\n".join(lines)
