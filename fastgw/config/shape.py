"""The generic shape check: TOML values against the Struct types, every error with its path.

``check_shape(value, tp, path)`` returns the errors of ``value`` as a ``tp`` and the part of
it that can still be decoded: unknown keys and wrongly typed optional values are left out (the
default takes their place), an entry that misses a required value or has a wrong one is
``DROPPED`` as a whole. The meaning checks then run on what is left, so one pass over a file
reports its typos and its wrong references together.

Rules this module keeps:
- Generic over the schema: it knows Structs, tagged unions of Structs, lists, dicts, Literals,
  optionals and scalars, nothing about any one section.
- An unknown key names the closest known one ("did you mean") or lists the known keys.
- Every number is finite (TOML allows nan and inf) and fits in 64 bits (TOML's integer range,
  which Python's reader does not enforce): fastgw hands them to C code, timers and Redis.
- A list keeps its indices: a dropped item drops the whole list (so that paths in later
  errors still point at the right item); top-level sections are decoded item by item instead
  (``load.py``).
"""

from __future__ import annotations

import difflib
import functools
import math
import types
import typing
from typing import Any, Final, Literal

import msgspec

from ._base import join

_INT64 = 2**63


class _Dropped:
    def __repr__(self) -> str:
        return "DROPPED"


DROPPED: Final = _Dropped()


def type_name(tp: Any) -> str:
    """How the TOML writes a value of ``tp``, for error messages."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        # TOML has no null, so None is not offered; two Structs both read "a table", once
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(dict.fromkeys(type_name(a) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"an array of {type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "a table"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def check_shape(value: Any, tp: Any, path: str) -> tuple[list[str], Any]:
    """The errors of ``value`` read as ``tp`` at ``path``, and what of it can be decoded
    (``DROPPED``: nothing)."""
    origin = typing.get_origin(tp)
    here = path or "the top level"
    if _is_struct(tp):
        if not isinstance(value, dict):
            return [f"{here}: expected a table, got {_toml_kind(value)}"], DROPPED
        return _check_struct(value, tp, path)
    if origin in (typing.Union, types.UnionType):
        structs = [a for a in typing.get_args(tp) if _is_struct(a)]
        if len(structs) == 1 and structs[0].__struct_config__.tag is None:
            if isinstance(value, dict):  # an optional table
                return _check_struct(value, structs[0], path)
        elif structs and isinstance(value, dict):
            return _check_tagged(value, structs, path)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp)
        errors: list[str] = []
        items = []
        for i, v in enumerate(value):
            item_errors, kept = check_shape(v, item, join(path, i))
            errors.extend(item_errors)
            items.append(kept)
        return errors, DROPPED if any(v is DROPPED for v in items) else items
    if origin is dict and isinstance(value, dict):
        _, item = typing.get_args(tp)
        errors = []
        table = {}
        for k, v in value.items():
            item_errors, kept = check_shape(v, item, join(path, k))
            errors.extend(item_errors)
            if kept is not DROPPED:
                table[k] = kept
        return errors, table
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError:
        return [f"{here}: expected {type_name(tp)}, got {_toml_kind(value)} {value!r}"], DROPPED
    errors = _check_number(value, here)
    return errors, DROPPED if errors else value


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _check_tagged(
    value: dict[str, Any], structs: list[type[msgspec.Struct]], path: str
) -> tuple[list[str], Any]:
    tags = {a.__struct_config__.tag: a for a in structs}
    tag = value.get("type")
    if not isinstance(tag, str) or tag not in tags:  # a list or a table is no tag either
        choices = ", ".join(f'"{t}"' for t in tags)
        got = (
            "it is missing"
            if tag is None
            else f"got {tag!r}"
            if isinstance(tag, str)
            else f"got a {type(tag).__name__}"
        )
        return [f"{join(path, 'type')}: set type to one of {choices} ({got})"], DROPPED
    body = {k: v for k, v in value.items() if k != "type"}
    errors, kept = _check_struct(body, tags[tag], path)
    return errors, kept if kept is DROPPED else {"type": tag, **kept}


def _check_number(value: Any, here: str) -> list[str]:
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{here}: {value!r} is not a finite number; write a number"]
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return [f"{here}: {value} does not fit in a 64-bit integer; write a smaller number"]
    return []


@functools.cache  # one entry per Struct type of the schema: a bounded, pure memo
def _fields(tp: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    """``tp``'s fields by their TOML key. msgspec evaluates the string annotations on every
    ``fields`` call, which made this the most of a file's check."""
    return {f.encode_name: f for f in msgspec.structs.fields(tp)}


def _check_struct(
    value: dict[str, Any], tp: type[msgspec.Struct], path: str
) -> tuple[list[str], Any]:
    errors = unknown_keys(value, tp, path)
    fields = _fields(tp)
    kept: dict[str, Any] = {}
    whole = True
    for name, field in fields.items():
        if name in value:
            field_errors, field_value = check_shape(value[name], field.type, join(path, name))
            errors.extend(field_errors)
            if field_value is not DROPPED:
                kept[name] = field_value
            elif field.required:
                whole = False
        elif field.required:
            errors.append(f"{join(path, name)}: missing; add it ({type_name(field.type)})")
            whole = False
    return errors, kept if whole else DROPPED


def unknown_keys(value: dict[str, Any], tp: type[msgspec.Struct], path: str) -> list[str]:
    """An error for each key of ``value`` that ``tp`` does not have, with the closest one."""
    known = list(_fields(tp))
    errors = []
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            errors.append(f"{join(path, key)}: unknown key{hint}")
    return errors


def _toml_kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
