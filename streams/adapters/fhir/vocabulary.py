"""From FHIR codes to the contract's vocabularies (docs/adapters.md, "FHIR referrals").

Every table maps a coding, written `system|code`, to a contract value. The defaults below cover the
Gravity SDOH Clinical Care category codes and one code system per vocabulary under `urn:continuum:`
whose codes are the contract's own values (a provider that can code its resources that way needs no
mapping file). A provider adds or overrides entries in a small TOML mapping file (`--mapping`):

    [organizations]    # "system|value" of an Organization identifier -> provider id
    "http://hl7.org/fhir/sid/us-npi|1234567893" = "okc-reentry"
    [service_types]    # "system|code" of a ServiceRequest code or category -> service_type
    [status_reasons]   # "system|code" of a Task.statusReason coding -> status_reason
    [consent_scopes]   # "system|code" of a Consent.scope coding -> scope
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.contract import enum_values

#: An Organization identifier in this system has the provider id as its value.
PROVIDER_IDENTIFIER_SYSTEM = "urn:continuum:provider"
#: Code systems whose codes are the contract's own values.
SERVICE_TYPE_SYSTEM = "urn:continuum:service-type"
STATUS_REASON_SYSTEM = "urn:continuum:referral-status-reason"
CONSENT_SCOPE_SYSTEM = "urn:continuum:consent-scope"
#: Extension on a ServiceRequest: valueBoolean true = the receiving provider must not contact the person.
CONTACT_PROHIBITED_EXTENSION = "urn:continuum:fhir:contact-prohibited"

SDOHCC_CATEGORIES = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
CONSENT_SCOPES = "http://terminology.hl7.org/CodeSystem/consentscope"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TASK_CODES = "http://hl7.org/fhir/CodeSystem/task-code"

#: Gravity SDOH categories (ServiceRequest.category) -> the contract's service_type. Categories with no
#: fair counterpart (veteran status, literacy, social connection, unspecified) are left out on purpose:
#: such a request needs a more specific code, or an entry in the provider's mapping file.
SDOH_CATEGORY_SERVICE_TYPES = {
    "homelessness": "housing",
    "housing-instability": "housing",
    "inadequate-housing": "housing",
    "transportation-insecurity": "transportation",
    "food-insecurity": "benefits",
    "financial-insecurity": "benefits",
    "material-hardship": "benefits",
    "health-insurance-coverage-status": "benefits",
    "employment-status": "employment",
    "educational-attainment": "education",
    "intimate-partner-violence": "victim_services",
    "elder-abuse": "victim_services",
    "stress": "behavioral_health",
}

#: Consent.scope (R4 consentscope) -> the contract's scope. `treatment` and `adr` have none.
CONSENT_SCOPE_CODES = {"patient-privacy": "network_sharing", "research": "research"}

#: Codes that put a consent under 42 CFR Part 2 (Consent.policyRule or provision.securityLabel, v3-ActCode).
PART2_CODES = frozenset({"42CFRPart2", "ETH"})

#: FHIR task-status codes that have no referral.status_changed: the request itself is referral.requested,
#: and draft, received and ready are steps the contract's referral life does not record.
STATUSES_WITHOUT_EVENT = frozenset({"draft", "requested", "received", "ready"})
#: The contract's statuses that need a status_reason (events-v1, referral.status_changed).
STATUSES_WITH_REASON = frozenset({"rejected", "on-hold", "failed", "cancelled"})
#: Statuses the referring provider sends; the receiving provider sends every other one (events-v1).
REFERRER_STATUSES = frozenset({"cancelled", "entered-in-error"})
PRIORITIES = frozenset(enum_values("referral.requested", "priority"))


class MappingFileError(ValueError):
    """The provider's mapping file is malformed or names a value the contract does not have."""


def _identity(system: str, values: Iterable[str]) -> dict[str, str]:
    return {f"{system}|{v}": v for v in values}


@dataclass(frozen=True)
class Vocabulary:
    """Every coding table the adapter uses: the defaults, then the provider's own entries on top."""

    organizations: Mapping[str, str] = field(default_factory=dict)
    service_types: Mapping[str, str] = field(default_factory=dict)
    status_reasons: Mapping[str, str] = field(default_factory=dict)
    consent_scopes: Mapping[str, str] = field(default_factory=dict)

    def service_type(self, codings: Iterable[Any]) -> str | None:
        return _first_mapped(codings, self.service_types)

    def status_reason(self, codings: Iterable[Any]) -> str | None:
        return _first_mapped(codings, self.status_reasons)

    def consent_scope(self, codings: Iterable[Any]) -> str | None:
        return _first_mapped(codings, self.consent_scopes)


def _first_mapped(codings: Iterable[Any], table: Mapping[str, str]) -> str | None:
    for coding in codings:
        hit = table.get(f"{coding.system}|{coding.code}")
        if hit is not None:
            return hit
    return None


def default_vocabulary() -> Vocabulary:
    return Vocabulary(
        organizations={},
        service_types={
            **{f"{SDOHCC_CATEGORIES}|{c}": s for c, s in SDOH_CATEGORY_SERVICE_TYPES.items()},
            **_identity(SERVICE_TYPE_SYSTEM, enum_values("referral.requested", "service_type")),
        },
        status_reasons=_identity(
            STATUS_REASON_SYSTEM, enum_values("referral.status_changed", "status_reason")
        ),
        consent_scopes={
            **{f"{CONSENT_SCOPES}|{c}": s for c, s in CONSENT_SCOPE_CODES.items()},
            **_identity(CONSENT_SCOPE_SYSTEM, enum_values("consent.granted", "scope")),
        },
    )


def load_vocabulary(path: Path | None, provider_ids: Iterable[str]) -> Vocabulary:
    """The defaults with the mapping file's entries on top; every value is checked against the contract."""
    base = default_vocabulary()
    if path is None:
        return base
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingFileError(f"mapping file {path}: {exc}") from exc
    allowed = {
        "organizations": frozenset(provider_ids),
        "service_types": frozenset(enum_values("referral.requested", "service_type")),
        "status_reasons": frozenset(enum_values("referral.status_changed", "status_reason")),
        "consent_scopes": frozenset(enum_values("consent.granted", "scope")),
    }
    unknown = sorted(set(document) - set(allowed))
    if unknown:
        raise MappingFileError(f"mapping file {path}: unknown section(s) {unknown}; known: {sorted(allowed)}")
    tables = {}
    for section, values in allowed.items():
        entries = document.get(section, {})
        for key, value in entries.items():
            if "|" not in key:
                raise MappingFileError(f"mapping file {path}: [{section}] key {key!r} must be 'system|code'")
            if value not in values:
                raise MappingFileError(
                    f"mapping file {path}: [{section}] {key!r} = {value!r} is not one of {sorted(values)}"
                )
        tables[section] = {**getattr(base, section), **entries}
    return Vocabulary(**tables)
