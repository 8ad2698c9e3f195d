"""The one atomic-write helper: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.files import atomic_path, write_atomically


def test_write_atomically_replaces_the_file_with_its_mode(tmp_path: Path):
    target = tmp_path / "deep" / "secret.txt"
    write_atomically(target, "old")
    write_atomically(target, "new ✓", mode=0o600)
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["secret.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "published.bin"
    write_atomically(target, b"complete")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer died half way")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["published.bin"]
