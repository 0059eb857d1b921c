"""Fuzzing the tokenizer and explain.py with hostile text: controls, NUL bytes, zero-width and bidi
characters, RTL scripts, emoji, combining marks, very long and empty lines; and the commands with
random input and output paths (equal paths, inputs as outputs, missing folders, directories).

Seeded (``SEED``), so a failure reproduces; the documented handling is checked exactly:
control characters, zero-width spaces, byte-order marks and bidi controls separate words, and a
line left without a token is skipped with a warning.
"""
import json
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from textdeconv.data.custom import read_sentences
from textdeconv.data.vocab import tokenize

ROOT = Path(__file__).resolve().parents[1]
SEED = 20240611
BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}

CONTROLS = [chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), *range(0x7F, 0xA0)]]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
             "\u2060", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff"]
SPACES = [" ", "  ", "\t", "\u00a0", "\u2028", "\u2029", "\u3000", "\u2009"]
WORDS = ["good", "movie", "dull", "fun", "Isn't", "can't", "cannot", "gonna", "'s", "n't", "a", "the", "film",
         "שלום", "עולם", "مرحبا", "بالعالم", "Привет", "日本語", "한국어", "ไทย", "ελληνικά", "café", "cafe\u0301",
         "ﬁne", "ǅ", "İstanbul", "straße", "😀", "👨\u200d👩\u200d👧", "🇫🇷", "👍🏽", "1,000", "3.14", "e\u0301\u0301"]
PUNCT = list("\"'`.,:;?!()[]{}<>&@#$%-/\\*") + ["``", "''", "...", "…", "—", "–", "--", "“", "”", "‘", "’", "„"]


def fuzz_text(rng: random.Random, max_parts: int = 14) -> str:
    parts = []
    for _ in range(rng.randint(0, max_parts)):
        kind = rng.random()
        if kind < 0.30:
            parts.append(rng.choice(WORDS))
        elif kind < 0.45:
            parts.append(rng.choice(PUNCT))
        elif kind < 0.60:
            parts.append(rng.choice(SPACES))
        elif kind < 0.70:
            parts.append(rng.choice(CONTROLS))
        elif kind < 0.80:
            parts.append(rng.choice(INVISIBLE))
        elif kind < 0.85:
            parts.append(chr(rng.choice([0x301, 0x308, 0x327, 0x20DD, 0xFE0F])))  # combining marks
        else:  # any code point a UTF-8 file can hold: BMP, private use, astral planes
            cp = rng.randint(0x20, 0x10FFFF) if rng.random() < 0.3 else rng.randint(0x20, 0xFFFF)
            parts.append(chr(cp) if not 0xD800 <= cp < 0xE000 else "\ue000")
    return "".join(parts)


