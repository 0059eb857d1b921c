"""bench/report.py: docs/results.md and the README's results block are generated from
bench/results/, and ``--check`` notices when a committed page no longer matches its figures."""
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "report.py"
PLANTED = 987.65  # the one figure this file knows (no accuracy can be it): planted into a copy of accuracy.json


def report(*args):
    return subprocess.run([sys.executable, str(REPORT), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def readme_block(text: str) -> str:
    return text[text.index("<!-- results:begin -->"):text.index("<!-- results:end -->")]


def test_committed_pages_are_current_and_tensorflow_free():
    code = ("import runpy, sys\n"
            f"sys.argv = [{str(REPORT)!r}, '--check']\n"
            "try:\n"
            f"    runpy.run_path({str(REPORT)!r}, run_name='__main__')\n"
            "except SystemExit as stop:\n"
            "    code = stop.code\n"
            "print('tensorflow' in sys.modules)\n"
            "sys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # stale: run `python bench/report.py`
    assert proc.stdout.strip().splitlines()[-1] == "False"


def copies(tmp_path):
    """Copies of bench/results/, docs/results.md and README.md that the report can be pointed at."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "bench" / "results", results)
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "results.md", tmp_path / "docs" / "results.md")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return results, ["--results", results, "--docs", tmp_path / "docs", "--readme", tmp_path / "README.md"]


def plant(results: Path, shipped: bool) -> str:
    """Set PLANTED as the mean test accuracy of a shipped (no --set/--extend) or an experimental
    entry of the copied accuracy.json; return its key."""
    path = results / "accuracy.json"
    acc = json.loads(path.read_text(encoding="utf-8"))
    for key, entry in acc.items():
        args = shlex.split(entry["command"])
        if ("--set" not in args and "--extend" not in args) == shipped:
            assert entry["test_accuracy_mean"] != PLANTED
            entry["test_accuracy_mean"] = PLANTED
            path.write_text(json.dumps(acc, indent=2), encoding="utf-8")
            return key
    raise AssertionError("accuracy.json has no such entry")


def test_a_changed_headline_figure_makes_both_pages_stale(tmp_path):
    results, paths = copies(tmp_path)
    assert report("--check", *paths).returncode == 0
    plant(results, shipped=True)

    proc = report("--check", *paths)
    assert proc.returncode == 1
    assert "results.md" in proc.stdout and "README.md" in proc.stdout, proc.stdout
    page = (tmp_path / "docs" / "results.md").read_text(encoding="utf-8")
    assert f"**{PLANTED:.2f}**" not in page  # --check writes nothing

    assert report(*paths).returncode == 0
    assert f"**{PLANTED:.2f}**" in (tmp_path / "docs" / "results.md").read_text(encoding="utf-8")
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert f"**{PLANTED:.2f}**" in readme_block(readme)
    before, after = readme.split("<!-- results:begin -->")[0], readme.split("<!-- results:end -->")[1]
    original = (ROOT / "README.md").read_text(encoding="utf-8")
    assert original.startswith(before) and original.endswith(after)  # only the block was rewritten
    assert report("--check", *paths).returncode == 0


def test_an_experiment_goes_to_results_md_only(tmp_path):
    results, paths = copies(tmp_path)
    key = plant(results, shipped=False)

    proc = report("--check", *paths)
    assert proc.returncode == 1
    assert "results.md" in proc.stdout and "README.md" not in proc.stdout, proc.stdout

    assert report(*paths).returncode == 0
    page = (tmp_path / "docs" / "results.md").read_text(encoding="utf-8")
    experiments = page[page.index("### Experiments (not adopted)"):]
    assert f"**{PLANTED:.2f}**" in experiments.split("\n### ")[0]
    assert f"`{key}`" in page
    assert f"**{PLANTED:.2f}**" not in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_abs_rho_comes_from_the_stages_file_only_where_the_table_lacks_it():
    import runpy

    mod = runpy.run_path(str(REPORT))
    stages = [{"method": "a", "stage": "original", "spearman_mean": "1.0", "abs_spearman_mean": "1.0"},
              {"method": "a", "stage": "logits", "spearman_mean": "-0.5", "abs_spearman_mean": "0.7"},
              {"method": "a", "stage": "embeddings", "spearman_mean": "0.0", "abs_spearman_mean": "0.2"},
              {"method": "b", "stage": "logits", "spearman_mean": "0.1", "abs_spearman_mean": ""}]
    rows = [{"method": "a"}, {"method": "b"}, {"method": "c", "randomized_logits_abs_rho": "0.3"}]
    got = mod["with_abs_rho"](rows, stages)
    assert got[0] == {"method": "a", "randomized_logits_abs_rho": "0.7", "randomized_all_abs_rho": "0.2"}
    assert got[1] == {"method": "b"} and got[2] == rows[2]  # nothing recorded: nothing invented
    assert mod["rho_cell"](stages[1]) == "-0.500 (0.700)" and mod["rho_cell"](stages[3]) == "0.100"


def test_plausibility_of_a_phrase_trained_model_carries_its_caveat(tmp_path):
    import runpy

    mod = runpy.run_path(str(REPORT))
    assert mod["trained_on"]({"train_on": "sentences", "run": "builtin:sst2"}) == "sentences"  # recorded wins
    # older evaluations of the bundled model: read from its own config (trained on phrases, leaves included)
    assert mod["trained_on"]({"run": str(ROOT / "textdeconv" / "builtin" / "sst2")}) == "phrases"
    assert mod["trained_on"]({"run": "runs/somewhere"}) is None  # not recorded, not guessed
    folder = tmp_path / "evaluation-x"
    folder.mkdir()
    (folder / "table.csv").write_text("method,comprehensiveness_aopc,plausibility_auroc\ndeconv,0.5,0.75\n")
    for train_on, caveat in (("phrases", True), ("sentences", False)):
        (folder / "meta.json").write_text(json.dumps({"run": "runs/r", "train_on": train_on, "sentences": 3}))
        section, readme = mod["evaluation_section"](folder)
        assert ("- Caveat: plausibility is optimistic here" in section) is caveat
        assert f"- Run `runs/r` (trained on SST {train_on}), " in section  # which model, said in the table
        assert ("plausibility optimistic: the model learnt the word labels)" in readme) is caveat
