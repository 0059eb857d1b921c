"""``textdeconv serve``: the explorer, an interactive page to explain sentences in a browser."""
from __future__ import annotations

import sys

from textdeconv.cli import HelpFormatter

EXAMPLES = """examples:
  textdeconv serve --run runs/sst
  textdeconv serve --run runs/sst-rand --run runs/sst-non-static --port 8001
  curl -s localhost:8000/api/explain -H 'Content-Type: application/json' \\
       -d '{"texts": ["a gripping , funny movie"], "method": "deconv", "target": null}'

Prints the local URL (alone on stdout) once the models are loaded and warm; open it in a
browser. Type sentences and see every word coloured by its score, switch the method (up to four
side by side) and the target class, click a word for the filters whose window covers it and a
filter for its dictionary card, delete or replace words and watch the prediction change, or
upload a file for a sortable table and the CSV `textdeconv explain --csv` writes. With two --run,
both runs explain the same sentences side by side. The same JSON API serves scripts: see
docs/explorer.md.

Binds 127.0.0.1 (this machine only) unless --host says otherwise; on any other address every
request needs a token, printed once on stderr with the URL to open. Without --run the most
recent run under ./runs is used, else the bundled model builtin:sst2 (named on stderr).
Ctrl-C stops it.
"""


def add(sub):
    p = sub.add_parser("serve", help="the explorer: explain sentences interactively in a browser",
                       epilog=EXAMPLES, description=__doc__.split(":", 1)[1].strip(), formatter_class=HelpFormatter)
    p.add_argument("--run", action="append", metavar="RUN",
                   help="run directory or builtin:sst2 (twice: compare two runs; default: the latest under ./runs, "
                        "else builtin:sst2)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="off loopback: a host name the page may be opened by, besides IP addresses and this "
                        "machine's name (repeatable)")
    p.add_argument("--time-budget", type=float, default=30.0, metavar="S",
                   help="seconds one request may keep a run's model busy, waiting included (default 30)")
    p.set_defaults(func=run, command_parser=p)


def run(args):
    if not 0 <= args.port <= 65535:
        args.parser.error(f"--port must be between 0 and 65535, got {args.port}")
    if not 0 < args.time_budget < float("inf"):
        args.parser.error(f"--time-budget must be a positive number of seconds, got {args.time_budget}")
    from textdeconv.serve.explorer import Limits
    from textdeconv.serve.server import serve
    from textdeconv.training.rundir import pick_run

    paths = [pick_run(r)[0] for r in args.run] if args.run else [pick_run(None)[0]]

    def ready(url):  # the URL is the result (stdout); the rest is for the person watching
        print(url, flush=True)
        print(f"explorer for {', '.join(map(str, paths))} ready; Ctrl-C stops it", file=sys.stderr)

    serve(paths, args.host, args.port, say=ready, limits=Limits(time_budget=args.time_budget),
          allow_hosts=args.allow_host)
