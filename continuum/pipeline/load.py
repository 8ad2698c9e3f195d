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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


#: A load commits at least every this many events (one transaction per chunk of batches). One transaction
#: per batch cost a commit and a round of Python/Arrow work per file (56 s at 2.67 M events, most of the
#: load task); one per chunk reads the chunk's files in one `INSERT ... SELECT FROM read_parquet([...])`.
#: Bounded so that a back-load of years keeps the work of earlier chunks when a later one fails, and so
#: that a transaction's undo state stays small (DuckDB writes big appends straight to the file).
LOAD_CHUNK_EVENTS = 1_000_000


def load_batches(
    con: duckdb.DuckDBPyConnection,
    verdicts: Sequence[BatchVerdict],
    held: Mapping[str, Mapping[int, list[str]]] | None = None,
    chunk_events: int | None = None,
) -> list[LoadOutcome]:
    """Load passing batches, each once: per chunk of about `chunk_events` events, one transaction that
    inserts the chunk's events (but the rows in `held`: batch name -> offset -> the ROW rules it broke,
    recorded in raw.held_records instead), dead letters and ledger rows. A batch the ledger has as
    loaded is left alone (a retry); a crash leaves a chunk wholly in or wholly out."""
    for verdict in verdicts:
        if not verdict.passed:
            raise ValueError(
                f"batch {verdict.ref.name} failed validation; quarantine it instead of loading it"
            )
    unique: dict[str, BatchVerdict] = {}
    for verdict in verdicts:  # a batch named twice would be read twice by one INSERT: load it once
        unique.setdefault(verdict.ref.name, verdict)
    outcomes: dict[str, LoadOutcome] = {}
    for chunk in _chunks(list(unique.values()), chunk_events or LOAD_CHUNK_EVENTS):
        for outcome in _load_chunk(con, chunk, held or {}):
            outcomes[outcome.name] = outcome
    results, seen = [], set()
    for verdict in verdicts:
        name = verdict.ref.name
        results.append(outcomes[name] if name not in seen else LoadOutcome(name, False, 0, 0))
        seen.add(name)
    return results


def _chunks(verdicts: Sequence[BatchVerdict], chunk_events: int) -> list[list[BatchVerdict]]:
    chunks: list[list[BatchVerdict]] = [[]]
    size = 0
    for verdict in verdicts:
        if chunks[-1] and size + verdict.events > chunk_events:
            chunks.append([])
            size = 0
        chunks[-1].append(verdict)
        size += verdict.events
    return [chunk for chunk in chunks if chunk]


def next_loaded_at(con: duckdb.DuckDBPyConnection) -> datetime:
    """The `loaded_at` of a load about to insert into raw.events: now, but always after every
    `loaded_at` there (a clock set back would otherwise stamp new rows earlier than old ones). Each load
    commits its rows at once, and the warehouse has one writer at a time, so every committed loaded_at
    is then later than any before it: staging reads exactly the rows loaded after the latest one it
    staged (macros/staging_events.sql), without reading that last load again."""
    latest = con.execute("SELECT max(loaded_at) FROM raw.events").fetchone()[0]
    now = datetime.now(UTC)
    return now if latest is None or now > latest else latest + timedelta(microseconds=1)


def _load_chunk(
    con: duckdb.DuckDBPyConnection,
    verdicts: list[BatchVerdict],
    held: Mapping[str, Mapping[int, list[str]]],
) -> list[LoadOutcome]:
    names = [v.ref.name for v in verdicts]
    con.begin()
    try:
        loaded_at = next_loaded_at(con)
        done = loaded_already(con, names)
        todo = [v for v in verdicts if v.ref.name not in done]
        for name in sorted(done):
            log.info("batch %s is in the ledger already: not loaded again", name)
        if not todo:
            con.rollback()
            return [LoadOutcome(name, False, 0, 0) for name in names]
        _register_chunk(con, todo, held, loaded_at)
        events, dead_letters = _insert_chunk(con, loaded_at)
        for verdict in todo:
            rules = held.get(verdict.ref.name, {})
            failed = held_summary(dict(rules)) if rules else []
            record(con, verdict, "loaded", loaded_at, events=events.get(verdict.ref.name, 0), failed=failed)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:  # after the rollback: an aborted transaction refuses even unregister()
        for view in ("chunk_files", "chunk_held"):
            con.unregister(view)
    outcomes = []
    for name in names:
        if name in done:
            outcomes.append(LoadOutcome(name, False, 0, 0))
            continue
        held_rows = len(held.get(name, {}))
        outcomes.append(LoadOutcome(name, True, events.get(name, 0), dead_letters.get(name, 0), held_rows))
        log.info(
            "batch %s loaded: %d events, %d dead letters%s",
            name,
            events.get(name, 0),
            dead_letters.get(name, 0),
            f", {held_rows} rows held" if held_rows else "",
        )
    return outcomes


def loaded_already(con: duckdb.DuckDBPyConnection, names: list[str]) -> set[str]:
    """Which of the batches `names` the ledger has as loaded."""
    rows = con.execute(
        "SELECT batch_name FROM raw.batches WHERE status = 'loaded' AND batch_name IN (SELECT unnest(?))",
        [names],
    ).fetchall()
    return {name for (name,) in rows}


