"""Publishing: readers get the marts, provider views, reference lists and operators' ledgers of the
warehouse, never staging, intermediate models or raw events, and never a half-written file."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from common.settings import Settings
from continuum.pipeline import publish
from continuum.pipeline.publish import Publication, publish_changes, publish_warehouse


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


def parquet_rows(settings: Settings, mart: str) -> int:
    path = settings.published_warehouse_path.parent / "exports" / f"{mart}.parquet"
    return duckdb.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]


def test_publishing_the_same_build_again_copies_nothing_and_renders_no_data_docs(settings: Settings):
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE marts.unchanged_mart AS SELECT 'a' AS x")
    recorded_build(settings, "2026-11-12T05:10+00:00")
    first = publish_all(settings)
    published = files(settings)
    assert set(published) == {"warehouse.duckdb", "referral_handoffs.parquet", "unchanged_mart.parquet"}
    assert first["published"].startswith("published copy built as of 2026-11-12T05:00:00+00:00")
    again = publish_all(settings)
    assert files(settings) == published, "the same build was published twice"
    assert again["exports"] == first["exports"]
    assert not settings.data_docs_dir.exists(), "Data Docs rendered for a run that validated nothing"

    # A new build (another built_at) is published: a mart it changed gets a new export, a mart it did not
    # change keeps its export; so is any build when an export went missing.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("INSERT INTO marts.referral_handoffs VALUES (7)")
    recorded_build(settings, "2026-11-12T07:10+00:00")
    publish_all(settings)
    newer = files(settings)
    assert newer["warehouse.duckdb"] != published["warehouse.duckdb"]
    assert newer["referral_handoffs.parquet"] != published["referral_handoffs.parquet"]
    assert newer["unchanged_mart.parquet"] == published["unchanged_mart.parquet"]
    assert parquet_rows(settings, "referral_handoffs") == 8
    (settings.published_warehouse_path.parent / "exports" / "referral_handoffs.parquet").unlink()
    copy_inode = settings.published_warehouse_path.stat().st_ino
    publish_all(settings)
    assert set(files(settings)) == set(newer)
    assert settings.published_warehouse_path.stat().st_ino == copy_inode, "no table differs: kept"


def exported_rows_not_in_the_copy(settings: Settings, mart: str) -> tuple[int, int]:
    """Rows of the mart's export not in the published copy's table, and the other way (multisets)."""
    export = publish.exports_dir(settings) / f"{mart}.parquet"
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{settings.published_warehouse_path}' AS copy (READ_ONLY)")
        table = f"copy.marts.{mart}"
        return (
            con.execute(f"SELECT count(*) FROM (FROM '{export}' EXCEPT ALL FROM {table})").fetchone()[0],
            con.execute(f"SELECT count(*) FROM (FROM {table} EXCEPT ALL FROM '{export}')").fetchone()[0],
        )


def test_the_exports_hold_the_published_copys_rows(settings: Settings):
    """The exports are written from the warehouse while the copy is written (MartExports): each holds
    what readers find in the published copy, after a first publish and after an update of the copy."""
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path, rows=2000)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "CREATE TABLE marts.journeys AS SELECT i % 50 AS participant_key, i AS seq FROM range(3000) t(i)"
        )
    recorded_build(settings, "2026-11-12T05:10+00:00")
    publish_all(settings)
    for mart in ("referral_handoffs", "journeys"):
        assert exported_rows_not_in_the_copy(settings, mart) == (0, 0)

    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("DELETE FROM marts.journeys WHERE participant_key = 7")
        con.execute("INSERT INTO marts.journeys VALUES (7, -1), (7, -1), (51, 5)")
    recorded_build(settings, "2026-11-12T07:10+00:00")
    publish_all(settings)
    assert exported_rows_not_in_the_copy(settings, "journeys") == (0, 0)
    with duckdb.connect() as con:  # and the change itself, counted by hand: 60 rows of 7 went, 3 came
        export = publish.exports_dir(settings) / "journeys.parquet"
        assert con.execute(f"SELECT count(*), count(*) FILTER (seq = -1) FROM '{export}'").fetchone() == (
            2943,
            2,
        )


def test_a_failed_export_fails_the_publish_and_the_next_one_exports_every_mart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE marts.other_mart AS SELECT 'a' AS x")
    recorded_build(settings, "2026-11-12T05:10+00:00")
    publish_all(settings)
    before = files(settings)

    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("INSERT INTO marts.referral_handoffs VALUES (7)")
    recorded_build(settings, "2026-11-12T07:10+00:00")
    real_export = publish.MartExports._export
    monkeypatch.setattr(publish.MartExports, "_export", lambda self, mart: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        publish_all(settings)
    assert publish.published_record(settings) is None, "a record of files that are not this build's"
    assert files(settings)["referral_handoffs.parquet"] == before["referral_handoffs.parquet"]

    monkeypatch.setattr(publish.MartExports, "_export", real_export)
    publish_all(settings)
    after = files(settings)
    assert after["other_mart.parquet"] != before["other_mart.parquet"], (
        "without a record every mart is exported"
    )
    assert parquet_rows(settings, "referral_handoffs") == 8


def test_a_build_that_was_not_recorded_is_always_published(settings: Settings):
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    publish_all(settings)
    published = files(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("INSERT INTO marts.referral_handoffs VALUES (7)")
    publish_all(settings)
    assert files(settings)["warehouse.duckdb"] != published["warehouse.duckdb"]
    assert parquet_rows(settings, "referral_handoffs") == 8


def test_a_publish_that_finds_no_table_differing_keeps_the_published_file(settings: Settings):
    """Compared read-only first, one digest per table: with none differing the file is not copied (nor
    synced) again; with one differing (a row added, a value changed), the new copy has it written and the
    rest kept."""
    build_warehouse(settings.warehouse_path)
    first = publish_changes(settings)
    before = settings.published_warehouse_path.stat()
    again = publish_changes(settings)
    kept = settings.published_warehouse_path.stat()
    assert kept.st_ino == before.st_ino, "copied again (a new file is renamed over the old one)"
    assert kept.st_mtime_ns >= before.st_mtime_ns  # touched: readers see its time as the copy's
    assert actions(again) == dict.fromkeys(actions(first), "kept")

    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("INSERT INTO marts.referral_handoffs VALUES (7)")
    third = publish_changes(settings)
    assert settings.published_warehouse_path.stat().st_ino != before.st_ino
    written = {name for name, action in actions(third).items() if action != "kept"}
    assert written == {"marts.referral_handoffs"}
    assert_equal_tables(settings.published_warehouse_path, settings.warehouse_path, set(actions(third)))

    # A value changed in place (the same count of rows) differs too.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("UPDATE marts.referral_handoffs SET referral_id = 70 WHERE referral_id = 3")
    fourth = publish_changes(settings)
    written = {name for name, action in actions(fourth).items() if action != "kept"}
    assert written == {"marts.referral_handoffs"}
    assert_equal_tables(settings.published_warehouse_path, settings.warehouse_path, set(actions(fourth)))

    # A table the warehouse no longer has is dropped from the copy, though no other table differs.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("DROP TABLE reference.provider_directory")
    publish_changes(settings)
    assert "reference.provider_directory" not in tables(settings.published_warehouse_path)


def test_without_the_record_of_the_last_publish_every_export_is_written_again(settings: Settings):
    """The record is written after the exports: without it, an export may be of neither copy."""
    from continuum.pipeline import publish
    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    recorded_build(settings, "2026-11-12T05:10+00:00")
    publish_all(settings)
    published = files(settings)
    publish.forget_published(settings)  # as a publish that failed after the copy was renamed leaves it
    recorded_build(settings, "2026-11-12T07:10+00:00")
    publish_all(settings)
    exports = [name for name in published if name.endswith(".parquet")]
    assert exports and all(files(settings)[name] != published[name] for name in exports)


# --- publishing only what changed ------------------------------------------------------------------------

MEMBERS = "operators.member_rows"  # grouped by participant_key, like operators.funder_outcome_member_rows
LEDGER = "reference.ledger"  # no participant_key: compared row by row


def add_delta_tables(path: Path, rows: int) -> None:
    """Two tables large enough to be updated by difference, with list and struct columns."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS operators")
        con.execute(
            f"CREATE TABLE {MEMBERS} AS SELECT 'p' || (i // 4) AS participant_key, i AS row_id, "
            "md5(i::varchar) AS measure, [md5((i + 1)::varchar), 'x'] AS tags, "
            "[{'dimension': 'd' || (i % 5), 'dimension_value': md5(i::varchar)}] AS dimensions, "
            f"0 AS version FROM range({rows}) t(i)"
        )
        con.execute(
            f"CREATE TABLE {LEDGER} AS SELECT i % 1000 AS account, md5(i::varchar) AS entry, "
            f"[i, i + 1] AS refs FROM range({rows}) t(i)"
        )


