"""The web app in a real headless browser (Debian's chromium driven by Playwright), against a warehouse
built from a simulated network by the real pipeline: simulator -> broker -> `continuum run` (land,
validate, load, dbt, publish); /ops reads the DAG runs from the embedded set-up's own Airflow api-server.
People sign in with named credentials (`continuum access grant`); a scripted session proves that the
audit trail holds exactly what was opened. Screenshots of every page go to artifacts/browser/."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import uvicorn

from common.directory import load_directory
from common.settings import PROJECT_ROOT, Settings
from continuum.web import audit, credentials
from continuum.web.app import create_app
from continuum.web.credentials import Role
from continuum.web.funders import MEASURE_LABELS
from continuum.web.static_report import write_funder_report
from infra import embedded_broker
from tests.conftest import EXTERNAL_BOOTSTRAP, free_port, make_settings

pytestmark = [pytest.mark.slow, pytest.mark.slowest]  # make test-all

CHROMIUM = Path("/usr/bin/chromium")
#: The flags this machine needs (see the machine notes): no sandbox as root, and no background
#: networking, whose connections a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "artifacts" / "browser"
#: A fixed end makes the simulation, and so the warehouse, the same on every run.
SIMULATION_END = datetime(2026, 10, 1, tzinfo=UTC)
PARTICIPANTS = 600

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (infra/system-packages.sh)", allow_module_level=True)
sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright


def run_pipeline(settings: Settings, env: dict[str, str]) -> None:
    """Simulate the network into the broker, then one `continuum run`, as an operator would."""
    from streams.simulator.config import SimulationConfig
    from streams.simulator.output import produce
    from streams.simulator.simulation import Simulation

    config = SimulationConfig(participants=PARTICIPANTS, seed=7, end=SIMULATION_END)
    simulation = Simulation(config, load_directory(settings.provider_directory))
    produce(simulation.messages(), settings)
    run = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "run", "--as-of", SIMULATION_END.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A published warehouse from the real pipeline, on a broker of this module's own: the session's
    broker carries other tests' events, which the lander would land too."""
    settings = make_settings(tmp_path_factory.mktemp("browser") / "home")
    env = {
        **os.environ,
        "CONTINUUM_HOME": str(settings.home),
        "CONTINUUM_BROKER_PORT": str(settings.broker_port),
    }
    if EXTERNAL_BOOTSTRAP:
        env["CONTINUUM_KAFKA_BOOTSTRAP"] = EXTERNAL_BOOTSTRAP
    else:
        embedded_broker.start(settings)
    try:
        run_pipeline(settings, env)
        assert settings.published_warehouse_path.exists()
        yield settings  # the broker stays up for /ops, which shows its lag
    finally:
        if not EXTERNAL_BOOTSTRAP:
            embedded_broker.stop(settings)


@pytest.fixture(scope="module")
def airflow_api(built: Settings) -> Iterator[str]:
    """The embedded set-up's api-server (as `continuum airflow` runs it) on the metadata database that
    `continuum run` wrote: /ops reads DAG runs through its REST API, as in the deployment."""
    from continuum.pipeline import airflow_home as af

    port = free_port()
    env = {**os.environ, **af.airflow_env(built), "AIRFLOW__API__WORKERS": "1"}
    log = open(built.state_dir / "airflow-api-server.log", "w")  # noqa: SIM115 (kept open while it runs)
    server = subprocess.Popen(
        af.airflow_command("api-server", "--port", str(port)), env=env, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"{url}/api/v2/monitor/health"):
            assert server.poll() is None and time.monotonic() < deadline, (
                built.state_dir / "airflow-api-server.log"
            ).read_text()[-3000:]
            time.sleep(1)
        yield url
    finally:
        af.stop_process_group(server, grace_s=20)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def base_url(built: Settings, airflow_api: str) -> Iterator[str]:
    port = free_port()
    settings = built.model_copy(update={"airflow_api_url": airflow_api})
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the app did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def grant(settings: Settings, role: Role, provider: str | None = None, name: str | None = None) -> str:
    name = name or f"{role} {provider or ''} {time.monotonic_ns()}"
    return credentials.grant(settings.web_credentials_path, role, name, provider)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def funder_page(browser, built):
    """A page whose requests carry a funder credential (the funder page needs one by default)."""
    headers = {"Authorization": f"Bearer {grant(built, Role.FUNDER)}"}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, extra_http_headers=headers)
    yield context.new_page()
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    page.screenshot(path=ARTIFACTS / f"{name}-top.png")  # what a reader sees first: for the README


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.published_warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def cells(page) -> dict[str, str]:
    """Every published number on the page, by its key (measure|grain|period|dimension|value)."""
    return page.eval_on_selector_all(
        "[data-cell]", "els => Object.fromEntries(els.map(e => [e.dataset.cell, e.textContent.trim()]))"
    )


