"""The errors a user can act on, one family: the command line prints them as one line and exits 2.

Every other exception is a bug and keeps its traceback. Each subclass also derives from the
built-in type a caller would expect (``ValueError``, ``FileNotFoundError``, ...), so Python code
may catch either.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user gave is wrong or missing; the message says what, where and what to do."""


class InputError(UserError, ValueError):
    """A bad argument or value (an option, a sentence, a target class)."""


class ConfigError(InputError):
    """A config file or override is wrong; the message says what and where."""


class DataError(InputError):
    """Malformed or missing data; the message names the file and line and says what to do."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or is not what it must be)."""


class VectorsNotFoundError(MissingFileError, ValueError):
    """The pretrained vectors file does not exist."""


class MissingExtraError(UserError, ImportError, ValueError):
    """An optional package is not installed; the message names the pip extra that brings it."""


class OutputError(UserError, FileExistsError):
    """An output path cannot be written as asked (it is an input, it repeats, it is busy)."""


class DownloadError(UserError, ConnectionError):
    """A download failed (no network, or the server refused)."""


def quoted(value, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for quoting what a user gave in a message
    (a 300 MB value must not become a 300 MB error line)."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    if isinstance(value, str) and len(value) > limit:
        return f"{repr(value[:limit])[:-1]}...' ({len(value):,} characters)"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
