"""Which landed batches the pipeline has not seen yet, and the groups they are validated in."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow.parquet as pq

from common.settings import Settings
from continuum.pipeline import known_ids, late_counts
from continuum.pipeline.batches import BatchRef
from expectations.families import write_known_ids
from streams.landing.zone import LandingZone

log = logging.getLogger(__name__)


def seen_batch_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT batch_name FROM raw.batches").fetchall()}


def new_batches(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[BatchRef]:
    """Committed batches whose name is not in the ledger, oldest offsets first.

    A name in the ledger is never validated again by the DAG, whatever its status: a quarantined batch
    goes back through validation only by `continuum quarantine release`. (If the lander lands the
    offsets of a quarantined batch again under the same name, that copy is skipped here too.)"""
    seen = seen_batch_names(con)
    # From the zone's index (no walk of the tree); only the new batches are built.
    return [BatchRef.of(b) for b in LandingZone.for_settings(settings).committed_batches(skip=seen)]


#: A validation group holds batches up to about this many events and this many bytes of them
#: (uncompressed, from the Parquet footers): one GX run per suite over all of them. Bigger groups cost
#: fewer runs (each task pays GX's import and context, about 4 s of CPU) but more memory: DuckDB's copy
#: of the rows (bounded by `Settings.duckdb_memory_limit`, it spills beyond) and the pandas frames GX
#: checks (the batch frame's few numeric columns, about 150 bytes an event). At 1,000,000 events a group
#: peaked at 2.6 GB at 100,000 participants, but `continuum run` validates every group in one process and
#: at 10 M events (11 groups) that process reached 3.9 GB, at the issue's 4 GB (docs/benchmarks.md); half
#: of that per group leaves room. The byte bound keeps a provider with large `data` documents from filling
#: a group of that many rows.
GROUP_EVENTS = 500_000
GROUP_BYTES = 200_000_000


@dataclass(frozen=True)
class Group:
    """Batches validated together, the files of ids this run knows (`known_ids_paths`: the warehouse's
    and every new file's, written once by discover; a status change and its referral come from two
    providers and may be validated in two groups) and its file of the warehouse's late counts
    (`late_counts_path`, late_counts.py)."""

    batches: list[BatchRef]
    known_ids_paths: tuple[str, ...] = ()
    late_counts_path: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {
            "batches": [b.to_xcom() for b in self.batches],
            "known_ids_paths": list(self.known_ids_paths),
            "late_counts_path": self.late_counts_path,
        }

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> Group:
        return cls(
            [BatchRef.from_xcom(b) for b in value["batches"]],
            tuple(value.get("known_ids_paths", ())),
            value.get("late_counts_path"),
        )


def _size_of(ref: BatchRef) -> tuple[int, int]:
    """(events, uncompressed bytes) of a batch's events file, from its footer."""
    try:
        metadata = pq.ParquetFile(ref.events_path).metadata
    except (OSError, ValueError):
        return 0, 0  # unreadable: validation says so, with the error
    groups = range(metadata.num_row_groups)
    return metadata.num_rows, sum(metadata.row_group(i).total_byte_size for i in groups)


def in_groups(
    batches: list[BatchRef], group_events: int = GROUP_EVENTS, group_bytes: int = GROUP_BYTES
) -> list[Group]:
    """Batches in groups of at most about `group_events` events and `group_bytes` bytes (a batch
    larger than either is a group of its own), a provider's batches together where they fit (the
    order of `batches`, by topic and partition, keeps them so)."""
    packed: list[list[BatchRef]] = [[]]
    events = size = 0
    for ref in batches:
        rows, nbytes = _size_of(ref)
        if packed[-1] and (events + rows > group_events or size + nbytes > group_bytes):
            packed.append([])
            events = size = 0
        packed[-1].append(ref)
        events += rows
        size += nbytes
    return [Group(group) for group in packed if group]


def plan_groups(con: duckdb.DuckDBPyConnection, settings: Settings, batches: list[BatchRef]) -> list[Group]:
    """The run's groups, with the ids it knows in two files of `validations/known-ids/`: the warehouse's,
    kept between runs (`known_ids.kept_loaded_ids`), and the run's own, which adds the ids of its new
    files and of the rows loaded since the kept file (`known_ids.run_file`); and the warehouse's late
    counts (`late_counts.write_run_late_counts`)."""
    groups = in_groups(batches)
    if not groups:
        return []
    loaded, through = known_ids.kept_loaded_ids(con, settings)
    key = hashlib.sha256("\n".join(b.name for b in batches).encode()).hexdigest()[:16]
    target = known_ids.run_file(known_ids.directory(settings), key, loaded)
    since = known_ids.events_loaded(known_ids.loaded_after(through))
    try:
        write_known_ids(con, [b.events_path for b in batches], since, target)
    except duckdb.Error as exc:  # an unreadable file is its own group's problem (quarantined there)
        log.warning("new files not all readable for known ids (%s): the warehouse's ids only", exc)
        write_known_ids(con, [], since, target)
    late = str(late_counts.write_run_late_counts(con, settings, key))
    return [Group(group.batches, (str(loaded), str(target)), late) for group in groups]
