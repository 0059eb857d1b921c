"""Atomic writes: the final file appears whole or not at all, with ordinary permissions."""
import json
import os
import stat

import pytest

from textdeconv.files import atomic_path, atomic_write_json, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_write_text_creates_parents_and_content(tmp_path):
    target = tmp_path / "a" / "b" / "notes.txt"
    atomic_write_text(target, "héllo\nworld\n")
    assert target.read_bytes() == "héllo\nworld\n".encode()
    assert os.listdir(target.parent) == ["notes.txt"]


def test_atomic_write_json(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"b": 1, "a": [1.5, "x"]})
    assert target.read_text(encoding="utf-8") == '{\n  "b": 1,\n  "a": [\n    1.5,\n    "x"\n  ]\n}\n'
    assert json.loads(target.read_text()) == {"b": 1, "a": [1.5, "x"]}


def test_overwrite_replaces_content(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_failure_inside_block_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_text("half written")
            raise RuntimeError("boom")
    assert target.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_failure_without_previous_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_block_may_replace_the_temp_file(tmp_path):
    # writers such as Keras' model.save create the file themselves at the given path
    target = tmp_path / "model.bin"
    with atomic_path(target) as tmp:
        tmp.unlink()
        tmp.write_bytes(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_permissions_follow_umask_not_0600(tmp_path, umask_022):
    target = tmp_path / "config.yaml"
    atomic_write_text(target, "x: 1\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    with atomic_path(tmp_path / "other.txt") as tmp:
        tmp.write_text("y")
    assert stat.S_IMODE((tmp_path / "other.txt").stat().st_mode) == 0o644


def test_permissions_with_stricter_umask(tmp_path):
    old = os.umask(0o077)
    try:
        atomic_write_text(tmp_path / "private.txt", "s")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600
