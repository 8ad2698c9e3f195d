"""The warehouse (dbt_project/, shared/spec/warehouse-v1.md) built by real dbt on a real DuckDB file from
a simulated network, then held to the checks that hold whatever the seed.

The raw tables are filled here the way the loader (continuum.pipeline) fills them: every simulated
message is checked by the event contract; valid events go to raw.events (one row per landed row, so a
re-sent duplicate is there twice), refusals to raw.dead_letters, and each batch to raw.batches. Offsets,
batch names and landing times are synthetic but shaped like the loader's. The helpers (`simulate_raw`,
`write_raw`, `dbt_build`, `warehouse_tables`) are plain functions so that the end-to-end test through the
Airflow DAG can reuse the checks (`check_*`) on the warehouse the DAG builds.

Runtime: one simulation of 2,000 participants (~1 s), two full dbt builds and one incremental build
(~15-25 s each on 2 cores).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from common.directory import load_directory
from common.settings import Settings
from continuum.pipeline import dbt as pipeline_dbt
from streams.contract import Contract, Event, Refusal
from streams.landing.files import batch_name
from streams.simulator import MessConfig, Simulation, SimulationConfig
from streams.simulator import network as calibration
from streams.simulator.people import FIRST_NAMES, LAST_NAMES

PARTITIONS = 3

SIM_END = datetime(2026, 11, 1, tzinfo=UTC)
# A second load, as the loader stamps it: with the wall clock when it starts, after the first load
# (SIM_END); the as_of-incremental models find what is new from that stamp (macros/incremental_as_of.sql).
SECOND_LOAD_AT = SIM_END + timedelta(minutes=1)
SIM_PARTICIPANTS = 2000
SIM_SEED = 3
#: Landing lags behind the latest event time seen by this much (the simulator's entry lag is 2-36 h).
LANDING_LAG = timedelta(hours=1)


# --- raw tables, as the loader writes them --------------------------------------------------------------


@dataclass
class RawRows:
    """Rows of raw.events, raw.dead_letters and raw.batches, in landing order."""

    events: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)


def simulate(
    participants: int = SIM_PARTICIPANTS, seed: int = SIM_SEED, end: datetime = SIM_END
) -> Simulation:
    config = SimulationConfig(participants=participants, seed=seed, end=end, mess=MessConfig())
    return Simulation(config, load_directory(Settings().provider_directory))


def simulate_raw(sim: Simulation, loaded_at: datetime, end: datetime = SIM_END) -> RawRows:
    """Every message of `sim`, checked by the contract and landed: `landed_at` follows the latest event
    time seen so far (so an event sent days late lands days after its time); one batch per topic,
    partition and landing day."""
    contract = Contract(load_directory(Settings().provider_directory))
    offsets: dict[tuple[str, int], int] = {}
    clock = datetime(1970, 1, 1, tzinfo=UTC)
    raw = RawRows()
    for message in sim.messages():
        partition = zlib.crc32(message.key or b"") % PARTITIONS
        offset = offsets.get((message.topic, partition), 0)
        offsets[(message.topic, partition)] = offset + 1
        checked = contract.check(message.value, message.topic, now=end)
        if isinstance(checked, Event):
            clock = max(clock, checked.time + LANDING_LAG)
        landed_at = min(clock, end)
        lineage = {
            "kafka_topic": message.topic,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "kafka_timestamp": landed_at,
            "landed_at": landed_at,
            "loaded_at": loaded_at,
        }
        if isinstance(checked, Refusal):
            match = re.fullmatch(r"providers\.([^.]+)\.events", message.topic)
            raw.dead_letters.append(
                {
                    "provider_id": match.group(1) if match else None,
                    "error_stage": "contract",
                    "error_reason": checked.reason,
                    "error_detail": checked.detail,
                    **lineage,
                }
            )
        else:
            raw.events.append(event_row(checked, lineage))
    assign_batches(raw, loaded_at)
    return raw


def event_row(event: Event, lineage: dict) -> dict:
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time,
        "subject": event.subject,
        "dataschema": event.dataschema,
        "datacontenttype": event.datacontenttype,
        "data": orjson.dumps(event.data).decode(),
        **lineage,
    }


def assign_batches(raw: RawRows, loaded_at: datetime) -> None:
    """Name each row's batch (topic, partition, landing day) and list the batches as loaded."""
    groups: dict[tuple[str, int, date], list[dict]] = {}
    for row in [*raw.events, *raw.dead_letters]:
        groups.setdefault((row["kafka_topic"], row["kafka_partition"], row["landed_at"].date()), []).append(
            row
        )
    for (topic, partition, _day), rows in groups.items():
        first = min(r["kafka_offset"] for r in rows)
        last = max(r["kafka_offset"] for r in rows)
        name = batch_name(topic, partition, first, last)
        for r in rows:
            r["batch_name"] = name
        provider = topic.removeprefix("providers.").removesuffix(".events")
        raw.batches.append(
            {
                "batch_name": name,
                "topic": topic,
                "provider_id": provider,
                "kafka_partition": partition,
                "first_offset": first,
                "last_offset": last,
                "status": "loaded",
                "events": sum("id" in r for r in rows),
                "dead_letters": sum("error_reason" in r for r in rows),
                "failed_expectations": None,
                "validated_at": loaded_at,
                "loaded_at": loaded_at,
                "validation_result_path": f"validations/{name}.json",
            }
        )


