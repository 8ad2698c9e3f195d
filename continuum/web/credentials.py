"""Named credentials: one per person or program, each with a role (and, for a provider, its provider).

`continuum access grant` issues one and prints its secret once; only the secret's SHA-256 is kept, in
`settings.web_credentials_path` (JSON, readable by its owner only). Revoking marks the credential
revoked (kept, so the audit trail's names still mean something) and ends its sessions at their next
request. Several credentials may speak for one provider; revoking one leaves the others working."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from common.files import exclusive_lock
from continuum.web import tokens


class Role(StrEnum):
    PROVIDER = "provider"  # its own handoff page and downloads
    FUNDER = "funder"  # the funder page and its downloads
    OPERATOR = "operator"  # /ops, the Data Docs, drill-down, the audit trail


class CredentialError(ValueError):
    """A grant or revoke that cannot be done as asked (the message says why and what to do)."""


@dataclass(frozen=True)
class Credential:
    credential_id: str
    name: str
    role: Role
    provider_id: str | None
    sha256: str
    issued_at: str
    revoked_at: str | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def load(path: Path) -> list[Credential]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [Credential(**{**item, "role": Role(item["role"])}) for item in data["credentials"]]


class Store:
    """The credentials file, re-read when it changes (one stat per request), indexed by hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, Credential] = {}
        self._by_id: dict[str, Credential] = {}

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != self._stamp:
            found = load(self.path)
            self._by_hash = {c.sha256: c for c in found}
            self._by_id = {c.credential_id: c for c in found}
            self._stamp = stamp

    def by_secret(self, secret: str) -> Credential | None:
        """The active credential whose secret this is, or None."""
        self._refresh()
        # A dict lookup by hash: its timing could at most hint at the hash of a guess, never the secret.
        credential = self._by_hash.get(tokens.token_hash(secret))
        return credential if credential is not None and credential.is_active else None

    def active(self, credential_id: str) -> Credential | None:
        self._refresh()
        credential = self._by_id.get(credential_id)
        return credential if credential is not None and credential.is_active else None


NAME_PATTERN = re.compile(r"^\S.{0,118}\S$|^\S$")


def grant(path: Path, role: Role, name: str, provider_id: str | None = None) -> str:
    """Issue a credential and return its secret (the only time it exists outside the holder's hands)."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise CredentialError(
            "give the credential a name of 1 to 120 characters, e.g. 'Jane Doe, case manager'"
        )
    if (role is Role.PROVIDER) != (provider_id is not None):
        raise CredentialError("--provider is required for the provider role and only for it")
    secret = tokens.new_secret()
    with _locked(path) as credentials:
        if any(c.name == name and c.is_active for c in credentials):
            raise CredentialError(
                f"an active credential is already named {name!r}; revoke it or pick another"
            )
        credentials.append(
            Credential(
                credential_id=tokens.new_secret()[:12],
                name=name,
                role=role,
                provider_id=provider_id,
                sha256=tokens.token_hash(secret),
                issued_at=_now(),
            )
        )
    return secret


def revoke(path: Path, name: str) -> Credential:
    """Revoke the active credential of that name; its sessions end at their next request."""
    with _locked(path) as credentials:
        for i, credential in enumerate(credentials):
            if credential.name == name and credential.is_active:
                credentials[i] = Credential(**{**asdict(credential), "revoked_at": _now()})
                return credentials[i]
    raise CredentialError(f"no active credential is named {name!r}; `continuum access list` shows them")


@contextmanager
def _locked(path: Path) -> Iterator[list[Credential]]:
    """Read, change and write the file under a lock, so two `access` commands cannot lose a change."""
    with exclusive_lock(path.with_name(path.name + ".lock")):
        credentials = load(path)
        yield credentials
        payload = {"credentials": [{**asdict(c), "role": str(c.role)} for c in credentials]}
        tokens.write_private(path, json.dumps(payload, indent=2) + "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
