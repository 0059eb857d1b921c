#!/usr/bin/env python
"""`python scripts/merge_shards.py ...` is `textdeconv merge-shards ...`; see `textdeconv merge-shards --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout that was not pip-installed
from textdeconv.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["merge-shards", *sys.argv[1:]], prog="merge_shards.py")
