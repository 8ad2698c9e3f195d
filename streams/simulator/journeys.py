"""One participant's life in the network, as the events its providers record.

`plan_journey` draws a person's years from their first contact to the simulation's end: custody and
release, rearrest (custody.py), an incident or outreach contact, enrolments, referrals with their full
life (referrals.py), services, exits, outcomes and consent. It returns planned events (time, provider,
type, data) in no particular order; the caller gives them ids, send times and mess. Times are whole
seconds since the epoch (UTC).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from streams.simulator import network as n
from streams.simulator import referrals
from streams.simulator.custody import CustodyRecord, exponential_seconds
from streams.simulator.draws import Weighted, uniform_days, uuid4_from
from streams.simulator.people import Person

DAY, YEAR = n.DAY, n.YEAR
_INJURY = Weighted(n.HVIP_INJURY_TYPES)
_MEDIATION = Weighted(n.MEDIATION_OUTCOMES)
_PRIORITY = Weighted(n.PRIORITY_WEIGHTS)
_EXIT = Weighted(n.EXIT_REASONS)
_EMPLOYMENT = Weighted(n.EMPLOYMENT_AT_CHECK)
_HOUSING = Weighted(n.HOUSING_AT_EXIT)
_EDUCATION = Weighted(n.EDUCATION_AT_EXIT)
#: How a programme closes an enrolment opened for a referral, by the referral's last status.
_EXIT_FOR_STATUS = {"completed": "completed", "failed": "disengaged", "cancelled": "other"}
_RISK_BY_PATHWAY = {
    "reentry": ("moderate", "high", "high"),
    "hvip": ("high", "high", "very_high"),
    "outreach": ("moderate", "high"),
    "mediation": ("low", "moderate", "high"),
    "gvi": ("high", "very_high", "very_high"),
    "victim": ("low", "moderate"),
}


@dataclass(slots=True)
class Planned:
    """An event a provider will record: no id and no send time yet."""

    time: int
    provider_id: str
    type: str
    data: dict[str, Any]


@dataclass
class JourneyStats:
    """What the report counts about lives rather than messages."""

    #: (release time, first arrest after it or None) for every prison release: the calibration check.
    prison_releases: list[tuple[int, int | None]] = field(default_factory=list)
    invalid_transitions: int = 0
    referrals: int = 0
    consents_never: bool = False


class Journey:
    """Builds one participant's events. Use `plan_journey`."""

    def __init__(
        self,
        person: Person,
        rng: random.Random,
        network: n.Network,
        window: tuple[int, int],
        invalid_transitions: float,
        mess_rng: random.Random,
    ):
        self.person, self.rng, self.network = person, rng, network
        self.mess_rng = mess_rng  # the invalid-transitions mess draws here, so it leaves lives unchanged
        self.start, self.end = window
        self.invalid_rate = invalid_transitions
        self.events: list[Planned] = []
        self.stats = JourneyStats(consents_never=rng.random() >= n.CONSENT_NETWORK_SHARING)
        self.pick = int(person.key[:8], 16)  # which provider, where a county has several of a kind
        self.custody = CustodyRecord(rng, network.corrections_feed, self.end, self.emit)
        self.consented = False

    # --- recording -------------------------------------------------------------------------------
    def emit(self, t: int, provider_id: str, event_type: str, data: dict[str, Any]) -> bool:
        if self.start <= t <= self.end:
            self.events.append(Planned(t, provider_id, event_type, data))
            return True
        return False

    def new_id(self) -> str:
        return uuid4_from(self.rng)

    def provider(self, program: str):
        return self.network.provider_for(program, self.person.county, self.pick)

    # --- programmes --------------------------------------------------------------------------------
    def consent(self, t: int, provider_id: str, part2: bool) -> None:
        if self.stats.consents_never:
            return
        consent_id = self.new_id()
        data = {"consent_id": consent_id, "scope": "network_sharing", "part2": part2}
        if not self.emit(t, provider_id, "consent.granted", data):
            return
        self.consented = True
        if self.rng.random() < n.CONSENT_RESEARCH:
            self.emit(
                t, provider_id, "consent.granted", {**data, "consent_id": self.new_id(), "scope": "research"}
            )
        if self.rng.random() < n.CONSENT_REVOKE:
            self.emit(t + uniform_days(self.rng, 30, 730), provider_id, "consent.revoked", data)

    def enrol(
        self,
        t: int,
        provider_id: str,
        program: str,
        referral_id: str | None = None,
        risk: str | None = None,
    ) -> str | None:
        """Record an enrolment; returns its id, or None if it falls outside the window or in custody."""
        if self.custody.in_custody(t):
            return None
        person = self.person
        enrollment_id = self.new_id()
        data = {
            "enrollment_id": enrollment_id,
            "program_type": program,
            "referral_id": referral_id,
            "risk_level": risk,
            "birth_year": person.birth_year,
            "gender": person.gender,
            "race_ethnicity": list(person.race_ethnicity),
            "zip3": person.zip3,
        }
        if not self.emit(t, provider_id, "participant.enrolled", data):
            return None
        if not self.consented:
            self.consent(
                t + uniform_days(self.rng, 0, 0.1), provider_id, self.rng.random() < n.PART2_AT_FIRST_CONSENT
            )
        if program == "substance_use_treatment" and self.rng.random() < n.PART2_AT_SUD_ENROLMENT:
            self.consent(t + uniform_days(self.rng, 0, 0.1), provider_id, True)
        return enrollment_id

    def episode(
        self,
        t: int,
        provider_id: str,
        program: str,
        ends: int | None = None,
        exit_reason: str | None = None,
        referral_id: str | None = None,
        risk: str | None = None,
    ) -> tuple[int, int] | None:
        """An enrolment, its services, outcomes and exit. Returns (enrolled, exited) or None."""
        enrollment_id = self.enrol(t, provider_id, program, referral_id, risk)
        if enrollment_id is None:
            return None
        rng = self.rng
        ends = ends or t + uniform_days(rng, *n.EPISODE_DAYS)
        exit_reason = exit_reason or _EXIT.draw(rng)
        admission = self.custody.next_admission(t)
        if admission is not None and admission < ends:
            ends, exit_reason = admission + uniform_days(rng, 1, 14), "incarcerated"
        self.services(t, ends, provider_id, program, referral_id)
        self.outcomes(t, ends, provider_id, program)
        self.emit(
            ends,
            provider_id,
            "participant.exited",
            {"enrollment_id": enrollment_id, "exit_reason": exit_reason},
        )
        return t, ends

    def services(self, t: int, ends: int, provider_id: str, program: str, referral_id: str | None) -> None:
        rng, kinds = self.rng, n.SERVICES_BY_PROGRAM[program]
        t += uniform_days(rng, 0.5, 7)
        ends = min(ends, self.end + 1)
        while t < ends:
            kind = kinds[0] if rng.random() < 0.6 else rng.choice(kinds)
            minutes = None if rng.random() < 0.1 else rng.randint(15, 180)
            data = {
                "service_id": self.new_id(),
                "service_type": kind,
                "duration_minutes": minutes,
                "referral_id": referral_id,
            }
            self.emit(t, provider_id, "service.delivered", data)
            t += uniform_days(rng, *n.SERVICE_EVERY_DAYS)

    def outcomes(self, t: int, ends: int, provider_id: str, program: str) -> None:
        """Employment at 3 and 6 months of a workforce programme (and education at its exit for some:
        GED and training courses); housing status at a housing programme's start and exit."""
        rng = self.rng
        if program == "workforce":
            for days in (90, 180):
                if t + days * DAY < ends:
                    self.outcome(t + days * DAY, provider_id, "employment", _EMPLOYMENT.draw(rng))
            if rng.random() < n.EDUCATION_AT_WORKFORCE:
                self.outcome(ends, provider_id, "education", _EDUCATION.draw(rng))
        elif program == "housing":
            self.outcome(t, provider_id, "housing", "homeless" if rng.random() < 0.6 else "transitional")
            self.outcome(ends, provider_id, "housing", _HOUSING.draw(rng))
        elif program == "education":
            self.outcome(ends, provider_id, "education", _EDUCATION.draw(rng))

    def outcome(self, t: int, provider_id: str, domain: str, status: str) -> None:
        self.emit(t, provider_id, "outcome.recorded", {"domain": domain, "status": status})

    # --- referrals ---------------------------------------------------------------------------------
    def refer(self, t: int, from_id: str, program: str, service_type: str) -> None:
        target = self.provider(program)
        if target is None:
            return
        if target.provider_id == from_id:  # the same organisation runs it: an internal enrolment, no referral
            self.episode(t, from_id, program)
            return
        referral_id = self.new_id()
        data = {
            "referral_id": referral_id,
            "to_provider_id": target.provider_id,
            "service_type": service_type,
            "priority": _PRIORITY.draw(self.rng),
            "contact_prohibited": self.rng.random() < n.CONTACT_PROHIBITED,
        }
        if not self.emit(t, from_id, "referral.requested", data):
            return
        self.stats.referrals += 1
        life = self.interrupt_by_custody(referrals.draw_life(self.rng, t))
        self.answer(life, target.provider_id, program, referral_id)
        if life and self.mess_rng.random() < self.invalid_rate:
            life = referrals.break_life(self.mess_rng, life)
        life = [s for s in life if s.time <= self.end]
        self.stats.invalid_transitions += referrals.count_invalid(life)
        for change in life:
            sender = from_id if change.status in referrals.SENT_BY_REFERRER else target.provider_id
            data = {"referral_id": referral_id, "status": change.status, "status_reason": change.reason}
            self.emit(change.time, sender, "referral.status_changed", data)

    def interrupt_by_custody(self, life: list[referrals.Status]) -> list[referrals.Status]:
        """A referral open when its participant goes into custody fails: the programme loses contact."""
        if not life or life[0].status != "accepted":
            return life
        admission = self.custody.next_admission(life[0].time)
        if admission is None or admission >= life[-1].time:
            return life
        kept = [s for s in life if s.time < admission]
        failed_at = admission + uniform_days(self.rng, 7, 30)
        return kept + [referrals.Status(failed_at, "failed", "couldnt_contact")]

    def answer(self, life: list[referrals.Status], provider_id: str, program: str, referral_id: str) -> None:
        """The receiving programme's enrolment for an accepted referral, its services answering it."""
        if not life or life[0].status != "accepted" or self.rng.random() >= n.ENROL_ON_ACCEPT:
            return
        last = life[-1]
        closes = last.status in _EXIT_FOR_STATUS
        exit_reason = _EXIT_FOR_STATUS.get(last.status)
        if last.reason == "couldnt_contact" and self.custody.next_admission(life[0].time) is not None:
            exit_reason = "incarcerated"
        self.episode(
            life[0].time + uniform_days(self.rng, 0, 2),
            provider_id,
            program,
            ends=last.time if closes else None,
            exit_reason=exit_reason,
            referral_id=referral_id,
        )

    def refer_needs(self, t: int, ends: int, from_id: str, after_prison: bool) -> None:
        rng = self.rng
        for p_community, p_released, program, service_type in n.NEEDS.values():
            if rng.random() < (p_released if after_prison else p_community):
                when = t + uniform_days(rng, 3, 60)
                if when < ends:
                    self.refer(when, from_id, program, service_type)

    # --- first contacts ----------------------------------------------------------------------------
    def lead_episode(self, t: int, provider_id: str, program: str, after_prison: bool = False) -> None:
        risk_options = _RISK_BY_PATHWAY[self.person.pathway]
        risk = None if self.rng.random() < 0.1 else self.rng.choice(risk_options)
        span = self.episode(t, provider_id, program, risk=risk)
        if span is not None:
            self.refer_needs(span[0], span[1], provider_id, after_prison)

    def first_contact(self, t: int) -> None:
        rng, pathway, county = self.rng, self.person.pathway, self.person.county
        if pathway in ("mediation", "gvi") and not self.network.local_providers(_PROGRAM[pathway], county):
            pathway = "outreach"  # Tulsa has neither: its street outreach takes these people in
        program = _PROGRAM[pathway]
        provider_id = self.provider(program).provider_id
        if pathway == "hvip":
            self.injury(t, provider_id)
            if rng.random() < n.HVIP_ENROLS:
                self.lead_episode(t + uniform_days(rng, 0, 3), provider_id, program)
                if rng.random() < n.VICTIM_SERVICES_AFTER_INJURY:
                    self.refer(
                        t + uniform_days(rng, 1, 14), provider_id, "victim_services", "victim_services"
                    )
        elif pathway == "outreach":
            role = rng.choice(("at_risk", "involved"))
            incident = {
                "incident_id": self.new_id(),
                "incident_type": "retaliation_threat",
                "role": role,
                "outcome": None,
            }
            self.emit(t, provider_id, "incident.recorded", incident)
            if rng.random() < n.OUTREACH_ENROLS:
                self.lead_episode(t + uniform_days(rng, 0, 14), provider_id, program)
        elif pathway == "mediation":
            outcome = _MEDIATION.draw(rng)
            incident = {
                "incident_id": self.new_id(),
                "incident_type": "conflict_mediated",
                "role": "involved",
                "outcome": outcome,
            }
            self.emit(t, provider_id, "incident.recorded", incident)
            if outcome != "resolved":
                self.refer(t + uniform_days(rng, 1, 7), provider_id, "street_outreach", "outreach")
            if rng.random() < 0.5:
                self.lead_episode(t + uniform_days(rng, 0, 7), provider_id, program)
        else:  # gvi call-in or victim services: enrolment is the first record
            self.lead_episode(t, provider_id, program)

    def injury(self, t: int, provider_id: str) -> None:
        incident = {
            "incident_id": self.new_id(),
            "incident_type": _INJURY.draw(self.rng),
            "role": "victim",
            "outcome": None,
        }
        self.emit(t, provider_id, "incident.recorded", incident)

    def reinjuries(self, t: int) -> None:
        """Violent reinjury while free: recorded by the county's trauma centre programme."""
        hvip = self.provider("hospital_violence_intervention").provider_id
        while True:
            t += exponential_seconds(self.rng, n.REINJURY_PER_YEAR)
            if t > self.end:
                return
            if not self.custody.in_custody(t):
                self.injury(t, hvip)
                if self.rng.random() < 0.4:
                    self.episode(
                        t + uniform_days(self.rng, 0, 3),
                        hvip,
                        "hospital_violence_intervention",
                        risk="very_high",
                    )

    def reentry(self, released: int) -> None:
        if self.rng.random() < n.REENTRY_ENROLS:
            provider_id = self.provider("reentry").provider_id
            self.lead_episode(
                released + uniform_days(self.rng, 1, 21), provider_id, "reentry", after_prison=True
            )


