"""Stanford Sentiment Treebank: PTB tree parsing, label schemes and Kim's training examples.

Pure Python (no TensorFlow), so reading data stays light. The trees look like
``(3 (2 It) (4 (2 's) (3 good)))``: every node carries a 0-4 sentiment label.

Kim (2014) trains on every labelled phrase of the training trees (subtrees, including the full
sentences) and scores dev and test on full sentences only; ``train_on="sentences"`` keeps the
sentence-only protocol available.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from textdeconv.errors import DataError

SST_FILES = ("train.txt", "dev.txt", "test.txt")

SPLITS = ("train", "dev", "test")

CLASS_NAMES = {
    "sst2": ("negative", "positive"),
    "sst5": ("very negative", "negative", "neutral", "positive", "very positive"),
}



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
    """Read one tree per non-empty line of a PTB file (UTF-8; DataError names a bad line)."""
    return _read_lines(path, parse_tree)


def read_tree_sentences(path: str | Path, dataset: str) -> list[Example]:
    """``sentence_examples(read_trees(path), dataset)`` without building the trees: the root label
    and the leaves of each line, read by ``sentence_of`` (5-6x faster on the SST training trees;
    the same examples, and the same DataError for a bad line)."""
    out = []
    for label, leaves in _read_lines(path, sentence_of):
        y = map_label(label, dataset)
        if y is not None:
            out.append(Example(tuple(leaves), y))
    return out


def _read_lines(path: str | Path, parse) -> list:
    """``parse(line, where)`` of every non-empty line of a UTF-8 file (a DataError names a bad byte's line)."""
    path = Path(path)
    items = []
    try:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    items.append(parse(line.strip(), f"{path}:{i}"))
    except UnicodeDecodeError:
        data = path.read_bytes()
        for i, raw in enumerate(data.split(b"\n"), 1):  # find the line for the message
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{i}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                                "the SST trees are UTF-8: re-encode the file, or download the trees again") from None
        raise
    return items


# A leaf "(2 word)" and, once every child is reduced to "\0", an inner node "(3 \0 \0)": the
# grammar parse_tree reads (a single-digit label 0-4 here; anything else takes parse_tree's path).
_LEAF = re.compile(r"\([0-4]\s+([^()\x00]+)\)")
_NODE = re.compile(r"\([0-4]\s*(?:\x00\s*)+\)")


def sentence_of(text: str, where: str = "<string>") -> tuple[int, list[str]]:
    """``(tree.label, tree.leaves())`` of ``parse_tree(text, where)``: the tree is checked by
    regular-expression reductions (leaves, then inner nodes, one tree level per pass, until one
    node is left), and anything they do not reduce goes through ``parse_tree`` for its result or
    its message."""
    if "\x00" not in text:
        words = ["".join(w.split()) for w in _LEAF.findall(text)]
        if words and all(words):
            s = _LEAF.sub("\x00", text)
            while s != "\x00":
                s, n = _NODE.subn("\x00", s)
                if not n:
                    break
            if s == "\x00":
                return int(text[1]), words
    tree = parse_tree(text, where)
    return tree.label, tree.leaves()


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


def subsample(examples: list, limit: int | None) -> list:
    """At most ``limit`` examples taken at an even stride (the SST files are ordered by
    sentiment, so a prefix would hold one class only); ``None``: all of them."""
    if limit is None or limit >= len(examples):
        return examples
    if limit < 1:
        raise ValueError(f"limit must be at least 1 or None (no limit), got {limit}")  # the config refuses 0
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]