def _register_chunk(
    con: duckdb.DuckDBPyConnection,
    verdicts: list[BatchVerdict],
    held: Mapping[str, Mapping[int, list[str]]],
    loaded_at: datetime,
) -> None:
    """The chunk's files (`chunk_files`) and held rows (`chunk_held`) as views for the set-based SQL."""
    refs = [v.ref for v in verdicts]
    files = pa.table(
        {
            "batch_name": pa.array([r.name for r in refs], pa.string()),
            "provider_id": pa.array([r.provider_id for r in refs], pa.string()),
            "events_path": pa.array([r.events_path for r in refs], pa.string()),
            "dead_letters_path": pa.array([r.dead_letters_path for r in refs], pa.string()),
            "loaded_at": pa.array([loaded_at] * len(refs), pa.timestamp("us", tz="UTC")),
        }
    )
    rows = [
        (r.name, offset, "; ".join(rules)) for r in refs for offset, rules in held.get(r.name, {}).items()
    ]
    chunk_held = pa.table(
        {
            "batch_name": pa.array([n for n, _, _ in rows], pa.string()),
            "kafka_offset": pa.array([o for _, o, _ in rows], pa.int64()),
            "held_by": pa.array([h for _, _, h in rows], pa.string()),
        }
    )
    con.register("chunk_files", files)
    con.register("chunk_held", chunk_held)


#: The chunk's events (with the columns the load adds) from its files, read by DuckDB in one scan.
_CHUNK_EVENTS = """
    SELECT e.* EXCLUDE (filename), f.batch_name, f.loaded_at
    FROM read_parquet($paths, filename = true) AS e
    JOIN chunk_files AS f ON f.events_path = e.filename
"""


def _insert_chunk(
    con: duckdb.DuckDBPyConnection, loaded_at: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Held rows to raw.held_records, the others to raw.events, dead letters not loaded before to
    raw.dead_letters (all in the caller's transaction); returns events and dead letters per batch."""
    paths = [p for (p,) in con.execute("SELECT events_path FROM chunk_files").fetchall()]
    if con.execute("SELECT count(*) FROM chunk_held").fetchall()[0][0]:
        held_paths = [
            p
            for (p,) in con.execute(
                "SELECT events_path FROM chunk_files WHERE batch_name IN (SELECT batch_name FROM chunk_held)"
            ).fetchall()
        ]
        con.execute(
            f"""
            INSERT INTO raw.held_records BY NAME
            SELECT f.provider_id, e.kafka_topic, e.kafka_partition, e.kafka_offset, e.type AS event_type,
                   e.landed_at, h.held_by, f.batch_name, f.loaded_at AS held_at
            FROM ({_CHUNK_EVENTS.replace("$paths", "$held_paths")}) AS e
            JOIN chunk_files AS f USING (batch_name)
            JOIN chunk_held AS h ON h.batch_name = e.batch_name AND h.kafka_offset = e.kafka_offset
            WHERE NOT EXISTS (
                SELECT 1 FROM raw.held_records AS r WHERE r.batch_name = h.batch_name
                    AND r.kafka_offset = h.kafka_offset AND r.released_at IS NULL
            )
            """,
            {"held_paths": held_paths},
        )
    # A released batch: the records held with it are loaded now, but those held again.
    con.execute(
        """
        UPDATE raw.held_records AS r SET released_at = $at
        WHERE r.released_at IS NULL AND r.batch_name IN (SELECT batch_name FROM chunk_files)
          AND NOT EXISTS (
              SELECT 1 FROM chunk_held AS h
              WHERE h.batch_name = r.batch_name AND h.kafka_offset = r.kafka_offset
          )
        """,
        {"at": loaded_at},
    )
    con.execute(
        f"""
        INSERT INTO raw.events BY NAME
        SELECT * FROM ({_CHUNK_EVENTS}) AS e
        WHERE NOT EXISTS (
            SELECT 1 FROM chunk_held AS h
            WHERE h.batch_name = e.batch_name AND h.kafka_offset = e.kafka_offset
        )
        """,
        {"paths": paths},
    )
    dead_letters = _insert_dead_letters(con)
    return _counts(con, "raw.events", loaded_at), dead_letters


def _insert_dead_letters(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The chunk's dead letters, of each batch whose dead letters are not loaded yet (a quarantined
    batch's were loaded when it was quarantined)."""
    rows = con.execute(
        """
        SELECT batch_name, dead_letters_path FROM chunk_files
        WHERE dead_letters_path IS NOT NULL
          AND batch_name NOT IN (SELECT DISTINCT batch_name FROM raw.dead_letters
                                 WHERE batch_name IN (SELECT batch_name FROM chunk_files))
        """
    ).fetchall()
    if not rows:
        return {}
    payload = ", ".join(DEAD_LETTER_PAYLOAD)
    con.execute(
        f"""
        INSERT INTO raw.dead_letters BY NAME
        SELECT d.* EXCLUDE ({payload}, filename), f.batch_name, f.loaded_at
        FROM read_parquet($paths, filename = true) AS d
        JOIN chunk_files AS f ON f.dead_letters_path = d.filename
        """,
        {"paths": [path for _, path in rows]},
    )
    loaded_at = con.execute("SELECT any_value(loaded_at) FROM chunk_files").fetchall()[0][0]
    return _counts(con, "raw.dead_letters", loaded_at)


def _counts(con: duckdb.DuckDBPyConnection, table: str, loaded_at: datetime) -> dict[str, int]:
    """Rows this chunk put in `table`, per batch: its own `loaded_at` (row groups of earlier loads are
    skipped by their min/max) and its batch names."""
    rows = con.execute(
        f"SELECT batch_name, count(*) FROM {table} WHERE loaded_at = $at "
        "AND batch_name IN (SELECT batch_name FROM chunk_files) GROUP BY batch_name",
        {"at": loaded_at},
    ).fetchall()
    return dict(rows)


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
    con.begin()
    try:
        loaded_at = next_loaded_at(con)
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
