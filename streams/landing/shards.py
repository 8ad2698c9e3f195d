"""Which lander worker owns which partition (workers.py runs one lander per worker).

Every partition has exactly one owner for the whole run: that is what keeps exactly-once per partition
when several landers run side by side. Owners come from a *plan* made once, before the workers start,
for the partitions that exist then: greedily by backlog (end offset − landed offset), largest first, to
the least-loaded worker, so that the workers finish a catch-up together instead of one waiting for the
other. A partition the plan does not name (a topic created while the lander runs, or no plan because
the broker did not answer) goes by a stable hash of its topic and number, which every worker computes
alike without talking to the others.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from kafka import TopicPartition
from kafka.errors import KafkaError

from common.settings import Settings
from streams.landing.offsets import resume_points
from streams.landing.source import ProviderTopics, make_consumer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """This lander's share of the partitions: worker `index` of `count`, by `plan` where it names the
    partition, else by hash."""

    index: int
    count: int
    plan: Mapping[TopicPartition, int] = field(default_factory=dict)

    def owns(self, tp: TopicPartition) -> bool:
        owner = self.plan.get(tp)
        if owner is None:
            owner = (zlib.crc32(tp.topic.encode()) + tp.partition) % self.count
        return owner == self.index


def balance(backlogs: Mapping[TopicPartition, int], workers: int) -> dict[TopicPartition, int]:
    """Owners for `backlogs`' partitions: largest backlog first, each to the least-loaded worker (ties:
    fewest partitions, then lowest index). Deterministic for the same backlogs."""
    load = [(0, 0, index) for index in range(workers)]
    owners = {}
    largest_first = sorted(backlogs.items(), key=lambda item: (-item[1], item[0].topic, item[0].partition))
    for tp, backlog in largest_first:
        least = min(load)
        owners[tp] = least[2]
        load[least[2]] = (least[0] + backlog, least[1] + 1, least[2])
    return owners


def listed_backlogs(settings: Settings) -> dict[TopicPartition, int]:
    """Each provider partition's backlog: its end offset as the broker lists it, less the landed offset;
    {} if the broker does not answer within `land_broker_timeout_seconds` (then `balance` plans nothing
    and every partition goes by hash: a plan is an optimisation, never a reason to wait).

    Listed end offsets (ListOffsets) are under-reported by some brokers by a record batch (the embedded
    one does; see source.py): good enough to share work, never used to decide that a partition is
    landed."""
    topics = ProviderTopics(settings)
    consumer = None
    try:
        tps = [tp for topic in topics.list() for tp in topic.topic_partitions()]
        timeout_ms = int(settings.land_broker_timeout_seconds * 1000)
        consumer = make_consumer(settings, client_id="continuum-lander-plan", request_timeout_ms=timeout_ms)
        ends = consumer.end_offsets(tps)
    except KafkaError as exc:
        log.info("no shard plan (%s): partitions go to workers by hash", exc)
        return {}
    finally:
        topics.close()
        if consumer is not None:
            consumer.close(autocommit=False)
    landed = resume_points(settings.landing_dir, settings.quarantine_dir)
    return {tp: max(0, end - (landed[tp].next_offset if tp in landed else 0)) for tp, end in ends.items()}
