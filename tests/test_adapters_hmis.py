"""`continuum import hmis` against a real broker, on small HMIS CSV exports written from the HUD FY2026
and FY2024 specifications (tests/fixtures/hmis/). What was sent is read back from the broker and compared
with events worked out by hand from the fixture rows: keys are HMAC-SHA256 of the contract's message
(names normalized by hand), ids uuid5 in the namespace the adapters derive from the linkage secret.
Every byte sent (keys, values, headers) is scanned for the names, dates of birth, SSNs and record
numbers of the fixtures. The end-to-end test lands, validates and builds the warehouse through Airflow.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
import shutil
import subprocess
import sys
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest
from test_pipeline_support import run_continuum
from test_producer import read_topic

from common.names import provider_topic, source_for
from common.settings import Settings
from continuum.cli import build_parser
from continuum.pipeline.env import continuum_env
from streams.adapters.hmis.export import ExportError, read_export
from streams.adapters.hmis.importer import import_export
from streams.adapters.hmis.mapping import MappingError, load_mapping
from streams.kafka import ensure_topics
from streams.producer import ProviderClient

FIXTURES = Path(__file__).parent / "fixtures" / "hmis"
FY2026_FIRST, FY2026_LATER, FY2024 = (
    FIXTURES / "fy2026" / "first",
    FIXTURES / "fy2026" / "later",
    FIXTURES / "fy2024",
)
MAPPING = FIXTURES / "mapping.toml"
SECRET = b"test-network-secret"

# --- hand-worked identifiers ------------------------------------------------------------------------


def key(message: str) -> str:
    """The participant key of a contract message written out by hand ("v1|LAST|FIRST|DOB")."""
    return hmac.new(SECRET, message.encode(), hashlib.sha256).hexdigest()


NAMESPACE = uuid.UUID(
    bytes=hmac.new(SECRET, b"continuum-adapter-record-ids-v1", hashlib.sha256).digest()[:16]
)


def rid(provider: str, record_type: str, record_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{provider}|{record_type}|{record_id}"))


ANN = key("v1|ONEIL|ANNMARIE|1988-03-14")  # "Ann-Marie O'Neil"
ANN_CORRECTED = key("v1|ONEILL|ANNMARIE|1988-03-14")  # the later export's "Ann Marie O'Neill"
JOSE = key("v1|ALVAREZ|JOSE|1975-11-02")  # "José Álvarez"
KEISHA = key("v1|BROWN|KEISHA|2001-01-05")
DANA = key("v1|WHITFIELD|DANA|1992-08-30")  # no DOB in the first export, one in the later
# FY2024: "Wren Tallchief", "Sky Nguyen-Lopez", "Jordan Pike", "Avery Stone"
WREN, SKY = key("v1|TALLCHIEF|WREN|1994-06-17"), key("v1|NGUYENLOPEZ|SKY|2003-09-09")
JORDAN, AVERY = key("v1|PIKE|JORDAN|1969-04-01"), key("v1|STONE|AVERY|1980-10-10")


def enrolled(p, enrollment, subject, at, program, year, gender, races):
    data = {
        "enrollment_id": rid(p, "hmis:enrollment_id", enrollment),
        "program_type": program,
        "referral_id": None,
        "risk_level": None,
        "birth_year": year,
        "gender": gender,
        "race_ethnicity": races,
        "zip3": None,
    }
    return rid(p, "hmis:Enrollment.csv", enrollment), ("participant.enrolled", subject, at, data)


def exited(p, exit_id, enrollment, subject, at, reason):
    data = {"enrollment_id": rid(p, "hmis:enrollment_id", enrollment), "exit_reason": reason}
    return rid(p, "hmis:Exit.csv", exit_id), ("participant.exited", subject, at, data)


def service(p, services_id, subject, at, service_type):
    data = {
        "service_id": rid(p, "hmis:service_id", services_id),
        "service_type": service_type,
        "duration_minutes": None,
        "referral_id": None,
    }
    return rid(p, "hmis:Services.csv", services_id), ("service.delivered", subject, at, data)


def fy2026_first_events(p: str) -> dict:
    """What the first FY2026 export means, row by row (dates in Oklahoma time: CST then CDT from 8 March)."""
    return dict(
        [
            enrolled(p, "ENR-55-0201", ANN, "2026-01-12T00:00:00-06:00", "reentry", 1988, "female",
                     ["black_african_american", "hispanic_latino"]),
            enrolled(p, "ENR-55-0202", JOSE, "2026-02-03T00:00:00-06:00", "housing", 1975, "male", ["white"]),
            enrolled(p, "ENR-55-0207", KEISHA, "2026-03-01T00:00:00-06:00", "reentry", 2001, "unknown", []),
            exited(p, "EXT-55-0301", "ENR-55-0202", JOSE, "2026-04-01T23:59:59-05:00", "completed"),
            service(p, "SRV-55-0401", ANN, "2026-01-20T12:00:00-06:00", "case_management"),
            service(p, "SRV-55-0402", ANN, "2026-02-05T12:00:00-06:00", "medical"),
            service(p, "SRV-55-0403", JOSE, "2026-02-04T12:00:00-06:00", "housing"),
        ]
    )  # fmt: skip


#: (file, line, words the reason must contain) of every row of the first FY2026 export not sent.
FY2026_FIRST_NOT_SENT = [
    ("Client.csv", 4, "no date of birth"),
    ("Client.csv", 5, "blank PersonalID"),
    ("Client.csv", 6, "deleted in HMIS"),
    ("Client.csv", 8, "Sex 3 is not in HUD's list 4.21"),
    ("Enrollment.csv", 4, "Client.csv line 4"),
    ("Enrollment.csv", 5, "ProjectType 14"),
    ("Enrollment.csv", 6, "blank EnrollmentID"),
    ("Enrollment.csv", 7, "Client.csv line 6"),
    ("Enrollment.csv", 9, "deleted in HMIS"),
    ("Enrollment.csv", 10, "Sex 3"),
    ("Exit.csv", 3, "Enrollment.csv line 4"),
    ("Exit.csv", 4, "Destination 999 is not in HUD's list 3.12"),
    ("Project.csv", 4, "ProjectType 14 (Coordinated Entry) has no program type"),
    ("Services.csv", 5, "RecordType 161 (PATH referral) TypeProvided 1 has no service type"),
    ("Services.csv", 6, "deleted in HMIS"),
    ("Services.csv", 7, "TypeProvided 77 is not in HUD's list for RecordType 144"),
]

# --- helpers ----------------------------------------------------------------------------------------


@pytest.fixture
def network(settings: Settings, tmp_path: Path) -> tuple[Settings, str]:
    """Settings whose directory adds a provider of this test alone (so its topic holds only this test's
    messages), with the topics created, and that provider's id."""
    provider = f"hmis-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "provider_directory.csv"
    shutil.copy(settings.provider_directory, directory)
    with open(directory, "a", encoding="utf-8") as f:
        f.write(f"{provider},HMIS Test Provider,reentry,reentry|housing,Oklahoma,false\n")
    ours = settings.model_copy(update={"provider_directory": directory})
    ensure_topics(ours)
    return ours, provider


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "linkage-secret"
    path.write_bytes(SECRET + b"\n")
    return path


