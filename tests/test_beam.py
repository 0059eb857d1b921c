"""Corpus explanation on Apache Beam (textdeconv/reports/beam.py, explain --runner beam), on the
DirectRunner with the tiny trained run.

The rows must equal the single-machine stream's (explain --input FILE --output x.parquet / --csv)
for the same input, block size and batch size: every score bit for bit, because a block is
explained exactly as the stream explains it. Bad lines go to the dead-letter files with file and
line and the pipeline still succeeds; a folder that holds a job is refused unless told, and a failed
pipeline leaves it as it was.
"""
import gzip
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import one_line_error, run_cli
from helpers.exact import raises_exactly

if not os.environ.get("TEXTDECONV_REQUIRE_BEAM"):  # .ci/run sets it: there a missing Beam fails
    pytest.importorskip("apache_beam", reason="Apache Beam is not installed (pip install -e '.[beam]')")

from textdeconv.errors import DataError  # noqa: E402
from textdeconv.reports.export import CSV_COLUMNS  # noqa: E402

CHUNK, BATCH = 3, 4  # small blocks and batches: several of each in a few lines
TEXTS = ["a gripping , funny movie", "a dull , lifeless mess", "warm and engaging", "the plot is thin",
         "great fun", "bad acting , worse script", "a charming film", "tedious and long"]
BAD_UTF8 = "caf\xe9 is bad"  # written as latin-1: byte 0xe9 at column 4 is not UTF-8
NO_TOKENS = "\x00\x01\x02"  # control characters only: no token left


def explain(*args):
    """``textdeconv explain ARGS`` in a subprocess."""
    return run_cli("-m", "textdeconv", "explain", *args)


def corpus(tmp_path) -> Path:
    """a.txt (mixed line ends, blank lines, one undecodable and one token-less line), b.txt.gz."""
    src = tmp_path / "corpus"
    src.mkdir()
    a = [TEXTS[0], "", TEXTS[1], BAD_UTF8, TEXTS[2], NO_TOKENS, "   ", TEXTS[3], TEXTS[4], TEXTS[5], TEXTS[6]]
    ends = ["\n", "\r\n", "\r", "\n"]
    (src / "a.txt").write_bytes(b"".join((t + ends[k % 4]).encode("latin-1") for k, t in enumerate(a)))
    with gzip.open(src / "b.txt.gz", "wb") as f:
        f.write("\n".join(TEXTS[::-1] + TEXTS[:3]).encode())  # no final newline
    return src


def streamed(run, path: Path, out: Path, fmt: str = "parquet") -> pd.DataFrame:
    """The single-machine stream's rows for one file (ParquetJob, or ExplainJob for CSV)."""
    from textdeconv.api import Run
    from textdeconv.reports.parquet import ParquetJob
    from textdeconv.reports.stream import ExplainJob, job_settings

    job = (ParquetJob if fmt == "parquet" else ExplainJob)(path, out, job_settings(run, "deconv", {}),
                                                          chunk_lines=CHUNK, batch_size=BATCH)
    job.run(Run(run).explainer("deconv"))
    return read(out, fmt)


def read(path, fmt: str = "parquet") -> pd.DataFrame:
    """Rows with plain dtypes (categoricals as strings); CSV with its sentence on every row."""
    if fmt == "parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, keep_default_na=False, dtype={"sentence": str, "token": str, "score": str})
        first = frame["sentence"].where(frame["token_index"] == 0)
        frame["sentence"] = first.groupby(frame["sentence_id"]).transform("first")
    frame = frame.astype({c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})
    return frame.astype({"token_index": "int64"})


def beam_rows(out: Path, fmt: str = "parquet") -> pd.DataFrame:
    files = sorted(out.glob(f"tokens-*.{fmt}"))
    assert files, f"no token shards in {out}: {sorted(p.name for p in out.iterdir())}"
    frame = pd.concat([read(f, fmt) for f in files], ignore_index=True)
    return frame.sort_values(["sentence_id", "token_index"], ignore_index=True)


