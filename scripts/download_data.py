#!/usr/bin/env python
"""`python scripts/download_data.py ...` is `textdeconv download ...`; see `textdeconv download --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout that was not pip-installed
from textdeconv.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["download", *sys.argv[1:]], prog="download_data.py")
