"""Who is asking for a provider page. A program sends `Authorization: Bearer <token>`; a person signs
in once with the same token and the app keeps a signed session cookie (Starlette's SessionMiddleware)
holding the provider id and when its token was issued, so that rotating a token also ends the
sessions opened with the old one."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from common.settings import Settings
from continuum.web import tokens

SESSION_PROVIDER = "provider_id"
SESSION_ISSUED = "token_issued_at"


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def caller(request: Request, settings: Settings) -> str | None:
    """The provider the request speaks for, or None when it presents no valid credential. A bearer
    token, when present, decides alone: a wrong token is not rescued by a cookie."""
    token = bearer_token(request)
    if token is not None:
        return tokens.provider_of(settings.provider_tokens_path, token)
    return _session_provider(request, settings)


def _session_provider(request: Request, settings: Settings) -> str | None:
    provider_id = request.session.get(SESSION_PROVIDER)
    issued_at = request.session.get(SESSION_ISSUED)
    if not provider_id or not issued_at:
        return None
    entry = tokens.load_hashes(settings.provider_tokens_path).get(provider_id)
    if entry is None or not hmac.compare_digest(entry["issued_at"], issued_at):
        return None  # the token was rotated since this sign-in
    return provider_id


def sign_in(request: Request, settings: Settings, token: str, provider_id: str) -> str | None:
    """The provider whose token this is (None for a wrong token). Opens a session only when that is
    the provider whose page is asked for: another provider's token signs nobody in here."""
    owner = tokens.provider_of(settings.provider_tokens_path, token)
    if owner is not None and owner == provider_id:
        entry = tokens.load_hashes(settings.provider_tokens_path)[owner]
        request.session.clear()
        request.session.update({SESSION_PROVIDER: owner, SESSION_ISSUED: entry["issued_at"]})
    return owner


def sign_out(request: Request) -> None:
    request.session.clear()
