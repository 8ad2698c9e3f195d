"""`continuum import fhir`: Gravity referral Tasks, ServiceRequests and Consents become contract events.

The fixtures (tests/fixtures/fhir/) are written from the Gravity SDOH Clinical Care IG and FHIR R4: the
FHIR server of a hospital violence-intervention program (okc-trauma-hvip) holding two referrals it made,
one through its whole life (requested -> received -> accepted -> in-progress -> a note -> completed, to
okc-reentry) and one rejected (to okc-housing), two consents (one revoked later), and what a real export
also holds: an out-of-network receiver, a patient without birth date, an invalid Task, a Condition, a
deletion and a draft ServiceRequest without a Task. Each of the three providers imports the same file and
sends its own part (events-v1: the referrer the request, the receiver the statuses).

Expected values are written by hand from the fixture, never taken from the adapter.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pytest
from kafka import KafkaAdminClient
from test_pipeline_support import run_continuum
from test_producer import read_topics

from common.directory import load_directory
from common.settings import Settings
from continuum.pipeline.env import continuum_env
from streams.adapters.fhir.export import read_export
from streams.adapters.fhir.importer import drop_already_sent, plan_import
from streams.adapters.fhir.state import fingerprint
from streams.adapters.fhir.vocabulary import MappingFileError, load_vocabulary
from streams.kafka import client_config, ensure_topics

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
HISTORY = FIXTURES / "referrals-history.json"
REENTRY_CURRENT = FIXTURES / "reentry-current.ndjson"
MAPPING = FIXTURES / "mapping.toml"
SECRET = "test-secret"
AS_OF = "2026-06-01T00:00:00+00:00"

# events-v1 section 3, its test vector: O'Brien, José, 1990-01-31, secret test-secret.
OBRIEN = "f6097baaeac0a13667de4148cff96e87e76e09761b7aeaf890e9e79cc993be94"
# The same formula by hand for Dana Whitehorse, 1985-07-14 (not through streams.participant_key).
WHITEHORSE = hmac.new(SECRET.encode(), b"v1|WHITEHORSE|DANA|1985-07-14", hashlib.sha256).hexdigest()

HVIP, REENTRY, HOUSING = "okc-trauma-hvip", "okc-reentry", "okc-housing"

#: (sender, type, time, subject, data) with ids named by what they stand for. referral "reentry" is
#: Task/task-reentry-0311, "housing" Task/task-housing-0342; consent "obrien" and "whitehorse".
EXPECTED = [
    (HVIP, "consent.granted", "2026-03-02T13:50:00+00:00", OBRIEN,
     {"consent_id": "obrien", "scope": "network_sharing", "part2": False}),
    (HVIP, "referral.requested", "2026-03-02T14:05:00+00:00", OBRIEN,
     {"referral_id": "reentry", "to_provider_id": REENTRY, "service_type": "reentry_planning",
      "priority": "urgent", "contact_prohibited": False}),
    (REENTRY, "referral.status_changed", "2026-03-03T09:30:00+00:00", OBRIEN,
     {"referral_id": "reentry", "status": "accepted", "status_reason": None}),
    (HVIP, "consent.granted", "2026-03-04T09:45:00+00:00", WHITEHORSE,
     {"consent_id": "whitehorse", "scope": "network_sharing", "part2": True}),
    (HVIP, "referral.requested", "2026-03-04T10:00:00+00:00", WHITEHORSE,
     {"referral_id": "housing", "to_provider_id": HOUSING, "service_type": "housing",
      "priority": "routine", "contact_prohibited": True}),
    (REENTRY, "referral.status_changed", "2026-03-05T16:00:00+00:00", OBRIEN,
     {"referral_id": "reentry", "status": "in-progress", "status_reason": None}),
    (HOUSING, "referral.status_changed", "2026-03-06T08:15:00+00:00", WHITEHORSE,
     {"referral_id": "housing", "status": "rejected", "status_reason": "no_capacity"}),
    (REENTRY, "referral.status_changed", "2026-04-20T11:00:00+00:00", OBRIEN,
     {"referral_id": "reentry", "status": "completed", "status_reason": None}),
    (HVIP, "consent.revoked", "2026-05-12T15:20:00+00:00", WHITEHORSE,
     {"consent_id": "whitehorse", "scope": "network_sharing", "part2": True}),
]  # fmt: skip

#: What each import reports as not sent (the resource, and a word of the reason).
NOT_SENT_BY_ANYONE = {
    "Task/task-broken-0377": "intent",  # invalid FHIR: Task.intent is required
    "Observation/obs-screening-0298": "deletion",
    "Condition/cond-obrien-1": "no contract event",
    "Task/task-food-0355": "org-food-bank",  # the receiver is not in the network
    "ServiceRequest/sr-counseling-0371": "no referral Task",
}
NOT_SENT = {
    HVIP: {**NOT_SENT_BY_ANYONE, "Task/task-ride-0360": "birthDate"},  # no key without a birth date
    REENTRY: {**NOT_SENT_BY_ANYONE, "Task/task-ride-0360": "birthDate"},
    HOUSING: NOT_SENT_BY_ANYONE,  # task-ride-0360 is not okc-housing's to send
}

#: Nothing that names the person or the record may reach the broker or the warehouse.
IDENTIFYING = [
    "O'Brien", "OBrien", "OBRIEN", "José", "Jose", "JOSE", "Pepe", "Whitehorse", "WHITEHORSE", "Dana",
    "Kowalczyk", "Marta", "1990-01-31", "19900131", "1985-07-14", "MRN-", "4471902", "5580213",
    "405-555-0147", "1418 NE", "73111", "REF-2026", "task-", "sr-", "pat-", "consent-", "org-", "1457329860",
    "okc-trauma.example.org",
]  # fmt: skip


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "linkage-secret"
    path.write_text(SECRET + "\n")
    return path


def import_fhir(
    settings: Settings, secret_file: Path, provider: str, file: Path = HISTORY, *extra: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "continuum.cli", "import", "fhir", str(file), "--provider", provider,
         "--linkage-secret-file", str(secret_file), "--mapping", str(MAPPING), *extra],
        env=continuum_env(settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def not_sent(stderr: str) -> dict[str, str]:
    """`where -> why` of the report's `not sent:` lines."""
    found = {}
    for line in stderr.splitlines():
        if line.startswith("not sent: "):
            where, why = line.removeprefix("not sent: ").split(": ", 1)
            found[where.split(" (")[0]] = why
    return found


