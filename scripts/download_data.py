#!/usr/bin/env python
"""Download the Stanford Sentiment Treebank (PTB trees) and unpack it into DIR/trees.

The official archive is fetched, its SHA-256 checked, and train.txt, dev.txt and test.txt are
unpacked atomically: a failed or corrupt download leaves DIR as it was. When the trees are
already there nothing is downloaded.

Examples:
  python scripts/download_data.py                       # into $TEXTDECONV_DATA, else data/sst
  python scripts/download_data.py --dir ~/data/sst
  export TEXTDECONV_DATA=~/data/sst                     # then train.py finds the trees there

With no network, fetch trainDevTestTrees_PTB.zip on another machine and pass it as a file:// URL:
  python scripts/download_data.py --url file:///tmp/trainDevTestTrees_PTB.zip
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from textdeconv.cli import run_main  # noqa: E402


def main():
    from textdeconv.data.download import SST_SHA256, SST_URL, download_sst, find_tree_dir, resolve_data_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", help="data folder (default: $TEXTDECONV_DATA, else data/sst in the project)")
    p.add_argument("--url", default=SST_URL, help=f"archive URL, http(s):// or file:// (default: {SST_URL})")
    p.add_argument("--sha256", default=SST_SHA256, help="expected SHA-256 of the archive (default: the official one)")
    args = p.parse_args()

    root = resolve_data_dir(args.dir)
    existing = find_tree_dir(root)
    if existing is not None:
        print(f"SST trees already in {existing}; nothing downloaded")
        return 0
    print(f"downloading {args.url} ...", flush=True)  # progress on stdout: stderr holds only errors
    tree_dir = download_sst(root, url=args.url, sha256=args.sha256.lower(), quiet=True)
    print(f"SST trees in {tree_dir}")
    if args.dir and str(root) != str(resolve_data_dir(None)):
        print(f"point training at them with --set data.dir={root} or export TEXTDECONV_DATA={root}")


if __name__ == "__main__":
    run_main(main)
