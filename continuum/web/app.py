"""The read-only web app: /funders, /providers/<provider_id>, /ops and its drill-down, from the published
warehouse. Who may open each route is declared once per route, by its `Access` dependency (the table of
rules below; continuum.web.access); docs/access.md says who holds which role and what is logged.

Nothing here writes the warehouse; the only POSTs sign a browser in and out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import pyarrow as pa
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from common.settings import Settings
from continuum.web import audit, downloads, pages, providers
from continuum.web.access import SESSION_COOKIE, Access, Caller, Gate, Refused, Rule
from continuum.web.airflow_api import AirflowApi
from continuum.web.credentials import Credential, Role
from continuum.web.drilldown import Cell, NoDrillDown, providers_in
from continuum.web.render import render
from continuum.web.warehouse import WarehouseNotPublished

#: A 401 says how to authenticate (RFC 6750); the body is the sign-in form, for people.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="continuum"'}
#: Pages hold referrals and audit lines: never keep them in a shared cache.
NO_STORE = {"Cache-Control": "no-store"}
#: Nothing the app serves may fetch from elsewhere: our pages carry everything inline, and the GX Data
#: Docs it serves (which link CDN styles and scripts) render from what is local, unstyled if need be.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
)

# Who may open what: every route below takes exactly one of these as its `caller` parameter
# (tests/test_access_routes.py proves it). The second argument of Access is the action its audit line
# records (None: not logged as an access).
Anyone = Annotated[Caller, Depends(Access(Rule.PUBLIC))]
FunderPage = Annotated[Caller, Depends(Access(Rule.FUNDER, "view"))]
FunderDownload = Annotated[Caller, Depends(Access(Rule.FUNDER, "download"))]
ProviderPage = Annotated[Caller, Depends(Access(Rule.OWN_PROVIDER, "view"))]
ProviderDownload = Annotated[Caller, Depends(Access(Rule.OWN_PROVIDER, "download"))]
OpsPage = Annotated[Caller, Depends(Access(Rule.OPERATOR, "view"))]
DrillDown = Annotated[Caller, Depends(Access(Rule.OPERATOR, "drilldown"))]


def create_app(settings: Settings, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """`clock` (UTC-aware) is for tests that move time: session expiry, the sign-in throttle."""
    app = FastAPI(title="Continuum", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.gate = Gate(settings, clock)
    app.state.airflow = AirflowApi(settings)
    app.middleware("http")(_audited)
    app.middleware("http")(_security_headers)
    app.add_exception_handler(WarehouseNotPublished, _not_published)
    app.add_exception_handler(Refused, _refused)
    _add_public_routes(app, settings)
    _add_sign_in_routes(app, settings)
    _add_provider_routes(app, settings)
    _add_operator_routes(app, settings)
    return app


async def _security_headers(request: Request, call_next) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Our own URLs (with a provider id or a cell) go to no other site; same-origin requests keep them,
    # so that the browser sends a real Origin with our forms (with no-referrer it sends `null`).
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def _audited(request: Request, call_next) -> Response:
    """Append the audit line of a route that asks for one, once its response is made and before it is
    sent: when the line cannot be written, the caller gets a 503 instead of unrecorded rows."""
    response = await call_next(request)
    action = getattr(request.state, "audit", None)
    if action and response.status_code == 200:
        try:
            # On a worker thread: the append waits for its lock and an fsync, the event loop must not.
            await run_in_threadpool(
                record_access, request, action, request.state.caller, request.state.rows_of, 200
            )
        except OSError as error:
            return PlainTextResponse(f"the audit trail cannot be written ({error.strerror})", status_code=503)
    return response


def record_access(request: Request, action: str, caller: Caller, rows_of: str, status: int) -> None:
    gate: Gate = request.app.state.gate
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    audit.append(
        gate.settings.audit_log_path,
        {
            "at": gate.clock().isoformat(timespec="seconds"),
            "action": action,
            "credential": caller.name,
            "role": str(caller.role) if caller.role else None,
            "path": path,
            "rows_of": rows_of,
            "client": gate.client_address(request),
            "status": status,
        },
    )


def _not_published(request: Request, error: Exception) -> HTMLResponse:
    return HTMLResponse(render("unavailable.html", reason=str(error)), status_code=503)


def _refused(request: Request, refusal: Exception) -> HTMLResponse:
    assert isinstance(refusal, Refused)
    if refusal.status == 401:
        return _signin_form(request, "", refusal.status)
    headers = dict(NO_STORE)
    if refusal.retry_after is not None:
        headers["Retry-After"] = str(refusal.retry_after)
    body = render("forbidden.html", reason=refusal.reason, caller=refusal.caller, signed_in_as=None)
    return HTMLResponse(body, status_code=refusal.status, headers=headers)


def _signin_form(request: Request, message: str, status: int, target: str | None = None) -> HTMLResponse:
    """The sign-in form, coming back to the page that asked for it (or to `target`)."""
    if target is None:
        target = "" if request.url.path == "/signin" else request.url.path
        target += f"?{request.url.query}" if target and request.url.query else ""
    settings: Settings = request.app.state.settings
    body = render(
        "signin.html", next=target, message=message, session_hours=f"{settings.web_session_hours:g}"
    )
    headers = {**NO_STORE, **(CHALLENGE if status == 401 else {})}
    return HTMLResponse(body, status_code=status, headers=headers)


def _add_public_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/", response_class=HTMLResponse)
    def index(caller: Anyone) -> str:
        names = pages.provider_names(settings)
        return render(
            "index.html", providers=sorted(names.items(), key=lambda item: item[1]), signed_in_as=caller.label
        )

    @app.get("/funders", response_class=HTMLResponse)
    def funder_page(caller: FunderPage) -> HTMLResponse:
        links = {"csv": "/funders/funder_outcomes.csv", "parquet": "/funders/funder_outcomes.parquet"}
        body = render(
            "funders.html", downloads=links, signed_in_as=caller.label, **pages.funder_context(settings)
        )
        return HTMLResponse(body, headers=NO_STORE if caller.credential else {})

    @app.get("/funders/funder_outcomes.{fmt}")
    def funder_download(fmt: str, caller: FunderDownload) -> Response:
        return _download(lambda: pages.funder_outcomes_table(settings), fmt, "funder_outcomes")


def _add_sign_in_routes(app: FastAPI, settings: Settings) -> None:
    gate: Gate = app.state.gate

    @app.get("/signin", response_class=HTMLResponse)
    def sign_in_form(request: Request, caller: Anyone) -> HTMLResponse:
        return _signin_form(request, "", 200)

    @app.post("/signin")
    def sign_in(request: Request, caller: Anyone, token: str = Form(""), next: str = Form("")) -> Response:
        gate.refuse_cross_site(request)
        now, address = gate.clock(), gate.client_address(request)
        gate.refuse_if_throttled(address, now)
        credential = gate.credentials.by_secret(token.strip()) if token.strip() else None
        if credential is None:
            gate.throttle.failed(address, now)
            record_access(request, "signin-refused", Caller(), "-", 401)
            return _signin_form(
                request, "That credential is not valid (it may have been revoked).", 401, _safe(next)
            )
        session_id = gate.sessions.open(credential.credential_id, now, gate.session_length)
        response = RedirectResponse(_safe(next) or home_of(credential), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(gate.session_length.total_seconds()),
            httponly=True,
            samesite="lax",  # sent when someone follows a link to the app; never on a cross-site POST
            secure=gate.is_https(request),
            path="/",
        )
        record_access(request, "signin", Caller(credential), credential.provider_id or "-", 303)
        return response

    @app.post("/signout")
    def sign_out(request: Request, caller: Anyone) -> RedirectResponse:
        gate.refuse_cross_site(request)
        response = RedirectResponse("/", status_code=303)
        if caller.via_session:
            gate.sessions.close(caller.via_session)
            record_access(request, "signout", caller, caller.credential.provider_id or "-", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def home_of(credential: Credential) -> str:
    if credential.role is Role.PROVIDER:
        return f"/providers/{quote(credential.provider_id or '')}"
    return "/ops" if credential.role is Role.OPERATOR else "/funders"


def _safe(target: str) -> str:
    """A page of this app to go back to after sign-in; anything else (another site, a scheme) is dropped."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and '"' not in target:
        return target
    return ""


