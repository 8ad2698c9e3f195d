"""The web app against a small hand-made published warehouse (the marts of warehouse-v1 with a few
rows each): what each page shows, downloads, the static report. No broker, no browser. Who may open
what, sessions and the audit trail: tests/test_access*.py."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from continuum.cli import main as cli_main
from continuum.web import credentials, tokens
from continuum.web.app import create_app
from continuum.web.static_report import write_funder_report

A, B, C = "okc-housing", "okc-reentry", "tulsa-recovery"
T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)

MART_DDL = """
create schema marts;
create schema raw;
create schema provider_views;
create table marts.referral_handoffs (
    referral_id varchar, participant_key varchar, from_provider_id varchar, to_provider_id varchar,
    service_type varchar, priority varchar, contact_prohibited boolean, requested_at timestamptz,
    first_response_at timestamptz, accepted_at timestamptz, completed_at timestamptz, closed_at timestamptz,
    final_status varchar, final_status_reason varchar, hours_to_first_response double,
    is_response_overdue boolean, is_stalled boolean, is_connected boolean, invalid_transition_count integer);
create table marts.provider_handoff_summary (
    from_provider_id varchar, to_provider_id varchar, month date, referrals_requested bigint,
    responded_within_48h bigint, accepted bigint, rejected bigint, completed bigint, connected bigint,
    stalled bigint, median_hours_to_first_response double, loop_closure_rate double);
create table marts.journey_events (
    participant_key varchar, seq bigint, event_id varchar, occurred_at timestamptz, event_type varchar,
    provider_id varchar, program_type varchar, stage varchar);
create table marts.participant_journeys (
    participant_key varchar, first_seen_at timestamptz, last_seen_at timestamptz,
    first_provider_id varchar, first_program_type varchar, providers_engaged bigint, enrollments bigint,
    services_received bigint, referrals_requested bigint, referrals_connected bigint,
    latest_release_at timestamptz, days_release_to_first_service integer,
    rearrested_within_365d_of_latest_release boolean, current_stage varchar);
create table marts.funder_outcomes (
    measure_id varchar, period_grain varchar, period_start date, dimension varchar,
    dimension_value varchar, numerator bigint, denominator bigint, rate double, is_suppressed boolean);
create table marts.provider_data_quality (
    provider_id varchar, landed_on date, events_landed bigint, duplicates bigint, dead_letters bigint,
    data_invalid bigint, batches_quarantined bigint, late_events bigint, invalid_transitions bigint);
create table raw.batches (
    batch_name varchar, topic varchar, provider_id varchar, kafka_partition integer, first_offset bigint,
    last_offset bigint, status varchar, events bigint, dead_letters bigint, failed_expectations json,
    validated_at timestamptz, loaded_at timestamptz, validation_result_path varchar);
create table raw.dead_letters (provider_id varchar, error_reason varchar, error_detail varchar);
create schema operators;
create table operators.funder_outcome_member_rows (
    measure_id varchar, period_grain varchar, period_start date, member_id varchar, participant_key varchar,
    is_in_numerator boolean, program_type varchar, to_provider_id varchar, service_type varchar,
    groups struct(dimension varchar, dimension_value varchar)[], event_ids varchar[], provider_ids varchar[]);
"""

#: (referral_id, from, to, contact_prohibited, overdue, stalled, final_status)
REFERRALS = [
    ("a0000000-0000-4000-8000-000000000001", A, B, True, True, False, "requested"),
    ("b0000000-0000-4000-8000-000000000002", B, A, False, True, True, "requested"),
    ("c0000000-0000-4000-8000-000000000003", B, C, False, False, False, "completed"),
    ("d0000000-0000-4000-8000-000000000004", C, B, True, True, False, "requested"),
    ("e0000000-0000-4000-8000-000000000005", A, C, False, False, False, "completed"),
]
#: A substance-use referral whose participant has no Part 2 grant: C's answers are withheld from A.
PART2_WITHHELD = REFERRALS[4][0]

#: provider_views.provider_referral_handoffs as the dbt model makes it from these rows: a sent and a
#: received row per referral, the receiver's answers nulled in the sender's row of PART2_WITHHELD.
PROVIDER_VIEW_SQL = """
create table provider_views.provider_referral_handoffs as
with viewed as (
    select from_provider_id as viewer_provider_id, 'sent' as direction, referral_id = $withheld
           as is_part2_withheld, * from marts.referral_handoffs
    union all by name
    select to_provider_id as viewer_provider_id, 'received' as direction, false as is_part2_withheld, *
    from marts.referral_handoffs
)
select * replace (
    case when not is_part2_withheld then final_status end as final_status,
    case when not is_part2_withheld then closed_at end as closed_at,
    case when not is_part2_withheld then is_connected end as is_connected)
