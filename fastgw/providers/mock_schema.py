"""Values that fit a JSON schema, for the mock provider's tool arguments and structured output.

``schema_value(schema, seed)`` returns a JSON value (dicts, lists, str, int, float, bool,
None) that validates against ``schema``; the same schema and seed always give the same value.
It understands what tool and ``response_format`` schemas use, pydantic's output included:
``type`` (one or a list, ``"null"`` among them), ``properties`` / ``required`` /
``additionalProperties`` / ``minProperties``, ``items`` / ``prefixItems`` / ``minItems`` /
``maxItems`` / ``uniqueItems``, ``enum``, ``const``, ``anyOf`` / ``oneOf`` (the first branch
that can end), ``allOf`` (merged), ``$ref`` into the document (``#/$defs/...``,
``#/definitions/...``, ``#``), ``minimum`` / ``maximum`` / their exclusive forms /
``multipleOf``, ``minLength`` / ``maxLength`` and the ``format`` of dates, times, e-mail
addresses, URIs, UUIDs and IPv4 addresses. ``pattern``, ``not`` and ``if`` are not followed.

Rules this module keeps:
- No I/O, no state: a schema and a seed in, a value or ``SchemaError`` out (the mock answers
  the error as OpenAI answers an invalid schema: a 400).
- Every schema is a client's and may be hostile, so the work is bounded whatever it says:
  values nest at most ``MAX_DEPTH`` levels; past half of that the generator turns minimal
  (optional properties left out, arrays at their ``minItems``, the branch or type that ends
  preferred), so recursion through ``$ref`` ends; a schema that still needs more depth, more
  than ``MAX_ITEMS`` items or properties, a string longer than ``MAX_STRING``, more than
  ``MAX_NODES`` schema steps or ``MAX_CHARS`` characters in all, or a ``$ref`` / ``allOf``
  chain longer than ``MAX_HOPS``, is a ``SchemaError``, never a long computation.
"""

from __future__ import annotations

import math
import random
from typing import Any

MAX_DEPTH = 8  # levels of nested objects and arrays in a value
MAX_ITEMS = 64  # minItems / minProperties the mock will meet
MAX_STRING = 4096  # minLength the mock will meet
MAX_NODES = 4096  # schema steps for one value (each $ref, branch and value is one)
MAX_CHARS = 65_536  # characters of all strings in one value
MAX_HOPS = 64  # $ref / allOf / anyOf steps without a value between them
_EXTRA_ITEMS = 3  # items an array gets above its minItems, at most
_TYPES = frozenset(("object", "array", "string", "number", "integer", "boolean", "null"))
_ENDING = ("null", "boolean", "integer", "number", "string", "array", "object")  # cheapest first

_WORDS = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
)


class SchemaError(ValueError):
    """A schema the mock cannot (or will not, past its bounds) produce a value for."""


def schema_value(schema: Any, seed: int) -> Any:
    """A value fitting ``schema`` (a decoded JSON schema), drawn from ``seed``; raises
    ``SchemaError`` for a schema that is malformed, unsatisfiable or past the bounds."""
    return _Generator(schema, seed).value(schema, 0, 0)