def letters(text: str) -> str:
    """Letters and digits, decomposed, in order: what no tokenization may lose or invent."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c)[0] in "LN")


def check_tokens(text: str) -> list[str]:
    tokens = tokenize(text, lowercase=False)
    assert isinstance(tokens, list) and all(isinstance(t, str) and t for t in tokens)
    for t in tokens:
        assert not any(c.isspace() for c in t), t                      # whitespace always separates
        assert not set(t) & set(CONTROLS), ascii(t)                     # C0/C1 controls never survive
        assert not set(t) & (set(INVISIBLE) - {"\u200c", "\u200d", "\u2060"}), ascii(t)  # ZWSP, BOM, bidi
        assert not all(unicodedata.category(c) == "Cf" for c in t), ascii(t)  # no invisible-only token
    assert letters(" ".join(BRACKETS.get(t, t) for t in tokens)) == letters(text), ascii(text)
    assert tokenize(text, lowercase=True) == [t.lower() for t in tokens]
    return tokens


def test_tokenizer_fuzz():
    rng = random.Random(SEED)
    texts = [fuzz_text(rng) for _ in range(4000)]
    texts += [fuzz_text(rng, max_parts=3000) for _ in range(3)]  # very long lines
    texts += ["", " ", "\x00" * 50, "\u200b\u200d\ufeff", "\u202e" * 3, "\r\n\t", "\U0010ffff", "\ue000"]
    total = sum(len(check_tokens(t)) for t in texts)
    assert total > 10000  # the fuzz reaches the rules, not just empty strings


@pytest.mark.parametrize("text, tokens", [
    ("good\x00movie", ["good", "movie"]),            # NUL and other controls separate words
    ("\x00\x01\x7f\x9b", []),                        # ... a line of them has no token
    ("\x9b31mred", ["31mred"]),                      # C1 CSI cannot start a terminal escape
    ("good\u200bmovie", ["good", "movie"]),          # zero-width space separates
    ("\ufeffgood", ["good"]),                        # a BOM inside a file is no character of a word
    ("\u202egood\u202c fun", ["good", "fun"]),       # bidi overrides are dropped
    ("\u200d \u2060", []),                           # invisible-only tokens are dropped
    ("👨\u200d👩\u200d👧 fun", ["👨\u200d👩\u200d👧", "fun"]),  # ... but a joiner inside an emoji stays
    ("שלום, עולם!", ["שלום", ",", "עולם", "!"]),     # RTL text is tokenized like any other
    ("cafe\u0301", ["café"]),                        # NFC
    (",,good", [",", ",", "good"]),                  # consecutive commas all split (was ",good")
    ("a\u2028b\u3000c", ["a", "b", "c"]),            # Unicode spaces and separators
])
def test_tokenizer_documented_handling(text, tokens):
    assert tokenize(text, lowercase=False) == tokens


def fuzz_file(rng: random.Random) -> list[bytes]:
    """A few hundred hostile lines, as bytes (some with CRLF endings)."""
    lines = []
    for i in range(300):
        kind = i % 10
        if kind == 0:
            text = ""
        elif kind == 1:
            text = "".join(rng.choice(CONTROLS + INVISIBLE + SPACES[:3]) for _ in range(rng.randint(1, 6)))
        elif kind == 2:
            text = " ".join(rng.choice(["great", "fun", "dull", "a", "movie"]) for _ in range(rng.randint(1, 6)))
            text += fuzz_text(rng, 4)
        else:
            text = fuzz_text(rng).replace("\n", " ").replace("\r", " ")
        lines.append(text.encode("utf-8"))
    lines.append(" ".join(fuzz_text(rng, 3) for _ in range(2000)).replace("\n", " ").replace("\r", " ").encode())
    lines.append(b"\x00" * 1000)
    return lines


def test_explain_survives_a_fuzzed_file(tiny_run, tmp_path):
    rng = random.Random(SEED)
    lines = fuzz_file(rng)
    src = tmp_path / "fuzz.txt"
    src.write_bytes(b"\xef\xbb\xbf" + b"".join(l + (b"\r\n" if i % 7 == 0 else b"\n") for i, l in enumerate(lines)))
    csv, page = tmp_path / "fuzz.csv", tmp_path / "fuzz.html"
    proc = subprocess.run([sys.executable, "scripts/explain.py", "--run", str(tiny_run), "--input", str(src),
                           "--csv", str(csv), "--html", str(page), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # the documented handling, line by line: empty lines skipped silently, token-less lines with a warning
    items = read_sentences(str(src))
    kept = {i: tokenize(t, lowercase=False) for i, t in items}
    skipped = sorted(i for i, toks in kept.items() if not toks)
    kept = {i: toks for i, toks in kept.items() if toks}
    assert len(skipped) >= 20 and len(kept) >= 200
    warnings = [l for l in proc.stderr.splitlines() if "no tokens after removing control characters" in l]
    assert warnings == [f"warning: {src}:{i}: no tokens after removing control characters; skipped" for i in skipped]
    assert all(l.startswith(("warning: ", "wrote ")) for l in proc.stderr.splitlines()), proc.stderr[-2000:]
    frame = pd.read_csv(csv, keep_default_na=False, dtype={"token": str, "sentence": str})
    got = {sid: g["token"].tolist() for sid, g in frame.groupby("sentence_id", sort=True)}
    assert got == kept
    assert frame.groupby("sentence_id")["sentence"].first().to_dict() == {i: " ".join(t) for i, t in kept.items()}
    # the page holds every sentence, its tokens unchanged by the escaping
    html = page.read_text(encoding="utf-8")
    opening = '<script type="application/json" id="td-data">'
    start = html.index(opening) + len(opening)
    data = json.loads(html[start:html.index("</script>", start)])
    assert {s["id"]: s["tokens"] for s in data["sentences"]} == kept


def test_explain_refuses_text_that_is_not_utf8(tmp_path):
    # both fail before TensorFlow loads: one line on stderr, exit code 2
    proc = subprocess.run([sys.executable, "scripts/explain.py", "--run", str(tmp_path), b"good \xff movie"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (2, "error: sentence argument 1 is not valid UTF-8\n")
    bad = tmp_path / "cesu.txt"
    prefix = b"an encoded surrogate "
    bad.write_bytes(b"fine\n" + prefix + b"\xed\xa0\x80 here\n")  # UTF-8 forbids surrogates
    proc = subprocess.run([sys.executable, "scripts/explain.py", "--input", str(bad)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (
        2, f"error: {bad}:2: not valid UTF-8 (byte 0xed at column {len(prefix) + 1}); re-encode the file as UTF-8, "
           "or name its encoding with --encoding (e.g. latin-1)\n")


# --------------------------------------------------------------------------------------------
# random input and output paths (issue 22): whatever the combination, no input changes, the exit
# code is 0 or 2, there is no traceback and nothing is left behind but the outputs asked for

PATHS_SEED, PATHS_N = 20261127, 90  # 90 combinations: ~35 s (33 succeed, 57 are refused)


def path_pool(work: Path, run: Path) -> list:
    """Output paths a user might give: new, in a missing folder, an existing file that is not an
    input, a directory, the input (and a link to it), the run's files, /proc, a file as folder."""
    return [work / "new.csv", work / "sub" / "new.html", work / "deep" / "a" / "b.png", work / "other.txt",
            work / "adir", work / "in.txt", work / "link.txt", run / "vocab.txt", run / "model.keras",
            run / "config.yaml", Path("/proc/x.csv"), Path("/proc/x/y.csv"), work / "in.txt" / "x.csv",
            Path("/dev/null")]


