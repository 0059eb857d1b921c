"""Streamed explanation of big files (textdeconv/stream.py, explain.py --input FILE --csv, --resume):
the same bytes as the in-memory path, whatever crashes or resumes come in between.

Most tests use a fake explainer (no TensorFlow, instant); the CLI tests use the tiny trained run.
"""
import contextlib
import inspect
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the child process of the kill test

from conftest import script_in_process  # noqa: E402
from helpers.streaming import CLASSES, FakeExplainer, crash_after_commit, crash_job, kill_and_resume, write_input  # noqa: E402,F401

from textdeconv.data.custom import read_sentences  # noqa: E402
from textdeconv.reports import stream  # noqa: E402
from textdeconv.reports.export import CSV_COLUMNS, token_frame  # noqa: E402
from textdeconv.reports.progress import Progress  # noqa: E402
from textdeconv.reports.stream import ExplainJob, explain_blocks, read_chunks  # noqa: E402

SETTINGS = {"run": "fake", "method": "fake", "options": {}}


def run_job(src, out, explainer=None, chunk_lines=7, **kw):
    kw.setdefault("batch_size", 4)
    return ExplainJob(src, out, SETTINGS, chunk_lines=chunk_lines, **kw).run(explainer or FakeExplainer())


def in_memory_csv(src, explainer, chunk_lines=7, warnings=None):
    """The in-memory path of explain.py: read the whole file, explain in blocks, one write."""
    ids, sentences = stream.tokenize_items(read_sentences(str(src)), explainer.vocab, str(src),
                                           warnings.append if warnings is not None else None)
    frame = token_frame(explain_blocks(explainer, ids, sentences, chunk_lines, batch_size=4), ids)
    return frame.to_csv(index=False).encode("utf-8")


def job_files(out):
    return sorted(p.name for p in Path(out).parent.iterdir() if p.name.startswith(Path(out).name))


# --------------------------------------------------------------------------------------------
# reading and memory


def test_chunks_partition_the_file_like_read_sentences(tmp_path):
    src = write_input(tmp_path / "in.txt", n=100)
    chunks = list(read_chunks(src, 7))
    assert inspect.isgenerator(read_chunks(src, 7))  # lazy: a block at a time
    assert [c.items for c in chunks if c.items] and all(len(c.items) <= 7 for c in chunks)
    assert [item for c in chunks for item in c.items] == read_sentences(str(src))  # same lines, numbers, text
    assert [c.end_line for c in chunks] == [min(7 * (k + 1), 100) for k in range(len(chunks))]
    assert chunks[-1].end_offset == src.stat().st_size
    for k in (3, 9):  # reading on from a block boundary gives the same blocks
        again = list(read_chunks(src, 7, chunks[k - 1].end_offset, chunks[k - 1].end_line))
        assert [(c.index, c.items) for c in again] == [(c.index, c.items) for c in chunks[k:]]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: not valid UTF-8 \(byte 0xe9 at column 4\)"):
        list(read_chunks(bad, 7))


def test_the_explainer_never_sees_more_than_a_chunk_and_reading_stays_a_few_blocks_ahead(tmp_path, monkeypatch):
    """Blocks are read and tokenized in a background thread (stream.prefetch, 2 ahead) while the
    current one is explained: memory stays bounded by a few blocks, never the file."""
    src, out = write_input(tmp_path / "in.txt", n=200), tmp_path / "out.csv"
    progress, seen, lag = tmp_path / "out.csv.progress.json", [], []

    def watched(*args, **kw):
        for chunk in read_chunks(*args, **kw):
            seen.append(chunk)
            yield chunk
            # back here when the reading thread asks for the next block: how far behind are the commits?
            done = json.loads(progress.read_text())["lines_done"] if progress.exists() else 0
            lag.append(sum(c.end_line > done for c in seen))

    monkeypatch.setattr(stream, "read_chunks", watched)
    fake = FakeExplainer()
    summary = run_job(src, out, fake, chunk_lines=16)
    assert max(fake.calls) <= 16 and len(fake.calls) == len(seen) == 13
    assert lag and max(lag) <= 4  # at most: one being explained, two queued, one being read
    assert summary["sentences"] == sum(fake.calls) and job_files(out) == ["out.csv"]


