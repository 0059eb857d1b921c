"""Token rows as Parquet: ``textdeconv explain --output x.parquet``, in memory or streamed and resumable.

The rows are those of ``export.token_frame`` (columns ``CSV_COLUMNS``), except that ``sentence``
is on every row: Parquet stores each sentence once per row group (dictionary encoding) and the
repeats as run lengths, so it costs no more than on the first row alone. ``sentence``, ``token``,
``target``, ``predicted`` and ``method`` are dictionary-encoded (read back as pandas categoricals),
``score`` is float32 (the model's precision), compression zstd: 10.4 bytes a row on the streaming
bench, against 88 for the CSV (bench/results/explain_stream_parquet.json). Read with
``pd.read_parquet``, ``pyarrow.parquet.ParquetFile(...).iter_batches()`` (a row group at a time)
or any Parquet engine.

Streaming (``ParquetJob``): the blocks, progress file, settings check and commit protocol of
``stream.ExplainJob``; only the bytes a block appends to ``x.parquet.partial`` differ: one
*segment*, its length (8 bytes, little-endian) then a whole Parquet file of the block's rows (one
row group). A committed segment is complete and readable alone, so a resume truncates the partial
file to its committed size exactly as for the CSV, and neither loses nor repeats a row.

A Parquet file cannot simply be appended to: its footer, which locates every row group, is
written last, and pyarrow counts its offsets from the writer's first byte (it refuses to start
anywhere else). So when every block is in, the last step copies the segments' row groups, one at a
time, into ``x.parquet.merging``, fsyncs it, renames it to ``x.parquet`` and removes the partial
file. A crash during that pass leaves the job resumable: the resume finds every block committed
and runs the pass again; the result is the same file, byte for byte.
"""
from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textdeconv.errors import DataError
from textdeconv.files import fsync_path
from textdeconv.reports.export import CSV_COLUMNS
from textdeconv.reports.stream import ExplainJob

_TEXT = pa.dictionary(pa.int32(), pa.string())
_TYPES = {"sentence_id": pa.int64(), "sentence": _TEXT, "token_index": pa.int32(), "token": _TEXT,
          "in_vocab": pa.bool_(), "score": pa.float32(), "target": _TEXT, "predicted": _TEXT,
          "probability": pa.float64(), "method": _TEXT}
SCHEMA = pa.schema([(c, _TYPES[c]) for c in CSV_COLUMNS])  # a KeyError here: CSV_COLUMNS changed, so must this
# Per-sentence columns repeat ~25 times in a row: dictionary indices run-length encode to almost
# nothing. Score and token_index are left plain (unique floats; small ints zstd packs). The
# dictionary page limit is lifted so that a block's sentences (~1 MB for 4096) never fall back to
# plain strings, which pyarrow does past the default 1 MB.
WRITE_OPTIONS = {"compression": "zstd", "compression_level": 3,
                 "use_dictionary": ["sentence_id", "sentence", "token", "target", "predicted", "probability",
                                    "method", "gold"],
                 "dictionary_pagesize_limit": 1 << 28}
SEGMENT_HEADER = struct.Struct("<Q")


