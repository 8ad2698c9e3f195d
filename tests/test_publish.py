"""Publishing: readers get the marts, provider views, reference lists and operators' ledgers of the
warehouse, never staging, intermediate models or raw events, and never a half-written file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from common.settings import Settings
from continuum.pipeline.publish import publish_warehouse


def build_warehouse(path: Path, rows: int = 1000) -> None:
    with duckdb.connect(str(path)) as con:
        for schema in ("raw", "staging", "intermediate", "marts", "provider_views", "reference"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute(
            "CREATE TABLE raw.events AS SELECT i AS id, md5(i::varchar) || md5((i * 7)::varchar) AS data "
            f"FROM range({rows}) t(i)"
        )
        con.execute("CREATE TABLE raw.batches AS SELECT 'b1' AS batch_name, 'loaded' AS status")
        con.execute("CREATE TABLE raw.dead_letters AS SELECT 'p1' AS provider_id, 'not_json' AS error_reason")
        con.execute("CREATE TABLE staging.stg AS SELECT * FROM raw.events")
        con.execute("CREATE TABLE intermediate.int_x AS SELECT id FROM raw.events")
        con.execute("CREATE TABLE marts.referral_handoffs AS SELECT i AS referral_id FROM range(7) t(i)")
        con.execute("CREATE TABLE provider_views.provider_referral_handoffs AS SELECT 'p1' AS viewer, 3 AS n")
        con.execute("CREATE TABLE reference.provider_directory AS SELECT 'p1' AS provider_id")


def tables(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    settings.state_dir.mkdir(parents=True)
    return settings


def test_readers_get_the_published_tables_only_with_the_same_rows(settings: Settings):
    build_warehouse(settings.warehouse_path, rows=200_000)
    published = publish_warehouse(settings)
    assert tables(published) == {
        "raw.batches",
        "raw.dead_letters",
        "marts.referral_handoffs",
        "provider_views.provider_referral_handoffs",
        "reference.provider_directory",
    }
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("SELECT sum(referral_id), count(*) FROM marts.referral_handoffs").fetchone() == (
            21,
            7,
        )
        assert con.execute("SELECT viewer, n FROM provider_views.provider_referral_handoffs").fetchall() == [
            ("p1", 3)
        ]
    # raw events and staging are most of the warehouse: the published file is a fraction of it
    assert published.stat().st_size < settings.warehouse_path.stat().st_size / 3


def test_a_failed_publish_leaves_the_last_published_file_whole(settings: Settings):
    build_warehouse(settings.warehouse_path)
    published = publish_warehouse(settings)
    before = published.read_bytes()
    settings.warehouse_path.unlink()
    settings.warehouse_path.write_bytes(b"not a duckdb file")
    with pytest.raises(duckdb.Error):
        publish_warehouse(settings)
    assert published.read_bytes() == before
    assert "marts.referral_handoffs" in tables(published)


# --- a skipped build leaves the published files as they are --------------------------------------------


def recorded_build(settings: Settings, built_at: str) -> None:
    """What a planned build records (continuum.pipeline.dbt.record_build), by hand."""
    from datetime import datetime

    from continuum.pipeline import dbt

    times = [
        datetime.fromisoformat(t) for t in ("2026-11-12T05:00+00:00", "2026-11-12T06:00+00:00", built_at)
    ]
    dbt.write_build_state(settings, dbt.BuildState("project", {"events": "1 rows"}, *times))


def files(settings: Settings) -> dict[str, int]:
    exports = sorted((settings.published_warehouse_path.parent / "exports").glob("*.parquet"))
    return {p.name: p.stat().st_mtime_ns for p in [settings.published_warehouse_path, *exports]}


def test_publishing_the_same_build_again_copies_nothing_and_renders_no_data_docs(settings: Settings):
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    recorded_build(settings, "2026-11-12T05:10+00:00")
    first = publish_all(settings)
    published = files(settings)
    assert set(published) == {"warehouse.duckdb", "referral_handoffs.parquet"}
    assert first["published"].startswith("published copy built as of 2026-11-12T05:00:00+00:00")
    again = publish_all(settings)
    assert files(settings) == published, "the same build was published twice"
    assert again["exports"] == first["exports"]
    assert not settings.data_docs_dir.exists(), "Data Docs rendered for a run that validated nothing"

    # A new build (another built_at) is published; so is any build when an export went missing.
    recorded_build(settings, "2026-11-12T07:10+00:00")
    publish_all(settings)
    newer = files(settings)
    assert all(newer[name] != published[name] for name in published)
    (settings.published_warehouse_path.parent / "exports" / "referral_handoffs.parquet").unlink()
    publish_all(settings)
    assert (
        set(files(settings)) == set(newer)
        and files(settings)["warehouse.duckdb"] != newer["warehouse.duckdb"]
    )


def test_a_build_that_was_not_recorded_is_always_published(settings: Settings):
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    publish_all(settings)
    published = files(settings)
    publish_all(settings)
    assert files(settings)["warehouse.duckdb"] != published["warehouse.duckdb"]
