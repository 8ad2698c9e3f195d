"""Lag per topic for /ops, summed from the lander's own status (what `continuum status` prints per
partition), so the page and the command always agree."""

from __future__ import annotations

from dataclasses import dataclass

from common.settings import Settings

#: /ops waits at most this long for the broker's end offsets: a page, not a monitoring probe.
END_OFFSETS_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class TopicLag:
    rows: list[dict]
    broker_error: str | None


def per_topic(settings: Settings) -> TopicLag:
    """[{topic, partitions, landed_up_to, end_offsets, lag}] per topic. A lag is None (unknown) when
    some partition's end offset is unknown, e.g. while the broker is down."""
    from streams.landing.status import landing_status

    # The lander waits longer for a broker it cannot do without; a page gives up sooner.
    timeout = min(settings.land_broker_timeout_seconds, END_OFFSETS_TIMEOUT_S)
    status = landing_status(settings.model_copy(update={"land_broker_timeout_seconds": timeout}), timeout)
    topics: dict[str, list] = {}
    for partition in status.partitions:
        topics.setdefault(partition.topic, []).append(partition)
    rows = [
        {
            "topic": topic,
            "partitions": len(parts),
            "messages_landed": sum(p.landed_offset + 1 for p in parts if p.landed_offset is not None),
            "lag": None if any(p.lag is None for p in parts) else sum(p.lag for p in parts),
        }
        for topic, parts in sorted(topics.items())
    ]
    return TopicLag(rows, status.broker_error)