class _Generator:
    def __init__(self, root: Any, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed & 0xFFFFFFFFFFFFFFFF)
        self.nodes = 0
        self.chars = 0

    def value(self, schema: Any, depth: int, hops: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SchemaError(f"the schema needs more than {MAX_NODES} steps to fill")
        if hops > MAX_HOPS:
            raise SchemaError(f"a chain of more than {MAX_HOPS} $ref/allOf/anyOf steps")
        if schema is True:
            return self.string({}, depth)
        if schema is False:
            raise SchemaError("a false schema: no value fits it")
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be an object, got {type(schema).__name__}")
        if "$ref" in schema:
            target = self.resolve(schema["$ref"])
            if len(schema) > 1:  # siblings of $ref (2020-12 allows them): both apply
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                target = _merge([target, rest])
            return self.value(target, depth, hops + 1)
        if "allOf" in schema:
            parts = schema["allOf"]
            if not isinstance(parts, list) or not parts:
                raise SchemaError("allOf must be a non-empty array")
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            resolved = [self.follow(p, hops) for p in parts]
            return self.value(_merge([*resolved, rest]), depth, hops + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list) or not options:
                raise SchemaError("enum must be a non-empty array")
            return options[self.rng.randrange(len(options))]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = schema[key]
                if not isinstance(branches, list) or not branches:
                    raise SchemaError(f"{key} must be a non-empty array")
                rest = {k: v for k, v in schema.items() if k != key}
                branch = self.branch(branches, depth, hops)
                return self.value(_merge([branch, rest]) if rest else branch, depth, hops + 1)
        kind = self.kind(schema, depth)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind == "string":
            return self.string(schema, depth)
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return self.number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def minimal(self, depth: int) -> bool:
        """Past half the depth bound, fill as little as the schema allows (so recursion ends)."""
        return depth >= MAX_DEPTH // 2

    def kind(self, schema: dict[str, Any], depth: int) -> str:
        declared = schema.get("type")
        if declared is None:
            if "properties" in schema or "required" in schema or "additionalProperties" in schema:
                return "object"
            if "items" in schema or "prefixItems" in schema:
                return "array"
            return "string"  # an empty schema: any value fits
        names = declared if isinstance(declared, list) else [declared]
        if not names or not all(isinstance(n, str) and n in _TYPES for n in names):
            raise SchemaError(f"unknown type {declared!r}")
        if self.minimal(depth):
            return str(min(names, key=_ENDING.index))
        concrete = [n for n in names if n != "null"]
        return concrete[0] if concrete else "null"

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise SchemaError(f"only local references are followed, got {ref!r}")
        node = self.root
        for raw in ref[2:].split("/") if ref != "#" else ():
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaError(f"the reference {ref!r} points at nothing")
        return node

    def follow(self, schema: Any, hops: int) -> Any:
        """``schema`` with its ``$ref`` chain followed (for merging and choosing branches)."""
        for _ in range(MAX_HOPS - hops):
            if not (isinstance(schema, dict) and "$ref" in schema and len(schema) == 1):
                return schema
            schema = self.resolve(schema["$ref"])
        raise SchemaError(f"a chain of more than {MAX_HOPS} $ref steps")

    def branch(self, branches: list[Any], depth: int, hops: int) -> Any:
        """The first branch; once minimal, the first one whose type ends the recursion."""
        if not self.minimal(depth):
            return branches[0]
        followed = [self.follow(b, hops) for b in branches]
        for wanted in _ENDING[:5]:  # null, then scalars
            for original, target in zip(branches, followed, strict=True):
                if isinstance(target, dict) and _may_be(target, wanted):
                    return original
        return branches[0]

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        if not isinstance(properties, dict):
            raise SchemaError("properties must be an object")
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError("required must be an array of strings")
        extra = schema.get("additionalProperties", True)
        wanted = set(required)
        minimal = self.minimal(depth)
        least = _bound(schema, "minProperties", 0, MAX_ITEMS)
        keys = [k for k in properties if k in wanted or (not minimal and self.rng.random() < 0.5)]
        keys += [k for k in required if k not in properties]
        if keys and depth >= MAX_DEPTH:
            raise SchemaError(f"values nest deeper than {MAX_DEPTH} levels")
        result: dict[str, Any] = {}
        for key in keys:
            if key in properties:
                result[key] = self.value(properties[key], depth + 1, 0)
            elif extra is False:
                raise SchemaError(f"{key!r} is required but not allowed by the schema")
            else:
                result[key] = self.value(extra if isinstance(extra, dict) else {}, depth + 1, 0)
        for key in properties:  # minProperties: the optional properties first
            if len(result) >= least:
                break
            if key not in result:
                result[key] = self.value(properties[key], depth + 1, 0)
        index = 0
        while len(result) < least:
            if extra is False:
                raise SchemaError("minProperties cannot be met without additional properties")
            result[f"extra_{index}"] = self.value(
                extra if isinstance(extra, dict) else {}, depth + 1, 0
            )
            index += 1
        return result

    def array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        items = schema.get("items", {})
        prefix = schema.get("prefixItems", [])
        if isinstance(items, list):  # draft-4 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        if not isinstance(prefix, list):
            raise SchemaError("prefixItems must be an array")
        low = _bound(schema, "minItems", 0, MAX_ITEMS)
        high = schema.get("maxItems")
        high = low + _EXTRA_ITEMS if not isinstance(high, int) else min(high, low + _EXTRA_ITEMS)
        if high < low:
            raise SchemaError("maxItems is below minItems")
        count = low if self.minimal(depth) else low + self.rng.randrange(high - low + 1)
        if count and depth >= MAX_DEPTH:
            raise SchemaError(f"values nest deeper than {MAX_DEPTH} levels")
        unique = schema.get("uniqueItems") is True
        result: list[Any] = []
        seen: list[Any] = []
        attempts = 0
        while len(result) < count:
            position = len(result)
            item_schema = prefix[position] if position < len(prefix) else items
            if item_schema is False and position >= len(prefix):
                break  # no more items allowed
            value = self.value(item_schema, depth + 1, 0)
            if unique and value in seen:
                attempts += 1
                if attempts > 3 * MAX_ITEMS:
                    if len(result) >= low:
                        break
                    raise SchemaError("uniqueItems cannot be met")
                continue
            seen.append(value)
            result.append(value)
        return result

    def string(self, schema: dict[str, Any], depth: int) -> str:
        low = _bound(schema, "minLength", 0, MAX_STRING)
        high = schema.get("maxLength")
        if isinstance(high, int) and high < low:
            raise SchemaError("maxLength is below minLength")
        text = _formatted(schema.get("format"), self.rng)
        if text is None:
            count = 1 if self.minimal(depth) else 1 + self.rng.randrange(3)
            text = " ".join(self.rng.choice(_WORDS) for _ in range(count))
        if len(text) < low:
            text += "x" * (low - len(text))
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        self.chars += len(text)
        if self.chars > MAX_CHARS:
            raise SchemaError(f"the value would hold more than {MAX_CHARS} characters")
        return text

    def integer(self, schema: dict[str, Any]) -> int:
        low, high = _range(schema)
        high_i = math.floor(high) if math.isfinite(high) else None
        low_i = math.ceil(low) if math.isfinite(low) else min(0, (high_i or 0) - 100)
        if high_i is None:
            high_i = low_i + 100
        if "exclusiveMinimum" in schema and low_i == low:
            low_i += 1
        if "exclusiveMaximum" in schema and high_i == high:
            high_i -= 1
        step = _step(schema)
        if step is not None and step == int(step):
            whole = int(step)
            first, last = -(-low_i // whole), high_i // whole
            if first > last:
                raise SchemaError("no multiple of multipleOf lies within the bounds")
            return whole * _pick(self.rng, first, last)
        if low_i > high_i:
            raise SchemaError("the bounds of an integer leave no value")
        return _pick(self.rng, low_i, high_i)

    def number(self, schema: dict[str, Any]) -> float | int:
        step = _step(schema)
        low, high = _range(schema)
        if step is not None:
            if step == int(step):
                return self.integer(schema)
            if low <= 0 <= high and not (low == 0 and "exclusiveMinimum" in schema):
                return 0  # a multiple of every step, without float division surprises
            raise SchemaError("a fractional multipleOf is met by the mock only at 0")
        if not math.isfinite(low):
            low = min(0.0, high - 100.0)
        span = high - low
        if not math.isfinite(span) or span > 1000.0:
            span = 1000.0
        if span < 0:
            raise SchemaError("the bounds of a number leave no value")
        value = round(low + self.rng.random() * span, 2)
        if not low <= value <= low + span:
            value = low + span / 2
        if (value == low and "exclusiveMinimum" in schema) or (
            value == high and "exclusiveMaximum" in schema
        ):
            value = low + span / 2
            if value in (low, high):
                raise SchemaError("the bounds of a number leave no value")
        return value


def _merge(parts: list[Any]) -> dict[str, Any]:
    """The schemas of an ``allOf`` as one: properties and required joined, other keys taken
    from the first part that has them."""
    merged: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in parts:
        if part is True:
            continue
        if not isinstance(part, dict):
            raise SchemaError("allOf parts must be schemas")
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                properties.update(value)
            elif key == "required" and isinstance(value, list):
                required += [r for r in value if r not in required]
            else:
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _may_be(schema: dict[str, Any], kind: str) -> bool:
    declared = schema.get("type")
    if "const" in schema or "enum" in schema:
        return kind != "null"
    if isinstance(declared, list):
        return kind in declared
    return declared == kind


def _bound(schema: dict[str, Any], key: str, default: int, cap: int) -> int:
    value = schema.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaError(f"{key} must be a non-negative integer")
    if value > cap:
        raise SchemaError(f"{key} {value} is past what the mock produces ({cap})")
    return value


def _range(schema: dict[str, Any]) -> tuple[float, float]:
    low, high = -math.inf, math.inf
    for key in ("minimum", "exclusiveMinimum"):
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low = max(low, float(value))
    for key in ("maximum", "exclusiveMaximum"):
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            high = min(high, float(value))
    return low, high


def _step(schema: dict[str, Any]) -> float | None:
    """``multipleOf`` when it is a usable positive number."""
    step = schema.get("multipleOf")
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        raise SchemaError("multipleOf must be a number")
    if not (math.isfinite(step) and step > 0):
        raise SchemaError("multipleOf must be above 0")
    return float(step)


def _pick(rng: random.Random, low: int, high: int) -> int:
    """An integer in ``[low, high]``, near the low end for huge ranges (readable values)."""
    return low + rng.randrange(min(high - low, 1000) + 1)


def _formatted(form: Any, rng: random.Random) -> str | None:
    n = rng.randrange(1, 28)
    if form == "date":
        return f"2024-{1 + n % 12:02d}-{n:02d}"
    if form == "date-time":
        return f"2024-{1 + n % 12:02d}-{n:02d}T{n % 24:02d}:{2 * n:02d}:00Z"
    if form == "time":
        return f"{n % 24:02d}:{2 * n:02d}:00Z"
    if form == "email":
        return f"{rng.choice(_WORDS)}{n}@example.com"
    if form in ("uri", "url", "iri"):
        return f"https://example.com/{rng.choice(_WORDS)}/{n}"
    if form == "uuid":
        return f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
    if form == "ipv4":
        return f"192.0.2.{n}"
    if form == "hostname":
        return f"{rng.choice(_WORDS)}.example.com"
    return None
