"""The suites, as code: one for the batch as a whole and one per event family.

What the landing validator already refuses message by message (enumerations, ranges, formats) is
checked again here on purpose: these suites also guard against a landing bug or a contract drift, and
they add what a single message cannot show: duplicates within the batch, a batch stamped with one
timestamp, null shares, offsets that do not match the file name, referrals to unknown providers.

Thresholds that depend on the batch (its offsets, its size) are suite parameters (`$PARAMETER`),
filled in per run by `batch_parameters`/`family_parameters`, so the suites are built once per process.
Expectations with severity WARNING are reported in the result but never quarantine a batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.row_conditions import Column

from expectations.families import BATCH_SUITE, FAMILIES, enum_values
from streams.contract import EVENT_TYPES, MAX_FUTURE

#: Batches with at least this many rows must not be dominated by one `time` value ...
DOMINANCE_MIN_ROWS = 20
#: ... i.e. no single `time` value may hold more than this share of the batch (a bulk mis-load that
#: stamps every row with the load time or a default date). Real events of a partition are spread over
#: hours or days; two events of one participant at the same instant are common, half a batch is not.
DOMINANCE_MAX_SHARE = 0.5
#: Re-sent copies of an event (same source, id and content) are tolerated in at most this share of a
#: batch: the contract keeps one copy, but more than this is a provider replaying its feed.
MAX_RESENT_SHARE = 0.05
#: Null shares are judged only on at least this many rows of the type (a handful can be null by chance).
NULL_SHARE_MIN_ROWS = 20
#: An optional field may be null in at most this share of rows: a provider whose export stopped filling
#: it (a broken mapping) sends nulls everywhere. A WARNING, not a gate: some providers never collect
#: a field (the contract allows null), and quarantining all their batches would help nobody.
MAX_NULL_SHARE = 0.9
#: Events ahead of their landing time (clock skew) are tolerated in at most this share of a batch;
#: the contract's hard limit (24 hours ahead) is checked on every row.
MAX_AHEAD_SHARE = 0.01
EARLIEST_TIME = pd.Timestamp("2000-01-01T00:00:00Z")
UUID_REGEX = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SUBJECT_REGEX = r"^[0-9a-f]{64}$"
LATE_DAYS = 7

WARNING = FailureSeverity.WARNING


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


def _when(event_type: str) -> dict[str, Any]:
    return {"row_condition": Column("type") == event_type}


def _in_contract_set(event_type: str, column: str) -> gxe.Expectation:
    # No row condition: GX skips nulls, and a field of one type is null on the rows of the others.
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(enum_values(event_type, column)))


def _required(event_types: tuple[str, ...] | None, *columns: str) -> list[gxe.Expectation]:
    """Not null on the rows of `event_types` (None: on every row of the family)."""
    when = {"row_condition": Column("type").is_in(event_types)} if event_types else {}
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, **when) for c in columns]


def _uuids(*columns: str) -> list[gxe.Expectation]:
    return [gxe.ExpectColumnValuesToMatchRegex(column=c, regex=UUID_REGEX) for c in columns]


def _null_share(event_type: str, column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column,
        mostly=_param(f"mostly_not_null_{event_type.replace('.', '_')}"),
        severity=WARNING,
        **_when(event_type),
    )


def batch_expectations() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=0, max_value=_param("offset_span")),
        gxe.ExpectColumnValuesToBeInSet(column="has_conflicting_copy", value_set=[False]),
        gxe.ExpectColumnValuesToBeInSet(
            column="is_resent_copy", value_set=[False], mostly=1 - MAX_RESENT_SHARE
        ),
        gxe.ExpectColumnValuesToBeUnique(column="kafka_offset"),
        gxe.ExpectColumnValuesToBeBetween(
            column="kafka_offset", min_value=_param("first_offset"), max_value=_param("last_offset")
        ),
        gxe.ExpectColumnValuesToBeInSet(column="kafka_topic", value_set=_param("topics")),
        gxe.ExpectColumnValuesToBeInSet(column="kafka_partition", value_set=_param("partitions")),
        gxe.ExpectColumnValuesToBeInSet(column="specversion", value_set=["1.0"]),
        gxe.ExpectColumnValuesToBeInSet(column="type", value_set=list(EVENT_TYPES)),
        gxe.ExpectColumnValuesToMatchRegex(column="id", regex=UUID_REGEX),
        gxe.ExpectColumnValuesToMatchRegex(column="subject", regex=SUBJECT_REGEX),
        gxe.ExpectColumnValuesToBeInSet(column="source_matches_topic", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="dataschema_matches_type", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="provider_id", value_set=_param("provider_ids")),
        gxe.ExpectColumnValuesToNotBeNull(column="landed_at"),
        # Row-wise rather than min/max expectations: an empty batch (only dead letters) passes them.
        gxe.ExpectColumnValuesToBeBetween(column="time", min_value=EARLIEST_TIME.to_pydatetime()),
        gxe.ExpectColumnValuesToBeBetween(
            column="seconds_ahead_of_landing", max_value=MAX_FUTURE.total_seconds()
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="seconds_ahead_of_landing", max_value=0, mostly=1 - MAX_AHEAD_SHARE
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="time_value_share", max_value=_param("max_time_value_share")
        ),
        # Informational: late data is normal (data entry lags) but funders' numbers move with it.
        gxe.ExpectColumnValuesToBeBetween(
            column="days_late", max_value=LATE_DAYS, mostly=0.5, severity=WARNING
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="kafka_timestamp", severity=WARNING),
    ]


def participant_expectations() -> list[gxe.Expectation]:
    enrolled, exited = FAMILIES["participant"]
    return [
        *_required(None, "enrollment_id"),
        *_required((enrolled,), "program_type", "gender"),
        *_required((exited,), "exit_reason"),
        *_uuids("enrollment_id", "referral_id"),
        *(_in_contract_set(enrolled, c) for c in ("program_type", "risk_level", "gender")),
        _in_contract_set(exited, "exit_reason"),
        gxe.ExpectColumnValuesToBeBetween(column="birth_year", min_value=1900, max_value=2026),
        gxe.ExpectColumnValuesToMatchRegex(column="zip3", regex=r"^[0-9]{3}$"),
        gxe.ExpectColumnValuesToBeBetween(column="race_ethnicity_unknown_values", max_value=0),
        *(_null_share(enrolled, c) for c in ("risk_level", "birth_year", "zip3")),
    ]


def consent_expectations() -> list[gxe.Expectation]:
    granted, _revoked = FAMILIES["consent"]  # both types have the same fields
    return [
        *_required(None, "consent_id", "scope", "part2"),
        *_uuids("consent_id"),
        _in_contract_set(granted, "scope"),
        gxe.ExpectColumnValuesToBeInSet(column="part2", value_set=[True, False]),
    ]


def referral_expectations() -> list[gxe.Expectation]:
    requested, changed = FAMILIES["referral"]
    needs_reason = ("rejected", "on-hold", "failed", "cancelled")
    return [
        *_required(None, "referral_id"),
        *_required((requested,), "to_provider_id", "service_type", "priority", "contact_prohibited"),
        *_required((changed,), "status"),
        *_uuids("referral_id"),
        gxe.ExpectColumnValuesToBeInSet(column="to_provider_id", value_set=_param("directory_provider_ids")),
        *(_in_contract_set(requested, c) for c in ("service_type", "priority")),
        gxe.ExpectColumnValuesToBeInSet(column="contact_prohibited", value_set=[True, False]),
        *(_in_contract_set(changed, c) for c in ("status", "status_reason")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="status_reason",
            row_condition=(Column("type") == changed) & Column("status").is_in(needs_reason),
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="status_reason",
            row_condition=(Column("type") == changed) & Column("status").is_not_in(needs_reason),
        ),
    ]


def service_expectations() -> list[gxe.Expectation]:
    (delivered,) = FAMILIES["service"]
    return [
        *_required(None, "service_id", "service_type"),
        *_uuids("service_id", "referral_id"),
        _in_contract_set(delivered, "service_type"),
        gxe.ExpectColumnValuesToBeBetween(column="duration_minutes", min_value=1, max_value=1440),
        _null_share(delivered, "duration_minutes"),
    ]


def incident_expectations() -> list[gxe.Expectation]:
    (recorded,) = FAMILIES["incident"]
    mediated = Column("incident_type") == "conflict_mediated"
    return [
        *_required(None, "incident_id", "incident_type", "role"),
        *_uuids("incident_id"),
        *(_in_contract_set(recorded, c) for c in ("incident_type", "role", "outcome")),
        gxe.ExpectColumnValuesToNotBeNull(column="outcome", row_condition=mediated),
        gxe.ExpectColumnValuesToBeNull(
            column="outcome", row_condition=Column("incident_type") != "conflict_mediated"
        ),
    ]


def custody_justice_expectations() -> list[gxe.Expectation]:
    admitted, released, arrested = FAMILIES["custody_justice"]
    return [
        # The directory says which providers publish custody and justice events at all.
        gxe.ExpectColumnValuesToBeInSet(column="provider_id", value_set=_param("custody_provider_ids")),
        *_required((admitted, released), "facility_type"),
        *_required((admitted,), "admission_reason"),
        *_required((released,), "release_reason"),
        *_required((arrested,), "charge_category"),
        *(_in_contract_set(admitted, c) for c in ("facility_type", "admission_reason")),
        _in_contract_set(released, "release_reason"),
        _in_contract_set(arrested, "charge_category"),
    ]


#: Valid `domain:status` pairs of outcome.recorded (the contract ties each status to its domain).
OUTCOME_STATUSES = {
    "employment": ("employed_full_time", "employed_part_time", "unemployed"),
    "housing": ("stable", "transitional", "homeless"),
    "education": ("enrolled", "credential_earned", "not_enrolled"),
}


def outcome_expectations() -> list[gxe.Expectation]:
    (recorded,) = FAMILIES["outcome"]
    pairs = [f"{domain}:{status}" for domain, statuses in OUTCOME_STATUSES.items() for status in statuses]
    return [
        *_required(None, "domain", "status"),
        _in_contract_set(recorded, "domain"),
        gxe.ExpectColumnValuesToBeInSet(column="domain_status", value_set=pairs),
    ]


SUITE_BUILDERS = {
    BATCH_SUITE: batch_expectations,
    "participant": participant_expectations,
    "consent": consent_expectations,
    "referral": referral_expectations,
    "service": service_expectations,
    "incident": incident_expectations,
    "custody_justice": custody_justice_expectations,
    "outcome": outcome_expectations,
}


def suite_name(family: str) -> str:
    return f"continuum.{family}"


def build_suite(family: str) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=suite_name(family),
        expectations=SUITE_BUILDERS[family](),
        meta={"built_from": "expectations/suites.py"},
    )


def batch_parameters(
    frame: pd.DataFrame,
    topic: str,
    partition: int,
    first_offset: int,
    last_offset: int,
    directory_ids: Iterable[str],
) -> dict[str, Any]:
    dominance = DOMINANCE_MAX_SHARE if len(frame) >= DOMINANCE_MIN_ROWS else 1.0
    return {
        "offset_span": last_offset - first_offset + 1,
        "first_offset": first_offset,
        "last_offset": last_offset,
        "topics": [topic],
        "partitions": [partition],
        "provider_ids": sorted(directory_ids),
        "max_time_value_share": dominance,
    }


def family_parameters(
    frame: pd.DataFrame, family: str, directory_ids: Iterable[str], custody_ids: Iterable[str]
) -> dict[str, Any]:
    counts = frame["type"].value_counts()
    params: dict[str, Any] = {
        "directory_provider_ids": sorted(directory_ids),
        "custody_provider_ids": sorted(custody_ids),
    }
    for event_type in FAMILIES[family]:
        enough = counts.get(event_type, 0) >= NULL_SHARE_MIN_ROWS
        params[f"mostly_not_null_{event_type.replace('.', '_')}"] = 1 - MAX_NULL_SHARE if enough else 0.0
    return params
