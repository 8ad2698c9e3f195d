"""Named credentials, sessions, sign-in protections, the audit trail and the drill-down, against the app
and the small hand-made warehouse of tests/test_web.py (no broker, no browser; the route x caller table
is tests/test_access_routes.py, the scripted browser session tests/test_browser.py)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from continuum.cli import main as cli_main
from continuum.web import audit, credentials
from continuum.web.app import create_app
from continuum.web.credentials import Role
from tests.test_web import MEMBERS, NO_AIRFLOW, A, B, C, make_sample_warehouse

T = datetime(2026, 12, 2, 9, tzinfo=UTC)
CELL = "referral_response_48h|quarter|2025-07-01|to_provider_id|okc-reentry"
SUPPRESSED = "referral_response_48h|quarter|2025-04-01|all|all"


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    made = Settings(home=tmp_path / "home", land_broker_timeout_seconds=0.5, airflow_api_url=NO_AIRFLOW)
    make_sample_warehouse(made.published_warehouse_path)
    return made


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, clock: Clock):
    return create_app(settings, clock=clock)


def grant(settings: Settings, name: str, role: Role = Role.PROVIDER, provider: str | None = A) -> str:
    return credentials.grant(
        settings.web_credentials_path, role, name, provider if role is Role.PROVIDER else None
    )


def sign_in(client: TestClient, secret: str, **headers: str):
    return client.post("/signin", data={"token": secret}, headers=headers, follow_redirects=False)


# --- credentials ------------------------------------------------------------------------------------


def test_several_credentials_per_provider_and_revoking_one_leaves_the_others(app, settings):
    jane, omar = grant(settings, "Jane Doe, case manager"), grant(settings, "Omar, intake")
    jane_browser, omar_browser = TestClient(app), TestClient(app)
    assert sign_in(jane_browser, jane).status_code == 303 and sign_in(omar_browser, omar).status_code == 303
    credentials.revoke(settings.web_credentials_path, "Jane Doe, case manager")
    assert jane_browser.get(f"/providers/{A}").status_code == 401  # her open session ends too
    assert (
        TestClient(app).get(f"/providers/{A}", headers={"Authorization": f"Bearer {jane}"}).status_code == 401
    )
    assert omar_browser.get(f"/providers/{A}").status_code == 200
    assert sign_in(TestClient(app), jane).status_code == 401


def test_only_hashes_are_stored_and_names_are_unique_among_active_credentials(settings):
    secret = grant(settings, "Jane Doe, case manager")
    stored = settings.web_credentials_path.read_text()
    assert secret not in stored and "Jane Doe, case manager" in stored
    assert settings.web_credentials_path.stat().st_mode & 0o077 == 0  # readable by its owner only
    with pytest.raises(credentials.CredentialError, match="already named"):
        grant(settings, "Jane Doe, case manager")
    with pytest.raises(credentials.CredentialError, match="--provider"):
        credentials.grant(settings.web_credentials_path, Role.PROVIDER, "no provider", None)
    with pytest.raises(credentials.CredentialError, match="no active credential"):
        credentials.revoke(settings.web_credentials_path, "Nobody")


def test_access_commands_grant_list_revoke_and_audit(settings, capsys, monkeypatch):
    monkeypatch.setenv("CONTINUUM_HOME", str(settings.home))
    from common.settings import get_settings

    get_settings.cache_clear()
    try:
        grant_args = [
            "access",
            "grant",
            "--role",
            "provider",
            "--provider",
            A,
            "--name",
            "Jane Doe, case manager",
        ]
        assert cli_main(grant_args) == 0
        secret = capsys.readouterr().out.split()[-1]
        assert (
            cli_main(["access", "grant", "--role", "provider", "--provider", "nowhere", "--name", "X"]) == 2
        )
        assert cli_main(["access", "grant", "--role", "funder", "--name", "Fay, program officer"]) == 0
        capsys.readouterr()
        assert cli_main(["access", "list"]) == 0
        listed = capsys.readouterr().out
        assert (
            "Jane Doe, case manager\tprovider\tokc-housing" in listed
            and "Fay, program officer\tfunder" in listed
        )
        assert secret not in listed
        assert cli_main(["access", "revoke", "Jane Doe, case manager"]) == 0
        assert cli_main(["access", "revoke", "Jane Doe, case manager"]) == 2
        capsys.readouterr()
        assert cli_main(["access", "list"]) == 0
        assert "Jane" not in capsys.readouterr().out
        assert cli_main(["access", "audit", "--verify"]) == 0
    finally:
        get_settings.cache_clear()
    assert credentials.Store(settings.web_credentials_path).by_secret(secret) is None


# --- sessions -----------------------------------------------------------------------------------------


def test_a_session_expires_after_the_configured_hours(app, settings, clock):
    browser = TestClient(app)
    assert sign_in(browser, grant(settings, "Jane")).status_code == 303
    clock.now = T + timedelta(hours=settings.web_session_hours) - timedelta(seconds=1)
    assert browser.get(f"/providers/{A}").status_code == 200
    clock.now = T + timedelta(hours=settings.web_session_hours)
    assert browser.get(f"/providers/{A}").status_code == 401


def test_sign_out_ends_the_session_on_the_server_so_a_replayed_cookie_is_refused(app, settings):
    browser = TestClient(app)
    signed = sign_in(browser, grant(settings, "Jane"))
    cookie = signed.cookies["continuum_session"]
    assert browser.get(f"/providers/{A}").status_code == 200
    assert browser.post("/signout", follow_redirects=False).status_code == 303
    replay = TestClient(app, cookies={"continuum_session": cookie})
    assert replay.get(f"/providers/{A}").status_code == 401


def test_the_cookie_is_secure_over_https_and_behind_a_trusted_proxy_only(settings):
    secret = grant(settings, "Jane")
    plain = sign_in(TestClient(create_app(settings)), secret)
    assert "secure" not in plain.headers["set-cookie"].lower()
    spoofed = sign_in(TestClient(create_app(settings)), secret, **{"X-Forwarded-Proto": "https"})
    assert "secure" not in spoofed.headers["set-cookie"].lower()  # not told to trust a proxy
    https = sign_in(TestClient(create_app(settings), base_url="https://testserver"), secret)
    assert "; secure" in https.headers["set-cookie"].lower()
    proxied = create_app(settings.model_copy(update={"web_trust_proxy": True}))
    behind = sign_in(TestClient(proxied), secret, **{"X-Forwarded-Proto": "https"})
    assert "; secure" in behind.headers["set-cookie"].lower()
    assert "samesite=lax" in behind.headers["set-cookie"].lower()


# --- cross-site requests and throttling ---------------------------------------------------------------


def test_a_sign_in_or_out_posted_from_another_site_is_refused(app, settings):
    secret = grant(settings, "Jane")
    browser = TestClient(app)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame on another site
        {"Origin": "null"},
    ):
        refused = sign_in(browser, secret, **headers)
        assert refused.status_code == 403 and "continuum_session" not in refused.cookies
    assert sign_in(browser, secret, Origin="http://testserver").status_code == 303
    same_origin = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # what Chromium sends with no referrer
    assert sign_in(TestClient(app), secret, **same_origin).status_code == 303
    assert browser.post("/signout", headers={"Origin": "https://evil.example"}).status_code == 403
    assert browser.get(f"/providers/{A}").status_code == 200  # the forged sign-out did nothing


def test_repeated_failed_sign_ins_from_one_address_are_refused_for_a_while(app, settings, clock):
    secret = grant(settings, "Jane")
    browser = TestClient(app)
    for _ in range(settings.web_signin_max_failures):
        assert sign_in(browser, "guess").status_code == 401
    refused = sign_in(browser, secret)  # even the right credential, while the address is refused
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    guessing = TestClient(app, headers={"Authorization": "Bearer guess"})
    assert guessing.get(f"/providers/{A}").status_code == 429  # bearer guesses are counted too
    other_address = TestClient(app, client=("203.0.113.9", 50000))
    assert sign_in(other_address, secret).status_code == 303
    clock.now = T + timedelta(seconds=settings.web_signin_lockout_seconds + 1)
    assert sign_in(browser, secret).status_code == 303


def test_anonymous_load_on_ops_is_refused_cheaply(app, settings):
    """150 anonymous /ops requests cost next to nothing: refused before the broker, Airflow or the
    warehouse are asked (the issue saw a signed-in page slow from 0.08 s to 4 s under such load)."""
    browser = TestClient(app)
    sign_in(browser, grant(settings, "Jane"))
    anonymous = TestClient(app)
    errors: list[int] = []

    def hammer() -> None:
        for _ in range(50):
            status = anonymous.get("/ops").status_code
            if status != 401:
                errors.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    page_started = time.perf_counter()
    assert browser.get(f"/providers/{A}").status_code == 200
    page_seconds = time.perf_counter() - page_started
    for thread in threads:
        thread.join()
    assert errors == []
    assert time.perf_counter() - started < 10 and page_seconds < 2


# --- audit trail --------------------------------------------------------------------------------------


def test_the_audit_trail_records_each_access_with_the_credentials_name(app, settings, clock):
    browser = TestClient(app, client=("198.51.100.7", 40000))
    sign_in(browser, grant(settings, "Jane Doe, case manager"))
    browser.get(f"/providers/{A}")
    browser.get(f"/providers/{A}/referrals.csv")
    browser.get(f"/providers/{B}")  # refused: not an access
    browser.post("/signout")
    lines = list(audit.read(settings.audit_log_path))
    assert [(r["action"], r["path"], r["rows_of"]) for r in lines] == [
        ("signin", "/signin", A),
        ("view", f"/providers/{A}", A),
        ("download", f"/providers/{A}/referrals.csv", A),
        ("signout", "/signout", A),
    ]
    assert {(r["credential"], r["role"], r["client"], r["at"]) for r in lines} == {
        ("Jane Doe, case manager", "provider", "198.51.100.7", T.isoformat())
    }
    assert audit.select(settings.audit_log_path, provider_id=B) == []
    assert len(audit.select(settings.audit_log_path, since=T + timedelta(seconds=1))) == 0


def test_an_edited_or_removed_audit_line_breaks_the_chain(settings):
    path = settings.audit_log_path
    for i in range(4):
        audit.append(path, {"at": f"2026-12-02T09:00:0{i}+00:00", "action": "view", "credential": f"c{i}"})
    assert audit.verify(path).intact and audit.verify(path).records == 4
    original = path.read_text().splitlines()
    path.write_text(
        "\n".join([original[0], original[1].replace('"c1"', '"someone else"'), *original[2:]]) + "\n"
    )
    assert audit.verify(path).broken_at == 2
    path.write_text("\n".join([original[0], *original[2:]]) + "\n")
    assert audit.verify(path).broken_at == 2
    path.write_text("\n".join([*original[:3], original[3][:40]]) + "\n")
    assert audit.verify(path).broken_at == 4
    assert json.loads(original[1])["prev"] == json.loads(original[0])["hash"]


def test_the_operators_page_shows_the_latest_accesses(app, settings):
    provider = TestClient(app)
    sign_in(provider, grant(settings, "Jane Doe, case manager"))
    provider.get(f"/providers/{A}/referrals.csv")
    operator = TestClient(app, headers={"Authorization": f"Bearer {grant(settings, 'Olu', Role.OPERATOR)}"})
    page = operator.get("/ops").text.split('data-table="audit"')[1]
    assert "Jane Doe, case manager" in page and f"/providers/{A}/referrals.csv" in page


# --- drill-down ---------------------------------------------------------------------------------------


def test_an_operator_sees_the_members_behind_an_unsuppressed_cell(app, settings):
    operator = TestClient(app, headers={"Authorization": f"Bearer {grant(settings, 'Olu', Role.OPERATOR)}"})
    index = operator.get("/ops/drilldown")
    assert index.status_code == 200 and CELL in index.text and SUPPRESSED not in index.text
    page = operator.get("/ops/drilldown", params={"cell": CELL})
    assert page.status_code == 200
    assert {m[5] for m in MEMBERS if f">{m[5]}<" in page.text} == {f"ref-{i}" for i in range(14)}
    # By hand: 12 of the 14 referrals in the numerator, all 14 in the denominator, 13 participants.
    assert "data-members-in-numerator>12<" in page.text and "data-members-in-denominator>14<" in page.text
    assert "data-participants>13<" in page.text
    assert "pk-suppressed" not in page.text and "ref-s<" not in page.text
    drilled = [r for r in audit.read(settings.audit_log_path) if r["action"] == "drilldown"]
    assert [(r["credential"], r["rows_of"]) for r in drilled] == [("Olu", f"{A},{B},{C}")]


def test_a_suppressed_or_unknown_cell_has_no_drill_down(app, settings):
    operator = TestClient(app, headers={"Authorization": f"Bearer {grant(settings, 'Olu', Role.OPERATOR)}"})
    for cell in [SUPPRESSED, "nope|quarter|2025-07-01|all|all", "not a cell", "a|b|not-a-date|c|d"]:
        answer = operator.get("/ops/drilldown", params={"cell": cell})
        assert answer.status_code == 404, cell
        assert "pk-suppressed" not in answer.text and "<td>" not in answer.text
    assert not [r for r in audit.read(settings.audit_log_path) if r["action"] == "drilldown"]
    for role in (Role.FUNDER, Role.PROVIDER):
        other = TestClient(app, headers={"Authorization": f"Bearer {grant(settings, f'{role} x', role)}"})
        assert other.get("/ops/drilldown", params={"cell": CELL}).status_code == 403