def check_not_sent(stderr: str, provider: str) -> None:
    reported = not_sent(stderr)
    assert set(reported) == set(NOT_SENT[provider]), stderr
    for where, word in NOT_SENT[provider].items():
        assert word in reported[where], (where, reported[where])
    assert f"not sent (listed above): {len(NOT_SENT[provider])}" in stderr


def named(events: list[tuple]) -> list[tuple]:
    """Replace referral and consent ids by names (the request's receiver, the consent's subject) after
    checking that one id stands for one referral or consent."""
    names = {}
    for _, event_type, _, subject, data in events:
        if event_type == "referral.requested":
            names[data["referral_id"]] = {REENTRY: "reentry", HOUSING: "housing"}[data["to_provider_id"]]
        if event_type == "consent.granted":
            names[data["consent_id"]] = {OBRIEN: "obrien", WHITEHORSE: "whitehorse"}[subject]
    assert len(set(names.values())) == len(names), "one id per referral and per consent"
    result = []
    for sender, event_type, time, subject, data in events:
        data = dict(data)
        for field in ("referral_id", "consent_id"):
            if field in data:
                data[field] = names.get(data[field], f"unknown id {data[field]}")
        result.append((sender, event_type, time, subject, data))
    return sorted(result, key=lambda e: e[2])


def as_tuple(envelope: dict) -> tuple:
    sender = envelope["source"].removeprefix("urn:continuum:provider:")
    return sender, envelope["type"], envelope["time"], envelope["subject"], envelope["data"]


def all_records(settings: Settings) -> list:
    admin = KafkaAdminClient(**client_config(settings, client_id="fhir-test"))
    topics = admin.list_topics()
    admin.close()
    return read_topics(settings, sorted(topics))


