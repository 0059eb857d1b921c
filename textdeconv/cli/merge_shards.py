"""``textdeconv merge-shards``: merge the token CSVs of an ``explain --shard I/N`` job into one CSV."""
from __future__ import annotations

import sys

from textdeconv.cli import HelpFormatter

EXAMPLES = """example:
  textdeconv merge-shards big.csv part1.csv part2.csv part3.csv part4.csv

Streams: holds one row per shard, whatever the files' sizes. The result is byte-identical to an
unsharded run with the same --chunk-size and --batch-size. Give every shard: a missing one cannot
be noticed (its sentences are simply absent). Overlapping shards, unsorted or cut-off files and
files with other columns are refused.
"""


def add(sub):
    p = sub.add_parser("merge-shards", help="merge the CSVs of an explain --shard job", epilog=EXAMPLES,
                       description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("out", help="merged CSV (written atomically)")
    p.add_argument("shards", nargs="+", help="the shards' CSVs")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.reports.stream import merge_shards

    rows = merge_shards(args.shards, args.out, option="OUT")
    print(f"wrote {args.out} ({rows:,} rows from {len(args.shards)} shards)", file=sys.stderr)
