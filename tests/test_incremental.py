"""The incremental warehouse gives exactly the published tables of a full rebuild on the same raw data and
the same as_of: every table of marts, provider_views and operators, compared row for row with EXCEPT ALL
both ways (so a duplicated or missing row fails as well as a changed one).

The incremental side is built the way the pipeline builds it (continuum.pipeline.dbt): a first build on
what landed until 10 days before the end, then a second load carrying the last 10 days (events that
arrived days late among them), a status change to a referral requested months earlier and a consent
revoked by a participant who was consenting; then a build with nothing new loaded and as_of moved 45 days
forward (windows elapse, referrals become overdue and stalled). The full side is a fresh warehouse built
once from all the same raw rows at each as_of.

Runtime: five dbt builds of 2,000 simulated participants (~10-20 s each on 2 cores).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest
from test_warehouse import (
    SECOND_LOAD_AT,
    SIM_END,
    SIM_PARTICIPANTS,
    RawRows,
    dbt_build,
    revocation_row,
    simulate,
    simulate_raw,
    split_raw,
    write_raw,
)

from common.settings import Settings
from continuum.pipeline import dbt as pipeline_dbt
from streams.landing.files import batch_name

PARTICIPANTS = SIM_PARTICIPANTS
PUBLISHED_SCHEMAS = ("marts", "provider_views", "operators")
LATER_AS_OF = SIM_END + timedelta(days=45)
#: Kafka offsets of answers_before_questions' rows (the simulator's never reach it).
EARLY_ANSWER_OFFSET = 2 * 10**9


def published_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return conn.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_catalog = current_database() and table_schema in {PUBLISHED_SCHEMAS} order by 1, 2"
    ).fetchall()


def differences(incremental: Path, full: Path, only: list[str] | None = None) -> dict[str, tuple[int, int]]:
    """Per published table (or per table of `only`, "schema.table"), (rows only in the incremental
    build, rows only in the full build), counted with EXCEPT ALL; empty when the two warehouses hold
    exactly the same rows. A table's `refreshed_at` (when a build wrote the row) is left out: the two
    builds ran at different times."""
    found = {}
    with duckdb.connect(str(incremental), read_only=True) as conn:
        conn.execute(f"attach '{full}' as full_build (read_only)")
        if only:
            tables = [tuple(name.split(".")) for name in only]
        else:
            tables = published_tables(conn)
            assert len(tables) >= 8, f"expected the published tables, found {tables}"
            full_tables = conn.execute(
                "select table_schema, table_name from information_schema.tables "
                f"where table_catalog = 'full_build' and table_schema in {PUBLISHED_SCHEMAS} order by 1, 2"
            ).fetchall()
            assert tables == full_tables, "the two builds publish different tables"
        for schema, table in tables:
            mine, theirs = f"{schema}.{table}", f"full_build.{schema}.{table}"
            stamped = conn.execute(
                "select count(*) from information_schema.columns where table_catalog = current_database() "
                "and table_schema = ? and table_name = ? and column_name = 'refreshed_at'",
                [schema, table],
            ).fetchone()[0]
            rows = "* exclude (refreshed_at)" if stamped else "*"
            only_mine, only_theirs = (
                conn.execute(
                    f"select count(*) from (select {rows} from {a} except all select {rows} from {b})"
                ).fetchall()[0][0]
                for a, b in ((mine, theirs), (theirs, mine))
            )
            if only_mine or only_theirs:
                found[f"{schema}.{table}"] = (only_mine, only_theirs)
    return found


def status_change_row(
    referral: dict, status: str, time: datetime, offset: int, subject: str | None = None
) -> dict:
    """A referral.status_changed from the referring provider of `referral` (a raw referral.requested
    row), landed and loaded just after SIM_END like revocation_row; filed under `subject` if given."""
    data = {
        "referral_id": orjson.loads(referral["data"])["referral_id"],
        "status": status,
        "status_reason": None,
    }
    return later_row(referral, "referral.status_changed", data, time, offset, subject)


def exit_row(enrollment: dict, time: datetime, offset: int, subject: str) -> dict:
    """A participant.exited (completed) of `enrollment` (a raw participant.enrolled row) from its
    provider, filed under `subject`, landed and loaded just after SIM_END."""
    data = {"enrollment_id": orjson.loads(enrollment["data"])["enrollment_id"], "exit_reason": "completed"}
    return later_row(enrollment, "participant.exited", data, time, offset, subject)


def answers_before_questions(later: RawRows, count: int = 3) -> list[dict]:
    """Raw rows of the first load (landed and loaded with it) that answer events of `later`, the second
    load: an exit of each of `count` enrollments, and a status change of each of `count` substance-use
    referrals, an hour after what they answer, under the same participant."""

    def first(event_type: str, service_type: str | None = None) -> list[dict]:
        found = [
            e
            for e in later.events
            if e["type"] == event_type
            and (service_type is None or orjson.loads(e["data"]).get("service_type") == service_type)
        ]
        assert len(found) >= count, f"the second load has too few {event_type} for the test"
        return sorted(found, key=lambda e: e["id"])[:count]

    loaded = SIM_END - timedelta(days=11)
    rows = [
        *(
            exit_row(e, e["time"] + timedelta(hours=1), EARLY_ANSWER_OFFSET + i, e["subject"])
            for i, e in enumerate(first("participant.enrolled"))
        ),
        *(
            status_change_row(e, "accepted", e["time"] + timedelta(hours=1), EARLY_ANSWER_OFFSET + 100 + i)
            for i, e in enumerate(first("referral.requested", "substance_use_treatment"))
        ),
    ]
    return [{**row, "landed_at": loaded, "kafka_timestamp": loaded, "loaded_at": loaded} for row in rows]


def later_row(
    sent_after: dict, event_type: str, data: dict, time: datetime, offset: int, subject: str | None
) -> dict:
    """A raw row of `event_type` from the provider of the raw row `sent_after`, landed and loaded just
    after SIM_END."""
    landed = SIM_END + timedelta(minutes=5)
    provider = sent_after["source"].removeprefix("urn:continuum:provider:")
    topic = f"providers.{provider}.events"
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": sent_after["source"],
        "type": event_type,
        "time": time,
        "subject": subject or sent_after["subject"],
        "dataschema": f"urn:continuum:schema:{event_type}:1",
        "datacontenttype": None,
        "data": orjson.dumps(data).decode(),
        "kafka_topic": topic,
        "kafka_partition": 0,
        "kafka_offset": offset,
        "kafka_timestamp": landed,
        "landed_at": landed,
        "batch_name": batch_name(topic, 0, offset, offset),
        "loaded_at": SIM_END + timedelta(minutes=10),
    }


def released_earlier_copy(first: dict, offset: int) -> dict:
    """A copy of the raw row `first` that landed a day before it but loads only with the second load (a
    quarantined batch released): it is now the event's first copy, and `first` a duplicate."""
    landed = first["landed_at"] - timedelta(days=1)
    return {
        **first,
        "kafka_partition": 1,
        "kafka_offset": offset,
        "kafka_timestamp": landed,
        "landed_at": landed,
        "batch_name": batch_name(first["kafka_topic"], 1, offset, offset),
        "loaded_at": SIM_END + timedelta(minutes=10),
    }


