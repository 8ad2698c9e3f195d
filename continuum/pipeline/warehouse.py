"""The warehouse's `raw` schema and connections.

The raw tables' DDL is written once, in the dbt project's `create_raw_tables_if_missing` macro (a plain
SQL body, so that dbt's on-run-start hook and the loader run the very same statements, whichever comes
first); `raw_ddl()` reads it from there. `raw.events` and `raw.dead_letters` must have the columns of the
landing zone's Parquet schemas (`streams/landing/files.py`), which the loader inserts by name:
`warehouse_columns()` derives them, and tests/test_warehouse.py fails when the macro and the landing
schemas disagree. Dead letters leave out `key`, `value` and `headers`: they may hold anything a provider
sent (names included) and stay in the Parquet files for replay, never in the warehouse.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from common.duckdb_limits import bound
from common.settings import Settings
from continuum.pipeline.dbt import DBT_PROJECT_DIR

#: Dead-letter columns that never enter the warehouse.
DEAD_LETTER_PAYLOAD = ("key", "value", "headers")

#: The file and macro that hold the raw tables' DDL (see the module's docstring).
RAW_DDL_MACRO = DBT_PROJECT_DIR / "macros" / "create_raw_tables_if_missing.sql"
_MACRO_START = "{% macro create_raw_tables_if_missing() %}"
_MACRO_END = "{% endmacro %}"


def _sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    simple = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN"}
    if arrow_type in simple:
        return simple[arrow_type]
    raise TypeError(f"no DuckDB type mapped for landing column type {arrow_type}: extend warehouse._sql_type")


def warehouse_columns(schema: pa.Schema, leave_out: tuple[str, ...] = ()) -> list[tuple[str, str, bool]]:
    """(name, SQL type, nullable) of a landing schema's columns, then the two the load adds."""
    columns = [(f.name, _sql_type(f.type), f.nullable) for f in schema if f.name not in leave_out]
    return [*columns, ("batch_name", "VARCHAR", False), ("loaded_at", "TIMESTAMPTZ", False)]


def raw_ddl() -> list[str]:
    """The statements of the `create_raw_tables_if_missing` macro's body (schema `raw` and its tables)."""
    text = RAW_DDL_MACRO.read_text()
    if _MACRO_START not in text:
        raise RuntimeError(
            f"{RAW_DDL_MACRO} no longer defines {_MACRO_START!r}: the loader reads its DDL there"
        )
    body = text.split(_MACRO_START, 1)[1].split(_MACRO_END, 1)[0]
    if "{{" in body or "{%" in body:
        raise RuntimeError(
            f"{RAW_DDL_MACRO}: the macro's body must stay plain SQL (the loader runs it as is)"
        )
    return [statement.strip() for statement in body.split(";") if statement.strip()]


def connect(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse with the `raw` schema in place (created on first use)."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not settings.warehouse_path.exists():
        read_only = False  # nothing to read yet: create it, so readers always find the schema
    con = bound(duckdb.connect(str(settings.warehouse_path), read_only=read_only), settings)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        for statement in raw_ddl():
            con.execute(statement)
    return con
