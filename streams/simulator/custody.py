"""Custody and arrests of one participant: what the corrections feed publishes about them.

After a prison release the first arrest follows BJS's cumulative rearrest curve (network.py); people on
supervision may also be revoked to prison without an arrest. Half of arrests lead to prison, the rest to
a short jail stay. Between custody stays the participant is free, and programmes can reach them.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from streams.simulator import network as n
from streams.simulator.draws import Weighted, uniform_days

_CHARGE = Weighted(n.CHARGE_WEIGHTS)
_PRISON_RELEASE = Weighted(n.PRISON_RELEASE_REASONS)
_JAIL_RELEASE = Weighted(n.JAIL_RELEASE_REASONS)
_NEVER = 10**12  # seconds: an event that does not happen within any window

Emit = Callable[[int, str, str, dict[str, Any]], bool]


def draw_years_to_rearrest(rng: random.Random) -> float:
    """Years from a prison release to the first arrest, from BJS's cumulative curve (piecewise constant
    hazard between the curve's points; after the last point the last hazard continues)."""
    u, previous_year, previous_p = rng.random(), 0.0, 0.0
    for year, p in n.REARREST_CUMULATIVE:
        if u < p:
            hazard = math.log((1 - previous_p) / (1 - p)) / (year - previous_year)
            return previous_year + math.log((1 - previous_p) / (1 - u)) / hazard
        previous_year, previous_p = year, p
    year0, p0 = n.REARREST_CUMULATIVE[-2]
    hazard = math.log((1 - p0) / (1 - previous_p)) / (previous_year - year0)
    return previous_year + math.log((1 - previous_p) / (1 - u)) / hazard


def exponential_seconds(rng: random.Random, per_year: float) -> int:
    return int(rng.expovariate(per_year) * n.YEAR)


class CustodyRecord:
    """One participant's custody stays, drawn once, then asked by the programmes: free or not?"""

    def __init__(self, rng: random.Random, feed: str, end: int, emit: Emit):
        self.rng, self.feed, self.end, self.emit = rng, feed, end, emit
        self.admissions: list[int] = []  # sorted times of custody admissions
        self.releases: list[int] = []  # release time of each admission (may be after the end)
        #: (release time, first arrest within the window or None) of every prison release.
        self.prison_releases: list[tuple[int, int | None]] = []

    def in_custody(self, t: int) -> bool:
        i = bisect_right(self.admissions, t) - 1
        return i >= 0 and t < self.releases[i]

    def next_admission(self, t: int) -> int | None:
        i = bisect_right(self.admissions, t)
        return self.admissions[i] if i < len(self.admissions) else None

    def stay(self, admitted: int, released: int, facility: str, reason: str) -> None:
        self.admissions.append(admitted)
        self.releases.append(released)
        self.emit(
            admitted, self.feed, "custody.admitted", {"facility_type": facility, "admission_reason": reason}
        )
        release_reason = (_PRISON_RELEASE if facility == "prison" else _JAIL_RELEASE).draw(self.rng)
        data = {"facility_type": facility, "release_reason": release_reason}
        self.emit(released, self.feed, "custody.released", data)

    def arrest(self, t: int) -> None:
        self.emit(t, self.feed, "justice.arrested", {"charge_category": _CHARGE.draw(self.rng)})

    def draw(self, entry: int, released_at_entry: bool) -> list[int]:
        """Arrests and custody from `entry` to the end; returns the times of prison releases.

        `released_at_entry`: the participant leaves prison at `entry`, after a sentence that began years
        before (its admission is sent only if it falls inside the window)."""
        rng, prison_releases = self.rng, []
        t, after_prison = entry, released_at_entry
        if released_at_entry:
            admitted = entry - uniform_days(rng, *n.PRIOR_PRISON_TERM_DAYS)
            self.arrest(admitted - uniform_days(rng, 0, 3))
            self.stay(admitted, entry, "prison", "new_charge")
        while t < self.end:
            if after_prison:
                prison_releases.append(t)
                to_arrest = int(draw_years_to_rearrest(rng) * n.YEAR)
                to_revocation = exponential_seconds(rng, n.REVOCATION_PER_YEAR)
            else:
                to_arrest = exponential_seconds(rng, n.COMMUNITY_ARREST_PER_YEAR)
                to_revocation = _NEVER
            if to_revocation < to_arrest:  # back to prison on a technical violation, no arrest
                if after_prison:
                    self.prison_releases.append((t, None))
                admitted = t + to_revocation
                if admitted > self.end:
                    break
                t = admitted + uniform_days(rng, 180, 540)
                self.stay(admitted, t, "prison", "revocation")
                continue
            arrested = t + to_arrest
            if after_prison:
                self.prison_releases.append((t, arrested if arrested <= self.end else None))
            if arrested > self.end:
                break
            t, after_prison = self.after_arrest(arrested)
        return prison_releases

    def after_arrest(self, arrested: int) -> tuple[int, bool]:
        """The arrest and the custody it leads to; returns (release time, whether it was prison)."""
        rng = self.rng
        self.arrest(arrested)
        admitted = arrested + uniform_days(rng, 0, 0.5)
        to_prison = rng.random() < n.PRISON_AFTER_ARREST
        if to_prison:
            released = admitted + uniform_days(rng, *n.PRISON_TERM_DAYS)
            self.stay(admitted, released, "prison", "new_charge")
        else:
            released = admitted + uniform_days(rng, *n.JAIL_DAYS)
            self.stay(admitted, released, "jail", "new_charge" if rng.random() < 0.6 else "temporary_custody")
        return released, to_prison
