"""The landing zone object (streams/landing/zone.py): its listing comes from an index and is always the
full walk's (`files.committed_batches`), whatever state a crash or a change left the index in; its moves
to quarantine and back; its dead-letter counts; its validation results. The clock is injected: a listing
"long after" the last change is trusted on the next read, one "at the same moment" is not."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from streams.landing import files
from streams.landing.zone import INDEX_FILE, LandingZone

AT = datetime(2026, 6, 1, tzinfo=UTC)
TOPIC = "providers.p1.events"
LATER = datetime(2100, 1, 1, tzinfo=UTC)  # a listing made long after every change: trusted


def _events(topic: str, partition: int, first: int, last: int) -> pa.Table:
    rows = [
        {
            "specversion": "1.0",
            "id": f"id-{offset}",
            "source": "s",
            "type": "t",
            "time": AT,
            "subject": "x",
            "dataschema": "d",
            "datacontenttype": "application/json",
            "data": "{}",
            "kafka_topic": topic,
            "kafka_partition": partition,
            "kafka_offset": offset,
            "kafka_timestamp": AT,
            "landed_at": AT,
        }
        for offset in range(first, last + 1)
    ]
    return pa.Table.from_pylist(rows, schema=files.EVENTS_SCHEMA)


def _dead_letters(provider: str, reasons: list[str], first: int) -> pa.Table:
    rows = [
        {
            "provider_id": provider,
            "key": b"k",
            "value": b"{",
            "headers": "{}",
            "error_stage": "contract",
            "error_reason": reason,
            "error_detail": "d",
            "kafka_topic": TOPIC,
            "kafka_partition": 0,
            "kafka_offset": first + i,
            "kafka_timestamp": AT,
            "landed_at": AT,
        }
        for i, reason in enumerate(reasons)
    ]
    return pa.Table.from_pylist(rows, schema=files.DEAD_LETTERS_SCHEMA)


def land(
    landing_dir: Path, first: int, last: int, topic: str = TOPIC, partition: int = 0, reasons=()
) -> Path:
    """Commit a batch the lander's way: dead letters first, the events file's rename last."""
    if reasons:
        path = files.batch_path(landing_dir, files.DEAD_LETTERS, topic, partition, first, last)
        files.commit(files.write_table_durably(_dead_letters("p1", list(reasons), first), path))
    path = files.batch_path(landing_dir, files.EVENTS, topic, partition, first, last)
    return files.commit(files.write_table_durably(_events(topic, partition, first, last), path))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def zone_at(home: Path, clock_time: datetime = LATER) -> LandingZone:
    return LandingZone(home / "landing", home / "quarantine", home / "validations", clock=lambda: clock_time)


def names(batches) -> list[str]:
    return [b.name for b in batches]


def test_listing_after_commits_is_the_walks_and_is_kept_in_the_index(home: Path) -> None:
    land(home / "landing", 0, 2)
    land(home / "landing", 3, 5, reasons=["not_json"])
    land(home / "landing", 0, 0, partition=1)
    land(home / "landing", 10, 11, topic="providers.p2.events")
    listed = zone_at(home).committed_batches()
    assert listed == files.committed_batches(home / "landing")
    assert names(listed) == [
        "providers.p1.events+0+00000000000000000000+00000000000000000002.parquet",
        "providers.p1.events+0+00000000000000000003+00000000000000000005.parquet",
        "providers.p1.events+1+00000000000000000000+00000000000000000000.parquet",
        "providers.p2.events+0+00000000000000000010+00000000000000000011.parquet",
    ]
    assert [b.dead_letters_path is not None for b in listed] == [False, True, False, False]
    index = json.loads((home / "landing" / INDEX_FILE).read_text())
    assert index["dirs"][f"events/{TOPIC}/0"]["names"] == names(listed[:2])
    assert zone_at(home).landed_messages() == 3 + 3 + 1 + 2


def test_a_commit_after_the_listing_is_seen_and_skip_leaves_out_names(home: Path) -> None:
    land(home / "landing", 0, 2)
    zone = zone_at(home)
    assert len(zone.committed_batches()) == 1
    land(home / "landing", 3, 4)  # a rename into the directory: its mtime moves
    assert names(zone.committed_batches()) == names(files.committed_batches(home / "landing"))
    assert len(zone_at(home).committed_batches()) == 2  # a new process, from the index file
    first = files.batch_name(TOPIC, 0, 0, 2)
    assert names(zone_at(home).committed_batches(skip={first})) == [files.batch_name(TOPIC, 0, 3, 4)]


def test_a_trusted_listing_is_answered_from_the_index_without_listing_the_directory(home: Path) -> None:
    """Proves the index is used: a file slipped in while the directory's mtime is put back is not seen
    by a zone that trusts its listing (nothing the lander does can put an mtime back)."""
    land(home / "landing", 0, 2)
    partition_dir = home / "landing" / files.EVENTS / TOPIC / "0"
    zone_at(home, LATER).committed_batches()
    mtime = partition_dir.stat().st_mtime_ns
    land(home / "landing", 3, 4)
    os.utime(partition_dir, ns=(mtime, mtime))
    assert len(zone_at(home, LATER).committed_batches()) == 1
    (home / "landing" / INDEX_FILE).unlink()  # a missing index: rebuilt from the tree
    assert len(zone_at(home, LATER).committed_batches()) == 2


def test_a_listing_made_in_the_same_tick_as_the_change_is_listed_again(home: Path) -> None:
    """The racy-index rule: a file system stamps mtimes per clock tick, so a second commit in the tick
    of the listed one can leave the directory's mtime unchanged; such a listing is not trusted."""
    land(home / "landing", 0, 2)
    partition_dir = home / "landing" / files.EVENTS / TOPIC / "0"
    mtime = partition_dir.stat().st_mtime_ns
    same_moment = datetime.fromtimestamp(mtime / 1e9, UTC) + timedelta(milliseconds=1)
    assert len(zone_at(home, same_moment).committed_batches()) == 1
    land(home / "landing", 3, 4)
    os.utime(partition_dir, ns=(mtime, mtime))  # the second commit in the same tick
    assert len(zone_at(home, LATER).committed_batches()) == 2


