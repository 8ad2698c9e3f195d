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

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from streams.adapters.common import AdapterError

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
    if not path.exists():
        return State(provider_id)
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise AdapterError(
            f"cannot read the import state {path}: {exc}; move it aside to start afresh"
        ) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise AdapterError(f"{path} is not an HMIS import state ({FORMAT}); give another --state file")
    if raw.get("provider_id") != provider_id:
        raise AdapterError(
            f"{path} belongs to provider {raw.get('provider_id')!r}, not {provider_id!r}: "
            "each provider keeps its own state file"
        )
    events = {event_id: SentEvent(*pair) for event_id, pair in raw.get("events", {}).items()}
    return State(provider_id, dict(raw.get("participants", {})), events)


def save_state(path: Path, state: State) -> None:
    """Write `state` to `path` atomically (readable by its owner only)."""
    content = {
        "format": FORMAT,
        "provider_id": state.provider_id,
        "participants": dict(sorted(state.participants.items())),
        "events": {k: [v.fingerprint, v.updated] for k, v in sorted(state.events.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(content, option=orjson.OPT_INDENT_2))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
