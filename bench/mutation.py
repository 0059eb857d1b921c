#!/usr/bin/env python
"""Mutation testing of the attribution code and the metric modules with cosmic-ray; writes
bench/results/mutation.json. A dev tool, not in CI; run it under ``nice -n 19`` on a shared machine.

    pip install -e ".[mutation]"
    nice -n 19 python bench/mutation.py                                 # every module below
    nice -n 19 python bench/mutation.py --modules textdeconv/evaluation/faithfulness.py --sample 40

Each module is mutated in a copy of the repository (the files git tracks, so the work tree is
never touched) by cosmic-ray's operators, one mutant at a time, and the module's own test
selection (``TESTS``: the files whose subject it is, not the whole suite) judges each mutant; a
failing or timed-out test kills it. ``--sample N`` runs N mutants per module drawn with ``--seed``
(the rest are recorded as not run); ``--exclude`` drops operator families by regular expression
(default: the bitwise and shift replacements of arithmetic operators).

The fork runner (default; docs/development.md, "Mutation testing"): one unmutated run of all
selections under coverage with per-test contexts maps each line to the tests that execute it (a
failing test stops the script: every mutant would look killed); this process imports TensorFlow,
textdeconv and the test modules once; per mutant a forked child patches the mutated source into
the loaded module and runs only the tests of the mutated line, quickest first, with ``-x``.
Survivors, timeouts and mutants the patching cannot place are run again in a child importing the
mutated file afresh. ``--runner cosmic-ray``: ``cosmic-ray exec``, a new pytest process running the
whole selection per mutant.

mutation.json: per module the test selection, mutants generated and run, killed, survivors
(file, line, change), equivalents (``EQUIVALENT``: a survivor judged to change no behaviour, with
its one-line reason), minutes, mutants per minute and CPU minutes, ``complete``; in total the same
and the score killed / (run - equivalent). A later run with other ``--modules`` keeps the modules
it does not run; ``--merge`` gathers runs made side by side.
"""
import argparse
import importlib
import importlib.metadata
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import numpy as np  # noqa: E402
from benchlib import machine, now  # noqa: E402

