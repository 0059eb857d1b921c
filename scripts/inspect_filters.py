#!/usr/bin/env python
"""`python scripts/inspect_filters.py ...` is `textdeconv filters ...`; see `textdeconv filters --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout that was not pip-installed
from textdeconv.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["filters", *sys.argv[1:]], prog="inspect_filters.py")
