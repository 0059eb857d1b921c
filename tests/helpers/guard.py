"""What a command may change on disk: snapshots of folders and input bytes (the output guard's
tests and the path fuzz)."""
import hashlib
import os
from pathlib import Path


def listing(*roots) -> set[str]:
    """Every path under ``roots`` (hidden ones included), as ``root-index/relative path``."""
    out = set()
    for k, root in enumerate(roots):
        root = Path(root)
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                out.add(f"{k}/{(Path(dirpath) / name).relative_to(root)}")
    return out


def hashes(*paths) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files, or folders walked recursively)."""
    out = {}
    for p in map(Path, paths):
        for f in ([p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def contents(paths) -> dict[str, bytes]:
    """The bytes of each existing file of ``paths``."""
    return {str(p): Path(p).read_bytes() for p in paths if Path(p).is_file()}


def one_error_line(code, err: str, *fragments: str) -> str:
    """The command failed as a user error should: exit 2, one ``error: ...`` line holding every
    fragment, no traceback, no temporary file named. Returns the line."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and ".tmp" not in lines[0] and ".textdeconv-probe" not in lines[0], err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)
    return lines[0]
