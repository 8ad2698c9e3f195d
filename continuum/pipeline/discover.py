"""Which landed batches the pipeline has not seen yet."""

from __future__ import annotations

import duckdb

from common.settings import Settings
from continuum.pipeline.batches import BatchRef
from streams.landing.files import committed_batches


def seen_batch_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT batch_name FROM raw.batches").fetchall()}


def new_batches(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[BatchRef]:
    """Committed batches whose name is not in the ledger, oldest offsets first.

    A name in the ledger is never validated again by the DAG, whatever its status: a quarantined batch
    goes back through validation only by `continuum quarantine release`. (If the lander lands the
    offsets of a quarantined batch again under the same name, that copy is skipped here too.)"""
    seen = seen_batch_names(con)
    return [BatchRef.of(b) for b in committed_batches(settings.landing_dir) if b.name not in seen]
