"""What a simulation sent, counted exactly, so that tests can hold the pipeline to it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streams.contract import DEAD_LETTER_REASONS, EVENT_TYPES


def _zeros(names: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(names, 0)


@dataclass
class SimulationReport:
    """Counts of one run of `Simulation.messages()`; complete once the generator is exhausted.

    Definitions (docs/simulator.md has them in full):
    - `valid_events`: distinct valid events (first copies); `events_by_type` splits them by type.
    - `duplicates`: re-sent copies of valid events (same topic, key and bytes, hence the same id).
    - `late_events`: valid events sent LATE_AFTER (3 days) or more after their `time`.
    - `out_of_order`: valid events, not late, sent after a valid event of the same participant whose
      `time` is later.
    - `invalid_transitions`: referral.status_changed events whose status does not follow, by the
      contract's referral life, from the referral's previous status by time (`requested` before the first).
    - `malformed_by_reason`: malformed messages by the dead-letter reason the contract gives them.
    - `prison_releases_followed_one_year` / `rearrested_within_one_year`: prison releases at least a year
      before `end`, and those followed by an arrest within 365 days (the BJS-calibrated rate).
    """

    participants: int = 0
    seed: int = 0
    start: str = ""
    end: str = ""
    messages: int = 0
    messages_by_topic: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=lambda: _zeros(EVENT_TYPES))
    valid_events: int = 0
    duplicates: int = 0
    late_events: int = 0
    out_of_order: int = 0
    invalid_transitions: int = 0
    malformed: int = 0
    malformed_by_reason: dict[str, int] = field(default_factory=lambda: _zeros(DEAD_LETTER_REASONS))
    referrals: int = 0
    consent_grants: int = 0
    consent_revocations: int = 0
    participants_never_consenting: int = 0
    prison_releases_followed_one_year: int = 0
    rearrested_within_one_year: int = 0

    @property
    def one_year_rearrest_rate(self) -> float | None:
        followed = self.prison_releases_followed_one_year
        return self.rearrested_within_one_year / followed if followed else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "one_year_rearrest_rate": self.one_year_rearrest_rate}


def add_counts(total: dict[str, int], counts: dict[str, int]) -> None:
    for name, count in counts.items():
        total[name] = total.get(name, 0) + count