def test_prefetch_keeps_order_raises_in_place_and_stops_its_thread():
    items = iter(range(100))
    assert list(stream.prefetch(items)) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise ValueError("line 3 is bad")

    got = []
    with pytest.raises(ValueError, match="line 3 is bad"):
        for x in stream.prefetch(failing()):
            got.append(x)
    assert got == [1, 2]  # the items before the error, then the error where the third would be

    closed = []

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.append(True)

    gen = stream.prefetch(endless())
    assert [next(gen) for _ in range(5)] == [1, 2, 3, 4, 5]
    gen.close()  # the consumer stops early: the thread stops and closes its source
    assert closed == [True]
    assert not any(t.name == "textdeconv-prefetch" for t in threading.enumerate())


# --------------------------------------------------------------------------------------------
# same bytes as the in-memory path; crash and resume


def test_streamed_csv_equals_the_in_memory_csv(tmp_path):
    src = write_input(tmp_path / "in.txt")
    warnings, streamed = [], []
    for chunk_lines in (1, 7, 1000):
        out = tmp_path / f"out{chunk_lines}.csv"
        ExplainJob(src, out, SETTINGS, chunk_lines=chunk_lines, batch_size=4).run(FakeExplainer(),
                                                                                 warn=streamed.append)
        assert out.read_bytes() == in_memory_csv(src, FakeExplainer(), chunk_lines, warnings)
    assert any("no tokens after removing control characters; skipped" in w for w in warnings)
    assert any("no word is in the vocabulary" in w for w in warnings)
    assert streamed == warnings



@pytest.mark.parametrize("crash", ["after_commit", "in_explainer", "before_commit"])
def test_a_crash_then_resume_gives_the_uninterrupted_bytes(tmp_path, monkeypatch, crash):
    src = write_input(tmp_path / "in.txt", n=90)
    reference = tmp_path / "ref.csv"
    run_job(src, reference)
    out = tmp_path / "out.csv"
    job = ExplainJob(src, out, SETTINGS, chunk_lines=7, batch_size=4)
    crash_job(job, crash, monkeypatch)
    if crash == "before_commit":  # block 5's rows are on disk but were never committed
        with ExplainJob(src, out, SETTINGS, chunk_lines=7, batch_size=4, resume=True) as job:  # closed: unlocked
            assert out.with_name("out.csv.partial").stat().st_size > job.state["output_bytes"]  # rows to drop
    assert job_files(out) == ["out.csv.partial", "out.csv.progress.json"]
    with pytest.raises(FileExistsError, match="pass --resume to continue it, or pass --restart to discard it"):
        ExplainJob(src, out, SETTINGS, chunk_lines=7, batch_size=4)
    fake = FakeExplainer()
    summary = run_job(src, out, fake, resume=True)
    assert out.read_bytes() == reference.read_bytes()
    assert job_files(out) == ["out.csv"] and summary["resumed_at_line"] > 0
    assert sum(fake.calls) < summary["sentences"]  # only the rest was explained


def test_resume_refuses_another_input_or_other_settings(tmp_path):
    src, out = write_input(tmp_path / "in.txt"), tmp_path / "out.csv"
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        ExplainJob(src, out, SETTINGS, resume=True)
    with pytest.raises(KeyboardInterrupt):
        ExplainJob(src, out, SETTINGS, chunk_lines=7).run(FakeExplainer(), **crash_after_commit(2))
    for changed in ({"chunk_lines": 8}, {"target": 1}, {"batch_size": 5}):
        with pytest.raises(ValueError, match="settings differ from the interrupted job's"):
            ExplainJob(src, out, SETTINGS, resume=True, **{"chunk_lines": 7, **changed})
    with pytest.raises(ValueError, match=r"settings differ .*method 'fake' -> 'other'"):
        ExplainJob(src, out, {**SETTINGS, "method": "other"}, chunk_lines=7, resume=True)
    original = src.read_bytes()
    src.write_bytes(original + b"\none more line")
    with pytest.raises(ValueError, match=r"in.txt is not the file the job started on \(size"):
        ExplainJob(src, out, SETTINGS, chunk_lines=7, resume=True)
    src.write_bytes(original.replace(b"good", b"goad", 1))  # same size, other bytes
    with pytest.raises(ValueError, match="head_sha256"):
        ExplainJob(src, out, SETTINGS, chunk_lines=7, resume=True)
    assert job_files(out) == ["out.csv.partial", "out.csv.progress.json"]  # refusing touches nothing


