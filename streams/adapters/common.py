"""What every provider adapter needs, whatever format it reads (docs/adapters.md).

- `read_linkage_secret(path)`: the network's linkage secret, from a file (never from an argument).
- `id_namespace(secret)` and `record_uuid(namespace, provider_id, record_type, record_id)`: deterministic
  event ids from the source system's own record ids, so a re-import re-sends the same ids and the
  pipeline keeps one copy. The namespace is derived from the linkage secret: without it nobody can
  recover a record number from an id by trying uuid5 of small integers.
- `Planned`: one event an adapter means to send, with where in the input it came from.
- `Problem`: one input record that was not sent, with file, line and why (never a value from it).
- `fingerprint(planned)`: what a re-import compares to learn whether a record changed since it was sent.
- `RecordingProducer`: the producer handed to `ProviderClient`, which remembers every send so that an
  adapter learns which messages the broker acknowledged before it records them as sent.
- `format_report(...)`: the command's summary, the same shape for every adapter.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from common.files import write_atomically

_NAMESPACE_LABEL = b"continuum-adapter-record-ids-v1"


class AdapterError(Exception):
    """A problem that stops an import before anything is sent (message says what to do)."""


def read_state(path: Path, provider_id: str, state_format: str) -> dict[str, Any]:
    """An importer's state file (what the provider's side remembers between imports), or {} if there is
    none yet. AdapterError if it cannot be read, is of another format, or belongs to another provider."""
    if not path.exists():
        return {}
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise AdapterError(
            f"cannot read the import state {path}: {exc}; move it aside to start afresh"
        ) from exc
    if not isinstance(raw, dict) or raw.get("format") != state_format:
        raise AdapterError(
            f"{path} is not an import state of format {state_format}; give another --state file"
        )
    if raw.get("provider_id") != provider_id:
        raise AdapterError(
            f"{path} belongs to provider {raw.get('provider_id')!r}, not {provider_id!r}: "
            "each provider keeps its own state file"
        )
    return raw


def write_state(path: Path, provider_id: str, state_format: str, content: dict[str, Any]) -> None:
    """Replace the state file atomically, readable by its owner only."""
    document = {"format": state_format, "provider_id": provider_id, **content}
    write_atomically(path, orjson.dumps(document, option=orjson.OPT_INDENT_2), mode=0o600)


def read_linkage_secret(path: Path) -> bytes:
    """The linkage secret held in `path` (surrounding whitespace dropped). Raises AdapterError."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise AdapterError(f"cannot read the linkage secret file {path}: {exc.strerror}") from exc
    if not secret:
        raise AdapterError(f"the linkage secret file {path} is empty: put the network's secret in it")
    return secret


def id_namespace(linkage_secret: bytes) -> uuid.UUID:
    """The uuid5 namespace of every adapter's event ids, derived from (not revealing) the secret."""
    digest = hmac.new(linkage_secret, _NAMESPACE_LABEL, hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16])


def record_uuid(namespace: uuid.UUID, provider_id: str, record_type: str, record_id: str) -> str:
    """uuid5 of `provider_id|record_type|record_id`: the same record always gets the same id."""
    return str(uuid.uuid5(namespace, f"{provider_id}|{record_type}|{record_id}"))


def keyed_hash(linkage_secret: bytes, *parts: str) -> str:
    """Hex HMAC-SHA256 of `parts`: a stable local name for a record number that does not show it."""
    return hmac.new(linkage_secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the input: a file name (not a path) and a 1-based line (the header is line 1)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file} line {self.line}"


@dataclass(frozen=True, slots=True)
class Problem:
    """An input record that is not sent, and why. `reason` never quotes a name, date of birth or id."""

    where: Where
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Planned:
    """An event an adapter means to send. `updated` is the source's own last-change time, if any."""

    type: str
    event_id: str
    time: datetime
    subject: str
    data: dict[str, Any]
    where: Where
    updated: str = ""


def fingerprint(planned: Planned) -> str:
    return content_fingerprint(planned.type, planned.subject, planned.time, planned.data)


def content_fingerprint(event_type: str, subject: str, time: datetime, data: dict[str, Any]) -> str:
    """A short hash of what an event says (type, subject, time, data), not of its id: an import state
    keeps it to see whether a record sent before changed since."""
    content = {"type": event_type, "subject": subject, "time": time.isoformat(), "data": data}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class RecordingProducer:
    """Wraps a kafka-python producer for `ProviderClient(..., producer=...)` and keeps every send's
    future, so that `acknowledged()` can say which values the broker took after a flush."""

    def __init__(self, producer: Any):
        self._producer = producer
        self._futures: list[tuple[bytes, Any]] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None, **kwargs: Any) -> Any:
        future = self._producer.send(topic, key=key, value=value, **kwargs)
        self._futures.append((value or b"", future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout)

    def acknowledged(self) -> tuple[set[bytes], list[str]]:
        """(values the broker acknowledged, errors of the others); call after `flush`."""
        done, errors = set(), []
        for value, future in self._futures:
            if future.is_done and future.succeeded():
                done.add(value)
            else:
                errors.append(str(future.exception) if future.is_done else "not acknowledged in time")
        return done, errors


@dataclass
class Outcome:
    """What one import did: the summary every adapter prints."""

    sent: list[Planned] = field(default_factory=list)
    already_sent: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)


def format_report(title: str, outcome: Outcome, dry_run: bool) -> str:
    """The summary: counts by event type, then every record not sent and every note, by file and line."""
    verb = "would send" if dry_run else "sent"
    lines = [title, f"  {verb}: {len(outcome.sent)}{_by_type(outcome.sent)}"]
    lines.append(f"  already sent by an earlier import (not sent again): {outcome.already_sent}")
    lines.append(f"  not sent: {len(outcome.problems)}")
    lines.extend(f"    {p}" for p in sorted(outcome.problems, key=_order))
    if outcome.notes:
        lines.append(f"  notes: {len(outcome.notes)}")
        lines.extend(f"    {n}" for n in sorted(outcome.notes, key=_order))
    return "\n".join(lines)


def format_planned(planned: Iterable[Planned]) -> str:
    """One line per event: type, id and time only (what --dry-run shows; never a value of `data`)."""
    return "\n".join(f"  {p.type} {p.event_id} {p.time.isoformat()}" for p in planned)


def _by_type(events: list[Planned]) -> str:
    counts = Counter(e.type for e in events)
    return f" ({', '.join(f'{t} {n}' for t, n in sorted(counts.items()))})" if counts else ""


def _order(problem: Problem) -> tuple[str, int]:
    return (problem.where.file, problem.where.line)
