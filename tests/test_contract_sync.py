"""The contract said once: the JSON Schemas under streams/schemas/ are the source of every enumeration,
reason and pattern; the copies that dbt needs (it cannot read a JSON Schema) are checked against them here.

Why a check and not generated files (docs/architecture.md): the dbt YAML stays readable as it is (the
values show in dbt's docs and in a review), nothing has to be regenerated before a build, and a drift
fails here with the model, the column and the values that differ.

Every `accepted_values` list of the dbt project is either copied from the contract (CONTRACT_LISTS says
from which schema field) or the warehouse's own (WAREHOUSE_LISTS); a new list that is neither fails, so it
cannot slip in unchecked. Each comparison is also run on a deliberately altered copy of the project, to
prove it reports the drift.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streams import contract
from streams.contract import SCHEMA_DIR, enum_values, load_schema

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


# --- what the schemas say ------------------------------------------------------------------------------


def event_types() -> tuple[str, ...]:
    """The types of the contract: every schema file that fixes `type` with a const."""
    types = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        const = load_schema(path.stem).get("properties", {}).get("type", {}).get("const")
        if const:
            types.append(const)
    return tuple(types)


def dead_letter_reasons() -> tuple[str, ...]:
    """Every dead-letter reason, in the order they are decided."""
    return tuple(load_schema("dead_letter_reason")["enum"])


@dataclass(frozen=True)
class FromSchema:
    """The values of a dbt list copied from the contract: `values()` reads them from the schemas."""

    values: Callable[[], tuple[str, ...]]
    ordered: bool = False  # the order matters too (the reasons: they name columns in check order)


def field(event_type: str, name: str, *extra: str) -> FromSchema:
    """`data.<name>` of `event_type`, plus values the warehouse adds (e.g. `requested`, a status that is
    a referral.requested event, not a status_changed value)."""
    return FromSchema(lambda: (*extra, *enum_values(event_type, name)))


REASONS = FromSchema(dead_letter_reasons, ordered=True)
STATUS = field("referral.status_changed", "status")
STATUS_OR_REQUESTED = field("referral.status_changed", "status", "requested")

#: (model, seed or source table, column) -> where its accepted values come from in the contract.
CONTRACT_LISTS: dict[tuple[str, str], FromSchema] = {
    ("raw.dead_letters", "error_reason"): REASONS,
    ("stg_raw__dead_letters", "error_reason"): REASONS,
    ("stg_events__participant_enrolled", "program_type"): field("participant.enrolled", "program_type"),
    ("stg_events__participant_enrolled", "risk_level"): field("participant.enrolled", "risk_level"),
    ("stg_events__participant_enrolled", "gender"): field("participant.enrolled", "gender"),
    ("stg_events__participant_exited", "exit_reason"): field("participant.exited", "exit_reason"),
    ("stg_events__consent_granted", "consent_scope"): field("consent.granted", "scope"),
    ("stg_events__consent_revoked", "consent_scope"): field("consent.revoked", "scope"),
    ("stg_events__referral_requested", "service_type"): field("referral.requested", "service_type"),
    ("stg_events__referral_requested", "priority"): field("referral.requested", "priority"),
    ("stg_events__referral_status_changed", "status"): STATUS,
    ("stg_events__referral_status_changed", "status_reason"): field(
        "referral.status_changed", "status_reason"
    ),
    ("stg_events__service_delivered", "service_type"): field("service.delivered", "service_type"),
    ("stg_events__incident_recorded", "incident_type"): field("incident.recorded", "incident_type"),
    ("stg_events__incident_recorded", "participant_role"): field("incident.recorded", "role"),
    ("stg_events__incident_recorded", "incident_outcome"): field("incident.recorded", "outcome"),
    ("stg_events__custody_admitted", "facility_type"): field("custody.admitted", "facility_type"),
    ("stg_events__custody_admitted", "admission_reason"): field("custody.admitted", "admission_reason"),
    ("stg_events__custody_released", "facility_type"): field("custody.released", "facility_type"),
    ("stg_events__custody_released", "release_reason"): field("custody.released", "release_reason"),
    ("stg_events__justice_arrested", "charge_category"): field("justice.arrested", "charge_category"),
    ("stg_events__outcome_recorded", "outcome_domain"): field("outcome.recorded", "domain"),
    ("stg_events__outcome_recorded", "outcome_status"): field("outcome.recorded", "status"),
    ("int_events__unioned", "event_type"): FromSchema(event_types),
    ("int_participants__consent_status", "consent_scope"): field("consent.granted", "scope"),
    # gender and race/ethnicity of the latest enrollment; `not_recorded` when there is none
    ("int_participants__demographics", "dimension_value"): FromSchema(
        lambda: (
            *enum_values("participant.enrolled", "gender"),
            *enum_values("participant.enrolled", "race_ethnicity"),
            "not_recorded",
        )
    ),
    ("int_referrals__lifecycle", "status"): STATUS,
    ("int_referrals__lifecycle", "previous_status"): STATUS_OR_REQUESTED,
    ("referral_handoffs", "service_type"): field("referral.requested", "service_type"),
    ("referral_handoffs", "priority"): field("referral.requested", "priority"),
    ("referral_handoffs", "final_status"): STATUS_OR_REQUESTED,
    ("referral_handoffs", "final_status_reason"): field("referral.status_changed", "status_reason"),
    ("journey_events", "event_type"): FromSchema(event_types),
    ("journey_events", "program_type"): field("participant.enrolled", "program_type"),
    ("participant_journeys", "first_program_type"): field("participant.enrolled", "program_type"),
}

#: Lists that are the warehouse's own vocabulary (warehouse-v1), not the event contract's.
WAREHOUSE_LISTS = {
    ("int_events__unioned", "stage"),
    ("journey_events", "stage"),
    ("participant_journeys", "current_stage"),
    ("int_participants__demographics", "dimension"),
    ("funder_outcomes", "dimension"),
    ("funder_measure_dimensions", "dimension"),
    ("funder_outcomes", "measure_id"),  # checked against the seed below
    ("funder_outcomes", "period_grain"),
    ("int_participants__release_cohorts", "period_grain"),
    *((f"int_outcomes__{m}", "period_grain") for m in ("participants_served", "referrals", "programs")),
    *((f"int_outcomes__{m}", "period_grain") for m in ("reentry", "mediation")),
    ("raw.batches", "status"),
    ("stg_raw__batches", "batch_status"),
    ("provider_referral_handoffs", "direction"),
}


# --- what the dbt project says -------------------------------------------------------------------------


def _yaml_files(dbt_dir: Path) -> list[Path]:
    return sorted(p for folder in ("models", "seeds") for p in (dbt_dir / folder).rglob("*.yml"))


def _accepted_values(tests: list[Any]) -> list[Any]:
    found = []
    for test in tests or []:
        if isinstance(test, dict) and "accepted_values" in test:
            spec = test["accepted_values"]
            found.append(spec.get("arguments", spec)["values"])
    return found


def _accepted_values_by_column(tests: list[Any]) -> dict[str, list[Any]]:
    """The `accepted_values` of a model's row_rules tests (tests/generic): column -> its accepted values."""
    found = {}
    for test in tests or []:
        if isinstance(test, dict) and "row_rules" in test:
            spec = test["row_rules"]
            found.update(spec.get("arguments", spec).get("accepted_values") or {})
    return found