def test_a_version_2_progress_file_is_refused(tmp_path):
    src, out = write_input(tmp_path / "in.txt"), tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        ExplainJob(src, out, SETTINGS, chunk_lines=7).run(FakeExplainer(), **crash_after_commit(2))
    progress = tmp_path / "out.csv.progress.json"
    saved = json.loads(progress.read_text())
    assert saved["format"] == stream.FORMAT == 3
    saved["format"] = 2  # as the versions before 3 wrote it
    progress.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="not a progress file this version can read; pass --restart"):
        ExplainJob(src, out, SETTINGS, chunk_lines=7, resume=True)
    run_job(src, out, restart=True)
    run_job(src, tmp_path / "ref.csv")
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes() and job_files(out) == ["out.csv"]


def child(src, out, resume):
    """Entry point of the kill test's child process: a slow job with the fake explainer."""
    ExplainJob(src, out, SETTINGS, chunk_lines=5, batch_size=4, resume=resume).run(FakeExplainer(delay=0.01))


def test_a_killed_process_resumes_to_the_same_bytes(tmp_path):
    src = write_input(tmp_path / "in.txt", n=150)
    reference, out = tmp_path / "ref.csv", tmp_path / "out.csv"
    ExplainJob(src, reference, SETTINGS, chunk_lines=5, batch_size=4).run(FakeExplainer())
    kills, code = kill_and_resume(__file__, src, out, tmp_path / "out.csv.progress.json")
    assert kills >= 2 and code == 0
    assert out.read_bytes() == reference.read_bytes() and job_files(out) == ["out.csv"]


def test_an_empty_input_leaves_nothing_and_blank_blocks_add_no_row(tmp_path):
    src, out = tmp_path / "blank.txt", tmp_path / "out.csv"
    for empty in (b"", b"\n  \n\t\n"):
        src.write_bytes(empty)
        with pytest.raises(ValueError, match="no non-empty lines to explain"):
            run_job(src, out, chunk_lines=1)
        assert job_files(out) == []  # neither the CSV nor its partial and progress files
    src.write_text("\n\x00\n")
    with pytest.raises(ValueError, match="nothing to explain: every sentence was empty"):
        run_job(src, out)
    assert job_files(out) == []
    src.write_text("\n\n\ngood film\n\n\n")  # blocks 1 and 3 of 3 hold no sentence
    summary = run_job(src, out, chunk_lines=2)
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 3  # the header once, then the sentence's 2 rows
    assert [line.split(",")[:4] for line in lines[1:]] == [["4", "good film", "0", "good"], ["4", "", "1", "film"]]
    assert summary["sentences"] == 1 and summary["rows"] == 2 and job_files(out) == ["out.csv"]


# --------------------------------------------------------------------------------------------
# pieces


def old_token_frame(expls, ids):
    """The per-sentence implementation token_frame replaced (one small frame per sentence), with
    the sentence on its first row only."""
    frames = [pd.DataFrame({"sentence_id": [sid] * len(e.tokens),
                            "sentence": [" ".join(e.tokens)] + [None] * (len(e.tokens) - 1),  # first row only
                            "token_index": np.arange(len(e.tokens)), "token": e.tokens, "in_vocab": e.in_vocab,
                            "score": e.scores, "target": [e.target_name] * len(e.tokens),
                            "predicted": [e.predicted_name] * len(e.tokens),
                            "probability": [e.probability] * len(e.tokens), "method": [e.method] * len(e.tokens)})
              for sid, e in zip(ids, expls)]
    return pd.concat(frames, ignore_index=True)