KILLS = "tests/test_mutation_kills_attribution.py"  # tests written for the survivors of earlier runs
ATTRIBUTION = f"tests/test_attribution.py tests/test_deconv.py {KILLS}"
METRICS = "tests/test_evaluation.py tests/test_metrics_extra.py tests/test_mutation_kills_evaluation.py"
TESTS = {  # module -> the pytest arguments that test it
    "textdeconv/attribution/deconv.py": "tests/test_deconv.py",
    "textdeconv/attribution/explanation.py": ATTRIBUTION,
    "textdeconv/attribution/gradient.py": "tests/test_attribution.py",
    "textdeconv/attribution/guided_backprop.py": "tests/test_attribution.py",
    "textdeconv/attribution/integrated_gradients.py": "tests/test_attribution.py",
    "textdeconv/attribution/occlusion.py": f"tests/test_attribution.py {KILLS}",
    "textdeconv/attribution/perturb.py": f"tests/test_attribution.py {KILLS} {METRICS}",
    "textdeconv/attribution/random_baseline.py": f"tests/test_attribution.py {KILLS}",
    "textdeconv/attribution/engine": "tests/test_engine.py tests/test_engine_faithfulness.py",
    "textdeconv/evaluation/agreement.py": METRICS,
    "textdeconv/evaluation/faithfulness.py": METRICS,
    "textdeconv/evaluation/plausibility.py": METRICS,
    "textdeconv/evaluation/rationales.py": METRICS,
    "textdeconv/evaluation/robustness.py": f"{METRICS} tests/test_mufidelity.py",  # pearson_rows, MuFidelity
    "textdeconv/evaluation/sanity.py": METRICS,
}
# (file, line, operator) -> why the mutant changes no behaviour; filled in as survivors are judged
EQUIVALENT: dict[tuple[str, int, str], str] = {
    ("textdeconv/evaluation/faithfulness.py", 84, "core/ReplaceComparisonOperator_Eq_LtE"):
        "n = len(token_ids) is never negative, so n <= 0 and n == 0 agree",
    ("textdeconv/evaluation/faithfulness.py", 101, "core/ReplaceBinaryOperator_BitAnd_Mul"):
        "low_ok and values <= 1 are NumPy bool arrays: their product is their logical and",
    ("textdeconv/evaluation/sanity.py", 50, "core/ReplaceUnaryOperator_USub_Invert"):
        "~w == -w - 1 for the integer filter widths: the same widest-first order as -w",
    # kendall's guard `a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0` only spares scipy a case it answers alike
    ("textdeconv/evaluation/agreement.py", 24, "core/ReplaceComparisonOperator_Eq_LtE"):
        "np.ptp is never negative: ptp <= 0 is ptp == 0",
    ("textdeconv/evaluation/agreement.py", 24, "core/ReplaceComparisonOperator_Eq_Lt"):
        "a constant vector then reaches scipy's kendalltau, which returns the same NaN, silently",
    ("textdeconv/evaluation/agreement.py", 24, "core/ReplaceOrWithAnd"):
        "a constant vector (n < 2 is constant too) then reaches kendalltau: the same NaN, silently",
    ("textdeconv/evaluation/agreement.py", 24, "core/NumberReplacer"):
        "size < 1 and ptp == -1 (size < 3 and ptp == 1 are killed): n < 2 is constant, ptp is never -1, "
        "and kendalltau gives a constant vector the same NaN",
    ("textdeconv/attribution/random_baseline.py", 47, "core/ReplaceUnaryOperator_USub_UAdd"):
        "logits are (batch, classes): axis +1 is axis -1",
    ("textdeconv/evaluation/robustness.py", 64, "core/ReplaceComparisonOperator_NotEq_Gt"):
        "aa is a sum of squares, never negative (a NaN row gives NaN either way): aa > 0 is aa != 0",
    ("textdeconv/evaluation/robustness.py", 78, "core/ReplaceUnaryOperator_USub_Invert"):
        "~1 is -2, and NumPy's reshape takes any negative size as the one unknown dimension: the same as -1",
    ("textdeconv/evaluation/robustness.py", 78, "core/NumberReplacer"):
        "the survivors are -1 -> -2 (NumPy's reshape takes any negative size as the unknown dimension) and "
        "sums[0] -> sums[-1] (every sentence has the same S samples); sums[0] -> sums[1] is killed by the "
        "one-sentence case",
    ("textdeconv/evaluation/robustness.py", 95, "core/ReplaceComparisonOperator_Lt_LtE"):
        "rng.random draws multiples of 2**-53 in [0, 1): a draw equal to drop_prob, the only case where <= and < "
        "differ, has probability about 1e-16 per word",
    ("textdeconv/evaluation/robustness.py", 105, "core/ReplaceBinaryOperator_BitOr_Add"):
        "on bool arrays a + b is nonzero exactly where a | b is True, and np.where reads it as truth",
    ("textdeconv/evaluation/robustness.py", 105, "core/ReplaceComparisonOperator_Eq_LtE"):
        "np.ptp is never negative: ptp <= 0 is ptp == 0",
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


WARM = ("numpy", "scipy.stats", "pandas", "sklearn", "pyarrow", "tensorflow", "keras", "pytest", "pytest_cov",
        "coverage")  # imported once by the parent that forks each test run, never textdeconv itself


class Recorder:
    """A pytest plugin noting each test's duration and the tests that failed."""

    def __init__(self):
        self.seconds, self.failed = {}, []

    def pytest_runtest_logreport(self, report):
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration
        if report.failed:
            self.failed.append(report.nodeid)


def forked_pytest(work: Path, pytest_args: list[str], timeout: float, log: Path, env=None,
                  patch=None) -> tuple[int | None, dict]:
    """``pytest ARGS`` in a child forked from this process: (exit code, or None when it ran past
    ``timeout`` and was killed; {"seconds": per test, "failed": [...], "file": textdeconv's}).

    Without ``patch`` the parent has imported no textdeconv module (``--fresh``) and the child imports
    the copy's files, mutated or not, afresh. With ``patch`` = (module name, source) the parent has
    imported textdeconv and the tests (``warm``) and the child first patches the source into the loaded
    module (``patch_module``); exit 98 when that cannot be done (the caller then runs it fresh)."""
    out = log.with_suffix(".json")
    out.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 99
        try:
            os.setpgid(0, 0)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(work)
            sys.path[:] = [str(work)] + [p for p in sys.path if p not in ("", str(ROOT), str(ROOT / "bench"))]
            os.environ.update({"PYTHONPATH": str(work), **(env or {})})
            sys.dont_write_bytecode = True  # a mutant's bytecode must never be read back for the next one
            import pytest

            if patch is None:  # import the copy's files afresh, whatever this process loaded
                for name, loaded in list(sys.modules.items()):
                    if name.split(".")[0] == "textdeconv" or str(getattr(loaded, "__file__", "")).startswith(str(work)):
                        del sys.modules[name]
            else:
                try:
                    patch_module(*patch)
                except PatchError:
                    code = 98
                    raise
            recorder = Recorder()
            code = int(pytest.main(pytest_args, plugins=[recorder]))
            textdeconv = sys.modules.get("textdeconv")
            out.write_text(json.dumps({"seconds": recorder.seconds, "failed": recorder.failed,
                                       "file": getattr(textdeconv, "__file__", None)}))
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.killpg(pid, 9)
            os.waitpid(pid, 0)
            code = None
            break
        time.sleep(0.02)
    try:
        os.killpg(pid, 9)  # whatever the tests started and left behind
    except ProcessLookupError:
        pass
    return code, (json.loads(out.read_text()) if out.exists() else {})


class PatchError(Exception):
    """The mutant could not be put into the loaded module."""


def _function(f):
    while hasattr(f, "__wrapped__"):  # tf.custom_gradient, functools.wraps
        f = f.__wrapped__
    return f if isinstance(f, types.FunctionType) else None


def _same(a, b) -> bool:
    try:
        return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)
    except Exception:
        return False


