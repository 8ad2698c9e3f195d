"""Drill-down (issue 15): operators.funder_outcome_members, built by real dbt on a real DuckDB file from a
handful of hand-made events, and checked against members worked out by hand.

The network (as_of 2026-07-01, one provider, every participant consenting since 2 January):
- 13 participants released from custody on 1 February 2026 (Q1);
- 11 of them (0-10) enrolled in a reentry programme on 10 February (day 9 after release: linked within
  30 days); 11 and 12 never enrolled.
By hand, reentry_linkage_30d for Q1 2026, group `all`: denominator 13 (every release: 30 days have
elapsed), numerator 11 (0-10), published (neither is from 1 to 10). Its members are the 13 releases,
each with its release event and, for 0-10, the enrollment that linked it.
By gender: male 11 of 11, not_recorded (no enrollment) 0 of 2: not_recorded is a small cell (2) and so
suppressed, and male with it (the only other row of the group: complementary suppression). So no member
row for any gender cell of that measure.
participants_served, Q1 2026, `all`: the 11 enrolled (no denominator), each through its enrollment event.
On 15 April (Q2) the same 11 also enroll in a workforce programme (no reentry window has it: day 73):
participants_served, Q2, shows each of them with both enrollments in `all` and in its gender and race
groups, but in the program_type group `reentry` only the reentry enrollment and in `workforce` only the
workforce one (the drill-down stores one event list per member and scope, issue 13).
Rearrest, reincarceration and employment windows (365 and 180 days) have not elapsed: no rows.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest
from test_warehouse import RawRows, assign_batches, dbt_build, event_row, write_raw

from common.directory import load_directory
from common.settings import Settings
from continuum.pipeline import dbt as pipeline_dbt
from continuum.web.drilldown import CELL_MEMBERS
from streams.contract import Contract, Event
from streams.producer import build_envelope

PROVIDER = "okc-reentry"
TOPIC = f"providers.{PROVIDER}.events"
AS_OF = datetime(2026, 7, 1, tzinfo=UTC)
CONSENTED = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
RELEASED = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
ENROLLED = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
WORKFORCE_ENROLLED = datetime(2026, 4, 15, 9, 0, tzinfo=UTC)
Q1, Q2 = date(2026, 1, 1), date(2026, 4, 1)
PARTICIPANTS = 13
LINKED = range(11)  # participants 0-10 enroll within 30 days of release


def key(i: int) -> str:
    return hashlib.sha256(f"participant {i}".encode()).hexdigest()


def uuid_for(kind: int, i: int) -> str:
    return f"00000000-0000-4000-8{kind:03d}-{i:012x}"


RELEASE_IDS = {i: uuid_for(1, i) for i in range(PARTICIPANTS)}
ENROLLMENT_EVENT_IDS = {i: uuid_for(2, i) for i in LINKED}
WORKFORCE_EVENT_IDS = {i: uuid_for(6, i) for i in LINKED}


def linkage(i: int) -> list[str]:
    """The event that links participant i within 30 days of release: its enrollment, if any."""
    return [ENROLLMENT_EVENT_IDS[i]] if i in LINKED else []


def hand_made_events() -> list[dict]:
    """(event type, participant, time, data, event id) of the network above, as CloudEvents."""
    events = []
    for i in range(PARTICIPANTS):
        consent = {"consent_id": uuid_for(3, i), "scope": "network_sharing", "part2": False}
        events.append(build_envelope(PROVIDER, "consent.granted", key(i), consent, CONSENTED, uuid_for(4, i)))
        release = {"facility_type": "prison", "release_reason": "released_to_supervision"}
        events.append(build_envelope(PROVIDER, "custody.released", key(i), release, RELEASED, RELEASE_IDS[i]))
    for i in LINKED:
        enrolled = {
            "enrollment_id": uuid_for(5, i),
            "program_type": "reentry",
            "referral_id": None,
            "risk_level": "high",
            "birth_year": 1990,
            "gender": "male",
            "race_ethnicity": ["black_african_american"],
            "zip3": "731",
        }
        events.append(
            build_envelope(
                PROVIDER, "participant.enrolled", key(i), enrolled, ENROLLED, ENROLLMENT_EVENT_IDS[i]
            )
        )
        workforce = {**enrolled, "enrollment_id": uuid_for(7, i), "program_type": "workforce"}
        events.append(
            build_envelope(
                PROVIDER,
                "participant.enrolled",
                key(i),
                workforce,
                WORKFORCE_ENROLLED,
                WORKFORCE_EVENT_IDS[i],
            )
        )
    return events


def raw_rows(envelopes: list[dict]) -> RawRows:
    """The events as the loader lands them: checked by the contract, one partition, landed an hour later."""
    contract = Contract(load_directory(Settings().provider_directory))
    raw = RawRows()
    for offset, envelope in enumerate(envelopes):
        event = contract.check(orjson.dumps(envelope), TOPIC, now=AS_OF)
        assert isinstance(event, Event), f"a hand-made event breaks the contract: {event}"
        landed_at = event.time + timedelta(hours=1)
        lineage = {
            "kafka_topic": TOPIC,
            "kafka_partition": 0,
            "kafka_offset": offset,
            "kafka_timestamp": landed_at,
            "landed_at": landed_at,
            "loaded_at": AS_OF,
        }
        raw.events.append(event_row(event, lineage))
    assign_batches(raw, AS_OF)
    return raw


@dataclass
class Built:
    conn: duckdb.DuckDBPyConnection
    path: Path
    target: Path  # dbt's target directory: run_results.json, manifest.json

    def artefact(self, name: str) -> dict:
        return orjson.loads((self.target / name).read_bytes())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("drilldown")
    db_path = work / "warehouse.duckdb"
    write_raw(db_path, raw_rows(hand_made_events()))
    dbt_build(db_path, AS_OF)
    conn = duckdb.connect(str(db_path), read_only=True)
    conn.execute("set TimeZone = 'UTC'")
    yield Built(conn, db_path, pipeline_dbt.dbt_target_dir(Settings(home=work)))
    conn.close()


def members(
    conn: duckdb.DuckDBPyConnection, measure: str, grain: str, dimension: str, value: str, period: date = Q1
) -> set:
    """A cell's members as the web drill-down reads them (funder_outcome_members joined to
    funder_outcome_member_events), without the providers."""
    rows = conn.execute(  # the web's query: member_id, participant_key, in_numerator, in_denominator, ...
        f"{CELL_MEMBERS} where measure_id = ? and period_grain = ? and period_start = ? "
        "and dimension = ? and dimension_value = ?",
        [measure, grain, period, dimension, value],
    ).fetchall()
    return {(*row[:4], tuple(row[4])) for row in rows}  # without provider_ids (row[5])


def cell(conn: duckdb.DuckDBPyConnection, measure: str, dimension: str, value: str) -> tuple:
    return conn.execute(
        "select numerator, denominator, is_suppressed from marts.funder_outcomes "
        "where measure_id = ? and period_grain = 'quarter' and period_start = date '2026-01-01' "
        "and dimension = ? and dimension_value = ?",
        [measure, dimension, value],
    ).fetchone()


def test_the_members_of_a_reentry_cell_are_the_releases_worked_out_by_hand(built: Built) -> None:
    assert cell(built.conn, "reentry_linkage_30d", "all", "all") == (11, 13, False)
    # each release, and for the linked its enrollment (the event in the 30-day window), ids sorted
    expected = {
        (RELEASE_IDS[i], key(i), i in LINKED, True, tuple(sorted([RELEASE_IDS[i], *linkage(i)])))
        for i in range(PARTICIPANTS)
    }
    for grain in ("quarter", "year"):
        assert members(built.conn, "reentry_linkage_30d", grain, "all", "all") == expected


def test_a_suppressed_cell_has_no_members(built: Built) -> None:
    conn = built.conn
    assert cell(conn, "reentry_linkage_30d", "gender", "not_recorded") == (None, None, True)
    assert cell(conn, "reentry_linkage_30d", "gender", "male") == (None, None, True)  # complementary
    rows = conn.execute(
        "select count(*) from operators.funder_outcome_members "
        "where measure_id = 'reentry_linkage_30d' and dimension = 'gender'"
    ).fetchone()
    assert rows == (0,)


def test_participants_served_lists_each_participant_with_its_enrollment(built: Built) -> None:
    conn = built.conn
    assert cell(conn, "participants_served", "all", "all") == (11, None, False)
    expected = {(key(i), key(i), True, False, (ENROLLMENT_EVENT_IDS[i],)) for i in LINKED}
    assert members(conn, "participants_served", "quarter", "all", "all") == expected


def test_each_program_type_group_shows_only_that_programs_events(built: Built) -> None:
    conn = built.conn

    def served(events: dict[int, list[str]]) -> set:
        return {(key(i), key(i), True, False, tuple(sorted(events[i]))) for i in LINKED}

    both = {i: [ENROLLMENT_EVENT_IDS[i], WORKFORCE_EVENT_IDS[i]] for i in LINKED}
    for grain, period in (("quarter", Q2), ("year", Q1)):
        assert members(conn, "participants_served", grain, "all", "all", period) == served(both)
        assert members(conn, "participants_served", grain, "gender", "male", period) == served(both)
    reentry = {i: [ENROLLMENT_EVENT_IDS[i]] for i in LINKED}
    workforce = {i: [WORKFORCE_EVENT_IDS[i]] for i in LINKED}
    assert members(conn, "participants_served", "quarter", "program_type", "reentry", Q2) == served(reentry)
    assert members(conn, "participants_served", "quarter", "program_type", "workforce", Q2) == served(
        workforce
    )
    assert members(conn, "participants_served", "quarter", "program_type", "reentry", Q1) == served(reentry)


def test_each_member_and_event_list_is_stored_once(built: Built) -> None:
    """The lean layout (issue 13): a member's ids and events are one row of funder_outcome_member_events,
    however many groups and grains list it; the cells name it by member_ref."""
    conn = built.conn
    stored = conn.execute(
        "select count(*), count(distinct (member_id, participant_key, event_ids)) "
        "from operators.funder_outcome_member_events"
    ).fetchone()
    # 13 releases, plus for the 11 enrolled: reentry only (Q1), workforce only and both (Q2, the year)
    assert stored == (13 + 3 * 11, 13 + 3 * 11)
    cells = conn.execute("select count(*), count(distinct member_ref) from operators.funder_outcome_members")
    rows, refs = cells.fetchone()
    assert refs == stored[0] and rows > 2 * refs


def test_no_member_row_for_a_window_that_has_not_elapsed(built: Built) -> None:
    conn = built.conn
    measures = conn.execute(
        "select distinct measure_id from operators.funder_outcome_members order by 1"
    ).fetchall()
    assert measures == [("participants_served",), ("reentry_linkage_30d",)]


def test_the_dbt_data_test_ran_and_passed(built: Built) -> None:
    """The singular test that holds every cell's members to its numerator and denominator."""
    statuses = {r["unique_id"]: r["status"] for r in built.artefact("run_results.json")["results"]}
    assert statuses["test.continuum.funder_outcome_members_add_up"] == "pass"
    assert statuses["model.continuum.funder_outcome_members"] == "success"
    assert statuses["model.continuum.funder_outcome_member_events"] == "success"
    assert statuses["test.continuum.funder_outcome_member_rows_differ_by_program_type"] == "pass"


