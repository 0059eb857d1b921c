"""Output plans: every file a command writes, checked before any work and published together.

A command names what it reads (``plan.read``) and what it writes (``plan.write``, ``plan.folder``)
and does its work inside ``with plan:``. Entering checks every output (one line naming its
option) before any model loads:

- it is none of the inputs (same resolved path or same inode: a hard link or a symlink counts);
- no two outputs are the same file, and none is the folder another one needs;
- it is not a directory, nor a device or pipe (publishing replaces the path);
- its folder exists or can be created, and a file can be created in it (probed for real: a
  permission check says nothing for root, or for /proc).

Then each output is *staged*: the work writes a hidden temporary file beside it (``plan.temp``).
Leaving the block normally publishes every staged file together (``os.replace``; a failure
part-way puts back what it replaced); leaving it with an exception removes every staged file and
every folder the plan created, so a failed command leaves the disk as it found it. Messages name
the option and the path the user gave, never a temporary file.

Outputs with a protocol of their own (the resumable CSV of a streamed job, a training run's
folder) are declared with ``stage=False``: they are checked and their folder is created, and
their writer owns the rest.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from textdeconv.errors import MissingFileError, OutputError, UserError
from textdeconv.files import create_temp

# errors of the disk rather than of the program: a command reports them in one line
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


@dataclass
class Output:
    option: str  # how messages name it: "--csv", "save_csv:", "the default --words-csv"
    path: Path  # as given
    stage: bool = True
    companions: tuple[Path, ...] = ()  # files the writer also creates beside it (a job's progress file)
    folder: bool = False  # a directory of files (``evaluate --out``), staged as a hidden directory
    names: tuple[str, ...] = ()  # folder: the files that may be written in it (checked against the inputs)
    temp: Path | None = None  # staged file or folder, while the plan is open

    def files(self) -> list[tuple[Path, str]]:
        """Every path this output writes, with how a message shows it."""
        if self.folder:
            return [(self.path / n, f"{self.option} {self.path} (its {n})") for n in self.names]
        return [(self.path, f"{self.option} {self.path}"),
                *((c, f"{self.option} {self.path} (its {c.name})") for c in self.companions)]


def _identity(path: Path):
    """``(device, inode)`` of an existing path (symlinks followed), else None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _absolute(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the path as written
        return Path(os.path.abspath(path))


def same_file(a, b) -> bool:
    """True when ``a`` and ``b`` name one file: equal resolved paths, or the same inode."""
    if _absolute(a) == _absolute(b):
        return True
    ia = _identity(a)
    return ia is not None and ia == _identity(b)


def _existing_ancestor(path: Path) -> Path:
    """The nearest existing path above ``path``."""
    parent = _absolute(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _kind(path: Path) -> str:
    mode = os.stat(path).st_mode
    return ("a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")


class OutputPlan:
    """The inputs and outputs of one command; see the module docstring.

        plan = OutputPlan()
        plan.read("the --input file", args.input)
        csv = plan.write("--csv", args.csv)
        with plan:                      # checks, stages (an OutputError names the option)
            write_csv(frame, plan.temp(csv))
        # here the CSV is in place; after an exception nothing is
    """

    def __init__(self):
        self.inputs: list[tuple[str, Path]] = []
        self.stdin: tuple[str, tuple[int, int]] | None = None  # (label, (device, inode)) of a file on stdin
        self.outputs: list[Output] = []
        self.created: list[Path] = []  # folders this plan made, outermost first
        self.checked = False
        self.backups: list[tuple[Path, Path | None]] = []  # (published path, the file it replaced)

    # -- declaring -------------------------------------------------------------------------

    def read(self, label: str, path) -> None:
        """An input; ``label`` names it in messages ("the --input file", "the run's model.keras").
        ``"-"`` is standard input: when it is a file (``< in.txt``), no output may be that file."""
        if path is None:
            return
        self.checked = False
        if str(path) == "-":
            with contextlib.suppress(AttributeError, ValueError, OSError):  # no descriptor: nothing to clobber
                st = os.fstat(sys.stdin.fileno())
                if stat.S_ISREG(st.st_mode):
                    self.stdin = (f"{label} (standard input)", (st.st_dev, st.st_ino))
            return
        self.inputs.append((label, Path(path)))

    def write(self, option: str, path, *, stage: bool = True, companions=()) -> Path:
        """An output file; returns it as a ``Path`` (``temp`` gives where to write it)."""
        self.checked = False
        if str(path) == "-":  # a file named "-" is a surprise, and stdout is not replaced atomically
            raise OutputError(f"{option} -: '-' is not an output here; give a file path (./- for a file named '-')")
        path = Path(path)
        self.outputs.append(Output(option, path, stage, tuple(Path(c) for c in companions)))
        return path

    def folder(self, option: str, path, names=(), *, stage: bool = True) -> Path:
        """An output folder (``evaluate --out``, a run directory), whose files ``names`` are
        checked against the inputs; staged, it is written as a hidden folder beside it and its
        files are moved in at the end (other files already in the folder stay)."""
        self.checked = False
        if str(path) == "-":
            raise OutputError(f"{option} -: '-' is not an output folder; give a folder path")
        path = Path(path)
        self.outputs.append(Output(option, path, stage, folder=True, names=tuple(names)))
        return path

    def temp(self, path) -> Path:
        """Where to write the output ``path`` while the plan is open (``path`` itself if unstaged)."""
        for out in self.outputs:
            if out.path == Path(path):
                return out.temp if out.temp is not None else out.path
        raise KeyError(path)

    # -- checking --------------------------------------------------------------------------

    def check(self) -> None:
        """Raise OutputError (one line naming the option) for the first output that cannot be
        written as asked. Leaves nothing on disk."""
        for out in self.outputs:
            self._check_one(out)
        files = [(out, p, shown) for out in self.outputs for p, shown in out.files()]
        for i, (a, pa, sa) in enumerate(files):
            for b, pb, sb in files[i + 1:]:
                if a is not b and same_file(pa, pb):
                    raise OutputError(f"{sa} and {sb} are the same file; give each output its own path")
        for a in self.outputs:
            for b in self.outputs:
                if a is not b and not a.folder and _absolute(a.path) in _absolute(b.path).parents:
                    raise OutputError(f"{b.option} {b.path} needs the directory {a.path}, which is "
                                      f"{a.option} {a.path}")
        probed = set()
        for out in self.outputs:
            wheres = [_existing_ancestor(out.path)] + ([out.path] if out.folder and out.path.is_dir() else [])
            for where in wheres:  # an existing output folder is written into, too
                if where not in probed:
                    self._probe(out, where)
                    probed.add(where)
        self.checked = True

    def _check_one(self, out: Output) -> None:
        for label, source in self.inputs:
            if same_file(out.path, source):
                raise OutputError(f"{out.option} {out.path} is {label}")
        if self.stdin is not None:
            for p, shown in [(out.path, f"{out.option} {out.path}"), *out.files()]:
                if _identity(p) == self.stdin[1]:
                    raise OutputError(f"{shown} is {self.stdin[0]}")
        if out.folder:
            if out.path.exists() and not out.path.is_dir():
                raise OutputError(f"{out.option} {out.path} is a file, not a directory")
        for p, shown in out.files():
            for label, source in self.inputs:
                if same_file(p, source):
                    raise OutputError(f"{shown} is {label}")
            if p.is_dir():
                raise OutputError(f"{shown} is a directory; give a file path")
            if p.exists() and not p.is_file():
                raise OutputError(f"{shown} is {_kind(p)}, not a regular file; give a file path")
        where = _existing_ancestor(out.path)
        if not where.is_dir():
            raise OutputError(f"{out.option} {out.path}: {where} is not a directory")

    @staticmethod
    def _probe(out: Output, where: Path) -> None:
        """Create and remove a file in ``where``: the one test of writability that tells the truth
        (a permission check says nothing for root, or for /proc)."""
        try:
            probe = []  # its name is known before it exists: removed whenever an interruption lands
            try:
                create_temp(where, ".textdeconv-probe-", "", probe.append)
            finally:
                for name in probe:
                    if name is not None:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(name)
        except OSError as e:
            raise OutputError(f"{out.option} {out.path}: cannot create files in {where} ({e.strerror})") from None

    # -- staging and publishing ------------------------------------------------------------

    def prepare(self) -> None:
        """Create the missing folders (remembered, to remove on failure) and the staged files."""
        try:
            for out in self.outputs:
                parent = out.path if out.folder and not out.stage else out.path.parent
                self._mkdirs(out, parent)
                if not out.stage or out.temp is not None:
                    continue
                try:
                    # out.temp is known before the file exists: discard() removes it wherever a Ctrl-C lands
                    create_temp(parent, f".{out.path.name}.", ".tmp" if out.folder else ".tmp" + out.path.suffix,
                                lambda name, out=out: setattr(out, "temp", name), folder=out.folder)
                except OSError as e:
                    raise OutputError(f"{out.option} {out.path}: cannot create files in {parent} "
                                      f"({e.strerror})") from None
        except BaseException:
            self.discard()
            raise

    def _mkdirs(self, out: Output, folder: Path) -> None:
        missing, p = [], folder
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise OutputError(f"{out.option} {out.path}: cannot create the directory {d} ({e.strerror})") from None
            self.created.append(d)

    def publish(self) -> None:
        """Move every staged file into place; on a failure, put back what was replaced and raise
        OutputError naming the option."""
        umask = os.umask(0)
        os.umask(umask)
        current = None
        try:
            for out in self.outputs:
                if out.temp is None:
                    continue
                current = out
                if out.folder:
                    self._mkdirs(out, out.path)
                    for f in sorted(out.temp.iterdir()):
                        self._move(f, out.path / f.name, umask)
                    out.temp.rmdir()
                else:
                    self._move(out.temp, out.path, umask)
                out.temp = None
        except OSError as e:
            self._roll_back()
            self.discard()
            raise OutputError(f"{current.option} {current.path}: cannot write it ({e.strerror})") from None
        for _, backup in self.backups:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
        self.backups, self.created = [], []

    def _move(self, src: Path, dst: Path, umask: int) -> None:
        backup = None
        if dst.exists():  # kept (a hard link) until every output is in place, to put back on failure
            backup = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.bak")
            try:
                os.link(dst, backup)
            except OSError:
                backup = None
        self.backups.append((dst, backup))
        if src.is_file():
            os.chmod(src, 0o666 & ~umask)  # mkstemp made it 0600
        os.replace(src, dst)

    def _roll_back(self) -> None:
        for dst, backup in reversed(self.backups):
            with contextlib.suppress(OSError):
                if backup is not None and same_file(backup, dst):  # never replaced (rename() would do nothing)
                    backup.unlink()
                elif backup is not None:
                    os.replace(backup, dst)
                elif dst.is_dir():
                    shutil.rmtree(dst)
                else:
                    dst.unlink()
        self.backups = []

    def discard(self) -> None:
        """Remove the staged files and the (empty) folders this plan created."""
        for out in self.outputs:
            if out.temp is not None:
                with contextlib.suppress(FileNotFoundError):
                    if out.temp.is_dir():
                        shutil.rmtree(out.temp)
                    else:
                        out.temp.unlink()
                out.temp = None
        for d in reversed(self.created):
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty: a folder holding anything else stays
        self.created = []

    def __enter__(self) -> OutputPlan:
        if not self.checked:
            self.check()
        self.prepare()
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.publish()
            return
        staged = [out for out in self.outputs if out.temp is not None]
        self.discard()
        if isinstance(exc, OSError) and not isinstance(exc, (UserError, BrokenPipeError)):
            out = self._owner(exc.filename)
            if out is not None:  # e.g. the disk filled up: name the option, not the temporary file
                raise OutputError(f"{out.option} {out.path}: cannot write it ({exc.strerror})") from None
            if exc.errno in DISK_ERRNOS and staged:  # a write() names no file: name every output being written
                names = ", ".join(f"{o.option} {o.path}" for o in staged)
                raise OutputError(f"cannot write {names} ({exc.strerror}); nothing was written") from None

    def _owner(self, filename) -> Output | None:
        if not filename:
            return None
        name = _absolute(Path(str(filename)))
        for out in self.outputs:
            parent = _absolute(out.path).parent
            if (name.parent == parent or parent in name.parents) and f".{out.path.name}." in str(name):
                return out
        return None


def check_input_file(path, name: str = "input file") -> Path:
    """An input read by name: it exists and is no directory (a pipe or a device is fine)."""
    p = Path(path)
    if p.is_dir():
        raise MissingFileError(f"{name} {path} is a directory; give a file")
    if not p.exists():
        raise MissingFileError(f"{name} not found: {path}")
    return p

