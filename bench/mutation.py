#!/usr/bin/env python
"""Mutation testing of the attribution code and the metric modules with cosmic-ray; writes
bench/results/mutation.json. A dev tool, not in CI.

    pip install -e ".[mutation]"
    python bench/mutation.py                                            # every module below: hours
    python bench/mutation.py --modules textdeconv/evaluation/faithfulness.py --sample 40

Each module is mutated in a copy of the repository (the files git tracks, so the work tree is
never touched) by cosmic-ray's operators, one mutant at a time, and the module's own test
selection (``TESTS``: the files whose subject it is, not the whole suite) runs against each
mutant; a failing or timed-out selection kills it. A selection that fails on the unmutated copy
stops the script (every mutant would look killed). ``--sample N`` runs N mutants per module drawn
with ``--seed`` (the rest are recorded as not run); ``--exclude`` drops operator families by
regular expression (default: the bitwise and shift replacements of arithmetic operators).

mutation.json: per module the test selection, mutants generated and run, killed, survivors
(file, line, change), equivalents (``EQUIVALENT``: a survivor judged to change no behaviour, with
its one-line reason) and minutes; in total the same and the score killed / (run - equivalent).
A later run with other ``--modules`` keeps the modules it does not run.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import machine, now  # noqa: E402

ATTRIBUTION = "tests/test_attribution.py tests/test_deconv.py"
METRICS = "tests/test_evaluation.py tests/test_metrics_extra.py"
TESTS = {  # module -> the pytest arguments that test it
    "textdeconv/attribution/deconv.py": "tests/test_deconv.py",
    "textdeconv/attribution/explanation.py": ATTRIBUTION,
    "textdeconv/attribution/gradient.py": "tests/test_attribution.py",
    "textdeconv/attribution/guided_backprop.py": "tests/test_attribution.py",
    "textdeconv/attribution/integrated_gradients.py": "tests/test_attribution.py",
    "textdeconv/attribution/occlusion.py": "tests/test_attribution.py",
    "textdeconv/attribution/perturb.py": f"tests/test_attribution.py {METRICS}",
    "textdeconv/attribution/random_baseline.py": "tests/test_attribution.py",
    "textdeconv/attribution/engine": "tests/test_engine.py tests/test_engine_faithfulness.py",
    "textdeconv/evaluation/agreement.py": METRICS,
    "textdeconv/evaluation/faithfulness.py": "tests/test_evaluation.py -k 'ranking or eraser or deletion or "
                                             "replacements or batched or faithfulness'",
    "textdeconv/evaluation/plausibility.py": METRICS,
    "textdeconv/evaluation/rationales.py": METRICS,
    "textdeconv/evaluation/robustness.py": METRICS,
    "textdeconv/evaluation/sanity.py": METRICS,
}
# (file, line, operator) -> why the mutant changes no behaviour; filled in as survivors are judged
EQUIVALENT: dict[tuple[str, int, str], str] = {
    ("textdeconv/evaluation/faithfulness.py", 84, "core/ReplaceComparisonOperator_Eq_LtE"):
        "n = len(token_ids) is never negative, so n <= 0 and n == 0 agree",
    ("textdeconv/evaluation/faithfulness.py", 101, "core/ReplaceBinaryOperator_BitAnd_Mul"):
        "low_ok and values <= 1 are NumPy bool arrays: their product is their logical and",
}
DEFAULT_EXCLUDE = [r"ReplaceBinaryOperator_\w+_(BitOr|BitAnd|BitXor|LShift|RShift)$"]
OUT = ROOT / "bench" / "results" / "mutation.json"


def modules(selected) -> list[tuple[str, str]]:
    """(module file, its test arguments) for each selected module (a folder: each .py file in it)."""
    out = []
    for name in selected or TESTS:
        key = next((k for k in TESTS if name == k or name.startswith(k + "/")), None)
        if key is None:
            raise SystemExit(f"error: no test selection for {name}; add it to TESTS in bench/mutation.py")
        path = ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        out += [(str(f.relative_to(ROOT)), TESTS[key]) for f in files if f.name != "__init__.py"]
    return out


def copy_repo(dest: Path) -> None:
    """The files git tracks (no results, no runs, no data) into ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (ROOT / rel).is_file() and not rel.startswith(("bench/results/", "docs/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)


def change_of(diff: str) -> str:
    """The diff's removed and added lines as ``old -> new``."""
    lines = diff.splitlines()
    old = [line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")]
    new = [line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")]
    return f"{' / '.join(old)} -> {' / '.join(new)}"


def run_module(work: Path, module: str, tests: str, args) -> dict:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    test_command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -m 'not slow' {tests}"
    env = {**os.environ, "PYTHONPATH": str(work)}  # the copy's textdeconv, whatever is pip-installed
    t0 = time.perf_counter()
    base = subprocess.run(test_command, shell=True, cwd=work, capture_output=True, text=True,
                          timeout=args.timeout, env=env)
    if base.returncode != 0:
        raise SystemExit(f"error: the test selection fails unmutated ({test_command}):\n{base.stdout[-3000:]}")
    baseline_seconds = time.perf_counter() - t0
    config, session = work / "mutation.toml", work / f"{Path(module).stem}.sqlite"
    config.write_text(f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = {args.timeout}\nexcluded-modules = []\n'
                      f"test-command = {json.dumps(test_command)}\n\n[cosmic-ray.distributor]\nname = \"local\"\n")
    session.unlink(missing_ok=True)
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=work, check=True, capture_output=True,
                   env=env)
    excluded = [re.compile(p) for p in args.exclude]
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        # in source order (cosmic-ray's job ids are random), so a seed draws the same sample every time
        items.sort(key=lambda w: (tuple(w.mutations[0].start_pos), w.mutations[0].operator_name,
                                  w.mutations[0].occurrence))
        kept = [w for w in items if not any(p.search(w.mutations[0].operator_name) for p in excluded)]
        n_excluded = len(items) - len(kept)
        if args.sample is not None and args.sample < len(kept):
            kept = random.Random(args.seed).sample(kept, args.sample)
        skip = {w.job_id for w in items} - {w.job_id for w in kept}
        db.set_multiple_results(sorted(skip), WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=work, check=True, capture_output=True,
                   env=env)
    killed, survived, equivalent, incompetent = 0, [], [], 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            spec = item.mutations[0]
            line, operator = int(spec.start_pos[0]), spec.operator_name
            if result.test_outcome == "killed":
                killed += 1
            elif result.test_outcome == "incompetent" or result.worker_outcome != WorkerOutcome.NORMAL:
                incompetent += 1
            else:
                entry = {"file": module, "line": line, "operator": operator, "change": change_of(result.diff or "")}
                reason = EQUIVALENT.get((module, line, operator))
                (equivalent if reason else survived).append({**entry, "reason": reason} if reason else entry)
    run = killed + len(survived) + len(equivalent) + incompetent
    return {"tests": tests, "generated": len(items), "excluded": n_excluded,
            "not_sampled": len(items) - n_excluded - len(kept), "run": run, "killed": killed,
            "survived": sorted(survived, key=lambda s: s["line"]), "equivalent": equivalent,
            "incompetent": incompetent, "baseline_seconds": round(baseline_seconds, 1),
            "minutes": round((time.perf_counter() - t0) / 60, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", nargs="+", help="module files or folders (default: every one in TESTS)")
    p.add_argument("--sample", type=int, help="run N mutants per module, drawn with --seed (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", nargs="*", default=DEFAULT_EXCLUDE, help="operator-name regexes not to run")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per test run before a mutant counts killed")
    p.add_argument("--tests", help="pytest arguments for every module run (default: each module's TESTS entry)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    import cosmic_ray  # noqa: F401  (fail early, with pip's message, when the extra is missing)

    start, t0 = now(), time.perf_counter()
    result = json.loads(args.out.read_text()) if args.out.exists() else {"modules": {}}
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp)
        copy_repo(work)
        for module, tests in modules(args.modules):
            tests = args.tests or tests
            print(f"{module}: {tests}", file=sys.stderr, flush=True)
            result["modules"][module] = run_module(work, module, tests, args) | {
                "sample": args.sample, "seed": args.seed, "exclude": args.exclude, "date": start}
            m = result["modules"][module]
            print(f"  {m['killed']}/{m['run']} killed, {len(m['survived'])} survived, {m['minutes']} min",
                  file=sys.stderr, flush=True)
    mods = result["modules"].values()
    judged = sum(m["run"] - len(m["equivalent"]) - m["incompetent"] for m in mods)
    result |= {
        "command": "python bench/mutation.py " + " ".join(sys.argv[1:]), "date": start,
        "machine": machine(tensorflow=False),
        "tool": "cosmic-ray " + subprocess.run([sys.executable, "-m", "pip", "show", "cosmic-ray"], capture_output=True,
                                               text=True).stdout.split("Version: ")[1].split()[0],
        "mutants": sum(m["run"] for m in mods), "killed": sum(m["killed"] for m in mods),
        "survived": [s for m in mods for s in m["survived"]], "equivalent": [e for m in mods for e in m["equivalent"]],
        "score": round(sum(m["killed"] for m in mods) / judged, 4) if judged else None,
        "complete": all(m["sample"] is None for m in mods) and set(result["modules"]) >= {f for f, _ in modules(None)},
        "minutes": round(sum(m["minutes"] for m in mods), 1),
        "last_run_minutes": round((time.perf_counter() - t0) / 60, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("mutants", "killed", "score", "minutes", "complete")}))


if __name__ == "__main__":
    main()
