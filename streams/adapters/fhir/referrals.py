"""A Gravity referral Task (SDOHCC-TaskForReferralManagement, all its versions) and the ServiceRequest it
focuses on -> `referral.requested` and `referral.status_changed`.

Who sends what follows events-v1: the referring provider (Task.requester) sends the request and the
statuses `cancelled` and `entered-in-error`; the receiving provider (Task.owner) sends every other status.
The importing provider sends its own part and leaves the rest to the other one, so that both can import
their copy of the same Task without the warehouse seeing a status twice.

A Task is mapped whole or not at all: if any part of it cannot be mapped, nothing of it is sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streams.adapters.common import record_uuid
from streams.adapters.fhir.context import ImportContext, Outgoing, Unmappable, as_utc, codings, last_updated
from streams.adapters.fhir.export import label
from streams.adapters.fhir.vocabulary import (
    CONTACT_PROHIBITED_EXTENSION,
    PRIORITIES,
    REFERRER_STATUSES,
    STATUSES_WITH_REASON,
    STATUSES_WITHOUT_EVENT,
    TASK_CODES,
)
from streams.contract import enum_values

CONTRACT_STATUSES = frozenset(enum_values("referral.status_changed", "status"))


@dataclass
class TaskMapping:
    """What one Task gives the importing provider: events to send, changes left to another provider,
    and notes (mapped, but with a default the provider may want to know about)."""

    events: list[Outgoing] = field(default_factory=list)
    left_to: list[tuple[str, str]] = field(default_factory=list)  # (what, provider id)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Parties:
    requester: str
    owner: str
    referral_id: str
    focus: tuple[str, str]


def map_task(ctx: ImportContext, history: list[Any]) -> TaskMapping:
    """Every event the importing provider sends for this Task (all versions, oldest first)."""
    latest = history[-1]
    where = label(latest)
    parties = _parties(ctx, latest)
    mapping = TaskMapping()
    if ctx.provider_id not in (parties.requester, parties.owner):
        mapping.left_to.append((f"{where}: the whole referral", f"{parties.requester}, {parties.owner}"))
        return mapping
    subject = ctx.participant_key_of(latest.for_fhir, f"{where}.for")
    if ctx.provider_id == parties.requester:
        mapping.events.append(_requested(ctx, history, parties, subject))
    else:
        mapping.left_to.append((f"{where}: the request", parties.requester))
    _status_changes(ctx, history, parties, subject, mapping)
    return mapping


def _parties(ctx: ImportContext, task: Any) -> _Parties:
    where = label(task)
    task_codes = [c for c in codings(task.code) if c.system == TASK_CODES]
    if task_codes and not any(c.code == "fulfill" for c in task_codes):
        raise Unmappable(f"{where}: Task.code is {task_codes[0].code!r}, not 'fulfill': not a referral Task")
    focus = ctx.export.resolve_key(task.focus.reference if task.focus else None)
    if focus is None or focus[0] != "ServiceRequest":
        raise Unmappable(f"{where}: Task.focus does not reference a ServiceRequest: not a referral Task")
    service_request = ctx.export.latest(focus)
    requester = ctx.provider_of(task.requester, f"{where}.requester")
    owner_reference = task.owner
    if owner_reference is None and service_request is not None and service_request.performer:
        owner_reference = service_request.performer[0]
    owner = ctx.provider_of(owner_reference, f"{where}.owner")
    # Both providers must derive the same referral id from their own copies: the referrer's provider id
    # and the ServiceRequest's id on the referrer's server (the Task's focus) are what both copies share.
    referral_id = record_uuid(ctx.namespace, requester, "referral", f"{focus[0]}/{focus[1]}")
    return _Parties(requester=requester, owner=owner, referral_id=referral_id, focus=focus)


def _requested(ctx: ImportContext, history: list[Any], parties: _Parties, subject: str) -> Outgoing:
    first = history[0]
    where = label(first)
    service_request = ctx.export.latest(parties.focus)
    if service_request is None:
        raise Unmappable(f"{where}: its ServiceRequest/{parties.focus[1]} is not in the file")
    service_type = ctx.vocabulary.service_type(codings(service_request.code, service_request.category))
    if service_type is None:
        raise Unmappable(
            f"{label(service_request)}: no code or category maps to a contract service_type "
            "(add one to the mapping file's [service_types])"
        )
    priority = service_request.priority or first.priority or "routine"  # FHIR: absent means routine
    if priority not in PRIORITIES:
        raise Unmappable(f"{label(service_request)}: priority {priority!r} is not a FHIR request priority")
    when = (
        as_utc(first.authoredOn)
        or as_utc(service_request.authoredOn)
        or as_utc(first.lastModified)
        or last_updated(first)
    )
    if when is None:
        raise Unmappable(
            f"{where}: no authoredOn, lastModified nor meta.lastUpdated: when it was requested is unknown"
        )
    return Outgoing(
        event_type="referral.requested",
        subject=subject,
        data={
            "referral_id": parties.referral_id,
            "to_provider_id": parties.owner,
            "service_type": service_type,
            "priority": priority,
            "contact_prohibited": _contact_prohibited(service_request),
        },
        time=when,
        event_id=ctx.event_id("referral.requested", where),
        origin=where,
    )


def _contact_prohibited(service_request: Any) -> bool:
    return any(
        e.url == CONTACT_PROHIBITED_EXTENSION and e.valueBoolean is True
        for e in service_request.extension or []
    )


def _status_changes(
    ctx: ImportContext, history: list[Any], parties: _Parties, subject: str, mapping: TaskMapping
) -> None:
    """One event each time the status differs from the version before (a version that changes only a
    note sends nothing). Ids count how often the Task entered that status, so a later export, with more
    versions or with only the current one, gives the same ids for the changes already sent."""
    previous, entered = None, Counter()
    for version in history:
        status = version.status
        if status == previous:
            continue
        previous = status
        where = f"{label(version)} version {version.meta.versionId if version.meta else '?'}"
        if status in STATUSES_WITHOUT_EVENT:
            continue
        if status not in CONTRACT_STATUSES:
            raise Unmappable(f"{where}: status {status!r} is not a FHIR task status")
        entered[status] += 1
        sender = parties.requester if status in REFERRER_STATUSES else parties.owner
        if sender != ctx.provider_id:
            mapping.left_to.append((f"{where}: status {status}", sender))
            continue
        when = as_utc(version.lastModified) or last_updated(version)
        if when is None:
            raise Unmappable(
                f"{where}: no lastModified nor meta.lastUpdated: when the status changed is unknown"
            )
        mapping.events.append(
            Outgoing(
                event_type="referral.status_changed",
                subject=subject,
                data={
                    "referral_id": parties.referral_id,
                    "status": status,
                    "status_reason": _reason(ctx, version, status, where, mapping),
                },
                time=when,
                event_id=ctx.event_id(
                    "referral.status_changed", label(version), status, str(entered[status])
                ),
                origin=where,
            )
        )


def _reason(ctx: ImportContext, version: Any, status: str, where: str, mapping: TaskMapping) -> str | None:
    if status not in STATUSES_WITH_REASON:
        return None
    reason = ctx.vocabulary.status_reason(codings(version.statusReason))
    if reason is None:
        mapping.notes.append(f"{where}: statusReason has no mapped coding; sent as 'other'")
        return "other"
    return reason
