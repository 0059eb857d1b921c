"""Never lose a user's file, part two (issue 32): the run folder, Beam's output folder, the API's
writers, stdin as an output, checkpoints; locks against a second writer. Every case compares the
hashes of the user's files and the folder listings before and after."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, script_in_process
from helpers.guard import hashes, listing, one_error_line

from textdeconv.errors import MissingFileError, OutputError

RUN_FILES = ("config.yaml", "vocab.txt", "model.keras")


def textdeconv(*args, stdin=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "textdeconv", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, stdin=stdin, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


# --------------------------------------------------------------------------------------------
# (1) the API's writers refuse the run's own files


@pytest.mark.parametrize("name", RUN_FILES)
@pytest.mark.parametrize("writer", ["save_json", "save_csv"])
def test_the_api_writers_refuse_the_runs_own_files(tiny_run, writer, name):
    import textdeconv as td

    run = td.load_run(tiny_run)
    ex = run.explain(["a dull mess"])
    before, files = listing(tiny_run), hashes(tiny_run, tiny_run.parent / "data")
    with pytest.raises(OutputError, match=f"^{writer}: {tiny_run / name} is the run's {name}$"):
        getattr(ex, writer)(tiny_run / name)
    with pytest.raises(OutputError, match=f"is the run's {name}"):
        getattr(ex[:1], writer)(Path(os.path.relpath(tiny_run / name)))  # a slice keeps its run; a relative path
    assert hashes(tiny_run, tiny_run.parent / "data") == files and listing(tiny_run) == before


def test_the_api_writers_refuse_the_runs_data_files_and_take_path_types_only(tiny_run, tmp_path):
    import textdeconv as td
    from textdeconv.errors import InputError

    ex = td.load_run(tiny_run).explain(["a dull mess"])
    data = tiny_run.parent / "data" / "trees" / "dev.txt"
    files = hashes(data)
    with pytest.raises(OutputError, match=r"^save_csv: .*dev.txt is the SST dev trees$"):
        ex.save_csv(data)
    assert hashes(data) == files
    with pytest.raises(InputError, match=r"^save_json: path must be a file path, got 123$"):
        ex.save_json(123)


# --------------------------------------------------------------------------------------------
# (2) stdin that is a file is an input like any other; '-' is no output name


@pytest.mark.parametrize("option", ["--csv", "--html", "--filters-csv"])
def test_stdin_redirected_from_the_output_file_is_refused(tiny_run, tmp_path, option):
    """``explain --input - --csv in.txt < in.txt``: stdin's file (fstat) is compared with every output."""
    src = tmp_path / "in.txt"
    src.write_text("a gripping , funny movie\nthe plot is thin\n")
    link = tmp_path / "alias.txt"
    os.link(src, link)  # stdin opened through a hard link is the same file
    before, files = listing(tmp_path), hashes(src)
    for given in (src, link):
        with open(given, "rb") as stdin:
            proc = textdeconv("explain", "--run", tiny_run, "--input", "-", option, src, "--quiet", stdin=stdin)
        one_error_line(proc.returncode, proc.stderr, f"{option} {src} is the --input file (standard input)")
    assert hashes(src) == files and listing(tmp_path) == before


@pytest.mark.parametrize("option", ["--csv", "--html", "--filters-csv"])
def test_dash_is_no_output_name(tiny_run, tmp_path, monkeypatch, capsys, option):
    src = tmp_path / "in.txt"
    src.write_text("a gripping , funny movie\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", tiny_run, "--input", src,
                                     option, "-", "--quiet")
    one_error_line(code, err, f"{option} -: '-' is not an output here; give a file path (./- for a file named '-')")
    assert listing(tmp_path) == {"0/in.txt"}


# --------------------------------------------------------------------------------------------
# (4) train --run-dir: a folder that is not a run of ours is never written into


