"""One valid `data` per event type, and builders of whole messages in both content modes. Shared by
contract and SDK tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from streams.producer import binary_message, build_envelope

PROVIDER = "okc-reentry"
TOPIC = f"providers.{PROVIDER}.events"
SUBJECT = "f6097baaeac0a13667de4148cff96e87e76e09761b7aeaf890e9e79cc993be94"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
UUID_A = "0b6f4c1e-3b1a-4c8e-9d2f-5a7b8c9d0e1f"
UUID_B = "7d3e2f10-8a4b-4c6d-8e9f-0a1b2c3d4e5f"

VALID_DATA: dict[str, dict[str, Any]] = {
    "participant.enrolled": {
        "enrollment_id": UUID_A,
        "program_type": "reentry",
        "referral_id": None,
        "risk_level": "high",
        "birth_year": 1994,
        "gender": "male",
        "race_ethnicity": ["american_indian_alaska_native", "white"],
        "zip3": "731",
    },
    "participant.exited": {"enrollment_id": UUID_A, "exit_reason": "completed"},
    "consent.granted": {"consent_id": UUID_A, "scope": "network_sharing", "part2": True},
    "consent.revoked": {"consent_id": UUID_B, "scope": "network_sharing", "part2": False},
    "referral.requested": {
        "referral_id": UUID_A,
        "to_provider_id": "okc-housing",
        "service_type": "housing",
        "priority": "urgent",
        "contact_prohibited": False,
    },
    "referral.status_changed": {"referral_id": UUID_A, "status": "rejected", "status_reason": "no_capacity"},
    "service.delivered": {
        "service_id": UUID_B,
        "service_type": "case_management",
        "duration_minutes": 45,
        "referral_id": UUID_A,
    },
    "incident.recorded": {
        "incident_id": UUID_A,
        "incident_type": "conflict_mediated",
        "role": "involved",
        "outcome": "resolved",
    },
    "custody.admitted": {"facility_type": "jail", "admission_reason": "new_charge"},
    "custody.released": {"facility_type": "prison", "release_reason": "released_to_supervision"},
    "justice.arrested": {"charge_category": "property"},
    "outcome.recorded": {"domain": "employment", "status": "employed_part_time"},
}


def envelope(event_type: str = "referral.requested", **changes: Any) -> dict[str, Any]:
    """A valid envelope of `event_type`, then `changes` applied (a value of ... deletes the attribute)."""
    event = build_envelope(
        PROVIDER,
        event_type,
        SUBJECT,
        dict(VALID_DATA[event_type]),
        time=datetime(2026, 5, 30, 9, 30, tzinfo=UTC),
        event_id=UUID_B,
    )
    for key, value in changes.items():
        if value is ...:
            del event[key]
        else:
            event[key] = value
    return event


def message(event_type: str = "referral.requested", **changes: Any) -> bytes:
    return orjson.dumps(envelope(event_type, **changes))


def binary(
    event_type: str = "referral.requested", **changes: Any
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The binary-mode twin of `message(event_type, **changes)`: (value, headers). Non-string attributes
    become their text, as a header can only carry text; without `data` there is no value."""
    event = envelope(event_type, **changes)
    if "data" not in event:
        return None, binary_message({**event, "data": None})[1]
    return binary_message(event)