def run_import(settings, capsys, directory, provider, secret_file, *extra) -> tuple[int, str]:
    """`continuum import hmis` in this process (the command line's own parser and run)."""
    argv = ["import", "hmis", str(directory), "--provider", provider]
    argv += ["--linkage-secret-file", str(secret_file), "--mapping", str(MAPPING), *extra]
    args = build_parser().parse_args(argv)
    code = args.run(args, settings)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def sent_events(settings: Settings, provider: str) -> tuple[dict, list]:
    """Events on the provider's topic by id, as (type, subject, time, data); and the raw records."""
    records = read_topic(settings, provider_topic(provider))
    events = {}
    for record in records:
        envelope = orjson.loads(record.value)
        assert record.key == envelope["subject"].encode()
        assert envelope["source"] == f"urn:continuum:provider:{provider}"
        events[envelope["id"]] = (envelope["type"], envelope["subject"], envelope["time"], envelope["data"])
    assert len(events) == len(records), "an event id was sent twice"
    return events, records


def identifiers(*directories: Path) -> set[str]:
    """Every name (also upper case and normalized), DOB (two spellings), SSN and record number in the
    fixtures' files."""
    columns = ("PersonalID", "FirstName", "LastName", "SSN", "DOB", "EnrollmentID", "ExitID", "ServicesID",
               "HouseholdID", "ProjectID", "ExportID")  # fmt: skip
    found = set()
    for directory in directories:
        for path in directory.glob("*.csv"):
            with open(path, encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f):
                    for column in columns:
                        value = (row.get(column) or "").strip()
                        if len(value) >= 3:
                            found |= {value, value.upper()}
                            if column == "DOB":
                                found.add(value.replace("-", ""))
                            if column in ("FirstName", "LastName"):  # as in a key's message: "OBRIEN"
                                letters = unicodedata.normalize("NFKD", value.upper())
                                found.add("".join(c for c in letters if "A" <= c <= "Z"))
    return found