def test_train_refuses_a_folder_that_is_not_a_run(tiny_run, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in (("config.yaml", "my: notes\n"), ("metrics.csv", "a,b\n1,2\n"), ("vocab.txt", "x\n")):
        (mine / name).write_text(text)
    before, files = listing(tmp_path), hashes(tmp_path)
    code, _, err = script_in_process(monkeypatch, capsys, "train.py", "--config", "tiny.yaml", "--offline",
                                     "--set", f"data.dir={tiny_run.parent / 'data'}", "--run-dir", mine)
    one_error_line(code, err, f"--run-dir {mine} is not empty and holds no run (config.yaml, metrics.csv, "
                              "vocab.txt); a new run goes into a new or empty folder")
    assert hashes(tmp_path) == files and listing(tmp_path) == before
    # the Python API, and run_training called directly (no prepare_training), refuse it too
    import textdeconv as td
    from textdeconv.api import run_training

    with pytest.raises(OutputError, match="is not empty and holds no run"):
        td.train("tiny.yaml", mine, overrides={"data.dir": str(tiny_run.parent / "data"), "data.download": False})
    with pytest.raises(OutputError, match="is not empty and holds no run"):
        run_training(td.load_run(tiny_run).config, mine, verbose=0)
    assert hashes(tmp_path) == files and listing(tmp_path) == before


def test_train_refuses_a_finished_run_without_resume(tiny_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    files = hashes(run)
    code, _, err = script_in_process(monkeypatch, capsys, "train.py", "--config", "tiny.yaml", "--offline",
                                     "--set", f"data.dir={tiny_run.parent / 'data'}", "--run-dir", run)
    one_error_line(code, err, f"{run} already holds a run; pass --resume to continue it")
    assert hashes(run) == files


def test_resuming_a_missing_folder_creates_nothing(tmp_path):
    from textdeconv.api import run_training

    with pytest.raises(MissingFileError, match="nothing to resume in .*: no such directory"):
        run_training(None, tmp_path / "none", resume=True)
    assert listing(tmp_path) == set()


# --------------------------------------------------------------------------------------------
# (5) training removes only the checkpoint files it wrote


def test_drop_checkpoints_removes_only_its_own_files(tmp_path):
    from test_train import small_config

    from textdeconv.training.trainer import drop_checkpoints

    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    for name in ("epoch_003.keras", "best_002.keras", "epoch_1000.keras"):
        (ckpt / name).write_bytes(b"ours")
    mine = {"my-model.keras": b"precious", "epoch_3.keras": b"mine too", "notes.txt": b"keep"}
    for name, data in mine.items():
        (ckpt / name).write_bytes(data)
    drop_checkpoints(tmp_path, small_config(tmp_path))
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == mine
    for name in mine:
        (ckpt / name).unlink()
    (ckpt / "epoch_004.keras").write_bytes(b"ours")
    drop_checkpoints(tmp_path, small_config(tmp_path))
    assert listing(tmp_path) == set()  # emptied by it: the folder goes too


def test_a_finishing_training_keeps_the_users_files_in_checkpoints(tiny_run, tmp_path, monkeypatch):
    from test_train import small_config

    import textdeconv.training.trainer as trainer
    from textdeconv.api import run_training

    real = trainer.RunRecorder.on_epoch_end
    mine = {"mine.keras": b"a model of mine", "epoch_7.keras": b"not ours", "notes.txt": b"keep"}

    def user_drops_files(self, epoch, logs=None):  # while training runs, the user puts files in checkpoints/
        real(self, epoch, logs)
        for name, data in mine.items():
            (self.ckpt_dir / name).write_bytes(data)

    monkeypatch.setattr(trainer.RunRecorder, "on_epoch_end", user_drops_files)
    run = tmp_path / "run"
    run_training(small_config(tiny_run.parent / "data", "train.epochs=2"), run, verbose=0)
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == mine


# --------------------------------------------------------------------------------------------
# locks: a second writer is refused with one line naming the first


def _wait_for(path: Path, timeout: float = 120) -> None:
    t0 = time.time()
    while not path.exists():
        assert time.time() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.05)


def paused(go: Path, *args) -> subprocess.Popen:
    """``textdeconv ARGS`` in a child that pauses after its first commit until ``go`` exists."""
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "helpers" / "paused_writer.py"), str(go),
                             "textdeconv", *map(str, args)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, go: Path) -> str:
    go.touch()
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    return err


@pytest.mark.slow
def test_two_streamed_jobs_into_one_csv(tiny_run, tmp_path):
    """While one job streams into a CSV, a second (plain, --resume or --restart) is refused in one
    line naming the first's pid, and touches nothing; the first's CSV is complete and equals an
    uninterrupted run's bytes."""
    src = tmp_path / "in.txt"
    src.write_text("".join(f"a gripping , funny movie number {i}\nthe plot is thin {i}\n" for i in range(50)))
    ref, out, go = tmp_path / "ref.csv", tmp_path / "out.csv", tmp_path / "go"
    common = ["explain", "--run", tiny_run, "--input", src, "--quiet", "--chunk-size", "20", "--no-progress"]
    assert textdeconv(*common, "--csv", ref).returncode == 0
    first = paused(go, *common, "--csv", out)
    try:
        _wait_for(out.with_name("out.csv.progress.json"))
        files = hashes(tmp_path)
        for again in ([], ["--resume"], ["--restart"]):
            second = textdeconv(*common, "--csv", out, *again)
            one_error_line(second.returncode, second.stderr,
                           f"--csv {out} (its out.csv.partial) is being written by another process (pid {first.pid})")
            assert hashes(tmp_path) == files
    finally:
        finish(first, go)
    assert out.read_bytes() == ref.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "in.txt", "out.csv", "ref.csv"]


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    from textdeconv.locks import Lock

    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
                               "os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); "
                               "time.sleep(60)", str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(OutputError, match=rf"^--run-dir the run {folder} is being written by another process "
                                              rf"\(pid {holder.pid}\); wait for it to finish"):
            Lock(folder, f"the run {folder}", "--run-dir").acquire()
    finally:
        holder.kill()
        holder.wait()
    with Lock(folder, "x") as lock:  # released by the kill
        assert lock.fd is not None
    assert listing(tmp_path) == {"0/run"}  # a folder lock leaves no file


