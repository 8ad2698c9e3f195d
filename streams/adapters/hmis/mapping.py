"""HUD HMIS code lists and their mapping to the contract's vocabularies: one table each.

The HUD lists (HMIS Data Dictionary FY2024/FY2026 and the CSV specification's lists) say which codes
exist; a code outside them is a bad row. The mapping tables say what each code becomes in the contract;
`None` means "the contract has no word for it": the row is reported, not sent, until the provider maps
the code in its mapping file (`--mapping FILE`, TOML or JSON; docs/adapters.md shows one). Every
value of a mapping file is checked against the contract's enumerations (`streams.contract.enum_values`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.adapters.common import AdapterError
from streams.contract import enum_values

# --- HUD code lists ------------------------------------------------------------------------------

#: 2.02.6 ProjectType (FY2024 and FY2026).
PROJECT_TYPES = {
    0: "Emergency Shelter - Entry Exit",
    1: "Emergency Shelter - Night-by-Night",
    2: "Transitional Housing",
    3: "PH - Permanent Supportive Housing",
    4: "Street Outreach",
    6: "Services Only",
    7: "Other",
    8: "Safe Haven",
    9: "PH - Housing Only",
    10: "PH - Housing with Services",
    11: "Day Shelter",
    12: "Homelessness Prevention",
    13: "PH - Rapid Re-Housing",
    14: "Coordinated Entry",
}

#: 3.12 Destination (FY2024 and FY2026; 435 carries a DestinationSubsidyType the contract has no use for).
DESTINATIONS = {
    8: "Client doesn't know",
    9: "Client prefers not to answer",
    17: "Other",
    24: "Deceased",
    30: "No exit interview completed",
    99: "Data not collected",
    101: "Emergency shelter",
    116: "Place not meant for habitation",
    118: "Safe Haven",
    204: "Psychiatric hospital or other psychiatric facility",
    205: "Substance abuse treatment facility or detox center",
    206: "Hospital or other residential non-psychiatric medical facility",
    207: "Jail, prison or juvenile detention facility",
    215: "Foster care home or foster care group home",
    225: "Long-term care facility or nursing home",
    302: "Transitional housing for homeless persons",
    312: "Staying or living with family, temporary tenure",
    313: "Staying or living with friends, temporary tenure",
    314: "Hotel or motel paid for without emergency shelter voucher",
    327: "Moved from one HOPWA funded project to HOPWA TH",
    329: "Residential project or halfway house with no homeless criteria",
    332: "Host Home (non-crisis)",
    410: "Rental by client, no ongoing housing subsidy",
    411: "Owned by client, no ongoing housing subsidy",
    421: "Owned by client, with ongoing housing subsidy",
    422: "Staying or living with family, permanent tenure",
    423: "Staying or living with friends, permanent tenure",
    426: "Moved from one HOPWA funded project to HOPWA PH",
    435: "Rental by client, with ongoing housing subsidy",
}

#: 1.4 RecordType of Services.csv, and the TypeProvided list of each (P1.2, R14.2, W1.2, V2.2, W2.2,
#: V3.3, P2.2, 4.14, V8.1, C2.2). FY2026 added V2.2 code 10 (Healthcare Navigation).
SERVICE_TYPES_PROVIDED = {
    141: ("PATH service", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14}),
    142: ("RHY service connection", {2, 5, 6, 7, 8, 10, 12, 13, 14, 17, 18, 26, 27, 28, 29}),
    143: ("HOPWA service", set(range(1, 15))),
    144: ("SSVF service", set(range(1, 11))),
    151: ("HOPWA financial assistance", {1, 2, 3, 4, 7}),
    152: ("SSVF financial assistance", {1, 2, 3, 4, 5, 8, 9, 10, 12, 14, 15, 16, 17, 18}),
    161: ("PATH referral", set(range(1, 12))),
    200: ("Bed night", {200}),
    210: ("HUD-VASH OTH voucher tracking", set(range(1, 13))),
    300: ("Moving On assistance", {1, 2, 3, 4, 5}),
}
#: (RecordType, TypeProvided) codes that exist only from FY2026.
SERVICE_CODES_FROM_2026 = {(144, 10)}

#: 4.21 Sex (FY2026): 0 Female, 1 Male; 8, 9, 99 are HUD's reasons for missing data.
SEX_CODES = {
    0: "Female",
    1: "Male",
    8: "Client doesn't know",
    9: "Client prefers not to answer",
    99: "Data not collected",
}  # noqa: E501
#: Reasons for missing data (1.6) in RaceNone and GenderNone.
MISSING_DATA_CODES = {8, 9, 99}

# --- Default mappings to the contract -------------------------------------------------------------

#: ProjectType -> program_type. Services Only, Other and Coordinated Entry say nothing about the
#: programme: a provider maps them (per type or per ProjectID) in its mapping file.
DEFAULT_PROGRAM_TYPE: dict[int, str | None] = {
    0: "housing", 1: "housing", 2: "housing", 3: "housing", 4: "street_outreach", 6: None, 7: None,
    8: "housing", 9: "housing", 10: "housing", 11: "housing", 12: "housing", 13: "housing", 14: None,
}  # fmt: skip

#: Destination -> exit_reason. HMIS records where a person went, not why they left: permanent housing
#: (4xx) counts as completed, an institution of care (2xx but jail) and HOPWA moves as transferred,
#: jail or prison as incarcerated, no exit interview as disengaged; the rest is other.
DEFAULT_EXIT_REASON: dict[int, str | None] = {
    **{code: "other" for code in DESTINATIONS},
    24: "deceased",
    30: "disengaged",
    207: "incarcerated",
    **{code: "transferred" for code in (204, 205, 206, 215, 225, 327, 329, 426)},
    **{code: "completed" for code in (410, 411, 421, 422, 423, 435)},
}

#: FY2024 gender column -> gender. A column mapped to None decides nothing on its own (Transgender is
#: about history, not which gender): the values of the columns marked 1 decide; one value -> it, two
#: or more different -> other, only undecided columns -> other, none marked -> unknown.
DEFAULT_GENDER_FY2024: dict[str, str | None] = {
    "Woman": "female", "Man": "male", "NonBinary": "nonbinary", "CulturallySpecific": "other",
    "DifferentIdentity": "other", "Questioning": "other", "Transgender": None,
}  # fmt: skip

#: FY2026 4.21 Sex -> gender (blank, 8, 9, 99 -> unknown).
DEFAULT_SEX: dict[int, str | None] = {0: "female", 1: "male", 8: "unknown", 9: "unknown", 99: "unknown"}

#: Race and ethnicity column (3.04) -> race_ethnicity category. FY2024 calls the Hispanic column
#: HispanicLatinaeo, FY2026 HispanicLatinao.
DEFAULT_RACE: dict[str, str | None] = {
    "AmIndAKNative": "american_indian_alaska_native",
    "Asian": "asian",
    "BlackAfAmerican": "black_african_american",
    "HispanicLatinaeo": "hispanic_latino",
    "HispanicLatinao": "hispanic_latino",
    "MidEastNAfrican": "middle_eastern_north_african",
    "NativeHIPacific": "native_hawaiian_pacific_islander",
    "White": "white",
}

_PATH_SERVICES = {1: "outreach", 2: "case_management", 3: "behavioral_health", 4: "behavioral_health",
                  5: "substance_use_treatment", 6: "case_management", 7: "housing", 8: "housing",
                  9: "housing", 10: "housing", 11: "housing", 12: "housing",
                  14: "behavioral_health"}  # fmt: skip
_RHY_SERVICES = {2: "education", 5: "education", 6: "employment", 7: "legal_aid", 8: "mentoring",
                 10: "education", 12: "medical", 13: "medical", 14: "medical", 17: "substance_use_treatment",
                 18: "substance_use_treatment", 26: "case_management", 27: "medical", 28: "medical",
                 29: "outreach"}  # fmt: skip
_HOPWA_SERVICES = {1: "medical", 2: "case_management", 3: "benefits", 4: "legal_aid", 5: "education",
                   6: "employment", 7: "benefits", 8: "medical", 9: "mentoring", 10: "behavioral_health",
                   11: "outreach", 12: "substance_use_treatment", 13: "transportation", 14: None}  # fmt: skip
_SSVF_SERVICES = {1: "outreach", 2: "case_management", 3: "benefits", 4: "benefits", 5: "benefits", 6: None,
                  7: "housing", 8: "housing", 9: "housing", 10: "medical"}  # fmt: skip
_SSVF_ASSISTANCE = {**{c: "housing" for c in (1, 2, 3, 4, 5, 12, 14, 15, 17, 18)},
                    8: "transportation", 9: "transportation", 10: "benefits", 16: "benefits"}  # fmt: skip

#: (RecordType, TypeProvided) -> service_type. PATH referrals (161) name no receiving provider, which
#: referral.requested needs, and voucher tracking (210) is a status, not a service: both None.
DEFAULT_SERVICE_TYPE: dict[tuple[int, int], str | None] = {
    **{(141, t): s for t, s in _PATH_SERVICES.items()},
    **{(142, t): s for t, s in _RHY_SERVICES.items()},
    **{(143, t): s for t, s in _HOPWA_SERVICES.items()},
    **{(144, t): s for t, s in _SSVF_SERVICES.items()},
    **{(151, t): "housing" for t in SERVICE_TYPES_PROVIDED[151][1]},
    **{(152, t): s for t, s in _SSVF_ASSISTANCE.items()},
    **{(161, t): None for t in SERVICE_TYPES_PROVIDED[161][1]},
    (200, 200): "housing",
    **{(210, t): None for t in SERVICE_TYPES_PROVIDED[210][1]},
    **{(300, t): "housing" for t in SERVICE_TYPES_PROVIDED[300][1]},
}

#: HMIS keeps dates, not times; events are placed in the provider's time zone (Oklahoma by default).
DEFAULT_TIMEZONE = "America/Chicago"


@dataclass(frozen=True)
class Mapping:
    """The tables one import uses: the defaults above with a provider's overrides."""

    program_type: dict[int, str | None] = field(default_factory=lambda: dict(DEFAULT_PROGRAM_TYPE))
    project_program_type: dict[str, str | None] = field(default_factory=dict)
    exit_reason: dict[int, str | None] = field(default_factory=lambda: dict(DEFAULT_EXIT_REASON))
    gender: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_GENDER_FY2024))
    sex: dict[int, str | None] = field(default_factory=lambda: dict(DEFAULT_SEX))
    race_ethnicity: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_RACE))
    service_type: dict[tuple[int, int], str | None] = field(
        default_factory=lambda: dict(DEFAULT_SERVICE_TYPE)
    )
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))


