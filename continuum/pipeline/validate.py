"""Validate landed batches with the expectation suites, a group of them per GX run, and keep each batch's
result as JSON: which BATCH rules it broke (it is quarantined) and which rows broke a ROW rule (they are
held back, the rest loads)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from common.settings import Settings
from continuum.pipeline.batches import BatchRef
from expectations.families import LandedFile
from streams.landing.zone import LandingZone

log = logging.getLogger(__name__)


@dataclass
class BatchVerdict:
    """What validation said about a batch; plain JSON so that Airflow can pass it between tasks.

    `passed`: no BATCH rule failed, the batch loads; `held_rows`: rows that broke a ROW rule, held back
    from the load (their offsets and rules are in the result file, `held_offsets` reads them)."""

    batch: dict[str, Any]
    passed: bool
    failed: list[str]
    warnings: list[str]
    events: int
    dead_letters: int
    validated_at: str
    result_path: str
    held_rows: int = 0
    gx_run: str = ""

    @property
    def ref(self) -> BatchRef:
        return BatchRef.from_xcom(self.batch)

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> BatchVerdict:
        return cls(**value)

    def held_offsets(self) -> dict[int, list[str]]:
        """Kafka offset -> the ROW rules that row broke, from the result file."""
        if not self.held_rows:
            return {}
        document = json.loads(Path(self.result_path).read_text())
        return {int(offset): rules for offset, rules in document.get("held", {}).items()}


def run_name(batch_name: str) -> str:
    """The GX run name of a batch validated alone: its name without `.parquet`."""
    return batch_name.removesuffix(".parquet")


def group_run_name(refs: Sequence[BatchRef]) -> str:
    """The GX run name of a group: its first batch's, with the number of batches."""
    return run_name(refs[0].name) if len(refs) == 1 else f"{run_name(refs[0].name)}+{len(refs)}-batches"


def render_data_docs(settings: Settings, verdicts: Sequence[BatchVerdict]) -> None:
    """Render the Data Docs pages of the GX runs that judged `verdicts` (none when none ran)."""
    from expectations.runner import ValidationProject

    names = sorted({v.gx_run or run_name(v.ref.name) for v in verdicts})
    if names:
        ValidationProject.for_settings(settings).build_data_docs(names)


def validations_dir(settings: Settings) -> Path:
    return LandingZone.for_settings(settings).validations_dir


def count_rows(path: str | None) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path else 0


def validate_batch(settings: Settings, ref: BatchRef) -> BatchVerdict:
    """Validate one batch on its own (a release, a test)."""
    return validate_batches(settings, [ref])[0]


def validate_batches(
    settings: Settings,
    refs: Sequence[BatchRef],
    known_ids_paths: Sequence[str] = (),
    late_counts_path: str | None = None,
) -> list[BatchVerdict]:
    """Run the suites once over every events file of `refs`; write validations/<name>.json per batch.

    `known_ids_paths` hold the ids the run knows (every new file's, validated in other groups too, and
    the warehouse's: `discover.plan_groups`); they count as known references. `late_counts_path` holds
    the warehouse's late counts (late_counts.py; without it they are counted from the warehouse's rows).
    A file that cannot be read fails validation (and is quarantined with the error) instead of failing
    the task: retrying would not make it readable, and the other batches must not wait for it; its dead
    letters are counted all the same."""
    from expectations.runner import ValidationProject  # GX takes seconds to import: only when used

    if not refs:
        return []
    validated_at = datetime.now(UTC)
    gx_run = group_run_name(refs)
    dead_letters, unreadable = {}, {}
    for ref in refs:
        try:
            dead_letters[ref.name] = count_rows(ref.dead_letters_path)
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on corrupt files
            unreadable[ref.name] = f"unreadable dead letters: {exc}"
            dead_letters[ref.name] = 0
        try:
            pq.ParquetFile(ref.events_path)
        except (OSError, ValueError) as exc:
            unreadable[ref.name] = f"unreadable: {exc}"
    project = ValidationProject.for_settings(settings)
    readable = [r for r in refs if r.name not in unreadable]
    try:
        files = project.validate_group(
            [_landed_file(r) for r in readable], gx_run, known_ids_paths, late_counts_path
        )
    except duckdb.Error:
        # A file whose footer reads but whose pages do not: find it (and only then pay per file).
        unreadable.update(_unreadable_files(readable))
        readable = [r for r in readable if r.name not in unreadable]
        files = project.validate_group(
            [_landed_file(r) for r in readable], gx_run, known_ids_paths, late_counts_path
        )
    verdicts = []
    for ref in refs:
        if ref.name in unreadable:
            log.error("batch %s cannot be read: %s", ref.name, unreadable[ref.name])
            verdicts.append(
                _write(settings, ref, validated_at, gx_run, 0, dead_letters[ref.name], [unreadable[ref.name]])
            )
            continue
        file = files[ref.name]
        verdict = _write(
            settings, ref, validated_at, gx_run, file.events, dead_letters[ref.name], file.failed, file
        )
        _log(verdict)
        verdicts.append(verdict)
    return verdicts


def _landed_file(ref: BatchRef) -> LandedFile:
    return LandedFile(
        batch_name=ref.name,
        provider_id=ref.provider_id,
        topic=ref.topic,
        partition=ref.partition,
        first_offset=ref.first_offset,
        last_offset=ref.last_offset,
        events_path=ref.events_path,
    )


def _unreadable_files(refs: Sequence[BatchRef]) -> dict[str, str]:
    found = {}
    for ref in refs:
        try:
            pq.read_table(ref.events_path)
        except (OSError, ValueError) as exc:
            found[ref.name] = f"unreadable: {exc}"
    return found


def _log(verdict: BatchVerdict) -> None:
    if verdict.passed and not verdict.held_rows:
        return
    state = f"{verdict.held_rows} rows held" if verdict.passed else "FAILED"
    log.info(
        "batch %s: %d events, %s%s",
        verdict.ref.name,
        verdict.events,
        state,
        "".join(f"\n  - {line}" for line in verdict.failed),
    )


def _write(
    settings: Settings,
    ref: BatchRef,
    validated_at: datetime,
    gx_run: str,
    events: int,
    dead_letters: int,
    failed: list[str],
    file: Any = None,
) -> BatchVerdict:
    zone = LandingZone.for_settings(settings)
    path = zone.validation_path(ref.name)
    held = file.held if file is not None else {}
    verdict = BatchVerdict(
        batch=ref.to_xcom(),
        passed=not failed,
        failed=failed,
        warnings=file.warnings if file is not None else [],
        events=events,
        dead_letters=dead_letters,
        validated_at=validated_at.isoformat(),
        result_path=str(path),
        held_rows=len(held),
        gx_run=gx_run,
    )
    zone.write_validation_result(
        ref.name, {**verdict.to_xcom(), "held": {str(k): v for k, v in sorted(held.items())}}
    )
    return verdict
