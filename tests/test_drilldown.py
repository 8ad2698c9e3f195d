"""Drill-down (issues 13 and 15): operators.funder_outcome_member_rows, built by real dbt on a real DuckDB
file from a handful of hand-made events, read as the web app opens a cell (continuum.web.drilldown), and
checked against members worked out by hand and against every cell's published numerator and denominator.

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
workforce one (a cell's member shows the events of its rows in that cell).
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
from continuum.web import drilldown
from continuum.web.drilldown import CELL_MEMBERS, Cell, NoDrillDown
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
    """A cell's members as the web drill-down reads them, without the providers."""
    rows = conn.execute(  # the web's query: member_id, participant_key, in_numerator, in_denominator, ...
        CELL_MEMBERS, [measure, grain, period, dimension, value]
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


def test_a_suppressed_cell_cannot_be_opened(built: Built) -> None:
    conn = built.conn
    assert cell(conn, "reentry_linkage_30d", "gender", "not_recorded") == (None, None, True)
    assert cell(conn, "reentry_linkage_30d", "gender", "male") == (None, None, True)  # complementary
    for value in ("not_recorded", "male"):
        with pytest.raises(NoDrillDown, match="suppressed"):
            drilldown.members(conn, Cell("reentry_linkage_30d", "quarter", Q1, "gender", value))


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


def cells_that_do_not_add_up(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Every published cell of funder_outcomes whose members, as the web app opens it, are not its
    numerator and denominator; and every suppressed cell that opens."""
    broken = []
    for row in conn.execute(
        "select measure_id, period_grain, period_start, dimension, dimension_value, numerator, denominator, "
        "is_suppressed from marts.funder_outcomes"
    ).fetchall():
        opened = Cell(*row[:5])
        if row[7]:
            try:
                drilldown.members(conn, opened)
                broken.append((opened.key, "a suppressed cell opens"))
            except NoDrillDown:
                pass
            continue
        _, _, counts = drilldown.members(conn, opened)
        if (counts["in_numerator"], counts["in_denominator"]) != (row[5], row[6] or 0):
            broken.append((opened.key, counts, row[5:7]))
    return broken


def test_every_published_cell_adds_up_and_no_suppressed_cell_opens(built: Built) -> None:
    """The members of every unsuppressed cell are its numerator and its denominator (the web's query
    against what dbt published), and a suppressed cell shows none."""
    published = built.conn.execute("select count(*) from marts.funder_outcomes where not is_suppressed")
    assert published.fetchone()[0] > 10  # the check below has cells to check
    assert cells_that_do_not_add_up(built.conn) == []


def test_the_check_finds_a_missing_member(built: Built, tmp_path: Path) -> None:
    """The same check, on a copy of the warehouse with one release's row deleted, names the cells that
    counted it (so it can fail)."""
    shutil.copy(built.path, tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute(
            "delete from operators.funder_outcome_member_rows "
            "where measure_id = 'reentry_linkage_30d' and member_id = ?",
            [RELEASE_IDS[12]],
        )
        broken = {key for key, *_ in cells_that_do_not_add_up(conn)}
    assert "reentry_linkage_30d|quarter|2026-01-01|all|all" in broken
    assert "reentry_linkage_30d|year|2026-01-01|all|all" in broken


def test_no_member_row_for_a_window_that_has_not_elapsed(built: Built) -> None:
    conn = built.conn
    measures = conn.execute(
        "select distinct measure_id from operators.funder_outcome_member_rows order by 1"
    ).fetchall()
    assert measures == [("participants_served",), ("reentry_linkage_30d",)]


def test_the_rows_are_sensitive_and_for_operators_only(built: Built) -> None:
    """Schema operators (published for the web app, never exported with the marts), marked sensitive."""
    statuses = {r["unique_id"]: r["status"] for r in built.artefact("run_results.json")["results"]}
    assert statuses["model.continuum.funder_outcome_member_rows"] == "success"
    tables = built.conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_name like 'funder_outcome_member%' order by 2"
    ).fetchall()
    assert tables == [("operators", "funder_outcome_member_rows")]
    node = built.artefact("manifest.json")["nodes"]["model.continuum.funder_outcome_member_rows"]
    assert node["config"]["meta"]["sensitive"] is True
    assert node["columns"]["participant_key"]["meta"]["sensitive"] is True


def test_each_member_names_the_providers_of_its_events(built: Built) -> None:
    """For the audit trail: whose rows an operator opens (here every event is okc-reentry's)."""
    providers = built.conn.execute(
        "select distinct provider_ids from operators.funder_outcome_member_rows"
    ).fetchall()
    assert providers == [([PROVIDER],)]
