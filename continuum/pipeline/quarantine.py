"""Quarantine: where a batch that failed its expectations waits, with the reason, for a data engineer.

    quarantine/<batch_name>/events.parquet        the landed events file, moved out of landing/
    quarantine/<batch_name>/dead_letters.parquet  its dead letters, if it had some
    quarantine/<batch_name>/validation.json       the validation result: which expectations failed

The ledger (`raw.batches`) records the batch as 'quarantined', so the warehouse counts quarantined
batches per provider. `release` validates the files again (after the suite or the file was fixed);
a batch that passes now goes back to its place in landing/ and is loaded, once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from common.settings import Settings
from continuum.pipeline.batches import BatchRef
from continuum.pipeline.load import LoadOutcome, ledger_status, load_batch, record
from continuum.pipeline.validate import BatchVerdict, run_name, validate_batch
from streams.landing.files import QUARANTINED_DEAD_LETTERS, QUARANTINED_EVENTS

log = logging.getLogger(__name__)

EVENTS_FILE = QUARANTINED_EVENTS
DEAD_LETTERS_FILE = QUARANTINED_DEAD_LETTERS
RESULT_FILE = "validation.json"


class QuarantineError(LookupError):
    """No such quarantined batch, or it cannot be released; the message says what to do."""


@dataclass(frozen=True)
class QuarantinedBatch:
    name: str
    directory: Path
    verdict: BatchVerdict
    landing_events_path: Path
    landing_dead_letters_path: Path | None


def _move(source: str | None, target: Path) -> Path | None:
    """Move a file if it is still at `source`; a retry finds it moved already and does nothing."""
    if source is None:
        return None
    if Path(source).exists():
        os.replace(source, target)  # same filesystem (both under CONTINUUM_HOME): atomic
    return target if target.exists() else None


def quarantine_batch(con: duckdb.DuckDBPyConnection, settings: Settings, verdict: BatchVerdict) -> Path:
    """Move a failing batch's files beside its validation result and record it in the ledger."""
    ref = verdict.ref
    if ledger_status(con, ref.name) == "loaded":
        log.warning("batch %s failed validation but is loaded already: left as it is", ref.name)
        return Path(ref.events_path)
    directory = settings.quarantine_dir / ref.name
    directory.mkdir(parents=True, exist_ok=True)
    _write_origin(directory, ref)
    _move(ref.events_path, directory / EVENTS_FILE)
    _move(ref.dead_letters_path, directory / DEAD_LETTERS_FILE)
    result = _move(verdict.result_path, directory / RESULT_FILE) or directory / RESULT_FILE
    verdict.result_path = str(result)
    record(con, verdict, "quarantined", None)
    log.warning(
        "batch %s quarantined in %s:%s", ref.name, directory, "".join(f"\n  - {f}" for f in verdict.failed)
    )
    return directory


def _write_origin(directory: Path, ref: BatchRef) -> None:
    # Where the files came from, so that release can put them back; written once, before they move.
    origin = directory / "origin.json"
    if not origin.exists():
        origin.write_text(json.dumps(ref.to_xcom(), indent=1))


def quarantined(settings: Settings) -> list[QuarantinedBatch]:
    """Every quarantined batch, by name."""
    root = settings.quarantine_dir
    return [_read(d) for d in sorted(root.iterdir()) if (d / "origin.json").exists()] if root.exists() else []


def find(settings: Settings, name: str) -> QuarantinedBatch:
    directory = settings.quarantine_dir / name
    if not (directory / "origin.json").exists():
        known = ", ".join(b.name for b in quarantined(settings)) or "none"
        raise QuarantineError(f"no quarantined batch named {name!r} (quarantined: {known})")
    return _read(directory)


def _read(directory: Path) -> QuarantinedBatch:
    origin = BatchRef.from_xcom(json.loads((directory / "origin.json").read_text()))
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
    return QuarantinedBatch(
        name=directory.name,
        directory=directory,
        verdict=verdict,
        landing_events_path=Path(origin.events_path),
        landing_dead_letters_path=Path(origin.dead_letters_path) if origin.dead_letters_path else None,
    )


def release(con: duckdb.DuckDBPyConnection, settings: Settings, name: str) -> BatchVerdict | LoadOutcome:
    """Validate a quarantined batch again. If it passes, put its files back in landing/ and load it
    (returns the LoadOutcome); if not, it stays quarantined with the new result (returns the verdict)."""
    batch = find(settings, name)
    directory = batch.directory
    dead_letters = directory / DEAD_LETTERS_FILE
    in_quarantine = batch.verdict.ref.with_paths(
        directory / EVENTS_FILE, dead_letters if dead_letters.exists() else None
    )
    verdict = validate_batch(settings, in_quarantine)
    _render_docs(settings, name)
    if not verdict.passed:
        quarantine_batch(con, settings, verdict)  # files are in place: this refreshes result and ledger
        return verdict
    # Load first, then move back: a crash in between leaves the ledger saying 'loaded', and a second
    # release finds it loaded, only moves the files and cleans up.
    outcome = load_batch(con, verdict)
    _move(str(directory / EVENTS_FILE), _prepared(batch.landing_events_path))
    if batch.landing_dead_letters_path:
        _move(str(dead_letters), _prepared(batch.landing_dead_letters_path))
    shutil.rmtree(directory)
    return outcome


def _render_docs(settings: Settings, name: str) -> None:
    from expectations.runner import ValidationProject

    ValidationProject.for_settings(settings).build_data_docs([run_name(name)])


def _prepared(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
