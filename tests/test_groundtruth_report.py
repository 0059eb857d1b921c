"""bench/groundtruth_report.py: docs/groundtruth.md is generated from the studies' results files,
``--check`` notices a stale page, and the committed page is current."""
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "bench" / "groundtruth_report.py"
PLANTED = 0.4321  # a flip rate no study produced: planted into a made-up results file


def run(*args):
    return subprocess.run([sys.executable, str(GENERATOR), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def stat(mean, sd=None, n=3):
    return {"mean": mean, "sd": sd, "n": n, "per_seed": [mean] * n}


def made_up_results(folder: Path) -> Path:
    record = {"command": "textdeconv groundtruth --made-up", "date": "2026-01-01T00:00:00+00:00",
              "machine": {"cpus": 2, "platform": "Linux", "tensorflow": "2.x", "load_average_at_start": [3.0, 3, 3]},
              "seeds": [0, 1, 2], "wall_minutes": 12.5, "minutes": {"training": 8.0, "explaining": 4.0},
              "config": {"model": {"embedding_dim": 300, "filter_sizes": [3, 4, 5], "num_filters": 100}}}
    token = {"p_at_1": stat(1.0, 0.0), "rank": stat(1.0), "counter_first": stat(0.0), "false_alarm": stat(0.04),
             "decoy_first": stat(0.0), "false_alarm_chance": stat(0.05),
             "rank_histogram": {"bins": [str(i) for i in range(1, 10)] + ["10+"], "counts": [9] + [0] * 9}}
    agnostic = {**token, "counter_first": stat(1.0)}
    gt = {**record, "study": "groundtruth",
          "settings": {"fraction": 0.3, "threshold": 0.5, "max_cases": 300, "full_size": True},
          "rows": {"token": {"status": "scored", "flip_rate": stat(PLANTED), "n_scored": [3, 3, 3],
                             "decoy_change_rate": stat(0.01)},
                   "phrase": {"status": "ignored", "flip_rate": stat(0.1), "n_scored": [0, 0, 0],
                              "apart_flip_rate": stat(0.05)}},
          "methods": {"deconv": {"token": token}, "deconv-activation": {"token": agnostic},
                      "random": {"token": {**token, "p_at_1": stat(0.05)}}},
          "sizes": {"train": 6920}}
    roar = {**record, "study": "roar", "seeds": [0], "retrains": 9,
            "settings": {"fractions": [0.1, 0.5], "target": "predicted", "removal": "delete", "full_size": False,
                         "methods_left_out": ["gradient"]},
            "base": {"test_accuracy": stat(0.8)},
            "methods": {"deconv": {"roar": {"10": stat(0.7), "50": stat(0.6)}, "deletion": {"10": stat(0.6),
                                                                                          "50": stat(0.5)},
                                   "recursive": {"10": stat(0.7), "50": stat(0.55)},
                                   "roar_on_full": {"10": stat(0.6), "50": stat(0.37)},
                                   "roar_on_swapped": {"10": stat(0.5), "50": stat(0.24)}},
                        "occlusion": {"roar": {"10": stat(0.7), "50": stat(0.7)}, "deletion": {"10": stat(0.5),
                                                                                             "50": stat(0.3)},
                                      "roar_on_swapped": {"10": stat(0.7), "50": stat(0.62)},
                                      "roar_on_full": {"10": stat(0.7), "50": stat(0.45)}},
                        "random": {"roar": {"10": stat(0.79), "50": stat(0.75)},
                                   "deletion": {"10": stat(0.78), "50": stat(0.7)},
                                   "roar_on_full": {"10": stat(0.79), "50": stat(0.77)},
                                   "roar_on_swapped": {"10": stat(0.79), "50": stat(0.75)}}}}
    rand = {**record, "study": "randomization", "n_sentences": 50, "fraction": 0.2, "settings": {"full_size": True},
            "models": {"0": {"real_test_accuracy": 0.8, "permuted_test_accuracy": 0.5, "permuted_memorised": 0.9}},
            "methods": {"deconv": {"permuted": {"spearman": stat(0.1), "topk_overlap": stat(0.3)}},
                        "random": {"permuted": {"spearman": stat(1.0), "topk_overlap": stat(1.0)}}}}
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("groundtruth.json", gt), ("roar.json", roar), ("randomization.json", rand)):
        (folder / name).write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_page_from_made_up_results_and_check(tmp_path):
    pytest.importorskip("matplotlib")
    results, docs = made_up_results(tmp_path / "results"), tmp_path / "docs"
    mod = runpy.run_path(str(GENERATOR))
    page = mod["build"](results)
    assert f"{PLANTED:.2f}" in page and "textdeconv groundtruth --made-up" in page
    assert "| `token` | scored |" in page and "| `phrase` | ignored |" in page
    assert "reduced size (methods left out: `gradient`; 1 seed(s))" in page  # ROAR says it was not full size
    assert "Not run yet: `python bench/groundtruth_metrics.py`" in page  # no metrics folder: said so
    # the reading is computed: the class-agnostic method is named, the ROAR order and random's share
    assert "`deconv-activation` still rank the trigger first" in page
    assert "`deconv` 0.600, `occlusion` 0.700, `random` 0.750 (all words: 0.800)" in page
    assert "2 of 2 methods fall below `random`" in page
    assert "`random` 1.00, `deconv` 0.10 (`random` is 1 by construction" in page
    # the leakage check: a model below chance on the swapped removal leaks, one at its ROAR accuracy does not
    assert "| `deconv` | other class's evidence removed | 0.5000 | 0.2400 |" in page
    assert "the retrained models of `deconv` score 0.240 when the words removed" in page
    assert "and 0.370 on the unreduced sentences, both below chance (0.5), against 0.600" in page
    assert "- A partial leak for `occlusion`: with the other class's evidence removed their models score 0.620" in page
    assert "more than 0.02 below their ROAR accuracy (0.700), and with every word back 0.450, not both" in page
    assert "- No leak for `random`: with the other class's evidence removed their models score 0.750" in page
    assert run("--check", "--results", results, "--docs", docs).returncode == 1  # nothing written yet
    proc = run("--results", results, "--docs", docs)
    assert proc.returncode == 0, proc.stderr
    for name in ("groundtruth-ranks.png", "roar-curves.png"):
        assert (docs / "img" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run("--check", "--results", results, "--docs", docs).returncode == 0
    gt = json.loads((results / "groundtruth.json").read_text())
    gt["rows"]["token"]["flip_rate"]["mean"] = 0.5
    (results / "groundtruth.json").write_text(json.dumps(gt))
    proc = run("--check", "--results", results, "--docs", docs)
    assert proc.returncode == 1 and "groundtruth.md" in proc.stderr


def test_missing_studies_are_named_not_invented(tmp_path):
    page = runpy.run_path(str(GENERATOR))["build"](tmp_path)
    for fragment in ("Not run yet: `textdeconv groundtruth`", "Not run yet: `textdeconv roar`",
                     "Not run yet: `textdeconv randomization`", "No study has been run yet."):
        assert fragment in page


def test_committed_page_is_current():
    if not (ROOT / "docs" / "groundtruth.md").is_file():
        pytest.skip("docs/groundtruth.md not generated yet")
    copy = ROOT / "bench" / "results"
    assert shutil.which(sys.executable)
    proc = run("--check", "--results", copy)
    assert proc.returncode == 0, proc.stderr  # stale: run `python bench/groundtruth_report.py`


def test_shortcut_rows_render_seed_by_seed_where_the_seeds_disagree():
    mod = runpy.run_path(str(GENERATOR))
    assert mod["shortcut_tables"]({"token": {"status": "scored"}}, {}) == []  # older results: no table
    rows = {"opposing": {"status": "scored", "flip_rate": stat(0.9)}, "and": {"status": "ignored"}}
    methods = {"occlusion": {"opposing": {"p_at_k": {"mean": 1 / 3, "sd": 0.58, "n": 3, "per_seed": [0.0, 1.0, 0.0]},
                                          "rank": stat(2.0), "above_rival": stat(0.5)}},
               "deconv": {}}
    text = "\n".join(mod["shortcut_tables"](rows, methods))
    assert "| `occlusion` | seeds 0.00 / 1.00 / 0.00 / 2.0; above rival 0.50 |" in text
    assert "| `deconv` | — |" in text and "`and`" not in text  # an ignored row is not tabled
    assert mod["seeds_or_mean"](stat(0.8, 0.1)) == "0.80 ± 0.10"


def test_shortcut_reading_names_the_methods_each_row_separates_and_the_single_word_controls():
    mod = runpy.run_path(str(GENERATOR))
    assert mod["shortcut_reading"]({"rows": {"token": {"status": "scored"}}, "methods": {}}) == []
    rows = {"and": {"status": "scored", "flip_rate": stat(0.95), "first-alone_flip_rate": stat(0.42),
                    "second-alone_flip_rate": stat(0.38)},
            "opposing": {"status": "scored", "flip_rate": stat(1.0)}, "context": {"status": "ignored"}}
    methods = {"deconv": {"and": {"p_at_k": stat(1.0)}, "opposing": {"p_at_k": stat(0.95)}},
               "gradient-l2": {"and": {"p_at_k": stat(0.05)}, "opposing": {"p_at_k": stat(1.0)}},
               "gradient": {"and": {"p_at_k": stat(0.0)}},  # the sign lottery is not judged
               "random": {"and": {"p_at_k": stat(0.1)}}}
    text = "\n".join(mod["shortcut_reading"]({"rows": rows, "methods": methods}))
    assert "1 of 2 methods (signed `gradient` and `random` aside) reach p@k ≥ 0.9 on every one of the 2 rows: " \
           "`deconv`." in text
    assert "Below 0.9 somewhere: `gradient-l2` on `and` 0.05." in text and "`gradient` on" not in text
    assert "(flip rates: `and` 0.95 with both words, first alone 0.42, second alone 0.38)" in text
    assert "`context`" not in text  # an ignored row is neither judged nor explained
