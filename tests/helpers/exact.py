"""``raises_exactly``: ``pytest.raises`` that accepts one exception class (not a subclass, not a
parent) and one whole message."""
import contextlib
import re

import pytest


@contextlib.contextmanager
def raises_exactly(kind: type[BaseException], message: str):
    """The block raises ``kind`` itself with ``str(exc) == message``; yields pytest's ExceptionInfo."""
    with pytest.raises(kind, match=f"^{re.escape(message)}$") as info:
        yield info
    assert type(info.value) is kind, f"{type(info.value).__name__} raised, {kind.__name__} expected"