def test_each_provider_sends_its_part_of_the_referrals_and_nothing_that_identifies(
    own_broker: Settings, secret_file: Path
) -> None:
    ensure_topics(own_broker)
    dry = import_fhir(own_broker, secret_file, HVIP, HISTORY, "--dry-run")
    assert dry.returncode == 1, dry.stderr  # 1: some resources were not sent
    assert all_records(own_broker) == [], "--dry-run sends nothing"

    for provider in (HVIP, REENTRY, HOUSING):
        done = import_fhir(own_broker, secret_file, provider)
        assert done.returncode == 1, done.stderr
        check_not_sent(done.stderr, provider)

    records = all_records(own_broker)
    envelopes = [orjson.loads(r.value) for r in records]
    assert named([as_tuple(e) for e in envelopes]) == EXPECTED
    for record, envelope in zip(records, envelopes, strict=True):
        assert record.topic == f"providers.{as_tuple(envelope)[0]}.events"
        assert record.key == envelope["subject"].encode()
    again = import_fhir(own_broker, secret_file, HVIP)  # the state file remembers what the broker took
    assert "sent 0 events" in again.stderr and "already sent by an earlier import: 5" in again.stderr
    assert len(all_records(own_broker)) == len(records)
    hvip_sent = {r.value for r in records if r.topic == f"providers.{HVIP}.events"}
    assert hvip_sent == {line.encode() for line in dry.stdout.splitlines()}, "--dry-run shows what is sent"

    states = sorted((own_broker.state_dir / "adapters" / "fhir").glob("*.json"))
    assert [p.name for p in states] == [f"{p}.json" for p in sorted((HVIP, REENTRY, HOUSING))]
    for state in states:  # the provider's side keeps event ids and hashes only
        for text in [*IDENTIFYING, SECRET]:
            assert text not in state.read_text(), f"{text!r} in {state.name}"
    for record in records:
        seen = (
            record.value + (record.key or b"") + b"".join(k.encode() + (v or b"") for k, v in record.headers)
        )
        for text in IDENTIFYING:
            assert text.encode() not in seen, f"{text!r} reached the broker"


def dry_run_ids(settings: Settings, secret_file: Path, provider: str, file: Path = HISTORY) -> set[str]:
    done = import_fhir(settings, secret_file, provider, file, "--dry-run")
    return {orjson.loads(line)["id"] for line in done.stdout.splitlines()}


def test_a_reimport_or_a_later_export_sends_the_same_ids(tmp_path: Path, secret_file: Path) -> None:
    settings = Settings(home=tmp_path / "home")  # --dry-run needs no broker
    first = dry_run_ids(settings, secret_file, HVIP)
    assert len(first) == 5
    assert dry_run_ids(settings, secret_file, HVIP) == first
    history = dry_run_ids(settings, secret_file, REENTRY)
    assert len(history) == 3
    # The reentry provider's own system holds only the Task's current version (completed): the same
    # change gets the same id as in the full history, so the warehouse keeps one copy.
    current = import_fhir(settings, secret_file, REENTRY, REENTRY_CURRENT, "--dry-run")
    assert current.returncode == 0, current.stderr
    (line,) = current.stdout.splitlines()
    assert orjson.loads(line)["data"]["status"] == "completed"
    assert orjson.loads(line)["id"] in history
    # Another linkage secret makes other ids (and keys): ids cannot be recomputed without the secret.
    other_secret = tmp_path / "other-secret"
    other_secret.write_text("another-secret")
    assert dry_run_ids(settings, other_secret, HVIP).isdisjoint(first)


def plan_for(provider: str, mapping: Path | None, file: Path = HISTORY):
    directory = load_directory(Settings().provider_directory)
    return plan_import(
        read_export(file), provider, SECRET.encode(), load_vocabulary(mapping, directory), directory
    )


def test_without_the_mapping_file_what_it_maps_is_reported_or_defaulted() -> None:
    hvip = plan_for(HVIP, mapping=None)
    problems = {p.where: p.why for p in hvip.problems}
    # org-reentry is known by its NPI only: without the mapping file the referral to it cannot be sent.
    assert "org-reentry" in problems["Task/task-reentry-0311"]
    assert [e.data["to_provider_id"] for e in hvip.events if e.event_type == "referral.requested"] == [
        HOUSING
    ]
    housing = plan_for(HOUSING, mapping=None)
    (rejected,) = housing.events
    assert rejected.data == {
        "referral_id": rejected.data["referral_id"],
        "status": "rejected",
        "status_reason": "other",
    }
    assert any("statusReason" in note and "other" in note for note in housing.notes)


def test_an_event_whose_content_changed_since_it_was_sent_is_reported_not_resent(tmp_path: Path) -> None:
    sent_before = {e.event_id: fingerprint(e) for e in plan_for(HVIP, MAPPING).events}
    bundle = orjson.loads(HISTORY.read_bytes())
    for entry in bundle["entry"]:
        if entry.get("resource", {}).get("id") == "sr-housing-0342":
            entry["resource"]["priority"] = "asap"  # edited on the hospital's server after it was sent
    edited = tmp_path / "edited.json"
    edited.write_bytes(orjson.dumps(bundle))
    plan = plan_for(HVIP, MAPPING, edited)
    drop_already_sent(plan, sent_before)
    assert plan.events == [] and plan.already_sent == 4
    changed = [p for p in plan.problems if "changed since it was sent" in p.why]
    assert [p.where for p in changed] == ["Task/task-housing-0342"]