def dead_letters(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(out.glob("dead-letter-*.jsonl")) for line in f.read_text().splitlines()]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def job(tiny_run, tmp_path_factory):
    """One Parquet job over the corpus, and the references it is compared with."""
    from textdeconv.reports.beam import explain_corpus

    tmp = tmp_path_factory.mktemp("beam")
    src = corpus(tmp)
    out = tmp / "out"
    manifest = explain_corpus(tiny_run, str(src / "*"), out, chunk_lines=CHUNK, batch_size=BATCH)
    clean = tmp / "a-clean.txt"  # a.txt with its undecodable line blanked: what the stream can read
    clean.write_bytes((src / "a.txt").read_bytes().replace(BAD_UTF8.encode("latin-1"), b" "))
    plain_b = tmp / "b.txt"
    plain_b.write_bytes(gzip.decompress((src / "b.txt.gz").read_bytes()))
    return {"src": src, "out": out, "manifest": manifest, "tmp": tmp,
            "a": streamed(tiny_run, clean, tmp / "a.parquet"), "b": streamed(tiny_run, plain_b, tmp / "b.parquet")}


def test_rows_equal_the_single_machine_stream(job):
    rows = beam_rows(job["out"])
    assert list(rows.columns) == ["sentence_id", "source", "line", *CSV_COLUMNS[1:]]
    for name, file_index in (("a", 0), ("b", 1)):  # sorted matches: a.txt, then b.txt.gz
        mine = rows[rows["source"] == str(job["src"] / ("a.txt" if name == "a" else "b.txt.gz"))]
        ref = job[name]
        assert (mine["sentence_id"] == file_index * 10**12 + mine["line"]).all()
        mine = mine.drop(columns=["source", "line"]).assign(sentence_id=mine["line"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, ref, check_exact=True)  # scores bit for bit
    assert len(rows) == len(job["a"]) + len(job["b"])


def test_bad_lines_go_to_dead_letters_with_file_and_line(job):
    a = str(job["src"] / "a.txt")
    letters = sorted(dead_letters(job["out"]), key=lambda d: d["line"])
    assert [(d["source"], d["line"]) for d in letters] == [(a, 4), (a, 6)]
    assert letters[0]["error"] == f"{a}:4: not valid UTF-8 (byte 0xe9 at column 4)"
    assert letters[0]["text"] == "caf\\xe9 is bad"
    assert letters[1]["error"] == "no tokens after removing control characters"


def test_manifest_counts_every_line_sentence_row_and_dead_letter(job):
    m = job["manifest"]
    assert json.loads((job["out"] / "manifest.json").read_text()) == m
    assert (m["lines"], m["dead_letters"]) == (11 + 11, 2)  # a.txt: 11 lines; b.txt.gz: 11 (no final newline)
    assert m["sentences"] == job["a"]["sentence_id"].nunique() + job["b"]["sentence_id"].nunique() == 7 + 11
    assert m["rows"] == len(job["a"]) + len(job["b"])
    assert m["inputs"] == [str(job["src"] / "a.txt"), str(job["src"] / "b.txt.gz")]
    assert sorted(p.name for p in job["out"].iterdir()) == sorted(m["files"] + ["manifest.json"])
    assert (m["method"], m["options"], m["chunk_lines"], m["batch_size"]) == ("deconv", {"saliency": "dot"}, 3, 4)


def test_a_folder_holding_a_job_is_refused_unless_overwrite(job, tiny_run, tmp_path):
    from textdeconv.errors import OutputError
    from textdeconv.reports.beam import explain_corpus

    out = tmp_path / "out"
    shutil.copytree(job["out"], out)
    before = snapshot(out)
    first = sorted(p.name for p in out.iterdir())[0]  # the folder holds the job's files alone
    with raises_exactly(OutputError, f"{out} already holds a job's files ({first}, ...); pass --overwrite to replace "
                        "them (after the new job succeeds) or pick another folder"):
        explain_corpus(tiny_run, str(job["src"] / "*"), out, chunk_lines=CHUNK, batch_size=BATCH, fmt="csv")
    assert snapshot(out) == before
    manifest = explain_corpus(tiny_run, str(job["src"] / "a.txt"), out, chunk_lines=CHUNK, batch_size=BATCH,
                              fmt="csv", overwrite=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(manifest["files"] + ["manifest.json"])  # no Parquet shard of the old job is left
    assert all(n.endswith((".csv", ".jsonl", ".json")) for n in names)
    csv = beam_rows(out, "csv").drop(columns=["source", "line"])
    ref = streamed(tiny_run, job["tmp"] / "a-clean.txt", tmp_path / "a.csv", fmt="csv")
    pd.testing.assert_frame_equal(csv, ref, check_exact=True)  # the same text, score digits included


def test_a_failed_pipeline_leaves_the_folder_as_it_was(job, tiny_run, tmp_path):
    from textdeconv.reports.beam import explain_corpus

    broken = tmp_path / "run"
    shutil.copytree(tiny_run, broken)
    (broken / "model.keras").write_bytes(b"not a zip file")
    out = tmp_path / "out"
    shutil.copytree(job["out"], out)
    before = snapshot(out)
    # the run is loaded once before the pipeline starts: the loader's own one-line error, no Beam step
    with raises_exactly(DataError, f"{broken / 'model.keras'} could not be loaded: the file is corrupt or was not "
                        "written by textdeconv (not a zip archive, which a .keras file is); train the run again, or "
                        "restore the file"):
        explain_corpus(broken, str(job["src"] / "*"), out, chunk_lines=CHUNK, overwrite=True)
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted(before)


def test_a_truncated_gzip_keeps_what_was_read_and_names_the_line(tiny_run, tmp_path):
    from textdeconv.reports.beam import explain_corpus

    src = tmp_path / "c.txt.gz"
    data = gzip.compress(("\n".join(TEXTS * 400) + "\n").encode())
    src.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    m = explain_corpus(tiny_run, src, out, chunk_lines=CHUNK)
    [letter] = dead_letters(out)
    assert letter["source"] == str(src) and letter["line"] == m["lines"] + 1
    assert letter["error"].startswith(f"{src}: cannot read past line {m['lines']}: ")
    assert 0 < m["sentences"] <= m["lines"] < 3200


def test_several_worker_processes_give_the_same_rows(job, tiny_run, tmp_path):
    from textdeconv.reports.beam import explain_corpus

    out = tmp_path / "out"
    explain_corpus(tiny_run, str(job["src"] / "*"), out, chunk_lines=CHUNK, batch_size=BATCH,
                   pipeline_args=["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"])
    pd.testing.assert_frame_equal(beam_rows(out), beam_rows(job["out"]), check_exact=True)


def test_cli_passes_beam_options_after_dashdash(job, tiny_run, tmp_path):
    out = tmp_path / "out"
    proc = explain("--run", str(tiny_run), "--input", str(job["src"] / "*.txt"), "--output", str(out),
                   "--runner", "beam", "--chunk-size", str(CHUNK), "--batch-size", str(BATCH),
                   "--", "--direct_num_workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out} (7 sentences, " in proc.stderr and "2 dead letters in dead-letter-*.jsonl" in proc.stderr
    ref = job["a"]
    rows = beam_rows(out).drop(columns=["source", "line"])
    pd.testing.assert_frame_equal(rows, ref, check_exact=True)
    again = explain("--run", str(tiny_run), "--input", str(job["src"] / "*.txt"), "--output", str(out),
                    "--runner", "beam")
    one_line_error(again, "already holds a job's files")
    bad = explain("--run", str(tiny_run), "--input", str(tmp_path / "none-*.txt"), "--output",
                  str(tmp_path / "o2"), "--runner", "beam")
    one_line_error(bad, "no file matches")
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("args, message", [
    (["--runner", "beam", "--output", "o"], "--runner beam needs --input PATTERN"),
    (["--runner", "beam", "--input", "x.txt", "--output", "o", "--json"], "--json cannot be used with it"),
    (["--runner", "beam", "--input", "x.txt"], "needs one output folder"),
    (["--runner", "beam", "--input", "x.txt", "--output", "o", "--csv", "c"], "needs one output folder"),
    (["--input", "x.txt", "--csv", "c.csv", "--overwrite"], "--overwrite goes with --runner beam"),
    (["--runner", "beam", "--input", "x.txt", "--output", "o", "--direct_num_workers"],
     "unrecognized arguments: --direct_num_workers"),
    (["--runner", "beam", "--input", "x.txt", "--output", "o", "a sentence"], "Beam's own options go after '--'"),
])
def test_cli_refuses_what_beam_cannot_do(args, message, tmp_path):
    proc = explain(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
