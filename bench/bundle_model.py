"""Bundle a finished run as a model shipped with the package (maintainers; docs/development.md).

    python bench/bundle_model.py runs/builtin-sst2 --name sst2 --replace
"""
import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from textdeconv.errors import UserError  # noqa: E402
from textdeconv.training.bundle import bundle_run  # noqa: E402

BUILTIN = ROOT / "textdeconv" / "builtin"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a finished run directory")
    p.add_argument("--name", default="sst2", help="the bundle's name: builtin:NAME (default sst2)")
    p.add_argument("--command", help="the command that trained the run, recorded in card.json")
    p.add_argument("--replace", action="store_true", help="replace a bundle of that name")
    args = p.parse_args(argv)
    command = args.command or f"textdeconv train --config builtin-{args.name}.yaml --run-dir {shlex.quote(args.run)}"
    try:
        card = bundle_run(args.run, BUILTIN / args.name, command, replace=args.replace)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"bundled {args.run} as {card['name']}: {card['bytes'] / 2**20:.2f} MiB, "
          f"dev {card['dev_accuracy']:.4f}, test {card['test_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
