"""Explain a corpus on Apache Beam: ``textdeconv explain --runner beam`` and ``explain_corpus``.

    textdeconv explain --run RUN --input 'corpus/*.txt.gz' --output out/ --runner beam
    textdeconv explain --run RUN --input 'gs://b/corpus/*' --output gs://b/out --runner beam -- \\
        --runner DataflowRunner --project P --region R --temp_location gs://b/tmp --setup_file ./setup.py

The pipeline (``ExplainCorpus``, a ``PTransform`` you can also put in a pipeline of your own):

1. ``Read``: each file matched by the input patterns (plain, or compressed as its extension says:
   .gz, .bz2, .zst, ...) is read line by line, as the single-machine stream reads one
   (``stream.split_lines``: ``\\n``, ``\\r\\n`` or a lone ``\\r`` ends a line; blank lines are
   skipped but counted), and cut into blocks of ``chunk_lines`` lines: block k of a file holds
   its lines k*C+1 .. (k+1)*C. A line that does not decode, and the rest of a file that cannot be
   read (a truncated .gz), go to the dead-letter output with the file and line number.
2. ``Tokenize``: the run's tokenizer and ``vocab.clean``; a line left with no token is a dead
   letter too.
3. ``Spread``: a reshuffle, so that the blocks of one big file are explained by every worker.
4. ``Explain``: Beam's ``RunInference`` with ``ExplainModelHandler``: the run is loaded once per
   worker process and shared by its threads (Beam's ``Shared``); one block is one inference
   batch, explained exactly as ``stream.ExplainJob`` explains it (the same block, the same
   ``batch_size``, the same warmed-up graph), so every score equals the single-machine
   ``explain --input FILE --output x.parquet`` one, bit for bit.
5. ``Write``: the token rows (``COLUMNS``: the stream's columns plus ``source`` and ``line``) as
   Parquet (``parquet.WRITE_OPTIONS``: dictionary-encoded, zstd) or CSV shards
   ``tokens-SSSSS-of-NNNNN.parquet|csv``, and the dead letters as JSON lines
   ``dead-letter-SSSSS-of-NNNNN.jsonl`` (``source``, ``line``, ``error``, ``text``).

``sentence_id`` is ``file_index * 10**12 + line``, ``file_index`` the file's position among the
sorted matched paths: unique in the corpus, and for one input file simply its line number, as in
the single-machine output. Rows come in no particular order: sort by ``sentence_id`` and
``token_index`` (or by ``source``, ``line``) when order matters.

The output folder. Everything is written under ``out/.staging-<id>/`` first (Beam's own sinks stage
and rename again inside it); when the pipeline has succeeded the files move into ``out/`` and
``manifest.json`` (settings, inputs, files and counts) is written last: a folder with a manifest
holds one complete job, and the manifest says which files are the job's. ``out`` must be new,
empty, or hold exactly one job (its manifest and the files it lists): a folder holding anything
else (files and no manifest, a file the manifest does not list) is refused, and so is an input
inside ``out``. A job is refused unless ``overwrite``; then exactly the files the old manifest
lists (and the manifest) are removed, only after the new job has succeeded. The folder is locked
(``locks.Lock``) while a job runs, so a second job into it is refused; a staging folder found
under the lock was left by a killed job and is removed. A failed pipeline leaves the folder as it
was (its staging folder is removed, and a folder the job created is removed again). Ctrl-C and
SIGTERM raise ``KeyboardInterrupt`` (the command exits 130 / 143) whatever Beam's runner makes of
them. The run's model is loaded once before the pipeline starts, so a corrupt or mismatched run
fails in one line; unknown Beam options are refused (``check_pipeline_args``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from textdeconv.data.custom import decode_problem
from textdeconv.errors import InputError, MissingFileError, OutputError, quoted
from textdeconv.locks import Lock
from textdeconv.reports.export import CSV_COLUMNS, token_frame
from textdeconv.reports.parquet import SCHEMA, WRITE_OPTIONS, token_table
from textdeconv.reports.stream import CHUNK_LINES, decode_line, split_lines, tokenize_items, warm_up


class _BeamNoise(logging.Filter):
    """Drops two warnings Beam logs on every run that say nothing about this job: its BigQuery
    client is absent (at import), and its optional PyTorch model manager is absent (which makes it
    believe the ``resource`` module is missing, at each model load)."""

    NOISE = ("apitools not found", "Resource module is not available")

    def filter(self, record) -> bool:
        return not str(record.msg).startswith(self.NOISE)


logging.getLogger().addFilter(_BeamNoise())

try:
    import apache_beam as beam
    from apache_beam.io import fileio
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.metrics import Metrics
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError as e:  # the optional extra
    from textdeconv.errors import MissingExtraError

    raise MissingExtraError(f"--runner beam needs Apache Beam ({e}): pip install apache-beam "
                            "(textdeconv's beam extra)") from None

NAMESPACE = "textdeconv"
LINE_BASE = 10**12  # sentence_id = file_index * LINE_BASE + line
COLUMNS = ("sentence_id", "source", "line", *CSV_COLUMNS[1:])
BEAM_SCHEMA = pa.schema([SCHEMA.field("sentence_id"), pa.field("source", pa.dictionary(pa.int32(), pa.string())),
                         pa.field("line", pa.int64()), *(SCHEMA.field(c) for c in CSV_COLUMNS[1:])])
TOKENS, DEAD, MANIFEST = "tokens", "dead-letter", "manifest.json"
FORMATS = {"parquet": ".parquet", "csv": ".csv"}
TEXT_CHARS = 1000  # of an unreadable line kept in its dead letter


@dataclass
class Block:
    """Lines of one file explained together: ``lines`` (line numbers) and, after tokenizing,
    ``sentences`` (their tokens)."""

    source: str
    file_index: int
    index: int  # block number in its file, from 0
    lines: list[int]
    texts: list[str] = field(default_factory=list)
    sentences: list[list[str]] = field(default_factory=list)

    def sentence_ids(self) -> np.ndarray:
        return self.file_index * LINE_BASE + np.asarray(self.lines, np.int64)


def dead_letter(source: str, line: int, error: str, text: str = "") -> str:
    return json.dumps({"source": source, "line": line, "error": error, "text": text[:TEXT_CHARS]}, ensure_ascii=False)


def _counter(name: str):
    return Metrics.counter(NAMESPACE, name)


def _unreadable() -> tuple[type[BaseException], ...]:
    """What reading a damaged file raises: OSError (gzip's BadGzipFile, bz2), EOFError (a truncated
    gzip, bz2 or xz stream), zlib.error, lzma.LZMAError and zstandard's ZstdError."""
    import lzma
    import zlib

    errors = [OSError, EOFError, zlib.error, lzma.LZMAError]
    with contextlib.suppress(ImportError):
        import zstandard

        errors.append(zstandard.ZstdError)
    return tuple(errors)


