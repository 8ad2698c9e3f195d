"""Staging's row-by-row data tests read only the rows loaded since the last successful build of the same
project tested the others (continuum.pipeline.dbt.rows_tested_already, `rows_since_tested` in
dbt_project/tests/generic/row_rules.sql): issue 13's "run the heavy data tests on what changed".

The proof uses two invalid values that the contract would refuse and that only a tampered warehouse can
hold: an old staged row altered in place (loaded before the last build, so tested already: not read
again) and a new raw row (loaded after it: read). The row rules test returns one row per broken rule, an
invalid value being one (column and value), so the failing test's count says which rows it read: 1 (the
new row only), not 2.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest
from test_build_skip import LOADED, T, envelopes, home, raw_rows
from test_warehouse import RawRows, assign_batches, write_raw

from continuum.pipeline import dbt, tasks

LOADED_LATER = LOADED + timedelta(hours=2)


def a_new_service_row_with_service_type(value: str) -> RawRows:
    """One more service.delivered, loaded at LOADED_LATER, its data altered after the contract check."""
    (service,) = [r for r in raw_rows(envelopes()).events if r["type"] == "service.delivered"]
    data = json.loads(service["data"])
    data["service_id"] = "00000000-0000-4000-8000-00000000dd02"
    data["service_type"] = value
    row = {
        **service,
        "id": "00000000-0000-4000-8000-0000000000d2",
        "data": orjson.dumps(data).decode(),
        "kafka_offset": 100,
        "kafka_timestamp": LOADED_LATER,
        "landed_at": LOADED_LATER,
        "loaded_at": LOADED_LATER,
    }
    raw = RawRows(events=[row])
    assign_batches(raw, LOADED_LATER)
    return raw


def failures_of(settings, model: str) -> list[tuple[str, int | None]]:
    """Status and failures of `model`'s row_rules test that fails the build (not its warnings), from the
    last build's run_results.json: one failure per broken rule and value (tests/generic/row_rules.sql)."""
    manifest = json.loads((dbt.dbt_target_dir(settings) / "manifest.json").read_bytes())
    (test_id,) = [
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and node["test_metadata"]["name"] == "row_rules"
        and node["attached_node"] == f"model.continuum.{model}"
        and node["config"]["severity"].lower() == "error"
    ]
    results = json.loads(dbt.kept_run_results_path(settings).read_bytes())["results"]
    return [(r["status"], r.get("failures")) for r in results if r["unique_id"] == test_id]


def copy_two_rows_around(conn: duckdb.DuckDBPyConnection, table: str, stamp: str, mark: datetime) -> None:
    """Duplicate the rows of two events of `table` in place: the first copy with `stamp` an hour before
    `mark` (tested already), the second a minute after it (since)."""
    (old_copy, new_copy) = conn.execute(f"select event_id from {table} order by event_id limit 2").fetchall()
    for (event_id,), stamped in (
        (old_copy, mark - timedelta(hours=1)),
        (new_copy, mark + timedelta(minutes=1)),
    ):
        conn.execute(
            f"insert into {table} select * replace (?::timestamptz as {stamp}) from {table} "
            "where event_id = ?",
            [stamped, event_id],
        )


@pytest.mark.slow
def test_row_by_row_staging_tests_read_only_the_rows_loaded_since_the_last_tested_build(tmp_path: Path):
    settings = home(tmp_path, "pipeline", raw_rows(envelopes()))
    first = T + timedelta(hours=1)
    tasks.build_warehouse(settings, first.isoformat())
    recorded = dbt.read_build_state(settings)
    assert recorded.tested_through == LOADED  # the last loaded_at of the rows that build tested

    # Tamper with the staged (already tested) row, and load a new row with another invalid value.
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.execute("update staging.stg_events__service_delivered set service_type = 'tampered_old_row'")
    write_raw(settings.warehouse_path, a_new_service_row_with_service_type("invalid_new_row"))

    with pytest.raises(dbt.DbtBuildFailed, match="row_rules_stg_events__service_delivered_"):
        tasks.build_warehouse(settings, (first + timedelta(hours=1)).isoformat())
    # One invalid value found: the new row's. The old row was not read again.
    assert failures_of(settings, "stg_events__service_delivered") == [("fail", 1)]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        invalid = conn.execute(
            "select service_type from staging.stg_events__service_delivered "
            "where service_type like '%row' order by 1"
        ).fetchall()
    assert invalid == [("invalid_new_row",), ("tampered_old_row",)]  # both are there to be found

    # The failed build left no record: the next build tests every row and finds both values.
    assert dbt.read_build_state(settings) is None
    with pytest.raises(dbt.DbtBuildFailed):
        tasks.build_warehouse(settings, (first + timedelta(hours=2)).isoformat())
    assert failures_of(settings, "stg_events__service_delivered") == [("fail", 2)]


