"""The output guard (``textdeconv.outputs.OutputPlan``): every command's outputs are checked before
any model work, named by their option when refused, and published together, so a failed command
leaves the disk as it found it (issue 22)."""
import errno
import os
import shutil
from pathlib import Path

import pytest
from conftest import script_in_process
from helpers.guard import contents, listing, one_error_line

from textdeconv.errors import OutputError
from textdeconv.outputs import OutputPlan, same_file

# --------------------------------------------------------------------------------------------
# the plan itself


def test_same_file_sees_links(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("x")
    os.link(a, tmp_path / "hard.txt")
    (tmp_path / "soft.txt").symlink_to(a)
    assert same_file(a, tmp_path / "hard.txt") and same_file(a, tmp_path / "soft.txt")
    assert same_file(a, tmp_path / "sub" / ".." / "a.txt") and not same_file(a, tmp_path / "b.txt")


@pytest.mark.parametrize("case, message", [
    ("input", "--csv {in} is the --input file"),
    ("hard link to the input", "--csv {tmp}/link.txt is the --input file"),
    ("two outputs", "--csv {tmp}/o.csv and --html {tmp}/o.csv are the same file"),
    ("directory", "--csv {tmp} is a directory; give a file path"),
    ("device", "--csv /dev/null is a device, not a regular file"),
    ("file as parent", "--csv {in}/o.csv: {in} is not a directory"),
    ("unwritable parent", "--csv /proc/x/o.csv: cannot create files in /proc"),
    ("output inside another", "--html {tmp}/o.csv/p.html needs the directory {tmp}/o.csv, which is --csv"),
])
def test_check_refuses_with_one_line_naming_the_option(tmp_path, case, message):
    src = tmp_path / "in.txt"
    src.write_text("a fine film\n")
    os.link(src, tmp_path / "link.txt")
    csv, html = {
        "input": (src, None), "hard link to the input": (tmp_path / "link.txt", None),
        "two outputs": (tmp_path / "o.csv", tmp_path / "o.csv"), "directory": (tmp_path, None),
        "device": (Path("/dev/null"), None), "file as parent": (src / "o.csv", None),
        "unwritable parent": (Path("/proc/x/o.csv"), None),
        "output inside another": (tmp_path / "o.csv", tmp_path / "o.csv" / "p.html"),
    }[case]
    before = listing(tmp_path)
    plan = OutputPlan()
    plan.read("the --input file", src)
    plan.write("--csv", csv)
    if html:
        plan.write("--html", html)
    with pytest.raises(OutputError) as e:
        with plan:
            pytest.fail("the work must not start")
    assert str(e.value).startswith(message.format(tmp=tmp_path, **{"in": src}))
    assert "\n" not in str(e.value) and ".tmp" not in str(e.value)
    assert listing(tmp_path) == before and src.read_text() == "a fine film\n"


def test_outputs_appear_together_or_not_at_all(tmp_path):
    old = tmp_path / "b.csv"
    old.write_text("old")

    def plan_for(*names):
        plan = OutputPlan()
        for n in names:
            plan.write(f"--{n}", tmp_path / "new" / n if n == "a.csv" else tmp_path / n)
        return plan

    plan = plan_for("a.csv", "b.csv")
    with pytest.raises(RuntimeError), plan:
        plan.temp(tmp_path / "new" / "a.csv").write_text("A")
        assert not (tmp_path / "new" / "a.csv").exists()  # staged under a hidden name until the end
        raise RuntimeError("the work failed half-way")
    assert listing(tmp_path) == {"0/b.csv"} and old.read_text() == "old"  # the folder it made is gone too

    plan = plan_for("a.csv", "b.csv")
    with plan:
        plan.temp(tmp_path / "new" / "a.csv").write_text("A")
        plan.temp(tmp_path / "b.csv").write_text("B")
    assert (tmp_path / "new" / "a.csv").read_text() == "A" and old.read_text() == "B"
    assert listing(tmp_path) == {"0/b.csv", "0/new", "0/new/a.csv"}
    assert oct((tmp_path / "b.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_publish_puts_back_what_it_replaced(tmp_path, monkeypatch):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("old " + name)
    plan = OutputPlan()
    plan.write("--a", tmp_path / "a.csv")
    plan.write("--b", tmp_path / "b.csv")
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == "b.csv" and ".tmp" in Path(src).name:
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        return real(src, dst)

    with pytest.raises(OutputError, match=r"^--b .*b.csv: cannot write it \(No space left on device\)$"):
        with plan:
            plan.temp(tmp_path / "a.csv").write_text("new a")
            plan.temp(tmp_path / "b.csv").write_text("new b")
            monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "replace", real)
    assert contents([tmp_path / "a.csv", tmp_path / "b.csv"]) == {str(tmp_path / "a.csv"): b"old a.csv",
                                                                   str(tmp_path / "b.csv"): b"old b.csv"}
    assert listing(tmp_path) == {"0/a.csv", "0/b.csv"}


def test_an_error_while_writing_names_the_option_not_the_temporary_file(tmp_path):
    plan = OutputPlan()
    out = plan.write("--csv", tmp_path / "o.csv")
    with pytest.raises(OutputError) as e, plan:
        raise OSError(errno.ENOSPC, "No space left on device", str(plan.temp(out)))
    assert str(e.value) == f"--csv {out}: cannot write it (No space left on device)"
    assert listing(tmp_path) == set()


def test_a_folder_output_is_staged_and_merged_into_an_existing_folder(tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "table.csv").write_text("old")
    plan = OutputPlan()
    plan.folder("--out", out, ["table.csv", "meta.json"])
    with plan:
        staged = plan.temp(out)
        assert staged != out and staged.parent == tmp_path
        (staged / "table.csv").write_text("new")
        (staged / "meta.json").write_text("{}")
    assert contents(out.iterdir()) == {str(out / "notes.txt"): b"mine", str(out / "table.csv"): b"new",
                                       str(out / "meta.json"): b"{}"}
    assert listing(tmp_path) == {"0/eval", "0/eval/notes.txt", "0/eval/table.csv", "0/eval/meta.json"}


def test_the_python_api_save_functions_are_guarded(tiny_run, tmp_path):
    import textdeconv as td

    ex = td.load_run(tiny_run).explain(["a gripping , funny movie"])
    for bad, fragment in ((tmp_path, "is a directory"), (Path("/proc/x.csv"), "cannot create files in /proc")):
        with pytest.raises(OutputError, match=fragment):
            ex.save_csv(bad)
        with pytest.raises(OutputError, match=fragment):
            ex.save_json(bad)
    assert listing(tmp_path) == set()
    assert ex.save_csv(tmp_path / "sub" / "e.csv").read_bytes().startswith(b"sentence_id,sentence,")
    assert ex.save_json(tmp_path / "e.json").read_text().startswith("[")


# --------------------------------------------------------------------------------------------
# every command and output option, as a user runs them (in this process: failures come before
# the model loads)

EXPLAIN = ["--input", "{in}", "--quiet"]
COMMANDS = {  # name: (script, arguments, {output option: its path when it is not under test})
    "explain": ("explain.py", EXPLAIN + ["--json"], {"--csv": "o.csv", "--filters-csv": "f.csv", "--html": "p.html"}),
    "explain-streamed": ("explain.py", EXPLAIN, {"--csv": "o.csv"}),
    "filters": ("inspect_filters.py", [], {"--csv": "f.csv", "--words-csv": "w.csv", "--html": "f.html"}),
    "lexicon": ("lexicon.py", ["--split", "dev"], {"--csv": "l.csv", "--png": "l.png"}),
    "evaluate": ("evaluate.py", ["--split", "dev", "--methods", "deconv"], {"--out": "ev"}),
    "train": ("train.py", ["--config", "{config}", "--offline", "--set", "data.dir={data}"], {"--run-dir": "r"}),
}
FOLDERS = {"--out", "--run-dir"}
CASES = ["input", "same as another output", "unwritable parent", "directory"]
MATRIX = [(name, option, case) for name, (_, _, outputs) in COMMANDS.items() for option in outputs for case in CASES
          if case != "same as another output" or len(outputs) > 1]


def command_line(name, tiny_run, tmp, paths) -> list[str]:
    script, args, outputs = COMMANDS[name]
    fill = {"in": tmp / "in.txt", "config": tmp / "tiny.yaml", "data": tiny_run.parent / "data"}
    argv = [script, *(a.format(**fill) for a in args)]
    if name != "train":
        argv += ["--run", tiny_run]
    for option in outputs:
        argv += [option, paths[option]]
    return argv


def the_input(name, tiny_run, tmp) -> Path:
    """What clobbering an input means for this command."""
    if name.startswith("explain"):
        return tmp / "in.txt"
    if name == "train":
        return tmp / "tiny.yaml"
    return tiny_run / "vocab.txt"


@pytest.mark.parametrize("name, option, case", MATRIX, ids=[" ".join(m) for m in MATRIX])
def test_every_output_option_is_guarded(tiny_run, tmp_path, monkeypatch, capsys, name, option, case):
    tmp = tmp_path
    (tmp / "in.txt").write_text("a gripping , funny movie\nthe plot is thin\n")
    shutil.copy(Path(__file__).parents[1] / "configs" / "tiny.yaml", tmp / "tiny.yaml")
    (tmp / "adir").mkdir()
    outputs = COMMANDS[name][2]
    paths = {o: tmp / p for o, p in outputs.items()}
    if case == "input":
        paths[option] = the_input(name, tiny_run, tmp)
        expected = (f"{option} {paths[option]} is ",)
    elif case == "same as another output":
        other = next(o for o in outputs if o != option)
        paths[option] = paths[other]
        expected = (option, other, "are the same file")
    elif case == "unwritable parent":
        paths[option] = Path("/proc/x") / Path(outputs[option]).name
        expected = (f"{option} /proc/x", "cannot create files in /proc")
    else:
        paths[option] = tmp / "in.txt" if option in FOLDERS else tmp / "adir"
        expected = (option, "is a file, not a directory" if option in FOLDERS else "is a directory")
    inputs = [tmp / "in.txt", tmp / "tiny.yaml",
              *(tiny_run / f for f in ("config.yaml", "vocab.txt", "model.keras"))]
    before, data = listing(tmp, tiny_run), contents(inputs)
    argv = command_line(name, tiny_run, tmp, paths)
    code, out, err = script_in_process(monkeypatch, capsys, *argv)
    one_error_line(code, err, *expected)
    assert contents(inputs) == data  # no input changed
    assert listing(tmp, tiny_run) == before  # and nothing was left behind


# --------------------------------------------------------------------------------------------
# failures part-way: nothing the command wrote survives


def test_explain_failing_after_the_csv_keeps_no_csv(tiny_run, tmp_path, monkeypatch, capsys):
    import textdeconv.reports.html as html

    src = tmp_path / "in.txt"
    src.write_text("a gripping , funny movie\n")

    def full_disk(path, data):  # the page fails after the CSV was written
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(html, "write_html", full_disk)
    before = listing(tmp_path)
    code, _, err = script_in_process(monkeypatch, capsys, "explain.py", "--run", tiny_run, "--input", src, "--csv",
                                     tmp_path / "a.csv", "--html", tmp_path / "p.html", "--quiet")
    one_error_line(code, err, f"--html {tmp_path / 'p.html'}: cannot write it (No space left on device)")
    assert listing(tmp_path) == before


def test_lexicon_failing_at_the_png_keeps_no_csv(tiny_run, tmp_path, monkeypatch, capsys):
    import textdeconv.reports.lexicon as lexicon

    def broken(*args, **kw):
        raise OSError(errno.EIO, "Input/output error", str(args[2]))

    monkeypatch.setattr(lexicon, "plot_lexicon", broken)
    before = listing(tmp_path, tiny_run)
    code, _, err = script_in_process(monkeypatch, capsys, "lexicon.py", "--run", tiny_run, "--split", "dev",
                                     "--csv", tmp_path / "l.csv", "--png", tmp_path / "l.png")
    one_error_line(code, err, "--png", "cannot write it (Input/output error)")
    assert listing(tmp_path, tiny_run) == before


def test_a_new_run_that_fails_before_its_first_epoch_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    from test_train import small_config

    import textdeconv.training.trainer as trainer
    from textdeconv.api import run_training

    def crash(self, epoch, logs=None):
        raise RuntimeError("a crash before the first commit")

    monkeypatch.setattr(trainer.RunRecorder, "on_epoch_end", crash)
    run = tmp_path / "runs" / "new"
    with pytest.raises(RuntimeError):
        run_training(small_config(tiny_run.parent / "data", "train.epochs=1"), run, verbose=0)
    assert listing(tmp_path) == set()  # neither the run directory nor runs/ it created
    (tmp_path / "mine").mkdir()
    with pytest.raises(RuntimeError):
        run_training(small_config(tiny_run.parent / "data", "train.epochs=1"), tmp_path / "mine", verbose=0)
    assert listing(tmp_path) == {"0/mine"}  # an empty folder that was there stays
    (tmp_path / "mine" / "notes.txt").write_text("keep")  # a folder holding anything else is never trained into
    with pytest.raises(OutputError, match="is not empty and holds no run"):
        run_training(small_config(tiny_run.parent / "data", "train.epochs=1"), tmp_path / "mine", verbose=0)
    assert listing(tmp_path) == {"0/mine", "0/mine/notes.txt"} and (tmp_path / "mine/notes.txt").read_text() == "keep"
