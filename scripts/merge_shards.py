#!/usr/bin/env python
"""Merge the token CSVs of an explain.py --shard I/N job into one CSV ordered by sentence_id.

    python scripts/merge_shards.py big.csv part1.csv part2.csv part3.csv part4.csv

Streams: holds one row per shard, whatever the files' sizes. The result is byte-identical to an
unsharded run with the same --chunk-size and --batch-size. Give every shard: a missing one cannot
be noticed (its sentences are simply absent). Overlapping shards, unsorted or cut-off files and
files with other columns are refused.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from textdeconv.cli import run_main  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="merged CSV (written atomically)")
    p.add_argument("shards", nargs="+", help="the shards' CSVs")
    args = p.parse_args()
    from textdeconv.reports.stream import merge_shards

    rows = merge_shards(args.shards, args.out)
    print(f"wrote {args.out} ({rows:,} rows from {len(args.shards)} shards)", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
