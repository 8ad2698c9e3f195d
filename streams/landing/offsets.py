"""Where each partition resumes, read from the landing zone, and how a reset of its offsets is seen.

The landing zone is the truth: a partition resumes after the last offset of its last committed batch, in
that batch's epoch. A batch the pipeline moved to quarantine still counts as landed. Each events file
records the broker's topic id (KIP-516) of the topic it came from, so a topic that was deleted and
recreated is recognised even when its new life already has more messages than the old one had.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from kafka import TopicPartition

from streams.landing.files import LandedBatch, committed_batches, quarantined_batches

#: Key of the events files' Parquet metadata that holds the topic id the batch was read from.
TOPIC_ID_KEY = b"continuum.kafka_topic_id"


@dataclass(frozen=True, slots=True)
class ResumePoint:
    epoch: int
    next_offset: int
    topic_id: str | None


def resume_points(landing_dir: Path, quarantine_dir: Path) -> dict[TopicPartition, ResumePoint]:
    """For each partition with committed batches: the epoch, the next offset to land, and its topic id.
    Walks the tree (never the landing zone's index): the lander resumes from what is on disk."""
    return resume_points_of(committed_batches(landing_dir) + quarantined_batches(quarantine_dir))


def resume_points_of(batches: Iterable[LandedBatch]) -> dict[TopicPartition, ResumePoint]:
    """The resume points of a listing of committed and quarantined batches (`LandingZone` gives one
    from its index, for `continuum status`)."""
    last = {}
    for batch in sorted(batches, key=lambda b: (b.epoch, b.last_offset)):  # the last one wins
        last[TopicPartition(batch.topic, batch.partition)] = batch
    return {
        tp: ResumePoint(batch.epoch, batch.last_offset + 1, read_topic_id(batch.events_path))
        for tp, batch in last.items()
    }


def read_topic_id(events_path: Path) -> str | None:
    metadata = pq.read_schema(events_path).metadata or {}
    value = metadata.get(TOPIC_ID_KEY)
    return value.decode() if value else None


@dataclass(frozen=True, slots=True)
class Reset:
    """A partition whose offsets started again: what was landed, and what the broker says now."""

    tp: TopicPartition
    epoch: int
    next_offset: int
    reason: str

    def describe(self) -> str:
        return (
            f"{self.tp.topic}[{self.tp.partition}]: offsets went backwards: {self.reason}. Offsets up to "
            f"{self.next_offset - 1} of epoch {self.epoch} are landed already"
        )


def find_reset(
    tp: TopicPartition,
    epoch: int,
    next_offset: int,
    landed_topic_id: str | None,
    broker_topic_id: str | None,
    highwater: int | None,
) -> Reset | None:
    """A Reset if the broker's partition is not the one landed so far, else None."""
    if landed_topic_id and broker_topic_id and landed_topic_id != broker_topic_id:
        reason = (
            f"the topic's id changed from {landed_topic_id} to {broker_topic_id} "
            "(the topic was deleted and recreated, or the broker lost its log)"
        )
        return Reset(tp, epoch, next_offset, reason)
    if highwater is not None and highwater < next_offset:
        reason = f"the broker's log now ends at offset {highwater}, before the next offset to land"
        return Reset(tp, epoch, next_offset, reason)
    return None
