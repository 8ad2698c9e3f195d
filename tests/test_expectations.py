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


def test_one_suite_per_family_plus_the_batch_suite() -> None:
    assert set(SUITE_BUILDERS) == {"batch", *FAMILIES}
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


def test_enumerations_come_from_the_contract_schemas() -> None:
    assert "street_outreach" in enum_values("participant.enrolled", "program_type")
    assert None not in enum_values("participant.enrolled", "risk_level")
    assert set(enum_values("referral.status_changed", "status")) >= {"accepted", "entered-in-error"}


def test_a_clean_batch_passes_and_its_result_is_kept(settings: Settings) -> None:
    verdict = verdict_of(settings, valid_events(settings, PROVIDER, 120), dead_letters=2)
    assert verdict.passed, verdict.failed
    assert (verdict.events, verdict.dead_letters) == (120, 2)
    document = orjson.loads(Path(verdict.result_path).read_bytes())
    assert set(document["suites"]) >= {"batch", "participant", "referral", "outcome"}


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
    assert failed_on(verdict_of(settings, [*events, reused]), "has_conflicting_copy")
    assert failed_on(verdict_of(settings, [*events, *events[:10]]), "is_resent_copy")


def test_times_outside_the_plausible_window_fail(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=4)
    events[0]["time"] = events[0]["time"].replace(year=1999)
    assert failed_on(verdict_of(settings, events), "expect_column_values_to_be_between(time)")
    events = valid_events(settings, PROVIDER, 30, seed=5)
    for event in events[:3]:
        event["time"] = LANDED_AT + timedelta(hours=2)  # ahead of landing: 10% of the batch
    assert failed_on(verdict_of(settings, events), "seconds_ahead_of_landing")


def _with_data(event: dict, **changes) -> dict:
    return {**event, "data": orjson.dumps({**orjson.loads(event["data"]), **changes}).decode()}


def test_a_referral_to_a_provider_not_in_the_directory_fails(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=6)
    i = next(i for i, e in enumerate(events) if e["type"] == "referral.requested")
    events[i] = _with_data(events[i], to_provider_id="nowhere-provider")
    assert failed_on(
        verdict_of(settings, events), "referral: expect_column_values_to_be_in_set(to_provider_id)"
    )


def test_values_the_contract_refuses_fail_their_family(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 30, seed=7)
    i = next(i for i, e in enumerate(events) if e["type"] == "outcome.recorded")
    events[i] = _with_data(events[i], domain="housing", status="employed_full_time")
    j = next(i for i, e in enumerate(events) if e["type"] == "participant.enrolled")
    events[j] = _with_data(events[j], gender="unknown-value", birth_year=1800)
    verdict = verdict_of(settings, events)
    assert failed_on(verdict, "outcome: expect_column_values_to_be_in_set(domain_status)")
    assert failed_on(verdict, "participant: expect_column_values_to_be_in_set(gender)")
    assert failed_on(verdict, "participant: expect_column_values_to_be_between(birth_year)")


def test_custody_events_only_from_providers_that_publish_them(settings: Settings) -> None:
    events = valid_events(settings, PROVIDER, 20, seed=8)
    events[0] = {
        **events[0],
        "type": "custody.admitted",
        "dataschema": "urn:continuum:schema:custody.admitted:1",
        "data": orjson.dumps({"facility_type": "jail", "admission_reason": "new_charge"}).decode(),
    }
    assert failed_on(
        verdict_of(settings, events), "custody_justice: expect_column_values_to_be_in_set(provider_id)"
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
    assert any("risk_level" in w for w in verdict.warnings)


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
