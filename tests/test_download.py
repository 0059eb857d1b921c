"""download_sst and scripts/download_data.py against local zip archives served by file:// URLs."""
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import TREES

from textdeconv.config import DataConfig
from textdeconv.data.download import download_sst, ensure_sst
from textdeconv.data.splits import load_sst
from textdeconv.data.treebank import SST_FILES, read_trees
from textdeconv.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
MISSING_URL = "file:///nonexistent/x.zip"


def make_zip(path: Path, files=None, folder="trees/") -> tuple[str, str]:
    """Write a zip laid out like the official one (``trees/train.txt`` ...); return (url, sha256)."""
    if files is None:
        files = {f"{split}.txt": "\n".join(lines) + "\n" for split, lines in TREES.items()}
    with zipfile.ZipFile(path, "w") as zf:
        if folder:
            zf.writestr(folder, "")
        for name, text in files.items():
            zf.writestr(folder + name, text.encode("utf-8"))
    return path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path):
    return make_zip(tmp_path / "sst.zip")


def test_download_extracts_into_root_trees(tmp_path, archive, capsys):
    url, sha = archive
    root = tmp_path / "data" / "sst"
    got = download_sst(root, url=url, sha256=sha)
    assert got == root / "trees"
    assert sorted(os.listdir(root)) == ["trees"]  # no temporary folder left behind
    assert sorted(os.listdir(got)) == sorted(SST_FILES)
    for split, lines in TREES.items():
        assert (got / f"{split}.txt").read_text(encoding="utf-8") == "\n".join(lines) + "\n"
    err = capsys.readouterr().err
    assert err == f"downloading {url} ...\nSST trees ready in {got}\n"
    splits = load_sst(DataConfig(dir=str(root), download=False))
    assert len(splits["train"]) == 9


def test_download_quiet_prints_nothing(tmp_path, archive, capsys):
    url, sha = archive
    download_sst(tmp_path / "d", url=url, sha256=sha, quiet=True)
    assert capsys.readouterr() == ("", "")


def test_archive_without_folder_prefix(tmp_path):
    url, sha = make_zip(tmp_path / "flat.zip", folder="")
    assert download_sst(tmp_path / "d", url=url, sha256=sha, quiet=True) == tmp_path / "d" / "trees"


def test_second_call_does_not_download(tmp_path, archive):
    url, sha = archive
    root = tmp_path / "d"
    first = download_sst(root, url=url, sha256=sha, quiet=True)
    # the URL does not exist: any fetch would raise ConnectionError
    assert download_sst(root, url=MISSING_URL, sha256="0" * 64, quiet=True) == first


def test_existing_flat_folder_is_used(tiny_trees_dir):
    flat = tiny_trees_dir / "trees"  # the three files directly in the root
    assert download_sst(flat, url=MISSING_URL, sha256="0" * 64, quiet=True) == flat


def test_checksum_mismatch_leaves_root_untouched(tmp_path, archive):
    url, sha = archive
    root = tmp_path / "d"
    root.mkdir()
    (root / "README.md").write_text("mine\n")
    wrong = "f" * 64
    with pytest.raises(DataError) as e:
        download_sst(root, url=url, sha256=wrong, quiet=True)
    assert str(e.value) == (f"checksum mismatch for {url}: expected sha256 {wrong}, got {sha}; "
                            "the download is corrupt or the file changed upstream, nothing was extracted")
    assert sorted(os.listdir(root)) == ["README.md"]
    assert (root / "README.md").read_text() == "mine\n"


def test_archive_missing_a_split_is_refused(tmp_path):
    files = {"train.txt": "(3 (2 a) (3 b))\n", "test.txt": "(1 (2 a) (1 b))\n"}
    url, sha = make_zip(tmp_path / "nodev.zip", files)
    root = tmp_path / "d"
    with pytest.raises(DataError) as e:
        download_sst(root, url=url, sha256=sha, quiet=True)
    assert str(e.value) == f"{url}: archive lacks ['dev.txt']"
    assert not root.exists()  # the folder it created goes again: DIR as it was


def test_unreachable_url_says_how_to_get_the_data_by_hand(tmp_path):
    root = tmp_path / "d"
    with pytest.raises(ConnectionError) as e:
        download_sst(root, url=MISSING_URL, sha256="0" * 64, quiet=True)
    msg = str(e.value)
    assert msg.startswith(f"could not download {MISSING_URL} (")
    assert "fetch the file on another machine, unzip it" in msg
    assert "point data.dir or $TEXTDECONV_DATA at the folder holding trees/" in msg
    assert not root.exists()  # the folder it created goes again: DIR as it was


def test_unparsable_tree_in_archive_is_refused(tmp_path):
    files = {f"{split}.txt": "\n".join(lines) + "\n" for split, lines in TREES.items()}
    files["train.txt"] += "(9 (2 broken) (2 tree))\n"
    url, sha = make_zip(tmp_path / "bad.zip", files)
    root = tmp_path / "d"
    with pytest.raises(DataError, match=r"train\.txt:5: expected a sentiment label 0-4, got '9'"):
        download_sst(root, url=url, sha256=sha, quiet=True)
    assert not root.exists()  # the folder it created goes again: DIR as it was