class MappingError(AdapterError):
    """A mapping file that cannot be used (names the table, the key and what is allowed)."""


def load_mapping(path: Path | None) -> Mapping:
    """The default tables, overridden by the file at `path` (TOML, or JSON if it ends in .json)."""
    mapping = Mapping()
    if path is None:
        return mapping
    overrides = _read_file(Path(path))
    unknown = set(overrides) - {*_TABLES, "timezone"}
    if unknown:
        raise MappingError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; known: timezone, {', '.join(_TABLES)}"
        )
    changes: dict[str, object] = {}
    for name, table in overrides.items():
        if name == "timezone":
            changes["timezone"] = _timezone(path, table)
            continue
        if not isinstance(table, dict):
            raise MappingError(f"{path}: [{name}] must be a table of code = value")
        key_of, allowed = _TABLES[name]
        merged = dict(getattr(mapping, name))
        for raw_key, value in table.items():
            merged[key_of(path, name, str(raw_key))] = _value(path, name, raw_key, value, allowed())
        changes[name] = merged
    return replace(mapping, **changes)


def _read_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise MappingError(f"{path}: expected sections such as [program_type], found {type(data).__name__}")
    return data


def _timezone(path: Path, name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(
            f"{path}: timezone {name!r} is not an IANA time zone such as America/Chicago"
        ) from exc


def _value(path: Path, table: str, key: object, value: object, allowed: tuple) -> str | None:
    # "" means "the contract has no word for it": report the rows instead of sending them.
    if value == "" or value is None:
        return None
    if value not in allowed:
        raise MappingError(
            f"{path}: [{table}] {key!r} = {value!r} is not one of {', '.join(map(str, allowed))}"
        )
    return str(value)


def _code(valid: dict) -> Callable[[Path, str, str], int]:
    def parse(path: Path, table: str, key: str) -> int:
        if not key.strip().isdigit() or int(key) not in valid:
            raise MappingError(
                f"{path}: [{table}] key {key!r} is not a HUD code ({', '.join(map(str, valid))})"
            )
        return int(key)

    return parse


def _column(valid: dict) -> Callable[[Path, str, str], str]:
    def parse(path: Path, table: str, key: str) -> str:
        if key not in valid:
            raise MappingError(f"{path}: [{table}] key {key!r} is not a column ({', '.join(valid)})")
        return key

    return parse


def _project_id(path: Path, table: str, key: str) -> str:
    if not key.strip():
        raise MappingError(f"{path}: [{table}] has a blank ProjectID")
    return key.strip()


def _service_code(path: Path, table: str, key: str) -> tuple[int, int]:
    record, _, provided = key.partition(":")
    if (
        not (record.isdigit() and provided.isdigit())
        or (int(record), int(provided)) not in DEFAULT_SERVICE_TYPE
    ):
        raise MappingError(
            f'{path}: [{table}] key {key!r} is not RecordType:TypeProvided of HUD\'s lists (e.g. "144:2")'
        )
    return int(record), int(provided)


#: Section -> (key parser, allowed values). Allowed values come from the contract's schemas.
_TABLES: dict[str, tuple[Callable[[Path, str, str], Any], Callable[[], tuple]]] = {
    "program_type": (_code(PROJECT_TYPES), lambda: enum_values("participant.enrolled", "program_type")),
    "project_program_type": (_project_id, lambda: enum_values("participant.enrolled", "program_type")),
    "exit_reason": (_code(DESTINATIONS), lambda: enum_values("participant.exited", "exit_reason")),
    "gender": (_column(DEFAULT_GENDER_FY2024), lambda: enum_values("participant.enrolled", "gender")),
    "sex": (_code(SEX_CODES), lambda: enum_values("participant.enrolled", "gender")),
    "race_ethnicity": (_column(DEFAULT_RACE), lambda: enum_values("participant.enrolled", "race_ethnicity")),
    "service_type": (_service_code, lambda: enum_values("service.delivered", "service_type")),
}
