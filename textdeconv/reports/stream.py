"""Explain a big file as a stream: blocks of lines in, CSV rows appended; resumable.

Memory is bounded by a few blocks (``chunk_lines`` lines each: the one being explained, and up to
three read and tokenized ahead by ``prefetch``'s thread), never the file.

Blocks. The input is cut into blocks of ``chunk_lines`` consecutive lines: block k (from 0) holds
lines k*C+1 .. (k+1)*C, counted like ``data.read_sentences`` (``\\n``, ``\\r\\n`` or a lone ``\\r``
ends a line; empty lines count). Each block is explained on its own, length-bucketed within the
block, so a sentence's scores depend only on its block and the batch size, never on where a job
started or stopped (``warm_up`` makes every batch run the same compiled graph, whatever ran before
it in the process). That is why a resumed job and the in-memory path of ``explain.py``
(``explain_blocks``) give byte-identical CSVs for the same --chunk-size and --batch-size.
(Another chunk or batch size regroups the batches, which moves scores by float rounding, ~1e-7.)
A corpus of many files, or many machines, is the Beam runner's (``reports.beam``, docs/scale.md).

Failures. A bad input (a ``UserError``, e.g. a line that does not decode) removes the partial
file and the progress file: fixing the input changes its fingerprint, so nothing could be resumed,
and the next run starts clean. A kill (Ctrl-C, SIGTERM, SIGKILL) or a crash keeps them for
``resume``; ``restart`` discards them. An input that is not a regular file (a pipe, ``<(cmd)``) is
read once, as a stream, with no progress file: it cannot be resumed.

Resume protocol, for ``out``: rows go to ``out.partial``; ``out.progress.json`` is the commit
record. Per block: (1) its rows are appended to the partial file, flushed and fsynced; (2) the
progress file is replaced atomically and fsynced with the new position: lines done, byte offset
in the input, sentences and rows written, and the partial file's size. A resume truncates the
partial file to the committed size (dropping rows whose commit never happened) and reads the
input from the committed offset. At the end the progress file is marked complete, the partial
file is renamed to ``out`` and the progress file deleted; a crash between those steps is
recognised by the mark. The progress file also holds a fingerprint of the input (size, mtime,
SHA-256 of its first MiB) and the job's settings (run, model file, method and its options,
target, chunk and batch size, encoding); a resume against anything else is refused. A
partial file without a progress file holds nothing committed and is overwritten.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from textdeconv.data.custom import undecodable
from textdeconv.errors import DataError, InputError, MissingFileError, OutputError, UserError
from textdeconv.files import atomic_write_json, fsync_path
from textdeconv.locks import Lock
from textdeconv.outputs import DISK_ERRNOS, OutputPlan, check_input_file
from textdeconv.reports.export import CSV_COLUMNS, token_frame

CHUNK_LINES = 4096
# version of the progress file (2: the sentence is written on its first row only; 3 = no shard in the
# settings: --shard is gone, so a version-2 file is refused and --restart asked for)
FORMAT = 3
HEAD_BYTES = 1 << 20
HEADER = (",".join(CSV_COLUMNS) + "\n").encode()  # what token_frame(...).to_csv writes as its header


@dataclass
class Chunk:
    """One block of input lines."""

    index: int  # block number, from 0
    end_line: int  # number of the block's last line
    end_offset: int  # input byte offset just after the block
    items: list[tuple[int, str]]  # (line number, stripped text) of each non-empty line


def read_chunks(path, chunk_lines: int = CHUNK_LINES, offset: int = 0, lines_done: int = 0,
                encoding: str = "utf-8"):
    """Yield the blocks of a text file as ``Chunk``s, from byte ``offset``, a block boundary with
    ``lines_done`` lines before it. Holds one block in memory. ``encoding`` must keep ``\\n`` and
    ``\\r`` single bytes (``data.custom.line_encoding``); a pipe is read once, from its start.

    Raises:
        DataError: a line does not decode (names the file, line and column).
    """
    with open(path, "rb") as f:
        if offset:
            f.seek(offset)
        line_no, block, items, in_block = lines_done, lines_done // chunk_lines, [], 0
        for raw in split_lines(f):
            line_no, offset, in_block = line_no + 1, offset + len(raw), in_block + 1
            text = _decode(raw, line_no, path, encoding)
            if text:
                items.append((line_no, text))
            if line_no % chunk_lines == 0:
                yield Chunk(block, line_no, offset, items)
                block, items, in_block = block + 1, [], 0
        if in_block:
            yield Chunk(block, line_no, offset, items)


def split_lines(f):
    """Yield the lines of a binary file object with their ends: ``\\n``, ``\\r\\n`` or a lone
    ``\\r`` ends a line (as ``str.splitlines`` would, for these three); the last line may have none.
    ``f`` needs only ``readline`` (a file, a pipe, a decompressing reader)."""
    for piece in iter(f.readline, b""):  # a piece ends at \n; a lone \r inside it also ends a line
        yield from piece.splitlines(keepends=True)


def decode_line(raw: bytes, line_no: int, encoding: str = "utf-8") -> str:
    """A line's text without its end, surrounding blanks and (line 1) a byte-order mark; ``""``
    for a blank line. Raises UnicodeDecodeError."""
    line = raw.rstrip(b"\r\n").decode(encoding)
    return (line.lstrip("\ufeff") if line_no == 1 else line).strip()


def _decode(raw: bytes, line_no: int, path, encoding: str = "utf-8") -> str:
    try:
        return decode_line(raw, line_no, encoding)
    except UnicodeDecodeError as e:  # the message read_sentences gives
        raise undecodable(path, line_no, raw, e.start, encoding) from None


def tokenize_items(items, vocab, name, warn=None, skip=None) -> tuple[list[int], list[list[str]]]:
    """Tokenize ``(line number, text)`` pairs as explain.py does (the run's ``vocab.clean``
    included): a line with no token is skipped and one with no known word kept, each with a
    warning naming ``name:line`` (``sentence N`` when ``name`` is None: typed arguments).
    ``skip(line number, reason)``, if given, is told of each skipped line instead of ``warn``.
    Returns ``(ids, token lists)``."""
    from textdeconv.data.vocab import tokenize

    warn = warn or (lambda msg: None)
    removed = "control characters" + (f" and vocab.clean={vocab.clean}" if vocab.clean else "")
    ids, sentences = [], []
    for sid, text in items:
        tokens = vocab.prepare(tokenize(text, lowercase=False))
        where = f"{name}:{sid}" if name else f"sentence {sid}"
        if not tokens:
            if skip:
                skip(sid, f"no tokens after removing {removed}")
            else:
                warn(f"{where}: no tokens after removing {removed}; skipped")
            continue
        if not any(t in vocab for t in tokens):
            warn(f"{where}: no word is in the vocabulary; every token is <unk>, so the scores are not "
                 "informative")
        ids.append(sid)
        sentences.append(tokens)
    return ids, sentences


def warm_up(explainer) -> None:
    """Trace the explainer's compiled functions on shapes no sentence has (rows of padding alone),
    so that every real batch runs the same shape-generic graph.

    Why: a ``tf.function(reduce_retracing=True)`` is first traced for the exact shapes of its
    first call, and TensorFlow optimizes a graph of known shapes differently from the generic one
    later calls share (scores differ by ~1e-8). Without this, a sentence's scores would depend on
    whether its batch came first in the process, so a resumed job would not reproduce an
    uninterrupted run byte for byte.
    """
    net = getattr(explainer, "net", None)
    if net is None or not hasattr(explainer, "attribute_ids") or getattr(explainer, "_warmed_up", False):
        return  # once per explainer: its compiled functions keep their traces
    import numpy as np

    from textdeconv.data.vocab import pad_batch

    for rows in (1, 2):  # two shapes: the function is generalised; a real batch is >= 2 * pad + 1 wide
        explainer.attribute_ids(pad_batch([[]] * rows, net.pad), np.full(rows, -1, np.int32))
    explainer._warmed_up = True


def explain_blocks(explainer, ids, sentences, chunk_lines: int = CHUNK_LINES, target=None, batch_size: int = 128):
    """Explain sentences held in memory block by block, as ``ExplainJob`` does: ``ids`` are line
    numbers (ascending) and the sentences of one block of ``chunk_lines`` lines are explained
    together, so the result equals the streamed one exactly. ``target``: one for all, or a list with
    one per sentence."""
    warm_up(explainer)
    out = []
    for _, group in itertools.groupby(range(len(ids)), key=lambda k: (ids[k] - 1) // chunk_lines):
        group = list(group)
        targets = [target[k] for k in group] if isinstance(target, (list, tuple)) else target  # one per sentence
        out += explainer.explain([sentences[k] for k in group], target=targets, batch_size=batch_size)
    return out


def prefetch(items, depth: int = 2):
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    A streamed job reads and tokenizes the next blocks (Python, holding the GIL) while TensorFlow
    explains the current one (native code, releasing it): the two overlap. Items and exceptions
    arrive in order; closing this generator (the consumer failed, or was interrupted) stops the
    thread and closes ``items`` there.
    """
    import queue
    import threading

    q, stop, end = queue.Queue(depth), threading.Event(), object()

    def work():
        try:
            for item in items:
                q.put((item, None))
                if stop.is_set():
                    return
            q.put((end, None))
        except BaseException as e:  # handed to the consumer, raised where the item would have been
            q.put((end, e))
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    thread = threading.Thread(target=work, name="textdeconv-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a put on a full queue until the thread sees ``stop``
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        thread.join()


def input_fingerprint(path) -> dict:
    st = Path(path).stat()
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(HEAD_BYTES)).hexdigest()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head}


