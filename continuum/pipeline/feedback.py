"""Feedback on held-back records (contract v1.1): each record the pipeline's validation held back is told
to its provider on `providers.<id>.feedback`, as the lander tells it of each refused message.

`raw.held_records.feedback_sent_at` says which were told: a run sends what no earlier run could (the
broker was down, say), and marks it; a crash between the send and the mark sends it again (at least
once, like the dead-letter topic)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import duckdb
from kafka.errors import KafkaError

from common.settings import Settings
from streams.feedback import Feedback, send_feedback

log = logging.getLogger(__name__)

#: `error.stage` and `error.reason` of a record held back by the pipeline's validation (the rules it
#: broke are its detail).
HELD_STAGE = "expectations"
HELD_REASON = "held_back"

_UNTOLD = """
SELECT kafka_topic, kafka_partition, kafka_offset, held_by, held_at
FROM raw.held_records WHERE feedback_sent_at IS NULL AND released_at IS NULL
ORDER BY held_at, kafka_topic, kafka_partition, kafka_offset
"""


def tell_providers_of_held_records(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Send the feedback not sent yet; returns how many were sent. A broker that does not answer leaves
    them for the next run (logged), never failing the run: the records are held either way."""
    rows = con.execute(_UNTOLD).fetchall()
    if not rows:
        return 0
    feedback = [
        Feedback(
            topic,
            partition,
            offset,
            HELD_STAGE,
            HELD_REASON,
            f"held back by the network's validation: {held_by}",
            held_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        for topic, partition, offset, held_by, held_at in rows
    ]
    try:
        sent = send_feedback(settings, feedback)
    except KafkaError as error:
        log.warning(
            "feedback on %d held-back records not sent (%s): the next run tries again", len(rows), error
        )
        return 0
    # Those read above: nothing else writes the warehouse meanwhile (DuckDB has one writer process).
    con.execute(
        "UPDATE raw.held_records SET feedback_sent_at = ? "
        "WHERE feedback_sent_at IS NULL AND released_at IS NULL AND held_at <= ?",
        [datetime.now(UTC), max(r[4] for r in rows)],
    )
    log.info("told providers of %d held-back records (%d to an existing feedback topic)", len(rows), sent)
    return sent
