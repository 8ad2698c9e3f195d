"""The life of a referral (Gravity referral Task, events-v1 section 4) and how to tell a broken one.

A life is the list of status changes after `requested`, in time order. `draw_life` draws a valid one;
`count_invalid` counts the status changes that do not follow from the one before them, by the
contract's rule: this is the exact definition of `SimulationReport.invalid_transitions`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from streams.simulator import network as n
from streams.simulator.draws import Weighted, uniform_days

#: Status -> the statuses that may follow it (events-v1: "any -> entered-in-error" is added below).
ALLOWED_NEXT = {
    "requested": {"accepted", "rejected", "cancelled"},
    "accepted": {"in-progress", "on-hold", "completed", "failed", "cancelled"},
    "in-progress": {"on-hold", "completed", "failed", "cancelled"},
    "on-hold": {"in-progress", "completed", "failed", "cancelled"},
    "rejected": set(),
    "completed": set(),
    "failed": set(),
    "cancelled": set(),
    "entered-in-error": set(),
}
TERMINAL = frozenset(s for s, nxt in ALLOWED_NEXT.items() if not nxt)
#: Statuses the referring provider sends; the receiving provider sends all others.
SENT_BY_REFERRER = frozenset({"cancelled", "entered-in-error"})

_REJECT = Weighted(n.REJECT_REASONS)
_HOLD = Weighted(n.HOLD_REASONS)
_FAIL = Weighted(n.FAIL_REASONS)
_CANCEL = Weighted(n.CANCEL_REASONS)
_FINAL = Weighted(n.REFERRAL_FINAL)


@dataclass(frozen=True, slots=True)
class Status:
    time: int
    status: str
    reason: str | None


def is_allowed(previous: str, status: str) -> bool:
    return status == "entered-in-error" or status in ALLOWED_NEXT[previous]


def count_invalid(life: list[Status]) -> int:
    """Status changes that do not follow from the one before them (by time), starting from requested."""
    invalid, previous = 0, "requested"
    for change in life:
        if not is_allowed(previous, change.status):
            invalid += 1
        previous = change.status
    return invalid


def draw_life(rng: random.Random, requested_at: int) -> list[Status]:
    """A valid life, possibly extending past the simulation's end (the caller cuts it)."""
    if rng.random() < n.REFERRAL_ENTERED_IN_ERROR:
        return [Status(requested_at + uniform_days(rng, 0.05, 3), "entered-in-error", None)]
    u = rng.random()
    answered_at = requested_at + answer_delay(rng)
    if u < n.REFERRAL_NEVER_ANSWERED:
        return []
    u -= n.REFERRAL_NEVER_ANSWERED
    if u < n.REFERRAL_REJECTED:
        return [Status(answered_at, "rejected", _REJECT.draw(rng))]
    u -= n.REFERRAL_REJECTED
    if u < n.REFERRAL_CANCELLED_EARLY:
        return [Status(answered_at, "cancelled", _CANCEL.draw(rng))]
    return _accepted_life(rng, answered_at)


def answer_delay(rng: random.Random) -> int:
    """Seconds from a request to its first answer."""
    if rng.random() < n.REFERRAL_ANSWERED_WITHIN_48H:
        return uniform_days(rng, 0.05, 1.95)
    return uniform_days(rng, *n.REFERRAL_LATE_ANSWER_DAYS)


def _accepted_life(rng: random.Random, accepted_at: int) -> list[Status]:
    life = [Status(accepted_at, "accepted", None)]
    if rng.random() < n.REFERRAL_STALLS_ACCEPTED:
        return life
    t = accepted_at + uniform_days(rng, 1, 10)
    life.append(Status(t, "in-progress", None))
    if rng.random() < n.REFERRAL_ON_HOLD:
        t += uniform_days(rng, 10, 60)
        life.append(Status(t, "on-hold", _HOLD.draw(rng)))
        if rng.random() < 0.7:
            t += uniform_days(rng, 7, 45)
            life.append(Status(t, "in-progress", None))
    t += uniform_days(rng, 30, 150)
    life.append(final_status(rng, t, _FINAL.draw(rng)))
    return life


def final_status(rng: random.Random, t: int, status: str) -> Status:
    reason = {"failed": _FAIL, "cancelled": _CANCEL}.get(status)
    return Status(t, status, reason.draw(rng) if reason else None)


def break_life(rng: random.Random, life: list[Status]) -> list[Status]:
    """The invalid-transitions mess: a status after a terminal one, or a missing acceptance.

    Both are common in real feeds (a worker closes a case twice; a system skips the "accepted" click).
    The caller counts the result with `count_invalid`, so the report stays exact whatever happens here.
    """
    if len(life) >= 2 and life[0].status == "accepted" and rng.random() < 0.5:
        return life[1:]  # requested -> in-progress (or completed): acceptance never recorded
    last = life[-1]
    # After a terminal status nothing may follow; after an open one, "accepted" may not come again.
    extra = rng.choice(("in-progress", "completed", "accepted")) if last.status in TERMINAL else "accepted"
    return life + [Status(last.time + uniform_days(rng, 1, 20), extra, None)]