def _transplant(old, new, name: str) -> bool:
    """Give ``old`` (a function or a class of module ``name``) the behaviour of ``new`` in place, so that
    every reference to it (``from m import f`` in a test, a registry, a bound method) sees the mutant."""
    f_old, f_new = _function(old), _function(new)
    if f_old is not None and f_new is not None:
        if f_old.__code__.co_freevars != f_new.__code__.co_freevars:
            raise PatchError(f"{f_old.__qualname__}: other free variables")
        f_old.__code__ = f_new.__code__
        f_old.__defaults__, f_old.__kwdefaults__ = f_new.__defaults__, f_new.__kwdefaults__
        return True
    for kind, parts in ((staticmethod, ("__func__",)), (classmethod, ("__func__",)),
                        (property, ("fget", "fset", "fdel"))):
        if isinstance(old, kind) and isinstance(new, kind):
            for part in parts:
                a, b = getattr(old, part), getattr(new, part)
                if (a is None) != (b is None):
                    raise PatchError(f"{part} added or removed")
                if a is not None and not _transplant(a, b, name):
                    raise PatchError(f"{part} is not a function")
            return True
    if isinstance(old, type) and isinstance(new, type) and old.__module__ == name:
        for key, value in new.__dict__.items():
            if key in ("__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"):
                continue
            if key not in old.__dict__:
                setattr(old, key, value)
            elif not _transplant(old.__dict__[key], value, name) and not _same(old.__dict__[key], value):
                setattr(old, key, value)
        return True
    return False


def patch_module(name: str, source: str) -> None:
    """Run ``source`` as module ``name`` (already imported) and move what it defines into the loaded
    module: functions and methods get the new code (their objects stay, so every reference sees it);
    a changed constant is rebound in the module and wherever another loaded module imported it by name."""
    import builtins

    module = sys.modules[name]
    new = {"__name__": name, "__file__": module.__file__, "__package__": module.__package__,
           "__spec__": module.__spec__, "__builtins__": builtins}
    exec(compile(source, module.__file__, "exec"), new)  # an exception here is the mutant's: it kills
    for key, value in new.items():
        if key.startswith("__") and key.endswith("__"):
            continue
        old = module.__dict__.get(key, PatchError)
        if old is value or _transplant(old, value, name) or _same(old, value):
            continue
        if _function(old) is not None or isinstance(old, type):
            raise PatchError(f"{key}: a function or class replaced by something else")
        for other in list(sys.modules.values()):
            if getattr(other, "__dict__", {}).get(key, PatchError) is old and (
                    other is module or str(getattr(other, "__file__", "")).startswith(str(Path.cwd()))):
                other.__dict__[key] = value


