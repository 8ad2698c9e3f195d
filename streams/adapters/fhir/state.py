"""What the importing provider's side remembers between imports: for each event id sent, a fingerprint
of what it said (one JSON file per provider, `$CONTINUUM_HOME/adapters/fhir/<provider>.json` unless
`--state` names another).

So a re-import sends nothing the broker already acknowledged, and an event whose content changed since
(a ServiceRequest's priority edited, say) is reported instead of re-sent under the same id: the contract
keeps the first copy of an id, and the batch suite holds a batch that reuses an id for other content.
The file holds event ids and hashes only: no name, birth date, FHIR id, and never the linkage secret.
"""

from __future__ import annotations

from pathlib import Path

from streams.adapters.common import content_fingerprint, read_state, write_state
from streams.adapters.fhir.context import Outgoing

FORMAT = "continuum-fhir-state/1"


def default_state_path(state_dir: Path, provider_id: str) -> Path:
    return state_dir / "adapters" / "fhir" / f"{provider_id}.json"


def fingerprint(event: Outgoing) -> str:
    return content_fingerprint(event.event_type, event.subject, event.time, event.data)


def load_sent(path: Path, provider_id: str) -> dict[str, str]:
    """Event id -> fingerprint of everything sent before (empty when there is no state yet)."""
    return dict(read_state(path, provider_id, FORMAT).get("sent", {}))


def save_sent(path: Path, provider_id: str, sent: dict[str, str]) -> None:
    """Write the state atomically, readable by its owner only."""
    write_state(path, provider_id, FORMAT, {"sent": dict(sorted(sent.items()))})
