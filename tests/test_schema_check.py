"""The contract's fast data check (streams/schema_check.py) against fastjsonschema, the validator whose
verdict the contract gives: on corner cases of JSON Schema, and on the contract's own schemas for every
value tried, valid or broken. (fastjsonschema, not jsonschema, is the oracle: jsonschema reads a
pattern's `$` the Python way, so it takes "731\n" for three digits; ECMA-262 and fastjsonschema do not.)"""

from __future__ import annotations

import itertools

import fastjsonschema
import pytest

from streams.contract import EVENT_TYPES, _data_fast_checks, _data_validators, load_schema
from streams.schema_check import compile_check
from tests.contract_examples import UUID_A, VALID_DATA


def _no_refs(ref: str) -> dict:
    raise AssertionError(f"unexpected $ref {ref}")


def _is_valid(validate, value: object) -> bool:
    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


# (schema, value, valid): corners where Python and JSON Schema disagree unless the check is careful.
CORNERS = [
    ({"enum": ["a", None]}, "a", True),
    ({"enum": ["a", None]}, None, True),
    ({"enum": ["a", None]}, "A", False),
    ({"enum": [1]}, True, False),  # JSON: true is not 1 (Python: True == 1)
    ({"enum": [1]}, 1.0, True),  # JSON: 1.0 is 1
    ({"enum": [True]}, 1, False),
    ({"enum": [1, "x"]}, [1], False),
    ({"const": "employment"}, "employment", True),
    ({"const": "employment"}, ["employment"], False),
    ({"type": "integer"}, 3, True),
    ({"type": "integer"}, 3.0, True),  # draft-07: a number with no fractional part
    ({"type": "integer"}, 3.5, False),
    ({"type": "integer"}, True, False),
    ({"type": ["integer", "null"]}, None, True),
    ({"type": "number"}, False, False),
    ({"type": "string", "pattern": "^[0-9]{3}$"}, "731", True),
    ({"type": "string", "pattern": "^[0-9]{3}$"}, "731\n", False),  # `$` is the end of the text
    ({"type": "string", "pattern": "^[0-9]{3}$"}, "٧٣١", False),  # Arabic-Indic digits are no [0-9]
    ({"pattern": "^[0-9]{3}$"}, 731, True),  # a pattern says nothing of a number
    ({"pattern": "[a-z]"}, "ABc", True),  # unanchored: a match anywhere
    ({"minimum": 1, "maximum": 1440}, 1440, True),
    ({"minimum": 1, "maximum": 1440}, 0, False),
    ({"minimum": 1}, "0", True),  # a bound says nothing of a string
    ({"required": ["a"], "properties": {"a": {"type": "string"}}}, {"a": "x"}, True),
    ({"required": ["a"], "properties": {"a": {"type": "string"}}}, {}, False),
    ({"required": ["a"]}, [], True),  # required says nothing of an array
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
    ({"type": "array", "uniqueItems": True, "items": {"enum": ["x", "y"]}}, ["x", "y"], True),
    ({"type": "array", "uniqueItems": True, "items": {"enum": ["x", "y"]}}, ["x", "x"], False),
    ({"type": "array", "items": {"enum": ["x"]}}, ["x", "z"], False),
    (
        {
            "properties": {"d": {"enum": ["e", "h"]}, "s": {}},
            "if": {"properties": {"d": {"const": "e"}}},
            "then": {"properties": {"s": {"enum": ["job"]}}},
            "else": {"properties": {"s": {"enum": ["home"]}}},
        },
        {"d": "h", "s": "home"},
        True,
    ),
    (
        {
            "if": {"properties": {"d": {"const": "e"}}},
            "then": {"properties": {"s": {"enum": ["job"]}}},
            "else": {"properties": {"s": {"enum": ["home"]}}},
        },
        {"d": "e", "s": "home"},
        False,
    ),
    ({"allOf": [{"type": "string"}, {"enum": ["a"]}]}, "a", True),
]


@pytest.mark.parametrize(("schema", "value", "valid"), CORNERS)
def test_corner_cases_agree_with_json_schema(schema: dict, value: object, valid: bool) -> None:
    assert _is_valid(fastjsonschema.compile(schema), value) is valid  # the case itself is right
    assert compile_check(schema, _no_refs)(value) is valid


# Where it cannot be sure, the check says False (and the contract asks fastjsonschema).
UNSURE = [
    ({"type": "array", "uniqueItems": True}, ["1", 1]),  # items of mixed types
    ({"type": "string", "format": "date-time"}, "2026-05-30T09:30:00Z"),  # a keyword it does not know
    ({"type": "string", "pattern": "^\\d{3}$"}, "731"),  # \d: not in the plain pattern subset
    ({"enum": [[1]]}, [1]),  # arrays in an enum
]


@pytest.mark.parametrize(("schema", "value"), UNSURE)
def test_what_it_cannot_decide_exactly_it_leaves_to_the_validator(schema: dict, value: object) -> None:
    assert _is_valid(fastjsonschema.compile(schema), value)
    assert compile_check(schema, _no_refs)(value) is False


#: Values to put in a field: of every JSON type, near misses of the contract's strings and numbers.
ODD_VALUES = [
    *(None, True, False, 0, 1, 1.0, 1.5, 1900, 2026, 2027, 1440, -1),
    *("", "x", "731", "7310", "731\n", UUID_A, UUID_A.upper(), UUID_A + "\n"),
    *([], ["white"], ["white", "white"], ["martian"], {}, {"a": 1}),
]


def _mutations(data: dict) -> list[dict]:
    """The example, then each field missing, each field set to each odd value or to another field's
    value, and one unknown field."""
    variants = [dict(data), {**data, "first_name": "x"}]
    for field in data:
        variants.append({k: v for k, v in data.items() if k != field})
        values = ODD_VALUES + [v for k, v in data.items() if k != field]
        variants.extend({**data, field: value} for value in values)
    return variants


def _valid_variants(event_type: str) -> list[dict]:
    """Valid values from every enumeration of the type's fields, combined pairwise with the example."""
    schema = load_schema(event_type)["properties"]["data"]["properties"]
    data = VALID_DATA[event_type]
    options = {}
    for field in data:
        node = schema[field]
        enum = node.get("enum") or node.get("const") and [node["const"]]
        if enum:
            options[field] = enum
    variants = []
    for (f1, v1), (f2, v2) in itertools.combinations(
        [(f, v) for f, values in options.items() for v in values], 2
    ):
        if f1 != f2:
            variants.append({**data, f1: v1, f2: v2})
    return variants or [data]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_on_the_contracts_schemas_it_answers_as_fastjsonschema_does(event_type: str) -> None:
    fast = _data_fast_checks()[event_type]
    reference = _data_validators()[event_type]
    values = _mutations(VALID_DATA[event_type]) + _valid_variants(event_type)
    answers = [(fast(v), _is_valid(reference, v)) for v in values]
    disagreements = [v for v, (a, b) in zip(values, answers, strict=True) if a != b]
    assert not disagreements, disagreements[:5]
    assert any(a for a, _ in answers) and not all(a for a, _ in answers)  # both answers were tried
