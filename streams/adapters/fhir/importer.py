"""From a FHIR export to what the importing provider sends: `plan_import` maps, `drop_already_sent`
leaves out what an earlier import sent (state.py), `send_plan` sends (`dry_run_plan` only prints).

Every resource ends up in exactly one place of the `Plan`: an event to send, a change left to the other
provider of a referral, a supporting resource (Patient, Organization, ... read for keys and provider ids,
never sent), or a `Problem` saying why it could not be mapped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaProducer

from common.names import provider_topic
from common.settings import Settings
from streams.adapters.common import RecordingProducer, id_namespace
from streams.adapters.fhir.consents import map_consent
from streams.adapters.fhir.context import ImportContext, Outgoing, Unmappable
from streams.adapters.fhir.export import Export, Problem
from streams.adapters.fhir.referrals import map_task
from streams.adapters.fhir.state import fingerprint
from streams.adapters.fhir.vocabulary import Vocabulary
from streams.contract import Contract, Refusal
from streams.producer import ContractViolation, ProviderClient, build_envelope, provider_producer

#: Read to resolve references and compute keys; never an event of their own.
SUPPORTING_TYPES = frozenset({"Patient", "Organization", "PractitionerRole", "Practitioner", "Provenance"})


@dataclass
class Plan:
    events: list[Outgoing] = field(default_factory=list)
    left_to: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    already_sent: int = 0


def plan_import(
    export: Export,
    provider_id: str,
    linkage_secret: bytes,
    vocabulary: Vocabulary,
    provider_ids: Collection[str],
) -> Plan:
    ctx = ImportContext(
        provider_id=provider_id,
        export=export,
        vocabulary=vocabulary,
        provider_ids=provider_ids,
        linkage_secret=linkage_secret,
        namespace=id_namespace(linkage_secret),
    )
    plan = Plan(problems=list(export.problems))
    focused = set()
    for key in list(export.versions):
        resource_type = key[0]
        history = export.history(key)
        where = f"{resource_type}/{key[1]}"
        try:
            if resource_type == "Task":
                focused.add(_focus(export, history[-1]))
                _add_task(plan, map_task(ctx, history))
            elif resource_type == "Consent":
                mapped = map_consent(ctx, history)
                plan.events += mapped.events
                plan.left_to += mapped.left_to
            elif resource_type not in SUPPORTING_TYPES | {"ServiceRequest"}:
                plan.problems.append(Problem(where, f"a {resource_type} has no contract event"))
        except Unmappable as exc:
            plan.problems.append(Problem(where, str(exc)))
    for key in export.versions:
        if key[0] == "ServiceRequest" and key not in focused:
            plan.problems.append(
                Problem(
                    f"ServiceRequest/{key[1]}", "no referral Task in the file has it as focus: not a referral"
                )
            )
    plan.events.sort(key=lambda e: (e.time, e.event_id))
    return plan


def _focus(export: Export, task: Any) -> tuple[str, str] | None:
    return export.resolve_key(task.focus.reference if task.focus else None)


def _add_task(plan: Plan, mapped: Any) -> None:
    plan.events += mapped.events
    plan.left_to += mapped.left_to
    plan.notes += mapped.notes


def drop_already_sent(plan: Plan, sent_before: dict[str, str]) -> None:
    """Keep only the events never sent. One sent before with the same content is counted; one whose content
    changed since is reported: the contract keeps the first copy of an id and has no event that corrects
    a request, a status or a consent."""
    new = []
    for event in plan.events:
        before = sent_before.get(event.event_id)
        if before is None:
            new.append(event)
        elif before == fingerprint(event):
            plan.already_sent += 1
        else:
            plan.problems.append(
                Problem(
                    event.origin,
                    f"changed since it was sent: no contract event corrects a {event.event_type}; "
                    "not sent again (docs/adapters.md)",
                )
            )
    plan.events = new


def envelope_of(provider_id: str, event: Outgoing) -> dict[str, Any]:
    return build_envelope(
        provider_id, event.event_type, event.subject, event.data, event.time, event.event_id
    )


def send_plan(
    plan: Plan, provider_id: str, settings: Settings, producer: Any | None = None
) -> list[Outgoing]:
    """Send every planned event through ProviderClient; returns those the broker acknowledged. One the
    contract refuses, or the broker did not take, becomes a Problem."""
    recording = RecordingProducer(producer or _kafka_producer(settings, provider_id))
    client = ProviderClient(provider_id, settings, producer=recording)
    values = {}
    try:
        for event in plan.events:
            try:
                values[event.event_id] = client.send(
                    event.event_type, event.subject, event.data, event.time, event.event_id
                ).value
            except ContractViolation as exc:
                plan.problems.append(Problem(event.origin, f"refused by the contract: {exc}"))
        client.flush()
    finally:
        client.close()
    acknowledged, errors = recording.acknowledged()
    for event in plan.events:
        if event.event_id in values and values[event.event_id] not in acknowledged:
            why = errors[0] if errors else "not acknowledged"
            plan.problems.append(
                Problem(event.origin, f"the broker did not acknowledge it ({why}): import again")
            )
    return [e for e in plan.events if values.get(e.event_id) in acknowledged]


def _kafka_producer(settings: Settings, provider_id: str) -> KafkaProducer:
    # ProviderClient's producer, built here so that the adapter can wrap it and learn which sends the
    # broker acknowledged before it remembers them as sent.
    return provider_producer(settings, f"continuum-provider-{provider_id}-fhir")


def dry_run_plan(plan: Plan, provider_id: str, contract: Contract, write: Callable[[str], Any]) -> int:
    """Check every planned event as `send_plan` would and write the ones that pass, one JSON line each."""
    sent = 0
    for event in plan.events:
        value = orjson.dumps(envelope_of(provider_id, event))
        checked = contract.check(value, provider_topic(provider_id))
        if isinstance(checked, Refusal):
            plan.problems.append(
                Problem(event.origin, f"refused by the contract: {checked.reason}: {checked.detail}")
            )
            continue
        write(value.decode())
        sent += 1
    return sent