RAW_COLUMNS = {
    "events": "specversion id source type time subject dataschema datacontenttype data kafka_topic "
    "kafka_partition kafka_offset kafka_timestamp landed_at batch_name loaded_at",
    "dead_letters": "provider_id error_stage error_reason error_detail kafka_topic kafka_partition "
    "kafka_offset kafka_timestamp landed_at batch_name loaded_at",
    "batches": "batch_name topic provider_id kafka_partition first_offset last_offset status events "
    "dead_letters failed_expectations validated_at loaded_at validation_result_path",
}


def write_raw(db_path: Path, raw: RawRows) -> None:
    """Append `raw` to the raw tables of the warehouse at `db_path` (created first, with the DDL that
    the dbt project's on-run-start hook uses, when missing)."""
    ddl = (pipeline_dbt.DBT_PROJECT_DIR / "macros" / "create_raw_tables_if_missing.sql").read_text()
    ddl = ddl.split("{% macro create_raw_tables_if_missing() %}")[1].split("{% endmacro %}")[0]
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        conn.execute(ddl)
        for table, rows in (
            ("events", raw.events),
            ("dead_letters", raw.dead_letters),
            ("batches", raw.batches),
        ):
            if not rows:
                continue
            columns = RAW_COLUMNS[table].split()
            arrow = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])  # noqa: F841
            conn.execute(
                f"insert into raw.{table} ({', '.join(columns)}) select {', '.join(columns)} from arrow"
            )


def test_raw_tables_of_the_hook_are_the_loaders(tmp_path: Path) -> None:
    """The on-run-start hook creates the raw tables only when missing; whichever of it and the loader
    runs first, the tables must be the same: names, types, nullability, constraints."""
    from continuum.pipeline.warehouse import raw_ddl

    def describe(db_path: Path, statements: list[str]) -> list[tuple]:
        with duckdb.connect(str(db_path)) as conn:
            for statement in statements:
                conn.execute(statement)
            columns = conn.execute(
                "select table_name, column_name, data_type, is_nullable from information_schema.columns "
                "where table_schema = 'raw' order by table_name, ordinal_position"
            ).fetchall()
            constraints = conn.execute(
                "select table_name, constraint_type, constraint_column_names from duckdb_constraints() "
                "where schema_name = 'raw' order by all"
            ).fetchall()
        return columns + constraints

    hook = (pipeline_dbt.DBT_PROJECT_DIR / "macros" / "create_raw_tables_if_missing.sql").read_text()
    hook = hook.split("{% macro create_raw_tables_if_missing() %}")[1].split("{% endmacro %}")[0]
    assert describe(tmp_path / "hook.duckdb", [hook]) == describe(tmp_path / "loader.duckdb", raw_ddl())


def dbt_build(db_path: Path, as_of: datetime) -> str:
    """One `dbt build` of the project on `db_path`, through the pipeline's own runner (target and logs
    beside the warehouse, never in the repository); raises with dbt's output when the build fails."""
    return pipeline_dbt.dbt_build(Settings(home=db_path.parent), as_of)


