"""Validate one landed batch with the expectation suites and keep the result as JSON."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from common.settings import Settings
from continuum.pipeline.batches import BatchRef

log = logging.getLogger(__name__)


@dataclass
class BatchVerdict:
    """What validation said about a batch; plain JSON so that Airflow can pass it between tasks."""

    batch: dict[str, Any]
    passed: bool
    failed: list[str]
    warnings: list[str]
    events: int
    dead_letters: int
    validated_at: str
    result_path: str

    @property
    def ref(self) -> BatchRef:
        return BatchRef.from_xcom(self.batch)

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> BatchVerdict:
        return cls(**value)


def run_name(batch_name: str) -> str:
    """The GX run name of a batch's validation: its name without `.parquet`."""
    return batch_name.removesuffix(".parquet")


def validations_dir(settings: Settings) -> Path:
    return settings.state_dir / "validations"


def count_rows(path: str | None) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path else 0


def validate_batch(settings: Settings, ref: BatchRef) -> BatchVerdict:
    """Run the suites on `ref`'s events file and write the result to validations/<name>.json.

    A file that cannot be read fails validation (and is quarantined) instead of failing the task:
    retrying would not make it readable, and the other batches of the run must not wait for it."""
    from expectations.runner import ValidationProject  # GX takes seconds to import: only when used

    validated_at = datetime.now(UTC)
    try:
        events = pq.read_table(ref.events_path).to_pandas()
        dead_letters = count_rows(ref.dead_letters_path)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on corrupt files
        log.error("batch %s cannot be read: %s", ref.name, exc)
        return _write(settings, ref, validated_at, 0, 0, [f"unreadable: {exc}"], [], {})
    project = ValidationProject.for_settings(settings)
    verdict = project.validate(
        events, ref.topic, ref.partition, ref.first_offset, ref.last_offset, run_name=run_name(ref.name)
    )
    log.info(
        "batch %s: %d events, %s%s",
        ref.name,
        len(events),
        "passed" if verdict.success else "FAILED",
        "".join(f"\n  - {line}" for line in verdict.failed),
    )
    return _write(
        settings,
        ref,
        validated_at,
        len(events),
        dead_letters,
        verdict.failed,
        verdict.warnings,
        verdict.results,
    )


def _write(
    settings: Settings,
    ref: BatchRef,
    validated_at: datetime,
    events: int,
    dead_letters: int,
    failed: list[str],
    warnings: list[str],
    results: dict[str, Any],
) -> BatchVerdict:
    path = validations_dir(settings) / f"{ref.name}.json"
    verdict = BatchVerdict(
        batch=ref.to_xcom(),
        passed=not failed,
        failed=failed,
        warnings=warnings,
        events=events,
        dead_letters=dead_letters,
        validated_at=validated_at.isoformat(),
        result_path=str(path),
    )
    write_json_atomically(path, {**verdict.to_xcom(), "suites": results})
    return verdict


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, default=str))
    os.replace(tmp, path)