def dbt_accepted_values(dbt_dir: Path) -> dict[tuple[str, str], list[Any]]:
    """(model, seed or source table, column) -> its accepted values, from every YAML file of the project:
    a column's accepted_values test, or its entry in the `accepted_values` of its model's row_rules."""
    lists: dict[tuple[str, str], list[Any]] = {}
    for path in _yaml_files(dbt_dir):
        doc = yaml.safe_load(path.read_text()) or {}
        nodes = [*doc.get("models", []), *doc.get("seeds", [])]
        for source in doc.get("sources", []):
            nodes += [{**t, "name": f"{source['name']}.{t['name']}"} for t in source.get("tables", [])]
        for node in nodes:
            for column, values in _accepted_values_by_column(node.get("data_tests")).items():
                lists[(node["name"], column)] = values
            for column in node.get("columns", []) or []:
                for values in _accepted_values(column.get("data_tests") or column.get("tests")):
                    lists[(node["name"], column["name"])] = values
    return lists


def dbt_macro_reasons(dbt_dir: Path) -> list[str]:
    """The list the `dead_letter_reasons()` macro returns."""
    text = (dbt_dir / "macros" / "dead_letter_reasons.sql").read_text()
    return re.findall(r"'([a-z_]+)'", text.split("return(", 1)[1].split(")", 1)[0])


def dbt_quality_reason_columns(dbt_dir: Path) -> list[str]:
    """The reasons of provider_data_quality's `dead_letters_<reason>` columns, in their order."""
    doc = yaml.safe_load((dbt_dir / "models" / "marts" / "_marts__models.yml").read_text())
    (model,) = [m for m in doc["models"] if m["name"] == "provider_data_quality"]
    return [
        c["name"].removeprefix("dead_letters_")
        for c in model["columns"]
        if c["name"].startswith("dead_letters_")
    ]


# --- the comparison ------------------------------------------------------------------------------------


def _differs(where: str, found: list[Any], wanted: tuple[str, ...], ordered: bool) -> list[str]:
    if ordered and list(found) != list(wanted):
        return [f"{where}: {list(found)} is not the contract's list in its order {list(wanted)}"]
    missing, extra = sorted(set(wanted) - set(found)), sorted(set(found) - set(wanted))
    if missing or extra:
        return [f"{where}: missing {missing}, not in the contract {extra}"]
    return []


