"""A fast yes-or-don't-know check of a value against a JSON Schema (draft-07), for the contract's hot path.

`compile_check(schema, resolve)` turns a schema into a function of one value that returns True when the
value is valid and False when it is not *or when the check cannot be sure*. The contract accepts a
message's `data` on True and otherwise asks fastjsonschema, which gives the verdict and, for a refusal,
the detail naming the field and the rule. So this module only has to be right when it says True; a False
costs a few microseconds, never a wrong answer.

It knows the keywords the contract's schemas use (type, enum, const, properties, required,
additionalProperties: false, items, uniqueItems, pattern, minimum, maximum, allOf, if/then/else, $ref)
and evaluates each exactly as JSON Schema defines it: JSON equality for enum and const (so `true` is not
`1`), "integer" for any number with no fractional part, patterns as ECMA-262 (`$` is the end of the
text; ASCII classes). A schema with any other keyword, or a pattern outside the plain subset below,
compiles to a check that always says False, so fastjsonschema decides alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

#: Keywords that only annotate a schema.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default"})
#: The keywords a check evaluates, in the order it tests them (type first, so that a value of another
#: type fails at once); `then` and `else` are tested with `if`, `$ref` is followed at compile time.
_ORDER = (
    "type",
    "enum",
    "const",
    "required",
    "additionalProperties",
    "properties",
    "items",
    "uniqueItems",
    "pattern",
    "minimum",
    "maximum",
    "allOf",
    "if",
)
_KNOWN = frozenset({*_ORDER, "then", "else", "$ref"})
#: Patterns this module evaluates itself: anchors, literal characters, classes and counted repeats,
#: where Python (with re.ASCII, and `$` read as the end of the text) and ECMA-262 agree.
_PLAIN_PATTERN = re.compile(r"\^?(?:[A-Za-z0-9_:.-]|\\[.-]|\[[A-Za-z0-9_.\\-]+\]|\{\d+(?:,\d*)?\}|[+*?])*\$?")


class _Unsure(Exception):
    """The check cannot decide this value exactly (fastjsonschema will)."""


def compile_check(schema: dict[str, Any], resolve: Callable[[str], dict[str, Any]]) -> Check:
    """A check of `schema`; `resolve` returns the schema a `$ref` names (with its #fragment).

    The schema becomes the source of one Python function (one boolean expression over the value, no call
    per keyword: a tree of closures measured slower than fastjsonschema itself)."""
    compiler = _Compiler(resolve)
    try:
        expression = compiler.expression(schema, "v", 0)
    except _Unsure:
        return _never
    source = (
        f"def check(v):\n    try:\n        return {expression}\n    except _Unsure:\n        return False\n"
    )
    namespace = {**compiler.constants, "_Unsure": _Unsure}
    exec(compile(source, "<schema_check>", "exec"), namespace)  # noqa: S102 - our own generated source
    check = namespace["check"]
    check.source = source  # for a reader wondering what it does
    return check


_ABSENT = object()


def _never(_value: Any) -> bool:
    return False


def _json_key(value: Any) -> tuple[str, Any]:
    """A key under which JSON-equal scalars are equal and others differ (1 == 1.0, true != 1)."""
    if value is None or type(value) is bool or type(value) is str:
        return (type(value).__name__, value)
    if type(value) is int or type(value) is float:
        return ("number", value)
    raise _Unsure  # arrays and objects in an enum: not used by the contract


def _json_key_or_none(value: Any) -> tuple[str, Any] | None:
    try:
        return _json_key(value)
    except _Unsure:
        return None  # an array or object: never equal to the scalars of an enum


def _unique_strings(value: list) -> bool:
    if not all(type(item) is str for item in value):
        raise _Unsure  # JSON equality of mixed items (1 and 1.0, nested arrays): leave it to fastjsonschema
    return len(set(value)) == len(value)


_NUMBER = "((type({0}) is int or type({0}) is float) and {0} == {0})"  # NaN is no JSON number
_TYPES = {
    "string": "type({0}) is str",
    "object": "type({0}) is dict",
    "array": "type({0}) is list",
    "boolean": "type({0}) is bool",
    "null": "{0} is None",
    "number": _NUMBER,
    "integer": "(type({0}) is int or (type({0}) is float and {0}.is_integer()))",
}


class _Compiler:
    """Schema nodes to Python boolean expressions over a variable; constants (sets, compiled patterns)
    are named and handed to the generated function's namespace."""

    def __init__(self, resolve: Callable[[str], dict[str, Any]]):
        self.resolve = resolve
        self.constants: dict[str, Any] = {
            "_ABSENT": _ABSENT,
            "_json_key_or_none": _json_key_or_none,
            "_unique_strings": _unique_strings,
        }

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def expression(self, schema: Any, var: str, depth: int) -> str:
        if schema is True or schema == {}:
            return "True"
        if type(schema) is not dict or not set(schema) <= _KNOWN | _ANNOTATIONS:
            raise _Unsure
        if "$ref" in schema:
            if len(set(schema) - _ANNOTATIONS) > 1:
                raise _Unsure  # draft-07 ignores a $ref's siblings: not worth getting right here
            return self.expression(self.resolve(schema["$ref"]), var, depth)
        parts = [
            getattr(self, "_" + keyword.lower())(schema[keyword], schema, var, depth)
            for keyword in _ORDER
            if keyword in schema
        ]
        parts = [p for p in parts if p != "True"]
        if schema.get("type") == "object":  # checked first: the others need not ask again
            guard = f"type({var}) is not dict or "
            parts = [parts[0]] + [
                p.replace(guard, "", 1) if p.startswith("(" + guard) else p for p in parts[1:]
            ]
        return "(" + " and ".join(parts) + ")" if parts else "True"

    # -- types and equality -------------------------------------------------------------------------

    def _type(self, expected: Any, _schema: dict, var: str, _depth: int) -> str:
        names = [expected] if type(expected) is str else list(expected)
        if not all(name in _TYPES for name in names):
            raise _Unsure
        return "(" + " or ".join(_TYPES[name].format(var) for name in names) + ")"

    def _enum(self, values: list[Any], _schema: dict, var: str, _depth: int) -> str:
        keys = frozenset(_json_key(v) for v in values)
        strings = frozenset(v for v in values if type(v) is str)
        if len(strings) == len(keys):  # only strings: the common case, one set lookup
            return f"(type({var}) is str and {var} in {self.constant(strings)})"
        return f"(_json_key_or_none({var}) in {self.constant(keys)})"

    def _const(self, value: Any, schema: dict, var: str, depth: int) -> str:
        return self._enum([value], schema, var, depth)

    # -- objects and arrays -------------------------------------------------------------------------

    def _required(self, names: list[str], _schema: dict, var: str, _depth: int) -> str:
        return f"(type({var}) is not dict or {self.constant(frozenset(names))} <= {var}.keys())"

    def _additionalproperties(self, allowed: Any, schema: dict, var: str, _depth: int) -> str:
        if allowed is True:
            return "True"
        if allowed is not False:
            raise _Unsure
        known = self.constant(frozenset(schema.get("properties", {})))
        return f"(type({var}) is not dict or {var}.keys() <= {known})"

    def _properties(self, properties: dict[str, Any], _schema: dict, var: str, depth: int) -> str:
        checks = []
        for name, sub in properties.items():
            value = f"_v{len(self.constants)}"
            self.constants[value] = None  # reserves the name
            check = self.expression(sub, value, depth)
            if check != "True":
                # one dict lookup per property, bound to a name (`_ABSENT` when the key is missing)
                checks.append(f"(({value} := {var}.get({name!r}, _ABSENT)) is _ABSENT or {check})")
        if not checks:
            return "True"
        return f"(type({var}) is not dict or (" + " and ".join(checks) + "))"

    def _items(self, items: Any, _schema: dict, var: str, depth: int) -> str:
        if type(items) is not dict:
            raise _Unsure  # tuple validation (a list of schemas): not used by the contract
        item = f"_i{depth}"
        check = self.expression(items, item, depth + 1)
        return f"(type({var}) is not list or all({check} for {item} in {var}))"

    def _uniqueitems(self, unique: Any, _schema: dict, var: str, _depth: int) -> str:
        return f"(type({var}) is not list or _unique_strings({var}))" if unique is True else "True"

    # -- strings and numbers ------------------------------------------------------------------------

    def _pattern(self, pattern: str, _schema: dict, var: str, _depth: int) -> str:
        if not _PLAIN_PATTERN.fullmatch(pattern):
            raise _Unsure
        # ECMA-262: `$` (without the multiline flag) is the end of the text; Python's also matches before
        # a final newline. ECMA-262 classes are ASCII: so are Python's with re.ASCII.
        compiled = re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern, re.ASCII)
        return f"(type({var}) is not str or {self.constant(compiled.search)}({var}) is not None)"

    def _minimum(self, limit: Any, _schema: dict, var: str, _depth: int) -> str:
        return self._bound(limit, var, ">=")

    def _maximum(self, limit: Any, _schema: dict, var: str, _depth: int) -> str:
        return self._bound(limit, var, "<=")

    def _bound(self, limit: Any, var: str, operator: str) -> str:
        if type(limit) not in (int, float):
            raise _Unsure
        return f"(not {_NUMBER.format(var)} or {var} {operator} {limit!r})"

    # -- combinations -------------------------------------------------------------------------------

    def _allof(self, schemas: list[Any], _schema: dict, var: str, depth: int) -> str:
        checks = [self.expression(sub, var, depth) for sub in schemas]
        return "(" + " and ".join(checks) + ")" if checks else "True"

    def _if(self, condition: Any, schema: dict, var: str, depth: int) -> str:
        # `else` needs the condition's exact negation: every expression here is exact or raises _Unsure,
        # which makes the whole value unsure (the check answers False).
        test = self.expression(condition, var, depth)
        then = self.expression(schema.get("then", True), var, depth)
        otherwise = self.expression(schema.get("else", True), var, depth)
        return f"({then} if {test} else {otherwise})"
