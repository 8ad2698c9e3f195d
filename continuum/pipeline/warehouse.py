"""The warehouse's `raw` schema: DDL derived from the landing zone's Parquet schemas, and connections.

`raw.events` and `raw.dead_letters` take their columns from `streams/landing/files.py`, so a column the
lander adds reaches the warehouse without a second list to keep in step. Dead letters leave out `key`,
`value` and `headers`: they may hold anything a provider sent (names included) and stay in the Parquet
files for replay, never in the warehouse.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from common.settings import Settings
from streams.landing.files import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA

#: Dead-letter columns that never enter the warehouse.
DEAD_LETTER_PAYLOAD = ("key", "value", "headers")

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS raw.batches (
    batch_name VARCHAR PRIMARY KEY,
    topic VARCHAR NOT NULL,
    provider_id VARCHAR,
    kafka_partition INTEGER NOT NULL,
    first_offset BIGINT NOT NULL,
    last_offset BIGINT NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'quarantined')),
    events BIGINT NOT NULL,
    dead_letters BIGINT NOT NULL,
    failed_expectations VARCHAR,
    validated_at TIMESTAMPTZ NOT NULL,
    loaded_at TIMESTAMPTZ,
    validation_result_path VARCHAR NOT NULL
)
"""


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


def _create_table(name: str, columns: list[tuple[str, str, bool]]) -> str:
    body = ",\n    ".join(f'"{c}" {t}{"" if nullable else " NOT NULL"}' for c, t, nullable in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {body}\n)"


def raw_ddl() -> list[str]:
    return [
        "CREATE SCHEMA IF NOT EXISTS raw",
        _create_table("raw.events", warehouse_columns(EVENTS_SCHEMA)),
        _create_table("raw.dead_letters", warehouse_columns(DEAD_LETTERS_SCHEMA, DEAD_LETTER_PAYLOAD)),
        LEDGER_DDL.strip(),
    ]


def connect(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse with the `raw` schema in place (created on first use)."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not settings.warehouse_path.exists():
        read_only = False  # nothing to read yet: create it, so readers always find the schema
    con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        for statement in raw_ddl():
            con.execute(statement)
    return con
