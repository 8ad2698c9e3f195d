"""End to end: a simulated network produced to the embedded broker, then one `continuum run` (the Airflow
DAG: land, validate, load, dbt build, publish), then the warehouse checks that hold whatever the seed
(the same `check_*` functions as tests/test_warehouse.py, which builds the raw tables itself).

Slow (a broker, the lander, Great Expectations and Airflow in subprocesses): about two minutes.
"""

from __future__ import annotations

import duckdb
import pytest
from test_pipeline_support import run_continuum
from test_warehouse import (
    SIM_END,
    check_complementary_suppression,
    check_every_referral_once,
    check_no_small_cells,
    check_only_consenting_participants_shared,
    check_part2_records_stay_with_their_provider,
    check_provider_views_withhold_part2_answers,
    check_rearrest_calibration,
    pii_findings,
    simulate,
)

from common.settings import Settings
from streams.simulator import produce

PARTICIPANTS = 1500


@pytest.mark.slow
@pytest.mark.slowest  # make test-all
def test_a_simulated_network_through_the_dag(own_broker: Settings) -> None:
    sim = simulate(participants=PARTICIPANTS, end=SIM_END)
    produce(sim.messages(), own_broker)
    run = run_continuum(own_broker, "run", "--as-of", SIM_END.isoformat())
    assert "continuum_pipeline" in run.stdout and ": success" in run.stdout

    for path in (own_broker.warehouse_path, own_broker.published_warehouse_path):
        assert path.exists(), path
    # The checks recompute from raw events, which only the pipeline's own warehouse keeps; readers get
    # its published tables, row for row (continuum/pipeline/publish.py).
    check_published_tables_are_the_warehouses(own_broker)
    with duckdb.connect(str(own_broker.warehouse_path), read_only=True) as conn:
        conn.execute("set TimeZone = 'UTC'")
        loaded = conn.execute("select count(distinct (source, id)) from raw.events").fetchall()[0][0]
        assert loaded == sim.report.valid_events, "every valid event of the simulation reached the warehouse"
        check_no_small_cells(conn)
        check_complementary_suppression(conn)
        check_every_referral_once(conn)
        check_only_consenting_participants_shared(conn, SIM_END)
        check_part2_records_stay_with_their_provider(conn, SIM_END)
        check_provider_views_withhold_part2_answers(conn, SIM_END)
        check_rearrest_calibration(conn)
        assert not pii_findings(conn, sim.config.start.date())


def check_published_tables_are_the_warehouses(settings: Settings) -> None:
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as conn:
        conn.execute(f"ATTACH '{settings.warehouse_path}' AS working (READ_ONLY)")
        published = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by all"
        ).fetchall()
        assert ("marts", "funder_outcomes") in published and ("raw", "events") not in published
        for schema, table in published:
            name = f'"{schema}"."{table}"'
            differ = conn.execute(f"select count(*) from (from {name} except all from working.{name})")
            differ = differ.fetchone()[0]
            assert differ == 0, f"{schema}.{table} of the published copy differs from the warehouse"
