"""Every route of the app x every kind of caller: the status code of each cell, written by hand.

The table must name every route of `app.routes` (a new route without a row fails here), and every route
must declare its access rule once, through one `Access` dependency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from common.settings import Settings
from continuum.web import credentials
from continuum.web.access import Access
from continuum.web.app import create_app
from continuum.web.credentials import Role
from tests.test_web import NO_AIRFLOW, A, B, make_sample_warehouse

CALLERS = ("none", "provider A", "provider B", "funder", "operator", "revoked", "expired")
CELL = "referral_response_48h|quarter|2025-07-01|to_provider_id|okc-reentry"

#: (method, route path, the URL asked) -> status per caller, in the order of CALLERS.
#: "revoked" is provider A's credential revoked after it signed in; "expired" is a provider A session
#: opened longer ago than CONTINUUM_WEB_SESSION_HOURS. POST /signin posts a wrong credential.
EXPECTED: dict[tuple[str, str, str], tuple[int, ...]] = {
    ("GET", "/", "/"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/signin", "/signin"): (200, 200, 200, 200, 200, 200, 200),
    ("POST", "/signin", "/signin"): (401, 401, 401, 401, 401, 401, 401),
    ("GET", "/funders", "/funders"): (401, 403, 403, 200, 200, 401, 401),
    ("GET", "/funders/funder_outcomes.{fmt}", "/funders/funder_outcomes.csv"): (
        401, 403, 403, 200, 200, 401, 401,
    ),
    ("GET", "/providers/{provider_id}", f"/providers/{A}"): (401, 200, 403, 403, 403, 401, 401),
    ("GET", "/providers/{provider_id}/referrals.{fmt}", f"/providers/{A}/referrals.csv"): (
        401, 200, 403, 403, 403, 401, 401,
    ),
    ("GET", "/providers/{provider_id}/not-accepted.{fmt}", f"/providers/{A}/not-accepted.csv"): (
        401, 200, 403, 403, 403, 401, 401,
    ),
    ("GET", "/ops", "/ops"): (401, 403, 403, 403, 200, 401, 401),
    ("GET", "/ops/data-docs/{path:path}", "/ops/data-docs/index.html"): (401, 403, 403, 403, 200, 401, 401),
    ("GET", "/ops/drilldown", f"/ops/drilldown?cell={CELL}"): (401, 403, 403, 403, 200, 401, 401),
    # Last: signing out ends the caller's session.
    ("POST", "/signout", "/signout"): (303, 303, 303, 303, 303, 303, 303),
}  # fmt: skip

T = datetime(2026, 12, 2, 9, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("routes") / "home"
    settings = Settings(
        home=home, land_broker_timeout_seconds=0.5, airflow_api_url=NO_AIRFLOW, web_signin_max_failures=1000
    )
    make_sample_warehouse(settings.published_warehouse_path)
    settings.data_docs_dir.mkdir(parents=True)
    (settings.data_docs_dir / "index.html").write_text("<p>validation results</p>")
    clock = Clock(T)
    app = create_app(settings, clock=clock)
    return app, settings, clock


def signed_in(
    app, settings: Settings, clock: Clock, role: Role, provider: str | None, name: str
) -> TestClient:
    client = TestClient(app)
    secret = credentials.grant(settings.web_credentials_path, role, name, provider)
    assert client.post("/signin", data={"token": secret}, follow_redirects=False).status_code == 303
    return client


@pytest.fixture(scope="module")
def callers(matrix_app) -> dict[str, TestClient]:
    app, settings, clock = matrix_app
    made = {
        "none": TestClient(app),
        "provider A": signed_in(app, settings, clock, Role.PROVIDER, A, "Ann, case manager at A"),
        "provider B": signed_in(app, settings, clock, Role.PROVIDER, B, "Bob, intake at B"),
        "funder": signed_in(app, settings, clock, Role.FUNDER, None, "Fay, program officer"),
        "operator": signed_in(app, settings, clock, Role.OPERATOR, None, "Olu, data team"),
        "revoked": signed_in(app, settings, clock, Role.PROVIDER, A, "Rex, left A"),
    }
    credentials.revoke(settings.web_credentials_path, "Rex, left A")
    clock.now = T - timedelta(hours=settings.web_session_hours, minutes=1)
    made["expired"] = signed_in(app, settings, clock, Role.PROVIDER, A, "Eve, A, signed in yesterday")
    clock.now = T
    return made


def test_the_table_names_every_route_and_every_route_declares_one_access_rule(matrix_app):
    app, _, _ = matrix_app
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) == len(app.routes), "a mount or raw route bypasses the Access dependency"
    declared = {(method, r.path) for r in routes for method in r.methods}
    assert declared == {(method, path) for method, path, _ in EXPECTED}
    for route in routes:
        rules = [d.call for d in route.dependant.dependencies if isinstance(d.call, Access)]
        assert len(rules) == 1, f"{route.path} declares {len(rules)} access rules"


def test_every_route_answers_every_caller_as_the_table_says(callers):
    wrong = {}
    for (method, _, url), expected in EXPECTED.items():
        for caller, status in zip(CALLERS, expected, strict=True):
            data = {"token": "not-a-credential"} if method == "POST" else None
            answer = callers[caller].request(method, url, data=data, follow_redirects=False)
            if answer.status_code != status:
                wrong[(method, url, caller)] = f"{answer.status_code}, expected {status}"
            elif status >= 400:  # a refusal carries no participant-level row
                assert "pk0000" not in answer.text and "ev-" not in answer.text, (method, url, caller)
    assert wrong == {}


def test_a_public_funder_page_opens_without_a_credential_and_nothing_else_does(tmp_path: Path):
    settings = Settings(home=tmp_path / "home", web_funders_public=True, airflow_api_url=NO_AIRFLOW)
    make_sample_warehouse(settings.published_warehouse_path)
    client = TestClient(create_app(settings))
    assert client.get("/funders").status_code == 200
    assert client.get("/funders/funder_outcomes.csv").status_code == 200
    assert client.get(f"/providers/{A}").status_code == 401
    assert client.get("/ops").status_code == 401
    assert client.get(f"/ops/drilldown?cell={CELL}").status_code == 401