def test_token_frame_is_the_per_sentence_frame_built_at_once():
    sentences = [["a", "b,c", 'q"uote', "nan"], ["ü"], ["None", "1", "-", "''"] * 5]
    expls = FakeExplainer().explain(sentences)
    expls[1].scores = expls[1].scores.astype(np.float64)  # a mixed batch upcasts the same way
    new, old = token_frame(expls, [3, 9, 12]), old_token_frame(expls, [3, 9, 12])
    assert list(new.dtypes) == list(old.dtypes)
    assert new.to_csv(index=False) == old.to_csv(index=False)


def test_progress_bar_only_on_a_terminal_and_writes_pass_through():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    plain = io.StringIO()
    bar = Progress(2_500_000, 500_000, stream=plain)
    bar.update(1_500_000, 1000)
    bar.close()
    assert plain.getvalue() == ""  # a log file or a pipe gets no bar at all
    tty = Tty()
    bar = Progress(2_500_000, 500_000, stream=tty)
    bar.update(1_500_000, 1000)
    bar.write("warning: x", tty)
    bar.close()
    drawn = tty.getvalue()
    assert "1.50M/2.50M" in drawn and "1,000 sentences" in drawn and "warning: x\n" in drawn
    assert drawn.count("warning: x") == 1


# --------------------------------------------------------------------------------------------
# explain.py with a trained model


script = script_in_process  # conftest: a script in this process, (exit code, stdout, stderr)


def warnings_of(stderr, name):
    return [line.replace(f"{name}:", "INPUT:") for line in stderr.splitlines() if line.startswith("warning: ")]


def test_cli_streams_and_resumes_to_the_in_memory_bytes(tiny_run, tmp_path, monkeypatch, capsys):
    from test_train import SENTENCES

    from textdeconv.attribution import make_explainer, method_options
    from textdeconv.training.rundir import read_run

    rng = random.Random(3)
    words = " ".join(s for _, s in SENTENCES).split() + ["Qwzx", "(", "\"", ","]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 14))) for _ in range(40)]
    lines[3], lines[8], lines[11], lines[20] = "", "   ", "\x00\u200b", "qwzx vbnm"
    src = tmp_path / "in.txt"
    src.write_bytes(("\ufeff" + "\r\n".join(lines[:10]) + "\n" + "\n".join(lines[10:])).encode("utf-8"))
    common = ["--run", tiny_run, "--chunk-size", 3, "--batch-size", 2, "--quiet"]

    code, _, err_memory = script(monkeypatch, capsys, "explain.py", "--input", "-", "--csv", tmp_path / "memory.csv",
                                 *common, stdin=src.read_bytes())
    assert code == 0, err_memory
    code, _, err = script(monkeypatch, capsys, "explain.py", "--input", src, "--csv", tmp_path / "streamed.csv",
                          *common)
    assert code == 0, err
    assert (tmp_path / "streamed.csv").read_bytes() == (tmp_path / "memory.csv").read_bytes()
    assert warnings_of(err, str(src)) == warnings_of(err_memory, "-") and len(warnings_of(err, str(src))) >= 2
    assert "sentences/s" not in err and "explaining" not in err  # stderr is no terminal: no progress bar

    # interrupted in this process (its own explainer) after its third block, resumed by the script
    _, vocab, net, class_names = read_run(tiny_run)
    explainer = make_explainer("deconv", net, vocab, class_names, **method_options("deconv"))
    resumed = tmp_path / "resumed.csv"
    settings = stream.job_settings(tiny_run, "deconv", method_options("deconv"))
    with pytest.raises(KeyboardInterrupt):
        ExplainJob(src, resumed, settings, chunk_lines=3, batch_size=2).run(explainer, **crash_after_commit(3))
    code, _, err = script(monkeypatch, capsys, "explain.py", "--input", src, "--csv", resumed, *common,
                          "--method", "gradient", "--resume")
    assert code == 2 and "settings differ from the interrupted job's (method 'deconv' -> 'gradient'" in err
    code, _, err = script(monkeypatch, capsys, "explain.py", "--input", src, "--csv", resumed, *common)
    assert code == 2 and err.startswith("error: an interrupted job is writing") and "pass --resume" in err
    code, _, err = script(monkeypatch, capsys, "explain.py", "--input", src, "--csv", resumed, *common, "--resume")
    assert code == 0 and f"resuming {resumed} after line 9" in err, err
    assert resumed.read_bytes() == (tmp_path / "memory.csv").read_bytes()
    assert job_files(resumed) == ["resumed.csv"]


