"""SST data: tree parsing, label schemes, examples, splits, data-folder resolution, raw sentences."""
import io
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TREES, write_trees
from helpers import ptb

from textdeconv.config import DataConfig
from textdeconv.data.custom import read_sentences
from textdeconv.data.download import DEFAULT_DIR, ensure_sst, find_tree_dir, resolve_data_dir
from textdeconv.data.splits import load_sst
from textdeconv.data.treebank import (
    CLASS_NAMES,
    SPLITS,
    Example,
    Tree,
    map_label,
    parse_tree,
    phrase_examples,
    read_tree_sentences,
    read_trees,
    sentence_examples,
    sentence_of,
    subsample,
)
from textdeconv.data.vocab import clean_tokens
from textdeconv.errors import DataError


def ex(text, label):
    return Example(tuple(text.split(" ")), label)


TRAIN_TREES = [parse_tree(t) for t in TREES["train"]]

# Every distinct labelled phrase of the training trees, pre-order, SST-2 labels (neutral dropped).
# "good ." and "good" occur in the first and the last tree: kept once.
SST2_TRAIN_PHRASES = [
    ex("It 's good .", 1), ex("'s good .", 1), ex("good .", 1), ex("good", 1),
    ex("The clichés are tiresome .", 0), ex("are tiresome .", 0), ex("are tiresome", 0), ex("tiresome", 0),
    ex("-LRB- Very -RRB- good .", 1),
]
SST5_TRAIN_PHRASES = [
    ex("It 's good .", 3), ex("It", 2), ex("'s good .", 4), ex("'s", 2), ex("good .", 3), ex("good", 3), ex(".", 2),
    ex("The clichés are tiresome .", 1), ex("The clichés", 2), ex("The", 2), ex("clichés", 2),
    ex("are tiresome .", 1), ex("are tiresome", 1), ex("are", 2), ex("tiresome", 0),
    ex("It 's a film", 2), ex("'s a film", 2), ex("a film", 2), ex("a", 2), ex("film", 2),
    ex("-LRB- Very -RRB- good .", 4), ex("-LRB- Very -RRB-", 2), ex("-LRB-", 2), ex("Very -RRB-", 2),
    ex("Very", 2), ex("-RRB-", 2),
]


# --------------------------------------------------------------------------------------------
# Parsing


def test_parse_tree_structure():
    t = parse_tree("(3 (2 It) (4 (2 's) (3 (3 good) (2 .))))")
    assert t.label == 3 and t.word is None and len(t.children) == 2
    assert t.children[0] == Tree(2, word="It")
    assert t.leaves() == ["It", "'s", "good", "."]
    subs = list(t.subtrees())
    assert len(subs) == 7
    assert [s.label for s in subs] == [3, 2, 4, 2, 3, 3, 2]  # pre-order, root first
    assert [" ".join(s.leaves()) for s in subs] == [
        "It 's good .", "It", "'s good .", "'s", "good .", "good", "."]


def test_parse_tree_keeps_accents_brackets_and_tolerates_whitespace():
    t = parse_tree("  (1 (2 (2 The)  (2 clichés))\t(2 -LRB-) )  ")
    assert t.leaves() == ["The", "clichés", "-LRB-"]
    assert t.label == 1
    assert parse_tree("(4 wow)") == Tree(4, word="wow")
    # a leaf is one token: whitespace inside it is dropped (the shipped train.txt has "R  ock")
    assert parse_tree("(3 (2 (2 The) (2 R  ock)) (2 .))").leaves() == ["The", "Rock", "."]


@pytest.mark.parametrize("text, message", [
    ("(3 (2 a) (2 b)", "expected ')' at character 15"),                         # unbalanced
    ("(7 (2 a) (2 b))", "expected a sentiment label 0-4, got '7' at character 3"),
    ("(x a)", "expected a sentiment label 0-4, got 'x' at character 3"),
    ("(12 a)", "expected a sentiment label 0-4, got '12' at character 4"),
    ("(2 a) x", "unexpected text after the tree at character 7"),
    ("(2 a))", "unexpected text after the tree at character 6"),
    ("", "expected '(' at character 1"),
    ("2 a", "expected '(' at character 1"),
    ("(2 )", "empty leaf at character 4"),
])
def test_parse_errors(text, message):
    with pytest.raises(DataError) as e:
        parse_tree(text, where="f.txt:9")
    assert str(e.value) == f"f.txt:9: {message}"


