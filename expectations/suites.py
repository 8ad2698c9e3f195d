"""The suites, as code: one for the group of files as a whole and one per event family that has a check.

They check what no single message can show, and nothing the contract check already refused at landing
(enumerations, UUIDs, required and conditional fields, source/topic, dataschema/type, events more than
24 hours ahead: no landed row can break those). What is left:

- references to other events: an exit's enrollment, a status change's or a service's referral, an
  enrolment's referral (known in this run's files or in the warehouse), `to_provider_id` in the directory;
- who may send what: custody and justice events only from providers the directory says publish them;
- duplicates: an id reused for different content, a record id claimed by two events, re-sent copies;
- each file against itself and the provider's own history: rows beyond the offset span of its name, a
  file dominated by one timestamp, events ahead of landing, null shares, late share and volume against
  the provider's history.

Every expectation says in its meta whether it is a ROW rule (a failure holds back only the rows that
broke it; the rest of the file loads) or a BATCH rule (a failure holds the whole file). A file's figures
sit on its first row only (expectations/families.py), so a BATCH rule's unexpected rows name each
failing file once. Expectations with severity WARNING are reported and never hold anything.

Thresholds that depend on the run (the directory's providers) are suite parameters (`$PARAMETER`),
filled in per run by `run_parameters`, so the suites are built once per process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.row_conditions import Column

from expectations.families import BATCH_SUITE, MIN_HISTORY_BATCHES, MIN_ROWS_FOR_SHARES, enum_values

#: No single `time` value may hold more than this share of a file of at least MIN_ROWS_FOR_SHARES rows
#: (a bulk mis-load stamps every row with the load time or a default date). Real events of a partition
#: spread over hours or days; two events of one participant at one instant are common, half a file is not.
DOMINANCE_MAX_SHARE = 0.5
#: Re-sent copies (same source, id and content) in at most this share of a file: the contract keeps one,
#: but more than this is a provider replaying its feed.
MAX_RESENT_SHARE = 0.05
#: Events ahead of their landing time (clock skew) in at most this share of a file.
MAX_AHEAD_SHARE = 0.01
#: Events before this year are a default date or a typo (0001-01-01), never a real event of the network.
EARLIEST_YEAR = 2000
#: (warning) An optional field null in more than this share of a file's rows of its type.
MAX_NULL_SHARE = 0.9
#: (warning) A file's share of late events more than this above the provider's own history ...
MAX_LATE_SHARE_ABOVE_HISTORY = 0.5
#: ... or a file more than this many times the provider's largest loaded batch.
MAX_VOLUME_TO_HISTORY = 10.0

WARNING = FailureSeverity.WARNING
ROW, BATCH = "row", "batch"

__all__ = [
    "BATCH",
    "ROW",
    "SUITE_BUILDERS",
    "build_suite",
    "enum_values",
    "level_of",
    "run_parameters",
    "suite_name",
    "MIN_HISTORY_BATCHES",
]


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


def _row(expectation: type[gxe.Expectation], **kwargs: Any) -> gxe.Expectation:
    return expectation(meta={"level": ROW}, **kwargs)


def _batch(expectation: type[gxe.Expectation], **kwargs: Any) -> gxe.Expectation:
    return expectation(meta={"level": BATCH}, **kwargs)


def _at_most(column: str, limit: float, level: str = BATCH, **kwargs: Any) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(column=column, max_value=limit, meta={"level": level}, **kwargs)


def _is_false(column: str, level: str = ROW, **kwargs: Any) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[False], meta={"level": level}, **kwargs)


def level_of(config: dict[str, Any]) -> str:
    """ROW or BATCH, from an expectation's configuration as GX reports it."""
    return (config.get("meta") or {}).get("level", BATCH)