UNREADABLE = _unreadable()


class ReadBlocks(beam.DoFn):
    """``(file_index, path)`` -> ``Block``s of ``chunk_lines`` lines; undecodable lines and unreadable
    rests of files -> the ``dead_letter`` output (JSON lines)."""

    def __init__(self, chunk_lines: int, encoding: str):
        self.chunk_lines, self.encoding = chunk_lines, encoding
        self.lines, self.dead = _counter("lines"), _counter("dead_letters")

    def process(self, element):
        from apache_beam.pvalue import TaggedOutput

        file_index, path = element
        block = Block(path, file_index, 0, [])
        line_no = 0
        try:
            with open_input(path) as f:
                for raw in split_lines(f):
                    line_no += 1
                    try:
                        text = decode_line(raw, line_no, self.encoding)
                    except UnicodeDecodeError as e:
                        self.dead.inc()
                        body = raw.rstrip(b"\r\n")
                        yield TaggedOutput("dead_letter", dead_letter(
                            path, line_no, f"{path}:{line_no}: {decode_problem(body, e.start, self.encoding)}",
                            body.decode(self.encoding, errors="backslashreplace")))
                        text = ""
                    if text:
                        block.lines.append(line_no)
                        block.texts.append(text)
                    if line_no % self.chunk_lines == 0:
                        if block.lines:
                            yield block
                        block = Block(path, file_index, line_no // self.chunk_lines, [])
        except UNREADABLE as e:  # a damaged compressed file (or one gone since it was matched): what was read is kept
            self.dead.inc()
            yield TaggedOutput("dead_letter", dead_letter(
                path, line_no + 1, f"{path}: cannot read past line {line_no}: {type(e).__name__}: {e}"))
        finally:
            self.lines.inc(line_no)
        if block.lines:
            yield block


@contextlib.contextmanager
def open_input(path: str):
    """A binary reader of ``path`` (any Beam filesystem), decompressed as its extension says.
    .gz, .bz2 and .xz go through Python's own readers, which raise ``EOFError`` on a truncated
    file (Beam's would end it silently, mid-line); other compressions (.zst, .deflate) through Beam's."""
    import bz2
    import gzip
    import lzma

    python_reader = {"gz": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile, "lzma": lzma.LZMAFile}
    kind = python_reader.get(path.rsplit(".", 1)[-1].lower())
    if kind is None:
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
            yield f
        return
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw, \
            (kind(fileobj=raw) if kind is gzip.GzipFile else kind(raw)) as f:
        yield f


def _local_run(run: str) -> Path:
    """The run directory as a local folder: itself, or (a ``gs://``-style path any Beam filesystem
    reads) a temporary copy of its three files."""
    if "://" not in run:
        return Path(run)
    from textdeconv.training.rundir import RUN_FILES

    local = Path(tempfile.mkdtemp(prefix="textdeconv-run-"))
    for name in RUN_FILES:
        with FileSystems.open(FileSystems.join(run, name), compression_type=CompressionTypes.UNCOMPRESSED) as src:
            (local / name).write_bytes(src.read())
    return local


class TokenizeBlocks(beam.DoFn):
    """A ``Block``'s texts -> its sentences' tokens (the run's vocabulary and ``vocab.clean``);
    a line left with no token -> ``dead_letter``. Needs no TensorFlow."""

    def __init__(self, run: str):
        self.run = run
        self.dead, self.unknown = _counter("dead_letters"), _counter("sentences_without_known_words")

    def setup(self):
        from textdeconv.config import load_config
        from textdeconv.data.vocab import Vocab

        local = _local_run(self.run)
        cfg = load_config(local / "config.yaml")
        self.vocab = Vocab.load(local / "vocab.txt", cfg.vocab.lowercase, cfg.vocab.clean)

    def process(self, block: Block):
        from apache_beam.pvalue import TaggedOutput

        skipped = []
        texts = dict(zip(block.lines, block.texts))
        ids, sentences = tokenize_items(zip(block.lines, block.texts), self.vocab, block.source,
                                        warn=lambda msg: self.unknown.inc(),
                                        skip=lambda sid, why: skipped.append((sid, why)))
        for sid, why in skipped:
            self.dead.inc()
            yield TaggedOutput("dead_letter", dead_letter(block.source, sid, why, texts[sid]))
        if ids:
            yield Block(block.source, block.file_index, block.index, ids, sentences=sentences)


class ExplainModelHandler(ModelHandler):
    """RunInference's handler: the model is an ``Explainer`` of the run (loaded once per worker
    process, warmed up, shared by its threads); one inference batch is one ``Block``."""

    def __init__(self, run: str, method: str, options: dict, target: int | None, batch_size: int):
        self.run, self.method, self.options = run, method, dict(options)
        self.target, self.batch_size = target, batch_size
        super().__init__()

    def load_model(self):
        from textdeconv.api import Run

        explainer = Run(_local_run(self.run)).explainer(self.method, **self.options)
        warm_up(explainer)
        return explainer

    def run_inference(self, batch, model, inference_args=None):
        return [PredictionResult(block, model.explain(block.sentences, target=self.target,
                                                      batch_size=self.batch_size)) for block in batch]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}  # a block is already a batch

    def get_num_bytes(self, batch) -> int:
        return sum(len(t) for block in batch for s in block.sentences for t in s)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE


