"""What the importer remembers on the provider's side, between imports (one JSON file per provider).

- `participants`: the participant key each client was given, by a keyed hash of its PersonalID (the
  PersonalID itself is not written). A client whose name or date of birth is corrected in a later export
  keeps the key of its first import instead of silently becoming a second participant.
- `events`: for each event id sent, the fingerprint of what it said and the record's DateUpdated, so a
  re-import sends nothing twice and a later change is recognised (and reported where the contract has
  no event to carry it).

The file holds no name, date of birth, SSN or record number, and never the linkage secret. It is
written atomically (temporary file, fsync, rename) and only after the broker acknowledged the sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streams.adapters.common import read_state, write_state

FORMAT = "continuum-hmis-state/1"


@dataclass(frozen=True, slots=True)
class SentEvent:
    fingerprint: str
    updated: str  # the source record's DateUpdated as exported ("" when the file had none)


@dataclass
class State:
    provider_id: str
    participants: dict[str, str] = field(default_factory=dict)
    events: dict[str, SentEvent] = field(default_factory=dict)


def default_state_path(state_dir: Path, provider_id: str) -> Path:
    """Where a provider's state lives under CONTINUUM_HOME unless `--state` names another file."""
    return state_dir / "adapters" / "hmis" / f"{provider_id}.json"


def load_state(path: Path, provider_id: str) -> State:
    """The state at `path`, or an empty one if there is none yet. Raises AdapterError if it is not ours."""
    raw = read_state(path, provider_id, FORMAT)
    events = {event_id: SentEvent(*pair) for event_id, pair in raw.get("events", {}).items()}
    return State(provider_id, dict(raw.get("participants", {})), events)


def save_state(path: Path, state: State) -> None:
    """Write `state` to `path` atomically (readable by its owner only)."""
    content = {
        "participants": dict(sorted(state.participants.items())),
        "events": {k: [v.fingerprint, v.updated] for k, v in sorted(state.events.items())},
    }
    write_state(path, state.provider_id, FORMAT, content)