def draw_command(rng: random.Random, work: Path, run: Path):
    """``(script, argv, stdin, outputs)``: a random command line of explain, filters, lexicon or
    evaluate; ``outputs`` are the paths it may create (folders for evaluate's --out)."""
    pool, drawn = path_pool(work, run), []

    def out():
        if drawn and rng.random() < 0.15:
            p = rng.choice(drawn)  # the same path for two options
        else:
            p = rng.choice(pool + [work / f"o{rng.randint(0, 999)}.{rng.choice(['csv', 'html', 'png'])}"] * 4)
        drawn.append(p)
        return p

    argv, stdin = ["--run", run], None
    kind = rng.choices(["explain", "filters", "lexicon", "evaluate"], [6, 2, 2, 1])[0]
    if kind == "explain":
        script = "explain.py"
        source = rng.choice(["file", "file", "file", "missing", "dir", "stdin", "args", "split"])
        argv += {"file": ["--input", work / "in.txt"], "missing": ["--input", work / "nope.txt"],
                 "dir": ["--input", work / "adir"], "stdin": ["--input", "-"], "args": ["a gripping , funny movie"],
                 "split": ["--split", "dev"]}[source]
        stdin = (work / "in.txt").read_bytes() if source == "stdin" else None
        for option in ("--csv", "--filters-csv", "--html"):
            if rng.random() < 0.45:
                argv += [option, out()]
        argv += rng.choice([["--quiet"], ["--json"], []])
        argv += rng.choice([[], [], ["--chunk-size", rng.randint(1, 4)], ["--method", "gradient"], ["--resume"],
                            ["--restart"], ["--encoding", "latin-1"], ["--encoding", "utf-16"]])
    elif kind == "filters":
        script = "inspect_filters.py"
        argv += ["--split", "dev", "--top-k", 2, "--neighbours", 2]
        for option in ("--csv", "--words-csv", "--analysis-csv", "--html"):
            if rng.random() < 0.6:
                argv += [option, out()]
        for option, suffix in (("--words-csv", "words"), ("--analysis-csv", "analysis")):
            if "--csv" in argv and option not in argv:  # its default: <csv stem>-<suffix>.csv beside it
                csv = argv[argv.index("--csv") + 1]
                drawn.append(csv.with_name(f"{csv.stem}-{suffix}.csv"))
    elif kind == "lexicon":
        script = "lexicon.py"
        argv += ["--split", "dev", "--top", 3]
        for option in ("--csv", "--png"):
            if rng.random() < 0.6:
                argv += [option, out()]
    else:
        script = "evaluate.py"
        argv += ["--split", "dev", "--methods", "deconv", "random", "--sanity-n", 2, "--limit", 3]
        if rng.random() < 0.7:
            argv += ["--out", out() if rng.random() < 0.6 else work / "evals" / "e1"]
            drawn.append(argv[-1])
    return script, argv, stdin, drawn