_PROGRAM = {
    "reentry": "reentry",
    "hvip": "hospital_violence_intervention",
    "outreach": "street_outreach",
    "mediation": "conflict_mediation",
    "gvi": "group_violence_intervention",
    "victim": "victim_services",
}


def draw_entry(rng: random.Random, window: tuple[int, int]) -> int:
    """When a participant first meets the network: uniform over the window, a month before its end at
    the latest (so that even the last participants have a few events)."""
    start, end = window
    return start + int(rng.random() * max(end - start - 30 * DAY, DAY))


def plan_journey(
    person: Person,
    entry: int,
    rng: random.Random,
    network: n.Network,
    window: tuple[int, int],
    invalid_transitions: float,
    mess_rng: random.Random,
) -> tuple[list[Planned], JourneyStats]:
    """Every event of one participant's years in the network (within `window`), and its statistics."""
    journey = Journey(person, rng, network, window, invalid_transitions, mess_rng)
    prison_releases = journey.custody.draw(entry, released_at_entry=person.pathway == "reentry")
    if person.pathway != "reentry":
        journey.first_contact(entry)
        journey.reinjuries(entry)
    for released in prison_releases:
        journey.reentry(released)
    journey.stats.prison_releases = journey.custody.prison_releases
    return journey.events, journey.stats
