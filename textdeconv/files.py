"""Atomic file writes: a crash never leaves a half-written file under its final name."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path


def create_temp(parent: str | Path, prefix: str, suffix: str, record, folder: bool = False) -> Path:
    """Create a new, empty temporary file (or folder) ``parent/PREFIX<random>SUFFIX`` and return it.

    ``record(path)`` gets the name *before* the file exists, so a Ctrl-C or SIGTERM landing at any
    instant leaves nothing the caller does not know to remove: with several threads a signal may be
    handled by any of them, so masking signals in the main thread is not enough. Created with
    O_EXCL (a name in use is never taken over) and mode 0600 / 0700."""
    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        record(path)
        try:
            if folder:
                os.mkdir(path, 0o700)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return path
        except FileExistsError:
            record(None)  # someone else's: never ours to remove
    raise FileExistsError(f"no free temporary name in {parent}")


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = False):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    ``durable``: also fsync the file before the rename and the folder after it, so the new
    content survives a power cut, not only a crash of the process (a commit point, e.g. the
    progress file of a resumable job).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None

    def record(name):
        nonlocal tmp
        tmp = name

    try:
        create_temp(path.parent, f".{path.name}.", ".tmp" + path.suffix, record)  # tmp is known before it exists
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a folder's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str, durable: bool = False) -> None:
    with atomic_path(path, durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, obj, durable: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", durable)