def _add_provider_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/providers/{provider_id}", response_class=HTMLResponse)
    def provider_page(
        provider_id: str,
        caller: ProviderPage,
        direction: str = "all",
        status: str = "",
        flag: str = "any",
        service_type: str = "",
    ) -> HTMLResponse:
        filters = providers.Filters.parse(direction, status, flag, service_type)
        context = pages.provider_context(settings, provider_id, filters)
        return HTMLResponse(render("provider.html", signed_in_as=caller.label, **context), headers=NO_STORE)

    @app.get("/providers/{provider_id}/not-accepted.{fmt}")
    def provider_not_accepted(provider_id: str, fmt: str, caller: ProviderDownload) -> Response:
        return _download(
            lambda: pages.not_accepted_export(settings, provider_id), fmt, f"not-accepted-{provider_id}"
        )

    @app.get("/providers/{provider_id}/referrals.{fmt}")
    def provider_download(provider_id: str, fmt: str, caller: ProviderDownload) -> Response:
        return _download(
            lambda: pages.provider_export(settings, provider_id), fmt, f"referrals-{provider_id}"
        )


def _add_operator_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/ops", response_class=HTMLResponse)
    def ops_page(caller: OpsPage) -> HTMLResponse:
        context = pages.ops_context(settings, app.state.airflow)
        return HTMLResponse(render("ops.html", signed_in_as=caller.label, **context), headers=NO_STORE)

    @app.get("/ops/data-docs/{path:path}")
    def data_docs(path: str, caller: OpsPage) -> Response:
        """The GX Data Docs (they hold sample failing values: operators only), from their folder alone."""
        root = settings.data_docs_dir.resolve()
        file = (root / path).resolve()
        if file.is_dir():
            file = file / "index.html"
        if not file.is_relative_to(root) or not file.is_file():
            return PlainTextResponse("no such Data Docs page\n", status_code=404)
        return FileResponse(file, headers=NO_STORE)

    @app.get("/ops/drilldown", response_class=HTMLResponse)
    def drill_down(request: Request, caller: DrillDown, cell: str = "") -> HTMLResponse:
        if not cell:
            request.state.audit = "view"  # the list of cells: aggregates only
            body = render(
                "drilldown_index.html", signed_in_as=caller.label, **pages.drilldown_index(settings)
            )
            return HTMLResponse(body, headers=NO_STORE)
        try:
            context = pages.drilldown_context(settings, Cell.parse(cell))
        except NoDrillDown as refusal:
            body = render("forbidden.html", reason=str(refusal), caller=caller, signed_in_as=caller.label)
            return HTMLResponse(body, status_code=404, headers=NO_STORE)
        request.state.rows_of = ",".join(providers_in(context["members"])) or "network"
        return HTMLResponse(render("drilldown.html", signed_in_as=caller.label, **context), headers=NO_STORE)


def _download(table: Callable[[], pa.Table], fmt: str, stem: str) -> Response:
    """The table as a file; an unknown format is a plain 404 that does not repeat what was asked."""
    if fmt not in downloads.MEDIA_TYPES:
        known = " or ".join(sorted(downloads.MEDIA_TYPES))
        return PlainTextResponse(f"no such download: the formats are {known}\n", status_code=404)
    return Response(
        downloads.to_bytes(table(), fmt),
        media_type=downloads.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"', **NO_STORE},
    )
