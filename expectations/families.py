"""Event families and the DataFrames the suites run on.

A landed batch holds the events of one topic partition, of every type. The batch suite runs on the
envelope columns of all rows; each family suite runs on the rows of its types, with their `data` JSON
parsed into one column per field, plus a few derived columns that let plain GX expectations say
things about the batch as a whole (the share of rows holding the same `time`, for instance).
"""

from __future__ import annotations

from functools import cache

import orjson
import pandas as pd

from common.names import provider_of_topic
from streams.contract import enum_values, load_schema

#: Family name -> the event types it covers, in the order of the event contract.
FAMILIES: dict[str, tuple[str, ...]] = {
    "participant": ("participant.enrolled", "participant.exited"),
    "consent": ("consent.granted", "consent.revoked"),
    "referral": ("referral.requested", "referral.status_changed"),
    "service": ("service.delivered",),
    "incident": ("incident.recorded",),
    "custody_justice": ("custody.admitted", "custody.released", "justice.arrested"),
    "outcome": ("outcome.recorded",),
}

#: The suite that runs on every row of a batch (envelope and lineage), beside the family suites.
BATCH_SUITE = "batch"


def family_of(event_type: str) -> str | None:
    for family, types in FAMILIES.items():
        if event_type in types:
            return family
    return None


@cache
def data_fields(family: str) -> tuple[str, ...]:
    """The `data` fields of the family's types, in contract order, without repeats."""
    fields: dict[str, None] = {}
    for event_type in FAMILIES[family]:
        fields.update(dict.fromkeys(load_schema(event_type)["properties"]["data"]["properties"]))
    return tuple(fields)


def batch_frame(events: pd.DataFrame) -> pd.DataFrame:
    """The envelope and lineage columns of every row, with the columns the batch suite derives."""
    frame = events.drop(columns=["data"])
    frame["provider_id"] = frame["kafka_topic"].map(provider_of_topic)
    frame["expected_source"] = "urn:continuum:provider:" + frame["provider_id"].fillna("")
    frame["source_matches_topic"] = frame["source"] == frame["expected_source"]
    frame["dataschema_matches_type"] = frame["dataschema"] == "urn:continuum:schema:" + frame["type"] + ":1"
    # Seconds by which an event's time is ahead of its landing: > 0 means "in the future when landed".
    frame["seconds_ahead_of_landing"] = (frame["time"] - frame["landed_at"]).dt.total_seconds()
    frame["days_late"] = (frame["landed_at"] - frame["time"]).dt.total_seconds() / 86_400
    # A re-sent copy (same source, id and content) is normal at a low rate: the contract keeps one.
    # The same source and id with other content is a provider reusing ids: staging would drop one.
    content = ["source", "id", "type", "time", "subject", "data"]
    frame["is_resent_copy"] = events.duplicated(content, keep="first")
    versions = events.drop_duplicates(content).groupby(["source", "id"])["data"].transform("size")
    frame["has_conflicting_copy"] = frame.index.isin(versions[versions > 1].index)
    # Share of the batch holding the same `time` as this row: a bulk mis-load stamps many rows alike.
    frame["time_value_share"] = frame.groupby("time")["time"].transform("size") / max(len(frame), 1)
    return frame.drop(columns=["expected_source"])


def family_frame(events: pd.DataFrame, family: str) -> pd.DataFrame:
    """The rows of `family`, one column per `data` field (union over the family's types)."""
    rows = events[events["type"].isin(FAMILIES[family])]
    data = pd.DataFrame.from_records([orjson.loads(d) for d in rows["data"]], index=rows.index)
    # Every field of every type of the family is a column, even when no row of that type is here.
    data = data.reindex(columns=list(data_fields(family)))
    frame = pd.concat([rows[["id", "type", "time", "kafka_topic"]], data], axis=1)
    frame["provider_id"] = frame["kafka_topic"].map(provider_of_topic)
    if "race_ethnicity" in frame:
        allowed = set(enum_values("participant.enrolled", "race_ethnicity"))
        # Lists do not fit GX's column expectations: count the values outside the contract instead.
        frame["race_ethnicity_unknown_values"] = frame["race_ethnicity"].map(
            lambda values: sum(v not in allowed for v in values) if isinstance(values, list) else 0
        )
        frame = frame.drop(columns=["race_ethnicity"])
    if family == "outcome" and len(frame):
        frame["domain_status"] = frame["domain"] + ":" + frame["status"]
    return frame
