"""What a simulation is asked to do: its size, seed, time window and how messy the feeds are."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

#: Journeys start from here (or earlier, when `end` is close to it: see `SimulationConfig.start`).
DEFAULT_START = datetime(2021, 1, 1, tzinfo=UTC)
#: The shortest window the simulator accepts: journeys need room for referrals, custody and rearrest.
MIN_YEARS = 2
DEMO_PARTICIPANTS = 2000


def today_utc() -> datetime:
    """Today 00:00 UTC: the default end, so that no event is in the future of a lander running now."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@dataclass(frozen=True)
class MessConfig:
    """Rates of the mess of real feeds; 0 switches a kind off.

    Each rate is a probability per eligible item: per valid event for `late`, `out_of_order`,
    `duplicates` and `malformed`; per referral with at least one status change for
    `invalid_transitions`. docs/simulator.md defines each kind exactly.
    """

    late: float = 0.01
    out_of_order: float = 0.01
    duplicates: float = 0.01
    invalid_transitions: float = 0.02
    malformed: float = 0.003

    @classmethod
    def clean(cls) -> MessConfig:
        """No mess at all: every message is a valid first copy, sent in order, on time."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def __post_init__(self) -> None:
        for f in fields(self):
            rate = getattr(self, f.name)
            if not 0.0 <= rate <= 0.5:
                raise ValueError(f"MessConfig.{f.name} is {rate}: a rate between 0 and 0.5 is expected")


@dataclass(frozen=True)
class SimulationConfig:
    participants: int = DEMO_PARTICIPANTS
    seed: int = 7
    end: datetime = field(default_factory=today_utc)
    mess: MessConfig = field(default_factory=MessConfig)

    def __post_init__(self) -> None:
        if self.participants < 1:
            raise ValueError(f"participants is {self.participants}: at least 1 is needed")
        if self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware (e.g. datetime(2026, 11, 1, tzinfo=UTC))")

    @property
    def start(self) -> datetime:
        """2021-01-01, or MIN_YEARS before `end` if that is earlier."""
        earliest = self.end.replace(year=self.end.year - MIN_YEARS, month=1, day=1)
        return min(DEFAULT_START, earliest.astimezone(UTC))