def batch_expectations() -> list[gxe.Expectation]:
    big_enough = {"row_condition": Column("batch_rows") >= MIN_ROWS_FOR_SHARES}
    return [
        # Rows: a default date, and an id reused for other content (staging would silently drop one).
        _row(gxe.ExpectColumnValuesToBeBetween, column="time_year", min_value=EARLIEST_YEAR),
        _is_false("has_conflicting_copy"),
        # The file against its own name: anything else is a landing bug or a file changed by hand.
        _at_most("rows_beyond_offset_span", 0),
        _at_most("offsets_outside_name", 0),
        _at_most("repeated_offsets", 0),
        _at_most("rows_of_another_partition", 0),
        # The file as a whole.
        _at_most("resent_share", MAX_RESENT_SHARE),
        _at_most("ahead_share", MAX_AHEAD_SHARE),
        _at_most("max_time_value_share", DOMINANCE_MAX_SHARE, **big_enough),
        # Informational: late data is normal (data entry lags) but funders' numbers move with it.
        _at_most("late_share_above_history", MAX_LATE_SHARE_ABOVE_HISTORY, severity=WARNING),
        _at_most("volume_to_history_max", MAX_VOLUME_TO_HISTORY, severity=WARNING),
        _at_most("missing_kafka_timestamps", 0, severity=WARNING),
    ]


def _references(*columns: str) -> list[gxe.Expectation]:
    # Warnings: events of one participant come from several providers and may arrive out of order (a
    # status change before its referral), so an unknown reference is a signal, not a reason to hold.
    return [_at_most(c, 0, severity=WARNING) for c in columns]


def _reused(*id_fields: str) -> list[gxe.Expectation]:
    # Warnings: two events claiming one record (say, two enrolments with one enrollment_id) is a
    # provider's bug that staging's keys surface; each event is still what the provider sent.
    return [_at_most(f"{f}s_reused", 0, severity=WARNING) for f in id_fields]


def _null_shares(*columns: str) -> list[gxe.Expectation]:
    # Warnings: the contract allows nulls and some providers never collect a field.
    return [_at_most(f"{c}_null_share", MAX_NULL_SHARE, severity=WARNING) for c in columns]


def participant_expectations() -> list[gxe.Expectation]:
    return [
        *_references("exits_of_unknown_enrollments", "enrolments_of_unknown_referrals"),
        *_reused("enrollment_id"),
        *_null_shares("risk_level", "birth_year", "zip3"),
    ]


def consent_expectations() -> list[gxe.Expectation]:
    return _reused("consent_id")


def referral_expectations() -> list[gxe.Expectation]:
    return [
        _row(
            gxe.ExpectColumnValuesToBeInSet,
            column="to_provider_id",
            value_set=_param("directory_provider_ids"),
        ),
        *_references("changes_of_unknown_referrals"),
        *_reused("referral_id"),
    ]


def service_expectations() -> list[gxe.Expectation]:
    return [
        *_references("services_of_unknown_referrals"),
        *_reused("service_id"),
        *_null_shares("duration_minutes"),
    ]


def incident_expectations() -> list[gxe.Expectation]:
    return _reused("incident_id")


def custody_justice_expectations() -> list[gxe.Expectation]:
    # The directory says which providers publish custody and justice events at all.
    return [
        _row(gxe.ExpectColumnValuesToBeInSet, column="provider_id", value_set=_param("custody_provider_ids"))
    ]


#: The suites; outcome.recorded has none: the contract ties each status to its domain already.
SUITE_BUILDERS = {
    BATCH_SUITE: batch_expectations,
    "participant": participant_expectations,
    "consent": consent_expectations,
    "referral": referral_expectations,
    "service": service_expectations,
    "incident": incident_expectations,
    "custody_justice": custody_justice_expectations,
}


def suite_name(family: str) -> str:
    return f"continuum.{family}"


def build_suite(family: str) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=suite_name(family),
        expectations=SUITE_BUILDERS[family](),
        meta={"built_from": "expectations/suites.py"},
    )


def run_parameters(directory_ids: Iterable[str], custody_ids: Iterable[str]) -> dict[str, Any]:
    return {
        "directory_provider_ids": sorted(directory_ids),
        "custody_provider_ids": sorted(custody_ids),
    }