def token_table(expls, sentence_ids=None, gold=None) -> pa.Table:
    """One row per token (``SCHEMA``), built column by column; ``gold`` (a label name per
    sentence) adds a ``gold`` column. The rows equal ``export.token_frame``'s with the sentence
    on every row."""
    ids = list(sentence_ids) if sentence_ids is not None else list(range(1, len(expls) + 1))
    if not expls:
        return SCHEMA.empty_table()
    lengths = np.fromiter((len(e.tokens) for e in expls), np.int64, len(expls))
    firsts = np.cumsum(lengths) - lengths

    def per_sentence(values):  # (sentences,) strings -> dictionary column repeated over each sentence's tokens
        codes = pa.array(values, pa.string()).dictionary_encode()
        return pa.DictionaryArray.from_arrays(np.repeat(codes.indices.to_numpy(), lengths), codes.dictionary)

    columns = {
        "sentence_id": pa.array(np.repeat(np.asarray(ids, np.int64), lengths)),
        "sentence": pa.DictionaryArray.from_arrays(np.repeat(np.arange(len(expls), dtype=np.int32), lengths),
                                                   pa.array([" ".join(e.tokens) for e in expls], pa.string())),
        "token_index": pa.array((np.arange(int(lengths.sum())) - np.repeat(firsts, lengths)).astype(np.int32)),
        "token": pa.array([t for e in expls for t in e.tokens], pa.string()).dictionary_encode(),
        "in_vocab": pa.array(np.concatenate([e.in_vocab for e in expls])),
        "score": pa.array(np.concatenate([np.asarray(e.scores, np.float32) for e in expls])),
        "target": per_sentence([e.target_name for e in expls]),
        "predicted": per_sentence([e.predicted_name for e in expls]),
        "probability": pa.array(np.repeat(np.array([e.probability for e in expls], np.float64), lengths)),
        "method": per_sentence([e.method for e in expls]),
    }
    schema = SCHEMA
    if gold is not None:
        columns["gold"] = per_sentence([gold[k] for k in range(len(expls))])
        schema = schema.append(pa.field("gold", _TEXT))
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


def write_parquet(table: pa.Table, path) -> None:
    """Write a ``token_table`` to ``path`` (as it is: callers stage it, e.g. ``OutputPlan.temp``)."""
    pq.write_table(table, str(path), **WRITE_OPTIONS)


def segment(table: pa.Table) -> bytes:
    """The bytes a streamed block appends: its length, then ``table`` as a whole Parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=max(table.num_rows, 1), **WRITE_OPTIONS)
    data = sink.getvalue()
    return SEGMENT_HEADER.pack(data.size) + data.to_pybytes()


def read_segments(path, size: int):
    """Yield the row groups (``pa.Table``s) of the segments in the first ``size`` bytes of ``path``.

    Raises:
        DataError: the bytes are not whole segments (a damaged or foreign partial file).
    """
    with open(path, "rb") as f:  # a segment at a time in memory (a memory map would count the whole file in RSS)
        pos = 0
        while pos < size:
            head = f.read(SEGMENT_HEADER.size)
            n = SEGMENT_HEADER.unpack(head)[0] if len(head) == SEGMENT_HEADER.size else size
            start = pos + SEGMENT_HEADER.size
            if start + n > size:
                raise DataError(f"{path}: damaged at byte {pos} (a segment runs past the committed "
                                f"{size} bytes); pass --restart to start over")
            try:
                part = pq.ParquetFile(pa.BufferReader(f.read(n)))
                for k in range(part.num_row_groups):
                    yield part.read_row_group(k)
            except (pa.ArrowInvalid, OSError) as e:
                raise DataError(f"{path}: damaged at byte {pos} ({e}); pass --restart to start over") from None
            pos = start + n


class ParquetJob(ExplainJob):
    """``stream.ExplainJob`` writing Parquet (``SCHEMA``) instead of CSV; see the module doc.

    Takes ``ExplainJob``'s arguments; ``out`` is the Parquet file. Besides ``out.partial`` and
    ``out.progress.json`` it writes ``out.merging`` while the segments are copied into place.
    """

    def __init__(self, input, out, settings: dict, **kw):
        self.merging = Path(out).with_name(Path(out).name + ".merging")
        super().__init__(input, out, {**settings, "rows": "parquet"}, **kw)

    def _encode(self, expls, ids, first: bool) -> bytes:
        return segment(token_table(expls, ids)) if expls else b""

    def _publish(self, st: dict) -> None:
        try:
            with open(self.merging, "wb") as f:
                with pq.ParquetWriter(f, SCHEMA, **WRITE_OPTIONS) as writer:
                    for table in read_segments(self.partial, st["output_bytes"]):
                        writer.write_table(table)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self.merging.unlink()
            raise
        os.replace(self.merging, self.out)
        fsync_path(self.out.parent)
        self.partial.unlink()

    def _remove_job_files(self, keep_partial: bool = False) -> None:
        super()._remove_job_files(keep_partial)
        with contextlib.suppress(FileNotFoundError):
            self.merging.unlink()
