"""The ``textdeconv`` command: parse, call the package, print.

    textdeconv train --config sst.yaml
    textdeconv explain --run RUN "a gripping , funny movie"

Each subcommand lives in its own module with ``add(subparsers)`` (its parser, whose epilog is a
worked example) and ``run(args)``. A ``textdeconv.errors.UserError`` becomes one ``error: ...``
line on stderr and exit 2; any other exception is a bug and keeps its traceback. The scripts in
scripts/ call ``main`` with their subcommand's name.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading

from textdeconv import __version__
from textdeconv.errors import InputError, UserError
from textdeconv.runtime import load_tensorflow  # noqa: F401  (sets TF's log level before TF loads)

COMMANDS = ("train", "explain", "evaluate", "filters", "lexicon", "download", "serve", "groundtruth", "roar", "road",
            "randomization", "influence")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the worked examples' line breaks; shows defaults where the help names none."""


def require_positive(args, *names: str) -> None:
    """Raise InputError naming the option when an integer option ``args.<name>`` is below 1."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="textdeconv", formatter_class=HelpFormatter,
        description="Train Kim-style TextCNN sentence classifiers and explain them with a deconvnet.",
        epilog="Run 'textdeconv COMMAND --help' for a command's options and a worked example.\n"
               "Quick start:\n"
               "  textdeconv explain \"a gripping , funny movie\"     (the bundled model, builtin:sst2)\n"
               "  textdeconv train --config tiny.yaml --run-dir runs/tiny\n"
               "  textdeconv explain --run runs/tiny \"a gripping , funny movie\" --html view.html")
    p.add_argument("--version", action="version", version=f"textdeconv {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"textdeconv.cli.{name.replace('-', '_')}").add(sub)
    for command in sub.choices.values():
        examples_last(command)
    p.commands = sub.choices
    return p


def examples_last(parser: argparse.ArgumentParser) -> None:
    """A help page ends with its worked examples: notes written after the examples in a command's
    epilog move to the end of its description (above the options)."""
    lines = (parser.epilog or "").rstrip("\n").split("\n")
    if lines[0] != "examples:":
        return
    end = 1
    while end < len(lines) and lines[end].startswith("  "):  # an example, or its indented continuation
        end += 1
    notes = "\n".join(lines[end:]).strip()
    if notes:
        parser.description = f"{parser.description or ''}\n\n{notes}".strip()
        parser.epilog = "\n".join(lines[:end])


def main(argv=None, prog: str | None = None) -> None:
    """Run the command line (``argv`` defaults to ``sys.argv[1:]``) and exit with its code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if prog and argv and argv[0] in parser.commands:  # a script shim names itself in usage lines
        parser.commands[argv[0]].prog = prog
    run_main(lambda: _dispatch(parser, argv))


def _dispatch(parser, argv):
    passthrough = []
    if "--" in argv and argv and argv[0] in parser.commands:  # e.g. explain --runner beam ... -- BEAM OPTIONS
        cut = argv.index("--")
        module = importlib.import_module(f"textdeconv.cli.{argv[0].replace('-', '_')}")
        if getattr(module, "passes_through", lambda argv: False)(argv[:cut]):
            argv, passthrough = argv[:cut], argv[cut + 1:]
    args, extra = parser.parse_known_args(argv)
    args.passthrough = passthrough
    args.parser = args.command_parser
    if extra:  # reported by the subcommand, whose usage line is the one that helps
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that clean-ups run (a streamed job keeps what it committed)."""


def _terminate(signum, frame):
    raise Terminated


def run_main(fn) -> None:
    """Call ``fn()``; a UserError becomes ``error: ...`` on stderr and exit 2, Ctrl-C exit 130
    (SIGTERM 143, after the same clean-up), a closed pipe (``... | head``) a quiet exit; anything
    else keeps its traceback (a bug)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code = fn()
        sys.stdout.flush()
    except Terminated:
        print("terminated", file=sys.stderr)
        code = 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        code = closed_pipe()
    except UserError as e:
        if os.environ.get("TEXTDECONV_DEBUG"):
            raise  # the full traceback, for bug reports
        print(f"error: {e}", file=sys.stderr)
        code = 2
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        code = closed_pipe()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code or 0)


def closed_pipe() -> int:
    """The reader of stdout went away: exit quietly as Unix tools do (and keep Python from
    complaining when it flushes stdout at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0
