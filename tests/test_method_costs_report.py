"""bench/report.py fills docs/perturbation-methods.md's cost table from
bench/results/evaluation-sst2-test-shap-lime/ (never by hand), and keeps it out of the README."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "report.py"
FOLDER = "evaluation-sst2-test-shap-lime"
PLANTED = "98765.4321"  # no time per sentence is this: planted into a copy of the table


def test_the_cost_table_comes_from_the_results_folder(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(ROOT / "bench" / "results", results)
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in ("results.md", "perturbation-methods.md"):
        shutil.copy(ROOT / "docs" / page, docs / page)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    paths = ["--results", str(results), "--docs", str(docs), "--readme", str(tmp_path / "README.md")]

    def run(*args):
        return subprocess.run([sys.executable, str(REPORT), *args, *paths], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    assert run("--check").returncode == 0
    table = results / FOLDER / "table.csv"
    with open(table, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows if r["method"] in ("shap", "lime", "occlusion-window")] == \
        ["occlusion-window", "shap", "lime"]
    next(r for r in rows if r["method"] == "shap")["ms_per_sentence"] = PLANTED
    with open(table, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    proc = run("--check")
    assert proc.returncode == 1 and "perturbation-methods.md" in proc.stdout and "README.md" not in proc.stdout
    assert run().returncode == 0
    page = (docs / "perturbation-methods.md").read_text(encoding="utf-8")
    block = page[page.index("<!-- method-costs:begin -->"):page.index("<!-- method-costs:end -->")]
    shap_row = next(line for line in block.splitlines() if line.startswith("| `shap` |"))
    assert shap_row.split(" | ")[1] == "98,765.43"
    assert f"{FOLDER}" not in (tmp_path / "README.md").read_text(encoding="utf-8")