def differences(published: Path, warehouse: Path, table: str) -> tuple[int, int, int, int]:
    """(rows only in the published table, rows only in the warehouse's, both counts), counted in SQL:
    EXCEPT ALL keeps duplicates, so a row held twice on one side and once on the other is a difference."""
    with duckdb.connect(str(published), read_only=True) as con:
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        return con.execute(
            f"SELECT (SELECT count(*) FROM (FROM {table} EXCEPT ALL FROM w.{table})), "
            f"(SELECT count(*) FROM (FROM w.{table} EXCEPT ALL FROM {table})), "
            f"(SELECT count(*) FROM {table}), (SELECT count(*) FROM w.{table})"
        ).fetchone()


def assert_equal_tables(published: Path, warehouse: Path, names: set[str]) -> None:
    assert tables(published) == names
    for table in names:
        only_published, only_warehouse, n_published, n_warehouse = differences(published, warehouse, table)
        assert (only_published, only_warehouse) == (0, 0), table
        assert n_published == n_warehouse, table


def actions(publication: Publication) -> dict[str, str]:
    return {f"{schema}.{table}": change.action for (schema, table), change in publication.tables.items()}


def test_a_publish_by_difference_equals_the_warehouse_table_for_table(settings: Settings):
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_delta_tables(warehouse, rows=20_000)
    publish_changes(settings, delta_min_rows=1000)
    with duckdb.connect(str(warehouse)) as con:
        # participants: rows updated, deleted, inserted (an exact duplicate and one without a participant)
        con.execute(f"UPDATE {MEMBERS} SET measure = 'changed', version = 1 WHERE row_id % 97 = 0")
        con.execute(f"UPDATE {MEMBERS} SET tags = ['y'] WHERE row_id % 89 = 1")
        con.execute(f"DELETE FROM {MEMBERS} WHERE row_id % 101 = 2")
        con.execute(f"INSERT INTO {MEMBERS} SELECT * FROM {MEMBERS} WHERE row_id = 5")
        con.execute(f"INSERT INTO {MEMBERS} SELECT NULL, -1, 'no participant', [], [], 0")
        con.execute(
            f"INSERT INTO {MEMBERS} SELECT 'p' || i, 100000 + i, 'new', ['n'], [], 0 FROM range(30) t(i)"
        )
        # rows of a table without participant_key
        con.execute(f"UPDATE {LEDGER} SET entry = 'corrected' WHERE account = 7")
        con.execute(f"DELETE FROM {LEDGER} WHERE account = 8")
        con.execute(f"INSERT INTO {LEDGER} SELECT * FROM {LEDGER} WHERE account = 9 LIMIT 1")
        # a published table dropped, one added, a column's type changed
        con.execute("DROP TABLE provider_views.provider_referral_handoffs")
        con.execute("CREATE TABLE marts.new_mart AS SELECT 1 AS n")
        con.execute("ALTER TABLE marts.referral_handoffs ALTER referral_id TYPE INTEGER")
    heard: list[str] = []
    publication = publish_changes(
        settings, delta_min_rows=1000, on_changed=lambda schema, table: heard.append(f"{schema}.{table}")
    )

    assert_equal_tables(
        publication.path,
        warehouse,
        {
            "raw.batches",
            "raw.dead_letters",
            "marts.referral_handoffs",
            "marts.new_mart",
            "reference.provider_directory",
            "reference.ledger",
            "operators.member_rows",
        },
    )
    done = actions(publication)
    # updated by difference, not copied whole: the test would not test the delta otherwise
    assert done[MEMBERS] == "updated" and done[LEDGER] == "updated"
    assert done["marts.referral_handoffs"] == done["marts.new_mart"] == "replaced"
    assert done["raw.batches"] == "kept"
    # on_changed (what starts the marts' exports) heard of every table not kept, once each
    assert sorted(heard) == sorted(name for name, action in done.items() if action != "kept")
    assert {"marts.referral_handoffs", "marts.new_mart"} <= set(heard)
    with duckdb.connect(str(publication.path), read_only=True) as con:
        assert con.execute("SELECT typeof(referral_id) FROM marts.referral_handoffs LIMIT 1").fetchone() == (
            "INTEGER",
        )


