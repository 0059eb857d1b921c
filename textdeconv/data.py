"""Stanford Sentiment Treebank: PTB tree parsing, label schemes, Kim's splits, and the downloader.

Pure Python (no TensorFlow), so reading data stays light. The trees look like
``(3 (2 It) (4 (2 's) (3 good)))``: every node carries a 0-4 sentiment label.

Kim (2014) trains on every labelled phrase of the training trees (subtrees, including the full
sentences) and scores dev and test on full sentences only; ``train_on="sentences"`` keeps the
sentence-only protocol available.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from textdeconv.config import PROJECT_ROOT, DataConfig

SST_URL = "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
SST_SHA256 = "5c613a4f673fc74097d523a2c83f38e0cc462984d847b82c7aaf36b01cbbbfcc"
SST_FILES = ("train.txt", "dev.txt", "test.txt")
SPLITS = ("train", "dev", "test")
ENV_VAR = "TEXTDECONV_DATA"
DEFAULT_DIR = PROJECT_ROOT / "data" / "sst"

CLASS_NAMES = {
    "sst2": ("negative", "positive"),
    "sst5": ("very negative", "negative", "neutral", "positive", "very positive"),
}


class DataError(ValueError):
    """Malformed or missing data; the message names the file and line and says what to do."""


@dataclass(frozen=True)
class Tree:
    """A node of a sentiment tree: a 0-4 label and either a word (leaf) or children."""

    label: int
    children: tuple["Tree", ...] = ()
    word: str | None = None

    def leaves(self) -> list[str]:
        if self.word is not None:
            return [self.word]
        return [w for c in self.children for w in c.leaves()]

    def subtrees(self):
        """Yield every node, root first (pre-order)."""
        yield self
        for c in self.children:
            yield from c.subtrees()


@dataclass(frozen=True)
class Example:
    tokens: tuple[str, ...]
    label: int


def parse_tree(text: str, where: str = "<string>") -> Tree:
    """Parse one PTB-bracketed sentiment tree. Raises DataError naming ``where`` on bad input."""
    pos, n = 0, len(text)

    def fail(msg):
        raise DataError(f"{where}: {msg} at character {pos + 1}")

    def skip_ws():
        nonlocal pos
        while pos < n and text[pos].isspace():
            pos += 1

    def node() -> Tree:
        nonlocal pos
        skip_ws()
        if pos >= n or text[pos] != "(":
            fail("expected '('")
        pos += 1
        start = pos
        while pos < n and not text[pos].isspace() and text[pos] not in "()":
            pos += 1
        label_text = text[start:pos]
        if not (label_text.isdigit() and 0 <= int(label_text) <= 4):
            fail(f"expected a sentiment label 0-4, got {label_text!r}")
        skip_ws()
        if pos < n and text[pos] == "(":
            children = []
            while pos < n and text[pos] == "(":
                children.append(node())
                skip_ws()
            tree = Tree(int(label_text), tuple(children))
        else:
            start = pos
            while pos < n and text[pos] not in "()":
                pos += 1
            # A leaf is one token: whitespace inside it is dropped (the train.txt we ship tests on
            # has one such leaf, "(2 R  ock)", which every public copy spells "Rock").
            word = "".join(text[start:pos].split())
            if not word:
                fail("empty leaf")
            tree = Tree(int(label_text), word=word)
        if pos >= n or text[pos] != ")":
            fail("expected ')'")
        pos += 1
        return tree

    tree = node()
    skip_ws()
    if pos != n:
        fail("unexpected text after the tree")
    return tree


def read_trees(path: str | Path) -> list[Tree]:
    """Read one tree per non-empty line of a PTB file."""
    path = Path(path)
    trees = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                trees.append(parse_tree(line.strip(), where=f"{path}:{i}"))
    return trees


def map_label(label: int, dataset: str) -> int | None:
    """SST-5 labels unchanged; SST-2: 0-1 -> 0, 3-4 -> 1, neutral (2) -> None (dropped)."""
    if dataset == "sst5":
        return label
    if dataset == "sst2":
        return None if label == 2 else int(label > 2)
    raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(CLASS_NAMES)}")


def sentence_examples(trees, dataset: str) -> list[Example]:
    """Root label of each tree (neutral sentences dropped for SST-2)."""
    out = []
    for t in trees:
        y = map_label(t.label, dataset)
        if y is not None:
            out.append(Example(tuple(t.leaves()), y))
    return out


def phrase_examples(trees, dataset: str) -> list[Example]:
    """Every labelled subtree of every tree, sentences included, each distinct phrase once.

    A phrase's label comes from the treebank's phrase dictionary, so a phrase that occurs in
    several trees carries the same label each time; keeping the first occurrence removes
    duplicates without changing any label.
    """
    seen, out = set(), []
    for t in trees:
        for sub in t.subtrees():
            y = map_label(sub.label, dataset)
            tokens = tuple(sub.leaves())
            if y is not None and tokens not in seen:
                seen.add(tokens)
                out.append(Example(tokens, y))
    return out


# ---------------------------------------------------------------------------------------------
# Where the data lives, and fetching it


def resolve_data_dir(configured: str | None = None) -> Path:
    """Config key ``data.dir``, else ``$TEXTDECONV_DATA``, else ``data/sst`` under the project."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return DEFAULT_DIR


