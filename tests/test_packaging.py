"""The package as users install it: a wheel with the configs inside, the command from any folder,
runs and data in the working directory, never in the installed package."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from test_train import write_data

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "textdeconv").rglob("__init__.py")}
    assert found | {"textdeconv.configs"} == listed


def copy_source(root: Path, dest: Path):
    """Copy what git would commit (tracked files and untracked ones it does not ignore), so a local
    .venv, runs/ or data/ never travels; outside a git checkout, everything but the usual build
    leftovers and the checkout's own runs, data, bench and docs."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, timeout=60)
    if listed.returncode != 0:
        everywhere = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__")

        def ignore(folder, names):  # the checkout's own data, runs and builds, not textdeconv/data
            top = {"runs", "data", "build", "bench", "docs"} if Path(folder) == root else set()
            return set(everywhere(folder, names)) | (top & set(names))

        shutil.copytree(root, dest, ignore=ignore)
        return
    for name in listed.stdout.decode().split("\0"):
        if name and (root / name).is_file():  # a deleted but still tracked file is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"  # a copy: building in the checkout would leave build/ behind (with stale modules)
    copy_source(ROOT, src)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("textdeconv-*.whl")
    return path


def test_wheel_holds_the_shipped_configs_once(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.endswith(".yaml") and not n.startswith("textdeconv/builtin/"))
    assert shipped == sorted(f"textdeconv/configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml"))
    assert not any(n.startswith(("tests/", "scripts/", "bench/", "configs/")) for n in names)
    assert any(n.startswith("textdeconv-") and n.endswith("/LICENSE") for n in names)  # MIT, as pyproject says
    bundle = sorted(n for n in names if n.startswith("textdeconv/builtin/sst2/"))
    assert bundle == [f"textdeconv/builtin/sst2/{f}" for f in ("card.json", "config.yaml", "model.keras", "vocab.txt")]
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert entry and "textdeconv = textdeconv.cli:main" in zipfile.ZipFile(wheel).read(entry[0]).decode()


def test_installed_wheel_trains_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    data = write_data(tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": str(site), "TEXTDECONV_DATA": str(data)}
    # the first command of the README, in an empty folder: the bundled model, from the installed files
    proc = subprocess.run([sys.executable, "-m", "textdeconv", "explain", "a gripping , funny movie"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "using the bundled model builtin:sst2" in proc.stderr and proc.stdout.startswith("[1] predicted: ")
    assert not list(work.iterdir())
    proc = subprocess.run([sys.executable, "-m", "textdeconv", "train", "--config", "tiny.yaml", "--offline",
                           "--set", "train.epochs=1", "--set", "data.train_on=sentences"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((work / "runs").glob("tiny-*"))
    assert len(runs) == 1 and (runs[0] / "model.keras").is_file()  # ./runs of the working directory
    check = subprocess.run([sys.executable, "-c", "import textdeconv; print(textdeconv.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip().startswith(str(site))  # the installed copy ran, not the checkout
    assert not list(site.rglob("runs")) and not (site / "data").exists()
    proc = subprocess.run([sys.executable, "-m", "textdeconv", "explain", "great fun", "--json"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"using run: {Path('runs') / runs[0].name}" in proc.stderr and '"tokens": [' in proc.stdout