def leaks(texts: list[bytes], forbidden: set[str]) -> list[str]:
    """The identifiers found in `texts` as whole words (so "Chan" is not found in "Second Chance")."""
    patterns = {
        f: re.compile(rb"(?<![A-Za-z0-9])" + re.escape(f.encode()) + rb"(?![A-Za-z0-9])") for f in forbidden
    }
    return sorted({f for f, pattern in patterns.items() for t in texts if pattern.search(t)})


def record_bytes(records: list) -> list[bytes]:
    out = []
    for r in records:
        out += [r.key or b"", r.value or b""]
        out += [k.encode() + b"=" + (v or b"") for k, v in (r.headers or [])]
    return out


def not_sent(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("not sent:"))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("    ")]


def assert_reported(output: str, expected: list[tuple[str, int, str]]) -> None:
    reported = not_sent(output)
    assert len(reported) == len(expected), "\n".join(reported)
    for (file, line, words), text in zip(expected, reported, strict=True):
        assert text.startswith(f"{file} line {line}: ") and words in text, (file, line, words, text)


# --- tests ------------------------------------------------------------------------------------------


def test_the_command_explains_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "import", "hmis", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for option in ("--provider", "--linkage-secret-file", "--mapping", "--state", "--dry-run", "DIR"):
        assert option in done.stdout


def test_an_fy2026_export_sends_the_hand_worked_events_and_reports_the_rest(network, secret_file, capsys):
    settings, provider = network
    code, output = run_import(settings, capsys, FY2026_FIRST, provider, secret_file)
    assert code == 1, output  # some rows were not sent
    assert "FY2026 (CSVVersion 2026 v1.0)" in output
    assert "sent: 7 (participant.enrolled 3, participant.exited 1, service.delivered 3)" in output
    assert_reported(output, FY2026_FIRST_NOT_SENT)

    events, records = sent_events(settings, provider)
    assert events == fy2026_first_events(provider)
    assert not leaks(record_bytes(records), identifiers(FY2026_FIRST))


def test_a_reimport_sends_nothing_and_the_ids_do_not_depend_on_the_state(
    network, secret_file, capsys, tmp_path
):
    settings, provider = network
    run_import(settings, capsys, FY2026_FIRST, provider, secret_file)
    code, output = run_import(settings, capsys, FY2026_FIRST, provider, secret_file)
    assert code == 1
    assert "  sent: 0\n" in output and "already sent by an earlier import (not sent again): 7" in output
    events, _ = sent_events(settings, provider)
    assert len(events) == 7

    # Without the state (lost, or another machine) the same ids come out, so the pipeline keeps one copy.
    fresh = tmp_path / "fresh-state.json"
    _, output = run_import(
        settings, capsys, FY2026_FIRST, provider, secret_file, "--state", str(fresh), "--dry-run"
    )
    listed = {line.split()[1] for line in output.splitlines() if line.startswith("  participant.")
              or line.startswith("  service.")}  # fmt: skip
    assert listed == set(fy2026_first_events(provider))
    assert "would send: 7" in output and not fresh.exists()


