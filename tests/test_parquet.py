"""Parquet token rows (textdeconv/reports/parquet.py, explain --output x.parquet): the CSV's rows,
dictionary-encoded; streamed, the same file byte for byte whatever crash, kill or resume comes in
between (as tests/test_stream.py checks for the CSV).

Most tests use the fake explainer (no TensorFlow, instant); the CLI test uses the tiny trained run.
"""
import contextlib
import json
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the child process of the kill test

from conftest import script_in_process  # noqa: E402
from helpers.streaming import FakeExplainer, crash_after_commit, crash_job, kill_and_resume, write_input  # noqa: E402

from textdeconv.reports import parquet  # noqa: E402
from textdeconv.reports.export import CSV_COLUMNS, token_frame  # noqa: E402
from textdeconv.reports.parquet import SCHEMA, ParquetJob, token_table  # noqa: E402
from textdeconv.reports.stream import ExplainJob  # noqa: E402

SETTINGS = {"run": "fake", "method": "fake", "options": {}}
DICTIONARY_COLUMNS = ("sentence", "token", "target", "predicted", "method")


def run_job(src, out, explainer=None, chunk_lines=7, job=ParquetJob, **kw):
    kw.setdefault("batch_size", 4)
    return job(src, out, SETTINGS, chunk_lines=chunk_lines, **kw).run(explainer or FakeExplainer())


def job_files(out):
    return sorted(p.name for p in Path(out).parent.iterdir() if p.name.startswith(Path(out).name))


def parquet_rows(path) -> pd.DataFrame:
    """The file's rows with plain dtypes (categoricals as Python strings, token_index int64)."""
    return plain(pd.read_parquet(path)).astype({"token_index": "int64"})


def full_sentences(frame: pd.DataFrame) -> pd.DataFrame:
    """``token_frame`` / CSV rows with the sentence on every row (the CSV may write it on a
    sentence's first row only)."""
    frame = frame.copy()
    first = frame["sentence"].where(frame["token_index"] == 0)
    frame["sentence"] = first.groupby(frame["sentence_id"]).transform("first").astype(object)
    return frame


def csv_rows(path) -> pd.DataFrame:
    frame = pd.read_csv(path, keep_default_na=False, dtype={c: str for c in ("sentence", "token", "target",
                                                                             "predicted", "method")})
    return full_sentences(frame.astype({"score": "float32"}))


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python strings, whichever dtype pandas chose (object, str, category)."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]
    return frame.astype({c: object for c in text}).reset_index(drop=True)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(plain(a), plain(b), check_exact=True)



# --------------------------------------------------------------------------------------------
# the rows


def test_token_table_holds_the_token_frame_rows_with_dictionary_columns(tmp_path):
    sentences = [["a", "b,c", 'q"uote', "nan"], ["ü"], ["None", "1", "-", "''", ""] * 5, ["good", "film"]]
    expls = FakeExplainer().explain(sentences)
    expls[1].scores = expls[1].scores.astype(np.float64)  # stored as float32 whatever a method returns
    ids, gold = [3, 9, 12, 40], ["positive", "negative", "negative", "positive"]
    table = token_table(expls, ids, gold)
    assert table.schema.remove(table.schema.get_field_index("gold")) == SCHEMA
    assert table.column_names == [*CSV_COLUMNS, "gold"]
    parquet.write_parquet(table, tmp_path / "t.parquet")
    frame = full_sentences(token_frame(expls, ids, gold)).astype({"score": "float32"})
    assert_same_rows(parquet_rows(tmp_path / "t.parquet"), frame)
    assert token_table([], []).schema == SCHEMA and token_table([], []).num_rows == 0
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    encoded = {meta.column(k).path_in_schema: meta.column(k).has_dictionary_page for k in range(meta.num_columns)}
    assert all(encoded[c] for c in DICTIONARY_COLUMNS) and not encoded["score"]


# --------------------------------------------------------------------------------------------
# streamed: the CSV's rows; crash, kill and resume


