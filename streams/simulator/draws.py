"""Deterministic random draws: weighted choices and UUIDs from a participant's own generator.

Every participant gets a `random.Random` seeded from (simulation seed, participant index), so a
participant's life does not depend on the others' and the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect
from collections.abc import Mapping
from itertools import accumulate


def participant_rng(seed: int, index: int) -> random.Random:
    # A hash of both numbers: seeds i and i+1 must not give overlapping streams.
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


class Weighted:
    """A weighted choice among the keys of a mapping, prepared once and drawn many times."""

    __slots__ = ("values", "cumulative", "total")

    def __init__(self, weights: Mapping[str, float]):
        self.values = tuple(weights)
        self.cumulative = tuple(accumulate(weights.values()))
        self.total = self.cumulative[-1]

    def draw(self, rng: random.Random) -> str:
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


def uuid4_from(rng: random.Random) -> str:
    """A version-4 UUID, lowercase, from `rng` (uuid.uuid4 reads the OS and would not be reproducible)."""
    h = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def uniform_days(rng: random.Random, low: float, high: float) -> int:
    """A duration in whole seconds between `low` and `high` days."""
    return int(rng.uniform(low, high) * 86_400)