def find_tree_dir(root: Path) -> Path | None:
    """The folder holding train/dev/test.txt: ``root/trees`` (as the archive unpacks) or ``root``."""
    for d in (root / "trees", root):
        if all((d / f).is_file() for f in SST_FILES):
            return d
    return None


def missing_data_message(root: Path) -> str:
    return (
        f"SST trees not found in {root} (looked for trees/train.txt, dev.txt, test.txt). "
        f"Fetch them with 'python scripts/download_data.py --dir {root}', or point "
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
        ConnectionError: no network (message says how to get the data by hand).
        DataError: checksum mismatch or an archive without the expected files.
    """
    root = Path(root)
    existing = find_tree_dir(root)
    if existing is not None:
        return existing
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".sst-download-", dir=root))
    try:
        archive = work / "trainDevTestTrees_PTB.zip"
        if not quiet:
            print(f"downloading {url} ...", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ConnectionError(
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
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_sst(cfg: DataConfig) -> Path:
    """Return the tree folder, downloading it when missing and ``cfg.download`` allows."""
    root = resolve_data_dir(cfg.dir)
    found = find_tree_dir(root)
    if found is not None:
        return found
    if not cfg.download:
        raise FileNotFoundError(missing_data_message(root) + " (download disabled: data.download=false / --offline)")
    return download_sst(root)


def load_sst(cfg: DataConfig) -> dict[str, list[Example]]:
    """Examples per split: train as configured (phrases or sentences), dev/test sentences."""
    tree_dir = ensure_sst(cfg)
    splits = {}
    for split in SPLITS:
        trees = read_trees(tree_dir / f"{split}.txt")
        if split == "train" and cfg.train_on == "phrases":
            ex = phrase_examples(trees, cfg.dataset)
        else:
            ex = sentence_examples(trees, cfg.dataset)
        limit = cfg.max_train if split == "train" else cfg.max_eval
        splits[split] = subsample(ex, limit)
    return splits


def subsample(examples: list, limit: int | None) -> list:
    """At most ``limit`` examples taken at an even stride (the SST files are ordered by
    sentiment, so a prefix would hold one class only)."""
    if not limit or limit >= len(examples):
        return examples
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]


def read_sentences(path: str, stream=None) -> list[tuple[int, str]]:
    """``(line_number, text)`` for each non-empty line of a UTF-8 file (``-`` = ``stream``/stdin).

    Empty and whitespace-only lines are skipped (line numbers keep counting). A byte sequence that
    is not UTF-8 raises DataError naming the file, line and column.
    """
    if path == "-":
        data = (stream or sys.stdin.buffer).read()
        name = "<stdin>"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"input file not found: {path}")
        data, name = p.read_bytes(), path
    out = []
    for i, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{name}:{i}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                            "re-encode the file as UTF-8") from None
        line = line.lstrip("\ufeff") if i == 1 else line
        if line.strip():
            out.append((i, line.strip()))
    return out