STAMPED = "operators.stamped_rows"


def add_stamped_table(warehouse: Path) -> None:
    """A table stamped by its writes (publish.STAMP_COLUMN): 8,000 rows of 2,000 participants (`p0`
    to `p1999`, four rows each), all written by one build."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS operators")
        con.execute(
            f"CREATE TABLE {STAMPED} AS SELECT 'p' || (i // 4) AS participant_key, i AS row_id, "
            "md5(i::varchar) AS measure, [i] AS event_ids, "
            "timestamptz '2026-12-01 10:00:00+00' AS refreshed_at FROM range(8000) t(i)"
        )


@pytest.mark.parametrize("scenario", ["rebuilt and new", "a participant gone", "rows deleted, not restamped"])
def test_a_table_stamped_by_its_writes_is_compared_by_count_and_latest_stamp_and_published_equal(
    settings: Settings, scenario: str, caplog: pytest.LogCaptureFixture
):
    """A table with refreshed_at is written as the models write theirs: a participant's rows deleted and
    inserted again with the build's stamp (some with the same values), or deleted only. The changed keys
    are found from the stamps alone when the other keys' rows balance; a participant whose rows are all
    gone leaves no stamp, and every group is compared. A participant left with fewer rows is stamped anew
    by the member rows' model; if a table's writer did not, publishing also finds fewer rows newer than
    the copy's latest stamp than the comparison counted, and searches every row for them."""
    caplog.set_level(logging.INFO, logger="continuum.pipeline.publish")
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_stamped_table(warehouse)
    stamped = STAMPED
    first = publish_changes(settings, delta_min_rows=1000)
    assert actions(first)[stamped] == "replaced"
    with duckdb.connect(str(warehouse)) as con:
        build = "timestamptz '2026-12-01 10:15:00+00'"
        con.execute(  # p1 to p9 rebuilt by the next build: p1 to p4 the same, p5 to p9 with new values
            f"CREATE TEMP TABLE rebuilt AS SELECT * REPLACE ({build} AS refreshed_at, "
            "CASE WHEN participant_key IN ('p5','p6','p7','p8','p9') THEN 'changed' ELSE measure END "
            "AS measure) "
            f"FROM {stamped} WHERE participant_key IN ('p1','p2','p3','p4','p5','p6','p7','p8','p9')"
        )
        con.execute(f"DELETE FROM {stamped} WHERE participant_key IN (SELECT participant_key FROM rebuilt)")
        con.execute(f"INSERT INTO {stamped} FROM rebuilt")
        con.execute(f"DELETE FROM {stamped} WHERE row_id = 85")  # p21 left with three rows
        if scenario != "rows deleted, not restamped":
            con.execute(f"UPDATE {stamped} SET refreshed_at = {build} WHERE participant_key = 'p21'")
        if scenario == "a participant gone":
            con.execute(f"DELETE FROM {stamped} WHERE participant_key = 'p20'")  # left with no row
        con.execute(f"INSERT INTO {stamped} SELECT 'p-new', -1, 'new', [], {build}")
    second = publish_changes(settings, delta_min_rows=1000)

    assert actions(second)[stamped] == "updated"
    assert ("compared group by group" in caplog.text) is (scenario != "rebuilt and new")
    assert ("all searched" in caplog.text) is (scenario == "rows deleted, not restamped")
    # p1 to p9 (written again), p21 (a row deleted), p-new; and p20 (rows deleted)
    gone = scenario == "a participant gone"
    assert second.tables[tuple(stamped.split("."))].keys == 11 + gone
    kept = 8000 - 1 + 1 - 4 * gone  # row 85 deleted, p-new's inserted, p20's four rows deleted
    assert differences(second.path, warehouse, stamped) == (0, 0, kept, kept)