def test_the_members_are_sensitive_and_for_operators_only(built: Built) -> None:
    """Schema operators (published for the web app, never exported with the marts), marked sensitive."""
    tables = built.conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_name like '%funder_outcome_member%' or table_name = 'int_outcomes__member_scopes' "
        "order by 2"
    ).fetchall()
    assert tables == [
        ("operators", "funder_outcome_member_events"),
        ("operators", "funder_outcome_members"),
        ("intermediate", "int_outcomes__member_scopes"),  # a build step, not published
    ]
    nodes = built.artefact("manifest.json")["nodes"]
    for model in ("funder_outcome_members", "funder_outcome_member_events"):
        assert nodes[f"model.continuum.{model}"]["config"]["meta"]["sensitive"] is True
    columns = nodes["model.continuum.funder_outcome_member_events"]["columns"]
    assert columns["participant_key"]["meta"]["sensitive"] is True


def test_the_dbt_data_test_fails_when_a_member_is_missing(built: Built, tmp_path: Path) -> None:
    """The same singular test, run on a copy of the warehouse with one member of a published cell deleted,
    must fail (so it can)."""
    shutil.copy(built.path, tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute(
            "delete from operators.funder_outcome_members "
            "where measure_id = 'reentry_linkage_30d' and dimension = 'all' and member_ref = "
            "(select member_ref from operators.funder_outcome_member_events where member_id = ?)",
            [RELEASE_IDS[12]],
        )
    with pytest.raises(pipeline_dbt.DbtBuildFailed, match="funder_outcome_members_add_up"):
        pipeline_dbt.dbt_build(Settings(home=tmp_path), AS_OF, "--select", "funder_outcome_members_add_up")


def test_each_member_names_the_providers_of_its_events(built: Built) -> None:
    """For the audit trail: whose rows an operator opens (here every event is okc-reentry's)."""
    providers = built.conn.execute(
        "select distinct provider_ids from operators.funder_outcome_member_events"
    ).fetchall()
    assert providers == [([PROVIDER],)]
