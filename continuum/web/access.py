"""Who may open which route, decided in one place.

Every route of the app takes exactly one `Access` dependency (tests/test_access_routes.py walks
`app.routes` to prove it), naming the rule it follows and what its audit line says. The dependency runs
before the handler reads anything, and it is cheap: a refusal costs a hash, a dict lookup and (for a
cookie) one SQLite row, never the warehouse or the broker. A refusal is an exception the app renders:
401 without a valid credential (the sign-in form), 403 with the wrong role, 429 while an address is
refused for failed sign-ins.

A program sends `Authorization: Bearer <secret>`; a person signs in once with the same secret and the
browser keeps a session cookie (continuum.web.sessions)."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from starlette.requests import Request

from common.settings import Settings
from continuum.web.credentials import Credential, Role, Store
from continuum.web.sessions import Sessions

SESSION_COOKIE = "continuum_session"


class Rule(StrEnum):
    PUBLIC = "public"  # anyone: the index, the sign-in and sign-out forms
    FUNDER = "funder"  # funders and operators (anyone when CONTINUUM_WEB_FUNDERS_PUBLIC is set)
    OWN_PROVIDER = "own provider"  # the provider named in the path, and no one else
    OPERATOR = "operator"


@dataclass(frozen=True)
class Caller:
    credential: Credential | None = None
    via_session: str | None = None  # the session id, when the credential came from the cookie

    @property
    def name(self) -> str | None:
        return self.credential.name if self.credential else None

    @property
    def role(self) -> Role | None:
        return self.credential.role if self.credential else None

    @property
    def label(self) -> str | None:
        """How the page header names who is signed in."""
        if self.credential is None:
            return None
        who = self.credential.provider_id or self.credential.role
        return f"{self.credential.name} ({who})"


class Refused(Exception):
    def __init__(self, status: int, caller: Caller, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.caller, self.reason, self.retry_after = status, caller, reason, retry_after


class Throttle:
    """Failed sign-ins per client address in a sliding window; at the limit the address is refused
    (every credential, right or wrong) until its oldest failure leaves the window."""

    def __init__(self, max_failures: int, window: timedelta) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        failures = self._failures[address]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]  # no memory kept for addresses that stopped failing
        return failures

    def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds until the address may try again, or None when it may now."""
        failures = self._recent(address, now)
        if len(failures) < self.max_failures:
            return None
        return max(1, int((failures[0] + self.window - now).total_seconds()) + 1)

    def failed(self, address: str, now: datetime) -> None:
        self._recent(address, now)
        self._failures[address].append(now)


class Gate:
    """What the Access dependencies share: credentials, sessions, the throttle, the clock."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.credentials = Store(settings.web_credentials_path)
        self.sessions = Sessions(settings.web_sessions_path)
        self.throttle = Throttle(
            settings.web_signin_max_failures, timedelta(seconds=settings.web_signin_lockout_seconds)
        )
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def session_length(self) -> timedelta:
        return timedelta(hours=self.settings.web_session_hours)

    def client_address(self, request: Request) -> str:
        """The caller's address: the proxy's X-Forwarded-For (its last hop, which the proxy itself
        wrote) only when the app is told to trust its proxy; the socket's peer otherwise."""
        if self.settings.web_trust_proxy:
            forwarded = request.headers.get("x-forwarded-for", "")
            if forwarded.strip():
                return forwarded.split(",")[-1].strip()
        return request.client.host if request.client else "unknown"

    def is_https(self, request: Request) -> bool:
        if self.settings.web_trust_proxy and request.headers.get("x-forwarded-proto"):
            return request.headers["x-forwarded-proto"].split(",")[0].strip().lower() == "https"
        return request.url.scheme == "https"

    def own_origin(self, request: Request) -> str:
        scheme = "https" if self.is_https(request) else "http"
        return f"{scheme}://{request.headers.get('host', '')}"

    def identify(self, request: Request) -> Caller:
        """The credential the request presents. A bearer secret, when present, decides alone: a wrong
        one is not rescued by a cookie, and counts as a failed sign-in for the address."""
        now = self.clock()
        address = self.client_address(request)
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            self.refuse_if_throttled(address, now)
            credential = self.credentials.by_secret(secret.strip())
            if credential is None:
                self.throttle.failed(address, now)
            return Caller(credential)
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return Caller()
        credential_id = self.sessions.credential_of(session_id, now)
        credential = self.credentials.active(credential_id) if credential_id else None
        return Caller(credential, session_id if credential else None)

    def refuse_if_throttled(self, address: str, now: datetime) -> None:
        wait = self.throttle.retry_after(address, now)
        if wait is not None:
            raise Refused(429, Caller(), f"too many failed sign-ins from {address}; try again later", wait)

    def refuse_cross_site(self, request: Request) -> None:
        """A form posted from another site is refused: browsers say where a POST comes from (Origin,
        and Sec-Fetch-Site, which no page script can set), and a sign-in or sign-out must come from this
        app's own pages. `Origin: null` (a browser hiding the origin, or a sandboxed frame) passes only
        when the browser also says the request is same-origin. A client that sends neither header (curl,
        a program) is not a browser that another site could drive, and passes."""
        origin, fetch_site = request.headers.get("origin"), request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            raise Refused(
                403, Caller(), f"a form from another site ({fetch_site}) cannot sign in or out here"
            )
        if origin is None or origin == self.own_origin(request):
            return
        if origin == "null" and fetch_site == "same-origin":
            return
        raise Refused(403, Caller(), "a form from another site cannot sign in or out here")


def allows(rule: Rule, caller: Caller, settings: Settings, provider_id: str | None) -> bool:
    role = caller.role
    if rule is Rule.PUBLIC:
        return True
    if rule is Rule.FUNDER:
        return settings.web_funders_public or role in (Role.FUNDER, Role.OPERATOR)
    if rule is Rule.OWN_PROVIDER:
        return role is Role.PROVIDER and caller.credential.provider_id == provider_id
    return role is Role.OPERATOR


class Access:
    """The one dependency every route declares: `caller: Caller = Depends(Access(Rule.X, "page"))`.

    `audit` names what a successful response is logged as (None: not logged); the app appends the line
    after the response is made, so a refused or failed request is not logged as an access."""

    def __init__(self, rule: Rule, audit: str | None = None) -> None:
        self.rule, self.audit = rule, audit

    async def __call__(self, request: Request) -> Caller:
        gate: Gate = request.app.state.gate
        caller = gate.identify(request)
        provider_id = request.path_params.get("provider_id")
        if not allows(self.rule, caller, gate.settings, provider_id):
            if caller.credential is None:
                raise Refused(401, caller, "sign in to see this page")
            raise Refused(403, caller, f"a {caller.role} credential cannot open this page")
        request.state.caller = caller
        request.state.audit = self.audit if caller.credential is not None else None
        request.state.rows_of = provider_id or "network"
        return caller
