"""A landed batch as the pipeline passes it between tasks (plain JSON for Airflow's XCom)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.names import provider_of_topic
from streams.landing.files import LandedBatch


@dataclass(frozen=True)
class BatchRef:
    name: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    events_path: str
    dead_letters_path: str | None

    @property
    def provider_id(self) -> str | None:
        return provider_of_topic(self.topic)

    @classmethod
    def of(cls, batch: LandedBatch) -> BatchRef:
        return cls(
            name=batch.name,
            topic=batch.topic,
            partition=batch.partition,
            first_offset=batch.first_offset,
            last_offset=batch.last_offset,
            events_path=str(batch.events_path),
            dead_letters_path=str(batch.dead_letters_path) if batch.dead_letters_path else None,
        )

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> BatchRef:
        return cls(**value)

    def with_paths(self, events_path: Path, dead_letters_path: Path | None) -> BatchRef:
        return BatchRef(
            **{
                **asdict(self),
                "events_path": str(events_path),
                "dead_letters_path": str(dead_letters_path) if dead_letters_path else None,
            }
        )
