"""scripts/train.py and scripts/explain.py as a user runs them (subprocesses)."""
import json

import pandas as pd
import pytest
import yaml
from conftest import one_line_error
from conftest import run_cli as run
from test_train import SENTENCES, tree


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "data" / "trees").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (tmp / "data" / "trees" / f"{split}.txt").write_text("\n".join(tree(y, s) for y, s in SENTENCES))
    out = tmp / "run"
    proc = run("scripts/train.py", "--config", "tiny.yaml", "--set", f"data.dir={tmp / 'data'}",
               "--set", "train.epochs=3", "--run-dir", str(out), "--offline")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "test: accuracy" in proc.stdout
    (tmp / "train.stdout").write_text(proc.stdout)  # for test_train_output_redirected_is_clean
    (tmp / "train.stderr").write_text(proc.stderr)
    return out


def test_train_output_redirected_is_clean(run_dir):
    """stdout is no terminal here (a pipe, as `train ... > log`): no Keras progress bar with its
    backspaces and escape codes; results on stdout, one plain line per epoch on stderr."""
    stdout, stderr = (run_dir.parent / "train.stdout").read_text(), (run_dir.parent / "train.stderr").read_text()
    for text in (stdout, stderr):
        assert "\b" not in text and "\x1b" not in text and "\r" not in text
    assert stdout.splitlines()[0] == f"run directory: {run_dir}" and "test: accuracy" in stdout
    epochs = [line for line in stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("val_accuracy" in line and line.endswith(" s)") for line in epochs)
    assert not (run_dir / "checkpoints").exists()  # finished: model.keras is the best model


def test_explain_sentences_csv_and_filters(run_dir, tmp_path):
    csv, fcsv = tmp_path / "s.csv", tmp_path / "f.csv"
    proc = run("scripts/explain.py", "--run", str(run_dir), "a gripping, funny movie", "Isn't it dull?",
               "--csv", str(csv), "--filters-csv", str(fcsv))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("predicted: ") == 2 and "\x1b[" not in proc.stdout  # piped: no colour
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["sentence_id", "sentence", "token_index", "token", "in_vocab", "score",
                                   "target", "predicted", "probability", "method"]
    assert frame["token"].tolist() == ["a", "gripping", ",", "funny", "movie", "Is", "n't", "it", "dull", "?"]
    assert frame["sentence_id"].tolist() == [1] * 5 + [2] * 5
    assert frame.loc[frame.token == "gripping", "in_vocab"].item()
    assert not frame.loc[frame.token == "n't", "in_vocab"].item()
    filters = pd.read_csv(fcsv)
    assert len(filters) == 2 * 3 * 8  # sentences x widths x filters (tiny.yaml)
    assert {"sentence_id", "width", "filter", "switch", "ngram", "activation", "contribution"} <= set(filters.columns)


def test_explain_json_target_and_method(run_dir):
    proc = run("scripts/explain.py", "--run", str(run_dir), "great fun", "--json", "--target", "negative",
               "--method", "deconv-rectified")
    assert proc.returncode == 0, proc.stderr
    (item,) = json.loads(proc.stdout)
    assert item["tokens"] == ["great", "fun"] and item["target"] == "negative"
    assert item["method"] == "deconv-rectified" and len(item["scores"]) == 2


def test_explain_typed_arguments_warn_by_position(run_dir):
    proc = run("scripts/explain.py", "--run", str(run_dir), "great fun", "\x07", "qwzx vbnm")
    assert proc.returncode == 0, proc.stderr
    assert "sentence 2: no tokens after removing control characters; skipped" in proc.stderr
    assert "sentence 3: no word is in the vocabulary" in proc.stderr
    assert proc.stdout.count("predicted: ") == 2


def test_explain_file_with_hard_lines(run_dir, tmp_path):
    # empty lines are skipped, unknown-only lines warn, a 5,000-token line works
    src = tmp_path / "in.txt"
    src.write_text("great fun\n\n   \nqwzx vbnm\n" + " ".join(["dull"] * 5000) + "\n", encoding="utf-8")
    csv = tmp_path / "o.csv"
    proc = run("scripts/explain.py", "--run", str(run_dir), "--input", str(src), "--csv", str(csv), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert f"{src}:4: no word is in the vocabulary" in proc.stderr
    frame = pd.read_csv(csv)
    assert frame.groupby("sentence_id").size().to_dict() == {1: 2, 4: 2, 5: 5000}
    # as the help says: empty and blank lines are skipped silently, only the token-less or unknown ones warn
    warned = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert warned == [f"warning: {src}:4: no word is in the vocabulary; every token is <unk>, so the scores are not "
                      "informative"]
    help_text = run("scripts/explain.py", "--help").stdout
    assert "empty and blank lines are skipped silently" in help_text
    assert "a line left with no token is skipped with a" in help_text


def test_explain_reads_a_process_substitution_and_exits_quietly_on_a_closed_pipe(run_dir, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    csv = tmp_path / "p.csv"
    lines = "great fun\\n\\nthe plot is thin\\n"
    cmd = f"{sys.executable} scripts/explain.py --run {run_dir} --input <(printf '{lines}') --csv {csv} --quiet"
    proc = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(csv).groupby("sentence_id").size().to_dict() == {1: 2, 3: 4}
    proc = subprocess.run(["bash", "-c", cmd + " --resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    one_line_error(proc, "--resume needs a regular input file")

    src = tmp_path / "many.txt"  # enough JSON to fill the pipe, so the write meets the closed end
    src.write_text("a gripping , funny movie that is never dull\n" * 3000)
    reader = subprocess.Popen([sys.executable, "scripts/explain.py", "--run", str(run_dir), "--input", str(src),
                               "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = [reader.stdout.readline() for _ in range(2)]  # as `| head -2`
    reader.stdout.close()
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=300) == 0 and head == [b"[\n", b" {\n"]
    assert err == "", err  # no "error: [Errno 32] Broken pipe", no traceback


def test_explain_stdin(run_dir):
    proc = run("scripts/explain.py", "--run", str(run_dir), "--input", "-", "--json", stdin="warm and engaging\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["tokens"] == ["warm", "and", "engaging"]


def test_explain_bad_inputs_are_one_line_errors(run_dir, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("fine line\ncaf\xe9 au lait\n".encode("latin-1"))
    csv = tmp_path / "never.csv"
    proc = run("scripts/explain.py", "--run", str(run_dir), "--input", str(bad), "--csv", str(csv))
    one_line_error(proc, f"{bad}:2: not valid UTF-8 (byte 0xe9 at column 4)")
    assert not csv.exists()  # nothing half-written
    one_line_error(run("scripts/explain.py", "--run", str(run_dir), "ok", "  "), "sentence argument 2 is empty")
    one_line_error(run("scripts/explain.py", "--run", str(run_dir), "ok", "--target", "neutral"),
                   "unknown target class 'neutral'; choose one of negative, positive")
    one_line_error(run("scripts/explain.py", "--run", str(tmp_path), "ok"),
                   "missing config.yaml, vocab.txt, model.keras")
    one_line_error(run("scripts/explain.py", "--run", str(tmp_path / "nope"), "ok"), "run directory not found")


def test_train_cli_errors(tmp_path):
    one_line_error(run("scripts/train.py", "--config", "tiny.yaml", "--set", "model.filtr_sizes=[3]"),
                   "did you mean 'model.filter_sizes'")
    one_line_error(run("scripts/train.py", "--config", "tiny.yaml", "--set", "train.epochs=three"),
                   "'train.epochs' must be an integer")
    one_line_error(run("scripts/train.py", "--config", "tiny.yaml", "--offline", "--set", f"data.dir={tmp_path}"),
                   "SST trees not found")
    one_line_error(run("scripts/train.py", "--run-dir", str(tmp_path), "--resume"), "nothing to resume")


def test_explain_a_split_adds_gold_labels(run_dir, tmp_path):
    csv = tmp_path / "dev.csv"
    proc = run("scripts/explain.py", "--run", str(run_dir), "--split", "dev", "--csv", str(csv), "--quiet",
               "--method", "deconv-weighted")
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(csv)
    firsts = frame[frame.token_index == 0]
    assert len(firsts) == len(SENTENCES)  # every dev sentence (all 8 are non-neutral)
    assert firsts["gold"].tolist() == ["positive" if y > 2 else "negative" for y, _ in SENTENCES]
    assert set(frame["method"]) == {"deconv-weighted"}


def test_explain_baseline_methods(run_dir):
    def scores(*extra):
        proc = run("scripts/explain.py", "--run", str(run_dir), "a gripping , funny movie", "--json", *extra)
        assert proc.returncode == 0, proc.stderr
        (item,) = json.loads(proc.stdout)
        return item

    deconv, gxi = scores("--method", "deconv"), scores("--method", "grad-x-input")
    assert gxi["method"] == "grad-x-input"
    assert gxi["scores"] == pytest.approx(deconv["scores"], abs=1e-5)  # the identity, end to end
    # --ig-steps and --replacement reach the method: test_api.py holds the CLI's CSV equal to the API's
    proc = run("scripts/explain.py", "--run", str(run_dir), "ok", "--method", "occlusion", "--filters-csv", "f.csv")
    assert proc.returncode == 2 and "--filters-csv needs a deconv method" in proc.stderr
    proc = run("scripts/explain.py", "--run", str(run_dir), "ok", "--method", "lrp")
    assert proc.returncode == 2 and "invalid choice: 'lrp'" in proc.stderr


def test_evaluate_writes_the_table_curves_and_meta(run_dir, tmp_path):
    out = tmp_path / "eval"
    proc = run("scripts/evaluate.py", "--run", str(run_dir), "--split", "dev", "--methods", "deconv", "grad-x-input",
               "occlusion", "random", "--sanity-n", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / "table.csv").set_index("method")
    assert list(table.index) == ["deconv", "grad-x-input", "occlusion", "random"]
    assert set(table["replacement"]) == {"pad"}
    # deconv and gradient x input give the same scores, hence the same faithfulness numbers
    for col in ("comprehensiveness_aopc", "sufficiency_aopc", "deletion_morf_auc", "insertion_auc"):
        assert table.loc["deconv", col] == pytest.approx(table.loc["grad-x-input", col], abs=1e-6)
    # these trees label every word neutral: no sentiment-bearing words, so plausibility is undefined
    assert table["plausibility_auroc"].isna().all()
    md = (out / "table.md").read_text(encoding="utf-8")
    assert "| method | comprehensiveness_aopc (↑)" in md and "| n/a |" in md
    assert proc.stdout == md + "\n"  # `evaluate ... > table.md` is the clean Markdown table, nothing else
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stages = pd.read_csv(out / "randomization.csv")
    assert set(stages["method"]) == set(table.index)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sentences"] == len(SENTENCES) and meta["split"] == "dev" and meta["sanity_n"] == 4
    assert meta["train_on"] == yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["train_on"]
    assert set(meta["seconds_per_method"]) == set(table.index)
    assert "| deconv |" in proc.stdout


def test_evaluate_argument_errors(run_dir, tmp_path):
    proc = run("scripts/evaluate.py", "--run", str(run_dir), "--limit", "0")
    assert proc.returncode == 2 and "--limit must be at least 1" in proc.stderr
    one_line_error(run("scripts/evaluate.py", "--run", str(tmp_path / "nope")), "run directory not found")


@pytest.mark.parametrize("command", __import__("textdeconv.cli", fromlist=["COMMANDS"]).COMMANDS)
def test_every_help_page_ends_with_its_worked_examples(command):
    from textdeconv.cli import build_parser

    text = build_parser().commands[command].format_help().rstrip("\n")
    assert "\nexamples:\n" in text, text[-500:]
    tail = text[text.rindex("\nexamples:\n") + len("\nexamples:\n"):].splitlines()
    assert tail and all(line.startswith("  ") for line in tail), tail  # examples only, nothing after them
    assert tail[0].lstrip().startswith(f"textdeconv {command}")  # the first example is the command itself