# --------------------------------------------------------------------------------------------
# failures: bad input leaves nothing, a kill keeps the job, --restart discards it (issue 22)


def test_bad_input_removes_the_job_and_a_kill_keeps_it(tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.csv"
    src.write_bytes(b"good film\n" * 9 + b"caf\xe9 film\n" + b"bad film\n" * 5)
    with pytest.raises(stream.DataError) as e:  # blocks 1 (lines 1-7) was committed before line 10 failed
        run_job(src, out)
    assert str(e.value).endswith(f"in.txt:10: not valid UTF-8 (byte 0xe9 at column 4); re-encode the file as "
                                 f"UTF-8, or name its encoding with --encoding (e.g. latin-1); {out} was not written")
    assert job_files(out) == []  # nothing to resume (fixing the file changes it): the next run starts clean
    with pytest.raises(stream.DataError):
        run_job(src, out)
    latin = run_job(src, out, encoding="latin-1")
    assert latin["sentences"] == 15 and job_files(out) == ["out.csv"]
    assert "café" in out.read_text(encoding="utf-8")

    out.unlink()
    with pytest.raises(KeyboardInterrupt):  # a kill after block 1: kept for --resume
        ExplainJob(src, out, SETTINGS, chunk_lines=7, batch_size=4, encoding="latin-1").run(
            FakeExplainer(), **crash_after_commit(1))
    assert job_files(out) == ["out.csv.partial", "out.csv.progress.json"]
    with pytest.raises(ValueError, match=r"settings differ .*encoding 'latin-1' -> 'utf-8'.*pass --restart"):
        ExplainJob(src, out, SETTINGS, chunk_lines=7, batch_size=4, resume=True)
    with pytest.raises(ValueError, match="exclude each other"):
        ExplainJob(src, out, SETTINGS, resume=True, restart=True)
    fresh = ExplainJob(src, out, SETTINGS, chunk_lines=7, batch_size=4, encoding="latin-1", restart=True)
    # --restart discarded the interrupted job (the emptied partial file is what the new job's lock holds)
    assert job_files(out) == ["out.csv.partial"] and fresh.start_line == 0
    assert out.with_name("out.csv.partial").stat().st_size == 0
    fresh.run(FakeExplainer())
    reference = tmp_path / "ref.csv"
    run_job(src, reference, encoding="latin-1")
    assert out.read_bytes() == reference.read_bytes()


def test_a_pipe_is_streamed_once_and_cannot_be_resumed(tmp_path):
    import threading

    src = write_input(tmp_path / "in.txt", n=40)
    reference = tmp_path / "ref.csv"
    run_job(src, reference)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="--resume needs a regular input file"):
        ExplainJob(fifo, tmp_path / "out.csv", SETTINGS, resume=True)  # refused before the pipe is opened
    writer = threading.Thread(target=lambda: fifo.write_bytes(src.read_bytes()))
    writer.start()
    job = ExplainJob(fifo, tmp_path / "out.csv", SETTINGS, chunk_lines=7, batch_size=4)
    assert job.input_size is None
    job.run(FakeExplainer())
    writer.join(timeout=10)
    assert (tmp_path / "out.csv").read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "in.txt", "out.csv", "ref.csv"]  # no progress file
    with pytest.raises(FileNotFoundError, match=r"input file .* is a directory; give a file"):
        ExplainJob(tmp_path, tmp_path / "x.csv", SETTINGS)


