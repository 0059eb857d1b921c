"""A fake explainer and an awkward input file for the streamed-job tests (no TensorFlow)."""
import random
import time
from pathlib import Path

import numpy as np

from textdeconv.attribution.explanation import Explanation
from textdeconv.data.vocab import PAD, UNK, Vocab

CLASSES = ["negative", "positive"]


class FakeExplainer:
    """Deterministic scores from the tokens alone; records the size of every call.

    ``delay``: seconds slept per call (a slow job to kill); ``fail_on_call``: the call (1-based)
    that raises RuntimeError, as a crash inside the explainer.
    """

    name = "fake"

    def __init__(self, delay=0.0, fail_on_call=None):
        self.vocab = Vocab([PAD, UNK, "good", "bad", "film", "a"])
        self.class_names, self.calls, self.delay, self.fail_on_call = CLASSES, [], delay, fail_on_call

    def explain(self, sentences, target=None, batch_size=128):
        self.calls.append(len(sentences))
        if len(self.calls) == self.fail_on_call:
            raise RuntimeError("simulated crash in the explainer")
        time.sleep(self.delay)
        out = []
        for s in sentences:
            ids = np.array(self.vocab.encode(s))
            scores = np.array([(sum(map(ord, t)) % 97) / 97 - 0.5 for t in s], np.float32) / len(s)
            p = 1 / (1 + np.exp(-float(scores.sum())))
            probs = np.array([1 - p, p], np.float32)
            t = int(probs.argmax()) if target is None else target
            out.append(Explanation(list(s), ids, scores, t, CLASSES[t], int(probs.argmax()),
                                   CLASSES[int(probs.argmax())], probs, self.name))
        return out


def write_input(path, n=60, seed=0):
    """Sentences with the awkward lines: empty and blank ones, a control-only line (skipped with a
    warning), unknown-only lines (a warning), CRLF and a lone CR, a BOM, no final newline."""
    rng = random.Random(seed)
    words = ["good", "bad", "film", "a", "Qwzx", "it's", "(great)", "\"fun\",", "ünïcode"]
    lines = []
    for _ in range(n):
        r = rng.random()
        lines.append("" if r < 0.1 else "   \t" if r < 0.15 else "zzz qqq" if r < 0.2 else "\x00\u200b" if r < 0.23
                     else " ".join(rng.choice(words) for _ in range(rng.randint(1, 9))))
    # a lone CR only before a non-empty line (CR + an empty line's LF would be one CRLF break)
    ends = ["\r\n" if i % 11 == 5 else "\r" if i % 17 == 3 and lines[i + 1] else "\n" for i in range(n - 1)]
    text = "\ufeff" + "".join(line + end for line, end in zip(lines, ends))
    Path(path).write_bytes((text + lines[-1]).encode("utf-8"))
    return Path(path)


def kill_and_resume(child, src, out, progress, kills_wanted: int = 2, attempts: int = 6, seed: int = 1):
    """Run ``python CHILD SRC OUT RESUMING`` until it finishes, SIGKILLing each of the first
    ``kills_wanted`` runs at a random moment after it committed a block (``progress``:
    the job's progress file, whose bytes change at each commit). Returns ``(kills, last exit code)``."""
    import signal
    import subprocess
    import sys

    def committed():
        return progress.read_bytes() if progress.exists() else None

    rng, kills, code = random.Random(seed), 0, None
    for attempt in range(attempts):
        before = committed()
        proc = subprocess.Popen([sys.executable, str(child), str(src), str(out), str(int(before is not None))])
        if attempt < kills_wanted:
            deadline = time.monotonic() + 60
            while proc.poll() is None and committed() == before and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.1))
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        kills += code == -signal.SIGKILL
        if code == 0:
            break
    return kills, code


def crash_after_commit(k):
    """run() arguments that interrupt the job right after its k-th block is committed."""
    calls = []

    def on_chunk(ids, expls):
        calls.append(1)
        if len(calls) == k:
            raise KeyboardInterrupt
    return {"on_chunk": on_chunk}


def crash_job(job, crash: str, monkeypatch) -> None:
    """Interrupt ``job.run`` (chunks of 7 lines) the way ``crash`` names: "after_commit" (killed
    right after block 4 was committed), "in_explainer" (a crash while explaining block 6) or
    "before_commit" (block 5's output is on disk but its commit never happened). Asserts that the
    job died at that point: the progress file on disk holds exactly the blocks before it."""
    import json

    import pytest

    from textdeconv.reports.stream import ExplainJob

    if crash == "after_commit":
        with pytest.raises(KeyboardInterrupt):
            job.run(FakeExplainer(), **crash_after_commit(4))
        committed_blocks = 4
    elif crash == "in_explainer":
        fake = FakeExplainer(fail_on_call=6)
        with pytest.raises(RuntimeError, match="^simulated crash in the explainer$"):
            job.run(fake)
        assert len(fake.calls) == 6  # it died in the 6th call, the one meant to fail
        committed_sentences = sum(fake.calls[:5])  # the 5 blocks explained before it (blocks without a sentence
        committed_blocks = None                    # make no call, so the block count depends on the input)
    elif crash == "before_commit":
        commit, calls = ExplainJob._commit, []

        def failing(self, state):
            calls.append(1)
            if len(calls) == 5:
                raise OSError("simulated crash between the write and the commit")
            commit(self, state)

        monkeypatch.setattr(ExplainJob, "_commit", failing)
        with pytest.raises(OSError, match="^simulated crash between the write and the commit$"):
            job.run(FakeExplainer())
        monkeypatch.setattr(ExplainJob, "_commit", commit)
        assert len(calls) == 5
        committed_blocks = 4
    else:
        raise ValueError(f"unknown crash {crash!r}")
    state = json.loads(job.progress_file.read_text())  # the commit on disk that a resume starts from
    assert not state["complete"] and state["lines_done"] % 7 == 0
    if committed_blocks is None:
        assert state["sentences"] == committed_sentences and state["lines_done"] >= 5 * 7
    else:
        assert state["lines_done"] == committed_blocks * 7
