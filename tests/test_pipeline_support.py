"""Helpers for the pipeline tests: valid events of every type and landed batches written through
`streams/landing/files.py`, so the tests need neither the lander nor the simulator."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from common.directory import load_directory
from common.names import dataschema_for, source_for
from common.settings import Settings
from continuum.pipeline.env import continuum_env
from streams.contract import EVENT_TYPES
from streams.landing import files

LANDED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _data(event_type: str, rng: random.Random, to_provider: str) -> dict[str, Any]:
    samples: dict[str, dict[str, Any]] = {
        "participant.enrolled": {
            "enrollment_id": _uuid(rng),
            "program_type": "street_outreach",
            "referral_id": None,
            "risk_level": rng.choice(["low", "high", None]),
            "birth_year": rng.choice([1990, 2001, None]),
            "gender": "female",
            "race_ethnicity": ["black_african_american"],
            "zip3": rng.choice(["731", None]),
        },
        "participant.exited": {"enrollment_id": _uuid(rng), "exit_reason": "completed"},
        "consent.granted": {"consent_id": _uuid(rng), "scope": "network_sharing", "part2": False},
        "consent.revoked": {"consent_id": _uuid(rng), "scope": "research", "part2": True},
        "referral.requested": {
            "referral_id": _uuid(rng),
            "to_provider_id": to_provider,
            "service_type": "housing",
            "priority": "routine",
            "contact_prohibited": False,
        },
        "referral.status_changed": rng.choice(
            [
                {"referral_id": _uuid(rng), "status": "accepted", "status_reason": None},
                {"referral_id": _uuid(rng), "status": "rejected", "status_reason": "no_capacity"},
            ]
        ),
        "service.delivered": {
            "service_id": _uuid(rng),
            "service_type": "mentoring",
            "duration_minutes": rng.choice([30, 60, None]),
            "referral_id": None,
        },
        "incident.recorded": rng.choice(
            [
                {
                    "incident_id": _uuid(rng),
                    "incident_type": "conflict_mediated",
                    "role": "involved",
                    "outcome": "resolved",
                },
                {
                    "incident_id": _uuid(rng),
                    "incident_type": "gunshot_injury",
                    "role": "victim",
                    "outcome": None,
                },
            ]
        ),
        "outcome.recorded": {"domain": "housing", "status": "stable"},
    }
    return samples[event_type]


def valid_events(
    settings: Settings, provider_id: str, count: int, seed: int = 0, landed_at: datetime = LANDED_AT
) -> list[dict[str, Any]]:
    """`count` valid events of a provider (no custody types: the demo directory limits who sends those)."""
    rng = random.Random(seed)
    others = [p for p in load_directory(settings.provider_directory) if p != provider_id]
    # Custody and arrest events come only from the corrections feed (the batch suite checks that).
    types = [t for t in EVENT_TYPES if not t.startswith(("custody.", "justice."))]
    events = []
    for i in range(count):
        event_type = types[i % len(types)]
        events.append(
            {
                "specversion": "1.0",
                "id": _uuid(rng),
                "source": source_for(provider_id),
                "type": event_type,
                "time": landed_at - timedelta(days=rng.uniform(0.01, 30)),
                "subject": hashlib.sha256(str(rng.randrange(50)).encode()).hexdigest(),
                "dataschema": dataschema_for(event_type),
                "datacontenttype": "application/json",
                "data": orjson.dumps(_data(event_type, rng, rng.choice(others))).decode(),
            }
        )
    return events


def write_batch(
    settings: Settings,
    provider_id: str,
    partition: int,
    first_offset: int,
    events: list[dict[str, Any]],
    dead_letters: int = 0,
    landed_at: datetime = LANDED_AT,
) -> files.LandedBatch:
    """Commit a batch of `events` (then `dead_letters` refused messages) at offsets from `first_offset`."""
    topic = f"providers.{provider_id}.events"
    last_offset = first_offset + len(events) + dead_letters - 1
    lineage = {"kafka_topic": topic, "kafka_partition": partition, "kafka_timestamp": landed_at}
    rows = [
        {**e, **lineage, "kafka_offset": first_offset + i, "landed_at": landed_at}
        for i, e in enumerate(events)
    ]
    paths = []
    if dead_letters:
        refused = [
            {
                "provider_id": provider_id,
                "key": b"k",
                "value": b"{not json",
                "headers": "{}",
                "error_stage": "contract",
                "error_reason": "not_json",
                "error_detail": "value: not UTF-8 JSON",
                **lineage,
                "kafka_offset": first_offset + len(events) + i,
                "landed_at": landed_at,
            }
            for i in range(dead_letters)
        ]
        table = pa.Table.from_pylist(refused, schema=files.DEAD_LETTERS_SCHEMA)
        path = files.batch_path(
            settings.landing_dir, files.DEAD_LETTERS, topic, partition, first_offset, last_offset
        )
        paths.append(files.write_table_durably(table, path))
    table = pa.Table.from_pylist(rows, schema=files.EVENTS_SCHEMA)
    path = files.batch_path(settings.landing_dir, files.EVENTS, topic, partition, first_offset, last_offset)
    paths.append(files.write_table_durably(table, path))
    for tmp in paths:
        files.commit(tmp)
    return next(b for b in files.committed_batches(settings.landing_dir) if b.events_path == path)


def run_continuum(settings: Settings, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a `continuum` command against `settings` as a subprocess; fail with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "continuum.cli", *args],
        env=continuum_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"continuum {' '.join(args)}:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done
