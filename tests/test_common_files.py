"""The one atomic-write helper: a reader sees the old file or the new one, never half of one; and the lock
writers take turns on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.files import atomic_path, exclusive_lock, write_atomically


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


def test_a_second_process_waits_for_the_lock_until_the_first_lets_it_go(tmp_path: Path):
    lock, trail = tmp_path / "site.lock", tmp_path / "trail"
    other = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; from common.files import exclusive_lock\n"
        "with exclusive_lock(Path(sys.argv[1])):\n"
        "    open(sys.argv[2], 'a').write('other\\n')",
        str(lock),
        str(trail),
    ]
    with exclusive_lock(lock):
        waiting = subprocess.Popen(other, cwd=Path(__file__).resolve().parent.parent)
        time.sleep(1.0)  # time enough for the other process to write, if the lock let it
        with open(trail, "a") as f:
            f.write("holder\n")
    assert waiting.wait(timeout=30) == 0
    assert trail.read_text().splitlines() == ["holder", "other"]
