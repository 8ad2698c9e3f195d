"""Publish: readers get the warehouse's published tables in a file that is replaced atomically after each
good build, and the public marts as Parquet exports."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from common.duckdb_limits import bound
from common.files import atomic_path
from common.settings import Settings

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
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as con:
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
