"""The read-only web app: /funders, /providers/<provider_id> and /ops, all from the published warehouse.

Nothing here writes the warehouse; the only POSTs sign a provider's browser in and out."""

from __future__ import annotations

import pyarrow as pa
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from common.settings import Settings
from continuum.web import auth, downloads, pages, providers, tokens
from continuum.web.render import render
from continuum.web.warehouse import WarehouseNotPublished

SESSION_COOKIE = "continuum_session"
#: A 401 says how to authenticate (RFC 6750); the body is the sign-in form, for people.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="continuum"'}
#: Pages hold a provider's referrals: never keep them in a shared cache.
NO_STORE = {"Cache-Control": "no-store"}
#: Nothing the app serves may fetch from elsewhere: our pages carry everything inline, and the GX Data
#: Docs it serves (which link CDN styles and scripts) render from what is local, unstyled if need be.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="Continuum", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=tokens.session_secret(settings.web_secret_path),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.web_session_hours * 3600),
        same_site="lax",  # sent when a provider follows a link to the app; not on cross-site POSTs
        https_only=False,  # the app is served on loopback over plain HTTP
    )
    app.mount(
        "/ops/data-docs",
        StaticFiles(directory=settings.data_docs_dir, html=True, check_dir=False),
        "data-docs",
    )
    app.state.settings = settings
    app.middleware("http")(_security_headers)
    app.add_exception_handler(WarehouseNotPublished, _not_published)
    _add_public_routes(app, settings)
    _add_provider_routes(app, settings)
    return app


async def _security_headers(request: Request, call_next) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _not_published(request: Request, error: Exception) -> HTMLResponse:
    return HTMLResponse(render("unavailable.html", reason=str(error)), status_code=503)


def _add_public_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        names = pages.provider_names(settings)
        return render("index.html", providers=sorted(names.items(), key=lambda item: item[1]))

    @app.get("/funders", response_class=HTMLResponse)
    def funder_page() -> str:
        links = {"csv": "/funders/funder_outcomes.csv", "parquet": "/funders/funder_outcomes.parquet"}
        return render("funders.html", downloads=links, **pages.funder_context(settings))

    @app.get("/funders/funder_outcomes.{fmt}")
    def funder_download(fmt: str) -> Response:
        return _download(pages.funder_outcomes_table(settings), fmt, "funder_outcomes")

    @app.get("/ops", response_class=HTMLResponse)
    def ops_page() -> str:
        return render("ops.html", **pages.ops_context(settings))


def _add_provider_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/providers/{provider_id}", response_class=HTMLResponse)
    def provider_page(
        request: Request,
        provider_id: str,
        direction: str = "all",
        status: str = "",
        flag: str = "any",
        service_type: str = "",
    ) -> HTMLResponse:
        refusal = _refusal(request, settings, provider_id)
        if refusal is not None:
            return refusal
        filters = providers.Filters.parse(direction, status, flag, service_type)
        context = pages.provider_context(settings, provider_id, filters)
        return HTMLResponse(render("provider.html", signed_in_as=provider_id, **context), headers=NO_STORE)

    @app.get("/providers/{provider_id}/referrals.{fmt}")
    def provider_download(request: Request, provider_id: str, fmt: str) -> Response:
        refusal = _refusal(request, settings, provider_id)
        if refusal is not None:
            return refusal
        return _download(pages.provider_export(settings, provider_id), fmt, f"referrals-{provider_id}")

    @app.post("/providers/{provider_id}/signin", response_class=HTMLResponse)
    def sign_in(request: Request, provider_id: str, token: str = Form("")) -> Response:
        signed_in = auth.sign_in(request, settings, token.strip(), provider_id)
        if signed_in is None:
            return _signin_form(settings, provider_id, "That token is not valid (it may have been rotated).")
        if signed_in != provider_id:
            return _forbidden(signed_in)
        return RedirectResponse(f"/providers/{provider_id}", status_code=303)

    @app.post("/signout")
    def sign_out(request: Request) -> RedirectResponse:
        auth.sign_out(request)
        return RedirectResponse("/", status_code=303)


def _refusal(request: Request, settings: Settings, provider_id: str) -> HTMLResponse | None:
    """401 without a valid credential, 403 with another provider's; None when the caller may see it.
    Checked before anything is read, so a refusal carries no data and says nothing of the warehouse."""
    signed_in = auth.caller(request, settings)
    if signed_in is None:
        return _signin_form(settings, provider_id, "")
    if signed_in != provider_id:
        return _forbidden(signed_in)
    return None


def _signin_form(settings: Settings, provider_id: str, message: str) -> HTMLResponse:
    name = pages.provider_names(settings).get(provider_id, provider_id)
    body = render(
        "signin.html",
        provider_id=provider_id,
        provider_name=name,
        message=message,
        session_hours=f"{settings.web_session_hours:g}",
    )
    return HTMLResponse(body, status_code=401, headers={**CHALLENGE, **NO_STORE})


def _forbidden(signed_in: str) -> HTMLResponse:
    return HTMLResponse(render("forbidden.html", signed_in_as=signed_in), status_code=403, headers=NO_STORE)


def _download(table: pa.Table, fmt: str, stem: str) -> Response:
    if fmt not in downloads.MEDIA_TYPES:
        return Response(f"unknown format {fmt!r}: use csv or parquet\n", status_code=404)
    return Response(
        downloads.to_bytes(table, fmt),
        media_type=downloads.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"', **NO_STORE},
    )