def test_a_later_export_sends_what_is_new_keeps_corrected_clients_on_their_key_and_reports_the_rest(
    network, secret_file, capsys
):
    settings, provider = network
    run_import(settings, capsys, FY2026_FIRST, provider, secret_file)
    code, output = run_import(settings, capsys, FY2026_LATER, provider, secret_file)
    assert code == 1, output

    events, records = sent_events(settings, provider)
    new = {k: v for k, v in events.items() if k not in fy2026_first_events(provider)}
    assert new == dict(
        [
            # Dana's DOB was filled in: her enrollment and its exit go now.
            enrolled(provider, "ENR-55-0203", DANA, "2026-02-10T00:00:00-06:00", "reentry", 1992, "female",
                     ["asian"]),
            exited(provider, "EXT-55-0302", "ENR-55-0203", DANA, "2026-04-10T23:59:59-05:00", "disengaged"),
            # Ann's name was corrected: her new records keep the key of her first import.
            exited(provider, "EXT-55-0304", "ENR-55-0201", ANN, "2026-05-20T23:59:59-05:00", "incarcerated"),
            service(provider, "SRV-55-0407", ANN, "2026-05-02T12:00:00-05:00", "outreach"),
        ]
    )  # fmt: skip
    assert ANN_CORRECTED not in {subject for _, subject, _, _ in events.values()}
    assert "already sent by an earlier import (not sent again): 5" in output
    assert "Client.csv line 2: its name or date of birth gives another key" in output
    reported = not_sent(output)
    assert any(
        r.startswith("Exit.csv line 2: changed since it was sent (DateUpdated 2026-05-12") for r in reported
    )
    assert any(r.startswith("Services.csv line 4: deleted in HMIS after it was sent") for r in reported)
    assert not any(
        r.startswith(("Client.csv line 4", "Enrollment.csv line 4", "Exit.csv line 3")) for r in reported
    )
    assert not leaks(record_bytes(records), identifiers(FY2026_FIRST, FY2026_LATER))


def test_an_fy2024_export_maps_the_gender_columns(network, secret_file, capsys, tmp_path):
    settings, provider = network
    code, output = run_import(settings, capsys, FY2024, provider, secret_file)
    assert code == 1, output
    assert "FY2024 (CSVVersion 2024 v1.3)" in output
    events, records = sent_events(settings, provider)
    # Central time: CDT until 3 November 2024, CST after.
    assert events == dict(
        [
            enrolled(provider, "ENR-T-0011", WREN, "2024-10-03T00:00:00-05:00",
                     "street_outreach", 1994, "female", ["american_indian_alaska_native"]),
            enrolled(provider, "ENR-T-0012", SKY, "2024-10-07T00:00:00-05:00",
                     "reentry", 2003, "nonbinary", ["asian", "hispanic_latino"]),
            enrolled(provider, "ENR-T-0013", JORDAN, "2024-10-15T00:00:00-05:00",
                     "street_outreach", 1969, "other", ["white"]),
            enrolled(provider, "ENR-T-0014", AVERY, "2024-11-01T00:00:00-05:00",
                     "street_outreach", 1980, "unknown", []),
            exited(provider, "EXT-T-0021", "ENR-T-0011", WREN,
                   "2024-11-20T23:59:59-06:00", "disengaged"),
            exited(provider, "EXT-T-0022", "ENR-T-0013", JORDAN,
                   "2024-11-25T23:59:59-06:00", "deceased"),
            service(provider, "SRV-T-0031", SKY, "2024-10-21T12:00:00-05:00",
                    "case_management"),
        ]
    )  # fmt: skip
    assert_reported(
        output,
        [
            ("Client.csv", 6, "no first or last name"),
            ("Enrollment.csv", 6, "Client.csv line 6"),
            ("Services.csv", 3, "TypeProvided 10 is not in HUD's list for RecordType 144"),  # FY2026 only
        ],
    )
    assert not leaks(record_bytes(records), identifiers(FY2024))
    state = (settings.state_dir / "adapters" / "hmis" / f"{provider}.json").read_bytes()
    assert not leaks([state], identifiers(FY2024)) and SECRET not in state


