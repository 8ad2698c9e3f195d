"""A Consent (SDOHCC Consent on R4 Consent, all its versions) -> `consent.granted` / `consent.revoked`.

A version is a grant when it is `active` with a `permit` provision (or none); it is a revocation when it
is `inactive` or `entered-in-error` (withdrawn, or never valid: the careful reading for privacy) or
`active` with a `deny` provision. `draft`, `proposed` and `rejected` consents were never in force and
send nothing. An event is sent each time the state changes from one version to the next.

The provider whose consent it is (Consent.organization, when given) sends it; without one, the
importing provider does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streams.adapters.common import record_uuid
from streams.adapters.fhir.context import ImportContext, Outgoing, Unmappable, as_utc, codings, last_updated
from streams.adapters.fhir.export import label
from streams.adapters.fhir.vocabulary import PART2_CODES, V3_ACT_CODE

GRANTED, REVOKED = "consent.granted", "consent.revoked"


@dataclass
class ConsentMapping:
    events: list[Outgoing] = field(default_factory=list)
    left_to: list[tuple[str, str]] = field(default_factory=list)


def map_consent(ctx: ImportContext, history: list[Any]) -> ConsentMapping:
    latest = history[-1]
    where = label(latest)
    mapping = ConsentMapping()
    if latest.organization:
        custodian = ctx.provider_of(latest.organization[0], f"{where}.organization")
        if custodian != ctx.provider_id:
            mapping.left_to.append((f"{where}: the consent", custodian))
            return mapping
    scope = ctx.vocabulary.consent_scope(codings(latest.scope))
    if scope is None:
        raise Unmappable(f"{where}: Consent.scope maps to no contract scope (network_sharing, research)")
    subject = ctx.participant_key_of(latest.patient, f"{where}.patient")
    consent_id = record_uuid(ctx.namespace, ctx.provider_id, "consent", where)
    previous, entered = None, Counter()
    for version in history:
        state = _state(version)
        if state is None or state == previous:
            continue
        previous = state
        entered[state] += 1
        version_where = f"{where} version {version.meta.versionId if version.meta else '?'}"
        mapping.events.append(
            Outgoing(
                event_type=state,
                subject=subject,
                data={"consent_id": consent_id, "scope": scope, "part2": _part2(version)},
                time=_when(version, state, version_where),
                event_id=ctx.event_id(state, where, str(entered[state])),
                origin=version_where,
            )
        )
    return mapping


def _state(version: Any) -> str | None:
    if version.status in ("inactive", "entered-in-error"):
        return REVOKED
    if version.status != "active":
        return None
    provision_type = version.provision.type if version.provision else None
    return REVOKED if provision_type == "deny" else GRANTED


def _when(version: Any, state: str, where: str):
    # A grant happened when the consent was given (Consent.dateTime); a withdrawal when the record changed.
    if state == GRANTED or (version.provision and version.provision.type == "deny"):
        when = as_utc(version.dateTime) or last_updated(version)
    else:
        when = last_updated(version)
    if when is None:
        raise Unmappable(f"{where}: no dateTime nor meta.lastUpdated: when the consent changed is unknown")
    return when


def _part2(version: Any) -> bool:
    """Covers 42 CFR Part 2 records: a policyRule or a provision securityLabel says so (v3-ActCode)."""
    labels = list(codings(version.policyRule))
    if version.provision:
        labels += version.provision.securityLabel or []
    return any(c.system == V3_ACT_CODE and c.code in PART2_CODES for c in labels)
