"""Put a large stream in send order with flat memory: spill to fortnight buckets on disk, sort each.

Participants are generated one at a time, but their messages span years, so the stream can only be put
in send order once all are generated. Holding 100,000 participants' messages would take gigabytes;
instead each message goes to a temporary file for its fortnight of send time, and each file is read
back, sorted and emptied in turn. Memory is one fortnight's messages; the files are deleted as read.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

BUCKET_SECONDS = 14 * 86_400
_HEADER = struct.Struct("<qHBiI")  # send time, topic index, intent index, key length (-1: none), value length


class SendOrder:
    """Collects (send time, topic, intent, key, value) and gives them back sorted by send time.

    Ties keep the order they were added in (the sort is stable), which keeps the stream deterministic.
    """

    def __init__(self, origin: int, intents: tuple[str, ...], directory: Path | None = None):
        self.origin = origin
        self.intents = intents
        self._intent_index = {intent: i for i, intent in enumerate(intents)}
        self._tmp = tempfile.TemporaryDirectory(prefix="continuum-simulate-", dir=directory)
        self._files: dict[int, BinaryIO] = {}
        self._topics: dict[str, int] = {}
        self._topic_names: list[str] = []

    def add(self, send: int, topic: str, intent: str, key: bytes | None, value: bytes) -> None:
        topic_index = self._topics.get(topic)
        if topic_index is None:
            topic_index = self._topics[topic] = len(self._topic_names)
            self._topic_names.append(topic)
        bucket = max(0, (send - self.origin) // BUCKET_SECONDS)
        f = self._files.get(bucket)
        if f is None:
            # Kept open across add() calls (closed by drain/close): one file per fortnight.
            f = self._files[bucket] = open(Path(self._tmp.name) / f"{bucket:06d}", "wb", buffering=65536)  # noqa: SIM115
        key_length = -1 if key is None else len(key)
        f.write(_HEADER.pack(send, topic_index, self._intent_index[intent], key_length, len(value)))
        if key:
            f.write(key)
        f.write(value)

    def drain(self) -> Iterator[tuple[int, str, str, bytes | None, bytes]]:
        """Every message added, in send order; the spill files are removed as they are read."""
        try:
            for bucket in sorted(self._files):
                self._files[bucket].close()
                path = Path(self._tmp.name) / f"{bucket:06d}"
                records = self._read(path)
                path.unlink()
                records.sort(key=lambda r: r[0])
                topics, intents = self._topic_names, self.intents
                for send, topic_index, intent_index, key, value in records:
                    yield send, topics[topic_index], intents[intent_index], key, value
        finally:
            self.close()

    @staticmethod
    def _read(path: Path) -> list[tuple[int, int, int, bytes | None, bytes]]:
        data, records, offset, header = path.read_bytes(), [], 0, _HEADER.size
        unpack = _HEADER.unpack_from
        while offset < len(data):
            send, topic_index, intent_index, key_length, value_length = unpack(data, offset)
            offset += header
            key = None
            if key_length >= 0:
                key, offset = data[offset : offset + key_length], offset + key_length
            records.append((send, topic_index, intent_index, key, data[offset : offset + value_length]))
            offset += value_length
        return records

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._tmp.cleanup()
