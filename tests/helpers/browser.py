"""Finding and starting a headless Chromium for the browser tests (Playwright for Python).

The browser: ``TEXTDECONV_CHROMIUM`` (an executable path; ``TEXTDECONV_CHROMIUM_ARGS`` its launch
flags, as ``shared/tools/chromium --args`` prints them), else Playwright's own install. Without
either the browser tests skip, saying how to get one; with ``TEXTDECONV_REQUIRE_BROWSER`` set
(CI) they fail instead, so a CI run cannot pass them by skipping.
"""
import os
import shlex
from pathlib import Path

import pytest

HOW = ("no Chromium for the browser tests: run `playwright install chromium`, or set TEXTDECONV_CHROMIUM "
       "to a Chromium executable (and TEXTDECONV_CHROMIUM_ARGS to its launch flags)")


def unavailable(reason: str):
    if os.environ.get("TEXTDECONV_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (TEXTDECONV_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


def launch(playwright):
    """A launched Chromium browser, or skip (fail under TEXTDECONV_REQUIRE_BROWSER)."""
    path = os.environ.get("TEXTDECONV_CHROMIUM")
    args = shlex.split(os.environ.get("TEXTDECONV_CHROMIUM_ARGS", ""))
    if path:
        if not os.access(path, os.X_OK):
            unavailable(f"TEXTDECONV_CHROMIUM={path} is not an executable; {HOW}")
    elif not Path(playwright.chromium.executable_path).is_file():
        unavailable(HOW)
    try:
        return playwright.chromium.launch(executable_path=path or None, args=args)
    except Exception as e:  # Playwright reports a browser that does not start as a plain Error
        unavailable(f"Chromium did not start ({str(e).splitlines()[0]}); {HOW}")
