"""The deployment's Kafka passwords: one file of `user:password` lines, kept out of git
(infra/secrets/) and handed to the broker and the init service as a Docker secret. Passwords are
generated here so they are long and use only characters kafka-configs.sh does not parse (`,` `=` `[` `]`).

The secrets directory is its owner's alone (700); its files are readable by all (644) because compose
bind-mounts them into containers that run as other users."""

from __future__ import annotations

import secrets
from pathlib import Path

from common.files import write_atomically


def read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        user, sep, password = line.partition(":")
        if sep and user.strip():
            entries[user.strip()] = password.strip()
    return entries


def new_password() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of A-Z a-z 0-9 - _


def ensure_passwords(path: Path, users: list[str], rotate: tuple[str, ...] = ()) -> list[str]:
    """Give every user in `users` a password (a new one for those in `rotate`); returns who got one."""
    entries = read_passwords(path)
    changed = [u for u in users if u not in entries or u in rotate]
    if not changed:
        return []
    for user in changed:
        entries[user] = new_password()
    write_secret(path, "".join(f"{user}:{password}\n" for user, password in entries.items()))
    return changed


def write_secret(path: Path, text: str) -> None:
    """Write atomically (a half-written secrets file locks users out) inside an owner-only directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    write_atomically(path, text)
