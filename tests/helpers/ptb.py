"""A second, independent reading of the SST PTB trees and of Kim's cleaning, for the real-data
counts: written from the file format and Kim's code, sharing nothing with textdeconv.data."""
import re
from pathlib import Path

_PIECE = re.compile(r"\(|\)|[^()]+")


def nodes(line: str) -> list[tuple[int, tuple[str, ...]]]:
    """Every node of one tree line as ``(label, leaves)``, children before parents (the root last).

    A leaf is all the text between its label and ``)`` with any whitespace inside removed, the rule
    textdeconv.data.treebank documents ("(2 R  ock)" is "Rock"; "(2 8\xa01\\/2)" is "81\\/2")."""
    stack, out, pieces = [], [], _PIECE.findall(line)
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        if piece == "(":
            label, _, rest = pieces[i + 1].lstrip().partition(" ")
            leaf = "".join(rest.split())
            stack.append((int(label), [leaf] if leaf else []))
            i += 2
            continue
        if piece == ")":
            label, leaves = stack.pop()
            out.append((label, tuple(leaves)))
            if stack:
                stack[-1][1].extend(leaves)
        i += 1  # whitespace between nodes
    assert not stack, line
    return out


def trees(path: Path) -> list[list[tuple[int, tuple[str, ...]]]]:
    """Each non-blank line of a tree file as its ``nodes``."""
    return [nodes(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def clean_str_sst(string: str) -> str:
    """Kim (2014), CNN_sentence/process_data.py, verbatim."""
    string = re.sub(r"[^A-Za-z0-9(),!?\'\`]", " ", string)
    string = re.sub(r"\s{2,}", " ", string)
    return string.strip().lower()