_SENTENCES, _ROWS = _counter("sentences"), _counter("rows")


def _count(result):
    """Counts an explained block's sentences and token rows (the manifest's ``sentences``, ``rows``)."""
    _SENTENCES.inc(len(result.inference))
    _ROWS.inc(sum(len(e.tokens) for e in result.inference))
    return result


def block_table(result) -> pa.Table:
    """A ``PredictionResult`` (block, explanations) -> its token rows, ``BEAM_SCHEMA``."""
    block, expls = result.example, result.inference
    table = token_table(expls, block.sentence_ids())
    lengths = np.fromiter((len(e.tokens) for e in expls), np.int64, len(expls))
    source = pa.DictionaryArray.from_arrays(np.zeros(int(lengths.sum()), np.int32), pa.array([block.source]))
    line = pa.array(np.repeat(np.asarray(block.lines, np.int64), lengths))
    return table.add_column(1, "source", source).add_column(2, "line", line).cast(BEAM_SCHEMA)


def block_csv(result) -> str:
    """A ``PredictionResult`` -> its token rows as CSV text (``COLUMNS``, no header, no final newline)."""
    block, expls = result.example, result.inference
    frame = token_frame(expls, block.sentence_ids())
    lengths = [len(e.tokens) for e in expls]
    frame.insert(1, "source", block.source)
    frame.insert(2, "line", np.repeat(np.asarray(block.lines, np.int64), lengths))
    return frame.to_csv(index=False, header=False).rstrip("\n")


