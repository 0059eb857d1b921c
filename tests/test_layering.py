"""The package's layering: dependencies point one way (data <- model <- training; model <-
attribution <- evaluation, reports, serve), and reading or tokenizing never imports TensorFlow."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "textdeconv"

# stage -> the stages its modules may import at module level
ALLOWED = {
    "data": {"data"},
    "model": {"data", "model"},
    "training": {"data", "model", "training"},
    "attribution": {"data", "model", "attribution"},
    "evaluation": {"data", "model", "attribution", "evaluation"},
    "reports": {"data", "model", "attribution", "reports"},
    "influence": {"data", "model", "attribution", "influence"},
}
SHARED = {"config", "errors", "files", "locks", "outputs", "runtime"}  # the small modules every stage may use


def stage_imports(path: Path) -> set[str]:
    """The textdeconv stages a module imports at module level (not inside functions)."""
    stages = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("textdeconv."):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("textdeconv.")]
        stages.update(n.split(".")[1] for n in names)
    return stages - SHARED


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_dependencies_point_one_way(stage):
    for path in sorted((PACKAGE / stage).rglob("*.py")):
        wrong = stage_imports(path) - ALLOWED[stage]
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)} at module level"


def test_reading_and_tokenizing_never_import_tensorflow():
    code = ("import sys\n"
            "import textdeconv, textdeconv.config, textdeconv.data.splits, textdeconv.data.custom\n"
            "import textdeconv.data.vocab, textdeconv.data.download, textdeconv.attribution\n"
            "import textdeconv.training.rundir, textdeconv.reports.stream, textdeconv.cli.explain\n"
            "from textdeconv.data.vocab import tokenize\n"
            "tokenize('a gripping , funny movie')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
