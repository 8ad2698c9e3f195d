"""What the importing provider's side remembers between imports: for each event id sent, a fingerprint
of what it said (one JSON file per provider, `$CONTINUUM_HOME/adapters/fhir/<provider>.json` unless
`--state` names another).

So a re-import sends nothing the broker already acknowledged, and an event whose content changed since
(a ServiceRequest's priority edited, say) is reported instead of re-sent under the same id: the contract
keeps the first copy of an id, and the batch suite holds a batch that reuses an id for other content.
The file holds event ids and hashes only: no name, birth date, FHIR id, and never the linkage secret.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import orjson

from streams.adapters.common import AdapterError
from streams.adapters.fhir.context import Outgoing

FORMAT = "continuum-fhir-state/1"


def default_state_path(state_dir: Path, provider_id: str) -> Path:
    return state_dir / "adapters" / "fhir" / f"{provider_id}.json"


def fingerprint(event: Outgoing) -> str:
    """A short hash of what the event says (type, subject, time, data), not of its id."""
    content = {
        "type": event.event_type,
        "subject": event.subject,
        "time": event.time.isoformat(),
        "data": event.data,
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def load_sent(path: Path, provider_id: str) -> dict[str, str]:
    """Event id -> fingerprint of everything sent before (empty when there is no state yet)."""
    if not path.exists():
        return {}
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise AdapterError(
            f"cannot read the import state {path}: {exc}; move it aside to start afresh"
        ) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise AdapterError(f"{path} is not a FHIR import state ({FORMAT}); give another --state file")
    if raw.get("provider_id") != provider_id:
        raise AdapterError(
            f"{path} belongs to provider {raw.get('provider_id')!r}, not {provider_id!r}: "
            "each provider keeps its own state file"
        )
    return dict(raw.get("sent", {}))


def save_sent(path: Path, provider_id: str, sent: dict[str, str]) -> None:
    """Write the state atomically (temporary file, fsync, rename), readable by its owner only."""
    content = {"format": FORMAT, "provider_id": provider_id, "sent": dict(sorted(sent.items()))}
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