def job_settings(run_dir, method: str, options: dict) -> dict:
    """What a resumed job must share with the interrupted one besides the input: the run (and its
    model file's size and mtime, so a retrained model is noticed), the method and its options
    (defaults filled in, so leaving an option out and giving its default are the same job)."""
    from textdeconv.attribution import resolved_options

    model = (Path(run_dir) / "model.keras").stat()
    return {"run": str(Path(run_dir).resolve()), "model": {"size": model.st_size, "mtime_ns": model.st_mtime_ns},
            "method": method, "options": resolved_options(method, options)}


class ExplainJob:
    """Explain a file into a token CSV (``export.CSV_COLUMNS``) block by block; see the module doc.

    The constructor checks the files before any model is loaded (``outputs.OutputPlan``: the CSV,
    its partial and progress files are not the input nor any other declared input, their folder
    is writable).

    Args:
        input: a text file, one sentence per line; a regular file can be resumed, a pipe is read once.
        out: the CSV; it appears only when the job completes (until then ``out.partial``).
        settings: JSON-able description of the model and method (``job_settings``).
        target: resolved target class index, or None for the predicted class.
        resume: continue the interrupted job at ``out``; without it an interrupted job is an error.
        restart: discard an interrupted job at ``out`` and start over.
        encoding: of the input (``data.custom.line_encoding`` checks it).
        plan: an ``OutputPlan`` holding the caller's other inputs (e.g. the run's files); ``option``
            and ``input_label`` name the CSV and the input in its messages.
    Raises:
        MissingFileError: no input (or a directory); ``resume`` with nothing to resume.
        OutputError: ``out`` cannot be written as asked (it is the input, ...); an interrupted job
            exists and neither ``resume`` nor ``restart`` is given.
        InputError / DataError: the job cannot be resumed (other input or settings; damaged files;
            an input that is not a regular file).
    """

    def __init__(self, input, out, settings: dict, *, target=None, chunk_lines: int = CHUNK_LINES,
                 batch_size: int = 128, resume: bool = False, restart: bool = False,
                 encoding: str = "utf-8", plan: OutputPlan | None = None, option: str = "out",
                 input_label: str = "the input file"):
        if resume and restart:
            raise InputError("--resume and --restart exclude each other: continue the interrupted job, or discard it")
        self.input, self.out = check_input_file(input), Path(out)
        if chunk_lines < 1 or batch_size < 1:
            raise InputError("--chunk-size and --batch-size must be at least 1")
        self.name, self.target, self.chunk_lines, self.batch_size = str(input), target, chunk_lines, batch_size
        self.encoding = encoding
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.progress_file = self.out.with_name(self.out.name + ".progress.json")
        self.plan = plan or OutputPlan()
        self.plan.read(input_label, self.input)
        self.option = option
        self.plan.write(option, self.out, stage=False, companions=(self.partial, self.progress_file))
        self.plan.check()
        self.resumable = stat.S_ISREG(os.stat(self.input).st_mode)
        if resume and not self.resumable:
            raise InputError(f"--resume needs a regular input file: {input} is a pipe or device, which can be read "
                             "only once; run without --resume")
        self.settings = json.loads(json.dumps({**settings, "target": target, "chunk_lines": chunk_lines,
                                               "batch_size": batch_size, "encoding": encoding}))
        self.fingerprint = input_fingerprint(self.input) if self.resumable else {"size": None}
        # one writer per output: the partial file is locked (created empty if missing) until the job ends
        self.plan.prepare()  # the output's folder, if it is missing
        self._created_partial = not self.partial.exists()
        self.lock = Lock(self.partial, f"{self.out} (its {self.partial.name})", option)
        try:
            self.lock.acquire()
            self.state = self._open(resume, restart)
        except BaseException:
            self.close()
            raise
        self.start_line, self.start_offset = self.state["lines_done"], self.state["input_offset"]

    def close(self) -> None:
        """Release the job's lock without running it; a partial file it created and nothing
        committed to is removed (as is a folder it created)."""
        if self.lock.fd is not None and self._created_partial and not self.progress_file.exists():
            with contextlib.suppress(OSError):
                if self.partial.stat().st_size == 0:
                    self.partial.unlink()
            self.plan.discard()
        self.lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def input_size(self) -> int | None:
        """Bytes in the input (None for a pipe)."""
        return self.fingerprint["size"]

    def _open(self, resume: bool, restart: bool) -> dict:
        fresh = {"lines_done": 0, "input_offset": 0, "nonempty": 0, "sentences": 0, "rows": 0, "output_bytes": 0,
                 "complete": False}
        start_over = "or pass --restart to discard it and start over"
        if restart:
            self._remove_job_files(keep_partial=True)
            os.ftruncate(self.lock.fd, 0)  # the partial stays, empty: it is what the lock holds
            return fresh
        if not self.progress_file.exists():
            if resume:
                raise MissingFileError(f"nothing to resume for {self.out}: no {self.progress_file} "
                                       "(run without --resume to start)")
            return fresh
        if not resume:
            how = "pass --resume to continue it, " if self.resumable else "this input cannot resume it; "
            raise OutputError(f"an interrupted job is writing {self.out} ({self.partial.name}, "
                              f"{self.progress_file.name}); {how}{start_over}")
        try:
            saved = json.loads(self.progress_file.read_text(encoding="utf-8"))
            state = {k: saved[k] for k in fresh}
            old_input, old_settings = saved["input"], saved["settings"]
        except (ValueError, KeyError, TypeError):
            saved = None
        if saved is None or saved.get("format") != FORMAT:
            raise DataError(f"{self.progress_file} is not a progress file this version can read; pass --restart "
                            "to discard the interrupted job and start over")
        counts = [k for k in fresh if k != "complete"]
        bad = [k for k in counts if isinstance(state[k], bool) or not isinstance(state[k], int) or state[k] < 0]
        size = self.fingerprint["size"]
        if not bad and size is not None and state["input_offset"] > size:
            bad = [f"input_offset {state['input_offset']} is past the input's end ({size} bytes)"]
        if bad or not isinstance(state["complete"], bool):
            raise DataError(f"{self.progress_file} is damaged ({', '.join(bad)[:200] or 'complete'}); pass --restart "
                            "to discard the interrupted job and start over")
        changed = [f"{k} {old_input.get(k)} -> {v}" for k, v in self.fingerprint.items() if old_input.get(k) != v]
        if changed:
            raise InputError(f"cannot resume {self.out}: {self.name} is not the file the job started on "
                             f"({'; '.join(changed)}); restore it, {start_over}")
        keys = dict.fromkeys([*old_settings, *self.settings])
        changed = [f"{k} {old_settings.get(k)!r} -> {self.settings.get(k)!r}" for k in keys
                   if old_settings.get(k) != self.settings.get(k)]
        if changed:
            raise InputError(f"cannot resume {self.out}: the settings differ from the interrupted job's "
                             f"({'; '.join(changed)}); rerun with the original ones, {start_over}")
        if self._created_partial:  # there was none: the lock created an empty one
            if state["complete"] and self.out.exists():
                return state  # done; only the clean-up was interrupted
            if state["output_bytes"]:
                raise DataError(f"{self.partial} is missing; pass --restart to start over")
        elif self.partial.stat().st_size < state["output_bytes"]:
            raise DataError(f"{self.partial} is shorter than its committed size ({self.partial.stat().st_size} < "
                            f"{state['output_bytes']} bytes); pass --restart to start over")
        return state

    def _remove_job_files(self, keep_partial: bool = False) -> None:
        for p in (self.progress_file,) if keep_partial else (self.partial, self.progress_file):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def _commit(self, state: dict) -> None:
        if not self.resumable:  # a pipe cannot be read again: nothing to commit to
            return
        atomic_write_json(self.progress_file, {"format": FORMAT, "input": {"path": self.name, **self.fingerprint},
                                               "settings": self.settings, **state}, durable=True)

    def run(self, explainer, progress=None, warn=None, on_chunk=None) -> dict:
        """Explain the remaining blocks and move the CSV into place; return a summary dict.

        Args:
            explainer: an ``Explainer`` (anything with ``explain(token_lists, target, batch_size)``
                and a ``vocab``).
            progress: a ``progress.Progress`` (or None), told the input offset after each block.
            warn: called with each warning's text (unexplainable or all-unknown lines).
            on_chunk: called as ``on_chunk(ids, explanations)`` after each block is committed.
        Raises:
            UserError: bad input; the partial and progress files are removed and the message says
                the CSV was not written. Any other exception (Ctrl-C, SIGTERM, a crash) keeps them
                for ``resume``.
        """
        try:
            return self._run(explainer, progress, warn, on_chunk)
        finally:
            self.lock.release()

    def _run(self, explainer, progress, warn, on_chunk) -> dict:
        st = dict(self.state)
        if st["complete"] and self._created_partial:  # done; only the clean-up was interrupted
            with contextlib.suppress(FileNotFoundError):
                self.partial.unlink()  # the empty file the lock created
            self.progress_file.unlink()
            return self._summary(st, 0)
        explained = 0
        self.plan.prepare()  # the CSV's folder, if it is missing
        warm_up(explainer)
        try:
            # the locked file itself (a path opened anew could be another writer's by now)
            with os.fdopen(os.dup(self.lock.acquire()), "r+b") as f:
                f.truncate(st["output_bytes"])  # drops rows written after the last commit
                f.seek(st["output_bytes"])
                chunks = read_chunks(self.input, self.chunk_lines, st["input_offset"], st["lines_done"], self.encoding)
                for chunk, (ids, sentences), warnings in prefetch(self._tokenized(chunks, explainer.vocab)):
                    for msg in warnings:  # told here, in the order of the blocks, not by the reading thread
                        (warn or (lambda m: None))(msg)
                    expls = explainer.explain(sentences, target=self.target,
                                              batch_size=self.batch_size) if sentences else []
                    data = self._encode(expls, ids, first=not st["output_bytes"])
                    self._append(f, data)
                    explained += len(expls)
                    st.update(lines_done=chunk.end_line, input_offset=chunk.end_offset,
                              nonempty=st["nonempty"] + len(chunk.items), sentences=st["sentences"] + len(expls),
                              rows=st["rows"] + sum(len(s) for s in sentences),
                              output_bytes=st["output_bytes"] + len(data))
                    self._commit(st)
                    if on_chunk:
                        on_chunk(ids, expls)
                    if progress:
                        progress.update(chunk.end_offset, explained)
                if not st["sentences"]:  # an input with no sentence writes no file (a UserError, below)
                    raise DataError(f"{self.name}: no non-empty lines to explain" if not st["nonempty"]
                                    else "nothing to explain: every sentence was empty")
                st["complete"] = True
                self._commit(st)
        except UserError as e:  # bad input: fixing it changes the input, so nothing could be resumed
            self._remove_job_files()
            self.plan.discard()
            raise type(e)(f"{e}; {self.out} was not written") from None
        except BaseException as e:
            # nothing worth resuming: leave no files. (The progress file itself tells: a kill may
            # land after a commit's rename but before this frame knows it happened.)
            kept = self.resumable and self.progress_file.exists()
            if not kept:
                self._remove_job_files()
                self.plan.discard()
            if isinstance(e, OSError) and e.errno in DISK_ERRNOS:  # the disk, not a bug: one line
                then = ("the job is kept: free space and rerun with --resume" if kept
                        else f"{self.out} was not written")
                raise OutputError(f"{self.option} {self.out}: cannot write it ({e.strerror}); {then}") from None
            raise
        self._publish(st)
        with contextlib.suppress(FileNotFoundError):
            self.progress_file.unlink()
        return self._summary(st, explained)

    def _tokenized(self, chunks, vocab):
        """``(chunk, (ids, token lists), warnings)`` for each block of ``chunks``."""
        with contextlib.closing(chunks):  # the input file closes when the job stops early, too
            for chunk in chunks:
                warnings = []
                yield chunk, tokenize_items(chunk.items, vocab, self.name, warnings.append), warnings

    @staticmethod
    def _append(f, data: bytes) -> None:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # the rows are on disk before the progress file says so

    # The row format: a subclass writing another format (``parquet.ParquetJob``) overrides these two.
    def _encode(self, expls, ids, first: bool) -> bytes:
        """The bytes a block appends to the partial file (``first``: nothing is written yet)."""
        data = HEADER if first else b""
        if expls:
            data += token_frame(expls, ids).to_csv(index=False, header=False).encode("utf-8")
        return data

    def _publish(self, st: dict) -> None:
        """Put the complete partial file (``st["output_bytes"]`` committed bytes) in place as ``out``."""
        os.replace(self.partial, self.out)
        fsync_path(self.out.parent)

    def _summary(self, st: dict, explained: int) -> dict:
        return {"lines": st["lines_done"], "sentences": st["sentences"], "rows": st["rows"],
                "output_bytes": st["output_bytes"], "resumed_at_line": self.start_line,
                "sentences_this_run": explained}

