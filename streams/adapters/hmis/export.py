"""Reading an HMIS CSV export directory (HUD HMIS CSV Format Specifications FY2024 and FY2026).

Only the six files the adapter maps are read: Export.csv, Project.csv, Client.csv, Enrollment.csv,
Exit.csv and Services.csv. The version comes from Export.csv's `CSVVersion` ("2024 v1.x", "2026 v1.x")
and is checked against the headers, which differ between the two: FY2026 dropped the 3.06 gender
columns of Client.csv (Woman, Man, NonBinary, ...) for 4.21 `Sex`, renamed `HispanicLatinaeo` to
`HispanicLatinao`, and added `MentalHealthConsultation` (V10) to Enrollment.csv. When CSVVersion is
blank or names another version, the headers alone decide; when neither fits, `ExportError` says which
file lacks which columns for each version.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streams.adapters.common import AdapterError, Where

FILES = ("Export.csv", "Project.csv", "Client.csv", "Enrollment.csv", "Exit.csv", "Services.csv")

#: Columns the adapter reads from each file, in both versions (the files have many more).
_COMMON = {
    "Export.csv": ("ExportID", "CSVVersion", "ExportDate"),
    "Project.csv": ("ProjectID", "ProjectType", "DateUpdated", "DateDeleted"),
    "Client.csv": (
        "PersonalID", "FirstName", "LastName", "DOB", "DOBDataQuality",
        "AmIndAKNative", "Asian", "BlackAfAmerican", "MidEastNAfrican", "NativeHIPacific", "White",
        "RaceNone", "DateUpdated", "DateDeleted",
    ),
    "Enrollment.csv": ("EnrollmentID", "PersonalID", "ProjectID", "EntryDate", "DateUpdated", "DateDeleted"),
    "Exit.csv": (
        "ExitID", "EnrollmentID", "PersonalID", "ExitDate", "Destination", "DateUpdated", "DateDeleted",
    ),
    "Services.csv": (
        "ServicesID", "EnrollmentID", "PersonalID", "DateProvided", "RecordType", "TypeProvided",
        "DateUpdated", "DateDeleted",
    ),
}  # fmt: skip

#: FY2024 Client.csv 3.06 gender columns (one 0/1 column per response; GenderNone holds 8/9/99).
GENDER_COLUMNS_FY2024 = (
    "Woman", "Man", "NonBinary", "CulturallySpecific", "Transgender", "Questioning", "DifferentIdentity",
)  # fmt: skip

#: What tells the versions apart, beyond `_COMMON`.
_SIGNATURE = {
    "2024": {
        "Client.csv": ("HispanicLatinaeo", *GENDER_COLUMNS_FY2024, "GenderNone"),
    },
    "2026": {
        "Client.csv": ("HispanicLatinao", "Sex"),
        "Enrollment.csv": ("MentalHealthConsultation",),
    },
}
#: FY2026 columns that must be absent from an FY2026 export (they were removed), per file.
_REMOVED_IN_2026 = {"Client.csv": ("HispanicLatinaeo", "Woman", "Man", "GenderNone")}

VERSIONS = {"2024": "FY2024", "2026": "FY2026"}


class ExportError(AdapterError):
    """The directory is not an HMIS CSV export the adapter can read."""


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: its values by column (stripped) and where it is."""

    values: dict[str, str]
    where: Where

    def __getitem__(self, column: str) -> str:
        return self.values.get(column) or ""


@dataclass(frozen=True)
class Export:
    """An export's rows by file, and its version ("2024" or "2026")."""

    version: str
    csv_version: str
    rows: dict[str, list[Row]]

    @property
    def label(self) -> str:
        shown = f" (CSVVersion {self.csv_version})" if self.csv_version else " (no CSVVersion)"
        return VERSIONS[self.version] + shown


def read_export(directory: Path) -> Export:
    """Read and check the six files of `directory`. Raises ExportError saying what is missing."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ExportError(f"{directory} is not a directory: give the folder the HMIS export was unzipped to")
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise ExportError(f"{directory} lacks {', '.join(missing)}: is it an HMIS CSV export?")
    headers, rows = {}, {}
    for name in FILES:
        headers[name], rows[name] = _read(directory / name)
    csv_version = rows["Export.csv"][0]["CSVVersion"] if rows["Export.csv"] else ""
    version = detect_version(csv_version, headers)
    return Export(version=version, csv_version=csv_version, rows=rows)


def detect_version(csv_version: str, headers: dict[str, list[str]]) -> str:
    """'2024' or '2026': CSVVersion if it names one and the headers fit it, else the headers alone."""
    gaps = {version: _gaps(version, headers) for version in VERSIONS}
    claimed = csv_version.strip()[:4]
    if claimed in VERSIONS:
        if not gaps[claimed]:
            return claimed
        raise ExportError(
            f"Export.csv says CSVVersion {csv_version!r} ({VERSIONS[claimed]}) but the headers do not fit "
            f"{VERSIONS[claimed]}: {'; '.join(gaps[claimed])}"
        )
    fitting = [v for v, g in gaps.items() if not g]
    if len(fitting) == 1:
        return fitting[0]
    said = f"CSVVersion {csv_version!r}" if csv_version else "no CSVVersion"
    detail = " | ".join(f"{VERSIONS[v]}: {'; '.join(g)}" for v, g in gaps.items())
    raise ExportError(
        f"Export.csv has {said} and the headers fit neither FY2024 nor FY2026 "
        f"(what each lacks: {detail}). Export with the HUD HMIS CSV FY2024 or FY2026 specification."
    )


def _gaps(version: str, headers: dict[str, list[str]]) -> list[str]:
    """What keeps `headers` from being `version`: 'File.csv lacks A, B' or 'File.csv has C'."""
    gaps = []
    for name in FILES:
        present = set(headers.get(name, ()))
        wanted = _COMMON[name] + _SIGNATURE[version].get(name, ())
        lacking = [c for c in wanted if c not in present]
        if lacking:
            gaps.append(f"{name} lacks {', '.join(lacking)}")
        if version == "2026":
            extra = [c for c in _REMOVED_IN_2026.get(name, ()) if c in present]
            if extra:
                gaps.append(f"{name} has {', '.join(extra)} (removed in FY2026)")
    return gaps


def _read(path: Path) -> tuple[list[str], list[Row]]:
    # HUD's CSV: UTF-8 (FY2026; earlier exports are ASCII, a subset), comma-separated, header first.
    # utf-8-sig tolerates a byte-order mark some systems write.
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            return header, list(_rows(reader, path.name))
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise ExportError(f"{path.name} is not readable CSV: {exc}") from exc


def _rows(reader: csv.DictReader, file_name: str) -> Iterator[Row]:
    line = reader.line_num
    for record in reader:
        # line_num counts physical lines read so far: the record started after the previous one ended.
        start, line = line + 1, reader.line_num
        values = {k: (v or "").strip() for k, v in record.items() if k is not None and isinstance(v, str)}
        yield Row(values=values, where=Where(file_name, start))
