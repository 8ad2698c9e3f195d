"""The expectation suites on batches written by hand: a clean batch passes, and each kind of bad batch
fails with the expectation that says why. No broker, no Airflow."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from test_pipeline_support import LANDED_AT, valid_events, write_batch

from common.settings import Settings
from continuum.pipeline.batches import BatchRef
from continuum.pipeline.validate import validate_batch
from expectations.families import FAMILIES, enum_values
from expectations.suites import SUITE_BUILDERS, build_suite

PROVIDER = "okc-street-outreach"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("expectations-home"))


_partition = iter(range(10_000))


def verdict_of(settings: Settings, events: list[dict], provider: str = PROVIDER, **kwargs):
    batch = write_batch(settings, provider, next(_partition), 0, events, **kwargs)
    return validate_batch(settings, BatchRef.of(batch))


def failed_on(verdict, fragment: str) -> bool:
    return any(fragment in line for line in verdict.failed)


def test_one_suite_per_family_with_a_check_plus_the_batch_suite() -> None:
    # outcome.recorded has nothing a single message cannot show: the contract ties status to domain.
    assert set(SUITE_BUILDERS) == {"batch", *FAMILIES} - {"outcome"}
    assert set(FAMILIES) == {
        "participant",
        "consent",
        "referral",
        "service",
        "incident",
        "custody_justice",
        "outcome",
    }
    for family in SUITE_BUILDERS:
        assert build_suite(family).expectations, family


def test_the_suites_do_not_check_again_what_the_contract_refused() -> None:
    # Enumerations, UUIDs, required and conditional fields are the contract's: no landed row breaks them.
    columns = {
        getattr(e, "column", None) for family in SUITE_BUILDERS for e in build_suite(family).expectations
    }
    assert not columns & {
        "gender",
        "program_type",
        "status",
        "status_reason",
        "domain_status",
        "id",
        "subject",
    }
    assert {"to_provider_id", "exits_of_unknown_enrollments", "max_time_value_share"} <= columns


def test_enumerations_come_from_the_contract_schemas() -> None:
    assert "street_outreach" in enum_values("participant.enrolled", "program_type")
    assert None not in enum_values("participant.enrolled", "risk_level")
    assert set(enum_values("referral.status_changed", "status")) >= {"accepted", "entered-in-error"}


def test_a_clean_batch_passes_and_its_result_is_kept(settings: Settings) -> None:
    verdict = verdict_of(settings, valid_events(settings, PROVIDER, 120), dead_letters=2)
    assert verdict.passed, verdict.failed
    assert (verdict.events, verdict.dead_letters, verdict.held_rows) == (120, 2, 0)
    document = orjson.loads(Path(verdict.result_path).read_bytes())
    assert document["passed"] and document["held"] == {} and document["gx_run"] == verdict.gx_run


def test_a_batch_stamped_with_one_time_fails(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 40, seed=1)
    for event in events:
        event["time"] = events[0]["time"]
    assert failed_on(verdict_of(settings, events), "time_value_share")


def test_a_small_batch_may_share_one_time(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 5, seed=2)
    for event in events:
        event["time"] = events[0]["time"]
    assert verdict_of(settings, events).passed


def test_reused_ids_fail_but_a_few_resent_copies_pass(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 60, seed=3)
    assert verdict_of(settings, [*events, dict(events[0])]).passed  # one re-sent copy: kept once later
    reused = {**events[1], "data": events[2]["data"], "type": events[2]["type"]}
    reused["dataschema"] = events[2]["dataschema"]
    # Both copies of the reused id are held (a ROW rule): which one is right is the provider's to say.
    verdict = verdict_of(settings, [*events, reused])
    assert held_for(verdict, 1, "has_conflicting_copy") and held_for(verdict, 60, "has_conflicting_copy")
    assert verdict.held_rows == 2
    assert failed_on(verdict_of(settings, [*events, *events[:10]]), "resent_share")


def held_for(verdict, offset: int, fragment: str) -> bool:
    return verdict.passed and any(fragment in rule for rule in verdict.held_offsets().get(offset, []))


def test_times_outside_the_plausible_window_fail(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=4)
    events[0]["time"] = events[0]["time"].replace(year=1999)
    assert held_for(verdict_of(settings, events), 0, "expect_column_values_to_be_between(time_year)")
    events = valid_events(settings, PROVIDER, 30, seed=5)
    for event in events[:3]:
        event["time"] = LANDED_AT + timedelta(hours=2)  # ahead of landing: 10% of the batch
    assert failed_on(verdict_of(settings, events), "ahead_share")


def _with_data(event: dict, **changes) -> dict:
    return {**event, "data": orjson.dumps({**orjson.loads(event["data"]), **changes}).decode()}


def test_a_referral_to_a_provider_not_in_the_directory_fails(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=6)
    i = next(i for i, e in enumerate(events) if e["type"] == "referral.requested")
    events[i] = _with_data(events[i], to_provider_id="nowhere-provider")
    verdict = verdict_of(settings, events)
    assert verdict.held_offsets() == {i: ["referral: expect_column_values_to_be_in_set(to_provider_id)"]}


def test_references_to_unknown_events_are_warnings_counted_per_file(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=7)
    verdict = verdict_of(settings, events)
    exits = [i for i, e in enumerate(events) if e["type"] == "participant.exited"]
    # The helper's exits name enrollments nobody sent: reported, never held (events arrive out of order).
    assert verdict.passed and verdict.held_rows == 0 and len(exits) == 4
    assert "participant: expect_column_values_to_be_between(exits_of_unknown_enrollments): observed 4" in (
        verdict.warnings
    )
    # Send the enrollments (in this batch, or loaded before): the exits' references are known.
    enrolled = next(e for e in events if e["type"] == "participant.enrolled")
    for n, i in enumerate(exits):
        enrollment = orjson.loads(events[i]["data"])["enrollment_id"]
        events.append(_with_data({**enrolled, "id": f"{enrollment[:-4]}{n:04d}"}, enrollment_id=enrollment))
    assert not any("unknown_enrollments" in w for w in verdict_of(settings, events).warnings)


def test_a_record_id_claimed_by_two_events_is_a_warning(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=10)
    first, second = [i for i, e in enumerate(events) if e["type"] == "service.delivered"][:2]
    events[second] = _with_data(events[second], service_id=orjson.loads(events[first]["data"])["service_id"])
    verdict = verdict_of(settings, events)
    assert verdict.passed and verdict.held_rows == 0
    assert "service: expect_column_values_to_be_between(service_ids_reused): observed 2" in verdict.warnings


def test_custody_events_only_from_providers_that_publish_them(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 20, seed=8)
    events[0] = {
        **events[0],
        "type": "custody.admitted",
        "dataschema": "urn:continuum:schema:custody.admitted:1",
        "data": orjson.dumps({"facility_type": "jail", "admission_reason": "new_charge"}).decode(),
    }
    assert held_for(
        verdict_of(settings, events), 0, "custody_justice: expect_column_values_to_be_in_set(provider_id)"
    )


def test_a_batch_of_dead_letters_only_passes(settings: Settings) -> None:
    verdict = verdict_of(settings, [], dead_letters=3)
    assert verdict.passed, verdict.failed
    assert (verdict.events, verdict.dead_letters) == (0, 3)


def test_an_unreadable_file_fails_instead_of_crashing(settings: Settings) -> None:
    batch = write_batch(settings, PROVIDER, next(_partition), 0, valid_events(settings, PROVIDER, 3))
    batch.events_path.write_bytes(b"not parquet")
    verdict = validate_batch(settings, BatchRef.of(batch))
    assert not verdict.passed and verdict.failed[0].startswith("unreadable")


def test_null_shares_are_warnings(settings: Settings) -> None:
    events = [e for e in valid_events(settings, PROVIDER, 300, seed=9) if e["type"] == "participant.enrolled"]
    events = [_with_data(e, risk_level=None) for e in events]
    verdict = verdict_of(settings, events)
    assert verdict.passed
    assert any("risk_level_null_share" in w for w in verdict.warnings)


def test_data_docs_show_a_batch_result(settings: Settings) -> None:
    # Suites live in memory per process (parallel tasks share only result files); the docs must still
    # render the suites and each run's result from another process's results.
    from expectations.runner import ValidationProject

    batch = write_batch(settings, PROVIDER, next(_partition), 0, valid_events(settings, PROVIDER, 30))
    validate_batch(settings, BatchRef.of(batch))
    index = ValidationProject(settings).build_data_docs()
    html = index.read_text()
    assert "batch" in html and PROVIDER in html
    assert list(settings.data_docs_dir.glob("validations/**/*.html"))


def test_each_suite_keeps_its_latest_runs_and_older_results_move_to_the_archive(tmp_path: Path) -> None:
    from expectations.runner import archive_old_results

    store, archive = tmp_path / "validations", tmp_path / "archive"
    runs = {  # (suite, run name, run time); the run names' order is not the runs' order in time
        ("continuum", "participant", "c-run", "20261201T000000.000000Z"),
        ("continuum", "participant", "a-run", "20261202T000000.000000Z"),
        ("continuum", "participant", "b-run", "20261203T000000.000000Z"),
        ("continuum", "participant", "a-run", "20261204T000000.000000Z"),
        ("continuum", "batch", "c-run", "20261201T000000.000000Z"),
        ("continuum", "batch", "b-run", "20261203T000000.000000Z"),
    }
    for *run, time in runs:
        (store.joinpath(*run, time)).mkdir(parents=True)
        (store.joinpath(*run, time, "the-batch.json")).write_text("{}")
    assert archive_old_results(store, archive, keep=2) == 2
    kept = {p.relative_to(store).parts[:-1] for p in store.rglob("*.json")}
    moved = {p.relative_to(archive).parts[:-1] for p in archive.rglob("*.json")}
    oldest_two = {
        ("continuum", "participant", "c-run", "20261201T000000.000000Z"),
        ("continuum", "participant", "a-run", "20261202T000000.000000Z"),
    }
    assert (kept, moved) == (runs - oldest_two, oldest_two)
    assert not (store / "continuum" / "participant" / "c-run").exists()  # no empty run left behind
    assert archive_old_results(store, archive, keep=2) == 0


def test_the_data_docs_index_lists_the_kept_runs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expectations import runner

    monkeypatch.setattr(runner, "KEPT_RUNS_PER_SUITE", 1)
    settings = Settings(home=tmp_path)
    project = runner.ValidationProject(settings)
    batches = [
        write_batch(settings, PROVIDER, partition, 0, valid_events(settings, PROVIDER, 20))
        for partition in (0, 1)
    ]
    for batch in batches:
        validate_batch(settings, BatchRef.of(batch))
    index = project.build_data_docs().read_text()
    earlier, later = (batch.name.removesuffix(".parquet") for batch in batches)
    assert later in index and earlier not in index
    assert list((settings.state_dir / "gx" / "validations-archive").rglob(f"{earlier}/*/*.json"))
