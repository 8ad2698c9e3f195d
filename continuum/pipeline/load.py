"""Load a validated batch into the warehouse's `raw` schema, once, whatever retries happen.

The ledger `raw.batches` has one row per batch name. Loading checks it and inserts the batch's rows and
its ledger row in one DuckDB transaction: a retry after a crash either finds the row (and does
nothing) or finds nothing of the batch at all (and loads it whole).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from continuum.pipeline.validate import BatchVerdict
from continuum.pipeline.warehouse import DEAD_LETTER_PAYLOAD

log = logging.getLogger(__name__)

LEDGER_UPSERT = """
INSERT INTO raw.batches VALUES ($name, $topic, $provider, $partition, $first, $last, $status, $events,
    $dead_letters, $failed, $validated_at, $loaded_at, $result_path)
ON CONFLICT (batch_name) DO UPDATE SET status = excluded.status, events = excluded.events,
    dead_letters = excluded.dead_letters, failed_expectations = excluded.failed_expectations,
    validated_at = excluded.validated_at, loaded_at = excluded.loaded_at,
    validation_result_path = excluded.validation_result_path
"""


@dataclass(frozen=True)
class LoadOutcome:
    name: str
    loaded: bool  # False: the ledger said it was loaded already
    events: int
    dead_letters: int


def ledger_status(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    # fetchall, not fetchone: DuckDB refuses register() while a result is left unfinished.
    rows = con.execute("SELECT status FROM raw.batches WHERE batch_name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def record(
    con: duckdb.DuckDBPyConnection, verdict: BatchVerdict, status: str, loaded_at: datetime | None
) -> None:
    ref = verdict.ref
    con.execute(
        LEDGER_UPSERT,
        {
            "name": ref.name,
            "topic": ref.topic,
            "provider": ref.provider_id,
            "partition": ref.partition,
            "first": ref.first_offset,
            "last": ref.last_offset,
            "status": status,
            "events": verdict.events,
            "dead_letters": verdict.dead_letters,
            "failed": json.dumps(verdict.failed) if verdict.failed else None,
            "validated_at": datetime.fromisoformat(verdict.validated_at),
            "loaded_at": loaded_at,
            "result_path": verdict.result_path,
        },
    )


def _with_load_columns(table: pa.Table, name: str, loaded_at: datetime) -> pa.Table:
    table = table.append_column("batch_name", pa.array([name] * table.num_rows, pa.string()))
    return table.append_column(
        "loaded_at", pa.array([loaded_at] * table.num_rows, pa.timestamp("us", tz="UTC"))
    )


def load_batch(con: duckdb.DuckDBPyConnection, verdict: BatchVerdict) -> LoadOutcome:
    """Insert a passing batch's events, dead letters and ledger row in one transaction."""
    ref = verdict.ref
    if not verdict.passed:
        raise ValueError(f"batch {ref.name} failed validation; quarantine it instead of loading it")
    loaded_at = datetime.now(UTC)
    con.begin()
    try:
        if ledger_status(con, ref.name) == "loaded":
            con.rollback()
            log.info("batch %s is in the ledger already: not loaded again", ref.name)
            return LoadOutcome(ref.name, False, 0, 0)
        events = _with_load_columns(pq.read_table(ref.events_path), ref.name, loaded_at)
        con.register("landed_events", events)
        con.execute("INSERT INTO raw.events BY NAME SELECT * FROM landed_events")
        dead_letters = 0
        if ref.dead_letters_path:
            refused = pq.read_table(ref.dead_letters_path).drop_columns(list(DEAD_LETTER_PAYLOAD))
            con.register("landed_dead_letters", _with_load_columns(refused, ref.name, loaded_at))
            con.execute("INSERT INTO raw.dead_letters BY NAME SELECT * FROM landed_dead_letters")
            dead_letters = refused.num_rows
        record(con, verdict, "loaded", loaded_at)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        for view in ("landed_events", "landed_dead_letters"):
            con.unregister(view)
    log.info("batch %s loaded: %d events, %d dead letters", ref.name, events.num_rows, dead_letters)
    return LoadOutcome(ref.name, True, events.num_rows, dead_letters)