def forget_since_first_load(db_path: Path, model: str) -> None:
    """Make the intermediate `model` look as if its last good build came before anything was loaded (it
    failed since): no rows, and a state that saw no load. The other outcome-member models take the
    participants to rebuild from int_outcomes__rebuilt_participants; this one must find its own."""
    with duckdb.connect(str(db_path)) as conn:
        conn.execute(f"delete from intermediate.{model}")
        conn.execute(f"update intermediate.incremental_state__{model} set loaded_watermark = null")


def ran(db_path: Path, kind: str, name_part: str = "") -> list[str]:
    """The nodes of `kind` (model, test, unit_test, seed) with `name_part` in their name that the last
    build of the warehouse at `db_path` ran (its run_results.json)."""
    results = orjson.loads(
        (pipeline_dbt.dbt_target_dir(Settings(home=db_path.parent)) / "run_results.json").read_bytes()
    )
    return [
        r["unique_id"]
        for r in results["results"]
        if r["unique_id"].split(".")[0] == kind and name_part in r["unique_id"].split(".", 2)[2]
    ]


def member_counts_counted_by_difference(db_path: Path) -> bool:
    """Whether the last build counted int_outcomes__member_counts by difference (its state says so)."""
    with duckdb.connect(str(db_path), read_only=True) as conn:
        return conn.execute(
            "select counted_by_difference from intermediate.incremental_state__int_outcomes__member_counts"
        ).fetchone()[0]


def column_types(db_path: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(db_path), read_only=True) as conn:
        return [(name, kind) for name, kind, *_ in conn.execute(f"describe {table}").fetchall()]


