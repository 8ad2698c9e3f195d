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
