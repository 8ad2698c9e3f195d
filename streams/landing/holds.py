"""Partitions held because one of their records could not be landed, and the operator's way out.

A record the lander cannot land for a reason nobody foresaw (the contract check or the table building
raises on it) holds its partition only: the records before it are landed, nothing from it on is, and every
other partition keeps landing. The hold is written to the landing zone (`landing/holds/`, files.py), so
`continuum status` shows it and a restarted lander keeps holding the partition instead of failing on the
same record again. An operator releases it with `continuum land`:

- `--skip-offset TOPIC:PARTITION:OFFSET`: that record is dead-lettered as `unreadable_record` (stage
  `operator`, the detail says who skipped it and when) with its key, value and headers, and the partition
  lands on;
- `--release TOPIC:PARTITION`: the record is tried again (after a fix of the lander, say).

Both are written to `landing/operator-actions.jsonl` (who, when, what, and the hold they ended).
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from kafka import TopicPartition

from streams.landing import files
from streams.landing.offsets import resume_points

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartitionHold:
    topic: str
    partition: int
    epoch: int
    #: The record that could not be landed: every offset before it is landed, none from it on.
    offset: int
    #: Where it failed: `check` (the contract check or the tables of its batch).
    stage: str
    error: str
    held_at: str

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def describe(self) -> str:
        name, offset = f"{self.topic}:{self.partition}", self.offset
        return (
            f"{self.topic}[{self.partition}] held at offset {offset} (stage {self.stage}): {self.error}. "
            f"Nothing from that offset on is landed until `continuum land --skip-offset {name}:{offset}` "
            f"dead-letters that record, or `continuum land --release {name}` tries it again"
        )


def new_hold(
    topic: str, partition: int, epoch: int, offset: int, stage: str, error: BaseException
) -> PartitionHold:
    text = f"{type(error).__name__}: {error}"
    return PartitionHold(topic, partition, epoch, offset, stage, text[:2000], _now())


def save_hold(landing_dir: Path, hold: PartitionHold) -> None:
    path = files.hold_path(landing_dir, hold.topic, hold.partition)
    files.write_bytes_durably(orjson.dumps(asdict(hold), option=orjson.OPT_INDENT_2), path)


def load_holds(landing_dir: Path) -> dict[TopicPartition, PartitionHold]:
    holds = {}
    for path in files.hold_paths(landing_dir):
        hold = PartitionHold(**orjson.loads(path.read_bytes()))
        holds[hold.tp] = hold
    return holds


class OperatorRequestRefused(ValueError):
    """A --skip-offset or --release that cannot be done as asked (the message says why)."""


def parse_partition(text: str) -> TopicPartition:
    """`TOPIC:PARTITION` (topic names cannot hold a colon)."""
    topic, _, partition = text.rpartition(":")
    if not topic or not partition.isdigit():
        raise OperatorRequestRefused(f"{text!r}: expected TOPIC:PARTITION, e.g. providers.okc-gvi.events:0")
    return TopicPartition(topic, int(partition))


def parse_offset(text: str) -> tuple[TopicPartition, int]:
    """`TOPIC:PARTITION:OFFSET`."""
    partition, _, offset = text.rpartition(":")
    if not offset.isdigit():
        raise OperatorRequestRefused(
            f"{text!r}: expected TOPIC:PARTITION:OFFSET, e.g. providers.okc-gvi.events:0:1234"
        )
    return parse_partition(partition), int(offset)


def apply_operator_requests(
    landing_dir: Path,
    quarantine_dir: Path,
    releases: list[TopicPartition],
    skips: list[tuple[TopicPartition, int]],
) -> dict[TopicPartition, dict[int, str]]:
    """End the holds the operator released or skipped past, and record who did what. Run under the
    landing zone's lock, before any lander starts. Returns, per partition, the offsets to dead-letter in
    this run with the detail their dead letter gets."""
    if not releases and not skips:
        return {}
    holds = load_holds(landing_dir)
    points = resume_points(landing_dir, quarantine_dir)
    who, when = _operator(), _now()
    for tp in releases:
        hold = holds.pop(tp, None)
        if hold is None:
            log.warning(
                "--release %s:%d: the partition is not held; nothing to release", tp.topic, tp.partition
            )
            continue
        _record(landing_dir, tp, hold, {"action": "release", "by": who, "at": when})
        log.warning(
            "%s:%d released by %s: offset %d is tried again", tp.topic, tp.partition, who, hold.offset
        )
    skip_details: dict[TopicPartition, dict[int, str]] = {}
    for tp, offset in skips:
        next_offset = points[tp].next_offset if tp in points else 0
        if offset < next_offset:
            raise OperatorRequestRefused(
                f"--skip-offset {tp.topic}:{tp.partition}:{offset}: that offset is landed already (the "
                f"partition resumes at {next_offset}); nothing was changed"
            )
        hold = holds.pop(tp, None)
        detail = f"skipped by {who} at {when} (continuum land --skip-offset)"
        if hold is not None and hold.offset == offset:
            detail += f"; the partition was held at this record: {hold.error}"
        _record(landing_dir, tp, hold, {"action": "skip", "offset": offset, "by": who, "at": when})
        skip_details.setdefault(tp, {})[offset] = detail
        log.warning(
            "%s:%d offset %d is dead-lettered in this run: %s", tp.topic, tp.partition, offset, detail
        )
    return skip_details


def _record(landing_dir: Path, tp: TopicPartition, hold: PartitionHold | None, action: dict) -> None:
    """Record the action (with the hold it ends) first, then remove the hold: a crash in between leaves
    the partition held, never released without a record."""
    record = {**action, "topic": tp.topic, "partition": tp.partition, "hold": hold and asdict(hold)}
    files.append_line_durably(orjson.dumps(record).decode(), landing_dir / files.OPERATOR_ACTIONS)
    if hold is not None:
        files.hold_path(landing_dir, tp.topic, tp.partition).unlink(missing_ok=True)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "unknown user"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