def consenting_participants(db_path: Path) -> list[str]:
    with duckdb.connect(str(db_path), read_only=True) as conn:
        rows = conn.execute(
            "select participant_key from intermediate.int_participants__spine where is_consenting "
            "order by participant_key"
        ).fetchall()
    return [key for (key,) in rows]


def member_rows_by_participant(db_path: Path) -> dict[str, tuple[list, set]]:
    """participant_key -> (their member rows without refreshed_at, sorted; their stamps)."""
    found: dict[str, tuple[list, set]] = {}
    with duckdb.connect(str(db_path), read_only=True) as conn:
        for row in conn.execute(
            "select participant_key, refreshed_at, * exclude (refreshed_at) "
            "from operators.funder_outcome_member_rows"
        ).fetchall():
            rows, stamps = found.setdefault(row[0], ([], set()))
            rows.append(repr(row[2:]))
            stamps.add(row[1])
    return {key: (sorted(rows), stamps) for key, (rows, stamps) in found.items()}


def assert_member_stamps_change_with_their_rows(before: dict, after: dict) -> None:
    """A participant's member rows carry one stamp, kept when their rows came out as before and renewed
    (the latest build's start) when they changed (macros/incremental_outcomes.sql)."""
    latest = max(stamp for _, stamps in after.values() for stamp in stamps)
    kept = changed = 0
    for key, (rows, stamps) in after.items():
        assert len(stamps) == 1, key
        if key in before and before[key][0] == rows:
            assert stamps == before[key][1], key
            kept += 1
        else:
            assert stamps == {latest}, key
            changed += 1
    assert kept and changed, (kept, changed)  # both cases seen, or the check would test nothing


@pytest.fixture(scope="module")
def raw_loads() -> tuple[RawRows, RawRows]:
    raw = simulate_raw(simulate(participants=PARTICIPANTS), loaded_at=SIM_END)
    cutoff = SIM_END - timedelta(days=10)
    before, after = split_raw(raw, cutoff, loaded_after=SECOND_LOAD_AT)
    assert any(e["time"] < cutoff - timedelta(days=2) for e in after.events), "no late events in the load"
    return before, after


