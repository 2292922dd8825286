"""The mock's JSON-schema value generator: every value it draws validates against its schema
(checked by ``jsonschema``, formats included), the same seed gives the same value, and a
hostile schema ends in a ``SchemaError`` after bounded work, never a long computation."""

from __future__ import annotations

import time
from datetime import date
from enum import StrEnum
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, Field

from fastgw.providers.mock_schema import MAX_DEPTH, SchemaError, schema_value

SEEDS = range(40)
CHECKER = jsonschema.FormatChecker()


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    zip_code: str = Field(min_length=5, max_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    email: str = Field(json_schema_extra={"format": "email"})
    born: date
    color: Color
    address: Address | None = None
    tags: list[str] = Field(default_factory=list, max_length=3)
    kind: Literal["human"] = "human"
    score: float = Field(gt=0, lt=1)


class Node(BaseModel):
    value: int
    children: list[Node] = []
    parent: Node | None = None


SCHEMAS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "integer", "minimum": 5, "maximum": 7},
    {"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 7},
    {"type": "integer", "multipleOf": 7, "minimum": 10, "maximum": 30},
    {"type": "number", "minimum": -1.5, "maximum": -1.25},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.01},
    {"type": "number", "multipleOf": 0.1, "minimum": -1},
    {"type": "boolean"},
    {"type": "null"},
    {"type": ["string", "null"]},
    {"enum": ["a", 1, None, {"x": 1}]},
    {"const": {"k": [1, 2]}},
    {"type": "string", "minLength": 30, "maxLength": 31},
    {"type": "string", "maxLength": 2},
    {"type": "string", "format": "date"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "uri"},
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "ipv4"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    {"type": "array", "items": {"enum": [1, 2, 3, 4, 5]}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2},
    {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    {"type": "object", "minProperties": 3, "additionalProperties": {"type": "boolean"}},
    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"oneOf": [{"type": "object", "properties": {"t": {"const": "x"}}, "required": ["t"]}]},
    {"allOf": [{"$ref": "#/$defs/A"}, {"required": ["b"], "properties": {"b": {"type": "null"}}}]}
    | {"$defs": {"A": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
    {"$ref": "#/definitions/X", "definitions": {"X": {"type": "string", "format": "date"}}},
    {},
    # recursion through $ref that may end (an optional, a nullable, an array child)
    {
        "$defs": {
            "T": {
                "type": "object",
                "properties": {
                    "next": {"anyOf": [{"$ref": "#/$defs/T"}, {"type": "null"}]},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/T"}},
                    "more": {"$ref": "#/$defs/T"},
                },
                "required": ["next", "kids"],
            }
        },
        "$ref": "#/$defs/T",
    },
    Person.model_json_schema(),
    Node.model_json_schema(),
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: str(s)[:40])
def test_values_validate_against_their_schema(schema: dict[str, Any]) -> None:
    """For many seeds, the value fits the schema (jsonschema, with format checks)."""
    for seed in SEEDS:
        value = schema_value(schema, seed)
        jsonschema.validate(value, schema, format_checker=CHECKER)


def test_same_seed_same_value_and_seeds_vary() -> None:
    """Deterministic per seed; different seeds give different values of a rich schema."""
    schema = Person.model_json_schema()
    assert schema_value(schema, 7) == schema_value(schema, 7)
    assert len({repr(schema_value(schema, s)) for s in SEEDS}) > 10


def test_openai_strict_pydantic_function_tool() -> None:
    """The schema ``openai.pydantic_function_tool`` sends (strict: every property required,
    additionalProperties false, nested $defs) is filled."""
    import openai

    tool: Any = openai.pydantic_function_tool(Person)
    parameters = tool["function"]["parameters"]
    assert tool["function"]["strict"] is True
    for seed in SEEDS:
        jsonschema.validate(schema_value(parameters, seed), parameters, format_checker=CHECKER)


HOSTILE: list[tuple[str, Any]] = [
    ("not an object", ["type", "string"]),
    ("false schema", False),
    ("unknown type", {"type": "strnig"}),
    ("empty enum", {"enum": []}),
    ("remote ref", {"$ref": "https://example.com/schema.json"}),
    ("dangling ref", {"$ref": "#/$defs/Missing"}),
    ("ref loop", {"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#"}}}),
    (
        "required infinite recursion",
        {
            "$defs": {
                "N": {
                    "type": "object",
                    "properties": {"n": {"$ref": "#/$defs/N"}},
                    "required": ["n"],
                }
            },
            "$ref": "#/$defs/N",
        },
    ),
    ("huge minItems", {"type": "array", "items": {"type": "string"}, "minItems": 10**9}),
    ("huge minLength", {"type": "string", "minLength": 10**9}),
    ("huge minProperties", {"type": "object", "minProperties": 10**6}),
    ("empty range", {"type": "integer", "minimum": 5, "maximum": 4}),
    ("no multiple", {"type": "integer", "multipleOf": 10, "minimum": 1, "maximum": 9}),
    ("maxItems below minItems", {"type": "array", "minItems": 3, "maxItems": 1}),
    ("forbidden required", {"type": "object", "required": ["x"], "additionalProperties": False}),
]


@pytest.mark.parametrize(("why", "schema"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_bad_or_hostile_schemas_are_schema_errors(why: str, schema: Any) -> None:
    """Malformed, unsatisfiable or past-the-bounds schemas raise SchemaError, quickly."""
    started = time.perf_counter()
    with pytest.raises(SchemaError):
        schema_value(schema, 1)
    assert time.perf_counter() - started < 1.0, why


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def test_depth_is_bounded() -> None:
    """A value nests at most MAX_DEPTH levels: one more required level is a SchemaError."""
    jsonschema.validate(schema_value(_nested(MAX_DEPTH), 0), _nested(MAX_DEPTH))
    with pytest.raises(SchemaError, match="deeper"):
        schema_value(_nested(MAX_DEPTH + 1), 0)


def test_exponential_schemas_stop_at_the_step_bound() -> None:
    """Each level requires 60 copies of the next (60^8 values): the step bound stops it in
    well under a second."""
    defs: dict[str, Any] = {"L8": {"type": "string"}}
    for level in range(7, -1, -1):
        properties = {f"p{i}": {"$ref": f"#/$defs/L{level + 1}"} for i in range(60)}
        defs[f"L{level}"] = {
            "type": "object",
            "properties": properties,
            "required": list(properties),
        }
    started = time.perf_counter()
    with pytest.raises(SchemaError, match="steps"):
        schema_value({"$ref": "#/$defs/L0", "$defs": defs}, 0)
    assert time.perf_counter() - started < 1.0


def test_long_strings_in_all_are_bounded() -> None:
    """60 required strings of 4,096 characters pass the character bound: a SchemaError."""
    properties = {f"s{i}": {"type": "string", "minLength": 4096} for i in range(60)}
    with pytest.raises(SchemaError, match="characters"):
        schema_value({"type": "object", "properties": properties, "required": list(properties)}, 0)


def test_arrays_stay_small_whatever_maxitems_says() -> None:
    """A huge maxItems is not a reason to make a huge array (at most minItems + 3)."""
    value = schema_value({"type": "array", "items": {"type": "integer"}, "maxItems": 10**9}, 3)
    assert isinstance(value, list) and len(value) <= 3
