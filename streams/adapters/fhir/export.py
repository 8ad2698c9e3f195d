"""Reading a provider's FHIR export: a Bundle (JSON) or NDJSON, every resource parsed and validated by
`fhir.resources` (R4B models, the release of that library closest to the R4 the Gravity IG is built on).

A resource that fhir.resources refuses is reported and left out; the rest are indexed so that references
(`Patient/p1`, an absolute URL, a bundle's `fullUrl`) resolve, and so that several versions of one
resource (a history bundle, or NDJSON with one line per version) are kept together in order.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class

#: `Type/id`, optionally after a base URL and before `/_history/version`.
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(frozen=True, slots=True)
class Problem:
    """A resource (or line) that was not sent, and why: shown to the provider, never sent anywhere."""

    where: str
    why: str


@dataclass
class Export:
    """The resources of one file: every version of each, in the order the server gave them."""

    versions: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))
    by_full_url: dict[str, tuple[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, resource: Any, full_url: str | None) -> None:
        key = (resource.get_resource_type(), resource.id or full_url or "")
        known = self.versions[key]
        version = resource.meta.versionId if resource.meta else None
        if version is not None and any(v.meta and v.meta.versionId == version for v in known):
            return  # the same version listed twice (for instance in two pages of a history)
        known.append(resource)
        if full_url:
            self.by_full_url[full_url] = key

    def history(self, key: tuple[str, str]) -> list[Any]:
        """Versions oldest first: by numeric meta.versionId when every version has one, else file order."""
        versions = self.versions.get(key, [])
        ids = [v.meta.versionId if v.meta else None for v in versions]
        if all(i is not None and i.isdigit() for i in ids):
            return sorted(versions, key=lambda v: int(v.meta.versionId))
        return list(versions)

    def latest(self, key: tuple[str, str]) -> Any | None:
        history = self.history(key)
        return history[-1] if history else None

    def resolve_key(self, reference: str | None) -> tuple[str, str] | None:
        """The (type, id) a reference string points at, whether or not that resource is in the file."""
        if not reference:
            return None
        if reference in self.by_full_url:
            return self.by_full_url[reference]
        match = _REFERENCE.search(reference)
        return (match.group(1), match.group(2)) if match else None

    def resolve(self, reference: str | None) -> Any | None:
        key = self.resolve_key(reference)
        return self.latest(key) if key else None


def label(resource: Any) -> str:
    return f"{resource.get_resource_type()}/{resource.id}"


def read_export(path: Path) -> Export:
    """Parse FILE: one JSON document (a Bundle or a single resource) or NDJSON (one resource a line)."""
    text = path.read_text(encoding="utf-8")
    export = Export()
    try:
        documents = [(None, json.loads(text))]
    except json.JSONDecodeError:
        documents = list(_ndjson(text, export))
    for line_no, document in documents:
        _add_document(export, document, f"line {line_no}" if line_no else path.name)
    return export


def _ndjson(text: str, export: Export):
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line)
        except json.JSONDecodeError as exc:
            export.problems.append(
                Problem(f"line {line_no}", f"not JSON ({exc.msg}); neither a Bundle nor NDJSON")
            )


def _add_document(export: Export, document: Any, where: str, full_url: str | None = None) -> None:
    if not isinstance(document, dict) or "resourceType" not in document:
        export.problems.append(Problem(where, "not a FHIR resource (no resourceType)"))
        return
    if document["resourceType"] == "Bundle":
        _add_bundle(export, document, where)
        return
    resource = _parse(export, document, where)
    if resource is not None and not (resource.id or full_url):
        export.problems.append(Problem(where, "a resource without id: its versions cannot be told apart"))
    elif resource is not None:
        export.add(resource, full_url)


def _add_bundle(export: Export, bundle: dict[str, Any], where: str) -> None:
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    if _parse(export, shell, where) is None:
        return
    for index, entry in enumerate(bundle.get("entry") or []):
        entry = entry if isinstance(entry, dict) else {}
        resource = entry.get("resource")
        if resource is None:
            export.problems.append(_entry_without_resource(entry, f"{where} entry {index}"))
            continue
        where_resource = (
            f"{resource.get('resourceType')}/{resource.get('id')}"
            if isinstance(resource, dict)
            else f"{where} entry {index}"
        )
        _add_document(export, resource, where_resource, entry.get("fullUrl"))


def _entry_without_resource(entry: dict[str, Any], where: str) -> Problem:
    request = entry.get("request") or {}
    if request.get("method") == "DELETE":  # a history bundle's record of a deletion
        return Problem(f"{request.get('url')} ({where})", "a deletion: the contract has no event for it")
    return Problem(where, "an entry without a resource")


def _parse(export: Export, document: dict[str, Any], where: str) -> Any | None:
    """The fhir.resources model of `document`, or None with the problem recorded (without any value)."""
    try:
        model = get_fhir_model_class(document["resourceType"])
    except (KeyError, ValueError):
        export.problems.append(Problem(where, f"resourceType {document['resourceType']!r} is not FHIR"))
        return None
    try:
        return model.model_validate(document)
    except pydantic.ValidationError as exc:
        # include_input=False: a refused value may be a name or a birth date; say where, never what.
        errors = exc.errors(include_url=False, include_input=False)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
        export.problems.append(Problem(where, f"not valid FHIR R4 ({detail})"))
        return None