def test_read_trees_skips_blank_lines_and_reports_file_and_line(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("\n(3 (2 a) (3 b))\n   \n(1 bad)\n", encoding="utf-8")
    trees = read_trees(p)
    assert [t.leaves() for t in trees] == [["a", "b"], ["bad"]]
    assert [t.label for t in trees] == [3, 1]

    p.write_text("(3 (2 a) (3 b))\n\n(7 (2 a) (2 b))\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_trees(p)
    assert str(e.value) == f"{p}:3: expected a sentiment label 0-4, got '7' at character 3"

    p.write_text("(3 (2 a) (3 b)\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.txt:1: expected '\)' at character 15$"):
        read_trees(p)


def outcome(f, text):
    try:
        return "ok", f(text, "f.txt:9")
    except DataError as e:
        return "error", str(e)
    except ValueError as e:  # int() of a non-ASCII digit label: parse_tree's own failure
        return "ValueError", str(e)


def tree_outcome(text):
    kind, value = outcome(parse_tree, text)
    return (kind, (value.label, value.leaves())) if kind == "ok" else (kind, value)


@pytest.mark.parametrize("text", [
    "(3 (2 (2 The) (2 R  ock)) (2 .))", "(4 wow)", "(2(3 a)(1 b))", "(2 (3 a)  (1 b) )", "(03 a)", "(2 a\tb)",
    "(2 a\u00a0b)", "(\u0663 a)", "(2 \x00)", "(2 a\x00)", "(3 (2 a) (2 b)", "(7 (2 a) (2 b))", "(x a)", "(12 a)",
    "(2 a) x", "(2 a))", "", "2 a", "(2 )", "(2 (3 a) b)", "(2 a (3 b))", "(2 (3 a))(2 b)", "(2)", "(2 ( a))",
    "( 2 a)", "(2a)", "(2 (3 )(1 b))", "x(2 a)", "(2 (3 a)", ")(2 a)",
])
def test_sentence_of_is_parse_tree_root_and_leaves(text):
    """The regex reader gives parse_tree's (label, leaves), or its exact error, on every case:
    well formed, odd but accepted (two-digit label, a tab or NBSP inside a leaf), and each malformation."""
    assert outcome(sentence_of, text) == tree_outcome(text)


def test_sentence_of_fuzzed_lines_equal_parse_tree():
    """10,000 random edits of real-looking trees (characters dropped, inserted, lines cut): the
    same result or the same message as the character-by-character parser."""
    rng = random.Random(37)
    alphabet = "() 0123456789ab\t\x00"
    cases = 0
    for _ in range(10_000):
        chars = list(rng.choice([t for split in TREES.values() for t in split]))
        for _ in range(rng.randint(1, 3)):
            op, at = rng.random(), rng.randrange(len(chars) + 1)
            if op < 0.4 and chars:
                chars.pop(min(at, len(chars) - 1))
            elif op < 0.8:
                chars.insert(at, rng.choice(alphabet))
            else:
                chars = chars[:at]
        text = "".join(chars)
        cases += outcome(sentence_of, text)[0] == "ok"
        assert outcome(sentence_of, text) == tree_outcome(text), text
    assert cases > 1000  # the edits leave many trees well formed, not only errors


def test_read_tree_sentences_equals_sentence_examples_of_read_trees(tmp_path, real_data_dir):
    p = tmp_path / "train.txt"
    p.write_text("\n(3 (2 a) (3 b))\n   \n(1 bad)\n(2 neutral)\n(03 two-digit)\n", encoding="utf-8")
    assert read_tree_sentences(p, "sst2") == [Example(("a", "b"), 1), Example(("bad",), 0), Example(("two-digit",), 1)]
    for dataset in ("sst2", "sst5"):
        assert read_tree_sentences(p, dataset) == sentence_examples(read_trees(p), dataset)
    p.write_text("(3 (2 a) (3 b))\n\n(7 (2 a) (2 b))\n", encoding="utf-8")
    message = f"{p}:3: expected a sentiment label 0-4, got '7' at character 3"
    with pytest.raises(DataError, match=r"^" + re.escape(message) + "$"):
        read_tree_sentences(p, "sst2")
    p.write_bytes(b"(3 (2 a) (3 b))\n(2 caf\xe9)\n")
    with pytest.raises(DataError, match=r"train\.txt:2: not valid UTF-8 \(byte 0xe9 at column 7\)"):
        read_tree_sentences(p, "sst2")
    for split in SPLITS:  # the real treebank: every split, both label schemes
        path = real_data_dir / "trees" / f"{split}.txt"
        trees = read_trees(path)
        for dataset in ("sst2", "sst5"):
            assert read_tree_sentences(path, dataset) == sentence_examples(trees, dataset)


# --------------------------------------------------------------------------------------------
# Labels and examples


def test_map_label():
    assert [map_label(y, "sst5") for y in range(5)] == [0, 1, 2, 3, 4]
    assert [map_label(y, "sst2") for y in range(5)] == [0, 0, None, 1, 1]
    with pytest.raises(ValueError, match=r"unknown dataset 'imdb'; expected one of sst2, sst5"):
        map_label(1, "imdb")
    assert len(CLASS_NAMES["sst2"]) == 2 and len(CLASS_NAMES["sst5"]) == 5


def test_sentence_examples():
    assert sentence_examples(TRAIN_TREES, "sst2") == [
        ex("It 's good .", 1), ex("The clichés are tiresome .", 0), ex("-LRB- Very -RRB- good .", 1)]
    assert sentence_examples(TRAIN_TREES, "sst5") == [
        ex("It 's good .", 3), ex("The clichés are tiresome .", 1), ex("It 's a film", 2),
        ex("-LRB- Very -RRB- good .", 4)]


def test_phrase_examples_sst2():
    assert phrase_examples(TRAIN_TREES, "sst2") == SST2_TRAIN_PHRASES


def test_phrase_examples_sst5_keeps_neutral_and_dedups():
    got = phrase_examples(TRAIN_TREES, "sst5")
    assert got == SST5_TRAIN_PHRASES
    assert [e.tokens for e in got].count(("good", ".")) == 1
    assert len({e.tokens for e in got}) == len(got)


# --------------------------------------------------------------------------------------------
# Splits


def test_load_sst_phrases(tiny_trees_dir):
    splits = load_sst(DataConfig(dir=str(tiny_trees_dir), download=False))
    assert list(splits) == list(SPLITS)
    assert splits["train"] == SST2_TRAIN_PHRASES
    assert splits["dev"] == [ex("A delight .", 1), ex("Not once awful .", 0)]
    assert splits["test"] == [ex("Quite fun", 1), ex("Too long", 0)]  # neutral sentence dropped


def test_load_sst_sentences_sst5(tiny_trees_dir):
    splits = load_sst(DataConfig(dataset="sst5", dir=str(tiny_trees_dir), download=False, train_on="sentences"))
    assert splits["train"] == sentence_examples(TRAIN_TREES, "sst5")
    assert splits["dev"] == [ex("A delight .", 4), ex("Not once awful .", 0)]
    assert splits["test"] == [ex("Quite fun", 3), ex("Too long", 1), ex("A movie", 2)]


def test_max_train_and_max_eval_take_an_even_stride(tmp_path):
    # SST files are sorted by sentiment: a prefix would hold a single class.
    neg = [f"(0 (2 bad{i}) (1 movie))" for i in range(4)]
    pos = [f"(4 (2 good{i}) (3 movie))" for i in range(4)]
    write_trees(tmp_path, {"train": neg + pos, "dev": neg[:3] + pos[:3], "test": neg + pos})
    cfg = DataConfig(dir=str(tmp_path), download=False, train_on="sentences", max_train=2, max_eval=3)
    splits = load_sst(cfg)
    assert splits["train"] == [ex("bad0 movie", 0), ex("good0 movie", 1)]
    assert splits["dev"] == [ex("bad0 movie", 0), ex("bad2 movie", 0), ex("good1 movie", 1)]
    assert [e.label for e in splits["test"]] == [0, 0, 1]
    big = load_sst(DataConfig(dir=str(tmp_path), download=False, train_on="sentences", max_train=100))
    assert len(big["train"]) == 8 and len(big["test"]) == 8


def test_subsample():
    xs = list(range(10))
    assert subsample(xs, 3) == [0, 3, 6]
    assert subsample(xs, 5) == [0, 2, 4, 6, 8]
    assert subsample(xs, 10) is xs
    assert subsample(xs, None) is xs


# --------------------------------------------------------------------------------------------
# Where the data lives


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("TEXTDECONV_DATA", raising=False)
    assert resolve_data_dir(None) == DEFAULT_DIR == Path("data") / "sst"  # of the working directory
    monkeypatch.setenv("TEXTDECONV_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"  # config key beats env
    monkeypatch.setenv("TEXTDECONV_DATA", "")
    assert resolve_data_dir(None) == DEFAULT_DIR  # an empty variable counts as unset
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_dir("~/sst") == tmp_path / "sst"


def test_find_tree_dir(tiny_trees_dir, tmp_path):
    assert find_tree_dir(tiny_trees_dir) == tiny_trees_dir / "trees"
    assert find_tree_dir(tiny_trees_dir / "trees") == tiny_trees_dir / "trees"
    (tiny_trees_dir / "trees" / "dev.txt").unlink()
    assert find_tree_dir(tiny_trees_dir) is None
    assert find_tree_dir(tmp_path / "nowhere") is None


def test_ensure_sst_uses_env_var(monkeypatch, tiny_trees_dir):
    monkeypatch.setenv("TEXTDECONV_DATA", str(tiny_trees_dir))
    assert ensure_sst(DataConfig(download=False)) == tiny_trees_dir / "trees"


def test_missing_data_without_download_says_how_to_fetch(tmp_path):
    root = tmp_path / "empty"
    with pytest.raises(FileNotFoundError) as e:
        load_sst(DataConfig(dir=str(root), download=False))
    msg = str(e.value)
    assert msg.startswith(f"SST trees not found in {root} ")
    assert f"textdeconv download --dir {root}" in msg
    assert "$TEXTDECONV_DATA" in msg
    assert msg.endswith("(download disabled: data.download=false / --offline)")
    assert not root.exists()  # nothing created


# --------------------------------------------------------------------------------------------
# Raw sentences (explain.py input)


def test_read_sentences_skips_empty_lines_and_strips_bom(tmp_path):
    p = tmp_path / "in.txt"
    p.write_bytes("\ufeffA fine film .\n\n   \n  clichés galore \r\nlast".encode("utf-8"))
    assert read_sentences(str(p)) == [(1, "A fine film ."), (4, "clichés galore"), (5, "last")]


def test_read_sentences_bad_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("ok\n\nnaïve\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        read_sentences(str(p))
    assert str(e.value) == (f"{p}:3: not valid UTF-8 (byte 0xef at column 3); re-encode the file as UTF-8, or name "
                            "its encoding with --encoding (e.g. latin-1)")


def test_read_sentences_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"input file not found: .*nope\.txt"):
        read_sentences(str(tmp_path / "nope.txt"))


def test_read_sentences_from_a_stream():
    stream = io.BytesIO("\ufefffirst\n\nsecond one\n".encode("utf-8"))
    assert read_sentences("-", stream=stream) == [(1, "first"), (3, "second one")]
    with pytest.raises(DataError, match=r"^<stdin>:2: not valid UTF-8 \(byte 0xff at column 2\)"):
        read_sentences("-", stream=io.BytesIO(b"fine\nx\xff\n"))


# --------------------------------------------------------------------------------------------
# Real SST (skipped without $TEXTDECONV_DATA)


@pytest.mark.parametrize("require, outcome", [("", "1 skipped"), ("1", "1 error")])
def test_missing_real_data_skips_or_fails_under_require_data(tmp_path, require, outcome):
    """Without the trees a real-data test skips; with TEXTDECONV_REQUIRE_DATA (as in CI) it errors."""
    env = {**os.environ, "TEXTDECONV_DATA": str(tmp_path), "TEXTDECONV_REQUIRE_DATA": require}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsf",
                           f"{Path(__file__).name}::test_real_sentence_counts"], cwd=Path(__file__).parent, env=env,
                          capture_output=True, text=True, timeout=120)
    assert outcome in proc.stdout, proc.stdout[-2000:]
    assert f"TEXTDECONV_DATA={tmp_path} holds no trees/train.txt" in proc.stdout
    assert ("(TEXTDECONV_REQUIRE_DATA is set)" in proc.stdout) == bool(require)


@pytest.fixture(scope="module")
def real_trees(request):
    root = request.getfixturevalue("real_data_dir")
    return {s: read_trees(Path(root) / "trees" / f"{s}.txt") for s in SPLITS}


def test_real_sentence_counts(real_trees):
    counts = {d: [len(sentence_examples(real_trees[s], d)) for s in SPLITS] for d in ("sst5", "sst2")}
    assert counts == {"sst5": [8544, 1101, 2210], "sst2": [6920, 872, 1821]}


def test_real_phrase_training_set(real_trees, real_data_dir):
    """SST-2 phrases: the distinct token sequences of the non-neutral nodes of the training trees,
    sentences included, counted by a second parser (tests/helpers/ptb.py) sharing no code with
    textdeconv.data: 77,616, and the same sequences. The one rule both share is the treebank
    reader's documented one, a leaf's inner whitespace dropped (14 phrases hold such a leaf)."""
    phrases = phrase_examples(real_trees["train"], "sst2")
    independent = {leaves for tree in ptb.trees(Path(real_data_dir) / "trees" / "train.txt")
                   for label, leaves in tree if label != 2}
    assert len(independent) == 77616
    assert {e.tokens for e in phrases} == independent
    assert len({e.tokens for e in phrases}) == len(phrases)
    assert {e.label for e in phrases} == {0, 1}


@pytest.mark.parametrize("dataset", ["sst2", "sst5"])
def test_split_sentences_reads_only_the_split_asked_for(tiny_trees_dir, dataset, monkeypatch):
    from dataclasses import replace

    from textdeconv.data import splits
    from textdeconv.data.splits import load_split, split_sentences

    cfg = DataConfig(dataset=dataset, dir=str(tiny_trees_dir), download=False, max_train=1, max_eval=1)
    full = replace(cfg, train_on="sentences", max_train=None, max_eval=None)
    for split in SPLITS:  # the same sentences as the path through every split (load_split)
        ids, tokens, gold = split_sentences(cfg, split, "kim")
        want = load_split(full, split)
        assert (tokens, gold) == ([clean_tokens(e.tokens, "kim") for e in want], [e.label for e in want])
        assert ids == list(range(1, len(want) + 1))
    read = []
    monkeypatch.setattr(splits, "read_trees", lambda path: read.append(("trees", Path(path).name)) or read_trees(path))
    monkeypatch.setattr(splits, "read_tree_sentences", lambda path, dataset: read.append(Path(path).name)
                        or read_tree_sentences(path, dataset))
    assert split_sentences(cfg, "test")[1] == [["Quite", "fun"], ["Too", "long"]] + (
        [["A", "movie"]] if dataset == "sst5" else [])
    assert read == ["test.txt"]  # not the training trees (3/4 of the time on the real treebank), no Tree objects