@pytest.mark.slow
def test_two_trainings_into_one_run_dir(tiny_run, tmp_path):
    """A second `train --resume` into a run being trained is refused naming the first (a new
    `train` into it is refused as a folder holding a run); the first finishes a complete run."""
    run, go = tmp_path / "run", tmp_path / "go"
    args = ["train", "--config", "tiny.yaml", "--offline", "--run-dir", run]
    for value in (f"data.dir={tiny_run.parent / 'data'}", "data.train_on=sentences", "data.max_train=null",
                  "data.max_eval=null", "train.epochs=2"):
        args += ["--set", value]
    first = paused(go, *args)
    try:
        _wait_for(run / "state.json")
        files = hashes(run)
        second = textdeconv("train", "--run-dir", run, "--resume")
        one_error_line(second.returncode, second.stderr, f"--run-dir the run {run} is being written by another "
                                                         f"process (pid {first.pid}); wait for it to finish")
        second = textdeconv(*args)
        one_error_line(second.returncode, second.stderr, f"{run} already holds a run; pass --resume")
        assert hashes(run) == files
    finally:
        finish(first, go)
    for name in ("config.yaml", "vocab.txt", "model.keras", "metrics.json", "state.json"):
        assert (run / name).is_file()


def test_a_second_job_object_on_one_output_is_refused_until_the_first_ends(tmp_path):
    """In one process too: a job holds its output from construction to the end of ``run``."""
    from helpers.streaming import FakeExplainer, write_input

    from textdeconv.reports.stream import ExplainJob

    SETTINGS = {"run": "fake", "method": "fake", "options": {}}

    src, out = write_input(tmp_path / "in.txt", n=30), tmp_path / "out.csv"
    first = ExplainJob(src, out, SETTINGS, chunk_lines=7)
    with pytest.raises(OutputError, match=rf"^out {out} \(its out.csv.partial\) is being written by another "
                                          "writer in this process"):
        ExplainJob(src, out, SETTINGS, chunk_lines=7, restart=True)
    first.run(FakeExplainer())
    reference = tmp_path / "ref.csv"
    ExplainJob(src, reference, SETTINGS, chunk_lines=7).run(FakeExplainer())
    assert out.read_bytes() == reference.read_bytes()
    with ExplainJob(src, tmp_path / "other.csv", SETTINGS) as job:  # closed unused: it leaves nothing
        assert job.partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv", "ref.csv"]


@pytest.mark.slow
def test_a_closed_stdout_stops_a_streamed_job_non_zero_and_keeps_it_resumable(tiny_run, tmp_path):
    """``explain --input F --csv X | head -0``: exit 141 (128 + SIGPIPE) with one line saying the job is
    kept; --resume then finishes the same bytes as an uninterrupted run."""
    src = tmp_path / "in.txt"
    src.write_text("".join(f"a gripping , funny movie number {i}\nthe plot is thin {i}\n" for i in range(200)))
    ref, out = tmp_path / "ref.csv", tmp_path / "out.csv"
    common = ["explain", "--run", tiny_run, "--input", src, "--chunk-size", "20", "--no-progress"]
    assert textdeconv(*common, "--csv", ref, "--quiet").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "textdeconv", *map(str, common), "--csv", str(out)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader went away before the first line
    _, err = proc.communicate(timeout=300)
    err = err.decode()
    assert proc.returncode == 141, err
    assert err.strip().splitlines()[-1] == (f"error: standard output was closed; the job is kept: rerun with --resume "
                                            f"(and --quiet) to finish {out}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv.partial", "out.csv.progress.json",
                                                          "ref.csv"]
    done = textdeconv(*common, "--csv", out, "--resume", "--quiet")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == ref.read_bytes()


# --------------------------------------------------------------------------------------------
# a full disk is one line, and what was committed stays resumable