def open_all_details(page) -> None:
    page.eval_on_selector_all("details", "els => els.forEach(e => e.open = true)")


# --- funders ---------------------------------------------------------------------------------------


def test_funder_page_shows_every_measure_with_a_chart(built, base_url, funder_page):
    page = funder_page
    response = page.goto(f"{base_url}/funders")
    assert response.status == 200
    screenshot(page, "funders")
    published = {row[0] for row in query(built, "select distinct measure_id from marts.funder_outcomes")}
    shown = page.eval_on_selector_all("section[data-measure]", "els => els.map(e => e.dataset.measure)")
    assert set(shown) == published
    for measure_id in shown:
        chart = page.locator(f'section[data-measure="{measure_id}"] figure[data-chart] svg')
        assert chart.count() == 1 and chart.is_visible(), f"{measure_id} has no chart"
        assert chart.locator("path").count() > 0
    missing = set(MEASURE_LABELS) - published
    assert not missing, f"the published warehouse lacks measures of warehouse-v1: {sorted(missing)}"


def test_a_suppressed_cell_reads_as_suppressed(built, base_url, funder_page):
    page = funder_page
    page.goto(f"{base_url}/funders")
    open_all_details(page)
    shown = cells(page)
    suppressed = [
        "|".join(str(v) for v in row)
        for row in query(
            built,
            "select measure_id, period_grain, period_start, dimension, dimension_value "
            "from marts.funder_outcomes where is_suppressed",
        )
    ]
    on_page = [key for key in suppressed if key in shown]
    assert on_page, "a simulated network of this size has suppressed cells on the page"
    for key in on_page:
        assert shown[key] == "suppressed", key
    first = page.locator(f'[data-cell="{on_page[0]}"]').first
    assert first.is_visible() and first.inner_text() == "suppressed"
    published_zero = [k for k, text in shown.items() if text in ("0", "0.0%")]
    assert not set(published_zero) & set(suppressed)


def test_static_report_opens_from_disk_offline_with_the_same_numbers(built, base_url, browser, tmp_path):
    index = write_funder_report(built, tmp_path / "report")
    context = browser.new_context(offline=True)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(index.as_uri())
    report_cells = cells(page)
    assert all(url.startswith("file://") for url in requests), requests
    sections = page.locator("section[data-measure]").count()
    assert sections and page.locator("section[data-measure] figure[data-chart] svg").count() == sections
    screenshot(page, "static-report")
    context.close()

    signed_in = browser.new_context(
        extra_http_headers={"Authorization": f"Bearer {grant(built, Role.FUNDER)}"}
    )
    app = signed_in.new_page()
    app.goto(f"{base_url}/funders")
    assert report_cells == cells(app) and len(report_cells) > 100
    signed_in.close()


