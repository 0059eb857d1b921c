"""Bring your own data: labelled text from CSV, TSV, JSONL, Kim's label-first lines or a .pos/.neg pair.

``load_splits(cfg)`` is the entry point for every data set, SST (data.py) or ``dataset: custom``.
A custom file is read into ``Record``s (tokens, label text, file:line); the class names come from
the training labels (sorted, integer labels numerically, or in the order of ``data.classes``) and
each split becomes ``Example(tokens, class index)``. Without ``data.dev`` a stratified
``dev_fraction`` of train is held out as dev; with ``cv_folds`` the training file is cut into
stratified folds and ``data.fold`` names the one held out as test (crossval.py trains them all).

Formats (``data.format``, else from the extension):
    csv (.csv), tsv (.tsv .tab)  a header row naming the columns (data.text_column, data.label_column);
                                 CSV is quoted as RFC 4180, TSV never (a quote is text, a tab ends a field)
    jsonl (.jsonl .ndjson)       one JSON object per line, the same two keys; labels strings or integers
    label-first (.txt)           ``1 the movie was great``: the label, whitespace, the text (Kim's files)
    pos-neg (.pos .neg)          the MR pair PREFIX.pos / PREFIX.neg, one text per line, classes
                                 positive / negative; data.train may name either file or PREFIX

Lines holding only whitespace are not records and are skipped (as the csv module does); a record
with an empty text or label is an error naming the file and line. Text is tokenized with
``vocab.tokenize`` keeping case (the vocabulary lower-cases), as explain.py tokenizes typed text.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from textdeconv.config import CHOICES, DataConfig
from textdeconv.data.treebank import Example, subsample
from textdeconv.data.vocab import tokenize
from textdeconv.errors import DataError, InputError, MissingFileError, quoted

EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".txt": "label-first", ".pos": "pos-neg", ".neg": "pos-neg"}

POLARITY = ((".pos", "positive"), (".neg", "negative"))  # (file suffix, class name), Kim's reading order

_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Record:
    tokens: tuple[str, ...]
    label: str
    where: str  # "file:line", for messages


def file_format(path: str, configured: str | None = None) -> str:
    """``data.format`` if set, else the format its extension stands for."""
    if configured:
        return configured
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the extension {Path(path).suffix or '(none)'!r}; "
                        f"set data.format to one of {', '.join(CHOICES['data.format'])}")
    return fmt


def data_files(path: str, fmt: str) -> list[tuple[Path, str | None]]:
    """``(file, label)`` pairs to read: the file itself (labels inside), or a .pos/.neg pair
    (``~`` expanded, as in every other configured path)."""
    p = Path(path).expanduser()
    if fmt != "pos-neg":
        return [(p, None)]
    prefix = p.with_suffix("") if p.suffix in (".pos", ".neg") else p
    return [(prefix.with_name(prefix.name + suffix), label) for suffix, label in POLARITY]


def read_text(path: Path, encoding: str) -> str:
    """The decoded file; an undecodable byte raises DataError naming the file, line and byte column."""
    if not path.is_file():
        raise MissingFileError(f"data file not found: {path}")
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - data.rfind(b"\n", 0, e.start)
        raise DataError(f"{path}:{line}: not valid {encoding} (byte 0x{data[e.start]:02x} at column {column}); set "
                        "data.encoding (the MR rt-polarity files are latin-1) or re-encode the file") from None
    return text.removeprefix("\ufeff")


def _lines(text: str):
    """``(line number, line)``, split on \\n only, so numbers match the byte offsets of read_text."""
    for i, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield i, line.rstrip("\r")


def _record(text: str, label: str, where: str, what: str) -> Record:
    if not label.strip():
        raise DataError(f"{where}: empty label")
    tokens = tokenize(text, lowercase=False)
    if not tokens:
        raise DataError(f"{where}: empty text ({what})")
    return Record(tuple(tokens), label.strip(), where)


FIELD_LIMIT = 1 << 26  # characters in one CSV field: a whole book fits (the csv module's default is 131,072)


def _read_table(path: Path, text: str, cfg: DataConfig, delimiter: str, how=None) -> list[Record]:
    kind, quoting = ("TSV", csv.QUOTE_NONE) if delimiter == "\t" else ("CSV", csv.QUOTE_MINIMAL)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    header, records, prev = None, [], 0
    limit = csv.field_size_limit(max(FIELD_LIMIT, csv.field_size_limit()))  # process-wide: put back below
    try:
        for row in reader:
            start, prev = prev + 1, reader.line_num  # a quoted field may span lines: report the first
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            where = f"{path}:{start}"
            if header is None:
                header = [name.strip() for name in row]
                twice = sorted({quoted(n, 40) for n in header if header.count(n) > 1})
                if twice:
                    raise DataError(f"{where}: the header names {', '.join(twice)} more than once; give each "
                                    "column its own name")
                cols = [_column(header, cfg.text_column, "text_column", where, how),
                        _column(header, cfg.label_column, "label_column", where, how)]
                continue
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} fields, but the header has {len(header)} "
                                f"({', '.join(header)})")
            records.append(_record(row[cols[0]], row[cols[1]], where, f"column {cfg.text_column!r}"))
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: not valid {kind} ({e})") from None
    finally:
        csv.field_size_limit(limit)
    return records


def _fix(key: str, how) -> str:
    """What to do about a missing column: ``set data.text_column`` (a config), or the option
    ``how[key]`` names (``pass --text-column NAME``)."""
    return f"pass {how[key]} NAME" if how and key in how else f"set data.{key}"


def _column(header: list[str], name: str, key: str, where: str, how=None) -> int:
    if name not in header:
        found = quoted(", ".join(header), 200)[1:-1]
        raise DataError(f"{where}: no column {quoted(name)} (columns found: {found}); {_fix(key, how)}")
    return header.index(name)


def _read_jsonl(path: Path, text: str, cfg: DataConfig, how=None) -> list[Record]:
    records = []
    for i, line in _lines(text):
        where = f"{path}:{i}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        for key, name in (("text_column", cfg.text_column), ("label_column", cfg.label_column)):
            if name not in obj:
                found = quoted(", ".join(obj), 200)[1:-1]
                raise DataError(f"{where}: no key {quoted(name)} (keys found: {found}); {_fix(key, how)}")
        text_value, label = obj[cfg.text_column], obj[cfg.label_column]
        if not isinstance(text_value, str):
            raise DataError(f"{where}: {cfg.text_column!r} must be a string, got {json.dumps(text_value)}")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(f"{where}: {cfg.label_column!r} must be a string or an integer, got {json.dumps(label)}")
        records.append(_record(text_value, str(label), where, f"key {cfg.text_column!r}"))
    return records


def read_records(path: str, cfg: DataConfig, how: dict | None = None) -> list[Record]:
    """Every record of one data file (or .pos/.neg pair), in file order. ``how``: the options that
    set ``text_column`` / ``label_column`` (``{"text_column": "--text-column"}``), for messages.

    Raises:
        MissingFileError: the file (or one of the pair) is missing.
        DataError: bad bytes, bad rows, missing columns, empty text or label (file:line).
    """
    fmt = file_format(path, cfg.format)
    records = []
    for file, label in data_files(path, fmt):
        text = read_text(file, cfg.encoding)
        if fmt in ("csv", "tsv"):
            records += _read_table(file, text, cfg, "," if fmt == "csv" else "\t", how)
        elif fmt == "jsonl":
            records += _read_jsonl(file, text, cfg, how)
        elif fmt == "pos-neg":
            records += [_record(line, label, f"{file}:{i}", "the whole line") for i, line in _lines(text)]
        else:  # label-first
            for i, line in _lines(text):
                label_text, *rest = line.split(None, 1)
                records.append(_record("".join(rest), label_text, f"{file}:{i}", "after the label"))
    if not records:
        raise DataError(f"{path}: no examples")
    return records


def read_records_text(name: str, text: str, fmt: str, cfg: DataConfig, how: dict | None = None) -> list[Record]:
    """``read_records`` for content already in memory (the explorer's uploaded file): ``name``
    stands for the file in messages, ``fmt`` is csv, tsv or jsonl (the formats with a text and a
    label column).

    Raises:
        DataError: bad rows, missing columns, empty text or label (``name:line``), no records.
    """
    if fmt not in ("csv", "tsv", "jsonl"):
        raise DataError(f"{name}: format {fmt!r} is not one of csv, tsv, jsonl")
    text = text.removeprefix("\ufeff")
    path = Path(name)
    records = (_read_jsonl(path, text, cfg, how) if fmt == "jsonl"
               else _read_table(path, text, cfg, "," if fmt == "csv" else "\t", how))
    if not records:
        raise DataError(f"{name}: no examples")
    return records


def class_order(records: list[Record], configured, train_path: str) -> tuple[str, ...]:
    """Class names in id order: ``data.classes``, else sorted (integer labels numerically).

    Without ``data.classes`` the labels must be all integers or all words: ``pos``, ``neg``, ``0``
    and ``1`` in one file are more likely two labelling schemes mixed up than four classes.
    """
    counts = Counter(r.label for r in records)
    if configured:
        for r in records:
            if r.label not in configured:
                raise DataError(f"{r.where}: label {r.label!r} is not in data.classes ({', '.join(configured)})")
        missing = [c for c in configured if c not in counts]
        if missing:
            raise DataError(f"{train_path}: no training example of class {missing[0]!r} (data.classes)")
        return tuple(configured)
    first = records[0]
    integer = bool(_INTEGER.fullmatch(first.label))
    other = next((r for r in records if bool(_INTEGER.fullmatch(r.label)) != integer), None)
    if other is not None:
        kinds = ("an integer", "words") if not integer else ("a word", "integers")
        ints = sorted((label for label in counts if _INTEGER.fullmatch(label)), key=lambda label: (int(label), label))
        listed = ", ".join(ints + sorted(label for label in counts if label not in ints))
        raise DataError(f"{other.where}: label {other.label!r} is {kinds[0]}, but the labels before it are "
                        f"{kinds[1]} ({first.label!r} on {first.where}); fix the labels, or list every class in "
                        f"data.classes if they really are {len(counts)} classes (e.g. data.classes=[{listed}])")
    if len(counts) < 2:
        raise DataError(f"{train_path}: every training example has the label {next(iter(counts))!r}; "
                        "a classifier needs at least two classes")
    if all(_INTEGER.fullmatch(label) for label in counts):
        return tuple(sorted(counts, key=lambda label: (int(label), label)))
    return tuple(sorted(counts))


def to_examples(records: list[Record], classes: tuple[str, ...], train_path: str) -> list[Example]:
    index = {c: i for i, c in enumerate(classes)}
    for r in records:
        if r.label not in index:
            raise DataError(f"{r.where}: label {r.label!r} does not occur in the training data {train_path} "
                            f"(classes: {', '.join(classes)})")
    return [Example(r.tokens, index[r.label]) for r in records]


def _fewest(examples, classes) -> tuple[str, int]:
    counts = Counter(ex.label for ex in examples)
    label = min(range(len(classes)), key=lambda c: (counts[c], c))
    return classes[label], counts[label]


def hold_out(examples: list[Example], fraction: float, seed: int, classes, where: str):
    """``(rest, held_out)``: a stratified ``fraction`` of ``examples`` held out, both in file order.

    scikit-learn's stratified split: ceil(fraction * n) examples held out, each class as close to
    its share as whole numbers allow.
    """
    from sklearn.model_selection import train_test_split

    name, n = _fewest(examples, classes)
    if n < 2:
        raise DataError(f"{where}: class {name!r} has {n} example(s); a stratified dev split needs at least 2 "
                        "of each class (or give data.dev)")
    try:
        rest, held = train_test_split(range(len(examples)), test_size=fraction, random_state=seed,
                                      stratify=[ex.label for ex in examples])
    except ValueError as e:
        raise DataError(f"{where}: cannot hold out a stratified dev split of data.dev_fraction={fraction} from "
                        f"{len(examples)} examples ({e}); give data.dev or raise data.dev_fraction") from None
    return [examples[i] for i in sorted(rest)], [examples[i] for i in sorted(held)]


def fold_indices(examples: list[Example], k: int, seed: int, classes, where: str) -> list[list[int]]:
    """Test indices of each of ``k`` stratified folds; every example is in exactly one."""
    from sklearn.model_selection import StratifiedKFold

    name, n = _fewest(examples, classes)
    if n < k:
        raise DataError(f"{where}: class {name!r} has {n} example(s), fewer than data.cv_folds={k}; "
                        "every fold needs one of each class")
    labels = [ex.label for ex in examples]
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels)
    return [sorted(int(i) for i in test) for _, test in folds]


def load_custom(cfg: DataConfig) -> tuple[dict[str, list[Example]], tuple[str, ...]]:
    """``({"train", "dev"[, "test"]: [Example]}, class names)`` from the files of ``cfg``."""
    records = read_records(cfg.train, cfg)
    classes = class_order(records, cfg.classes, cfg.train)
    train = to_examples(records, classes, cfg.train)
    splits = {}
    if cfg.cv_folds:
        if cfg.fold is None:
            raise DataError(f"data.cv_folds={cfg.cv_folds} trains one model per fold: run scripts/train.py --cv "
                            f"{cfg.cv_folds} (textdeconv.crossval.cross_validate), or set data.fold to train one")
        held = fold_indices(train, cfg.cv_folds, cfg.seed, classes, cfg.train)[cfg.fold - 1]
        splits["test"] = [train[i] for i in held]
        held = set(held)
        train = [ex for i, ex in enumerate(train) if i not in held]
    if cfg.dev:
        splits["dev"] = to_examples(read_records(cfg.dev, cfg), classes, cfg.train)
    else:
        where = cfg.train if cfg.fold is None else f"{cfg.train} (fold {cfg.fold} of {cfg.cv_folds})"
        train, splits["dev"] = hold_out(train, cfg.dev_fraction, cfg.seed, classes, where)
    if cfg.test:
        splits["test"] = to_examples(read_records(cfg.test, cfg), classes, cfg.train)
    out = {"train": subsample(train, cfg.max_train)}
    out.update({s: subsample(splits[s], cfg.max_eval) for s in ("dev", "test") if s in splits})
    return out, classes


def line_encoding(name: str, option: str = "--encoding") -> str:
    """``name`` if it is an encoding a file can be split into lines with before decoding: ``\\n``
    and ``\\r`` must be those single bytes (UTF-8, latin-1, cp1252, ...; not UTF-16).

    Raises:
        InputError: an unknown encoding, or one that is not ASCII-compatible (names ``option``).
    """
    try:
        codecs.lookup(name)
    except LookupError:
        raise InputError(f"{option} {name!r} is not an encoding Python knows (e.g. utf-8, latin-1)") from None
    try:
        ok = b"\n\r az".decode(name) == "\n\r az"
    except UnicodeDecodeError:
        ok = False
    if not ok:
        raise InputError(f"{option} {name}: lines are split on the bytes of \\n and \\r, so the encoding must be "
                         "ASCII-compatible (utf-8, latin-1, cp1252, ...); re-encode the file as UTF-8")
    return name


def decode_problem(raw: bytes, start: int, encoding: str = "utf-8") -> str:
    """What is wrong with a line whose byte ``raw[start]`` does not decode, e.g.
    ``not valid UTF-8 (byte 0xe9 at column 4)``."""
    label = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
    return f"not valid {label} (byte 0x{raw[start]:02x} at column {start + 1})"


def undecodable(name, line_no: int, raw: bytes, start: int, encoding: str = "utf-8") -> DataError:
    """The error for line ``line_no`` of ``name`` whose byte ``raw[start]`` does not decode."""
    return DataError(f"{name}:{line_no}: {decode_problem(raw, start, encoding)}; re-encode the file as UTF-8, or "
                     "name its encoding with --encoding (e.g. latin-1)")


def read_sentences(path: str, stream=None, encoding: str = "utf-8") -> list[tuple[int, str]]:
    """``(line_number, text)`` for each non-empty line of a text file (``-`` = ``stream``/stdin; a
    pipe such as ``<(cmd)`` is read like a file).

    Empty and whitespace-only lines are skipped (line numbers keep counting). A byte sequence that
    does not decode raises DataError naming the file, line and column.
    """
    from textdeconv.outputs import check_input_file

    if path == "-":
        data = (stream or sys.stdin.buffer).read()
        name = "<stdin>"
    else:
        with open(check_input_file(path), "rb") as f:
            data, name = f.read(), path
    out = []
    for i, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise undecodable(name, i, raw, e.start, encoding) from None
        line = line.lstrip("\ufeff") if i == 1 else line
        if line.strip():
            out.append((i, line.strip()))
    return out