def test_streamed_parquet_holds_the_streamed_csv_rows(tmp_path):
    src = write_input(tmp_path / "in.txt")
    for chunk_lines in (1, 7, 1000):
        out, csv = tmp_path / f"out{chunk_lines}.parquet", tmp_path / f"out{chunk_lines}.csv"
        warnings, csv_warnings = [], []
        summary = ParquetJob(src, out, SETTINGS, chunk_lines=chunk_lines, batch_size=4).run(
            FakeExplainer(), warn=warnings.append)
        ExplainJob(src, csv, SETTINGS, chunk_lines=chunk_lines, batch_size=4).run(FakeExplainer(),
                                                                                 warn=csv_warnings.append)
        assert_same_rows(parquet_rows(out), csv_rows(csv))
        assert warnings == csv_warnings and any("no word is in the vocabulary" in w for w in warnings)
        assert summary["rows"] == len(parquet_rows(out)) and job_files(out) == [out.name]
        blocks = {(sid - 1) // chunk_lines for sid in parquet_rows(out)["sentence_id"]}
        assert pq.ParquetFile(out).metadata.num_row_groups == len(blocks)  # a row group per block


@pytest.mark.parametrize("crash", ["after_commit", "in_explainer", "before_commit", "while_merging",
                                   "after_publishing"])
def test_a_crash_then_resume_gives_the_uninterrupted_file(tmp_path, monkeypatch, crash):
    src = write_input(tmp_path / "in.txt", n=90)
    reference = tmp_path / "ref.parquet"
    run_job(src, reference)
    out = tmp_path / "out.parquet"
    job = ParquetJob(src, out, SETTINGS, chunk_lines=7, batch_size=4)
    left = ["out.parquet.partial", "out.parquet.progress.json"]
    if crash in ("after_commit", "in_explainer", "before_commit"):  # mid-job: resumed from the files on disk
        crash_job(job, crash, monkeypatch)  # asserts the job died where the crash says
        if crash == "before_commit":  # block 5's segment is on disk but was never committed
            assert out.with_name("out.parquet.partial").stat().st_size > ParquetJob(
                src, out, SETTINGS, chunk_lines=7, batch_size=4, resume=True).state["output_bytes"]  # to drop
    elif crash == "while_merging":  # every block committed; the copy into place dies half-way
        read = parquet.read_segments

        def dying(*args):
            yield next(read(*args))
            raise OSError("simulated crash while merging")

        monkeypatch.setattr(parquet, "read_segments", dying)
        with pytest.raises(OSError, match="^simulated crash while merging$"):
            job.run(FakeExplainer())
        monkeypatch.setattr(parquet, "read_segments", read)
        assert json.loads(out.with_name("out.parquet.progress.json").read_text())["complete"]
    else:  # after_publishing: out.parquet is in place; the partial and progress files are not yet removed
        def dying(path):
            raise OSError("simulated crash after the rename")

        monkeypatch.setattr(parquet, "fsync_path", dying)
        with pytest.raises(OSError, match="^simulated crash after the rename$"):
            job.run(FakeExplainer())
        monkeypatch.undo()
        left = ["out.parquet", *left]
    assert job_files(out) == left
    with pytest.raises(FileExistsError, match="pass --resume to continue it"):
        ParquetJob(src, out, SETTINGS, chunk_lines=7, batch_size=4)
    fake = FakeExplainer()
    summary = run_job(src, out, fake, resume=True)
    assert out.read_bytes() == reference.read_bytes()
    assert job_files(out) == ["out.parquet"] and summary["resumed_at_line"] > 0
    assert sum(fake.calls) < summary["sentences"]  # only the rest was explained


def child(src, out, resume):
    """Entry point of the kill test's child process: a slow job with the fake explainer."""
    ParquetJob(src, out, SETTINGS, chunk_lines=5, batch_size=4, resume=resume).run(FakeExplainer(delay=0.01))


def test_a_killed_process_resumes_to_the_same_file(tmp_path):
    src = write_input(tmp_path / "in.txt", n=150)
    reference, out = tmp_path / "ref.parquet", tmp_path / "out.parquet"
    run_job(src, reference, chunk_lines=5)
    kills, code = kill_and_resume(__file__, src, out, tmp_path / "out.parquet.progress.json")
    assert kills >= 2 and code == 0
    assert out.read_bytes() == reference.read_bytes() and job_files(out) == ["out.parquet"]


def test_an_empty_input_leaves_nothing_blank_blocks_add_no_row_and_damage_is_refused(tmp_path):
    src, out = tmp_path / "blank.txt", tmp_path / "out.parquet"
    src.write_text("\n  \n\t\n")
    with pytest.raises(ValueError, match="no non-empty lines to explain"):
        run_job(src, out)
    assert job_files(out) == []
    src.write_text("\n\n\ngood film\n\n\n")  # blocks 1 and 3 of 3 hold no sentence
    run_job(src, out, chunk_lines=2)
    assert pq.read_schema(out).remove_metadata() == SCHEMA and pq.ParquetFile(out).num_row_groups == 1
    assert parquet_rows(out)[["sentence_id", "token"]].values.tolist() == [[4, "good"], [4, "film"]]
    assert job_files(out) == ["out.parquet"]
    src = write_input(tmp_path / "in.txt", n=40)
    out = tmp_path / "damaged.parquet"
    with pytest.raises(KeyboardInterrupt):
        ParquetJob(src, out, SETTINGS, chunk_lines=7, batch_size=4).run(FakeExplainer(), **crash_after_commit(3))
    partial = out.with_name("damaged.parquet.partial")
    data = bytearray(partial.read_bytes())
    data[0:8] = (10 ** 9).to_bytes(8, "little")  # the first segment's length, garbled
    partial.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged.parquet.partial: damaged at byte 0 .*--restart"):
        run_job(src, out, resume=True)
    assert job_files(out) == ["damaged.parquet.partial", "damaged.parquet.progress.json"]
    run_job(src, out, restart=True)
    assert job_files(out) == ["damaged.parquet"]


# --------------------------------------------------------------------------------------------
# textdeconv explain --output x.parquet with a trained model


def test_cli_output_parquet_streams_resumes_and_equals_the_csv_rows(tiny_run, tmp_path, monkeypatch, capsys):
    from test_train import SENTENCES

    from textdeconv.attribution import make_explainer, method_options
    from textdeconv.reports.stream import job_settings
    from textdeconv.training.rundir import read_run

    rng = random.Random(3)
    words = " ".join(s for _, s in SENTENCES).split() + ["Qwzx", "(", "\"", ","]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 14))) for _ in range(40)]
    lines[3], lines[8], lines[20] = "", "   ", "qwzx vbnm"
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["--run", tiny_run, "--chunk-size", 3, "--batch-size", 2, "--quiet"]

    def explain(*args, stdin=None):
        return script_in_process(monkeypatch, capsys, "explain.py", *common, *args, stdin=stdin)

    code, _, err = explain("--input", src, "--csv", tmp_path / "streamed.csv")
    assert code == 0, err
    code, _, err = explain("--input", src, "--output", tmp_path / "streamed.parquet")
    assert code == 0 and f"wrote {tmp_path / 'streamed.parquet'}" in err, err
    assert_same_rows(parquet_rows(tmp_path / "streamed.parquet"), csv_rows(tmp_path / "streamed.csv"))
    code, _, err = explain("--input", "-", "--output", tmp_path / "memory.parquet", stdin=src.read_bytes())
    assert code == 0, err  # in memory: one row group, the same rows
    assert_same_rows(parquet_rows(tmp_path / "memory.parquet"), parquet_rows(tmp_path / "streamed.parquet"))
    code, _, err = explain("--input", src, "--output", tmp_path / "rows.csv")
    assert code == 2 and "--output takes a .parquet path" in err

    # interrupted here after its second block, resumed by the command
    _, vocab, net, class_names = read_run(tiny_run)
    explainer = make_explainer("deconv", net, vocab, class_names, **method_options("deconv"))
    out = tmp_path / "resumed.parquet"
    with pytest.raises(KeyboardInterrupt):
        ParquetJob(src, out, job_settings(tiny_run, "deconv", method_options("deconv")), chunk_lines=3,
                   batch_size=2).run(explainer, **crash_after_commit(2))
    code, _, err = explain("--input", src, "--output", out)
    assert code == 2 and "an interrupted job is writing" in err and "pass --resume" in err
    code, _, err = explain("--input", src, "--output", out, "--resume")
    assert code == 0 and f"resuming {out} after line 6" in err, err
    assert out.read_bytes() == (tmp_path / "streamed.parquet").read_bytes() and job_files(out) == [out.name]


if __name__ == "__main__":  # the kill test's child process
    with contextlib.suppress(KeyboardInterrupt):
        child(sys.argv[1], sys.argv[2], sys.argv[3] == "1")
