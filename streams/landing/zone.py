"""The landing zone as one object: its layout, its atomic writes, a listing that does not walk the whole
tree each time, the moves between landing/ and quarantine/, and the validation results.

The layout and the file names are those of `files.py` (the lander's exactly-once relies on them: the
offsets in the names are the source of truth). What this adds is an *index*, `landing/index.json`: per
partition directory (`events/<topic>/<partition>` and `dead_letters/<topic>/<partition>`) the names of
its `.parquet` files and the directory's modification time when they were listed, and per dead-letter
file its counts by (provider, reason).

The index is a cache of the tree, never trusted over it:

- Every listing stats each partition directory (tens of them, not thousands of files) and re-lists a
  directory whose mtime is not the one recorded. A commit (a rename into the directory), a recovery
  (an unlink) and a quarantine move all change the directory's mtime.
- A listing made less than `RACY_SECONDS` after the directory's mtime is not trusted on the next read
  (git's "racy index" rule): a file system stamps mtimes at a clock tick, so a second rename in the
  same tick as the listed one would leave the mtime unchanged.
- A dead-letter file's counts are kept with its size and mtime and read again when either differs.
- A missing, unreadable or other-version index is rebuilt from the tree; `recover()` (run by `continuum
  land` before its workers start) removes crash leftovers, and the index with them if there were any.
  The lander's resume points walk the tree (`files.committed_batches`), never the index.

Writing the index is best effort (several processes may read the zone at once; the last writer wins and
a loser's cache is merely older): a failure costs the next reader a re-listing, never a wrong answer.
The clock is injectable so tests can say "this listing is old enough to trust" without sleeping.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Container, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common.files import atomic_path, write_atomically
from streams.landing import files
from streams.landing.files import LandedBatch

INDEX_FILE = "index.json"
INDEX_VERSION = 1
#: A directory listed less than this long after its last change is listed again on the next read.
RACY_SECONDS = 2.0

#: Files of a quarantined batch's directory `quarantine/<batch name>/`.
ORIGIN_FILE = "origin.json"
RESULT_FILE = "validation.json"
HELD_ROWS_FILE = "held_rows.parquet"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class LandingZone:
    """The landing zone under `landing_dir`, its quarantine under `quarantine_dir`, the validation
    results under `validations_dir`."""

    def __init__(
        self,
        landing_dir: Path,
        quarantine_dir: Path,
        validations_dir: Path | None = None,
        clock: Clock = utc_now,
        persist_index: bool = True,
    ) -> None:
        self.landing_dir = Path(landing_dir)
        self.quarantine_dir = Path(quarantine_dir)
        self.validations_dir = Path(validations_dir or self.landing_dir.parent / "validations")
        self.clock = clock
        #: False for a reader that polls (the progress display): it keeps its cache in memory only.
        self.persist_index = persist_index
        self._index: dict[str, Any] | None = None
        #: Per events directory: the listings its batches were parsed from, and the batches.
        self._parsed: dict[Path, tuple[list[str], list[str], list[LandedBatch]]] = {}
        self._changed = False

    @classmethod
    def for_settings(cls, settings: Any, clock: Clock = utc_now, persist_index: bool = True) -> LandingZone:
        return cls(
            settings.landing_dir,
            settings.quarantine_dir,
            settings.state_dir / "validations",
            clock,
            persist_index,
        )

    # -- layout ---------------------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return self.landing_dir / INDEX_FILE

    def batch_path(
        self, kind: str, topic: str, partition: int, first: int, last: int, epoch: int = 0
    ) -> Path:
        return files.batch_path(self.landing_dir, kind, topic, partition, first, last, epoch)

    def quarantine_path(self, name: str, file: str | None = None) -> Path:
        """`quarantine/<batch name>/` or a file in it."""
        directory = self.quarantine_dir / name
        return directory / file if file else directory

    def validation_path(self, name: str) -> Path:
        return self.validations_dir / f"{name}.json"

    # -- atomic writes (all through common/files.py) ---------------------------------------------------

    @staticmethod
    def write_table(table: pa.Table, path: Path) -> Path:
        """Replace `path` with `table` as Parquet, atomically (a reader never sees half a file)."""
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @staticmethod
    def write_json(path: Path, document: Any) -> Path:
        return write_atomically(path, json.dumps(document, indent=1, default=str))

    # -- validation results ----------------------------------------------------------------------------

    def write_validation_result(self, name: str, document: dict[str, Any]) -> Path:
        return self.write_json(self.validation_path(name), document)

    def validation_result(self, name: str) -> dict[str, Any] | None:
        """The batch's last validation result, None if it was never validated."""
        path = self.validation_path(name)
        return json.loads(path.read_text()) if path.exists() else None

    # -- moves between landing/ and quarantine/ ---------------------------------------------------------

    @staticmethod
    def move(source: str | Path | None, target: Path) -> Path | None:
        """Move a file if it is still at `source`; a retry finds it moved already and does nothing.
        Both ends are under CONTINUUM_HOME (one file system): the rename is atomic."""
        if source is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(source).exists():
            os.replace(source, target)
        return target if target.exists() else None

    def quarantine(
        self, name: str, events_path: str | None, dead_letters_path: str | None
    ) -> tuple[Path | None, Path | None]:
        """Move a batch's files from landing/ to quarantine/<name>/; returns where they are now."""
        return (
            self.move(events_path, self.quarantine_path(name, files.QUARANTINED_EVENTS)),
            self.move(dead_letters_path, self.quarantine_path(name, files.QUARANTINED_DEAD_LETTERS)),
        )

    def release(self, name: str, events_path: Path, dead_letters_path: Path | None) -> None:
        """Move a quarantined batch's files back to their places in landing/ (a retry does nothing),
        and remove its quarantine directory unless rows of it are still held there."""
        self.move(self.quarantine_path(name, files.QUARANTINED_EVENTS), events_path)
        if dead_letters_path:
            self.move(self.quarantine_path(name, files.QUARANTINED_DEAD_LETTERS), dead_letters_path)
        if not self.quarantine_path(name, HELD_ROWS_FILE).exists():
            self.forget_quarantined(name)

    def forget_quarantined(self, name: str) -> None:
        shutil.rmtree(self.quarantine_path(name), ignore_errors=True)

    def quarantined_names(self) -> list[str]:
        """Every quarantined batch (held whole or rows held alone), by name."""
        if not self.quarantine_dir.exists():
            return []
        return sorted(d.name for d in self.quarantine_dir.iterdir() if (d / ORIGIN_FILE).exists())

    def quarantined_batches(self) -> list[LandedBatch]:
        """Batches held whole in quarantine: their offsets were landed all the same."""
        return files.quarantined_batches(self.quarantine_dir)

    # -- listing ---------------------------------------------------------------------------------------

    def committed_batches(self, skip: Container[str] = ()) -> list[LandedBatch]:
        """Every committed batch whose name is not in `skip` (say, the ledger's), sorted by topic,
        partition, epoch and offset: the same list as `files.committed_batches` (a full walk), answered
        from the index where the tree has not changed."""
        batches = [
            batch
            for topic, partition, events_dir in self._partition_dirs()
            for batch in self._partition_batches(topic, partition, events_dir, skip)
            if batch.name not in skip
        ]
        self._save()
        return sorted(batches, key=lambda b: (b.topic, b.partition, b.epoch, b.first_offset, b.last_offset))

    def _partition_batches(
        self, topic: str, partition: int, events_dir: Path, skip: Container[str] = ()
    ) -> list[LandedBatch]:
        """One partition's batches, parsed again only when its listing changed (a poller, such as the
        progress display, parses each name once). With `skip`, only the other names are parsed (and
        nothing is kept: a discover runs once per process)."""
        names = self._names(events_dir)
        dead_letter_names = self._names(self._dead_letters_dir(topic, partition))
        cached = self._parsed.get(events_dir)
        if cached is not None and cached[0] is names and cached[1] is dead_letter_names:
            return cached[2]
        with_dead_letters = set(dead_letter_names)
        batches = []
        for name in names:
            if name in skip:
                continue
            batch_id = files.parse_batch_id(name)
            if batch_id is None:
                continue
            dead_letters = (
                self.batch_path(files.DEAD_LETTERS, *batch_id) if name in with_dead_letters else None
            )
            topic_, partition_, first, last, epoch = batch_id
            batches.append(
                LandedBatch(topic_, partition_, first, last, events_dir / name, dead_letters, epoch)
            )
        if not skip:
            self._parsed[events_dir] = (names, dead_letter_names, batches)
        return batches

    def landed_messages(self) -> int:
        """Offsets covered by committed batches (from their names: no file is opened)."""
        return sum(b.last_offset - b.first_offset + 1 for b in self.committed_batches())

    def dead_letter_counts(self, batches: Iterable[LandedBatch]) -> dict[tuple[str | None, str], int]:
        """Dead letters by (provider_id, reason) over `batches`, each file read once and then counted
        from the index while its size and mtime stay the same."""
        cached = self._load().setdefault("dead_letter_counts", {})
        counts: Counter = Counter()
        for batch in batches:
            if batch.dead_letters_path is None:
                continue
            stat = batch.dead_letters_path.stat()
            key = str(batch.dead_letters_path)
            entry = cached.get(key)
            if entry is None or entry["size"] != stat.st_size or entry["mtime_ns"] != stat.st_mtime_ns:
                entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "counts": _count(batch)}
                cached[key] = entry
                self._changed = True
            counts.update({(provider, reason): n for provider, reason, n in entry["counts"]})
        self._save()
        return dict(counts)

    def recover(self) -> list[Path]:
        """Remove what a crash left uncommitted (`files.recover`). If there was any, the index goes
        too and the next listing rebuilds it from the tree: after a crash nothing of it is trusted
        (the mtimes would catch the change anyway; this is the belt to their braces)."""
        removed = files.recover(self.landing_dir)
        if removed:
            self.index_path.unlink(missing_ok=True)
            self._index = None
            self._parsed.clear()
        return removed

    # -- the index -------------------------------------------------------------------------------------

    def _partition_dirs(self) -> list[tuple[str, int, Path]]:
        found = []
        for topic_dir in _subdirs(self.landing_dir / files.EVENTS):
            for partition_dir in _subdirs(topic_dir):
                if partition_dir.name.isdigit():
                    found.append((topic_dir.name, int(partition_dir.name), partition_dir))
        return found

    def _dead_letters_dir(self, topic: str, partition: int) -> Path:
        return self.landing_dir / files.DEAD_LETTERS / topic / str(partition)

    def _names(self, directory: Path) -> list[str]:
        """The `.parquet` names in `directory`: from the index if the directory has not changed since
        it was listed (and was listed well after that change), else listed now."""
        dirs = self._load().setdefault("dirs", {})
        key = str(directory.relative_to(self.landing_dir))
        try:
            mtime_ns = directory.stat().st_mtime_ns
        except FileNotFoundError:
            if dirs.pop(key, None) is not None:
                self._changed = True
            return []
        entry = dirs.get(key)
        if entry is not None and entry["mtime_ns"] == mtime_ns and not entry["racy"]:
            return entry["names"]
        listed_at_ns = int(self.clock().timestamp() * 1e9)
        names = sorted(e.name for e in os.scandir(directory) if e.name.endswith(".parquet"))
        racy = listed_at_ns - mtime_ns < RACY_SECONDS * 1e9
        dirs[key] = {"mtime_ns": mtime_ns, "racy": racy, "names": names}
        self._changed = True
        return names

    def _load(self) -> dict[str, Any]:
        if self._index is None:
            self._index = self._read_index()
        return self._index

    def _read_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self.index_path.read_text())
        except (OSError, ValueError):
            return {"version": INDEX_VERSION}  # missing or half-written: rebuilt from the tree
        return index if index.get("version") == INDEX_VERSION else {"version": INDEX_VERSION}

    def _save(self) -> None:
        if not (self._changed and self.persist_index and self.landing_dir.exists()):
            return
        try:
            write_atomically(self.index_path, json.dumps(self._index, separators=(",", ":")))
            self._changed = False
        except OSError:
            pass  # best effort: another reader wrote it at the same moment; the next read lists again


def _subdirs(directory: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir()]
    except FileNotFoundError:
        return []


def _count(batch: LandedBatch) -> list[list[Any]]:
    table = pq.read_table(batch.dead_letters_path, columns=["provider_id", "error_reason"])
    pairs = Counter(zip(table["provider_id"].to_pylist(), table["error_reason"].to_pylist(), strict=True))
    return [[provider, reason, n] for (provider, reason), n in sorted(pairs.items(), key=str)]
