"""The simulated network: which provider plays which part, and every rate the journeys use.

Rates are module constants so that docs/simulator.md can name each one and its source, and tests can
hold the simulator to them. Figures marked "assumption" are design choices, not published numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.directory import Provider

DAY = 86_400
YEAR = 365 * DAY

# --- Where participants live: the two counties of the directory ------------------------------------
#: Oklahoma County (~800k residents) and Tulsa County (~680k), Census 2020, rounded.
COUNTY_WEIGHTS = {"Oklahoma": 0.55, "Tulsa": 0.45}
#: First three digits of the ZIP codes of Oklahoma City (730/731) and Tulsa (740/741).
ZIP3_BY_COUNTY = {"Oklahoma": ("731", "731", "730"), "Tulsa": ("741", "741", "740")}
ZIP3_MISSING = 0.05  # assumption: intake forms without an address

# --- Who they are --------------------------------------------------------------------------------
#: Race and ethnicity, Oklahoma (U.S. Census Bureau, 2020 Census and QuickFacts Oklahoma, rounded):
#: American Indian/Alaska Native ~9-10% alone and ~16% alone or in combination, Black ~7.8%, Asian ~2.5%,
#: Native Hawaiian/Pacific Islander ~0.2%, Hispanic or Latino (any race) ~12.5%, White the rest. Black
#: participants are weighted up 2.5x (assumption: Black Oklahomans are over-represented among victims of
#: firearm violence and in prison); the weights are renormalised when drawn.
RACE_ALONE_WEIGHTS = {
    "white": 0.65,
    "american_indian_alaska_native": 0.095,
    "black_african_american": 0.078 * 2.5,
    "asian": 0.025,
    "native_hawaiian_pacific_islander": 0.002,
    "middle_eastern_north_african": 0.005,
}
#: Share with a second race: most often American Indian in combination with White or Black (Census
#: 2020: AIAN "alone or in combination" is ~16% of Oklahomans against ~9% "alone").
SECOND_RACE_AIAN = 0.07
HISPANIC = 0.125
RACE_NOT_RECORDED = 0.03  # assumption: empty race_ethnicity array
#: Gender: CVI and reentry caseloads are mostly young men (assumption).
GENDER_WEIGHTS = {"male": 0.80, "female": 0.18, "nonbinary": 0.005, "other": 0.005, "unknown": 0.01}
AGE_AT_ENTRY = (16, 45)  # uniform-ish, skewed young (see people.py)
BIRTH_YEAR_MISSING = 0.02

# --- How they come into the network ----------------------------------------------------------------
#: Share of participants by first contact (assumption, shaped on the network's mix of programmes).
PATHWAY_WEIGHTS = {
    "reentry": 0.35,  # released from prison, picked up by a reentry programme
    "hvip": 0.20,  # violently injured, met at the bedside by a trauma centre HVIP
    "outreach": 0.22,  # street outreach contact
    "mediation": 0.08,  # conflict mediation (Oklahoma County only; Tulsa falls back to outreach)
    "gvi": 0.08,  # group violence intervention call-in (Oklahoma County only)
    "victim": 0.07,  # victim services
}
HVIP_ENROLS = 0.65  # assumption: HVIPs report enrolling most of the patients they approach
OUTREACH_ENROLS = 0.75  # assumption
HVIP_INJURY_TYPES = {"gunshot_injury": 0.55, "stab_injury": 0.2, "assault_injury": 0.25}
MEDIATION_OUTCOMES = {"resolved": 0.6, "ongoing": 0.3, "escalated": 0.1}

# --- Consent ---------------------------------------------------------------------------------------
CONSENT_NETWORK_SHARING = 0.85  # assumption: most grant network_sharing at first enrolment
CONSENT_RESEARCH = 0.25  # of those, share who also grant research use
CONSENT_REVOKE = 0.04  # of grants, share revoked later (within 2 years)
PART2_AT_SUD_ENROLMENT = 0.8  # SUD programme asks for a Part 2 consent when it enrols someone
PART2_AT_FIRST_CONSENT = 0.05

# --- Needs that lead to referrals (assumption; reentry needs after Urban Institute "Returning Home") --
NEEDS = {
    # need: (probability, probability if released from prison, program_type, service_type)
    "behavioral_health": (0.30, 0.35, "behavioral_health", "behavioral_health"),
    "substance_use": (0.20, 0.35, "substance_use_treatment", "substance_use_treatment"),
    "housing": (0.25, 0.50, "housing", "housing"),
    "employment": (0.40, 0.65, "workforce", "employment"),
    "legal_aid": (0.15, 0.40, "legal_aid", "legal_aid"),
    "victim_services": (0.10, 0.02, "victim_services", "victim_services"),
}
VICTIM_SERVICES_AFTER_INJURY = 0.45  # HVIP patients referred to victim services
CONTACT_PROHIBITED = 0.03
PRIORITY_WEIGHTS = {"routine": 0.7, "urgent": 0.2, "asap": 0.08, "stat": 0.02}

# --- The life of a referral (assumption) -------------------------------------------------------------
REFERRAL_NEVER_ANSWERED = 0.10
REFERRAL_REJECTED = 0.12
REFERRAL_CANCELLED_EARLY = 0.03
REFERRAL_ENTERED_IN_ERROR = 0.01
REFERRAL_STALLS_ACCEPTED = 0.05  # accepted, then no further status
REFERRAL_ON_HOLD = 0.15
REFERRAL_FINAL = {"completed": 0.62, "failed": 0.31, "cancelled": 0.07}
#: First answer (accepted, rejected or cancelled): most inside the 48 hours the warehouse measures, the
#: rest up to three weeks late, so referral_response_48h lands near 60% rather than at either extreme.
REFERRAL_ANSWERED_WITHIN_48H = 0.6
REFERRAL_LATE_ANSWER_DAYS = (2, 21)
REJECT_REASONS = {
    "not_eligible": 0.35,
    "no_capacity": 0.3,
    "couldnt_contact": 0.2,
    "referred_elsewhere": 0.1,
    "other": 0.05,
}
HOLD_REASONS = {"needs_client_action": 0.6, "no_capacity": 0.4}
FAIL_REASONS = {"couldnt_contact": 0.45, "no_longer_interested": 0.4, "needs_client_action": 0.15}
CANCEL_REASONS = {"no_longer_interested": 0.5, "referred_elsewhere": 0.4, "other": 0.1}
ENROL_ON_ACCEPT = 0.85  # the receiving programme opens an enrolment for an accepted referral

# --- Programme episodes ----------------------------------------------------------------------------
EPISODE_DAYS = (60, 300)  # assumption: 2-10 months in a programme
SERVICE_EVERY_DAYS = (7, 35)  # assumption: a contact every one to five weeks
EXIT_REASONS = {"completed": 0.5, "disengaged": 0.35, "moved": 0.05, "transferred": 0.05, "other": 0.05}

# --- Custody and rearrest --------------------------------------------------------------------------
#: Time to first rearrest after a prison release, as cumulative probabilities by year. BJS, "Recidivism
#: of Prisoners Released in 34 States in 2012: A 5-Year Follow-Up Period (2012-2017)" (Durose &
#: Antenangeli, NCJ 255947, 2021): 62% arrested within 3 years, 71% within 5. BJS does not give a
#: one-year figure for that cohort in its summary; we take one third (the 2005 cohort's was 44%, and
#: arrest risk is highest in the first year), which with 62% at 3 years gives ~25% per year in years 2-3.
REARREST_CUMULATIVE = ((1, 1 / 3), (3, 0.62), (5, 0.71), (10, 0.82))
#: Share of rearrests that lead to a prison admission, and technical revocations without an arrest:
#: together ~39% back in prison within 3 years (BJS NCJ 255947: 39% within 3 years, 46% within 5).
PRISON_AFTER_ARREST = 0.50
REVOCATION_PER_YEAR = 0.03
#: Arrest risk of participants who did not come from prison (assumption: a high-risk community caseload).
COMMUNITY_ARREST_PER_YEAR = 0.12
PRISON_TERM_DAYS = (180, 1095)
PRIOR_PRISON_TERM_DAYS = (365, 1460)
JAIL_DAYS = (1, 45)
CHARGE_WEIGHTS = {"violent": 0.2, "property": 0.3, "drug": 0.25, "public_order": 0.2, "other": 0.05}
PRISON_RELEASE_REASONS = {
    "released_to_supervision": 0.55,
    "sentence_served": 0.3,
    "conditional_release": 0.15,
}
JAIL_RELEASE_REASONS = {"bond": 0.55, "charges_dismissed": 0.2, "sentence_served": 0.25}
REENTRY_ENROLS = 0.8  # released people who enrol with a reentry programme (assumption)

# --- Reinjury and outcomes -------------------------------------------------------------------------
#: Violent reinjury: Kaufman et al., "Recurrent violent injury", Am J Emerg Med 2016: 11.1% within
#: ~2 years in Florida (studies range 0.8%-44%). 5% a year gives ~10% over two years.
REINJURY_PER_YEAR = 0.05
#: Employment after a workforce programme: Looney & Turner (Brookings, 2018): 55% of people released
#: from prison have any earnings in their first full year out. Recorded at 3 and 6 months.
EMPLOYMENT_AT_CHECK = {"employed_full_time": 0.30, "employed_part_time": 0.22, "unemployed": 0.48}
#: Housing status at a housing programme's exit (assumption, in line with HUD rapid re-housing exits).
HOUSING_AT_EXIT = {"stable": 0.6, "transitional": 0.25, "homeless": 0.15}
EDUCATION_AT_WORKFORCE = 0.25  # assumption: workforce participants also in a GED or training course
EDUCATION_AT_EXIT = {"enrolled": 0.4, "credential_earned": 0.25, "not_enrolled": 0.35}

# --- Data entry: when a provider's system sends what happened ---------------------------------------
#: Lag from an event's time to its sending, in hours (median, cap). The corrections feed is a nightly
#: batch. Every normal lag stays under LATE_AFTER so that only the "late" mess is late.
ENTRY_LAG_HOURS = (2.0, 36.0)
FEED_BATCH_HOUR = 2  # the corrections feed sends at 02:00 UTC the next night

#: A program type's service types (the first is the most common).
SERVICES_BY_PROGRAM = {
    "street_outreach": ("outreach", "mentoring", "case_management", "transportation"),
    "hospital_violence_intervention": ("case_management", "medical", "mentoring", "benefits"),
    "group_violence_intervention": ("case_management", "mentoring", "outreach"),
    "conflict_mediation": ("mediation", "outreach"),
    "behavioral_health": ("behavioral_health", "case_management"),
    "substance_use_treatment": ("substance_use_treatment", "behavioral_health", "medical"),
    "housing": ("housing", "case_management", "benefits"),
    "workforce": ("employment", "education", "transportation"),
    "education": ("education",),
    "legal_aid": ("legal_aid",),
    "reentry": ("reentry_planning", "case_management", "benefits", "transportation"),
    "victim_services": ("victim_services", "case_management", "behavioral_health"),
}

#: Program types the simulator needs a provider for (besides the corrections feed).
REQUIRED_PROGRAMS = (
    "street_outreach",
    "hospital_violence_intervention",
    "conflict_mediation",
    "group_violence_intervention",
    "behavioral_health",
    "substance_use_treatment",
    "housing",
    "workforce",
    "legal_aid",
    "reentry",
    "victim_services",
)


class NetworkError(ValueError):
    """The provider directory lacks a provider the simulated network needs."""


class Network:
    """The directory seen by the simulator: who runs which programme in which county."""

    def __init__(self, providers: tuple[Provider, ...], corrections_feed: str):
        self.providers = providers
        self.corrections_feed = corrections_feed
        self._by_program: dict[str, tuple[Provider, ...]] = {}
        for provider in providers:
            for program_type in provider.program_types:
                self._by_program[program_type] = (*self._by_program.get(program_type, ()), provider)

    @classmethod
    def from_directory(cls, directory: Mapping[str, Provider]) -> Network:
        providers = tuple(directory.values())
        feeds = [p.provider_id for p in providers if p.publishes_custody_events]
        if not feeds:
            raise NetworkError("the provider directory has no provider with publishes_custody_events=true")
        missing = [t for t in REQUIRED_PROGRAMS if not any(t in p.program_types for p in providers)]
        if missing:
            raise NetworkError(f"the provider directory has no provider for: {', '.join(missing)}")
        return cls(providers=providers, corrections_feed=feeds[0])

    def local_providers(self, program_type: str, county: str) -> tuple[Provider, ...]:
        return tuple(p for p in self._by_program.get(program_type, ()) if p.county == county)

    def provider_for(self, program_type: str, county: str, pick: int = 0) -> Provider | None:
        """A provider of the programme in the county, else elsewhere (people travel for it). When there
        are several, `pick` (a number fixed per participant) chooses, so each person keeps theirs."""
        candidates = self.local_providers(program_type, county) or self._by_program.get(program_type, ())
        return candidates[pick % len(candidates)] if candidates else None
