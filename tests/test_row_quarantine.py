"""Row-level quarantine and the pipeline's rule for one bad batch, without Airflow: rows that break a ROW
rule are held alone (listed with the rule, releasable, loaded once), a BATCH rule still holds its batch,
an unreadable batch is quarantined with the error while its group loads, dead letters always load, and
landed = loaded + quarantined per provider. Batches are written by hand (tests/test_pipeline_support.py)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_pipeline import run_once
from test_pipeline_support import LANDED_AT, valid_events, write_batch

from common.settings import Settings
from continuum.commands import quarantine as quarantine_command
from continuum.pipeline import discover, known_ids, late_counts, quarantine, validate, warehouse
from continuum.pipeline.batches import BatchRef
from continuum.pipeline.summary import reconciliation
from streams.landing.files import EVENTS_SCHEMA
from streams.landing.status import dead_letter_counts

#: A provider the demo directory does not mark as publishing custody events.
NO_CUSTODY = "okc-street-outreach"
PROVIDER = "okc-trauma-hvip"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _args(action: str, name: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(action=action, name=name)


def _with_data(event: dict, **changes) -> dict:
    return {**event, "data": orjson.dumps({**orjson.loads(event["data"]), **changes}).decode()}


def loaded_offsets(settings: Settings, name: str) -> list[int]:
    with warehouse.connect(settings, read_only=True) as con:
        rows = con.execute(
            "SELECT kafka_offset FROM raw.events WHERE batch_name = ? ORDER BY 1", [name]
        ).fetchall()
    return [o for (o,) in rows]


def scalar(settings: Settings, sql: str, *params) -> object:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()[0][0]


def held_records(settings: Settings) -> list[tuple[int, str, str, bool]]:
    """raw.held_records as (offset, type, rules, released), by offset."""
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(
            "SELECT kafka_offset, event_type, held_by, released_at IS NOT NULL "
            "FROM raw.held_records ORDER BY 1"
        ).fetchall()


def test_rows_that_break_a_row_rule_are_held_and_the_rest_loads_then_released_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    events = valid_events(settings, PROVIDER, 60, seed=21)
    referrals = [i for i, e in enumerate(events) if e["type"] == "referral.requested"][:2]
    for i in referrals:
        events[i] = _with_data(events[i], to_provider_id="nowhere-provider")
    events[7] = {**events[7], "time": datetime(1, 1, 1, tzinfo=events[7]["time"].tzinfo)}
    batch = write_batch(settings, PROVIDER, 0, 100, events, dead_letters=3)
    held_offsets = sorted([100 + i for i in referrals] + [107])

    [verdict] = run_once(settings)
    assert verdict["passed"] and verdict["held_rows"] == 3
    assert loaded_offsets(settings, batch.name) == [o for o in range(100, 160) if o not in held_offsets]
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters WHERE batch_name = ?", batch.name) == 3
    status, events_count, failed = (
        scalar(settings, "SELECT status FROM raw.batches"),
        scalar(settings, "SELECT events FROM raw.batches"),
        orjson.loads(scalar(settings, "SELECT failed_expectations FROM raw.batches")),
    )
    assert (status, events_count) == ("loaded", 57)
    assert failed == [
        "1 row held: batch: expect_column_values_to_be_between(time_year)",
        "2 rows held: referral: expect_column_values_to_be_in_set(to_provider_id)",
    ]
    assert batch.events_path.exists()  # the file stays in landing: the lander resumes from it

    assert quarantine_command.run(_args("list"), settings) == 0
    listed = capsys.readouterr().out
    assert batch.name in listed and "3 rows held (the rest loaded)" in listed
    assert quarantine_command.run(_args("show", batch.name), settings) == 0
    shown = capsys.readouterr().out
    assert f"{held_offsets[0]:>10}  referral: expect_column_values_to_be_in_set(to_provider_id)" in shown
    assert f"{107:>10}  batch: expect_column_values_to_be_between(time_year)" in shown
    assert reconciliation(settings)[PROVIDER].reconciles
    assert reconciliation(settings)[PROVIDER].quarantined == 3
    # What the provider is told (its page, its feedback topic): where each held row was and why.
    rule_of = {107: "batch: expect_column_values_to_be_between(time_year)"}
    rule_of |= {100 + i: "referral: expect_column_values_to_be_in_set(to_provider_id)" for i in referrals}
    assert held_records(settings) == [(o, events[o - 100]["type"], rule_of[o], False) for o in held_offsets]

    # Released as they are: they still fail and stay; nothing is loaded twice.
    assert quarantine_command.run(_args("release", batch.name), settings) == 1
    assert len(quarantine.find(settings, batch.name).held) == 3

    # The data engineer corrects the held rows in quarantine, then releases them: they load, once.
    held_file = settings.quarantine_dir / batch.name / quarantine.HELD_ROWS_FILE
    rows = pq.read_table(held_file).to_pylist()
    for row in rows:
        original = valid_events(settings, PROVIDER, 60, seed=21)[row["kafka_offset"] - 100]
        row.update(time=original["time"], data=original["data"])
    pq.write_table(pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA), held_file)
    assert quarantine_command.run(_args("release", batch.name), settings) == 0
    assert "3 held rows passed their expectations and loaded" in capsys.readouterr().out
    assert loaded_offsets(settings, batch.name) == list(range(100, 160))
    assert scalar(settings, "SELECT events FROM raw.batches") == 60
    assert scalar(settings, "SELECT failed_expectations FROM raw.batches") is None
    assert quarantine_command.run(_args("release", batch.name), settings) == 1  # nothing left to release
    assert [released for *_, released in held_records(settings)] == [True, True, True]
    assert run_once(settings) == []
    assert loaded_offsets(settings, batch.name) == list(range(100, 160))
    assert reconciliation(settings)[PROVIDER].reconciles


def test_custody_events_from_a_provider_that_may_not_send_them_hold_only_those_rows(
    settings: Settings,
) -> None:
    events = valid_events(settings, NO_CUSTODY, 40, seed=22)
    custody = {
        **events[3],
        "type": "custody.admitted",
        "dataschema": "urn:continuum:schema:custody.admitted:1",
        "data": orjson.dumps({"facility_type": "jail", "admission_reason": "new_charge"}).decode(),
    }
    events[3] = custody
    batch = write_batch(settings, NO_CUSTODY, 0, 0, events)
    run_once(settings)
    assert loaded_offsets(settings, batch.name) == [o for o in range(40) if o != 3]
    held = quarantine.find(settings, batch.name).held
    assert held == {3: ["custody_justice: expect_column_values_to_be_in_set(provider_id)"]}
    referrals = sum(e["type"].startswith("referral.") for e in events)
    assert (
        scalar(
            settings,
            "SELECT count(*) FROM raw.events WHERE type LIKE 'referral.%' AND batch_name = ?",
            batch.name,
        )
        == referrals
    )


def test_a_batch_level_anomaly_holds_the_batch_and_its_dead_letters_still_load(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 40, seed=23)
    stamped = [{**e, "time": events[0]["time"]} for e in events]
    good = write_batch(
        settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 30, seed=24), dead_letters=1
    )
    bad = write_batch(settings, PROVIDER, 1, 0, stamped, dead_letters=4)
    verdicts = {v["batch"]["name"]: v for v in run_once(settings)}
    assert verdicts[good.name]["passed"] and not verdicts[bad.name]["passed"]
    assert "max_time_value_share" in verdicts[bad.name]["failed"][0]
    assert loaded_offsets(settings, bad.name) == []
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters WHERE batch_name = ?", bad.name) == 4
    held = held_records(settings)
    assert [o for o, *_ in held] == list(range(40)) and not any(released for *_, released in held)
    assert all("max_time_value_share" in rule for _, _, rule, _ in held)
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters") == 5
    counts = reconciliation(settings)[PROVIDER]
    assert (counts.landed, counts.loaded, counts.quarantined, counts.pending) == (70, 30, 40, 0)
    assert (counts.dead_letters_landed, counts.dead_letters_loaded) == (5, 5) and counts.reconciles
    # `continuum status` counts the quarantined batch's dead letters too (issue 11: they vanished).
    assert sum(dead_letter_counts(settings.landing_dir, settings.quarantine_dir).values()) == 5

    # Corrected and released: the events load once, the dead letters are not loaded a second time.
    held_file = settings.quarantine_dir / bad.name / "events.parquet"
    fixed = pq.read_table(held_file).to_pandas()
    fixed["time"] = [e["time"] for e in events]
    pq.write_table(pa.Table.from_pandas(fixed, schema=EVENTS_SCHEMA, preserve_index=False), held_file)
    assert quarantine_command.run(_args("release", bad.name), settings) == 0
    assert loaded_offsets(settings, bad.name) == list(range(40))
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters WHERE batch_name = ?", bad.name) == 4
    assert all(released for *_, released in held_records(settings))
    assert reconciliation(settings)[PROVIDER].reconciles


def test_ten_events_dated_year_one_do_not_hide_their_batch_or_its_dead_letters(settings: Settings) -> None:
    # Issue 11: ten contract-valid events dated 0001-01-01 used to make the file unreadable to pandas and
    # quarantine the whole batch, dead letters and all.
    batches = []
    for partition in range(3):
        events = valid_events(settings, PROVIDER, 80, seed=30 + partition)
        for event in events[10 * partition : 10 * partition + 10] if partition == 1 else []:
            event["time"] = datetime.fromisoformat("0001-01-01T00:00:00+00:00")
        batches.append(write_batch(settings, PROVIDER, partition, 0, events, dead_letters=8))
    verdicts = run_once(settings)
    assert all(v["passed"] for v in verdicts)
    assert [v["held_rows"] for v in verdicts] == [0, 10, 0]
    assert scalar(settings, "SELECT count(*) FROM raw.events") == 230
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters") == 24
    assert scalar(settings, "SELECT sum(dead_letters) FROM raw.batches") == 24
    counts = reconciliation(settings)[PROVIDER]
    assert (counts.landed, counts.loaded, counts.quarantined) == (240, 230, 10) and counts.reconciles


def test_an_unreadable_batch_is_quarantined_with_the_error_and_its_group_loads(settings: Settings) -> None:
    good = write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 30, seed=40))
    broken = write_batch(
        settings, PROVIDER, 1, 0, valid_events(settings, PROVIDER, 30, seed=41), dead_letters=2
    )
    broken.events_path.write_bytes(b"not parquet")
    verdicts = {v["batch"]["name"]: v for v in run_once(settings)}
    assert verdicts[good.name]["passed"]
    assert not verdicts[broken.name]["passed"] and verdicts[broken.name]["failed"][0].startswith("unreadable")
    assert loaded_offsets(settings, good.name) == list(range(30))
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters WHERE batch_name = ?", broken.name) == 2
    assert quarantine.find(settings, broken.name).kind == "batch"


def test_new_batches_are_validated_in_a_few_groups(settings: Settings) -> None:
    refs = [
        BatchRef.of(write_batch(settings, PROVIDER, p, 0, valid_events(settings, PROVIDER, 30, seed=p)))
        for p in range(7)
    ]
    groups = discover.in_groups(refs, group_events=100)
    assert [len(g.batches) for g in groups] == [3, 3, 1]  # 30 + 30 + 30 fit in 100; a 4th would not
    size = pq.ParquetFile(refs[0].events_path).metadata.row_group(0).total_byte_size
    by_bytes = discover.in_groups(refs, group_bytes=2 * size + size // 2)
    assert [len(g.batches) for g in by_bytes] == [2, 2, 2, 1]  # two fit in 2.5 files' bytes
    assert [len(g.batches) for g in discover.in_groups(refs)] == [7]  # the default holds them all
    assert discover.in_groups([]) == []


def test_ids_of_other_groups_count_as_known_once_written_by_discover(settings: Settings) -> None:
    # A status change validated in one group, its referral landed in a batch of another group: known
    # through the run's known-ids file, so no "unknown referral" warning; without it, the warning.
    events = valid_events(settings, PROVIDER, 40, seed=70)
    requests = [e for e in events if e["type"] == "referral.requested"]
    statuses = [e for e in events if e["type"] == "referral.status_changed"]
    changes = [
        _with_data(e, referral_id=orjson.loads(request["data"])["referral_id"])
        for e, request in zip(statuses, requests, strict=False)
    ]
    assert changes and len(requests) >= len(changes)
    first = write_batch(settings, PROVIDER, 0, 0, requests)
    second = write_batch(settings, PROVIDER, 1, 0, changes)
    with warehouse.connect(settings) as con:
        groups = discover.plan_groups(con, settings, [BatchRef.of(first), BatchRef.of(second)])
    assert len(groups) == 1 and groups[0].known_ids_paths
    from continuum.pipeline.validate import validate_batches

    def unknown(known_ids_paths):
        [verdict] = validate_batches(settings, [BatchRef.of(second)], known_ids_paths)
        return [w for w in verdict.warnings if "changes_of_unknown_referrals" in w]

    assert unknown(groups[0].known_ids_paths) == []
    assert unknown(()) == [
        f"referral: expect_column_values_to_be_between(changes_of_unknown_referrals): observed {len(changes)}"
    ]


def _ids_of(events: list[dict]) -> set[tuple[str, str]]:
    """The oracle: (type, id) of every enrolment and referral request, read from the events themselves."""
    field = {"participant.enrolled": "enrollment_id", "referral.requested": "referral_id"}
    return {(e["type"], orjson.loads(e["data"])[field[e["type"]]]) for e in events if e["type"] in field}


def _rows(paths: tuple[str, ...]) -> list[tuple[str, str]]:
    rows = []
    for path in paths:
        table = pq.read_table(path)
        rows += zip(table["type"].to_pylist(), table["known_id"].to_pylist(), strict=True)
    return rows


def test_the_warehouses_known_ids_are_kept_between_runs_and_written_again_for_another_warehouse(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The load keeps the ids of the rows loaded so far, and discover reads only the rows loaded since:
    # the two files a run gets must still hold every id loaded and every new file's, checked against the
    # events themselves.
    def plan(*refs: BatchRef) -> list[discover.Group]:
        with warehouse.connect(settings) as con:
            return discover.plan_groups(con, settings, list(refs))

    def kept() -> list[str]:
        return sorted(p.name for p in known_ids.directory(settings).glob("loaded-through-*"))

    sent = [valid_events(settings, PROVIDER, 60, seed=s) for s in (81, 82, 83)]
    write_batch(settings, PROVIDER, 0, 0, sent[0])
    run_once(settings)
    [first_kept] = kept()
    assert first_kept.endswith("-60.parquet")  # written again by the load, with the rows it loaded

    monkeypatch.setattr(known_ids, "KEPT_RENEW_SHARE", 10.0)  # the kept file is now kept as it is
    second = write_batch(settings, PROVIDER, 1, 0, sent[1])
    assert set(_rows(plan(BatchRef.of(second))[0].known_ids_paths)) == _ids_of(sent[0] + sent[1])
    run_once(settings)  # loads the second batch
    third = write_batch(settings, PROVIDER, 2, 0, sent[2])
    groups = plan(BatchRef.of(third))
    assert kept() == [first_kept]  # the second batch's ids come from the rows loaded since
    assert set(_rows(groups[0].known_ids_paths)) == _ids_of(sent[0] + sent[1] + sent[2])

    # Another warehouse (an empty one here): the kept file is not its ids, and is written again.
    settings.warehouse_path.unlink()
    groups = plan(BatchRef.of(third))
    assert kept() != [first_kept] and len(kept()) == 1
    assert set(_rows(groups[0].known_ids_paths)) == _ids_of(sent[2])


def _late_counts_of(events: list[dict]) -> dict[str, tuple[int, int]]:
    """The oracle: per topic, (events, events landed more than 7 days after their time), from the events."""
    late = sum(LANDED_AT - e["time"] > timedelta(days=7) for e in events)
    return {f"providers.{PROVIDER}.events": (len(events), late)}


def _counts(path: str | None) -> dict[str, tuple[int, int]]:
    assert path is not None
    rows = pq.read_table(path).to_pylist()
    return {r["kafka_topic"]: (r["told"], r["late"]) for r in rows}


def test_the_warehouses_late_counts_are_kept_between_runs_and_each_run_counts_every_row_loaded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validation's history of late events reads the run's counts (the kept ones and the rows loaded
    # since: continuum/pipeline/late_counts.py), no longer every row of raw.events.
    def plan(ref: BatchRef) -> discover.Group:
        with warehouse.connect(settings) as con:
            [group] = discover.plan_groups(con, settings, [ref])
        return group

    sent = [valid_events(settings, PROVIDER, 60, seed=s) for s in (91, 92, 93)]
    write_batch(settings, PROVIDER, 0, 0, sent[0])
    run_once(settings)  # the load keeps the counts of the rows it loaded
    monkeypatch.setattr(known_ids, "KEPT_RENEW_SHARE", 10.0)  # the kept file is now kept as it is
    [kept] = late_counts.directory(settings).glob("loaded-through-*")
    assert _counts(str(kept)) == _late_counts_of(sent[0])
    write_batch(settings, PROVIDER, 1, 0, sent[1])
    run_once(settings)  # loads the second batch: rows loaded after the kept file
    third = write_batch(settings, PROVIDER, 2, 0, sent[2])
    group = plan(BatchRef.of(third))
    assert list(late_counts.directory(settings).glob("loaded-through-*")) == [kept]
    assert _late_counts_of(sent[1])[f"providers.{PROVIDER}.events"][1] > 0  # some of them landed late
    assert _counts(group.late_counts_path) == _late_counts_of(sent[0] + sent[1])  # kept, and loaded since

    # The validation reads them: the provider's history is the warehouse's, counted here from its rows.
    from expectations.families import GroupFrames

    files = [validate._landed_file(BatchRef.of(third))]
    shares = []
    for path in (group.late_counts_path, None):
        frames = GroupFrames(files, settings.warehouse_path, group.known_ids_paths, settings, path)
        shares.append(frames.con.execute("SELECT late_share FROM history").fetchall())
        frames.close()
    told, late = _late_counts_of(sent[0] + sent[1])[f"providers.{PROVIDER}.events"]
    assert shares[0] == shares[1] == [(pytest.approx(late / told),)]
    # ... read from the run's file, not counted again:
    made_up = Path(group.known_ids_paths[0]).with_name("made-up-late-counts.parquet")
    pq.write_table(
        pa.table({"kafka_topic": [f"providers.{PROVIDER}.events"], "told": [8], "late": [2]}), made_up
    )
    frames = GroupFrames(files, settings.warehouse_path, group.known_ids_paths, settings, str(made_up))
    assert frames.con.execute("SELECT late_share FROM history").fetchall() == [(0.25,)]
    frames.close()


def test_one_group_run_records_each_file_and_row(settings: Settings) -> None:
    # Two files in one GX run: the held row is named by its own file and offset, not its neighbour's.
    events = valid_events(settings, PROVIDER, 30, seed=50)
    events[5] = {**events[5], "time": events[5]["time"].replace(year=1999)}
    first = write_batch(settings, PROVIDER, 0, 0, valid_events(settings, PROVIDER, 30, seed=51))
    second = write_batch(settings, PROVIDER, 1, 0, events)
    from continuum.pipeline.validate import validate_batches

    verdicts = validate_batches(settings, [BatchRef.of(first), BatchRef.of(second)])
    assert len({v.gx_run for v in verdicts}) == 1
    assert [v.held_rows for v in verdicts] == [0, 1]
    assert verdicts[1].held_offsets() == {5: ["batch: expect_column_values_to_be_between(time_year)"]}
    assert [v.events for v in verdicts] == [30, 30]


def test_batches_load_many_per_transaction_and_a_failed_chunk_leaves_nothing_of_itself(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two transactions of two batches (60 events each); the second chunk's second file vanishes between
    # validation and load: the first chunk stays loaded, nothing of the second is in, and the retry
    # loads the second chunk once, its held rows left out and recorded once.
    batches = []
    for partition in range(4):
        events = valid_events(settings, PROVIDER, 30, seed=60 + partition)
        if partition == 2:
            referrals = [i for i, e in enumerate(events) if e["type"] == "referral.requested"][:2]
            for i in referrals:
                events[i] = _with_data(events[i], to_provider_id="nowhere-provider")
        batches.append(write_batch(settings, PROVIDER, partition, 0, events, dead_letters=partition))
    held = sorted(referrals)
    from continuum.pipeline import load, tasks

    monkeypatch.setattr(load, "LOAD_CHUNK_EVENTS", 60)
    groups = [tasks.validate_group(settings, g) for g in tasks.discover_groups(settings)]
    moved = batches[3].events_path.with_suffix(".away")
    batches[3].events_path.rename(moved)
    with pytest.raises(Exception, match="No files found|IO Error"):
        tasks.load_passed(settings, groups)
    assert scalar(settings, "SELECT count(*) FROM raw.events") == 60
    assert scalar(settings, "SELECT count(*) FROM raw.batches") == 2
    assert scalar(settings, "SELECT count(*) FROM raw.dead_letters") == 0 + 1
    assert held_records(settings) == []

    moved.rename(batches[3].events_path)
    counts = tasks.load_passed(settings, [*groups, groups[0][2:3]])  # batch 2's verdict twice
    assert (counts["batches"], counts["already_loaded"], counts["rows_held"]) == (2, 3, 2)
    assert tasks.load_passed(settings, groups)["already_loaded"] == 4  # a retry of the whole load task
    for partition, batch in enumerate(batches):
        expected = [o for o in range(30) if partition != 2 or o not in held]
        assert loaded_offsets(settings, batch.name) == expected
        assert scalar(settings, "SELECT events FROM raw.batches WHERE batch_name = ?", batch.name) == len(
            expected
        )
        dead = scalar(settings, "SELECT count(*) FROM raw.dead_letters WHERE batch_name = ?", batch.name)
        assert dead == partition
    assert [o for o, *_ in held_records(settings)] == held
    assert reconciliation(settings)[PROVIDER].reconciles
