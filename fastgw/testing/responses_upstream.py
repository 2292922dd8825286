"""A fake OpenAI upstream that also speaks the Responses API (``POST /v1/responses``), built
from OpenAI's documented wire format, for testing native passthrough without the real API.

``ResponsesUpstream`` is a ``FakeUpstream`` (same server loop, recording, ``hold`` gate and
``Fault`` modes, and the same chat completions, completions and embeddings answers) that
answers ``/v1/responses`` plain (a ``response`` object with ``usage``) and streamed
(``response.created``, ``response.in_progress``, per output item ``output_item.added``, its
deltas and ``output_item.done``, then ``response.completed`` or ``response.incomplete``, each
event with its ``sequence_number``). Its bodies are written by hand, never with fastgw's
protocol code: a fake must not share code with what it tests.

How it answers, like the real API would:
- ``api_key`` set: a request without ``authorization: Bearer <api_key>`` is a 401.
- It keeps nothing: ``previous_response_id`` is a 404 ``previous_response_not_found``, and
  with ``store: false`` a reasoning item with an ``id`` but no ``encrypted_content`` is a 404
  (OpenAI's "Items are not persisted when store is set to false").
- Function tools, ``tool_choice`` not ``none``, and an input whose last item is not a
  ``function_call_output``: one ``function_call`` of the named (else first) tool, its
  arguments made from the schema's required properties; otherwise ``chunks`` words of text,
  cut by ``max_output_tokens`` (one word a token: status ``incomplete``).
- Usage: input tokens estimated from ``input`` and ``instructions`` (4 characters a token),
  ``cached_tokens`` of them reported as cached, output tokens one a word (or one per 4
  characters of arguments).
- Faults: ``usage=False`` answers with ``usage: null``; ``finish_reason=False`` or
  ``done=False`` leave the terminal event out; ``error_event_after`` sends the API's
  ``error`` event after that many events and ends the stream; cuts and stalls as for chat.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from .upstream import FakeUpstream, Fault, RecordedRequest, _Connection, _tokens, openai_error

_encode = msgspec.json.Encoder().encode
_WORDS = ("The", " native", " upstream", " answers", " every", " request", " the", " same")
_SAMPLES = {"string": "Paris", "integer": 3, "number": 1.5, "boolean": True}


class _Refused(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        self.status = status
        self.body = _error(status, message, param)


def _error(status: int, message: str, param: str | None, code: str | None = None) -> bytes:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return _encode({"error": {"message": message, "type": kind, "param": param, "code": code}})


class ResponsesUpstream(FakeUpstream):
    """A fake OpenAI upstream with the Responses API (see the module docstring)."""

    def __init__(
        self, *, api_key: str | None = None, cached_tokens: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.cached_tokens = cached_tokens

    async def _respond(self, conn: _Connection, rec: RecordedRequest, fault: Fault) -> None:
        if rec.path != "/v1/responses":
            await super()._respond(conn, rec, fault)
            return
        if rec.method != "POST":
            self._send(conn, rec, 405, openai_error(405))
            return
        try:
            request = self._check(rec)
        except _Refused as refused:
            self._send(conn, rec, refused.status, refused.body)
            return
        n = len(self.requests)
        response = self._response(request, n)
        if not request.get("stream"):
            if not fault.usage:
                response["usage"] = None
            self._send(conn, rec, 200, _encode(response), fault.headers)
            return
        events = _events(response, fault)
        if fault.error_event_after is not None:
            at = fault.error_event_after
            error = {
                "type": "error",
                "code": "server_error",
                "message": "The native upstream failed mid-stream.",
                "param": None,
                "sequence_number": at,
            }
            events = [*events[:at], _sse("error", error)]
        await self._stream(conn, rec, events, fault)

    # -- checks --------------------------------------------------------------------------------

    def _check(self, rec: RecordedRequest) -> dict[str, Any]:
        key = rec.headers.get("authorization")
        if self.api_key is not None and key != f"Bearer {self.api_key}":
            raise _Refused(401, "Incorrect API key provided.")
        try:
            request = msgspec.json.decode(rec.body)
        except msgspec.DecodeError as exc:
            raise _Refused(400, f"Invalid JSON: {exc}") from None
        if not isinstance(request, dict) or not isinstance(request.get("model"), str):
            raise _Refused(400, "Missing required parameter: 'model'.", "model")
        previous = request.get("previous_response_id")
        if previous is not None:
            message = f"Previous response with id '{previous}' not found."
            refused = _Refused(404, message, "previous_response_id")
            refused.body = _error(
                404, message, "previous_response_id", "previous_response_not_found"
            )
            raise refused
        items = request.get("input")
        if not isinstance(items, (str, list)):
            raise _Refused(400, "Missing required parameter: 'input'.", "input")
        if isinstance(items, list) and request.get("store") is False:
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise _Refused(400, f"Invalid type for 'input[{i}]'.", f"input[{i}]")
                if (
                    item.get("type") == "reasoning"
                    and item.get("id")
                    and not item.get("encrypted_content")
                ):
                    raise _Refused(
                        404,
                        f"Item with id '{item['id']}' not found. Items are not persisted when "
                        "`store` is set to false. Try again with `store` set to true, or "
                        "remove this item from your input.",
                        "input",
                    )
        return request

    # -- answers -------------------------------------------------------------------------------

    def _response(self, request: dict[str, Any], n: int) -> dict[str, Any]:
        items = request["input"]
        tool = _chosen_tool(request)
        status, incomplete = "completed", None
        if tool is not None:
            arguments = _encode(_arguments(tool.get("parameters") or {})).decode()
            output = [
                {
                    "id": f"fc_fake{n:06d}",
                    "type": "function_call",
                    "call_id": f"call_fake{n:06d}",
                    "name": tool["name"],
                    "arguments": arguments,
                    "status": "completed",
                }
            ]
            produced = max(1, len(arguments) // 4)
        else:
            words = [_WORDS[i % len(_WORDS)] for i in range(self.chunks)]
            limit = request.get("max_output_tokens")
            if isinstance(limit, int) and len(words) > limit:
                words, status = words[:limit], "incomplete"
                incomplete = {"reason": "max_output_tokens"}
            text = {"type": "output_text", "text": "".join(words), "annotations": []}
            text["logprobs"] = []
            output = [
                {
                    "id": f"msg_fake{n:06d}",
                    "type": "message",
                    "role": "assistant",
                    "status": status,
                    "content": [text],
                }
            ]
            produced = len(words)
        prompt = _tokens(items) + _tokens(request.get("instructions") or "") + 3
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt)},
            "output_tokens": produced,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + produced,
        }
        return {
            "id": f"resp_fake{n:06d}",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "model": request["model"],
            "output": output,
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": request.get("store", True),
            "temperature": request.get("temperature", 1.0),
            "text": request.get("text") or {"format": {"type": "text"}},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools") or [],
            "top_p": request.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": request.get("metadata") or {},
        }


def _chosen_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t for t in request.get("tools") or () if isinstance(t, dict)]
    tools = [t for t in tools if t.get("type") == "function" and t.get("name")]
    choice = request.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    items = request["input"]
    last = items[-1] if isinstance(items, list) and items else None
    if isinstance(last, dict) and last.get("type") == "function_call_output":
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        named = [t for t in tools if t["name"] == choice.get("name")]
        return named[0] if named else tools[0]
    return tools[0]


def _arguments(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    return {
        name: _SAMPLES.get((properties.get(name) or {}).get("type", "string"), "x")
        for name in schema.get("required") or ()
    }


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _encode(data) + b"\n\n"


def _events(response: dict[str, Any], fault: Fault) -> list[bytes]:
    """The stream of ``response``: see the module docstring."""
    out: list[dict[str, Any]] = []
    start = {**response, "status": "in_progress", "output": [], "usage": None}
    start["incomplete_details"] = None
    out.append({"type": "response.created", "response": start})
    out.append({"type": "response.in_progress", "response": start})
    for index, item in enumerate(response["output"]):
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "function_call":
            args = item["arguments"]
            added = {**item, "arguments": "", "status": "in_progress"}
            out.append({"type": "response.output_item.added", "output_index": index, "item": added})
            for i in range(0, len(args), 8):
                delta = {"type": "response.function_call_arguments.delta", **ids}
                out.append({**delta, "delta": args[i : i + 8]})
            done = {"type": "response.function_call_arguments.done", **ids, "arguments": args}
            out.append({**done, "name": item["name"]})
        else:
            part = item["content"][0]
            added = {**item, "status": "in_progress", "content": []}
            out.append({"type": "response.output_item.added", "output_index": index, "item": added})
            empty = {**part, "text": ""}
            out.append(
                {"type": "response.content_part.added", **ids, "content_index": 0, "part": empty}
            )
            words = _split(part["text"])
            for word in words:
                delta = {"type": "response.output_text.delta", **ids, "content_index": 0}
                out.append({**delta, "delta": word, "logprobs": []})
            text = {"type": "response.output_text.done", **ids, "content_index": 0}
            out.append({**text, "text": part["text"], "logprobs": []})
            out.append(
                {"type": "response.content_part.done", **ids, "content_index": 0, "part": part}
            )
        out.append({"type": "response.output_item.done", "output_index": index, "item": item})
    if fault.finish_reason and fault.done:
        final = dict(response)
        if not fault.usage:
            final["usage"] = None
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        out.append({"type": kind, "response": final})
    return [_sse(event["type"], {**event, "sequence_number": i}) for i, event in enumerate(out)]


def _split(text: str) -> list[str]:
    """The text's words, each with the space before it (as the deltas came)."""
    words: list[str] = []
    for i, piece in enumerate(text.split(" ")):
        words.append(piece if i == 0 else " " + piece)
    return [w for w in words if w]


__all__ = ["ResponsesUpstream"]
