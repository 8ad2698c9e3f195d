"""The audit trail: who opened which page or file, with whose rows, when and from where.

One JSON object per line in `settings.audit_log_path`. The app only ever opens that file with O_APPEND
(never truncates, never seeks to write), and each line carries the SHA-256 of the line before it and its
own, so an edited, removed or reordered line breaks the chain at that point (`continuum access audit
--verify`). Why this and not a database, and what it does not protect against: docs/access.md."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

GENESIS = "0" * 64
#: The fields of a record, in the order they are written (the hash covers them in this order).
FIELDS = ("at", "action", "credential", "role", "path", "rows_of", "client", "status")


def _digest(prev: str, record: dict) -> str:
    body = json.dumps({k: record.get(k) for k in FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def append(path: Path, record: dict) -> dict:
    """Append one record (FIELDS) to the trail and return it as written, chained to the last one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the last hash and this line, with no writer in between
        prev = _last_hash(path)
        line = {**{k: record.get(k) for k in FIELDS}, "prev": prev}
        line["hash"] = _digest(prev, line)
        os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8"))
        os.fsync(fd)
        return line
    finally:
        os.close(fd)  # closing releases the lock


def _last_hash(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 8192))
        lines = f.read().splitlines()
    return json.loads(lines[-1])["hash"] if lines else GENESIS


def read(path: Path) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    except FileNotFoundError:
        return


def latest(path: Path, limit: int) -> list[dict]:
    """The last `limit` records, newest first."""
    records = list(read(path))
    return records[::-1][:limit]


def select(path: Path, provider_id: str | None = None, since: datetime | None = None) -> list[dict]:
    """Records touching one provider's rows and/or from a time on, oldest first."""
    found = []
    for record in read(path):
        if provider_id is not None and provider_id not in (record.get("rows_of") or "").split(","):
            continue
        if since is not None and datetime.fromisoformat(record["at"]) < since:
            continue
        found.append(record)
    return found


@dataclass(frozen=True)
class Verdict:
    records: int
    broken_at: int | None  # 1-based line number of the first line that does not chain; None when intact
    head: str  # the last line's hash: keep it elsewhere to detect a cut-off tail later

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(path: Path) -> Verdict:
    prev, count = GENESIS, 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    for count, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            return Verdict(count, count, prev)  # not even a record: cut or overwritten
        if record.get("prev") != prev or record.get("hash") != _digest(prev, record):
            return Verdict(count, count, prev)
        prev = record["hash"]
    return Verdict(count, None, prev)