def test_file_that_is_not_a_zip_is_refused(tmp_path):
    p = tmp_path / "page.html"
    p.write_text("<html>not found</html>")
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    root = tmp_path / "d"
    with pytest.raises(DataError, match=r"page\.html: not a zip archive$"):
        download_sst(root, url=p.as_uri(), sha256=sha, quiet=True)
    assert not root.exists()  # the folder it created goes again: DIR as it was


def test_partial_trees_folder_is_kept_aside(tmp_path, archive):
    url, sha = archive
    root = tmp_path / "d"
    (root / "trees").mkdir(parents=True)
    (root / "trees" / "train.txt").write_text("partial\n")  # dev/test missing: not a tree folder
    assert download_sst(root, url=url, sha256=sha, quiet=True) == root / "trees"
    aside = root / f"trees.incomplete-{os.getpid()}"
    assert sorted(os.listdir(root)) == sorted(["trees", aside.name])
    assert (aside / "train.txt").read_text() == "partial\n"
    assert len(read_trees(root / "trees" / "train.txt")) == len(TREES["train"])


# --------------------------------------------------------------------------------------------
# scripts/download_data.py


def run_script(*args):
    env = {k: v for k, v in os.environ.items() if k != "TEXTDECONV_DATA"}
    return subprocess.run([sys.executable, "scripts/download_data.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_script_downloads_then_finds_existing(tmp_path, archive):
    url, sha = archive
    root = tmp_path / "d"
    proc = run_script("--dir", str(root), "--url", url, "--sha256", sha)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[:2] == [f"downloading {url} ...", f"SST trees in {root / 'trees'}"]
    assert sorted(os.listdir(root / "trees")) == sorted(SST_FILES)

    again = run_script("--dir", str(root), "--url", MISSING_URL)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"SST trees already in {root / 'trees'}; nothing downloaded\n"


def test_script_checksum_mismatch_is_one_line_error(tmp_path, archive):
    url, sha = archive
    root = tmp_path / "d"
    proc = run_script("--dir", str(root), "--url", url, "--sha256", "0" * 64)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: checksum mismatch for {url}: expected sha256 {'0' * 64}, got {sha}")
    assert "Traceback" not in proc.stderr
    assert not root.exists()  # the folder it created goes again: DIR as it was


def test_script_help_shows_the_worked_example():
    proc = run_script("--help")
    assert proc.returncode == 0
    assert "  textdeconv download --dir ~/data/sst\n" in proc.stdout  # raw formatting kept
    assert "--sha256 SHA256" in proc.stdout


# --- a run records where its treebank was found (data.dir), and a moved folder falls back ---

def test_a_run_records_its_sst_folder_as_an_absolute_data_dir(tiny_run, monkeypatch, tmp_path):
    from textdeconv.config import load_config

    recorded = load_config(tiny_run / "config.yaml").data.dir
    assert recorded == str((tiny_run.parent / "data").resolve())  # small_config's relative or given folder, resolved
    # from another folder and a shell without $TEXTDECONV_DATA the run still finds its trees
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TEXTDECONV_DATA", raising=False)
    assert ensure_sst(load_config(tiny_run / "config.yaml").data) == Path(recorded) / "trees"


def test_pin_resolves_the_environment_folder_for_sst(tmp_path, monkeypatch):
    from textdeconv.data.splits import pin

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTDECONV_DATA", "rel/sst")
    assert pin(DataConfig(dataset="sst2"), ("negative", "positive")).dir == str(tmp_path / "rel" / "sst")
    monkeypatch.delenv("TEXTDECONV_DATA")
    assert pin(DataConfig(dataset="sst5"), ()).dir == str(tmp_path / "data" / "sst")
    assert pin(DataConfig(dataset="sst2", dir="elsewhere"), ()).dir == str(tmp_path / "elsewhere")


def test_a_run_whose_recorded_folder_lost_its_trees_uses_the_environment_saying_so(
        tiny_run, tiny_trees_dir, tmp_path, monkeypatch, capsys):
    import shutil

    import yaml

    from textdeconv.training.rundir import read_run

    moved = tmp_path / "moved-run"
    shutil.copytree(tiny_run, moved)
    cfg = yaml.safe_load((moved / "config.yaml").read_text(encoding="utf-8"))
    gone = tmp_path / "elsewhere" / "sst"
    cfg["data"]["dir"] = str(gone)  # as recorded on another machine
    (moved / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setenv("TEXTDECONV_DATA", str(tiny_trees_dir))
    data = read_run(moved)[0].data
    assert data.dir is None and ensure_sst(data) == tiny_trees_dir / "trees"
    assert capsys.readouterr().err == (f"note: the run's data.dir {gone} holds no SST trees; "
                                       f"using {tiny_trees_dir}\n")
    assert not gone.parent.exists()
    monkeypatch.setenv("TEXTDECONV_DATA", str(tmp_path / "empty"))  # nowhere to fall back: the record stays
    monkeypatch.chdir(tmp_path)
    assert read_run(moved)[0].data.dir == str(gone)


def test_a_configured_folder_without_trees_is_never_second_guessed(tiny_trees_dir, tmp_path, monkeypatch):
    from textdeconv.errors import MissingFileError

    monkeypatch.setenv("TEXTDECONV_DATA", str(tiny_trees_dir))  # trees there, but data.dir says elsewhere
    gone = tmp_path / "moved-away"
    with pytest.raises(MissingFileError, match=rf"^SST trees not found in {gone} .*download disabled"):
        ensure_sst(DataConfig(dir=str(gone), download=False))
    assert not gone.exists()
