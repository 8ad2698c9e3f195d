"""What a provider sent that the network did not take: its rows of `provider_views.provider_not_accepted`
(messages the contract refused at landing, records validation held back), and nothing else. Every query
here is filtered by `provider_id` first; none reads a value of a message (the view has none)."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from continuum.web.warehouse import arrow, dict_rows, has_table

VIEW = "provider_views.provider_not_accepted"
TABLE_LIMIT = 100
COLUMNS = """
    received_at, outcome, stage, reason, detail, event_type, kafka_topic, kafka_partition, kafka_offset
"""


def by_reason(con: duckdb.DuckDBPyConnection, provider_id: str) -> list[dict]:
    """How many of the provider's messages were refused or held back, by outcome and reason."""
    if not has_table(con, "provider_views", "provider_not_accepted"):
        return []
    return dict_rows(
        con,
        f"select outcome, reason, count(*) as messages, max(received_at) as latest from {VIEW} "
        "where provider_id = ? group by all order by messages desc, outcome, reason",
        [provider_id],
    )


def latest(con: duckdb.DuckDBPyConnection, provider_id: str, limit: int = TABLE_LIMIT) -> list[dict]:
    if not has_table(con, "provider_views", "provider_not_accepted"):
        return []
    return dict_rows(
        con,
        f"select {COLUMNS} from {VIEW} where provider_id = ? "
        "order by received_at desc, kafka_topic, kafka_partition, kafka_offset limit ?",
        [provider_id, limit],
    )


def export(con: duckdb.DuckDBPyConnection, provider_id: str) -> pa.Table:
    return arrow(
        con,
        f"select {COLUMNS} from {VIEW} where provider_id = ? "
        "order by received_at, kafka_topic, kafka_partition, kafka_offset",
        [provider_id],
    )