def resources_of(bundle_path: Path, *ids: str) -> list[dict]:
    """The latest version of each named resource of a fixture bundle."""
    latest = {}
    for entry in orjson.loads(bundle_path.read_bytes())["entry"]:
        if entry.get("resource", {}).get("id") in ids:
            latest[entry["resource"]["id"]] = entry["resource"]
    return [latest[i] for i in ids]


def test_the_referrer_sends_cancelled_and_the_receiver_every_other_status(tmp_path: Path) -> None:
    """The housing referral, in another life: accepted, in progress, on hold (the client must act), in
    progress again, then cancelled by the hospital. NDJSON, one line per version."""
    support = resources_of(HISTORY, "org-hvip", "org-housing", "pat-whitehorse", "sr-housing-0342")
    (task,) = resources_of(HISTORY, "task-housing-0342")
    reason = "urn:continuum:referral-status-reason"
    life = [
        ("requested", "2026-03-04T10:00:00Z", None),
        ("accepted", "2026-03-04T15:00:00Z", None),
        ("in-progress", "2026-03-05T09:00:00Z", None),
        ("on-hold", "2026-03-09T09:00:00Z", f"{reason}|needs_client_action"),
        ("in-progress", "2026-03-12T09:00:00Z", None),
        ("cancelled", "2026-03-20T17:00:00Z", f"{reason}|no_longer_interested"),
    ]
    versions = []
    for number, (status, when, status_reason) in enumerate(life, start=1):
        version = {**task, "status": status, "lastModified": when, "meta": {"versionId": str(number)}}
        version.pop("statusReason")
        if status_reason:
            system, code = status_reason.split("|")
            version["statusReason"] = {"coding": [{"system": system, "code": code}]}
        versions.append(version)
    file = tmp_path / "housing-life.ndjson"
    file.write_bytes(b"\n".join(orjson.dumps(r) for r in [*support, *reversed(versions)]))  # any order

    def sent(provider: str) -> list[tuple]:
        plan = plan_for(provider, MAPPING, file)
        assert plan.problems == []
        data = [e.data for e in plan.events]
        return [
            (e.event_type, e.time.isoformat(), d.get("status"), d.get("status_reason"), e.event_id)
            for e, d in zip(plan.events, data, strict=True)
        ]

    receiver, referrer = sent(HOUSING), sent(HVIP)
    assert [e[:4] for e in receiver] == [
        ("referral.status_changed", "2026-03-04T15:00:00+00:00", "accepted", None),
        ("referral.status_changed", "2026-03-05T09:00:00+00:00", "in-progress", None),
        ("referral.status_changed", "2026-03-09T09:00:00+00:00", "on-hold", "needs_client_action"),
        ("referral.status_changed", "2026-03-12T09:00:00+00:00", "in-progress", None),
    ]
    assert [e[:4] for e in referrer] == [
        ("referral.requested", "2026-03-04T10:00:00+00:00", None, None),
        ("referral.status_changed", "2026-03-20T17:00:00+00:00", "cancelled", "no_longer_interested"),
    ]
    assert len({e[4] for e in receiver + referrer}) == 6, "the second in-progress has an id of its own"


def test_an_opt_out_is_a_revocation_and_a_treatment_consent_is_reported(tmp_path: Path) -> None:
    support = resources_of(HISTORY, "org-hvip", "pat-obrien", "pat-whitehorse")
    obrien, whitehorse = resources_of(HISTORY, "consent-obrien", "consent-whitehorse")
    opt_out = {**obrien, "provision": {"type": "deny"}, "dateTime": "2026-04-01T12:00:00Z"}
    treatment = {**whitehorse, "status": "active", "scope": {"coding": [{"code": "treatment"}]}}
    treatment["scope"]["coding"][0]["system"] = "http://terminology.hl7.org/CodeSystem/consentscope"
    file = tmp_path / "consents.ndjson"
    file.write_bytes(b"\n".join(orjson.dumps(r) for r in [*support, opt_out, treatment]))
    plan = plan_for(HVIP, MAPPING, file)
    assert [
        (e.event_type, e.time.isoformat(), e.subject, e.data["scope"], e.data["part2"]) for e in plan.events
    ] == [("consent.revoked", "2026-04-01T12:00:00+00:00", OBRIEN, "network_sharing", False)]
    assert [(p.where, "scope" in p.why) for p in plan.problems] == [("Consent/consent-whitehorse", True)]


