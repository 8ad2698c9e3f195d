"""Browser sessions, kept on the server (SQLite under CONTINUUM_HOME) so that signing out ends a session
for good: the cookie holds a random session id, the table only its hash, the credential it speaks for
and when it expires. A replayed cookie of a signed-out, expired or revoked session finds nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from continuum.web import tokens

SCHEMA = """
create table if not exists sessions (
    session_hash text primary key,
    credential_id text not null,
    created_at text not null,
    expires_at text not null
)
"""


class Sessions:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)  # autocommit: one statement each
        try:
            yield db
        finally:
            db.close()

    def open(self, credential_id: str, now: datetime, lasts: timedelta) -> str:
        """A new session for the credential; returns the id the cookie carries."""
        session_id = tokens.new_secret()
        with self._connect() as db:
            db.execute("delete from sessions where expires_at <= ?", (now.isoformat(),))  # housekeeping
            db.execute(
                "insert into sessions values (?, ?, ?, ?)",
                (tokens.token_hash(session_id), credential_id, now.isoformat(), (now + lasts).isoformat()),
            )
        return session_id

    def credential_of(self, session_id: str, now: datetime) -> str | None:
        """The credential a live session speaks for; None when it ended, expired or never was."""
        with self._connect() as db:
            row = db.execute(
                "select credential_id from sessions where session_hash = ? and expires_at > ?",
                (tokens.token_hash(session_id), now.isoformat()),
            ).fetchone()
        return row[0] if row else None

    def close(self, session_id: str) -> None:
        with self._connect() as db:
            db.execute("delete from sessions where session_hash = ?", (tokens.token_hash(session_id),))

    def close_all_of(self, credential_id: str) -> int:
        with self._connect() as db:
            return db.execute("delete from sessions where credential_id = ?", (credential_id,)).rowcount