@pytest.mark.slow
@pytest.mark.slowest  # make test-all (110 s: five dbt builds)
def test_incremental_builds_publish_what_a_full_rebuild_does(
    raw_loads: tuple[RawRows, RawRows], tmp_path: Path
) -> None:
    before, after = raw_loads
    # Answers that came before their question: in the first load, exits of enrollments and status
    # changes of substance-use referrals that arrive only in the second (their program, their service
    # and so their Part 2 flag are derived again when it does: int_events__unioned).
    before = RawRows(before.events + answers_before_questions(after), before.dead_letters, before.batches)
    incremental = tmp_path / "incremental" / "warehouse.duckdb"
    incremental.parent.mkdir()
    write_raw(incremental, before)
    dbt_build(incremental, SIM_END)

    # The second load: the last 10 days, an old referral entered in error, and a revocation; and
    # answers filed under another participant's key (a provider's mistake, yet the referral's and the
    # enrollment's own): another old referral entered in error, and an exit from an open enrollment;
    # and a copy of a first-load event that landed before it (provider_data_quality's first copy moves).
    someone_else, *others = consenting_participants(incremental)
    consenting = set(others)
    old_referral, other_referral = sorted(
        (
            e
            for e in before.events
            if e["type"] == "referral.requested"
            and e["time"] < SIM_END - timedelta(days=120)
            and e["subject"] in consenting  # so that its measures show the change
        ),
        key=lambda e: e["id"],
    )[:2]
    exited = {
        (e["source"], orjson.loads(e["data"])["enrollment_id"])
        for e in before.events + after.events
        if e["type"] == "participant.exited"
    }
    open_enrollment = min(
        (
            e
            for e in before.events
            if e["type"] == "participant.enrolled"
            and e["subject"] in consenting
            and (e["source"], orjson.loads(e["data"])["enrollment_id"]) not in exited
        ),
        key=lambda e: e["id"],
    )
    extras = RawRows(
        events=[
            status_change_row(old_referral, "entered-in-error", SIM_END - timedelta(hours=2), 10**9 + 1),
            status_change_row(
                other_referral, "entered-in-error", SIM_END - timedelta(hours=2), 10**9 + 2, someone_else
            ),
            exit_row(open_enrollment, SIM_END - timedelta(hours=3), 10**9 + 3, someone_else),
            revocation_row(someone_else, SIM_END - timedelta(seconds=1)),
            released_earlier_copy(min(before.events, key=lambda e: e["id"]), 10**9 + 4),
        ]
    )
    write_raw(incremental, after)
    write_raw(incremental, extras)
    forget_since_first_load(incremental, "int_outcomes__referrals")
    assert "new raw rows" in dbt_build(incremental, SIM_END)
    assert not ran(incremental, "unit_test"), "unit tests ran again on an unchanged project"
    assert ran(incremental, "model", "stg_events__referral_status_changed")

    full = tmp_path / "full" / "warehouse.duckdb"
    full.parent.mkdir()
    for load in (before, after, extras):
        write_raw(full, load)
    dbt_build(full, SIM_END)
    assert differences(incremental, full) == {}
    # the forgotten model is whole again (the published member rows keep theirs: they would not show it)
    assert differences(incremental, full, ["intermediate.int_outcomes__referrals"]) == {}
    # counted by difference, cell for cell as counted whole (funder_outcomes hides its small cells)
    assert member_counts_counted_by_difference(incremental)
    assert differences(incremental, full, ["intermediate.int_outcomes__member_counts"]) == {}
    assert column_types(incremental, "intermediate.int_outcomes__member_counts") == column_types(
        full, "intermediate.int_outcomes__member_counts"
    )
    with duckdb.connect(str(full), read_only=True) as conn:
        (answered,) = conn.execute(
            "select count(*) from marts.journey_events where event_type = 'participant.exited' "
            "and event_id in ? and program_type is not null",
            [[r["id"] for r in before.events if r["kafka_offset"] >= EARLY_ANSWER_OFFSET]],
        ).fetchall()[0]
    assert answered > 0, "no early exit is published with its program: the check above would see nothing"

    # Nothing new, as_of 45 days later: the as_of-dependent flags and windows move on all the same.
    stamps_before = member_rows_by_participant(incremental)
    assert "nothing new" in dbt_build(incremental, LATER_AS_OF)
    assert_member_stamps_change_with_their_rows(stamps_before, member_rows_by_participant(incremental))
    assert not ran(incremental, "model", "stg_"), "nothing new was loaded, yet staging was built"
    assert ran(incremental, "model", "referral_handoffs") and ran(incremental, "test", "referral_handoffs")
    later = tmp_path / "later" / "warehouse.duckdb"
    later.parent.mkdir()
    for load in (before, after, extras):
        write_raw(later, load)
    dbt_build(later, LATER_AS_OF)
    assert differences(incremental, later) == {}
    assert differences(incremental, later, ["intermediate.int_outcomes__member_counts"]) == {}
    with duckdb.connect(str(later), read_only=True) as conn:
        (moved,) = conn.execute(
            "select count(*) from marts.referral_handoffs where is_stalled "
            "and requested_at > ?::timestamptz - interval 60 day",
            [SIM_END],
        ).fetchall()[0]
    assert moved > 0, "the later as_of should make recent referrals stalled (the check would see nothing)"


# --- the plan of a pipeline build (continuum.pipeline.dbt.plan_build), no dbt needed ---------------------

RAW = {"events": "10 rows, hash 1", "staged landed rows": "10"}


def test_a_first_build_or_a_changed_project_builds_everything_and_every_key() -> None:
    """Every node, and the as_of-incremental models rebuild every key: their kept rows may come from
    other code."""
    now = pipeline_dbt.BuildState("project-a", RAW)
    unreadable = pipeline_dbt.BuildState("project-a", None)
    for last, this in ((None, now), (pipeline_dbt.BuildState("project-b", RAW), now), (now, unreadable)):
        plan = pipeline_dbt.plan_build(last, this)
        assert (plan.args, plan.rebuild_all_keys) == ((), True)
        env = pipeline_dbt.dbt_env(Settings(), rebuild_all_keys=plan.rebuild_all_keys)
        assert env[pipeline_dbt.REBUILD_ALL_KEYS_ENV] == "true"


def test_new_raw_rows_build_every_model_and_data_test_but_not_the_unit_tests() -> None:
    last = pipeline_dbt.BuildState("project-a", RAW)
    now = pipeline_dbt.BuildState("project-a", {**RAW, "events": "11 rows, hash 7"})
    plan = pipeline_dbt.plan_build(last, now)
    assert (plan.args, plan.rebuild_all_keys) == (("--exclude", "resource_type:unit_test"), False)