def test_the_service_type_falls_back_from_the_code_to_the_gravity_category(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[organizations]\n"http://hl7.org/fhir/sid/us-npi|1457329860" = "okc-reentry"\n')
    hvip = plan_for(HVIP, mapping)
    service_types = {
        e.data["to_provider_id"]: e.data["service_type"] for e in hvip.events if "to_provider_id" in e.data
    }
    # sr-reentry-0311's own code is not mapped any more: its SDOH category employment-status is.
    assert service_types == {REENTRY: "employment", HOUSING: "housing"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[service_types]\n"http://x|y" = "haircut"\n', "'haircut' is not one of"),
        ('[organizations]\n"http://x|y" = "no-such-provider"\n', "'no-such-provider' is not one of"),
        ('[status_reasons]\n"nosystem" = "other"\n', "must be 'system|code'"),
        ("[colours]\n", "unknown section"),
    ],
)
def test_a_mapping_file_naming_what_the_contract_lacks_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(content)
    with pytest.raises(MappingFileError, match=message):
        load_vocabulary(mapping, load_directory(Settings().provider_directory))


def test_the_command_explains_itself(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "import", "fhir", "--help"],
        env=continuum_env(Settings(home=tmp_path)), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for option in ("--provider", "--linkage-secret-file", "--mapping", "--dry-run"):
        assert option in done.stdout


@pytest.mark.slow
@pytest.mark.slowest  # make test-all
def test_imported_referrals_reach_referral_handoffs(own_broker: Settings, secret_file: Path) -> None:
    run_continuum(own_broker, "topics")
    for provider in (HVIP, REENTRY, HOUSING):
        done = import_fhir(own_broker, secret_file, provider)
        assert done.returncode == 1, done.stderr
    # The referrer imports the same export again (its state file says what the broker took): nothing new.
    again = import_fhir(own_broker, secret_file, HVIP)
    assert "sent 0 events" in again.stderr and "already sent by an earlier import: 5" in again.stderr
    run = run_continuum(own_broker, "run", "--as-of", AS_OF)
    assert ": success" in run.stdout

    with duckdb.connect(str(own_broker.published_warehouse_path), read_only=True) as conn:
        conn.execute("set TimeZone = 'UTC'")
        rows = conn.execute(
            """
            select participant_key, from_provider_id, to_provider_id, service_type, priority,
                   contact_prohibited, strftime(requested_at, '%Y-%m-%dT%H:%M'),
                   strftime(first_response_at, '%Y-%m-%dT%H:%M'), strftime(accepted_at, '%Y-%m-%dT%H:%M'),
                   strftime(completed_at, '%Y-%m-%dT%H:%M'), strftime(closed_at, '%Y-%m-%dT%H:%M'),
                   final_status, final_status_reason, round(hours_to_first_response, 4),
                   is_response_overdue, is_stalled, is_connected, invalid_transition_count
            from marts.referral_handoffs order by requested_at
            """
        ).fetchall()
    # raw.events lives in the pipeline's own file (the published copy holds what readers need).
    with duckdb.connect(str(own_broker.warehouse_path), read_only=True) as conn:
        copies, events = conn.execute(
            "select count(*), count(distinct (source, id)) from raw.events"
        ).fetchone()
        assert (copies, events) == (len(EXPECTED), len(EXPECTED))
        warehouse_text = str(conn.execute("select * from raw.events").fetchall())
    # Worked by hand from the fixture. Reentry: requested 03-02 14:05, accepted 03-03 09:30 (19 h 25 min
    # = 19.4167 h), completed 04-20 11:00. Housing: requested 03-04 10:00, rejected 03-06 08:15 (46.25 h:
    # inside the 48 hours, so not overdue), reason no_capacity. Both closed: not stalled.
    assert rows == [
        (OBRIEN, HVIP, REENTRY, "reentry_planning", "urgent", False, "2026-03-02T14:05", "2026-03-03T09:30",
         "2026-03-03T09:30", "2026-04-20T11:00", "2026-04-20T11:00", "completed", None, 19.4167,
         False, False, True, 0),
        (WHITEHORSE, HVIP, HOUSING, "housing", "routine", True, "2026-03-04T10:00", "2026-03-06T08:15",
         None, None, "2026-03-06T08:15", "rejected", "no_capacity", 46.25, False, False, False, 0),
    ]  # fmt: skip
    for text in IDENTIFYING:
        assert text not in warehouse_text, f"{text!r} reached the warehouse"