def test_a_full_disk_while_streaming_is_one_line_and_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    import errno

    from helpers.streaming import FakeExplainer, write_input

    from textdeconv.reports.stream import ExplainJob

    settings = {"run": "fake", "method": "fake", "options": {}}
    src, out, ref = write_input(tmp_path / "in.txt", n=60), tmp_path / "out.csv", tmp_path / "ref.csv"
    ExplainJob(src, ref, settings, chunk_lines=7).run(FakeExplainer())
    append, calls = ExplainJob._append, []

    def fills_up(f, data):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it: no file name
        append(f, data)

    monkeypatch.setattr(ExplainJob, "_append", staticmethod(fills_up))
    with pytest.raises(OutputError) as e:
        ExplainJob(src, out, settings, chunk_lines=7, option="--csv").run(FakeExplainer())
    assert str(e.value) == (f"--csv {out}: cannot write it (No space left on device); the job is kept: free space "
                            "and rerun with --resume")
    monkeypatch.setattr(ExplainJob, "_append", staticmethod(append))  # space freed
    ExplainJob(src, out, settings, chunk_lines=7, resume=True).run(FakeExplainer())
    assert out.read_bytes() == ref.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv", "ref.csv"]


def test_a_full_disk_writing_an_unnamed_file_is_one_line_naming_the_outputs(tiny_run, tmp_path, monkeypatch, capsys):
    import errno

    import textdeconv.reports.html as html

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name, as write() raises it

    monkeypatch.setattr(html, "write_html", full_disk)
    src = tmp_path / "in.txt"
    src.write_text("a gripping , funny movie\n")
    before = listing(tmp_path)
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", tiny_run, "--input", src, "--csv",
                                     tmp_path / "a.csv", "--html", tmp_path / "p.html", "--quiet")
    one_error_line(code, err, f"cannot write --csv {tmp_path / 'a.csv'}, --html {tmp_path / 'p.html'} (No space "
                              "left on device); nothing was written")
    assert listing(tmp_path) == before


def test_a_progress_file_past_the_inputs_end_or_negative_is_refused(tmp_path):
    import json

    from helpers.streaming import FakeExplainer, crash_after_commit, write_input

    from textdeconv.errors import DataError
    from textdeconv.reports.stream import ExplainJob

    settings = {"run": "fake", "method": "fake", "options": {}}
    src, out = write_input(tmp_path / "in.txt", n=60), tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        ExplainJob(src, out, settings, chunk_lines=7).run(FakeExplainer(), **crash_after_commit(2))
    progress = tmp_path / "out.csv.progress.json"
    saved = json.loads(progress.read_text())
    size = src.stat().st_size
    for change, fragment in (({"input_offset": size + 1}, f"input_offset {size + 1} is past the input's end "
                                                           f"({size} bytes)"),
                             ({"input_offset": -5}, "input_offset"), ({"lines_done": -1}, "lines_done"),
                             ({"rows": "many"}, "rows"), ({"complete": 1}, "complete")):
        progress.write_text(json.dumps({**saved, **change}))
        files = hashes(tmp_path)
        with pytest.raises(DataError) as e:
            ExplainJob(src, out, settings, chunk_lines=7, resume=True)
        assert str(e.value) == (f"{progress} is damaged ({fragment}); pass --restart to discard the interrupted job "
                                "and start over")
        assert hashes(tmp_path) == files


# --------------------------------------------------------------------------------------------
# Ctrl-C while an output is being prepared leaves no hidden temporary file


@pytest.mark.parametrize("where", ["plan", "atomic_path"])
def test_ctrl_c_right_after_a_temporary_file_is_made_leaves_none(tmp_path, monkeypatch, where):
    import signal

    from textdeconv.files import atomic_write_text
    from textdeconv.outputs import OutputPlan

    real = os.open

    def then_ctrl_c(path, flags, *args, **kw):  # the worst moment: the temporary file has just been made
        made = real(path, flags, *args, **kw)
        if flags & os.O_EXCL and ".tmp" in str(path) or "probe" in str(path):
            os.kill(os.getpid(), signal.SIGINT)  # process-directed, as Ctrl-C is: any thread may take it
        return made

    monkeypatch.setattr(os, "open", then_ctrl_c)
    # Ctrl-C as a terminal delivers it: Python's own handler, SIGINT not blocked. In the full suite an
    # earlier test (not traced) left SIGINT not raising KeyboardInterrupt here; the file alone passed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    try:
        with pytest.raises(KeyboardInterrupt):
            if where == "plan":
                plan = OutputPlan()
                plan.write("--csv", tmp_path / "f.csv")
                with plan:
                    pass
            else:
                atomic_write_text(tmp_path / "f.csv", "rows")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGINT, previous)
    assert listing(tmp_path) == set()