from viewed
"""
QUARTERS = [date(2025, 1, 1), date(2025, 4, 1), date(2025, 7, 1)]


def outcome(measure, grain, start, dimension, value, numerator, denominator=None, suppressed=False):
    if suppressed:
        return (measure, grain, start, dimension, value, None, None, None, True)
    rate = numerator / denominator if denominator else None
    return (measure, grain, start, dimension, value, numerator, denominator, rate, False)


OUTCOMES = [
    *(
        outcome("participants_served", "quarter", q, "all", "all", n)
        for q, n in zip(QUARTERS, [40, 0, 55], strict=True)
    ),
    outcome("participants_served", "year", date(2025, 1, 1), "all", "all", 80),
    outcome("participants_served", "quarter", QUARTERS[-1], "program_type", "street_outreach", 30),
    outcome("participants_served", "quarter", QUARTERS[-1], "program_type", "housing", None, suppressed=True),
    outcome("participants_served", "year", date(2025, 1, 1), "program_type", "street_outreach", 50),
    outcome("referral_response_48h", "quarter", QUARTERS[0], "all", "all", 30, 40),
    outcome("referral_response_48h", "quarter", QUARTERS[1], "all", "all", None, suppressed=True),
    outcome("referral_response_48h", "quarter", QUARTERS[2], "all", "all", 20, 25),
    outcome("referral_response_48h", "year", date(2025, 1, 1), "all", "all", 57, 77),
    outcome("referral_response_48h", "quarter", QUARTERS[2], "to_provider_id", B, 12, 14),
    outcome("referral_response_48h", "quarter", QUARTERS[2], "to_provider_id", A, 0, 11),
]


#: Members of the cell referral_response_48h|quarter|2025-07-01|to_provider_id|okc-reentry, written by
#: hand: 14 referrals (12 answered within 48 h) of 13 participants (the last two referrals are one
#: person's), sent by A or C to B. A member of a suppressed cell is planted too: the app must not show it.
MEMBER_CELL = ("referral_response_48h", "quarter", QUARTERS[2], "to_provider_id", B)
MEMBERS = [
    (*MEMBER_CELL, f"ref-{i}", f"pk{min(i, 12):062d}", i < 12, True, [f"ev-{i}"], [A if i % 2 else C, B])
    for i in range(14)
]
SUPPRESSED_CELL = ("referral_response_48h", "quarter", QUARTERS[1], "all", "all")
SUPPRESSED_MEMBERS = [(*SUPPRESSED_CELL, "ref-s", "pk-suppressed", True, True, ["ev-s"], [A])]


def make_sample_warehouse(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(MART_DDL)
    for i, (rid, sender, receiver, no_contact, overdue, stalled, status) in enumerate(REFERRALS):
        requested = T0 + timedelta(days=i)
        closed = requested + timedelta(days=5) if status == "completed" else None
        con.execute(
            "insert into marts.referral_handoffs values (?, ?, ?, ?, 'housing', 'urgent', ?, ?, null, null, "
            "?, ?, ?, null, null, ?, ?, ?, 0)",
            [rid, f"pk{i:062d}", sender, receiver, no_contact, requested, closed, closed, status,
             overdue, stalled, status == "completed"],
        )  # fmt: skip
    con.execute(PROVIDER_VIEW_SQL, {"withheld": PART2_WITHHELD})
    con.executemany("insert into marts.funder_outcomes values (?, ?, ?, ?, ?, ?, ?, ?, ?)", OUTCOMES)
    con.execute(
        "insert into marts.provider_handoff_summary "
        "values (?, ?, '2025-09-01', 1, 0, 0, 0, 0, 0, 0, null, 0.0)",
        [A, B],
    )
    con.execute(
        "insert into marts.provider_data_quality values (?, '2025-09-02', 100, 2, 3, 3, 1, 0, 0)", [A]
    )
    batch = "providers.okc-housing.events+0+00000000000000000000+00000000000000000099"
    con.execute(
        "insert into raw.batches values (?, 'providers.okc-housing.events', ?, 0, 0, 99, 'quarantined',"
        " 100, 0, ?, now(), null, 'quarantine/x/result.json')",
        [batch, A, '["expect_column_values_to_not_be_null"]'],
    )
    con.executemany("insert into raw.dead_letters values (?, 'data_invalid', ?)", [[A, "x"], [A, "y"]])
    # as the dbt model stores them: one row per member row, with the group it counts in (here only the
    # cell's own: a real row has `all` and more)
    con.executemany(
        "insert into operators.funder_outcome_member_rows values (?, ?, ?, ?, ?, ?, null, ?, null, "
        "[{'dimension': ?, 'dimension_value': ?}], ?, ?)",
        [
            (*m[:3], m[5], m[6], m[7], m[4] if m[3] == "to_provider_id" else None, m[3], m[4], m[9], m[10])
            for m in MEMBERS + SUPPRESSED_MEMBERS
        ],
    )
    con.execute(NOT_ACCEPTED_DDL)
    con.executemany(
        "insert into provider_views.provider_not_accepted values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", NOT_ACCEPTED
    )
    con.close()


NOT_ACCEPTED_DDL = """
create table provider_views.provider_not_accepted (
    provider_id varchar, outcome varchar, stage varchar, reason varchar, detail varchar, event_type varchar,
    kafka_topic varchar, kafka_partition integer, kafka_offset bigint, received_at timestamptz
)
"""
#: Two refusals and a held-back record of A's, one refusal of B's (whose detail A must never see).
NOT_ACCEPTED = [
    (A, "refused", "validate", "data_invalid", "data must not contain {'first_name'} properties", None,
     f"providers.{A}.events", 0, 17, T0),
    (A, "refused", "validate", "bad_time", "time: must be an RFC 3339 time with an offset", None,
     f"providers.{A}.events", 1, 4, T0 + timedelta(hours=1)),
    (A, "held back", "expectations", "held_back", "held back by the network's validation: time before 2000",
     "participant.enrolled", f"providers.{A}.events", 2, 230, T0 + timedelta(hours=2)),
    (B, "refused", "validate", "not_json", "value: not UTF-8 JSON (B's own detail)", None,
     f"providers.{B}.events", 0, 99, T0),
]  # fmt: skip


#: No api-server listens on port 9 (discard): /ops says the DAG runs are unavailable, at once.
NO_AIRFLOW = "http://127.0.0.1:9"


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    settings = Settings(
        home=tmp_path / "home", land_broker_timeout_seconds=0.5, airflow_api_url=NO_AIRFLOW
    )  # no broker here
    make_sample_warehouse(settings.published_warehouse_path)
    return settings


@pytest.fixture
def client(web_settings: Settings) -> TestClient:
    return TestClient(create_app(web_settings))


def issue(settings: Settings, provider_id: str | None, role: str = "provider") -> str:
    """A new named credential (the name unique to this call) and its secret."""
    name = f"{role} {provider_id or ''} #{tokens.new_secret()[:6]}"
    return credentials.grant(settings.web_credentials_path, credentials.Role(role), name, provider_id)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def referral_ids(html: str) -> set[str]:
    return {rid for rid, *_ in REFERRALS if rid in html}


def test_provider_page_shows_its_referrals_and_no_other(client, web_settings):
    token = issue(web_settings, A)
    page = client.get(f"/providers/{A}", headers=bearer(token))
    assert page.status_code == 200
    assert referral_ids(page.text) == {REFERRALS[0][0], REFERRALS[1][0], PART2_WITHHELD}
    assert "do not contact" in page.text
    for fmt in ("csv", "parquet"):
        download = client.get(f"/providers/{A}/referrals.{fmt}", headers=bearer(token))
        assert download.status_code == 200
    csv = client.get(f"/providers/{A}/referrals.csv", headers=bearer(token)).text
    assert referral_ids(csv) == {REFERRALS[0][0], REFERRALS[1][0], PART2_WITHHELD}


def test_what_we_could_not_accept_shows_a_provider_its_own_refusals_only(client, web_settings):
    def section(provider_id: str) -> str:
        page = client.get(f"/providers/{provider_id}", headers=bearer(issue(web_settings, provider_id)))
        assert page.status_code == 200
        return page.text.split("What we could not accept")[1]

    mine = section(A)
    assert "offset 17" in mine and "offset 4" in mine and "offset 230" in mine
    assert "time before 2000" in mine and "held back" in mine
    assert "B&#39;s own detail" not in mine and "offset 99" not in mine
    assert "offset 99" in section(B) and "offset 17" not in section(B)
    csv = client.get(f"/providers/{A}/not-accepted.csv", headers=bearer(issue(web_settings, A))).text
    assert len(csv.strip().splitlines()) == 1 + 3 and "B's own detail" not in csv
    other = client.get(f"/providers/{B}/not-accepted.csv", headers=bearer(issue(web_settings, A)))
    assert other.status_code == 403


def test_part2_answers_withheld_from_the_sender_are_shown_as_withheld(client, web_settings):
    def row_of(provider_id: str) -> str:
        headers = {"Authorization": f"Bearer {issue(web_settings, provider_id)}"}
        table = client.get(f"/providers/{provider_id}", headers=headers).text.split("<h2>Referrals</h2>")[1]
        return table.split(f'data-referral-id="{PART2_WITHHELD}"')[1].split("</tr>")[0]

    sender, receiver = row_of(A), row_of(C)
    assert "withheld (Part 2)" in sender and "completed" not in sender and "connected" not in sender
    assert "withheld (Part 2)" not in receiver and "completed" in receiver
    headers = {"Authorization": f"Bearer {issue(web_settings, A)}"}
    summary = client.get(f"/providers/{A}", headers=headers).text.split("Needs action first")[0]
    assert "1 substance-use referral without the participant's Part 2 consent" in summary


def test_provider_page_refuses_without_token_and_with_another_providers(client, web_settings):
    issue(web_settings, A)
    other = issue(web_settings, B)
    for headers, status in [({}, 401), ({"Authorization": "Bearer nonsense"}, 401)]:
        page = client.get(f"/providers/{A}", headers=headers)
        assert page.status_code == status and "Bearer" in page.headers["www-authenticate"]
        assert referral_ids(page.text) == set()
    page = client.get(f"/providers/{A}", headers=bearer(other))
    assert page.status_code == 403 and referral_ids(page.text) == set()
    download = client.get(f"/providers/{A}/referrals.csv", headers=bearer(other))
    assert download.status_code == 403 and referral_ids(download.text) == set()


def test_browser_sign_in_keeps_a_session_until_the_credential_is_revoked(client, web_settings):
    token = issue(web_settings, A)
    wrong = client.post("/signin", data={"token": "nope", "next": f"/providers/{A}"}, follow_redirects=False)
    assert wrong.status_code == 401 and "continuum_session" not in wrong.cookies
    signed = client.post("/signin", data={"token": token, "next": f"/providers/{A}"}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == f"/providers/{A}"
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert client.get(f"/providers/{A}").status_code == 200
    assert client.get(f"/providers/{B}").status_code == 403
    name = credentials.load(web_settings.web_credentials_path)[0].name
    credentials.revoke(web_settings.web_credentials_path, name)
    assert client.get(f"/providers/{A}").status_code == 401


def test_provider_filters_and_action_order(client, web_settings):
    headers = {"Authorization": f"Bearer {issue(web_settings, A)}"}
    sent = client.get(f"/providers/{A}?direction=sent", headers=headers).text
    table = sent.split("<h2>Referrals</h2>")[1]
    assert referral_ids(table) == {REFERRALS[0][0], PART2_WITHHELD}
    action = client.get(f"/providers/{A}", headers=headers).text.split("Needs action first")[1]
    # the one sent to A and unanswered comes before the one A sent
    assert action.index(REFERRALS[1][0]) < action.index(REFERRALS[0][0])


def test_funder_page_shows_suppressed_as_suppressed_and_zero_as_zero(client, web_settings):
    page = client.get("/funders", headers=bearer(issue(web_settings, None, "funder"))).text
    assert page.count("<svg") >= 2
    suppressed = 'data-cell="referral_response_48h|quarter|2025-04-01|all|all">suppressed'
    assert suppressed in page
    assert 'data-cell="participants_served|quarter|2025-04-01|all|all">0<' in page
    assert 'data-cell="referral_response_48h|quarter|2025-07-01|to_provider_id|okc-housing">0.0%' in page
    assert "Oklahoma County Reentry Network" in page  # provider groups read by name


def test_funder_downloads_are_the_table(client, web_settings):
    headers = bearer(issue(web_settings, None, "funder"))
    csv = client.get("/funders/funder_outcomes.csv", headers=headers)
    assert csv.status_code == 200 and csv.text.startswith('"measure_id"')
    parquet = client.get("/funders/funder_outcomes.parquet", headers=headers)
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == len(OUTCOMES)
    assert "member" not in csv.text and "participant_key" not in csv.text  # no drill-down in the export


def test_an_unknown_download_format_is_a_plain_404_that_does_not_echo_it(client, web_settings):
    headers = bearer(issue(web_settings, None, "funder"))
    for fmt in ["xlsx", "<script>alert(1)<", "csv%00.html"]:
        answer = client.get(f"/funders/funder_outcomes.{fmt}", headers=headers)
        assert answer.status_code == 404, fmt
        assert answer.headers["content-type"].startswith("text/plain")
        assert "<script>" not in answer.text and "xlsx" not in answer.text and "csv or parquet" in answer.text


def test_ops_page_shows_quarantine_dead_letters_and_quality(client, web_settings):
    page = client.get("/ops", headers=bearer(issue(web_settings, None, "operator"))).text
    assert "expect_column_values_to_not_be_null" in page
    assert 'data-table="dead_letters"' in page and "data_invalid" in page
    assert 'data-table="provider_data_quality"' in page
    assert "Airflow password" in page or "not reachable" in page  # no api-server here: said, not hidden


def test_pages_say_when_nothing_is_published(tmp_path):
    settings = Settings(home=tmp_path / "empty", land_broker_timeout_seconds=0.5, airflow_api_url=NO_AIRFLOW)
    client = TestClient(create_app(settings), headers=bearer(issue(settings, None, "operator")))
    page = client.get("/funders")
    assert page.status_code == 503 and "continuum run" in page.text
    assert client.get("/ops").status_code == 200
    (tmp_path / "empty" / "published").mkdir(parents=True)
    duckdb.connect(str(tmp_path / "empty" / "published" / "warehouse.duckdb")).close()  # no marts yet
    assert "marts.funder_outcomes" in client.get("/funders").text


def test_static_report_is_one_folder_with_no_outside_reference(web_settings, tmp_path):
    index = write_funder_report(web_settings, tmp_path / "report")
    html = index.read_text()
    assert {p.name for p in index.parent.iterdir()} == {
        "index.html",
        "funder_outcomes.csv",
        "funder_outcomes.parquet",
    }
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )
    assert "https://" not in html and 'href="/' not in html


def test_token_command_rotates_the_providers_shared_credential(web_settings, capsys, monkeypatch):
    monkeypatch.setenv("CONTINUUM_HOME", str(web_settings.home))
    from common.settings import get_settings

    get_settings.cache_clear()
    try:
        assert cli_main(["providers", "token", A]) == 0
        first = capsys.readouterr().out.split()[-1]
        assert cli_main(["providers", "token", A]) == 0
        second = capsys.readouterr().out.split()[-1]
        assert cli_main(["providers", "token", "no-such-provider"]) != 0
    finally:
        get_settings.cache_clear()
    stored = web_settings.web_credentials_path.read_text()
    assert first not in stored and second not in stored and tokens.token_hash(second) in stored
    store = credentials.Store(web_settings.web_credentials_path)
    assert store.by_secret(first) is None  # rotated
    assert store.by_secret(second).provider_id == A


def test_pages_forbid_fetching_from_elsewhere(client, web_settings):
    web_settings.data_docs_dir.mkdir(parents=True)
    (web_settings.data_docs_dir / "index.html").write_text('<script src="https://cdn.example/x.js"></script>')
    operator = bearer(issue(web_settings, None, "operator"))
    for url, headers in [
        ("/funders", operator),
        ("/ops", operator),
        ("/ops/data-docs/index.html", operator),
        (f"/providers/{A}", bearer(issue(web_settings, A))),
    ]:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, url
        assert "default-src 'self'" in page.headers["content-security-policy"], url
    assert 'href="/ops/data-docs/index.html"' in client.get("/ops", headers=operator).text


def test_measure_definitions_are_cut_from_the_measures_doc(tmp_path):
    from continuum.web import measure_docs

    doc = tmp_path / "measures.md"
    doc.write_text(
        "# Measures\n\n## `referral_response_48h`: answered within 48 hours\n\nCohort: referrals.\n\n"
        "### Caveats\n\nSlow <b>providers</b>.\n\n## `rearrest_12m`\n\nArrests.\n"
    )
    found = measure_docs.sections(doc, ["referral_response_48h", "rearrest_12m", "employment_180d"])
    assert set(found) == {"referral_response_48h", "rearrest_12m"}
    assert "Caveats" in found["referral_response_48h"] and "Arrests" not in found["referral_response_48h"]
    assert "&lt;b&gt;" in found["referral_response_48h"]  # markup in the doc is shown, not obeyed
