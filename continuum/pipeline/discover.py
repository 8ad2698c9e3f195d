"""Which landed batches the pipeline has not seen yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow.parquet as pq

from common.settings import Settings
from continuum.pipeline.batches import BatchRef
from streams.landing.zone import LandingZone


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


#: A validation group holds batches up to about this many events: one GX run per suite over all of
#: them. Bigger groups cost fewer runs (each has a fixed cost of about a second) but more memory
#: (about 1 KB per event in pandas); a few groups also let a real executor validate in parallel.
GROUP_EVENTS = 500_000


@dataclass(frozen=True)
class Group:
    """Batches validated together, and the events files of the run's other groups (their ids count as
    known references: a status change and its referral come from two providers)."""

    batches: list[BatchRef]
    neighbour_paths: list[str]

    def to_xcom(self) -> dict[str, Any]:
        return {"batches": [b.to_xcom() for b in self.batches], "neighbour_paths": self.neighbour_paths}

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> Group:
        return cls([BatchRef.from_xcom(b) for b in value["batches"]], list(value["neighbour_paths"]))


def _events_in(ref: BatchRef) -> int:
    try:
        return pq.ParquetFile(ref.events_path).metadata.num_rows
    except (OSError, ValueError):
        return 0  # unreadable: validation says so, with the error


def in_groups(batches: list[BatchRef], group_events: int = GROUP_EVENTS) -> list[Group]:
    """Batches in groups of about `group_events` events, a provider's batches together where they fit
    (the order of `batches`, by topic and partition, keeps them so)."""
    packed: list[list[BatchRef]] = [[]]
    size = 0
    for ref in batches:
        events = _events_in(ref)
        if packed[-1] and size + events > group_events:
            packed.append([])
            size = 0
        packed[-1].append(ref)
        size += events
    packed = [group for group in packed if group]
    paths = [[r.events_path for r in group] for group in packed]
    return [
        Group(group, [p for j, other in enumerate(paths) if j != i for p in other])
        for i, group in enumerate(packed)
    ]