@pytest.mark.slow
def test_a_staging_grain_test_counts_only_the_keys_loaded_since_the_last_tested_build(tmp_path: Path):
    """Two landed rows (Kafka positions) are duplicated in place in staging: one copy loaded before the
    last successful build's mark (tested already: its key is not counted again), one loaded since
    (counted, over the whole table); a valid new raw row makes the next build one with new rows, which
    tests staging. dbt's test returns a row per duplicated key: 1, not 2."""
    settings = home(tmp_path, "pipeline", raw_rows(envelopes()))
    first = T + timedelta(hours=1)
    tasks.build_warehouse(settings, first.isoformat())
    assert dbt.read_build_state(settings).tested_through == LOADED
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        service_type = conn.execute(
            "select any_value(service_type) from staging.stg_events__service_delivered"
        )
        service_type = service_type.fetchone()[0]
        copy_two_rows_around(conn, "staging.stg_raw__landed_rows", "loaded_at", LOADED)
    write_raw(settings.warehouse_path, a_new_service_row_with_service_type(service_type))

    with pytest.raises(dbt.DbtBuildFailed, match="row_rules_stg_raw__landed_rows_"):
        tasks.build_warehouse(settings, (first + timedelta(hours=2)).isoformat())
    assert failures_of(settings, "stg_raw__landed_rows") == [("fail", 1)]


@pytest.mark.slow
def test_a_marked_uniqueness_test_counts_only_the_keys_written_since_the_last_tested_build(tmp_path: Path):
    """Two events of int_events__unioned are duplicated in place: one copy stamped as written before the
    last successful build (tested already: its key is not counted again), one as written since (counted,
    over the whole table). dbt's test returns a row per duplicated key: 1, not 2."""
    settings = home(tmp_path, "pipeline", raw_rows(envelopes()))
    first = T + timedelta(hours=1)
    tasks.build_warehouse(settings, first.isoformat())
    built = dbt.read_build_state(settings).built_at
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        copy_two_rows_around(conn, "intermediate.int_events__unioned", "refreshed_at", built)

    # Nothing new, as_of a month on (past the next change: a build, not a skip); no event is rewritten.
    with pytest.raises(dbt.DbtBuildFailed, match="row_rules_int_events__unioned_"):
        tasks.build_warehouse(settings, (first + timedelta(days=30)).isoformat())
    assert failures_of(settings, "int_events__unioned") == [("fail", 1)]


@pytest.mark.slow
def test_journey_events_uniqueness_counts_the_keys_of_the_participants_whose_shared_events_were_written(
    tmp_path: Path,
):
    """journey_events has no refreshed_at: its tests count the keys of the participants whose shared
    events were written since the last tested build. A participant's first journey row is duplicated in
    place: not counted while their shared events were not written since, counted once they were. The
    tests run alone, with the mark the pipeline would pass (rows_tested_already: the last build's end)."""
    settings = home(tmp_path, "pipeline", raw_rows(envelopes()))
    first = T + timedelta(hours=1)
    tasks.build_warehouse(settings, first.isoformat())
    built = dbt.read_build_state(settings).built_at
    first_participant = "(select min(participant_key) from marts.journey_events)"
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.execute(
            "insert into marts.journey_events select * from marts.journey_events "
            f"where seq = 1 and participant_key = {first_participant}"
        )

    def run_journey_events_tests() -> None:
        dbt.run_dbt_build(
            settings, first,
            dbt.BuildPlan(("--select", "journey_events", "--resource-type", "test"), "journey_events' tests"),
            dbt.DBT_PROJECT_DIR, 600, dbt.AlreadyTested(written=built),
        )  # fmt: skip

    run_journey_events_tests()  # the shared events wrote nothing since: not counted
    assert failures_of(settings, "journey_events") == [("pass", 0)]

    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.execute(
            "update intermediate.int_journeys__shared_events set refreshed_at = ? "
            f"where participant_key = {first_participant}",
            [built + timedelta(minutes=1)],
        )
    with pytest.raises(dbt.DbtBuildFailed, match="row_rules_journey_events_"):
        run_journey_events_tests()
    # both grains broken, once each: (participant_key, seq) and (provider_id, event_id)
    assert failures_of(settings, "journey_events") == [("fail", 2)]


def test_the_mark_is_kept_only_for_the_same_project():
    built = LOADED + timedelta(minutes=5)
    same = dbt.BuildState("project-a", {}, built_at=built, tested_through=LOADED)
    every_row = dbt.AlreadyTested()
    assert dbt.rows_tested_already(same, dbt.BuildState("project-a", {}), built) == dbt.AlreadyTested(
        LOADED, built
    )
    # tests may have changed
    assert dbt.rows_tested_already(same, dbt.BuildState("project-b", {}), built) == every_row
    # no successful build
    assert dbt.rows_tested_already(None, dbt.BuildState("project-a", {}), built) == every_row
    # an unplanned build (--full-refresh, --select)
    assert dbt.rows_tested_already(same, None, built) == every_row


def test_a_build_whose_as_of_moved_back_counts_every_key_written():
    """journey_events renumbers participants whose shared events were not written when as_of moves back."""
    built = LOADED + timedelta(minutes=5)
    last = dbt.BuildState("project-a", {}, as_of=built, built_at=built, tested_through=LOADED)
    now = dbt.BuildState("project-a", {})
    assert dbt.rows_tested_already(last, now, built - timedelta(days=1)) == dbt.AlreadyTested(LOADED, None)
    assert dbt.rows_tested_already(last, now, built) == dbt.AlreadyTested(LOADED, built)
