"""Atomic file writes: the one way this code base replaces a file that someone else may read.

Write under a temporary name beside the target, fsync it, rename it over the target, fsync the directory:
a reader (or a restart after a crash) sees the old file or the new one, never half of one. The temporary
name ends in `.tmp`, which the landing zone's crash recovery removes. And `exclusive_lock`, for writers
that must take turns.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path) -> Path:
    """Make an fsynced temporary file the real one: rename, then fsync the directory. Returns `path`."""
    os.replace(tmp, path)
    fsync_path(path.parent)
    return path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary path to write `path` through (by any writer: DuckDB, Parquet, open()); on
    success it is fsynced and renamed over `path`, on failure removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        fsync_path(tmp)
        commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Replace `path` with `data` (str is written as UTF-8), created with permissions `mode`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
    return path


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing) for the block: other processes asking for it
    wait. The kernel releases it when the holder dies, so a crashed writer leaves nothing to clean."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
