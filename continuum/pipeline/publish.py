"""Publish: readers get the warehouse's published tables in a file that is replaced atomically after each
good build, and the public marts as Parquet exports. A record beside them says which build they were made
from, so that a run whose build was skipped (nothing new, docs/pipeline.md) leaves them as they are."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import duckdb

from common.duckdb_limits import bound
from common.files import atomic_path, write_atomically
from common.settings import Settings
from continuum.pipeline.dbt import BuildState

log = logging.getLogger(__name__)


#: What readers get of the warehouse: every schema dbt publishes for them (marts, provider views,
#: operators' models, reference lists), and of `raw` only the operators' ledgers. Never staging or
#: intermediate models, nor `raw.events`: they are most of the file and no reader needs them.
UNPUBLISHED_SCHEMAS = ("staging", "intermediate", "main", "information_schema", "pg_catalog")
PUBLISHED_RAW_TABLES = ("batches", "dead_letters")


def published_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    """(schema, table) of `catalog` that readers get, in a stable order."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        [catalog],
    ).fetchall()
    return [
        (schema, table)
        for schema, table in rows
        if schema not in UNPUBLISHED_SCHEMAS and (schema != "raw" or table in PUBLISHED_RAW_TABLES)
    ]


def publish_warehouse(settings: Settings) -> Path:
    """Write what readers need into a new file beside the published copy, fsync it, and rename it over the
    published one: a reader opens either the old file or the new one, never a half-written one.

    Copying tables, not the file: the warehouse keeps raw events and every staging and intermediate model,
    most of its size, which no reader opens (docs/pipeline.md)."""
    target = settings.published_warehouse_path
    with atomic_path(target) as tmp, bound(duckdb.connect(str(tmp)), settings) as con:
        # A table has no row order (every reader says its own ORDER BY); keeping the source's lets
        # DuckDB write a table with one thread only: a quarter of the copy's time at 100,000.
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"ATTACH '{settings.warehouse_path}' AS source (READ_ONLY)")
        tables = published_tables(con, "source")
        for schema in sorted({schema for schema, _ in tables}):
            con.execute(f'CREATE SCHEMA "{schema}"')
        for schema, table in tables:
            con.execute(f'CREATE TABLE "{schema}"."{table}" AS FROM source."{schema}"."{table}"')
        con.execute("DETACH source")
        con.execute("CHECKPOINT")
    log.info("published %d tables to %s", len(tables), target)
    return target


def exports_dir(settings: Settings) -> Path:
    return settings.published_warehouse_path.parent / "exports"


def export_marts(settings: Settings) -> list[Path]:
    """Each table of schema `marts` of the published copy as Parquet (none if there is no such schema)."""
    out = exports_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with bound(duckdb.connect(str(settings.published_warehouse_path), read_only=True), settings) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            path = out / f"{table}.parquet"
            with atomic_path(path) as tmp:
                con.execute(f"COPY (SELECT * FROM marts.\"{table}\") TO '{tmp}' (FORMAT parquet)")
            written.append(path)
    log.info("exported %d marts to %s", len(written), out)
    return written


# --- which build the published copy is of ---------------------------------------------------------------


def published_build_path(settings: Settings) -> Path:
    return settings.published_warehouse_path.parent / "published_build.json"


def record_published(settings: Settings, build: BuildState | None, exports: list[Path]) -> None:
    """Record which build the published copy and `exports` were made from (nothing for a build that was
    not recorded: what it built is not known, and the next run publishes again)."""
    if build is None or build.built_at is None or build.as_of is None:
        return
    record = {
        "as_of": build.as_of.isoformat(),
        "built_at": build.built_at.isoformat(),
        "exports": [p.name for p in exports],
    }
    write_atomically(published_build_path(settings), json.dumps(record, indent=1).encode())


def forget_published(settings: Settings) -> None:
    """Before the published files are replaced: a record must never describe files it does not match."""
    published_build_path(settings).unlink(missing_ok=True)


def published_record(settings: Settings) -> dict | None:
    path = published_build_path(settings)
    return json.loads(path.read_bytes()) if path.exists() else None


def published_exports(settings: Settings) -> list[Path]:
    record = published_record(settings) or {}
    return [exports_dir(settings) / name for name in record.get("exports", [])]


def is_published(settings: Settings, build: BuildState | None) -> bool:
    """Whether the published copy and every export were made from `build` (the warehouse's last build):
    then publishing again would copy the same rows."""
    record = published_record(settings)
    if build is None or build.built_at is None or record is None:
        return False
    if record.get("built_at") != build.built_at.isoformat() or not settings.published_warehouse_path.exists():
        return False
    return all(path.exists() for path in published_exports(settings))


def describe_published(settings: Settings, build: BuildState | None) -> str | None:
    """One line on what readers have: the as_of the published copy is built at, when it was built, and
    the latest as_of a skipped build found it current at (None before the first recorded publish)."""
    record = published_record(settings)
    if record is None or not settings.published_warehouse_path.exists():
        return None
    built_at = datetime.fromisoformat(record["built_at"])
    line = f"published copy built as of {record['as_of']} (built {built_at:%Y-%m-%d %H:%M:%S} UTC)"
    if build is not None and build.built_at == built_at and build.checked_as_of is not None:
        line += (
            f"; nothing new since, and as_of {build.checked_as_of.isoformat()} is before the next change "
            f"at {build.next_change.isoformat() if build.next_change else '?'}: the same answers"
        )
    return line