def copy_export(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_version_comes_from_csvversion_or_the_headers_and_a_mismatch_is_explained(tmp_path: Path):
    assert read_export(FY2026_FIRST).version == "2026" and read_export(FY2024).version == "2024"

    unlabelled = copy_export(FY2026_FIRST, tmp_path / "unlabelled")
    rewrite(unlabelled / "Export.csv", "2026 v1.0", "")
    assert read_export(unlabelled).version == "2026"

    mislabelled = copy_export(FY2024, tmp_path / "mislabelled")
    rewrite(mislabelled / "Export.csv", "2024 v1.3", "2026 v1.0")
    with pytest.raises(ExportError) as refused:
        read_export(mislabelled)
    message = str(refused.value)
    assert "CSVVersion '2026 v1.0' (FY2026)" in message
    assert (
        "Client.csv lacks HispanicLatinao, Sex" in message
        and "Enrollment.csv lacks MentalHealthConsultation" in message
    )

    neither = copy_export(FY2026_FIRST, tmp_path / "neither")
    rewrite(neither / "Export.csv", "2026 v1.0", "2022 v1.0")
    rewrite(neither / "Client.csv", "HispanicLatinao", "Ethnicity")
    with pytest.raises(ExportError) as refused:
        read_export(neither)
    message = str(refused.value)
    assert "fit neither FY2024 nor FY2026" in message
    assert "FY2024: Client.csv lacks HispanicLatinaeo, Woman" in message
    assert "FY2026: Client.csv lacks HispanicLatinao" in message


def test_a_mapping_file_overrides_a_table_and_is_checked_against_the_contract(
    network, secret_file, tmp_path: Path
):
    settings, provider = network
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"program_type": {"6": "reentry", "14": "housing"}, "exit_reason": {"410": "moved"}}')
    result = import_export(
        FY2026_FIRST, provider, SECRET, load_mapping(mapping), tmp_path / "state.json", settings, dry_run=True
    )
    exits = [p.data for p in result.outcome.sent if p.type == "participant.exited"]
    assert exits == [
        {"enrollment_id": rid(provider, "hmis:enrollment_id", "ENR-55-0202"), "exit_reason": "moved"}
    ]
    # Coordinated Entry mapped to housing: Keisha's CE enrollment is sent now.
    assert rid(provider, "hmis:Enrollment.csv", "ENR-55-0204") in {p.event_id for p in result.outcome.sent}

    for bad, words in [
        ('{"exit_reason": {"410": "housed"}}', "'housed' is not one of completed"),
        ('{"program_type": {"5": "reentry"}}', "key '5' is not a HUD code"),
        ('{"service_type": {"144-2": "outreach"}}', "is not RecordType:TypeProvided"),
        ('{"destinations": {}}', "unknown section(s) destinations"),
    ]:
        mapping.write_text(bad)
        with pytest.raises(MappingError, match=words.replace("(", r"\(").replace(")", r"\)")):
            load_mapping(mapping)


def test_nothing_is_sent_without_a_readable_secret_or_a_known_provider(
    network, secret_file, tmp_path, capsys
):
    settings, provider = network
    empty = tmp_path / "empty-secret"
    empty.write_text("\n")
    code, output = run_import(settings, capsys, FY2026_FIRST, provider, empty)
    assert code == 2 and "the linkage secret file" in output and "is empty" in output
    code, output = run_import(settings, capsys, FY2026_FIRST, "not-in-directory", secret_file)
    assert code == 2 and "'not-in-directory' is not in the provider directory" in output
    code, output = run_import(settings, capsys, FIXTURES, provider, secret_file)
    assert code == 2 and "lacks Export.csv" in output
    assert not read_topic(settings, provider_topic(provider))