@pytest.mark.parametrize(
    ("before", "after", "threads"),
    [
        ("1000 rows, hash 1", "1050 rows, hash 2", ("--threads", "4")),  # 5 %: a small increment
        ("1000 rows, hash 1", "1051 rows, hash 2", ()),  # 5.1 %: a back-load's big nodes, profiles.yml's
        ("0 rows, hash 0", "10 rows, hash 2", ()),  # the first rows are all new
        ("1000 rows, hash 1", "1000 rows, hash 9", ("--threads", "4")),  # as many rows, others (none new)
        ("unreadable", "1010 rows, hash 2", ()),  # a count not known
    ],
)
def test_a_small_increment_is_built_with_more_threads(before: str, after: str, threads: tuple) -> None:
    last = pipeline_dbt.BuildState("project-a", {**RAW, "events": before})
    now = pipeline_dbt.BuildState("project-a", {**RAW, "events": after})
    plan = pipeline_dbt.plan_build(last, now)
    assert plan.args == ("--exclude", "resource_type:unit_test", *threads)


def test_nothing_new_leaves_staging_and_what_as_of_cannot_change(tmp_path: Path) -> None:
    for folder in ("staging", "intermediate", "marts", "exports"):
        (tmp_path / "models" / folder).mkdir(parents=True)
    state = pipeline_dbt.BuildState("project-a", RAW)
    plan = pipeline_dbt.plan_build(state, state, project_dir=tmp_path)
    assert plan.args == (
        "--select",
        "path:models/exports",
        "path:models/intermediate",
        "path:models/marts",
        "--exclude",
        "resource_type:unit_test",
        "tag:independent_of_as_of",
        "--threads",
        "4",
    )


def test_the_project_fingerprint_follows_every_project_file_but_dbts_own(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.sql").write_text("select 1")
    first = pipeline_dbt.project_fingerprint(tmp_path)
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text("{}")
    assert pipeline_dbt.project_fingerprint(tmp_path) == first
    (tmp_path / "models" / "a.sql").write_text("select 2")
    assert pipeline_dbt.project_fingerprint(tmp_path) != first


def test_the_raw_fingerprint_sees_a_new_row_and_a_changed_batch(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    db_path = settings.warehouse_path
    assert pipeline_dbt.raw_fingerprint(settings) is None
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("create schema raw; create schema staging")
        conn.execute("create table raw.events (id varchar, loaded_at timestamptz)")
        conn.execute("create table raw.batches (batch_name varchar, status varchar)")
        conn.execute(
            "insert into raw.events values ('e1', '2026-11-01'); insert into raw.batches values ('b', 'held')"
        )
    assert pipeline_dbt.raw_fingerprint(settings)["staged landed rows"] == "none"
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("create table staging.stg_raw__landed_rows as select 1 as x")
    first = pipeline_dbt.raw_fingerprint(settings)
    assert first is not None and first["staged landed rows"] == "1"
    assert pipeline_dbt.raw_fingerprint(settings) == first
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("update raw.batches set status = 'loaded'")
    second = pipeline_dbt.raw_fingerprint(settings)
    assert second["batches"] != first["batches"] and second["events"] == first["events"]
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("insert into raw.events values ('e2', '2026-11-02')")
    assert pipeline_dbt.raw_fingerprint(settings)["events"] != second["events"]


@pytest.mark.slow
@pytest.mark.slowest  # make test-all (three dbt builds)
def test_a_backfill_publishes_what_a_full_build_at_the_earlier_as_of_does(
    raw_loads: tuple[RawRows, RawRows], tmp_path: Path
) -> None:
    """as_of moved back 60 days (a backfill) on a warehouse built at SIM_END: the incremental models
    (docs/pipeline.md, Incremental models) must drop the referrals requested, the participants first seen
    and the journey events after the earlier as_of, and renumber the rest, exactly as a fresh build there."""
    before, after = raw_loads
    earlier = SIM_END - timedelta(days=60)
    moved = tmp_path / "moved" / "warehouse.duckdb"
    moved.parent.mkdir()
    for load in (before, after):
        write_raw(moved, load)
    dbt_build(moved, SIM_END)
    with duckdb.connect(str(moved), read_only=True) as conn:
        (later_referrals,) = conn.execute(
            "select count(*) from marts.referral_handoffs where requested_at > ?", [earlier]
        ).fetchall()[0]
    assert later_referrals > 0, "nothing after the earlier as_of: the check would see nothing"
    assert "nothing new" in dbt_build(moved, earlier)

    fresh = tmp_path / "fresh" / "warehouse.duckdb"
    fresh.parent.mkdir()
    for load in (before, after):
        write_raw(fresh, load)
    dbt_build(fresh, earlier)
    assert differences(moved, fresh) == {}
