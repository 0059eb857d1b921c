"""Every ```python block of README.md and docs/*.md runs, page by page, top to bottom in one
namespace (a page's later blocks may use what its earlier ones defined), in an empty working
folder with the real treebank at $TEXTDECONV_DATA and the bundled model as the run.

A block that cannot run here says why on the line before it, as
``<!-- docs-test: skip: REASON -->``; the reason is shown in the test report. Bash blocks run in
tests/test_docs_commands.py."""
import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- docs-test: skip: (?P<skip>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S)


def python_blocks(page: Path):
    """``[(line, code, skip reason or None)]`` of a page, in order."""
    text = page.read_text(encoding="utf-8")
    return [(text[:m.start("code")].count("\n") + 1, m.group("code"), m.group("skip")) for m in BLOCK.finditer(text)]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


def test_the_collector_sees_the_blocks_and_their_skip_marks():
    blocks = {p.name: python_blocks(p) for p in PAGES_WITH_CODE}
    assert {"README.md", "api.md", "any-model.md", "deconvnet.md"} <= set(blocks)
    assert all(reason.strip() for bs in blocks.values() for _, _, reason in bs if reason is not None)


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_the_page_python_examples_run(page, real_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTDECONV_DATA", str(real_data_dir))
    namespace = {"__name__": "__docs__"}
    ran, skipped = 0, []
    for line, code, skip in python_blocks(page):
        if skip is not None:
            skipped.append(f"{page.name}:{line}: {skip}")
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
            except Exception as e:  # the page and line make the failure findable
                raise AssertionError(f"{page.relative_to(ROOT)}, the block at line {line}: "
                                     f"{type(e).__name__}: {e}") from e
        ran += 1
    if not ran:
        pytest.skip("; ".join(skipped))
    for reason in skipped:
        print("skipped", reason)
