"""``textdeconv download``: fetch the Stanford Sentiment Treebank (PTB trees) into DIR/trees."""
from __future__ import annotations

from textdeconv.cli import HelpFormatter

EXAMPLES = """The official archive is fetched, its SHA-256 checked, and train.txt, dev.txt and test.txt are
unpacked atomically: a failed or corrupt download leaves DIR as it was. When the trees are
already there nothing is downloaded.

examples:
  textdeconv download                       # into $TEXTDECONV_DATA, else ./data/sst
  textdeconv download --dir ~/data/sst
  export TEXTDECONV_DATA=~/data/sst         # then training finds the trees there
  textdeconv download --url file:///tmp/trainDevTestTrees_PTB.zip
      (no network here: fetch the archive on another machine and pass it as a file:// URL)
"""


def add(sub):
    from textdeconv.data.download import SST_SHA256, SST_URL

    p = sub.add_parser("download", help="download the Stanford Sentiment Treebank", epilog=EXAMPLES,
                       description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("--dir", help="data folder (default: $TEXTDECONV_DATA, else ./data/sst)")
    p.add_argument("--url", default=SST_URL, help=f"archive URL, http(s):// or file:// (default: {SST_URL})")
    p.add_argument("--sha256", default=SST_SHA256, help="expected SHA-256 of the archive (default: the official one)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    from textdeconv.data.download import download_sst, find_tree_dir, resolve_data_dir

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
