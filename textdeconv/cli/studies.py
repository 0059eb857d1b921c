"""What the ground-truth study commands share (``groundtruth``, ``roar``, ``randomization``; this
module is no command): their common options, the checks made before TensorFlow loads, and the
results file, which records the command, config, machine and date beside the figures."""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from textdeconv.cli import require_positive
from textdeconv.errors import InputError


def add_common(p, study: str, default_seeds, default_methods=None) -> None:
    """--config, --set, --seeds, --methods, --runs-dir, --out, --ig-steps, --replacement, --offline."""
    from textdeconv.attribution import DEFAULT_METHODS, METHOD_NAMES

    p.add_argument("--config", default="sst.yaml", help="the model and training to study (default sst.yaml, "
                   "trained on sentences for at most 10 epochs, patience 3)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set data.max_train=2000 (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(default_seeds), metavar="SEED",
                   help=f"model seeds (default {' '.join(map(str, default_seeds))})")
    methods = list(default_methods or DEFAULT_METHODS)  # shap and lime when named
    p.add_argument("--methods", nargs="+", default=methods, choices=(*METHOD_NAMES, "all"), metavar="METHOD",
                   help=f"methods to score, or all (default: {', '.join(methods)})")
    p.add_argument("--runs-dir", default=f"runs/{study}", help=f"folder of the study's models, reused when "
                   f"present (default runs/{study})")
    p.add_argument("--out", default=f"bench/results/{study}.json", help=f"results file (default "
                   f"bench/results/{study}.json)")
    p.add_argument("--ig-steps", type=int, default=20, help="integrated-gradients steps (default 20)")
    p.add_argument("--replacement", default="pad", choices=("pad", "unk", "delete"),
                   help="how occlusion removes a word (default pad)")
    p.add_argument("--offline", action="store_true", help="never download the SST trees")
    p.add_argument("--note", help="a note stored in the results file (e.g. why a study ran at reduced size)")


def prepare(args):
    """Check the options, the output (``outputs.OutputPlan``: not an input, writable, not a
    folder) and the config, then load TensorFlow: ``(config, plan)``. Writes nothing. The
    --runs-dir folder is not in the plan: it keeps its models when a study fails, to be reused."""
    from textdeconv.attribution import METHOD_NAMES, get_method
    from textdeconv.data.splits import check_data
    from textdeconv.evaluation.retrain import study_config
    from textdeconv.outputs import OutputPlan

    args.methods = every(args.methods, METHOD_NAMES)
    for method in args.methods:
        get_method(method).require()  # a missing optional library, before any training
    require_positive(args, "ig_steps")
    if any(s < 0 for s in args.seeds):
        raise InputError(f"--seeds must be non-negative, got {args.seeds}")
    if len(set(args.seeds)) != len(args.seeds):
        raise InputError(f"--seeds repeats a seed: {args.seeds}")
    if Path(args.runs_dir).exists() and not Path(args.runs_dir).is_dir():
        from textdeconv.errors import OutputError

        raise OutputError(f"--runs-dir {args.runs_dir} is a file; the study keeps its models in a folder")
    plan = OutputPlan()
    plan.read("the --config file", args.config)
    plan.write("--out", args.out)
    plan.check()
    overrides = list(args.set) + ([("data.download", False, "--offline")] if args.offline else [])
    cfg = study_config(args.config, overrides, study=getattr(args, "command", None) or "ground-truth")
    check_data(cfg.data)
    from textdeconv.runtime import load_tensorflow

    load_tensorflow()  # quietly, and without the retracing chatter of methods rebuilt per model
    return cfg, plan


def every(names, pool) -> list[str]:
    """``names`` with ``all`` standing for every name in ``pool``; each name once, first place kept."""
    out = []
    for name in names:
        out += [n for n in (pool if name == "all" else [name]) if n not in out]
    return out


def method_options(args) -> dict:
    return {"integrated-gradients": {"steps": args.ig_steps}, "occlusion": {"replacement": args.replacement}}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command_line(study: str) -> str:
    argv = sys.argv[2:] if sys.argv[1:2] == [study] else sys.argv[1:]
    return shlex.join(["textdeconv", study, *argv])


def write_results(plan, study: str, result: dict, cfg, args, started: float, settings: dict) -> Path:
    """The results file (--out, published by the plan): command, date, machine, config, settings
    (seeds, methods, sizes, whether the study ran at full size), wall minutes, then the study's own
    figures. Returns its path."""
    from textdeconv.evaluation.retrain import machine, now, plain

    out = Path(args.out)
    record = {"study": study, "command": command_line(study), "date": now(), "machine": machine(),
              "config": cfg.to_dict(), "seeds": list(args.seeds), "settings": settings,
              "wall_minutes": round((time.perf_counter() - started) / 60, 2)}
    if args.note:
        record["note"] = args.note
    with plan:
        plan.temp(out).write_text(json.dumps(plain({**record, **result}), indent=2) + "\n", encoding="utf-8")
    return out


def full_size(cfg, args, default_methods) -> dict:
    """Which limits the study ran under: the data limits, the seeds and the methods left out."""
    limits = {k: getattr(cfg.data, k) for k in ("max_train", "max_eval") if getattr(cfg.data, k) is not None}
    missing = [m for m in default_methods if m not in args.methods]
    return {"full_size": not limits and not missing and len(args.seeds) >= 3,
            "data_limits": limits, "methods_left_out": missing}