def test_random_paths_never_change_an_input_nor_leave_a_file(tiny_run, tmp_path, monkeypatch, capsys):
    import shutil
    import time

    from conftest import script_in_process
    from helpers.guard import contents, listing

    import textdeconv.evaluation.report as report

    def quick_metrics(net, vocab, class_names, sentences, labels, methods, **kw):
        """A stand-in for the metrics (tested in test_evaluation.py; here ~25 s a call): the paths
        are under test, and evaluate still writes every file through its output plan."""
        return report.Report(table=pd.DataFrame({"method": methods, "sentences_per_s": 1.0}),
                             curves={m: {"fractions": [0, 1], "morf": [1, 0], "lerf": [1, 1], "insertion": [0, 1]}
                                     for m in methods},
                             randomization={m: pd.DataFrame({"stage": ["original"], "spearman_mean": [1.0]})
                                            for m in methods},
                             seconds={m: 0.0 for m in methods})

    monkeypatch.setattr(report, "evaluate_methods", quick_metrics)
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # the defaults of filters, lexicon and evaluate write into the run
    trees = sorted((tiny_run.parent / "data" / "trees").glob("*.txt"))
    rng, codes, t0 = random.Random(PATHS_SEED), [], time.perf_counter()
    for k in range(PATHS_N):
        work = tmp_path / f"w{k}"
        (work / "adir").mkdir(parents=True)
        (work / "in.txt").write_bytes("a gripping , funny movie\n\nthe plot is thin\ncafé au lait\n".encode())
        (work / "other.txt").write_text("not an input\n")
        (work / "link.txt").symlink_to(work / "in.txt")
        script, argv, stdin, outputs = draw_command(rng, work, run)
        inputs = [*(run / f for f in ("config.yaml", "vocab.txt", "model.keras")), *trees]  # what it reads
        inputs += [work / "in.txt"] if "--input" in argv and argv[argv.index("--input") + 1] == work / "in.txt" else []
        before, data = listing(work, run), contents(inputs)
        code, _, err = script_in_process(monkeypatch, capsys, script, *argv, stdin=stdin)
        where = f"combination {k}: {script} {' '.join(map(str, argv))}\n{err[-2000:]}"
        assert code in (0, 2), where
        assert "Traceback" not in err, where
        assert contents(inputs) == data, where  # no input changed, whatever happened
        roots = {"0": work, "1": run}
        new = {roots[p.split("/", 1)[0]] / p.split("/", 1)[1] for p in listing(work, run) - before}
        assert not any(p.name.startswith(".") for p in new), where  # no temporary file survives
        if code == 2:
            assert new == set(), where  # a failed command leaves nothing behind
        else:  # only what was asked for: the outputs, the folders made for them, evaluate's folder, the defaults
            trees = [run / "filters", run / "lexicon", run / "evaluation"]
            trees += [o for o in outputs if script == "evaluate.py"]
            made = {a for o in outputs for a in o.parents}
            stray = [p for p in new if p not in outputs and p not in made
                     and not any(p == t or t in p.parents for t in trees)]
            assert stray == [], where
        codes.append(code)
    seconds = time.perf_counter() - t0
    print(f"{PATHS_N} combinations in {seconds:.1f} s: {codes.count(0)} succeeded, {codes.count(2)} refused")
    assert codes.count(0) >= 10 and codes.count(2) >= 10  # both outcomes are exercised


# --------------------------------------------------------------------------------------------
# random folders for the writers that own a folder or take a path from Python (issue 32): the run
# folder of train, Beam's output folder, the API's save_csv / save_json. Every case: no input's
# bytes change, and a refusal leaves every listing as it was.

FOLDERS_SEED = 20261207


def fill(rng: random.Random, folder: Path, run: Path) -> str:
    """Make ``folder`` one of the states a user's folder can be in; return the state's name."""
    import shutil

    state = rng.choice(["missing", "empty", "user files", "a run", "a file", "hidden file", "user checkpoints"])
    if state == "a file":
        folder.write_text("mine\n")
    elif state != "missing":
        folder.mkdir(parents=True)
    if state == "user files":
        for name in rng.sample(["config.yaml", "metrics.csv", "vocab.txt", "model.keras", "notes.md"], 2):
            (folder / name).write_text(f"the user's {name}\n")
    elif state == "hidden file":
        (folder / ".DS_Store").write_bytes(b"\x00\x01")
    elif state == "user checkpoints":
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "epoch_001.keras").write_text("the user's\n")
    elif state == "a run":
        for name in ("config.yaml", "vocab.txt", "model.keras", "state.json"):
            if (run / name).exists():
                shutil.copy(run / name, folder / name)
            else:
                (folder / name).write_text("{}\n")
    return state


