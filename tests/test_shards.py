"""Which lander worker owns which partition (streams/landing/shards.py). The plan with a real broker
is exercised by every multi-worker test in test_landing.py (five kill -9s included)."""

from __future__ import annotations

import random

from kafka import TopicPartition

from streams.landing.shards import Shard, balance


def _backlogs(seed: int) -> dict[TopicPartition, int]:
    rng = random.Random(seed)
    return {
        TopicPartition(f"providers.p{t}.events", p): rng.choice([0, 10, 500, 4_000, 30_000])
        for t in range(17)
        for p in range(3)
    }


def test_every_partition_has_exactly_one_owner_planned_or_not() -> None:
    backlogs = _backlogs(1)
    plan = balance(backlogs, 2)
    shards = [Shard(i, 2, plan) for i in range(2)]
    unplanned = [TopicPartition("providers.new-provider.events", p) for p in range(3)]
    for tp in [*backlogs, *unplanned]:
        assert sum(shard.owns(tp) for shard in shards) == 1, tp


def test_balance_evens_the_backlog_out() -> None:
    for seed in range(20):
        backlogs = _backlogs(seed)
        for workers in (2, 3):
            plan = balance(backlogs, workers)
            load = [sum(b for tp, b in backlogs.items() if plan[tp] == w) for w in range(workers)]
            # greedy largest-first: no worker ends more than one partition's backlog above another
            assert max(load) - min(load) <= max(backlogs.values()), (seed, workers, load)
            assert plan == balance(dict(reversed(backlogs.items())), workers)  # deterministic
