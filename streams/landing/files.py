"""The landing zone's layout, Parquet schemas and commit protocol, as functions of a directory. Readers
use them through `zone.LandingZone`, which adds an index so that a listing does not walk the whole tree;
the lander commits with them directly.

A *batch* is a run of offsets `first..last` of one topic partition. Every offset of the run is in
exactly one of the batch's two files, both named `<topic>+<partition>+<first>+<last>.parquet`
(zero-padded so that names sort by offset, the pattern of Kafka Connect's HDFS/S3 sinks):

    landing/events/<topic>/<partition>/<name>        valid events (always written, maybe with 0 rows)
    landing/dead_letters/<topic>/<partition>/<name>  refused messages (only when the batch had some)

A partition whose offsets started again (a topic deleted and recreated, or a broker that lost its log)
gets a new *epoch*: its next life is landed as `<topic>+<partition>+e<epoch>+<first>+<last>.parquet`
(epoch 0, the first life, carries no epoch in its name), so files of an earlier life are never written
over and names still sort by (epoch, offset). See docs/landing.md.

Partitions the lander holds because a record could not be landed (holds.py) are recorded as

    landing/holds/<topic>+<partition>.json           why, and from which offset (removed on release)
    landing/operator-actions.jsonl                   every release and skip: who, when, what

Commit protocol: both files are written under `.tmp` names and fsynced; the dead-letter file is renamed
first, the events file last. The events file's rename is the batch's commit: a dead-letter file without
its events file is the leftover of a crash between the two renames and is removed by `recover`, like any
`.tmp` file. The landing zone, not Kafka's committed offsets, says where each partition resumes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from common.files import commit as atomic_commit
from common.files import temporary_path, write_atomically

EVENTS = "events"
DEAD_LETTERS = "dead_letters"
TMP_SUFFIX = ".tmp"  # the temporary name of common/files.py, which the commits below go through

#: A batch that fails validation is moved by the pipeline to `quarantine/<batch name>/`, as these files.
QUARANTINED_EVENTS = "events.parquet"
QUARANTINED_DEAD_LETTERS = "dead_letters.parquet"

_UTC_TS = pa.timestamp("us", tz="UTC")

#: Lineage columns, the same in both kinds of file.
LINEAGE_FIELDS = [
    pa.field("kafka_topic", pa.string(), nullable=False),
    pa.field("kafka_partition", pa.int32(), nullable=False),
    pa.field("kafka_offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp", _UTC_TS),
    pa.field("landed_at", _UTC_TS, nullable=False),
]

#: A landed event: the CloudEvent's attributes (time in UTC), `data` as JSON text, then lineage.
EVENTS_SCHEMA = pa.schema(
    [
        pa.field("specversion", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("time", _UTC_TS, nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("dataschema", pa.string(), nullable=False),
        pa.field("datacontenttype", pa.string()),
        pa.field("data", pa.string(), nullable=False),
        *LINEAGE_FIELDS,
    ]
)

#: A refused message: its original key, value and headers, and why (the dead-letter headers' values).
DEAD_LETTERS_SCHEMA = pa.schema(
    [
        pa.field("provider_id", pa.string()),  # from the topic name; null if the topic names none
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("headers", pa.string()),  # the original headers as a JSON object of base64 values
        pa.field("error_stage", pa.string(), nullable=False),
        pa.field("error_reason", pa.string(), nullable=False),
        pa.field("error_detail", pa.string(), nullable=False),
        *LINEAGE_FIELDS,
    ]
)

HOLDS = "holds"
OPERATOR_ACTIONS = "operator-actions.jsonl"

_NAME = re.compile(
    r"(?P<topic>.+)\+(?P<partition>\d+)\+(?:e(?P<epoch>\d{4,})\+)?(?P<first>\d{20})\+(?P<last>\d{20})\.parquet"
)


@dataclass(frozen=True, slots=True, order=True)
class LandedBatch:
    """A committed batch: offsets first..last of one partition."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    events_path: Path
    dead_letters_path: Path | None
    #: The partition's life: 0 until its offsets start again (see the module's docstring).
    epoch: int = 0

    @property
    def name(self) -> str:
        return self.events_path.name


