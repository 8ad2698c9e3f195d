"""Load a validated batch into the warehouse's `raw` schema, once, whatever retries happen.

The ledger `raw.batches` has one row per batch name. Loading checks it and inserts the batch's rows and
its ledger row in one DuckDB transaction: a retry after a crash either finds the row (and does
nothing) or finds nothing of the batch at all (and loads it whole).

Rows that broke a ROW rule are left out (they wait in quarantine, `continuum.pipeline.quarantine`);
the ledger's `events` counts the rows loaded, and grows when held rows are released. Dead letters load
whatever happens to the events of their batch: with the batch, or when it is quarantined.

`raw.held_records` has one row per record held back (a row that broke a ROW rule, or every row of a
quarantined batch), with the rules it broke and when it was released: what each provider is told it
sent and the network did not take (`provider_views.provider_not_accepted`, and its feedback topic). It
never holds a value from the record: where it was (topic, partition, offset), its type, why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.names import provider_of_topic
from continuum.pipeline.validate import BatchVerdict
from continuum.pipeline.warehouse import DEAD_LETTER_PAYLOAD

log = logging.getLogger(__name__)

#: The columns of an events file that a held record keeps (never `data`, nor anything from the envelope
#: that identifies a person).
HELD_COLUMNS = ["kafka_topic", "kafka_partition", "kafka_offset", "type", "landed_at"]

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
    held_rows: int = 0


def ledger_status(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    # fetchall, not fetchone: DuckDB refuses register() while a result is left unfinished.
    rows = con.execute("SELECT status FROM raw.batches WHERE batch_name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def record(
    con: duckdb.DuckDBPyConnection,
    verdict: BatchVerdict,
    status: str,
    loaded_at: datetime | None,
    events: int | None = None,
    failed: list[str] | None = None,
) -> None:
    """The batch's ledger row. `events`: rows loaded (default: the verdict's); `failed`: what the ledger
    says it failed (default: the verdict's BATCH rules)."""
    ref = verdict.ref
    failed = verdict.failed if failed is None else failed
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
            "events": verdict.events if events is None else events,
            "dead_letters": verdict.dead_letters,
            "failed": json.dumps(failed) if failed else None,
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


def held_summary(held: dict[int, list[str]]) -> list[str]:
    """What the ledger says of a loaded batch's held rows: one line per ROW rule, with its row count."""
    counts: dict[str, int] = {}
    for rules in held.values():
        for rule in rules:
            counts[rule] = counts.get(rule, 0) + 1
    return [f"{n} row{'s' if n != 1 else ''} held: {rule}" for rule, n in sorted(counts.items())]


def hold_records(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rows: pa.Table,
    held_by: dict[int, list[str]] | str,
    at: datetime,
) -> int:
    """Record `rows` (events of batch `name`) as held back, each with the rules it broke (`held_by`: by
    offset, or one text for all); rows held already and not released are not recorded twice."""
    if not rows.num_rows:
        return 0
    offsets = rows["kafka_offset"].to_pylist()
    rules = [held_by if isinstance(held_by, str) else "; ".join(held_by.get(o, [])) for o in offsets]
    held = pa.table(
        {
            "provider_id": pa.array(
                [provider_of_topic(t) for t in rows["kafka_topic"].to_pylist()], pa.string()
            ),
            "kafka_topic": rows["kafka_topic"],
            "kafka_partition": rows["kafka_partition"],
            "kafka_offset": rows["kafka_offset"],
            "event_type": rows["type"],
            "landed_at": rows["landed_at"],
            "held_by": pa.array(rules, pa.string()),
            "batch_name": pa.array([name] * rows.num_rows, pa.string()),
            "held_at": pa.array([at] * rows.num_rows, pa.timestamp("us", tz="UTC")),
        }
    )
    con.register("new_holds", held)
    try:
        con.execute(
            "INSERT INTO raw.held_records BY NAME SELECT * FROM new_holds n WHERE NOT EXISTS (SELECT 1 "
            "FROM raw.held_records h WHERE h.batch_name = n.batch_name AND h.kafka_offset = n.kafka_offset "
            "AND h.released_at IS NULL)"
        )
    finally:
        con.unregister("new_holds")
    return rows.num_rows


def release_records(con: duckdb.DuckDBPyConnection, name: str, offsets: list[int], at: datetime) -> None:
    """Mark the held records of batch `name` at `offsets` released (they are loaded now)."""
    con.execute(
        "UPDATE raw.held_records SET released_at = ? WHERE batch_name = ? AND released_at IS NULL "
        "AND kafka_offset IN (SELECT unnest(?::BIGINT[]))",
        [at, name, offsets],
    )


def _insert_events(con: duckdb.DuckDBPyConnection, table: pa.Table, name: str, loaded_at: datetime) -> int:
    con.register("landed_events", _with_load_columns(table, name, loaded_at))
    try:
        con.execute("INSERT INTO raw.events BY NAME SELECT * FROM landed_events")
    finally:
        con.unregister("landed_events")
    return table.num_rows


def load_dead_letters(
    con: duckdb.DuckDBPyConnection, name: str, path: str | None, loaded_at: datetime
) -> int:
    """Insert a batch's dead letters unless they are in already (inside the caller's transaction)."""
    if not path:
        return 0
    done = con.execute("SELECT count(*) FROM raw.dead_letters WHERE batch_name = ?", [name]).fetchall()
    if done[0][0]:
        return 0
    refused = pq.read_table(path).drop_columns(list(DEAD_LETTER_PAYLOAD))
    con.register("landed_dead_letters", _with_load_columns(refused, name, loaded_at))
    try:
        con.execute("INSERT INTO raw.dead_letters BY NAME SELECT * FROM landed_dead_letters")
    finally:
        con.unregister("landed_dead_letters")
    return refused.num_rows


def load_batch(
    con: duckdb.DuckDBPyConnection, verdict: BatchVerdict, held: Collection[int] = ()
) -> LoadOutcome:
    """Insert a passing batch's events (but the `held` offsets), dead letters and ledger row in one
    transaction."""
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
        events = pq.read_table(ref.events_path)
        if held:
            is_held = pc.is_in(events["kafka_offset"], pa.array(sorted(held), pa.int64()))
            hold_records(con, ref.name, events.filter(is_held), verdict.held_offsets(), loaded_at)
            events = events.filter(pc.invert(is_held))
        release_records(con, ref.name, events["kafka_offset"].to_pylist(), loaded_at)  # a released batch
        loaded = _insert_events(con, events, ref.name, loaded_at)
        dead_letters = load_dead_letters(con, ref.name, ref.dead_letters_path, loaded_at)
        failed = held_summary(verdict.held_offsets()) if held else []
        record(con, verdict, "loaded", loaded_at, events=loaded, failed=failed)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    log.info(
        "batch %s loaded: %d events, %d dead letters%s",
        ref.name,
        loaded,
        dead_letters,
        f", {len(held)} rows held" if held else "",
    )
    return LoadOutcome(ref.name, True, loaded, dead_letters, len(held))


def record_quarantined(con: duckdb.DuckDBPyConnection, verdict: BatchVerdict) -> int:
    """The quarantined batch's ledger row and its dead letters, in one transaction: a batch's dead
    letters are counted and loaded whatever happens to its events. Returns the dead letters inserted."""
    ref, now = verdict.ref, datetime.now(UTC)
    con.begin()
    try:
        dead_letters = load_dead_letters(con, ref.name, ref.dead_letters_path, now)
        if Path(ref.events_path).exists():  # an unreadable batch has no rows to tell anyone of
            try:
                events = pq.read_table(ref.events_path, columns=HELD_COLUMNS)
            except (OSError, pa.ArrowException):
                events = None
            if events is not None:
                hold_records(con, ref.name, events, "; ".join(verdict.failed) or "quarantined", now)
        record(con, verdict, "quarantined", None)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return dead_letters


def load_released_rows(
    con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table, still_held: list[str]
) -> int:
    """Insert released rows of a loaded batch, those not in already, and count them in its ledger row
    (whose failed expectations become `still_held`). Returns the rows inserted (0 on a retry)."""
    loaded_at = datetime.now(UTC)
    con.begin()
    try:
        present = con.execute(
            "SELECT kafka_offset FROM raw.events WHERE batch_name = ? AND kafka_offset IN "
            "(SELECT unnest(?::BIGINT[]))",
            [name, rows["kafka_offset"].to_pylist()],
        ).fetchall()
        if present:
            keep = pc.invert(pc.is_in(rows["kafka_offset"], pa.array([o for (o,) in present], pa.int64())))
            rows = rows.filter(keep)
        inserted = _insert_events(con, rows, name, loaded_at) if rows.num_rows else 0
        release_records(con, name, rows["kafka_offset"].to_pylist(), loaded_at)
        con.execute(
            "UPDATE raw.batches SET events = events + ?, failed_expectations = ? WHERE batch_name = ?",
            [inserted, json.dumps(still_held) if still_held else None, name],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return inserted
