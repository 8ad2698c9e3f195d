"""The one place that bounds DuckDB's memory and threads: every DuckDB the pipeline opens (the loader's,
validation's, publishing's, and dbt's through `dbt_project/profiles.yml`) uses these settings.

DuckDB's own default is 80 % of the machine's memory, and a back-load of years of events took 9.6 GB
(docs/benchmarks.md). With a limit, DuckDB spills what does not fit to `Settings.duckdb_spill_dir` (dbt's
DuckDB to its default, `warehouse.duckdb.tmp`: see the profile). Set once, on a fresh connection: DuckDB
refuses to switch its temp_directory after it has spilled."""

from __future__ import annotations

import duckdb

from common.settings import Settings


def limit_statements(settings: Settings) -> list[str]:
    """The SET statements for a connection (the same values dbt's profile reads from the environment)."""
    statements = [
        f"SET memory_limit = '{settings.duckdb_memory_limit}'",
        f"SET temp_directory = '{settings.duckdb_spill_dir}'",
    ]
    if settings.duckdb_threads is not None:
        statements.append(f"SET threads = {settings.duckdb_threads}")
    return statements


def bound(con: duckdb.DuckDBPyConnection, settings: Settings) -> duckdb.DuckDBPyConnection:
    """Apply the limits to an open connection; returns it, so that `bound(duckdb.connect(...), s)` reads."""
    settings.duckdb_spill_dir.mkdir(parents=True, exist_ok=True)
    for statement in limit_statements(settings):
        con.execute(statement)
    return con
