"""What every mapping needs: the export, who imports, the vocabularies, and how references become a
provider id or a participant key. A resource that cannot be mapped raises `Unmappable` with the reason."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from streams.adapters.common import record_uuid
from streams.adapters.fhir.export import Export, label
from streams.adapters.fhir.vocabulary import PROVIDER_IDENTIFIER_SYSTEM, Vocabulary
from streams.participant_key import participant_key


class Unmappable(Exception):
    """This resource cannot become a contract event; the message says why (never with a person's data)."""


@dataclass(frozen=True)
class Outgoing:
    """One contract event to send, and the resource it came from (for the provider's report only)."""

    event_type: str
    subject: str
    data: dict[str, Any]
    time: datetime
    event_id: str
    origin: str


@dataclass
class ImportContext:
    provider_id: str
    export: Export
    vocabulary: Vocabulary
    provider_ids: Collection[str]
    linkage_secret: bytes
    namespace: uuid.UUID

    def event_id(self, event_type: str, *parts: str) -> str:
        """uuid5 (streams.adapters.common, in the namespace keyed by the linkage secret) of the importing
        provider, the event type and what identifies the change: the same change always gets the same id."""
        return record_uuid(self.namespace, self.provider_id, event_type, "|".join(parts))

    def provider_of(self, reference: Any, what: str, depth: int = 0) -> str:
        """The provider id of the Organization (or PractitionerRole's Organization) a Reference names."""
        if reference is None:
            raise Unmappable(f"{what} is missing")
        target = self.export.resolve(reference.reference)
        identifiers = [reference.identifier] if reference.identifier else []
        if target is not None and target.get_resource_type() == "PractitionerRole" and depth == 0:
            return self.provider_of(target.organization, f"{what} ({label(target)}.organization)", depth=1)
        if target is not None and target.get_resource_type() == "Organization":
            identifiers += target.identifier or []
        for identifier in identifiers:
            provider_id = self._provider_of_identifier(identifier)
            if provider_id is not None:
                if provider_id not in self.provider_ids:
                    raise Unmappable(
                        f"{what} names provider {provider_id!r}, which is not in the provider directory"
                    )
                return provider_id
        shown = reference.reference or "a logical reference"
        raise Unmappable(
            f"{what} ({shown}) has no identifier {PROVIDER_IDENTIFIER_SYSTEM} nor one listed in the "
            "mapping file's [organizations]"
            + ("" if target is not None or not reference.reference else ", and is not in the file")
        )

    def _provider_of_identifier(self, identifier: Any) -> str | None:
        if identifier.system == PROVIDER_IDENTIFIER_SYSTEM:
            return identifier.value
        return self.vocabulary.organizations.get(f"{identifier.system}|{identifier.value}")

    def participant_key_of(self, reference: Any, what: str) -> str:
        """The participant key (events-v1 section 3) of the Patient a Reference names."""
        if reference is None or not reference.reference:
            raise Unmappable(f"{what} does not reference a Patient")
        patient = self.export.resolve(reference.reference)
        if patient is None or patient.get_resource_type() != "Patient":
            raise Unmappable(f"{what}: the Patient it references is not in the file (needed for the key)")
        name = _chosen_name(patient.name or [])
        if name is None or not name.family or not name.given:
            raise Unmappable(f"{label(patient)} has no family and given name (needed for the key)")
        if not isinstance(patient.birthDate, date):
            raise Unmappable(f"{label(patient)} has no full birthDate (needed for the key)")
        return participant_key(self.linkage_secret, name.family, name.given[0], patient.birthDate)


def _chosen_name(names: list[Any]) -> Any | None:
    """The official name, else a usual or unlabelled one, else the first: never an old or a nickname."""
    for uses in (("official",), ("usual", None)):
        for name in names:
            if name.use in uses and not (name.period and name.period.end):
                return name
    return names[0] if names else None


def as_utc(value: Any) -> datetime | None:
    """A FHIR dateTime/instant as an aware UTC datetime; a bare date is midnight UTC; a partial date None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def last_updated(resource: Any) -> datetime | None:
    return as_utc(resource.meta.lastUpdated) if resource.meta else None


def codings(*concepts: Any) -> list[Any]:
    """Every Coding of the given CodeableConcepts (None and lists are welcome)."""
    found = []
    for concept in concepts:
        for item in concept if isinstance(concept, list) else [concept]:
            if item is not None:
                found += item.coding or []
    return found