# --- end to end ---------------------------------------------------------------------------------------


def parquet_texts(root: Path) -> list[bytes]:
    """Every value of every landed Parquet file, as text (files are compressed: read, do not grep)."""
    texts = []
    for path in root.rglob("*.parquet"):
        for row in pq.read_table(path).to_pylist():
            texts.append(repr(row).encode())
    return texts


def warehouse_texts(path: Path) -> list[bytes]:
    texts = []
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            for row in con.execute(f'select * from "{schema}"."{table}"').fetchall():
                texts.append(repr(row).encode())
    return texts


@pytest.mark.slow
@pytest.mark.slowest  # make test-all
def test_an_import_lands_and_reaches_the_marts_without_any_identifier(own_broker: Settings, tmp_path: Path):
    settings = own_broker.model_copy(update={"topic_partitions": 1})
    ensure_topics(settings)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    provider = "okc-reentry"
    # Ann and José consent to network sharing (through the provider's own system, not the HMIS export).
    consent_events = set()
    with ProviderClient(provider, settings) as client:
        for subject in (ANN, JOSE):
            data = {"consent_id": str(uuid.uuid4()), "scope": "network_sharing", "part2": False}
            sent = client.send("consent.granted", subject, data, time=datetime(2026, 1, 1, tzinfo=UTC))
            consent_events.add(sent.event.id)

    done = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "import", "hmis", str(FY2026_FIRST), "--provider", provider,
         "--linkage-secret-file", str(secret), "--mapping", str(MAPPING)],
        env=continuum_env(settings), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # 1: the export's bad rows were not sent
    assert "  sent: 7 " in done.stdout and "not sent: 16" in done.stdout
    run = run_continuum(settings, "run", "--as-of", "2026-06-01T00:00:00+00:00")
    assert ": success" in run.stdout

    expected = fy2026_first_events(provider)
    enrollments = {k for k, v in expected.items() if v[0] == "participant.enrolled"}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:  # raw is not published
        raw = con.execute("select id from raw.events where source = ?", [source_for(provider)]).fetchall()
        assert {r[0] for r in raw} == set(expected) | consent_events
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as con:
        journey = con.execute(
            "select event_id from marts.journey_events where event_type = 'participant.enrolled'"
        ).fetchall()
        # Keisha has not consented: her enrollment is loaded but never shared.
        assert {r[0] for r in journey} == enrollments - {rid(provider, "hmis:Enrollment.csv", "ENR-55-0207")}
        journeys = con.execute(
            "select participant_key, first_program_type, enrollments, services_received "
            "from marts.participant_journeys order by participant_key"
        ).fetchall()
        assert sorted(journeys) == sorted([(ANN, "reentry", 1, 2), (JOSE, "housing", 1, 1)])

    forbidden = identifiers(FY2026_FIRST)
    assert not leaks(parquet_texts(settings.landing_dir), forbidden)
    assert not leaks(warehouse_texts(settings.warehouse_path), forbidden)
    assert not leaks(warehouse_texts(settings.published_warehouse_path), forbidden)


def test_the_identifier_scan_finds_what_it_looks_for() -> None:
    """The scans above must be able to fail: a name, a DOB or a PersonalID in a message is found."""
    forbidden = identifiers(FY2026_FIRST)
    assert {"PID-7Q2K-0101", "O'Neil", "ONEIL", "1988-03-14", "19880314", "512349876"} <= forbidden
    message = b'{"data": {"note": "PID-7Q2K-0101 born 1988-03-14"}}'
    assert leaks([message], forbidden) == ["1988-03-14", "PID-7Q2K-0101"]
    assert leaks([b"Tulsa Second Chance Workforce"], forbidden) == []  # whole words only ("Chan")
