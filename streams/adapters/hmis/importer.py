"""One import: read the export, plan its events, keep what was sent before out, send, remember.

`import_export` is what `continuum import hmis` runs; tests call it too. Nothing is remembered until
the broker acknowledged it, so an import that fails half-way is simply run again (the event ids are the
same, and the pipeline keeps one copy of anything sent twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from common.directory import load_directory
from common.settings import Settings
from streams.adapters.common import (
    AdapterError,
    Outcome,
    Planned,
    Problem,
    RecordingProducer,
    fingerprint,
)
from streams.adapters.hmis.export import read_export
from streams.adapters.hmis.mapping import Mapping
from streams.adapters.hmis.plan import Plan, Planner
from streams.adapters.hmis.state import SentEvent, State, load_state, save_state
from streams.contract import Contract
from streams.producer import ProviderClient, provider_producer


@dataclass(frozen=True)
class ImportResult:
    label: str  # "FY2026 (CSVVersion 2026 v1.0)"
    outcome: Outcome


def import_export(
    directory: Path,
    provider_id: str,
    secret: bytes,
    mapping: Mapping,
    state_path: Path,
    settings: Settings,
    dry_run: bool = False,
    producer: Any | None = None,
) -> ImportResult:
    """Import one export directory as `provider_id`. Raises AdapterError before sending if it cannot."""
    directory_of_providers = load_directory(settings.provider_directory)
    if provider_id not in directory_of_providers:
        raise AdapterError(
            f"provider {provider_id!r} is not in the provider directory ({settings.provider_directory}); "
            "ask the network's operators to add it"
        )
    export = read_export(directory)
    state = load_state(state_path, provider_id)
    plan = Planner(export, provider_id, secret, mapping, state, Contract(directory_of_providers)).run()
    outcome = Outcome(problems=list(plan.problems), notes=list(plan.notes))
    to_send = _new_or_changed(plan, state, outcome)
    if dry_run:
        outcome.sent = to_send
    elif to_send:
        outcome.sent = _send(to_send, provider_id, settings, producer, outcome)
        _remember(state, plan, outcome.sent)
        save_state(state_path, state)
    return ImportResult(export.label, outcome)


def _new_or_changed(plan: Plan, state: State, outcome: Outcome) -> list[Planned]:
    """The planned events not sent before. One sent before with other content is reported: the
    contract keeps the first copy of an id and has no event that corrects or withdraws a record."""
    to_send = []
    for planned in plan.events:
        before = state.events.get(planned.event_id)
        if before is None:
            to_send.append(planned)
        elif before.fingerprint == fingerprint(planned):
            outcome.already_sent += 1
        elif planned.updated and before.updated and planned.updated <= before.updated:
            outcome.notes.append(
                Problem(
                    planned.where, "older than the version sent before (DateUpdated is not newer): ignored"
                )
            )
        else:
            outcome.problems.append(
                Problem(
                    planned.where,
                    f"changed since it was sent (DateUpdated {planned.updated or 'blank'}): "
                    f"the contract has no event that corrects a {planned.type}; "
                    "not sent again (docs/adapters.md)",
                )
            )
    return to_send


def _send(
    events: list[Planned], provider_id: str, settings: Settings, producer: Any | None, outcome: Outcome
) -> list[Planned]:
    """Send through ProviderClient; returns the events the broker acknowledged."""
    recording = RecordingProducer(producer or _kafka_producer(settings, provider_id))
    client = ProviderClient(provider_id, settings, producer=recording)
    values = {}
    try:
        for planned in events:
            sent = client.send(planned.type, planned.subject, planned.data, planned.time, planned.event_id)
            values[planned.event_id] = sent.value
        client.flush()
    finally:
        client.close()
    acknowledged, errors = recording.acknowledged()
    if errors:
        outcome.problems.extend(
            Problem(p.where, f"the broker did not acknowledge it ({errors[0]}): run the import again")
            for p in events
            if values.get(p.event_id) not in acknowledged
        )
    return [p for p in events if values.get(p.event_id) in acknowledged]


def _kafka_producer(settings: Settings, provider_id: str) -> KafkaProducer:
    # ProviderClient's producer, built here so that the adapter can wrap it and learn which sends the
    # broker acknowledged before it remembers them as sent.
    return provider_producer(settings, f"continuum-provider-{provider_id}-hmis")


def _remember(state: State, plan: Plan, sent: list[Planned]) -> None:
    for planned in sent:
        state.events[planned.event_id] = SentEvent(fingerprint(planned), planned.updated)
        person = plan.person_of[planned.event_id]
        state.participants.setdefault(person, plan.keys[person])