def warm(work: Path, module_names: list[str], test_files: list[str]) -> None:
    """Import the copy's textdeconv modules and test modules in this process, as pytest will in each
    child (``prepend`` import mode: tests/ first on sys.path, each test file by its bare name)."""
    os.chdir(work)
    sys.path[:] = [str(work / "tests"), str(work)] + [p for p in sys.path
                                                      if p not in ("", str(ROOT), str(ROOT / "bench"))]
    sys.dont_write_bytecode = True
    for name in ["conftest", *module_names, *(Path(f).stem for f in test_files)]:
        importlib.import_module(name)
    assert sys.modules["textdeconv"].__file__.startswith(str(work)), sys.modules["textdeconv"].__file__


def split_tests(tests: str) -> tuple[list[str], list[str]]:
    """A TESTS entry as (test files, other pytest options)."""
    words = shlex.split(tests)
    return [w for w in words if w.startswith("tests/")], [w for w in words if not w.startswith("tests/")]


PYTEST = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]


def coverage_map(work: Path, test_files: list[str], args) -> tuple[dict, dict]:
    """One unmutated run of ``test_files`` under coverage with per-test contexts: ({module file: {line:
    [test ids]}}, {test id: seconds}). Stops the script when a test fails (every mutant would look killed)."""
    import coverage

    log = work / "coverage.log"
    data_file = work / ".coverage"
    code, run = forked_pytest(work, ["-p", "no:cacheprovider", "-m", "not slow", "-q", "--cov=textdeconv",
                                     "--cov-context=test", "--cov-report=", *test_files],
                              timeout=args.timeout * 10, log=log, env={"COVERAGE_FILE": str(data_file)})
    if code != 0:
        raise SystemExit(f"error: the test selection fails unmutated ({' '.join(test_files)}):\n"
                         f"{log.read_text()[-3000:]}")
    if not str(run.get("file", "")).startswith(str(work)):
        raise SystemExit(f"error: the tests imported textdeconv from {run.get('file')}, not from the copy {work}")
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    lines = {}
    for measured in data.measured_files():
        rel = str(Path(measured).resolve().relative_to(work.resolve()))
        lines[rel] = {n: sorted({c.rsplit("|", 1)[0] for c in contexts if c})
                      for n, contexts in data.contexts_by_lineno(measured).items()}
    return lines, run["seconds"]


