"""Provider access tokens. A token is 32 random bytes (URL-safe text); only its SHA-256 is stored, in
`settings.provider_tokens_path`. A plain hash is enough because tokens are random, not chosen by people:
there is nothing to guess from a dictionary. Issuing a new token replaces (rotates) the old one."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_hashes(path: Path) -> dict[str, dict[str, str]]:
    """{provider_id: {"sha256": ..., "issued_at": ...}}; empty when no token was ever issued."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def issue_token(path: Path, provider_id: str) -> str:
    """A new token for the provider; the previous one (if any) stops working at once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    hashes = load_hashes(path)
    hashes[provider_id] = {"sha256": token_hash(token), "issued_at": datetime.now(UTC).isoformat()}
    _write_private(path, json.dumps(hashes, indent=2, sort_keys=True))
    return token


def provider_of(path: Path, token: str) -> str | None:
    """The provider whose current token this is, or None."""
    presented = token_hash(token)
    for provider_id, entry in load_hashes(path).items():
        if hmac.compare_digest(entry["sha256"], presented):
            return provider_id
    return None


def current_hash(path: Path, provider_id: str) -> str | None:
    entry = load_hashes(path).get(provider_id)
    return entry["sha256"] if entry else None


def _write_private(path: Path, text: str) -> None:
    """Write readable by the owner only, and atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def session_secret(path: Path) -> str:
    """The key that signs session cookies: made once, kept under CONTINUUM_HOME so that sign-ins
    survive a restart of the app."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(TOKEN_BYTES)
        _write_private(path, secret)
        return secret
