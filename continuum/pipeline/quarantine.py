"""Quarantine: where what failed its expectations waits, with the reason, for a data engineer.

A batch that broke a BATCH rule, or cannot be read, is held whole:

    quarantine/<batch_name>/events.parquet        the landed events file, moved out of landing/
    quarantine/<batch_name>/dead_letters.parquet  its dead letters, if it had some (loaded all the same)
    quarantine/<batch_name>/validation.json       the validation result: which expectations failed

Rows that broke a ROW rule are held alone; the rest of their batch is loaded and its file stays in
landing/:

    quarantine/<batch_name>/held_rows.parquet     the held rows (events schema)
    quarantine/<batch_name>/validation.json       the result: per held row's offset, the rules it broke

Both kinds have `origin.json` (where the batch came from). The ledger (`raw.batches`) records a held
batch as 'quarantined' and a batch with held rows as 'loaded' (its `events` counts the rows loaded, its
`failed_expectations` the held rows per rule). `release` validates again (after the suite, the directory
or the file was fixed): a batch that passes goes back to its place in landing/ and is loaded, once; held
rows that pass are loaded, once, and those that still fail stay.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.files import write_atomically
from common.settings import Settings
from continuum.pipeline.batches import BatchRef
from continuum.pipeline.load import (
    LoadOutcome,
    held_summary,
    ledger_status,
    load_batches,
    load_released_rows,
    loaded_already,
    record_quarantined,
)
from continuum.pipeline.validate import BatchVerdict, render_data_docs, validate_batch
from streams.landing.files import QUARANTINED_DEAD_LETTERS, QUARANTINED_EVENTS
from streams.landing.zone import HELD_ROWS_FILE, ORIGIN_FILE, RESULT_FILE, LandingZone

log = logging.getLogger(__name__)

#: The files of `quarantine/<batch name>/`: the landing zone's layout (streams/landing/zone.py).
EVENTS_FILE = QUARANTINED_EVENTS
DEAD_LETTERS_FILE = QUARANTINED_DEAD_LETTERS


class QuarantineError(LookupError):
    """No such quarantined batch, or it cannot be released; the message says what to do."""


@dataclass(frozen=True)
class QuarantinedBatch:
    name: str
    directory: Path
    verdict: BatchVerdict
    landing_events_path: Path
    landing_dead_letters_path: Path | None
    held: dict[int, list[str]]  # rows held alone: offset -> rules; empty for a batch held whole

    @property
    def kind(self) -> str:
        """'rows' (rows held alone, the rest of the batch loaded) or 'batch' (held whole)."""
        return "rows" if (self.directory / HELD_ROWS_FILE).exists() else "batch"


@dataclass(frozen=True)
class RowsReleased:
    """What releasing held rows did: rows loaded now, and the rows that still fail (and stay)."""

    name: str
    loaded: int
    still_held: dict[int, list[str]]


def quarantine_batch(con: duckdb.DuckDBPyConnection, settings: Settings, verdict: BatchVerdict) -> Path:
    """Move a failing batch's files beside its validation result and record it in the ledger."""
    ref = verdict.ref
    if ledger_status(con, ref.name) == "loaded":
        log.warning("batch %s failed validation but is loaded already: left as it is", ref.name)
        return Path(ref.events_path)
    zone = LandingZone.for_settings(settings)
    directory = zone.quarantine_path(ref.name)
    directory.mkdir(parents=True, exist_ok=True)
    _write_origin(directory, ref)
    events, dead_letters = zone.quarantine(ref.name, ref.events_path, ref.dead_letters_path)
    result = zone.move(verdict.result_path, directory / RESULT_FILE) or directory / RESULT_FILE
    verdict.result_path = str(result)
    verdict.batch = ref.with_paths(events or directory / EVENTS_FILE, dead_letters).to_xcom()
    record_quarantined(con, verdict)
    log.warning(
        "batch %s quarantined in %s:%s", ref.name, directory, "".join(f"\n  - {f}" for f in verdict.failed)
    )
    return directory


def _write_origin(directory: Path, ref: BatchRef) -> None:
    # Where the files came from, so that release can put them back; written once, before they move.
    origin = directory / ORIGIN_FILE
    if not origin.exists():
        LandingZone.write_json(origin, ref.to_xcom())


def quarantined(settings: Settings) -> list[QuarantinedBatch]:
    """Every quarantined batch, by name."""
    zone = LandingZone.for_settings(settings)
    return [_read(zone.quarantine_path(name)) for name in zone.quarantined_names()]


def find(settings: Settings, name: str) -> QuarantinedBatch:
    directory = settings.quarantine_dir / name
    if not (directory / ORIGIN_FILE).exists():
        known = ", ".join(b.name for b in quarantined(settings)) or "none"
        raise QuarantineError(f"no quarantined batch named {name!r} (quarantined: {known})")
    return _read(directory)


def _read(directory: Path) -> QuarantinedBatch:
    origin = BatchRef.from_xcom(json.loads((directory / ORIGIN_FILE).read_text()))
    result = directory / RESULT_FILE
    document: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {}
    verdict = BatchVerdict(
        batch=origin.to_xcom(),
        passed=document.get("passed", False),
        failed=document.get("failed", ["validation result missing"]),
        warnings=document.get("warnings", []),
        events=document.get("events", 0),
        dead_letters=document.get("dead_letters", 0),
        validated_at=document.get("validated_at", ""),
        result_path=str(result),
    )
    verdict.held_rows = len(document.get("held", {}))
    return QuarantinedBatch(
        name=directory.name,
        directory=directory,
        verdict=verdict,
        landing_events_path=Path(origin.events_path),
        landing_dead_letters_path=Path(origin.dead_letters_path) if origin.dead_letters_path else None,
        held=verdict.held_offsets() if (directory / HELD_ROWS_FILE).exists() else {},
    )