def run_module(work: Path, module: str, tests: str, args, cover=None) -> dict:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    t0 = time.perf_counter()
    test_files, options = split_tests(tests)
    if args.runner == "fork":
        lines, seconds = cover
        mine = {n: [t for t in ids if t.split("::")[0] in test_files] for n, ids in lines.get(module, {}).items()}
        anywhere = sorted({t for ids in mine.values() for t in ids})  # every test that runs a line of the module
        if args.recheck is not None:  # no coverage run: the whole selection
            anywhere = test_files
        baseline_seconds = sum(seconds.get(t, 0.0) for t in anywhere)
        test_command = " ".join(["pytest", *PYTEST, *map(shlex.quote, options), "<the tests that run the line>"])
    else:
        test_command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -m 'not slow' {tests}"
        env = {**os.environ, "PYTHONPATH": str(work)}  # the copy's textdeconv, whatever is pip-installed
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
                   env={**os.environ, "PYTHONPATH": str(work)})
    excluded = [re.compile(p) for p in args.exclude]
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        # in source order (cosmic-ray's job ids are random), so a seed draws the same sample every time
        items.sort(key=lambda w: (tuple(w.mutations[0].start_pos), w.mutations[0].operator_name,
                                  w.mutations[0].occurrence))
        kept = [w for w in items if not any(p.search(w.mutations[0].operator_name) for p in excluded)]
        n_excluded = len(items) - len(kept)
        if args.recheck is not None:  # only the survivors recorded for this module, by their change
            import cosmic_ray.plugins
            from cosmic_ray.mutating import _make_diff, mutate_code

            source = (work / module).read_text()

            def change(w):
                spec = w.mutations[0]
                mutated = mutate_code(source, cosmic_ray.plugins.get_operator(spec.operator_name)(), spec.occurrence)
                return mutated and change_of("\n".join(_make_diff(source, mutated, module)))

            wanted = {(s["line"], s["operator"], s["change"]) for s in args.recheck}
            kept = [w for w in kept if (int(w.mutations[0].start_pos[0]), w.mutations[0].operator_name, change(w))
                    in wanted]
        elif args.sample is not None and args.sample < len(kept):
            kept = random.Random(args.seed).sample(kept, args.sample)
        skip = {w.job_id for w in items} - {w.job_id for w in kept}
        db.set_multiple_results(sorted(skip), WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    killers, t_run, cpu_run = {}, time.perf_counter(), os.times()
    if args.runner == "fork":
        import cosmic_ray.plugins
        from cosmic_ray.mutating import _make_diff, mutate_code

        path = work / module
        original = path.read_text()
        name = module.removesuffix(".py").replace("/", ".")
        patched = fresh = 0
        if not args.fresh and anywhere:  # the unmutated source through the patching: every test must pass
            code, _ = forked_pytest(work, [*PYTEST, *options, *anywhere], args.timeout * 10, work / "null.log",
                                    patch=(name, original))
            if code != 0:
                raise SystemExit(f"error: patching {module} unmutated fails its tests (exit {code}):\n"
                                 f"{(work / 'null.log').read_text()[-3000:]}")
        with use_db(str(session), WorkDB.Mode.open) as db:
            for i, item in enumerate(kept):
                spec = item.mutations[0]
                mutated = mutate_code(original, cosmic_ray.plugins.get_operator(spec.operator_name)(),
                                      spec.occurrence)
                if mutated is None:
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NO_TEST))
                    continue
                span = range(int(spec.start_pos[0]), int(spec.end_pos[0]) + 1)
                ids = sorted({t for n in span for t in mine.get(n, [])}) or anywhere
                diff = "\n".join(_make_diff(original, mutated, module))
                if not ids:  # no test runs the module: the mutant survives unseen
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NORMAL,
                                                          test_outcome=TestOutcome.SURVIVED, diff=diff,
                                                          output="no test runs this line"))
                    continue
                ids.sort(key=lambda t: seconds.get(t, 0.0))  # the quick tests first: -x stops at the first failure
                timeout = 30 + 5 * sum(seconds.get(t, 0.0) for t in ids) if seconds else args.timeout
                code, t_mutant = 98, time.perf_counter()
                if not args.fresh:
                    path.write_text(mutated)  # AutoGraph converts a tf.function from its source file
                    try:
                        code, run = forked_pytest(work, [*PYTEST, *options, *ids], timeout, work / "mutant.log",
                                                  patch=(name, mutated))
                    finally:
                        path.write_text(original)
                    patched += code != 98
                if code in (0, 98, None):  # a survivor, a mutant not patched or a timeout: confirmed afresh
                    path.write_text(mutated)
                    try:
                        code, run = forked_pytest(work, [*PYTEST, *options, *ids], timeout, work / "mutant.log")
                    finally:
                        path.write_text(original)
                    fresh += 1
                if code == 0:
                    outcome = TestOutcome.SURVIVED
                elif code in (1, 2, None):  # tests failed, a collection error, or ran past the timeout
                    outcome = TestOutcome.KILLED
                    for t in run.get("failed", [])[:1]:
                        killers[t] = killers.get(t, 0) + 1
                else:
                    outcome = TestOutcome.INCOMPETENT
                    print(f"  incompetent (exit {code}): {module}:{span[0]} {spec.operator_name}\n"
                          f"{(work / 'mutant.log').read_text()[-2000:]}", file=sys.stderr, flush=True)
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NORMAL, test_outcome=outcome,
                                                      diff=diff, output=f"exit {code}"))
                if args.verbose:
                    print(f"  [{i + 1}/{len(kept)}] {module}:{span[0]} {spec.operator_name} {outcome.value} "
                          f"({len(ids)} tests, {time.perf_counter() - t_mutant:.1f} s)", file=sys.stderr, flush=True)
        # a test that killed a mutant must pass alone on the unmutated code (no order dependence)
        for t in killers:
            code, _ = forked_pytest(work, [*PYTEST, *options, t], args.timeout, work / "alone.log",
                                    patch=None if args.fresh else (name, original))
            if code != 0:
                raise SystemExit(f"error: {t} fails alone on the unmutated code: "
                                 f"{(work / 'alone.log').read_text()[-2000:]}")
    else:
        subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=work, check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(work)})
    mutant_minutes = (time.perf_counter() - t_run) / 60
    cpu = os.times()
    cpu_minutes = (cpu.children_user + cpu.children_system - cpu_run.children_user - cpu_run.children_system) / 60
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
                if result.output == "no test runs this line":
                    entry["unrun"] = True
                reason = EQUIVALENT.get((module, line, operator))
                (equivalent if reason else survived).append({**entry, "reason": reason} if reason else entry)
    run = killed + len(survived) + len(equivalent) + incompetent
    return {"tests": tests, "runner": args.runner, "generated": len(items), "excluded": n_excluded,
            "not_sampled": len(items) - n_excluded - len(kept), "run": run, "killed": killed,
            "survived": sorted(survived, key=lambda s: s["line"]), "equivalent": equivalent,
            "incompetent": incompetent, "complete": len(kept) == len(items) - n_excluded,
            "baseline_seconds": round(baseline_seconds, 1), "minutes": round((time.perf_counter() - t0) / 60, 1),
            "mutants_per_minute": round(run / mutant_minutes, 1) if mutant_minutes else None,
            "cpu_minutes": round(cpu_minutes, 1),  # the children's CPU time: what the run costs on an idle machine
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            "patched_runs": patched if args.runner == "fork" else None,
            "fresh_runs": fresh if args.runner == "fork" else None,
            "killing_tests": dict(sorted(killers.items(), key=lambda kv: -kv[1]))}


