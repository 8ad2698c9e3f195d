"""Reading the published warehouse. Every request opens the published copy read-only and closes it
when done: the pipeline replaces that file atomically after each build, so a connection held open
would keep reading the old copy, and the file the pipeline writes is never touched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa


class WarehouseNotPublished(RuntimeError):
    """No published copy yet: the pipeline has not completed a build."""


def require_published(path: Path) -> None:
    if not path.exists():
        raise WarehouseNotPublished(
            f"no published warehouse at {path}; run the pipeline (`continuum run`) to build and publish one"
        )


@contextmanager
def published(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    require_published(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def version(path: Path) -> tuple[int, int, int]:
    """Changes whenever the published copy is replaced: a key for caching what is drawn from it."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def dict_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pa.Table:
    return con.sql(sql, params=params or None).to_arrow_table()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The one value a query returns. Fetches all of it: DuckDB refuses the next query on a connection
    whose last result was only partly fetched."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        scalar(
            con,
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        )
    )


def require_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """A page whose mart is not built yet says so (503), rather than failing on a missing table."""
    if not has_table(con, schema, table):
        raise WarehouseNotPublished(
            f"the published warehouse has no {schema}.{table} yet; the next `continuum run` builds it"
        )
