"""Secrets the web app hands out: credential secrets and session ids. Each is 32 random bytes (URL-safe
text); only its SHA-256 is stored. A plain hash is enough because these are random, not chosen by people:
there is nothing to guess from a dictionary."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from common.files import write_atomically

TOKEN_BYTES = 32


def new_secret() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def write_private(path: Path, text: str) -> None:
    """Write readable by the owner only, and atomically (a reader never sees half a file)."""
    write_atomically(path, text, mode=0o600)