class ParquetSink(fileio.FileSink):
    """Writes ``BEAM_SCHEMA`` tables into one Parquet file (a row group per block)."""

    def open(self, fh):
        import pyarrow.parquet as pq

        self.writer = pq.ParquetWriter(fh, BEAM_SCHEMA, **WRITE_OPTIONS)

    def write(self, table):
        self.writer.write_table(table)

    def flush(self):  # called once, before the file is closed: the footer goes last
        self.writer.close()


class CsvSink(fileio.TextSink):
    """CSV text blocks under one header line (``COLUMNS``)."""

    def open(self, fh):
        super().open(fh)
        fh.write((",".join(COLUMNS) + "\n").encode())


class ExplainCorpus(beam.PTransform):
    """``(file_index, path)`` pairs -> token-row and dead-letter files under ``out`` (see the module
    doc). Returns the dead letters' ``PCollection`` of JSON lines."""

    def __init__(self, run: str, out: str, method: str = "deconv", options: dict | None = None,
                 target: int | None = None, fmt: str = "parquet", chunk_lines: int = CHUNK_LINES,
                 batch_size: int = 128, encoding: str = "utf-8"):
        super().__init__()
        self.run, self.out, self.method, self.options, self.target = run, out, method, options or {}, target
        self.fmt, self.chunk_lines, self.batch_size, self.encoding = fmt, chunk_lines, batch_size, encoding

    def expand(self, files):
        read = files | "Read" >> beam.ParDo(ReadBlocks(self.chunk_lines, self.encoding)).with_outputs(
            "dead_letter", main="blocks")
        tokens = read.blocks | "Tokenize" >> beam.ParDo(TokenizeBlocks(self.run)).with_outputs(
            "dead_letter", main="blocks")
        explained = (tokens.blocks
                     | "Spread" >> beam.Reshuffle()
                     | "Explain" >> RunInference(ExplainModelHandler(self.run, self.method, self.options,
                                                                     self.target, self.batch_size))
                     | "Count" >> beam.Map(_count))
        suffix = FORMATS[self.fmt]
        rows = explained | "Rows" >> beam.Map(block_table if self.fmt == "parquet" else block_csv)
        rows | "Write" >> fileio.WriteToFiles(self.out, file_naming=fileio.default_file_naming(TOKENS, suffix),
                                              sink=ParquetSink if self.fmt == "parquet" else CsvSink)
        dead = (read.dead_letter, tokens.dead_letter) | "DeadLetters" >> beam.Flatten()
        dead | "WriteDeadLetters" >> fileio.WriteToFiles(
            self.out, file_naming=fileio.default_file_naming(DEAD, ".jsonl"), shards=1)
        return dead