# --- providers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_providers(built) -> tuple[str, str]:
    """The two providers with the most referrals: each has rows that the other must not see."""
    rows = query(
        built,
        "select provider_id from (select from_provider_id as provider_id from marts.referral_handoffs "
        "union all select to_provider_id from marts.referral_handoffs) "
        "group by 1 order by count(*) desc, 1 limit 2",
    )
    return rows[0][0], rows[1][0]


def referral_ids_shown(page) -> set[str]:
    return set(page.eval_on_selector_all("tr[data-referral-id]", "els => els.map(e => e.dataset.referralId)"))


def own_and_others(settings: Settings, provider_id: str) -> tuple[set[str], set[str]]:
    rows = query(
        settings,
        "select referral_id, ? in (from_provider_id, to_provider_id) from marts.referral_handoffs",
        [provider_id],
    )
    return {r for r, own in rows if own}, {r for r, own in rows if not own}


def test_provider_page_with_its_token_shows_its_referrals_and_none_of_another(
    built, base_url, browser, two_providers
):
    provider, other = two_providers
    token = grant(built, Role.PROVIDER, provider)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"Authorization": f"Bearer {token}"}
    )
    page = context.new_page()
    response = page.goto(f"{base_url}/providers/{provider}")
    assert response.status == 200
    own, others = own_and_others(built, provider)
    shown = referral_ids_shown(page)
    assert shown and shown <= own and not shown & others
    prohibited = {
        r for (r,) in query(built, "select referral_id from marts.referral_handoffs where contact_prohibited")
    }
    for referral_id in shown & prohibited:
        row = page.locator(f'tr[data-referral-id="{referral_id}"]').first
        assert "do not contact" in row.inner_text()
    screenshot(page, "provider")
    context.close()


def test_provider_page_without_token_is_401_and_with_another_providers_is_403(
    built, base_url, browser, two_providers
):
    provider, other = two_providers
    other_token = grant(built, Role.PROVIDER, other)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    response = page.goto(f"{base_url}/providers/{provider}")
    assert response.status == 401 and not referral_ids_shown(page)
    screenshot(page, "provider-401")

    page.fill("#token", other_token)  # a person signing in with another provider's token
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value.status == 403 and not referral_ids_shown(page)
    page.close()

    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {other_token}"})
    page = context.new_page()
    response = page.goto(f"{base_url}/providers/{provider}")
    assert response.status == 403 and not referral_ids_shown(page)
    screenshot(page, "provider-403")
    context.close()


def test_browser_sign_in_keeps_a_session(built, base_url, page, two_providers):
    provider, other = two_providers
    token = grant(built, Role.PROVIDER, provider)
    assert page.goto(f"{base_url}/providers/{provider}").status == 401
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/providers/{provider}")
    assert referral_ids_shown(page) <= own_and_others(built, provider)[0]
    assert page.goto(f"{base_url}/providers/{provider}?direction=received").status == 200
    assert page.goto(f"{base_url}/providers/{other}").status == 403


# --- operators -------------------------------------------------------------------------------------


def test_ops_page_shows_the_pipeline_state(built, base_url, browser):
    headers = {"Authorization": f"Bearer {grant(built, Role.OPERATOR)}"}
    page = browser.new_context(viewport={"width": 1280, "height": 900}, extra_http_headers=headers).new_page()
    assert page.goto(f"{base_url}/ops").status == 200
    screenshot(page, "ops")
    for table in ("lag", "dag_runs", "dead_letters", "provider_data_quality"):
        assert page.locator(f'table[data-table="{table}"]').count() == 1, table
    assert "success" in page.locator('table[data-table="dag_runs"]').inner_text()
    page.click("text=Great Expectations Data Docs")
    assert page.url.startswith(f"{base_url}/ops/data-docs/")


# --- a scripted session and its audit trail ---------------------------------------------------------


def sign_in_here(page, secret: str) -> None:
    """Sign in on the form the app shows for a page that needs a credential."""
    page.fill("#token", secret)
    with page.expect_navigation():
        page.click("form.signin button[type=submit]")