def test_the_look_finds_a_stamped_table_whose_rows_were_only_deleted(settings: Settings):
    """Its latest stamp stays as it was (no row was written): only the count tells."""
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_stamped_table(warehouse)
    publish_changes(settings)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"DELETE FROM {STAMPED} WHERE participant_key = 'p20'")
    publication = publish_changes(settings)
    assert actions(publication)[STAMPED] != "kept"
    assert differences(publication.path, warehouse, STAMPED) == (0, 0, 7996, 7996)


JOURNEYS, SHARED = "marts.journey_events", "intermediate.int_journeys__shared_events"


def add_journeys_stamped_by_shared_events(warehouse: Path) -> None:
    """journey_events as the marts write it (no stamp of its own: its columns are the public interface)
    and the shared events that stamp its participants (publish.STAMPED_BY): 2,000 participants, four
    events each, all written by one build."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"CREATE TABLE {SHARED} AS SELECT 'p' || (i // 4) AS participant_key, 'e' || i AS event_id, "
            "timestamptz '2026-12-01 10:00:00+00' AS refreshed_at FROM range(8000) t(i)"
        )
        con.execute(
            f"CREATE TABLE {JOURNEYS} AS SELECT participant_key, "
            "row_number() OVER (PARTITION BY participant_key ORDER BY event_id) AS seq, event_id FROM "
            + SHARED
        )


@pytest.mark.parametrize("scenario", ["rebuilt and new", "a participant gone", "another warehouse's stamps"])
def test_journey_events_are_compared_by_the_shared_events_stamps_and_published_equal(
    settings: Settings, scenario: str, caplog: pytest.LogCaptureFixture
):
    """Its changed participants are those whose shared events were stamped after the stamp the copy was
    brought up to (kept on the copy). A participant gone (consent revoked) leaves no stamp, and stamps
    older than the copy's are another warehouse's: then every participant is compared."""
    caplog.set_level(logging.INFO, logger="continuum.pipeline.publish")
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_journeys_stamped_by_shared_events(warehouse)
    assert actions(publish_changes(settings, delta_min_rows=1000))[JOURNEYS] == "replaced"
    with duckdb.connect(str(warehouse)) as con:
        if scenario == "another warehouse's stamps":  # every stamp before the copy's, and p30 renumbered
            con.execute(f"UPDATE {SHARED} SET refreshed_at = timestamptz '2026-11-30 10:00:00+00'")
            con.execute(f"UPDATE {JOURNEYS} SET seq = seq + 10 WHERE participant_key = 'p30'")
        else:  # p1 to p9 rebuilt by the next build, p5 to p9 numbered anew; p-new
            stamp = "timestamptz '2026-12-01 10:15:00+00'"
            rebuilt = "('p1','p2','p3','p4','p5','p6','p7','p8','p9')"
            renumbered = "('p5','p6','p7','p8','p9')"
            con.execute(f"UPDATE {SHARED} SET refreshed_at = {stamp} WHERE participant_key IN {rebuilt}")
            con.execute(f"UPDATE {JOURNEYS} SET seq = seq + 10 WHERE participant_key IN {renumbered}")
            con.execute(f"INSERT INTO {SHARED} VALUES ('p-new', 'e-new', {stamp})")
            con.execute(f"INSERT INTO {JOURNEYS} VALUES ('p-new', 1, 'e-new')")
        if scenario == "a participant gone":
            con.execute(f"DELETE FROM {SHARED} WHERE participant_key = 'p20'")
            con.execute(f"DELETE FROM {JOURNEYS} WHERE participant_key = 'p20'")
    second = publish_changes(settings, delta_min_rows=1000)

    assert actions(second)[JOURNEYS] == "updated"
    assert ("compared group by group" in caplog.text) is (scenario != "rebuilt and new")
    if scenario == "rebuilt and new":
        assert second.tables[tuple(JOURNEYS.split("."))].keys == 10  # p1 to p9 and p-new, from the stamps
    rows = {"rebuilt and new": 8001, "a participant gone": 7997, "another warehouse's stamps": 8000}[scenario]
    assert differences(second.path, warehouse, JOURNEYS) == (0, 0, rows, rows)
    assert not {t for t in tables(second.path) if t.startswith("intermediate.")}


def test_a_stamp_comment_changed_by_hand_is_no_stamp_to_go_by(
    settings: Settings, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="continuum.pipeline.publish")
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_journeys_stamped_by_shared_events(warehouse)
    first = publish_changes(settings, delta_min_rows=1000)
    with duckdb.connect(str(first.path)) as con:
        con.execute(
            f"COMMENT ON COLUMN {JOURNEYS}.participant_key IS 'rows as of the stamps through yesterday'"
        )
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"UPDATE {JOURNEYS} SET seq = seq + 10 WHERE participant_key = 'p7'")
    second = publish_changes(settings, delta_min_rows=1000)
    assert "compared group by group" in caplog.text
    assert differences(second.path, warehouse, JOURNEYS) == (0, 0, 8000, 8000)


@pytest.mark.parametrize("table", [MEMBERS, LEDGER])
def test_a_row_held_twice_on_one_side_and_once_on_the_other_is_published_as_often_as_the_warehouse_has_it(
    settings: Settings, table: str
):
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_delta_tables(warehouse, rows=5000)
    publish_changes(settings, delta_min_rows=1000)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"INSERT INTO {table} SELECT * FROM {table} LIMIT 1")
        duplicated = con.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
    twice = publish_changes(settings, delta_min_rows=1000)
    assert actions(twice)[table] == "updated"
    assert differences(twice.path, warehouse, table) == (0, 0, 5001, 5001)

    with duckdb.connect(str(warehouse)) as con:  # and back to once
        con.execute(f"DELETE FROM {table} WHERE rowid = (SELECT max(rowid) FROM {table})")
        assert con.execute(f"SELECT * FROM {table} WHERE rowid = 0").fetchone() == duplicated
    once = publish_changes(settings, delta_min_rows=1000)
    assert actions(once)[table] == "updated"
    assert differences(once.path, warehouse, table) == (0, 0, 5000, 5000)


@pytest.mark.parametrize("deleted_share_bound", [True, False], ids=["both bounds", "growth bound alone"])
def test_publishing_by_difference_again_and_again_keeps_the_file_near_the_size_of_a_fresh_copy(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deleted_share_bound: bool
):
    if not deleted_share_bound:  # the blocks' growth must bound the file by itself
        monkeypatch.setattr(publish, "MAX_DELETED_SHARE", 1.0)
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_delta_tables(warehouse, rows=100_000)
    publish_changes(settings, delta_min_rows=1000)
    fresh = Settings(home=tmp_path / "fresh")  # the oracle: a new file from the same warehouse
    fresh.state_dir.mkdir(parents=True)
    fresh.warehouse_path.symlink_to(warehouse)
    # Without a bound, the deleted rows the file keeps, the partly filled blocks of the rows inserted (or
    # DuckDB's own vacuum: blocks it leaves free) take it past 1.5 times a fresh copy by the 7th or 8th run.
    updated = []
    for run in range(1, 11):
        with duckdb.connect(str(warehouse)) as con:  # 5 % of participants change
            con.execute(
                f"UPDATE {MEMBERS} SET measure = md5(measure), version = {run} "
                f"WHERE hash(participant_key, {run}) % 100 < 5"
            )
        publication = publish_changes(settings, delta_min_rows=1000)
        updated.append(actions(publication)[MEMBERS])
        fresh.published_warehouse_path.unlink(missing_ok=True)
        fresh_size = publish_warehouse(fresh).stat().st_size
        assert publication.path.stat().st_size < 1.25 * fresh_size, (run, updated)
        assert differences(publication.path, warehouse, MEMBERS)[:2] == (0, 0)
    assert updated.count("updated") >= 4, updated


def test_a_copy_left_with_many_free_blocks_is_published_as_a_new_file(settings: Settings, tmp_path: Path):
    warehouse = settings.warehouse_path
    build_warehouse(warehouse)
    add_delta_tables(warehouse, rows=200_000)
    first = publish_changes(settings, delta_min_rows=1000)
    with duckdb.connect(str(warehouse)) as con:  # the ledger is no longer published: its blocks are freed
        con.execute(f"DROP TABLE {LEDGER}")
    after = publish_changes(settings, delta_min_rows=1000)
    fresh = Settings(home=tmp_path / "fresh")  # the oracle: a new file from the same warehouse
    fresh.state_dir.mkdir(parents=True)
    fresh.warehouse_path.symlink_to(warehouse)
    fresh_size = publish_warehouse(fresh).stat().st_size
    assert actions(first)[MEMBERS] == "replaced" and actions(after)[MEMBERS] == "replaced", "not written anew"
    assert after.path.stat().st_size <= 1.05 * fresh_size
    assert_equal_tables(
        after.path, warehouse, tables(warehouse) - {"raw.events", "staging.stg", "intermediate.int_x"}
    )


def test_a_published_copy_that_is_not_a_duckdb_file_is_replaced_by_a_new_one(settings: Settings):
    build_warehouse(settings.warehouse_path)
    settings.published_warehouse_path.parent.mkdir(parents=True)
    settings.published_warehouse_path.write_bytes(b"not a duckdb file" * 1000)
    publication = publish_changes(settings)
    assert set(actions(publication).values()) == {"replaced"}
    assert_equal_tables(
        publication.path,
        settings.warehouse_path,
        {
            "raw.batches",
            "raw.dead_letters",
            "marts.referral_handoffs",
            "provider_views.provider_referral_handoffs",
            "reference.provider_directory",
        },
    )


def test_a_first_copy_is_written_before_the_exports_start_and_an_update_beside_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    """The exports run beside the copy only when it is updated: a first copy writes every table whole,
    and two DuckDBs at the memory bound at once would raise the full run's peak memory."""
    import threading

    from continuum.pipeline.tasks import publish_all

    build_warehouse(settings.warehouse_path)
    started: list[tuple[str, int | None]] = []  # (mart, the published file's inode when it started)
    export_started = threading.Event()
    real_export = publish.MartExports._export

    def export(self, mart: str) -> Path:
        path = settings.published_warehouse_path
        started.append((mart, path.stat().st_ino if path.exists() else None))
        export_started.set()
        return real_export(self, mart)

    monkeypatch.setattr(publish.MartExports, "_export", export)
    recorded_build(settings, "2026-11-12T05:10+00:00")
    publish_all(settings)
    first_copy = settings.published_warehouse_path.stat().st_ino
    assert started == [("referral_handoffs", first_copy)], "a first copy's exports start once it is in place"

    # An update: the copy, once its tables are written, waits (up to 10 s) for an export to start, so the
    # export is seen starting while the old file is still the published one, and only then renames.
    started.clear()
    real_record_stamps = publish.record_stamps

    def record_stamps_after_an_export(con, catalog):
        export_started.wait(timeout=10)
        real_record_stamps(con, catalog)

    export_started.clear()
    monkeypatch.setattr(publish, "record_stamps", record_stamps_after_an_export)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("INSERT INTO marts.referral_handoffs VALUES (7)")
    recorded_build(settings, "2026-11-12T07:10+00:00")
    publish_all(settings)
    assert started == [("referral_handoffs", first_copy)], "an update's exports start beside the copy"
    assert settings.published_warehouse_path.stat().st_ino != first_copy
    assert parquet_rows(settings, "referral_handoffs") == 8