def warehouse_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database() order by 1, 2"
    ).fetchall()


# --- the warehouse built once for this module ----------------------------------------------------------


@dataclass
class BuiltWarehouse:
    path: Path
    sim: Simulation
    raw: RawRows
    as_of: datetime
    run_results: dict

    def connect(self) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(str(self.path), read_only=True)
        conn.execute("set TimeZone = 'UTC'")
        return conn


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    work = tmp_path_factory.mktemp("warehouse")
    sim = simulate()
    raw = simulate_raw(sim, loaded_at=SIM_END)
    db_path = work / "warehouse.duckdb"
    write_raw(db_path, raw)
    dbt_build(db_path, SIM_END)
    target = pipeline_dbt.dbt_target_dir(Settings(home=work))
    run_results = orjson.loads((target / "run_results.json").read_bytes())
    return BuiltWarehouse(db_path, sim, raw, SIM_END, run_results)


# --- checks that hold whatever the seed (reused by the end-to-end test) --------------------------------


def check_no_small_cells(conn: duckdb.DuckDBPyConnection) -> None:
    """warehouse-v1: a count from 1 to 10 is never published; a suppressed row has its numbers null."""
    small = conn.execute(
        "select count(*) from marts.funder_outcomes "
        "where numerator between 1 and 10 or denominator between 1 and 10"
    ).fetchall()[0][0]
    assert small == 0
    bad_flags = conn.execute(
        "select count(*) from marts.funder_outcomes "
        "where is_suppressed and (numerator is not null or denominator is not null or rate is not null)"
    ).fetchall()[0][0]
    assert bad_flags == 0
    counts = [
        "referrals_requested",
        "responded_within_48h",
        "accepted",
        "rejected",
        "completed",
        "connected",
        "stalled",
    ]
    where = " or ".join(f"{c} between 1 and 10" for c in counts)
    assert (
        conn.execute(f"select count(*) from marts.provider_handoff_summary where {where}").fetchall()[0][0]
        == 0
    )


def check_complementary_suppression(conn: duckdb.DuckDBPyConnection) -> None:
    """No group (measure, period, dimension) with more than one row has exactly one suppressed row."""
    groups = conn.execute(
        "select count(*) from (select count(*) filter (where is_suppressed) as hidden, count(*) as cells "
        "from marts.funder_outcomes group by measure_id, period_grain, period_start, dimension) "
        "where hidden = 1 and cells > 1"
    ).fetchall()[0][0]
    assert groups == 0


def check_every_referral_once(conn: duckdb.DuckDBPyConnection) -> None:
    requested = conn.execute(
        "select count(distinct data ->> 'referral_id') from raw.events where type = 'referral.requested'"
    ).fetchall()[0][0]
    rows, distinct, missing = conn.execute(
        "select count(*), count(distinct referral_id), "
        "(select count(*) from (select distinct data ->> 'referral_id' as referral_id from raw.events "
        " where type = 'referral.requested') as r anti join marts.referral_handoffs using (referral_id)) "
        "from marts.referral_handoffs"
    ).fetchall()[0]
    assert requested > 0
    assert rows == distinct == requested
    assert missing == 0