def summary(result: dict, argv: list[str], start: str, t0: float) -> dict:
    """The totals over every module recorded (this run's and earlier ones'); a survivor judged since
    its run (in ``EQUIVALENT`` now) is moved to the equivalents with its reason."""
    mods = result["modules"].values()
    for m in mods:
        judged = [s for s in m["survived"] if (s["file"], s["line"], s["operator"]) in EQUIVALENT]
        m["survived"] = [s for s in m["survived"] if s not in judged]
        m["equivalent"] += [s | {"reason": EQUIVALENT[s["file"], s["line"], s["operator"]]} for s in judged]
    judged = sum(m["run"] - len(m["equivalent"]) - m["incompetent"] for m in mods)
    minutes = sum(m["minutes"] for m in mods)
    return result | {
        "command": "python bench/mutation.py " + " ".join(argv), "date": start,
        "machine": machine(tensorflow=False),
        "tool": "cosmic-ray " + importlib.metadata.version("cosmic-ray"),
        "mutants": sum(m["run"] for m in mods), "killed": sum(m["killed"] for m in mods),
        "survived": [s for m in mods for s in m["survived"]], "equivalent": [e for m in mods for e in m["equivalent"]],
        "score": round(sum(m["killed"] for m in mods) / judged, 4) if judged else None,
        "complete": all(m.get("complete") for m in mods) and set(result["modules"]) >= {f for f, _ in modules(None)},
        "minutes": round(minutes, 1),
        "mutants_per_minute": round(sum(m["run"] for m in mods) / minutes, 1) if minutes else None,
        "last_run_minutes": round((time.perf_counter() - t0) / 60, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", nargs="+", help="module files or folders (default: every one in TESTS)")
    p.add_argument("--sample", type=int, help="run N mutants per module, drawn with --seed (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", nargs="*", default=DEFAULT_EXCLUDE, help="operator-name regexes not to run")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per test run before a mutant counts killed")
    p.add_argument("--tests", help="pytest arguments for every module run (default: each module's TESTS entry)")
    p.add_argument("--runner", choices=("fork", "cosmic-ray"), default="fork",
                   help="fork (default): each mutant's tests in a child forked from a process that imported "
                        "TensorFlow once, only the tests that run the mutated line; cosmic-ray: cosmic-ray exec, "
                        "a new pytest process running the whole selection per mutant")
    p.add_argument("--fresh", action="store_true",
                   help="fork runner: each child imports textdeconv and the tests afresh (slower) instead of "
                        "patching the mutant into the modules the parent loaded; survivors are always confirmed so")
    p.add_argument("--verbose", action="store_true", help="a line per mutant on stderr")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--recheck", action="store_true",
                   help="run again only the survivors --out records for --modules, with today's tests (after "
                        "tests were added for them); the module's counts are updated")
    p.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                   help="run nothing: copy the modules of these results (runs made side by side) into --out")
    args = p.parse_args()
    args.out = args.out.resolve()  # the script works in the copy
    import cosmic_ray  # noqa: F401  (fail early, with pip's message, when the extra is missing)

    start, t0 = now(), time.perf_counter()
    result = json.loads(args.out.read_text()) if args.out.exists() else {"modules": {}}
    if args.merge:
        for other in args.merge:
            result["modules"] |= json.loads(other.read_text())["modules"]
        args.out.write_text(json.dumps(summary(result, sys.argv[1:], start, t0), indent=2) + "\n")
        return
    chosen = [(module, args.tests or tests) for module, tests in modules(args.modules)]
    recheck, args.recheck = args.recheck, None
    if recheck:
        chosen = [(module, tests) for module, tests in chosen if result["modules"].get(module, {}).get("survived")]
        if not chosen:
            raise SystemExit("error: --out records no survivor in these modules")
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp)
        copy_repo(work)
        cover, share = None, 0.0
        if args.runner == "fork":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            for name in WARM:
                try:
                    importlib.import_module(name)
                except ImportError:
                    pass
            files = sorted({f for _, tests in chosen for f in split_tests(tests)[0]})
            print(f"coverage of {' '.join(files)}", file=sys.stderr, flush=True)
            t_cover = time.perf_counter()
            cover = ({}, {}) if recheck else coverage_map(work, files, args)
            if not args.fresh:
                warm(work, [m.removesuffix(".py").replace("/", ".") for m, _ in chosen], files)
            share = (time.perf_counter() - t_cover) / 60 / len(chosen)  # each module's part of the one coverage run
            print(f"  {share * len(chosen):.1f} min", file=sys.stderr, flush=True)
        for module, tests in chosen:
            print(f"{module}: {tests}", file=sys.stderr, flush=True)
            if recheck:
                before = result["modules"][module]
                args.recheck = before["survived"]
                again = run_module(work, module, tests, args, cover)
                m = before | {"killed": before["killed"] + again["killed"], "survived": again["survived"],
                              "equivalent": before["equivalent"] + again["equivalent"],
                              "incompetent": before["incompetent"] + again["incompetent"],
                              "minutes": round(before["minutes"] + again["minutes"], 1),
                              "cpu_minutes": round(before.get("cpu_minutes", 0) + again["cpu_minutes"], 1),
                              "rechecked": {k: again[k] for k in ("tests", "run", "killed", "minutes", "date")
                                            if k in again} | {"date": start}}
            else:
                m = run_module(work, module, tests, args, cover) | {
                    "sample": args.sample, "seed": args.seed, "exclude": args.exclude, "date": start}
            m["minutes"] = round(m["minutes"] + share, 1)
            result["modules"][module] = m
            print(f"  {m['killed']}/{m['run']} killed, {len(m['survived'])} survived, {m['minutes']} min, "
                  f"{m.get('mutants_per_minute')} mutants/min", file=sys.stderr, flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary(result, sys.argv[1:], start, t0), indent=2) + "\n")
    result = summary(result, sys.argv[1:], start, t0)
    print(json.dumps({k: result[k] for k in ("mutants", "killed", "score", "minutes", "complete")}))


if __name__ == "__main__":
    main()