class BatchId(NamedTuple):
    """What a batch file's name says."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    epoch: int


def batch_name(topic: str, partition: int, first_offset: int, last_offset: int, epoch: int = 0) -> str:
    life = f"e{epoch:04d}+" if epoch else ""
    return f"{topic}+{partition}+{life}{first_offset:020d}+{last_offset:020d}.parquet"


def batch_path(
    landing_dir: Path, kind: str, topic: str, partition: int, first: int, last: int, epoch: int = 0
) -> Path:
    return landing_dir / kind / topic / str(partition) / batch_name(topic, partition, first, last, epoch)


def parse_batch_id(name: str) -> BatchId | None:
    match = _NAME.fullmatch(name)
    if not match:
        return None
    return BatchId(
        match["topic"],
        int(match["partition"]),
        int(match["first"]),
        int(match["last"]),
        int(match["epoch"] or 0),
    )


def parse_batch_name(name: str) -> tuple[str, int, int, int] | None:
    """(topic, partition, first, last) of a batch file name; `parse_batch_id` also gives the epoch."""
    parsed = parse_batch_id(name)
    return None if parsed is None else parsed[:4]


#: Columns whose min/max statistics nobody reads (ids, payloads): not computing them saves a tenth of
#: the Parquet writing time.
_NO_STATISTICS = frozenset({"id", "subject", "data", "key", "value", "headers", "error_detail"})


def write_table_durably(table: pa.Table, final_path: Path) -> Path:
    """Write `table` to `<final_path>.tmp` and fsync it; returns the temporary path (not yet committed:
    the batch's commit renames its files in a set order, see the module's docstring)."""
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = temporary_path(final_path)
    statistics = [name for name in table.schema.names if name not in _NO_STATISTICS]
    with open(tmp_path, "wb") as f:
        pq.write_table(table, f, compression="zstd", write_statistics=statistics)
        f.flush()
        os.fsync(f.fileno())
    return tmp_path


def commit(tmp_path: Path) -> Path:
    """Rename a fsynced temporary file to its final name and fsync the directory: the commit."""
    return atomic_commit(tmp_path, tmp_path.with_name(tmp_path.name.removesuffix(TMP_SUFFIX)))


def hold_path(landing_dir: Path, topic: str, partition: int) -> Path:
    return landing_dir / HOLDS / f"{topic}+{partition}.json"


def hold_paths(landing_dir: Path) -> list[Path]:
    return sorted((landing_dir / HOLDS).glob("*.json"))


def write_bytes_durably(data: bytes, final_path: Path) -> Path:
    """Write `data` under a temporary name, fsync, rename and fsync the directory: the file is either
    the old one or the new one after a crash, never half of one."""
    return write_atomically(final_path, data)


def append_line_durably(line: str, path: Path) -> None:
    """Append one line to a log file and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def _batch(batch_id: BatchId, events_path: Path, dead_letters_path: Path) -> LandedBatch:
    dead_letters = dead_letters_path if dead_letters_path.exists() else None
    topic, partition, first, last, epoch = batch_id
    return LandedBatch(topic, partition, first, last, events_path, dead_letters, epoch)


def committed_batches(landing_dir: Path) -> list[LandedBatch]:
    """Every committed batch, sorted by topic, partition, epoch and offset. Never lists `.tmp` files."""
    batches = [
        _batch(batch_id, events_path, batch_path(landing_dir, DEAD_LETTERS, *batch_id))
        for events_path in (landing_dir / EVENTS).glob("*/*/*.parquet")
        if (batch_id := parse_batch_id(events_path.name)) is not None
    ]
    return sorted(batches, key=lambda b: (b.topic, b.partition, b.epoch, b.first_offset, b.last_offset))


def quarantined_batches(quarantine_dir: Path) -> list[LandedBatch]:
    """Batches the pipeline moved to quarantine. Their offsets were landed: a lander that forgot them
    would land them a second time."""
    return [
        _batch(batch_id, events_path, events_path.with_name(QUARANTINED_DEAD_LETTERS))
        for events_path in quarantine_dir.glob(f"*/{QUARANTINED_EVENTS}")
        if (batch_id := parse_batch_id(events_path.parent.name)) is not None
    ]


def recover(landing_dir: Path) -> list[Path]:
    """Remove what a crash left uncommitted: `.tmp` files and dead-letter files without their events
    file. Returns the paths removed. Run before reading offsets on start."""
    removed = list((landing_dir).glob(f"*/*/*/*{TMP_SUFFIX}"))
    for dead_letters_path in (landing_dir / DEAD_LETTERS).glob("*/*/*.parquet"):
        parsed = parse_batch_id(dead_letters_path.name)
        if parsed and not batch_path(landing_dir, EVENTS, *parsed).exists():
            removed.append(dead_letters_path)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
