"""Where the SST trees live and fetching them: the official archive, checksum-verified, unpacked atomically."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from textdeconv.config import DataConfig
from textdeconv.data.treebank import SST_FILES, read_trees
from textdeconv.errors import DataError, DownloadError, MissingFileError, OutputError

SST_URL = "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"

SST_SHA256 = "5c613a4f673fc74097d523a2c83f38e0cc462984d847b82c7aaf36b01cbbbfcc"

ENV_VAR = "TEXTDECONV_DATA"

DEFAULT_DIR = Path("data") / "sst"  # of the working directory, never of the installed package


def resolve_data_dir(configured: str | None = None) -> Path:
    """Config key ``data.dir``, else ``$TEXTDECONV_DATA``, else ``./data/sst`` (of the working directory)."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return DEFAULT_DIR


def relocated(cfg):
    """A run's data config, with the SST folder it recorded (``data.dir``, absolute) replaced by the
    usual search ($TEXTDECONV_DATA, else ./data/sst) when that folder no longer holds the trees
    and the search finds them (the run moved to another machine, or its data did), said on stderr;
    otherwise unchanged, so a missing folder is still named in the error. Only for a run's saved
    config: a folder the user configures is never second-guessed."""
    import dataclasses

    if cfg.dataset == "custom" or not cfg.dir or find_tree_dir(Path(cfg.dir).expanduser()) is not None:
        return cfg
    found = find_tree_dir(resolve_data_dir(None))
    if found is None:
        return cfg
    print(f"note: the run's data.dir {cfg.dir} holds no SST trees; using {resolve_data_dir(None)}",
          file=sys.stderr)
    return dataclasses.replace(cfg, dir=None)


def find_tree_dir(root: Path) -> Path | None:
    """The folder holding train/dev/test.txt: ``root/trees`` (as the archive unpacks) or ``root``."""
    for d in (root / "trees", root):
        if all((d / f).is_file() for f in SST_FILES):
            return d
    return None


def missing_data_message(root: Path) -> str:
    return (
        f"SST trees not found in {root} (looked for trees/train.txt, dev.txt, test.txt). "
        f"Fetch them with 'textdeconv download --dir {root}', or point "
        f"data.dir / ${ENV_VAR} at a folder that holds them"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_sst(root: str | Path, url: str = SST_URL, sha256: str = SST_SHA256, quiet=False) -> Path:
    """Download the official archive into ``root`` and unpack ``root/trees`` atomically.

    The archive is fetched to a temporary file, its SHA-256 checked, and the trees extracted into
    a temporary folder that is renamed into place only when complete: an interrupted download or
    a checksum mismatch leaves ``root`` as it was. ``url`` may be a ``file://`` URL (tests).

    Returns:
        The folder holding train.txt, dev.txt and test.txt.
    Raises:
        DownloadError: no network (a ConnectionError; the message says how to get the data by hand).
        DataError: checksum mismatch or an archive without the expected files.
    """
    root = Path(root)
    existing = find_tree_dir(root)
    if existing is not None:
        return existing
    if root.exists() and not root.is_dir():
        raise MissingFileError(f"{root} is a file; the data folder must be a folder (or a path to create)")
    created = [p for p in (root, *root.parents) if not p.exists()]  # innermost first: removed again on failure
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".sst-download-", dir=root))
    except OSError as e:
        _remove_empty(created)
        raise OutputError(f"cannot create files in {root} ({e.strerror})") from None
    done = False
    try:
        archive = work / "trainDevTestTrees_PTB.zip"
        if not quiet:
            print(f"downloading {url} ...", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(
                f"could not download {url} ({reason}). With no network, fetch the file on another "
                f"machine, unzip it, and point data.dir or ${ENV_VAR} at the folder holding trees/"
            ) from None
        digest = sha256_file(archive)
        if digest != sha256:
            raise DataError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {digest}; "
                "the download is corrupt or the file changed upstream, nothing was extracted"
            )
        staging = work / "unpacked"
        if not zipfile.is_zipfile(archive):
            raise DataError(f"{url}: not a zip archive")
        with zipfile.ZipFile(archive) as zf:
            names = {Path(n).name: n for n in zf.namelist() if Path(n).name in SST_FILES}
            if set(names) != set(SST_FILES):
                raise DataError(f"{url}: archive lacks {sorted(set(SST_FILES) - set(names))}")
            (staging / "trees").mkdir(parents=True)
            for name, member in names.items():
                with zf.open(member) as src, open(staging / "trees" / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        for name in SST_FILES:  # fail before publishing if a file does not parse
            read_trees(staging / "trees" / name)
        target = root / "trees"
        if target.exists():  # a partial folder from another tool: keep it aside, never delete
            target.rename(root / f"trees.incomplete-{os.getpid()}")
        os.replace(staging / "trees", target)
        if not quiet:
            print(f"SST trees ready in {target}", file=sys.stderr)
        done = True
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not done:  # leave DIR as it was: the folders this call created go again
            _remove_empty(created)


def _remove_empty(folders) -> None:
    for p in folders:
        with contextlib.suppress(OSError):
            p.rmdir()  # only an empty one


def ensure_sst(cfg: DataConfig) -> Path:
    """Return the tree folder, downloading it when missing and ``cfg.download`` allows."""
    root = resolve_data_dir(cfg.dir)
    found = find_tree_dir(root)
    if found is not None:
        return found
    if not cfg.download:
        raise MissingFileError(missing_data_message(root) + " (download disabled: data.download=false / --offline)")
    return download_sst(root)
