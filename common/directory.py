"""The provider directory: one CSV (`dbt_project/seeds/provider_directory.csv`) read by the simulator,
the broker's topic set-up, the contract validator and the warehouse (as a dbt seed)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from common.names import provider_topic

PROVIDER_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,39}$")


@dataclass(frozen=True, slots=True)
class Provider:
    provider_id: str
    name: str
    organization_type: str
    program_types: tuple[str, ...]
    county: str
    publishes_custody_events: bool

    @property
    def topic(self) -> str:
        return provider_topic(self.provider_id)


class DirectoryError(ValueError):
    """The provider directory file is malformed."""


@lru_cache(maxsize=8)
def load_directory(path: Path) -> dict[str, Provider]:
    """Providers by id, in file order. Raises DirectoryError naming the line that is wrong."""
    providers: dict[str, Provider] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            provider_id = row["provider_id"]
            if not PROVIDER_ID_PATTERN.match(provider_id):
                raise DirectoryError(f"{path}:{line_no}: provider_id {provider_id!r} is not a valid id")
            if provider_id in providers:
                raise DirectoryError(f"{path}:{line_no}: provider_id {provider_id!r} is listed twice")
            providers[provider_id] = Provider(
                provider_id=provider_id,
                name=row["name"],
                organization_type=row["organization_type"],
                program_types=tuple(p for p in row["program_types"].split("|") if p),
                county=row["county"],
                publishes_custody_events=row["publishes_custody_events"] == "true",
            )
    return providers