def test_random_run_folders_are_trained_into_only_when_new_or_empty(tiny_run, tmp_path):
    from helpers.guard import hashes, listing

    from textdeconv.api import prepare_training
    from textdeconv.errors import OutputError

    rng = random.Random(FOLDERS_SEED)
    data = tiny_run.parent / "data"
    overrides = {"data.dir": str(data), "data.download": False}
    for k in range(30):
        work = tmp_path / f"w{k}"
        work.mkdir()
        folder = work / rng.choice(["r", "deep/er/r"])
        if folder.parent != work:
            folder.parent.mkdir(parents=True)
        state = fill(rng, folder, tiny_run)
        before, files = listing(work, data), hashes(work, data)
        where = f"case {k}: {state} at {folder}"
        if state in ("missing", "empty"):
            _, run_dir = prepare_training("tiny.yaml", folder, overrides)
            assert run_dir == folder, where
        else:
            with pytest.raises(OutputError) as e:
                prepare_training("tiny.yaml", folder, overrides)
            assert str(folder) in str(e.value), where
        assert listing(work, data) == before and hashes(work, data) == files, where  # checking writes nothing


def test_random_api_writer_paths_never_touch_the_run(tiny_run, tmp_path):
    from helpers.guard import hashes, listing

    import textdeconv as td
    from textdeconv.errors import UserError

    run = td.load_run(tiny_run)
    ex = run.explain(["a gripping , funny movie", "the plot is thin"])
    data = tiny_run.parent / "data"
    rng = random.Random(FOLDERS_SEED + 1)
    protected = hashes(tiny_run, data)
    refused = written = 0
    for k in range(40):
        work = tmp_path / f"w{k}"
        (work / "adir").mkdir(parents=True)
        (work / "in.txt").write_text("mine\n")
        pool = path_pool(work, tiny_run) + [data / "trees" / "dev.txt", tiny_run / "sub" / "x.csv", work / "n.json"]
        path = rng.choice(pool)
        writer = rng.choice(["save_csv", "save_json"])
        before = listing(work, tiny_run)
        where = f"case {k}: {writer}({path})"
        try:
            got = getattr(ex, writer)(path)
        except UserError:
            refused += 1
            assert listing(work, tiny_run) == before, where
        else:
            written += 1
            assert got == path and path.is_file() and path not in (tiny_run / f for f in
                                                                     ("config.yaml", "vocab.txt", "model.keras")), where
            if path.parent == tiny_run / "sub":  # a file a test may write beside the run: removed again
                import shutil

                shutil.rmtree(tiny_run / "sub")
        assert hashes(tiny_run, data) == protected, where
    assert refused >= 10 and written >= 5


def test_random_beam_folders_are_replaced_only_when_they_hold_one_job(tiny_run, tmp_path, monkeypatch):
    pytest.importorskip("apache_beam")
    import json as jsonlib

    import apache_beam as beam
    from helpers.guard import hashes, listing

    from textdeconv.errors import OutputError
    from textdeconv.reports.beam import explain_corpus

    class Stop(Exception):
        pass

    def stop(*args, **kw):  # the checks are under test; the pipeline itself is test_beam's
        raise Stop

    monkeypatch.setattr(beam, "Pipeline", stop)
    rng = random.Random(FOLDERS_SEED + 2)
    for k in range(30):
        work = tmp_path / f"w{k}"
        (work / "corpus").mkdir(parents=True)
        (work / "corpus" / "a.txt").write_text("a gripping , funny movie\n")
        out = work / "out"
        state = rng.choice(["missing", "empty", "a job", "a job and a foreign file", "foreign files", "a file",
                            "a job holding the input", "stale staging"])
        job = ["tokens-00000-of-00001.csv", "dead-letter-00000-of-00001.jsonl"]
        if state == "a file":
            out.write_text("mine\n")
        elif state != "missing":
            out.mkdir()
        if state.startswith("a job"):
            for name in job:
                (out / name).write_text("rows\n")
            (out / "manifest.json").write_text(jsonlib.dumps({"files": job}))
        if state == "a job and a foreign file":
            (out / "tokens-mine.csv").write_text("mine\n")
        if state == "foreign files":
            (out / rng.choice(["notes.txt", "tokens-1.csv", "manifest.json.bak"])).write_text("mine\n")
        if state == "stale staging":
            (out / ".staging-0123456789ab").mkdir()
        src = str(out / "tokens-00000-of-00001.csv") if state == "a job holding the input" else \
            str(work / "corpus" / "*")
        overwrite = rng.random() < 0.5
        before, files = listing(work), hashes(work)
        where = f"case {k}: {state}, overwrite={overwrite}"
        accepted = state in ("missing", "empty", "stale staging") or (state == "a job" and overwrite)
        with pytest.raises(Stop if accepted else OutputError):
            explain_corpus(tiny_run, src, out, fmt="csv", overwrite=overwrite)
        after = listing(work)
        if state == "stale staging":  # the killed job's staging is cleaned (under the lock), nothing else
            before = {p for p in before if ".staging-" not in p}
            after = {p for p in after if ".staging-" not in p}
        assert after == before and hashes(work) == files, where  # a failed pipeline leaves the folder as it was
