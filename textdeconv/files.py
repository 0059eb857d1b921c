"""Atomic file writes: a crash never leaves a half-written file under its final name."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = False):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    ``durable``: also fsync the file before the rename and the folder after it, so the new
    content survives a power cut, not only a crash of the process (a commit point, e.g. the
    progress file of a resumable job).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
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
        if os.path.exists(tmp):
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