def test_a_long_sentence_is_written_once_not_on_every_token_row(tmp_path):
    words = ["good", "bad", "film", "a"]
    sentence = [words[k % 4] for k in range(10_000)]
    frame = token_frame(FakeExplainer().explain([sentence, ["a", "film"]]), [1, 2])
    data = frame.to_csv(index=False).encode()
    assert frame["sentence"].notna().tolist() == [True] + [False] * 9_999 + [True, False]
    assert len(data) < len(" ".join(sentence)) + 10_002 * 80  # one sentence plus < 80 bytes a token row
    back = pd.read_csv(io.BytesIO(data))
    assert back["sentence"].ffill().tolist() == [" ".join(sentence)] * 10_000 + ["a film"] * 2


def test_cli_bad_bytes_after_the_first_chunk_then_encoding(tiny_run, tmp_path, monkeypatch, capsys):
    """The issue's recipe: a UTF-8 line, then latin-1 bytes after the first chunk (--chunk-size 8)."""
    from test_train import SENTENCES

    lines = ["ok"] + [s for _, s in SENTENCES] * 2 + ["a café movie , thin"] + [s for _, s in SENTENCES]
    src, csv = tmp_path / "m.txt", tmp_path / "m.csv"
    src.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    args = ["--run", tiny_run, "--input", src, "--csv", csv, "--chunk-size", 8, "--quiet"]
    for _ in range(2):  # the second run is not wedged by the first
        code, _, err = script(monkeypatch, capsys, "explain.py", *args)
        assert code == 2 and err.splitlines()[-1] == (
            f"error: {src}:18: not valid UTF-8 (byte 0xe9 at column 6); re-encode the file as UTF-8, or name its "
            f"encoding with --encoding (e.g. latin-1); {csv} was not written"), err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.txt"]
    code, _, err = script(monkeypatch, capsys, "explain.py", *args, "--resume")
    assert code == 2 and "nothing to resume" in err
    code, _, err = script(monkeypatch, capsys, "explain.py", *args, "--encoding", "latin-1")
    assert code == 0, err
    code, _, err = script(monkeypatch, capsys, "explain.py", *args[:2], "--input", "-", "--csv",
                          tmp_path / "memory.csv", *args[6:], "--encoding", "latin-1", stdin=src.read_bytes())
    assert code == 0, err
    assert csv.read_bytes() == (tmp_path / "memory.csv").read_bytes()  # streamed == in memory, latin-1 too
    assert "café" in csv.read_text(encoding="utf-8")
    code, _, err = script(monkeypatch, capsys, "explain.py", *args, "--encoding", "utf-16")
    assert code == 2 and "must be ASCII-compatible" in err
    code, _, err = script(monkeypatch, capsys, "explain.py", "--run", tiny_run, "--input", tmp_path, "--json")
    assert code == 2 and err == f"error: input file {tmp_path} is a directory; give a file\n"


def test_cli_sigterm_keeps_the_job_and_resume_finishes_it(tiny_run, tmp_path):
    src = tmp_path / "big.txt"
    src.write_text("".join(f"a gripping , funny movie number {k}\n" for k in range(600)))
    args = [sys.executable, "scripts/explain.py", "--run", str(tiny_run), "--input", str(src), "--chunk-size", "2",
            "--quiet", "--csv"]
    reference = subprocess.run([*args, str(tmp_path / "ref.csv")], cwd=ROOT, capture_output=True, text=True,
                               timeout=600)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([*args, str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    progress = tmp_path / "out.csv.progress.json"
    deadline = time.monotonic() + 300
    while proc.poll() is None and not progress.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    code, err = proc.wait(timeout=300), proc.stderr.read()
    assert code == 143 and err.strip().endswith("terminated"), err[-3000:]
    assert job_files(out) == ["out.csv.partial", "out.csv.progress.json"], err[-3000:]  # kept for --resume
    resumed = subprocess.run([*args, str(out), "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes() and job_files(out) == ["out.csv"]


if __name__ == "__main__":  # the kill test's child process
    with contextlib.suppress(KeyboardInterrupt):
        child(sys.argv[1], sys.argv[2], sys.argv[3] == "1")