@pytest.mark.parametrize("damage", ["missing", "half-written", "other-version", "stale"])
def test_a_damaged_or_stale_index_gives_the_walks_listing(home: Path, damage: str) -> None:
    landing = home / "landing"
    land(landing, 0, 2)
    land(landing, 3, 5, reasons=["not_json"])
    zone_at(home).committed_batches()
    index = landing / INDEX_FILE
    if damage == "missing":
        index.unlink()
    elif damage == "half-written":  # what a kill -9 in the middle of a plain write would leave
        index.write_text(index.read_text()[: len(index.read_text()) // 2])
    elif damage == "other-version":
        index.write_text(json.dumps({"version": 0, "dirs": {f"events/{TOPIC}/0": {"names": []}}}))
    else:  # batches came and went after the index was written; a crash left a dead-letter orphan
        land(landing, 6, 7, partition=2)
        files.batch_path(landing, files.EVENTS, TOPIC, 0, 0, 2).unlink()
        orphan = files.batch_path(landing, files.DEAD_LETTERS, TOPIC, 0, 8, 9)
        files.commit(files.write_table_durably(_dead_letters("p1", ["not_json"], 8), orphan))
    assert zone_at(home).committed_batches() == files.committed_batches(landing)


def test_recover_removes_crash_leftovers_and_the_index(home: Path) -> None:
    landing = home / "landing"
    land(landing, 0, 2)
    zone = zone_at(home)
    zone.committed_batches()
    assert zone.recover() == [] and (landing / INDEX_FILE).exists()  # no crash: the index stays
    leftover = files.write_table_durably(
        _events(TOPIC, 0, 3, 4), files.batch_path(landing, files.EVENTS, TOPIC, 0, 3, 4)
    )
    orphan = files.batch_path(landing, files.DEAD_LETTERS, TOPIC, 0, 3, 4)
    files.commit(files.write_table_durably(_dead_letters("p1", ["not_json"], 3), orphan))
    assert sorted(p.name for p in zone.recover()) == sorted([leftover.name, orphan.name])
    assert not (landing / INDEX_FILE).exists()
    assert zone.committed_batches() == files.committed_batches(landing)
    assert len(zone.committed_batches()) == 1


def test_quarantine_and_release_move_the_files_and_the_listing_follows(home: Path) -> None:
    landing = home / "landing"
    land(landing, 0, 2)
    events = land(landing, 3, 5, reasons=["not_json", "not_json"])
    zone = zone_at(home)
    batch = zone.committed_batches()[1]
    name = batch.name
    moved = zone.quarantine(name, str(batch.events_path), str(batch.dead_letters_path))
    assert moved == (
        home / "quarantine" / name / "events.parquet",
        home / "quarantine" / name / "dead_letters.parquet",
    )
    assert not events.exists()
    assert names(zone.committed_batches()) == [files.batch_name(TOPIC, 0, 0, 2)]
    assert [(b.first_offset, b.last_offset) for b in zone.quarantined_batches()] == [(3, 5)]  # still landed
    assert zone.quarantine(name, str(batch.events_path), str(batch.dead_letters_path)) == moved  # a retry
    (home / "quarantine" / name / "origin.json").write_text("{}")
    assert zone.quarantined_names() == [name]
    zone.release(name, batch.events_path, batch.dead_letters_path)
    assert events.exists() and batch.dead_letters_path.exists()
    assert not (home / "quarantine" / name).exists()
    assert zone.committed_batches() == files.committed_batches(landing)
    assert len(zone.committed_batches()) == 2


def test_release_keeps_the_directory_while_rows_are_held(home: Path) -> None:
    land(home / "landing", 0, 2)
    zone = zone_at(home)
    batch = zone.committed_batches()[0]
    zone.quarantine(batch.name, str(batch.events_path), None)
    zone.write_table(_events(TOPIC, 0, 1, 1), zone.quarantine_path(batch.name, "held_rows.parquet"))
    zone.release(batch.name, batch.events_path, None)
    assert batch.events_path.exists()
    assert zone.quarantine_path(batch.name, "held_rows.parquet").exists()


def test_dead_letter_counts_are_read_once_and_again_when_the_file_changes(home: Path) -> None:
    landing = home / "landing"
    land(landing, 0, 3, reasons=["not_json", "not_json", "schema_invalid"])
    land(landing, 4, 4, reasons=["schema_invalid"])
    land(landing, 5, 6)
    zone = zone_at(home)
    assert zone.dead_letter_counts(zone.committed_batches()) == {
        ("p1", "not_json"): 2,
        ("p1", "schema_invalid"): 2,
    }
    index = json.loads((landing / INDEX_FILE).read_text())
    assert len(index["dead_letter_counts"]) == 2
    # The same name with other contents (size and mtime change): counted again, by a new process too.
    path = files.batch_path(landing, files.DEAD_LETTERS, TOPIC, 0, 4, 4)
    files.commit(
        files.write_table_durably(_dead_letters("p1", ["not_json", "not_json", "not_json"], 4), path)
    )
    fresh = zone_at(home)
    assert fresh.dead_letter_counts(fresh.committed_batches()) == {
        ("p1", "not_json"): 5,
        ("p1", "schema_invalid"): 1,
    }


def test_validation_results_are_written_atomically_and_read_back(home: Path) -> None:
    zone = zone_at(home)
    name = files.batch_name(TOPIC, 0, 0, 2)
    assert zone.validation_result(name) is None
    path = zone.write_validation_result(name, {"passed": False, "failed": ["rule"]})
    assert path == home / "validations" / f"{name}.json"
    assert zone.validation_result(name) == {"passed": False, "failed": ["rule"]}
    assert not list((home / "validations").glob("*.tmp"))


def test_an_index_that_cannot_be_written_costs_nothing_but_the_cache(home: Path) -> None:
    land(home / "landing", 0, 2)
    (home / "landing" / INDEX_FILE).mkdir()  # writing over a directory fails: best effort
    assert zone_at(home).committed_batches() == files.committed_batches(home / "landing")
