"""Publish: readers get a copy of the warehouse that is replaced atomically after each good build,
and the public marts as Parquet exports."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import duckdb

from common.settings import Settings

log = logging.getLogger(__name__)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_warehouse(settings: Settings) -> Path:
    """Copy the warehouse next to the published copy, fsync it, and rename it over the published one."""
    # A checkpoint folds the write-ahead log into the file: copying the file alone is then complete.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CHECKPOINT")
    target = settings.published_warehouse_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(settings.warehouse_path, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    log.info("published %s", target)
    return target


def exports_dir(settings: Settings) -> Path:
    return settings.published_warehouse_path.parent / "exports"


def export_marts(settings: Settings) -> list[Path]:
    """Each table of schema `marts` of the published copy as Parquet (none if there is no such schema)."""
    out = exports_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            path = out / f"{table}.parquet"
            tmp = path.with_name(path.name + ".tmp")
            con.execute(f"COPY (SELECT * FROM marts.\"{table}\") TO '{tmp}' (FORMAT parquet)")
            os.replace(tmp, path)
            written.append(path)
    log.info("exported %d marts to %s", len(written), out)
    return written
