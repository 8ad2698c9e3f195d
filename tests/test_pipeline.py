"""The pipeline's functions without Airflow: raw tables as specified, loads once, quarantine and release."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_pipeline_support import valid_events, write_batch

from common.settings import Settings
from continuum.commands import quarantine as quarantine_command
from continuum.pipeline import quarantine, tasks, warehouse
from continuum.pipeline.env import continuum_env
from streams.landing.files import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA

PROVIDER = "okc-trauma-hvip"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'raw' "
        "AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


def test_raw_tables_have_the_landing_columns_and_never_the_payload(settings: Settings) -> None:
    with warehouse.connect(settings) as con:
        events, dead_letters = columns(con, "events"), columns(con, "dead_letters")
        ledger = columns(con, "batches")
    assert list(events) == [*EVENTS_SCHEMA.names, "batch_name", "loaded_at"]
    assert events["time"] == events["landed_at"] == events["loaded_at"] == "TIMESTAMP WITH TIME ZONE"
    assert list(dead_letters) == [
        *(n for n in DEAD_LETTERS_SCHEMA.names if n not in ("key", "value", "headers")),
        "batch_name",
        "loaded_at",
    ]
    assert list(ledger) == [
        "batch_name",
        "topic",
        "provider_id",
        "kafka_partition",
        "first_offset",
        "last_offset",
        "status",
        "events",
        "dead_letters",
        "failed_expectations",
        "validated_at",
        "loaded_at",
        "validation_result_path",
    ]


def run_once(settings: Settings) -> list[dict]:
    """What the DAG does, without Airflow: groups of new batches, one validation per group, load and
    quarantine."""
    groups = [tasks.validate_group(settings, g) for g in tasks.discover_groups(settings)]
    tasks.load_passed(settings, groups)
    tasks.quarantine_failed(settings, groups)
    return [v for group in groups for v in group]


def test_a_batch_loads_once_whatever_the_retries(settings: Settings) -> None:
    batch = write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 50), dead_letters=2)
    verdicts = run_once(settings)
    assert [v["passed"] for v in verdicts] == [True]
    assert tasks.load_passed(settings, verdicts)["already_loaded"] == 1  # a retry of the load task
    assert run_once(settings) == []  # the next run finds nothing new
    with warehouse.connect(settings) as con:
        assert con.execute("SELECT count(*), count(DISTINCT kafka_offset) FROM raw.events").fetchone() == (
            50,
            50,
        )
        assert con.execute("SELECT count(*) FROM raw.dead_letters").fetchone() == (2,)
        ledger = con.execute("SELECT status, events, dead_letters, provider_id FROM raw.batches").fetchall()
    assert ledger == [("loaded", 50, 2, PROVIDER)]
    assert batch.events_path.exists()  # loaded files stay in landing: the lander resumes from them


def test_each_validate_task_renders_the_data_docs_of_its_run_and_the_index_keeps_every_run(
    settings: Settings,
) -> None:
    # Publishing no longer renders them (tasks.publish_all): the validate task does, for its own GX run.
    first = write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 20, seed=31))
    run_once(settings)
    second = write_batch(settings, PROVIDER, 1, 0, valid_events(settings, PROVIDER, 20, seed=32))
    run_once(settings)
    index = (settings.data_docs_dir / "index.html").read_text()
    for batch in (first, second):
        assert batch.name.removesuffix(".parquet") in index  # the later render kept the earlier run
    assert len(list(settings.data_docs_dir.glob("validations/**/*.html"))) >= 2


def test_every_load_is_stamped_after_every_load_before_it_even_with_the_clock_set_back(
    settings: Settings,
) -> None:
    """Staging reads the rows loaded after the latest loaded_at it staged (macros/staging_events.sql):
    a load stamped at or before that instant would never be staged."""
    write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 10, seed=1))
    run_once(settings)
    ahead = "timestamptz '2999-01-01 00:00:00+00'"  # loaded while the clock was far ahead
    with warehouse.connect(settings) as con:
        con.execute(f"UPDATE raw.events SET loaded_at = {ahead}")
    write_batch(settings, PROVIDER, 1, 0, valid_events(settings, PROVIDER, 10, seed=2))
    run_once(settings)
    with warehouse.connect(settings) as con:
        stamps = con.execute(
            f"SELECT loaded_at > {ahead}, count(*) FROM raw.events GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert stamps == [(False, 10), (True, 10)]


def test_a_failing_batch_is_quarantined_and_released_once_corrected(settings: Settings) -> None:
    good = write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 40, seed=1))
    events = valid_events(settings, PROVIDER, 40, seed=2)
    stamped = [{**e, "time": events[0]["time"]} for e in events]
    bad = write_batch(settings, PROVIDER, 1, 0, stamped, dead_letters=1)
    verdicts = {v["batch"]["name"]: v for v in run_once(settings)}
    assert verdicts[good.name]["passed"] and not verdicts[bad.name]["passed"]

    held = quarantine.find(settings, bad.name)
    assert not bad.events_path.exists() and (held.directory / "events.parquet").exists()
    assert (held.directory / "dead_letters.parquet").exists() and (
        held.directory / "validation.json"
    ).exists()
    with warehouse.connect(settings) as con:
        status, failed, path = con.execute(
            "SELECT status, failed_expectations, validation_result_path FROM raw.batches "
            "WHERE batch_name = ?",
            [bad.name],
        ).fetchone()
        assert con.execute("SELECT count(*) FROM raw.events WHERE batch_name = ?", [bad.name]).fetchone() == (
            0,
        )
    assert status == "quarantined" and "time_value_share" in json.loads(failed)[0]
    assert Path(path) == held.directory / "validation.json"

    with warehouse.connect(settings) as con:  # released as it is: still fails, stays quarantined
        assert not quarantine.release(con, settings, bad.name).passed
    assert quarantine.find(settings, bad.name)

    # The data engineer corrects the file in quarantine, then releases it.
    held_file = held.directory / "events.parquet"
    fixed = pq.read_table(held_file).to_pandas()
    fixed["time"] = [e["time"] for e in events]
    pq.write_table(pa.Table.from_pandas(fixed, schema=EVENTS_SCHEMA, preserve_index=False), held_file)
    assert quarantine_command.run(_args("release", bad.name), settings) == 0
    assert quarantine_command.run(_args("release", bad.name), settings) == 1  # no such quarantined batch
    assert bad.events_path.exists() and not held.directory.exists()
    with warehouse.connect(settings) as con:
        assert con.execute("SELECT count(*) FROM raw.events WHERE batch_name = ?", [bad.name]).fetchone() == (
            40,
        )
        assert con.execute("SELECT status FROM raw.batches WHERE batch_name = ?", [bad.name]).fetchone() == (
            "loaded",
        )
    assert run_once(settings) == []


def _args(action: str, name: str | None = None):
    import argparse

    return argparse.Namespace(action=action, name=name)


def test_quarantine_list_and_show(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert quarantine_command.run(_args("list"), settings) == 0
    assert "no batch is quarantined" in capsys.readouterr().out
    events = valid_events(settings, PROVIDER, 30, seed=3)
    events[0]["time"] = events[0]["time"] - timedelta(days=365 * 40)
    bad = write_batch(settings, PROVIDER, 2, 0, events)
    run_once(settings)
    assert quarantine_command.run(_args("list"), settings) == 0
    assert bad.name in capsys.readouterr().out
    assert quarantine_command.run(_args("show", bad.name), settings) == 0
    shown = capsys.readouterr().out
    # A time before 2000 is a ROW rule: the row is held, by its offset, and the rest of the batch loads.
    assert "1 rows held" in shown or "held rows    1" in shown
    assert (
        "0  batch: expect_column_values_to_be_between(time_year)" in shown and bad.events_path.name in shown
    )
    assert quarantine_command.run(_args("show", "nope"), settings) == 1


def test_children_get_the_settings_in_their_environment(settings: Settings) -> None:
    env = continuum_env(settings, base={})
    assert env["CONTINUUM_HOME"] == str(settings.state_dir)
    assert Settings(**{k.removeprefix("CONTINUUM_").lower(): v for k, v in env.items()}) == settings


def test_the_land_step_leaves_landing_to_a_running_lander(settings: Settings) -> None:
    from continuum.pipeline import land
    from streams.landing.workers import landing_lock

    assert not land.lander_is_running(settings)
    with landing_lock(settings.landing_dir, wait_s=1):  # what every `continuum land` holds while it runs
        assert land.lander_is_running(settings)
        assert tasks.land_new_events(settings) is None
    assert not land.lander_is_running(settings)
