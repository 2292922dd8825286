"""A stored response's input items as ``GET /v1/responses/{id}/input_items`` lists them
(sans-IO).

Rules this module keeps:
- Every item is listed in the SDK's ``ResponseItem`` form: an id (the client's when it gave
  one, else one derived from the response id and the item's place, the same at every read),
  ``status: "completed"``, a message's string content as one ``input_text`` part (an
  assistant's as ``output_text``).
- Pages as OpenAI pages them: ``order`` (``desc`` by default), ``after`` (an item id),
  ``limit`` between 1 and 100 (20 by default); ``first_id``, ``last_id`` and ``has_more``.
  Anything else is a 400 naming the parameter.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from ...errors import InvalidRequest
from .request import Item

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_"}


def _item_id(response_id: str, index: int, kind: str) -> str:
    digest = hashlib.sha256(f"{response_id}:{index}".encode()).hexdigest()[:48]
    return _PREFIX.get(kind, "rs_") + digest


def _listed(item: Item, response_id: str, index: int) -> dict[str, Any]:
    kind = item.type or "message"
    out: dict[str, Any] = msgspec.to_builtins(item)
    out["type"] = kind
    out["id"] = item.id or _item_id(response_id, index, kind)
    if kind == "message":
        part = "output_text" if item.role == "assistant" else "input_text"
        if isinstance(item.content, str):
            text: dict[str, Any] = {"type": part, "text": item.content}
            if part == "output_text":
                text["annotations"] = []
            out["content"] = [text]
    if kind != "reasoning":
        out["status"] = "completed"
    return out


def input_item_list(response_id: str, items: list[Item], params: dict[str, str]) -> dict[str, Any]:
    """The page ``params`` (the query's ``order``, ``after``, ``limit``) asks for."""
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be asc or desc.", param="order")
    raw_limit = params.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIMIT}.", param="limit")
    limit = int(raw_limit)
    listed = [_listed(item, response_id, i) for i, item in enumerate(items)]
    if order == "desc":
        listed.reverse()
    after = params.get("after")
    if after is not None:
        ids = [item["id"] for item in listed]
        if after not in ids:
            raise InvalidRequest(f"No input item with id '{after}'.", param="after")
        listed = listed[ids.index(after) + 1 :]
    page = listed[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(listed) > limit,
    }


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "input_item_list"]