def hold_rows(settings: Settings, verdict: BatchVerdict) -> set[int]:
    """Copy the rows that broke a ROW rule to quarantine/<batch>/held_rows.parquet, beside the result;
    returns their offsets. Written before the load: a crash in between leaves a copy the next attempt
    writes again."""
    held = verdict.held_offsets()
    if not held:
        return set()
    ref = verdict.ref
    directory = settings.quarantine_dir / ref.name
    directory.mkdir(parents=True, exist_ok=True)
    _write_origin(directory, ref)
    events = pq.read_table(ref.events_path)
    rows = events.filter(pc.is_in(events["kafka_offset"], pa.array(sorted(held), pa.int64())))
    LandingZone.write_table(rows, directory / HELD_ROWS_FILE)
    _copy_result(verdict.result_path, directory)
    log.warning(
        "batch %s: %d rows held in %s:%s",
        ref.name,
        len(held),
        directory,
        "".join(f"\n  - {line}" for line in held_summary(held)),
    )
    return set(held)


def load_validated(con: duckdb.DuckDBPyConnection, settings: Settings, verdict: BatchVerdict) -> LoadOutcome:
    """Load a passing batch, holding back the rows that broke a ROW rule."""
    return load_all_validated(con, settings, [verdict])[0]


def load_all_validated(
    con: duckdb.DuckDBPyConnection, settings: Settings, verdicts: Sequence[BatchVerdict]
) -> list[LoadOutcome]:
    """Load passing batches, many per transaction (`load.load_batches`), holding back the rows that
    broke a ROW rule: their copies are written to quarantine first (a batch in the ledger already is
    left alone: nothing to do, nothing to hold)."""
    loaded = loaded_already(con, [v.ref.name for v in verdicts if v.held_rows])
    held = {}
    for verdict in verdicts:
        if verdict.held_rows and verdict.ref.name not in loaded:
            rules = verdict.held_offsets()
            held[verdict.ref.name] = {offset: rules[offset] for offset in hold_rows(settings, verdict)}
    return load_batches(con, verdicts, held)


def _copy_result(result_path: str, directory: Path) -> None:
    """The validation result beside what it judged (a crash leaves the old copy or the new one)."""
    write_atomically(directory / RESULT_FILE, Path(result_path).read_bytes())


def release(
    con: duckdb.DuckDBPyConnection, settings: Settings, name: str
) -> BatchVerdict | LoadOutcome | RowsReleased:
    """Validate a quarantined batch (or its held rows) again.

    A batch held whole that passes now goes back to landing/ and is loaded (returns the LoadOutcome;
    rows of it that break a ROW rule are held alone, as in a run); one that fails stays, with the new
    result (returns the verdict). Held rows that pass are loaded and the others stay (RowsReleased)."""
    batch = find(settings, name)
    if batch.kind == "rows":
        return _release_rows(con, settings, batch)
    directory = batch.directory
    dead_letters = directory / DEAD_LETTERS_FILE
    in_quarantine = batch.verdict.ref.with_paths(
        directory / EVENTS_FILE, dead_letters if dead_letters.exists() else None
    )
    verdict = validate_batch(settings, in_quarantine)
    render_data_docs(settings, [verdict])
    if not verdict.passed:
        quarantine_batch(con, settings, verdict)  # files are in place: this refreshes result and ledger
        return verdict
    # Load first, then move back: a crash in between leaves the ledger saying 'loaded', and a second
    # release finds it loaded, only moves the files and cleans up.
    outcome = load_validated(con, settings, verdict)
    LandingZone.for_settings(settings).release(
        name, batch.landing_events_path, batch.landing_dead_letters_path
    )
    return outcome


def _release_rows(
    con: duckdb.DuckDBPyConnection, settings: Settings, batch: QuarantinedBatch
) -> RowsReleased:
    """Validate the held rows again; load those that pass (once) and keep the others."""
    held_file = batch.directory / HELD_ROWS_FILE
    verdict = validate_batch(settings, batch.verdict.ref.with_paths(held_file, None))
    render_data_docs(settings, [verdict])
    # Only ROW rules judge held rows: a handful of rows (say ten stamped 0001-01-01) may well look like
    # a batch dominated by one time, which says nothing about them.
    still_held = verdict.held_offsets()
    rows = pq.read_table(held_file)
    failing = pc.is_in(rows["kafka_offset"], pa.array(sorted(still_held), pa.int64()))
    loaded = load_released_rows(con, batch.name, rows.filter(pc.invert(failing)), held_summary(still_held))
    if still_held:
        LandingZone.write_table(rows.filter(failing), held_file)
        _copy_result(verdict.result_path, batch.directory)
    else:
        LandingZone.for_settings(settings).forget_quarantined(batch.name)
    log.info("batch %s: %d held rows loaded, %d still held", batch.name, loaded, len(still_held))
    return RowsReleased(batch.name, loaded, still_held)