def consent_in_force(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> dict[str, bool]:
    """Participant key -> part2 of the network_sharing grant in force at as_of, computed here from the
    raw events (independently of the models): the latest granted/revoked by time, ties by event id."""
    rows = conn.execute(
        "select subject, type, time, id, (data ->> 'part2')::boolean from raw.events "
        "where type in ('consent.granted', 'consent.revoked') and data ->> 'scope' = 'network_sharing' "
        "and time <= ?",
        [as_of],
    ).fetchall()
    latest: dict[str, tuple] = {}
    for subject, type_, time, event_id, part2 in rows:
        if subject not in latest or (time, event_id) > latest[subject][:2]:
            latest[subject] = (time, event_id, type_, part2)
    return {k: v[3] for k, v in latest.items() if v[2] == "consent.granted"}


def check_only_consenting_participants_shared(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    consenting = consent_in_force(conn, as_of)
    for table in ("journey_events", "participant_journeys"):
        keys = {k for (k,) in conn.execute(f"select distinct participant_key from marts.{table}").fetchall()}
        assert keys, f"marts.{table} is empty"
        assert keys <= consenting.keys(), (
            f"{len(keys - consenting.keys())} non-consenting participants in {table}"
        )


def check_part2_records_stay_with_their_provider(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    without_part2 = {k for k, part2 in consent_in_force(conn, as_of).items() if not part2}
    rows = conn.execute(
        "select j.participant_key from marts.journey_events j "
        "join raw.events e on e.id = j.event_id and e.source = 'urn:continuum:provider:' || j.provider_id "
        "where e.data ->> 'program_type' = 'substance_use_treatment' "
        "or e.data ->> 'service_type' = 'substance_use_treatment'"
    ).fetchall()
    leaked = {k for (k,) in rows} & without_part2
    assert not leaked, f"{len(leaked)} participants' Part 2 records shared without a Part 2 grant"


def check_provider_views_withhold_part2_answers(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> None:
    """Each referral reaches its two providers in provider_views.provider_referral_handoffs; the sender of a
    substance-use referral sees the receiver's answers only when the participant's grant in force at as_of
    has part2 (computed here from raw events, not from the models)."""
    part2 = consent_in_force(conn, as_of)
    rows = conn.execute(
        "select v.direction, v.viewer_provider_id = case v.direction when 'sent' then h.from_provider_id "
        "else h.to_provider_id end, h.service_type, h.participant_key, v.final_status, h.final_status "
        "from provider_views.provider_referral_handoffs v join marts.referral_handoffs h using (referral_id)"
    ).fetchall()
    referrals = conn.execute("select count(*) from marts.referral_handoffs").fetchall()[0][0]
    assert len(rows) == 2 * referrals
    withheld = 0
    for direction, viewer_is_party, service_type, key, seen_status, status in rows:
        assert viewer_is_party
        part2_record = service_type == "substance_use_treatment"
        hidden = direction == "sent" and part2_record and not part2.get(key, False)
        assert seen_status == (None if hidden else status)
        withheld += hidden
    assert withheld > 0, "the simulation should have substance-use referrals without a Part 2 grant"


# --- tests ---------------------------------------------------------------------------------------------


def test_build_runs_every_model_test_and_unit_test(warehouse: BuiltWarehouse) -> None:
    results = warehouse.run_results["results"]
    by_kind: dict[str, list[str]] = {}
    for r in results:
        by_kind.setdefault(r["unique_id"].split(".")[0], []).append(r["status"])
    assert len(by_kind["model"]) >= 20 and set(by_kind["model"]) == {"success"}
    assert len(by_kind["unit_test"]) >= 15 and set(by_kind["unit_test"]) == {"pass"}
    # data tests pass, or warn where real feeds break a relationship (here: the simulator's messages
    # to a provider missing from the directory, dead-lettered as unknown_provider)
    assert set(by_kind["test"]) <= {"pass", "warn"}


def test_unit_tests_pass_when_run_by_hand_on_a_built_warehouse(
    warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    """`dbt test --select test_type:unit`, as an engineer runs it, on a built warehouse: without the
    pipeline's rebuild_all_keys the incremental macros look up the model's own state, which a unit test
    (is_incremental overridden) has no relation for. The pipeline's first build rebuilds every key, so
    only a run like this one finds a macro that asks for the state before asking is_incremental()."""
    shutil.copyfile(warehouse.path, tmp_path / "warehouse.duckdb")
    settings = Settings(home=tmp_path)
    done = subprocess.run(
        pipeline_dbt.dbt_command("test", "--select", "test_type:unit"),
        env=pipeline_dbt.dbt_env(settings, warehouse.as_of),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    results = orjson.loads(pipeline_dbt.run_results_path(settings).read_bytes())["results"]
    statuses = [r["status"] for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(statuses) >= 15 and set(statuses) == {"pass"}


def test_no_published_count_from_1_to_10(warehouse: BuiltWarehouse) -> None:
    with warehouse.connect() as conn:
        assert conn.execute("select count(*) from marts.funder_outcomes").fetchall()[0][0] > 0
        check_no_small_cells(conn)
        check_complementary_suppression(conn)


def test_each_outcome_member_names_the_senders_of_its_events(warehouse: BuiltWarehouse) -> None:
    """The drill-down's provider_ids, carried with the events through the int_outcomes__* models, are
    the providers of the member's event ids as the union of staging has them (an independent lookup)."""
    with warehouse.connect() as conn:
        wrong, rows, measures, several = conn.execute(
            "with looked_up as ("
            "  select m.measure_id, m.period_grain, m.period_start, m.member_id, m.program_type,"
            "         list_sort(list_distinct(list(e.provider_id))) as provider_ids"
            "  from (select *, unnest(event_ids) as event_id from operators.funder_outcome_member_rows) m"
            "  join intermediate.int_events__unioned e using (event_id)"
            "  group by all"
            ") "
            "select count(*) filter (where l.provider_ids is distinct from m.provider_ids), count(*),"
            "       list(distinct m.measure_id), count(*) filter (where len(m.provider_ids) > 1) "
            "from operators.funder_outcome_member_rows m "
            "left join looked_up l on (l.measure_id, l.period_grain, l.period_start, l.member_id)"
            "  = (m.measure_id, m.period_grain, m.period_start, m.member_id)"
            "  and l.program_type is not distinct from m.program_type"
        ).fetchone()
    assert rows > 0 and wrong == 0
    # one measure of each int_outcomes__* model at least
    each_model = {"participants_served", "referral_connected", "program_completion", "rearrest_12m"}
    assert each_model | {"mediation_no_retaliation_90d"} <= set(measures)
    assert several > 0, "some members' events come from more than one provider"


def test_every_requested_referral_once_in_referral_handoffs(warehouse: BuiltWarehouse) -> None:
    with warehouse.connect() as conn:
        check_every_referral_once(conn)


def test_no_non_consenting_participant_in_shared_marts(warehouse: BuiltWarehouse) -> None:
    with warehouse.connect() as conn:
        check_only_consenting_participants_shared(conn, warehouse.as_of)
        # the simulator revokes some grants: make sure the check had someone to exclude
        revoked = conn.execute("select count(*) from raw.events where type = 'consent.revoked'").fetchall()[
            0
        ][0]
        assert revoked > 0


def test_part2_records_need_a_part2_grant(warehouse: BuiltWarehouse) -> None:
    with warehouse.connect() as conn:
        check_part2_records_stay_with_their_provider(conn, warehouse.as_of)
        check_provider_views_withhold_part2_answers(conn, warehouse.as_of)


def test_duplicates_collapse_and_are_counted(warehouse: BuiltWarehouse) -> None:
    with warehouse.connect() as conn:
        landed = conn.execute("select count(*), count(distinct (source, id)) from raw.events").fetchall()[0]
        quality = conn.execute(
            "select sum(events_landed), sum(duplicates), sum(dead_letters) from marts.provider_data_quality"
        ).fetchall()[0]
    assert landed[0] > landed[1], "the simulation re-sends some events"
    assert quality[0] == landed[1]
    assert quality[1] == landed[0] - landed[1]
    assert quality[2] == len(warehouse.raw.dead_letters)


def check_rearrest_calibration(conn: duckdb.DuckDBPyConnection) -> None:
    """The simulator draws a prison release's first rearrest from BJS's curve: P(within 1 year) is
    REARREST_CUMULATIVE[0]. Jail releases are rearrested at COMMUNITY_ARREST_PER_YEAR, i.e.
    1 - exp(-rate) within a year. The warehouse's rearrest_12m cohort mixes both, so its published rate
    must be the mix of the two by the warehouse's own share of prison releases; and the prison releases
    alone must reproduce BJS's one-year figure.

    Tolerance: a cohort is a binomial sample (n = the published denominator, hundreds here), so a rate
    is allowed 4 standard errors of a binomial with the expected p (a false alarm about 1 in 16,000
    seeds), plus 0.02 for what the simulation does that the calibration does not describe (revocations
    that pre-empt an arrest, journeys cut by the simulation's end).
    """
    p_prison = calibration.REARREST_CUMULATIVE[0][1]
    assert calibration.REARREST_CUMULATIVE[0][0] == 1
    p_jail = 1 - math.exp(-calibration.COMMUNITY_ARREST_PER_YEAR)
    # the cohort of rearrest_12m (year grain) and its share of prison releases
    everyone = conn.execute(
        "select c.period_start, c.is_rearrested_within_365d, r.facility_type "
        "from intermediate.int_participants__release_cohorts c "
        "join intermediate.int_participants__spine s using (participant_key) "
        "join staging.stg_events__custody_released r on r.event_id = c.release_event_id "
        "where c.period_grain = 'year' and c.has_365d_elapsed and s.is_consenting"
    ).fetchall()
    published = conn.execute(
        "select period_start, numerator, denominator from marts.funder_outcomes "
        "where measure_id = 'rearrest_12m' and period_grain = 'year' and dimension = 'all' "
        "and not is_suppressed"
    ).fetchall()
    years = {start for start, _, _ in published}
    cohort = [(rearrested, facility) for start, rearrested, facility in everyone if start in years]
    numerator = sum(num for _, num, _ in published)
    denominator = sum(den for _, _, den in published)
    n = len(cohort)
    assert n >= 100, "too few releases with a year elapsed to test the calibration"
    assert denominator == n, "the published denominators are the cohort's sizes"
    prison_share = sum(f == "prison" for _, f in cohort) / n
    expected = prison_share * p_prison + (1 - prison_share) * p_jail
    rate = numerator / denominator
    tolerance = 4 * math.sqrt(expected * (1 - expected) / n) + 0.02
    assert abs(rate - expected) <= tolerance, f"rate {rate:.3f}, expected {expected:.3f} ± {tolerance:.3f}"
    prison = [rearrested for rearrested, f in cohort if f == "prison"]
    prison_rate = sum(prison) / len(prison)
    prison_tolerance = 4 * math.sqrt(p_prison * (1 - p_prison) / len(prison)) + 0.02
    assert abs(prison_rate - p_prison) <= prison_tolerance, f"prison releases: {prison_rate:.3f}"


def test_rearrest_within_a_year_reproduces_the_simulators_calibration(warehouse: BuiltWarehouse) -> None:
    with warehouse.connect() as conn:
        check_rearrest_calibration(conn)


def split_raw(raw: RawRows, cutoff: datetime, loaded_after: datetime) -> tuple[RawRows, RawRows]:
    """`raw` as two loads: what landed before `cutoff`, and the rest, loaded at `loaded_after`."""
    before, after = RawRows(), RawRows()
    for kind in ("events", "dead_letters"):
        for row in getattr(raw, kind):
            if row["landed_at"] < cutoff:
                getattr(before, kind).append(row)
            else:
                getattr(after, kind).append({**row, "loaded_at": loaded_after})
    later_batches = {r["batch_name"] for r in [*after.events, *after.dead_letters]}
    for batch in raw.batches:
        if batch["batch_name"] in later_batches:
            after.batches.append({**batch, "validated_at": loaded_after, "loaded_at": loaded_after})
        else:
            before.batches.append(batch)
    return before, after


MART_KEYS = {
    "journey_events": "participant_key, seq",
    "participant_journeys": "participant_key",
    "referral_handoffs": "referral_id",
    "funder_outcomes": "measure_id, period_grain, period_start, dimension, dimension_value",
    "provider_handoff_summary": "from_provider_id, to_provider_id, month",
    "provider_data_quality": "provider_id, landed_on",
}


def test_incremental_build_lands_late_events_in_place(warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    """Build on what landed until 10 days before the end, then load the last 10 days (about 1% of the
    events, some of them days late) and build again: the incremental build must give exactly the
    marts of the one-shot build (late events take their place in each journey's seq, revocations
    remove participants), and the staging models must not be rebuilt: a marker written into a staged
    row between the two builds is still there after the second. Then one more batch with a revocation:
    the participant leaves journey_events and participant_journeys at the next build."""
    cutoff = SIM_END - timedelta(days=10)
    before, after = split_raw(warehouse.raw, cutoff, loaded_after=SECOND_LOAD_AT)
    late = [e for e in after.events if e["time"] < cutoff - timedelta(days=2)]
    assert late, "the last load should carry events that happened days before it"
    assert len(after.events) < 0.05 * len(before.events)
    db_path = tmp_path / "warehouse.duckdb"
    write_raw(db_path, before)
    dbt_build(db_path, SIM_END)
    with duckdb.connect(str(db_path)) as conn:
        marked = conn.execute(
            "update staging.stg_events__service_delivered set batch_name = 'marker' "
            "where event_id = (select min(event_id) from staging.stg_events__service_delivered) "
            "returning event_id"
        ).fetchall()
    assert len(marked) == 1
    write_raw(db_path, after)
    dbt_build(db_path, SIM_END)
    with duckdb.connect(str(db_path)) as conn:
        conn.execute(f"attach '{warehouse.path}' as full_build (read_only)")
        for table, key in MART_KEYS.items():
            differing = conn.execute(
                f"select count(*) from ((select * from marts.{table} except all "
                f"select * from full_build.marts.{table}) union all (select * from full_build.marts.{table} "
                f"except all select * from marts.{table}))"
            ).fetchall()[0][0]
            assert differing == 0, (
                f"marts.{table}: {differing} rows differ from the one-shot build (key {key})"
            )
        still_marked = conn.execute(
            "select count(*) from staging.stg_events__service_delivered where batch_name = 'marker'"
        ).fetchall()[0][0]
        assert still_marked == 1, "the incremental build rebuilt staging history"
        (participant,) = conn.execute(
            "select min(participant_key) from marts.participant_journeys"
        ).fetchall()[0]

    # A revocation that arrives in a later batch removes the participant from the shared marts at the
    # next (incremental) build, and from the funder counts.
    revocation = RawRows(events=[revocation_row(participant, SIM_END - timedelta(seconds=1))])
    write_raw(db_path, revocation)
    dbt_build(db_path, SIM_END)
    with duckdb.connect(str(db_path), read_only=True) as conn:
        for table in ("journey_events", "participant_journeys"):
            left = conn.execute(
                f"select count(*) from marts.{table} where participant_key = ?", [participant]
            ).fetchall()[0][0]
            assert left == 0, f"a revoked participant is still in marts.{table}"
        check_only_consenting_participants_shared(conn, SIM_END)


def revocation_row(participant_key: str, time: datetime) -> dict:
    """A consent.revoked (network_sharing) from okc-housing, landed and loaded just after SIM_END."""
    landed = SIM_END + timedelta(minutes=5)
    data = {"consent_id": str(uuid.uuid4()), "scope": "network_sharing", "part2": False}
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:continuum:provider:okc-housing",
        "type": "consent.revoked",
        "time": time,
        "subject": participant_key,
        "dataschema": "urn:continuum:schema:consent.revoked:1",
        "datacontenttype": None,
        "data": orjson.dumps(data).decode(),
        "kafka_topic": "providers.okc-housing.events",
        "kafka_partition": 0,
        "kafka_offset": 10**9,
        "kafka_timestamp": landed,
        "landed_at": landed,
        "batch_name": batch_name("providers.okc-housing.events", 0, 10**9, 10**9),
        "loaded_at": SIM_END + timedelta(minutes=10),
    }


# --- PII --------------------------------------------------------------------------------------------------

_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_PHONE = re.compile(r"(?<![\d-])(\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\d-])")
_ADDRESS = re.compile(
    r"\b\d{1,6}\s+(?:[NSEW]\.?\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\s+"
    r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Dr|Drive|Ln|Lane|Ct|Court|Pl|Place|Way|Pkwy)\b\.?"
)
_DATE_TEXT = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_PERSON_NAME = re.compile(r"\b[A-Z][a-z]+,?\s+[A-Z][a-z]+\b")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")
_SIM_NAMES = {w.lower() for w in " ".join(FIRST_NAMES + LAST_NAMES).split()}
#: Public directory data, not people: the organisations' names in the provider directory seed.
_NOT_PEOPLE = {("reference", "provider_directory", "name")}


def pii_findings(conn: duckdb.DuckDBPyConnection, earliest_event: date) -> list[str]:
    """Every value of every column of every table that looks like a name, a date of birth, an address,
    a phone number or an SSN. A date (typed, or written in text) before `earliest_event` is taken for a
    date of birth: nothing in the network happened before the simulation started."""
    findings = []
    for schema, table in warehouse_tables(conn):
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
        for column, data_type in columns:
            where = f"{schema}.{table}.{column}"
            if data_type in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
                (oldest,) = conn.execute(
                    f'select min(cast("{column}" as date)) from {schema}.{table}'
                ).fetchall()[0]
                if oldest is not None and oldest < earliest_event:
                    findings.append(f"{where}: date {oldest} (a date of birth?)")
                continue
            if not (data_type == "VARCHAR" or data_type.startswith("VARCHAR") or data_type == "JSON"):
                continue
            if (schema, table, column) in _NOT_PEOPLE:
                continue
            values = conn.execute(
                f'select distinct cast("{column}" as varchar) from {schema}.{table}'
            ).fetchall()
            for (value,) in values:
                if value is None or _HEX_KEY.match(value):
                    continue
                finding = pii_in_text(value, earliest_event)
                if finding:
                    findings.append(f"{where}: {finding} in {value[:120]!r}")
                    break
    return findings


def pii_in_text(value: str, earliest_event: date) -> str | None:
    if _SSN.search(value):
        return "an SSN"
    if _PHONE.search(value):
        return "a phone number"
    if _ADDRESS.search(value):
        return "an address"
    for m in _DATE_TEXT.finditer(value):
        year = int(m.group(1) or m.group(6))
        if year < earliest_event.year:
            return "a date of birth"
    for m in _PERSON_NAME.finditer(value):
        first, last = m.group(0).replace(",", " ").split()
        if first.lower() in _SIM_NAMES or last.lower() in _SIM_NAMES:
            return "a person's name"
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", value) if w[:1].isupper()}
    if words & _SIM_NAMES:
        return "a person's name"
    return None


def test_pii_shaped_values_never_reach_the_warehouse(warehouse: BuiltWarehouse) -> None:
    earliest = warehouse.sim.config.start.date()
    with warehouse.connect() as conn:
        findings = pii_findings(conn, earliest)
    assert not findings, "\n".join(findings)


def test_pii_scan_finds_what_it_looks_for() -> None:
    """The scanner itself: each shape is caught, and the warehouse's own values are not."""
    earliest = date(2021, 1, 1)
    for text in (
        "123-45-6789",
        "call (405) 555-0134",
        "405-555-0134",
        "1200 N Walker Avenue",
        "born 1990-01-31",
        "DOB 01/31/1990",
        "Michael Johnson",
    ):
        assert pii_in_text(text, earliest), text
    for text in (
        "f6097baaeac0a13667de4148cff96e87e76e09761b7aeaf890e9e79cc993be94",
        "providers.okc-reentry.events+1+00000000000000000012+00000000000000000040.parquet",
        "3c0b7d1e-8a4f-4b7a-9c9e-1f2d3e4a5b6c",
        "2026-10-31",
        "hospital_violence_intervention",
        "data.status_reason: must be one of [...] (rule: enum)",
    ):
        assert pii_in_text(text, earliest) is None, text


def test_raw_ddl_is_written_once_and_matches_the_landing_schemas(tmp_path: Path) -> None:
    """The raw tables' DDL lives only in the dbt macro (the loader runs its body): raw.events and
    raw.dead_letters must take exactly the landing zone's Parquet columns (the loader inserts by name),
    less the dead letters' payload, plus the two the load adds."""
    from continuum.pipeline import warehouse as pipeline_warehouse
    from streams.landing.files import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA

    landing = {
        "events": pipeline_warehouse.warehouse_columns(EVENTS_SCHEMA),
        "dead_letters": pipeline_warehouse.warehouse_columns(
            DEAD_LETTERS_SCHEMA, pipeline_warehouse.DEAD_LETTER_PAYLOAD
        ),
    }

    def columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
        return conn.execute(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()

    with duckdb.connect(str(tmp_path / "ddl.duckdb")) as conn:
        for statement in pipeline_warehouse.raw_ddl():
            conn.execute(statement)
        conn.execute("create schema landing")
        for table, wanted in landing.items():
            body = ", ".join(f'"{c}" {t}{"" if nullable else " not null"}' for c, t, nullable in wanted)
            conn.execute(f"create table landing.{table} ({body})")
            assert columns(conn, "raw", table) == columns(conn, "landing", table), table
    python = Path(pipeline_warehouse.__file__).read_text().lower()
    assert "create table" not in python, "the raw tables' DDL is the macro's only"
