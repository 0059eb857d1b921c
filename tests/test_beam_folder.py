"""The Beam runner's output folder is ours or refused (issue 32): a job's files are the ones its
manifest.json lists; --overwrite removes exactly those; a folder holding anything else, or an input,
is refused; a killed job's staging folder is cleaned by the next run; a failure leaves no folder
the job created; Beam options it does not know are refused; Ctrl-C exits 130 with staging cleaned."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from helpers.guard import hashes, listing, one_error_line

if not os.environ.get("TEXTDECONV_REQUIRE_BEAM"):  # .ci/run sets it: there a missing Beam fails
    pytest.importorskip("apache_beam", reason="Apache Beam is not installed (pip install -e '.[beam]')")

from textdeconv.errors import InputError, OutputError  # noqa: E402


def a_job(out, files=("tokens-00000-of-00001.csv",)):
    """A folder holding a finished job: its shards and the manifest listing them."""
    out.mkdir()
    for name in files:
        (out / name).write_text("rows\n")
    (out / "manifest.json").write_text(json.dumps({"format": "csv", "files": list(files)}))
    return out


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "corpus"
    src.mkdir()
    (src / "a.txt").write_text("a gripping , funny movie\nthe plot is thin\n")
    return src


def refused(tiny_run, inputs, out, fragment, overwrite=True):
    from textdeconv.reports.beam import explain_corpus

    root = out.parent
    before, files = listing(root), hashes(root)
    with pytest.raises(OutputError, match=fragment):
        explain_corpus(tiny_run, inputs, out, fmt="csv", overwrite=overwrite)
    assert listing(root) == before and hashes(root) == files  # nothing touched, even with --overwrite


def test_a_folder_of_someone_elses_files_is_refused_even_with_overwrite(tiny_run, corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("manifest-notes.txt", "tokens-mine.csv", "dead-letter-x.jsonl"):  # named like ours, not ours
        (out / name).write_text("precious\n")
    refused(tiny_run, str(corpus / "*"), out, rf"^{out} holds files that are not a textdeconv job's "
                                              r"\(dead-letter-x.jsonl, manifest-notes.txt, tokens-mine.csv; no "
                                              r"manifest.json\); pick an empty or new folder$")


def test_a_file_the_manifest_does_not_list_is_refused(tiny_run, corpus, tmp_path):
    out = a_job(tmp_path / "out")
    (out / "tokens-99999-of-99999.csv").write_text("the user's, not the job's\n")
    refused(tiny_run, str(corpus / "*"), out, r"holds files its job's manifest.json does not list "
                                              r"\(tokens-99999-of-99999.csv\); they are not replaced")


def test_a_damaged_manifest_is_refused(tiny_run, corpus, tmp_path):
    out = a_job(tmp_path / "out")
    (out / "manifest.json").write_text(json.dumps({"files": ["../../etc/passwd"]}))
    refused(tiny_run, str(corpus / "*"), out, "manifest.json is damaged or not a textdeconv job's")


@pytest.mark.parametrize("name", ["a.txt", "tokens-00000-of-00001.csv", "manifest.json"])
def test_an_input_inside_the_output_folder_is_refused(tiny_run, tmp_path, name):
    out = a_job(tmp_path / "out")
    (out / "sub").mkdir()
    src = out / name if name != "a.txt" else out / "sub" / "a.txt"
    src.write_text("a gripping , funny movie\n")
    refused(tiny_run, str(src), out, rf"^the --input file {src} is inside the output folder {out}; pick another "
                                     "folder$")


def test_a_job_is_refused_without_overwrite(tiny_run, corpus, tmp_path):
    out = a_job(tmp_path / "out")
    refused(tiny_run, str(corpus / "*"), out, r"already holds a job's files \(manifest.json, ...\); pass "
                                              "--overwrite", overwrite=False)


def test_unknown_beam_options_are_refused(tiny_run, corpus, tmp_path):
    from textdeconv.reports.beam import explain_corpus

    with pytest.raises(InputError, match=r"^unknown Beam pipeline option\(s\) after '--': '--direct_num_wrkers 2'"):
        explain_corpus(tiny_run, str(corpus / "*"), tmp_path / "out", pipeline_args=["--direct_num_wrkers", "2"])
    assert listing(tmp_path) == listing(corpus.parent) and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_corrupt_run_fails_in_one_line_before_the_pipeline(tiny_run, corpus, tmp_path):
    import shutil

    broken = tmp_path / "run"
    shutil.copytree(tiny_run, broken)
    (broken / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    proc = subprocess.run([sys.executable, "-m", "textdeconv", "explain", "--run", str(broken), "--input",
                           str(corpus / "a.txt"), "--output", str(tmp_path / "out"), "--runner", "beam"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    one_error_line(proc.returncode, proc.stderr, f"{broken / 'model.keras'} could not be loaded")
    assert not (tmp_path / "out").exists()  # no empty folder left behind


def test_a_failed_pipeline_removes_the_folder_it_created(tiny_run, corpus, tmp_path, monkeypatch):
    import apache_beam as beam

    from textdeconv.reports.beam import explain_corpus

    def broken(*args, **kw):
        raise RuntimeError("the runner failed")

    monkeypatch.setattr(beam, "Pipeline", broken)
    with pytest.raises(RuntimeError, match="the runner failed"):
        explain_corpus(tiny_run, str(corpus / "*"), tmp_path / "new" / "out")
    assert listing(tmp_path) == {"0/corpus", "0/corpus/a.txt"}  # neither out nor new/ it created


@pytest.mark.slow
def test_overwrite_removes_exactly_the_manifests_files_and_stale_staging(tiny_run, corpus, tmp_path):
    from textdeconv.reports.beam import explain_corpus

    out = a_job(tmp_path / "out", ("tokens-00000-of-00003.parquet", "dead-letter-00000-of-00001.jsonl"))
    (out / ".staging-0123456789ab" / "x").mkdir(parents=True)  # a killed job's
    (out / ".staging-0123456789ab" / "x" / "part").write_text("half")
    manifest = explain_corpus(tiny_run, str(corpus / "*"), out, fmt="csv", overwrite=True)
    assert sorted(os.listdir(out)) == sorted([*manifest["files"], "manifest.json"])
    assert manifest["sentences"] == 2 and all(f.endswith(".csv") or f.endswith(".jsonl") for f in manifest["files"])


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_in_a_pipeline_exits_130_or_143_and_cleans_its_staging(tiny_run, tmp_path, sig, code, word):
    src = tmp_path / "big.txt"
    src.write_text("a gripping , funny movie and a dull , lifeless mess\n" * 200_000)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "textdeconv", "explain", "--run", str(tiny_run), "--input",
                             str(src), "--output", str(out), "--runner", "beam"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not any(n.startswith(".staging-") for n in (os.listdir(out) if out.is_dir() else [])):
            assert time.time() - t0 < 120 and proc.poll() is None, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.1)
        time.sleep(3)  # inside the pipeline
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err[-3000:]
    assert err.strip().splitlines()[-1] == word
    assert not out.exists()  # its staging folder removed, and the folder it created
