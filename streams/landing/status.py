"""What `continuum status` shows: per partition the landed offset, the broker's end offset and the lag,
whether the lander holds it at a record it cannot land (and why), and the dead letters by provider and
reason (counted from the dead-letter files, the durable record)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kafka import TopicPartition
from kafka.errors import KafkaError

from common.settings import Settings
from streams.landing.holds import PartitionHold, load_holds
from streams.landing.offsets import resume_points_of
from streams.landing.source import ProviderTopics, make_consumer
from streams.landing.zone import LandingZone


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    topic: str
    partition: int
    epoch: int
    #: The last offset landed (None: nothing landed yet).
    landed_offset: int | None
    #: The broker's log end (the next offset it will write), from a fetch's high watermark.
    end_offset: int | None
    #: Messages on the broker not landed yet; None if unknown, negative if the offsets went backwards.
    lag: int | None
    #: Why the lander holds this partition at a record (holds.py); None if it does not.
    held: PartitionHold | None = None


@dataclass(frozen=True, slots=True)
class LandingStatus:
    partitions: list[PartitionStatus]
    dead_letters: dict[tuple[str | None, str], int]
    broker_error: str | None

    def to_json(self) -> dict:
        return {
            "partitions": [asdict(p) for p in self.partitions],
            "held": [asdict(p.held) for p in self.partitions if p.held is not None],
            "dead_letters": [
                {"provider_id": provider, "reason": reason, "count": count}
                for (provider, reason), count in sorted(self.dead_letters.items(), key=str)
            ],
            "broker_error": self.broker_error,
        }


def landing_status(settings: Settings, timeout_s: float = 10.0) -> LandingStatus:
    # From the landing zone's index: a status call stats the partition directories, not every file.
    zone = LandingZone.for_settings(settings)
    batches = [*zone.committed_batches(), *zone.quarantined_batches()]
    points = resume_points_of(batches)
    holds = load_holds(settings.landing_dir)
    broker_error = None
    try:
        tps = set(points) | set(holds) | {tp for t in _broker_topics(settings) for tp in t.topic_partitions()}
        ends = fetch_end_offsets(settings, sorted(tps), timeout_s)
    except KafkaError as exc:
        tps, ends, broker_error = set(points) | set(holds), {}, f"{settings.bootstrap_servers}: {exc}"
    partitions = []
    for tp in sorted(tps):
        point = points.get(tp)
        next_offset = point.next_offset if point else 0
        end = ends.get(tp)
        partitions.append(
            PartitionStatus(
                tp.topic,
                tp.partition,
                point.epoch if point else 0,
                next_offset - 1 if point else None,
                end,
                None if end is None else end - next_offset,
                holds.get(tp),
            )
        )
    dead_letters = zone.dead_letter_counts(batches)
    return LandingStatus(partitions, dead_letters, broker_error)


def _broker_topics(settings: Settings):
    topics = ProviderTopics(settings)
    try:
        return topics.list()
    finally:
        topics.close()


def fetch_end_offsets(
    settings: Settings, tps: list[TopicPartition], timeout_s: float
) -> dict[TopicPartition, int]:
    """Each partition's log end, as the high watermark of a fetch (not ListOffsets: see source.py).
    Partitions that did not answer within `timeout_s` are left out."""
    if not tps:
        return {}
    consumer = make_consumer(
        settings, client_id="continuum-status", max_partition_fetch_bytes=64 * 1024, fetch_max_wait_ms=100
    )
    try:
        consumer.assign(tps)
        consumer.seek_to_end(*tps)  # fetching from (near) the end: the answer carries the high watermark
        ends: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(ends) < len(tps) and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)
            for tp in tps:
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    ends[tp] = highwater
        return ends
    finally:
        consumer.close(autocommit=False)


def dead_letter_counts(
    landing_dir: Path, quarantine_dir: Path | None = None
) -> dict[tuple[str | None, str], int]:
    """Dead letters by (provider_id, reason), over every committed batch, quarantined ones included (a
    quarantined batch's dead letters were landed, and are loaded, all the same)."""
    zone = LandingZone(landing_dir, quarantine_dir or landing_dir.parent / "quarantine")
    quarantined = zone.quarantined_batches() if quarantine_dir else []
    return zone.dead_letter_counts([*zone.committed_batches(), *quarantined])
