#!/usr/bin/env python
"""`python scripts/explain.py ...` is `textdeconv explain ...`; see `textdeconv explain --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout that was not pip-installed
from textdeconv.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["explain", *sys.argv[1:]], prog="explain.py")