def match_inputs(patterns) -> list[str]:
    """The files the patterns (paths or globs, any Beam filesystem) match, sorted, each once.

    Raises:
        MissingFileError: a pattern matches no file.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files = []
    for pattern in patterns:
        pattern = str(pattern)
        found = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list
                       if not m.path.endswith("/"))
        found = [f for f in found if not os.path.isdir(f)]
        if not found:
            raise MissingFileError(f"--input {pattern}: no file matches")
        files += found
    return list(dict.fromkeys(files))


def check_pipeline_args(pipeline_args) -> None:
    """Refuse Beam options no installed ``PipelineOptions`` class knows (Beam itself would only log
    "Discarding unparseable args" and run without them).

    Raises:
        InputError: names the unknown options.
    """
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    try:
        _, unknown = parser.parse_known_args(list(pipeline_args or []))
    except SystemExit:  # a known option with a bad value: argparse printed why
        raise InputError(f"bad Beam pipeline options after '--': {quoted(' '.join(pipeline_args), 200)}") from None
    if unknown:
        raise InputError(f"unknown Beam pipeline option(s) after '--': {quoted(' '.join(unknown), 200)} (see "
                         "python -m apache_beam.runners.direct.direct_runner --help, or your runner's options)")


def _listing(out: str) -> list[str]:
    """The names in the folder ``out`` (hidden ones included, for a local folder)."""
    if "://" not in out:
        return sorted(os.listdir(out)) if os.path.isdir(out) else []
    return sorted(Path(m.path.rstrip("/")).name for r in FileSystems.match([FileSystems.join(out, "*")])
                  for m in r.metadata_list)


def _read_manifest(out: str) -> dict:
    path = FileSystems.join(out, MANIFEST)
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            manifest = json.loads(f.read().decode("utf-8"))
        files = manifest["files"]
        if not (isinstance(files, list) and all(isinstance(n, str) and n == Path(n).name for n in files)):
            raise ValueError("its files are not names in the folder")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise OutputError(f"{path} is damaged or not a textdeconv job's ({quoted(str(e), 100)}); the folder is not "
                          "replaced: move it away or pick another folder") from None
    return manifest


def old_job_files(out: str, files: list[str]) -> tuple[list[str], list[str]]:
    """What ``out`` holds that belongs to textdeconv: ``(the files of the job its manifest.json
    lists, with the manifest; staging folders of earlier jobs)``. Checked before any work:

    Raises:
        OutputError: ``out`` is a file; an input is inside it; it holds anything else (a file no
        manifest lists, or files and no manifest): it is not ours to write into.
    """
    local = "://" not in out
    if local and os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"--output {out} is a file; the Beam runner writes a folder of shards")
    if local:
        root = Path(out).resolve()
        inside = [f for f in files if root in Path(f).resolve().parents]
        if inside:
            raise OutputError(f"the --input file {inside[0]} is inside the output folder {out}; pick another folder")
    names = _listing(out)
    staging = [n for n in names if n.startswith(".staging-")]
    rest = [n for n in names if n not in staging]
    if not rest:
        return [], staging
    if MANIFEST not in rest:
        raise OutputError(f"{out} holds files that are not a textdeconv job's ({', '.join(rest[:3])}"
                          f"{', ...' if len(rest) > 3 else ''}; no manifest.json); pick an empty or new folder")
    listed = set(_read_manifest(out)["files"]) | {MANIFEST}
    foreign = [n for n in rest if n not in listed]
    if foreign:
        raise OutputError(f"{out} holds files its job's manifest.json does not list ({', '.join(foreign[:3])}"
                          f"{', ...' if len(foreign) > 3 else ''}); they are not replaced: move them away or pick "
                          "another folder")
    return [FileSystems.join(out, n) for n in rest], staging


@contextlib.contextmanager
def _signals_kept():
    """Ctrl-C and SIGTERM during a pipeline: Beam's runner may turn the exception they raise into
    its own error; remember them, so the caller re-raises what the signal means (exit 130 / 143)."""
    import signal
    import threading

    seen = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        seen.append(signum)
        old = previous[signum]
        if callable(old):
            old(signum, frame)
        raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield seen
    except Exception:
        if seen:  # the signal, not what the runner made of it
            old = previous[seen[0]]
            if callable(old):
                old(seen[0], None)
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def explain_corpus(run, inputs, out, method: str = "deconv", options: dict | None = None, target=None,
                   fmt: str = "parquet", chunk_lines: int = CHUNK_LINES, batch_size: int = 128,
                   encoding: str = "utf-8", overwrite: bool = False, pipeline_args=None) -> dict:
    """Explain every line of the files ``inputs`` matches with ``method`` on Apache Beam into ``out``.

    Args:
        run: the run directory (a local folder, or a path Beam's filesystems read: gs://, s3://).
        inputs: a path or glob, or a list of them (compressed files are read as their extension says).
        out: the output folder (created); see the module doc for its files.
        method, options: a registered attribution method and its options.
        target: the class to explain (name or index); None = each sentence's predicted class.
        fmt: "parquet" or "csv".
        chunk_lines, batch_size: as ``explain --chunk-size/--batch-size``; with the same values the
            scores equal the single-machine stream's.
        overwrite: replace the job already in ``out`` (the files its manifest.json lists, after the
            new one succeeds).
        pipeline_args: Beam pipeline options, e.g. ``["--runner", "DataflowRunner", ...]``;
            default DirectRunner.
    Returns:
        The manifest (also written as ``out/manifest.json``): settings, inputs, files, counts.
    Raises:
        UserError: a bad method, option, target, format or Beam option; no file matched; the run's
        model does not load; ``out`` holds a job and ``overwrite`` is off, or holds anything that
        is not a job's; an input is inside ``out``; another process is writing ``out``.
    """
    from textdeconv.attribution import resolved_options
    from textdeconv.attribution.explanation import resolve_target
    from textdeconv.data.custom import line_encoding

    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {quoted(fmt)}")
    if chunk_lines < 1 or batch_size < 1:
        raise InputError("--chunk-size and --batch-size must be at least 1")
    line_encoding(encoding)
    check_pipeline_args(pipeline_args)
    run, out = str(run), str(out).rstrip("/") or "/"
    local = _local_run(run)
    from textdeconv.training.rundir import check_run_dir

    _, class_names = check_run_dir(local)
    options = resolved_options(method, options or {})
    target_index = resolve_target(target, class_names)
    files = match_inputs(inputs)
    old, stale = old_job_files(out, files)
    if old and not overwrite:
        raise OutputError(f"{out} already holds a job's files ({Path(old[0]).name}, ...); pass --overwrite to "
                          "replace them (after the new job succeeds) or pick another folder")
    from textdeconv.runtime import load_tensorflow
    from textdeconv.training.rundir import read_run

    load_tensorflow()
    read_run(local)  # a corrupt or mismatched run fails here, in one line, not inside the pipeline's workers
    created = not FileSystems.exists(out)
    missing = [p for p in (Path(out), *Path(out).parents) if not p.exists()] if "://" not in out else []
    if created:
        FileSystems.mkdirs(out)
    lock = Lock(out, f"the output folder {out}", "--output") if "://" not in out else contextlib.nullcontext()
    try:
        with lock:
            return _run_pipeline(run, files, out, method, options, target_index, class_names, fmt, chunk_lines,
                                 batch_size, encoding, overwrite, pipeline_args, stale)
    except BaseException:
        for p in missing:  # the folders this call made (innermost first), left empty by the failure
            with contextlib.suppress(OSError):
                p.rmdir()
        if created and "://" in out and not _listing(out):
            with contextlib.suppress(Exception):
                FileSystems.delete([out])
        raise


def _run_pipeline(run, files, out, method, options, target_index, class_names, fmt, chunk_lines, batch_size,
                  encoding, overwrite, pipeline_args, stale) -> dict:
    """The job itself, with ``out`` locked: checked again (another process may have written it
    since), stale staging folders of killed jobs removed, the pipeline run into a staging folder,
    the old job's files replaced by the new ones and the manifest written last."""
    old, stale = old_job_files(out, files)
    if old and not overwrite:
        raise OutputError(f"{out} already holds a job's files ({Path(old[0]).name}, ...); pass --overwrite to "
                          "replace them (after the new job succeeds) or pick another folder")
    if stale:  # no job is running (we hold the lock): these are left by killed ones
        FileSystems.delete([FileSystems.join(out, n) for n in stale])
    staging = FileSystems.join(out, f".staging-{uuid.uuid4().hex[:12]}")
    FileSystems.mkdirs(staging)
    opts = PipelineOptions(list(pipeline_args or []))
    if opts.get_all_options().get("runner") is None:
        opts = PipelineOptions(["--runner", "DirectRunner", *(pipeline_args or [])])
    t0 = time.time()
    try:
        with _signals_kept():
            pipeline = beam.Pipeline(options=opts)
            (pipeline
             | "Files" >> beam.Create(list(enumerate(files)))
             | "ExplainCorpus" >> ExplainCorpus(run, staging, method, options,
                                                None if target_index < 0 else target_index,
                                                fmt, chunk_lines, batch_size, encoding))
            result = pipeline.run()
            result.wait_until_finish()
        counts = _counters(result)
        written = sorted(m.path for r in FileSystems.match([FileSystems.join(staging, "*")]) for m in r.metadata_list)
        if old:
            FileSystems.delete(old)  # exactly the old manifest's files and the manifest
        moved = [FileSystems.join(out, Path(p).name) for p in written]
        if written:
            FileSystems.rename(written, moved)
    finally:
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
    manifest = {"format": fmt, "run": run, "method": method, "options": options,
                "target": None if target_index < 0 else class_names[target_index],
                "chunk_lines": chunk_lines, "batch_size": batch_size, "encoding": encoding, "inputs": files,
                "files": [Path(p).name for p in moved], **counts, "runner": opts.get_all_options()["runner"],
                "seconds": round(time.time() - t0, 1), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with FileSystems.create(FileSystems.join(out, MANIFEST), mime_type="application/json",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write((json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def _counters(result) -> dict:
    """The job's counters (lines read, sentences and rows explained, dead letters)."""
    counts = {"lines": 0, "sentences": 0, "rows": 0, "dead_letters": 0}
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        if c.key.metric.name in counts:
            value = c.committed if c.committed is not None else c.attempted
            counts[c.key.metric.name] += int(value or 0)
    return counts