def sign_out(page) -> None:
    with page.expect_navigation():
        page.click("header form[action='/signout'] button")


def test_a_scripted_session_leaves_exactly_its_accesses_in_the_audit_trail(
    built, base_url, browser, two_providers
):
    provider = two_providers[0]
    jane = grant(built, Role.PROVIDER, provider, name="Jane Doe, case manager")
    olu = grant(built, Role.OPERATOR, name="Olu Ade, data team")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()

    assert page.goto(f"{base_url}/providers/{provider}").status == 401  # not an access: nothing shown
    sign_in_here(page, jane)
    assert page.url == f"{base_url}/providers/{provider}" and referral_ids_shown(page)
    with page.expect_download() as download:
        page.click(f"a[href='/providers/{provider}/referrals.csv']")
    assert download.value.suggested_filename == f"referrals-{provider}.csv"
    sign_out(page)
    assert page.goto(f"{base_url}/providers/{provider}").status == 401  # the session is gone

    assert page.goto(f"{base_url}/ops/drilldown").status == 401
    sign_in_here(page, olu)
    assert page.url == f"{base_url}/ops/drilldown"
    link = page.locator("a[data-drilldown]").first
    cell = link.get_attribute("data-drilldown")
    with page.expect_navigation():
        link.click()
    screenshot(page, "drilldown")
    sign_out(page)
    context.close()

    mine = [
        (r["credential"], r["action"], r["path"], r["rows_of"])
        for r in audit.read(built.audit_log_path)
        if r["credential"] in ("Jane Doe, case manager", "Olu Ade, data team")
    ]
    drilled = urllib.parse.quote_plus(cell, safe="")
    assert mine[:4] == [
        ("Jane Doe, case manager", "signin", "/signin", provider),
        ("Jane Doe, case manager", "view", f"/providers/{provider}", provider),
        ("Jane Doe, case manager", "download", f"/providers/{provider}/referrals.csv", provider),
        ("Jane Doe, case manager", "signout", "/signout", provider),
    ]
    assert [m[:3] for m in mine[4:]] == [
        ("Olu Ade, data team", "signin", "/signin"),
        ("Olu Ade, data team", "view", "/ops/drilldown"),
        ("Olu Ade, data team", "drilldown", f"/ops/drilldown?cell={drilled}"),
        ("Olu Ade, data team", "signout", "/signout"),
    ]
    assert audit.verify(built.audit_log_path).intact


def test_drill_down_members_match_the_published_numerator_and_denominator(built, base_url, browser):
    """For the largest unsuppressed cells, the members the page lists in the denominator are as many as the
    published denominator, those in the numerator as many as the numerator; a suppressed cell has none."""
    headers = {"Authorization": f"Bearer {grant(built, Role.OPERATOR)}"}
    context = browser.new_context(extra_http_headers=headers)
    page = context.new_page()
    rows = query(
        built,
        "select measure_id, period_grain, period_start, dimension, dimension_value, numerator, denominator "
        "from marts.funder_outcomes where not is_suppressed and denominator is not null "
        "order by denominator desc, measure_id limit 3",
    )
    assert rows
    for *key, numerator, denominator in rows:
        cell = "|".join(str(v) for v in key)
        assert page.goto(f"{base_url}/ops/drilldown?cell={urllib.parse.quote(cell)}").status == 200
        assert page.locator("[data-numerator]").inner_text() == str(numerator)
        assert page.locator("[data-members-in-numerator]").inner_text() == str(numerator), cell
        assert page.locator("[data-members-in-denominator]").inner_text() == str(denominator), cell
    suppressed = query(
        built,
        "select measure_id, period_grain, period_start, dimension, dimension_value "
        "from marts.funder_outcomes where is_suppressed limit 1",
    )
    cell = "|".join(str(v) for v in suppressed[0])
    assert page.goto(f"{base_url}/ops/drilldown?cell={urllib.parse.quote(cell)}").status == 404
    context.close()