def drift(dbt_dir: Path) -> list[str]:
    """Every place where the dbt project disagrees with the contract's schemas (empty: none)."""
    problems = []
    lists = dbt_accepted_values(dbt_dir)
    for (node, column), values in sorted(lists.items()):
        where = f"{node}.{column} (accepted_values)"
        if (node, column) in CONTRACT_LISTS:
            source = CONTRACT_LISTS[(node, column)]
            problems += _differs(where, values, source.values(), source.ordered)
        elif (node, column) not in WAREHOUSE_LISTS:
            problems.append(
                f"{where}: not classified: add it to CONTRACT_LISTS (with its schema field) "
                "or to WAREHOUSE_LISTS in tests/test_contract_sync.py"
            )
    for gone in sorted(set(CONTRACT_LISTS) - set(lists)):
        problems.append(f"{'.'.join(gone)}: the accepted_values test copied from the contract is gone")
    reasons = dead_letter_reasons()
    problems += _differs("macro dead_letter_reasons()", dbt_macro_reasons(dbt_dir), reasons, ordered=True)
    problems += _differs(
        "provider_data_quality dead_letters_* columns", dbt_quality_reason_columns(dbt_dir), reasons, True
    )
    return problems


# --- the tests -----------------------------------------------------------------------------------------


def test_dbt_agrees_with_the_contracts_schemas() -> None:
    assert drift(DBT_DIR) == []


def test_every_contract_list_is_checked() -> None:
    """23 lists of the dbt YAML were copied from the schemas by hand (issue 12), plus the two of reasons."""
    assert len(CONTRACT_LISTS) >= 25
    assert set(CONTRACT_LISTS) <= set(dbt_accepted_values(DBT_DIR))


def _altered_copy(tmp_path: Path, path: str, old: str, new: str) -> Path:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    text = (copy / path).read_text()
    assert old in text, f"the test's edit no longer applies to {path}: {old!r}"
    (copy / path).write_text(text.replace(old, new, 1))
    return copy


def test_a_value_added_to_a_dbt_list_is_reported(tmp_path: Path) -> None:
    copy = _altered_copy(
        tmp_path,
        "models/staging/_staging__models.yml",
        "facility_type: [jail, prison]",
        "facility_type: [jail, prison, hospital]",
    )
    assert drift(copy) == [
        "stg_events__custody_admitted.facility_type (accepted_values): missing [], not in the contract "
        "['hospital']"
    ]


def test_a_value_missing_from_a_dbt_list_is_reported(tmp_path: Path) -> None:
    copy = _altered_copy(
        tmp_path,
        "models/staging/_staging__models.yml",
        "risk_level: [low, moderate, high, very_high]",
        "risk_level: [low, moderate, high]",
    )
    assert drift(copy) == [
        "stg_events__participant_enrolled.risk_level (accepted_values): missing ['very_high'], "
        "not in the contract []"
    ]


def test_reasons_out_of_order_or_missing_are_reported(tmp_path: Path) -> None:
    copy = _altered_copy(
        tmp_path,
        "macros/dead_letter_reasons.sql",
        "'unreadable_record', 'too_large', ",
        "'too_large', 'unreadable_record', ",
    )
    (problem,) = drift(copy)
    assert problem.startswith("macro dead_letter_reasons(): ['too_large', 'unreadable_record'")
    copy = _altered_copy(
        tmp_path / "2", "models/staging/_sources.yml", "error_reason: [unreadable_record, ", "error_reason: ["
    )
    (problem,) = drift(copy)
    assert problem.startswith("raw.dead_letters.error_reason (accepted_values): ['too_large', 'not_json'")


def test_an_unclassified_list_is_reported(tmp_path: Path) -> None:
    copy = _altered_copy(
        tmp_path,
        "models/staging/_staging__models.yml",
        "      - name: zip3\n",
        "      - name: zip3\n        data_tests: [{accepted_values: {arguments: {values: ['731']}}}]\n",
    )
    (problem,) = drift(copy)
    assert problem.startswith("stg_events__participant_enrolled.zip3 (accepted_values): not classified")


def test_the_measures_of_funder_outcomes_are_the_seeds() -> None:
    seed = (DBT_DIR / "seeds" / "funder_measure_dimensions.csv").read_text().split()[1:]
    measures = {line.split(",")[0] for line in seed}
    assert set(dbt_accepted_values(DBT_DIR)[("funder_outcomes", "measure_id")]) == measures


def test_the_contracts_reasons_are_the_schemas_less_those_decided_before_it() -> None:
    schema = load_schema("dead_letter_reason")
    before = schema["x-decided-before-the-contract"]
    assert before == ["unreadable_record"] and dead_letter_reasons()[0] == "unreadable_record"
    assert tuple(r for r in dead_letter_reasons() if r not in before) == contract.DEAD_LETTER_REASONS


def _pattern(node: dict[str, Any]) -> str:
    return node["pattern"].removeprefix("^").removesuffix("$")


def test_the_validators_patterns_are_the_schemas() -> None:
    """streams.contract checks ids and subjects by hand (faster): its patterns must be the schemas'."""
    assert contract._UUID.pattern == _pattern(load_schema("common")["definitions"]["uuid"])
    assert contract._SUBJECT.pattern == _pattern(load_schema("envelope")["properties"]["subject"])
